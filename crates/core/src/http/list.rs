//! List endpoints: `page`, `limit` (default 25, max 100), `sort=field:asc,other:desc`,
//! `search`, `filter[field]=a,b` and `filter[field.gte]=…`, answered as
//! `{"data":[…],"meta":{"page","limit","total","total_exact","total_pages","has_next","has_prev"}}`.
//!
//! [`fetch_page`] counts at most [`COUNT_CAP`] rows (or up to the row after the requested page,
//! when that is further): a page of a list of millions costs a bounded count, not a scan of
//! every match. Past the cap, `total` is the cap and `total_exact` is `false`; `has_next` stays
//! exact.
//!
//! A [`ListSpec`] names what each list exposes; anything else in the query is refused with
//! `invalid_query` naming the field, so a typo never silently returns unfiltered data.
//!
//! `tags=a,b` keeps the entities that carry every one of those tags (names in any case), on a
//! list whose spec is [`ListSpec::tagged`], in a cell whose tagging module (collab) provides a
//! [`TagFilters`]: one mechanism for every list of every module. In a cell without one nothing
//! carries a tag, so such a filter keeps no row.

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::{FromRequest, HttpMessage, HttpRequest};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, SelectStatement, SimpleExpr};
use sea_orm::{
    ColumnTrait, ColumnType, Condition, ConnectionTrait, DbErr, EntityTrait, Order, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Select, Value,
};
use serde::Serialize;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{
    AnyOfBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};

use crate::error::ApiError;
use crate::http::Caller;

pub const DEFAULT_LIMIT: u64 = 25;
pub const MAX_LIMIT: u64 = 100;
/// The last page a list serves: its offset (at most 10 million rows) stays far inside the
/// database's integer range; deeper reads filter or sort instead.
pub const MAX_PAGE: u64 = 100_000;
const MAX_SEARCH_LEN: usize = 200;
const MAX_FILTER_VALUES: usize = 100;
/// The most tags one `tags=` names, and the longest tag name.
const MAX_TAGS: usize = 20;
const MAX_TAG_LEN: usize = 100;
/// How far [`fetch_page`] counts a list's rows for `meta.total` ("1 000+" is what a screen of
/// 25-row pages needs; counting further made the count most of a list request's cost).
pub const COUNT_CAP: u64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    /// One value: `=`; several (`a,b`): `IN`.
    Eq,
    /// One value: `<>`; several: `NOT IN`.
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl FilterOp {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "gt" => Self::Gt,
            "gte" => Self::Gte,
            "lt" => Self::Lt,
            "lte" => Self::Lte,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub field: String,
    pub op: FilterOp,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub field: String,
    pub descending: bool,
}

/// Filters lists by tags. The cell's tagging module provides one (`ctx.provide(TagFilters(…))`);
/// lists whose spec is [`ListSpec::tagged`] then take `tags=a,b`.
pub trait TagFilter: Send + Sync {
    /// A condition on `id` (the list's entity id column): entities of `entity_type` in `org` that
    /// carry every tag of `names` (lower case, distinct).
    fn condition(
        &self,
        org: uuid::Uuid,
        entity_type: &str,
        id: SimpleExpr,
        names: &[String],
    ) -> SimpleExpr;
}

/// The [`TagFilter`] a tagging module provides to the cell.
pub struct TagFilters(pub Arc<dyn TagFilter>);

/// The caller's org and the cell's tag filter, as the request had them (none in a cell without
/// a tagging module, or for [`ListQuery::parse`]).
#[derive(Clone, Default)]
pub struct Tagging(Option<(uuid::Uuid, Arc<dyn TagFilter>)>);

impl std::fmt::Debug for Tagging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Tagging(on)"
        } else {
            "Tagging(off)"
        })
    }
}

/// What the request asked for is all that counts in a comparison.
impl PartialEq for Tagging {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Tagging {}

/// A parsed list query. Extract it in a handler (`q: ListQuery`), then [`ListSpec::apply`] it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub page: u64,
    pub limit: u64,
    pub sort: Vec<SortKey>,
    pub search: Option<String>,
    pub filters: Vec<Filter>,
    /// `tags=a,b`: lower case, distinct, in the order given.
    pub tags: Vec<String>,
    pub tagging: Tagging,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            page: 1,
            limit: DEFAULT_LIMIT,
            sort: Vec::new(),
            search: None,
            filters: Vec::new(),
            tags: Vec::new(),
            tagging: Tagging::default(),
        }
    }
}

impl ListQuery {
    /// Parses a raw query string. Keys other than the list keys are left to the handler.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let mut q = Self::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "page" => q.page = bounded("page", &value, MAX_PAGE)?,
                "limit" => q.limit = bounded("limit", &value, MAX_LIMIT)?,
                "sort" => {
                    for part in value.split(',').filter(|p| !p.is_empty()) {
                        let (field, dir) = part.split_once(':').unwrap_or((part, "asc"));
                        let descending = match dir {
                            "asc" => false,
                            "desc" => true,
                            _ => {
                                return Err(ApiError::invalid_query(format!(
                                    "sort direction of `{field}` must be `asc` or `desc`"
                                )));
                            }
                        };
                        q.sort.push(SortKey {
                            field: field.to_owned(),
                            descending,
                        });
                    }
                }
                "tags" => {
                    // The limits are the document's pattern, on what was sent.
                    let parts: Vec<&str> = value.split(',').collect();
                    if parts.len() > MAX_TAGS {
                        return Err(ApiError::invalid_query(format!(
                            "`tags` names more than {MAX_TAGS} tags"
                        )));
                    }
                    if parts.iter().any(|p| p.chars().count() > MAX_TAG_LEN) {
                        return Err(ApiError::invalid_query(format!(
                            "a tag name in `tags` is longer than {MAX_TAG_LEN} characters"
                        )));
                    }
                    for name in parts.into_iter().map(str::trim).filter(|n| !n.is_empty()) {
                        let name = name.to_lowercase();
                        if !q.tags.contains(&name) {
                            q.tags.push(name);
                        }
                    }
                }
                "search" => {
                    // The limit counts what was sent, as the document states it.
                    if value.chars().count() > MAX_SEARCH_LEN {
                        return Err(ApiError::invalid_query(format!(
                            "`search` is longer than {MAX_SEARCH_LEN} characters"
                        )));
                    }
                    let term = value.trim();
                    q.search = (!term.is_empty()).then(|| term.to_owned());
                }
                k if k.starts_with("filter[") => {
                    let inner = k
                        .strip_prefix("filter[")
                        .and_then(|r| r.strip_suffix(']'))
                        .filter(|i| !i.is_empty())
                        .ok_or_else(|| {
                            ApiError::invalid_query(format!(
                                "`{k}` is not a filter; write `filter[field]=value` or `filter[field.gte]=value`"
                            ))
                        })?;
                    let (field, op) = match inner.rsplit_once('.') {
                        Some((field, op)) => (
                            field,
                            FilterOp::parse(op).ok_or_else(|| {
                                ApiError::invalid_query(format!(
                                    "unknown filter operator `{op}` on `{field}`; use eq, ne, gt, gte, lt or lte"
                                ))
                            })?,
                        ),
                        None => (inner, FilterOp::Eq),
                    };
                    let values: Vec<String> = value.split(',').map(str::to_owned).collect();
                    if values.len() > MAX_FILTER_VALUES {
                        return Err(ApiError::invalid_query(format!(
                            "`filter[{field}]` has more than {MAX_FILTER_VALUES} values"
                        )));
                    }
                    if values.len() > 1 && !matches!(op, FilterOp::Eq | FilterOp::Ne) {
                        return Err(ApiError::invalid_query(format!(
                            "`filter[{inner}]` takes one value"
                        )));
                    }
                    q.filters.push(Filter {
                        field: field.to_owned(),
                        op,
                        values,
                    });
                }
                _ => {}
            }
        }
        Ok(q)
    }

    /// [`ListQuery::parse`] for work outside a request (an export job): `tags` filter in `org`
    /// through the cell's tagging module, as a request's would.
    pub fn parse_in(
        ctx: &crate::CellContext,
        org: uuid::Uuid,
        query: &str,
    ) -> Result<Self, ApiError> {
        let mut q = Self::parse(query)?;
        if !q.tags.is_empty()
            && let Some(filter) = ctx.service::<TagFilters>()
        {
            q.tagging = Tagging(Some((org, filter.0.clone())));
        }
        Ok(q)
    }

    pub fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(self.limit)
    }
}

impl FromRequest for ListQuery {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(Self::parse(req.query_string()).map(|mut q| {
            if !q.tags.is_empty() {
                let org = req.extensions().get::<Caller>().and_then(|c| c.org_id);
                let filter = req
                    .app_data::<crate::CellContext>()
                    .and_then(crate::CellContext::service::<TagFilters>);
                if let (Some(org), Some(filter)) = (org, filter) {
                    q.tagging = Tagging(Some((org, filter.0.clone())));
                }
            }
            q
        }))
    }
}

/// Paging facts of a list answer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PageMeta {
    pub page: u64,
    pub limit: u64,
    /// Every matching row, or (`total_exact: false`) a lower bound: counting stopped there.
    pub total: u64,
    pub total_exact: bool,
    pub total_pages: u64,
    pub has_next: bool,
    pub has_prev: bool,
}

/// The paginated response of every list endpoint.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub meta: PageMeta,
}

impl<T> Page<T> {
    pub fn new(data: Vec<T>, query: &ListQuery, total: u64) -> Self {
        let total_pages = total.div_ceil(query.limit);
        Self {
            data,
            meta: PageMeta {
                page: query.page,
                limit: query.limit,
                total,
                total_exact: true,
                total_pages,
                has_next: query.page < total_pages,
                has_prev: query.page > 1,
            },
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            meta: self.meta,
        }
    }
}

struct Field<E: EntityTrait> {
    name: &'static str,
    column: E::Column,
    sortable: bool,
    filterable: bool,
}

/// What one list endpoint exposes: public field names mapped to columns.
pub struct ListSpec<E: EntityTrait> {
    fields: Vec<Field<E>>,
    search: Vec<E::Column>,
    default_sort: Vec<(E::Column, Order)>,
    tiebreak: Option<E::Column>,
    /// The entity type and id column, for `tags=`.
    tagged: Option<(&'static str, E::Column)>,
    memberships: Vec<Membership<E>>,
}

/// `filter[<name>]=a,b`: rows whose `id` is listed in `table.member` beside one of those ids in
/// `table.key` (crm's persons in a segment: `crm_segment_members.contact_id` where
/// `segment_id` is one of them).
struct Membership<E: EntityTrait> {
    name: &'static str,
    id: E::Column,
    table: &'static str,
    key: &'static str,
    member: &'static str,
}

impl<E: EntityTrait> Default for ListSpec<E> {
    fn default() -> Self {
        Self {
            fields: Vec::new(),
            search: Vec::new(),
            default_sort: Vec::new(),
            tiebreak: None,
            tagged: None,
            memberships: Vec::new(),
        }
    }
}

impl<E: EntityTrait> ListSpec<E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A field that can be sorted and filtered.
    pub fn field(self, name: &'static str, column: E::Column) -> Self {
        self.add(name, column, true, true)
    }

    pub fn sortable(self, name: &'static str, column: E::Column) -> Self {
        self.add(name, column, true, false)
    }

    pub fn filterable(self, name: &'static str, column: E::Column) -> Self {
        self.add(name, column, false, true)
    }

    /// The list's rows are entities of `entity_type` (as its module's loader names them) whose
    /// id is `id`: it takes `tags=a,b`.
    pub fn tagged(mut self, entity_type: &'static str, id: E::Column) -> Self {
        self.tagged = Some((entity_type, id));
        self
    }

    /// `filter[name]=a,b` (ids): rows whose `id` is `table.member` where `table.key` is one of
    /// them: membership kept in a table of the module (persons in segments). The table is the
    /// module's own and under the same row-level security; only `=` is offered.
    pub fn member_of(
        mut self,
        name: &'static str,
        id: E::Column,
        table: &'static str,
        key: &'static str,
        member: &'static str,
    ) -> Self {
        self.memberships.push(Membership {
            name,
            id,
            table,
            key,
            member,
        });
        self
    }

    fn add(
        mut self,
        name: &'static str,
        column: E::Column,
        sortable: bool,
        filterable: bool,
    ) -> Self {
        self.fields.push(Field {
            name,
            column,
            sortable,
            filterable,
        });
        self
    }

    /// Columns `search` matches (case-insensitive substring).
    pub fn search(mut self, columns: impl IntoIterator<Item = E::Column>) -> Self {
        self.search.extend(columns);
        self
    }

    /// Order used when the query has no `sort`.
    pub fn default_sort(mut self, column: E::Column, descending: bool) -> Self {
        self.default_sort
            .push((column, if descending { Order::Desc } else { Order::Asc }));
        self
    }

    /// A unique column appended to every order, so pages never overlap or skip rows.
    pub fn tiebreak(mut self, column: E::Column) -> Self {
        self.tiebreak = Some(column);
        self
    }

    fn names(&self, pick: impl Fn(&Field<E>) -> bool) -> String {
        let names: Vec<&str> = self
            .fields
            .iter()
            .filter(|f| pick(f))
            .map(|f| f.name)
            .collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }

    /// The list's query parameters as its OpenAPI operation states them: `page`, `limit`,
    /// `sort` (its sortable fields), `search` (when it searches), and per filterable field
    /// `filter[field]` and `filter[field.ne]` (comma-separated values of the column's type;
    /// not for times) plus, for numbers and times, `filter[field.gt|gte|lt|lte]` (one value). Declare them with
    /// [`crate::list_params!`].
    pub fn parameters(&self) -> Vec<Parameter> {
        let whole = |max: u64| {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(max))
        };
        let mut out = vec![
            query_param("page", "Page number, from 1", whole(MAX_PAGE)),
            query_param("limit", "Rows per page", whole(MAX_LIMIT)),
        ];
        let sortable: Vec<&str> = self
            .fields
            .iter()
            .filter(|f| f.sortable)
            .map(|f| f.name)
            .collect();
        if !sortable.is_empty() {
            let key = format!("(?:{})(?::(?:asc|desc))?", sortable.join("|"));
            out.push(query_param(
                "sort",
                &format!(
                    "Comma-separated `field` or `field:asc|desc`; fields: {}",
                    sortable.join(", ")
                ),
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(format!("^(?:{key})?(?:,(?:{key})?)*$"))),
            ));
        }
        if self.tagged.is_some() {
            out.push(query_param(
                "tags",
                "Comma-separated tag names (any case): rows that carry every one of them",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(format!(
                        "^[^,]{{0,{MAX_TAG_LEN}}}(?:,[^,]{{0,{MAX_TAG_LEN}}}){{0,{}}}$",
                        MAX_TAGS - 1
                    ))),
            ));
        }
        if !self.search.is_empty() {
            out.push(query_param(
                "search",
                "Case-insensitive substring",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(MAX_SEARCH_LEN)),
            ));
        }
        for field in self.fields.iter().filter(|f| f.filterable) {
            let kind = Kind::of(field.column.def().get_column_type());
            let list = kind
                .value_pattern()
                .map(|v| format!("^{v}(?:,{v}){{0,{}}}$", MAX_FILTER_VALUES - 1));
            for op in ["", ".ne"].into_iter().filter(|_| !kind.compared_only()) {
                let mut schema = ObjectBuilder::new().schema_type(Type::String);
                if let Some(list) = &list {
                    schema = schema.pattern(Some(list.clone()));
                }
                out.push(query_param(
                    &format!("filter[{}{op}]", field.name),
                    "Rows whose field equals (`.ne`: differs from) any of these comma-separated values",
                    schema,
                ));
            }
            if kind.ordered() {
                for op in ["gt", "gte", "lt", "lte"] {
                    out.push(query_param(
                        &format!("filter[{}.{op}]", field.name),
                        "One value to compare with",
                        kind.one_value(),
                    ));
                }
            }
        }
        for m in &self.memberships {
            out.push(query_param(
                &format!("filter[{}]", m.name),
                "Rows that belong to any of these comma-separated ids",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(format!(
                        "^{UUID_PATTERN}(?:,{UUID_PATTERN}){{0,{}}}$",
                        MAX_FILTER_VALUES - 1
                    ))),
            ));
        }
        out
    }

    /// The query's filters, search and tags on `select`, without its order (an export pages in
    /// id order through what the list would show).
    pub fn filters(&self, query: &ListQuery, mut select: Select<E>) -> Result<Select<E>, ApiError> {
        for f in &query.filters {
            if let Some(m) = self.memberships.iter().find(|m| m.name == f.field) {
                let ids = f
                    .values
                    .iter()
                    .map(|v| uuid::Uuid::parse_str(v.trim()))
                    .collect::<Result<Vec<_>, _>>()
                    .ok()
                    .filter(|_| f.op == FilterOp::Eq)
                    .ok_or_else(|| {
                        ApiError::invalid_query(format!(
                            "`filter[{}]` takes ids (equality only)",
                            f.field
                        ))
                    })?;
                let members = sea_orm::sea_query::Query::select()
                    .column(sea_orm::sea_query::Alias::new(m.member))
                    .from(sea_orm::sea_query::Alias::new(m.table))
                    .and_where(Expr::col(sea_orm::sea_query::Alias::new(m.key)).is_in(ids))
                    .to_owned();
                select = select.filter(Expr::col(m.id).in_subquery(members));
                continue;
            }
            let field = self
                .fields
                .iter()
                .find(|x| x.name == f.field && x.filterable)
                .ok_or_else(|| {
                    ApiError::invalid_query(format!(
                        "cannot filter by `{}`; filterable fields: {}",
                        f.field,
                        self.names(|x| x.filterable)
                    ))
                })?;
            let values = f
                .values
                .iter()
                .map(|v| typed_value(field.column.def().get_column_type(), v))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|expected| {
                    ApiError::invalid_query(format!("`filter[{}]` expects {expected}", f.field))
                })?;
            select = select.filter(condition(field.column, f.op, values));
        }
        if let Some(term) = &query.search {
            if self.search.is_empty() {
                return Err(ApiError::invalid_query(
                    "this list does not support `search`",
                ));
            }
            let pattern = format!("%{}%", escape_like(&term.to_lowercase()));
            let mut any = Condition::any();
            for col in &self.search {
                any = any.add(
                    Expr::expr(Func::lower(Expr::col(*col)))
                        .like(LikeExpr::new(pattern.clone()).escape('\\')),
                );
            }
            select = select.filter(any);
        }
        if !query.tags.is_empty() {
            let Some((kind, id)) = self.tagged else {
                return Err(ApiError::invalid_query(
                    "this list cannot be filtered by `tags`",
                ));
            };
            select = match &query.tagging {
                Tagging(Some((org, filter))) => {
                    select.filter(filter.condition(*org, kind, Expr::col(id), &query.tags))
                }
                // A cell without a tagging module tags nothing: no row carries a tag.
                Tagging(None) => select.filter(Expr::val(1).eq(0)),
            };
        }
        Ok(select)
    }

    /// Adds the query's filters, search and order to `select`.
    pub fn apply(&self, query: &ListQuery, select: Select<E>) -> Result<Select<E>, ApiError> {
        let mut select = self.filters(query, select)?;
        if query.sort.is_empty() {
            for (col, order) in &self.default_sort {
                select = select.order_by(*col, order.clone());
            }
        }
        for key in &query.sort {
            let field = self
                .fields
                .iter()
                .find(|x| x.name == key.field && x.sortable)
                .ok_or_else(|| {
                    ApiError::invalid_query(format!(
                        "cannot sort by `{}`; sortable fields: {}",
                        key.field,
                        self.names(|x| x.sortable)
                    ))
                })?;
            let order = if key.descending {
                Order::Desc
            } else {
                Order::Asc
            };
            select = select.order_by(field.column, order);
        }
        if let Some(col) = self.tiebreak {
            select = select.order_by(col, Order::Asc);
        }
        Ok(select)
    }
}

/// Runs a prepared select as one page: a count (capped, see the module's documentation) and a
/// `LIMIT/OFFSET` query.
pub async fn fetch_page<E, C>(
    select: Select<E>,
    query: &ListQuery,
    conn: &C,
) -> Result<Page<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: Sync,
    C: ConnectionTrait,
{
    let cap = std::cmp::max(
        COUNT_CAP,
        query.offset().saturating_add(query.limit).saturating_add(1),
    );
    let counted = count_up_to(&select, cap, conn).await?;
    let data = select
        .offset(query.offset())
        .limit(query.limit)
        .all(conn)
        .await?;
    let mut page = Page::new(data, query, counted);
    // `cap` reaches past this page, so `has_next` (true) is exact even when the total is not.
    page.meta.total_exact = counted < cap;
    Ok(page)
}

/// `SELECT COUNT(*) FROM (SELECT 1 … LIMIT cap)`: the rows of `select`, counted up to `cap`.
async fn count_up_to<E, C>(select: &Select<E>, cap: u64, conn: &C) -> Result<u64, DbErr>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let rows = select
        .clone()
        .select_only()
        .expr(Expr::val(1))
        .limit(cap)
        .into_query()
        .clear_order_by()
        .to_owned();
    let count = SelectStatement::new()
        .expr(Expr::cust("COUNT(*)"))
        .from_subquery(rows, "capped")
        .to_owned();
    let row = conn
        .query_one(&count)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("COUNT(*) answered no row".into()))?;
    Ok(u64::try_from(row.try_get_by_index::<i64>(0)?).unwrap_or(0))
}

fn condition<C: ColumnTrait>(col: C, op: FilterOp, mut values: Vec<Value>) -> SimpleExpr {
    if values.len() > 1 {
        return match op {
            FilterOp::Ne => col.is_not_in(values),
            _ => col.is_in(values),
        };
    }
    let v = values.pop().unwrap_or(Value::String(None));
    match op {
        FilterOp::Eq => col.eq(v),
        FilterOp::Ne => col.ne(v),
        FilterOp::Gt => col.gt(v),
        FilterOp::Gte => col.gte(v),
        FilterOp::Lt => col.lt(v),
        FilterOp::Lte => col.lte(v),
    }
}

/// Converts a query value to the column's type; `Err` says what was expected.
/// A whole number from 1 to `max`, or `invalid_query` naming the key.
fn bounded(key: &str, value: &str, max: u64) -> Result<u64, ApiError> {
    value
        .parse()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            ApiError::invalid_query(format!("`{key}` must be a whole number from 1 to {max}"))
        })
}

fn query_param(name: &str, description: &str, schema: impl Into<Schema>) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema.into()))
        .build()
}

const UUID_PATTERN: &str = "(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32})";
const INTEGER_PATTERN: &str = "[+-]?[0-9]{1,18}";
/// A time relative to the request's: `now`, `now-30d`, `now+2h` (minutes, hours, days, weeks).
const RELATIVE_TIME_PATTERN: &str = "^now(?:[+-][0-9]{1,4}[mhdw])?$";

/// How a filter value of a column is read: the one classification behind both the parser
/// ([`typed_value`]) and the document ([`ListSpec::parameters`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Uuid,
    Integer,
    Float,
    Boolean,
    Time,
    Date,
    Text,
}

impl Kind {
    fn of(ty: &ColumnType) -> Self {
        match ty {
            ColumnType::Uuid => Self::Uuid,
            ColumnType::TinyInteger
            | ColumnType::SmallInteger
            | ColumnType::Integer
            | ColumnType::BigInteger
            | ColumnType::TinyUnsigned
            | ColumnType::SmallUnsigned
            | ColumnType::Unsigned
            | ColumnType::BigUnsigned => Self::Integer,
            ColumnType::Float | ColumnType::Double => Self::Float,
            ColumnType::Boolean => Self::Boolean,
            ColumnType::TimestampWithTimeZone | ColumnType::Timestamp | ColumnType::DateTime => {
                Self::Time
            }
            ColumnType::Date => Self::Date,
            _ => Self::Text,
        }
    }

    /// The pattern one listed value matches (`None`: any text, as declared today for floats).
    fn value_pattern(self) -> Option<&'static str> {
        match self {
            Self::Uuid => Some(UUID_PATTERN),
            Self::Integer => Some(INTEGER_PATTERN),
            Self::Boolean => Some("(?:true|false)"),
            Self::Float | Self::Time | Self::Date | Self::Text => None,
        }
    }

    /// Whether the range operators are declared for it.
    fn ordered(self) -> bool {
        matches!(self, Self::Integer | Self::Time | Self::Date)
    }

    /// Whether its values are compared, not listed (only its range operators are declared).
    fn compared_only(self) -> bool {
        matches!(self, Self::Time | Self::Date)
    }

    /// The schema of a range operator's single value: a time or a date for times (as
    /// `parse_time` reads them), a date, else a whole number.
    fn one_value(self) -> Schema {
        let text = || ObjectBuilder::new().schema_type(Type::String);
        let format = |f| text().format(Some(SchemaFormat::KnownFormat(f))).build();
        match self {
            Self::Time => Schema::AnyOf(
                AnyOfBuilder::new()
                    .item(format(KnownFormat::DateTime))
                    .item(format(KnownFormat::Date))
                    .item(text().pattern(Some(RELATIVE_TIME_PATTERN)).build())
                    .build(),
            ),
            Self::Date => Schema::Object(format(KnownFormat::Date)),
            _ => Schema::Object(text().pattern(Some(format!("^{INTEGER_PATTERN}$"))).build()),
        }
    }
}

fn typed_value(ty: &ColumnType, raw: &str) -> Result<Value, &'static str> {
    Ok(match Kind::of(ty) {
        Kind::Uuid => uuid::Uuid::parse_str(raw).map_err(|_| "a UUID")?.into(),
        Kind::Integer => raw.parse::<i64>().map_err(|_| "a whole number")?.into(),
        Kind::Float => raw.parse::<f64>().map_err(|_| "a number")?.into(),
        Kind::Boolean => raw.parse::<bool>().map_err(|_| "`true` or `false`")?.into(),
        Kind::Time => parse_time(raw, chrono::Utc::now())
            .ok_or("an RFC 3339 time, a date (YYYY-MM-DD) or a time relative to now (`now-30d`: m, h, d, w)")?
            .into(),
        Kind::Date => chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map_err(|_| "a date (YYYY-MM-DD)")?
            .into(),
        Kind::Text => raw.to_owned().into(),
    })
}

/// An RFC 3339 time, a date (its midnight UTC), or a time relative to `now` (`now`, `now-30d`,
/// `now+2h`; units m, h, d, w; up to 4 digits): what a stored rule ("not updated for 30 days")
/// means at each evaluation.
fn parse_time(
    raw: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Some(offset) = raw.strip_prefix("now") {
        // ASCII only, so the byte slicing below stays on character boundaries.
        if !offset.is_ascii() {
            return None;
        }
        let Some(sign) = offset.chars().next() else {
            return Some(now);
        };
        let body = &offset[1..];
        let (digits, unit) = body.split_at(body.len().checked_sub(1)?);
        if !(1..=4).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: i64 = digits.parse().ok()?;
        let span = match unit {
            "m" => chrono::Duration::minutes(n),
            "h" => chrono::Duration::hours(n),
            "d" => chrono::Duration::days(n),
            "w" => chrono::Duration::weeks(n),
            _ => return None,
        };
        return match sign {
            '-' => now.checked_sub_signed(span),
            '+' => now.checked_add_signed(span),
            _ => None,
        };
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    let day = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

/// Escapes `\`, `%` and `_` for a `LIKE … ESCAPE '\'` pattern (the list search uses it;
/// so may a module's own search).
pub fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Declares a list endpoint's query parameters, from the function that builds its [`ListSpec`],
/// for `#[utoipa::path(params(…))]`: `kernel::list_params!(TeamList, team_list);` then
/// `params(TeamList)`. The handler applies the same function's spec, so the document and the
/// server cannot drift apart.
#[macro_export]
macro_rules! list_params {
    ($name:ident, $spec:path) => {
        #[doc = concat!("The query parameters of the list built by `", stringify!($spec), "`.")]
        pub struct $name;

        impl $crate::utoipa::IntoParams for $name {
            fn into_params(
                _: impl Fn() -> Option<$crate::utoipa::openapi::path::ParameterIn>,
            ) -> Vec<$crate::utoipa::openapi::path::Parameter> {
                $spec().parameters()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() -> Result<(), ApiError> {
        let q = ListQuery::parse("")?;
        assert_eq!((q.page, q.limit, q.offset()), (1, 25, 0));
        Ok(())
    }

    #[test]
    fn parses_every_part() -> Result<(), ApiError> {
        let q = ListQuery::parse(
            "page=3&limit=10&sort=name:asc,created_at:desc&search=%20acme%20&filter[status]=a,b&filter[amount.gte]=10&other=x",
        )?;
        assert_eq!((q.page, q.limit, q.offset()), (3, 10, 20));
        assert_eq!(
            q.sort,
            vec![
                SortKey {
                    field: "name".into(),
                    descending: false
                },
                SortKey {
                    field: "created_at".into(),
                    descending: true
                },
            ]
        );
        assert_eq!(q.search.as_deref(), Some("acme"));
        assert_eq!(
            q.filters,
            vec![
                Filter {
                    field: "status".into(),
                    op: FilterOp::Eq,
                    values: vec!["a".into(), "b".into()]
                },
                Filter {
                    field: "amount".into(),
                    op: FilterOp::Gte,
                    values: vec!["10".into()]
                },
            ]
        );
        Ok(())
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        for (qs, needle) in [
            ("page=0", "page"),
            ("page=x", "page"),
            ("limit=101", "limit"),
            ("limit=0", "limit"),
            ("sort=name:up", "asc"),
            ("filter[x.like]=a", "operator"),
            ("filter[]=a", "filter"),
            ("filter[amount.gte]=1,2", "one value"),
        ] {
            let err = ListQuery::parse(qs)
                .err()
                .map(|e| e.message().to_owned())
                .unwrap_or_default();
            assert!(err.contains(needle), "{qs}: {err}");
        }
    }

    #[test]
    fn tags_are_lower_case_distinct_and_bounded() -> Result<(), ApiError> {
        let q = ListQuery::parse("tags=East,%20key%20,EAST,,")?;
        assert_eq!(q.tags, vec!["east".to_owned(), "key".to_owned()]);
        let many: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        assert!(ListQuery::parse(&format!("tags={}", many.join(","))).is_err());
        assert!(ListQuery::parse(&format!("tags={}", "x".repeat(MAX_TAG_LEN + 1))).is_err());
        Ok(())
    }

    #[test]
    fn page_meta() {
        let q = ListQuery {
            page: 2,
            limit: 10,
            ..ListQuery::default()
        };
        let p = Page::new(vec![1, 2], &q, 25);
        assert_eq!(
            p.meta,
            PageMeta {
                page: 2,
                limit: 10,
                total: 25,
                total_exact: true,
                total_pages: 3,
                has_next: true,
                has_prev: true
            }
        );
        let empty = Page::<u8>::new(vec![], &ListQuery::default(), 0);
        assert_eq!(
            (
                empty.meta.total_pages,
                empty.meta.has_next,
                empty.meta.has_prev
            ),
            (0, false, false)
        );
    }

    #[test]
    fn the_document_states_what_the_spec_accepts() {
        use crate::audit::entity::{Column, Entity};
        let spec = ListSpec::<Entity>::new()
            .field("action", Column::Action)
            .sortable("created_at", Column::CreatedAt)
            .filterable("created_at", Column::CreatedAt)
            .filterable("actor_id", Column::ActorUserId)
            .filterable("status", Column::Status)
            .search([Column::Action]);
        let params = spec.parameters();
        let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "page",
                "limit",
                "sort",
                "search",
                "filter[action]",
                "filter[action.ne]",
                "filter[created_at.gt]",
                "filter[created_at.gte]",
                "filter[created_at.lt]",
                "filter[created_at.lte]",
                "filter[actor_id]",
                "filter[actor_id.ne]",
                "filter[status]",
                "filter[status.ne]",
                "filter[status.gt]",
                "filter[status.gte]",
                "filter[status.lt]",
                "filter[status.lte]",
            ]
        );
        let json = serde_json::to_value(&params).unwrap_or_default();
        assert_eq!(json[0]["schema"]["maximum"], MAX_PAGE);
        assert_eq!(json[1]["schema"]["maximum"], MAX_LIMIT);
        assert_eq!(
            json[2]["schema"]["pattern"],
            "^(?:(?:action|created_at)(?::(?:asc|desc))?)?(?:,(?:(?:action|created_at)(?::(?:asc|desc))?)?)*$"
        );
        assert_eq!(json[3]["schema"]["maxLength"], MAX_SEARCH_LEN);
        assert_eq!(json[6]["schema"]["anyOf"][0]["format"], "date-time");
        assert!(
            json[10]["schema"]["pattern"]
                .as_str()
                .is_some_and(|p| p.contains("[0-9a-fA-F]{32}"))
        );
        // What the patterns admit, the parser and the spec accept.
        let q = ListQuery::parse(
            "sort=action:desc,,created_at&filter[status.gte]=-3&filter[actor_id]=0192f0a4-5b1c-7d3e-8f00-aa11bb22cc33",
        );
        assert!(q.is_ok_and(|q| spec.apply(&q, Entity::find()).is_ok()));
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
    }

    #[test]
    fn values_are_typed_by_column() {
        assert!(typed_value(&ColumnType::Uuid, "nope").is_err());
        assert!(typed_value(&ColumnType::Integer, "12").is_ok());
        assert!(typed_value(&ColumnType::Boolean, "yes").is_err());
        assert!(typed_value(&ColumnType::TimestampWithTimeZone, "2026-11-21").is_ok());
        assert_eq!(typed_value(&ColumnType::Text, "x"), Ok(Value::from("x")));
    }

    #[test]
    fn times_may_be_relative_to_now() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-08T12:00:00Z")
            .map(|t| t.with_timezone(&chrono::Utc))
            .ok();
        let at = |raw: &str| {
            now.and_then(|now| parse_time(raw, now))
                .map(|t| t.to_rfc3339())
        };
        assert_eq!(at("now").as_deref(), Some("2026-12-08T12:00:00+00:00"));
        assert_eq!(at("now-30d").as_deref(), Some("2026-11-08T12:00:00+00:00"));
        assert_eq!(at("now+2h").as_deref(), Some("2026-12-08T14:00:00+00:00"));
        assert_eq!(at("now-15m").as_deref(), Some("2026-12-08T11:45:00+00:00"));
        assert_eq!(at("now-9999w").as_deref().map(|t| &t[..4]), Some("1835"));
        for bad in [
            "now-",
            "now-d",
            "now-30",
            "now-30y",
            "now*3d",
            "now-12345d",
            "now-+3d",
            "nowish",
            "now-3é",
            "now€5d",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }
}

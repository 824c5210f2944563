//! The internal ABM dashboard's accounts: `GET/POST /abm/companies`, `GET/PATCH/DELETE
//! /abm/companies/{id}`, the score explanation, conversion into a customer org, the signal feed
//! and customer accounts.

use std::collections::{BTreeMap, HashMap};

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use kernel::http::{ListQuery, ListSpec, ValidJson};
use kernel::sea_orm::sea_query::{Expr, Query};
use kernel::sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use kernel::{ApiError, ApiResult, CellContext, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::zone::{Abm, Internal, InternalAdmin};
use super::{domain_input, not_found, one_of, require_internal_user, required, row};
use crate::score::WINDOW_DAYS;
use crate::settings::{SERVICE_LANES, SIGNAL_TYPES};
use crate::store::entity::{
    anonymous_visitor, company_domain, contact, customer_account, intent_signal, prospect_company,
};
use kernel::http::{Read, Write};

const TAG: &str = "abm";

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list)
        .service(create)
        .service(detail)
        .service(update)
        .service(remove)
        .service(score)
        .service(convert)
        .service(feed)
        .service(update_customer);
}

/// The stages a prospect moves through; `customer` only by conversion.
pub const STAGES: [&str; 4] = ["new", "engaged", "opportunity", "customer"];

/// A prospect company (the spec's ProspectCompany).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Company {
    pub id: Uuid,
    pub name: String,
    /// The primary domain.
    pub domain: String,
    /// Sum of signal weights of the last 30 days; a raw integer, no cap.
    pub intent_score: i64,
    /// `new`, `engaged`, `opportunity` or `customer`.
    pub stage: String,
    pub owner_user_id: Option<Uuid>,
    /// The customer organization it converted into.
    pub customer_company_id: Option<Uuid>,
    pub score_updated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<prospect_company::Model> for Company {
    fn from(m: prospect_company::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            domain: m.domain,
            intent_score: m.intent_score,
            stage: m.stage,
            owner_user_id: m.owner_user_id,
            customer_company_id: m.customer_org_id,
            score_updated_at: m.score_updated_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

pub(super) async fn load(tx: &TenantTx, id: Uuid) -> Result<prospect_company::Model, ApiError> {
    row::<prospect_company::Entity>(tx, id, "company").await
}

/// What `list` exposes: its fields, search and order.
fn company_list() -> ListSpec<prospect_company::Entity> {
    ListSpec::new()
        .field("intent_score", prospect_company::Column::IntentScore)
        .field("stage", prospect_company::Column::Stage)
        .field("created_at", prospect_company::Column::CreatedAt)
        .field("updated_at", prospect_company::Column::UpdatedAt)
        .sortable("name", prospect_company::Column::Name)
        .filterable("owner_user_id", prospect_company::Column::OwnerUserId)
        .search([
            prospect_company::Column::Name,
            prospect_company::Column::Domain,
        ])
        .default_sort(prospect_company::Column::IntentScore, true)
        .tiebreak(prospect_company::Column::Id)
}

kernel::list_params!(CompanyListParams, company_list);

/// Prospects, hottest first (`sort=intent_score:desc` by default; also `name`, `created_at`,
/// `updated_at`). Filters: `filter[stage]=new,engaged`, `filter[owner_user_id]=<id>`,
/// `filter[intent_score.gte]=100` (minimum score), `filter[lane]=Launch` (a signal in that
/// service lane in the last 30 days); `search` in names and primary domains.
#[utoipa::path(tag = TAG, params(CompanyListParams), responses((status = 200, body = kernel::http::Page<Company>), (status = 403)))]
#[get("/abm/companies")]
pub(crate) async fn list(tx: Internal<Read<Abm>>, mut query: ListQuery) -> ApiResult<HttpResponse> {
    // `lane` is no column: it selects companies with a signal in the lane (equality only).
    let (lane, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut query.filters)
        .into_iter()
        .partition(|f| f.field == "lane");
    query.filters = rest;
    if lane
        .iter()
        .any(|f| f.op != kernel::http::list::FilterOp::Eq)
    {
        return Err(ApiError::invalid_query("`filter[lane]` takes `eq` only"));
    }
    let lanes: Vec<String> = lane.into_iter().flat_map(|f| f.values).collect();
    if let Some(bad) = lanes.iter().find(|l| !SERVICE_LANES.contains(&l.as_str())) {
        return Err(ApiError::invalid_query(format!(
            "unknown lane `{bad}`; lanes: {}",
            SERVICE_LANES.join(", ")
        )));
    }
    let spec = company_list();
    let mut select = tx.repo::<prospect_company::Entity>().find();
    if !lanes.is_empty() {
        let since = Utc::now() - TimeDelta::days(WINDOW_DAYS);
        select = select.filter(
            prospect_company::Column::Id.in_subquery(
                Query::select()
                    .column(intent_signal::Column::ProspectCompanyId)
                    .from(intent_signal::Entity)
                    .and_where(intent_signal::Column::OrgId.eq(tx.org_id()))
                    .and_where(intent_signal::Column::ServiceLane.is_in(lanes))
                    .and_where(intent_signal::Column::OccurredAt.gt(since))
                    .to_owned(),
            ),
        );
    }
    let select = spec.apply(&query, select)?;
    let page = tx.page(select, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Company::from)))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCompany {
    #[schema(min_length = 1, max_length = 200)]
    #[garde(length(chars, min = 1, max = 200))]
    pub name: String,
    /// The primary domain (`nasa.gov`); unique across prospects.
    #[schema(max_length = 253)]
    #[garde(length(chars, max = 253))]
    pub domain: String,
    /// More domains of the company (`jpl.nasa.gov`).
    #[serde(default)]
    #[garde(length(max = 20), inner(length(chars, max = 253)))]
    pub aliases: Vec<String>,
    /// `new` (default), `engaged` or `opportunity`.
    #[garde(skip)]
    pub stage: Option<String>,
    /// An internal user (a member of the operator org).
    #[garde(skip)]
    pub owner_user_id: Option<Uuid>,
}

fn settable_stage(stage: &str) -> Result<(), ApiError> {
    match stage {
        "new" | "engaged" | "opportunity" => Ok(()),
        "customer" => Err(ApiError::validation(
            "stage",
            "a company becomes a customer by POST /abm/companies/{id}/convert",
        )),
        _ => Err(ApiError::validation(
            "stage",
            format!("unknown stage `{stage}`; stages: {}", STAGES.join(", ")),
        )),
    }
}

/// Adds a prospect with its primary domain (and aliases). 409 when a domain is another
/// prospect's.
#[utoipa::path(tag = TAG, request_body = NewCompany, responses(
    (status = 201, body = Company), (status = 403), (status = 409), (status = 422)))]
#[post("/abm/companies")]
pub(crate) async fn create(
    tx: Internal<Write<Abm>>,
    body: ValidJson<NewCompany>,
) -> ApiResult<HttpResponse> {
    let body = body.0;
    let name = required("name", &body.name, 200)?;
    let domain = domain_input("domain", &body.domain)?;
    let mut aliases = Vec::new();
    for a in &body.aliases {
        let a = domain_input("aliases", a)?;
        if a != domain && !aliases.contains(&a) {
            aliases.push(a);
        }
    }
    let stage = body.stage.unwrap_or_else(|| "new".into());
    settable_stage(&stage)?;
    if let Some(owner) = body.owner_user_id {
        require_internal_user(&tx, owner).await?;
    }
    let domains = tx.repo::<company_domain::Entity>();
    let mut all = vec![domain.clone()];
    all.extend(aliases.iter().cloned());
    if let Some(d) = domains
        .find()
        .filter(company_domain::Column::Domain.is_in(all))
        .one(domains.conn())
        .await?
    {
        return Err(taken(&tx, &d).await?);
    }
    let now = Utc::now();
    let company = tx
        .repo::<prospect_company::Entity>()
        .insert(prospect_company::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            name: Set(name),
            domain: Set(domain.clone()),
            intent_score: Set(0),
            stage: Set(stage),
            owner_user_id: Set(body.owner_user_id),
            customer_org_id: Set(None),
            score_updated_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .await?;
    for (d, primary) in
        std::iter::once((domain, true)).chain(aliases.into_iter().map(|a| (a, false)))
    {
        insert_domain(&tx, company.id, d, primary).await?;
    }
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Company::from(company)))
}

/// Signals of one company in the scoring window, summed by a key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Bucket {
    /// The signal type, lane, topic, or week (its Monday, `2026-11-16`); `null` when the
    /// signals carry none.
    pub key: Option<String>,
    pub signals: u64,
    pub weight: i64,
}

/// Sums of a company's signals in the scoring window.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Aggregate {
    pub window_days: i64,
    pub signals: u64,
    /// What the score is when re-computed now.
    pub weight: i64,
    pub last_signal_at: Option<DateTime<Utc>>,
    pub by_signal_type: Vec<Bucket>,
    pub by_service_lane: Vec<Bucket>,
    /// The 10 heaviest topics.
    pub by_topic: Vec<Bucket>,
}

type Row = (String, Option<String>, Option<String>, i32, DateTime<Utc>);

/// The company's signals since `since`: (type, lane, topic, weight, occurred_at).
async fn window(tx: &TenantTx, company: Uuid, since: DateTime<Utc>) -> Result<Vec<Row>, ApiError> {
    let repo = tx.repo::<intent_signal::Entity>();
    Ok(repo
        .find()
        .select_only()
        .columns([
            intent_signal::Column::SignalType,
            intent_signal::Column::ServiceLane,
            intent_signal::Column::Topic,
            intent_signal::Column::Weight,
            intent_signal::Column::OccurredAt,
        ])
        .filter(intent_signal::Column::ProspectCompanyId.eq(company))
        .filter(intent_signal::Column::OccurredAt.gt(since))
        .into_tuple()
        .all(repo.conn())
        .await?)
}

fn buckets<'a>(rows: impl Iterator<Item = (Option<String>, i32)> + 'a) -> Vec<Bucket> {
    let mut sums: BTreeMap<Option<String>, (u64, i64)> = BTreeMap::new();
    for (key, weight) in rows {
        let e = sums.entry(key).or_default();
        e.0 += 1;
        e.1 += i64::from(weight);
    }
    let mut out: Vec<Bucket> = sums
        .into_iter()
        .map(|(key, (signals, weight))| Bucket {
            key,
            signals,
            weight,
        })
        .collect();
    out.sort_by(|a, b| b.weight.cmp(&a.weight).then_with(|| a.key.cmp(&b.key)));
    out
}

fn aggregate(rows: &[Row]) -> Aggregate {
    let mut topics = buckets(rows.iter().map(|r| (r.2.clone(), r.3)));
    topics.truncate(10);
    Aggregate {
        window_days: WINDOW_DAYS,
        signals: rows.len() as u64,
        weight: rows.iter().map(|r| i64::from(r.3)).sum(),
        last_signal_at: rows.iter().map(|r| r.4).max(),
        by_signal_type: buckets(rows.iter().map(|r| (Some(r.0.clone()), r.3))),
        by_service_lane: buckets(rows.iter().map(|r| (r.1.clone(), r.3))),
        by_topic: topics,
    }
}

/// One intent signal, with its company's name in the feed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Signal {
    pub id: Uuid,
    pub prospect_company_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    pub contact_id: Option<Uuid>,
    pub visitor_id: Option<Uuid>,
    pub signal_type: String,
    pub service_lane: Option<String>,
    pub topic: Option<String>,
    pub weight: i32,
    pub occurred_at: DateTime<Utc>,
}

impl From<intent_signal::Model> for Signal {
    fn from(m: intent_signal::Model) -> Self {
        Self {
            id: m.id,
            prospect_company_id: m.prospect_company_id,
            company_name: None,
            contact_id: m.contact_id,
            visitor_id: m.visitor_id,
            signal_type: m.signal_type,
            service_lane: m.service_lane,
            topic: m.topic,
            weight: m.weight,
            occurred_at: m.occurred_at,
        }
    }
}

/// A domain of a company.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Domain {
    pub id: Uuid,
    pub prospect_company_id: Uuid,
    pub domain: String,
    pub is_primary: bool,
    pub created_at: DateTime<Utc>,
}

/// A company's domains, the primary first, then by name.
pub(super) async fn domains_of(tx: &TenantTx, company: Uuid) -> Result<Vec<Domain>, ApiError> {
    let repo = tx.repo::<company_domain::Entity>();
    Ok(repo
        .find()
        .filter(company_domain::Column::ProspectCompanyId.eq(company))
        .order_by_desc(company_domain::Column::IsPrimary)
        .order_by_asc(company_domain::Column::Domain)
        .all(repo.conn())
        .await?
        .into_iter()
        .map(Domain::from)
        .collect())
}

/// Stores a domain of `company`.
pub(super) async fn insert_domain(
    tx: &TenantTx,
    company: Uuid,
    domain: String,
    is_primary: bool,
) -> Result<company_domain::Model, ApiError> {
    Ok(tx
        .repo::<company_domain::Entity>()
        .insert(company_domain::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            prospect_company_id: Set(company),
            domain: Set(domain),
            is_primary: Set(is_primary),
            created_at: Set(Utc::now()),
        })
        .await?)
}

/// The 409 for a domain another prospect (named) already has.
pub(super) async fn taken(tx: &TenantTx, d: &company_domain::Model) -> Result<ApiError, ApiError> {
    let owner = tx
        .repo::<prospect_company::Entity>()
        .get(d.prospect_company_id)
        .await?
        .map_or_else(String::new, |c| format!("{} ", c.name));
    Ok(ApiError::conflict(format!(
        "the domain {} belongs to company {owner}({})",
        d.domain, d.prospect_company_id
    )))
}

impl From<company_domain::Model> for Domain {
    fn from(m: company_domain::Model) -> Self {
        Self {
            id: m.id,
            prospect_company_id: m.prospect_company_id,
            domain: m.domain,
            is_primary: m.is_primary,
            created_at: m.created_at,
        }
    }
}

/// A customer org's account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerAccount {
    /// The customer organization (tenant).
    pub customer_company_id: Uuid,
    pub prospect_company_id: Uuid,
    pub plan_tier: String,
    pub stripe_customer_id: Option<String>,
    /// `trial`, `active`, `past_due` or `cancelled`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<customer_account::Model> for CustomerAccount {
    fn from(m: customer_account::Model) -> Self {
        Self {
            customer_company_id: m.org_id,
            prospect_company_id: m.prospect_company_id,
            plan_tier: m.plan_tier,
            stripe_customer_id: m.stripe_customer_id,
            status: m.status,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A company with its domains, contact count, signal sums and latest signals.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CompanyDetail {
    #[serde(flatten)]
    pub company: Company,
    pub domains: Vec<Domain>,
    pub contacts: u64,
    pub anonymous_visitors: u64,
    pub signals: Aggregate,
    /// The 10 latest signals.
    pub recent_signals: Vec<Signal>,
    /// The customer account, once converted.
    pub customer: Option<CustomerAccount>,
}

/// One company with its aggregated signals of the scoring window.
#[utoipa::path(tag = TAG, responses((status = 200, body = CompanyDetail), (status = 403), (status = 404)))]
#[get("/abm/companies/{id}")]
pub(crate) async fn detail(
    ctx: CellContext,
    tx: Internal<Read<Abm>>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let company = load(&tx, id.into_inner()).await?;
    let domains = domains_of(&tx, company.id).await?;
    let repo = tx.repo::<contact::Entity>();
    let contacts = repo
        .find()
        .filter(contact::Column::ProspectCompanyId.eq(company.id))
        .count(repo.conn())
        .await?;
    let repo = tx.repo::<anonymous_visitor::Entity>();
    let visitors = repo
        .find()
        .filter(anonymous_visitor::Column::ProspectCompanyId.eq(company.id))
        .count(repo.conn())
        .await?;
    let rows = window(&tx, company.id, Utc::now() - TimeDelta::days(WINDOW_DAYS)).await?;
    let signals = tx.repo::<intent_signal::Entity>();
    let recent = signals
        .find()
        .filter(intent_signal::Column::ProspectCompanyId.eq(company.id))
        .order_by_desc(intent_signal::Column::OccurredAt)
        .order_by_desc(intent_signal::Column::Id)
        .limit(10)
        .all(signals.conn())
        .await?;
    tx.commit().await?;
    let customer = match company.customer_org_id {
        Some(org) => {
            let tx = ctx.db().tenant_read(org).await?;
            let account = super::zone::customer_of(&tx).await?;
            tx.commit().await?;
            account.map(CustomerAccount::from)
        }
        None => None,
    };
    Ok(HttpResponse::Ok().json(CompanyDetail {
        company: company.into(),
        domains,
        contacts,
        anonymous_visitors: visitors,
        signals: aggregate(&rows),
        recent_signals: recent.into_iter().map(Signal::from).collect(),
        customer,
    }))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyPatch {
    #[garde(inner(length(chars, min = 1, max = 200)))]
    pub name: Option<String>,
    /// `new`, `engaged` or `opportunity` (`customer` only by conversion).
    #[garde(skip)]
    pub stage: Option<String>,
    /// An internal user; `null` removes the owner.
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[garde(skip)]
    #[schema(value_type = Option<Uuid>)]
    pub owner_user_id: Option<Option<Uuid>>,
}

/// Renames a company, moves its stage (not to or from `customer`), or sets its owner. The
/// primary domain changes through `POST /abm/companies/{id}/domains` with `is_primary`.
#[utoipa::path(tag = TAG, request_body = CompanyPatch, responses(
    (status = 200, body = Company), (status = 403), (status = 404), (status = 409), (status = 422)))]
#[patch("/abm/companies/{id}")]
pub(crate) async fn update(
    tx: Internal<Write<Abm>>,
    id: web::Path<Uuid>,
    body: ValidJson<CompanyPatch>,
) -> ApiResult<HttpResponse> {
    let body = body.0;
    if let Some(stage) = &body.stage {
        settable_stage(stage)?;
    }
    let company = load(&tx, id.into_inner()).await?;
    if let Some(Some(owner)) = body.owner_user_id {
        require_internal_user(&tx, owner).await?;
    }
    if body.stage.is_some() && company.stage == "customer" {
        return Err(ApiError::conflict(
            "the company is a customer: its stage stays `customer`",
        ));
    }
    let mut m: prospect_company::ActiveModel = company.into();
    if let Some(name) = body.name {
        m.name = Set(required("name", &name, 200)?);
    }
    if let Some(stage) = body.stage {
        m.stage = Set(stage);
    }
    if let Some(owner) = body.owner_user_id {
        m.owner_user_id = Set(owner);
    }
    m.updated_at = Set(Utc::now());
    let company = tx.repo::<prospect_company::Entity>().update(m).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Company::from(company)))
}

/// Deletes a prospect with its domains, contacts (and their identities), anonymous visitors
/// and signals (internal admins). A converted company is kept (409): its customer org links to
/// it.
#[utoipa::path(tag = TAG, responses((status = 204), (status = 403), (status = 404), (status = 409)))]
#[delete("/abm/companies/{id}")]
pub(crate) async fn remove(tx: InternalAdmin, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let company = load(&tx, id.into_inner()).await?;
    if company.customer_org_id.is_some() {
        return Err(ApiError::conflict(
            "the company converted into a customer and is kept",
        ));
    }
    // Its domains, contacts (and their identities), visitors and signals go with it: the
    // foreign keys cascade (abm_m20261204_000001_foreign_keys).
    tx.repo::<prospect_company::Entity>()
        .delete(company.id)
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Why a company has its score.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScoreExplanation {
    pub company_id: Uuid,
    /// The stored score (as of `score_updated_at`).
    pub intent_score: i64,
    pub score_updated_at: Option<DateTime<Utc>>,
    /// The signals of the window, summed now (the stored score is this sum as of the last daily
    /// pass plus what was ingested since).
    #[serde(flatten)]
    pub window: Aggregate,
    /// Weight per week (Monday start, UTC) over the window.
    pub by_week: Vec<Bucket>,
    pub momentum: Momentum,
}

/// Is the account heating up? The last 7 days against the 21 before them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Momentum {
    pub last_7_days: i64,
    pub prior_21_days: i64,
    /// The last week's weight over the prior weeks' weekly average (`last_7_days /
    /// (prior_21_days / 3)`): 1.0 steady, above heating, below cooling; `null` when the prior
    /// weeks had no signal.
    pub ratio: Option<f64>,
}

fn momentum(rows: &[Row], now: DateTime<Utc>) -> Momentum {
    let week_ago = now - TimeDelta::days(7);
    let start = now - TimeDelta::days(28);
    let last: i64 = rows
        .iter()
        .filter(|r| r.4 > week_ago)
        .map(|r| i64::from(r.3))
        .sum();
    let prior: i64 = rows
        .iter()
        .filter(|r| r.4 > start && r.4 <= week_ago)
        .map(|r| i64::from(r.3))
        .sum();
    #[expect(clippy::cast_precision_loss, reason = "scores far below 2^52")]
    let ratio = (prior > 0).then(|| last as f64 * 3.0 / prior as f64);
    Momentum {
        last_7_days: last,
        prior_21_days: prior,
        ratio,
    }
}

fn monday(t: DateTime<Utc>) -> NaiveDate {
    let d = t.date_naive();
    d - TimeDelta::days(i64::from(d.weekday().num_days_from_monday()))
}

/// The score explained: the window's signals by type, lane, topic and week, and momentum.
#[utoipa::path(tag = TAG, responses((status = 200, body = ScoreExplanation), (status = 403), (status = 404)))]
#[get("/abm/companies/{id}/score")]
pub(crate) async fn score(tx: Internal<Read<Abm>>, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let now = Utc::now();
    let company = load(&tx, id.into_inner()).await?;
    let rows = window(&tx, company.id, now - TimeDelta::days(WINDOW_DAYS)).await?;
    tx.commit().await?;
    let mut weeks = buckets(rows.iter().map(|r| (Some(monday(r.4).to_string()), r.3)));
    weeks.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(HttpResponse::Ok().json(ScoreExplanation {
        company_id: company.id,
        intent_score: company.intent_score,
        score_updated_at: company.score_updated_at,
        window: aggregate(&rows),
        by_week: weeks,
        momentum: momentum(&rows, now),
    }))
}

pub const CUSTOMER_STATUSES: [&str; 4] = ["trial", "active", "past_due", "cancelled"];

fn plan_tier(field: &str, plan: &str) -> Result<(), ApiError> {
    match tenancy::orgs::valid_plan(plan) {
        true => Ok(()),
        false => Err(ApiError::validation(
            field,
            "a plan tier is 1 to 50 characters of a-z, 0-9, - and _",
        )),
    }
}

fn stripe_id(id: &str) -> Result<(), ApiError> {
    let ok = id.starts_with("cus_")
        && id.len() <= 255
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match ok {
        true => Ok(()),
        false => Err(ApiError::validation(
            "stripe_customer_id",
            "a Stripe customer id looks like `cus_…` (letters, digits, _)",
        )),
    }
}

#[derive(Debug, Default, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Conversion {
    /// The customer org's name; the company's name by default.
    #[garde(inner(length(chars, min = 1, max = 200)))]
    pub name: Option<String>,
    /// `standard` by default.
    #[garde(skip)]
    pub plan_tier: Option<String>,
    /// `trial` (default) or `active`.
    #[garde(skip)]
    pub status: Option<String>,
    #[garde(skip)]
    pub stripe_customer_id: Option<String>,
    /// A contact of the company to invite as the customer's admin (`customer_admin`).
    #[garde(skip)]
    pub invite_contact_id: Option<Uuid>,
}

/// What a conversion made (or had made).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Converted {
    pub company: Company,
    pub customer: CustomerAccount,
    pub customer_name: String,
    /// The address invited as the customer's admin (first conversion only).
    pub invited: Option<String>,
}

/// Promotes a prospect to a customer: creates the customer org (tenant) with its account,
/// invites a contact as its admin when asked, links the company and sets its stage to
/// `customer`. Idempotent: a second call answers 200 with the same customer and invites no one.
/// The body may be empty (all defaults).
#[utoipa::path(tag = TAG, request_body = Conversion, responses(
    (status = 201, body = Converted), (status = 200, body = Converted), (status = 403),
    (status = 404), (status = 422)))]
#[post("/abm/companies/{id}/convert")]
pub(crate) async fn convert(
    ctx: CellContext,
    tx: Internal<Write<Abm>>,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    // The body is optional (all defaults); when present it is checked like any other.
    let body: Conversion = match body.iter().all(u8::is_ascii_whitespace) {
        true => Conversion::default(),
        false => {
            let b: Conversion = kernel::http::extract::parse_json(&body)?;
            garde::Validate::validate(&b).map_err(ApiError::from)?;
            b
        }
    };
    let plan = body.plan_tier.clone().unwrap_or_else(|| "standard".into());
    plan_tier("plan_tier", &plan)?;
    let status = body.status.clone().unwrap_or_else(|| "trial".into());
    if !matches!(status.as_str(), "trial" | "active") {
        return Err(ApiError::validation(
            "status",
            "a new customer starts as `trial` or `active`",
        ));
    }
    if let Some(s) = &body.stripe_customer_id {
        stripe_id(s)?;
    }

    // 1. Claim the conversion in the operator org: the company points at its customer org id
    //    before the org exists, so concurrent or retried calls all use that one id.
    let company = load(&tx, id.into_inner()).await?;
    let invitee = match body.invite_contact_id {
        Some(contact_id) => {
            let c = tx
                .repo::<contact::Entity>()
                .get(contact_id)
                .await?
                .filter(|c| c.prospect_company_id == company.id)
                .ok_or_else(|| {
                    ApiError::validation("invite_contact_id", "no such contact of this company")
                })?;
            Some(c.email)
        }
        None => None,
    };
    let (company, first) = match company.customer_org_id {
        Some(_) => (company, false),
        None => {
            let org = Uuid::now_v7();
            let now = Utc::now();
            let claimed = tx
                .repo::<prospect_company::Entity>()
                .update_many(
                    vec![
                        (prospect_company::Column::CustomerOrgId, Expr::value(org)),
                        (prospect_company::Column::Stage, Expr::value("customer")),
                        (prospect_company::Column::UpdatedAt, Expr::value(now)),
                    ],
                    Condition::all()
                        .add(prospect_company::Column::Id.eq(company.id))
                        .add(prospect_company::Column::CustomerOrgId.is_null())
                        .into(),
                )
                .await?;
            let company = load(&tx, company.id).await?;
            if claimed == 1 {
                let converted = crate::events::CompanyConverted {
                    prospect_company_id: company.id,
                    customer_company_id: org,
                    converted_by: tx.caller().user_id,
                };
                let actor = kernel::module::EntityRef::user(tx.caller().user_id);
                ctx.events().emit(&tx, Some(actor), &converted).await?;
            }
            (company, claimed == 1)
        }
    };
    let user = tx.caller().user_id;
    tx.commit().await?;
    let org = company
        .customer_org_id
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("conversion left no customer org")))?;

    // 2. Make sure the customer org and its account exist (a retry after a failure here
    //    finishes the job), in the customer org's own transaction.
    let tx = ctx.db().tenant(org).await?;
    let existing = tenancy::organization(&tx).await?;
    let name = match existing {
        Some(o) => o.name,
        None => {
            let o = tenancy::create_organization_without_members(
                &tx,
                tenancy::NewOrganization {
                    name: body.name.clone().unwrap_or_else(|| company.name.clone()),
                    plan: Some(plan.clone()),
                    ..Default::default()
                },
            )
            .await?;
            o.name
        }
    };
    let accounts = tx.repo::<customer_account::Entity>();
    let (account, created) = match accounts.get(org).await? {
        Some(a) => (a, false),
        None => {
            let now = Utc::now();
            let a = accounts
                .insert(customer_account::ActiveModel {
                    org_id: Set(org),
                    prospect_company_id: Set(company.id),
                    plan_tier: Set(plan),
                    stripe_customer_id: Set(body.stripe_customer_id.clone()),
                    status: Set(status),
                    created_at: Set(now),
                    updated_at: Set(now),
                })
                .await?;
            (a, true)
        }
    };
    let invited = match (first || created, invitee) {
        (true, Some(email)) => {
            let role = match ctx.config().cell.roles.contains_key("customer_admin") {
                true => "customer_admin",
                false => "admin",
            };
            tenancy::invite(&ctx, &tx, &email, role, &[], user).await?;
            Some(email)
        }
        _ => None,
    };
    tx.commit().await?;
    let body = Converted {
        company: company.into(),
        customer: account.into(),
        customer_name: name,
        invited,
    };
    Ok(match first {
        true => HttpResponse::Created().json(body),
        false => HttpResponse::Ok().json(body),
    })
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatch {
    #[garde(skip)]
    pub plan_tier: Option<String>,
    /// `trial`, `active`, `past_due` or `cancelled`.
    #[garde(skip)]
    pub status: Option<String>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[garde(skip)]
    #[schema(value_type = Option<String>)]
    pub stripe_customer_id: Option<Option<String>>,
}

/// Changes a customer's plan tier, status or Stripe id (internal admins; the customer org must
/// be one a company converted into).
#[utoipa::path(tag = TAG, request_body = CustomerPatch, responses(
    (status = 200, body = CustomerAccount), (status = 403), (status = 404), (status = 422)))]
#[patch("/abm/customers/{id}")]
pub(crate) async fn update_customer(
    ctx: CellContext,
    tx: InternalAdmin,
    id: web::Path<Uuid>,
    body: ValidJson<CustomerPatch>,
) -> ApiResult<HttpResponse> {
    let body = body.0;
    if let Some(plan) = &body.plan_tier {
        plan_tier("plan_tier", plan)?;
    }
    if let Some(s) = &body.status {
        one_of("status", s, &CUSTOMER_STATUSES)?;
    }
    if let Some(Some(s)) = &body.stripe_customer_id {
        stripe_id(s)?;
    }
    let org = id.into_inner();
    // Only an org one of the operator's companies converted into: not any tenant of the cell.
    let repo = tx.repo::<prospect_company::Entity>();
    let linked = repo
        .find()
        .filter(prospect_company::Column::CustomerOrgId.eq(org))
        .one(repo.conn())
        .await?
        .is_some();
    tx.commit().await?;
    if !linked {
        return Err(not_found("customer"));
    }
    let tx = ctx.db().tenant(org).await?;
    let accounts = tx.repo::<customer_account::Entity>();
    let account = accounts
        .get(org)
        .await?
        .ok_or_else(|| not_found("customer"))?;
    let mut m: customer_account::ActiveModel = account.into();
    if let Some(plan) = body.plan_tier {
        m.plan_tier = Set(plan);
    }
    if let Some(status) = body.status {
        m.status = Set(status);
    }
    if let Some(stripe) = body.stripe_customer_id {
        m.stripe_customer_id = Set(stripe);
    }
    m.updated_at = Set(Utc::now());
    let account = accounts.update(m).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(CustomerAccount::from(account)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// 1–200, 50 by default.
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub signal_type: Option<String>,
    pub service_lane: Option<String>,
    pub company_id: Option<Uuid>,
    /// Only signals that occurred at or after this instant.
    pub since: Option<DateTime<Utc>>,
}

/// A page of the feed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Feed {
    pub data: Vec<Signal>,
    /// Pass as `cursor` for the next (older) page; `null` at the end.
    pub next_cursor: Option<String>,
}

fn encode_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    use base64::Engine;
    let raw = format!(
        "{}|{id}",
        at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    );
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(cursor: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    use base64::Engine;
    let bad = || ApiError::invalid_query("`cursor` is not one this feed gave");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (at, id) = raw.split_once('|').ok_or_else(bad)?;
    let at = DateTime::parse_from_rfc3339(at).map_err(|_| bad())?;
    Ok((
        at.with_timezone(&Utc),
        Uuid::parse_str(id).map_err(|_| bad())?,
    ))
}

/// Every company's signals, newest first, by cursor (stable while signals arrive). Filters:
/// `signal_type`, `service_lane`, `company_id`, `since`.
#[utoipa::path(tag = TAG, params(FeedQuery), responses((status = 200, body = Feed), (status = 400), (status = 403)))]
#[get("/abm/signals/feed")]
pub(crate) async fn feed(
    tx: Internal<Read<Abm>>,
    query: web::Query<FeedQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid_query("`limit` must be from 1 to 200"));
    }
    if let Some(t) = &q.signal_type
        && !SIGNAL_TYPES.contains(&t.as_str())
    {
        return Err(ApiError::invalid_query(format!(
            "unknown signal_type `{t}`; types: {}",
            SIGNAL_TYPES.join(", ")
        )));
    }
    if let Some(l) = &q.service_lane
        && !SERVICE_LANES.contains(&l.as_str())
    {
        return Err(ApiError::invalid_query(format!(
            "unknown service_lane `{l}`; lanes: {}",
            SERVICE_LANES.join(", ")
        )));
    }
    let after = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let repo = tx.repo::<intent_signal::Entity>();
    let mut select = repo.find();
    if let Some(t) = q.signal_type {
        select = select.filter(intent_signal::Column::SignalType.eq(t));
    }
    if let Some(l) = q.service_lane {
        select = select.filter(intent_signal::Column::ServiceLane.eq(l));
    }
    if let Some(c) = q.company_id {
        select = select.filter(intent_signal::Column::ProspectCompanyId.eq(c));
    }
    if let Some(since) = q.since {
        select = select.filter(intent_signal::Column::OccurredAt.gte(since));
    }
    if let Some((at, id)) = after {
        select = select.filter(
            Condition::any()
                .add(intent_signal::Column::OccurredAt.lt(at))
                .add(
                    Condition::all()
                        .add(intent_signal::Column::OccurredAt.eq(at))
                        .add(intent_signal::Column::Id.lt(id)),
                ),
        );
    }
    let mut rows = select
        .order_by_desc(intent_signal::Column::OccurredAt)
        .order_by_desc(intent_signal::Column::Id)
        .limit(limit + 1)
        .all(repo.conn())
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let ids: Vec<Uuid> = rows.iter().map(|r| r.prospect_company_id).collect();
    let companies = tx.repo::<prospect_company::Entity>();
    let names: HashMap<Uuid, String> = companies
        .find()
        .select_only()
        .columns([prospect_company::Column::Id, prospect_company::Column::Name])
        .filter(prospect_company::Column::Id.is_in(ids))
        .into_tuple::<(Uuid, String)>()
        .all(companies.conn())
        .await?
        .into_iter()
        .collect();
    tx.commit().await?;
    let next_cursor = match (more, rows.last()) {
        (true, Some(last)) => Some(encode_cursor(last.occurred_at, last.id)),
        _ => None,
    };
    let data = rows
        .into_iter()
        .map(|r| {
            let name = names.get(&r.prospect_company_id).cloned();
            Signal {
                company_name: name,
                ..Signal::from(r)
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(Feed { data, next_cursor }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(weight: i32, days_ago: i64, now: DateTime<Utc>) -> Row {
        (
            "page_view".into(),
            None,
            None,
            weight,
            now - TimeDelta::days(days_ago),
        )
    }

    #[test]
    fn momentum_compares_the_last_week_with_the_prior_three() {
        let now = Utc::now();
        let rows = [
            row(30, 1, now),
            row(10, 10, now),
            row(20, 20, now),
            row(99, 29, now),
        ];
        let m = momentum(&rows, now);
        assert_eq!((m.last_7_days, m.prior_21_days), (30, 30));
        assert_eq!(m.ratio, Some(3.0));
        let cold = momentum(&[row(5, 2, now)], now);
        assert_eq!(cold.ratio, None);
    }

    #[test]
    fn weeks_start_on_monday() {
        let t = DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        assert_eq!(
            t.map(monday).map(|d| d.to_string()).as_deref(),
            Some("2026-11-16")
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() -> Result<(), String> {
        let at = Utc::now();
        let id = Uuid::now_v7();
        let back = decode_cursor(&encode_cursor(at, id)).map_err(|e| e.message().to_owned())?;
        assert_eq!(back, (at, id));
        assert!(decode_cursor("not-a-cursor").is_err());
        assert!(decode_cursor("").is_err());
        Ok(())
    }
}

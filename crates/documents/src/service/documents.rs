//! Documents and templates: creation (from a template too: its content, typed fields and
//! clauses, with the org's default clauses), details, clause copies, the trash.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use kernel::sea_orm::{
    ActiveValue::Set, ColumnTrait, ExprTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use kernel::{ApiError, CellContext, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Actor, TEMPLATE, document as get, editable, fields_of, move_to, publish};
use crate::content::{MAX_CONTENT, sanitize, with_fields};
use crate::entity::{clause, doc_clause, document};
use crate::events::{DocumentCreated, DocumentDeleted, DocumentUpdated};
use crate::module::Settings;

/// The kinds of value a template's field takes.
pub(crate) const FIELD_TYPES: [&str; 5] = ["text", "number", "date", "money", "boolean"];
/// The most fields a template declares.
pub(crate) const MAX_FIELDS: usize = 200;
/// The longest field value.
pub(crate) const MAX_VALUE: usize = 20_000;

/// A field a template asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::FieldDef)]
pub struct FieldDef {
    /// What `data-field` names in the content: letters, digits, `_`, `-`, `.`.
    #[schema(min_length = 1, max_length = 200, pattern = r"^[A-Za-z0-9_.\-]+$")]
    pub name: String,
    #[schema(max_length = 200)]
    pub label: Option<String>,
    /// `text` (default), `number`, `date` (YYYY-MM-DD), `money` (integer minor units) or
    /// `boolean` (`true`, `false`).
    #[serde(rename = "type", default = "text")]
    #[schema(pattern = "^(text|number|date|money|boolean)$")]
    pub kind: String,
    #[serde(default)]
    pub required: bool,
    #[schema(max_length = 20000)]
    pub default: Option<String>,
}

fn text() -> String {
    "text".into()
}

/// 422 unless `name` can name a field.
pub(crate) fn field_name(field: &str, name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    match ok {
        true => Ok(()),
        false => Err(ApiError::validation(
            field,
            "1 to 200 letters, digits, `_`, `-` or `.`",
        )),
    }
}

fn check_value(field: &str, def: &FieldDef, value: &str) -> Result<(), ApiError> {
    if value.chars().count() > MAX_VALUE {
        return Err(ApiError::validation(field, "at most 20000 characters"));
    }
    let ok = match def.kind.as_str() {
        "number" => value.trim().parse::<f64>().is_ok_and(f64::is_finite),
        "money" => value.trim().parse::<i64>().is_ok(),
        "date" => NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").is_ok(),
        "boolean" => matches!(value, "true" | "false"),
        _ => true,
    };
    match ok {
        true => Ok(()),
        false => Err(ApiError::validation(field, format!("a {} value", def.kind))),
    }
}

/// 422 unless the definitions are well formed (names unique, kinds known, defaults valid).
pub(crate) fn check_defs(defs: &[FieldDef]) -> Result<(), ApiError> {
    if defs.len() > MAX_FIELDS {
        return Err(ApiError::validation("field_defs", "at most 200 fields"));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, d) in defs.iter().enumerate() {
        let at = format!("field_defs[{i}]");
        field_name(&format!("{at}.name"), &d.name)?;
        super::one_of(&format!("{at}.type"), &d.kind, &FIELD_TYPES)?;
        if !seen.insert(d.name.as_str()) {
            return Err(ApiError::validation(
                &format!("{at}.name"),
                "a field of this name comes earlier",
            ));
        }
        if let Some(v) = &d.default {
            check_value(&format!("{at}.default"), d, v)?;
        }
    }
    Ok(())
}

/// The values a document made from a template starts with: each field's given value or
/// default, checked against its type; 422 for a required field without either, or a value for
/// a field the template does not declare.
pub(crate) fn values_for(
    defs: &[FieldDef],
    given: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ApiError> {
    if let Some(unknown) = given.keys().find(|k| !defs.iter().any(|d| &d.name == *k)) {
        return Err(ApiError::validation(
            &format!("fields.{unknown}"),
            "not a field of this template",
        ));
    }
    let mut out = BTreeMap::new();
    for d in defs {
        let field = format!("fields.{}", d.name);
        match given.get(&d.name).or(d.default.as_ref()) {
            Some(v) => {
                check_value(&field, d, v)?;
                out.insert(d.name.clone(), v.clone());
            }
            None if d.required => {
                return Err(ApiError::validation(&field, "required by the template"));
            }
            None => {}
        }
    }
    Ok(out)
}

/// The content as stored: sanitized, within the size limit, fields written in.
pub(crate) fn stored_content(
    raw: &str,
    fields: &BTreeMap<String, String>,
) -> Result<String, ApiError> {
    if raw.len() > MAX_CONTENT {
        return Err(ApiError::validation("content", "at most 2 MiB of HTML"));
    }
    let html = with_fields(&sanitize(raw), fields);
    if html.len() > MAX_CONTENT {
        return Err(ApiError::validation(
            "content",
            "at most 2 MiB of HTML with its fields",
        ));
    }
    Ok(html)
}

pub(crate) struct NewDocument {
    pub title: String,
    pub doc_type: String,
    pub content: String,
    pub fields: BTreeMap<String, String>,
    pub field_defs: Vec<FieldDef>,
    pub template_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub(crate) async fn create(
    ctx: &CellContext,
    tx: &TenantTx,
    settings: &Settings,
    by: Uuid,
    new: NewDocument,
) -> Result<document::Model, ApiError> {
    let repo = tx.repo::<document::Entity>();
    if repo.count().await? >= settings.max_documents {
        return Err(ApiError::conflict(format!(
            "this organization holds its limit of {} documents",
            settings.max_documents
        )));
    }
    check_defs(&new.field_defs)?;
    let content = stored_content(&new.content, &new.fields)?;
    let now = Utc::now();
    let row = repo
        .insert(document::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            title: Set(new.title),
            doc_type: Set(new.doc_type),
            status: Set("draft".into()),
            content: Set(content),
            fields: Set(serde_json::to_value(&new.fields).unwrap_or_default()),
            field_defs: Set(serde_json::to_value(&new.field_defs).unwrap_or_default()),
            template_id: Set(new.template_id),
            contact_id: Set(new.contact_id),
            revision: Set(None),
            expires_at: Set(new.expires_at),
            signed_hash: Set(None),
            signed_at: Set(None),
            signed_file_id: Set(None),
            created_by: Set(by),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
        })
        .await?;
    publish(
        ctx,
        tx,
        by,
        &DocumentCreated {
            document_id: row.id,
            title: row.title.clone(),
            doc_type: row.doc_type.clone(),
            template_id: row.template_id,
        },
    )
    .await?;
    Ok(row)
}

pub(crate) fn defs_of(doc: &document::Model) -> Vec<FieldDef> {
    serde_json::from_value(doc.field_defs.clone()).unwrap_or_default()
}

/// A new draft from a template: its content with the values written in, its typed fields, its
/// clauses, then the org's default clauses it lacks (each at its current version).
pub(crate) async fn from_template(
    ctx: &CellContext,
    tx: &TenantTx,
    settings: &Settings,
    by: Uuid,
    template_id: Uuid,
    new: NewDocument,
) -> Result<document::Model, ApiError> {
    let template = tx
        .repo::<document::Entity>()
        .get(template_id)
        .await?
        .filter(|t| t.doc_type == TEMPLATE)
        .ok_or_else(|| ApiError::not_found("no such template in this organization"))?;
    let defs = defs_of(&template);
    let fields = values_for(&defs, new.fields)?;
    let doc = create(
        ctx,
        tx,
        settings,
        by,
        NewDocument {
            content: template.content.clone(),
            fields,
            field_defs: defs,
            template_id: Some(template.id),
            ..new
        },
    )
    .await?;
    let mut position = 0;
    let mut taken = std::collections::HashSet::new();
    for c in clauses_of(tx, template.id).await? {
        let Some(current) = tx.repo::<clause::Entity>().get(c.clause_id).await? else {
            continue;
        };
        taken.insert(current.id);
        copy_clause(tx, doc.id, &current, position).await?;
        position += 1;
    }
    let repo = tx.repo::<clause::Entity>();
    let defaults = repo
        .find()
        .filter(clause::Column::IsDefault.eq(true))
        .order_by_asc(clause::Column::Category)
        .order_by_asc(clause::Column::Title)
        .order_by_asc(clause::Column::Id)
        .all(repo.conn())
        .await?;
    for c in defaults.into_iter().filter(|c| !taken.contains(&c.id)) {
        copy_clause(tx, doc.id, &c, position).await?;
        position += 1;
    }
    Ok(doc)
}

async fn copy_clause(
    tx: &TenantTx,
    document_id: Uuid,
    c: &clause::Model,
    position: i32,
) -> Result<doc_clause::Model, ApiError> {
    Ok(tx
        .repo::<doc_clause::Entity>()
        .insert(doc_clause::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            document_id: Set(document_id),
            clause_id: Set(c.id),
            version: Set(c.version),
            title: Set(c.title.clone()),
            content: Set(c.content.clone()),
            position: Set(position),
            created_at: Set(Utc::now()),
        })
        .await?)
}

/// A document's clause copies, in order.
pub(crate) async fn clauses_of(
    tx: &TenantTx,
    document_id: Uuid,
) -> Result<Vec<doc_clause::Model>, ApiError> {
    let repo = tx.repo::<doc_clause::Entity>();
    Ok(repo
        .find()
        .filter(doc_clause::Column::DocumentId.eq(document_id))
        .order_by_asc(doc_clause::Column::Position)
        .order_by_asc(doc_clause::Column::Id)
        .all(repo.conn())
        .await?)
}

/// An edit of an approved document sends it back to draft (its approval was for other
/// content).
pub(crate) async fn edited(
    ctx: &CellContext,
    tx: &TenantTx,
    doc: document::Model,
    by: Actor,
) -> Result<document::Model, ApiError> {
    match doc.status == "approved" {
        true => move_to(ctx, tx, doc, "draft", by).await,
        false => Ok(doc),
    }
}

/// Inserts a copy of a clause's current version at `position` (0 first; default last); 409
/// when the document has it already.
pub(crate) async fn insert_clause(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    document_id: Uuid,
    clause_id: Uuid,
    position: Option<u32>,
) -> Result<document::Model, ApiError> {
    let doc = get(tx, document_id).await?;
    editable(&doc)?;
    let c = tx
        .repo::<clause::Entity>()
        .get(clause_id)
        .await?
        .ok_or_else(|| ApiError::validation("clause_id", "no such clause in this organization"))?;
    let mut list = clauses_of(tx, document_id).await?;
    if list.iter().any(|d| d.clause_id == clause_id) {
        return Err(ApiError::conflict("the document has this clause already"));
    }
    if list.len() >= 500 {
        return Err(ApiError::conflict("a document holds at most 500 clauses"));
    }
    let at = position.map_or(list.len(), |p| (p as usize).min(list.len()));
    let repo = tx.repo::<doc_clause::Entity>();
    for (i, d) in list.drain(..).enumerate().skip(at) {
        let mut row: doc_clause::ActiveModel = d.into();
        row.position = Set(i32::try_from(i + 1).unwrap_or(i32::MAX));
        repo.update(row).await?;
    }
    copy_clause(tx, document_id, &c, i32::try_from(at).unwrap_or(i32::MAX)).await?;
    let doc = touch(tx, doc).await?;
    edited(ctx, tx, doc, by.into()).await
}

/// Takes a clause copy out of a document.
pub(crate) async fn remove_clause(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    document_id: Uuid,
    clause_id: Uuid,
) -> Result<document::Model, ApiError> {
    let doc = get(tx, document_id).await?;
    editable(&doc)?;
    let removed = tx
        .repo::<doc_clause::Entity>()
        .delete_many(
            doc_clause::Column::DocumentId
                .eq(document_id)
                .and(doc_clause::Column::ClauseId.eq(clause_id)),
        )
        .await?;
    if removed == 0 {
        return Err(ApiError::not_found(
            "the document does not have this clause",
        ));
    }
    let doc = touch(tx, doc).await?;
    edited(ctx, tx, doc, by.into()).await
}

async fn touch(tx: &TenantTx, doc: document::Model) -> Result<document::Model, ApiError> {
    let mut row: document::ActiveModel = doc.into();
    row.updated_at = Set(Utc::now());
    Ok(tx.repo::<document::Entity>().update(row).await?)
}

/// What `PATCH /documents/{id}` may change.
#[derive(Default)]
pub(crate) struct Patch {
    pub title: Option<String>,
    pub content: Option<String>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub contact_id: Option<Option<Uuid>>,
    pub field_defs: Option<Vec<FieldDef>>,
    pub status: Option<String>,
}

pub(crate) async fn update(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    id: Uuid,
    patch: Patch,
) -> Result<document::Model, ApiError> {
    let mut doc = get(tx, id).await?;
    if matches!(doc.status.as_str(), "signed" | "cancelled") {
        editable(&doc)?;
    }
    let mut changed = Vec::new();
    let mut row: document::ActiveModel = doc.clone().into();
    if let Some(t) = patch.title
        && t != doc.title
    {
        row.title = Set(t);
        changed.push("title");
    }
    if let Some(e) = patch.expires_at
        && e != doc.expires_at
    {
        row.expires_at = Set(e);
        changed.push("expires_at");
    }
    if let Some(c) = patch.contact_id
        && c != doc.contact_id
    {
        row.contact_id = Set(c);
        changed.push("contact_id");
    }
    if let Some(defs) = patch.field_defs {
        if doc.doc_type != TEMPLATE {
            return Err(ApiError::validation(
                "field_defs",
                "only a template declares fields",
            ));
        }
        check_defs(&defs)?;
        row.field_defs = Set(serde_json::to_value(&defs).unwrap_or_default());
        changed.push("field_defs");
    }
    let mut content_changed = false;
    if let Some(c) = patch.content {
        editable(&doc)?;
        if doc.revision.is_some() {
            return Err(ApiError::conflict(
                "the document has revisions: its content changes by a new revision (POST /documents/{id}/revisions), so the redline can show it",
            ));
        }
        let html = stored_content(&c, &fields_of(&doc))?;
        if html != doc.content {
            row.content = Set(html);
            changed.push("content");
            content_changed = true;
        }
    }
    if !changed.is_empty() {
        row.updated_at = Set(Utc::now());
        doc = tx.repo::<document::Entity>().update(row).await?;
        publish(
            ctx,
            tx,
            by,
            &DocumentUpdated {
                document_id: id,
                fields: changed.iter().map(|f| (*f).to_owned()).collect(),
            },
        )
        .await?;
    }
    if content_changed {
        doc = edited(ctx, tx, doc, by.into()).await?;
    }
    if let Some(s) = patch.status {
        if s != "cancelled" {
            return Err(ApiError::validation(
                "status",
                "only `cancelled` is set by hand; the other statuses follow approvals, review and signatures",
            ));
        }
        doc = move_to(ctx, tx, doc, "cancelled", by.into()).await?;
    }
    Ok(doc)
}

/// To the trash: by its creator or an admin (checked by the caller); a signed document is
/// kept.
pub(crate) async fn delete(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    doc: document::Model,
) -> Result<(), ApiError> {
    if doc.status == "signed" {
        return Err(ApiError::conflict(
            "a signed document is kept: it cannot go to the trash",
        ));
    }
    tx.repo::<document::Entity>().trash(doc.id).await?;
    publish(
        ctx,
        tx,
        by,
        &DocumentDeleted {
            document_id: doc.id,
        },
    )
    .await
}

/// How many documents use each clause (those in the trash too), for the clause library.
pub(crate) async fn clause_uses(tx: &TenantTx, clause_id: Uuid) -> Result<u64, ApiError> {
    let repo = tx.repo::<doc_clause::Entity>();
    Ok(repo
        .find()
        .filter(doc_clause::Column::ClauseId.eq(clause_id))
        .count(repo.conn())
        .await?)
}

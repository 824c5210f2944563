//! The clause library: reusable sections with a category and a version history. A document
//! copies a clause's current version (`service::documents::insert_clause`), so a later version
//! changes new documents only. A clause deleted from the library is retired: hidden from the
//! library and from new documents, kept for the documents that copied it.

use chrono::Utc;
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter, QueryOrder};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use super::publish;
use crate::content::sanitize;
use crate::entity::{clause, clause_version};
use crate::events::ClauseChanged;

/// The longest clause (bytes of HTML).
pub(crate) const MAX_CLAUSE: usize = 256 * 1024;

pub(crate) fn no_clause() -> ApiError {
    ApiError::not_found("no such clause in this organization")
}

pub(crate) async fn get(tx: &TenantTx, id: Uuid) -> Result<clause::Model, ApiError> {
    tx.repo::<clause::Entity>()
        .get(id)
        .await?
        .ok_or_else(no_clause)
}

fn content_of(raw: &str) -> Result<String, ApiError> {
    let html = sanitize(raw);
    if raw.len() > MAX_CLAUSE || html.len() > MAX_CLAUSE {
        return Err(ApiError::validation("content", "at most 256 KiB of HTML"));
    }
    if html.trim().is_empty() {
        return Err(ApiError::validation(
            "content",
            "nothing left once sanitized: a clause needs text",
        ));
    }
    Ok(html)
}

async fn version_row(tx: &TenantTx, c: &clause::Model, by: Uuid) -> Result<(), ApiError> {
    tx.repo::<clause_version::Entity>()
        .insert(clause_version::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            clause_id: Set(c.id),
            version: Set(c.version),
            title: Set(c.title.clone()),
            content: Set(c.content.clone()),
            created_by: Set(by),
            created_at: Set(Utc::now()),
        })
        .await?;
    Ok(())
}

pub(crate) async fn create(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    title: String,
    category: Option<String>,
    content: &str,
    is_default: bool,
) -> Result<clause::Model, ApiError> {
    let now = Utc::now();
    let c = tx
        .repo::<clause::Entity>()
        .insert(clause::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            title: Set(title),
            category: Set(category),
            content: Set(content_of(content)?),
            version: Set(1),
            is_default: Set(is_default),
            created_by: Set(by),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
        })
        .await?;
    version_row(tx, &c, by).await?;
    publish(
        ctx,
        tx,
        by,
        &ClauseChanged {
            clause_id: c.id,
            version: 1,
            title: c.title.clone(),
        },
    )
    .await?;
    Ok(c)
}

/// What `PATCH /clauses/{id}` changes.
#[derive(Debug, Default)]
pub(crate) struct ClausePatch {
    pub title: Option<String>,
    pub category: Option<Option<String>>,
    pub content: Option<String>,
    pub is_default: Option<bool>,
}

/// A change of title or content is a new version; category and `is_default` are not.
pub(crate) async fn update(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    id: Uuid,
    patch: ClausePatch,
) -> Result<clause::Model, ApiError> {
    let ClausePatch {
        title,
        category,
        content,
        is_default,
    } = patch;
    let c = get(tx, id).await?;
    let content = content.as_deref().map(content_of).transpose()?;
    let versioned = title.as_ref().is_some_and(|t| *t != c.title)
        || content.as_ref().is_some_and(|x| *x != c.content);
    let mut row: clause::ActiveModel = c.clone().into();
    if let Some(t) = title {
        row.title = Set(t);
    }
    if let Some(x) = content {
        row.content = Set(x);
    }
    if let Some(cat) = category {
        row.category = Set(cat);
    }
    if let Some(d) = is_default {
        row.is_default = Set(d);
    }
    if versioned {
        row.version = Set(c.version + 1);
    }
    row.updated_at = Set(Utc::now());
    let c = tx.repo::<clause::Entity>().update(row).await?;
    if versioned {
        version_row(tx, &c, by).await?;
        publish(
            ctx,
            tx,
            by,
            &ClauseChanged {
                clause_id: c.id,
                version: c.version,
                title: c.title.clone(),
            },
        )
        .await?;
    }
    Ok(c)
}

/// A clause's versions, newest first.
pub(crate) async fn versions(
    tx: &TenantTx,
    id: Uuid,
) -> Result<Vec<clause_version::Model>, ApiError> {
    let repo = tx.repo::<clause_version::Entity>();
    Ok(repo
        .find()
        .filter(clause_version::Column::ClauseId.eq(id))
        .order_by_desc(clause_version::Column::Version)
        .all(repo.conn())
        .await?)
}

pub(crate) async fn retire(tx: &TenantTx, id: Uuid) -> Result<(), ApiError> {
    match tx.repo::<clause::Entity>().trash(id).await? {
        true => Ok(()),
        false => Err(no_clause()),
    }
}

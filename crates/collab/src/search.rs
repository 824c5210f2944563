//! The search index: one row per entity of every searchable type (what its loader's
//! `documents` gives), kept current by the events that name the entity, and queried with the
//! backend's full-text search (PostgreSQL `tsvector` + `ts_rank`, SQLite FTS5 + `bm25`). The
//! index only finds candidates; what a caller is shown comes from each type's loader, so never a
//! title they may not see.

use std::sync::Arc;

use chrono::Utc;
use kernel::module::{Documents, DomainEvent, EntityLoader, EventHandler, SearchDocument};
use kernel::sea_orm::sea_query::ExprTrait;
use kernel::sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, Statement,
};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::search_entry;

/// At most this many words of a query are searched for.
const MAX_TERMS: usize = 8;
/// A word longer than this is cut (no word of an index is longer).
const MAX_TERM_CHARS: usize = 64;
/// Entities indexed per statement when a whole type is (re)built.
const BATCH: u64 = 500;

/// The words of a query, lower case: letters and digits, everything else separates. Each word
/// matches as a prefix (type-ahead: `acm` finds `Acme`); all must match. A query of no word
/// (`?!`) has none, and finds nothing.
pub(crate) fn terms(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_TERMS)
        .map(|w| w.to_lowercase().chars().take(MAX_TERM_CHARS).collect())
        .collect()
}

/// The best `limit` candidates for `terms` in `tx`'s org, best first, as (type, id); only of
/// `types` when given.
pub(crate) async fn candidates(
    tx: &TenantTx,
    terms: &[String],
    types: Option<&[String]>,
    limit: u64,
) -> Result<Vec<(String, Uuid)>, ApiError> {
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    // unscoped: a full-text query per backend, its org bound as the first value
    let conn = tx.unscoped();
    let backend = conn.get_database_backend();
    let mut values: Vec<kernel::sea_orm::Value> = vec![tx.org_id().into()];
    let sql = match backend {
        DbBackend::Postgres => {
            // Words are letters and digits only, so the tsquery syntax is ours alone.
            let query: Vec<String> = terms.iter().map(|t| format!("{t}:*")).collect();
            values.push(query.join(" & ").into());
            let mut sql = String::from(
                "SELECT entity_type, entity_id FROM collab_search, to_tsquery('simple', $2) q
                 WHERE org_id = $1 AND document @@ q",
            );
            sql.push_str(&of_types(&mut values, "$", "entity_type", types));
            values.push((limit as i64).into());
            sql.push_str(&format!(
                " ORDER BY ts_rank(document, q) DESC, entity_id LIMIT ${}",
                values.len()
            ));
            sql
        }
        _ => {
            let query: Vec<String> = terms.iter().map(|t| format!("\"{t}\"*")).collect();
            values.push(query.join(" ").into());
            let mut sql = String::from(
                "SELECT s.entity_type, s.entity_id FROM collab_search_fts f
                 JOIN collab_search s ON s.fts_rowid = f.rowid
                 WHERE collab_search_fts MATCH ?2 AND s.org_id = ?1",
            );
            sql.push_str(&of_types(&mut values, "?", "s.entity_type", types));
            values.push((limit as i64).into());
            sql.push_str(&format!(
                " ORDER BY bm25(collab_search_fts, 10.0, 1.0), s.entity_id LIMIT ?{}",
                values.len()
            ));
            sql
        }
    };
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get::<String>("", "entity_type")?,
                row.try_get::<Uuid>("", "entity_id")?,
            ))
        })
        .collect::<Result<_, kernel::sea_orm::DbErr>>()
        .map_err(Into::into)
}

/// ` AND <column> IN ($n, …)` with `types` bound, or nothing (`mark`: `$` on PostgreSQL, `?`
/// on SQLite, whose `$n` are names bound in order of appearance).
fn of_types(
    values: &mut Vec<kernel::sea_orm::Value>,
    mark: &str,
    column: &str,
    types: Option<&[String]>,
) -> String {
    let Some(types) = types else {
        return String::new();
    };
    let marks: Vec<String> = types
        .iter()
        .map(|t| {
            values.push(t.clone().into());
            format!("{mark}{}", values.len())
        })
        .collect();
    format!(" AND {column} IN ({})", marks.join(", "))
}

/// Makes the index say what `loader` says now of `ids`: their rows replaced, or removed for
/// those that no longer exist (deleted, in the trash).
pub(crate) async fn index(
    ctx: &CellContext,
    tx: &TenantTx,
    loader: &dyn EntityLoader,
    ids: &[Uuid],
) -> Result<(), ApiError> {
    let docs = loader.documents(ctx, tx, Documents::Ids(ids)).await?;
    forget(tx, loader.entity_type(), ids).await?;
    insert(tx, loader.entity_type(), docs).await
}

/// Removes `ids` of `kind` from the index.
pub(crate) async fn forget(tx: &TenantTx, kind: &str, ids: &[Uuid]) -> Result<(), ApiError> {
    use search_entry::Column as C;
    tx.repo::<search_entry::Entity>()
        .delete_many(C::EntityType.eq(kind).and(C::EntityId.is_in(ids.to_vec())))
        .await?;
    Ok(())
}

async fn insert(tx: &TenantTx, kind: &str, docs: Vec<SearchDocument>) -> Result<(), ApiError> {
    if docs.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let rows = docs.into_iter().map(|d| search_entry::ActiveModel {
        org_id: Set(tx.org_id()),
        entity_type: Set(kind.to_owned()),
        entity_id: Set(d.id),
        title: Set(d.title),
        body: Set(d.body),
        indexed_at: Set(now),
    });
    // Two deliveries about one entity (created, then updated) may index it at once: the later
    // commit's row wins instead of failing on the key.
    use search_entry::Column as C;
    let upsert =
        kernel::sea_orm::sea_query::OnConflict::columns([C::OrgId, C::EntityType, C::EntityId])
            .update_columns([C::Title, C::Body, C::IndexedAt])
            .to_owned();
    // unscoped: one multi-row INSERT; every row's org_id is set to tx's org above
    search_entry::Entity::insert_many(rows)
        .on_conflict(upsert)
        .exec_without_returning(tx.unscoped())
        .await?;
    Ok(())
}

/// Rebuilds `tx`'s org's index from every searchable loader of the cell; how many entities it
/// holds now.
pub(crate) async fn rebuild(ctx: &CellContext, tx: &TenantTx) -> Result<u64, ApiError> {
    tx.repo::<search_entry::Entity>()
        .delete_many(search_entry::Column::OrgId.eq(tx.org_id()))
        .await?;
    let mut total = 0;
    for loader in ctx.entity_loaders() {
        let mut after = None;
        loop {
            let which = Documents::After {
                after,
                limit: BATCH,
            };
            let docs = loader.documents(ctx, tx, which).await?;
            let Some(last) = docs.last().map(|d| d.id) else {
                break;
            };
            let got = docs.len() as u64;
            total += got;
            insert(tx, loader.entity_type(), docs).await?;
            if got < BATCH {
                break;
            }
            after = Some(last);
        }
    }
    Ok(total)
}

/// Keeps the index current: every event names its entity, and the entity's loader says what it
/// is now (at least once, in any order: each delivery reads the current state).
pub(crate) struct Reindex;

#[kernel::async_trait::async_trait]
impl EventHandler for Reindex {
    async fn handle(&self, ctx: &CellContext, event: &DomainEvent) -> anyhow::Result<()> {
        if ctx.entity_loader(&event.entity.kind).is_none() {
            return Ok(());
        }
        let (ctx, org, entity) = (ctx.clone(), event.org_id, event.entity.clone());
        kernel::module::run_unsend(move || async move {
            let Some(loader) = ctx.entity_loader(&entity.kind).map(Arc::clone) else {
                return Ok(());
            };
            let tx = ctx.db().tenant(org).await?;
            index(&ctx, &tx, loader.as_ref(), &[entity.id])
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}

/// `<cell> search rebuild <org-id>…`: rebuilds those orgs' search index from the modules'
/// current data (after a restore from backup, or a module that indexes more than before).
pub(crate) struct RebuildCommand;

#[kernel::async_trait::async_trait]
impl kernel::module::CommandHandler for RebuildCommand {
    async fn run(&self, ctx: &CellContext, args: &[String]) -> anyhow::Result<()> {
        if args.is_empty() {
            anyhow::bail!("usage: search rebuild <org-id>… (the organizations to rebuild)");
        }
        let mut orgs = Vec::new();
        for arg in args {
            let org: Uuid = arg
                .parse()
                .map_err(|_| anyhow::anyhow!("`{arg}` is not an organization id"))?;
            orgs.push(org);
        }
        let ctx = ctx.clone();
        kernel::module::run_unsend(move || async move {
            for org in orgs {
                let tx = ctx.db().tenant(org).await?;
                let total = rebuild(&ctx, &tx)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
                tx.commit().await?;
                println!("{org}: {total} entities indexed");
            }
            Ok(())
        })
        .await
    }
}

//! Two entities found to be one (a module's merge: two persons, two companies): what collab
//! holds about the one merged away moves to the one kept, in the merging module's transaction.

use kernel::module::EntityRef;
use kernel::sea_orm::sea_query::Expr;
use kernel::sea_orm::{ColumnTrait, Condition, ExprTrait, QueryFilter, QuerySelect};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::{activity, comment, entity_tag, link, note};
use crate::events::EntityMerged;

/// Moves the tags, notes, comments, links and activity of `from` to `into` (both of
/// `entity_type`, both the caller's to merge: the module has checked), forgets `from`'s search
/// entry, and publishes `entity.merged` so modules that anchor rows on entities (tasks) follow.
/// A tag both carry is kept once; a link that would join `into` to itself, or repeat one it
/// has, is dropped (rows in the trash, deleted comments, move too). The module moves its own
/// rows and puts `from` in its trash.
pub async fn merge_into(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    entity_type: &str,
    from: Uuid,
    into: Uuid,
) -> Result<(), ApiError> {
    use activity::Column as A;
    use comment::Column as C;
    use entity_tag::Column as T;
    use note::Column as N;
    let on = |id: Uuid| T::EntityType.eq(entity_type).and(T::EntityId.eq(id));
    let tags = tx.repo::<entity_tag::Entity>();
    let kept: Vec<Uuid> = tags
        .find()
        .filter(on(into))
        .select_only()
        .column(T::TagId)
        .into_tuple()
        .all(tags.conn())
        .await?;
    tags.delete_many(on(from).and(T::TagId.is_in(kept))).await?;
    tags.repoint_ref(T::EntityType, T::EntityId, entity_type, from, into)
        .await?;
    tx.repo::<note::Entity>()
        .repoint_ref(N::EntityType, N::EntityId, entity_type, from, into)
        .await?;
    tx.repo::<comment::Entity>()
        .repoint_ref(C::EntityType, C::EntityId, entity_type, from, into)
        .await?;
    tx.repo::<activity::Entity>()
        .repoint_ref(A::EntityType, A::EntityId, entity_type, from, into)
        .await?;
    let links_moved = relink(tx, entity_type, from, into).await?;
    crate::search::forget(tx, entity_type, &[from]).await?;
    ctx.events()
        .emit(
            tx,
            Some(EntityRef::user(by)),
            &EntityMerged {
                entity_type: entity_type.to_owned(),
                entity_id: into,
                merged_id: from,
                links_moved,
            },
        )
        .await?;
    Ok(())
}

/// Re-points `from`'s links (either end) at `into`; returns how many were kept.
async fn relink(tx: &TenantTx, kind: &str, from: Uuid, into: Uuid) -> Result<u64, ApiError> {
    use link::Column as C;
    let end = |t: C, i: C, id: Uuid| Condition::all().add(t.eq(kind)).add(i.eq(id));
    let touching = |id: Uuid| {
        Condition::any()
            .add(end(C::SourceType, C::SourceId, id))
            .add(end(C::TargetType, C::TargetId, id))
    };
    let repo = tx.repo::<link::Entity>();
    let theirs = repo.find().filter(touching(from)).all(repo.conn()).await?;
    if theirs.is_empty() {
        return Ok(0);
    }
    let ours = repo.find().filter(touching(into)).all(repo.conn()).await?;
    let moved = |id: Uuid, k: &str| if k == kind && id == from { into } else { id };
    let mut seen: std::collections::HashSet<(String, Uuid, String, Uuid, String)> = ours
        .into_iter()
        .map(|l| {
            (
                l.source_type,
                l.source_id,
                l.target_type,
                l.target_id,
                l.relationship,
            )
        })
        .collect();
    let (mut gone, mut kept) = (Vec::new(), 0);
    for l in theirs {
        let source = moved(l.source_id, &l.source_type);
        let target = moved(l.target_id, &l.target_type);
        let key = (
            l.source_type.clone(),
            source,
            l.target_type.clone(),
            target,
            l.relationship.clone(),
        );
        if (l.source_type == l.target_type && source == target) || !seen.insert(key) {
            gone.push(l.id);
            continue;
        }
        repo.update_many_any(
            vec![
                (C::SourceId, Expr::value(source)),
                (C::TargetId, Expr::value(target)),
            ],
            C::Id.eq(l.id),
        )
        .await?;
        kept += 1;
    }
    if !gone.is_empty() {
        repo.delete_many(C::Id.is_in(gone)).await?;
    }
    Ok(kept)
}

//! How other modules see items: the kernel's entity contract. Declaring it is all it takes for
//! items to get the services that work on any entity (collab's tags and notes:
//! `/items/{id}/tags`, `/items/{id}/notes`, `?tags=` on the list).

use kernel::http::Caller;
use kernel::http::list::escape_like;
use kernel::module::{EntityLoader, EntityRef, EntitySummary};
use kernel::sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use kernel::sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::item;

/// The entity type other modules name items by.
pub(crate) const ENTITY: &str = "template_item";

pub(crate) struct Items;

fn summary(m: item::Model) -> EntitySummary {
    EntitySummary {
        entity: EntityRef {
            kind: ENTITY.into(),
            id: m.id,
        },
        title: m.name,
        subtitle: Some(m.status),
        url: None,
    }
}

/// Every member of the org sees every item (the module's read rule), so no caller filter here;
/// a module whose records have their own sharing filters by `caller` in each method.
#[kernel::async_trait::async_trait(?Send)]
impl EntityLoader for Items {
    fn entity_type(&self) -> &'static str {
        ENTITY
    }

    fn collection(&self) -> &'static str {
        "items"
    }

    async fn resolve(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
        ids: &[Uuid],
    ) -> Result<Vec<EntitySummary>, ApiError> {
        let repo = tx.repo::<item::Entity>();
        let rows = repo
            .find()
            .filter(item::Column::Id.is_in(ids.to_vec()))
            .all(repo.conn())
            .await?;
        Ok(rows.into_iter().map(summary).collect())
    }

    async fn search(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
        query: &str,
        limit: u64,
    ) -> Result<Vec<EntitySummary>, ApiError> {
        let repo = tx.repo::<item::Entity>();
        let pattern = format!("%{}%", escape_like(&query.to_lowercase()));
        let rows = repo
            .find()
            .filter(
                Expr::expr(Func::lower(Expr::col(item::Column::Name)))
                    .like(LikeExpr::new(pattern).escape('\\')),
            )
            .order_by_asc(item::Column::Name)
            .limit(limit)
            .all(repo.conn())
            .await?;
        Ok(rows.into_iter().map(summary).collect())
    }

    async fn count(&self, _ctx: &CellContext, tx: &TenantTx) -> Result<u64, ApiError> {
        Ok(tx.repo::<item::Entity>().count().await?)
    }
}

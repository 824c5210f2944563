//! How other modules see expenses: the kernel's entity contract. With it, a receipt is a file
//! attached to its expense (`POST /files/upload-url {entity_type: "finance_expense", …}`, listed
//! at `/expenses/{id}/files`), and expenses take comments, tags and links. An expense's events
//! concern the org's admins (submitted: someone must decide) or its submitter (decided, paid).

use kernel::http::Caller;
use kernel::module::{DomainEvent, EntityLoader, EntityRef, EntitySummary, Recipient, Recipients};
use kernel::sea_orm::{ColumnTrait, QueryFilter};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::expense;

pub(crate) const EXPENSE: &str = "finance_expense";

pub(crate) struct Expenses;

/// Every member of the org sees the org's expenses (the module's read rule).
#[kernel::async_trait::async_trait(?Send)]
impl EntityLoader for Expenses {
    fn entity_type(&self) -> &'static str {
        EXPENSE
    }

    fn collection(&self) -> &'static str {
        "expenses"
    }

    async fn resolve(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
        ids: &[Uuid],
    ) -> Result<Vec<EntitySummary>, ApiError> {
        let repo = tx.repo::<expense::Entity>();
        let rows = repo
            .find()
            .filter(expense::Column::Id.is_in(ids.to_vec()))
            .all(repo.conn())
            .await?;
        Ok(rows
            .into_iter()
            .map(|m| EntitySummary {
                entity: EntityRef {
                    kind: EXPENSE.into(),
                    id: m.id,
                },
                title: format!(
                    "{} {}",
                    m.category,
                    kernel::money::display(m.amount, &m.currency)
                ),
                subtitle: Some(m.status),
                url: None,
            })
            .collect())
    }

    async fn count(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
    ) -> Result<u64, ApiError> {
        Ok(tx.repo::<expense::Entity>().count().await?)
    }
}

#[kernel::async_trait::async_trait(?Send)]
impl Recipients for Expenses {
    async fn recipients(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        event: &DomainEvent,
    ) -> Result<Vec<Recipient>, ApiError> {
        let Some(e) = tx.repo::<expense::Entity>().get(event.entity.id).await? else {
            return Ok(Vec::new());
        };
        if event.name == "finance.expense.submitted" {
            let Some(authorizer) = ctx.authorizer() else {
                return Ok(Vec::new());
            };
            let admins = authorizer
                .holders(ctx, tx, "org", &tx.org_id().to_string(), "admin_access")
                .await?;
            return Ok(admins
                .into_iter()
                .map(|user_id| Recipient {
                    user_id,
                    reason: "approver",
                })
                .collect());
        }
        Ok(vec![Recipient {
            user_id: e.submitted_by,
            reason: "submitter",
        }])
    }
}

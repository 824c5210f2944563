//! How other modules see persons (`contact`) and companies (`company`): collab's tags, notes,
//! links, comments, activity, search and trash work on both. A person is shown only to those
//! the cell's ownership policy lets read it, here as in the module's own routes.

use chrono::{DateTime, Utc};
use kernel::http::{Caller, WorkInOrg};
use kernel::module::{
    Documents, DomainEvent, EntityLoader, EntityRef, EntitySummary, EntityTrash, Recipient,
    Recipients, SearchDocument, Trashed,
};
use kernel::sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter, QuerySelect};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::{channel, company, contact, deal, domain};
use crate::ownership::Who;

pub(crate) const CONTACT: &str = "contact";
pub(crate) const COMPANY: &str = "company";
pub(crate) const DEAL: &str = "deal";

pub(crate) struct Contacts;
pub(crate) struct Companies;
pub(crate) struct Deals;

fn contact_summary(m: contact::Model) -> EntitySummary {
    EntitySummary {
        entity: EntityRef {
            kind: CONTACT.into(),
            id: m.id,
        },
        title: m.name,
        subtitle: m.email.or(m.job_title),
        url: None,
    }
}

fn company_summary(m: company::Model) -> EntitySummary {
    EntitySummary {
        entity: EntityRef {
            kind: COMPANY.into(),
            id: m.id,
        },
        title: m.name,
        subtitle: m.industry,
        url: None,
    }
}

#[kernel::async_trait::async_trait(?Send)]
impl EntityLoader for Contacts {
    fn entity_type(&self) -> &'static str {
        CONTACT
    }

    fn collection(&self) -> &'static str {
        "contacts"
    }

    async fn resolve(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
        ids: &[Uuid],
    ) -> Result<Vec<EntitySummary>, ApiError> {
        let who = Who::of(ctx, tx, caller).await?;
        let repo = tx.repo::<contact::Entity>();
        let mut select = repo.find().filter(contact::Column::Id.is_in(ids.to_vec()));
        if let Some(only) = who.readable() {
            select = select.filter(only);
        }
        Ok(select
            .all(repo.conn())
            .await?
            .into_iter()
            .map(contact_summary)
            .collect())
    }

    async fn count(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
    ) -> Result<u64, ApiError> {
        let who = Who::of(ctx, tx, caller).await?;
        let repo = tx.repo::<contact::Entity>();
        let mut select = repo.find();
        if let Some(only) = who.readable() {
            select = select.filter(only);
        }
        Ok(select.count(repo.conn()).await?)
    }

    /// Whoever may write the person may link it.
    async fn may_link(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
        id: Uuid,
    ) -> Result<bool, ApiError> {
        let who = Who::of(ctx, tx, caller).await?;
        let row = tx.repo::<contact::Entity>().get(id).await?;
        Ok(row.is_some_and(|r| who.may_write(r.owner_id)))
    }

    /// Persons are found by name, then their channels and title.
    async fn documents(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        which: Documents<'_>,
    ) -> Result<Vec<SearchDocument>, ApiError> {
        let repo = tx.repo::<contact::Entity>();
        let rows = repo.find_documents(which)?.all(repo.conn()).await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let crepo = tx.repo::<channel::Entity>();
        let channels = crepo
            .find()
            .filter(channel::Column::ContactId.is_in(ids))
            .all(crepo.conn())
            .await?;
        Ok(rows
            .into_iter()
            .map(|m| {
                let values: Vec<&str> = channels
                    .iter()
                    .filter(|c| c.contact_id == m.id)
                    .map(|c| c.value.as_str())
                    .collect();
                SearchDocument {
                    id: m.id,
                    title: m.name.clone(),
                    body: format!("{} {}", values.join(" "), m.job_title.unwrap_or_default()),
                }
            })
            .collect())
    }

    fn trash(&self) -> Option<&dyn EntityTrash> {
        Some(self)
    }

    fn records(&self) -> Option<&dyn kernel::records::Records> {
        Some(self)
    }
}

#[kernel::async_trait::async_trait(?Send)]
impl EntityTrash for Contacts {
    async fn trashed(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
        before: Option<(DateTime<Utc>, Uuid)>,
        limit: u64,
    ) -> Result<Vec<Trashed>, ApiError> {
        let who = Who::of(ctx, tx, caller).await?;
        let repo = tx.repo::<contact::Entity>();
        let mut select = repo.find_trashed(before)?;
        if let Some(only) = who.readable() {
            select = select.filter(only);
        }
        let rows = select.limit(limit).all(repo.conn()).await?;
        Ok(rows
            .into_iter()
            .filter_map(|m| {
                let deleted_at = m.deleted_at?;
                Some(Trashed {
                    summary: contact_summary(m),
                    deleted_at,
                })
            })
            .collect())
    }

    /// Whoever may write the person may restore it.
    async fn restore(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
        id: Uuid,
    ) -> Result<Option<EntitySummary>, ApiError> {
        let repo = tx.repo::<contact::Entity>();
        let Some(row) = repo
            .find_trashed(None)?
            .filter(contact::Column::Id.eq(id))
            .one(repo.conn())
            .await?
        else {
            return Ok(None);
        };
        let who = Who::of(ctx, tx, caller).await?;
        if who.readable().is_some() && row.owner_id != Some(who.user) {
            return Ok(None);
        }
        who.require_write(row.owner_id)?;
        if !crate::service::restore(ctx, tx, caller.user_id, id).await? {
            return Ok(None);
        }
        Ok(repo.get(id).await?.map(contact_summary))
    }

    /// A person's channels go with it.
    async fn purge(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        ids: &[Uuid],
    ) -> Result<Vec<Uuid>, ApiError> {
        let repo = tx.repo::<contact::Entity>();
        let gone = repo.trashed_ids(ids).await?;
        tx.repo::<channel::Entity>()
            .delete_many(channel::Column::ContactId.is_in(gone.clone()))
            .await?;
        repo.delete_many(contact::Column::Id.is_in(gone.clone()))
            .await?;
        Ok(gone)
    }

    async fn expired(
        &self,
        ctx: &CellContext,
        cutoff: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<(Uuid, Uuid)>, ApiError> {
        Ok(kernel::db::trashed_before::<contact::Entity>(ctx.db(), cutoff, limit).await?)
    }
}

/// A person's events concern their owner.
#[kernel::async_trait::async_trait(?Send)]
impl Recipients for Contacts {
    async fn recipients(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        event: &DomainEvent,
    ) -> Result<Vec<Recipient>, ApiError> {
        let repo = tx.repo::<contact::Entity>();
        let found = match repo.get(event.entity.id).await? {
            Some(m) => Some(m),
            None => {
                repo.find_trashed(None)?
                    .filter(contact::Column::Id.eq(event.entity.id))
                    .one(repo.conn())
                    .await?
            }
        };
        Ok(found
            .and_then(|m| m.owner_id)
            .map(|user_id| Recipient {
                user_id,
                reason: "owner",
            })
            .into_iter()
            .collect())
    }
}

#[kernel::async_trait::async_trait(?Send)]
impl EntityLoader for Companies {
    fn entity_type(&self) -> &'static str {
        COMPANY
    }

    fn collection(&self) -> &'static str {
        "companies"
    }

    /// Every member sees every company.
    async fn resolve(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
        ids: &[Uuid],
    ) -> Result<Vec<EntitySummary>, ApiError> {
        let repo = tx.repo::<company::Entity>();
        Ok(repo
            .find()
            .filter(company::Column::Id.is_in(ids.to_vec()))
            .all(repo.conn())
            .await?
            .into_iter()
            .map(company_summary)
            .collect())
    }

    async fn count(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
    ) -> Result<u64, ApiError> {
        Ok(tx.repo::<company::Entity>().count().await?)
    }

    /// Companies are found by name and domains.
    async fn documents(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        which: Documents<'_>,
    ) -> Result<Vec<SearchDocument>, ApiError> {
        let repo = tx.repo::<company::Entity>();
        let rows = repo.find_documents(which)?.all(repo.conn()).await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let drepo = tx.repo::<domain::Entity>();
        let domains = drepo
            .find()
            .filter(domain::Column::CompanyId.is_in(ids))
            .all(drepo.conn())
            .await?;
        Ok(rows
            .into_iter()
            .map(|m| SearchDocument {
                id: m.id,
                title: m.name.clone(),
                body: domains
                    .iter()
                    .filter(|d| d.company_id == m.id)
                    .map(|d| d.domain.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            })
            .collect())
    }

    fn trash(&self) -> Option<&dyn EntityTrash> {
        Some(self)
    }
}

#[kernel::async_trait::async_trait(?Send)]
impl EntityTrash for Companies {
    async fn trashed(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
        before: Option<(DateTime<Utc>, Uuid)>,
        limit: u64,
    ) -> Result<Vec<Trashed>, ApiError> {
        let repo = tx.repo::<company::Entity>();
        Ok(repo
            .trashed_page(before, limit)
            .await?
            .into_iter()
            .map(|(m, deleted_at)| Trashed {
                summary: company_summary(m),
                deleted_at,
            })
            .collect())
    }

    /// Members and up restore companies.
    async fn restore(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
        id: Uuid,
    ) -> Result<Option<EntitySummary>, ApiError> {
        let repo = tx.repo::<company::Entity>();
        if repo
            .find_trashed(None)?
            .filter(company::Column::Id.eq(id))
            .one(repo.conn())
            .await?
            .is_none()
        {
            return Ok(None);
        }
        kernel::http::require::<WorkInOrg>(ctx, tx, caller, None).await?;
        repo.restore(id).await?;
        Ok(repo.get(id).await?.map(company_summary))
    }

    /// A company's domains go with it; its persons stay, without a company.
    async fn purge(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        ids: &[Uuid],
    ) -> Result<Vec<Uuid>, ApiError> {
        use kernel::sea_orm::sea_query::Expr;
        let repo = tx.repo::<company::Entity>();
        let gone = repo.trashed_ids(ids).await?;
        tx.repo::<domain::Entity>()
            .delete_many(domain::Column::CompanyId.is_in(gone.clone()))
            .await?;
        tx.repo::<contact::Entity>()
            .update_many(
                vec![(
                    contact::Column::CompanyId,
                    Expr::value(Option::<Uuid>::None),
                )],
                contact::Column::CompanyId.is_in(gone.clone()),
            )
            .await?;
        repo.delete_many(company::Column::Id.is_in(gone.clone()))
            .await?;
        Ok(gone)
    }

    async fn expired(
        &self,
        ctx: &CellContext,
        cutoff: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<(Uuid, Uuid)>, ApiError> {
        Ok(kernel::db::trashed_before::<company::Entity>(ctx.db(), cutoff, limit).await?)
    }
}

fn deal_summary(m: deal::Model) -> EntitySummary {
    EntitySummary {
        entity: EntityRef {
            kind: DEAL.into(),
            id: m.id,
        },
        title: m.title,
        subtitle: Some(format!("{} {}", m.value, m.currency)),
        url: None,
    }
}

/// Deals follow the ownership policy, as persons do. No trash view yet: a deleted deal is kept
/// for 30 days and restored through the database only.
#[kernel::async_trait::async_trait(?Send)]
impl EntityLoader for Deals {
    fn entity_type(&self) -> &'static str {
        DEAL
    }

    fn collection(&self) -> &'static str {
        "deals"
    }

    async fn resolve(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
        ids: &[Uuid],
    ) -> Result<Vec<EntitySummary>, ApiError> {
        let who = Who::of(ctx, tx, caller).await?;
        let repo = tx.repo::<deal::Entity>();
        let mut select = repo.find().filter(deal::Column::Id.is_in(ids.to_vec()));
        if let Some(only) = crate::service::deals::readable(&who) {
            select = select.filter(only);
        }
        Ok(select
            .all(repo.conn())
            .await?
            .into_iter()
            .map(deal_summary)
            .collect())
    }

    async fn count(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
    ) -> Result<u64, ApiError> {
        let who = Who::of(ctx, tx, caller).await?;
        let repo = tx.repo::<deal::Entity>();
        let mut select = repo.find();
        if let Some(only) = crate::service::deals::readable(&who) {
            select = select.filter(only);
        }
        Ok(select.count(repo.conn()).await?)
    }
}

/// A deal's events concern its owner.
#[kernel::async_trait::async_trait(?Send)]
impl Recipients for Deals {
    async fn recipients(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        event: &DomainEvent,
    ) -> Result<Vec<Recipient>, ApiError> {
        let found = tx.repo::<deal::Entity>().get(event.entity.id).await?;
        Ok(found
            .and_then(|m| m.owner_id)
            .map(|user_id| Recipient {
                user_id,
                reason: "owner",
            })
            .into_iter()
            .collect())
    }
}

//! The subscriber that turns every event into notifications: the recipients the owning module
//! names, each user's preferences, a row per channel, and the email queued through the
//! kernel's mail (or left for the user's digest).

use std::sync::Arc;

use kernel::module::{DomainEvent, EventHandler, NotifyOn};
use kernel::realtime::{Backlog, Push};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::notification;
use crate::http::inbox::Notification;
use crate::service;

/// The modules' rules (`PlatformModule::notify_on`), gathered once when the cell is ready.
pub(crate) struct Rules(pub Vec<NotifyOn>);

/// The email template every notification uses (`notifications.event`; orgs may override it).
pub(crate) const EMAIL_TEMPLATE: &str = "notifications.event";
/// The email template of a digest (`notifications.digest`).
pub(crate) const DIGEST_TEMPLATE: &str = "notifications.digest";

pub(crate) struct Notify;

#[kernel::async_trait::async_trait]
impl EventHandler for Notify {
    async fn handle(&self, ctx: &CellContext, event: &DomainEvent) -> anyhow::Result<()> {
        let Some(rules) = ctx.service::<Rules>() else {
            anyhow::bail!("the notifications module is not ready");
        };
        if !rules
            .0
            .iter()
            .any(|r| kernel::events::matches(r.pattern, &event.name))
        {
            return Ok(());
        }
        let ctx = ctx.clone();
        let event = event.clone();
        // Modules' recipients and the identity directory answer with futures that are not
        // `Send`.
        kernel::module::run_unsend(move || async move { notify(&ctx, &rules, &event).await }).await
    }
}

async fn notify(ctx: &CellContext, rules: &Arc<Rules>, event: &DomainEvent) -> anyhow::Result<()> {
    let api = |e: kernel::ApiError| anyhow::anyhow!("{}", e.message());
    let tx = ctx.db().tenant(event.org_id).await?;
    let recipients = service::recipients(ctx, &tx, &rules.0, event)
        .await
        .map_err(api)?;
    let rows = service::fan_out(ctx, &tx, event, recipients)
        .await
        .map_err(api)?;
    for row in rows
        .iter()
        .filter(|r| r.channel == service::EMAIL && r.status == service::QUEUED)
    {
        let Some(to) = kernel::identity::email(ctx, row.user_id)
            .await
            .map_err(api)?
        else {
            service::no_address(&tx, row.id).await.map_err(api)?;
            continue;
        };
        let context = serde_json::json!({
            "title": row.title,
            "event": row.event,
            "reason": row.reason,
            "entity_type": row.entity_type,
            "entity_id": row.entity_id,
            "payload": event.payload,
        });
        ctx.mail()
            .queue_in(&tx, &to, EMAIL_TEMPLATE, &context)
            .await?;
    }
    tx.commit().await?;
    let pushes: Vec<Push> = rows
        .into_iter()
        .filter(|r| r.channel == service::IN_APP)
        .map(push_of)
        .collect();
    kernel::realtime::publish(ctx, &pushes).await;
    Ok(())
}

/// An in-app notification as its user's open sockets receive it (the inbox's shape).
fn push_of(row: notification::Model) -> Push {
    let (org_id, user_id, event_id) = (row.org_id, row.user_id, row.event_id);
    let name = row.event.clone();
    let data = serde_json::to_value(Notification::from(row)).unwrap_or_default();
    Push::notification(org_id, user_id, event_id, &name, data)
}

/// What a reconnecting socket missed: the user's in-app notifications after an event.
pub(crate) struct Missed;

#[kernel::async_trait::async_trait(?Send)]
impl Backlog for Missed {
    async fn since(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        user_id: Uuid,
        after: Uuid,
        limit: u64,
    ) -> Result<Vec<Push>, ApiError> {
        use kernel::sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
        let rows = tx
            .repo::<notification::Entity>()
            .find()
            .filter(notification::Column::UserId.eq(user_id))
            .filter(notification::Column::Channel.eq(service::IN_APP))
            .filter(notification::Column::EventId.gt(after))
            .order_by_asc(notification::Column::EventId)
            .limit(limit)
            .all(tx.repo::<notification::Entity>().conn())
            .await?;
        Ok(rows.into_iter().map(push_of).collect())
    }
}

//! Digests: users whose email frequency is `hourly`, `daily` or `weekly` get one email per
//! period with every notification held for it. The schedule fires once per hour across all
//! instances (the kernel's schedule ticks); each user's digest is queued in the same
//! transaction that marks its notifications sent, so a rerun of a tick mails nothing twice.
//!
//! Daily digests go at 08:00 and weekly ones on Mondays at 08:00, UTC: the identity module does
//! not tell other modules a user's time zone yet.

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use kernel::CellContext;
use kernel::module::JobHandler;
use kernel::sea_orm::sea_query::Expr;
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, ExprTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::entity::{digest, notification};
use crate::service;

/// The hour (UTC) daily and weekly digests go at.
const HOUR: u32 = 8;
/// Users per read of the digest table.
const BATCH: u64 = 500;
/// The most notifications one digest lists (the rest say "and N more").
const LISTED: usize = 50;

/// `notifications.send_digests`, every hour on the hour.
pub(crate) struct SendDigests;

/// Whether a user with `frequency` gets a digest at `tick`.
pub(crate) fn due(frequency: &str, tick: DateTime<Utc>) -> bool {
    match frequency {
        "hourly" => true,
        "daily" => tick.hour() == HOUR,
        "weekly" => tick.hour() == HOUR && tick.weekday() == Weekday::Mon,
        _ => false,
    }
}

#[kernel::async_trait::async_trait]
impl JobHandler for SendDigests {
    async fn run(&self, ctx: &CellContext, job: &kernel::jobs::Job) -> anyhow::Result<()> {
        let tick = job.tick();
        let frequencies: Vec<&str> = ["hourly", "daily", "weekly"]
            .into_iter()
            .filter(|f| due(f, tick))
            .collect();
        let mut after = Uuid::nil();
        let mut sent = 0usize;
        loop {
            let users = kernel::db::across_orgs::<digest::Entity>(
                ctx.db(),
                digest::Column::Frequency
                    .is_in(frequencies.clone())
                    .and(digest::Column::Id.gt(after)),
                digest::Column::Id,
                BATCH,
            )
            .await?;
            let Some(last) = users.last().map(|(_, id)| *id) else {
                break;
            };
            for (org, id) in users {
                let ctx = ctx.clone();
                sent +=
                    kernel::module::run_unsend(
                        move || async move { send(&ctx, org, id, tick).await },
                    )
                    .await?;
            }
            after = last;
        }
        if sent > 0 {
            tracing::info!(sent, %tick, "notification digests queued");
        }
        Ok(())
    }
}

/// Queues one user's digest, if anything waits for it; 1 when one was queued.
async fn send(
    ctx: &CellContext,
    org: Uuid,
    id: Uuid,
    tick: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let api = |e: kernel::ApiError| anyhow::anyhow!("{}", e.message());
    let tx = ctx.db().tenant(org).await?;
    let digests = tx.repo::<digest::Entity>();
    let Some(row) = digests.get(id).await? else {
        return Ok(0);
    };
    let items = tx.repo::<notification::Entity>();
    let held = items
        .find()
        .filter(notification::Column::UserId.eq(row.user_id))
        .filter(notification::Column::Channel.eq(service::EMAIL))
        .filter(notification::Column::Status.eq(service::HELD))
        .order_by_asc(notification::Column::CreatedAt)
        .all(items.conn())
        .await?;
    if held.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let queued = match kernel::identity::email(ctx, row.user_id)
        .await
        .map_err(api)?
    {
        Some(to) => {
            let listed: Vec<serde_json::Value> = held
                .iter()
                .take(LISTED)
                .map(|n| serde_json::json!({ "title": n.title, "at": n.created_at.to_rfc3339(), "entity_type": n.entity_type, "entity_id": n.entity_id }))
                .collect();
            let context = serde_json::json!({
                "count": held.len(),
                "items": listed,
                "more": held.len().saturating_sub(LISTED),
                "frequency": row.frequency,
            });
            ctx.mail()
                .queue_in(&tx, &to, crate::deliver::DIGEST_TEMPLATE, &context)
                .await?;
            service::SENT
        }
        None => "no_address",
    };
    let ids: Vec<Uuid> = held.iter().map(|n| n.id).collect();
    items
        .update_many(
            vec![(notification::Column::Status, Expr::val(queued))],
            notification::Column::Id.is_in(ids),
        )
        .await?;
    let mut am: digest::ActiveModel = row.into();
    am.last_sent_at = Set(Some(tick));
    digests.update(am).await?;
    tx.commit().await?;
    Ok(usize::from(queued == service::SENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_fall_due_by_frequency() {
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default()
        };
        // 2026-12-07 is a Monday.
        assert!(due("hourly", at("2026-12-05T13:00:00Z")));
        assert!(due("daily", at("2026-12-05T08:00:00Z")));
        assert!(!due("daily", at("2026-12-05T09:00:00Z")));
        assert!(!due("weekly", at("2026-12-05T08:00:00Z")));
        assert!(due("weekly", at("2026-12-07T08:00:00Z")));
        assert!(!due("instant", at("2026-12-07T08:00:00Z")));
    }
}

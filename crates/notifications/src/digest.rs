//! Digests: users whose email frequency is `hourly`, `daily` or `weekly` get one email per
//! period with every notification held for it. The schedule fires once per hour across all
//! instances (the kernel's schedule ticks); each user's digest is queued in the same
//! transaction that marks its notifications sent, and one user's digest jobs take turns (an
//! advisory lock), so a rerun of a tick, or two ticks run at once, mail nothing twice.
//!
//! Daily digests go at 08:00 and weekly ones on Mondays at 08:00 in each user's time zone (the
//! one in their profile, UTC without one). The digest row keeps the zone it was last counted in,
//! so each tick reads only the rows whose 08:00 it is; a user who moved is found at their old
//! zone's 08:00, which re-reads the zone, stores the new one and sends at its 08:00 (the same
//! tick when that is now too).

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use kernel::CellContext;
use kernel::identity::Tz;
use kernel::module::JobHandler;
use kernel::sea_orm::sea_query::Expr;
use kernel::sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ExprTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use crate::entity::{digest, notification};
use crate::service;

/// The hour, in the user's time zone, daily and weekly digests go at.
const HOUR: u32 = 8;
/// Users per read of the digest table.
const BATCH: u64 = 500;
/// The most notifications one digest lists (the rest say "and N more").
const LISTED: usize = 50;

/// `notifications.send_digests`, every hour on the hour.
pub(crate) struct SendDigests;

/// Whether a user with `frequency`, living in `zone`, gets a digest at `tick`.
pub(crate) fn due(frequency: &str, tick: DateTime<Utc>, zone: Tz) -> bool {
    let local = tick.with_timezone(&zone);
    match frequency {
        "hourly" => true,
        "daily" => local.hour() == HOUR,
        "weekly" => local.hour() == HOUR && local.weekday() == Weekday::Mon,
        _ => false,
    }
}

/// The digest rows due at `tick`: every hourly one, and the daily and weekly ones whose zone it
/// is 08:00 in (a few dozen of the database's ~600 names at any hour).
fn due_rows(tick: DateTime<Utc>) -> Condition {
    let zones = |frequency: &str| -> Vec<&'static str> {
        kernel::identity::TZ_VARIANTS
            .iter()
            .filter(|z| due(frequency, tick, **z))
            .map(|z| z.name())
            .collect()
    };
    let mut due = Condition::any().add(digest::Column::Frequency.eq("hourly"));
    for frequency in ["daily", "weekly"] {
        let zones = zones(frequency);
        if !zones.is_empty() {
            due = due.add(
                digest::Column::Frequency
                    .eq(frequency)
                    .and(digest::Column::Timezone.is_in(zones)),
            );
        }
    }
    due
}

#[kernel::async_trait::async_trait]
impl JobHandler for SendDigests {
    async fn run(&self, ctx: &CellContext, job: &kernel::jobs::Job) -> anyhow::Result<()> {
        let tick = job.tick();
        let rows = due_rows(tick);
        let mut after = Uuid::nil();
        let mut sent = 0usize;
        loop {
            let users = kernel::db::across_orgs::<digest::Entity>(
                ctx.db(),
                Condition::all()
                    .add(rows.clone())
                    .add(digest::Column::Id.gt(after)),
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
    // Two ticks' jobs can run at once (a batch, or two instances): the second waits for the
    // first to commit, then finds nothing held.
    tx.serialize(&format!("notifications.digest:{id}")).await?;
    let digests = tx.repo::<digest::Entity>();
    let Some(mut row) = digests.get(id).await? else {
        return Ok(0);
    };
    if row.frequency != "hourly" {
        // The zone may have changed since the row was counted in it.
        let zone = kernel::identity::zone(ctx, row.user_id)
            .await
            .map_err(api)?;
        if zone.name() != row.timezone {
            let mut am: digest::ActiveModel = row.into();
            am.timezone = Set(zone.name().to_owned());
            row = digests.update(am).await?;
            if !due(&row.frequency, tick, zone) {
                tx.commit().await?;
                return Ok(0);
            }
        }
    }
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
        let utc = Tz::UTC;
        // 2026-12-07 is a Monday.
        assert!(due("hourly", at("2026-12-05T13:00:00Z"), utc));
        assert!(due("daily", at("2026-12-05T08:00:00Z"), utc));
        assert!(!due("daily", at("2026-12-05T09:00:00Z"), utc));
        assert!(!due("weekly", at("2026-12-05T08:00:00Z"), utc));
        assert!(due("weekly", at("2026-12-07T08:00:00Z"), utc));
        assert!(!due("instant", at("2026-12-07T08:00:00Z"), utc));
    }

    #[test]
    fn a_digest_falls_due_at_eight_in_its_users_zone() {
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default()
        };
        let (tokyo, paris, kolkata) = (Tz::Asia__Tokyo, Tz::Europe__Paris, Tz::Asia__Kolkata);
        // 23:00 UTC on Sunday is 08:00 on Monday in Tokyo.
        assert!(due("daily", at("2026-12-06T23:00:00Z"), tokyo));
        assert!(due("weekly", at("2026-12-06T23:00:00Z"), tokyo));
        assert!(!due("weekly", at("2026-12-06T23:00:00Z"), Tz::UTC));
        // Paris is UTC+1 in December and UTC+2 in July.
        assert!(due("daily", at("2026-12-07T07:00:00Z"), paris));
        assert!(due("daily", at("2026-07-07T06:00:00Z"), paris));
        assert!(!due("daily", at("2026-07-07T07:00:00Z"), paris));
        // A half-hour zone: the tick at 03:00 UTC is 08:30 there.
        assert!(due("daily", at("2026-12-07T03:00:00Z"), kolkata));
        // Each hour, the daily rows of a few dozen zones, and only them.
        let zones = kernel::identity::TZ_VARIANTS
            .iter()
            .filter(|z| due("daily", at("2026-12-07T07:00:00Z"), **z))
            .count();
        assert!((1..100).contains(&zones), "{zones}");
    }
}

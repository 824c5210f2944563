//! PostgreSQL: every tenancy table with an `org_id` has row-level security, enabled and forced,
//! and the application role sees none of their rows without an org context. (Every other test
//! also serves as that role on PostgreSQL, so RLS binds all of them.)

use serde_json::json;
use testkit::{Backend, TestDb};

use crate::support::{Cell, OPERATOR, tok};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_row_level_security_covers_every_tenancy_table() -> anyhow::Result<()> {
    let db = TestDb::new(Backend::Postgres).await?;
    let cell = Cell::start(&db).await?;
    let owner = cell.user("owner@example.com");
    let org = cell.org(owner, "Acme").await?;
    let t = tok(owner, org);
    cell.post("/api/v1/teams", &t, json!({"name": "Ops"}))
        .await?;
    cell.post("/api/v1/invitations", &t, json!({"email": "x@example.com"}))
        .await?;
    cell.put(
        "/api/v1/settings",
        &t,
        json!({"scope": "org", "namespace": "a", "key": "b", "value": 1}),
    )
    .await?;
    cell.put(
        "/api/v1/admin/feature-flags/beta",
        OPERATOR,
        json!({"enabled": false}),
    )
    .await?;
    let (status, _) = cell
        .put(
            "/api/v1/features/overrides",
            &t,
            json!({"flag": "beta", "enabled": true}),
        )
        .await?;
    assert_eq!(status, 200);

    let role = cell
        .role
        .as_ref()
        .map(|r| r.name().to_owned())
        .unwrap_or_default();
    let counts = testkit::assert_rls_everywhere(db.url(), &role).await?;
    for table in [
        "memberships",
        "teams",
        "team_members",
        "invitations",
        "settings",
        "feature_flag_overrides",
    ] {
        let n = counts
            .iter()
            .find(|(name, _)| name == table)
            .map(|(_, n)| *n);
        assert!(
            n.is_some_and(|n| n > 0),
            "{table} not checked or not seeded: {counts:?}"
        );
    }
    cell.finish(db).await
}

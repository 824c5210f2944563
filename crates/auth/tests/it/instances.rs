//! Two instances of one cell on one database: a permission change made through one reaches the
//! checks of the other. On PostgreSQL each instance holds the orgs' permission revisions in
//! memory (no read per check) and learns of changes by `LISTEN`/`NOTIFY`; on SQLite, where no
//! notification arrives, a revision is trusted for a second, then read again.

use serde_json::json;
use testkit::TestApp;

use crate::support::{cell, invited_admin, signed_up};

/// Asks `app` for the audit log as `token` until the answer is `want` (at most 5 s: the time a
/// notification may take to travel between instances is far below that). Returns the attempts.
async fn audit_status_becomes(app: &TestApp, token: &str, want: u16) -> anyhow::Result<u32> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (status, body) = app.get("/api/v1/audit", Some(token)).await?;
        if status == want {
            return Ok(attempts);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "still {status} after {attempts} attempts: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

testkit::db_test!(async fn a_permission_change_on_one_instance_reaches_checks_on_the_other(db) {
    let a = cell(&db, "").await?;
    let b = cell(&db, "").await?;
    let (owner, tokens) = signed_up(&a, "owner@example.com").await?;
    let org = tokens["org_id"].as_str().unwrap_or_default().to_owned();
    let (x, x_id) = invited_admin(&a, &owner, "x@example.com").await?;
    let postgres = db.backend() == testkit::Backend::Postgres;

    // B answers x as an admin, from memory once it knows the org's revision (on SQLite, for the
    // second it trusts what it read).
    assert_eq!(b.get("/api/v1/audit", Some(&x)).await?.0, 200);
    let engine = iam::engine(&b.ctx).map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    let reads = engine.revision_reads();
    for _ in 0..3 {
        assert_eq!(b.get("/api/v1/audit", Some(&x)).await?.0, 200);
    }
    assert_eq!(engine.revision_reads(), reads, "checks read no revision");

    // A takes admin away: B refuses x.
    let member = format!("/api/v1/organizations/{org}/members/{x_id}");
    let (status, body) = a.patch(&member, Some(&owner), json!({"role": "member"})).await?;
    assert_eq!(status, 200, "{body}");
    let revoked = audit_status_becomes(&b, &x, 403).await?;
    // A gives it back: B admits x again (a grant travels the same way).
    let (status, body) = a.patch(&member, Some(&owner), json!({"role": "admin"})).await?;
    assert_eq!(status, 200, "{body}");
    let granted = audit_status_becomes(&b, &x, 200).await?;
    if postgres {
        assert_eq!(engine.revision_reads(), reads, "B learned both changes from notifications");
    } else {
        // 20 ms apart, within the window of a second and a little.
        assert!(revoked <= 60 && granted <= 60, "SQLite: {revoked}, {granted} attempts");
        assert!(engine.revision_reads() > reads, "SQLite: read again after the window");
    }
    // The instance that made the change sees it at once, on every backend.
    let (status, _) = a.patch(&member, Some(&owner), json!({"role": "member"})).await?;
    assert_eq!(status, 200);
    assert_eq!(a.get("/api/v1/audit", Some(&x)).await?.0, 403);
    Ok(())
});

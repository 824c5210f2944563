//! `Idempotency-Key`: a POST sent again with its key answers the first answer and changes
//! nothing more; the key is the caller's; another request with it is refused; a failed request
//! lets it go; two at once make one change.

use reqwest::Method;
use serde_json::json;
use testkit::{TestDb, db_test};
use uuid::Uuid;

use crate::support::{Actor, Callers, Notes, TestApp, expect_error};

const CELL: &str = "[modules.audit]\n[modules.notes]\n[modules.callers]\n";

async fn spawn(db: &TestDb) -> anyhow::Result<TestApp> {
    TestApp::spawn_with(
        db,
        CELL,
        &[("CELL__JOBS__RUN", "false")],
        vec![Box::new(Notes::default()), Box::new(Callers)],
    )
    .await
}

async fn post(
    app: &TestApp,
    who: &Actor,
    key: &str,
    body: serde_json::Value,
) -> anyhow::Result<reqwest::Response> {
    Ok(who
        .request(app, Method::POST, "/api/v1/notes")
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await?)
}

async fn notes(app: &TestApp, who: &Actor) -> anyhow::Result<usize> {
    let page: serde_json::Value = who
        .request(app, Method::GET, "/api/v1/notes")
        .send()
        .await?
        .json()
        .await?;
    Ok(page["data"].as_array().map_or(0, Vec::len))
}

db_test!(async fn a_post_sent_again_with_its_key_changes_nothing_more(db) {
    let app = spawn(&db).await?;
    let org = Uuid::now_v7();
    let alice = Actor::new(org, "admin");
    let bob = Actor::new(org, "admin");
    let body = json!({"title": "once", "priority": 1});

    let first = post(&app, &alice, "order-1", body.clone()).await?;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: serde_json::Value = first.json().await?;
    let again = post(&app, &alice, "order-1", body.clone()).await?;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(again.json::<serde_json::Value>().await?, first, "the first answer, byte for byte");
    assert_eq!(notes(&app, &alice).await?, 1);

    // The same key with another body: refused, nothing stored.
    let other = post(&app, &alice, "order-1", json!({"title": "twice", "priority": 1})).await?;
    expect_error(other, 422, "validation_failed").await?;
    // Keys are the caller's: Bob's "order-1" is his own.
    assert_eq!(post(&app, &bob, "order-1", body.clone()).await?.status(), 201);
    assert_eq!(notes(&app, &alice).await?, 2);
    // Not a key: 400.
    for bad in ["", "two words", &"k".repeat(256)] {
        expect_error(post(&app, &alice, bad, body.clone()).await?, 400, "bad_request").await?;
    }

    // A refused request lets its key go: the corrected one runs with it.
    let invalid = post(&app, &alice, "order-2", json!({"title": "", "priority": 1})).await?;
    assert_eq!(invalid.status(), 422);
    let fixed = post(&app, &alice, "order-2", json!({"title": "fixed", "priority": 1})).await?;
    assert_eq!(fixed.status(), 201);
    assert!(fixed.headers().get("idempotent-replayed").is_none());
    assert_eq!(notes(&app, &alice).await?, 3);

    // Two at once with a new key: one change; the other waits its turn (409) or replays it.
    let (a, b) = tokio::join!(
        post(&app, &alice, "order-3", json!({"title": "race", "priority": 2})),
        post(&app, &alice, "order-3", json!({"title": "race", "priority": 2})),
    );
    let mut statuses = [a?.status().as_u16(), b?.status().as_u16()];
    statuses.sort();
    assert!(statuses == [201, 201] || statuses == [201, 409], "{statuses:?}");
    assert_eq!(notes(&app, &alice).await?, 4, "one change");

    // Reads ignore the header.
    let read = alice.request(&app, Method::GET, "/api/v1/notes").header("Idempotency-Key", "order-1").send().await?;
    assert_eq!(read.status(), 200);
    Ok(())
});

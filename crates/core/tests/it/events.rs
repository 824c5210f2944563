//! The transactional outbox: commit vs rollback, retries, parking and replay, the background
//! dispatcher, and two dispatchers sharing the work.

use std::collections::BTreeMap;

use kernel::events::{NewEvent, first_delivery};
use kernel::module::{EntityRef, PlatformModule};
use testkit::db_test;
use uuid::Uuid;

use crate::support::{Notes, TestApp, Watcher, expect_error};

const CELL: &str = "[modules.notes]\n[modules.watcher]\n";

fn modules(watcher: &Watcher) -> Vec<Box<dyn PlatformModule>> {
    vec![Box::new(Notes::default()), Box::new(watcher.clone())]
}

fn note_ref() -> EntityRef {
    EntityRef {
        kind: "note".into(),
        id: Uuid::now_v7(),
    }
}

db_test!(async fn committed_events_are_delivered_and_rolled_back_ones_never(db) {
    let watcher = Watcher::default();
    let app = TestApp::spawn_with(&db, CELL, &[("CELL__EVENTS__DISPATCH", "false")], modules(&watcher)).await?;
    let org = Uuid::now_v7();

    let tx = app.ctx.db().tenant(org).await?;
    let kept = app.ctx.events().publish(&tx, NewEvent::new("notes.note.created", note_ref())).await?;
    tx.commit().await?;
    let tx = app.ctx.db().tenant(org).await?;
    let dropped = app.ctx.events().publish(&tx, NewEvent::new("notes.note.created", note_ref())).await?;
    tx.rollback().await?;
    // Only `watcher.wide` matches this one.
    let tx = app.ctx.db().tenant(org).await?;
    let other = app.ctx.events().publish(&tx, NewEvent::new("notes.note.archived", note_ref())).await?;
    tx.commit().await?;

    assert_eq!(app.ctx.events().dispatch_once(&app.ctx).await?, 3);
    assert_eq!(app.ctx.events().dispatch_once(&app.ctx).await?, 0, "delivered twice");
    let mut seen = watcher.recorder.seen();
    seen.sort();
    let mut expected = vec![("exact", kept), ("wide", kept), ("wide", other)];
    expected.sort();
    assert_eq!(seen, expected);
    assert!(!seen.iter().any(|(_, id)| *id == dropped));
    Ok(())
});

db_test!(async fn a_failing_subscriber_is_retried_then_parked_and_replay_delivers(db) {
    let watcher = Watcher::default();
    watcher.recorder.set_failing(true);
    let env = [
        ("CELL__EVENTS__DISPATCH", "false"),
        ("CELL__EVENTS__MAX_ATTEMPTS", "3"),
        ("CELL__EVENTS__BACKOFF_BASE_MS", "0"),
        ("CELL__CELL__ADMIN_TOKEN", "operator-token"),
    ];
    let app = TestApp::spawn_with(&db, CELL, &env, modules(&watcher)).await?;
    let tx = app.ctx.db().tenant(Uuid::now_v7()).await?;
    let id = app.ctx.events().publish(&tx, NewEvent::new("notes.note.created", note_ref())).await?;
    tx.commit().await?;

    for attempt in 1..=3 {
        assert_eq!(app.ctx.events().dispatch_once(&app.ctx).await?, 2, "attempt {attempt}");
    }
    assert_eq!(app.ctx.events().dispatch_once(&app.ctx).await?, 0, "a parked delivery was retried");

    expect_error(app.get("/admin/events/dead").await?, 401, "unauthorized").await?;
    let list: serde_json::Value = app
        .client
        .get(app.url("/admin/events/dead"))
        .bearer_auth("operator-token")
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(list["meta"]["total"], 2, "{list}");
    let parked = list["data"].as_array().cloned().unwrap_or_default();
    assert!(parked.iter().all(|d| d["event_id"] == id.to_string().as_str() && d["attempts"] == 3));
    assert!(parked.iter().all(|d| d["last_error"].as_str().unwrap_or_default().contains("is down")), "{list}");

    watcher.recorder.set_failing(false);
    let one = parked.first().and_then(|d| d["id"].as_str()).unwrap_or_default().to_owned();
    let res = app.client.post(app.url(&format!("/admin/events/dead/{one}/replay"))).bearer_auth("operator-token").send().await?;
    assert_eq!(res.status(), 200);
    assert_eq!(app.ctx.events().dispatch_once(&app.ctx).await?, 1);
    let res = app.client.post(app.url("/admin/events/dead/replay")).bearer_auth("operator-token").send().await?;
    assert_eq!(res.json::<serde_json::Value>().await?["requeued"], 1);
    assert_eq!(app.ctx.events().dispatch_once(&app.ctx).await?, 1);
    let mut seen = watcher.recorder.seen();
    seen.sort();
    assert_eq!(seen, vec![("exact", id), ("wide", id)]);
    let missing = app.client.post(app.url(&format!("/admin/events/dead/{one}/replay"))).bearer_auth("operator-token").send().await?;
    expect_error(missing, 404, "not_found").await?;
    Ok(())
});

db_test!(async fn the_background_dispatcher_delivers_what_a_request_published(db) {
    let watcher = Watcher::default();
    // The default idle poll (60 s): the publish wakes the dispatcher, not a poll.
    let app = TestApp::spawn_with(&db, CELL, &[], modules(&watcher)).await?;
    let res = app.create_note(Uuid::now_v7(), "published", 1).await?;
    assert_eq!(res.status(), 201);
    let note: serde_json::Value = res.json().await?;
    // Delivery is asynchronous: poll for it, bounded.
    for _ in 0..500 {
        if watcher.recorder.seen().len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let seen = watcher.recorder.seen();
    assert_eq!(seen.len(), 2, "{seen:?} for note {note}");
    // Another module's subscriber reads the typed payload the notes module published.
    let created = watcher.recorder.created();
    assert_eq!(created.len(), 2, "both subscriptions read it: {created:?}");
    assert!(created.iter().all(|c| c.title == "published" && c.note_id.to_string() == note["id"]));
    Ok(())
});

db_test!(async fn two_dispatchers_deliver_each_event_to_each_subscriber_once(db) {
    let watcher = Watcher::default();
    let env = [("CELL__EVENTS__DISPATCH", "false"), ("CELL__EVENTS__BATCH_SIZE", "50")];
    let a = TestApp::spawn_with(&db, CELL, &env, modules(&watcher)).await?;
    let b = TestApp::spawn_with(&db, CELL, &env, modules(&watcher)).await?;
    const EVENTS: usize = 3000;
    for chunk in 0..(EVENTS / 500) {
        let tx = a.ctx.db().tenant(Uuid::now_v7()).await?;
        for _ in 0..500 {
            a.ctx.events().publish(&tx, NewEvent::new("notes.note.created", note_ref())).await?;
        }
        tx.commit().await?;
        let _ = chunk;
    }
    let drain = |app: &TestApp| {
        let ctx = app.ctx.clone();
        async move {
            let mut handled = 0usize;
            let mut idle = 0;
            while idle < 3 {
                match ctx.events().dispatch_once(&ctx).await? {
                    0 => idle += 1,
                    n => {
                        handled += n;
                        idle = 0;
                    }
                }
            }
            anyhow::Ok(handled)
        }
    };
    let (ha, hb) = tokio::join!(tokio::spawn(drain(&a)), tokio::spawn(drain(&b)));
    let (ha, hb) = (ha??, hb??);
    assert_eq!(ha + hb, EVENTS * 2, "a handled {ha}, b handled {hb}");
    let mut counts: BTreeMap<(&str, Uuid), usize> = BTreeMap::new();
    for key in watcher.recorder.seen() {
        *counts.entry(key).or_default() += 1;
    }
    assert_eq!(counts.len(), EVENTS * 2);
    assert!(counts.values().all(|n| *n == 1), "an event reached a subscriber twice");
    Ok(())
});

db_test!(async fn receipts_make_subscribers_idempotent_and_names_are_checked(db) {
    let app = TestApp::spawn(&db, "").await?;
    let event = Uuid::now_v7();
    assert!(first_delivery(app.ctx.db().conn(), "s.one", event).await?);
    assert!(!first_delivery(app.ctx.db().conn(), "s.one", event).await?);
    assert!(first_delivery(app.ctx.db().conn(), "s.two", event).await?);
    let tx = app.ctx.db().tenant(Uuid::now_v7()).await?;
    let err = app.ctx.events().publish(&tx, NewEvent::new("NoteCreated", note_ref())).await.err();
    assert!(err.is_some_and(|e| e.to_string().contains("module.entity.verb")));
    // A well-formed name no enabled module declares is refused too: the catalogue is complete.
    let err = app.ctx.events().publish(&tx, NewEvent::new("notes.note.shredded", note_ref())).await.err();
    assert!(err.is_some_and(|e| e.to_string().contains("not declared")));
    Ok(())
});

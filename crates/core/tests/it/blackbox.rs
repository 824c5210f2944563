//! The kernel through a real process: `kill -9` between commit and delivery loses no event.

use testkit::{CellProcess, db_test};

const BIN: &str = env!("CARGO_BIN_EXE_testcell");

db_test!(async fn an_event_committed_before_a_kill_9_is_delivered_after_restart(db) {
    let data = format!("cell.data_dir={}", db.data_dir().display());
    let env_off = [("CELL__DATABASE__URL", db.url()), ("CELL__EVENTS__DISPATCH", "false")];
    let http = reqwest::Client::new();

    // Committed, but this instance does not dispatch: the event is only in the outbox.
    let cell = CellProcess::start(BIN, &["--set", &data], &env_off)?;
    let org = uuid::Uuid::now_v7();
    let res = http.post(cell.url(&format!("/api/v1/probe/{org}/publish"))).send().await?;
    assert_eq!(res.status(), 200);
    let event_id = res.json::<serde_json::Value>().await?["event_id"].as_str().unwrap_or_default().to_owned();
    let received = cell.url(&format!("/api/v1/probe/received/{event_id}"));
    assert_eq!(http.get(&received).send().await?.json::<serde_json::Value>().await?["received"], false);
    let (status, _) = cell.stop("KILL")?;
    assert!(!status.success(), "the cell was not killed");

    // A new instance, dispatching, delivers it.
    let cell = CellProcess::start(BIN, &["--set", &data], &[("CELL__DATABASE__URL", db.url())])?;
    let received = cell.url(&format!("/api/v1/probe/received/{event_id}"));
    let mut delivered = false;
    for _ in 0..500 {
        if http.get(&received).send().await?.json::<serde_json::Value>().await?["received"] == true {
            delivered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(delivered, "the event committed before the kill was never delivered");
    cell.terminate()?;
    Ok(())
});

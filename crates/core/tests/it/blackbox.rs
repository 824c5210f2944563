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

db_test!(async fn an_api_instance_serves_and_a_worker_delivers(db) {
    let data = format!("cell.data_dir={}", db.data_dir().display());
    let url = [("CELL__DATABASE__URL", db.url())];
    let http = reqwest::Client::new();

    // Nothing migrated yet: an instance that may not migrate refuses, naming what is pending.
    let refused = testkit::run_cell(BIN, &["--set", &data, "serve", "--role", "api", "--no-migrate"], &url)?;
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("schema is behind") && stderr.contains("kernel kernel_m"), "{stderr}");
    let migrated = testkit::run_cell(BIN, &["--set", &data, "migrate", "up"], &url)?;
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));

    // The api instance serves but delivers nothing.
    let api = CellProcess::start(BIN, &["--set", &data, "--set", "serve.role=api", "--set", "serve.migrate=false"], &url)?;
    let org = uuid::Uuid::now_v7();
    let res = http.post(api.url(&format!("/api/v1/probe/{org}/publish"))).send().await?;
    assert_eq!(res.status(), 200);
    let event_id = res.json::<serde_json::Value>().await?["event_id"].as_str().unwrap_or_default().to_owned();
    let received = api.url(&format!("/api/v1/probe/received/{event_id}"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(http.get(&received).send().await?.json::<serde_json::Value>().await?["received"], false, "an api instance dispatches nothing");

    // The worker answers only health and metrics, and delivers the event.
    let worker = CellProcess::start(BIN, &["--set", &data, "--set", "serve.role=worker", "--set", "serve.migrate=false"], &url)?;
    assert_eq!(http.get(worker.url("/health/live")).send().await?.status(), 200);
    assert_eq!(http.get(worker.url(&format!("/api/v1/probe/received/{event_id}"))).send().await?.status(), 404, "a worker serves no API");
    let mut delivered = false;
    for _ in 0..500 {
        if http.get(&received).send().await?.json::<serde_json::Value>().await?["received"] == true {
            delivered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(delivered, "the worker never delivered the event");
    worker.terminate()?;
    api.terminate()?;
    Ok(())
});

//! The event stream (server-sent events): the same feed for clients without WebSockets.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::db_test;

use crate::support::*;

/// Reads the stream until `n` messages (`event:` + `data:` blocks other than comments) came,
/// leaving out those `ignore` names.
async fn read(
    mut res: reqwest::Response,
    n: usize,
    ignore: impl Fn(&Value) -> bool,
) -> anyhow::Result<Vec<(Option<String>, String, Value)>> {
    let mut text = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), res.chunk())
            .await
            .map_err(|_| anyhow::anyhow!("no message within 10 s; got {out:?}"))??
            .ok_or_else(|| anyhow::anyhow!("the stream ended"))?;
        text.push_str(std::str::from_utf8(&chunk)?);
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (None, None, None);
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("event: ") {
                    event = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(v)?);
                }
            }
            if let (Some(event), Some(data)) = (event, data)
                && !ignore(&data)
            {
                out.push((id, event, data));
            }
        }
    }
    Ok(out)
}

db_test!(
    async fn the_event_stream_carries_the_feed_and_replays_from_last_event_id(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let ann = user(&cell, "ann@acme.test", acme, "member").await?;
        let bob = user(&cell, "bob@acme.test", acme, "member").await?;
        let id = item(&cell, &ann, "One").await?;
        settle(&cell).await?;

        let res = cell.client.get(cell.url("/ws/stream?subscribe=template_item")).bearer_auth(&ann).send().await?;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        cell.patch(&format!("/api/v1/items/{id}"), Some(&bob), json!({"status": "done"})).await?;
        settle(&cell).await?;
        // The item's creation may still be on its way (its push travels by NOTIFY, which can
        // reach this instance after the stream opened): not what this step is about.
        let got = read(res, 2, |d| d["name"] == "template.item.created").await?;
        let kinds: std::collections::BTreeSet<&str> = got.iter().map(|(_, e, _)| e.as_str()).collect();
        assert_eq!(kinds, ["event", "notification"].into(), "{got:?}");
        for (sse_id, _, data) in &got {
            assert_eq!(sse_id.as_deref(), data["event_id"].as_str(), "the SSE id is the event id");
        }
        let last = got[0].0.clone().unwrap_or_default();

        // Away: Bob makes an item. EventSource reconnects with Last-Event-ID: it comes first.
        item(&cell, &bob, "Two").await?;
        settle(&cell).await?;
        let res = cell.client.get(cell.url("/ws/stream?subscribe=template_item")).bearer_auth(&ann).header("last-event-id", &last).send().await?;
        assert_eq!(res.status(), 200);
        let got = read(res, 2, |_| false).await?;
        assert_eq!((got[0].1.as_str(), &got[0].2["name"]), ("event", &json!("template.item.created")), "{got:?}");
        assert_eq!((got[1].1.as_str(), &got[1].2), ("resumed", &json!({"type": "resumed", "count": 1, "more": false, "until": null})), "{got:?}");

        // Bad input answers before the stream starts.
        let (status, body) = cell.get("/ws/stream?subscribe=template_item:nope", Some(&ann)).await?;
        assert_eq!((status, &body["error"]["code"]), (400, &json!("invalid_query")), "{body}");
        let (status, _) = cell.get(&format!("/ws/stream?subscribe=team:{}", uuid::Uuid::now_v7()), Some(&ann)).await?;
        assert_eq!(status, 404);
        let (status, _) = cell.get("/ws/stream", None).await?;
        assert_eq!(status, 401);
        // A ticket works here too, once.
        let t = ticket(&cell, &ann).await?;
        let res = cell.client.get(cell.url(&format!("/ws/stream?ticket={t}"))).send().await?;
        assert_eq!(res.status(), 200);
        let res = cell.client.get(cell.url(&format!("/ws/stream?ticket={t}"))).send().await?;
        assert_eq!(res.status(), 401);
        Ok(())
    }
);

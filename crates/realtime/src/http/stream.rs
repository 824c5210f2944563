//! `GET /ws/stream`: the live feed as server-sent events, for clients that cannot open a
//! WebSocket. Subscriptions are fixed by the query; `Last-Event-ID` (sent by `EventSource` when
//! it reconnects) or `since` replays what was missed first.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, web};
use kernel::http::State;
use kernel::{ApiError, ApiResult, CellContext};
use serde::Deserialize;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::TAG;
use crate::feed::{Ended, Feed, ServerMessage};
use crate::module::Runtime;
use crate::permissions::Listen;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamQuery {
    /// Comma-separated subscriptions: an entity type (`item`: every item the caller may view)
    /// or one entity (`item:0190…`).
    pub subscribe: Option<String>,
    /// Replay what came after this event first (`Last-Event-ID` wins when both are sent).
    pub since: Option<Uuid>,
    /// The connection ticket (`POST /ws/ticket`), for clients that cannot send an
    /// `Authorization` header; never a token.
    #[expect(dead_code, reason = "documents the query; `Listen` reads it")]
    pub ticket: Option<String>,
}

fn topics(list: Option<&str>) -> Result<Vec<(String, Option<Uuid>)>, ApiError> {
    let mut out = Vec::new();
    for item in list.unwrap_or_default().split(',').map(str::trim) {
        if item.is_empty() {
            continue;
        }
        let topic = match item.split_once(':') {
            None => (item.to_owned(), None),
            Some((kind, id)) => {
                let id = id.parse().map_err(|_| {
                    ApiError::invalid_query(format!(
                        "subscribe: `{item}` is not `type` or `type:<uuid>`"
                    ))
                })?;
                (kind.to_owned(), Some(id))
            }
        };
        out.push(topic);
    }
    Ok(out)
}

fn frame(message: &ServerMessage) -> Bytes {
    let data = serde_json::to_string(message).unwrap_or_default();
    let id = message
        .event_id()
        .map(|id| format!("id: {id}\n"))
        .unwrap_or_default();
    Bytes::from(format!("{id}event: {}\ndata: {data}\n\n", message.kind()))
}

/// Opens the live feed as `text/event-stream`: the caller's notifications and the events of the
/// entities `subscribe` names, while the caller may view them; each message's `id:` is its
/// event id, `event:` its type (`notification`, `event`, `gap`).
#[utoipa::path(tag = TAG, params(StreamQuery,
    ("Last-Event-ID" = Option<Uuid>, Header, description = "Replay what came after this event first")),
    responses(
    (status = 200, description = "The stream", content_type = "text/event-stream", body = String),
    (status = 400), (status = 401), (status = 403), (status = 404), (status = 422), (status = 429)))]
#[get("/ws/stream")]
pub(crate) async fn open(
    access: Listen,
    ctx: CellContext,
    rt: State<Runtime>,
    req: HttpRequest,
    query: web::Query<StreamQuery>,
) -> ApiResult<HttpResponse> {
    let query = query.into_inner();
    let topics = topics(query.subscribe.as_deref())?;
    let header = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    let since = match header {
        Some(v) => Some(
            v.parse::<Uuid>()
                .map_err(|_| ApiError::bad_request("Last-Event-ID: not an event id"))?,
        ),
        None => query.since,
    };
    let org_id = access.org_id();
    let feed = Feed::open(
        ctx,
        access.into_caller(),
        org_id,
        rt.settings.clone(),
        rt.hub.clone(),
    )?;
    for (kind, id) in &topics {
        feed.subscribe(kind, *id).await?;
    }
    let missed = match since {
        Some(since) => feed.resume(since).await?,
        None => Vec::new(),
    };
    let (out, rx) = mpsc::channel::<Bytes>(16);
    actix_web::rt::spawn(pump(feed, missed, out));
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}

async fn pump(mut feed: Feed, missed: Vec<ServerMessage>, out: mpsc::Sender<Bytes>) {
    let s = feed.settings();
    let beat = Duration::from_secs(s.heartbeat_secs);
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
    let lifetime = tokio::time::sleep(Duration::from_secs(s.max_lifetime_secs));
    tokio::pin!(lifetime);
    // How long `EventSource` waits before it reconnects.
    if out
        .send(Bytes::from_static(b"retry: 2000\n\n"))
        .await
        .is_err()
    {
        return;
    }
    for message in &missed {
        if out.send(frame(message)).await.is_err() {
            return;
        }
    }
    loop {
        let bytes = tokio::select! {
            () = out.closed() => return,
            next = feed.next() => match next {
                Ok(message) => frame(&message),
                Err(Ended::TooSlow) => Bytes::from_static(b"event: closed\ndata: {\"reason\":\"too_slow\"}\n\n"),
                Err(Ended::Stopping) => return,
            },
            _ = heartbeat.tick() => Bytes::from_static(b": ping\n\n"),
            () = &mut lifetime => return,
        };
        let last = bytes.starts_with(b"event: closed");
        if out.send(bytes).await.is_err() || last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_parse_or_answer_400() {
        let id = Uuid::nil();
        assert_eq!(
            topics(Some(&format!("item, task:{id},"))).unwrap(),
            vec![("item".to_owned(), None), ("task".to_owned(), Some(id))]
        );
        assert!(topics(Some("task:nope")).is_err());
        assert!(topics(None).unwrap().is_empty());
        let f = frame(&ServerMessage::Pong);
        assert_eq!(&f[..], b"event: pong\ndata: {\"type\":\"pong\"}\n\n");
    }
}

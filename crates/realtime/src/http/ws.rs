//! `GET /ws`: the live feed over a WebSocket. Text frames of JSON both ways
//! ([`ClientMessage`](crate::ClientMessage) in, [`ServerMessage`](crate::ServerMessage) out);
//! pings every `heartbeat_secs`, closed after `client_timeout_secs` of silence, when the client
//! reads too slowly, or after `max_lifetime_secs`.

use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, get, web};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use kernel::http::State;
use kernel::{ApiError, ApiResult, CellContext};

use super::TAG;
use crate::feed::{Ended, Feed, ServerMessage};
use crate::module::Runtime;
use crate::permissions::Listen;

/// The largest message a client may send (a subscription or a resume is a few hundred bytes).
const MAX_FRAME: usize = 4096;

/// The connection ticket (`POST /ws/ticket`), for clients that cannot send an `Authorization`
/// header; never a token.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the query; `Listen` reads it")]
pub(crate) struct Credentials {
    pub ticket: Option<String>,
}

/// Opens the live feed as a WebSocket: the caller's notifications (their room), and the
/// events of the entities they subscribe to (`{"type":"subscribe","entity_type":"item",
/// "entity_id":…}`) while they may view them; `{"type":"resume","since":<event id>}` sends
/// what was missed.
#[utoipa::path(tag = TAG, params(Credentials), responses(
    (status = 101, description = "Switched to the WebSocket protocol"),
    (status = 400), (status = 401), (status = 403), (status = 429)))]
#[get("/ws")]
pub(crate) async fn open(
    access: Listen,
    ctx: CellContext,
    rt: State<Runtime>,
    req: HttpRequest,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let org_id = access.org_id();
    let feed = Feed::open(
        ctx,
        access.into_caller(),
        org_id,
        rt.settings.clone(),
        rt.hub.clone(),
    )?;
    let (response, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::bad_request(format!("not a WebSocket handshake: {e}")))?;
    let stream = stream
        .max_frame_size(MAX_FRAME)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME);
    actix_web::rt::spawn(serve(feed, session, stream));
    Ok(response)
}

fn close(code: CloseCode, why: &str) -> Option<CloseReason> {
    Some(CloseReason {
        code,
        description: Some(why.to_owned()),
    })
}

async fn send(session: &mut Session, message: &ServerMessage) -> bool {
    match serde_json::to_string(message) {
        Ok(text) => session.text(text).await.is_ok(),
        Err(_) => true,
    }
}

async fn serve(mut feed: Feed, mut session: Session, mut stream: AggregatedMessageStream) {
    let s = feed.settings();
    let beat = Duration::from_secs(s.heartbeat_secs);
    let silence = Duration::from_secs(s.client_timeout_secs);
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
    let lifetime = tokio::time::sleep(Duration::from_secs(s.max_lifetime_secs));
    tokio::pin!(lifetime);
    let mut heard = Instant::now();
    let reason = 'conn: loop {
        tokio::select! {
            received = stream.recv() => {
                let message = match received {
                    None => break None,
                    Some(Err(e)) => break close(CloseCode::Size, &e.to_string()),
                    Some(Ok(m)) => m,
                };
                heard = Instant::now();
                let replies = match message {
                    AggregatedMessage::Text(text) => crate::feed::answer(&feed, &text).await,
                    AggregatedMessage::Binary(_) => vec![ServerMessage::Error {
                        code: "bad_request".into(),
                        message: "send JSON in text frames".into(),
                    }],
                    AggregatedMessage::Ping(bytes) => {
                        if session.pong(&bytes).await.is_err() {
                            break None;
                        }
                        Vec::new()
                    }
                    AggregatedMessage::Pong(_) => Vec::new(),
                    AggregatedMessage::Close(_) => break None,
                };
                for reply in &replies {
                    if !send(&mut session, reply).await {
                        break 'conn None;
                    }
                }
            }
            next = feed.next() => match next {
                Ok(message) => {
                    if !send(&mut session, &message).await {
                        break None;
                    }
                }
                Err(Ended::TooSlow) => break close(CloseCode::Again, "reading too slowly: reconnect and resume"),
                Err(Ended::Stopping) => break close(CloseCode::Restart, "the server is restarting: reconnect and resume"),
            },
            _ = heartbeat.tick() => {
                if heard.elapsed() > silence {
                    break close(CloseCode::Policy, "no answer to pings");
                }
                if session.ping(b"").await.is_err() {
                    break None;
                }
            }
            () = &mut lifetime => break close(CloseCode::Restart, "connection lifetime reached: reconnect and resume"),
        }
    };
    let _ = session.close(reason).await;
}

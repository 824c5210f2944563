//! A cell of iam, tenancy, auth, the template module, notifications and realtime (at `/`); a
//! second instance on the same database; a WebSocket client (tokio-tungstenite).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
pub use testcell::{Cell, org, user};
use testkit::TestDb;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const TOML: &str = "[modules.iam]\n[modules.tenancy]\n[modules.auth]\n[modules.template]\n[modules.notifications]\n[modules.realtime]\nroute_prefix = \"/\"\nheartbeat_secs = 1\nclient_timeout_secs = 30\n";

pub async fn cell(db: &TestDb) -> anyhow::Result<Cell> {
    testcell::start(
        db,
        TOML,
        vec![
            Box::new(template::Template::default()),
            Box::new(notifications::Notifications),
            Box::new(realtime::Realtime::default()),
        ],
    )
    .await
}

/// A second instance of the cell on the same database once both listen for signals, on
/// PostgreSQL; `None` on SQLite, whose pushes stay in one process (one instance by design).
pub async fn second(db: &TestDb, first: &Cell) -> anyhow::Result<Option<Cell>> {
    if db.backend() == testkit::Backend::Sqlite {
        return Ok(None);
    }
    let second = cell(db).await?;
    for c in [first, &second] {
        for _ in 0..250 {
            if c.ctx.signals().listening() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        anyhow::ensure!(
            c.ctx.signals().listening(),
            "the signal listener never listened"
        );
    }
    Ok(Some(second))
}

/// Delivers published events to subscribers, then runs due jobs, until nothing is left.
pub async fn settle(cell: &Cell) -> anyhow::Result<()> {
    loop {
        let events = cell.ctx.events().dispatch_once(&cell.ctx).await?;
        let jobs = cell.ctx.jobs().run_once(&cell.ctx).await?;
        if events == 0 && jobs == 0 {
            return Ok(());
        }
    }
}

/// An item of `token`'s user: its id.
pub async fn item(cell: &Cell, token: &str, name: &str) -> anyhow::Result<String> {
    let (status, body) = cell
        .post("/api/v1/items", Some(token), json!({ "name": name }))
        .await?;
    anyhow::ensure!(status == 201, "item: {status} {body}");
    Ok(body["id"].as_str().unwrap_or_default().to_owned())
}

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn ws_url(cell: &Cell, path: &str) -> String {
    cell.url(path).replacen("http://", "ws://", 1)
}

/// Opens `GET /ws` with the token in the `Authorization` header (a non-browser client).
pub async fn connect(cell: &Cell, token: &str) -> anyhow::Result<Socket> {
    let mut req = ws_url(cell, "/ws").into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let (socket, _) = tokio_tungstenite::connect_async(req).await?;
    Ok(socket)
}

/// Opens `GET /ws?ticket=`; the handshake's HTTP status when it is refused.
pub async fn connect_with_ticket(cell: &Cell, ticket: &str) -> Result<Socket, u16> {
    let url = ws_url(cell, &format!("/ws?ticket={ticket}"));
    match tokio_tungstenite::connect_async(url).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
        Err(_) => Err(0),
    }
}

/// A ticket bought with `token`.
pub async fn ticket(cell: &Cell, token: &str) -> anyhow::Result<String> {
    let (status, body) = cell.post("/ws/ticket", Some(token), json!({})).await?;
    anyhow::ensure!(status == 201, "ticket: {status} {body}");
    Ok(body["ticket"].as_str().unwrap_or_default().to_owned())
}

/// Sends one JSON message.
pub async fn say(socket: &mut Socket, message: Value) -> anyhow::Result<()> {
    socket.send(Message::text(message.to_string())).await?;
    Ok(())
}

/// The next JSON message (pings answered by the client library on the way); fails after 10 s
/// (a bound on a hang, not a timing assertion).
pub async fn hear(socket: &mut Socket) -> anyhow::Result<Value> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .map_err(|_| anyhow::anyhow!("no message within 10 s"))?
            .ok_or_else(|| anyhow::anyhow!("the socket closed"))??;
        match frame {
            Message::Text(text) => return Ok(serde_json::from_str(&text)?),
            Message::Close(reason) => anyhow::bail!("closed: {reason:?}"),
            _ => continue,
        }
    }
}

/// Asserts nothing was pushed to the socket before now: a ping's pong is the next message
/// (pushes are routed to every connection of an instance at once, before any is written).
pub async fn heard_nothing(socket: &mut Socket) -> anyhow::Result<()> {
    say(socket, json!({"type": "ping"})).await?;
    let next = hear(socket).await?;
    anyhow::ensure!(
        next == json!({"type": "pong"}),
        "expected nothing, heard {next}"
    );
    Ok(())
}

/// Subscribes and waits for the acknowledgement (or the error).
pub async fn subscribe(
    socket: &mut Socket,
    entity_type: &str,
    id: Option<&str>,
) -> anyhow::Result<Value> {
    say(
        socket,
        json!({"type": "subscribe", "entity_type": entity_type, "entity_id": id}),
    )
    .await?;
    hear(socket).await
}

//! `Idempotency-Key` (IETF draft-ietf-httpapi-idempotency-key-header, as Stripe runs it): a
//! client that sends a POST or PATCH again after losing the answer, with the same key, gets the
//! first answer again instead of a second change.
//!
//! - A key is 1 to 255 visible ASCII characters (400 otherwise), scoped to the caller (the API
//!   key, else the user) in their organization, and kept 24 hours.
//! - The first request with a key runs; a 2xx answer is kept (status, `Content-Type`,
//!   `Location`, body up to 1 MiB) and replayed to every later request with that key, marked
//!   `Idempotent-Replayed: true`. Any other answer is not kept: the client may try again.
//! - The same key with another request (method, path, query or body) is refused (422); while the
//!   first request runs, another with its key is refused (409). A key whose first request never
//!   answered (its instance stopped) is taken over after five minutes.
//! - Requests without a caller in an organization (sign-in, webhooks) ignore the header, and so
//!   do uploads: a `multipart/form-data` body (a client sending it again draws a new boundary,
//!   so its bytes never match) and a body larger than `http.body_limit` or of no stated length,
//!   which is not read into memory to be fingerprinted. They run as without a key.
//!
//! Kept in `kernel_idempotency_keys`, written on the kernel's system connection, one statement
//! per step; the daily `kernel.idempotency_purge` deletes keys past their 24 hours.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{
    CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, LOCATION, TRANSFER_ENCODING,
};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::{ConnectionTrait, DbErr};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::queue::{now_ms, stmt};
use crate::{ApiError, CellContext, Db};

use super::Caller;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// Set on a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";
/// How long a key is kept.
pub const KEEP_MS: i64 = 24 * 3600 * 1000;
/// A first request that has not answered after this long is taken to have died with its instance.
const STALE_MS: i64 = 5 * 60 * 1000;
/// The largest answer kept; a larger one is not replayed (the key is let go).
const MAX_KEPT: usize = 1 << 20;
/// The kernel job that deletes expired keys, daily.
pub(crate) const PURGE_JOB: &str = "kernel.idempotency_purge";

/// The middleware (inside `identify_and_limit`, which sets the caller).
pub(crate) async fn replay(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let raw = match *req.method() {
        Method::POST | Method::PATCH => req.headers().get(HEADER).cloned(),
        _ => None,
    };
    let caller = req.extensions().get::<Caller>().cloned();
    let ctx = req.app_data::<CellContext>().cloned();
    let (Some(raw), Some(caller), Some(ctx)) = (raw, caller, ctx) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(org) = caller.org_id else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if !replayable(&req, ctx.config().http.body_limit) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let key = match valid(&raw) {
        Ok(key) => key,
        Err(e) => return Ok(req.error_response(e)),
    };
    let body = req.extract::<web::Bytes>().await?;
    let fingerprint = fingerprint(&req, &body);
    req.set_payload(Payload::from(body));
    let at = Key {
        org,
        actor: caller.api_key_id.unwrap_or(caller.user_id),
        key,
    };
    let db = ctx.db().system();
    let claim = claim(db, &at, &fingerprint).await.map_err(ApiError::from)?;
    match claim {
        Claim::Mine => {}
        Claim::Kept(kept) => {
            req.extensions_mut().insert(crate::audit::Audited);
            return Ok(req.into_response(kept.response()));
        }
        Claim::Busy => {
            return Ok(req.error_response(ApiError::conflict(
                "a request with this Idempotency-Key is still being processed: try again later",
            )));
        }
        Claim::Other => {
            return Ok(req.error_response(ApiError::validation(
                "Idempotency-Key",
                "used with another request (method, path or body)",
            )));
        }
    }
    let res = match next.call(req).await {
        Ok(res) => res,
        Err(e) => {
            release(db, &at).await;
            return Err(e);
        }
    };
    if !res.status().is_success() {
        release(db, &at).await;
        return Ok(res.map_into_boxed_body());
    }
    let (http, res) = res.into_parts();
    let (head, body) = res.into_parts();
    let body = match actix_web::body::to_bytes(body).await {
        Ok(b) => b,
        Err(e) => {
            release(db, &at).await;
            return Err(actix_web::error::ErrorInternalServerError(
                e.into().to_string(),
            ));
        }
    };
    let header = |name| {
        head.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let kept = Kept {
        status: head.status().as_u16(),
        content_type: header(CONTENT_TYPE),
        location: header(LOCATION),
        body: body.to_vec(),
    };
    match kept.body.len() <= MAX_KEPT {
        true => keep(db, &at, &kept).await,
        false => release(db, &at).await,
    }
    Ok(ServiceResponse::new(
        http,
        head.set_body(BoxBody::new(body)),
    ))
}

/// Whether the request is not an upload: not a multipart form, and a body of at most `limit`
/// bytes by its `Content-Length` (no length and no chunked transfer: no body).
fn replayable(req: &ServiceRequest, limit: usize) -> bool {
    let multipart = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/")
        });
    if multipart {
        return false;
    }
    match req.headers().get(CONTENT_LENGTH) {
        Some(n) => n
            .to_str()
            .ok()
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n <= limit),
        None => !req.headers().contains_key(TRANSFER_ENCODING),
    }
}

fn valid(raw: &HeaderValue) -> Result<String, ApiError> {
    let key = raw.to_str().unwrap_or_default();
    let ok = (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
    match ok {
        true => Ok(key.to_owned()),
        false => Err(ApiError::bad_request(
            "Idempotency-Key: 1 to 255 visible ASCII characters",
        )),
    }
}

/// SHA-256 of the method, the path with its query, and the body.
fn fingerprint(req: &ServiceRequest, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(req.method().as_str());
    h.update(b" ");
    h.update(req.uri().path_and_query().map_or("", |p| p.as_str()));
    h.update(b"\n");
    h.update(body);
    URL_SAFE_NO_PAD.encode(h.finalize())
}

struct Key {
    org: Uuid,
    actor: Uuid,
    key: String,
}

impl Key {
    fn values(&self) -> Vec<sea_orm::Value> {
        vec![self.org.into(), self.actor.into(), self.key.clone().into()]
    }
}

/// An answer kept for replay.
struct Kept {
    status: u16,
    content_type: Option<String>,
    location: Option<String>,
    body: Vec<u8>,
}

impl Kept {
    fn response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut res = HttpResponse::build(status);
        res.insert_header((REPLAYED, "true"));
        if let Some(ct) = self.content_type {
            res.insert_header((CONTENT_TYPE, ct));
        }
        if let Some(location) = self.location {
            res.insert_header((LOCATION, location));
        }
        res.body(self.body)
    }
}

enum Claim {
    /// This request runs.
    Mine,
    /// The first request's answer.
    Kept(Kept),
    /// The first request still runs.
    Busy,
    /// The key came with another request.
    Other,
}

async fn claim(db: &Db, at: &Key, fingerprint: &str) -> Result<Claim, DbErr> {
    let conn = db.conn();
    let backend = db.backend();
    let now = now_ms();
    let mut values = at.values();
    values.extend([fingerprint.to_owned().into(), now.into()]);
    let inserted = conn
        .execute_raw(stmt(
            backend,
            "INSERT INTO kernel_idempotency_keys (org_id, actor_id, idem_key, fingerprint, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            values.clone(),
        ))
        .await?
        .rows_affected();
    if inserted == 1 {
        return Ok(Claim::Mine);
    }
    let row = conn
        .query_one_raw(stmt(
            backend,
            "SELECT fingerprint, status, content_type, location, body, created_at_ms FROM kernel_idempotency_keys \
             WHERE org_id = $1 AND actor_id = $2 AND idem_key = $3",
            at.values(),
        ))
        .await?;
    let Some(row) = row else {
        // Let go between the two statements (its request failed): busy now, a retry runs.
        return Ok(Claim::Busy);
    };
    let created: i64 = row.try_get("", "created_at_ms")?;
    let status: Option<i32> = row.try_get("", "status")?;
    let expired = created < now - KEEP_MS || (status.is_none() && created < now - STALE_MS);
    if expired {
        // Taken over: only by one of the requests that find it so.
        values.push(created.into());
        let taken = conn
            .execute_raw(stmt(
                backend,
                "UPDATE kernel_idempotency_keys SET fingerprint = $4, created_at_ms = $5, status = NULL, \
                 content_type = NULL, location = NULL, body = NULL \
                 WHERE org_id = $1 AND actor_id = $2 AND idem_key = $3 AND created_at_ms = $6",
                values,
            ))
            .await?
            .rows_affected();
        return Ok(match taken {
            1 => Claim::Mine,
            _ => Claim::Busy,
        });
    }
    let theirs: String = row.try_get("", "fingerprint")?;
    if theirs != fingerprint {
        return Ok(Claim::Other);
    }
    let Some(status) = status else {
        return Ok(Claim::Busy);
    };
    Ok(Claim::Kept(Kept {
        status: u16::try_from(status).unwrap_or(200),
        content_type: row.try_get("", "content_type")?,
        location: row.try_get("", "location")?,
        body: row
            .try_get::<Option<Vec<u8>>>("", "body")?
            .unwrap_or_default(),
    }))
}

/// Keeps the first answer (a failure only means it will not be replayed: logged).
async fn keep(db: &Db, at: &Key, kept: &Kept) {
    let mut values = at.values();
    values.extend([
        i32::from(kept.status).into(),
        kept.content_type.clone().into(),
        kept.location.clone().into(),
        kept.body.clone().into(),
    ]);
    let done = db
        .conn()
        .execute_raw(stmt(
            db.backend(),
            "UPDATE kernel_idempotency_keys SET status = $4, content_type = $5, location = $6, body = $7 \
             WHERE org_id = $1 AND actor_id = $2 AND idem_key = $3",
            values,
        ))
        .await;
    if let Err(e) = done {
        tracing::error!(error = %e, "an idempotent answer could not be kept");
    }
}

/// Lets the key go: the request did not succeed, and may be sent again with it.
async fn release(db: &Db, at: &Key) {
    let done = db
        .conn()
        .execute_raw(stmt(
            db.backend(),
            "DELETE FROM kernel_idempotency_keys WHERE org_id = $1 AND actor_id = $2 AND idem_key = $3 AND status IS NULL",
            at.values(),
        ))
        .await;
    if let Err(e) = done {
        tracing::error!(error = %e, "an idempotency key could not be released");
    }
}

/// Deletes the keys past their 24 hours (`kernel.idempotency_purge`, daily).
pub(crate) struct PurgeJob;

#[async_trait::async_trait]
impl crate::module::JobHandler for PurgeJob {
    async fn run(&self, ctx: &CellContext, _job: &crate::jobs::Job) -> anyhow::Result<()> {
        let db = ctx.db().system();
        let gone = db
            .conn()
            .execute_raw(stmt(
                db.backend(),
                "DELETE FROM kernel_idempotency_keys WHERE created_at_ms < $1",
                vec![(now_ms() - KEEP_MS).into()],
            ))
            .await?
            .rows_affected();
        tracing::info!(gone, "expired idempotency keys deleted");
        Ok(())
    }
}

//! `POST /ws/ticket`: a single-use ticket to open a WebSocket or an event stream with, for
//! clients (browsers) that cannot send credentials in a header there.

use actix_web::{HttpResponse, post};
use kernel::http::tickets::{self, Ticket};
use kernel::{ApiResult, CellContext};

use super::TAG;
use crate::permissions::BuyTicket;

/// A ticket for `GET /ws?ticket=` or `GET /ws/stream?ticket=`: single use, valid 30 seconds,
/// worth the caller's credentials for one connection.
#[utoipa::path(tag = TAG, responses(
    (status = 201, body = Ticket), (status = 401), (status = 403)))]
#[post("/ws/ticket")]
pub(crate) async fn create(access: BuyTicket, ctx: CellContext) -> ApiResult<HttpResponse> {
    let (caller, tx) = access.into_parts();
    tx.commit().await?;
    let ticket = tickets::issue(&ctx, &caller).await?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(ticket))
}

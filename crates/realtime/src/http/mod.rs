//! The module's routes: the WebSocket, the event stream, tickets.

mod stream;
mod ticket;
mod ws;

const TAG: &str = "realtime";

pub(crate) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    // `/ws/ticket` and `/ws/stream` before `/ws`.
    cfg.service(ticket::create)
        .service(stream::open)
        .service(ws::open);
}

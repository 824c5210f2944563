//! The HTTP toolkit: building and running a cell's server, the middleware every request passes,
//! extractor configuration, list queries, health, metrics and API docs.

pub mod access;
pub mod admin;
mod allow;
pub mod caller;
pub mod connect;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod list;
mod middleware;
pub mod openapi;
pub mod paths;
pub mod request_id;
mod signed;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use utoipa::openapi::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::context::CellContext;
use crate::error::{ApiError, ErrorCode};
use crate::module::EnabledModule;
use crate::startup::{self, StartupError};
use crate::telemetry;

pub use access::{
    Access, AdministerOrg, ApiScope, InOrg, Mode, Object, Permission, Public, Read, Scoped, Signed,
    SignedIn, WorkInOrg, Write, holds, require,
};
pub use admin::Operator;
pub use caller::{Asker, Authenticator, Authorizer, Caller, Refused, RequestInfo, Role};
pub use connect::{Connect, tickets};
pub use extract::{
    OptionalJson, State, ValidJson, body_up_to, nullable, trimmed, trimmed_optional, whole_number,
};
pub use list::{COUNT_CAP, ListQuery, ListSpec, Page, PageMeta, fetch_page};

/// Where the OpenAPI document and its UI are served.
pub const DOCS_PATH: &str = "/api-docs";
pub const OPENAPI_PATH: &str = "/api-docs/openapi.json";

/// A cell's server, built (listener bound, migrations applied, modules ready) and ready to run.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    ctx: CellContext,
    stop: tokio_util::sync::CancellationToken,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Resolves the linked modules against the configuration, connects the database, applies
    /// migrations, calls each module's `on_ready`, and binds the listener. Port 0 picks a free
    /// port (see [`Application::port`]), bound first and recorded in the configuration, so the
    /// links modules build name it.
    pub async fn build(
        mut config: crate::config::CellConfig,
        linked: Vec<Box<dyn crate::module::PlatformModule>>,
    ) -> Result<Self, StartupError> {
        let early = match config.http.port {
            0 => {
                let listener = bind(&config)?;
                config.http.port = listener
                    .local_addr()
                    .map_err(|e| StartupError::Bind(e.to_string()))?
                    .port();
                Some(listener)
            }
            _ => None,
        };
        let ctx = startup::prepare(config, linked).await?;
        let listener = match early {
            Some(listener) => listener,
            None => bind(ctx.config())?,
        };
        Self::serve(ctx, listener)
    }

    fn serve(ctx: CellContext, listener: TcpListener) -> Result<Self, StartupError> {
        let http = &ctx.config().http;
        let port = http.port;
        let (name, modules) = (ctx.config().name(), ctx.modules());
        let documents = Documents::build(name, modules);
        let clashes = documents.clashes(modules);
        if !clashes.is_empty() {
            return Err(StartupError::Services(format!(
                "OpenAPI component names claimed by two different types (rename one): {}",
                clashes.join(", ")
            )));
        }
        // The router sees the modules' paths (a cell's `[http.paths]` aliases are rewritten
        // before routing), so the `Allow` table is built from the document before renaming.
        let mut openapi = documents.finish(name, modules);
        let allowed = allow::AllowedMethods::of(&openapi);
        ctx.config().path_map().document(&mut openapi);
        telemetry::metrics_handle();
        let workers = http.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        });
        let shutdown = http.shutdown_timeout;
        let app_ctx = ctx.clone();
        let role = ctx.config().serve.role;
        // The two apps are different types: the same server settings around each.
        macro_rules! server {
            ($app:expr) => {
                HttpServer::new($app)
                    .listen(listener)
                    .map_err(|e| StartupError::Bind(e.to_string()))?
                    .workers(workers)
                    .shutdown_timeout(shutdown)
                    .disable_signals()
                    .run()
            };
        }
        let server = match role.serves_api() {
            true => server!(move || cell_app(app_ctx.clone(), openapi.clone(), allowed.clone())),
            // A worker answers health and metrics only (its load balancer and scraper).
            false => server!(move || worker_app(app_ctx.clone())),
        };
        // Where to go first: the API's docs.
        let base = ctx.config().public_base();
        tracing::info!(
            cell = ctx.config().name(),
            address = %format!("{}:{port}", ctx.config().http.bind),
            role = ?role,
            docs = %match role.serves_api() {
                true => format!("{base}{DOCS_PATH}/"),
                false => "(a worker serves no API)".to_owned(),
            },
            health = %format!("{base}/health/ready"),
            "listening"
        );
        let stop = tokio_util::sync::CancellationToken::new();
        let mut background = Vec::new();
        if ctx.config().events.dispatch && role.works() {
            let (events, ctx, stop) = (ctx.events().clone(), ctx.clone(), stop.clone());
            background.push(tokio::spawn(async move { events.run(ctx, stop).await }));
        }
        {
            let (signals, ctx, stop) = (ctx.signals().clone(), ctx.clone(), stop.clone());
            background.push(tokio::spawn(
                async move { signals.listen(ctx.db(), stop).await },
            ));
        }
        if ctx.config().jobs.run && role.works() {
            let (jobs, ctx, stop) = (ctx.jobs().clone(), ctx.clone(), stop.clone());
            background.push(tokio::spawn(async move { jobs.run(ctx, stop).await }));
        }
        Ok(Self {
            port,
            server,
            ctx,
            stop,
            background,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn context(&self) -> &CellContext {
        &self.ctx
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting, lets in-flight requests finish
    /// (up to `http.shutdown_timeout`), and calls each module's `on_shutdown` in reverse order.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        tokio::select! {
            res = server => {
                res.map_err(std::io::Error::other)??;
            }
            signal = shutdown_signal() => {
                tracing::info!(signal, "shutting down gracefully");
                handle.stop(true).await;
            }
        }
        self.stop.cancel();
        for task in self.background {
            let _ = task.await;
        }
        startup::shutdown(&self.ctx).await;
        Ok(())
    }
}

async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; SIGINT only");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

/// The kernel's routes plus every enabled module's, grouped by route prefix (actix stops at the
/// first scope whose prefix matches, so modules that share a prefix share one scope).
fn routes(
    cell: String,
    modules: Vec<EnabledModule>,
) -> utoipa_actix_web::UtoipaApp<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let mut app = App::new()
        .into_utoipa_app()
        .openapi(base_document(&cell, &modules))
        .service(health::live)
        .service(health::ready)
        .service(health::metrics)
        .service(health::jwks)
        .service(admin::dead_events)
        .service(admin::replay_all)
        .service(admin::replay_one)
        .service(admin::job_runs)
        .service(admin::dead_jobs)
        .service(admin::replay_job)
        .service(admin::emails)
        .service(signed::download)
        .service(signed::upload);
    let mut prefixes: Vec<&str> = Vec::new();
    for m in &modules {
        if !prefixes.contains(&m.route_prefix.as_str()) {
            prefixes.push(&m.route_prefix);
        }
    }
    for prefix in prefixes {
        let group: Vec<Arc<dyn crate::module::PlatformModule>> = modules
            .iter()
            .filter(|m| m.route_prefix == prefix)
            .map(|m| m.module.clone())
            .collect();
        let routes = move |cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>| {
            for module in &group {
                module.routes(cfg);
            }
        };
        // Modules mounted at the root (`route_prefix = "/"`) register their routes on the app
        // itself: an empty scope would match every path and hide the routes after it.
        app = match prefix {
            "/" => app.configure(routes),
            _ => app.service(utoipa_actix_web::scope(prefix).configure(routes)),
        };
    }
    app
}

fn base_document(cell: &str, modules: &[EnabledModule]) -> OpenApi {
    let names: Vec<String> = modules
        .iter()
        .map(|m| format!("{} {}", m.module.name(), m.module.version()))
        .collect();
    let mut doc = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title(format!("{cell} cell API"))
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(format!(
                    "Modules: {}. Every failure answers `{{\"error\":{{\"code\",\"message\",\"details\"?,\"request_id\",\"timestamp\"}}}}`. A POST or PATCH may carry `Idempotency-Key` (1 to 255 visible ASCII characters): sent again with the same key, it answers the first 2xx answer again (`Idempotent-Replayed: true`) for 24 hours instead of changing anything; the key with another request is a 422, and while the first runs a 409. Uploads (multipart forms, bodies over the JSON limit) run as without a key.",
                    if names.is_empty() { "none".into() } else { names.join(", ") }
                )))
                .build(),
        )
        .build();
    doc.merge(<crate::error::ErrorDocs as utoipa::OpenApi>::openapi());
    doc
}

fn bind(config: &crate::config::CellConfig) -> Result<TcpListener, StartupError> {
    let http = &config.http;
    TcpListener::bind((http.bind, http.port))
        .map_err(|e| StartupError::Bind(format!("{}:{}: {e}", http.bind, http.port)))
}

/// The cell's document as its router serves it, and each module's built alone (with the
/// kernel's routes), built once at start-up: the component check and the tag order both read
/// the ones built alone.
struct Documents {
    cell: OpenApi,
    alone: Vec<OpenApi>,
}

impl Documents {
    fn build(cell: &str, modules: &[EnabledModule]) -> Self {
        let routed =
            |modules: Vec<EnabledModule>| routes(cell.to_owned(), modules).split_for_parts().1;
        Self {
            cell: routed(modules.to_vec()),
            alone: modules.iter().map(|m| routed(vec![m.clone()])).collect(),
        }
    }

    /// Component names that two different types claim (`Feed (abm)`): the cell's document
    /// holds one schema per name and keeps the last registered, silently, so each module's
    /// document built alone is compared with the cell's. Cells refuse to start with any.
    fn clashes(&self, modules: &[EnabledModule]) -> Vec<String> {
        let schemas = |doc: &OpenApi| {
            doc.components
                .as_ref()
                .map(|c| c.schemas.clone())
                .unwrap_or_default()
        };
        let full = schemas(&self.cell);
        let mut out = std::collections::BTreeSet::new();
        for (m, alone) in modules.iter().zip(&self.alone) {
            for (name, schema) in schemas(alone) {
                if full.get(&name).is_some_and(|kept| *kept != schema) {
                    out.insert(format!("{name} ({})", m.module.name()));
                }
            }
        }
        out.into_iter().collect()
    }

    /// The finished document with the modules' own paths (before the cell's `[http.paths]`),
    /// its tags grouped by module: the identity modules first (auth, tenancy, iam), then the
    /// others in start order, then the kernel's own (health, storage), and last the operator's
    /// (`admin`, a module's `… (operator)`); within a module, in the order of its paths.
    fn finish(self, cell: &str, modules: &[EnabledModule]) -> serde_json::Value {
        let Self {
            cell: mut doc,
            alone,
        } = self;
        for m in modules {
            doc.merge(m.module.openapi());
        }
        let kernel = openapi::tags_of(&routes(cell.to_owned(), Vec::new()).split_for_parts().1);
        let mut ordered: Vec<(&EnabledModule, OpenApi)> = modules.iter().zip(alone).collect();
        // Stable: the other modules keep their start order.
        ordered.sort_by_key(|(m, _)| match m.module.name() {
            "auth" => 0,
            "tenancy" => 1,
            "iam" => 2,
            _ => 3,
        });
        let mut order: Vec<String> = Vec::new();
        for (m, mut alone) in ordered {
            alone.merge(m.module.openapi());
            for tag in openapi::tags_of(&alone) {
                if !kernel.contains(&tag) && !order.contains(&tag) {
                    order.push(tag);
                }
            }
        }
        order.extend(kernel);
        // Stable: each group keeps its order.
        order.sort_by_key(|t| t == "admin" || t.ends_with("(operator)"));
        let mut value = openapi::finish(&doc);
        openapi::order_tags(&mut value, &order);
        value
    }
}

/// The cell's OpenAPI 3.1 document: the handlers of the kernel and of every enabled module.
pub fn openapi_document(
    config: &crate::config::CellConfig,
    modules: &[EnabledModule],
) -> serde_json::Value {
    let mut doc = Documents::build(config.name(), modules).finish(config.name(), modules);
    config.path_map().document(&mut doc);
    doc
}

fn cell_app(
    ctx: CellContext,
    openapi: serde_json::Value,
    allowed: allow::AllowedMethods,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let limit = ctx.config().http.body_limit;
    let (app, _) = routes(ctx.config().name().to_owned(), ctx.modules().to_vec()).split_for_parts();
    let paths = ctx.config().path_map();
    app.app_data(ctx)
        .app_data(allowed)
        .app_data(paths)
        .app_data(extract::json_config(limit))
        .app_data(extract::payload_config(limit))
        .app_data(extract::query_config())
        .app_data(extract::path_config())
        .service(web::resource(DOCS_PATH).get(|| async {
            HttpResponse::PermanentRedirect()
                .insert_header(("Location", format!("{DOCS_PATH}/")))
                .finish()
        }))
        .service(
            SwaggerUi::new(format!("{DOCS_PATH}/{{_:.*}}"))
                .external_url_unchecked(OPENAPI_PATH, openapi),
        )
        .default_service(web::to(no_route))
        .wrap(from_fn(paths::rewrite))
        .wrap(from_fn(idempotency::replay))
        .wrap(from_fn(crate::audit::record_mutations))
        .wrap(from_fn(caller::identify_and_limit))
        .wrap(from_fn(middleware::observe))
}

/// A worker's server: health and metrics, nothing of the API.
fn worker_app(
    ctx: CellContext,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(ctx)
        .app_data(extract::query_config())
        .app_data(extract::path_config())
        .service(health::live)
        .service(health::ready)
        .service(health::metrics)
        .default_service(web::to(no_route))
        .wrap(from_fn(middleware::observe))
}

/// Compares secrets without leaking where they differ through timing.
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Nothing matched: 405 when the path exists under another method (route macros guard the
/// whole resource by method, so such requests land here), else 404.
async fn no_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    // Named as the client sent it (a cell's alias), looked up as routed.
    let sent = paths::sent_path(&req);
    if req.resource_map().has_resource(req.path()) {
        return Err(ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("{} is not allowed on {sent}", req.method()),
        ));
    }
    Err(ApiError::not_found(format!(
        "no route for {} {sent}",
        req.method()
    )))
}

//! A cell for the kernel's own black-box tests (`tests/it/blackbox.rs`): one `probe` module that
//! publishes an event per request and records, idempotently, every event it receives. Not a
//! product; ships in no image.

use actix_web::{HttpResponse, get, post, web};
use kernel::events::{EventDef, first_delivery};
use kernel::module::{DomainEvent, EventHandler, EventSubscription, PlatformModule};
use kernel::sea_orm::{ConnectionTrait, DbErr, Statement, TransactionTrait};
use kernel::sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};
use kernel::{ApiResult, CellContext};
use uuid::Uuid;

struct Probe;

/// `probe.item.created`: the probe's one event.
#[derive(serde::Serialize, serde::Deserialize, kernel::utoipa::ToSchema)]
struct ItemCreated {
    item_id: Uuid,
}

kernel::event!(
    ItemCreated,
    "probe.item.created",
    "An item was created.",
    "item",
    item_id
);

#[kernel::async_trait::async_trait]
impl PlatformModule for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Received)]
    }
    fn events(&self) -> Vec<EventDef> {
        vec![EventDef::of::<ItemCreated>()]
    }
    fn event_subscriptions(&self) -> Vec<EventSubscription> {
        vec![EventSubscription {
            name: "record",
            pattern: "probe.*",
            handler: std::sync::Arc::new(Record),
        }]
    }
    fn routes(&self, cfg: &mut kernel::utoipa_actix_web::service_config::ServiceConfig<'_>) {
        cfg.service(publish).service(received);
    }
}

kernel::register_module!(Probe);

struct Received;

impl MigrationName for Received {
    fn name(&self) -> &str {
        "probe_m20261121_000001_received"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for Received {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("CREATE TABLE probe_received (event_id TEXT PRIMARY KEY)")
            .await
            .map(|_| ())
    }
}

struct Record;

#[kernel::async_trait::async_trait]
impl EventHandler for Record {
    async fn handle(&self, ctx: &CellContext, event: &DomainEvent) -> anyhow::Result<()> {
        let tx = ctx.db().conn().begin().await?;
        if first_delivery(&tx, "probe.record", event.id).await? {
            tx.execute_raw(Statement::from_sql_and_values(
                tx.get_database_backend(),
                "INSERT INTO probe_received (event_id) VALUES ($1)",
                [event.id.to_string().into()],
            ))
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Publishes `probe.item.created` for a new item of org `org`; answers the event id.
#[kernel::utoipa::path(tag = "probe", responses((status = 200, description = "the event id")))]
#[post("/probe/{org}/publish")]
async fn publish(
    _: kernel::http::Public,
    ctx: CellContext,
    org: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let tx = ctx.db().tenant(org.into_inner()).await?;
    let item = ItemCreated {
        item_id: Uuid::now_v7(),
    };
    let id = ctx.events().emit(&tx, None, &item).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "event_id": id })))
}

/// Whether the subscriber has recorded event `id`.
#[kernel::utoipa::path(tag = "probe", responses((status = 200, description = "received or not")))]
#[get("/probe/received/{id}")]
async fn received(
    _: kernel::http::Public,
    ctx: CellContext,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let row = ctx
        .db()
        .conn()
        .query_one_raw(Statement::from_sql_and_values(
            ctx.db().backend(),
            "SELECT event_id FROM probe_received WHERE event_id = $1",
            [id.to_string().into()],
        ))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "received": row.is_some() })))
}

fn main() -> std::process::ExitCode {
    kernel::cli::main(kernel::cli::CellSpec {
        name: "testcell",
        product_toml: "[cell]\nname = \"testcell\"\n\n[modules.probe]\n",
    })
}

//! `/analytics`: counts for dashboards over any entity type whose module declares what can be
//! counted, with that entity's list filters, over what the caller sees.

use actix_web::{HttpRequest, HttpResponse, get, web};
use kernel::analytics::{CountBucket, Interval, Measure};
use kernel::http::ListQuery;
use kernel::module::EntityLoader;
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};

use crate::permissions::ReadAnalytics;

const TAG: &str = "analytics";

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(count).service(group).service(timeseries);
}

/// The entity type counted.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntityParam {
    /// An entity type whose module declares analytics (`template_item`, `contact`).
    #[param(max_length = 64, pattern = r"^[a-z][a-z0-9_]*$")]
    pub entity: String,
}

/// `/analytics/group`'s field.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupParams {
    #[param(max_length = 64, pattern = r"^[a-z][a-z0-9_]*$")]
    pub entity: String,
    /// A field the entity's module lets count by (`status`).
    #[param(max_length = 64, pattern = r"^[a-z][a-z0-9_]*$")]
    pub field: String,
}

/// `/analytics/timeseries`' date field and interval.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeriesParams {
    #[param(max_length = 64, pattern = r"^[a-z][a-z0-9_]*$")]
    pub entity: String,
    /// A date field of the entity (default `created_at`).
    #[param(max_length = 64, pattern = r"^[a-z][a-z0-9_]*$")]
    pub date: Option<String>,
    /// `day`, `week` (from Monday) or `month` (default `day`).
    #[param(pattern = "^(day|week|month)$")]
    pub interval: Option<String>,
}

/// Counts, with what was counted.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Counts {
    pub entity: String,
    /// The field grouped by, or the date field of a series.
    pub field: Option<String>,
    pub interval: Option<String>,
    /// Every matching entity the caller sees.
    pub total: u64,
    /// Per value (a group) or per bucket's first day, `YYYY-MM-DD` (a series), in key order.
    pub buckets: Vec<CountBucket>,
}

fn loader(ctx: &CellContext, entity: &str) -> Result<std::sync::Arc<dyn EntityLoader>, ApiError> {
    match ctx.entity_loader(entity) {
        Some(l) if l.analytics().is_some() => Ok(l.clone()),
        _ => Err(ApiError::not_found(format!(
            "no entity type `{entity}` can be counted here"
        ))),
    }
}

fn declared(field: &str, allowed: &[&str], what: &str) -> Result<(), ApiError> {
    match allowed.contains(&field) {
        true => Ok(()),
        false => Err(ApiError::not_found(format!(
            "`{field}` is not a {what} of this entity type; these are: {}",
            allowed.join(", ")
        ))),
    }
}

async fn answer(
    ctx: &CellContext,
    tx: &ReadAnalytics,
    req: &HttpRequest,
    entity: String,
    measure: Measure<'_>,
    interval: Option<&str>,
) -> Result<Counts, ApiError> {
    let loader = loader(ctx, &entity)?;
    let analytics = loader
        .analytics()
        .ok_or_else(|| ApiError::not_found("cannot be counted"))?;
    let field = match measure {
        Measure::Total => None,
        Measure::Group(f) => {
            declared(f, analytics.dimensions(), "field to group by")?;
            Some(f.to_owned())
        }
        Measure::Series { date, .. } => {
            declared(date, analytics.dates(), "date field")?;
            Some(date.to_owned())
        }
    };
    let query = ListQuery::parse_in(ctx, tx.org_id(), req.query_string())?;
    let buckets = analytics
        .measure(ctx, tx, tx.caller(), &query, measure)
        .await?;
    let total = match measure {
        Measure::Total => buckets.first().map_or(0, |b| b.count),
        _ => buckets.iter().map(|b| b.count).sum(),
    };
    Ok(Counts {
        entity,
        field,
        interval: interval.map(str::to_owned),
        total,
        buckets: match measure {
            Measure::Total => Vec::new(),
            _ => buckets,
        },
    })
}

/// How many entities of a type the caller sees, with the entity's list filters
/// (`filter[status]=done`, `search`, `tags`).
#[utoipa::path(tag = TAG, params(EntityParam), responses(
    (status = 200, body = Counts), (status = 400), (status = 401), (status = 403), (status = 404)))]
#[get("/analytics/count")]
pub(crate) async fn count(
    ctx: CellContext,
    tx: ReadAnalytics,
    req: HttpRequest,
    params: web::Query<EntityParam>,
) -> ApiResult<HttpResponse> {
    let counts = answer(
        &ctx,
        &tx,
        &req,
        params.into_inner().entity,
        Measure::Total,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(counts))
}

/// How many per value of a field (`field=status`), with the list filters.
#[utoipa::path(tag = TAG, params(GroupParams), responses(
    (status = 200, body = Counts), (status = 400), (status = 401), (status = 403), (status = 404)))]
#[get("/analytics/group")]
pub(crate) async fn group(
    ctx: CellContext,
    tx: ReadAnalytics,
    req: HttpRequest,
    params: web::Query<GroupParams>,
) -> ApiResult<HttpResponse> {
    let GroupParams { entity, field } = params.into_inner();
    let counts = answer(&ctx, &tx, &req, entity, Measure::Group(&field), None).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(counts))
}

/// How many per day, week or month of a date field (`date=created_at&interval=week`), with the
/// list filters (`filter[created_at.gte]=…` bounds the range).
#[utoipa::path(tag = TAG, params(SeriesParams), responses(
    (status = 200, body = Counts), (status = 400), (status = 401), (status = 403), (status = 404)))]
#[get("/analytics/timeseries")]
pub(crate) async fn timeseries(
    ctx: CellContext,
    tx: ReadAnalytics,
    req: HttpRequest,
    params: web::Query<SeriesParams>,
) -> ApiResult<HttpResponse> {
    let SeriesParams {
        entity,
        date,
        interval,
    } = params.into_inner();
    let name = interval.unwrap_or_else(|| "day".into());
    let interval = Interval::parse(&name)
        .ok_or_else(|| ApiError::invalid_query("`interval` is day, week or month"))?;
    let date = date.unwrap_or_else(|| "created_at".into());
    let measure = Measure::Series {
        date: &date,
        interval,
    };
    let counts = answer(&ctx, &tx, &req, entity, measure, Some(&name)).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(counts))
}

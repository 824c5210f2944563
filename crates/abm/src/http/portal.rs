//! The customer portal, `/app/*`: every query runs in the caller's customer org (the
//! [`Customer`] extractor's transaction), under row-level security on PostgreSQL.

use actix_web::{HttpResponse, get};
use chrono::{DateTime, Utc};
use kernel::{ApiResult, CellContext};
use serde::Serialize;
use uuid::Uuid;

use super::not_found;
use super::zone::Customer;

const TAG: &str = "app";

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(me).service(billing);
}

/// The signed-in customer user and their company.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub user_id: Uuid,
    pub email: Option<String>,
    /// Their role in the customer org, as the cell names it (`customer_admin`, ...).
    pub role: Option<String>,
    pub customer_company: CustomerCompany,
}

/// The customer org (the spec's CustomerCompany).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerCompany {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub plan_tier: String,
    /// `trial`, `active`, `past_due` or `cancelled`.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// The caller's profile and customer company.
#[utoipa::path(tag = TAG, responses((status = 200, body = Me), (status = 401), (status = 403)))]
#[get("/app/me")]
pub(crate) async fn me(ctx: CellContext, customer: Customer) -> ApiResult<HttpResponse> {
    let Customer { tx, account } = customer;
    let org = tenancy::organization(&tx)
        .await?
        .ok_or_else(|| not_found("customer company"))?;
    let (caller, tx) = tx.into_parts();
    tx.commit().await?;
    let email = kernel::identity::email(&ctx, caller.user_id).await?;
    Ok(HttpResponse::Ok().json(Me {
        user_id: caller.user_id,
        email,
        role: caller.role_name,
        customer_company: CustomerCompany {
            id: org.id,
            name: org.name,
            slug: org.slug,
            plan_tier: account.plan_tier,
            status: account.status,
            created_at: org.created_at,
        },
    }))
}

/// The subscription of the caller's company.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Billing {
    pub customer_company_id: Uuid,
    pub plan_tier: String,
    /// `trial`, `active`, `past_due` or `cancelled`.
    pub status: String,
    pub stripe_customer_id: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// The caller's company's plan, status and Stripe customer id.
#[utoipa::path(tag = TAG, responses((status = 200, body = Billing), (status = 401), (status = 403)))]
#[get("/app/billing")]
pub(crate) async fn billing(customer: Customer) -> ApiResult<HttpResponse> {
    let a = customer.account;
    Ok(HttpResponse::Ok().json(Billing {
        customer_company_id: a.org_id,
        plan_tier: a.plan_tier,
        status: a.status,
        stripe_customer_id: a.stripe_customer_id,
        updated_at: a.updated_at,
    }))
}

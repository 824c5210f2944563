//! The fullorbit-shaped cell the abm tests run (iam, tenancy, auth, abm under `/api`), and
//! real sign-in: users are stored with an argon2 hash and log in through auth's route.

use chrono::Utc;
use kernel::PlatformModule;
use kernel::sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::{Value, json};
use testkit::{TestApp, TestDb};
use uuid::Uuid;

use abm::store::entity::{contact, contact_identity, customer_account};

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const PASSWORD: &str = "Correct-horse-battery-9";

const TOML: &str = r#"
[cell.roles]
internal_admin = "admin"
internal_sales = "member"
customer_admin = "admin"
customer_member = "member"

[modules.iam]
[modules.tenancy]
[modules.auth]
[modules.abm]
route_prefix = "/api"
operator_org = "fullorbit"
engaged_threshold = 30
[[modules.abm.rules]]
event = "$pageview"
path = "/pricing*"
signal_type = "pricing_view"
service_lane = "Launch"
weight = 20
[[modules.abm.rules]]
event = "content_download"
signal_type = "content_download"
topic_property = "asset"
weight = 15
"#;

/// A running cell; on PostgreSQL it serves as a `NOBYPASSRLS` application role, so row-level
/// security binds every test.
pub struct Cell {
    pub app: TestApp,
    pub role: Option<testkit::AppRole>,
}

impl std::ops::Deref for Cell {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// A cell with abm's hook secret; jobs and event dispatch run only when a test asks.
pub async fn cell(db: &TestDb) -> anyhow::Result<Cell> {
    let role = match db.backend() {
        testkit::Backend::Postgres => Some(testkit::AppRole::create().await?),
        testkit::Backend::Sqlite => None,
    };
    let mut env = vec![
        ("CELL__MODULES__ABM__HOOK_SECRETS", SECRET),
        ("CELL__JOBS__RUN", "false"),
        ("CELL__EVENTS__DISPATCH", "false"),
        ("CELL__RATE_LIMIT__ENABLED", "false"),
    ];
    if let Some(r) = &role {
        env.push(("CELL__DATABASE__APP_ROLE", r.name()));
    }
    let config = testkit::cell_config_with_secrets(
        db,
        TOML,
        &env,
        &["modules.abm.hook_secrets".to_owned()],
    )?;
    let modules: Vec<Box<dyn PlatformModule>> = vec![
        Box::new(iam::Iam::default()),
        Box::new(tenancy::Tenancy::default()),
        Box::new(auth::Auth::default()),
        Box::new(abm::Abm::default()),
    ];
    Ok(Cell {
        app: TestApp::start(config, modules).await?,
        role,
    })
}

/// The operator org of a started cell.
pub fn operator(app: &TestApp) -> anyhow::Result<Uuid> {
    abm::operator_org(&app.ctx).ok_or_else(|| anyhow::anyhow!("no operator org"))
}

/// A signed-in user.
pub struct User {
    pub id: Uuid,
    pub token: String,
}

/// Stores a user, makes them `role` in `org`, and signs them in (their only org is active).
pub async fn user(app: &TestApp, email: &str, org: Uuid, role: &str) -> anyhow::Result<User> {
    let hash = auth::password::hash(PASSWORD)?;
    let row = auth::new_user(email, hash, None, None, true)
        .insert(app.ctx.db().conn())
        .await?;
    let tx = app.ctx.db().tenant(org).await?;
    tenancy::add_member(&app.ctx, &tx, row.id, role)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    tx.commit().await?;
    let token = login(app, email).await?;
    Ok(User { id: row.id, token })
}

/// An access token for `email` (active org: their first).
pub async fn login(app: &TestApp, email: &str) -> anyhow::Result<String> {
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await?;
    anyhow::ensure!(status == 200, "login of {email}: {status} {body}");
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no access token: {body}"))
}

/// A customer org with its account, made the way conversion makes it (without a prospect).
pub async fn customer(app: &TestApp, name: &str, plan: &str) -> anyhow::Result<Uuid> {
    let org = Uuid::now_v7();
    let tx = app.ctx.db().tenant(org).await?;
    tenancy::create_organization_without_members(
        &tx,
        tenancy::NewOrganization {
            name: name.into(),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    let now = Utc::now();
    tx.repo::<customer_account::Entity>()
        .insert(customer_account::ActiveModel {
            org_id: Set(org),
            prospect_company_id: Set(Uuid::now_v7()),
            plan_tier: Set(plan.into()),
            stripe_customer_id: Set(Some(format!("cus_{}", &name.to_lowercase()))),
            status: Set("active".into()),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .await?;
    tx.commit().await?;
    Ok(org)
}

/// `GET`, `POST`, `PATCH`, `DELETE` with a bearer token.
pub async fn get(app: &TestApp, path: &str, token: &str) -> anyhow::Result<(u16, Value)> {
    app.get(path, Some(token)).await
}

pub async fn post(
    app: &TestApp,
    path: &str,
    token: &str,
    body: Value,
) -> anyhow::Result<(u16, Value)> {
    app.post(path, Some(token), body).await
}

pub async fn patch(
    app: &TestApp,
    path: &str,
    token: &str,
    body: Value,
) -> anyhow::Result<(u16, Value)> {
    app.patch(path, Some(token), body).await
}

pub async fn delete(app: &TestApp, path: &str, token: &str) -> anyhow::Result<(u16, Value)> {
    app.delete(path, Some(token)).await
}

/// A contact of `company` (in the operator org of `tx`).
pub(crate) async fn add_contact(
    tx: &kernel::TenantTx,
    company: Uuid,
    email: &str,
) -> anyhow::Result<Uuid> {
    let (id, now) = (Uuid::now_v7(), Utc::now());
    tx.repo::<contact::Entity>()
        .insert(contact::ActiveModel {
            id: Set(id),
            org_id: Set(tx.org_id()),
            prospect_company_id: Set(company),
            email: Set(email.into()),
            first_name: Set(None),
            last_name: Set(None),
            title: Set(None),
            status: Set("new".into()),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .await?;
    Ok(id)
}

/// An identity (`posthog_distinct_id`, `email`…) of `contact`.
pub(crate) async fn add_identity(
    tx: &kernel::TenantTx,
    contact: Uuid,
    kind: &str,
    value: &str,
) -> anyhow::Result<()> {
    tx.repo::<contact_identity::Entity>()
        .insert(contact_identity::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            contact_id: Set(contact),
            identity_type: Set(kind.into()),
            identity_value: Set(value.into()),
            created_at: Set(Utc::now()),
        })
        .await?;
    Ok(())
}

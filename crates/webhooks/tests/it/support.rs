//! A cell of iam, tenancy, auth, the template module and webhooks; a receiver process; the
//! dispatcher and the job queue driven by the test.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
pub use testcell::{Cell, org, user};
use testkit::TestDb;

/// A cell whose webhooks may reach loopback (the receiver), or not (`private: false`: the
/// production default).
pub async fn cell(db: &TestDb, private: bool) -> anyhow::Result<Cell> {
    let toml = format!(
        "[modules.iam]\n[modules.tenancy]\n[modules.auth]\n[modules.template]\n[modules.webhooks]\nallow_private_targets = {private}\n"
    );
    testcell::start(
        db,
        &toml,
        vec![
            Box::new(template::Template::default()),
            Box::new(webhooks::Webhooks::default()),
        ],
    )
    .await
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

/// The test clock: makes every waiting delivery job due now (as if its retry time had come).
pub async fn advance_clock(cell: &Cell) -> anyhow::Result<()> {
    sql(
        cell,
        "UPDATE kernel_jobs SET next_attempt_ms = 0 WHERE name = 'webhooks.deliver' AND status = 'pending'",
    )
    .await?;
    Ok(())
}

/// Runs one statement as the system (what the test sees of the database).
pub async fn sql(cell: &Cell, statement: &str) -> anyhow::Result<u64> {
    use kernel::sea_orm::ConnectionTrait;
    let db = cell.ctx.db().system();
    Ok(db
        .conn()
        .execute_unprepared(statement)
        .await?
        .rows_affected())
}

/// Runs one statement in `org`'s transaction (row security binds the module's tables on
/// PostgreSQL): a change behind the API's back.
pub async fn sql_in(cell: &Cell, org: uuid::Uuid, statement: &str) -> anyhow::Result<u64> {
    use kernel::sea_orm::ConnectionTrait;
    let tx = cell.ctx.db().tenant(org).await?;
    let n = tx
        .unscoped()
        .execute_unprepared(statement)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(n)
}

/// When the job of a delivery is next due (ms since the epoch).
pub async fn job_due_ms(cell: &Cell, delivery: &str) -> anyhow::Result<Option<i64>> {
    use kernel::sea_orm::ConnectionTrait;
    let db = cell.ctx.db().system();
    let row = db
        .conn()
        .query_one_raw(kernel::sea_orm::Statement::from_sql_and_values(
            db.backend(),
            "SELECT max(next_attempt_ms) AS due FROM kernel_jobs WHERE name = 'webhooks.deliver' AND status = 'pending' AND payload LIKE $1",
            [format!("%{delivery}%").into()],
        ))
        .await?;
    Ok(row.and_then(|r| r.try_get::<Option<i64>>("", "due").ok().flatten()))
}

/// An item, which publishes `template.item.created`.
pub async fn item(cell: &Cell, token: &str, name: &str) -> anyhow::Result<Value> {
    let (status, body) = cell
        .post("/api/v1/items", Some(token), json!({ "name": name }))
        .await?;
    anyhow::ensure!(status == 201, "item: {status} {body}");
    Ok(body)
}

/// The receiver process (`receiver.py`), killed when dropped.
pub struct Receiver {
    child: Child,
    pub port: u16,
    client: reqwest::Client,
}

impl Receiver {
    pub fn start() -> anyhow::Result<Self> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/receiver.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let port = line.trim().parse().map_err(|_| {
            anyhow::anyhow!(
                "the receiver did not start (is `standardwebhooks` installed? pip install standardwebhooks): {line:?}"
            )
        })?;
        Ok(Self {
            child,
            port,
            client: reqwest::Client::new(),
        })
    }

    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }

    /// How `name` verifies (with each of `secrets`) and what it answers once verified.
    pub async fn configure(&self, name: &str, secrets: &[&str], status: u16) -> anyhow::Result<()> {
        self.client
            .put(self.url(&format!("_config/{name}")))
            .json(&json!({ "secrets": secrets, "status": status }))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// Every request `name` received, oldest first.
    pub async fn log(&self, name: &str) -> anyhow::Result<Vec<Value>> {
        Ok(self
            .client
            .get(self.url(&format!("_log/{name}")))
            .send()
            .await?
            .json()
            .await?)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

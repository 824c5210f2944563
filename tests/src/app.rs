//! A cell started in this process on port 0, with a JSON client: what module integration tests
//! drive over real HTTP.

use std::collections::BTreeMap;

use kernel::config::Sources;
use kernel::module::PlatformModule;
use kernel::{Application, CellConfig, CellContext};

use crate::TestDb;

/// The configuration of a test cell on `db`: `toml` after `[cell]`, port 0, one worker, the
/// test database's data directory, and `env` as environment variables.
pub fn cell_config(db: &TestDb, toml: &str, env: &[(&str, &str)]) -> anyhow::Result<CellConfig> {
    cell_config_with_secrets(db, toml, env, &[])
}

/// [`cell_config`] for modules that declare environment-only settings (`modules.auth.jwt_secret`).
pub fn cell_config_with_secrets(
    db: &TestDb,
    toml: &str,
    env: &[(&str, &str)],
    secrets: &[String],
) -> anyhow::Result<CellConfig> {
    let mut vars = BTreeMap::new();
    vars.insert("CELL__DATABASE__URL".to_owned(), db.url().to_owned());
    for (k, v) in env {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    let sources = Sources {
        file: Some((
            format!("[cell]\nname = \"test\"\n{toml}"),
            "test.toml".into(),
        )),
        env: Some(vars),
        overrides: vec![
            ("http.port".into(), "0".into()),
            ("http.workers".into(), "1".into()),
            ("cell.data_dir".into(), db.data_dir().display().to_string()),
        ],
    };
    let keys = kernel::config::ModuleKeys {
        secret: secrets.to_vec(),
        ..Default::default()
    };
    Ok(CellConfig::load(&sources, &keys)?)
}

/// A running cell and a client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub ctx: CellContext,
}

impl TestApp {
    /// Builds (migrations, `on_ready`) and serves `modules` with `config` until the test ends.
    pub async fn start(
        config: CellConfig,
        modules: Vec<Box<dyn PlatformModule>>,
    ) -> anyhow::Result<Self> {
        let app = Application::build(config, modules).await?;
        let base = format!("http://127.0.0.1:{}", app.port());
        let ctx = app.context().clone();
        tokio::spawn(app.run_until_stopped());
        Ok(Self {
            base,
            client: reqwest::Client::new(),
            ctx,
        })
    }

    /// Payloads of the events named `name` the cell published (any org), oldest first.
    pub async fn events(&self, name: &str) -> anyhow::Result<Vec<serde_json::Value>> {
        use sea_orm::ConnectionTrait;
        let db = self.ctx.db().system();
        let rows = db
            .conn()
            .query_all_raw(sea_orm::Statement::from_sql_and_values(
                db.backend(),
                "SELECT payload FROM kernel_events WHERE name = $1 ORDER BY id",
                [name.into()],
            ))
            .await?;
        rows.iter()
            .map(|r| Ok(serde_json::from_str(&r.try_get::<String>("", "payload")?)?))
            .collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request with an optional bearer token and JSON body; returns status and JSON
    /// body (`null` when empty or not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let res = self.send(method, path, token, body).await?;
        let status = res.status().as_u16();
        let bytes = res.bytes().await?;
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Ok((status, json))
    }

    /// A request timed to the last byte of its answer (reading its JSON is not timed): what the
    /// benchmarks measure. The time, the status and the JSON (`null` when not JSON).
    pub async fn timed(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<(std::time::Duration, u16, serde_json::Value)> {
        let started = std::time::Instant::now();
        let res = self.send(method, path, Some(token), body).await?;
        let status = res.status().as_u16();
        let bytes = res.bytes().await?;
        let took = started.elapsed();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Ok((took, status, json))
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Ok(req.send().await?)
    }

    pub async fn get(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: serde_json::Value,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn patch(
        &self,
        path: &str,
        token: Option<&str>,
        body: serde_json::Value,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        self.call(reqwest::Method::PATCH, path, token, Some(body))
            .await
    }

    pub async fn delete(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        self.call(reqwest::Method::DELETE, path, token, None).await
    }
}

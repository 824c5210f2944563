#![doc = include_str!("../README.md")]

pub mod app;
pub mod bench;
pub mod replica;
pub use app::{TestApp, cell_config, cell_config_with_secrets};

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use sea_orm::{ConnectionTrait, Database};

/// The PostgreSQL server the tests use: `TEST_DATABASE_URL`, else the local default.
/// The S3-compatible test server (moto, started by scripts/services.sh): `TEST_AWS_ENDPOINT`,
/// by default `http://127.0.0.1:5055`.
pub fn aws_endpoint() -> String {
    std::env::var("TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5055".into())
}

/// A fresh bucket on the S3-compatible test server, named `<prefix>-<uuid>`.
pub async fn s3_bucket(prefix: &str) -> anyhow::Result<String> {
    let name = format!("{prefix}-{}", uuid::Uuid::now_v7().simple());
    let res = reqwest::Client::new()
        .put(format!("{}/{name}", aws_endpoint()))
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "the S3 test server at {} is unreachable ({e}); scripts/services.sh starts it",
                aws_endpoint()
            )
        })?;
    anyhow::ensure!(res.status().is_success(), "create bucket: {}", res.status());
    Ok(name)
}

/// Waits until `check` holds, polling every 50 ms for up to 20 s. An error counts as "not yet"
/// (a database still being created, a replica still replaying); the last one is reported.
pub async fn eventually(
    what: &str,
    mut check: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let mut last = None;
    for _ in 0..400 {
        match check().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    match last {
        Some(e) => Err(e.context(format!("timed out waiting until {what}"))),
        None => anyhow::bail!("timed out waiting until {what}"),
    }
}

/// The first column of the one row `sql` returns (PostgreSQL), on any connection.
pub async fn scalar<T: sea_orm::TryGetable>(
    conn: &impl ConnectionTrait,
    sql: &str,
) -> anyhow::Result<T> {
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            sql,
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row: {sql}"))?;
    Ok(row.try_get_by_index(0)?)
}

pub fn postgres_server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database for one test, removed when dropped.
#[derive(Debug)]
pub struct TestDb {
    backend: Backend,
    url: String,
    dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres().await,
        }
    }

    /// A SQLite file in a temporary directory.
    pub fn sqlite() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
        Ok(Self {
            backend: Backend::Sqlite,
            url,
            dir,
            pg: None,
        })
    }

    /// A new database on the test PostgreSQL server, named `t_<uuid>`.
    pub async fn postgres() -> anyhow::Result<Self> {
        let server = postgres_server_url();
        let admin = Database::connect(server.as_str()).await.with_context(|| {
            format!(
                "cannot reach the test PostgreSQL server at {}; start it or set TEST_DATABASE_URL (scripts/test.sh does both)",
                redact(&server)
            )
        })?;
        let name = format!("t_{}", uuid::Uuid::now_v7().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await?;
        admin.close().await?;
        let mut url = url::Url::parse(&server)?;
        url.set_path(&format!("/{name}"));
        Ok(Self {
            backend: Backend::Postgres,
            url: url.to_string(),
            dir: tempfile::tempdir()?,
            pg: Some((server, name)),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A scratch directory that lives as long as the database (the cell's `data_dir`).
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Drops the PostgreSQL database now (terminating its connections); a no-op on SQLite.
    pub async fn drop_now(&mut self) -> anyhow::Result<()> {
        if let Some((server, name)) = self.pg.take() {
            drop_pg(&server, &name).await?;
        }
        Ok(())
    }
}

async fn drop_pg(server: &str, name: &str) -> anyhow::Result<()> {
    let admin = Database::connect(server).await?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await?;
    admin.close().await?;
    Ok(())
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((server, name)) = self.pg.take() {
            // Drop runs inside or outside a runtime; a thread with its own runtime works in both.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    let _ = rt.block_on(drop_pg(&server, &name));
                }
            })
            .join();
        }
    }
}

fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("REDACTED"));
            }
            u.to_string()
        }
        Err(_) => "[unparseable url]".into(),
    }
}

/// Declares one async test that runs twice, on SQLite and on PostgreSQL:
/// `db_test!(async fn name(db) { … Ok(()) });` gives `name::sqlite` and `name::postgres`.
/// The body gets a fresh [`TestDb`] and returns `anyhow::Result<()>`.
#[macro_export]
macro_rules! db_test {
    ($(#[$meta:meta])* async fn $name:ident($db:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($db: $crate::TestDb) -> ::anyhow::Result<()> $body

            $(#[$meta])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() -> ::anyhow::Result<()> {
                run($crate::TestDb::new($crate::Backend::Sqlite).await?).await
            }

            $(#[$meta])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> ::anyhow::Result<()> {
                run($crate::TestDb::new($crate::Backend::Postgres).await?).await
            }
        }
    };
}

/// A cell binary running as a child process, for black-box tests. Killed when dropped.
#[derive(Debug)]
pub struct CellProcess {
    child: Child,
    pub base_url: String,
    output: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl CellProcess {
    /// Starts `bin serve --port 0` with JSON logs and waits for its `listening` line, which
    /// carries the bound address (no sleeping, no port races).
    pub fn start(bin: &str, args: &[&str], envs: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .args(["serve", "--port", "0"])
            .env("CELL__TELEMETRY__LOG_FORMAT", "json")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().with_context(|| format!("cannot start {bin}"))?;
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            let out = output.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Ok(mut o) = out.lock() {
                        o.push_str(&line);
                        o.push('\n');
                    }
                    if let Some(addr) = listening_address(&line) {
                        let _ = tx.send(addr);
                    }
                }
            }));
        }
        if let Some(stderr) = child.stderr.take() {
            let out = output.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(mut o) = out.lock() {
                        o.push_str(&line);
                        o.push('\n');
                    }
                }
            }));
        }
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => Ok(Self {
                child,
                base_url: format!("http://{addr}"),
                output,
                readers,
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let out = output.lock().map(|o| o.clone()).unwrap_or_default();
                anyhow::bail!("the cell did not start listening within 60s; its output:\n{out}")
            }
        }
    }

    /// Everything the process printed so far (stdout and stderr); lines may still be in flight.
    /// For a complete record, use [`CellProcess::stop`].
    pub fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(self) -> anyhow::Result<std::process::ExitStatus> {
        Ok(self.stop("TERM")?.0)
    }

    /// Sends `signal` (`TERM`, `KILL`, …), waits for the exit, and returns the status with the
    /// complete output (both pipes drained to their end).
    pub fn stop(mut self, signal: &str) -> anyhow::Result<(std::process::ExitStatus, String)> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()?;
        anyhow::ensure!(sent.success(), "kill -{signal} {pid} failed");
        let mut status = None;
        for _ in 0..600 {
            if let Some(s) = self.child.try_wait()? {
                status = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = status
            .ok_or_else(|| anyhow::anyhow!("the cell did not exit within 30s of SIG{signal}"))?;
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Ok((status, self.output()))
    }
}

impl Drop for CellProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listening_address(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = v.get("fields")?;
    if fields.get("message")?.as_str()? != "listening" {
        return None;
    }
    fields.get("address")?.as_str().map(str::to_owned)
}

/// Runs a cell command with `input` on its standard input (passwords for `users create`).
pub fn run_cell_with_stdin(
    bin: &str,
    args: &[&str],
    envs: &[(&str, &str)],
    input: &str,
) -> anyhow::Result<std::process::Output> {
    use std::io::Write;
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes())?;
    }
    Ok(child.wait_with_output()?)
}

/// Runs a cell binary to completion (for `check-config`, `openapi`, start-up refusals).
pub fn run_cell(
    bin: &str,
    args: &[&str],
    envs: &[(&str, &str)],
) -> anyhow::Result<std::process::Output> {
    let mut cmd = Command::new(bin);
    cmd.args(args).env_remove("RUST_LOG");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    Ok(cmd.output()?)
}

/// Waits (up to 6 s) until something accepts TCP connections on 127.0.0.1:`port`, for test
/// servers started as child processes.
pub fn wait_for_port(port: u16) -> anyhow::Result<()> {
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    anyhow::bail!("nothing is listening on 127.0.0.1:{port}")
}

/// A PostgreSQL role for one test to serve a cell as (`database.app_role`): `cell_app_<uuid>`,
/// `NOLOGIN NOSUPERUSER NOBYPASSRLS`, on the test server. Dropped when this value is dropped;
/// declare it before the [`TestDb`] whose cell uses it, so the database (and the role's grants
/// in it) goes first. A role that cannot be dropped yet is harmless to leave.
#[derive(Debug)]
pub struct AppRole {
    name: String,
}

impl AppRole {
    pub async fn create() -> anyhow::Result<Self> {
        let name = format!("cell_app_{}", uuid::Uuid::now_v7().simple());
        let admin = Database::connect(postgres_server_url().as_str()).await?;
        admin
            .execute_unprepared(&format!(
                "CREATE ROLE {name} NOLOGIN NOSUPERUSER NOBYPASSRLS"
            ))
            .await?;
        admin.close().await?;
        Ok(Self { name })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for AppRole {
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.name);
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(async {
                    let admin = Database::connect(postgres_server_url().as_str()).await?;
                    admin
                        .execute_unprepared(&format!("DROP ROLE IF EXISTS {name}"))
                        .await?;
                    admin.close().await?;
                    anyhow::Ok(())
                });
            }
        })
        .join();
    }
}

/// Checks, on the PostgreSQL database at `db_url` (connected as its owner or a superuser), what
/// DESIGN.md requires of tenant tables, for every table of the current schema that has an
/// `org_id` column, so tables added later are covered when their crates call this after starting
/// a cell with `database.app_role = app_role`:
///
/// - row-level security is enabled and forced on each;
/// - `app_role` is no superuser, has no BYPASSRLS, and owns no table;
/// - acting as `app_role` with no org context, each table shows zero rows.
///
/// Returns each checked table with the number of rows its owner sees, so a test can also check
/// that it seeded the tables it meant to.
pub async fn assert_rls_everywhere(
    db_url: &str,
    app_role: &str,
) -> anyhow::Result<Vec<(String, i64)>> {
    use sea_orm::{ConnectOptions, DbBackend, Statement};
    anyhow::ensure!(
        app_role
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "`{app_role}` is not a plain role name"
    );
    let owner = Database::connect(db_url).await?;
    let pg = |sql: &str, values: Vec<sea_orm::Value>| {
        Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
    };
    let tables = owner
        .query_all_raw(pg(
            "SELECT c.relname::text AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
               AND a.attname = 'org_id' AND NOT a.attisdropped \
             ORDER BY 1",
            vec![],
        ))
        .await?;
    anyhow::ensure!(!tables.is_empty(), "no table has an org_id column");
    let mut names = Vec::new();
    let mut unprotected = Vec::new();
    for t in &tables {
        let name: String = t.try_get("", "name")?;
        if !(t.try_get::<bool>("", "rls")? && t.try_get::<bool>("", "forced")?) {
            unprotected.push(name.clone());
        }
        names.push(name);
    }
    anyhow::ensure!(
        unprotected.is_empty(),
        "tables with org_id but without row-level security enabled and forced: {unprotected:?}"
    );

    let role = owner
        .query_one_raw(pg(
            "SELECT rolsuper, rolbypassrls, \
               (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid) AS owned \
             FROM pg_roles r WHERE rolname = $1",
            vec![app_role.into()],
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("role {app_role} does not exist"))?;
    anyhow::ensure!(
        !role.try_get::<bool>("", "rolsuper")?,
        "{app_role} is a superuser"
    );
    anyhow::ensure!(
        !role.try_get::<bool>("", "rolbypassrls")?,
        "{app_role} has BYPASSRLS"
    );
    let owned: i64 = role.try_get("", "owned")?;
    anyhow::ensure!(owned == 0, "{app_role} owns {owned} relations");

    let mut counts = Vec::new();
    for name in &names {
        let n = owner
            .query_one_raw(pg(&format!("SELECT count(*) AS n FROM \"{name}\""), vec![]))
            .await?
            .map(|r| r.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0);
        counts.push((name.clone(), n));
    }
    owner.close().await?;

    let mut opts = ConnectOptions::new(db_url.to_owned());
    let as_role = app_role.to_owned();
    opts.max_connections(1)
        .sqlx_logging(false)
        .map_sqlx_postgres_opts(move |o| o.options([("role", as_role.as_str())]));
    let app = Database::connect(opts).await?;
    let mut visible = Vec::new();
    for name in &names {
        let n = app
            .query_one_raw(pg(&format!("SELECT count(*) AS n FROM \"{name}\""), vec![]))
            .await
            .with_context(|| format!("{app_role} cannot read {name}"))?
            .map(|r| r.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0);
        if n != 0 {
            visible.push((name.clone(), n));
        }
    }
    let whoami = app
        .query_one_raw(pg("SELECT current_user::text AS me", vec![]))
        .await?
        .map(|r| r.try_get::<String>("", "me"))
        .transpose()?;
    app.close().await?;
    anyhow::ensure!(
        whoami.as_deref() == Some(app_role),
        "the check ran as {whoami:?}, not {app_role}"
    );
    anyhow::ensure!(
        visible.is_empty(),
        "{app_role} sees rows without an org context: {visible:?}"
    );
    Ok(counts)
}

/// How every operation of a running cell's OpenAPI document lets callers in: one line per
/// operation, `METHOD /path  access`, sorted, where access is the `x-cell-access` header the
/// route's handler declared (the cell must run with `http.expose_access = true`). Each
/// operation is called once without credentials (path parameters a nil UUID, bodies `{}`):
/// markers record themselves when the handler's extractors are built, so a refused call still
/// tells. An operation whose answer has no header is listed with `NONE`.
pub async fn route_access(cell: &CellProcess) -> anyhow::Result<Vec<String>> {
    let http = reqwest::Client::new();
    let spec: serde_json::Value = http
        .get(cell.url("/api-docs/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    let paths = spec["paths"]
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("the document has no paths"))?;
    let mut lines = Vec::new();
    for (path, item) in paths {
        let concrete = path_with_ids(path);
        let Some(ops) = item.as_object() else {
            continue;
        };
        for method in ops.keys() {
            let Ok(m) = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            if !matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                continue;
            }
            let mut req = http.request(m.clone(), cell.url(&concrete));
            if matches!(method.as_str(), "post" | "put" | "patch") {
                req = req.json(&serde_json::json!({}));
            }
            let res = req.send().await?;
            let access = res
                .headers()
                .get("x-cell-access")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("NONE")
                .to_owned();
            lines.push(format!("{:<7}{path}  {access}", m.as_str()));
        }
    }
    lines.sort();
    Ok(lines)
}

/// `/a/{id}/b` with every `{param}` a nil UUID.
fn path_with_ids(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => {
                out.push_str("00000000-0000-0000-0000-000000000000");
                rest = &rest[open + close + 1..];
            }
            None => {
                rest = &rest[open..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Checks a cell's route-access table: no operation without a marker, and the table equal to
/// the committed `docs/access/<cell>.txt` (so a change of who may call what shows in review).
/// With `UPDATE_DOCS=1` the file is rewritten instead of compared.
pub fn assert_access_documented(cell: &str, lines: &[String]) -> anyhow::Result<()> {
    let unmarked: Vec<&String> = lines.iter().filter(|l| l.ends_with("NONE")).collect();
    anyhow::ensure!(
        unmarked.is_empty(),
        "routes whose handler declares no way in (Scoped, SignedIn, Public, Signed, Operator):\n{}",
        unmarked
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let table = format!(
        "# Who may call each route of the {cell} cell (generated by its route-walk test; \
         UPDATE_DOCS=1 rewrites it).\n{}\n",
        lines.join("\n")
    );
    committed_doc(&format!("access/{cell}.txt"), &table)
}

/// Checks that the OpenAPI document the running `cell` serves is the committed
/// `docs/openapi/<name>.json`, so every API change shows in review. `UPDATE_DOCS=1` rewrites it.
pub async fn assert_openapi_documented(name: &str, cell: &CellProcess) -> anyhow::Result<()> {
    let spec: serde_json::Value = reqwest::get(cell.url("/api-docs/openapi.json"))
        .await?
        .json()
        .await?;
    committed_doc(
        &format!("openapi/{name}.json"),
        &format!("{}\n", serde_json::to_string_pretty(&spec)?),
    )
}

/// `docs/<path>` must hold `content` (with `UPDATE_DOCS=1`: is rewritten to it).
fn committed_doc(path: &str, content: &str) -> anyhow::Result<()> {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs")
        .join(path);
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::create_dir_all(file.parent().unwrap_or(&file))?;
        std::fs::write(&file, content)?;
        return Ok(());
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    if committed == content {
        return Ok(());
    }
    // The first line that differs, not the whole (possibly large) file.
    let (line, (now, was)) = content
        .lines()
        .zip(committed.lines().chain(std::iter::repeat("")))
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .unwrap_or((committed.lines().count(), ("", "(longer than the output)")));
    anyhow::bail!(
        "{} is stale: rerun the test with UPDATE_DOCS=1 and review the diff. First difference, \
         line {}:\n  committed: {was}\n  now:       {now}",
        file.display(),
        line + 1
    )
}

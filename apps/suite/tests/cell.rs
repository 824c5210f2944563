//! Black-box tests of the suite cell: the real binary, started on a temporary data directory,
//! spoken to over real HTTP.

use testkit::{CellProcess, TestDb, run_cell, run_cell_with_stdin};

const BIN: &str = env!("CARGO_BIN_EXE_suite");

fn data_dir_arg(dir: &tempfile::TempDir) -> String {
    format!("cell.data_dir={}", dir.path().display())
}

#[tokio::test]
async fn serves_health_docs_and_the_envelope_then_stops_gracefully() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let set = data_dir_arg(&dir);
    let cell = CellProcess::start(BIN, &["--set", &set], &[])?;
    let http = reqwest::Client::new();
    // The start-up line says where to go first.
    let docs = format!("\"docs\":\"{}/api-docs/\"", cell.base_url);
    assert!(
        cell.output().contains(&docs),
        "{docs} in:\n{}",
        cell.output()
    );

    let live = http.get(cell.url("/health/live")).send().await?;
    assert_eq!(live.status(), 200);
    let ready: serde_json::Value = http
        .get(cell.url("/health/ready"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(ready["checks"]["database"], "ok", "{ready}");
    assert!(
        dir.path().join("suite.db").exists(),
        "the SQLite default was not created on first run"
    );

    let docs = http.get(cell.url("/api-docs/")).send().await?;
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await?.contains("swagger-ui"));
    let spec: serde_json::Value = http
        .get(cell.url("/api-docs/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(spec["openapi"], "3.1.0");
    assert_eq!(spec["info"]["title"], "suite cell API");
    for path in ["/health/ready", "/metrics", "/.well-known/jwks.json"] {
        assert!(
            spec["paths"][path]["get"].is_object(),
            "{path} is documented"
        );
    }
    // Operation ids are unique (generated clients name their methods after them).
    let mut ids: Vec<&str> = spec["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
        .flat_map(|item| item.as_object().into_iter().flat_map(|ops| ops.values()))
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let all = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert!(
        all > 300 && ids.len() == all,
        "{} duplicate operation ids",
        all - ids.len()
    );
    // Every schema a `$ref` names is in the document.
    let text = spec.to_string();
    let missing: Vec<&str> = text
        .split("\"#/components/schemas/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|name| spec["components"]["schemas"][*name].is_null())
        .collect();
    assert!(missing.is_empty(), "unresolved $refs: {missing:?}");
    // Tags grouped by module: identity first, product modules, the kernel's (admin) last.
    let tags: Vec<&str> = spec["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect();
    let at = |tag: &str| tags.iter().position(|t| *t == tag).unwrap_or(usize::MAX);
    assert!(
        at("auth") < at("organizations")
            && at("organizations") < at("permissions")
            && at("permissions") < at("tasks")
            && at("tasks") < at("admin")
            && tags.last() == Some(&"admin"),
        "{tags:?}"
    );

    let missing = http
        .get(cell.url("/api/v1/does-not-exist"))
        .header("x-request-id", "blackbox-1")
        .send()
        .await?;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("blackbox-1")
    );
    assert_eq!(
        missing
            .headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    let body: serde_json::Value = missing.json().await?;
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["request_id"], "blackbox-1");

    let metrics = http.get(cell.url("/metrics")).send().await?.text().await?;
    assert!(metrics.contains("http_requests_total"), "{metrics}");

    let status = cell.terminate()?;
    assert!(status.success(), "exit status {status:?}");
    Ok(())
}

#[tokio::test]
async fn logs_carry_request_ids_and_never_secrets() -> anyhow::Result<()> {
    let db = TestDb::postgres().await?;
    // The server trusts local connections, so the password is accepted and ignored: it only
    // has to stay out of the logs.
    let mut url = url::Url::parse(db.url())?;
    url.set_password(Some("hunter2-db-password"))
        .map_err(|()| anyhow::anyhow!("cannot set a password on {url}"))?;
    let dir = tempfile::tempdir()?;
    let set = data_dir_arg(&dir);
    let secret = "cell-secret-key-that-must-never-be-logged-0123456789";
    let cell = CellProcess::start(
        BIN,
        &["--set", &set],
        &[
            ("CELL__DATABASE__URL", url.as_str()),
            ("CELL__CELL__SECRET_KEY", secret),
        ],
    )?;
    let http = reqwest::Client::new();
    let res = http
        .get(cell.url("/health/ready"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await?;
    assert_eq!(res.status(), 200);
    let res = http
        .get(cell.url("/nope"))
        .header("x-request-id", "trace-me-43")
        .send()
        .await?;
    assert_eq!(res.status(), 404);
    let (_, output) = cell.stop("TERM")?;

    assert!(
        !output.contains("hunter2-db-password"),
        "the database password was logged:\n{output}"
    );
    assert!(
        !output.contains(secret),
        "the cell secret was logged:\n{output}"
    );
    // JSON logs in which every line of a request carries its id.
    let lines: Vec<serde_json::Value> = output
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(!lines.is_empty(), "{output}");
    let of_request: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["span"]["request_id"] == "trace-me-43")
        .collect();
    assert!(
        !of_request.is_empty(),
        "no log line carries the request id:\n{output}"
    );
    assert!(
        of_request.iter().any(|l| l["fields"]["status"] == 404),
        "{output}"
    );
    Ok(())
}

#[test]
fn production_mode_refuses_development_defaults() -> anyhow::Result<()> {
    let prod = [("CELL__CELL__MODE", "production")];
    let out = run_cell(BIN, &["serve"], &prod)?;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    // Every missing setting at once, not one per run: the kernel's and the modules' (abm cannot
    // take a PostHog event without its hook secret).
    assert!(
        err.contains("production")
            && err.contains("5 settings")
            && [
                "CELL__DATABASE__URL",
                "CELL__CELL__SECRET_KEY",
                "CELL__DATABASE__APP_ROLE",
                "CELL__HTTP__PUBLIC_URL",
                "CELL__MODULES__ABM__HOOK_SECRETS"
            ]
            .iter()
            .all(|v| err.contains(v)),
        "{err}"
    );

    let out = run_cell(
        BIN,
        &["check-config"],
        &[
            ("CELL__CELL__MODE", "production"),
            ("CELL__DATABASE__URL", "postgres://app@db/cell"),
        ],
    )?;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CELL__CELL__SECRET_KEY"), "{err}");
    Ok(())
}

#[test]
fn configuration_mistakes_stop_start_up_with_a_clear_message() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let toml = dir.path().join("cell.toml");
    std::fs::write(&toml, "[cell]\nname = \"suite\"\n[modules.engagements]\n")?;
    let path = toml.display().to_string();
    let out = run_cell(BIN, &["--config", &path, "check-config"], &[])?;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`engagements`") && err.contains("not linked"),
        "{err}"
    );

    let out = run_cell(
        BIN,
        &["--set", "database.url=postgres://u:p@h/db", "check-config"],
        &[],
    )?;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CELL__DATABASE__URL") && err.contains("command-line"),
        "{err}"
    );

    let out = run_cell(BIN, &["check-config"], &[("CELL__HTTP__PROT", "1")])?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("prot"));
    Ok(())
}

#[test]
fn cli_commands_report_modules_config_spec_and_migrations() -> anyhow::Result<()> {
    let out = run_cell(BIN, &["modules"], &[])?;
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("kernel 0.1.0"));

    let out = run_cell(
        BIN,
        &["--port", "9123", "check-config"],
        &[(
            "CELL__CELL__SECRET_KEY",
            "a-secret-that-check-config-must-hide",
        )],
    )?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("http = 127.0.0.1:9123"), "{text}");
    assert!(
        text.contains("cell.secret_key = [REDACTED]") && !text.contains("a-secret-that"),
        "{text}"
    );
    assert!(text.contains("configuration is valid"));

    let out = run_cell(BIN, &["openapi"], &[])?;
    assert!(out.status.success());
    let spec: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(spec["openapi"], "3.1.0");

    let dir = tempfile::tempdir()?;
    let set = data_dir_arg(&dir);
    let out = run_cell(BIN, &["--set", &set, "migrate", "up"], &[])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("applied kernel kernel_m20261121_000001_events"),
        "{text}"
    );
    let out = run_cell(BIN, &["--set", &set, "migrate", "up"], &[])?;
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 migration(s) applied"));
    let out = run_cell(BIN, &["--set", &set, "migrate", "status"], &[])?;
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("kernel kernel_m20261121_000001_events applied"),
        "{text}"
    );

    let out = run_cell(BIN, &["--set", &set, "events", "dead"], &[])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 parked deliveries"));
    let out = run_cell(BIN, &["--set", &set, "events", "replay", "--all"], &[])?;
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 deliveries requeued"));
    Ok(())
}

/// What the receiver saw of one export: path, content type, body length.
type Export = (String, String, usize);

/// A minimal OTLP/HTTP receiver: records each POST it gets.
fn otlp_receiver() -> anyhow::Result<(String, std::sync::mpsc::Receiver<Export>)> {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let tx = tx.clone();
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut writer = stream.try_clone()?;
                let mut reader = BufReader::new(stream);
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line)? == 0 {
                        return Ok(());
                    }
                    let path = request_line
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    let (mut length, mut content_type) = (0usize, String::new());
                    loop {
                        let mut line = String::new();
                        reader.read_line(&mut line)?;
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':') {
                            match k.to_ascii_lowercase().as_str() {
                                "content-length" => length = v.trim().parse().unwrap_or(0),
                                "content-type" => content_type = v.trim().to_owned(),
                                _ => {}
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body)?;
                    let _ = tx.send((path, content_type, body.len()));
                    writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n")?;
                }
            });
        }
    });
    Ok((format!("http://{addr}/v1/traces"), rx))
}

#[tokio::test]
async fn traces_are_exported_over_otlp_when_configured() -> anyhow::Result<()> {
    let (endpoint, received) = otlp_receiver()?;
    let dir = tempfile::tempdir()?;
    let set = data_dir_arg(&dir);
    let cell = CellProcess::start(
        BIN,
        &["--set", &set],
        &[("CELL__TELEMETRY__OTLP_ENDPOINT", endpoint.as_str())],
    )?;
    let res = reqwest::get(cell.url("/health/live")).await?;
    assert_eq!(res.status(), 200);
    // Shutdown flushes the batch exporter.
    assert!(cell.terminate()?.success());
    let (path, content_type, len) = received.recv_timeout(std::time::Duration::from_secs(10))?;
    assert_eq!(path, "/v1/traces");
    assert_eq!(content_type, "application/x-protobuf");
    assert!(len > 0);
    Ok(())
}

/// An operator bootstraps the first administrator from the command line (password on stdin),
/// then that account signs in over HTTP and is the owner of the new organization.
#[tokio::test]
async fn users_create_bootstraps_an_administrator() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let set = data_dir_arg(&dir);
    let password = "Operator-Passw0rd-2026";
    let create_as = |email: &str, input: &str, extra: &[&str]| {
        let mut args = vec!["--set", set.as_str(), "users", "create", "--email", email];
        args.extend_from_slice(extra);
        run_cell_with_stdin(BIN, &args, &[], input)
    };
    let create = |input: &str, extra: &[&str]| create_as("root@example.com", input, extra);
    let out = create("weak\n", &["--org", "Acme Corp"])?;
    assert_eq!(out.status.code(), Some(2), "a weak password is refused");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("password"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = create(
        &format!("{password}\n"),
        &["--org", "Acme Corp", "--role", "boss"],
    )?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown role"));
    let out = create(&format!("{password}\n"), &["--org", "Acme Corp"])?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("created organization Acme Corp (slug acme-corp"),
        "{stdout}"
    );
    assert!(!stdout.contains(password) && !String::from_utf8_lossy(&out.stderr).contains(password));
    let out = run_cell(BIN, &["modules"], &[])?;
    assert!(String::from_utf8_lossy(&out.stdout).contains("command `users create` (auth)"));

    // Run again with another password: the user exists, keeps theirs, and is told so.
    let out = create("Another-Passw0rd-2026\n", &["--org", "acme-corp"])?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("NOT used"), "{stderr}");
    // `--org` takes the name as well as the slug (any case): the same organization is joined.
    let out = create_as(
        "ann@example.com",
        &format!("{password}\n"),
        &["--org", "acme corp", "--role", "admin"],
    )?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("ann@example.com is admin of Acme Corp (slug acme-corp"),
        "{stdout}"
    );
    // A new user needs a password: none piped is an error, not an account without one.
    let out = create_as("bob@example.com", "", &["--org", "acme-corp"])?;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no password"),
        "{out:?}"
    );
    // `--help` lists the modules' commands; a command's `--help` needs no database.
    let out = run_cell(BIN, &["--help"], &[])?;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("users create"),
        "{out:?}"
    );
    let fresh = tempfile::tempdir()?;
    let out = run_cell(
        BIN,
        &["--set", &data_dir_arg(&fresh), "users", "create", "--help"],
        &[],
    )?;
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("--org"),
        "{out:?}"
    );
    assert_eq!(
        std::fs::read_dir(fresh.path())?.count(),
        0,
        "no database was made for --help"
    );

    let cell = CellProcess::start(BIN, &["--set", &set], &[])?;
    let http = reqwest::Client::new();
    let res = http
        .post(cell.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "root@example.com", "password": password}))
        .send()
        .await?;
    assert_eq!(res.status(), 200);
    let tokens: serde_json::Value = res.json().await?;
    assert_eq!(tokens["role"], "owner");
    assert_eq!(tokens["user"]["email_verified"], true);
    let ann = http
        .post(cell.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "ann@example.com", "password": password}))
        .send()
        .await?;
    let ann: serde_json::Value = ann.json().await?;
    assert_eq!(ann["role"], "admin", "{ann}");
    let jwks: serde_json::Value = http
        .get(cell.url("/.well-known/jwks.json"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert!(
        !cell.output().contains(password),
        "the password never reaches the log"
    );
    // Two organizations with one name: `--org` by that name is refused, naming their slugs, and
    // nothing is written.
    let access = tokens["access_token"].as_str().unwrap_or_default();
    for _ in 0..2 {
        let res = http
            .post(cell.url("/api/v1/organizations"))
            .bearer_auth(access)
            .json(&serde_json::json!({"name": "Twin Co"}))
            .send()
            .await?;
        assert_eq!(res.status(), 201);
    }
    // (A slug is matched first, so the name given must not be one: `twin-co` would join the first.)
    let out = create_as(
        "cy@example.com",
        &format!("{password}\n"),
        &["--org", "twin co"],
    )?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("2 organizations are named `twin co`")
            && stderr.contains("pass the slug of one: twin-co, twin-co-"),
        "{stderr}"
    );
    let login = http
        .post(cell.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "cy@example.com", "password": password}))
        .send()
        .await?;
    assert_eq!(login.status(), 401, "no user was made");
    cell.terminate()?;
    Ok(())
}

/// The event catalogue (`suite events catalogue`) lists every module's events with the JSON
/// schema of their payloads, and `docs/events/suite.json` is that catalogue (regenerate it with
/// `cargo run -q -p suite -- events catalogue > docs/events/suite.json`).
#[tokio::test]
async fn the_event_catalogue_is_printed_and_documented() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let set = data_dir_arg(&dir);
    let out = run_cell(BIN, &["--set", &set, "events", "catalogue"], &[])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let catalogue: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let events = catalogue["events"].as_array().cloned().unwrap_or_default();
    let removed = events
        .iter()
        .find(|e| e["name"] == "tenancy.member.removed")
        .ok_or_else(|| anyhow::anyhow!("no tenancy.member.removed in {catalogue}"))?;
    assert_eq!(removed["module"], "tenancy");
    assert_eq!(removed["version"], 1);
    assert_eq!(
        removed["payload"]["properties"]["user_id"]["format"],
        "uuid"
    );
    assert!(events.iter().any(|e| e["name"] == "abm.company.converted"));
    let documented = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/events/suite.json"
    ))?;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&documented)?,
        catalogue,
        "docs/events/suite.json is stale: regenerate it (see this test's doc)"
    );
    Ok(())
}

/// Every documented route declares how callers get in (`kernel::http::Scoped`, `SignedIn`,
/// `Public`, `Signed`, `Operator`), and the table is `docs/access/suite.txt`.
#[tokio::test]
async fn every_route_declares_its_way_in() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let set = data_dir_arg(&dir);
    let cell = CellProcess::start(
        BIN,
        &["--set", &set, "--set", "http.expose_access=true"],
        &[("CELL__RATE_LIMIT__ENABLED", "false")],
    )?;
    let lines = testkit::route_access(&cell).await?;
    assert!(lines.len() > 100, "{lines:?}");
    assert!(
        lines.iter().any(
            |l| l.contains("/api/v1/audit ") && l.ends_with("org#admin_access read audit:read")
        ),
        "{lines:#?}"
    );
    testkit::assert_access_documented("suite", &lines)?;
    // The API document is committed too (docs/openapi/suite.json): a change shows in review.
    testkit::assert_openapi_documented("suite", &cell).await
}

/// The image's contract as the Dockerfile declares it (no container engine runs on the test
/// machines): its environment, port, data volume, entrypoint and health check, then the binary
/// run as the image runs it.
#[tokio::test]
async fn the_image_contract_holds_for_the_binary() -> anyhow::Result<()> {
    let dockerfile =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Dockerfile"))?;
    let image = dockerfile.rsplit("\nFROM ").next().unwrap_or_default();
    let line = |word: &str| -> String {
        image
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{word} ")).map(str::to_owned))
            .unwrap_or_default()
    };
    let env: Vec<(String, String)> = line("ENV")
        .split_whitespace()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect();
    let var = |k: &str| {
        env.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert!(
        image.starts_with("gcr.io/distroless/cc-debian12:nonroot"),
        "a distroless, non-root base"
    );
    assert_eq!(line("USER"), "65532:65532", "never root");
    assert_eq!(
        var("CELL__HTTP__PORT"),
        line("EXPOSE"),
        "it listens where it says"
    );
    assert_eq!(
        line("VOLUME"),
        format!("[\"{}\"]", var("CELL__CELL__DATA_DIR")),
        "it writes to its volume"
    );
    assert_eq!(var("CELL__HTTP__BIND"), "0.0.0.0");
    assert_eq!(line("ENTRYPOINT"), "[\"/cell\"]");
    assert_eq!(line("CMD"), "[\"serve\"]");
    assert!(
        line("HEALTHCHECK").ends_with("CMD [\"/cell\", \"health\"]"),
        "{}",
        line("HEALTHCHECK")
    );

    // Run as the image runs: its environment, a volume standing in for /data, JSON logs.
    let volume = tempfile::tempdir()?;
    let mut envs: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    for (k, v) in envs.iter_mut() {
        if *k == "CELL__CELL__DATA_DIR" {
            *v = volume.path().display().to_string();
        }
    }
    let envs_ref: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cell = CellProcess::start(BIN, &[], &envs_ref)?;
    assert!(
        volume.path().join("suite.db").exists(),
        "the embedded database lives on the volume"
    );
    let port = cell
        .url("")
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned();
    let mut probe = envs_ref.clone();
    probe.push(("CELL__HTTP__PORT", &port));
    let healthy = run_cell(BIN, &["health"], &probe)?;
    assert!(
        healthy.status.success(),
        "{}",
        String::from_utf8_lossy(&healthy.stderr)
    );
    cell.terminate()?;
    let gone = run_cell(BIN, &["health"], &probe)?;
    assert!(!gone.status.success(), "a stopped cell is not healthy");
    assert!(String::from_utf8_lossy(&gone.stderr).contains("unhealthy"));
    Ok(())
}

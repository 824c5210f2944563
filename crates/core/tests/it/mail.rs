//! Mail: queued with the change, sent by a job, recorded; file backend, SES v2 against moto,
//! per-org template overrides, and failures.

use kernel::mail::{EmailTemplate, MailError};
use kernel::module::PlatformModule;
use sea_orm::{ConnectionTrait, Statement};
use testkit::db_test;
use uuid::Uuid;

use crate::support::TestApp;

struct Greeter;

#[async_trait::async_trait]
impl PlatformModule for Greeter {
    fn name(&self) -> &'static str {
        "greeter"
    }
    fn version(&self) -> &'static str {
        "0.0.1"
    }
    fn email_templates(&self) -> Vec<EmailTemplate> {
        vec![EmailTemplate {
            name: "welcome",
            subject: "Welcome, {{ name }}",
            text: "Hello {{ name }}, your code is {{ code }}.",
            html: Some("<p>Hello <b>{{ name }}</b>, your code is {{ code }}.</p>"),
        }]
    }
}

const CELL: &str = "[modules.greeter]\n";

fn env<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![
        ("CELL__JOBS__RUN", "false"),
        ("CELL__JOBS__BACKOFF_BASE_MS", "0"),
        ("CELL__JOBS__MAX_ATTEMPTS", "2"),
        ("CELL__MAIL__FROM", "Acme <no-reply@acme.test>"),
        ("CELL__CELL__ADMIN_TOKEN", "op"),
    ];
    v.extend_from_slice(extra);
    v
}

async fn emails(
    app: &TestApp,
) -> anyhow::Result<Vec<(String, String, Option<String>, Option<String>)>> {
    let conn = app.ctx.db().conn();
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT status, subject, provider_id, error FROM kernel_emails ORDER BY id",
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("", "status")?,
                r.try_get("", "subject")?,
                r.try_get("", "provider_id")?,
                r.try_get("", "error")?,
            ))
        })
        .collect()
}

db_test!(async fn a_message_is_queued_with_its_change_and_sent_by_a_job(db) {
    let app = TestApp::spawn_with(&db, CELL, &env(&[]), vec![Box::new(Greeter)]).await?;
    let mail = app.ctx.mail();
    let context = serde_json::json!({"name": "Ada <script>", "code": 42});
    let tx = app.ctx.db().tenant(Uuid::now_v7()).await?;
    let id = mail.queue(tx.unscoped(), Some(tx.org_id()), "ada@example.com", "greeter.welcome", &context).await?;
    tx.commit().await?;
    let tx = app.ctx.db().tenant(Uuid::now_v7()).await?;
    mail.queue(tx.unscoped(), Some(tx.org_id()), "bob@example.com", "greeter.welcome", &context).await?;
    tx.rollback().await?;

    // Queued, not sent: sending only ever happens in the job.
    let dir = db.data_dir().join("mail");
    assert_eq!(emails(&app).await?, vec![("queued".into(), "Welcome, Ada <script>".into(), None, None)]);
    assert!(!dir.join(format!("{id}.eml")).exists());

    assert_eq!(app.ctx.jobs().run_once(&app.ctx).await?, 1);
    let eml = std::fs::read_to_string(dir.join(format!("{id}.eml")))?;
    assert!(eml.contains("Subject: Welcome, Ada <script>"), "{eml}");
    assert!(eml.contains("To: ada@example.com") && eml.contains("From: Acme <no-reply@acme.test>"), "{eml}");
    assert!(eml.contains("multipart/alternative"), "{eml}");
    assert!(eml.contains("Hello Ada <script>, your code is 42."), "text part: {eml}");
    assert!(eml.contains("&lt;script&gt;") && !eml.contains("<b>Ada <script>"), "HTML part not escaped: {eml}");
    let rows = emails(&app).await?;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].0.as_str(), rows[0].2.clone()), ("sent", Some(format!("file:{id}.eml"))));

    let listed: serde_json::Value = app.client.get(app.url("/admin/mail")).bearer_auth("op").send().await?.json().await?;
    assert_eq!(listed["meta"]["total"], 1);
    assert_eq!(listed["data"][0]["template"], "greeter.welcome");
    assert_eq!(listed["data"][0]["status"], "sent");
    Ok(())
});

db_test!(async fn attachments_go_with_the_message_once_they_are_stored(db) {
    let app = TestApp::spawn_with(&db, CELL, &env(&[]), vec![Box::new(Greeter)]).await?;
    let org = Uuid::now_v7();
    let key = kernel::storage::ObjectKey::new(org, "greeter", "cards/welcome.pdf")?;
    let card = kernel::mail::Attachment::new("welcome.pdf", "application/pdf", &key);
    let tx = app.ctx.db().tenant(org).await?;
    let context = serde_json::json!({"name": "Ada", "code": 7});
    let id = app.ctx.mail().queue_in_attaching(&tx, "ada@example.com", "greeter.welcome", &context, &[card]).await?;
    tx.commit().await?;

    // The file is not stored yet: the job fails, the message stays queued, nothing is sent.
    let eml = db.data_dir().join("mail").join(format!("{id}.eml"));
    app.ctx.jobs().run_once(&app.ctx).await?;
    assert_eq!(emails(&app).await?[0].0, "queued");
    assert!(!eml.exists());

    // Stored: the next try sends the message with it.
    let pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    app.ctx.storage().put_made(&key, "application/pdf", pdf.into()).await?;
    app.ctx.jobs().run_once(&app.ctx).await?;
    assert_eq!(emails(&app).await?[0].0, "sent");
    let text = std::fs::read_to_string(&eml)?;
    assert!(text.contains("multipart/mixed") && text.contains("multipart/alternative"), "{text}");
    assert!(text.contains("Hello Ada, your code is 7."), "the body is still there: {text}");
    assert!(text.contains("filename=\"welcome.pdf\"") && text.contains("Content-Type: application/pdf"), "{text}");
    // The file's bytes, in base64 (they are not text).
    assert!(text.contains("Content-Transfer-Encoding: base64") && text.contains("JVBERi0xLjcKJeLjz9MK"), "{text}");
    Ok(())
});

db_test!(async fn orgs_override_system_templates(db) {
    let app = TestApp::spawn_with(&db, CELL, &env(&[]), vec![Box::new(Greeter)]).await?;
    let mail = app.ctx.mail();
    let (fr, other) = (Uuid::now_v7(), Uuid::now_v7());
    let conn = app.ctx.db().conn();
    mail.set_org_template(conn, fr, "greeter.welcome", "Bienvenue, {{ name }}", "Bonjour {{ name }}", None).await?;
    let ctx = serde_json::json!({"name": "Ada", "code": 1});
    assert_eq!(mail.render(conn, Some(fr), "greeter.welcome", &ctx).await?.subject, "Bienvenue, Ada");
    assert_eq!(mail.render(conn, Some(other), "greeter.welcome", &ctx).await?.subject, "Welcome, Ada");
    assert!(mail.render(conn, None, "greeter.welcome", &ctx).await?.html.is_some());
    // Replacing an override keeps one.
    mail.set_org_template(conn, fr, "greeter.welcome", "Salut {{ name }}", "Bonjour", None).await?;
    assert_eq!(mail.render(conn, Some(fr), "greeter.welcome", &ctx).await?.subject, "Salut Ada");
    assert!(mail.render(conn, Some(fr), "greeter.welcome", &ctx).await?.html.is_none());
    Ok(())
});

db_test!(async fn bad_input_is_refused_clearly_and_nothing_is_stored(db) {
    let app = TestApp::spawn_with(&db, CELL, &env(&[]), vec![Box::new(Greeter)]).await?;
    let mail = app.ctx.mail();
    let conn = app.ctx.db().conn();
    let missing = mail.queue(conn, None, "ada@example.com", "greeter.welcome", &serde_json::json!({"name": "Ada"})).await;
    assert!(matches!(&missing, Err(MailError::Render { .. })), "{missing:?}");
    let address = mail.queue(conn, None, "not an address", "greeter.welcome", &serde_json::json!({"name": "A", "code": 1})).await;
    assert!(matches!(&address, Err(MailError::Address(_))), "{address:?}");
    let unknown = mail.queue(conn, None, "ada@example.com", "greeter.nope", &serde_json::json!({})).await;
    assert!(matches!(&unknown, Err(MailError::UnknownTemplate(_))), "{unknown:?}");
    let broken = mail.set_org_template(conn, Uuid::now_v7(), "greeter.welcome", "{{ name", "x", None).await;
    assert!(matches!(&broken, Err(MailError::Render { .. })), "{broken:?}");
    let injected = mail.queue(conn, None, "ada@example.com", "greeter.welcome", &serde_json::json!({"name": "A\r\nBcc: evil@example.com", "code": 1})).await;
    assert!(matches!(&injected, Err(MailError::Render { .. })), "header injection through the subject: {injected:?}");
    assert!(emails(&app).await?.is_empty());
    Ok(())
});

db_test!(async fn a_failing_transport_is_retried_and_recorded(db) {
    // Nothing listens on this port: every attempt fails quickly.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port().to_string();
    let extra = [("CELL__MAIL__BACKEND", "smtp"), ("CELL__MAIL__SMTP_HOST", "127.0.0.1"), ("CELL__MAIL__SMTP_PORT", port.as_str()), ("CELL__MAIL__SMTP_TLS", "none")];
    let app = TestApp::spawn_with(&db, CELL, &env(&extra), vec![Box::new(Greeter)]).await?;
    app.ctx.mail().queue(app.ctx.db().conn(), None, "ada@example.com", "greeter.welcome", &serde_json::json!({"name": "A", "code": 1})).await?;
    assert_eq!(app.ctx.jobs().run_once(&app.ctx).await?, 1);
    assert_eq!(app.ctx.jobs().run_once(&app.ctx).await?, 1);
    assert_eq!(app.ctx.jobs().run_once(&app.ctx).await?, 0);
    let rows = emails(&app).await?;
    assert_eq!(rows[0].0, "failed");
    assert!(rows[0].3.as_deref().unwrap_or_default().contains("SMTP"), "{rows:?}");
    let (dead, _) = app.ctx.jobs().dead(app.ctx.db(), 0, 10).await?;
    assert_eq!(dead.len(), 1);
    // And readiness names the unreachable mail backend.
    let ready: serde_json::Value = app.get("/health/ready").await?.json().await?;
    assert_eq!(ready["error"]["details"]["checks"]["mail"], "unreachable", "{ready}");
    Ok(())
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ses_v2_sends_through_a_real_ses_compatible_endpoint() -> anyhow::Result<()> {
    let db = testkit::TestDb::sqlite()?;
    let endpoint = crate::storage::aws_endpoint();
    // SES only sends from verified identities.
    let ses = aws_sdk_sesv2::Client::from_conf(
        aws_sdk_sesv2::Config::builder()
            .behavior_version(aws_sdk_sesv2::config::BehaviorVersion::latest())
            .region(aws_sdk_sesv2::config::Region::new("us-east-1"))
            .endpoint_url(&endpoint)
            .credentials_provider(aws_sdk_sesv2::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .build(),
    );
    ses.create_email_identity()
        .email_identity("no-reply@acme.test")
        .send()
        .await?;
    let extra = [
        ("CELL__MAIL__BACKEND", "ses"),
        ("CELL__MAIL__ENDPOINT", endpoint.as_str()),
        ("CELL__MAIL__ACCESS_KEY_ID", "test"),
        ("CELL__MAIL__SECRET_ACCESS_KEY", "test"),
    ];
    let app = TestApp::spawn_with(&db, CELL, &env(&extra), vec![Box::new(Greeter)]).await?;
    app.ctx
        .mail()
        .queue(
            app.ctx.db().conn(),
            None,
            "ada@example.com",
            "greeter.welcome",
            &serde_json::json!({"name": "Ada", "code": 7}),
        )
        .await?;
    assert_eq!(app.ctx.jobs().run_once(&app.ctx).await?, 1);
    let rows = emails(&app).await?;
    assert_eq!(rows[0].0, "sent", "{rows:?}");
    assert!(
        rows[0].2.as_deref().is_some_and(|id| !id.is_empty()),
        "no SES message id: {rows:?}"
    );
    let ready: serde_json::Value = app.get("/health/ready").await?.json().await?;
    assert_eq!(ready["checks"]["mail"], "ok", "{ready}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_delivers_to_a_real_smtp_server() -> anyhow::Result<()> {
    use std::io::{BufRead, BufReader};
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    // aiosmtpd's Debugging handler prints every message it accepts.
    let mut server = std::process::Command::new("python3")
        .args([
            "-u",
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Debugging",
            "stdout",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| {
            anyhow::anyhow!("python3 -m aiosmtpd ({e}); scripts/services.sh installs it")
        })?;
    testkit::wait_for_port(port).map_err(|e| {
        anyhow::anyhow!("aiosmtpd did not start ({e}); scripts/services.sh installs it")
    })?;
    let stdout = server
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });

    let db = testkit::TestDb::sqlite()?;
    let port = port.to_string();
    let extra = [
        ("CELL__MAIL__BACKEND", "smtp"),
        ("CELL__MAIL__SMTP_HOST", "127.0.0.1"),
        ("CELL__MAIL__SMTP_PORT", port.as_str()),
        ("CELL__MAIL__SMTP_TLS", "none"),
    ];
    let app = TestApp::spawn_with(&db, CELL, &env(&extra), vec![Box::new(Greeter)]).await?;
    assert_eq!(app.get("/health/ready").await?.status(), 200);
    app.ctx
        .mail()
        .queue(
            app.ctx.db().conn(),
            None,
            "ada@example.com",
            "greeter.welcome",
            &serde_json::json!({"name": "Ada", "code": 9}),
        )
        .await?;
    assert_eq!(app.ctx.jobs().run_once(&app.ctx).await?, 1);
    let rows = emails(&app).await?;
    assert_eq!(rows[0].0, "sent", "{rows:?}");

    let mut seen = String::new();
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(5)) {
        seen.push_str(&line);
        seen.push('\n');
        if seen.contains("END MESSAGE") {
            break;
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        seen.contains("Subject: Welcome, Ada"),
        "the SMTP server did not receive the message:\n{seen}"
    );
    assert!(seen.contains("ada@example.com"), "{seen}");
    Ok(())
}

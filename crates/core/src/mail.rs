//! Mail: templates rendered with minijinja (system defaults declared by modules, per-org
//! overrides), queued in the caller's transaction, sent by a background job through one
//! [`EmailSender`]: `.eml` files under `<data_dir>/mail` (development), SES v2, or SMTP.
//! Every message is recorded in `kernel_emails` (to, template, status, provider id, error).
//! A message may carry attachments: files of the cell's storage, read when it is sent.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::{AsyncTransport, Message};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use sea_orm::{ConnectionTrait, DbErr};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde::Serialize;
use uuid::Uuid;

use crate::config::{MailBackend, MailSection, SmtpTls};
use crate::context::CellContext;
use crate::db::Db;
use crate::jobs::{Job, Jobs};
use crate::module::{EnabledModule, JobHandler};
use crate::queue::{now_ms, stmt};

/// The job that sends queued messages.
pub(crate) const SEND_JOB: &str = "kernel.send_email";

/// Most bytes a message's attachments may hold together (providers refuse larger messages; SES
/// takes 40 MB once encoded).
pub const MAX_ATTACHMENT_BYTES: u64 = 10 * 1024 * 1024;

/// A file sent with a message: an object of the cell's storage, read when the message is sent.
/// It may be stored after the message is queued: until it is, the sending job waits and tries
/// again, and the message stays queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The name the recipient sees (`invoice-INV-0001.pdf`).
    pub filename: String,
    pub content_type: String,
    /// The object's key in the cell's storage.
    pub key: String,
}

impl Attachment {
    pub fn new(filename: &str, content_type: &str, key: &crate::storage::ObjectKey) -> Self {
        Self {
            filename: filename.to_owned(),
            content_type: content_type.to_owned(),
            key: key.as_str().to_owned(),
        }
    }
}

/// A message template a module ships; referred to as `<module>.<name>`.
#[derive(Debug, Clone)]
pub struct EmailTemplate {
    pub name: &'static str,
    pub subject: &'static str,
    pub text: &'static str,
    pub html: Option<&'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid email address `{0}`")]
    Address(String),
    #[error("no email template named `{0}`")]
    UnknownTemplate(String),
    #[error("template `{template}` does not render: {message}")]
    Render { template: String, message: String },
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    Job(#[from] crate::jobs::JobError),
}

impl From<MailError> for crate::error::ApiError {
    #[track_caller]
    fn from(e: MailError) -> Self {
        match e {
            MailError::Address(_) | MailError::UnknownTemplate(_) | MailError::Render { .. } => {
                crate::error::ApiError::new(
                    crate::error::ErrorCode::ValidationFailed,
                    e.to_string(),
                )
            }
            other => crate::error::ApiError::internal(other),
        }
    }
}

/// Sends one formatted message; returns the provider's message id.
#[async_trait::async_trait]
pub trait EmailSender: Send + Sync {
    async fn send(&self, id: Uuid, message: Message) -> Result<String, String>;
    /// Readiness: can this sender reach its backend?
    async fn check(&self) -> Result<(), String>;
}

struct FileSender(PathBuf);

#[async_trait::async_trait]
impl EmailSender for FileSender {
    async fn send(&self, id: Uuid, message: Message) -> Result<String, String> {
        tokio::fs::create_dir_all(&self.0)
            .await
            .map_err(|e| e.to_string())?;
        let path = self.0.join(format!("{id}.eml"));
        tokio::fs::write(&path, message.formatted())
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(email = %id, path = %path.display(), "email written (development mail backend)");
        Ok(format!("file:{id}.eml"))
    }

    async fn check(&self) -> Result<(), String> {
        tokio::fs::create_dir_all(&self.0)
            .await
            .and(tokio::fs::write(self.0.join(".ready"), b"ok").await)
            .map_err(|e| format!("mail directory not writable: {e}"))
    }
}

struct SesSender {
    client: aws_sdk_sesv2::Client,
    /// The sender address; readiness checks that it (or its domain) is a verified identity.
    from: String,
}

#[async_trait::async_trait]
impl EmailSender for SesSender {
    async fn send(&self, _id: Uuid, message: Message) -> Result<String, String> {
        use aws_sdk_sesv2::types::{EmailContent, RawMessage};
        let raw = RawMessage::builder()
            .data(aws_sdk_sesv2::primitives::Blob::new(message.formatted()))
            .build()
            .map_err(|e| e.to_string())?;
        let out = self
            .client
            .send_email()
            .content(EmailContent::builder().raw(raw).build())
            .send()
            .await
            .map_err(|e| format!("SES: {}", aws_sdk_sesv2::error::DisplayErrorContext(&e)))?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }

    async fn check(&self) -> Result<(), String> {
        let domain = self.from.rsplit_once('@').map(|(_, d)| d.to_owned());
        for identity in std::iter::once(self.from.clone()).chain(domain) {
            match self
                .client
                .get_email_identity()
                .email_identity(&identity)
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_not_found_exception()) => {}
                Err(e) => {
                    tracing::warn!(error = %aws_sdk_sesv2::error::DisplayErrorContext(&e), "SES readiness check failed");
                    return Err("unreachable".into());
                }
            }
        }
        Err(format!(
            "the sender {} is not a verified SES identity",
            self.from
        ))
    }
}

struct SmtpSender(lettre::AsyncSmtpTransport<lettre::Tokio1Executor>);

#[async_trait::async_trait]
impl EmailSender for SmtpSender {
    async fn send(&self, _id: Uuid, message: Message) -> Result<String, String> {
        let response = self
            .0
            .send(message)
            .await
            .map_err(|e| format!("SMTP: {e}"))?;
        Ok(response.message().collect::<Vec<_>>().join(" "))
    }

    async fn check(&self) -> Result<(), String> {
        match self.0.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err("the SMTP server refused the connection".into()),
            Err(e) => {
                tracing::warn!(error = %e, "SMTP readiness check failed");
                Err("unreachable".into())
            }
        }
    }
}

/// `/health/ready` check of the mail backend.
pub(crate) struct MailCheck(pub Mail);

#[async_trait::async_trait(?Send)]
impl crate::context::HealthCheck for MailCheck {
    fn name(&self) -> &'static str {
        "mail"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.inner.sender.check().await
    }
}

struct Inner {
    templates: HashMap<String, EmailTemplate>,
    sender: Arc<dyn EmailSender>,
    from: Mailbox,
    jobs: Jobs,
    storage: crate::storage::Storage,
    text_env: Environment<'static>,
    html_env: Environment<'static>,
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// A recorded message, as the admin API lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct EmailRecord {
    pub id: Uuid,
    pub org_id: Option<Uuid>,
    pub to: String,
    pub template: String,
    pub status: String,
    pub provider_id: Option<String>,
    pub error: Option<String>,
}

/// The cell's mail service. Cheap to clone; reach it with `ctx.mail()`.
#[derive(Clone)]
pub struct Mail {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("from", &self.inner.from.to_string())
            .finish()
    }
}

fn environment(html: bool) -> Environment<'static> {
    let mut env = Environment::new();
    // A missing variable is an error, never an empty hole in a customer's email.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(move |_| {
        if html {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env
}

/// The `kernel.send_email` job.
pub(crate) struct SendJob;

#[async_trait::async_trait]
impl JobHandler for SendJob {
    async fn run(&self, ctx: &CellContext, job: &Job) -> anyhow::Result<()> {
        let id = job
            .payload
            .get("email_id")
            .and_then(|v| v.as_str())
            .and_then(|v| Uuid::parse_str(v).ok())
            .ok_or_else(|| anyhow::anyhow!("payload has no email_id"))?;
        ctx.mail()
            .deliver(ctx.db(), id)
            .await
            .map_err(anyhow::Error::msg)
    }
}

impl Mail {
    pub(crate) async fn new(
        cfg: &MailSection,
        data_dir: &std::path::Path,
        modules: &[EnabledModule],
        jobs: Jobs,
        storage: crate::storage::Storage,
    ) -> Result<Self, String> {
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| format!("mail.from `{}`: {e}", cfg.from))?;
        let sender: Arc<dyn EmailSender> = match cfg.backend {
            MailBackend::File => Arc::new(FileSender(
                cfg.dir.clone().unwrap_or_else(|| data_dir.join("mail")),
            )),
            MailBackend::Ses => {
                let shared = crate::aws::sdk_config(
                    &cfg.region,
                    cfg.access_key_id.as_deref(),
                    cfg.secret_access_key.as_ref(),
                )
                .await;
                let mut ses = aws_sdk_sesv2::config::Builder::from(&shared);
                if let Some(endpoint) = &cfg.endpoint {
                    ses = ses.endpoint_url(endpoint);
                }
                Arc::new(SesSender {
                    client: aws_sdk_sesv2::Client::from_conf(ses.build()),
                    from: from.email.to_string(),
                })
            }
            MailBackend::Smtp => {
                let host = cfg
                    .smtp_host
                    .clone()
                    .ok_or("mail.backend = smtp needs mail.smtp_host")?;
                let builder = match cfg.smtp_tls {
                    SmtpTls::None => {
                        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(
                            &host,
                        )
                    }
                    SmtpTls::Starttls => {
                        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::starttls_relay(&host)
                            .map_err(|e| format!("mail.smtp_host: {e}"))?
                    }
                    SmtpTls::Tls => {
                        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::relay(&host)
                            .map_err(|e| format!("mail.smtp_host: {e}"))?
                    }
                };
                let mut builder = builder
                    .port(cfg.smtp_port)
                    .timeout(Some(std::time::Duration::from_secs(30)));
                if let (Some(user), Some(password)) = (&cfg.smtp_username, &cfg.smtp_password) {
                    builder = builder.credentials(
                        lettre::transport::smtp::authentication::Credentials::new(
                            user.clone(),
                            password.expose_secret().to_owned(),
                        ),
                    );
                }
                Arc::new(SmtpSender(builder.build()))
            }
        };
        let templates = modules
            .iter()
            .flat_map(|m| {
                let module = m.module.name();
                m.module
                    .email_templates()
                    .into_iter()
                    .map(move |t| (format!("{module}.{}", t.name), t))
            })
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                templates,
                sender,
                from,
                jobs,
                storage,
                text_env: environment(false),
                html_env: environment(true),
            }),
        })
    }

    /// Renders `template` for `org` (its override, else the system default) with `context`.
    pub async fn render<C: ConnectionTrait>(
        &self,
        conn: &C,
        org_id: Option<Uuid>,
        template: &str,
        context: &serde_json::Value,
    ) -> Result<Rendered, MailError> {
        let system = self
            .inner
            .templates
            .get(template)
            .ok_or_else(|| MailError::UnknownTemplate(template.to_owned()))?;
        let mut source = (
            system.subject.to_owned(),
            system.text.to_owned(),
            system.html.map(str::to_owned),
        );
        if let Some(org) = org_id
            && let Some(row) = conn
                .query_one_raw(stmt(
                    conn.get_database_backend(),
                    "SELECT subject, text_body, html_body FROM kernel_email_templates WHERE org_id = $1 AND name = $2",
                    vec![org.into(), template.to_owned().into()],
                ))
                .await?
        {
            source = (
                row.try_get("", "subject")?,
                row.try_get("", "text_body")?,
                row.try_get("", "html_body")?,
            );
        }
        let context = minijinja::Value::from(minijinja::value::Serde(context));
        let render = |env: &Environment<'static>, src: &str| {
            env.render_str(src, &context)
                .map_err(|e| MailError::Render {
                    template: template.to_owned(),
                    message: e.to_string(),
                })
        };
        let subject = render(&self.inner.text_env, &source.0)?;
        if subject.contains(['\r', '\n']) {
            return Err(MailError::Render {
                template: template.to_owned(),
                message: "the subject must be one line".into(),
            });
        }
        Ok(Rendered {
            subject,
            text: render(&self.inner.text_env, &source.1)?,
            html: source
                .2
                .as_deref()
                .map(|h| render(&self.inner.html_env, h))
                .transpose()?,
        })
    }

    /// [`Self::queue`] of a message of `tx`'s org, in `tx`: sent only if the change commits.
    /// What modules call.
    pub async fn queue_in(
        &self,
        tx: &crate::db::TenantTx,
        to: &str,
        template: &str,
        context: &serde_json::Value,
    ) -> Result<Uuid, MailError> {
        self.queue_in_attaching(tx, to, template, context, &[])
            .await
    }

    /// [`Self::queue_in`] with files of the org's storage attached (see [`Attachment`]).
    pub async fn queue_in_attaching(
        &self,
        tx: &crate::db::TenantTx,
        to: &str,
        template: &str,
        context: &serde_json::Value,
        attachments: &[Attachment],
    ) -> Result<Uuid, MailError> {
        // unscoped: the kernel's mail outbox, written in the change's transaction for tx's org
        self.record(
            tx.unscoped(),
            Some(tx.org_id()),
            to,
            template,
            context,
            attachments,
        )
        .await
    }

    /// Renders and records a message and enqueues its sending, all through `conn` (usually
    /// the caller's transaction): nothing is sent unless it commits, and never inside the
    /// request. Returns the message id. On PostgreSQL a message of an org is queued in that
    /// org's context (a [`crate::Db::tenant`] transaction, which also sees its templates);
    /// messages without an org from any connection.
    pub async fn queue<C: ConnectionTrait>(
        &self,
        conn: &C,
        org_id: Option<Uuid>,
        to: &str,
        template: &str,
        context: &serde_json::Value,
    ) -> Result<Uuid, MailError> {
        self.record(conn, org_id, to, template, context, &[]).await
    }

    async fn record<C: ConnectionTrait>(
        &self,
        conn: &C,
        org_id: Option<Uuid>,
        to: &str,
        template: &str,
        context: &serde_json::Value,
        attachments: &[Attachment],
    ) -> Result<Uuid, MailError> {
        let to_box: Mailbox = to.parse().map_err(|_| MailError::Address(to.to_owned()))?;
        let rendered = self.render(conn, org_id, template, context).await?;
        let id = Uuid::now_v7();
        // Strings only: serializing them cannot fail.
        let attachments = match attachments {
            [] => None,
            some => serde_json::to_string(some).ok(),
        };
        conn.execute_raw(stmt(
            conn.get_database_backend(),
            "INSERT INTO kernel_emails (id, org_id, to_addr, template, subject, text_body, html_body, attachments, status, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9)",
            vec![
                id.into(),
                org_id.into(),
                to_box.to_string().into(),
                template.to_owned().into(),
                rendered.subject.into(),
                rendered.text.into(),
                rendered.html.into(),
                attachments.into(),
                now_ms().into(),
            ],
        ))
        .await?;
        self.inner
            .jobs
            .enqueue(
                conn,
                SEND_JOB,
                org_id,
                serde_json::json!({ "email_id": id }),
            )
            .await?;
        Ok(id)
    }

    /// Sets org `org_id`'s version of a system template; it must compile.
    pub async fn set_org_template<C: ConnectionTrait>(
        &self,
        conn: &C,
        org_id: Uuid,
        template: &str,
        subject: &str,
        text: &str,
        html: Option<&str>,
    ) -> Result<(), MailError> {
        if !self.inner.templates.contains_key(template) {
            return Err(MailError::UnknownTemplate(template.to_owned()));
        }
        for src in [Some(subject), Some(text), html].into_iter().flatten() {
            self.inner
                .text_env
                .template_from_str(src)
                .map_err(|e| MailError::Render {
                    template: template.to_owned(),
                    message: e.to_string(),
                })?;
        }
        let backend = conn.get_database_backend();
        conn.execute_raw(stmt(
            backend,
            "DELETE FROM kernel_email_templates WHERE org_id = $1 AND name = $2",
            vec![org_id.into(), template.to_owned().into()],
        ))
        .await?;
        conn.execute_raw(stmt(
            backend,
            "INSERT INTO kernel_email_templates (org_id, name, subject, text_body, html_body, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                org_id.into(),
                template.to_owned().into(),
                subject.to_owned().into(),
                text.to_owned().into(),
                html.map(str::to_owned).into(),
                now_ms().into(),
            ],
        ))
        .await?;
        Ok(())
    }

    /// Sends a queued message (the job's work). Already sent: nothing to do, so a retried job
    /// never sends twice after a recorded success. Failures are recorded and returned.
    pub async fn deliver(&self, db: &Db, id: Uuid) -> Result<(), String> {
        let db = db.system();
        let backend = db.backend();
        let row = db
            .conn()
            .query_one_raw(stmt(
                backend,
                "SELECT to_addr, subject, text_body, html_body, attachments, status FROM kernel_emails WHERE id = $1",
                vec![id.into()],
            ))
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("email {id} does not exist"))?;
        let get = |col: &str| row.try_get::<String>("", col).map_err(|e| e.to_string());
        if get("status")? == "sent" {
            return Ok(());
        }
        let html: Option<String> = row.try_get("", "html_body").map_err(|e| e.to_string())?;
        let listed: Option<String> = row.try_get("", "attachments").map_err(|e| e.to_string())?;
        // Read first: a file not stored yet leaves the message queued for the job's next try.
        let files = self.attachments(listed.as_deref()).await?;
        let to: Mailbox = get("to_addr")?.parse().map_err(|e| format!("to: {e}"))?;
        let builder = Message::builder()
            .from(self.inner.from.clone())
            .to(to)
            .subject(get("subject")?);
        let text = get("text_body")?;
        let plain = |text| {
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(text)
        };
        let message = match (html, files.is_empty()) {
            (Some(html), true) => builder.multipart(MultiPart::alternative_plain_html(text, html)),
            (None, true) => builder.singlepart(plain(text)),
            // The body, then each file, in one `multipart/mixed`.
            (html, false) => {
                let body = match html {
                    Some(html) => {
                        MultiPart::mixed().multipart(MultiPart::alternative_plain_html(text, html))
                    }
                    None => MultiPart::mixed().singlepart(plain(text)),
                };
                let mixed = files.into_iter().try_fold(body, |mixed, (a, bytes)| {
                    let content_type = ContentType::parse(&a.content_type)
                        .map_err(|e| format!("attachment {}: {e}", a.filename))?;
                    Ok::<_, String>(mixed.singlepart(
                        lettre::message::Attachment::new(a.filename).body(bytes, content_type),
                    ))
                })?;
                builder.multipart(mixed)
            }
        }
        .map_err(|e| e.to_string())?;
        let outcome = self.inner.sender.send(id, message).await;
        let update = match &outcome {
            Ok(provider_id) => stmt(
                backend,
                "UPDATE kernel_emails SET status = 'sent', provider_id = $1, error = NULL, sent_at_ms = $2 WHERE id = $3",
                vec![provider_id.clone().into(), now_ms().into(), id.into()],
            ),
            Err(error) => stmt(
                backend,
                "UPDATE kernel_emails SET status = 'failed', error = $1 WHERE id = $2",
                vec![error.clone().into(), id.into()],
            ),
        };
        db.conn()
            .execute_raw(update)
            .await
            .map_err(|e| e.to_string())?;
        metrics::counter!("emails_total", "status" => if outcome.is_ok() { "sent" } else { "failed" }).increment(1);
        outcome.map(|_| ())
    }

    /// The files a message lists, read from storage: an error names one not stored yet (the
    /// job tries again later) or a set larger than [`MAX_ATTACHMENT_BYTES`].
    async fn attachments(
        &self,
        listed: Option<&str>,
    ) -> Result<Vec<(Attachment, Vec<u8>)>, String> {
        use futures_util::TryStreamExt;
        let Some(listed) = listed else {
            return Ok(Vec::new());
        };
        let list: Vec<Attachment> =
            serde_json::from_str(listed).map_err(|e| format!("attachments: {e}"))?;
        let storage = self.inner.storage.clone();
        // The storage backends' futures are not `Send`; the job's must be.
        crate::module::run_unsend(move || async move {
            let mut files = Vec::with_capacity(list.len());
            let mut total = 0u64;
            for a in list {
                let key = crate::storage::ObjectKey::parse(&a.key)?;
                let (info, stream) = match storage.get(&key).await {
                    Ok(found) => found,
                    Err(crate::storage::StorageError::NotFound) => {
                        anyhow::bail!("attachment {} is not stored yet", a.filename)
                    }
                    Err(e) => anyhow::bail!("attachment {}: {e}", a.filename),
                };
                total += info.size;
                if total > MAX_ATTACHMENT_BYTES {
                    anyhow::bail!("the attachments exceed {MAX_ATTACHMENT_BYTES} bytes");
                }
                let bytes: Vec<u8> = stream.map_ok(|chunk| chunk.to_vec()).try_concat().await?;
                files.push((a, bytes));
            }
            Ok(files)
        })
        .await
        .map_err(|e| e.to_string())
    }

    /// Recorded messages, newest first.
    pub async fn recorded(
        &self,
        db: &Db,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<EmailRecord>, u64), DbErr> {
        let db = db.system();
        let rows = db
            .conn()
            .query_all_raw(stmt(
                db.backend(),
                "SELECT id, org_id, to_addr, template, status, provider_id, error FROM kernel_emails ORDER BY id DESC LIMIT $1 OFFSET $2",
                vec![(limit as i64).into(), (offset as i64).into()],
            ))
            .await?;
        let total = crate::queue::count(db, "kernel_emails", "", vec![]).await?;
        let list = rows
            .iter()
            .map(|r| {
                Ok(EmailRecord {
                    id: r.try_get("", "id")?,
                    org_id: r.try_get("", "org_id")?,
                    to: r.try_get("", "to_addr")?,
                    template: r.try_get("", "template")?,
                    status: r.try_get("", "status")?,
                    provider_id: r.try_get("", "provider_id")?,
                    error: r.try_get("", "error")?,
                })
            })
            .collect::<Result<Vec<_>, DbErr>>()?;
        Ok((list, total))
    }
}

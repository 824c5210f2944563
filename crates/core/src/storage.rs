//! File storage: a local directory (development) or S3, chosen by `storage.backend`.
//!
//! Keys are always `<org>/<module>/<path>` ([`ObjectKey`]), uploads stream with a size cap
//! (`storage.max_upload`) and an allow-list of content types (`storage.allowed_types`; HTML and
//! scripts are refused by default so stored files cannot become stored XSS). Presigned PUT and
//! GET URLs come from S3 itself, or, for the local backend, from the cell: HMAC-signed, expiring
//! tokens served under `/storage/signed/{token}`.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::config::{StorageBackend, StorageSection};
use crate::error::{ApiError, ErrorCode};

/// A stream of body chunks (uploads from actix payloads are not `Send`).
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>>>>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("invalid object key: {0}")]
    InvalidKey(String),
    #[error("the file exceeds the limit of {0} bytes")]
    TooLarge(u64),
    #[error("content type `{0}` is not accepted")]
    ContentType(String),
    #[error("no such file")]
    NotFound,
    #[error("the signed URL is invalid or has expired")]
    BadSignature,
    #[error("storage backend: {0}")]
    Backend(String),
}

impl From<StorageError> for ApiError {
    #[track_caller]
    fn from(e: StorageError) -> Self {
        let message = e.to_string();
        match e {
            StorageError::InvalidKey(_) => ApiError::bad_request(message),
            StorageError::TooLarge(_) => ApiError::new(ErrorCode::PayloadTooLarge, message),
            StorageError::ContentType(_) => ApiError::new(ErrorCode::UnsupportedMediaType, message),
            StorageError::NotFound => ApiError::not_found(message),
            StorageError::BadSignature => ApiError::forbidden(message),
            StorageError::Backend(_) => ApiError::internal(anyhow::anyhow!(message)),
        }
    }
}

fn backend_err(e: impl std::fmt::Display) -> StorageError {
    StorageError::Backend(e.to_string())
}

/// `<org>/<module>/<path>`: built only through [`ObjectKey::new`], so every key is under its
/// org and module and no segment can climb out (`..`) or hide (`.x`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectKey(String);

impl ObjectKey {
    pub fn new(org_id: Uuid, module: &str, path: &str) -> Result<Self, StorageError> {
        if module.is_empty()
            || !module
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(StorageError::InvalidKey(format!("module `{module}`")));
        }
        if path.is_empty() || path.len() > 512 {
            return Err(StorageError::InvalidKey(
                "the path must be 1 to 512 bytes".into(),
            ));
        }
        for segment in path.split('/') {
            let ok = !segment.is_empty()
                && !segment.starts_with('.')
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !ok {
                return Err(StorageError::InvalidKey(format!(
                    "path segment `{segment}`: use letters, digits, `.`, `_`, `-`, not starting with `.`"
                )));
            }
        }
        Ok(Self(format!("{org_id}/{module}/{path}")))
    }

    /// Parses a stored key back (the local backend's signed URLs, mail attachments).
    pub(crate) fn parse(raw: &str) -> Result<Self, StorageError> {
        let mut parts = raw.splitn(3, '/');
        let org = parts
            .next()
            .and_then(|o| Uuid::parse_str(o).ok())
            .ok_or_else(|| StorageError::InvalidKey(raw.into()))?;
        let module = parts.next().unwrap_or_default();
        let path = parts.next().unwrap_or_default();
        Self::new(org, module, path)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What is stored about a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub content_type: String,
}

/// A URL a client can use directly, without the cell's credentials.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Presigned {
    /// Absolute: S3's own, or (local backend) on the cell's `http.public_url` (development: its
    /// listener).
    pub url: String,
    pub method: String,
    /// Headers the client must send (the content type of a PUT).
    pub headers: std::collections::BTreeMap<String, String>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    Get,
    Put,
}

#[async_trait::async_trait(?Send)]
trait Backend: Send + Sync {
    async fn put(
        &self,
        key: &ObjectKey,
        content_type: &str,
        body: ByteStream,
        limit: u64,
    ) -> Result<ObjectInfo, StorageError>;
    async fn get(&self, key: &ObjectKey) -> Result<(ObjectInfo, ByteStream), StorageError>;
    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, StorageError>;
    /// Up to the first `n` bytes of a non-empty object.
    async fn prefix(&self, key: &ObjectKey, n: usize) -> Result<Bytes, StorageError>;
    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError>;
    async fn presign(
        &self,
        key: &ObjectKey,
        method: Method,
        content_type: Option<&str>,
        ttl: Duration,
    ) -> Result<Presigned, StorageError>;
    async fn check(&self) -> Result<(), String>;
}

/// Writes a stream to a new temporary file, refusing more than `limit` bytes.
async fn spool(
    dir: &Path,
    mut body: ByteStream,
    limit: u64,
) -> Result<(PathBuf, u64), StorageError> {
    tokio::fs::create_dir_all(dir).await.map_err(backend_err)?;
    let path = dir.join(Uuid::now_v7().to_string());
    let mut file = tokio::fs::File::create(&path).await.map_err(backend_err)?;
    let mut size: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                return Err(backend_err(e));
            }
        };
        size += chunk.len() as u64;
        if size > limit {
            drop(file);
            let _ = tokio::fs::remove_file(&path).await;
            return Err(StorageError::TooLarge(limit));
        }
        file.write_all(&chunk).await.map_err(backend_err)?;
    }
    file.flush().await.map_err(backend_err)?;
    file.sync_all().await.map_err(backend_err)?;
    Ok((path, size))
}

struct Local {
    root: PathBuf,
    secret: SecretString,
    /// The cell's base URL ([`crate::CellConfig::public_base`]): signed URLs are absolute.
    public_base: String,
}

#[derive(Serialize, Deserialize)]
struct Grant {
    k: String,
    m: Method,
    e: i64,
    ct: Option<String>,
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

impl Local {
    fn file(&self, key: &ObjectKey) -> PathBuf {
        self.root.join(key.as_str())
    }

    fn meta(&self, key: &ObjectKey) -> PathBuf {
        self.root
            .join(".meta")
            .join(format!("{}.json", key.as_str()))
    }

    fn mac(&self) -> Result<HmacSha256, StorageError> {
        HmacSha256::new_from_slice(self.secret.expose_secret().as_bytes()).map_err(backend_err)
    }

    fn sign(&self, grant: &Grant) -> Result<String, StorageError> {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(grant).map_err(backend_err)?);
        let mut mac = self.mac()?;
        mac.update(payload.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        Ok(format!("{payload}.{sig}"))
    }

    fn verify(&self, token: &str, method: Method) -> Result<Grant, StorageError> {
        let (payload, sig) = token.split_once('.').ok_or(StorageError::BadSignature)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| StorageError::BadSignature)?;
        let mut mac = self.mac()?;
        mac.update(payload.as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| StorageError::BadSignature)?;
        let raw = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| StorageError::BadSignature)?;
        let grant: Grant = serde_json::from_slice(&raw).map_err(|_| StorageError::BadSignature)?;
        if grant.m != method || grant.e < chrono::Utc::now().timestamp() {
            return Err(StorageError::BadSignature);
        }
        Ok(grant)
    }
}

#[async_trait::async_trait(?Send)]
impl Backend for Local {
    async fn put(
        &self,
        key: &ObjectKey,
        content_type: &str,
        body: ByteStream,
        limit: u64,
    ) -> Result<ObjectInfo, StorageError> {
        let (tmp, size) = spool(&self.root.join(".tmp"), body, limit).await?;
        let file = self.file(key);
        let meta = self.meta(key);
        for p in [&file, &meta] {
            if let Some(dir) = p.parent() {
                tokio::fs::create_dir_all(dir).await.map_err(backend_err)?;
            }
        }
        tokio::fs::rename(&tmp, &file).await.map_err(backend_err)?;
        let info = ObjectInfo {
            key: key.as_str().to_owned(),
            size,
            content_type: content_type.to_owned(),
        };
        let bytes = serde_json::to_vec(&info).map_err(backend_err)?;
        tokio::fs::write(&meta, bytes).await.map_err(backend_err)?;
        Ok(info)
    }

    async fn get(&self, key: &ObjectKey) -> Result<(ObjectInfo, ByteStream), StorageError> {
        let info = self.head(key).await?.ok_or(StorageError::NotFound)?;
        let file = match tokio::fs::File::open(self.file(key)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StorageError::NotFound);
            }
            Err(e) => return Err(backend_err(e)),
        };
        Ok((info, Box::pin(tokio_util::io::ReaderStream::new(file))))
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, StorageError> {
        match tokio::fs::read(self.meta(key)).await {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).map_err(backend_err)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(backend_err(e)),
        }
    }

    async fn prefix(&self, key: &ObjectKey, n: usize) -> Result<Bytes, StorageError> {
        use tokio::io::AsyncReadExt;
        let file = match tokio::fs::File::open(self.file(key)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StorageError::NotFound);
            }
            Err(e) => return Err(backend_err(e)),
        };
        let mut buf = Vec::with_capacity(n);
        file.take(n as u64)
            .read_to_end(&mut buf)
            .await
            .map_err(backend_err)?;
        Ok(buf.into())
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        for p in [self.file(key), self.meta(key)] {
            match tokio::fs::remove_file(&p).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(backend_err(e)),
            }
        }
        Ok(())
    }

    async fn presign(
        &self,
        key: &ObjectKey,
        method: Method,
        content_type: Option<&str>,
        ttl: Duration,
    ) -> Result<Presigned, StorageError> {
        let expires_at = chrono::Utc::now() + ttl;
        let token = self.sign(&Grant {
            k: key.as_str().to_owned(),
            m: method,
            e: expires_at.timestamp(),
            ct: content_type.map(str::to_owned),
        })?;
        let path = format!("/storage/signed/{token}");
        let mut headers = std::collections::BTreeMap::new();
        if let Some(ct) = content_type {
            headers.insert("content-type".to_owned(), ct.to_owned());
        }
        Ok(Presigned {
            url: format!("{}{path}", self.public_base),
            method: match method {
                Method::Get => "GET".into(),
                Method::Put => "PUT".into(),
            },
            headers,
            expires_at,
        })
    }

    async fn check(&self) -> Result<(), String> {
        let probe = self.root.join(".tmp").join(".ready");
        tokio::fs::create_dir_all(self.root.join(".tmp"))
            .await
            .and(tokio::fs::write(&probe, b"ok").await)
            .map_err(|e| {
                tracing::warn!(error = %e, "local storage is not writable");
                "not writable".to_owned()
            })
    }
}

struct S3 {
    client: aws_sdk_s3::Client,
    bucket: String,
    spool_dir: PathBuf,
}

fn s3_info(key: &ObjectKey, length: Option<i64>, content_type: Option<&str>) -> ObjectInfo {
    ObjectInfo {
        key: key.as_str().to_owned(),
        size: length.unwrap_or(0).max(0) as u64,
        content_type: content_type
            .unwrap_or("application/octet-stream")
            .to_owned(),
    }
}

fn s3_err<E: std::fmt::Debug>(e: aws_sdk_s3::error::SdkError<E>) -> StorageError {
    StorageError::Backend(format!("{e:?}").chars().take(500).collect())
}

#[async_trait::async_trait(?Send)]
impl Backend for S3 {
    async fn put(
        &self,
        key: &ObjectKey,
        content_type: &str,
        body: ByteStream,
        limit: u64,
    ) -> Result<ObjectInfo, StorageError> {
        // Spooled to disk first: S3 needs the length, and memory stays flat whatever the size.
        let (tmp, size) = spool(&self.spool_dir, body, limit).await?;
        let stream = aws_sdk_s3::primitives::ByteStream::from_path(&tmp)
            .await
            .map_err(backend_err);
        let result = match stream {
            Ok(stream) => self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key.as_str())
                .content_type(content_type)
                .content_length(size as i64)
                .body(stream)
                .send()
                .await
                .map_err(s3_err),
            Err(e) => Err(e),
        };
        let _ = tokio::fs::remove_file(&tmp).await;
        result?;
        Ok(ObjectInfo {
            key: key.as_str().to_owned(),
            size,
            content_type: content_type.to_owned(),
        })
    }

    async fn get(&self, key: &ObjectKey) -> Result<(ObjectInfo, ByteStream), StorageError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_no_such_key() => StorageError::NotFound,
                _ => s3_err(e),
            })?;
        let info = s3_info(key, out.content_length(), out.content_type());
        let body = futures_util::stream::unfold(out.body, |mut body| async move {
            body.try_next()
                .await
                .map_err(std::io::Error::other)
                .transpose()
                .map(|chunk| (chunk, body))
        });
        Ok((info, Box::pin(body)))
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, StorageError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(out) => Ok(Some(s3_info(key, out.content_length(), out.content_type()))),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(s3_err(e)),
        }
    }

    /// A ranged GET: only the bytes asked for cross the network.
    async fn prefix(&self, key: &ObjectKey, n: usize) -> Result<Bytes, StorageError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .range(format!("bytes=0-{}", n.max(1) - 1))
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_no_such_key() => StorageError::NotFound,
                _ => s3_err(e),
            })?;
        let bytes = out.body.collect().await.map_err(backend_err)?.into_bytes();
        Ok(bytes.slice(..bytes.len().min(n)))
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    async fn presign(
        &self,
        key: &ObjectKey,
        method: Method,
        content_type: Option<&str>,
        ttl: Duration,
    ) -> Result<Presigned, StorageError> {
        let cfg = aws_sdk_s3::presigning::PresigningConfig::expires_in(ttl).map_err(backend_err)?;
        let request = match method {
            Method::Get => self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key.as_str())
                .presigned(cfg)
                .await
                .map_err(s3_err)?,
            Method::Put => {
                let mut put = self
                    .client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(key.as_str());
                if let Some(ct) = content_type {
                    put = put.content_type(ct);
                }
                put.presigned(cfg).await.map_err(s3_err)?
            }
        };
        Ok(Presigned {
            url: request.uri().to_owned(),
            method: request.method().to_owned(),
            headers: request
                .headers()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            expires_at: chrono::Utc::now() + ttl,
        })
    }

    async fn check(&self) -> Result<(), String> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                tracing::warn!(error = ?e, "S3 readiness check failed");
                "unreachable".to_owned()
            })
    }
}

/// The cell's file storage. Cheap to clone; reach it with `ctx.storage()`.
#[derive(Clone)]
pub struct Storage {
    backend: Arc<dyn Backend>,
    /// The same backend when it is the local one, which serves its own signed URLs.
    local: Option<Arc<Local>>,
    cfg: Arc<StorageSection>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("backend", &self.cfg.backend)
            .finish()
    }
}

/// Whether `content_type` is allowed by `patterns` (`image/*`, exact types, `*/*`).
pub fn type_allowed(patterns: &[String], content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    if kind.is_empty() || sub.is_empty() {
        return false;
    }
    patterns
        .iter()
        .any(|p| p == "*/*" || *p == essence || p.strip_suffix("/*").is_some_and(|k| k == kind))
}

impl Storage {
    /// Builds the configured backend. `data_dir` holds the local files and upload spools;
    /// `public_base` is where the local backend's signed URLs point.
    pub async fn new(
        cfg: &StorageSection,
        data_dir: &Path,
        secret: SecretString,
        public_base: String,
    ) -> Result<Self, String> {
        let spool_dir = data_dir.join("spool");
        let mut local = None;
        let backend: Arc<dyn Backend> = match cfg.backend {
            StorageBackend::Local => {
                let l = Arc::new(Local {
                    root: cfg
                        .local_dir
                        .clone()
                        .unwrap_or_else(|| data_dir.join("files")),
                    secret,
                    public_base,
                });
                local = Some(l.clone());
                l
            }
            StorageBackend::S3 => {
                let bucket = cfg
                    .bucket
                    .clone()
                    .ok_or("storage.backend = s3 needs storage.bucket")?;
                let shared = crate::aws::sdk_config(
                    &cfg.region,
                    cfg.access_key_id.as_deref(),
                    cfg.secret_access_key.as_ref(),
                )
                .await;
                let mut s3 = aws_sdk_s3::config::Builder::from(&shared)
                    .force_path_style(cfg.force_path_style);
                if let Some(endpoint) = &cfg.endpoint {
                    s3 = s3.endpoint_url(endpoint);
                }
                Arc::new(S3 {
                    client: aws_sdk_s3::Client::from_conf(s3.build()),
                    bucket,
                    spool_dir,
                })
            }
        };
        Ok(Self {
            backend,
            local,
            cfg: Arc::new(cfg.clone()),
        })
    }

    fn check_type(&self, content_type: &str) -> Result<(), StorageError> {
        if type_allowed(&self.cfg.allowed_types, content_type) {
            Ok(())
        } else {
            Err(StorageError::ContentType(content_type.to_owned()))
        }
    }

    fn ttl(&self, ttl: Option<Duration>) -> Duration {
        ttl.unwrap_or(Duration::from_secs(self.cfg.presign_ttl_secs))
            .min(Duration::from_secs(self.cfg.presign_max_secs))
    }

    /// Streams `body` into `key`; refuses disallowed types and bodies over `storage.max_upload`
    /// (nothing is stored then).
    pub async fn put(
        &self,
        key: &ObjectKey,
        content_type: &str,
        body: ByteStream,
    ) -> Result<ObjectInfo, StorageError> {
        self.check_type(content_type)?;
        self.backend
            .put(key, content_type, body, self.cfg.max_upload)
            .await
    }

    /// Stores a file the kernel made itself (an audit export): neither the upload size cap nor
    /// the content-type allow-list, which guard what clients send, applies.
    pub(crate) async fn put_trusted(
        &self,
        key: &ObjectKey,
        content_type: &str,
        body: ByteStream,
    ) -> Result<ObjectInfo, StorageError> {
        self.backend.put(key, content_type, body, u64::MAX).await
    }

    /// Stores a file the cell wrote itself (an export, a report) from a local path: neither the
    /// upload cap nor the type allow-list applies. Its future is `Send` (jobs can await it).
    pub async fn put_generated(
        &self,
        key: ObjectKey,
        content_type: &'static str,
        path: PathBuf,
    ) -> Result<ObjectInfo, StorageError> {
        let storage = self.clone();
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            handle.block_on(async move {
                let file = tokio::fs::File::open(&path).await.map_err(backend_err)?;
                let body: ByteStream = Box::pin(tokio_util::io::ReaderStream::new(file));
                storage.put_trusted(&key, content_type, body).await
            })
        })
        .await
        .map_err(backend_err)?
    }

    /// Stores bytes the cell made itself (a signed PDF, an invoice): neither the upload cap nor
    /// the type allow-list applies.
    pub async fn put_made(
        &self,
        key: &ObjectKey,
        content_type: &str,
        bytes: Bytes,
    ) -> Result<ObjectInfo, StorageError> {
        let body: ByteStream = Box::pin(futures_util::stream::once(async move { Ok(bytes) }));
        self.put_trusted(key, content_type, body).await
    }

    /// The file's facts and a stream of its bytes.
    pub async fn get(&self, key: &ObjectKey) -> Result<(ObjectInfo, ByteStream), StorageError> {
        self.backend.get(key).await
    }

    pub async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, StorageError> {
        self.backend.head(key).await
    }

    /// Up to the first `n` bytes of a non-empty file (to sniff what it really is); only those
    /// are read.
    pub async fn read_prefix(&self, key: &ObjectKey, n: usize) -> Result<Bytes, StorageError> {
        self.backend.prefix(key, n).await
    }

    /// The largest upload the storage accepts (`storage.max_upload`), in bytes.
    pub fn max_upload(&self) -> u64 {
        self.cfg.max_upload
    }

    /// Deleting a missing file is not an error.
    pub async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        self.backend.delete(key).await
    }

    /// A URL the client uploads to directly, for this content type only.
    pub async fn presign_put(
        &self,
        key: &ObjectKey,
        content_type: &str,
        ttl: Option<Duration>,
    ) -> Result<Presigned, StorageError> {
        self.check_type(content_type)?;
        self.backend
            .presign(key, Method::Put, Some(content_type), self.ttl(ttl))
            .await
    }

    /// A URL the client downloads from directly.
    pub async fn presign_get(
        &self,
        key: &ObjectKey,
        ttl: Option<Duration>,
    ) -> Result<Presigned, StorageError> {
        self.backend
            .presign(key, Method::Get, None, self.ttl(ttl))
            .await
    }

    pub(crate) async fn check(&self) -> Result<(), String> {
        self.backend.check().await
    }

    /// The local backend's signed-URL grant, verified: key, and the content type of a PUT.
    pub(crate) fn verify_local(
        &self,
        token: &str,
        method: Method,
    ) -> Result<(ObjectKey, Option<String>), StorageError> {
        let local = self.local.as_ref().ok_or(StorageError::NotFound)?;
        let grant = local.verify(token, method)?;
        Ok((ObjectKey::parse(&grant.k)?, grant.ct))
    }
}

/// Adapts an actix request body to a [`ByteStream`].
pub fn payload_stream(payload: actix_web::web::Payload) -> ByteStream {
    Box::pin(payload.map(|chunk| chunk.map_err(std::io::Error::other)))
}

/// `/health/ready` check of the storage backend.
pub(crate) struct StorageCheck(pub Storage);

#[async_trait::async_trait(?Send)]
impl crate::context::HealthCheck for StorageCheck {
    fn name(&self) -> &'static str {
        "storage"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.check().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_under_their_org_and_module() {
        let org = Uuid::now_v7();
        assert_eq!(
            ObjectKey::new(org, "documents", "2026/report-1.pdf")
                .map(|k| k.0)
                .ok(),
            Some(format!("{org}/documents/2026/report-1.pdf"))
        );
        for bad in [
            "", "../x", "a/../b", "a//b", "/abs", ".hidden", "a/.git/x", "sp ace", "a\\b",
        ] {
            assert!(ObjectKey::new(org, "documents", bad).is_err(), "{bad}");
        }
        assert!(ObjectKey::new(org, "Docs", "a").is_err());
        assert!(ObjectKey::parse(&format!("{org}/documents/a.txt")).is_ok());
        assert!(ObjectKey::parse("not-a-uuid/documents/a.txt").is_err());
    }

    #[test]
    fn content_types_match_the_allow_list() {
        let allow = vec!["image/*".to_owned(), "application/pdf".to_owned()];
        assert!(type_allowed(&allow, "image/png"));
        assert!(type_allowed(&allow, "application/pdf; charset=binary"));
        assert!(!type_allowed(&allow, "text/html"));
        assert!(!type_allowed(&allow, "image"));
        assert!(!type_allowed(&allow, "imagex/png"));
        assert!(type_allowed(&["*/*".to_owned()], "text/html"));
    }
}

//! A cell of iam, tenancy, auth, collab and files, on local storage or on a fresh bucket of the
//! S3 test server; uploads PUT to the presigned URLs the cell hands out.

use serde_json::Value;
pub use testcell::{Cell, org, user};
use testkit::TestDb;

const TOML: &str = r#"
[modules.iam]
[modules.tenancy]
[modules.auth]
[modules.collab]
[modules.files]
quota_bytes = 1000000
"#;

/// Where the cell keeps its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Local,
    S3,
}

pub async fn cell(db: &TestDb, store: Store) -> anyhow::Result<Cell> {
    let modules: Vec<Box<dyn kernel::PlatformModule>> = vec![
        Box::new(collab::Collab::default()),
        Box::new(files::Files::default()),
    ];
    match store {
        Store::Local => testcell::start(db, TOML, modules).await,
        Store::S3 => {
            let bucket = testkit::s3_bucket("files").await?;
            let endpoint = testkit::aws_endpoint();
            let env = [
                ("CELL__STORAGE__BACKEND", "s3"),
                ("CELL__STORAGE__BUCKET", bucket.as_str()),
                ("CELL__STORAGE__ENDPOINT", endpoint.as_str()),
                ("CELL__STORAGE__FORCE_PATH_STYLE", "true"),
                ("CELL__STORAGE__ACCESS_KEY_ID", "test"),
                ("CELL__STORAGE__SECRET_ACCESS_KEY", "test"),
            ];
            testcell::start_with_env(db, TOML, &env, modules).await
        }
    }
}

/// PUTs `bytes` to the ticket's presigned upload URL with its headers (`content_type` overrides
/// the signed one, to show a mismatch is refused); the status.
pub async fn put(ticket: &Value, bytes: &[u8]) -> anyhow::Result<u16> {
    let upload = &ticket["upload"];
    let url = upload["url"].as_str().unwrap_or_default();
    let mut req = reqwest::Client::new().put(url).body(bytes.to_vec());
    if let Some(headers) = upload["headers"].as_object() {
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str().unwrap_or_default());
        }
    }
    Ok(req.send().await?.status().as_u16())
}

/// GETs a presigned download URL: status and bytes.
pub async fn fetch(presigned: &Value) -> anyhow::Result<(u16, Vec<u8>)> {
    // Absolute on both backends (the local one's on the cell's own address).
    let url = presigned["url"].as_str().unwrap_or_default();
    let res = reqwest::Client::new().get(url).send().await?;
    Ok((res.status().as_u16(), res.bytes().await?.to_vec()))
}

/// Asks for an upload URL, PUTs the bytes and confirms: the confirmed file.
pub async fn upload(
    cell: &Cell,
    token: &str,
    name: &str,
    content_type: &str,
    bytes: &[u8],
    extra: Value,
) -> anyhow::Result<Value> {
    let mut body = serde_json::json!({
        "filename": name, "content_type": content_type, "size": bytes.len()
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let (status, ticket) = cell
        .post("/api/v1/files/upload-url", Some(token), body)
        .await?;
    anyhow::ensure!(status == 201, "upload-url: {status} {ticket}");
    let put = put(&ticket, bytes).await?;
    anyhow::ensure!((200..300).contains(&put), "PUT: {put}");
    let id = ticket["file"]["id"].as_str().unwrap_or_default();
    let (status, file) = cell
        .post(
            &format!("/api/v1/files/{id}/confirm"),
            Some(token),
            serde_json::json!({}),
        )
        .await?;
    anyhow::ensure!(status == 200, "confirm: {status} {file}");
    Ok(file)
}

pub const PDF: &[u8] =
    b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n";
/// The start of an x86-64 ELF header, padded to the 64 bytes of a whole one.
pub const ELF: &[u8] = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0\x01\0\0\0\
    \0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

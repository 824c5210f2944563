//! File storage: the same tests on the local backend and on a real S3-compatible server (moto,
//! started by scripts/services.sh), presigned URLs included.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use kernel::config::{StorageBackend, StorageSection};
use kernel::storage::{ByteStream, ObjectKey, Storage, StorageError};
use testkit::{Backend, TestDb};
use uuid::Uuid;

use crate::support::{TestApp, expect_error};

/// Where a standalone store's signed URLs would point (these tests follow none of them).
const BASE: &str = "http://127.0.0.1:8080";

pub use testkit::aws_endpoint;

async fn bucket() -> anyhow::Result<String> {
    testkit::s3_bucket("t").await
}

fn s3_env(bucket: &str) -> Vec<(String, String)> {
    [
        ("CELL__STORAGE__BACKEND", "s3"),
        ("CELL__STORAGE__BUCKET", bucket),
        ("CELL__STORAGE__ENDPOINT", &aws_endpoint()),
        ("CELL__STORAGE__FORCE_PATH_STYLE", "true"),
        ("CELL__STORAGE__ACCESS_KEY_ID", "test"),
        ("CELL__STORAGE__SECRET_ACCESS_KEY", "test"),
        ("CELL__STORAGE__MAX_UPLOAD", "4194304"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

async fn storages(dir: &std::path::Path) -> anyhow::Result<Vec<(&'static str, Storage)>> {
    let local = StorageSection {
        max_upload: 4 * 1024 * 1024,
        ..StorageSection::default()
    };
    let s3 = StorageSection {
        backend: StorageBackend::S3,
        bucket: Some(bucket().await?),
        endpoint: Some(aws_endpoint()),
        force_path_style: true,
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".to_owned().into()),
        ..local.clone()
    };
    let secret = "storage-test-secret-0123456789abcdef".to_owned();
    Ok(vec![
        (
            "local",
            Storage::new(&local, dir, secret.clone().into(), BASE.into())
                .await
                .map_err(anyhow::Error::msg)?,
        ),
        (
            "s3",
            Storage::new(&s3, dir, secret.into(), BASE.into())
                .await
                .map_err(anyhow::Error::msg)?,
        ),
    ])
}

fn chunks(total: usize, chunk: usize) -> (Vec<u8>, ByteStream) {
    let data: Vec<u8> = (0..total).map(|i| (i * 7 % 251) as u8).collect();
    let parts: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    (data, Box::pin(futures_util::stream::iter(parts)))
}

async fn collect(mut body: ByteStream) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

#[tokio::test]
async fn files_stream_in_and_out_and_are_deleted() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for (name, storage) in storages(dir.path()).await? {
        let key = ObjectKey::new(Uuid::now_v7(), "documents", "2026/contract.pdf")?;
        let (data, body) = chunks(3 * 1024 * 1024 + 17, 64 * 1024);
        let info = storage.put(&key, "application/pdf", body).await?;
        assert_eq!(
            (info.size, info.content_type.as_str()),
            (data.len() as u64, "application/pdf"),
            "{name}"
        );
        let head = storage.head(&key).await?.map(|i| (i.size, i.content_type));
        assert_eq!(
            head,
            Some((data.len() as u64, "application/pdf".to_owned())),
            "{name}"
        );
        let (got, body) = storage.get(&key).await?;
        assert_eq!(got.size, data.len() as u64);
        assert!(collect(body).await? == data, "{name}: the bytes changed");

        storage.delete(&key).await?;
        assert!(
            matches!(storage.get(&key).await, Err(StorageError::NotFound)),
            "{name}"
        );
        assert_eq!(storage.head(&key).await?, None, "{name}");
        storage.delete(&key).await?;
    }
    Ok(())
}

#[tokio::test]
async fn limits_refuse_large_or_unsafe_files_and_store_nothing() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for (name, storage) in storages(dir.path()).await? {
        let key = ObjectKey::new(Uuid::now_v7(), "documents", "big.bin")?;
        let (_, body) = chunks(4 * 1024 * 1024 + 1, 256 * 1024);
        let err = storage
            .put(&key, "application/octet-stream", body)
            .await
            .err();
        assert!(
            matches!(err, Some(StorageError::TooLarge(4194304))),
            "{name}: {err:?}"
        );
        assert_eq!(
            storage.head(&key).await?,
            None,
            "{name}: a refused upload was stored"
        );

        let page = ObjectKey::new(Uuid::now_v7(), "documents", "page.html")?;
        let (_, body) = chunks(10, 10);
        let err = storage.put(&page, "text/html", body).await.err();
        assert!(
            matches!(err, Some(StorageError::ContentType(_))),
            "{name}: {err:?}"
        );
        assert!(
            storage.presign_put(&page, "text/html", None).await.is_err(),
            "{name}"
        );
        assert_eq!(storage.head(&page).await?, None);
    }
    Ok(())
}

#[tokio::test]
async fn presigned_urls_upload_and_download_over_plain_http() -> anyhow::Result<()> {
    // The local backend's URLs are served by the cell itself, so run one.
    let db = TestDb::new(Backend::Sqlite).await?;
    let bucket = bucket().await?;
    let s3 = s3_env(&bucket);
    let s3_env: Vec<(&str, &str)> = s3.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for (name, env) in [("local", vec![]), ("s3", s3_env)] {
        let app = TestApp::spawn_with(&db, "", &env, vec![]).await?;
        let ready: serde_json::Value = app.get("/health/ready").await?.json().await?;
        assert_eq!(ready["checks"]["storage"], "ok", "{name}: {ready}");
        let storage = app.ctx.storage();
        let key = ObjectKey::new(Uuid::now_v7(), "files", "photo.png")?;

        let put = storage
            .presign_put(&key, "image/png", Some(Duration::from_secs(300)))
            .await?;
        assert_eq!(
            put.headers.get("content-type").map(String::as_str),
            Some("image/png"),
            "{name}"
        );
        let res = app
            .client
            .put(put.url.clone())
            .header("content-type", "image/png")
            .body(vec![9_u8; 1000])
            .send()
            .await?;
        assert!(res.status().is_success(), "{name}: upload {}", res.status());
        assert_eq!(
            storage.head(&key).await?.map(|i| i.size),
            Some(1000),
            "{name}"
        );

        let get = storage.presign_get(&key, None).await?;
        let res = app.client.get(get.url).send().await?;
        assert_eq!(res.status(), 200, "{name}");
        assert_eq!(res.bytes().await?.to_vec(), vec![9_u8; 1000], "{name}");

        if name == "local" {
            // The cell checks what it signed: content type, signature, expiry.
            let wrong_type = app
                .client
                .put(put.url.clone())
                .header("content-type", "image/gif")
                .body(vec![1])
                .send()
                .await?;
            expect_error(wrong_type, 415, "unsupported_media_type").await?;
            let tampered = put.url.replace("/signed/", "/signed/x");
            let res = app
                .client
                .put(tampered)
                .header("content-type", "image/png")
                .body(vec![1])
                .send()
                .await?;
            expect_error(res, 403, "forbidden").await?;
            let short = storage
                .presign_get(&key, Some(Duration::from_secs(1)))
                .await?;
            tokio::time::sleep(Duration::from_millis(2100)).await;
            expect_error(app.client.get(short.url).send().await?, 403, "forbidden").await?;
            // A GET grant is not a PUT grant.
            let as_put = app
                .client
                .put(storage.presign_get(&key, None).await?.url)
                .header("content-type", "image/png")
                .body(vec![1])
                .send()
                .await?;
            expect_error(as_put, 403, "forbidden").await?;
        }
    }
    Ok(())
}

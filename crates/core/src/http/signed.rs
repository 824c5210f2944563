//! The local storage backend's presigned URLs: `GET` and `PUT /storage/signed/{token}`, where the
//! token is an HMAC-signed, expiring grant for one key (and, for PUT, one content type). With S3
//! these routes answer 404: S3 serves its own presigned URLs.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, put, web};

use crate::context::CellContext;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::storage::{Method, payload_stream};

/// Downloads the file a signed GET URL grants.
#[utoipa::path(tag = "storage", security(()), params(("token" = String, Path)),
    responses((status = 200, description = "the file"), (status = 403, body = crate::error::ErrorEnvelope)))]
#[get("/storage/signed/{token}")]
pub async fn download(
    ctx: CellContext,
    _: super::Signed,
    token: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (key, _) = ctx.storage().verify_local(&token, Method::Get)?;
    let (info, body) = ctx.storage().get(&key).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, info.content_type))
        .insert_header((header::CONTENT_LENGTH, info.size))
        .insert_header((header::CACHE_CONTROL, "private, max-age=0"))
        .streaming(body))
}

/// Uploads to the key a signed PUT URL grants, with the content type it was signed for.
#[utoipa::path(tag = "storage", security(()), params(("token" = String, Path)),
    responses((status = 201, body = crate::storage::ObjectInfo), (status = 403, body = crate::error::ErrorEnvelope)))]
#[put("/storage/signed/{token}")]
pub async fn upload(
    ctx: CellContext,
    _: super::Signed,
    req: HttpRequest,
    token: web::Path<String>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let (key, signed_type) = ctx.storage().verify_local(&token, Method::Put)?;
    let sent = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let expected = signed_type.unwrap_or_default();
    if sent != expected {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("this URL was signed for `Content-Type: {expected}`"),
        ));
    }
    let info = ctx
        .storage()
        .put(&key, &expected, payload_stream(body))
        .await?;
    Ok(HttpResponse::Created().json(info))
}

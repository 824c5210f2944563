//! `/folders`: the org's file library as a tree (`{name, parent_id}`, never a cycle), and what
//! each folder holds.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use kernel::ApiResult;
use kernel::http::ValidJson;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::files::File;
use crate::entity::folder;
use crate::permissions::{ReadFiles, WriteFiles};
use crate::service;

const TAG: &str = "files";
/// The most folders and files one contents answer lists of each (the paged lists go further:
/// `/files?filter[folder_id]=`).
const CONTENTS_LIMIT: u64 = 500;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(create)
        .service(root_contents)
        .service(read)
        .service(contents)
        .service(update)
        .service(remove);
}

/// A folder of the library.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Folder {
    pub id: Uuid,
    pub name: String,
    /// `null` at the top.
    pub parent_id: Option<Uuid>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<folder::Model> for Folder {
    fn from(m: folder::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            parent_id: m.parent_id,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// What a folder holds: its folders by name, its active files newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Contents {
    /// `null` for the top of the library.
    pub folder: Option<Folder>,
    pub folders: Vec<Folder>,
    pub files: Vec<File>,
    /// `false` when either list stopped at 500 (page on with `/files?filter[folder_id]=`).
    pub complete: bool,
}

/// `POST /folders`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFolder {
    /// Unique among its siblings in any case; kept trimmed.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^/\\\u0000-\u001f\u007f-\u009f]*[^/\\\s\u0000-\u001f\u007f-\u009f][^/\\\u0000-\u001f\u007f-\u009f]*$"
    )]
    #[garde(length(chars, min = 1, max = 200))]
    pub name: String,
    /// The folder it goes in; absent or `null`: the top.
    #[garde(skip)]
    pub parent_id: Option<Uuid>,
}

fn folder_name(raw: &str) -> Result<String, kernel::ApiError> {
    service::file_name("name", raw)
}

/// Creates a folder (members and up).
#[utoipa::path(tag = TAG, request_body = NewFolder, responses(
    (status = 201, body = Folder), (status = 401), (status = 403), (status = 404), (status = 409),
    (status = 422)))]
#[post("/folders")]
pub(crate) async fn create(tx: WriteFiles, body: ValidJson<NewFolder>) -> ApiResult<HttpResponse> {
    let ValidJson(body) = body;
    let name = folder_name(&body.name)?;
    let row = service::create_folder(&tx, tx.caller().user_id, name, body.parent_id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Folder::from(row)))
}

async fn contents_of(
    tx: &kernel::TenantTx,
    id: Option<Uuid>,
) -> Result<Contents, kernel::ApiError> {
    let folder = match id {
        Some(id) => Some(Folder::from(service::folder_of(tx, id).await?)),
        None => None,
    };
    let (folders, files) = service::contents(tx, id, CONTENTS_LIMIT).await?;
    let complete = (folders.len() as u64) < CONTENTS_LIMIT && (files.len() as u64) < CONTENTS_LIMIT;
    Ok(Contents {
        folder,
        folders: folders.into_iter().map(Folder::from).collect(),
        files: files.into_iter().map(File::from).collect(),
        complete,
    })
}

/// The top of the library: folders without a parent and files in no folder.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Contents), (status = 401), (status = 403)))]
#[get("/folders/root/contents")]
pub(crate) async fn root_contents(tx: ReadFiles) -> ApiResult<HttpResponse> {
    let body = contents_of(&tx, None).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(body))
}

/// One folder.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Folder), (status = 401), (status = 403), (status = 404)))]
#[get("/folders/{id}")]
pub(crate) async fn read(tx: ReadFiles, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let row = service::folder_of(&tx, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Folder::from(row)))
}

/// A folder's folders and files.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Contents), (status = 401), (status = 403), (status = 404)))]
#[get("/folders/{id}/contents")]
pub(crate) async fn contents(tx: ReadFiles, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let body = contents_of(&tx, Some(id.into_inner())).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `PATCH /folders/{id}`: absent fields stay; `parent_id: null` moves it to the top.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FolderPatch {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^/\\\u0000-\u001f\u007f-\u009f]*[^/\\\s\u0000-\u001f\u007f-\u009f][^/\\\u0000-\u001f\u007f-\u009f]*$"
    )]
    #[garde(inner(length(chars, min = 1, max = 200)))]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<Uuid>)]
    #[garde(skip)]
    pub parent_id: Option<Option<Uuid>>,
}

/// Renames a folder or moves it (never into itself or its own folders: 409 naming the path).
#[utoipa::path(tag = TAG, request_body = FolderPatch, responses(
    (status = 200, body = Folder), (status = 401), (status = 403), (status = 404), (status = 409),
    (status = 422)))]
#[patch("/folders/{id}")]
pub(crate) async fn update(
    tx: WriteFiles,
    id: web::Path<Uuid>,
    body: ValidJson<FolderPatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(body) = body;
    let name = body.name.as_deref().map(folder_name).transpose()?;
    let row = service::update_folder(&tx, id.into_inner(), name, body.parent_id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Folder::from(row)))
}

/// Deletes an empty folder (409 while it holds folders or files).
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404), (status = 409)))]
#[delete("/folders/{id}")]
pub(crate) async fn remove(tx: WriteFiles, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    service::delete_folder(&tx, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

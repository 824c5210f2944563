//! `/files`: upload (a presigned PUT, then confirm), read, download (a presigned GET), rename,
//! move, delete; `/{collection}/{id}/files`: the files attached to any entity.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{ListQuery, ListSpec, Page, State, ValidJson};
use kernel::module::EntityRef;
use kernel::sea_orm::{ColumnTrait, QueryFilter};
use kernel::storage::Presigned;
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::file;
use crate::module::Settings;
use crate::permissions::{ReadFiles, WriteFiles};
use crate::service;

const TAG: &str = "files";

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(upload_url)
        .service(confirm)
        .service(list)
        .service(read)
        .service(download)
        .service(update)
        .service(remove)
        .service(of_entity);
}

/// A file, as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct File {
    pub id: Uuid,
    pub name: String,
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// `pending` (uploading) or `active`.
    pub status: String,
    /// The folder of a library file; `null` at the top or for an attached file.
    pub folder_id: Option<Uuid>,
    /// The entity it is attached to.
    pub attached_to: Option<EntityRef>,
    pub uploaded_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
}

impl From<file::Model> for File {
    fn from(m: file::Model) -> Self {
        let attached_to = match (m.attached_type, m.attached_id) {
            (Some(kind), Some(id)) => Some(EntityRef { kind, id }),
            _ => None,
        };
        Self {
            id: m.id,
            name: m.name,
            content_type: m.content_type,
            size: m.size,
            status: m.status,
            folder_id: m.folder_id,
            attached_to,
            uploaded_by: m.uploaded_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
            confirmed_at: m.confirmed_at,
        }
    }
}

/// What `POST /files/upload-url` answers: the pending file and where to PUT its bytes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadTicket {
    pub file: File,
    /// PUT the bytes here within 15 minutes, with these headers, then confirm.
    pub upload: Presigned,
}

/// `POST /files/upload-url`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    /// The name users see; kept trimmed; no `/`, `\` or control characters.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^/\\\u0000-\u001f\u007f-\u009f]*[^/\\\s\u0000-\u001f\u007f-\u009f][^/\\\u0000-\u001f\u007f-\u009f]*$"
    )]
    #[garde(length(chars, min = 1, max = 255))]
    pub filename: String,
    /// The file's media type, one the cell accepts (`storage.allowed_types`; the pattern lists
    /// the default list).
    #[schema(
        max_length = 255,
        pattern = r"^(image/(png|jpeg|gif|webp)|text/(plain|csv)|audio/mpeg|video/mp4|application/(pdf|json|zip|msword|octet-stream|vnd\.ms-excel|vnd\.openxmlformats-officedocument\.(wordprocessingml\.document|spreadsheetml\.sheet|presentationml\.presentation)))(; ?[a-z0-9_.+-]+=[A-Za-z0-9_.+-]+)?$"
    )]
    #[garde(length(max = 255), pattern(r"^(image/(png|jpeg|gif|webp)|text/(plain|csv)|audio/mpeg|video/mp4|application/(pdf|json|zip|msword|octet-stream|vnd\.ms-excel|vnd\.openxmlformats-officedocument\.(wordprocessingml\.document|spreadsheetml\.sheet|presentationml\.presentation)))(; ?[a-z0-9_.+-]+=[A-Za-z0-9_.+-]+)?$"))]
    pub content_type: String,
    /// Bytes; files of 100 MiB or more are refused (422, with the cell's default limit), an
    /// upload past the org's quota with 413.
    #[schema(minimum = 0, maximum = 104857599)]
    #[serde(deserialize_with = "kernel::http::whole_number")]
    #[garde(skip)]
    pub size: u64,
    /// Attach it to this entity (with `entity_id`): it is then seen by those who see the entity.
    #[schema(max_length = 64, pattern = r"^[a-z][a-z0-9_]*$")]
    #[garde(inner(length(max = 64), pattern(r"^[a-z][a-z0-9_]*$")))]
    pub entity_type: Option<String>,
    #[garde(skip)]
    pub entity_id: Option<Uuid>,
    /// A folder of the library (not with an entity).
    #[garde(skip)]
    pub folder_id: Option<Uuid>,
}

/// Starts an upload: a `pending` file and a presigned PUT valid 15 minutes (members and up).
#[utoipa::path(tag = TAG, request_body = UploadRequest, responses(
    (status = 201, body = UploadTicket), (status = 401), (status = 403), (status = 404),
    (status = 413), (status = 415), (status = 422)))]
#[post("/files/upload-url")]
pub(crate) async fn upload_url(
    ctx: CellContext,
    settings: State<Settings>,
    tx: WriteFiles,
    body: ValidJson<UploadRequest>,
) -> ApiResult<HttpResponse> {
    let ValidJson(body) = body;
    let attach = match (body.entity_type, body.entity_id) {
        (Some(kind), Some(id)) => Some(EntityRef { kind, id }),
        (None, None) => None,
        // Half a name finds no entity.
        (Some(_), None) | (None, Some(_)) => {
            return Err(ApiError::not_found(
                "no such entity: give entity_type and entity_id together",
            ));
        }
    };
    let new = service::NewUpload {
        name: service::file_name("filename", &body.filename)?,
        content_type: body.content_type,
        size: body.size,
        attach,
        folder_id: body.folder_id,
    };
    let (row, upload) = service::start_upload(&ctx, &tx, tx.caller(), &settings, new).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(UploadTicket {
        file: File::from(row),
        upload,
    }))
}

/// Confirms an upload (its uploader or an admin): the stored object must exist with the
/// declared size and type, and be what the type says; then the file is `active`.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = File), (status = 401), (status = 403), (status = 404), (status = 409),
    (status = 422)))]
#[post("/files/{id}/confirm")]
pub(crate) async fn confirm(
    ctx: CellContext,
    tx: WriteFiles,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let row = service::confirm(&ctx, &tx, tx.caller(), id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(File::from(row)))
}

fn file_list() -> ListSpec<file::Entity> {
    use file::Column as C;
    ListSpec::new()
        .field("name", C::Name)
        .field("status", C::Status)
        .field("content_type", C::ContentType)
        .field("size", C::Size)
        .filterable("folder_id", C::FolderId)
        .sortable("created_at", C::CreatedAt)
        .search([C::Name])
        .tagged(crate::loader::ENTITY, C::Id)
        .default_sort(C::CreatedAt, true)
        .tiebreak(C::Id)
}

kernel::list_params!(FileListParams, file_list);

/// The org's library: files attached to no entity, newest first (`filter[folder_id]=`,
/// `filter[status]=pending`, `search`, `tags`, `sort`, paged). An entity's files are under
/// `/{collection}/{id}/files`.
#[utoipa::path(tag = TAG, params(FileListParams), responses(
    (status = 200, body = Page<File>), (status = 401), (status = 403), (status = 422)))]
#[get("/files")]
pub(crate) async fn list(tx: ReadFiles, query: ListQuery) -> ApiResult<HttpResponse> {
    let library = tx
        .repo::<file::Entity>()
        .find()
        .filter(file::Column::AttachedType.is_null());
    let page = tx.page(file_list().apply(&query, library)?, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(File::from)))
}

/// One file the caller sees.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = File), (status = 401), (status = 403), (status = 404)))]
#[get("/files/{id}")]
pub(crate) async fn read(
    ctx: CellContext,
    tx: ReadFiles,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let row = service::get(&ctx, &tx, tx.caller(), id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(File::from(row)))
}

/// A presigned GET of an active file, valid one hour, for those who see the file.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Presigned), (status = 401), (status = 403), (status = 404),
    (status = 409)))]
#[get("/files/{id}/download")]
pub(crate) async fn download(
    ctx: CellContext,
    tx: ReadFiles,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let url = service::download(&ctx, &tx, tx.caller(), id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(url))
}

/// `PATCH /files/{id}`: absent fields stay; `folder_id: null` moves it to the top.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilePatch {
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^/\\\u0000-\u001f\u007f-\u009f]*[^/\\\s\u0000-\u001f\u007f-\u009f][^/\\\u0000-\u001f\u007f-\u009f]*$"
    )]
    #[garde(inner(length(chars, min = 1, max = 255)))]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<Uuid>)]
    #[garde(skip)]
    pub folder_id: Option<Option<Uuid>>,
}

/// Renames a file or moves it to another folder (members and up).
#[utoipa::path(tag = TAG, request_body = FilePatch, responses(
    (status = 200, body = File), (status = 401), (status = 403), (status = 404), (status = 422)))]
#[patch("/files/{id}")]
pub(crate) async fn update(
    ctx: CellContext,
    tx: WriteFiles,
    id: web::Path<Uuid>,
    body: ValidJson<FilePatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(body) = body;
    let change = service::Change {
        name: body
            .name
            .map(|n| service::file_name("name", &n))
            .transpose()?,
        folder_id: body.folder_id,
    };
    let row = service::update(&ctx, &tx, tx.caller(), id.into_inner(), change).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(File::from(row)))
}

/// Moves a file to the trash (its uploader or an admin); its bytes are kept until the trash is
/// purged after 30 days, and `/trash` restores it until then.
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404)))]
#[delete("/files/{id}")]
pub(crate) async fn remove(
    ctx: CellContext,
    tx: WriteFiles,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    service::delete(&ctx, &tx, tx.caller(), id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `/{collection}/{id}/files`: an entity as a route names it.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EntityPath {
    /// The entity's collection (`teams`, `documents`), as its module declares it.
    pub collection: String,
    pub id: Uuid,
}

/// The files attached to an entity the caller sees, newest first (the list conventions of
/// `/files`).
#[utoipa::path(tag = TAG, params(EntityPath, FileListParams), responses(
    (status = 200, body = Page<File>), (status = 401), (status = 403), (status = 404),
    (status = 422)))]
#[get("/{collection}/{id}/files")]
pub(crate) async fn of_entity(
    ctx: CellContext,
    tx: ReadFiles,
    path: web::Path<EntityPath>,
    query: ListQuery,
) -> ApiResult<HttpResponse> {
    let EntityPath { collection, id } = path.into_inner();
    let loader = ctx
        .entity_collection(&collection)
        .ok_or_else(|| ApiError::not_found(format!("no such collection `{collection}`")))?;
    let kind = loader.entity_type();
    if !kernel::module::sees(&ctx, &tx, tx.caller(), kind, id).await? {
        return Err(ApiError::not_found(format!("no such {kind}")));
    }
    let attached = tx
        .repo::<file::Entity>()
        .find()
        .filter(file::Column::AttachedType.eq(kind))
        .filter(file::Column::AttachedId.eq(id));
    let page = tx
        .page(file_list().apply(&query, attached)?, &query)
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(File::from)))
}

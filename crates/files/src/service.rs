//! The domain rules, on a transaction of the org: handlers, the loader and jobs share them.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use kernel::error::ErrorCode;
use kernel::events::Event;
use kernel::http::{AdministerOrg, Caller};
use kernel::module::EntityRef;
use kernel::sea_orm::ActiveValue::Set;
use kernel::sea_orm::sea_query::Expr;
use kernel::sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use kernel::storage::{ObjectKey, Presigned};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::{file, folder};
use crate::events::{FileDeleted, FileRestored, FileUpdated, FileUploaded};
use crate::module::Settings;

pub(crate) const MAX_NAME: usize = 255;
/// How long an upload URL is valid (the spec's 15 minutes).
const UPLOAD_TTL: Duration = Duration::from_secs(15 * 60);
/// How long a download URL is valid (the spec's hour).
const DOWNLOAD_TTL: Duration = Duration::from_secs(60 * 60);
/// How deep folders nest.
const MAX_DEPTH: usize = 32;
pub(crate) const PENDING: &str = "pending";
pub(crate) const ACTIVE: &str = "active";

/// The module's prefix in storage keys: `<org>/files/<file id>`.
const MODULE: &str = "files";

pub(crate) fn key(org: Uuid, id: Uuid) -> Result<ObjectKey, ApiError> {
    Ok(ObjectKey::new(org, MODULE, &id.to_string())?)
}

fn no_file() -> ApiError {
    ApiError::not_found("no such file")
}

fn no_folder() -> ApiError {
    ApiError::not_found("no such folder")
}

async fn publish<E: Event>(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    event: &E,
) -> Result<(), ApiError> {
    ctx.events()
        .emit(tx, Some(EntityRef::user(by)), event)
        .await?;
    Ok(())
}

/// A file name as users give it: trimmed, 1 to 255 characters, no path separators or control
/// characters (it is shown and offered as a download name, never used as a path).
pub(crate) fn file_name(field: &str, raw: &str) -> Result<String, ApiError> {
    // Looked at before trimming: a name with a newline at either end is refused (as the
    // documented pattern says), not silently cut.
    if raw.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
        return Err(ApiError::validation(
            field,
            "a name has no `/`, `\\` or control characters",
        ));
    }
    kernel::http::trimmed(field, raw, MAX_NAME)
}

/// Those of `rows` that `caller` may see: unattached files (every member of the org) and files
/// attached to an entity the caller sees (asked of its module's loader, once per type).
pub(crate) async fn visible(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    rows: Vec<file::Model>,
) -> Result<Vec<file::Model>, ApiError> {
    let attached = rows
        .iter()
        .filter_map(|r| Some((r.attached_type.as_deref()?, r.attached_id?)));
    let seen = kernel::module::visible(ctx, tx, caller, attached).await?;
    Ok(rows
        .into_iter()
        .filter(|r| match (&r.attached_type, r.attached_id) {
            (Some(kind), Some(id)) => seen.contains_key(&(kind.clone(), id)),
            _ => true,
        })
        .collect())
}

/// The file, if `caller` may see it; 404 otherwise (another org's ids look like no file).
pub(crate) async fn get(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    id: Uuid,
) -> Result<file::Model, ApiError> {
    let row = tx
        .repo::<file::Entity>()
        .get(id)
        .await?
        .ok_or_else(no_file)?;
    visible(ctx, tx, caller, vec![row])
        .await?
        .pop()
        .ok_or_else(no_file)
}

/// 403 unless `caller` uploaded the file or administers the org.
async fn owner_or_admin(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    row: &file::Model,
    what: &str,
) -> Result<(), ApiError> {
    if row.uploaded_by == caller.user_id {
        return Ok(());
    }
    match kernel::http::require::<AdministerOrg>(ctx, tx, caller, None).await {
        Ok(()) => Ok(()),
        Err(_) => Err(ApiError::forbidden(format!(
            "only the uploader or an admin may {what} this file"
        ))),
    }
}

/// What `POST /files/upload-url` asks for.
pub(crate) struct NewUpload {
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub attach: Option<EntityRef>,
    pub folder_id: Option<Uuid>,
}

/// Bytes the org stores: every file row, pending and trashed ones included (their objects may
/// exist until they are swept or purged).
async fn stored_bytes(tx: &TenantTx) -> Result<u64, ApiError> {
    use kernel::sea_orm::EntityTrait;
    let total: Option<i64> = file::Entity::find()
        .filter(file::Column::OrgId.eq(tx.org_id()))
        .select_only()
        .expr(Expr::cust("CAST(COALESCE(SUM(size), 0) AS BIGINT)"))
        .into_tuple()
        // unscoped: the quota counts trashed rows too, which every repository select hides;
        // this select carries the org's predicate itself.
        .one(tx.unscoped())
        .await?;
    Ok(total.unwrap_or(0).max(0) as u64)
}

/// Refuses (413, with the quota and what is in use) `size` more bytes past the org's `quota`.
async fn within_quota(tx: &TenantTx, quota: u64, size: u64) -> Result<(), ApiError> {
    let used = stored_bytes(tx).await?;
    if used.saturating_add(size) > quota {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "this organization's storage quota of {quota} bytes would be exceeded ({used} in use)"
            ),
        )
        .with_details(serde_json::json!({ "quota": quota, "used": used })));
    }
    Ok(())
}

/// Starts an upload: checks size, type, quota, the entity or folder it goes to; inserts the
/// `pending` row and answers it with a presigned PUT valid 15 minutes.
pub(crate) async fn start_upload(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    settings: &Settings,
    new: NewUpload,
) -> Result<(file::Model, Presigned), ApiError> {
    let limit = settings
        .max_file_bytes
        .min(ctx.storage().max_upload().saturating_add(1));
    if new.size >= limit {
        return Err(ApiError::validation(
            "size",
            format!("files of {limit} bytes or more are not accepted"),
        ));
    }
    if let Some(target) = &new.attach {
        if ctx.entity_loader(&target.kind).is_none() {
            return Err(ApiError::not_found(format!(
                "no module of this cell has entities of type `{}`",
                target.kind
            )));
        }
        if !kernel::module::sees(ctx, tx, caller, &target.kind, target.id).await? {
            return Err(ApiError::not_found(format!("no such {}", target.kind)));
        }
        if new.folder_id.is_some() {
            return Err(ApiError::validation(
                "folder_id",
                "a file attached to an entity lives with it, not in a folder",
            ));
        }
    }
    if let Some(folder_id) = new.folder_id {
        folder_of(tx, folder_id).await?;
    }
    within_quota(tx, settings.quota_bytes, new.size).await?;
    let id = Uuid::now_v7();
    let object = key(tx.org_id(), id)?;
    // Refuses a type the cell does not accept (415) before anything is written.
    let upload = ctx
        .storage()
        .presign_put(&object, &new.content_type, Some(UPLOAD_TTL))
        .await?;
    let now = Utc::now();
    let (attached_type, attached_id) = match new.attach {
        Some(e) => (Some(e.kind), Some(e.id)),
        None => (None, None),
    };
    let row = tx
        .repo::<file::Entity>()
        .insert(file::ActiveModel {
            id: Set(id),
            org_id: Set(tx.org_id()),
            name: Set(new.name),
            content_type: Set(new.content_type),
            size: Set(new.size as i64),
            status: Set(PENDING.into()),
            folder_id: Set(new.folder_id),
            attached_type: Set(attached_type),
            attached_id: Set(attached_id),
            uploaded_by: Set(caller.user_id),
            created_at: Set(now),
            updated_at: Set(now),
            confirmed_at: Set(None),
            deleted_at: Set(None),
        })
        .await?;
    Ok((row, upload))
}

/// Confirms an upload: the object must exist with the declared size and type, and its first
/// bytes must be what the type says; then the file is `active` and `file.uploaded` published.
/// A stored object that fails the check is deleted (the row stays pending for the sweep).
pub(crate) async fn confirm(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    id: Uuid,
) -> Result<file::Model, ApiError> {
    let row = get(ctx, tx, caller, id).await?;
    owner_or_admin(ctx, tx, caller, &row, "confirm").await?;
    if row.status != PENDING {
        return Err(ApiError::conflict("this file is already confirmed"));
    }
    let object = key(tx.org_id(), row.id)?;
    let storage = ctx.storage();
    let Some(info) = storage.head(&object).await? else {
        return Err(ApiError::conflict(
            "nothing has been uploaded for this file yet: PUT it to its upload URL first",
        ));
    };
    let refuse = |field: &str, message: String| ApiError::validation(field, message);
    let problem = if info.size != row.size as u64 {
        Some(refuse(
            "size",
            format!("{} bytes were uploaded, {} declared", info.size, row.size),
        ))
    } else if crate::sniff::essence(&info.content_type) != crate::sniff::essence(&row.content_type)
    {
        Some(refuse(
            "content_type",
            format!(
                "stored as `{}`, declared `{}`",
                info.content_type, row.content_type
            ),
        ))
    } else {
        let head = match info.size {
            0 => Default::default(),
            _ => storage.read_prefix(&object, crate::sniff::PREFIX).await?,
        };
        crate::sniff::check(&row.content_type, &head)
            .err()
            .map(|why| refuse("content_type", why))
    };
    if let Some(problem) = problem {
        storage.delete(&object).await?;
        return Err(problem);
    }
    let now = Utc::now();
    let mut m: file::ActiveModel = row.into();
    m.status = Set(ACTIVE.into());
    m.confirmed_at = Set(Some(now));
    m.updated_at = Set(now);
    let row = tx.repo::<file::Entity>().update(m).await?;
    let attached_to = match (&row.attached_type, row.attached_id) {
        (Some(kind), Some(id)) => Some(EntityRef {
            kind: kind.clone(),
            id,
        }),
        _ => None,
    };
    let uploaded = FileUploaded {
        file_id: row.id,
        name: row.name.clone(),
        content_type: row.content_type.clone(),
        size: row.size,
        attached_to,
    };
    publish(ctx, tx, caller.user_id, &uploaded).await?;
    Ok(row)
}

/// A file the cell made itself (a signed PDF, an invoice), stored and attached to `entity` in
/// `tx`'s org: active at once, in the org's quota (413 past it), `file.uploaded` published as
/// `by`'s. What other modules call (`files::store_made`); the bytes are written before the row,
/// so a failed transaction leaves at most an object the purge of abandoned keys never sees —
/// it is deleted here when the row cannot be written.
pub async fn store_made(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    entity: EntityRef,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Result<Uuid, ApiError> {
    let name = file_name("name", name)?;
    let quota = ctx
        .service::<Settings>()
        .map_or(u64::MAX, |s| s.quota_bytes);
    let size = bytes.len() as u64;
    within_quota(tx, quota, size).await?;
    let id = Uuid::now_v7();
    let object = key(tx.org_id(), id)?;
    ctx.storage()
        .put_made(&object, content_type, bytes.into())
        .await?;
    let now = Utc::now();
    let inserted = tx
        .repo::<file::Entity>()
        .insert(file::ActiveModel {
            id: Set(id),
            org_id: Set(tx.org_id()),
            name: Set(name.clone()),
            content_type: Set(content_type.to_owned()),
            size: Set(size as i64),
            status: Set(ACTIVE.into()),
            folder_id: Set(None),
            attached_type: Set(Some(entity.kind.clone())),
            attached_id: Set(Some(entity.id)),
            uploaded_by: Set(by),
            created_at: Set(now),
            updated_at: Set(now),
            confirmed_at: Set(Some(now)),
            deleted_at: Set(None),
        })
        .await;
    if let Err(e) = inserted {
        let _ = ctx.storage().delete(&object).await;
        return Err(e.into());
    }
    let uploaded = FileUploaded {
        file_id: id,
        name,
        content_type: content_type.to_owned(),
        size: size as i64,
        attached_to: Some(entity),
    };
    publish(ctx, tx, by, &uploaded).await?;
    Ok(id)
}

/// A presigned GET valid one hour, for an active file the caller sees.
pub(crate) async fn download(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    id: Uuid,
) -> Result<Presigned, ApiError> {
    let row = get(ctx, tx, caller, id).await?;
    if row.status != ACTIVE {
        return Err(ApiError::conflict(
            "this upload is not confirmed yet: there is nothing to download",
        ));
    }
    let object = key(tx.org_id(), row.id)?;
    Ok(ctx
        .storage()
        .presign_get(&object, Some(DOWNLOAD_TTL))
        .await?)
}

/// What `PATCH /files/{id}` changes; `folder_id: Some(None)` moves it to the top.
pub(crate) struct Change {
    pub name: Option<String>,
    pub folder_id: Option<Option<Uuid>>,
}

/// Renames or moves a file the caller sees (members and up).
pub(crate) async fn update(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    id: Uuid,
    change: Change,
) -> Result<file::Model, ApiError> {
    let row = get(ctx, tx, caller, id).await?;
    if let Some(Some(folder_id)) = change.folder_id {
        if row.attached_type.is_some() {
            return Err(ApiError::validation(
                "folder_id",
                "a file attached to an entity lives with it, not in a folder",
            ));
        }
        folder_of(tx, folder_id).await?;
    }
    let mut m: file::ActiveModel = row.into();
    if let Some(name) = change.name {
        m.name = Set(name);
    }
    if let Some(folder_id) = change.folder_id {
        m.folder_id = Set(folder_id);
    }
    m.updated_at = Set(Utc::now());
    let row = tx.repo::<file::Entity>().update(m).await?;
    let updated = FileUpdated {
        file_id: row.id,
        name: row.name.clone(),
        folder_id: row.folder_id,
    };
    publish(ctx, tx, caller.user_id, &updated).await?;
    Ok(row)
}

/// Moves a file to the trash (its uploader or an admin); the object stays until the trash is
/// purged (30 days).
pub(crate) async fn delete(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    id: Uuid,
) -> Result<(), ApiError> {
    let row = get(ctx, tx, caller, id).await?;
    owner_or_admin(ctx, tx, caller, &row, "delete").await?;
    tx.repo::<file::Entity>().trash(id).await?;
    publish(ctx, tx, caller.user_id, &FileDeleted { file_id: id }).await
}

/// Takes a file out of the trash: `None` when it is not there or not the caller's to see.
pub(crate) async fn restore(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    id: Uuid,
) -> Result<Option<file::Model>, ApiError> {
    let repo = tx.repo::<file::Entity>();
    let in_trash = repo.find_trashed(None)?.filter(file::Column::Id.eq(id));
    let Some(row) = in_trash.one(repo.conn()).await? else {
        return Ok(None);
    };
    let Some(row) = visible(ctx, tx, caller, vec![row]).await?.pop() else {
        return Ok(None);
    };
    owner_or_admin(ctx, tx, caller, &row, "restore").await?;
    if !repo.restore(id).await? {
        return Ok(None);
    }
    publish(ctx, tx, caller.user_id, &FileRestored { file_id: id }).await?;
    Ok(repo.get(id).await?)
}

/// Deletes the rows of `ids` for good and queues the deletion of their objects (a job, so it
/// happens only if this transaction commits); the ids it deleted.
pub(crate) async fn purge(
    ctx: &CellContext,
    tx: &TenantTx,
    ids: Vec<Uuid>,
) -> Result<Vec<Uuid>, ApiError> {
    if ids.is_empty() {
        return Ok(ids);
    }
    tx.repo::<file::Entity>()
        .delete_many(file::Column::Id.is_in(ids.clone()))
        .await?;
    ctx.jobs()
        .enqueue_in(
            tx,
            &format!("{MODULE}.{}", crate::jobs::DELETE_OBJECTS),
            serde_json::json!({ "ids": ids }),
        )
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    Ok(ids)
}

/// The ids of the files attached to an entity, those in the trash included.
pub(crate) async fn attached_to(
    tx: &TenantTx,
    kind: &str,
    id: Uuid,
) -> Result<Vec<Uuid>, ApiError> {
    let live = tx
        .repo::<file::Entity>()
        .find()
        .filter(file::Column::AttachedType.eq(kind))
        .filter(file::Column::AttachedId.eq(id))
        .select_only()
        .column(file::Column::Id)
        .into_tuple::<Uuid>()
        .all(tx.repo::<file::Entity>().conn())
        .await?;
    let repo = tx.repo::<file::Entity>();
    let trashed = repo
        .find_trashed(None)?
        .filter(file::Column::AttachedType.eq(kind))
        .filter(file::Column::AttachedId.eq(id))
        .select_only()
        .column(file::Column::Id)
        .into_tuple::<Uuid>()
        .all(repo.conn())
        .await?;
    Ok(live.into_iter().chain(trashed).collect())
}

// Folders.

pub(crate) async fn folder_of(tx: &TenantTx, id: Uuid) -> Result<folder::Model, ApiError> {
    tx.repo::<folder::Entity>()
        .get(id)
        .await?
        .ok_or_else(no_folder)
}

/// 409 when `parent` already holds a folder named `name` (in any case), other than `except`.
async fn folder_name_free(
    tx: &TenantTx,
    parent: Option<Uuid>,
    name: &str,
    except: Option<Uuid>,
) -> Result<(), ApiError> {
    let repo = tx.repo::<folder::Entity>();
    let mut siblings = repo.find();
    siblings = match parent {
        Some(p) => siblings.filter(folder::Column::ParentId.eq(p)),
        None => siblings.filter(folder::Column::ParentId.is_null()),
    };
    if let Some(id) = except {
        siblings = siblings.filter(folder::Column::Id.ne(id));
    }
    let names: Vec<String> = siblings
        .select_only()
        .column(folder::Column::Name)
        .into_tuple()
        .all(repo.conn())
        .await?;
    if names
        .iter()
        .any(|n| n.to_lowercase() == name.to_lowercase())
    {
        return Err(
            ApiError::conflict("this folder already holds a folder of that name")
                .with_details(serde_json::json!({ "field": "name" })),
        );
    }
    Ok(())
}

pub(crate) async fn create_folder(
    tx: &TenantTx,
    by: Uuid,
    name: String,
    parent: Option<Uuid>,
) -> Result<folder::Model, ApiError> {
    if let Some(p) = parent {
        let depth = ancestors(tx, p, None).await?.len();
        if depth + 1 >= MAX_DEPTH {
            return Err(ApiError::validation(
                "parent_id",
                format!("folders nest at most {MAX_DEPTH} deep"),
            ));
        }
    }
    folder_name_free(tx, parent, &name, None).await?;
    let now = Utc::now();
    Ok(tx
        .repo::<folder::Entity>()
        .insert(folder::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            name: Set(name),
            parent_id: Set(parent),
            created_by: Set(by),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .await?)
}

/// The chain from `id` up to the top (`id` first): its ids in one recursive statement, then
/// its rows. When `moving` is met on the way, moving it under `id` would close a cycle: 409
/// naming the path.
async fn ancestors(
    tx: &TenantTx,
    id: Uuid,
    moving: Option<Uuid>,
) -> Result<Vec<folder::Model>, ApiError> {
    let repo = tx.repo::<folder::Entity>();
    let up: HashMap<Uuid, Uuid> = repo
        .reachable(id, folder::Column::Id, folder::Column::ParentId)
        .await?
        .into_iter()
        .collect();
    let mut ids = vec![id];
    while let Some(parent) = ids.last().and_then(|at| up.get(at)) {
        if ids.contains(parent) || ids.len() > MAX_DEPTH {
            break;
        }
        ids.push(*parent);
    }
    let mut rows: HashMap<Uuid, folder::Model> = repo
        .find()
        .filter(folder::Column::Id.is_in(ids.clone()))
        .all(repo.conn())
        .await?
        .into_iter()
        .map(|f| (f.id, f))
        .collect();
    let mut chain: Vec<folder::Model> = Vec::new();
    for at in ids {
        if Some(at) == moving {
            let path: Vec<String> = chain.iter().map(|f| f.name.clone()).collect();
            return Err(ApiError::conflict(
                "a folder cannot go inside itself or one of its own folders",
            )
            .with_details(serde_json::json!({ "field": "parent_id", "path": path })));
        }
        match rows.remove(&at) {
            Some(f) => chain.push(f),
            None if chain.is_empty() => return Err(no_folder()),
            None => break,
        }
    }
    Ok(chain)
}

/// Renames a folder and/or moves it under another (`parent: Some(None)`: to the top); never
/// under itself or its own descendants.
pub(crate) async fn update_folder(
    tx: &TenantTx,
    id: Uuid,
    name: Option<String>,
    parent: Option<Option<Uuid>>,
) -> Result<folder::Model, ApiError> {
    let row = folder_of(tx, id).await?;
    let new_parent = parent.unwrap_or(row.parent_id);
    if let Some(p) = new_parent {
        let depth = ancestors(tx, p, Some(id)).await?.len();
        if depth + 1 >= MAX_DEPTH {
            return Err(ApiError::validation(
                "parent_id",
                format!("folders nest at most {MAX_DEPTH} deep"),
            ));
        }
    }
    let new_name = name.clone().unwrap_or_else(|| row.name.clone());
    if name.is_some() || parent.is_some() {
        folder_name_free(tx, new_parent, &new_name, Some(id)).await?;
    }
    let mut m: folder::ActiveModel = row.into();
    m.name = Set(new_name);
    m.parent_id = Set(new_parent);
    m.updated_at = Set(Utc::now());
    Ok(tx.repo::<folder::Entity>().update(m).await?)
}

/// Deletes an empty folder; 409 while it holds folders or files.
pub(crate) async fn delete_folder(tx: &TenantTx, id: Uuid) -> Result<(), ApiError> {
    folder_of(tx, id).await?;
    let folders = tx.repo::<folder::Entity>();
    let children = folders
        .find()
        .filter(folder::Column::ParentId.eq(id))
        .limit(1)
        .all(folders.conn())
        .await?;
    let files = tx.repo::<file::Entity>();
    let inside = files
        .find()
        .filter(file::Column::FolderId.eq(id))
        .limit(1)
        .all(files.conn())
        .await?;
    if !children.is_empty() || !inside.is_empty() {
        return Err(ApiError::conflict(
            "this folder is not empty: move or delete what is in it first",
        ));
    }
    folders.delete(id).await?;
    Ok(())
}

/// A folder's folders (by name) and library files (newest first), up to `limit` each; the
/// top of the library when `id` is `None`.
pub(crate) async fn contents(
    tx: &TenantTx,
    id: Option<Uuid>,
    limit: u64,
) -> Result<(Vec<folder::Model>, Vec<file::Model>), ApiError> {
    if let Some(id) = id {
        folder_of(tx, id).await?;
    }
    let folders = tx.repo::<folder::Entity>();
    let mut sub = folders
        .find()
        .order_by_asc(folder::Column::Name)
        .limit(limit);
    sub = match id {
        Some(id) => sub.filter(folder::Column::ParentId.eq(id)),
        None => sub.filter(folder::Column::ParentId.is_null()),
    };
    let sub = sub.all(folders.conn()).await?;
    let files = tx.repo::<file::Entity>();
    let mut inside = files
        .find()
        .filter(file::Column::AttachedType.is_null())
        .filter(file::Column::Status.eq(ACTIVE))
        .order_by_desc(file::Column::CreatedAt)
        .limit(limit);
    inside = match id {
        Some(id) => inside.filter(file::Column::FolderId.eq(id)),
        None => inside.filter(file::Column::FolderId.is_null()),
    };
    Ok((sub, inside.all(files.conn()).await?))
}

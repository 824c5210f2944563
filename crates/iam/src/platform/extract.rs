//! `Authorized<P>`: the only way to get hold of a permission proof. Data-access functions that
//! need a permission take `&Authorized<P>`; a handler that did not extract one cannot call them,
//! so a missing check does not compile:
//!
//! ```compile_fail,E0451
//! // There is no constructor: a proof comes only from the extractor.
//! struct ViewDoc;
//! impl iam::Permission for ViewDoc {
//!     const NAMESPACE: &'static str = "document";
//!     const PERMISSION: &'static str = "view";
//! }
//! fn load(_proof: &iam::Authorized<ViewDoc>) {}
//! // Every field named, so the only error left is that they are private (E0451).
//! let forged = iam::Authorized::<ViewDoc> {
//!     caller: todo!(),
//!     org_id: todo!(),
//!     object_id: todo!(),
//!     revision: todo!(),
//!     permission: std::marker::PhantomData,
//! };
//! load(&forged);
//! ```

use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use kernel::http::Caller;
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::engine::ReadOptions;
use crate::error::EngineError;
use crate::store::Revision;
use crate::tuple::{ObjectRef, SubjectRef};

/// Where the object of a permission comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    /// A path parameter (`{id}` in `/documents/{id}`) holding the object id.
    Path(&'static str),
    /// The caller's active organization (`org:<id>`): for org-wide actions.
    CallerOrg,
}

/// A permission a handler requires: `NAMESPACE#PERMISSION` on the object `OBJECT` names.
///
/// ```
/// struct EditDocument;
/// impl iam::Permission for EditDocument {
///     const NAMESPACE: &'static str = "document";
///     const PERMISSION: &'static str = "edit";
///     const OBJECT: iam::Object = iam::Object::Path("document_id");
/// }
/// ```
pub trait Permission: 'static {
    const NAMESPACE: &'static str;
    const PERMISSION: &'static str;
    const OBJECT: Object = Object::Path("id");
}

/// Administers the active organization (`org#admin_access`: owners and admins).
pub struct AdministerOrg;
impl Permission for AdministerOrg {
    const NAMESPACE: &'static str = "org";
    const PERMISSION: &'static str = "admin_access";
    const OBJECT: Object = Object::CallerOrg;
}

/// Works in the active organization (`org#member_access`: members, admins and owners; not
/// viewers).
pub struct WorkInOrg;
impl Permission for WorkInOrg {
    const NAMESPACE: &'static str = "org";
    const PERMISSION: &'static str = "member_access";
    const OBJECT: Object = Object::CallerOrg;
}

/// Belongs to the active organization (`org#viewer_access`: every member).
pub struct InOrg;
impl Permission for InOrg {
    const NAMESPACE: &'static str = "org";
    const PERMISSION: &'static str = "viewer_access";
    const OBJECT: Object = Object::CallerOrg;
}

/// Proof that the caller holds `P` on one object, checked against the graph (current, not the
/// role the access token carried). Extract it in a handler: 401 without a caller, 403 without
/// an active org or when the check says no.
#[derive(Debug)]
pub struct Authorized<P: Permission> {
    caller: Caller,
    org_id: Uuid,
    object_id: String,
    revision: Revision,
    permission: PhantomData<fn() -> P>,
}

impl<P: Permission> Authorized<P> {
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The caller's active organization, where the check ran.
    pub fn org_id(&self) -> Uuid {
        self.org_id
    }

    /// The id of the object the permission was checked on.
    pub fn object_id(&self) -> &str {
        &self.object_id
    }

    /// The revision the check ran at.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// Checks `P` for `caller` on `object_id` outside a request (jobs, other extractors), in a
    /// (read-only) transaction of its own.
    pub async fn check(
        ctx: &CellContext,
        caller: Caller,
        object_id: Option<String>,
    ) -> Result<Self, ApiError> {
        let (proof, tx) = Self::begin_read(ctx, caller, object_id).await?;
        tx.commit().await?;
        Ok(proof)
    }

    /// Opens a transaction of the caller's active org, checks `P` first thing in it, and hands
    /// over both: the caller works in the transaction the check ran in (one transaction a
    /// request instead of the extractor's and the handler's). First thing, so the check never
    /// reads, or caches, the transaction's own uncommitted tuple writes.
    pub async fn begin(
        ctx: &CellContext,
        caller: Caller,
        object_id: Option<String>,
    ) -> Result<(Self, TenantTx), ApiError> {
        let tx = ctx.db().tenant(caller.org()?).await?;
        Self::check_first(ctx, tx, caller, object_id).await
    }

    /// [`Authorized::begin`] for a handler that only reads: the transaction is
    /// [`kernel::Db::tenant_read`]'s (on SQLite it reads beside the writer).
    pub async fn begin_read(
        ctx: &CellContext,
        caller: Caller,
        object_id: Option<String>,
    ) -> Result<(Self, TenantTx), ApiError> {
        let tx = ctx.db().tenant_read(caller.org()?).await?;
        Self::check_first(ctx, tx, caller, object_id).await
    }

    async fn check_first(
        ctx: &CellContext,
        tx: TenantTx,
        caller: Caller,
        object_id: Option<String>,
    ) -> Result<(Self, TenantTx), ApiError> {
        match Self::check_in(ctx, &tx, caller, object_id).await {
            Ok(proof) => Ok((proof, tx)),
            Err(e) => {
                tx.rollback().await?;
                Err(e)
            }
        }
    }

    async fn check_in(
        ctx: &CellContext,
        tx: &TenantTx,
        caller: Caller,
        object_id: Option<String>,
    ) -> Result<Self, ApiError> {
        let org_id = tx.org_id();
        let object_id = match (P::OBJECT, object_id) {
            (Object::CallerOrg, _) => org_id.to_string(),
            (Object::Path(_), Some(id)) => id,
            (Object::Path(name), None) => {
                return Err(ApiError::internal(anyhow::anyhow!(
                    "route has no `{name}` path parameter for {}#{}",
                    P::NAMESPACE,
                    P::PERMISSION
                )));
            }
        };
        let namespace = match P::OBJECT {
            Object::CallerOrg => "org",
            Object::Path(_) => P::NAMESPACE,
        };
        if !crate::tuple::valid_object_id(&object_id) {
            return Err(ApiError::bad_request(format!(
                "invalid {namespace} id `{object_id}`"
            )));
        }
        let engine = super::engine(ctx)?;
        let object = ObjectRef::new(namespace, object_id.clone());
        let subject = SubjectRef::object("user", caller.user_id.to_string());
        let answer = engine
            .check_in(
                tx,
                &object,
                P::PERMISSION,
                &subject,
                &ReadOptions::default(),
            )
            .await
            .map_err(|e| match e {
                // The route names a permission the schema lacks: our bug, not the caller's.
                EngineError::UnknownType(_) | EngineError::UnknownRelation { .. } => {
                    ApiError::internal(e)
                }
                other => super::api_error(other),
            })?;
        if !answer.value {
            return Err(ApiError::forbidden(format!(
                "you need the `{}` permission on this {namespace}",
                P::PERMISSION
            ))
            .with_details(serde_json::json!({
                "namespace": namespace,
                "permission": P::PERMISSION,
            })));
        }
        Ok(Self {
            caller,
            org_id,
            object_id,
            revision: answer.revision,
            permission: PhantomData,
        })
    }
}

impl<P: Permission> FromRequest for Authorized<P> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = Caller::extract(req).into_inner();
        let ctx = CellContext::extract(req).into_inner();
        let object_id = match P::OBJECT {
            Object::Path(name) => req.match_info().get(name).map(str::to_owned),
            Object::CallerOrg => None,
        };
        Box::pin(async move { Self::check(&ctx?, caller?, object_id).await })
    }
}

/// The kernel's [`kernel::http::Authorizer`]: `org#<permission>` for a user, checked against
/// the graph in the caller's transaction (the audit log's routes use it).
pub(crate) struct OrgAuthorizer;

#[kernel::async_trait::async_trait(?Send)]
impl kernel::http::Authorizer for OrgAuthorizer {
    async fn org_permission(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        user: Uuid,
        permission: &str,
    ) -> Result<bool, ApiError> {
        let object = ObjectRef::new("org", tx.org_id().to_string());
        let subject = SubjectRef::object("user", user.to_string());
        let answer = super::engine(ctx)?
            .check_in(tx, &object, permission, &subject, &ReadOptions::default())
            .await
            .map_err(ApiError::internal)?;
        Ok(answer.value)
    }
}

//! One way into a handler. Its signature says who may call it, and what it does inside:
//!
//! - [`Scoped<P, Read<S>|Write<S>>`](Scoped): authenticates (401), holds an API key to its
//!   scope `S` (`teams:read` for a `Read<Teams>`, 403 `insufficient_scope`), opens the caller's
//!   active org's transaction (read-only for `Read`), checks permission `P` first thing in it
//!   through the cell's [`Authorizer`] (403), and hands the transaction over. The only way to a
//!   tenant transaction from a request: there is no other constructor. Declare scopes with
//!   [`crate::api_scope!`].
//! - [`SignedIn`]: a signed-in user acting on their own account (profile, sessions, MFA, the
//!   organizations they belong to); no organization's data. API keys need the `account` scope
//!   (`account:read` for GET and HEAD, `account:write` otherwise).
//! - [`Public`]: anyone (sign-up, login, health).
//! - [`Signed`]: the request proves itself with a signature the handler verifies (webhooks,
//!   signed URLs).
//! - [`Operator`](super::admin::Operator): the cell's admin token.
//!
//! Each marker records itself on the request when the handler's extractors are built (before any
//! of them runs), so even a refused call shows how its route lets callers in; with
//! `http.expose_access` the answer carries it as `x-cell-access`, and each cell's route-walk test
//! fails on a documented route that has none. A `Scoped` value cannot be forged:
//!
//! ```compile_fail,E0451
//! struct ViewDoc;
//! impl kernel::http::Permission for ViewDoc {
//!     const NAMESPACE: &'static str = "document";
//!     const PERMISSION: &'static str = "view";
//! }
//! kernel::api_scope!(Docs = "docs");
//! fn load(_proof: &kernel::http::Scoped<ViewDoc, kernel::http::Read<Docs>>) {}
//! // Every field named, so the only error left is that they are private (E0451).
//! let forged = kernel::http::Scoped::<ViewDoc, kernel::http::Read<Docs>> {
//!     caller: todo!(),
//!     tx: todo!(),
//!     object_id: todo!(),
//!     mode: std::marker::PhantomData,
//! };
//! load(&forged);
//! ```

use std::future::{Ready, ready};
use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use uuid::Uuid;

use super::caller::{Asker, Caller};
use crate::context::CellContext;
use crate::db::TenantTx;
use crate::error::ApiError;

/// The response header that names a route's access when `http.expose_access` is set.
pub const ACCESS_HEADER: &str = "x-cell-access";

/// How a route lets callers in, as its handler's extractor declared it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    Signed,
    SignedIn,
    Operator,
    /// `namespace#permission`, in a read or a write transaction, for API keys with `scope`.
    Scoped {
        namespace: &'static str,
        permission: &'static str,
        write: bool,
        scope: &'static str,
    },
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Public => f.write_str("public"),
            Self::Signed => f.write_str("signed"),
            Self::SignedIn => f.write_str("signed-in"),
            Self::Operator => f.write_str("operator"),
            Self::Scoped {
                namespace,
                permission,
                write,
                scope,
            } => {
                let mode = if *write { "write" } else { "read" };
                write!(f, "{namespace}#{permission} {mode} {scope}:{mode}")
            }
        }
    }
}

/// Records how the request's route lets callers in (the first marker wins: a handler that also
/// extracts a second marker, say a `SignedIn` beside its `Scoped`, is described by the first).
pub(crate) fn mark(req: &HttpRequest, access: Access) {
    let mut ext = req.extensions_mut();
    if ext.get::<Access>().is_none() {
        ext.insert(access);
    }
}

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
/// impl kernel::http::Permission for EditDocument {
///     const NAMESPACE: &'static str = "document";
///     const PERMISSION: &'static str = "edit";
///     const OBJECT: kernel::http::Object = kernel::http::Object::Path("document_id");
/// }
/// ```
pub trait Permission: 'static {
    const NAMESPACE: &'static str;
    const PERMISSION: &'static str;
    const OBJECT: Object = Object::Path("id");

    /// A condition on the caller checked before any transaction opens (a zone of the cell: abm's
    /// dashboard is only for the operator organization). Its error is the answer.
    fn admit(_ctx: &CellContext, _caller: &Caller) -> Result<(), ApiError> {
        Ok(())
    }

    /// A weaker permission on the same object (`viewer_access`) that decides how a refusal
    /// answers: a caller who holds it is told [`refused`](Self::refused) (403), one who does not
    /// is told [`hidden`](Self::hidden) (404), so what a caller cannot see looks like what does
    /// not exist. Checked only when `PERMISSION` is refused. `None`: always `refused`.
    const VISIBLE_WITH: Option<&'static str> = None;

    /// The answer to a caller who does not even hold [`VISIBLE_WITH`](Self::VISIBLE_WITH).
    fn hidden() -> ApiError {
        ApiError::not_found(format!("no such {}", Self::NAMESPACE))
    }

    /// The answer when the caller lacks the permission.
    fn refused() -> ApiError {
        ApiError::forbidden(format!(
            "you need the `{}` permission on this {}",
            Self::PERMISSION,
            Self::NAMESPACE
        ))
        .with_details(serde_json::json!({
            "namespace": Self::NAMESPACE,
            "permission": Self::PERMISSION,
        }))
    }
}

/// Administers the active organization (`org#admin_access`: owners and admins). The `org`
/// namespace and its three access levels are the platform's roles, as the permission module's
/// base schema defines them; every module may name them.
#[derive(Debug)]
pub struct AdministerOrg;
impl Permission for AdministerOrg {
    const NAMESPACE: &'static str = "org";
    const PERMISSION: &'static str = "admin_access";
    const OBJECT: Object = Object::CallerOrg;
}

/// Works in the active organization (`org#member_access`: members, admins and owners; not
/// viewers).
#[derive(Debug)]
pub struct WorkInOrg;
impl Permission for WorkInOrg {
    const NAMESPACE: &'static str = "org";
    const PERMISSION: &'static str = "member_access";
    const OBJECT: Object = Object::CallerOrg;
}

/// Belongs to the active organization (`org#viewer_access`: every member).
#[derive(Debug)]
pub struct InOrg;
impl Permission for InOrg {
    const NAMESPACE: &'static str = "org";
    const PERMISSION: &'static str = "viewer_access";
    const OBJECT: Object = Object::CallerOrg;
}

/// The resource an API key must be scoped to for a route (`teams` → `teams:read`,
/// `teams:write`): each route declares it in its handler's [`Read`] or [`Write`]. Declare one
/// with [`crate::api_scope!`].
pub trait ApiScope: 'static {
    const NAME: &'static str;
}

/// Declares an [`ApiScope`]: `kernel::api_scope!(pub(crate) Teams = "teams");`. The name is
/// what API keys are created with (lowercase letters, digits, `-` and `_`).
#[macro_export]
macro_rules! api_scope {
    ($(#[$meta:meta])* $vis:vis $name:ident = $scope:literal) => {
        $(#[$meta])*
        #[derive(Debug)]
        $vis enum $name {}
        impl $crate::http::ApiScope for $name {
            const NAME: &'static str = $scope;
        }
    };
}

/// What a [`Scoped`] handler does in its transaction, and the API-key scope it needs.
pub trait Mode: 'static {
    const WRITE: bool;
    /// The [`ApiScope`]'s name.
    const SCOPE: &'static str;
}

/// Only reads `S`: read-only in the database ([`crate::Db::tenant_read`]; on SQLite a
/// `query_only` pool beside the writer, on PostgreSQL a `READ ONLY` transaction that ends
/// without a wait). API keys need `S:read`.
#[derive(Debug)]
pub struct Read<S: ApiScope>(PhantomData<fn() -> S>);
impl<S: ApiScope> Mode for Read<S> {
    const WRITE: bool = false;
    const SCOPE: &'static str = S::NAME;
}

/// Changes `S`: a write transaction ([`crate::Db::tenant`]). API keys need `S:write`.
#[derive(Debug)]
pub struct Write<S: ApiScope>(PhantomData<fn() -> S>);
impl<S: ApiScope> Mode for Write<S> {
    const WRITE: bool = true;
    const SCOPE: &'static str = S::NAME;
}

/// The caller, holding `P`, inside a transaction of their active organization. Derefs to the
/// transaction; end it with [`Scoped::commit`] (dropping it rolls back).
pub struct Scoped<P: Permission, M: Mode> {
    caller: Caller,
    tx: TenantTx,
    object_id: String,
    /// Where the request came from (what a conditional permission may depend on).
    client_ip: Option<std::net::IpAddr>,
    mode: PhantomData<fn() -> (P, M)>,
}

impl<P: Permission, M: Mode> Scoped<P, M> {
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The caller's active organization, whose transaction this is.
    pub fn org_id(&self) -> Uuid {
        self.tx.org_id()
    }

    /// The id of the object `P` was checked on.
    pub fn object_id(&self) -> &str {
        &self.object_id
    }

    pub fn into_parts(self) -> (Caller, TenantTx) {
        (self.caller, self.tx)
    }

    pub async fn commit(self) -> Result<(), ApiError> {
        Ok(self.tx.commit().await?)
    }

    /// Whether the caller also holds `Q` (on the org, or on `object_id`), checked in this
    /// transaction: for a rule that depends on the request (checking someone else's access).
    pub async fn holds<Q: Permission>(
        &self,
        ctx: &CellContext,
        object_id: Option<&str>,
    ) -> Result<bool, ApiError> {
        let object = object_of::<Q>(self.tx.org_id(), object_id.map(str::to_owned))?;
        check::<Q>(ctx, &self.tx, &self.asker(), &object).await
    }

    /// [`Scoped::holds`], answering `Q`'s refusal when it is not held.
    pub async fn require<Q: Permission>(
        &self,
        ctx: &CellContext,
        object_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let object = object_of::<Q>(self.tx.org_id(), object_id.map(str::to_owned))?;
        demand::<Q>(ctx, &self.tx, &self.asker(), &object).await
    }

    fn asker(&self) -> Asker {
        Asker {
            client_ip: self.client_ip,
            ..Asker::user(self.caller.user_id)
        }
    }

    /// Checks `P` for `caller` outside an HTTP handler (another extractor, a job acting for a
    /// user): opens the org's transaction and checks first thing in it, so the check never reads
    /// the transaction's own uncommitted writes.
    pub async fn begin(
        ctx: &CellContext,
        caller: Caller,
        object_id: Option<String>,
    ) -> Result<Self, ApiError> {
        Self::begin_from(ctx, caller, object_id, None).await
    }

    /// [`Scoped::begin`] for a request from `client_ip`.
    async fn begin_from(
        ctx: &CellContext,
        caller: Caller,
        object_id: Option<String>,
        client_ip: Option<std::net::IpAddr>,
    ) -> Result<Self, ApiError> {
        // Only API keys carry scopes; a session's request builds no scope string.
        if caller.scopes.is_some() {
            caller.require_scope(&scope_of::<M>())?;
        }
        P::admit(ctx, &caller)?;
        let org = caller.org()?;
        let object_id = object_of::<P>(org, object_id)?;
        // No transaction is opened for a cell that cannot decide.
        authorizer(ctx)?;
        let tx = match M::WRITE {
            true => ctx.db().tenant(org).await?,
            false => ctx.db().tenant_read(org).await?,
        };
        let asker = Asker {
            client_ip,
            ..Asker::user(caller.user_id)
        };
        match check::<P>(ctx, &tx, &asker, &object_id).await {
            Ok(true) => Ok(Self {
                caller,
                tx,
                object_id,
                client_ip,
                mode: PhantomData,
            }),
            Ok(false) => {
                let refusal = refusal::<P>(ctx, &tx, &asker, &object_id).await;
                tx.rollback().await?;
                Err(refusal?)
            }
            Err(e) => {
                tx.rollback().await?;
                Err(e)
            }
        }
    }
}

impl<P: Permission, M: Mode> std::fmt::Debug for Scoped<P, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scoped")
            .field(
                "access",
                &format_args!("{}#{}", P::NAMESPACE, P::PERMISSION),
            )
            .field("write", &M::WRITE)
            .field("user", &self.caller.user_id)
            .field("org", &self.tx.org_id())
            .field("object_id", &self.object_id)
            .finish()
    }
}

impl<P: Permission, M: Mode> std::ops::Deref for Scoped<P, M> {
    type Target = TenantTx;

    fn deref(&self) -> &TenantTx {
        &self.tx
    }
}

/// `S:read` or `S:write`.
fn scope_of<M: Mode>() -> String {
    let action = if M::WRITE { "write" } else { "read" };
    format!("{}:{action}", M::SCOPE)
}

fn object_of<P: Permission>(org: Uuid, given: Option<String>) -> Result<String, ApiError> {
    match (P::OBJECT, given) {
        (Object::CallerOrg, _) => Ok(org.to_string()),
        (Object::Path(_), Some(id)) => Ok(id),
        (Object::Path(name), None) => Err(ApiError::internal(anyhow::anyhow!(
            "route has no `{name}` path parameter for {}#{}",
            P::NAMESPACE,
            P::PERMISSION
        ))),
    }
}

/// Answers `P`'s refusal unless `caller` holds it (on the org, or on `object_id`), read in
/// `tx`: for code that acts for a caller outside a handler's signature (an entity loader asked
/// to restore one of its rows).
pub async fn require<P: Permission>(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    object_id: Option<&str>,
) -> Result<(), ApiError> {
    let object = object_of::<P>(tx.org_id(), object_id.map(str::to_owned))?;
    demand::<P>(ctx, tx, &Asker::user(caller.user_id), &object).await
}

/// `P`'s refusal unless the asker holds it on `object_id`.
async fn demand<P: Permission>(
    ctx: &CellContext,
    tx: &TenantTx,
    asker: &Asker,
    object_id: &str,
) -> Result<(), ApiError> {
    match check::<P>(ctx, tx, asker, object_id).await? {
        true => Ok(()),
        false => Err(refusal::<P>(ctx, tx, asker, object_id).await?),
    }
}

/// Whether `caller` holds `P` (on the org, or on `object_id`), read in `tx`: for a rule outside
/// a handler's signature that depends on who the caller is (a module's ownership policy).
pub async fn holds<P: Permission>(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    object_id: Option<&str>,
) -> Result<bool, ApiError> {
    let object = object_of::<P>(tx.org_id(), object_id.map(str::to_owned))?;
    check::<P>(ctx, tx, &Asker::user(caller.user_id), &object).await
}

/// Whether the asker holds `P` on `object_id`, read in `tx`.
async fn check<P: Permission>(
    ctx: &CellContext,
    tx: &TenantTx,
    asker: &Asker,
    object_id: &str,
) -> Result<bool, ApiError> {
    authorizer(ctx)?
        .check(ctx, tx, asker, P::NAMESPACE, object_id, P::PERMISSION)
        .await
}

/// How a refusal of `P` answers (see [`Permission::VISIBLE_WITH`]).
async fn refusal<P: Permission>(
    ctx: &CellContext,
    tx: &TenantTx,
    asker: &Asker,
    object_id: &str,
) -> Result<ApiError, ApiError> {
    let Some(weaker) = P::VISIBLE_WITH else {
        return Ok(P::refused());
    };
    let visible = authorizer(ctx)?
        .check(ctx, tx, asker, P::NAMESPACE, object_id, weaker)
        .await?;
    Ok(if visible { P::refused() } else { P::hidden() })
}

fn authorizer(ctx: &CellContext) -> Result<&dyn super::Authorizer, ApiError> {
    ctx.authorizer()
        .map(AsRef::as_ref)
        .ok_or_else(|| ApiError::forbidden("this cell has no permission module to decide this"))
}

impl<P: Permission, M: Mode> FromRequest for Scoped<P, M> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        mark(
            req,
            Access::Scoped {
                namespace: P::NAMESPACE,
                permission: P::PERMISSION,
                write: M::WRITE,
                scope: M::SCOPE,
            },
        );
        let caller = Caller::extract(req).into_inner();
        let ctx = CellContext::extract(req).into_inner();
        let object_id = match P::OBJECT {
            Object::Path(name) => req.match_info().get(name).map(str::to_owned),
            Object::CallerOrg => None,
        };
        let behind_proxy = ctx.as_ref().is_ok_and(|c| c.config().http.behind_proxy);
        let client_ip = super::caller::client_ip(req, behind_proxy);
        Box::pin(async move { Self::begin_from(&ctx?, caller?, object_id, client_ip).await })
    }
}

/// A signed-in user acting on their own account: no organization's data. Derefs to the
/// [`Caller`]; 401 without one.
#[derive(Debug, Clone)]
pub struct SignedIn(pub Caller);

impl std::ops::Deref for SignedIn {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl FromRequest for SignedIn {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        mark(req, Access::SignedIn);
        let scope = match *req.method() {
            actix_web::http::Method::GET | actix_web::http::Method::HEAD => "account:read",
            _ => "account:write",
        };
        ready(Caller::extract(req).into_inner().and_then(|caller| {
            caller.require_scope(scope)?;
            Ok(SignedIn(caller))
        }))
    }
}

/// A route anyone may call.
#[derive(Debug, Clone, Copy)]
pub struct Public;

impl FromRequest for Public {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        mark(req, Access::Public);
        ready(Ok(Public))
    }
}

/// A route whose request proves itself with a signature the handler verifies (a webhook's
/// HMAC, a signed URL's token): the handler must verify before it reads anything else.
#[derive(Debug, Clone, Copy)]
pub struct Signed;

impl FromRequest for Signed {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        mark(req, Access::Signed);
        ready(Ok(Signed))
    }
}

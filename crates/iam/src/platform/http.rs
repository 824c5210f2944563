//! iam's routes: grant, revoke and check relationships, "my access" in a namespace, the access
//! audit of one object, and custom roles.
//!
//! Who may do what: grants, revocations and audits need `admin_access` on the org, or the
//! object type's own `manage` permission on that object when the type defines one (a role's
//! `manage` is the org's admins). Org roles and teams are tenancy's: their relations are
//! written through tenancy's routes, never here. Anyone in the org may check their own access
//! and list it; checking someone else needs `admin_access`.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{
    AdministerOrg, Caller, InOrg, ListQuery, ListSpec, Page, Read, Scoped, ValidJson, Write,
};
use kernel::sea_orm::ActiveValue::Set;
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::roles::{self, role};
use super::{BUILT_IN_TYPES, api_error, engine};
use crate::caveat::Context;
use crate::engine::{Engine, Permissionship, ReadOptions};
use crate::store::{self, Revision, TupleFilter, TupleUpdate, WriteBatch};
use crate::tuple::{ObjectRef, SubjectRef, Tuple};

const TAG: &str = "permissions";
const ROLES_TAG: &str = "roles";
/// Subjects the access audit lists per permission.
const AUDIT_LIMIT: usize = 1000;

kernel::api_scope!(
    /// Relationships and checks: `permissions:read` to check, `permissions:write` to grant.
    PermissionScope = "permissions"
);
kernel::api_scope!(RoleScope = "roles");

pub(crate) fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(grant)
        .service(revoke)
        .service(check)
        .service(my_access)
        .service(audit)
        // Static segments before `{id}`.
        .service(grantable_list)
        .service(create_role)
        .service(list_roles)
        .service(get_role)
        .service(update_role)
        .service(delete_role);
}

/// A subject as the API writes it: `{"type":"user","id":"…"}`, `{"type":"team","id":"…",
/// "relation":"member"}`, `{"type":"user","id":"*"}`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    #[serde(rename = "type")]
    pub subject_type: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
}

impl Subject {
    fn parse(&self) -> Result<SubjectRef, ApiError> {
        let text = match &self.relation {
            Some(r) => format!("{}:{}#{r}", self.subject_type, self.id),
            None => format!("{}:{}", self.subject_type, self.id),
        };
        SubjectRef::parse(&text).map_err(|e| ApiError::validation("subject", e.0))
    }
}

impl From<&SubjectRef> for Subject {
    fn from(s: &SubjectRef) -> Self {
        Self {
            subject_type: s.subject_type.clone(),
            id: s.subject_id.clone(),
            relation: s.relation.clone(),
        }
    }
}

/// One relationship: `namespace:object_id#relation@subject`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Relationship {
    #[schema(min_length = 1, max_length = 254)]
    #[garde(length(chars, min = 1, max = 254))]
    pub namespace: String,
    #[schema(min_length = 1, max_length = 1024)]
    #[garde(length(chars, min = 1, max = 1024))]
    pub object_id: String,
    #[schema(min_length = 1, max_length = 64)]
    #[garde(length(chars, min = 1, max = 64))]
    pub relation: String,
    #[garde(skip)]
    pub subject: Subject,
    /// Grant only under a caveat the schema allows on this relation (ignored by revoke: a
    /// relationship is revoked whatever its caveat).
    #[garde(skip)]
    #[serde(default)]
    pub caveat: Option<CaveatBody>,
    /// Grant only until then (RFC 3339), where the schema declares the relation `with
    /// expiration`; expired grants are absent from every answer (ignored by revoke).
    #[garde(skip)]
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A caveat on a relationship: its name, and the values of its parameters fixed at grant time
/// (the rest come from each check's `context`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaveatBody {
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The revision a write created: pass it as `at_least_revision` to read your own write.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Written {
    pub revision: i64,
}

fn object(namespace: &str, id: &str) -> Result<ObjectRef, ApiError> {
    ObjectRef::parse(&format!("{namespace}:{id}"))
        .map_err(|e| ApiError::validation("object_id", e.0))
}

/// Whether the caller may change or audit grants on `object`: org admins, or holders of the
/// type's own `manage` permission on it.
async fn require_manage(
    engine: &Engine,
    caller: &Caller,
    object: &ObjectRef,
) -> Result<Uuid, ApiError> {
    let org = caller.org()?;
    let me = SubjectRef::object("user", caller.user_id.to_string());
    let opts = ReadOptions::default();
    let mut items = vec![(
        ObjectRef::new("org", org.to_string()),
        "admin_access".to_owned(),
        me.clone(),
    )];
    if engine
        .schema()
        .relation(&object.object_type, "manage")
        .is_some()
    {
        items.push((object.clone(), "manage".to_owned(), me));
    }
    let answers = engine
        .check_bulk(org, &items, &opts)
        .await
        .map_err(api_error)?;
    if answers
        .value
        .iter()
        .any(|a| matches!(a, Ok(Permissionship::Allowed)))
    {
        return Ok(org);
    }
    Err(ApiError::forbidden(
        "managing access needs the admin role in the organization or `manage` on the object",
    ))
}

/// Org and team relations are tenancy's, what a role grants is `/roles`': 422 for those.
fn not_managed_elsewhere(object: &ObjectRef, relation: &str) -> Result<(), ApiError> {
    let t = object.object_type.as_str();
    if matches!(t, "org" | "team" | "user") || (t == "role" && relation != "member") {
        return Err(ApiError::validation(
            "relation",
            format!(
                "`{t}#{relation}` is managed by its own routes (organization members, teams, roles)"
            ),
        ));
    }
    Ok(())
}

/// Whether `object` (a team or a role) is linked to `org` (`<object>#org@org:<org>`).
async fn linked_to(engine: &Engine, org: Uuid, object: &ObjectRef) -> Result<bool, ApiError> {
    let in_org = SubjectRef::object("org", org.to_string());
    let answer = engine
        .check(org, object, "org", &in_org, &ReadOptions::default())
        .await
        .map_err(api_error)?;
    Ok(answer.value)
}

/// A tuple the generic routes may write on `object`: a relation of a module type (or a role's
/// members), whose subject belongs to this org.
async fn writable(
    engine: &Engine,
    org: Uuid,
    object: ObjectRef,
    body: &Relationship,
) -> Result<Tuple, ApiError> {
    let subject = body.subject.parse()?;
    not_managed_elsewhere(&object, &body.relation)?;
    let mut tuple = Tuple::new(object, body.relation.clone(), subject.clone());
    if let Some(c) = &body.caveat {
        let context = Context::new(c.context.clone().unwrap_or_default());
        tuple = tuple.with_caveat(c.name.clone(), context);
    }
    tuple.expires_at = body.expires_at;
    store::validate_tuple(engine.schema(), &tuple).map_err(api_error)?;
    if tuple.object.object_type == "role" && !linked_to(engine, org, &tuple.object).await? {
        return Err(ApiError::not_found("no such role in this organization"));
    }
    // Subjects must be part of this org: members, its teams, its roles, the org itself.
    let belongs = match (subject.subject_type.as_str(), subject.is_wildcard()) {
        (_, true) => true,
        ("user", false) => {
            let org_ref = ObjectRef::new("org", org.to_string());
            engine
                .check(
                    org,
                    &org_ref,
                    "viewer_access",
                    &subject,
                    &ReadOptions::default(),
                )
                .await
                .map_err(api_error)?
                .value
        }
        ("org", false) => subject.subject_id == org.to_string(),
        (st @ ("team" | "role"), false) => {
            linked_to(engine, org, &ObjectRef::new(st, subject.subject_id.clone())).await?
        }
        _ => true,
    };
    if !belongs {
        return Err(ApiError::validation(
            "subject",
            format!("`{subject}` is not part of this organization"),
        ));
    }
    Ok(tuple)
}

/// Grants a relation on an object (idempotent).
#[utoipa::path(tag = TAG, request_body = Relationship, responses(
    (status = 200, body = Written), (status = 403), (status = 422)))]
#[post("/permissions/grant")]
pub(crate) async fn grant(
    ctx: CellContext,
    member: Scoped<InOrg, Write<PermissionScope>>,
    body: ValidJson<Relationship>,
) -> ApiResult<HttpResponse> {
    let engine = engine(&ctx)?;
    let object = object(&body.0.namespace, &body.0.object_id)?;
    let org = require_manage(&engine, member.caller(), &object).await?;
    drop(member);
    let tuple = writable(&engine, org, object, &body.0).await?;
    let revision = engine
        .write(org, &WriteBatch::touch([tuple]))
        .await
        .map_err(api_error)?;
    Ok(HttpResponse::Ok().json(Written {
        revision: revision.0,
    }))
}

/// Revokes a relation on an object (idempotent: revoking what is not there is not an error).
#[utoipa::path(tag = TAG, request_body = Relationship, responses(
    (status = 200, body = Written), (status = 403), (status = 422)))]
#[post("/permissions/revoke")]
pub(crate) async fn revoke(
    ctx: CellContext,
    member: Scoped<InOrg, Write<PermissionScope>>,
    body: ValidJson<Relationship>,
) -> ApiResult<HttpResponse> {
    let engine = engine(&ctx)?;
    let object = object(&body.0.namespace, &body.0.object_id)?;
    let org = require_manage(&engine, member.caller(), &object).await?;
    drop(member);
    not_managed_elsewhere(&object, &body.0.relation)?;
    let tuple = Tuple::new(object, body.0.relation.clone(), body.0.subject.parse()?);
    let batch = WriteBatch {
        updates: vec![TupleUpdate::delete(tuple)],
        preconditions: Vec::new(),
    };
    let revision = engine.write(org, &batch).await.map_err(api_error)?;
    Ok(HttpResponse::Ok().json(Written {
        revision: revision.0,
    }))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    #[schema(min_length = 1, max_length = 254)]
    #[garde(length(chars, min = 1, max = 254))]
    pub namespace: String,
    #[schema(min_length = 1, max_length = 1024)]
    #[garde(length(chars, min = 1, max = 1024))]
    pub object_id: String,
    /// A relation or permission of the namespace.
    #[schema(min_length = 1, max_length = 64)]
    #[garde(length(chars, min = 1, max = 64))]
    pub permission: String,
    /// Whose access: the caller when absent (someone else needs the admin role).
    #[garde(skip)]
    pub subject: Option<Subject>,
    /// Answer at least as fresh as this revision (one a write returned).
    #[schema(minimum = 0)]
    #[garde(range(min = 0))]
    pub at_least_revision: Option<i64>,
    /// Values for caveat parameters the relationships leave open (`{"user_ip": "10.1.2.3"}`).
    #[garde(skip)]
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckAnswer {
    /// True only when the permission holds unconditionally.
    pub allowed: bool,
    /// `allowed`, `denied`, or `conditional`: it would hold if caveats held that need the
    /// context parameters named in `missing_context`.
    #[schema(value_type = String, example = "allowed")]
    pub permissionship: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_context: Vec<String>,
    pub revision: i64,
}

/// Does a subject (the caller by default) hold a permission on an object?
#[utoipa::path(tag = TAG, request_body = CheckRequest, responses(
    (status = 200, body = CheckAnswer), (status = 403), (status = 422)))]
#[post("/permissions/check")]
pub(crate) async fn check(
    ctx: CellContext,
    member: Scoped<InOrg, Read<PermissionScope>>,
    body: ValidJson<CheckRequest>,
) -> ApiResult<HttpResponse> {
    let engine = engine(&ctx)?;
    let org = member.org_id();
    let me = SubjectRef::object("user", member.caller().user_id.to_string());
    let subject = match &body.0.subject {
        Some(s) => s.parse()?,
        None => me.clone(),
    };
    if subject != me {
        member.require::<AdministerOrg>(&ctx, None).await?;
    }
    let object = object(&body.0.namespace, &body.0.object_id)?;
    let opts = ReadOptions {
        at_least: body.0.at_least_revision.map(Revision),
        context: Context::new(body.0.context.clone().unwrap_or_default()),
        ..ReadOptions::default()
    };
    let answer = engine
        .check_caveated(org, &object, &body.0.permission, &subject, &opts)
        .await
        .map_err(api_error)?;
    let (permissionship, missing_context) = match answer.value {
        Permissionship::Allowed => ("allowed", Vec::new()),
        Permissionship::Denied => ("denied", Vec::new()),
        Permissionship::Conditional(m) => ("conditional", m),
    };
    Ok(HttpResponse::Ok().json(CheckAnswer {
        allowed: permissionship == "allowed",
        permissionship,
        missing_context,
        revision: answer.revision.0,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct NamespaceQuery {
    /// The object type (`document`).
    pub namespace: String,
}

/// An object the caller can reach, with every relation and permission they hold on it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Access {
    pub object_id: String,
    pub relations: Vec<String>,
}

/// The caller's access in one namespace: every object where they hold any relation or
/// permission, sorted by id, paged (`page`, `limit`).
#[utoipa::path(tag = TAG, params(NamespaceQuery), responses(
    (status = 200, body = Page<Access>), (status = 403), (status = 422)))]
#[get("/permissions/my-access")]
pub(crate) async fn my_access(
    ctx: CellContext,
    member: Scoped<InOrg, Read<PermissionScope>>,
    ns: web::Query<NamespaceQuery>,
    list: ListQuery,
) -> ApiResult<HttpResponse> {
    let engine = engine(&ctx)?;
    let org = member.org_id();
    let def = engine
        .schema()
        .type_def(&ns.namespace)
        .filter(|_| !BUILT_IN_TYPES.contains(&ns.namespace.as_str()) || ns.namespace == "team")
        .ok_or_else(|| {
            ApiError::validation(
                "namespace",
                format!("`{}` is not a namespace of this cell", ns.namespace),
            )
        })?;
    let me = SubjectRef::object("user", member.caller().user_id.to_string());
    let opts = ReadOptions::default();
    let mut by_object: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for relation in def.relations.keys() {
        let ids = engine
            .lookup_resources(org, &ns.namespace, relation, &me, &opts)
            .await
            .map_err(api_error)?;
        for id in ids.value {
            by_object.entry(id).or_default().push(relation.clone());
        }
    }
    let total = by_object.len() as u64;
    let data: Vec<Access> = by_object
        .into_iter()
        .skip(usize::try_from(list.offset()).unwrap_or(usize::MAX))
        .take(usize::try_from(list.limit).unwrap_or(usize::MAX))
        .map(|(object_id, relations)| Access {
            object_id,
            relations,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::new(data, &list, total)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ObjectQuery {
    pub namespace: String,
    pub object_id: String,
}

/// A stored relationship on the audited object.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Grant {
    pub relation: String,
    pub subject: Subject,
}

/// Who holds one relation or permission, and whether by a direct grant.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Holder {
    pub user_id: String,
    /// `true` when a tuple on the object names the user; `false` when inherited (a team, a
    /// role, the org role, a parent object).
    pub direct: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Effective {
    pub relation: String,
    /// `true` when every user of the org holds it (a `user:*` grant).
    pub everyone: bool,
    pub users: Vec<Holder>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccessAudit {
    pub namespace: String,
    pub object_id: String,
    pub revision: i64,
    /// Relationships stored on the object.
    pub direct: Vec<Grant>,
    /// For each relation and permission of the type, every user who holds it.
    pub effective: Vec<Effective>,
}

/// The access audit of one object: its direct grants, and for each relation and permission
/// every user holding it, direct or inherited (teams, roles, org roles, parents).
#[utoipa::path(tag = TAG, params(ObjectQuery), responses(
    (status = 200, body = AccessAudit), (status = 403), (status = 422)))]
#[get("/permissions/audit")]
pub(crate) async fn audit(
    ctx: CellContext,
    member: Scoped<InOrg, Read<PermissionScope>>,
    q: web::Query<ObjectQuery>,
) -> ApiResult<HttpResponse> {
    let engine = engine(&ctx)?;
    let object = object(&q.namespace, &q.object_id)?;
    let def = engine
        .schema()
        .type_def(&object.object_type)
        .ok_or_else(|| {
            ApiError::validation(
                "namespace",
                format!("`{}` is not a namespace of this cell", q.namespace),
            )
        })?;
    let org = require_manage(&engine, member.caller(), &object).await?;
    let stored = store::read(
        &member,
        &TupleFilter {
            object_type: object.object_type.clone(),
            object_id: Some(object.object_id.clone()),
            ..TupleFilter::default()
        },
        AUDIT_LIMIT as u64,
    )
    .await?;
    member.commit().await?;
    let direct_users: BTreeSet<(&str, &str)> = stored
        .iter()
        .filter(|t| t.subject.subject_type == "user" && t.subject.relation.is_none())
        .map(|t| (t.relation.as_str(), t.subject.subject_id.as_str()))
        .collect();
    let opts = ReadOptions::default();
    let mut effective = Vec::new();
    let mut revision = Revision(0);
    for relation in def.relations.keys() {
        let subjects = engine
            .lookup_subjects(org, &object, relation, "user", None, &opts)
            .await
            .map_err(api_error)?;
        revision = revision.max(subjects.revision);
        let everyone = subjects.value.iter().any(SubjectRef::is_wildcard);
        let users = subjects
            .value
            .iter()
            .filter(|s| !s.is_wildcard())
            .take(AUDIT_LIMIT)
            .map(|s| Holder {
                direct: direct_users.contains(&(relation.as_str(), s.subject_id.as_str())),
                user_id: s.subject_id.clone(),
            })
            .collect();
        effective.push(Effective {
            relation: relation.clone(),
            everyone,
            users,
        });
    }
    Ok(HttpResponse::Ok().json(AccessAudit {
        namespace: object.object_type,
        object_id: object.object_id,
        revision: revision.0,
        direct: stored
            .iter()
            .map(|t| Grant {
                relation: t.relation.clone(),
                subject: Subject::from(&t.subject),
            })
            .collect(),
        effective,
    }))
}

// ---- custom roles ----

/// A custom role as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Role {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// As written: `type:permission` or `type:*`.
    pub permissions: Vec<String>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<role::Model> for Role {
    fn from(r: role::Model) -> Self {
        Self {
            id: r.id,
            name: r.name,
            description: r.description,
            permissions: serde_json::from_value(r.permissions).unwrap_or_default(),
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A role with its direct members (users, and teams whose members all hold it).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RoleDetail {
    #[serde(flatten)]
    pub role: Role,
    pub members: Vec<Subject>,
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    /// 1–100 characters, unique in the org.
    #[garde(skip)]
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    #[schema(max_length = 2000)]
    #[garde(length(chars, max = 2000))]
    pub description: Option<String>,
    /// `type:permission` or `type:*` (see `GET /roles/grantable`).
    #[garde(skip)]
    pub permissions: Vec<String>,
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolePatch {
    #[garde(skip)]
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    #[schema(max_length = 2000)]
    #[garde(length(chars, max = 2000))]
    pub description: Option<String>,
    #[garde(skip)]
    pub permissions: Option<Vec<String>>,
}

fn check_name(name: &str) -> Result<String, ApiError> {
    kernel::http::trimmed("name", name, 100)
}

/// What custom roles can grant in this cell: `type:permission` for every module type that
/// belongs to an org.
#[utoipa::path(tag = ROLES_TAG, responses((status = 200, body = Vec<String>)))]
#[get("/roles/grantable")]
pub(crate) async fn grantable_list(
    ctx: CellContext,
    _member: Scoped<InOrg, Read<RoleScope>>,
) -> ApiResult<HttpResponse> {
    let engine = engine(&ctx)?;
    let list: Vec<String> = super::grantable(engine.schema())
        .into_iter()
        .map(|(t, p)| format!("{t}:{p}"))
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// Creates a custom role. Add members with `POST /permissions/grant`
/// (`{"namespace":"role","object_id":"<id>","relation":"member","subject":{…}}`).
#[utoipa::path(tag = ROLES_TAG, request_body = NewRole, responses(
    (status = 201, body = Role), (status = 403), (status = 409), (status = 422)))]
#[post("/roles")]
pub(crate) async fn create_role(
    ctx: CellContext,
    admin: Scoped<AdministerOrg, Write<RoleScope>>,
    body: ValidJson<NewRole>,
) -> ApiResult<HttpResponse> {
    let engine = engine(&ctx)?;
    let body = body.0;
    let name = check_name(&body.name)?;
    let grants = roles::expand(engine.schema(), &body.permissions)?;
    let user = admin.caller().user_id;
    let tx = admin;
    let row = roles::new_row(&tx, name, body.description, &body.permissions, user);
    // A taken name is a unique violation: 409.
    let row = tx.repo::<role::Entity>().insert(row).await?;
    roles::link(&tx, row.id, &grants).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Role::from(row)))
}

/// What `list_roles` exposes: its fields, search and order.
fn role_list() -> ListSpec<role::Entity> {
    ListSpec::new()
        .sortable("name", role::Column::Name)
        .sortable("created_at", role::Column::CreatedAt)
        .search([role::Column::Name])
        .default_sort(role::Column::Name, false)
        .tiebreak(role::Column::Id)
}

kernel::list_params!(RoleListParams, role_list);

/// The org's custom roles (`search`, `sort=name|created_at`, paged).
#[utoipa::path(tag = ROLES_TAG, params(RoleListParams), responses((status = 200, body = Page<Role>)))]
#[get("/roles")]
pub(crate) async fn list_roles(
    member: Scoped<InOrg, Read<RoleScope>>,
    query: ListQuery,
) -> ApiResult<HttpResponse> {
    let spec = role_list();
    let tx = member;
    let select = spec.apply(&query, tx.repo::<role::Entity>().find())?;
    let page = tx.page(select, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Role::from)))
}

fn role_not_found() -> ApiError {
    ApiError::not_found("no such role in this organization")
}

/// A custom role with its members.
#[utoipa::path(tag = ROLES_TAG, responses((status = 200, body = RoleDetail), (status = 404)))]
#[get("/roles/{id}")]
pub(crate) async fn get_role(
    member: Scoped<InOrg, Read<RoleScope>>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let tx = member;
    let row = tx
        .repo::<role::Entity>()
        .get(*id)
        .await?
        .ok_or_else(role_not_found)?;
    let members = store::read(
        &tx,
        &TupleFilter {
            object_type: "role".into(),
            object_id: Some(id.to_string()),
            relation: Some("member".into()),
            ..TupleFilter::default()
        },
        AUDIT_LIMIT as u64,
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(RoleDetail {
        role: row.into(),
        members: members.iter().map(|t| Subject::from(&t.subject)).collect(),
    }))
}

/// Renames a role, or changes its description or what it grants (members keep it).
#[utoipa::path(tag = ROLES_TAG, request_body = RolePatch, responses(
    (status = 200, body = Role), (status = 403), (status = 404), (status = 409), (status = 422)))]
#[patch("/roles/{id}")]
pub(crate) async fn update_role(
    ctx: CellContext,
    admin: Scoped<AdministerOrg, Write<RoleScope>>,
    id: web::Path<Uuid>,
    body: ValidJson<RolePatch>,
) -> ApiResult<HttpResponse> {
    let engine = engine(&ctx)?;
    let body = body.0;
    let name = body.name.as_deref().map(check_name).transpose()?;
    let grants = body
        .permissions
        .as_ref()
        .map(|p| roles::expand(engine.schema(), p))
        .transpose()?;
    let tx = admin;
    let repo = tx.repo::<role::Entity>();
    let row = repo.get(*id).await?.ok_or_else(role_not_found)?;
    let mut m: role::ActiveModel = row.into();
    if let Some(name) = name {
        m.name = Set(name);
    }
    if let Some(d) = body.description {
        m.description = Set(Some(d).filter(|d| !d.trim().is_empty()));
    }
    if let (Some(p), Some(grants)) = (&body.permissions, &grants) {
        m.permissions = Set(serde_json::json!(p));
        roles::regrant(&tx, engine.schema(), *id, grants).await?;
    }
    m.updated_at = Set(Utc::now());
    let row = repo.update(m).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Role::from(row)))
}

/// Deletes a role: its members lose what it granted at once.
#[utoipa::path(tag = ROLES_TAG, responses((status = 204), (status = 403), (status = 404)))]
#[delete("/roles/{id}")]
pub(crate) async fn delete_role(
    admin: Scoped<AdministerOrg, Write<RoleScope>>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let tx = admin;
    if !tx.repo::<role::Entity>().delete(*id).await? {
        return Err(role_not_found());
    }
    roles::unlink(&tx, *id).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

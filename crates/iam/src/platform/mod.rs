//! The engine inside a cell: the built-in namespaces (`user`, `org`, `team`, `role`), custom
//! roles woven into every module's schema, the relationships other modules keep in sync with
//! their own rows, the org permissions and the authorizer behind `kernel::http::Scoped`, and the HTTP routes.

pub(crate) mod extract;
pub(crate) mod http;
pub(crate) mod roles;
mod sync;

use std::sync::Arc;

use kernel::{ApiError, CellContext};

use crate::EngineError;
use crate::engine::Engine;
use crate::schema::{
    AllowedKind, AllowedSubject, ArrowMode, RelationDef, RelationKind, Rewrite, Schema,
};

pub use sync::{remove_member, set_member_role, set_team, set_team_member};

/// The namespaces iam owns. Tenancy keeps `org` and `team` in step with its memberships (see
/// [`sync`]); `role` objects are the org's custom roles.
///
/// - `org:<id>#owner|admin|member|viewer@user:<id>`: one tuple per member, their platform role
///   (cell aliases resolved). `admin_access`, `member_access`, `viewer_access` are "that role
///   or higher": module schemas refer to them (`permission view = viewer + org->member_access`).
/// - `team:<id>#member@user:<id>` for every member, `#lead` too for leads; `team:<id>#org`.
/// - `role:<id>#member@user:<id>` or `@team:<id>#member`; what a role grants is generated (see
///   [`with_custom_roles`]).
pub const BASE_SCHEMA: &str = r#"
definition user {}

definition org {
    relation owner: user
    relation admin: user
    relation member: user
    relation viewer: user
    relation role: role
    permission admin_access = owner + admin
    permission member_access = admin_access + member
    permission viewer_access = member_access + viewer
}

definition team {
    relation org: org
    relation lead: user
    relation member: user
    permission manage = lead + org->admin_access
}

definition role {
    relation org: org
    relation member: user | team#member
    permission manage = org->admin_access
}
"#;

/// The types iam defines; custom roles grant permissions of module types only.
pub const BUILT_IN_TYPES: [&str; 4] = ["user", "org", "team", "role"];

/// Org roles written as `org` relations, lowest first.
pub const ORG_ROLES: [&str; 4] = ["viewer", "member", "admin", "owner"];

/// Weaves custom roles into a composed schema. Every module type with a relation `org: org`
/// takes part: for each of its permissions `p`,
///
/// - `role` gets `relation grant__<type>__<p>: user:*` (written when a role grants `type:p`)
///   and `permission <type>__<p> = member & grant__<type>__<p>`;
/// - `org` gets `permission role__<type>__<p> = role-><type>__<p>`;
/// - the type's `p` becomes `(p) + org->role__<type>__<p>`.
///
/// So a member of a role that grants `document:view` can view every document of the org, and
/// check, lookups and "my access" all see it. Only permissions take part (tuples are written
/// to relations, and arrows walk relations, so those stay as the module wrote them).
pub fn with_custom_roles(mut schema: Schema) -> Result<Schema, String> {
    let grantable = grantable(&schema);
    let mut role_relations = Vec::new();
    let mut org_permissions = Vec::new();
    for (type_name, permission) in &grantable {
        let suffix = format!("{type_name}__{permission}");
        let grant = format!("grant__{suffix}");
        let org_permission = format!("role__{suffix}");
        for name in [&grant, &org_permission] {
            if !crate::schema::valid_relation_name(name) {
                return Err(format!(
                    "`{type_name}#{permission}`: the custom-role relation `{name}` is not a valid name (names over 64 characters are too long; shorten the type or permission)"
                ));
            }
        }
        role_relations.push(RelationDef {
            name: grant.clone(),
            kind: RelationKind::Relation,
            allowed: vec![AllowedSubject::new("user", AllowedKind::Wildcard)],
            rewrite: Rewrite::This,
        });
        role_relations.push(RelationDef {
            name: suffix.clone(),
            kind: RelationKind::Permission,
            allowed: Vec::new(),
            // The grant first: one direct `user:*` lookup that is "no" for most roles, before
            // `member`, which may expand team usersets (the intersection stops at the first no).
            rewrite: Rewrite::Intersection(vec![
                Rewrite::Computed(grant),
                Rewrite::Computed("member".into()),
            ]),
        });
        org_permissions.push(RelationDef {
            name: org_permission.clone(),
            kind: RelationKind::Permission,
            allowed: Vec::new(),
            rewrite: Rewrite::Arrow {
                tupleset: "role".into(),
                computed: suffix,
                mode: ArrowMode::Any,
            },
        });
        if let Some(def) = schema
            .types
            .get_mut(type_name.as_str())
            .and_then(|t| t.relations.get_mut(permission.as_str()))
        {
            let own = std::mem::replace(&mut def.rewrite, Rewrite::Nil);
            def.rewrite = Rewrite::Union(vec![
                own,
                Rewrite::Arrow {
                    tupleset: "org".into(),
                    computed: org_permission,
                    mode: ArrowMode::Any,
                },
            ]);
        }
    }
    for (type_name, extra) in [("role", role_relations), ("org", org_permissions)] {
        let def = schema
            .types
            .get_mut(type_name)
            .ok_or_else(|| format!("the built-in type `{type_name}` is missing"))?;
        for r in extra {
            if def.relations.contains_key(&r.name) {
                return Err(format!("`{type_name}#{}` is defined twice", r.name));
            }
            def.relations.insert(r.name.clone(), r);
        }
    }
    crate::schema::validate(&schema).map_err(|e| format!("custom roles: {e}"))?;
    Ok(schema)
}

/// `(type, permission)` pairs a custom role may grant: the permissions of every module type
/// with a relation `org` that accepts `org` objects.
pub fn grantable(schema: &Schema) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, def) in &schema.types {
        if BUILT_IN_TYPES.contains(&name.as_str()) {
            continue;
        }
        let in_org = def.relations.get("org").is_some_and(|r| {
            r.allowed
                .iter()
                .any(|a| a.subject_type == "org" && a.kind == AllowedKind::Object)
        });
        if !in_org {
            continue;
        }
        for (rel, r) in &def.relations {
            if r.kind == RelationKind::Permission {
                out.push((name.clone(), rel.clone()));
            }
        }
    }
    out
}

/// The cell's permission engine, or 500 when iam is not enabled (a module using it must list
/// `iam` among its dependencies, so start-up refuses that first).
pub fn engine(ctx: &CellContext) -> Result<Arc<Engine>, ApiError> {
    ctx.service::<Engine>().ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "the iam module is not enabled in this cell (add [modules.iam] and list it as a dependency)"
        ))
    })
}

/// The envelope error for an engine error: the request's fault (422/409) or ours (500).
pub(crate) fn api_error(e: EngineError) -> ApiError {
    match e {
        EngineError::UnknownType(_)
        | EngineError::UnknownRelation { .. }
        | EngineError::InvalidSubject(_)
        | EngineError::InvalidTuple(_)
        | EngineError::DepthExceeded(_)
        | EngineError::Caveat(_)
        | EngineError::FutureRevision { .. } => {
            ApiError::new(kernel::ErrorCode::ValidationFailed, e.to_string())
        }
        EngineError::PreconditionFailed(_) | EngineError::AlreadyExists(_) => {
            ApiError::conflict(e.to_string())
        }
        EngineError::Db(e) => ApiError::internal(e),
    }
}

#[cfg(test)]
mod tests;

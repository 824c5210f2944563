//! Relationships other modules keep in step with their own rows, written in *their* tenant
//! transaction so the graph never disagrees with what was committed: tenancy calls these when a
//! membership, a team or a team member changes.

use kernel::http::Role;
use kernel::{ApiError, TenantTx};
use uuid::Uuid;

use super::{ORG_ROLES, api_error};
use crate::store::{self, TupleFilter, TupleUpdate, WriteBatch};
use crate::tuple::{ObjectRef, SubjectRef, Tuple};

fn user(id: Uuid) -> SubjectRef {
    SubjectRef::object("user", id.to_string())
}

/// Makes `org:<org of tx>#<role>@user:<user>` the member's only org-role tuple.
pub async fn set_member_role(tx: &TenantTx, member: Uuid, role: Role) -> Result<(), ApiError> {
    let org = ObjectRef::new("org", tx.org_id().to_string());
    let mut updates: Vec<TupleUpdate> = ORG_ROLES
        .iter()
        .map(|r| TupleUpdate::delete(Tuple::new(org.clone(), *r, user(member))))
        .collect();
    // Deletes run first, inserts after them: the current role survives.
    updates.push(TupleUpdate::touch(Tuple::new(
        org,
        role.as_str(),
        user(member),
    )));
    let batch = WriteBatch {
        updates,
        preconditions: Vec::new(),
    };
    store::write_in(tx, &batch).await.map_err(api_error)?;
    Ok(())
}

/// Removes everything that made `member` part of the org of `tx`: their org role, their team
/// memberships and their custom-role memberships. Grants made to them directly on module objects
/// stay (they grant nothing without membership: every route needs an active org) and are listed
/// by the object's access audit until revoked.
pub async fn remove_member(tx: &TenantTx, member: Uuid) -> Result<(), ApiError> {
    let id = member.to_string();
    let filters: Vec<TupleFilter> = ["org", "team", "role"]
        .into_iter()
        .map(|t| TupleFilter {
            object_type: t.into(),
            subject_type: Some("user".into()),
            subject_id: Some(id.clone()),
            subject_relation: Some(String::new()),
            ..TupleFilter::default()
        })
        .collect();
    store::delete_matching_in(tx, &filters)
        .await
        .map_err(api_error)?;
    Ok(())
}

/// A team was created (`exists`) or deleted: links it to its org, or forgets every tuple on it
/// and every grant to its members (`…@team:<id>#member`).
pub async fn set_team(tx: &TenantTx, team: Uuid, exists: bool) -> Result<(), ApiError> {
    if exists {
        let t = Tuple::new(
            ObjectRef::new("team", team.to_string()),
            "org",
            SubjectRef::object("org", tx.org_id().to_string()),
        );
        store::write_in(tx, &WriteBatch::touch([t]))
            .await
            .map_err(api_error)?;
    } else {
        store::forget_in(tx, "team", Some(&team.to_string()))
            .await
            .map_err(api_error)?;
    }
    Ok(())
}

/// Sets a user's place in a team: `Some("lead")` (member and lead), `Some(_)` (member), `None`
/// (not in the team).
pub async fn set_team_member(
    tx: &TenantTx,
    team: Uuid,
    member: Uuid,
    role: Option<&str>,
) -> Result<(), ApiError> {
    let object = ObjectRef::new("team", team.to_string());
    let tuple = |relation: &str| Tuple::new(object.clone(), relation, user(member));
    let mut updates = vec![
        TupleUpdate::delete(tuple("member")),
        TupleUpdate::delete(tuple("lead")),
    ];
    if let Some(role) = role {
        updates.push(TupleUpdate::touch(tuple("member")));
        if role == "lead" {
            updates.push(TupleUpdate::touch(tuple("lead")));
        }
    }
    let batch = WriteBatch {
        updates,
        preconditions: Vec::new(),
    };
    store::write_in(tx, &batch).await.map_err(api_error)?;
    Ok(())
}

//! Custom roles: a named set of `type:permission` grants per org (`task:*`, `document:view`).
//! A role is the object `role:<id>`; its members are `role:<id>#member@user:…` (or a team's
//! members); what it grants is `role:<id>#grant__<type>__<p>@user:*` (see
//! [`super::with_custom_roles`]). The row keeps the name and the permissions as written.

use std::collections::BTreeSet;

use chrono::Utc;
use kernel::migration::{index, ts};
use kernel::sea_orm::{ActiveValue::Set, DbErr};
use kernel::sea_orm_migration::sea_query::{ColumnDef, Table};
use kernel::sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};
use kernel::{ApiError, TenantTx};
use uuid::Uuid;

use super::{api_error, grantable};
use crate::schema::Schema;
use crate::store::{self, TupleFilter, TupleUpdate, WriteBatch};
use crate::tuple::{ObjectRef, SubjectRef, Tuple};

pub const ROLES_TABLE: &str = "iam_roles";
pub const MAX_PERMISSIONS: usize = 200;

pub mod role {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "iam_roles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub name: String,
        pub description: Option<String>,
        /// The grants as written (`["task:*", "document:view"]`).
        pub permissions: Json,
        pub created_by: Uuid,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

impl kernel::TenantEntity for role::Entity {
    fn org_id_column() -> Self::Column {
        role::Column::OrgId
    }
}

pub struct CreateRoles;

impl MigrationName for CreateRoles {
    fn name(&self) -> &str {
        "iam_m20261121_000002_create_roles"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for CreateRoles {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ROLES_TABLE)
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("org_id").uuid().not_null())
                .col(ColumnDef::new("name").text().not_null())
                .col(ColumnDef::new("description").text())
                .col(ColumnDef::new("permissions").json().not_null())
                .col(ColumnDef::new("created_by").uuid().not_null())
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index("iam_roles_org_name", ROLES_TABLE, &["org_id", "name"])
                .unique()
                .to_owned(),
        )
        .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), ROLES_TABLE).await
    }
}

/// The `(type, permission)` pairs a list of grants means, each checked against the schema:
/// `type:permission`, or `type:*` for all of the type's permissions.
pub fn expand(schema: &Schema, grants: &[String]) -> Result<BTreeSet<(String, String)>, ApiError> {
    if grants.len() > MAX_PERMISSIONS {
        return Err(ApiError::validation(
            "permissions",
            format!("at most {MAX_PERMISSIONS} entries"),
        ));
    }
    let all = grantable(schema);
    let mut out = BTreeSet::new();
    for g in grants {
        let (t, p) = g.split_once(':').ok_or_else(|| {
            ApiError::validation(
                "permissions",
                format!("`{g}` is not `type:permission` (or `type:*`)"),
            )
        })?;
        let of_type: Vec<_> = all.iter().filter(|(at, _)| at == t).collect();
        if of_type.is_empty() {
            return Err(ApiError::validation(
                "permissions",
                format!(
                    "`{t}` is not a type custom roles can grant in this cell (see GET /roles/grantable)"
                ),
            ));
        }
        if p == "*" {
            out.extend(of_type.into_iter().cloned());
        } else if let Some(pair) = of_type.into_iter().find(|(_, ap)| ap == p) {
            out.insert(pair.clone());
        } else {
            return Err(ApiError::validation(
                "permissions",
                format!("`{t}` has no permission `{p}`"),
            ));
        }
    }
    Ok(out)
}

fn role_object(id: Uuid) -> ObjectRef {
    ObjectRef::new("role", id.to_string())
}

fn grant_tuple(id: Uuid, (t, p): &(String, String)) -> Tuple {
    Tuple::new(
        role_object(id),
        format!("grant__{t}__{p}"),
        SubjectRef::wildcard("user"),
    )
}

/// Writes a new role's links and grants in the caller's transaction.
pub async fn link(
    tx: &TenantTx,
    id: Uuid,
    grants: &BTreeSet<(String, String)>,
) -> Result<(), ApiError> {
    let org = ObjectRef::new("org", tx.org_id().to_string());
    let mut tuples = vec![
        Tuple::new(
            org.clone(),
            "role",
            SubjectRef::object("role", id.to_string()),
        ),
        Tuple::new(
            role_object(id),
            "org",
            SubjectRef::object("org", org.object_id),
        ),
    ];
    tuples.extend(grants.iter().map(|g| grant_tuple(id, g)));
    store::write_in(tx, &WriteBatch::touch(tuples))
        .await
        .map_err(api_error)?;
    Ok(())
}

/// Replaces what a role grants (every grant relation of the current schema is cleared first).
pub async fn regrant(
    tx: &TenantTx,
    schema: &Schema,
    id: Uuid,
    grants: &BTreeSet<(String, String)>,
) -> Result<(), ApiError> {
    let clear: Vec<TupleFilter> = grantable(schema)
        .iter()
        .map(|g| TupleFilter::exact(&grant_tuple(id, g)))
        .collect();
    store::delete_matching_in(tx, &clear)
        .await
        .map_err(api_error)?;
    let batch = WriteBatch {
        updates: grants
            .iter()
            .map(|g| TupleUpdate::touch(grant_tuple(id, g)))
            .collect(),
        preconditions: Vec::new(),
    };
    store::write_in(tx, &batch).await.map_err(api_error)?;
    Ok(())
}

/// Forgets a deleted role: its grants, its members, its link to the org.
pub async fn unlink(tx: &TenantTx, id: Uuid) -> Result<(), ApiError> {
    store::forget_in(tx, "role", Some(&id.to_string()))
        .await
        .map_err(api_error)?;
    Ok(())
}

/// A new role row (validated by the caller).
pub fn new_row(
    tx: &TenantTx,
    name: String,
    description: Option<String>,
    permissions: &[String],
    by: Uuid,
) -> role::ActiveModel {
    let now = Utc::now();
    role::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(tx.org_id()),
        name: Set(name),
        description: Set(description),
        permissions: Set(serde_json::json!(permissions)),
        created_by: Set(by),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

//! Tenancy's tables. Tenant tables lead every index with `org_id` and get row-level security.

use kernel::migration::{index, ts, ts_null};
use sea_orm::DbErr;
use sea_orm_migration::sea_query::{ColumnDef, Index, Table};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};

pub(crate) fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(Organizations),
        Box::new(OrgProfile),
        Box::new(Teams),
        Box::new(Invitations),
        Box::new(Settings),
        Box::new(FeatureFlags),
        Box::new(ForeignKeys),
    ]
}

fn created_updated(t: &mut sea_orm_migration::sea_query::TableCreateStatement) {
    t.col(ts("created_at")).col(ts("updated_at"));
}

struct Organizations;

impl MigrationName for Organizations {
    fn name(&self) -> &str {
        "tenancy_m20261121_000001_organizations"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for Organizations {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut orgs = Table::create();
        orgs.table("organizations")
            .col(ColumnDef::new("id").uuid().not_null().primary_key())
            .col(ColumnDef::new("name").text().not_null())
            .col(ColumnDef::new("slug").text().not_null().unique_key())
            .col(ColumnDef::new("plan").text().not_null())
            .col(ColumnDef::new("personal").boolean().not_null())
            .col(ColumnDef::new("settings").json_binary().not_null());
        created_updated(&mut orgs);
        m.create_table(orgs).await?;

        let mut members = Table::create();
        members
            .table("memberships")
            .col(ColumnDef::new("org_id").uuid().not_null())
            .col(ColumnDef::new("user_id").uuid().not_null())
            .col(ColumnDef::new("role").text().not_null())
            .primary_key(Index::create().col("org_id").col("user_id"));
        created_updated(&mut members);
        m.create_table(members).await?;
        // "My organizations" reads by user across orgs.
        m.create_index(
            Index::create()
                .name("memberships_by_user")
                .table("memberships")
                .col("user_id")
                .col("org_id")
                .to_owned(),
        )
        .await?;
        kernel::db::enable_member_rls(m.get_connection(), "memberships").await
    }
}

/// `logo_url` and `default_timezone` (PATCH /organizations/{id} in the spec).
struct OrgProfile;

impl MigrationName for OrgProfile {
    fn name(&self) -> &str {
        "tenancy_m20261121_000002_org_profile"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for OrgProfile {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        m.alter_table(
            Table::alter()
                .table("organizations")
                .add_column(ColumnDef::new("logo_url").text())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("organizations")
                .add_column(
                    ColumnDef::new("default_timezone")
                        .text()
                        .not_null()
                        .default("UTC"),
                )
                .to_owned(),
        )
        .await
    }
}

struct Teams;

impl MigrationName for Teams {
    fn name(&self) -> &str {
        "tenancy_m20261121_000003_teams"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for Teams {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("teams")
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("org_id").uuid().not_null())
                .col(ColumnDef::new("name").text().not_null())
                .col(ColumnDef::new("description").text())
                .col(ColumnDef::new("visibility").text().not_null())
                .col(ColumnDef::new("created_by").uuid().not_null())
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index("teams_org_name", "teams", &["org_id", "name"])
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(index("teams_org_id", "teams", &["org_id", "id"]).to_owned())
            .await?;
        m.create_table(
            Table::create()
                .table("team_members")
                .col(ColumnDef::new("org_id").uuid().not_null())
                .col(ColumnDef::new("team_id").uuid().not_null())
                .col(ColumnDef::new("user_id").uuid().not_null())
                .col(ColumnDef::new("role").text().not_null())
                .col(ts("created_at"))
                .primary_key(Index::create().col("org_id").col("team_id").col("user_id"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "team_members_org_user",
                "team_members",
                &["org_id", "user_id"],
            )
            .to_owned(),
        )
        .await?;
        let conn = m.get_connection();
        kernel::db::enable_tenant_rls(conn, "teams").await?;
        kernel::db::enable_tenant_rls(conn, "team_members").await
    }
}

struct Invitations;

impl MigrationName for Invitations {
    fn name(&self) -> &str {
        "tenancy_m20261121_000004_invitations"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for Invitations {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("invitations")
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("org_id").uuid().not_null())
                .col(ColumnDef::new("email").text().not_null())
                .col(ColumnDef::new("role").text().not_null())
                .col(ColumnDef::new("team_ids").json_binary().not_null())
                .col(ColumnDef::new("token_hash").text().not_null())
                .col(ColumnDef::new("invited_by").uuid().not_null())
                .col(ColumnDef::new("status").text().not_null())
                .col(ts("expires_at"))
                .col(ts_null("accepted_at"))
                .col(ColumnDef::new("accepted_by").uuid())
                .col(ts_null("revoked_at"))
                .col(ColumnDef::new("sent_count").integer().not_null())
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "invitations_org_token",
                "invitations",
                &["org_id", "token_hash"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "invitations_org_status",
                "invitations",
                &["org_id", "status", "email"],
            )
            .to_owned(),
        )
        .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), "invitations").await
    }
}

struct Settings;

impl MigrationName for Settings {
    fn name(&self) -> &str {
        "tenancy_m20261121_000005_settings"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for Settings {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("settings")
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("org_id").uuid().not_null())
                .col(ColumnDef::new("scope").text().not_null())
                .col(ColumnDef::new("scope_id").text().not_null())
                .col(ColumnDef::new("namespace").text().not_null())
                .col(ColumnDef::new("key").text().not_null())
                .col(ColumnDef::new("value").json_binary().not_null())
                .col(ColumnDef::new("updated_by").uuid())
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "settings_lookup",
                "settings",
                &["org_id", "scope", "scope_id", "namespace", "key"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), "settings").await
    }
}

struct FeatureFlags;

impl MigrationName for FeatureFlags {
    fn name(&self) -> &str {
        "tenancy_m20261121_000006_feature_flags"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for FeatureFlags {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Global: the cell operator's flags, no org (so no row-level security).
        m.create_table(
            Table::create()
                .table("feature_flags")
                .col(ColumnDef::new("key").text().not_null().primary_key())
                .col(ColumnDef::new("description").text())
                .col(ColumnDef::new("enabled").boolean().not_null())
                .col(ColumnDef::new("overridable").boolean().not_null())
                .col(ColumnDef::new("rules").json_binary().not_null())
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("feature_flag_overrides")
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("org_id").uuid().not_null())
                .col(ColumnDef::new("flag_key").text().not_null())
                .col(ColumnDef::new("scope").text().not_null())
                .col(ColumnDef::new("subject_id").uuid().not_null())
                .col(ColumnDef::new("enabled").boolean().not_null())
                .col(ColumnDef::new("updated_by").uuid().not_null())
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "feature_flag_overrides_target",
                "feature_flag_overrides",
                &["org_id", "flag_key", "scope", "subject_id"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), "feature_flag_overrides").await
    }
}

struct ForeignKeys;

impl MigrationName for ForeignKeys {
    fn name(&self) -> &str {
        "tenancy_m20261204_000001_foreign_keys"
    }
}

/// An organization's memberships, teams and invitations go with it; a team's members go with
/// the team, and with their membership (nobody is in a team of an org they left).
#[kernel::async_trait::async_trait]
impl MigrationTrait for ForeignKeys {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use kernel::migration::{ForeignKey, OnDelete, add_foreign_keys, tenant_parent_key};
        let org = || ForeignKey::by_id("org_id", "organizations", OnDelete::Cascade);
        m.create_index(tenant_parent_key("teams")).await?;
        // The unique key above replaces the plain index on the same columns.
        m.drop_index(Index::drop().name("teams_org_id").table("teams").to_owned())
            .await?;
        // Parents before children: SQLite rebuilds each table, which a referenced one cannot be.
        for table in ["memberships", "teams", "invitations"] {
            add_foreign_keys(m, table, &[org()]).await?;
        }
        add_foreign_keys(
            m,
            "team_members",
            &[
                ForeignKey::tenant("team_id", "teams", OnDelete::Cascade),
                ForeignKey::to(
                    &["org_id", "user_id"],
                    "memberships",
                    &["org_id", "user_id"],
                    OnDelete::Cascade,
                ),
            ],
        )
        .await
    }
}

//! The auth module's tables. `api_keys` is tenant-owned (RLS); a key's own row is also visible
//! to the transaction that authenticates it (`app.current_api_key_id`), before any org is known.

use kernel::migration::{ts, ts_null};
use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use sea_orm_migration::sea_query::{ColumnDef, Index, Table};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};

pub(crate) fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(Identity), Box::new(ForeignKeys)]
}

struct Identity;

impl MigrationName for Identity {
    fn name(&self) -> &str {
        "auth_m20261121_000001_identity"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for Identity {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("users")
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("email").text().not_null().unique_key())
                .col(ts_null("email_verified_at"))
                .col(ColumnDef::new("password_hash").text().not_null())
                .col(ColumnDef::new("first_name").text())
                .col(ColumnDef::new("last_name").text())
                .col(ColumnDef::new("avatar_url").text())
                .col(ColumnDef::new("timezone").text())
                .col(ColumnDef::new("locale").text())
                .col(ColumnDef::new("status").text().not_null())
                .col(ColumnDef::new("mfa_enabled").boolean().not_null())
                .col(ColumnDef::new("mfa_secret").text())
                .col(ColumnDef::new("mfa_last_step").big_integer())
                .col(ts_null("last_login_at"))
                .col(ColumnDef::new("login_count").big_integer().not_null())
                .col(ts_null("deactivated_at"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("auth_sessions")
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("user_id").uuid().not_null())
                .col(ColumnDef::new("active_org_id").uuid())
                .col(ColumnDef::new("ip").text())
                .col(ColumnDef::new("user_agent").text())
                .col(ts("created_at"))
                .col(ts("last_used_at"))
                .col(ts("expires_at"))
                .col(ts_null("revoked_at"))
                .col(ColumnDef::new("revoked_reason").text())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("auth_sessions_by_user")
                .table("auth_sessions")
                .col("user_id")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("auth_refresh_tokens")
                .col(ColumnDef::new("token_hash").text().not_null().primary_key())
                .col(ColumnDef::new("session_id").uuid().not_null())
                .col(ts("created_at"))
                .col(ts_null("used_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("auth_refresh_tokens_by_session")
                .table("auth_refresh_tokens")
                .col("session_id")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("auth_one_time_tokens")
                .col(ColumnDef::new("token_hash").text().not_null().primary_key())
                .col(ColumnDef::new("user_id").uuid().not_null())
                .col(ColumnDef::new("purpose").text().not_null())
                .col(ts("expires_at"))
                .col(ts_null("used_at"))
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("auth_backup_codes")
                .col(ColumnDef::new("code_hash").text().not_null().primary_key())
                .col(ColumnDef::new("user_id").uuid().not_null())
                .col(ts_null("used_at"))
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("auth_backup_codes_by_user")
                .table("auth_backup_codes")
                .col("user_id")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("api_keys")
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("org_id").uuid().not_null())
                .col(ColumnDef::new("created_by").uuid().not_null())
                .col(ColumnDef::new("name").text().not_null())
                .col(ColumnDef::new("prefix").text().not_null())
                .col(ColumnDef::new("secret_hash").text().not_null())
                .col(ColumnDef::new("scopes").json_binary().not_null())
                .col(ts_null("expires_at"))
                .col(ts_null("last_used_at"))
                .col(ts_null("revoked_at"))
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("api_keys_by_org")
                .table("api_keys")
                .col("org_id")
                .col("created_at")
                .to_owned(),
        )
        .await?;
        let conn = m.get_connection();
        kernel::db::enable_tenant_rls(conn, "api_keys").await?;
        if conn.get_database_backend() == DbBackend::Postgres {
            // The authenticating transaction names the key it looks up, and sees only that row.
            conn.execute_unprepared(
                "DROP POLICY api_keys_tenant_isolation ON api_keys;
                 CREATE POLICY api_keys_tenant_isolation ON api_keys
                   USING (org_id = nullif(current_setting('app.current_org_id', true), '')::uuid
                          OR id = nullif(current_setting('app.current_api_key_id', true), '')::uuid)
                   WITH CHECK (org_id = nullif(current_setting('app.current_org_id', true), '')::uuid);",
            )
            .await?;
        }
        Ok(())
    }
}

struct ForeignKeys;

impl MigrationName for ForeignKeys {
    fn name(&self) -> &str {
        "auth_m20261204_000001_foreign_keys"
    }
}

/// A user's sessions, one-time tokens, backup codes and API keys go with the user (users are
/// anonymized, not deleted, so this is for the database's word, not a feature); a session's
/// refresh tokens go with the session.
#[kernel::async_trait::async_trait]
impl MigrationTrait for ForeignKeys {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use kernel::migration::{ForeignKey, OnDelete, add_foreign_keys};
        let user = |column| ForeignKey::by_id(column, "users", OnDelete::Cascade);
        // Parents before children: SQLite rebuilds each table, which a referenced one cannot be.
        for table in ["auth_sessions", "auth_one_time_tokens", "auth_backup_codes"] {
            add_foreign_keys(m, table, &[user("user_id")]).await?;
        }
        add_foreign_keys(m, "api_keys", &[user("created_by")]).await?;
        add_foreign_keys(
            m,
            "auth_refresh_tokens",
            &[ForeignKey::by_id(
                "session_id",
                "auth_sessions",
                OnDelete::Cascade,
            )],
        )
        .await
    }
}

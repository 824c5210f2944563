//! The auth module's tables as sea-orm entities. Users, sessions and one-time tokens are global
//! (a user is not owned by an org); API keys are tenant-owned.

/// A person who can sign in.
pub mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Lower-cased; unique.
        #[sea_orm(unique)]
        pub email: String,
        pub email_verified_at: Option<DateTimeUtc>,
        /// argon2id PHC string; empty once anonymized.
        pub password_hash: String,
        pub first_name: Option<String>,
        pub last_name: Option<String>,
        pub avatar_url: Option<String>,
        pub timezone: Option<String>,
        pub locale: Option<String>,
        /// `active`, `deactivated`, `anonymized`.
        pub status: String,
        pub mfa_enabled: bool,
        /// The TOTP secret, sealed with a key derived from the cell secret.
        pub mfa_secret: Option<String>,
        /// The last TOTP time step accepted (a code is accepted once).
        pub mfa_last_step: Option<i64>,
        pub last_login_at: Option<DateTimeUtc>,
        pub login_count: i64,
        pub deactivated_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A session: one sign-in, and the family of refresh tokens rotated from it.
pub mod session {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        /// The organization the session's tokens act for (not a tenant key: the row is the user's).
        pub active_org_id: Option<Uuid>,
        pub ip: Option<String>,
        pub user_agent: Option<String>,
        pub created_at: DateTimeUtc,
        pub last_used_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub revoked_at: Option<DateTimeUtc>,
        pub revoked_reason: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One refresh token of a session; `used_at` is set when it is rotated.
pub mod refresh_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_refresh_tokens")]
    pub struct Model {
        /// The keyed hash of the token.
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub session_id: Uuid,
        pub created_at: DateTimeUtc,
        pub used_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Single-use tokens sent by mail or handed out mid-login: email verification, password reset,
/// MFA challenge.
pub mod one_time_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_one_time_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub user_id: Uuid,
        /// `verify_email`, `reset_password`, `mfa`.
        pub purpose: String,
        pub expires_at: DateTimeUtc,
        pub used_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// MFA backup codes, stored as keyed hashes, single use.
pub mod backup_code {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_backup_codes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub code_hash: String,
        pub user_id: Uuid,
        pub used_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// An API key of an organization, acting for the user who created it within its scopes.
pub mod api_key {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub created_by: Uuid,
        pub name: String,
        /// What lists show: `pk_live_` and the start of the key id.
        pub prefix: String,
        pub secret_hash: String,
        pub scopes: Json,
        pub expires_at: Option<DateTimeUtc>,
        pub last_used_at: Option<DateTimeUtc>,
        pub revoked_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

impl kernel::TenantEntity for api_key::Entity {
    fn org_id_column() -> Self::Column {
        api_key::Column::OrgId
    }
}

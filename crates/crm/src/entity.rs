//! The module's tables. Private to the crate: other modules reach persons and companies through
//! the entity contract (`contact`, `company`) and the module's events.

/// A person: a lead, client, vendor or partner.
pub(crate) mod contact {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "crm_contacts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        /// `lead`, `client`, `vendor` or `partner`.
        pub kind: String,
        /// `active`, `inactive` or `churned`.
        pub status: String,
        pub name: String,
        pub first_name: Option<String>,
        pub last_name: Option<String>,
        /// The primary email channel's value (normalized), kept here for lists and filters.
        pub email: Option<String>,
        /// The primary phone channel's value (normalized).
        pub phone: Option<String>,
        pub company_id: Option<Uuid>,
        pub job_title: Option<String>,
        pub source: Option<String>,
        /// Who claimed the person (outreach's `claimedById`); `None`: unclaimed, in the pool.
        pub owner_id: Option<Uuid>,
        pub created_by: Uuid,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub deleted_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One way to reach a person: an email, a phone, a LinkedIn URL, a Telegram chat id.
pub(crate) mod channel {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "crm_channels")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub contact_id: Uuid,
        /// `email`, `phone`, `linkedin` or `telegram`.
        pub kind: String,
        /// Normalized: unique per kind in the org.
        pub value: String,
        pub is_primary: bool,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A company persons work for.
pub(crate) mod company {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "crm_companies")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub name: String,
        pub industry: Option<String>,
        pub created_by: Uuid,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub deleted_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A company's email and web domain (`acme.com`): unique in the org.
pub(crate) mod domain {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "crm_company_domains")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub company_id: Uuid,
        pub domain: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

kernel::tenant_entity!(soft_delete: contact, company);
kernel::tenant_entity!(channel, domain);

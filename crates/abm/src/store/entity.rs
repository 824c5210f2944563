//! abm's tables. Every row belongs to the cell's operator organization (`org_id`), except
//! `abm_customers`, which belongs to the customer organization it describes.

/// A company we target (the spec's ProspectCompany).
pub mod prospect_company {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "abm_prospect_companies")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub name: String,
        /// The primary domain (also a row of `abm_company_domains` with `is_primary`).
        pub domain: String,
        /// Sum of signal weights of the last 30 days; raw, no cap.
        pub intent_score: i64,
        /// `new`, `engaged`, `opportunity`, `customer`.
        pub stage: String,
        /// An internal user (a member of the operator org).
        pub owner_user_id: Option<Uuid>,
        /// The customer organization it converted into.
        pub customer_org_id: Option<Uuid>,
        pub score_updated_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
kernel::tenant_entity!(prospect_company);

/// A domain of a prospect (primary or alias: `nasa.gov`, `jpl.nasa.gov`).
pub mod company_domain {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "abm_company_domains")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub prospect_company_id: Uuid,
        pub domain: String,
        pub is_primary: bool,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
kernel::tenant_entity!(company_domain);

/// A person at a prospect (a lead).
pub mod contact {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "abm_contacts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub prospect_company_id: Uuid,
        pub email: String,
        pub first_name: Option<String>,
        pub last_name: Option<String>,
        pub title: Option<String>,
        /// `new`, `engaged`, `qualified`.
        pub status: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::contact_identity::Entity")]
        Identities,
    }

    impl Related<super::contact_identity::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Identities.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}
kernel::tenant_entity!(contact);

/// An identifier of a contact (`posthog_distinct_id`, `email`, `crm_id`, `cookie_id`); each value
/// is unique per type.
pub mod contact_identity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "abm_contact_identities")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub contact_id: Uuid,
        pub identity_type: String,
        pub identity_value: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::contact::Entity",
            from = "Column::ContactId",
            to = "super::contact::Column::Id"
        )]
        Contact,
    }

    impl Related<super::contact::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Contact.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}
kernel::tenant_entity!(contact_identity);

/// Someone from a known company whose person we do not know yet. The IP is kept only as a
/// salted hash.
pub mod anonymous_visitor {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "abm_anonymous_visitors")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub prospect_company_id: Uuid,
        pub posthog_distinct_id: String,
        pub ip_hash: Option<String>,
        pub ip_country: Option<String>,
        pub ip_org: Option<String>,
        pub last_seen_at: DateTimeUtc,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
kernel::tenant_entity!(anonymous_visitor);

/// Why an account is hot: one high-value event of one of its people or visitors.
pub mod intent_signal {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "abm_intent_signals")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub prospect_company_id: Uuid,
        pub contact_id: Option<Uuid>,
        pub visitor_id: Option<Uuid>,
        /// `page_view`, `content_download`, `g2_review`, `pricing_view`.
        pub signal_type: String,
        /// `Launch`, `Mobility`, `Fuel`, `ISAM`, `Return`.
        pub service_lane: Option<String>,
        pub topic: Option<String>,
        pub weight: i32,
        pub occurred_at: DateTimeUtc,
        /// PostHog's event uuid: one signal per event, whatever the retries.
        pub event_uuid: Option<Uuid>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
kernel::tenant_entity!(intent_signal);

/// Webhook deliveries already accepted (`webhook-id`), so a replay is ignored.
pub mod hook_delivery {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "abm_hook_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub webhook_id: String,
        pub received_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
kernel::tenant_entity!(hook_delivery);

/// The operator's mapping from an IP organization name (as enrichment reports it) to a domain.
pub mod org_domain {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "abm_org_domains")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        /// Lowercased and trimmed.
        pub org_name: String,
        pub domain: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
kernel::tenant_entity!(org_domain);

/// A customer organization's account (the spec's CustomerCompany fields beside tenancy's
/// organization): one row per customer org, owned by that org, so the portal reads it under the
/// customer's own scope.
pub mod customer_account {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "abm_customers")]
    pub struct Model {
        /// The customer organization.
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        /// The prospect it converted from (a row of the operator org).
        pub prospect_company_id: Uuid,
        pub plan_tier: String,
        pub stripe_customer_id: Option<String>,
        /// `trial`, `active`, `past_due`, `cancelled`.
        pub status: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
kernel::tenant_entity!(customer_account);

/// Weights waiting to be added to companies' scores: ingestion adds a row per company in the
/// delivery's transaction (a plain insert: deliveries never wait on each other or on a job
/// here), the score job drains them and adds them up (see `crate::score`).
pub mod score_queue {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "abm_score_queue")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub prospect_company_id: Uuid,
        /// What the delivery's new signals in the window add to the company's score.
        pub weight: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
kernel::tenant_entity!(score_queue);

//! The module's tables. Private to the crate: other modules reach webhooks through events.

/// An endpoint an organization registered, and the events it takes.
pub(crate) mod subscription {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhooks_subscriptions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub url: String,
        pub description: String,
        /// Event names and patterns (`deal.*`, `*`), a JSON array.
        pub events: Json,
        /// Field filters: per event name, the payload's changed `fields` one of which must be
        /// there for the event to be delivered (`{"tasks.task.updated": ["priority"]}`).
        pub fields: Option<Json>,
        /// The signing secret (`whsec_…`), sealed with the cell's key.
        pub secret: String,
        /// The secret before the last rotation, sealed, still signing until `previous_until`.
        pub previous_secret: Option<String>,
        pub previous_until: Option<DateTimeUtc>,
        pub active: bool,
        /// Failed attempts in a row; at `disable_after` the subscription is disabled.
        pub consecutive_failures: i32,
        pub disabled_at: Option<DateTimeUtc>,
        pub created_by: Uuid,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One event (or test message) for one subscription: the body is fixed when it is created, so
/// every attempt sends the same bytes.
pub(crate) mod delivery {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhooks_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub subscription_id: Uuid,
        /// The event delivered (`webhook-id`); `None` for a test message.
        pub event_id: Option<Uuid>,
        pub event: String,
        pub body: String,
        /// `pending` → `delivered` | `failed` (a manual retry or a replay makes it `pending`).
        pub status: String,
        pub attempts: i32,
        pub last_status_code: Option<i32>,
        pub last_error: Option<String>,
        pub next_attempt_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub delivered_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One HTTP request of a delivery and what came back: the delivery log.
pub(crate) mod attempt {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhooks_attempts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub delivery_id: Uuid,
        pub attempt: i32,
        pub url: String,
        /// The request's headers (signatures included: they are not secrets).
        pub request_headers: Json,
        pub status_code: Option<i32>,
        /// The start of the response body (at most `log_response_bytes`).
        pub response_body: Option<String>,
        pub error: Option<String>,
        pub latency_ms: i64,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

kernel::tenant_entity!(subscription);
kernel::tenant_entity!(delivery);
kernel::tenant_entity!(attempt);

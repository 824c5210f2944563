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
        /// When the latest interaction with the person happened; `None`: never.
        pub last_activity_at: Option<DateTimeUtc>,
        /// The person's best current fit over the org's products (0 to 100); `None`: never
        /// scored.
        pub fit_score: Option<i32>,
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

/// A sales pipeline: ordered stages a deal moves through.
pub(crate) mod pipeline {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "crm_pipelines")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub name: String,
        /// The org's pipeline a deal goes to when none is named.
        pub is_default: bool,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A stage of a pipeline.
pub(crate) mod stage {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "crm_stages")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub pipeline_id: Uuid,
        pub name: String,
        pub position: f64,
        /// `#rrggbb`.
        pub color: Option<String>,
        /// 0–100: what a deal here is worth in the weighted forecast.
        pub probability: i32,
        pub is_closed: bool,
        pub is_won: bool,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A deal: a person (and maybe their company) in a pipeline's stage, worth an amount.
pub(crate) mod deal {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "crm_deals")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub title: String,
        pub contact_id: Uuid,
        pub company_id: Option<Uuid>,
        pub pipeline_id: Uuid,
        pub stage_id: Uuid,
        /// Integer minor units of `currency` (cents).
        pub value: i64,
        /// ISO 4217, uppercase.
        pub currency: String,
        /// 0–100; the stage's unless set by hand.
        pub probability: i32,
        pub probability_set: bool,
        pub expected_close_date: Option<Date>,
        pub actual_close_date: Option<Date>,
        pub lost_reason: Option<String>,
        pub owner_id: Option<Uuid>,
        pub stage_entered_at: DateTimeUtc,
        pub created_by: Uuid,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub deleted_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One move of a deal between stages.
pub(crate) mod stage_change {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "crm_deal_stage_changes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub deal_id: Uuid,
        pub from_stage_id: Option<Uuid>,
        pub to_stage_id: Uuid,
        pub by: Uuid,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

kernel::tenant_table!(interaction, "crm_interactions", {
    contact_id: Uuid,
    deal_id: Option<Uuid>,
    /// The channel used, when the interaction went through one of the person's channels.
    channel_id: Option<Uuid>,
    /// `email`, `call`, `meeting`, `note`, `sms`, `linkedin`, `telegram` or `bot` (an autoreply
    /// bot's turn).
    kind: String,
    /// `inbound` or `outbound`.
    direction: Option<String>,
    /// What happened on a channel, as an outreach tool reports it: `sent`, `opened`, `clicked`,
    /// `replied`, `bounced`; a bot's `replied` or `escalated`.
    event: Option<String>,
    subject: Option<String>,
    body: Option<String>,
    duration_seconds: Option<i32>,
    occurred_at: DateTimeUtc,
    logged_by: Uuid,
    metadata: Json,
    created_at: DateTimeUtc,
});

kernel::tenant_table!(segment, "crm_segments", {
    name: String,
    /// `static` (members added by hand) or `dynamic` (those matching `rule`).
    kind: String,
    /// A dynamic segment's rule: a person-list query (`filter[type]=lead&tags=vip`).
    rule: Option<String>,
    /// Members now (kept with every join and leave).
    member_count: i64,
    /// When a dynamic segment was last evaluated whole.
    evaluated_at: Option<DateTimeUtc>,
    created_by: Uuid,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
});

kernel::tenant_table!(segment_member, "crm_segment_members", {
    segment_id: Uuid,
    contact_id: Uuid,
    joined_at: DateTimeUtc,
});

kernel::tenant_table!(fit_criterion, "crm_fit_criteria", {
    /// The product it judges fit for (`enterprise`): a key the org chooses.
    product: String,
    name: String,
    description: Option<String>,
    /// Its share of the product's fit, 1 to 100.
    weight: i32,
    /// A person-list query: a person it matches scores 100 on it, any other 0, at each scoring.
    rule: Option<String>,
    created_by: Uuid,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
});

kernel::tenant_table!(fit_assessment, "crm_fit_assessments", {
    contact_id: Uuid,
    product: String,
    criterion_id: Uuid,
    /// The criterion's name and weight when assessed (it may change or be deleted since).
    criterion_name: String,
    weight: i32,
    /// 0 to 100.
    score: i32,
    note: Option<String>,
    /// `manual` (given by a person) or `rule` (the criterion's rule matched or not).
    source: String,
    /// The assessments of one scoring share it.
    scoring_id: Uuid,
    assessed_by: Uuid,
    assessed_at: DateTimeUtc,
});

// A person's current fit for a product, and a human's review of it: a lead.
kernel::tenant_table!(fit_score, "crm_fit_scores", {
    contact_id: Uuid,
    product: String,
    /// The weighted fit, 0 to 100.
    score: i32,
    scored_at: DateTimeUtc,
    scored_by: Uuid,
    /// `pending`, `accepted` or `rejected`.
    review_state: String,
    reviewed_by: Option<Uuid>,
    reviewed_at: Option<DateTimeUtc>,
    review_note: Option<String>,
});

// The forecast's running totals (`crate::service::totals`): per pipeline, stage, currency, owner
// and month of expected close, the live deals' count, value and weighted value.
kernel::tenant_table!(deal_total, "crm_deal_totals", {
    pipeline_id: Uuid,
    stage_id: Uuid,
    currency: String,
    /// The deals' owner; the nil id for none.
    owner_id: Uuid,
    /// The first day of the month the deals are expected to close; 1970-01-01 for none.
    close_month: Date,
    deals: i64,
    value: i64,
    /// Σ value × probability: hundredths of a minor unit.
    weighted: i64,
});

// A bulk operation too large for one request, run by a job batch by batch.
kernel::tenant_table!(bulk_job, "crm_bulk_jobs", {
    /// `claim`, `release`, `assign`, `tag`, `delete` or `add_to_segment`.
    action: String,
    /// The person-list query naming the persons.
    filter: String,
    /// What the action needs (`segment_id`, `tag_id`, `owner_id`).
    params: Json,
    /// `queued`, `running`, `completed` or `failed`.
    status: String,
    /// Persons the filter matched when it was started.
    total: i64,
    /// Persons acted on so far.
    done: i64,
    /// The last person acted on (in id order): where the next batch, or a retry, starts.
    cursor: Option<Uuid>,
    error: Option<String>,
    /// The person whose refusal stopped it.
    failed_contact_id: Option<Uuid>,
    created_by: Uuid,
    created_at: DateTimeUtc,
    started_at: Option<DateTimeUtc>,
    finished_at: Option<DateTimeUtc>,
});

kernel::tenant_entity!(soft_delete: contact, company, deal);
kernel::tenant_entity!(
    channel,
    domain,
    pipeline,
    stage,
    stage_change,
    interaction,
    segment,
    segment_member,
    fit_criterion,
    fit_assessment,
    fit_score,
    deal_total,
    bulk_job
);

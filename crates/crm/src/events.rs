//! The events the module publishes: one payload type per event.

use kernel::events::EventDef;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A person was created.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContactCreated {
    pub contact_id: Uuid,
    /// `lead`, `client`, `vendor` or `partner`.
    pub kind: String,
    pub company_id: Option<Uuid>,
}
kernel::event!(
    ContactCreated,
    "crm.contact.created",
    "A person was added to the CRM.",
    "contact",
    contact_id
);

/// A person's details changed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContactUpdated {
    pub contact_id: Uuid,
    /// The fields that changed.
    pub fields: Vec<String>,
}
kernel::event!(
    ContactUpdated,
    "crm.contact.updated",
    "A person's details changed.",
    "contact",
    contact_id
);

/// A lead became a client.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContactConverted {
    pub contact_id: Uuid,
    pub from: String,
    pub to: String,
}
kernel::event!(
    ContactConverted,
    "crm.contact.converted",
    "A lead was converted to a client.",
    "contact",
    contact_id
);

/// Someone took ownership of a person (outreach's `owner.claimed`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContactClaimed {
    pub contact_id: Uuid,
    pub owner_id: Uuid,
    pub previous_owner_id: Option<Uuid>,
}
kernel::event!(
    ContactClaimed,
    "crm.contact.claimed",
    "A person was claimed.",
    "contact",
    contact_id
);

/// A person went back to the pool (outreach's `owner.released`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContactReleased {
    pub contact_id: Uuid,
    pub previous_owner_id: Uuid,
}
kernel::event!(
    ContactReleased,
    "crm.contact.released",
    "A person was released to the pool.",
    "contact",
    contact_id
);

/// A person went to the trash.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContactDeleted {
    pub contact_id: Uuid,
}
kernel::event!(
    ContactDeleted,
    "crm.contact.deleted",
    "A person was moved to the trash.",
    "contact",
    contact_id
);

/// Another person was merged into this one (two records of one person): its channels, deals,
/// interactions, segments, fit assessments, tags, notes, comments, links and activity are this
/// one's now, and it went to the trash.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContactMerged {
    pub contact_id: Uuid,
    pub merged_id: Uuid,
    pub channels_moved: u64,
    pub deals_moved: u64,
    pub interactions_moved: u64,
    /// This person's empty fields filled from the merged one.
    pub fields: Vec<String>,
}
kernel::event!(
    ContactMerged,
    "crm.contact.merged",
    "Two records of one person were merged.",
    "contact",
    contact_id
);

/// A person was scored for a product's fit (outreach's `profile.scored`): one assessment per
/// criterion, kept as history.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContactScored {
    pub contact_id: Uuid,
    pub product: String,
    /// The weighted fit, 0 to 100.
    pub score: i32,
    /// The fit before this scoring (`null`: the first).
    pub previous_score: Option<i32>,
    /// The criteria this scoring assessed.
    pub criteria: u64,
}
kernel::event!(
    ContactScored,
    "crm.contact.scored",
    "A person's fit for a product was scored.",
    "contact",
    contact_id
);

/// A person's fit for a product was reviewed by a human (the Leads tab).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeadReviewed {
    pub contact_id: Uuid,
    pub lead_id: Uuid,
    pub product: String,
    /// `pending`, `accepted` or `rejected`.
    pub review_state: String,
    pub previous_state: String,
}
kernel::event!(
    LeadReviewed,
    "crm.lead.reviewed",
    "A lead was accepted or rejected.",
    "contact",
    contact_id
);

/// A person came back from the trash.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContactRestored {
    pub contact_id: Uuid,
}
kernel::event!(
    ContactRestored,
    "crm.contact.restored",
    "A person was restored from the trash.",
    "contact",
    contact_id
);

/// A company was created.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CompanyCreated {
    pub company_id: Uuid,
    pub name: String,
}
kernel::event!(
    CompanyCreated,
    "crm.company.created",
    "A company was added to the CRM.",
    "company",
    company_id
);

/// Another company was merged into this one: its persons and domains now belong here, and it
/// went to the trash.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CompanyMerged {
    pub company_id: Uuid,
    pub merged_id: Uuid,
    pub contacts_moved: u64,
}
kernel::event!(
    CompanyMerged,
    "crm.company.merged",
    "Two companies were merged.",
    "company",
    company_id
);

/// A company went to the trash.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CompanyDeleted {
    pub company_id: Uuid,
}
kernel::event!(
    CompanyDeleted,
    "crm.company.deleted",
    "A company was moved to the trash.",
    "company",
    company_id
);

/// A deal was created.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DealCreated {
    pub deal_id: Uuid,
    pub contact_id: Uuid,
    /// Minor units of `currency`.
    pub value: i64,
    pub currency: String,
}
kernel::event!(
    DealCreated,
    "crm.deal.created",
    "A deal was created.",
    "deal",
    deal_id
);

/// A deal moved to another stage (`won`/`lost` when the stage closes it).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DealStageChanged {
    pub deal_id: Uuid,
    pub from_stage_id: Uuid,
    pub to_stage_id: Uuid,
    pub won: bool,
    pub lost: bool,
}
kernel::event!(
    DealStageChanged,
    "crm.deal.stage_changed",
    "A deal moved to another stage.",
    "deal",
    deal_id
);

/// An email, call, meeting or channel event was logged against a person.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InteractionLogged {
    pub interaction_id: Uuid,
    pub contact_id: Uuid,
    pub deal_id: Option<Uuid>,
    /// `email`, `call`, `meeting`, `note`, `sms`, `linkedin`, `telegram` or `bot` (an autoreply
    /// bot's turn).
    pub kind: String,
    pub direction: Option<String>,
    /// `sent`, `opened`, `clicked`, `replied` or `bounced`, for a channel event; `replied` or
    /// `escalated` for a bot.
    pub event: Option<String>,
    pub subject: Option<String>,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
}
kernel::event!(
    InteractionLogged,
    "crm.interaction.logged",
    "An email, call, meeting or channel event was logged against a person.",
    "contact",
    contact_id
);

/// A person started matching a segment's rule, or was added to a static one.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SegmentJoined {
    pub segment_id: Uuid,
    pub segment_name: String,
    pub contact_id: Uuid,
}
kernel::event!(
    SegmentJoined,
    "crm.segment.joined",
    "A person joined a segment.",
    "contact",
    contact_id
);

/// A person stopped matching a segment's rule, or was taken out of a static one.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SegmentLeft {
    pub segment_id: Uuid,
    pub segment_name: String,
    pub contact_id: Uuid,
}
kernel::event!(
    SegmentLeft,
    "crm.segment.left",
    "A person left a segment.",
    "contact",
    contact_id
);

pub fn catalogue() -> Vec<EventDef> {
    vec![
        EventDef::of::<SegmentJoined>(),
        EventDef::of::<SegmentLeft>(),
        EventDef::of::<InteractionLogged>(),
        EventDef::of::<DealCreated>(),
        EventDef::of::<DealStageChanged>(),
        EventDef::of::<ContactCreated>(),
        EventDef::of::<ContactUpdated>(),
        EventDef::of::<ContactConverted>(),
        EventDef::of::<ContactClaimed>(),
        EventDef::of::<ContactReleased>(),
        EventDef::of::<ContactDeleted>(),
        EventDef::of::<ContactRestored>(),
        EventDef::of::<ContactMerged>(),
        EventDef::of::<ContactScored>(),
        EventDef::of::<LeadReviewed>(),
        EventDef::of::<CompanyCreated>(),
        EventDef::of::<CompanyMerged>(),
        EventDef::of::<CompanyDeleted>(),
    ]
}

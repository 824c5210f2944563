//! `/contacts`: persons and their channels, ownership (claim, release), conversion.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{ListQuery, ListSpec, Page, State, ValidJson, trimmed};
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use crate::entity::{channel, contact};
use crate::module::Settings;
use crate::ownership::Who;
use crate::permissions::{ReadContacts, WriteContacts};
use crate::service::{self, MAX_NAME};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list)
        .service(create)
        .service(read)
        .service(update)
        .service(remove)
        .service(convert)
        .service(merge)
        .service(bulk)
        .service(bulk_progress)
        .service(claim)
        .service(release)
        .service(access)
        .service(list_channels)
        .service(add_channel)
        .service(remove_channel);
}

/// A person, as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::Contact)]
pub struct Contact {
    pub id: Uuid,
    /// `lead`, `client`, `vendor` or `partner`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `active`, `inactive` or `churned`.
    pub status: String,
    pub name: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// The primary email channel.
    pub email: Option<String>,
    /// The primary phone channel.
    pub phone: Option<String>,
    pub company_id: Option<Uuid>,
    pub job_title: Option<String>,
    pub source: Option<String>,
    /// Who claimed the person; `null`: in the pool.
    pub owner_id: Option<Uuid>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the latest interaction with the person happened (`null`: never).
    pub last_activity_at: Option<DateTime<Utc>>,
    /// The person's best current fit over the org's products, 0 to 100 (`null`: never scored).
    pub fit_score: Option<i32>,
}

impl From<contact::Model> for Contact {
    fn from(m: contact::Model) -> Self {
        Self {
            id: m.id,
            kind: m.kind,
            status: m.status,
            name: m.name,
            first_name: m.first_name,
            last_name: m.last_name,
            email: m.email,
            phone: m.phone,
            company_id: m.company_id,
            job_title: m.job_title,
            source: m.source,
            owner_id: m.owner_id,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
            last_activity_at: m.last_activity_at,
            fit_score: m.fit_score,
        }
    }
}

/// One way to reach a person.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::Channel)]
pub struct Channel {
    pub id: Uuid,
    /// `email`, `phone`, `linkedin` or `telegram`.
    pub kind: String,
    /// Normalized (lowercase email, digits of a phone with its `+`).
    pub value: String,
    pub is_primary: bool,
    pub created_at: DateTime<Utc>,
}

impl From<channel::Model> for Channel {
    fn from(m: channel::Model) -> Self {
        Self {
            id: m.id,
            kind: m.kind,
            value: m.value,
            is_primary: m.is_primary,
            created_at: m.created_at,
        }
    }
}

/// A person with their channels.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::ContactDetail)]
pub struct ContactDetail {
    #[serde(flatten)]
    pub contact: Contact,
    pub channels: Vec<Channel>,
}

pub(crate) fn contact_list() -> ListSpec<contact::Entity> {
    use contact::Column as C;
    ListSpec::new()
        .field("type", C::Kind)
        .field("status", C::Status)
        .field("owner_id", C::OwnerId)
        .field("company_id", C::CompanyId)
        .field("source", C::Source)
        .field("email", C::Email)
        .sortable("name", C::Name)
        .sortable("created_at", C::CreatedAt)
        .sortable("updated_at", C::UpdatedAt)
        // By range, relative times included: "added in the last 7 days" (`now-7d`), "not
        // contacted for 30 days" (`filter[last_activity_at.lt]=now-30d`).
        .field("last_activity_at", C::LastActivityAt)
        .field("fit_score", C::FitScore)
        .filterable("created_at", C::CreatedAt)
        .filterable("updated_at", C::UpdatedAt)
        .search([C::Name, C::Email, C::Phone])
        .tagged(crate::loader::CONTACT, C::Id)
        .member_of(
            "segment_id",
            C::Id,
            "crm_segment_members",
            "segment_id",
            "contact_id",
        )
        .default_sort(C::CreatedAt, true)
        .tiebreak(C::Id)
}

kernel::list_params!(ContactListParams, contact_list);

/// The persons the caller reads, newest first (`filter[type]=lead`, `filter[owner_id]=…`,
/// `search`, `?tags=`, `sort`, paged). Under a `read = "own"` policy a member sees only their
/// own.
#[utoipa::path(tag = TAG, params(ContactListParams), responses(
    (status = 200, body = Page<Contact>), (status = 401), (status = 403), (status = 422)))]
#[get("/contacts")]
pub(crate) async fn list(
    ctx: CellContext,
    tx: ReadContacts,
    query: ListQuery,
) -> ApiResult<HttpResponse> {
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let mut select = tx.repo::<contact::Entity>().find();
    if let Some(only) = who.readable() {
        use kernel::sea_orm::QueryFilter;
        select = select.filter(only);
    }
    let select = contact_list().apply(&query, select)?;
    let page = tx.page(select, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Contact::from)))
}

/// A channel as given.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::NewChannel)]
pub struct NewChannel {
    /// `email`, `phone`, `linkedin` or `telegram`.
    #[schema(pattern = "^(email|phone|linkedin|telegram)$")]
    #[garde(skip)]
    pub kind: String,
    #[schema(min_length = 1, max_length = 320)]
    #[garde(length(chars, min = 1, max = 320))]
    pub value: String,
    /// Makes it the primary channel of its kind (the first of each kind is, by default).
    #[serde(default)]
    #[garde(skip)]
    pub primary: bool,
}

impl From<NewChannel> for service::NewChannel {
    fn from(c: NewChannel) -> Self {
        Self {
            kind: c.kind,
            value: c.value,
            primary: c.primary,
        }
    }
}

/// `POST /contacts`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::NewContact)]
pub struct NewContact {
    /// `lead` (default), `client`, `vendor` or `partner`.
    #[serde(rename = "type")]
    #[schema(pattern = "^(lead|client|vendor|partner)$")]
    #[garde(skip)]
    pub kind: Option<String>,
    /// `active` (default), `inactive` or `churned`.
    #[schema(pattern = "^(active|inactive|churned)$")]
    #[garde(skip)]
    pub status: Option<String>,
    /// The display name; defaults to first and last name. One of the three is required.
    #[schema(min_length = 1, max_length = 200)]
    #[garde(inner(length(chars, min = 1, max = 200)))]
    pub name: Option<String>,
    #[schema(max_length = 100)]
    #[garde(inner(length(chars, max = 100)))]
    pub first_name: Option<String>,
    #[schema(max_length = 100)]
    #[garde(inner(length(chars, max = 100)))]
    pub last_name: Option<String>,
    /// Shorthand for an email channel (primary).
    #[schema(max_length = 320)]
    #[garde(inner(length(chars, max = 320)))]
    pub email: Option<String>,
    /// Shorthand for a phone channel (primary).
    #[schema(max_length = 50)]
    #[garde(inner(length(chars, max = 50)))]
    pub phone: Option<String>,
    #[serde(default)]
    #[schema(max_items = 50)]
    #[garde(length(max = 50), dive)]
    pub channels: Vec<NewChannel>,
    /// Without it, the company whose domain the email is at (never a free-mail domain).
    #[garde(skip)]
    pub company_id: Option<Uuid>,
    #[schema(max_length = 200)]
    #[garde(inner(length(chars, max = 200)))]
    pub job_title: Option<String>,
    /// `website`, `referral`, `cold_outreach`, `import`…
    #[schema(max_length = 50)]
    #[garde(inner(length(chars, max = 50)))]
    pub source: Option<String>,
    /// Claims the person for its creator at once (default: unclaimed, in the pool).
    #[serde(default)]
    #[garde(skip)]
    pub claim: bool,
}

/// Adds a person. 409 when one of their channels (an email, a phone…) belongs to another person
/// of the org, naming them (`details.existing_contact_id`).
#[utoipa::path(tag = TAG, request_body = NewContact, responses(
    (status = 201, body = ContactDetail), (status = 401), (status = 403), (status = 409),
    (status = 422)))]
#[post("/contacts")]
pub(crate) async fn create(
    ctx: CellContext,
    settings: State<Settings>,
    tx: WriteContacts,
    body: ValidJson<NewContact>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let first_name = kernel::http::trimmed_optional("first_name", b.first_name, 100)?;
    let last_name = kernel::http::trimmed_optional("last_name", b.last_name, 100)?;
    let joined = [first_name.as_deref(), last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let name = match kernel::http::trimmed_optional("name", b.name, MAX_NAME)? {
        Some(n) => n,
        None if !joined.is_empty() => joined,
        None => {
            return Err(ApiError::validation(
                "name",
                "give a name, a first name or a last name",
            ));
        }
    };
    let mut channels: Vec<service::NewChannel> = Vec::new();
    if let Some(e) = b.email.filter(|e| !e.trim().is_empty()) {
        channels.push(service::NewChannel {
            kind: "email".into(),
            value: e,
            primary: true,
        });
    }
    if let Some(p) = b.phone.filter(|p| !p.trim().is_empty()) {
        channels.push(service::NewChannel {
            kind: "phone".into(),
            value: p,
            primary: true,
        });
    }
    channels.extend(b.channels.into_iter().map(Into::into));
    let new = service::NewContact {
        kind: b.kind.unwrap_or_else(|| "lead".into()),
        status: b.status.unwrap_or_else(|| "active".into()),
        name,
        first_name,
        last_name,
        job_title: kernel::http::trimmed_optional("job_title", b.job_title, 200)?,
        source: kernel::http::trimmed_optional("source", b.source, 50)?,
        company_id: b.company_id,
        channels,
        claim: b.claim,
    };
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    service::room_for_one(&tx, settings.max_contacts).await?;
    let (row, channels) = service::create(&ctx, &tx, &who, new, settings.max_channels).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(ContactDetail {
        contact: row.into(),
        channels: channels.into_iter().map(Channel::from).collect(),
    }))
}

/// A person's full profile.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::ContactProfile)]
pub struct ContactProfile {
    #[serde(flatten)]
    pub contact: Contact,
    pub channels: Vec<Channel>,
    /// Their deals the caller reads, newest first (up to 50; `/deals?filter[contact_id]=` for
    /// all).
    pub deals: Vec<super::deals::Deal>,
    /// Their latest interactions (up to 10; `/contacts/{id}/interactions` for all).
    pub interactions: Vec<super::interactions::Interaction>,
    /// When the latest interaction happened ("last contacted 3 days ago").
    pub last_contacted_at: Option<DateTime<Utc>>,
}

/// A person's full profile: channels, deals and latest interactions (tags, notes, links and
/// activity: collab's routes under `/contacts/{id}/…`, `linked` for links).
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = ContactProfile), (status = 401), (status = 403), (status = 404)))]
#[get("/contacts/{id}")]
pub(crate) async fn read(
    ctx: CellContext,
    tx: ReadContacts,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let row = service::get(&tx, &who, id.into_inner()).await?;
    let profile = profile(&tx, &who, row).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(profile))
}

async fn profile(
    tx: &kernel::TenantTx,
    who: &Who,
    row: contact::Model,
) -> Result<ContactProfile, ApiError> {
    let channels = service::channels(tx, row.id).await?;
    let deals = service::deals::of_person(tx, who, row.id, 50).await?;
    let interactions = service::interactions::of_person(tx, row.id, None, 10).await?;
    Ok(ContactProfile {
        contact: row.into(),
        channels: channels.into_iter().map(Channel::from).collect(),
        deals: deals.into_iter().map(Into::into).collect(),
        last_contacted_at: interactions.first().map(|i| i.occurred_at),
        interactions: interactions.into_iter().map(Into::into).collect(),
    })
}

/// `PATCH /contacts/{id}`: absent fields stay; `null` clears an optional one. Channels change
/// through `/contacts/{id}/channels`, the type through `convert`, the owner through `claim` and
/// `release`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::ContactPatch)]
pub struct ContactPatch {
    #[schema(pattern = "^(active|inactive|churned)$")]
    #[garde(skip)]
    pub status: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    #[garde(inner(length(chars, min = 1, max = 200)))]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<String>, max_length = 100)]
    #[garde(inner(inner(length(chars, max = 100))))]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<String>, max_length = 100)]
    #[garde(inner(inner(length(chars, max = 100))))]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<String>, max_length = 200)]
    #[garde(inner(inner(length(chars, max = 200))))]
    pub job_title: Option<Option<String>>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<String>, max_length = 50)]
    #[garde(inner(inner(length(chars, max = 50))))]
    pub source: Option<Option<String>>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<Uuid>)]
    #[garde(skip)]
    pub company_id: Option<Option<Uuid>>,
}

fn cleared(
    field: &str,
    v: Option<Option<String>>,
    max: usize,
) -> Result<Option<Option<String>>, ApiError> {
    v.map(|inner| kernel::http::trimmed_optional(field, inner, max))
        .transpose()
}

/// Changes a person's details (403 when the ownership policy keeps the caller from it).
#[utoipa::path(tag = TAG, request_body = ContactPatch, responses(
    (status = 200, body = Contact), (status = 401), (status = 403), (status = 404),
    (status = 422)))]
#[patch("/contacts/{id}")]
pub(crate) async fn update(
    ctx: CellContext,
    tx: WriteContacts,
    id: web::Path<Uuid>,
    body: ValidJson<ContactPatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let change = service::Change {
        status: b.status,
        name: b.name.map(|n| trimmed("name", &n, MAX_NAME)).transpose()?,
        first_name: cleared("first_name", b.first_name, 100)?,
        last_name: cleared("last_name", b.last_name, 100)?,
        job_title: cleared("job_title", b.job_title, 200)?,
        source: cleared("source", b.source, 50)?,
        company_id: b.company_id,
    };
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let row = service::update(&ctx, &tx, &who, id.into_inner(), change).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Contact::from(row)))
}

/// Moves a person to the trash (`/trash` restores them within 30 days).
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404)))]
#[delete("/contacts/{id}")]
pub(crate) async fn remove(
    ctx: CellContext,
    tx: WriteContacts,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    service::delete(&ctx, &tx, &who, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /contacts/{id}/convert`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::Conversion)]
pub struct Conversion {
    /// `client` (the default; a lead becomes a client).
    #[schema(pattern = "^(lead|client|vendor|partner)$")]
    #[garde(skip)]
    pub new_type: Option<String>,
}

/// Converts a lead to a client (`crm.contact.converted`); channels, links and history stay. 409
/// for anything but a lead.
#[utoipa::path(tag = TAG, request_body = Conversion, responses(
    (status = 200, body = Contact), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[post("/contacts/{id}/convert")]
pub(crate) async fn convert(
    ctx: CellContext,
    tx: WriteContacts,
    id: web::Path<Uuid>,
    body: ValidJson<Conversion>,
) -> ApiResult<HttpResponse> {
    let to = body.0.new_type.unwrap_or_else(|| "client".into());
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let row = service::convert(&ctx, &tx, &who, id.into_inner(), &to).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Contact::from(row)))
}

/// `POST /contacts/bulk`: an action on persons named by ids or by a list query.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::BulkAction)]
pub struct BulkAction {
    /// `claim`, `release`, `assign` (to `owner_id`: admins), `tag` (with `tag_id`), `delete`
    /// (to the trash) or `add_to_segment` (with `segment_id`).
    #[schema(pattern = "^(claim|release|assign|tag|delete|add_to_segment)$")]
    #[garde(skip)]
    pub action: String,
    /// The persons, by id (up to 1 000, at once)…
    #[schema(min_items = 1, max_items = 1000)]
    #[garde(inner(length(min = 1, max = 1000)))]
    pub ids: Option<Vec<Uuid>>,
    /// …or those a person-list query matches (`filter[company_id]=…&tags=vip`): at once up to
    /// 1 000; more become a job (202).
    #[schema(min_length = 1, max_length = 2000)]
    #[garde(inner(length(chars, min = 1, max = 2000)))]
    pub filter: Option<String>,
    /// For `add_to_segment`: a static segment.
    #[garde(skip)]
    pub segment_id: Option<Uuid>,
    /// For `tag`: a tag of the org (not a `bot:` one).
    #[garde(skip)]
    pub tag_id: Option<Uuid>,
    /// For `assign`: a member of the org, the persons' new owner.
    #[garde(skip)]
    pub owner_id: Option<Uuid>,
}

/// What a bulk operation did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::BulkResult)]
pub struct BulkResult {
    pub action: String,
    /// Persons the action applied to.
    pub count: u64,
}

/// A bulk operation run by a job, and how far it is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::BulkJob)]
pub struct BulkJob {
    pub id: Uuid,
    pub action: String,
    pub filter: String,
    /// `queued`, `running`, `completed` or `failed`.
    pub status: String,
    /// Persons the filter matched when it started.
    pub total: i64,
    /// Persons acted on so far (whole batches: a refused batch is undone).
    pub done: i64,
    /// 0 to 100.
    pub percent: u8,
    /// Why it stopped, when it failed.
    pub error: Option<String>,
    /// The person whose refusal stopped it.
    pub failed_contact_id: Option<Uuid>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<crate::entity::bulk_job::Model> for BulkJob {
    fn from(m: crate::entity::bulk_job::Model) -> Self {
        let percent = match (m.status.as_str(), m.total) {
            ("completed", _) => 100,
            (_, 0) => 0,
            (_, t) => (m.done.clamp(0, t) * 100 / t) as u8,
        };
        Self {
            id: m.id,
            action: m.action,
            filter: m.filter,
            status: m.status,
            total: m.total,
            done: m.done,
            percent,
            error: m.error,
            failed_contact_id: m.failed_contact_id,
            created_by: m.created_by,
            created_at: m.created_at,
            started_at: m.started_at,
            finished_at: m.finished_at,
        }
    }
}

/// Claims, releases, assigns (admins), tags, deletes or adds to a static segment persons named
/// by ids (up to 1 000) or by a list query, all or nothing: one that the caller may not act on
/// (another member's claimed person) refuses the whole operation, naming it
/// (`details.contact_id`). A query matching more than 1 000 persons starts a job (202): it acts
/// on 1 000 per transaction, its progress at `GET /contacts/bulk/{id}`, and stops at the first
/// batch refused. Each person's events are published as for one.
#[utoipa::path(tag = TAG, request_body = BulkAction, responses(
    (status = 200, body = BulkResult), (status = 202, body = BulkJob), (status = 401),
    (status = 403), (status = 404), (status = 409), (status = 422)))]
#[post("/contacts/bulk")]
pub(crate) async fn bulk(
    ctx: CellContext,
    settings: State<Settings>,
    tx: WriteContacts,
    body: ValidJson<BulkAction>,
) -> ApiResult<HttpResponse> {
    use crate::service::bulk;
    let ValidJson(b) = body;
    let p = bulk::Params {
        segment_id: b.segment_id,
        tag_id: b.tag_id,
        owner_id: b.owner_id,
    };
    bulk::check(&ctx, &tx, &b.action, &p).await?;
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let ids: Vec<Uuid> = match (b.ids, b.filter) {
        (Some(ids), None) => ids,
        (None, Some(filter)) => {
            let batch = settings.bulk_batch;
            let ids = bulk::matching(&ctx, &tx, &who, &filter, None, batch + 1).await?;
            if ids.len() as u64 > batch {
                let job = bulk::start(&ctx, &tx, &who, &b.action, filter, p).await?;
                tx.commit().await?;
                return Ok(HttpResponse::Accepted().json(BulkJob::from(job)));
            }
            ids
        }
        _ => {
            return Err(ApiError::validation(
                "ids",
                "name the persons by `ids` or by `filter`, one of the two",
            ));
        }
    };
    let mut unique = std::collections::BTreeSet::new();
    let ids: Vec<Uuid> = ids.into_iter().filter(|id| unique.insert(*id)).collect();
    bulk::apply(&ctx, &tx, &who, &b.action, &p, &ids).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(BulkResult {
        action: b.action,
        count: ids.len() as u64,
    }))
}

/// A bulk operation's progress (its creator, or an admin).
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = BulkJob), (status = 401), (status = 403), (status = 404)))]
#[get("/contacts/bulk/{id}")]
pub(crate) async fn bulk_progress(
    ctx: CellContext,
    tx: ReadContacts,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let job = crate::service::bulk::get(&tx, id.into_inner()).await?;
    if job.created_by != tx.caller().user_id
        && !tx.holds::<kernel::http::AdministerOrg>(&ctx, None).await?
    {
        return Err(ApiError::forbidden(
            "only its creator or an admin follows a bulk operation",
        ));
    }
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(BulkJob::from(job)))
}

/// `POST /contacts/{id}/merge`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::ContactMerge)]
pub struct Merge {
    /// The other record of the same person, merged into this one (it goes to the trash).
    #[garde(skip)]
    pub from_id: Uuid,
}

/// Merges another record of the same person into this one (both the caller's to write): its
/// channels (this one's primaries stay primary), deals, interactions, segments, fit
/// assessments, tags, notes, comments, links, tasks and activity move here; this one's empty
/// fields take its values (type, status and name stay); it goes to the trash
/// (`crm.contact.merged`). Returns the merged profile.
#[utoipa::path(tag = TAG, request_body = Merge, responses(
    (status = 200, body = ContactProfile), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[post("/contacts/{id}/merge")]
pub(crate) async fn merge(
    ctx: CellContext,
    settings: State<Settings>,
    tx: WriteContacts,
    id: web::Path<Uuid>,
    body: ValidJson<Merge>,
) -> ApiResult<HttpResponse> {
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let row = service::merge(
        &ctx,
        &tx,
        &who,
        id.into_inner(),
        body.0.from_id,
        settings.max_channels,
    )
    .await?;
    let profile = profile(&tx, &who, row).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(profile))
}

/// Claims a person for the caller: an unclaimed one (members), or anyone's (admins). 409 when
/// another member owns them.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Contact), (status = 401), (status = 403), (status = 404),
    (status = 409)))]
#[post("/contacts/{id}/claim")]
pub(crate) async fn claim(
    ctx: CellContext,
    tx: WriteContacts,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let row = service::claim(&ctx, &tx, &who, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Contact::from(row)))
}

/// Releases a person to the pool: their owner, or an admin. 409 when unclaimed.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Contact), (status = 401), (status = 403), (status = 404),
    (status = 409)))]
#[post("/contacts/{id}/release")]
pub(crate) async fn release(
    ctx: CellContext,
    tx: WriteContacts,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let row = service::release(&ctx, &tx, &who, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Contact::from(row)))
}

/// What the caller may do with a person, under the cell's ownership policy.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::ContactAccess)]
pub struct Access {
    /// Always `true` here: a person the caller does not read is a 404.
    pub read: bool,
    /// Change them (details, channels, deals, claims by others).
    pub write: bool,
    /// Answer their messages in the inbox ("reply own or pool" in outreach).
    pub reply: bool,
    pub owner_id: Option<Uuid>,
}

/// What the caller may do with a person (read, write, reply), so a client shows only what
/// will be allowed; other modules ask `crm::may_reply`.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Access), (status = 401), (status = 403), (status = 404)))]
#[get("/contacts/{id}/access")]
pub(crate) async fn access(
    ctx: CellContext,
    tx: ReadContacts,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let row = service::get(&tx, &who, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Access {
        read: true,
        write: who.may_write(row.owner_id),
        reply: who.may_reply(row.owner_id),
        owner_id: row.owner_id,
    }))
}

/// A person's channels, primary first.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Vec<Channel>), (status = 401), (status = 403), (status = 404)))]
#[get("/contacts/{id}/channels")]
pub(crate) async fn list_channels(
    ctx: CellContext,
    tx: ReadContacts,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let row = service::get(&tx, &who, id.into_inner()).await?;
    let channels = service::channels(&tx, row.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(channels.into_iter().map(Channel::from).collect::<Vec<_>>()))
}

/// Adds a channel (normalized; `primary` makes it its kind's primary). 409 naming the person
/// who has it already.
#[utoipa::path(tag = TAG, request_body = NewChannel, responses(
    (status = 201, body = Channel), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[post("/contacts/{id}/channels")]
pub(crate) async fn add_channel(
    ctx: CellContext,
    settings: State<Settings>,
    tx: WriteContacts,
    id: web::Path<Uuid>,
    body: ValidJson<NewChannel>,
) -> ApiResult<HttpResponse> {
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let added = service::add_channel(
        &ctx,
        &tx,
        &who,
        id.into_inner(),
        body.0.into(),
        settings.max_channels,
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Channel::from(added)))
}

/// Removes a channel; the oldest other one of its kind becomes primary.
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404)))]
#[delete("/contacts/{id}/channels/{channel_id}")]
pub(crate) async fn remove_channel(
    ctx: CellContext,
    tx: WriteContacts,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (id, channel_id) = path.into_inner();
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    service::remove_channel(&ctx, &tx, &who, id, channel_id).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

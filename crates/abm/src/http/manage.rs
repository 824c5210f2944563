//! Managing the data behind the dashboard, for internal users:
//! - a company's domains: `GET/POST /abm/companies/{id}/domains`, `DELETE /abm/domains/{id}`;
//! - its contacts: `GET/POST /abm/companies/{id}/contacts`, `GET/PATCH/DELETE
//!   /abm/contacts/{id}`;
//! - their identities (how ingestion recognizes a person): `GET/POST
//!   /abm/contacts/{id}/identities`, `DELETE /abm/identities/{id}`;
//! - the org-name → domain mapping reverse-IP enrichment falls back on: `GET/POST
//!   /abm/org-domains`, `PATCH/DELETE /abm/org-domains/{id}` (changes and deletions: admins).
//!
//! Every id is looked up in the operator org's transaction: anything else is a 404.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{ListQuery, ListSpec, ValidJson};
use kernel::sea_orm::sea_query::Expr;
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, Condition, QueryFilter, QueryOrder};
use kernel::{ApiError, ApiResult, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::companies::{Domain, domains_of, insert_domain, load, taken};
use super::zone::{Abm, Internal, InternalAdmin};
use super::{domain_input, not_found, one_of, optional, required, row};
use crate::store::entity::{
    company_domain, contact, contact_identity, org_domain, prospect_company,
};
use kernel::http::{Read, Write};

const TAG: &str = "abm";

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list_domains)
        .service(add_domain)
        .service(remove_domain)
        .service(list_contacts)
        .service(create_contact)
        .service(contact_detail)
        .service(update_contact)
        .service(remove_contact)
        .service(list_identities)
        .service(add_identity)
        .service(remove_identity)
        .service(list_org_domains)
        .service(create_org_domain)
        .service(update_org_domain)
        .service(remove_org_domain);
}

/// Where a contact is in the funnel.
pub const CONTACT_STATUSES: [&str; 3] = ["new", "engaged", "qualified"];

/// The kinds of identifiers a contact can be recognized by.
pub const IDENTITY_TYPES: [&str; 4] = ["posthog_distinct_id", "email", "crm_id", "cookie_id"];

/// Longest names and titles, in characters.
const NAME_MAX: usize = 200;
const IDENTITY_MAX: usize = 255;

// ---------------------------------------------------------------------------------------------
// Domains
// ---------------------------------------------------------------------------------------------

/// A company's domains, the primary first, then by name.
#[utoipa::path(tag = TAG, responses((status = 200, body = Vec<Domain>), (status = 403), (status = 404)))]
#[get("/abm/companies/{id}/domains")]
pub(crate) async fn list_domains(
    tx: Internal<Read<Abm>>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let company = load(&tx, id.into_inner()).await?;
    let domains = domains_of(&tx, company.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(domains))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDomain {
    /// `jpl.nasa.gov` (a URL or an address's host is reduced to its host name).
    #[schema(max_length = 253)]
    #[garde(length(chars, max = 253))]
    pub domain: String,
    /// Make it the company's primary domain (the old primary stays as an alias).
    #[serde(default)]
    #[garde(skip)]
    pub is_primary: bool,
}

/// Adds a domain to a company (201). With `is_primary`, it becomes the primary domain: the
/// previous primary stays as an alias and the company's `domain` follows. 409 when a prospect
/// already has the domain, except that `is_primary` on one of this company's own aliases
/// promotes it (200).
#[utoipa::path(tag = TAG, request_body = NewDomain, responses(
    (status = 201, body = Domain), (status = 200, body = Domain), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[post("/abm/companies/{id}/domains")]
pub(crate) async fn add_domain(
    tx: Internal<Write<Abm>>,
    id: web::Path<Uuid>,
    body: ValidJson<NewDomain>,
) -> ApiResult<HttpResponse> {
    let body = body.0;
    let domain = domain_input("domain", &body.domain)?;
    let company = load(&tx, id.into_inner()).await?;
    let repo = tx.repo::<company_domain::Entity>();
    let existing = repo
        .find()
        .filter(company_domain::Column::Domain.eq(&domain))
        .one(repo.conn())
        .await?;
    let (row, created) = match existing {
        Some(d) if d.prospect_company_id == company.id && body.is_primary => {
            let row = match d.is_primary {
                true => d,
                false => {
                    make_primary(&tx, company, &domain).await?;
                    let mut m: company_domain::ActiveModel = d.into();
                    m.is_primary = Set(true);
                    repo.update(m).await?
                }
            };
            (row, false)
        }
        Some(d) if d.prospect_company_id == company.id => {
            return Err(ApiError::conflict(format!(
                "the domain {domain} is already a domain of this company"
            )));
        }
        Some(d) => return Err(taken(&tx, &d).await?),
        None => {
            let company_id = company.id;
            if body.is_primary {
                make_primary(&tx, company, &domain).await?;
            }
            let row = insert_domain(&tx, company_id, domain, body.is_primary).await?;
            (row, true)
        }
    };
    tx.commit().await?;
    Ok(match created {
        true => HttpResponse::Created().json(Domain::from(row)),
        false => HttpResponse::Ok().json(Domain::from(row)),
    })
}

/// Turns the company's primary domain row into an alias and points the company at `domain`
/// (whose row the caller then writes as the primary).
async fn make_primary(
    tx: &TenantTx,
    company: prospect_company::Model,
    domain: &str,
) -> Result<(), ApiError> {
    tx.repo::<company_domain::Entity>()
        .update_many(
            vec![(company_domain::Column::IsPrimary, Expr::value(false))],
            Condition::all()
                .add(company_domain::Column::ProspectCompanyId.eq(company.id))
                .add(company_domain::Column::IsPrimary.eq(true))
                .into(),
        )
        .await?;
    let mut m: prospect_company::ActiveModel = company.into();
    m.domain = Set(domain.to_owned());
    m.updated_at = Set(Utc::now());
    tx.repo::<prospect_company::Entity>().update(m).await?;
    Ok(())
}

/// Removes an alias domain of a company (internal admins). The primary domain stays (409): make
/// another domain primary first.
#[utoipa::path(tag = TAG, responses((status = 204), (status = 403), (status = 404), (status = 409)))]
#[delete("/abm/domains/{id}")]
pub(crate) async fn remove_domain(
    tx: InternalAdmin,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let domain = row::<company_domain::Entity>(&tx, id.into_inner(), "domain").await?;
    if domain.is_primary {
        return Err(ApiError::conflict(format!(
            "{} is the company's primary domain: make another domain primary first",
            domain.domain
        )));
    }
    tx.repo::<company_domain::Entity>()
        .delete(domain.id)
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---------------------------------------------------------------------------------------------
// Contacts
// ---------------------------------------------------------------------------------------------

/// A person at a prospect (the spec's Contact).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Contact {
    pub id: Uuid,
    pub prospect_company_id: Uuid,
    /// Lowercase; unique within the company.
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    /// `new`, `engaged` or `qualified`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<contact::Model> for Contact {
    fn from(m: contact::Model) -> Self {
        Self {
            id: m.id,
            prospect_company_id: m.prospect_company_id,
            email: m.email,
            first_name: m.first_name,
            last_name: m.last_name,
            title: m.title,
            status: m.status,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A contact with the identifiers ingestion recognizes them by.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactDetail {
    #[serde(flatten)]
    pub contact: Contact,
    pub identities: Vec<Identity>,
}

/// What `list_contacts` exposes: its fields, search and order.
fn contact_list() -> ListSpec<contact::Entity> {
    ListSpec::new()
        .sortable("email", contact::Column::Email)
        .sortable("created_at", contact::Column::CreatedAt)
        .filterable("status", contact::Column::Status)
        .search([
            contact::Column::Email,
            contact::Column::FirstName,
            contact::Column::LastName,
        ])
        .default_sort(contact::Column::Email, false)
        .tiebreak(contact::Column::Id)
}

kernel::list_params!(ContactListParams, contact_list);

/// A company's contacts (`sort=email` by default; also `created_at`). Filter:
/// `filter[status]=new,engaged`; `search` in emails and first and last names.
#[utoipa::path(tag = TAG, params(ContactListParams), responses(
    (status = 200, body = kernel::http::Page<Contact>), (status = 400), (status = 403), (status = 404)))]
#[get("/abm/companies/{id}/contacts")]
pub(crate) async fn list_contacts(
    tx: Internal<Read<Abm>>,
    id: web::Path<Uuid>,
    query: ListQuery,
) -> ApiResult<HttpResponse> {
    let spec = contact_list();
    let company = load(&tx, id.into_inner()).await?;
    let select = tx
        .repo::<contact::Entity>()
        .find()
        .filter(contact::Column::ProspectCompanyId.eq(company.id));
    let select = spec.apply(&query, select)?;
    let page = tx.page(select, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Contact::from)))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    /// Stored lowercase; unique within the company.
    #[schema(max_length = 254, format = Email)]
    #[garde(email, length(chars, max = 254))]
    pub email: String,
    #[garde(skip)]
    pub first_name: Option<String>,
    #[garde(skip)]
    pub last_name: Option<String>,
    #[garde(skip)]
    pub title: Option<String>,
    /// `new` (default), `engaged` or `qualified`.
    #[garde(skip)]
    pub status: Option<String>,
}

/// 409 when the company already has a contact with `email` (other than `except`).
async fn email_free(
    tx: &TenantTx,
    company: Uuid,
    email: &str,
    except: Option<Uuid>,
) -> Result<(), ApiError> {
    let repo = tx.repo::<contact::Entity>();
    let mut select = repo
        .find()
        .filter(contact::Column::ProspectCompanyId.eq(company))
        .filter(contact::Column::Email.eq(email));
    if let Some(id) = except {
        select = select.filter(contact::Column::Id.ne(id));
    }
    match select.one(repo.conn()).await? {
        Some(other) => Err(ApiError::conflict(format!(
            "the company already has the contact {email} ({})",
            other.id
        ))),
        None => Ok(()),
    }
}

/// Adds a contact to a company. Ingestion recognizes them by their email (an event whose person
/// has it), and by the identities added with `POST /abm/contacts/{id}/identities` (PostHog
/// distinct ids; an email identity row wins over a contact's email, and an email two contacts
/// share matches neither).
#[utoipa::path(tag = TAG, request_body = NewContact, responses(
    (status = 201, body = Contact), (status = 403), (status = 404), (status = 409), (status = 422)))]
#[post("/abm/companies/{id}/contacts")]
pub(crate) async fn create_contact(
    tx: Internal<Write<Abm>>,
    id: web::Path<Uuid>,
    body: ValidJson<NewContact>,
) -> ApiResult<HttpResponse> {
    let body = body.0;
    let email = body.email.trim().to_lowercase();
    let first_name = optional("first_name", body.first_name.as_deref(), NAME_MAX)?;
    let last_name = optional("last_name", body.last_name.as_deref(), NAME_MAX)?;
    let title = optional("title", body.title.as_deref(), NAME_MAX)?;
    let status = body.status.unwrap_or_else(|| "new".into());
    one_of("status", &status, &CONTACT_STATUSES)?;
    let company = load(&tx, id.into_inner()).await?;
    email_free(&tx, company.id, &email, None).await?;
    let now = Utc::now();
    let contact = tx
        .repo::<contact::Entity>()
        .insert(contact::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            prospect_company_id: Set(company.id),
            email: Set(email),
            first_name: Set(first_name),
            last_name: Set(last_name),
            title: Set(title),
            status: Set(status),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Contact::from(contact)))
}

/// A contact's identities, by type and value.
async fn identities_of(tx: &TenantTx, contact: Uuid) -> Result<Vec<Identity>, ApiError> {
    let repo = tx.repo::<contact_identity::Entity>();
    Ok(repo
        .find()
        .filter(contact_identity::Column::ContactId.eq(contact))
        .order_by_asc(contact_identity::Column::IdentityType)
        .order_by_asc(contact_identity::Column::IdentityValue)
        .all(repo.conn())
        .await?
        .into_iter()
        .map(Identity::from)
        .collect())
}

/// One contact with its identities.
#[utoipa::path(tag = TAG, responses((status = 200, body = ContactDetail), (status = 403), (status = 404)))]
#[get("/abm/contacts/{id}")]
pub(crate) async fn contact_detail(
    tx: Internal<Read<Abm>>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let (contact, mut identities) = tx
        .repo::<contact::Entity>()
        .get_with::<contact_identity::Entity>(id.into_inner())
        .await?
        .ok_or_else(|| not_found("contact"))?;
    tx.commit().await?;
    identities.sort_by(|a, b| {
        (&a.identity_type, &a.identity_value).cmp(&(&b.identity_type, &b.identity_value))
    });
    Ok(HttpResponse::Ok().json(ContactDetail {
        contact: contact.into(),
        identities: identities.into_iter().map(Identity::from).collect(),
    }))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    /// Stored lowercase; unique within the company.
    #[garde(inner(email, length(chars, max = 254)))]
    pub email: Option<String>,
    /// `null` (or blank) clears it.
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[garde(skip)]
    #[schema(value_type = Option<String>)]
    pub first_name: Option<Option<String>>,
    /// `null` (or blank) clears it.
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[garde(skip)]
    #[schema(value_type = Option<String>)]
    pub last_name: Option<Option<String>>,
    /// `null` (or blank) clears it.
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[garde(skip)]
    #[schema(value_type = Option<String>)]
    pub title: Option<Option<String>>,
    /// `new`, `engaged` or `qualified`.
    #[garde(skip)]
    pub status: Option<String>,
}

/// Changes a contact's email, names, title or status.
#[utoipa::path(tag = TAG, request_body = ContactPatch, responses(
    (status = 200, body = Contact), (status = 403), (status = 404), (status = 409), (status = 422)))]
#[patch("/abm/contacts/{id}")]
pub(crate) async fn update_contact(
    tx: Internal<Write<Abm>>,
    id: web::Path<Uuid>,
    body: ValidJson<ContactPatch>,
) -> ApiResult<HttpResponse> {
    let body = body.0;
    let email = body.email.map(|e| e.trim().to_lowercase());
    let text = |field, value: Option<Option<String>>| {
        value
            .map(|v| optional(field, v.as_deref(), NAME_MAX))
            .transpose()
    };
    let first_name = text("first_name", body.first_name)?;
    let last_name = text("last_name", body.last_name)?;
    let title = text("title", body.title)?;
    if let Some(status) = &body.status {
        one_of("status", status, &CONTACT_STATUSES)?;
    }
    let contact = row::<contact::Entity>(&tx, id.into_inner(), "contact").await?;
    if let Some(email) = &email {
        email_free(&tx, contact.prospect_company_id, email, Some(contact.id)).await?;
    }
    let mut m: contact::ActiveModel = contact.into();
    if let Some(email) = email {
        m.email = Set(email);
    }
    if let Some(v) = first_name {
        m.first_name = Set(v);
    }
    if let Some(v) = last_name {
        m.last_name = Set(v);
    }
    if let Some(v) = title {
        m.title = Set(v);
    }
    if let Some(status) = body.status {
        m.status = Set(status);
    }
    m.updated_at = Set(Utc::now());
    let contact = tx.repo::<contact::Entity>().update(m).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Contact::from(contact)))
}

/// Deletes a contact with its identities (internal admins). Their signals stay with the company as history and
/// keep their `contact_id`, which then names no contact.
#[utoipa::path(tag = TAG, responses((status = 204), (status = 403), (status = 404)))]
#[delete("/abm/contacts/{id}")]
pub(crate) async fn remove_contact(
    tx: InternalAdmin,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let contact = row::<contact::Entity>(&tx, id.into_inner(), "contact").await?;
    // Its identities go with it (a cascading foreign key).
    tx.repo::<contact::Entity>().delete(contact.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---------------------------------------------------------------------------------------------
// Identities
// ---------------------------------------------------------------------------------------------

/// An identifier ingestion recognizes a contact by (the spec's ContactIdentity).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Identity {
    pub id: Uuid,
    pub contact_id: Uuid,
    /// `posthog_distinct_id`, `email`, `crm_id` or `cookie_id`.
    pub identity_type: String,
    /// Unique per type (across all contacts).
    pub identity_value: String,
    pub created_at: DateTime<Utc>,
}

impl From<contact_identity::Model> for Identity {
    fn from(m: contact_identity::Model) -> Self {
        Self {
            id: m.id,
            contact_id: m.contact_id,
            identity_type: m.identity_type,
            identity_value: m.identity_value,
            created_at: m.created_at,
        }
    }
}

/// A contact's identities, by type and value.
#[utoipa::path(tag = TAG, responses((status = 200, body = Vec<Identity>), (status = 403), (status = 404)))]
#[get("/abm/contacts/{id}/identities")]
pub(crate) async fn list_identities(
    tx: Internal<Read<Abm>>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let contact = row::<contact::Entity>(&tx, id.into_inner(), "contact").await?;
    let identities = identities_of(&tx, contact.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(identities))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIdentity {
    /// `posthog_distinct_id`, `email`, `crm_id` or `cookie_id`.
    #[garde(skip)]
    pub identity_type: String,
    /// Trimmed, 1–255 characters; `email` values are stored lowercase (as ingestion looks them
    /// up).
    #[garde(skip)]
    pub identity_value: String,
}

/// Links an identifier to a contact: PostHog events of that `posthog_distinct_id` (or of a
/// person with that `email`) become signals of the contact's company. 409 when a contact
/// already has the same type and value.
#[utoipa::path(tag = TAG, request_body = NewIdentity, responses(
    (status = 201, body = Identity), (status = 403), (status = 404), (status = 409), (status = 422)))]
#[post("/abm/contacts/{id}/identities")]
pub(crate) async fn add_identity(
    tx: Internal<Write<Abm>>,
    id: web::Path<Uuid>,
    body: ValidJson<NewIdentity>,
) -> ApiResult<HttpResponse> {
    let body = body.0;
    let kind = body.identity_type;
    one_of("identity_type", &kind, &IDENTITY_TYPES)?;
    let mut value = required("identity_value", &body.identity_value, IDENTITY_MAX)?;
    if kind == "email" {
        value = value.to_lowercase();
    }
    let contact = row::<contact::Entity>(&tx, id.into_inner(), "contact").await?;
    let repo = tx.repo::<contact_identity::Entity>();
    if let Some(taken) = repo
        .find()
        .filter(contact_identity::Column::IdentityType.eq(&kind))
        .filter(contact_identity::Column::IdentityValue.eq(&value))
        .one(repo.conn())
        .await?
    {
        let owner = tx
            .repo::<contact::Entity>()
            .get(taken.contact_id)
            .await?
            .map_or_else(String::new, |c| format!("{} ", c.email));
        return Err(ApiError::conflict(format!(
            "the {kind} `{value}` belongs to contact {owner}({})",
            taken.contact_id
        )));
    }
    let identity = repo
        .insert(contact_identity::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            contact_id: Set(contact.id),
            identity_type: Set(kind),
            identity_value: Set(value),
            created_at: Set(Utc::now()),
        })
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Identity::from(identity)))
}

/// Unlinks an identifier from its contact (internal admins; signals already recorded stay).
#[utoipa::path(tag = TAG, responses((status = 204), (status = 403), (status = 404)))]
#[delete("/abm/identities/{id}")]
pub(crate) async fn remove_identity(
    tx: InternalAdmin,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let identity = row::<contact_identity::Entity>(&tx, id.into_inner(), "identity").await?;
    tx.repo::<contact_identity::Entity>()
        .delete(identity.id)
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---------------------------------------------------------------------------------------------
// Org-name → domain mapping
// ---------------------------------------------------------------------------------------------

/// An organization name as reverse-IP enrichment reports it, mapped to a domain: used when the
/// provider names a network's organization but gives no domain.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrgDomain {
    pub id: Uuid,
    /// Trimmed and lowercase (matched case-insensitively).
    pub org_name: String,
    pub domain: String,
    pub created_at: DateTime<Utc>,
}

impl From<org_domain::Model> for OrgDomain {
    fn from(m: org_domain::Model) -> Self {
        Self {
            id: m.id,
            org_name: m.org_name,
            domain: m.domain,
            created_at: m.created_at,
        }
    }
}

/// What `list_org_domains` exposes: its fields, search and order.
fn org_domain_list() -> ListSpec<org_domain::Entity> {
    ListSpec::new()
        .sortable("org_name", org_domain::Column::OrgName)
        .sortable("domain", org_domain::Column::Domain)
        .sortable("created_at", org_domain::Column::CreatedAt)
        .search([org_domain::Column::OrgName, org_domain::Column::Domain])
        .default_sort(org_domain::Column::OrgName, false)
        .tiebreak(org_domain::Column::Id)
}

kernel::list_params!(OrgDomainListParams, org_domain_list);

/// The mapping (`sort=org_name` by default; also `domain`, `created_at`); `search` in
/// organization names and domains.
#[utoipa::path(tag = TAG, params(OrgDomainListParams), responses(
    (status = 200, body = kernel::http::Page<OrgDomain>), (status = 400), (status = 403)))]
#[get("/abm/org-domains")]
pub(crate) async fn list_org_domains(
    tx: Internal<Read<Abm>>,
    query: ListQuery,
) -> ApiResult<HttpResponse> {
    let spec = org_domain_list();
    let select = spec.apply(&query, tx.repo::<org_domain::Entity>().find())?;
    let page = tx.page(select, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(OrgDomain::from)))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrgDomain {
    /// The organization name (`Stanford University`); stored trimmed and lowercase, 1–200
    /// characters, unique.
    #[garde(skip)]
    pub org_name: String,
    #[schema(max_length = 253)]
    #[garde(length(chars, max = 253))]
    pub domain: String,
}

/// Maps an organization name to a domain. 409 when the name is mapped already.
#[utoipa::path(tag = TAG, request_body = NewOrgDomain, responses(
    (status = 201, body = OrgDomain), (status = 403), (status = 409), (status = 422)))]
#[post("/abm/org-domains")]
pub(crate) async fn create_org_domain(
    tx: Internal<Write<Abm>>,
    body: ValidJson<NewOrgDomain>,
) -> ApiResult<HttpResponse> {
    let body = body.0;
    // Exactly the key ingestion looks names up by.
    let org_name = required("org_name", &body.org_name, NAME_MAX)?.to_lowercase();
    let domain = domain_input("domain", &body.domain)?;
    let repo = tx.repo::<org_domain::Entity>();
    if let Some(taken) = repo
        .find()
        .filter(org_domain::Column::OrgName.eq(&org_name))
        .one(repo.conn())
        .await?
    {
        return Err(ApiError::conflict(format!(
            "`{org_name}` is mapped to {} already ({})",
            taken.domain, taken.id
        )));
    }
    let mapping = repo
        .insert(org_domain::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            org_name: Set(org_name),
            domain: Set(domain),
            created_at: Set(Utc::now()),
        })
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(OrgDomain::from(mapping)))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgDomainPatch {
    #[schema(max_length = 253)]
    #[garde(length(chars, max = 253))]
    pub domain: String,
}

/// Points an organization name at another domain (internal admins).
#[utoipa::path(tag = TAG, request_body = OrgDomainPatch, responses(
    (status = 200, body = OrgDomain), (status = 403), (status = 404), (status = 422)))]
#[patch("/abm/org-domains/{id}")]
pub(crate) async fn update_org_domain(
    tx: InternalAdmin,
    id: web::Path<Uuid>,
    body: ValidJson<OrgDomainPatch>,
) -> ApiResult<HttpResponse> {
    let domain = domain_input("domain", &body.0.domain)?;
    let mapping = row::<org_domain::Entity>(&tx, id.into_inner(), "org-name mapping").await?;
    let mut m: org_domain::ActiveModel = mapping.into();
    m.domain = Set(domain);
    let mapping = tx.repo::<org_domain::Entity>().update(m).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(OrgDomain::from(mapping)))
}

/// Removes an organization name's mapping (internal admins).
#[utoipa::path(tag = TAG, responses((status = 204), (status = 403), (status = 404)))]
#[delete("/abm/org-domains/{id}")]
pub(crate) async fn remove_org_domain(
    tx: InternalAdmin,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let mapping = row::<org_domain::Entity>(&tx, id.into_inner(), "org-name mapping").await?;
    tx.repo::<org_domain::Entity>().delete(mapping.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

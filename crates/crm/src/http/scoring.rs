//! Fit scoring and leads: `/scoring/criteria` (per product), `/contacts/{id}/fit` (score a
//! person, their fit now, its history) and `/leads` (persons ranked by fit per product, with a
//! human's review).

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{ListQuery, ListSpec, Page, ValidJson, trimmed};
use kernel::sea_orm::{ColumnTrait, QueryFilter, QuerySelect, QueryTrait};
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use super::contacts::Contact;
use crate::entity::{contact, fit_assessment, fit_criterion, fit_score};
use crate::ownership::Who;
use crate::permissions::{ConfigureScoring, ReadContacts, WriteContacts};
use crate::service::fit::{self as svc, MAX_CRITERIA};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list_criteria)
        .service(create_criterion)
        .service(update_criterion)
        .service(delete_criterion)
        .service(score_fit)
        .service(fit_now)
        .service(fit_history)
        .service(list_leads)
        .service(review_lead);
}

/// What makes a person fit for a product, and how much it counts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::FitCriterion)]
pub struct FitCriterion {
    pub id: Uuid,
    pub product: String,
    pub name: String,
    pub description: Option<String>,
    /// Its share of the product's fit, 1 to 100.
    pub weight: i32,
    /// A person-list query: a person it matches scores 100 on it, any other 0, at each scoring.
    pub rule: Option<String>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<fit_criterion::Model> for FitCriterion {
    fn from(m: fit_criterion::Model) -> Self {
        Self {
            id: m.id,
            product: m.product,
            name: m.name,
            description: m.description,
            weight: m.weight,
            rule: m.rule,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

fn criterion_list() -> ListSpec<fit_criterion::Entity> {
    use fit_criterion::Column as C;
    ListSpec::new()
        .field("product", C::Product)
        .sortable("name", C::Name)
        .sortable("weight", C::Weight)
        .sortable("created_at", C::CreatedAt)
        .search([C::Name])
        .default_sort(C::Name, false)
        .tiebreak(C::Id)
}

kernel::list_params!(CriterionListParams, criterion_list);

/// The org's fit criteria (`filter[product]=…` for one product's), by name.
#[utoipa::path(tag = TAG, params(CriterionListParams), responses(
    (status = 200, body = Page<FitCriterion>), (status = 401), (status = 403), (status = 422)))]
#[get("/scoring/criteria")]
pub(crate) async fn list_criteria(tx: ReadContacts, query: ListQuery) -> ApiResult<HttpResponse> {
    let select = criterion_list().apply(&query, tx.repo::<fit_criterion::Entity>().find())?;
    let page = tx.page(select, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(FitCriterion::from)))
}

/// `POST /scoring/criteria`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::NewFitCriterion)]
pub struct NewCriterion {
    /// The product it judges fit for: a key the org chooses (`enterprise`, `starter-plan`).
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9][a-z0-9_-]*$")]
    #[garde(skip)]
    pub product: String,
    #[schema(min_length = 1, max_length = 200)]
    #[garde(length(chars, min = 1, max = 200))]
    pub name: String,
    #[schema(max_length = 2000)]
    #[garde(inner(length(chars, max = 2000)))]
    pub description: Option<String>,
    /// Its share of the product's fit.
    #[schema(minimum = 1, maximum = 100)]
    #[garde(range(min = 1, max = 100))]
    pub weight: i32,
    /// A person-list query (`filter[type]=client&tags=enterprise`): a person it matches scores
    /// 100 on it, any other 0, at each scoring. Without one, a person scores it by hand.
    #[schema(min_length = 1, max_length = 2000)]
    #[garde(inner(length(chars, min = 1, max = 2000)))]
    pub rule: Option<String>,
}

/// Adds a fit criterion to a product (admins and owners). 409 for a name the product has.
#[utoipa::path(tag = TAG, request_body = NewCriterion, responses(
    (status = 201, body = FitCriterion), (status = 401), (status = 403), (status = 409),
    (status = 422)))]
#[post("/scoring/criteria")]
pub(crate) async fn create_criterion(
    ctx: CellContext,
    tx: ConfigureScoring,
    body: ValidJson<NewCriterion>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let new = svc::NewCriterion {
        product: b.product,
        name: trimmed("name", &b.name, 200)?,
        description: kernel::http::trimmed_optional("description", b.description, 2000)?,
        weight: b.weight,
        rule: b.rule,
    };
    let by = tx.caller().user_id;
    let row = svc::create_criterion(&ctx, &tx, by, new).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(FitCriterion::from(row)))
}

/// `PATCH /scoring/criteria/{id}`: absent fields stay; `null` clears the description or rule.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::FitCriterionPatch)]
pub struct CriterionPatch {
    #[schema(min_length = 1, max_length = 200)]
    #[garde(inner(length(chars, min = 1, max = 200)))]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    #[garde(inner(inner(length(chars, max = 2000))))]
    pub description: Option<Option<String>>,
    #[schema(minimum = 1, maximum = 100)]
    #[garde(inner(range(min = 1, max = 100)))]
    pub weight: Option<i32>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 2000)]
    #[garde(inner(inner(length(chars, min = 1, max = 2000))))]
    pub rule: Option<Option<String>>,
}

/// Changes a criterion (admins and owners). Fits already scored stay as they were; the next
/// scoring of each person uses the new weight and rule.
#[utoipa::path(tag = TAG, request_body = CriterionPatch, responses(
    (status = 200, body = FitCriterion), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[patch("/scoring/criteria/{id}")]
pub(crate) async fn update_criterion(
    ctx: CellContext,
    tx: ConfigureScoring,
    id: web::Path<Uuid>,
    body: ValidJson<CriterionPatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let patch = svc::CriterionPatch {
        name: b.name.map(|n| trimmed("name", &n, 200)).transpose()?,
        description: b
            .description
            .map(|d| kernel::http::trimmed_optional("description", d, 2000))
            .transpose()?,
        weight: b.weight,
        rule: b.rule,
    };
    let row = svc::update_criterion(&ctx, &tx, id.into_inner(), patch).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(FitCriterion::from(row)))
}

/// Deletes a criterion (admins and owners); its assessments stay in the persons' history.
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404)))]
#[delete("/scoring/criteria/{id}")]
pub(crate) async fn delete_criterion(
    tx: ConfigureScoring,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    svc::delete_criterion(&tx, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// One criterion's score in a scoring.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::CriterionScore)]
pub struct CriterionScore {
    #[garde(skip)]
    pub criterion_id: Uuid,
    #[schema(minimum = 0, maximum = 100)]
    #[garde(range(min = 0, max = 100))]
    pub score: i32,
    /// Why (the evidence).
    #[schema(max_length = 2000)]
    #[garde(inner(length(chars, max = 2000)))]
    pub note: Option<String>,
}

/// `POST /contacts/{id}/fit`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::Scoring)]
pub struct Scoring {
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9][a-z0-9_-]*$")]
    #[garde(skip)]
    pub product: String,
    /// Scores given by hand; criteria with a rule are assessed by it. A criterion not given
    /// keeps its latest assessment.
    #[serde(default)]
    #[schema(max_items = 50)]
    #[garde(length(max = MAX_CRITERIA), dive)]
    pub scores: Vec<CriterionScore>,
}

/// One criterion of a person's fit now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::FitValue)]
pub struct FitValue {
    pub criterion_id: Uuid,
    pub name: String,
    pub weight: i32,
    /// Its latest assessment, 0 to 100 (`null`: never assessed; it counts 0).
    pub score: Option<i32>,
    /// `manual` or `rule`.
    pub source: Option<String>,
    pub note: Option<String>,
    pub assessed_by: Option<Uuid>,
    pub assessed_at: Option<DateTime<Utc>>,
}

/// A person's fit for a product now, and its review.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::Fit)]
pub struct Fit {
    /// The lead's id (`PATCH /leads/{id}` reviews it).
    pub lead_id: Uuid,
    pub product: String,
    /// The weighted mean of the criteria, 0 to 100.
    pub score: i32,
    pub scored_at: DateTime<Utc>,
    pub scored_by: Uuid,
    /// `pending`, `accepted` or `rejected`.
    pub review_state: String,
    pub reviewed_by: Option<Uuid>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub criteria: Vec<FitValue>,
}

impl From<svc::Fit> for Fit {
    fn from(f: svc::Fit) -> Self {
        Self {
            lead_id: f.score.id,
            product: f.score.product,
            score: f.score.score,
            scored_at: f.score.scored_at,
            scored_by: f.score.scored_by,
            review_state: f.score.review_state,
            reviewed_by: f.score.reviewed_by,
            reviewed_at: f.score.reviewed_at,
            criteria: f
                .current
                .into_iter()
                .map(|(c, a)| FitValue {
                    criterion_id: c.id,
                    name: c.name,
                    weight: c.weight,
                    score: a.as_ref().map(|a| a.score),
                    source: a.as_ref().map(|a| a.source.clone()),
                    note: a.as_ref().and_then(|a| a.note.clone()),
                    assessed_by: a.as_ref().map(|a| a.assessed_by),
                    assessed_at: a.map(|a| a.assessed_at),
                })
                .collect(),
        }
    }
}

/// Scores a person for a product (a writer of the person): the scores given and every
/// criterion's rule are recorded as new assessments (the earlier ones stay, as history), the fit
/// is recomputed (`crm.contact.scored`, outreach's "profile scored"). The first scoring makes
/// the person a lead of the product, `pending` review.
#[utoipa::path(tag = TAG, request_body = Scoring, responses(
    (status = 200, body = Fit), (status = 401), (status = 403), (status = 404), (status = 422)))]
#[post("/contacts/{id}/fit")]
pub(crate) async fn score_fit(
    ctx: CellContext,
    tx: WriteContacts,
    id: web::Path<Uuid>,
    body: ValidJson<Scoring>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let given = b
        .scores
        .into_iter()
        .map(|s| {
            Ok(svc::Given {
                criterion_id: s.criterion_id,
                score: s.score,
                note: kernel::http::trimmed_optional("note", s.note, 2000)?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let fit = svc::score(&ctx, &tx, &who, id.into_inner(), &b.product, given).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Fit::from(fit)))
}

/// A person's fit for every product they were scored for, each criterion at its latest
/// assessment.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Vec<Fit>), (status = 401), (status = 403), (status = 404)))]
#[get("/contacts/{id}/fit")]
pub(crate) async fn fit_now(
    ctx: CellContext,
    tx: ReadContacts,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let row = crate::service::get(&tx, &who, id.into_inner()).await?;
    let fits = svc::of_person(&tx, row.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(fits.into_iter().map(Fit::from).collect::<Vec<_>>()))
}

/// One assessment: a criterion's score in one scoring.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::FitAssessment)]
pub struct Assessment {
    pub id: Uuid,
    pub product: String,
    pub criterion_id: Uuid,
    /// The criterion's name and weight then.
    pub criterion_name: String,
    pub weight: i32,
    pub score: i32,
    pub note: Option<String>,
    /// `manual` or `rule`.
    pub source: String,
    /// The assessments of one scoring share it.
    pub scoring_id: Uuid,
    pub assessed_by: Uuid,
    pub assessed_at: DateTime<Utc>,
}

impl From<fit_assessment::Model> for Assessment {
    fn from(m: fit_assessment::Model) -> Self {
        Self {
            id: m.id,
            product: m.product,
            criterion_id: m.criterion_id,
            criterion_name: m.criterion_name,
            weight: m.weight,
            score: m.score,
            note: m.note,
            source: m.source,
            scoring_id: m.scoring_id,
            assessed_by: m.assessed_by,
            assessed_at: m.assessed_at,
        }
    }
}

fn history_list() -> ListSpec<fit_assessment::Entity> {
    use fit_assessment::Column as C;
    ListSpec::new()
        .field("product", C::Product)
        .field("criterion_id", C::CriterionId)
        .field("scoring_id", C::ScoringId)
        .sortable("assessed_at", C::AssessedAt)
        .default_sort(C::AssessedAt, true)
        .tiebreak(C::Id)
}

kernel::list_params!(HistoryListParams, history_list);

/// Every assessment of the person, newest first (`filter[product]=…`): each scoring's rows
/// share a `scoring_id`.
#[utoipa::path(tag = TAG, params(HistoryListParams), responses(
    (status = 200, body = Page<Assessment>), (status = 401), (status = 403), (status = 404),
    (status = 422)))]
#[get("/contacts/{id}/fit/history")]
pub(crate) async fn fit_history(
    ctx: CellContext,
    tx: ReadContacts,
    id: web::Path<Uuid>,
    query: ListQuery,
) -> ApiResult<HttpResponse> {
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let row = crate::service::get(&tx, &who, id.into_inner()).await?;
    let base = tx
        .repo::<fit_assessment::Entity>()
        .find()
        .filter(fit_assessment::Column::ContactId.eq(row.id));
    let select = history_list().apply(&query, base)?;
    let page = tx.page(select, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Assessment::from)))
}

/// A person's fit for a product and its review: a lead.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::Lead)]
pub struct Lead {
    pub id: Uuid,
    pub product: String,
    /// The fit, 0 to 100.
    pub score: i32,
    pub scored_at: DateTime<Utc>,
    /// `pending`, `accepted` or `rejected`.
    pub review_state: String,
    pub reviewed_by: Option<Uuid>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub review_note: Option<String>,
    pub contact: Contact,
}

impl Lead {
    fn of(s: fit_score::Model, person: contact::Model) -> Self {
        Self {
            id: s.id,
            product: s.product,
            score: s.score,
            scored_at: s.scored_at,
            review_state: s.review_state,
            reviewed_by: s.reviewed_by,
            reviewed_at: s.reviewed_at,
            review_note: s.review_note,
            contact: person.into(),
        }
    }
}

fn lead_list() -> ListSpec<fit_score::Entity> {
    use fit_score::Column as C;
    ListSpec::new()
        .field("product", C::Product)
        .field("review_state", C::ReviewState)
        .field("reviewed_by", C::ReviewedBy)
        .field("contact_id", C::ContactId)
        .sortable("score", C::Score)
        .sortable("scored_at", C::ScoredAt)
        .default_sort(C::Score, true)
        .tiebreak(C::Id)
}

kernel::list_params!(LeadListParams, lead_list);

/// Persons ranked by fit, best first (`filter[product]=…` for one product's,
/// `filter[review_state]=pending` for those waiting for a review); only persons the caller
/// reads, none in the trash.
#[utoipa::path(tag = TAG, params(LeadListParams), responses(
    (status = 200, body = Page<Lead>), (status = 401), (status = 403), (status = 422)))]
#[get("/leads")]
pub(crate) async fn list_leads(
    ctx: CellContext,
    tx: ReadContacts,
    query: ListQuery,
) -> ApiResult<HttpResponse> {
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let mut persons = tx.repo::<contact::Entity>().find();
    if let Some(only) = who.readable() {
        persons = persons.filter(only);
    }
    let persons = persons
        .select_only()
        .column(contact::Column::Id)
        .into_query();
    let base = tx
        .repo::<fit_score::Entity>()
        .find()
        .filter(fit_score::Column::ContactId.in_subquery(persons));
    let select = lead_list().apply(&query, base)?;
    let page = tx.page(select, &query).await?;
    let ids: Vec<Uuid> = page.data.iter().map(|s| s.contact_id).collect();
    let repo = tx.repo::<contact::Entity>();
    let mut found: std::collections::HashMap<Uuid, contact::Model> = repo
        .find()
        .filter(contact::Column::Id.is_in(ids))
        .all(repo.conn())
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    tx.commit().await?;
    let mut data = Vec::with_capacity(page.data.len());
    for s in page.data {
        // Read in the same transaction as the page: every one is there.
        let Some(person) = found.remove(&s.contact_id) else {
            continue;
        };
        data.push(Lead::of(s, person));
    }
    Ok(HttpResponse::Ok().json(Page {
        data,
        meta: page.meta,
    }))
}

/// `PATCH /leads/{id}`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::LeadReview)]
pub struct Review {
    /// `accepted`, `rejected`, or `pending` to undo a review.
    #[schema(pattern = "^(pending|accepted|rejected)$")]
    #[garde(skip)]
    pub review_state: String,
    #[schema(max_length = 2000)]
    #[garde(inner(length(chars, max = 2000)))]
    pub note: Option<String>,
}

/// Reviews a lead (a writer of the person): accepted or rejected, by whom and when
/// (`crm.lead.reviewed`). The review stays through later scorings.
#[utoipa::path(tag = TAG, request_body = Review, responses(
    (status = 200, body = Lead), (status = 401), (status = 403), (status = 404), (status = 422)))]
#[patch("/leads/{id}")]
pub(crate) async fn review_lead(
    ctx: CellContext,
    tx: WriteContacts,
    id: web::Path<Uuid>,
    body: ValidJson<Review>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let note = kernel::http::trimmed_optional("note", b.note, 2000)?;
    let (s, person) = svc::review(&ctx, &tx, &who, id.into_inner(), &b.review_state, note).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Lead::of(s, person)))
}

//! Persons in and out of files (the importexport module reads and writes the files): a row is
//! matched to a person by any of its channels (email, phone, LinkedIn, Telegram), so importing
//! a file twice adds no one; a new person is made as `POST /contacts` makes one (normalized,
//! matched to a company by email domain, `crm.contact.created`), an existing one is updated as
//! `PATCH` does, under the same ownership rules.

use kernel::http::{Caller, ListQuery, WorkInOrg};
use kernel::records::{FieldKind, FieldSpec, Record, RecordError, Records};
use kernel::sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use kernel::{ApiError, CellContext, ErrorCode, TenantTx};
use uuid::Uuid;

use crate::entity::{channel, contact};
use crate::loader::Contacts;
use crate::ownership::Who;
use crate::service::{self, KINDS, MAX_NAME, NewChannel, STATUSES};

/// The channel fields of a row, by kind.
const CHANNELS: [(&str, &str); 4] = [
    ("email", "email"),
    ("phone", "phone"),
    ("linkedin", "linkedin"),
    ("telegram", "telegram"),
];

#[kernel::async_trait::async_trait(?Send)]
impl Records for Contacts {
    fn fields(&self) -> Vec<FieldSpec> {
        vec![
            FieldSpec::text("name", "Name", MAX_NAME),
            FieldSpec::text("first_name", "First name", 100),
            FieldSpec::text("last_name", "Last name", 100),
            FieldSpec::of("email", "Email", FieldKind::Email),
            FieldSpec::text("phone", "Phone", 50),
            FieldSpec::text("linkedin", "LinkedIn", 320),
            FieldSpec::text("telegram", "Telegram", 320),
            FieldSpec::choice("type", "Type", &KINDS),
            FieldSpec::choice("status", "Status", &STATUSES),
            FieldSpec::text("job_title", "Job title", 200),
            FieldSpec::text("source", "Source", 50),
        ]
    }

    /// Whoever may add persons (members and up) may import them.
    async fn may_import(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
    ) -> Result<(), ApiError> {
        kernel::http::require::<WorkInOrg>(ctx, tx, caller, None).await
    }

    async fn upsert(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
        records: Vec<Record>,
    ) -> Result<Vec<Result<(), RecordError>>, ApiError> {
        let settings = ctx
            .service::<crate::module::Settings>()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the crm module is not ready")))?;
        let who = Who::of(ctx, tx, caller).await?;
        // Counted once a batch, then kept here: a count per row made imports quadratic.
        let mut held = tx.repo::<contact::Entity>().count().await?;
        let mut outcomes = Vec::with_capacity(records.len());
        for r in records {
            let outcome = match one(ctx, tx, &who, &settings, &mut held, r).await {
                Ok(()) => Ok(()),
                Err(e) => Err(refusal(e)?),
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    async fn export(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
        query: &ListQuery,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<(Uuid, Record)>, ApiError> {
        let who = Who::of(ctx, tx, caller).await?;
        let repo = tx.repo::<contact::Entity>();
        let mut select = crate::http::contacts::contact_list().filters(query, repo.find())?;
        if let Some(only) = who.readable() {
            select = select.filter(only);
        }
        if let Some(after) = after {
            select = select.filter(contact::Column::Id.gt(after));
        }
        let rows = select
            .order_by_asc(contact::Column::Id)
            .limit(limit)
            .all(repo.conn())
            .await?;
        let ids: Vec<Uuid> = rows.iter().map(|m| m.id).collect();
        let channels = tx.repo::<channel::Entity>();
        let primaries = channels
            .find()
            .filter(channel::Column::ContactId.is_in(ids))
            .filter(channel::Column::IsPrimary.eq(true))
            .all(channels.conn())
            .await?;
        Ok(rows
            .into_iter()
            .map(|m| {
                let mut r = Record::new();
                for (field, kind) in CHANNELS {
                    let value = primaries
                        .iter()
                        .find(|c| c.contact_id == m.id && c.kind == kind)
                        .map(|c| c.value.clone());
                    r.insert(field.into(), value.into());
                }
                r.insert("name".into(), m.name.into());
                r.insert("first_name".into(), m.first_name.into());
                r.insert("last_name".into(), m.last_name.into());
                r.insert("type".into(), m.kind.into());
                r.insert("status".into(), m.status.into());
                r.insert("job_title".into(), m.job_title.into());
                r.insert("source".into(), m.source.into());
                (m.id, r)
            })
            .collect())
    }
}

/// Why a row was refused, from the error the API would have answered; a failure that is not
/// the row's (the database) fails the batch.
fn refusal(e: ApiError) -> Result<RecordError, ApiError> {
    match e.code() {
        ErrorCode::ValidationFailed => {
            let field = e
                .details()
                .and_then(|d| d["fields"].as_object())
                .and_then(|f| f.keys().next().cloned());
            Ok(RecordError {
                field,
                message: e.message().to_owned(),
            })
        }
        ErrorCode::Conflict | ErrorCode::Forbidden | ErrorCode::NotFound => Ok(RecordError {
            field: None,
            message: e.message().to_owned(),
        }),
        _ => Err(e),
    }
}

/// One row: the person it names by a channel updated, or a new one.
async fn one(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    settings: &crate::module::Settings,
    held: &mut u64,
    r: Record,
) -> Result<(), ApiError> {
    let text = |f: &str| r.get(f).and_then(|v| v.as_str()).map(str::to_owned);
    let channels: Vec<NewChannel> = CHANNELS
        .iter()
        .filter_map(|(field, kind)| {
            text(field).map(|value| NewChannel {
                kind: (*kind).to_owned(),
                value,
                primary: false,
            })
        })
        .collect();
    let (first_name, last_name) = (text("first_name"), text("last_name"));
    let name = text("name").or_else(|| {
        let joined = [first_name.as_deref(), last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        (!joined.is_empty()).then_some(joined)
    });
    match service::person_with(tx, &channels).await? {
        Some(id) => {
            let change = service::Change {
                status: text("status"),
                name,
                first_name: first_name.map(Some),
                last_name: last_name.map(Some),
                job_title: text("job_title").map(Some),
                source: text("source").map(Some),
                company_id: None,
            };
            service::update(ctx, tx, who, id, change).await?;
            let has = service::channels(tx, id).await?;
            for c in channels {
                if !service::has_channel(&has, &c.kind, &c.value) {
                    service::add_channel(ctx, tx, who, id, c, settings.max_channels).await?;
                }
            }
        }
        None => {
            let Some(name) = name else {
                return Err(ApiError::validation(
                    "name",
                    "give a name, a first name or a last name",
                ));
            };
            let new = service::NewContact {
                kind: text("type").unwrap_or_else(|| "lead".into()),
                status: text("status").unwrap_or_else(|| "active".into()),
                name,
                first_name,
                last_name,
                job_title: text("job_title"),
                source: text("source").or_else(|| Some("import".into())),
                company_id: None,
                channels,
                claim: false,
            };
            if *held >= settings.max_contacts {
                return Err(service::full(settings.max_contacts));
            }
            service::create(ctx, tx, who, new, settings.max_channels).await?;
            *held += 1;
        }
    }
    Ok(())
}

//! The domain rules, on a transaction of the org: persons and their channels, companies and
//! their domains. Every read and write of a person goes through the caller's [`Who`].

use std::collections::HashSet;

use chrono::Utc;
use kernel::events::Event;
use kernel::module::EntityRef;
use kernel::sea_orm::sea_query::Expr;
use kernel::sea_orm::{
    ActiveValue::Set, ColumnTrait, ExprTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::{channel, company, contact, domain};
use crate::events::*;
use crate::normalize;
use crate::ownership::Who;

pub(crate) mod bulk;
pub(crate) mod deals;
pub(crate) mod fit;
pub(crate) mod interactions;
pub(crate) mod segments;
pub(crate) mod totals;

pub(crate) const KINDS: [&str; 4] = ["lead", "client", "vendor", "partner"];
pub(crate) const STATUSES: [&str; 3] = ["active", "inactive", "churned"];
pub(crate) const MAX_NAME: usize = 200;

pub(crate) async fn publish<E: Event>(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    event: &E,
) -> Result<(), ApiError> {
    ctx.events()
        .emit(tx, Some(EntityRef::user(by)), event)
        .await?;
    Ok(())
}

/// Brings a person's `last_activity_at` and `fit_score` (what lists and segment rules read) in
/// step with their interactions and current fit scores: one statement.
pub(crate) async fn refresh_activity_and_fit(tx: &TenantTx, id: Uuid) -> Result<(), ApiError> {
    use crate::entity::{fit_score, interaction};
    use kernel::sea_orm::sea_query::{Query, SimpleExpr, SubQueryStatement};
    // `(SELECT MAX(<col>) FROM <table> WHERE contact_id = id)`
    fn latest<T: kernel::sea_orm::EntityTrait>(
        col: T::Column,
        person: T::Column,
        id: Uuid,
    ) -> SimpleExpr {
        let q = Query::select()
            .expr(Expr::col(col).max())
            .from(T::default())
            .and_where(person.eq(id))
            .to_owned();
        SimpleExpr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(q)))
    }
    use fit_score::Column as S;
    use interaction::Column as I;
    tx.repo::<contact::Entity>()
        .update_many_any(
            vec![
                (
                    contact::Column::LastActivityAt,
                    latest::<interaction::Entity>(I::OccurredAt, I::ContactId, id),
                ),
                (
                    contact::Column::FitScore,
                    latest::<fit_score::Entity>(S::Score, S::ContactId, id),
                ),
            ],
            contact::Column::Id.eq(id),
        )
        .await?;
    Ok(())
}

pub(crate) fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), ApiError> {
    match allowed.contains(&value) {
        true => Ok(()),
        false => Err(ApiError::validation(
            field,
            format!("must be one of {}", allowed.join(", ")),
        )),
    }
}

pub(crate) fn kind(field: &str, value: &str) -> Result<(), ApiError> {
    one_of(field, value, &KINDS)
}

pub(crate) fn status(field: &str, value: &str) -> Result<(), ApiError> {
    one_of(field, value, &STATUSES)
}

fn no_contact() -> ApiError {
    ApiError::not_found("no such person in this organization")
}

fn no_company() -> ApiError {
    ApiError::not_found("no such company in this organization")
}

// ---------------------------------------------------------------- persons

/// A person the caller reads; 404 otherwise (as for one that does not exist).
pub(crate) async fn get(tx: &TenantTx, who: &Who, id: Uuid) -> Result<contact::Model, ApiError> {
    let repo = tx.repo::<contact::Entity>();
    let mut select = repo.find().filter(contact::Column::Id.eq(id));
    if let Some(only) = who.readable() {
        select = select.filter(only);
    }
    select.one(repo.conn()).await?.ok_or_else(no_contact)
}

/// A person the caller writes: 404 when they do not read it, 403 when the policy keeps them
/// from writing it.
pub(crate) async fn writable(
    tx: &TenantTx,
    who: &Who,
    id: Uuid,
) -> Result<contact::Model, ApiError> {
    let row = get(tx, who, id).await?;
    who.require_write(row.owner_id)?;
    Ok(row)
}

/// One channel as given (kind, raw value, primary).
pub(crate) struct NewChannel {
    pub kind: String,
    pub value: String,
    pub primary: bool,
}

pub(crate) struct NewContact {
    pub kind: String,
    pub status: String,
    pub name: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub job_title: Option<String>,
    pub source: Option<String>,
    pub company_id: Option<Uuid>,
    pub channels: Vec<NewChannel>,
    /// Claimed by its creator at once.
    pub claim: bool,
}

/// Channels normalized, each kind's first one primary unless another is marked so; 422 for a
/// value given twice.
fn normalized(channels: Vec<NewChannel>) -> Result<Vec<(String, String, bool)>, ApiError> {
    let mut out: Vec<(String, String, bool)> = Vec::with_capacity(channels.len());
    for c in channels {
        let value = normalize::channel(&c.kind, &c.value)?;
        if out.iter().any(|(k, v, _)| *k == c.kind && *v == value) {
            return Err(ApiError::validation(
                "channels",
                format!("{} `{value}` is given twice", c.kind),
            ));
        }
        out.push((c.kind, value, c.primary));
    }
    let kinds: HashSet<String> = out.iter().map(|(k, _, _)| k.clone()).collect();
    for k in kinds {
        let marked = out.iter().filter(|(kind, _, p)| *kind == k && *p).count();
        if marked > 1 {
            return Err(ApiError::validation(
                "channels",
                format!("at most one primary {k}"),
            ));
        }
        if marked == 0
            && let Some(first) = out.iter_mut().find(|(kind, _, _)| *kind == k)
        {
            first.2 = true;
        }
    }
    Ok(out)
}

/// The person who already has one of `channels` (in the trash or not), if any: an import's key.
pub(crate) async fn person_with(
    tx: &TenantTx,
    channels: &[NewChannel],
) -> Result<Option<Uuid>, ApiError> {
    let repo = tx.repo::<channel::Entity>();
    for c in channels {
        let value = normalize::channel(&c.kind, &c.value)?;
        let found = repo
            .find()
            .filter(channel::Column::Kind.eq(c.kind.as_str()))
            .filter(channel::Column::Value.eq(value))
            .one(repo.conn())
            .await?;
        if let Some(found) = found {
            return Ok(Some(found.contact_id));
        }
    }
    Ok(None)
}

/// Whether `value` (as given) of `kind` is one of `person`'s channels.
pub(crate) fn has_channel(person: &[channel::Model], kind: &str, value: &str) -> bool {
    normalize::channel(kind, value)
        .is_ok_and(|v| person.iter().any(|c| c.kind == kind && c.value == v))
}

/// 409 naming the person who already has one of `channels` (in the trash or not).
async fn refuse_duplicates(
    tx: &TenantTx,
    channels: &[(String, String, bool)],
    except: Option<Uuid>,
) -> Result<(), ApiError> {
    for (kind, value, _) in channels {
        let repo = tx.repo::<channel::Entity>();
        let found = repo
            .find()
            .filter(channel::Column::Kind.eq(kind.as_str()))
            .filter(channel::Column::Value.eq(value.as_str()))
            .one(repo.conn())
            .await?;
        if let Some(found) = found
            && Some(found.contact_id) != except
        {
            return Err(ApiError::conflict(format!(
                "{kind} `{value}` belongs to another person of this organization"
            ))
            .with_details(serde_json::json!({
                "existing_contact_id": found.contact_id,
                "kind": kind,
                "value": value,
            })));
        }
    }
    Ok(())
}

/// A unique violation on a channel: a concurrent request stored the same value first.
fn channel_taken(e: kernel::sea_orm::DbErr) -> ApiError {
    match e.sql_err() {
        Some(kernel::sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            ApiError::conflict("this channel belongs to another person of this organization")
        }
        _ => e.into(),
    }
}

/// The company whose domain is the email's (never a free-mail one).
async fn company_by_email(tx: &TenantTx, email: &str) -> Result<Option<Uuid>, ApiError> {
    let Some(host) = normalize::employer_domain(email) else {
        return Ok(None);
    };
    let repo = tx.repo::<domain::Entity>();
    let Some(found) = repo
        .find()
        .filter(domain::Column::Domain.eq(host))
        .one(repo.conn())
        .await?
    else {
        return Ok(None);
    };
    // A company in the trash matches no one.
    let live = tx.repo::<company::Entity>().get(found.company_id).await?;
    Ok(live.map(|c| c.id))
}

async fn company_exists(tx: &TenantTx, id: Uuid) -> Result<(), ApiError> {
    match tx.repo::<company::Entity>().get(id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::validation(
            "company_id",
            "no such company in this organization",
        )),
    }
}

fn primary_of<'a>(channels: &'a [(String, String, bool)], kind: &str) -> Option<&'a String> {
    channels
        .iter()
        .find(|(k, _, p)| k == kind && *p)
        .map(|(_, v, _)| v)
}

/// 409 when the org already holds `max` persons (checked before adding one; an import counts
/// once per batch).
pub(crate) async fn room_for_one(tx: &TenantTx, max: u64) -> Result<(), ApiError> {
    match tx.repo::<contact::Entity>().count().await? >= max {
        true => Err(full(max)),
        false => Ok(()),
    }
}

pub(crate) fn full(max: u64) -> ApiError {
    ApiError::conflict(format!(
        "this organization holds {max} persons, the most it may"
    ))
}

/// Adds a person (the caller has checked there is room: [`room_for_one`]).
pub(crate) async fn create(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    new: NewContact,
    max_channels: usize,
) -> Result<(contact::Model, Vec<channel::Model>), ApiError> {
    kind("kind", &new.kind)?;
    status("status", &new.status)?;
    if new.channels.len() > max_channels {
        return Err(ApiError::validation(
            "channels",
            format!("at most {max_channels} channels"),
        ));
    }
    let channels = normalized(new.channels)?;
    let repo = tx.repo::<contact::Entity>();
    refuse_duplicates(tx, &channels, None).await?;
    if let Some(c) = new.company_id {
        company_exists(tx, c).await?;
    }
    let email = primary_of(&channels, "email").cloned();
    let company_id = match (new.company_id, &email) {
        (Some(c), _) => Some(c),
        (None, Some(e)) => company_by_email(tx, e).await?,
        (None, None) => None,
    };
    let now = Utc::now();
    let row = repo
        .insert(contact::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            kind: Set(new.kind),
            status: Set(new.status),
            name: Set(new.name),
            first_name: Set(new.first_name),
            last_name: Set(new.last_name),
            email: Set(email),
            phone: Set(primary_of(&channels, "phone").cloned()),
            company_id: Set(company_id),
            job_title: Set(new.job_title),
            source: Set(new.source),
            owner_id: Set(new.claim.then_some(who.user)),
            created_by: Set(who.user),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
            last_activity_at: Set(None),
            fit_score: Set(None),
        })
        .await?;
    let stored = insert_channels(tx, row.id, channels).await?;
    publish(
        ctx,
        tx,
        who.user,
        &ContactCreated {
            contact_id: row.id,
            kind: row.kind.clone(),
            company_id: row.company_id,
        },
    )
    .await?;
    if let Some(owner) = row.owner_id {
        publish(
            ctx,
            tx,
            who.user,
            &ContactClaimed {
                contact_id: row.id,
                owner_id: owner,
                previous_owner_id: None,
            },
        )
        .await?;
    }
    Ok((row, stored))
}

async fn insert_channels(
    tx: &TenantTx,
    contact_id: Uuid,
    channels: Vec<(String, String, bool)>,
) -> Result<Vec<channel::Model>, ApiError> {
    let now = Utc::now();
    let rows: Vec<channel::Model> = channels
        .into_iter()
        .map(|(kind, value, is_primary)| channel::Model {
            id: Uuid::now_v7(),
            org_id: tx.org_id(),
            contact_id,
            kind,
            value,
            is_primary,
            created_at: now,
        })
        .collect();
    tx.repo::<channel::Entity>()
        .insert_many(rows.iter().cloned().map(channel::ActiveModel::from))
        .await
        .map_err(channel_taken)?;
    Ok(rows)
}

/// A person's channels, primary first, then oldest first.
pub(crate) async fn channels(
    tx: &TenantTx,
    contact_id: Uuid,
) -> Result<Vec<channel::Model>, ApiError> {
    let repo = tx.repo::<channel::Entity>();
    Ok(repo
        .find()
        .filter(channel::Column::ContactId.eq(contact_id))
        .order_by_desc(channel::Column::IsPrimary)
        .order_by_asc(channel::Column::CreatedAt)
        .order_by_asc(channel::Column::Id)
        .all(repo.conn())
        .await?)
}

/// What may change; `Some(None)` clears.
#[derive(Default)]
pub(crate) struct Change {
    pub status: Option<String>,
    pub name: Option<String>,
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub job_title: Option<Option<String>>,
    pub source: Option<Option<String>>,
    pub company_id: Option<Option<Uuid>>,
}

pub(crate) async fn update(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    id: Uuid,
    change: Change,
) -> Result<contact::Model, ApiError> {
    let row = writable(tx, who, id).await?;
    if let Some(s) = &change.status {
        status("status", s)?;
    }
    if let Some(Some(c)) = change.company_id {
        company_exists(tx, c).await?;
    }
    let mut fields = Vec::new();
    let mut m: contact::ActiveModel = row.into();
    macro_rules! set {
        ($field:ident) => {
            if let Some(v) = change.$field {
                m.$field = Set(v);
                fields.push(stringify!($field).to_owned());
            }
        };
    }
    set!(status);
    set!(name);
    set!(first_name);
    set!(last_name);
    set!(job_title);
    set!(source);
    set!(company_id);
    m.updated_at = Set(Utc::now());
    let row = tx.repo::<contact::Entity>().update(m).await?;
    if !fields.is_empty() {
        publish(
            ctx,
            tx,
            who.user,
            &ContactUpdated {
                contact_id: id,
                fields,
            },
        )
        .await?;
    }
    Ok(row)
}

/// Lead → client (the one conversion the specs state); links, channels and history stay.
pub(crate) async fn convert(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    id: Uuid,
    to: &str,
) -> Result<contact::Model, ApiError> {
    kind("new_type", to)?;
    let row = writable(tx, who, id).await?;
    if row.kind != "lead" || to != "client" {
        return Err(ApiError::conflict(format!(
            "a {} cannot be converted to a {to}: only a lead becomes a client",
            row.kind
        )));
    }
    let from = row.kind.clone();
    let mut m: contact::ActiveModel = row.into();
    m.kind = Set(to.to_owned());
    m.updated_at = Set(Utc::now());
    let row = tx.repo::<contact::Entity>().update(m).await?;
    publish(
        ctx,
        tx,
        who.user,
        &ContactConverted {
            contact_id: id,
            from,
            to: to.to_owned(),
        },
    )
    .await?;
    Ok(row)
}

/// Takes ownership. A member takes an unclaimed person (or keeps their own); admins and owners
/// take anyone's. 409 when another member owns it.
pub(crate) async fn claim(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    id: Uuid,
) -> Result<contact::Model, ApiError> {
    let row = get(tx, who, id).await?;
    if row.owner_id == Some(who.user) {
        return Ok(row);
    }
    if !who.writer {
        return Err(ApiError::forbidden("viewers cannot claim persons"));
    }
    if let Some(owner) = row.owner_id
        && !who.all
    {
        return Err(ApiError::conflict("another member owns this person")
            .with_details(serde_json::json!({ "owner_id": owner })));
    }
    let previous = row.owner_id;
    let mut m: contact::ActiveModel = row.into();
    m.owner_id = Set(Some(who.user));
    m.updated_at = Set(Utc::now());
    let row = tx.repo::<contact::Entity>().update(m).await?;
    publish(
        ctx,
        tx,
        who.user,
        &ContactClaimed {
            contact_id: id,
            owner_id: who.user,
            previous_owner_id: previous,
        },
    )
    .await?;
    Ok(row)
}

/// Gives a person to a member (admins and owners: a member takes persons only for themselves,
/// by claiming); `crm.contact.claimed` names the new owner, the event's actor the admin. 422 when
/// `owner` does not work in the org.
pub(crate) async fn assign(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    id: Uuid,
    owner: Uuid,
) -> Result<contact::Model, ApiError> {
    if !who.all {
        return Err(ApiError::forbidden(
            "only admins and owners give persons to others: claim them instead",
        ));
    }
    let row = get(tx, who, id).await?;
    if row.owner_id == Some(owner) {
        return Ok(row);
    }
    let previous = row.owner_id;
    let mut m: contact::ActiveModel = row.into();
    m.owner_id = Set(Some(owner));
    m.updated_at = Set(Utc::now());
    let row = tx.repo::<contact::Entity>().update(m).await?;
    publish(
        ctx,
        tx,
        who.user,
        &ContactClaimed {
            contact_id: id,
            owner_id: owner,
            previous_owner_id: previous,
        },
    )
    .await?;
    Ok(row)
}

/// Whether `user` works in the org (members and up): who may own persons.
pub(crate) async fn works_here(
    ctx: &CellContext,
    tx: &TenantTx,
    user: Uuid,
) -> Result<bool, ApiError> {
    let caller = kernel::http::Caller {
        org_id: Some(tx.org_id()),
        ..kernel::http::Caller::user(user)
    };
    kernel::http::holds::<kernel::http::WorkInOrg>(ctx, tx, &caller, None).await
}

/// 422 naming the first of `ids` that is no person the caller reads.
pub(crate) async fn all_readable(
    tx: &TenantTx,
    who: &Who,
    ids: &[Uuid],
    field: &str,
) -> Result<(), ApiError> {
    use kernel::sea_orm::QuerySelect;
    let repo = tx.repo::<contact::Entity>();
    let mut select = repo.find().filter(contact::Column::Id.is_in(ids.to_vec()));
    if let Some(only) = who.readable() {
        select = select.filter(only);
    }
    let found: HashSet<Uuid> = select
        .select_only()
        .column(contact::Column::Id)
        .into_tuple::<Uuid>()
        .all(repo.conn())
        .await?
        .into_iter()
        .collect();
    match ids.iter().find(|c| !found.contains(c)) {
        Some(missing) => Err(ApiError::validation(
            field,
            format!("{missing} is no person of this organization"),
        )),
        None => Ok(()),
    }
}

/// Back to the pool: its owner, or an admin. 409 when it is not claimed.
pub(crate) async fn release(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    id: Uuid,
) -> Result<contact::Model, ApiError> {
    let row = get(tx, who, id).await?;
    let Some(owner) = row.owner_id else {
        return Err(ApiError::conflict("this person is not claimed"));
    };
    if owner != who.user && !who.all {
        return Err(ApiError::forbidden(
            "only its owner or an admin releases a person",
        ));
    }
    let mut m: contact::ActiveModel = row.into();
    m.owner_id = Set(None);
    m.updated_at = Set(Utc::now());
    let row = tx.repo::<contact::Entity>().update(m).await?;
    publish(
        ctx,
        tx,
        who.user,
        &ContactReleased {
            contact_id: id,
            previous_owner_id: owner,
        },
    )
    .await?;
    Ok(row)
}

/// To the trash (collab's `/trash` restores it within 30 days).
pub(crate) async fn delete(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    id: Uuid,
) -> Result<(), ApiError> {
    writable(tx, who, id).await?;
    tx.repo::<contact::Entity>().trash(id).await?;
    publish(ctx, tx, who.user, &ContactDeleted { contact_id: id }).await
}

pub(crate) async fn restore(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    id: Uuid,
) -> Result<bool, ApiError> {
    if !tx.repo::<contact::Entity>().restore(id).await? {
        return Ok(false);
    }
    publish(ctx, tx, by, &ContactRestored { contact_id: id }).await?;
    Ok(true)
}

/// Merges `from` into `into`, two records of one person, both the caller's to write: `from`'s
/// channels (`into`'s primaries stay primary), deals, interactions, segments, fit assessments,
/// and collab's tags, notes, comments, links and activity move to `into`; `into`'s empty
/// fields take `from`'s values (its type, status and name stay); `from` goes to the trash.
/// 422 when `from` is `into` or no person the caller reads; 409 when the channels would pass
/// the limit.
pub(crate) async fn merge(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    into: Uuid,
    from: Uuid,
    max_channels: usize,
) -> Result<contact::Model, ApiError> {
    use crate::entity::{deal, interaction};
    if into == from {
        return Err(ApiError::validation(
            "from_id",
            "a person cannot be merged into themselves",
        ));
    }
    let kept = writable(tx, who, into).await?;
    let gone = writable(tx, who, from).await.map_err(|e| match e.code() {
        kernel::ErrorCode::NotFound => {
            ApiError::validation("from_id", "no such person in this organization")
        }
        _ => e,
    })?;
    let ours = channels(tx, into).await?;
    let theirs = channels(tx, from).await?;
    if ours.len() + theirs.len() > max_channels {
        return Err(ApiError::conflict(format!(
            "the merged person would have {} channels; a person has at most {max_channels}",
            ours.len() + theirs.len()
        )));
    }
    let primary: Vec<String> = ours
        .iter()
        .filter(|c| c.is_primary)
        .map(|c| c.kind.clone())
        .collect();
    let repo = tx.repo::<channel::Entity>();
    repo.update_many(
        vec![(channel::Column::IsPrimary, Expr::value(false))],
        channel::Column::ContactId
            .eq(from)
            .and(channel::Column::Kind.is_in(primary)),
    )
    .await?;
    let channels_moved = repo.repoint(channel::Column::ContactId, from, into).await?;
    let deals_moved = tx
        .repo::<deal::Entity>()
        .repoint(deal::Column::ContactId, from, into)
        .await?;
    let interactions_moved = tx
        .repo::<interaction::Entity>()
        .repoint(interaction::Column::ContactId, from, into)
        .await?;
    segments::merge(ctx, tx, who.user, into, from).await?;
    fit::merge(tx, into, from).await?;
    collab::merge_into(ctx, tx, who.user, crate::loader::CONTACT, from, into).await?;
    tx.repo::<contact::Entity>().trash(from).await?;
    let mut fields = Vec::new();
    let mut m: contact::ActiveModel = kept.clone().into();
    macro_rules! fill {
        ($($field:ident),*) => {$(
            if kept.$field.is_none() && gone.$field.is_some() {
                m.$field = Set(gone.$field.clone());
                fields.push(stringify!($field).to_owned());
            }
        )*};
    }
    fill!(
        first_name, last_name, email, phone, company_id, job_title, source, owner_id
    );
    m.updated_at = Set(Utc::now());
    tx.repo::<contact::Entity>().update(m).await?;
    // The winner's history now holds the loser's interactions and fit scores.
    refresh_activity_and_fit(tx, into).await?;
    let row = tx
        .repo::<contact::Entity>()
        .get(into)
        .await?
        .ok_or_else(|| ApiError::not_found("no such person in this organization"))?;
    publish(
        ctx,
        tx,
        who.user,
        &ContactMerged {
            contact_id: into,
            merged_id: from,
            channels_moved,
            deals_moved,
            interactions_moved,
            fields,
        },
    )
    .await?;
    Ok(row)
}

/// Adds a channel (primary: it becomes the kind's primary); 409 naming the person who has it.
pub(crate) async fn add_channel(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    id: Uuid,
    new: NewChannel,
    max: usize,
) -> Result<channel::Model, ApiError> {
    let row = writable(tx, who, id).await?;
    let value = normalize::channel(&new.kind, &new.value)?;
    let existing = channels(tx, id).await?;
    if existing.len() >= max {
        return Err(ApiError::conflict(format!(
            "a person has at most {max} channels"
        )));
    }
    let one = vec![(new.kind.clone(), value, new.primary)];
    refuse_duplicates(tx, &one, None).await?;
    let primary = new.primary || !existing.iter().any(|c| c.kind == new.kind);
    if primary {
        tx.repo::<channel::Entity>()
            .update_many(
                vec![(channel::Column::IsPrimary, Expr::value(false))],
                channel::Column::ContactId
                    .eq(id)
                    .and(channel::Column::Kind.eq(new.kind.as_str())),
            )
            .await?;
    }
    let (kind, value, _) = one.into_iter().next().unwrap_or_default();
    let stored = insert_channels(tx, id, vec![(kind, value, primary)]).await?;
    let added = stored.into_iter().next().ok_or_else(no_contact)?;
    if primary {
        sync_primary(ctx, tx, who, row, &added.kind, Some(added.value.clone())).await?;
    }
    Ok(added)
}

/// Removes a channel; the kind's oldest other channel becomes primary.
pub(crate) async fn remove_channel(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    id: Uuid,
    channel_id: Uuid,
) -> Result<(), ApiError> {
    let row = writable(tx, who, id).await?;
    let all = channels(tx, id).await?;
    let Some(gone) = all.iter().find(|c| c.id == channel_id).cloned() else {
        return Err(ApiError::not_found("no such channel of this person"));
    };
    tx.repo::<channel::Entity>()
        .delete_many(channel::Column::Id.eq(channel_id))
        .await?;
    if !gone.is_primary {
        return Ok(());
    }
    let next = all
        .iter()
        .filter(|c| c.id != channel_id && c.kind == gone.kind)
        .min_by_key(|c| (c.created_at, c.id));
    if let Some(next) = next {
        tx.repo::<channel::Entity>()
            .update_many(
                vec![(channel::Column::IsPrimary, Expr::value(true))],
                channel::Column::Id.eq(next.id),
            )
            .await?;
    }
    sync_primary(ctx, tx, who, row, &gone.kind, next.map(|c| c.value.clone())).await
}

/// Keeps the person's `email`/`phone` on the primary channel; a new email finds a company when
/// the person has none.
async fn sync_primary(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    row: contact::Model,
    kind: &str,
    value: Option<String>,
) -> Result<(), ApiError> {
    let id = row.id;
    let mut fields = Vec::new();
    let company = match (kind, &value, row.company_id) {
        ("email", Some(e), None) => company_by_email(tx, e).await?,
        _ => None,
    };
    let mut m: contact::ActiveModel = row.into();
    match kind {
        "email" => {
            m.email = Set(value);
            fields.push("email".to_owned());
        }
        "phone" => {
            m.phone = Set(value);
            fields.push("phone".to_owned());
        }
        _ => return Ok(()),
    }
    if let Some(c) = company {
        m.company_id = Set(Some(c));
        fields.push("company_id".to_owned());
    }
    m.updated_at = Set(Utc::now());
    tx.repo::<contact::Entity>().update(m).await?;
    publish(
        ctx,
        tx,
        who.user,
        &ContactUpdated {
            contact_id: id,
            fields,
        },
    )
    .await
}

// ---------------------------------------------------------------- companies

pub(crate) async fn company(tx: &TenantTx, id: Uuid) -> Result<company::Model, ApiError> {
    tx.repo::<company::Entity>()
        .get(id)
        .await?
        .ok_or_else(no_company)
}

pub(crate) async fn domains(tx: &TenantTx, company_id: Uuid) -> Result<Vec<String>, ApiError> {
    let repo = tx.repo::<domain::Entity>();
    Ok(repo
        .find()
        .filter(domain::Column::CompanyId.eq(company_id))
        .order_by_asc(domain::Column::Domain)
        .all(repo.conn())
        .await?
        .into_iter()
        .map(|d| d.domain)
        .collect())
}

/// Normalized, deduplicated domains; free-mail ones refused.
pub(crate) fn clean_domains(raw: &[String], max: usize) -> Result<Vec<String>, ApiError> {
    if raw.len() > max {
        return Err(ApiError::validation(
            "domains",
            format!("at most {max} domains"),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for d in raw {
        let d = normalize::domain("domains", d)?;
        if normalize::is_free_mail(&d) {
            return Err(ApiError::validation(
                "domains",
                format!("`{d}` is a free email provider: it names no company"),
            ));
        }
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Ok(out)
}

/// Gives `company_id` the domains (409 naming the company that has one) and matches the persons
/// without a company whose email is at one of them.
async fn attach_domains(tx: &TenantTx, company_id: Uuid, list: &[String]) -> Result<u64, ApiError> {
    let repo = tx.repo::<domain::Entity>();
    for d in list {
        let taken = repo
            .find()
            .filter(domain::Column::Domain.eq(d.as_str()))
            .one(repo.conn())
            .await?;
        if let Some(t) = taken
            && t.company_id != company_id
        {
            return Err(ApiError::conflict(format!(
                "`{d}` belongs to another company of this organization"
            ))
            .with_details(
                serde_json::json!({ "existing_company_id": t.company_id, "domain": d }),
            ));
        }
    }
    let mine = domains(tx, company_id).await?;
    let fresh: Vec<domain::ActiveModel> = list
        .iter()
        .filter(|d| !mine.contains(d))
        .map(|d| domain::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            company_id: Set(company_id),
            domain: Set(d.clone()),
        })
        .collect();
    repo.insert_many(fresh).await?;
    let mut matched = 0;
    for d in list {
        // Domains hold letters, digits, `-` and `.`: nothing LIKE reads as a wildcard.
        matched += tx
            .repo::<contact::Entity>()
            .update_many(
                vec![(contact::Column::CompanyId, Expr::value(company_id))],
                contact::Column::CompanyId
                    .is_null()
                    .and(contact::Column::Email.like(format!("%@{d}"))),
            )
            .await?;
    }
    Ok(matched)
}

pub(crate) async fn create_company(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    name: String,
    industry: Option<String>,
    domain_list: Vec<String>,
) -> Result<company::Model, ApiError> {
    let now = Utc::now();
    let row = tx
        .repo::<company::Entity>()
        .insert(company::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            name: Set(name),
            industry: Set(industry),
            created_by: Set(by),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
        })
        .await?;
    attach_domains(tx, row.id, &domain_list).await?;
    publish(
        ctx,
        tx,
        by,
        &CompanyCreated {
            company_id: row.id,
            name: row.name.clone(),
        },
    )
    .await?;
    Ok(row)
}

pub(crate) async fn update_company(
    tx: &TenantTx,
    id: Uuid,
    name: Option<String>,
    industry: Option<Option<String>>,
    domain_list: Option<Vec<String>>,
) -> Result<company::Model, ApiError> {
    let row = company(tx, id).await?;
    let mut m: company::ActiveModel = row.into();
    if let Some(n) = name {
        m.name = Set(n);
    }
    if let Some(i) = industry {
        m.industry = Set(i);
    }
    m.updated_at = Set(Utc::now());
    let row = tx.repo::<company::Entity>().update(m).await?;
    if let Some(list) = domain_list {
        tx.repo::<domain::Entity>()
            .delete_many(
                domain::Column::CompanyId
                    .eq(id)
                    .and(domain::Column::Domain.is_not_in(list.clone())),
            )
            .await?;
        attach_domains(tx, id, &list).await?;
    }
    Ok(row)
}

/// Merges `from` into `into`: its persons (those in the trash too), deals and domains, and
/// collab's tags, notes, comments, links and activity, move over; it goes to the trash.
pub(crate) async fn merge_companies(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    into: Uuid,
    from: Uuid,
) -> Result<company::Model, ApiError> {
    if into == from {
        return Err(ApiError::validation(
            "from_id",
            "a company cannot be merged into itself",
        ));
    }
    let kept = company(tx, into).await?;
    company(tx, from)
        .await
        .map_err(|_| ApiError::validation("from_id", "no such company in this organization"))?;
    let moved = tx
        .repo::<contact::Entity>()
        .repoint(contact::Column::CompanyId, from, into)
        .await?;
    tx.repo::<domain::Entity>()
        .repoint(domain::Column::CompanyId, from, into)
        .await?;
    tx.repo::<crate::entity::deal::Entity>()
        .repoint(crate::entity::deal::Column::CompanyId, from, into)
        .await?;
    collab::merge_into(ctx, tx, by, crate::loader::COMPANY, from, into).await?;
    tx.repo::<company::Entity>().trash(from).await?;
    publish(
        ctx,
        tx,
        by,
        &CompanyMerged {
            company_id: into,
            merged_id: from,
            contacts_moved: moved,
        },
    )
    .await?;
    Ok(kept)
}

pub(crate) async fn delete_company(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    id: Uuid,
) -> Result<(), ApiError> {
    if !tx.repo::<company::Entity>().trash(id).await? {
        return Err(no_company());
    }
    publish(ctx, tx, by, &CompanyDeleted { company_id: id }).await
}

/// How many persons work for the company (those the caller reads).
pub(crate) async fn company_contacts(
    tx: &TenantTx,
    who: &Who,
    company_id: Uuid,
) -> Result<u64, ApiError> {
    let repo = tx.repo::<contact::Entity>();
    let mut select = repo
        .find()
        .filter(contact::Column::CompanyId.eq(company_id));
    if let Some(only) = who.readable() {
        select = select.filter(only);
    }
    Ok(select.count(repo.conn()).await?)
}

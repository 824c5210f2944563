//! Revisions and the redline. The first revision stores revision 0, the document as it was
//! (the baseline); every revision stores its content and field values, and its field changes
//! as rows in order (`change_order`: the spec's `opIndex`). The redline is drawn from those
//! rows, never from comparing texts: cumulative (every change up to a revision), historical
//! (one revision's changes), with or without the old values. A change is accepted (its value
//! becomes the baseline the redline compares with) or rejected (its field goes back to the old
//! value).

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, ExprTrait, QueryFilter, QueryOrder};
use kernel::{ApiError, CellContext, TenantTx};
use serde_json::json;
use uuid::Uuid;

use super::documents::{MAX_VALUE, edited, field_name, stored_content};
use super::{Actor, editable, fields_of, publish};
use crate::content::{Marked, redline, with_fields};
use crate::entity::{change, document, revision};
use crate::events::{ChangeDecided, DocumentRevised};

/// The most field changes one revision carries.
pub(crate) const MAX_CHANGES: usize = 1000;
/// The most revisions a document has.
pub(crate) const MAX_REVISIONS: i32 = 10_000;

/// One field's change, as the client states it.
#[derive(Debug, Clone)]
pub(crate) struct FieldChange {
    pub field_name: String,
    pub field_label: Option<String>,
    /// What the client saw: the field's value now, or 409 (someone changed it meanwhile).
    pub old_value: String,
    pub new_value: String,
}

/// A revision and its change rows.
pub(crate) struct Revised {
    pub revision: revision::Model,
    pub changes: Vec<change::Model>,
}

fn check_changes(changes: &[FieldChange]) -> Result<(), ApiError> {
    if changes.len() > MAX_CHANGES {
        return Err(ApiError::validation(
            "field_changes",
            "at most 1000 changes a revision",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, c) in changes.iter().enumerate() {
        let at = format!("field_changes[{i}]");
        field_name(&format!("{at}.field_name"), &c.field_name)?;
        if c.new_value.chars().count() > MAX_VALUE || c.old_value.chars().count() > MAX_VALUE {
            return Err(ApiError::validation(
                &format!("{at}.new_value"),
                "at most 20000 characters",
            ));
        }
        if c.old_value == c.new_value {
            return Err(ApiError::validation(
                &format!("{at}.new_value"),
                "the same as old_value: a change must change something",
            ));
        }
        if !seen.insert(c.field_name.as_str()) {
            return Err(ApiError::validation(
                &format!("{at}.field_name"),
                "changed twice in one revision",
            ));
        }
    }
    Ok(())
}

/// What a revision changes.
#[derive(Debug, Default)]
pub(crate) struct Edit {
    /// The new content (`None`: the document's own, with the changed fields written in).
    pub content: Option<String>,
    pub changes: Vec<FieldChange>,
    pub description: Option<String>,
    /// The external suggestion it applies.
    pub suggestion_id: Option<Uuid>,
}

/// Saves a revision: the baseline first when there is none, then the new content with the
/// changed fields written in, and one row per change. 409 when a change's `old_value` is not
/// the field's value now.
pub(crate) async fn revise(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Actor,
    doc: document::Model,
    edit: Edit,
) -> Result<Revised, ApiError> {
    let Edit {
        content,
        changes,
        description,
        suggestion_id,
    } = edit;
    editable(&doc)?;
    check_changes(&changes)?;
    if content.is_none() && changes.is_empty() {
        return Err(ApiError::validation(
            "field_changes",
            "a revision changes the content or at least one field",
        ));
    }
    let number = doc.revision.unwrap_or(0) + 1;
    if number > MAX_REVISIONS {
        return Err(ApiError::conflict("a document has at most 10000 revisions"));
    }
    let mut fields = fields_of(&doc);
    for c in &changes {
        let now = fields.get(&c.field_name).map_or("", String::as_str);
        if now != c.old_value {
            return Err(ApiError::conflict(format!(
                "`{}` changed since you read it",
                c.field_name
            ))
            .with_details(json!({ "field": c.field_name, "current_value": now })));
        }
    }
    let before = fields.clone();
    for c in &changes {
        fields.insert(c.field_name.clone(), c.new_value.clone());
    }
    let html = match content {
        Some(raw) => stored_content(&raw, &fields)?,
        None => with_fields(&doc.content, &fields),
    };
    let now = Utc::now();
    let by_user = by.user();
    let revs = tx.repo::<revision::Entity>();
    if doc.revision.is_none() {
        revs.insert(revision::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            document_id: Set(doc.id),
            number: Set(0),
            content: Set(doc.content.clone()),
            fields: Set(json!(before)),
            description: Set(Some("Original".into())),
            suggestion_id: Set(None),
            created_by: Set(Some(doc.created_by)),
            created_at: Set(now),
        })
        .await?;
    }
    let rev = revs
        .insert(revision::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            document_id: Set(doc.id),
            number: Set(number),
            content: Set(html.clone()),
            fields: Set(json!(fields)),
            description: Set(description),
            suggestion_id: Set(suggestion_id),
            created_by: Set(by_user),
            created_at: Set(now),
        })
        .await?;
    let rows: Vec<change::Model> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| change::Model {
            id: Uuid::now_v7(),
            org_id: tx.org_id(),
            document_id: doc.id,
            revision_id: rev.id,
            revision_number: number,
            change_order: i32::try_from(i).unwrap_or(i32::MAX),
            field_name: c.field_name.clone(),
            field_label: c.field_label.clone(),
            old_value: c.old_value.clone(),
            new_value: c.new_value.clone(),
            status: "pending".into(),
            decided_by: None,
            decided_at: None,
            created_at: now,
        })
        .collect();
    let crepo = tx.repo::<change::Entity>();
    // Batches keep each statement under the backends' parameter limits.
    for chunk in rows.chunks(200) {
        crepo
            .insert_many(chunk.iter().cloned().map(change::ActiveModel::from))
            .await?;
    }
    let mut row: document::ActiveModel = doc.into();
    row.content = Set(html);
    row.fields = Set(json!(fields));
    row.revision = Set(Some(number));
    row.updated_at = Set(now);
    let doc = tx.repo::<document::Entity>().update(row).await?;
    publish(
        ctx,
        tx,
        by,
        &DocumentRevised {
            document_id: doc.id,
            revision: number,
            fields: changes.iter().map(|c| c.field_name.clone()).collect(),
            suggestion_id,
        },
    )
    .await?;
    edited(ctx, tx, doc, by).await?;
    Ok(Revised {
        revision: rev,
        changes: rows,
    })
}

/// A document's change rows of revisions `from..=to`, in order.
pub(crate) async fn changes_of(
    tx: &TenantTx,
    document_id: Uuid,
    from: Option<i32>,
    to: Option<i32>,
) -> Result<Vec<change::Model>, ApiError> {
    let repo = tx.repo::<change::Entity>();
    let mut q = repo
        .find()
        .filter(change::Column::DocumentId.eq(document_id));
    if let Some(f) = from {
        q = q.filter(change::Column::RevisionNumber.gte(f));
    }
    if let Some(t) = to {
        q = q.filter(change::Column::RevisionNumber.lte(t));
    }
    Ok(q.order_by_asc(change::Column::RevisionNumber)
        .order_by_asc(change::Column::ChangeOrder)
        .all(repo.conn())
        .await?)
}

/// A document's revisions, oldest first (0, the baseline, first).
pub(crate) async fn revisions_of(
    tx: &TenantTx,
    document_id: Uuid,
) -> Result<Vec<revision::Model>, ApiError> {
    let repo = tx.repo::<revision::Entity>();
    Ok(repo
        .find()
        .filter(revision::Column::DocumentId.eq(document_id))
        .order_by_asc(revision::Column::Number)
        .all(repo.conn())
        .await?)
}

pub(crate) async fn revision_numbered(
    tx: &TenantTx,
    document_id: Uuid,
    number: i32,
) -> Result<Option<revision::Model>, ApiError> {
    let repo = tx.repo::<revision::Entity>();
    Ok(repo
        .find()
        .filter(revision::Column::DocumentId.eq(document_id))
        .filter(revision::Column::Number.eq(number))
        .one(repo.conn())
        .await?)
}

/// What each field shows after `changes` (in order) and which fields still carry a pending
/// change, with the value they had before it: an accepted change becomes the baseline, a
/// rejected one puts its field back.
pub(crate) fn fold(
    changes: &[change::Model],
) -> (BTreeMap<String, String>, HashMap<String, Marked>) {
    let mut value: BTreeMap<String, String> = BTreeMap::new();
    let mut pending_from: HashMap<String, String> = HashMap::new();
    for c in changes {
        match c.status.as_str() {
            "accepted" => {
                pending_from.remove(&c.field_name);
                value.insert(c.field_name.clone(), c.new_value.clone());
            }
            "rejected" => {
                if pending_from.get(&c.field_name) == Some(&c.old_value) {
                    pending_from.remove(&c.field_name);
                }
                value.insert(c.field_name.clone(), c.old_value.clone());
            }
            _ => {
                pending_from
                    .entry(c.field_name.clone())
                    .or_insert_with(|| c.old_value.clone());
                value.insert(c.field_name.clone(), c.new_value.clone());
            }
        }
    }
    let marked = pending_from
        .into_iter()
        .filter_map(|(field, old)| {
            let new = value.get(&field).cloned().unwrap_or_default();
            (old != new).then_some((field, Marked { old, new }))
        })
        .collect();
    (value, marked)
}

/// `cumulative` (every change of revisions 1..=N) or `historical` (revision N's only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Cumulative,
    Historical,
}

pub(crate) struct Redline {
    pub revision: i32,
    pub html: String,
    pub changes: Vec<change::Model>,
}

/// The redline of a document as of revision `at` (default: the latest).
pub(crate) async fn redline_of(
    tx: &TenantTx,
    doc: &document::Model,
    at: Option<i32>,
    mode: Mode,
    show_old: bool,
) -> Result<Redline, ApiError> {
    let latest = doc.revision.unwrap_or(0);
    let n = at.unwrap_or(latest);
    if !(0..=latest).contains(&n) {
        return Err(ApiError::validation(
            "revision",
            format!("from 0 to {latest}, the document's revisions"),
        ));
    }
    let base = match n == latest {
        // The document itself: a rejected change has put a field back since its snapshot.
        true => doc.content.clone(),
        false => {
            revision_numbered(tx, doc.id, n)
                .await?
                .ok_or_else(|| ApiError::not_found("no such revision"))?
                .content
        }
    };
    if n == 0 {
        return Ok(Redline {
            revision: 0,
            html: base,
            changes: Vec::new(),
        });
    }
    let from = match mode {
        Mode::Cumulative => 1,
        Mode::Historical => n,
    };
    let changes = changes_of(tx, doc.id, Some(from), Some(n)).await?;
    let (values, marked) = fold(&changes);
    let base = match changes.iter().any(|c| c.status == "rejected") {
        true => with_fields(&base, &values),
        false => base,
    };
    Ok(Redline {
        revision: n,
        html: redline(&base, &marked, show_old),
        changes,
    })
}

/// Accepts or rejects the change `change_order` of revision `revision_id`. Rejecting puts the
/// field back to the change's old value, so only a field's latest change can be rejected.
pub(crate) async fn decide(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    revision_id: Uuid,
    change_order: i32,
    accept: bool,
) -> Result<(document::Model, change::Model), ApiError> {
    let rev = tx
        .repo::<revision::Entity>()
        .get(revision_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such revision in this organization"))?;
    let doc = super::document(tx, rev.document_id).await?;
    editable(&doc)?;
    let crepo = tx.repo::<change::Entity>();
    let c = crepo
        .find()
        .filter(change::Column::RevisionId.eq(rev.id))
        .filter(change::Column::ChangeOrder.eq(change_order))
        .one(crepo.conn())
        .await?
        .ok_or_else(|| ApiError::not_found("this revision has no change of that index"))?;
    if c.status != "pending" {
        return Err(
            ApiError::conflict(format!("this change is {} already", c.status))
                .with_details(json!({ "status": c.status })),
        );
    }
    let mut doc = doc;
    if !accept {
        let later = crepo
            .find()
            .filter(change::Column::DocumentId.eq(doc.id))
            .filter(change::Column::FieldName.eq(c.field_name.clone()))
            .filter(
                change::Column::RevisionNumber.gt(c.revision_number).or(
                    change::Column::RevisionNumber
                        .eq(c.revision_number)
                        .and(change::Column::ChangeOrder.gt(c.change_order)),
                ),
            )
            .order_by_desc(change::Column::RevisionNumber)
            .one(crepo.conn())
            .await?;
        if let Some(l) = later {
            return Err(ApiError::conflict(format!(
                "revision {} changed `{}` again: decide that change first",
                l.revision_number, c.field_name
            ))
            .with_details(
                json!({ "revision": l.revision_number, "change_order": l.change_order }),
            ));
        }
        let mut fields = fields_of(&doc);
        fields.insert(c.field_name.clone(), c.old_value.clone());
        let one: BTreeMap<String, String> = [(c.field_name.clone(), c.old_value.clone())]
            .into_iter()
            .collect();
        let mut row: document::ActiveModel = doc.clone().into();
        row.content = Set(with_fields(&doc.content, &one));
        row.fields = Set(json!(fields));
        row.updated_at = Set(Utc::now());
        doc = tx.repo::<document::Entity>().update(row).await?;
        doc = edited(ctx, tx, doc, by.into()).await?;
    }
    let decision = if accept { "accepted" } else { "rejected" };
    let mut row: change::ActiveModel = c.into();
    row.status = Set(decision.into());
    row.decided_by = Set(Some(by));
    row.decided_at = Set(Some(Utc::now()));
    let c = crepo.update(row).await?;
    publish(
        ctx,
        tx,
        by,
        &ChangeDecided {
            document_id: doc.id,
            revision: c.revision_number,
            change_order: c.change_order,
            field_name: c.field_name.clone(),
            decision: decision.into(),
        },
    )
    .await?;
    Ok((doc, c))
}

/// The fields whose values differ between revisions `v1` and `v2`: (field, at v1, at v2).
pub(crate) async fn compare(
    tx: &TenantTx,
    doc: &document::Model,
    v1: i32,
    v2: i32,
) -> Result<
    (
        revision::Model,
        revision::Model,
        Vec<(String, String, String)>,
    ),
    ApiError,
> {
    let find = |n: i32, field: &'static str| async move {
        revision_numbered(tx, doc.id, n)
            .await?
            .ok_or_else(|| ApiError::validation(field, "no such revision of this document"))
    };
    let a = find(v1, "v1").await?;
    let b = find(v2, "v2").await?;
    let fa: BTreeMap<String, String> = serde_json::from_value(a.fields.clone()).unwrap_or_default();
    let fb: BTreeMap<String, String> = serde_json::from_value(b.fields.clone()).unwrap_or_default();
    let mut names: Vec<&String> = fa.keys().chain(fb.keys()).collect();
    names.sort();
    names.dedup();
    let diff = names
        .into_iter()
        .filter_map(|n| {
            let (x, y) = (
                fa.get(n).cloned().unwrap_or_default(),
                fb.get(n).cloned().unwrap_or_default(),
            );
            (x != y).then(|| (n.clone(), x, y))
        })
        .collect();
    Ok((a, b, diff))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(field: &str, old: &str, new: &str, status: &str) -> change::Model {
        let now = Utc::now();
        change::Model {
            id: Uuid::now_v7(),
            org_id: Uuid::nil(),
            document_id: Uuid::nil(),
            revision_id: Uuid::nil(),
            revision_number: 1,
            change_order: 0,
            field_name: field.into(),
            field_label: None,
            old_value: old.into(),
            new_value: new.into(),
            status: status.into(),
            decided_by: None,
            decided_at: None,
            created_at: now,
        }
    }

    #[test]
    fn the_fold_marks_pending_changes_from_their_baseline() {
        let (values, marked) = fold(&[
            c("fee", "100", "200", "pending"),
            c("fee", "200", "300", "pending"),
            c("term", "12", "24", "accepted"),
            c("days", "30", "45", "accepted"),
            c("days", "45", "60", "pending"),
            c("cap", "1", "2", "pending"),
            c("cap", "2", "3", "rejected"),
            c("law", "NY", "CA", "rejected"),
        ]);
        assert_eq!(values["fee"], "300");
        assert_eq!(
            marked["fee"],
            Marked {
                old: "100".into(),
                new: "300".into()
            }
        );
        assert!(!marked.contains_key("term"), "accepted: the new baseline");
        assert_eq!(
            marked["days"],
            Marked {
                old: "45".into(),
                new: "60".into()
            }
        );
        assert_eq!(values["cap"], "2", "rejected: back to its old value");
        assert_eq!(
            marked["cap"],
            Marked {
                old: "1".into(),
                new: "2".into()
            }
        );
        assert_eq!(values["law"], "NY");
        assert!(!marked.contains_key("law"), "its only change rejected");
    }
}

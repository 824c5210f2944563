//! Who may read and write a person: the cell's policy (DESIGN "Roles"; INVENTORY disagreement
//! 4). Admins and owners read and write everything; for members and viewers the policy decides,
//! and it is applied in the queries (a list never returns what the policy hides), not only on
//! writes.

use kernel::http::{AdministerOrg, Caller, WorkInOrg};
use kernel::sea_orm::{ColumnTrait, Condition};
use kernel::{ApiError, CellContext, TenantTx};
use serde::Deserialize;
use uuid::Uuid;

use crate::entity::contact;

/// Which persons a member reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ReadScope {
    /// Every person of the org (outreach).
    #[default]
    Org,
    /// Only those they own (dealdesk's sales reps).
    Own,
}

/// Which persons a member writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WriteScope {
    /// Every person they read.
    Org,
    /// Only those they own.
    Own,
    /// Those they own and the unclaimed ones (outreach).
    #[default]
    OwnOrUnclaimed,
}

/// `[modules.crm.ownership]`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Policy {
    pub read: ReadScope,
    pub write: WriteScope,
    /// Whose messages a member answers in the inbox (outreach: "reply own or pool"); other
    /// modules ask through `crm::may_reply`.
    pub reply: WriteScope,
}

/// The caller as the policy sees them, found once per request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Who {
    pub user: Uuid,
    /// Admins and owners: everything.
    pub all: bool,
    /// Members and up (viewers write nothing).
    pub writer: bool,
    pub policy: Policy,
}

impl Who {
    pub async fn of(ctx: &CellContext, tx: &TenantTx, caller: &Caller) -> Result<Self, ApiError> {
        let policy = ctx
            .service::<crate::module::Settings>()
            .map(|s| s.ownership)
            .unwrap_or_default();
        let all = kernel::http::holds::<AdministerOrg>(ctx, tx, caller, None).await?;
        let writer = all || kernel::http::holds::<WorkInOrg>(ctx, tx, caller, None).await?;
        Ok(Self {
            user: caller.user_id,
            all,
            writer,
            policy,
        })
    }

    /// The persons this caller reads, as a condition (`None`: all).
    pub fn readable(&self) -> Option<Condition> {
        match (self.all, self.policy.read) {
            (true, _) | (false, ReadScope::Org) => None,
            (false, ReadScope::Own) => {
                Some(Condition::all().add(contact::Column::OwnerId.eq(self.user)))
            }
        }
    }

    /// Whether this caller may change a person owned by `owner`.
    pub fn may_write(&self, owner: Option<Uuid>) -> bool {
        self.may(self.policy.write, owner)
    }

    /// Whether this caller may reply to the messages of a person owned by `owner`.
    pub fn may_reply(&self, owner: Option<Uuid>) -> bool {
        self.may(self.policy.reply, owner)
    }

    fn may(&self, scope: WriteScope, owner: Option<Uuid>) -> bool {
        if self.all {
            return true;
        }
        if !self.writer {
            return false;
        }
        match scope {
            WriteScope::Org => true,
            WriteScope::Own => owner == Some(self.user),
            WriteScope::OwnOrUnclaimed => owner.is_none() || owner == Some(self.user),
        }
    }

    /// 403 unless [`Who::may_write`].
    pub fn require_write(&self, owner: Option<Uuid>) -> Result<(), ApiError> {
        match self.may_write(owner) {
            true => Ok(()),
            false => Err(ApiError::forbidden(
                "another member owns this person: ask them or an admin",
            )
            .with_details(serde_json::json!({ "owner_id": owner }))),
        }
    }
}

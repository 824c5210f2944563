#![doc = include_str!("../README.md")]

mod entity;
pub mod events;
mod http;
mod loader;
mod migration;
mod module;
mod normalize;
mod ownership;
mod permissions;
mod records;
mod service;

pub use module::Crm;

/// Whether `caller` may reply to the messages of person `contact_id` under the cell's ownership
/// policy (`[modules.crm.ownership] reply`; outreach's inbox: admins and owners anyone's, members
/// their own or the pool's): the permission an inbox or a sequence asks before sending. `false`
/// for a person the caller does not read, or none.
pub async fn may_reply(
    ctx: &kernel::CellContext,
    tx: &kernel::TenantTx,
    caller: &kernel::http::Caller,
    contact_id: uuid::Uuid,
) -> Result<bool, kernel::ApiError> {
    let who = ownership::Who::of(ctx, tx, caller).await?;
    match service::get(tx, &who, contact_id).await {
        Ok(person) => Ok(who.may_reply(person.owner_id)),
        Err(e) if e.code() == kernel::ErrorCode::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

kernel::register_module!(Crm::default());

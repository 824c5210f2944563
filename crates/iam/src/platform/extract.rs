//! iam's side of the kernel's one way into a handler ([`kernel::http::Scoped`]): the cell's
//! [`kernel::http::Authorizer`], checking against the graph in the request's own transaction.
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::engine::ReadOptions;
use crate::error::EngineError;
use crate::tuple::{ObjectRef, SubjectRef};

/// The kernel's [`kernel::http::Authorizer`]: `namespace:object#permission` for a user, checked
/// against the graph as of now, in the caller's transaction.
pub(crate) struct GraphAuthorizer;

#[kernel::async_trait::async_trait(?Send)]
impl kernel::http::Authorizer for GraphAuthorizer {
    async fn check(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        user: Uuid,
        namespace: &str,
        object_id: &str,
        permission: &str,
    ) -> Result<bool, ApiError> {
        if !crate::tuple::valid_object_id(object_id) {
            return Err(ApiError::bad_request(format!(
                "invalid {namespace} id `{object_id}`"
            )));
        }
        let object = ObjectRef::new(namespace, object_id);
        let subject = SubjectRef::object("user", user.to_string());
        let answer = super::engine(ctx)?
            .check_in(tx, &object, permission, &subject, &ReadOptions::default())
            .await
            .map_err(|e| match e {
                // The route names a permission the schema lacks: our bug, not the caller's.
                EngineError::UnknownType(_) | EngineError::UnknownRelation { .. } => {
                    ApiError::internal(e)
                }
                other => super::api_error(other),
            })?;
        Ok(answer.value)
    }

    async fn holders(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        namespace: &str,
        object_id: &str,
        permission: &str,
    ) -> Result<Vec<Uuid>, ApiError> {
        if !crate::tuple::valid_object_id(object_id) {
            return Err(ApiError::bad_request(format!(
                "invalid {namespace} id `{object_id}`"
            )));
        }
        let object = ObjectRef::new(namespace, object_id);
        let subjects = super::engine(ctx)?
            .user_subjects_in(tx, &object, permission)
            .await
            .map_err(super::api_error)?;
        // `user:*` (a public object) names no one in particular.
        Ok(subjects
            .iter()
            .filter_map(|s| Uuid::parse_str(&s.subject_id).ok())
            .collect())
    }
}

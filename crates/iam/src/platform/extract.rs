//! iam's side of the kernel's one way into a handler ([`kernel::http::Scoped`]): the cell's
//! [`kernel::http::Authorizer`], checking against the graph in the request's own transaction.
use kernel::http::Asker;
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::caveat::Context;
use crate::engine::ReadOptions;
use crate::error::EngineError;
use crate::tuple::{ObjectRef, SubjectRef};

/// The caveat context of a route's check: `client_ip` (when known) and `now`. A caveat that
/// declares a parameter of one of these names receives it; the relationship's own context wins.
const CLIENT_IP: &str = "client_ip";
const NOW: &str = "now";

fn request_context(asker: &Asker) -> Context {
    let mut map = serde_json::Map::new();
    if let Some(ip) = asker.client_ip {
        map.insert(CLIENT_IP.into(), ip.to_string().into());
    }
    map.insert(
        NOW.into(),
        asker
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            .into(),
    );
    Context::new(map)
}

/// The kernel's [`kernel::http::Authorizer`]: `namespace:object#permission` for a user, checked
/// against the graph as of now, in the caller's transaction.
pub(crate) struct GraphAuthorizer;

#[kernel::async_trait::async_trait(?Send)]
impl kernel::http::Authorizer for GraphAuthorizer {
    async fn check(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        asker: &Asker,
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
        let subject = SubjectRef::object("user", asker.user.to_string());
        let engine = super::engine(ctx)?;
        // Caveats in the cell's schema may read the request: where it came from, and when.
        let opts = match engine.schema().caveats.is_empty() {
            true => ReadOptions::default(),
            false => ReadOptions {
                context: request_context(asker),
                ..ReadOptions::default()
            },
        };
        let answer = engine
            .check_in(tx, &object, permission, &subject, &opts)
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

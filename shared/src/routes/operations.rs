//! The edge of the operation routes: the cluster's `{name}`, the operation's `{id}`, and the
//! list's `limit` and `continue` (a token naming the generation the previous page ended with).

use super::{page_limit, FromIncoming, Route};
use crate::{
    api::operations::{GetOperation, ListOperations, RetryOperation},
    domain::{names::ClusterName, operation::OperationId, page::decode_continue},
    http::{ApiError, Incoming, Parsed},
};

fn name(incoming: &Incoming) -> Parsed<ClusterName> {
    ClusterName::parse(incoming.param("name"))
        .map_err(|e| ApiError::invalid(e.to_string()).at("name"))
}

fn id(incoming: &Incoming) -> Parsed<OperationId> {
    OperationId::parse(incoming.param("id")).map_err(|e| ApiError::invalid(e).at("id"))
}

impl FromIncoming for ListOperations {
    const ROUTE: Route = Route::ListOperations;

    fn from_incoming(incoming: Incoming) -> Self {
        let limit = page_limit(&incoming);
        let before = match incoming.query("continue") {
            None => Ok(None),
            Some(token) => decode_continue(token)
                .and_then(|g| g.parse::<u64>().ok())
                .map(Some)
                .ok_or_else(|| {
                    ApiError::invalid("continue is not a token from a previous page").at("continue")
                }),
        };
        ListOperations {
            caller: incoming.caller(),
            name: name(&incoming),
            limit,
            before,
        }
    }
}

impl FromIncoming for GetOperation {
    const ROUTE: Route = Route::GetOperation;

    fn from_incoming(incoming: Incoming) -> Self {
        GetOperation {
            caller: incoming.caller(),
            name: name(&incoming),
            id: id(&incoming),
        }
    }
}

impl FromIncoming for RetryOperation {
    const ROUTE: Route = Route::RetryOperation;

    fn from_incoming(incoming: Incoming) -> Self {
        RetryOperation {
            caller: incoming.caller(),
            token: incoming.request_id().to_string(),
            name: name(&incoming),
            id: id(&incoming),
        }
    }
}

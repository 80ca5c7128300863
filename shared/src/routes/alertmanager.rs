//! The edge of the Alertmanager routes: the `{name}` of a receiver, and the bodies (a receiver,
//! `{items: [...]}`, the global section), each parsed into its validated shape here; a secret
//! sentinel is resolved against what is stored by the use case.

use super::{FromIncoming, Route};
use crate::{
    api::alertmanager::{
        DeleteReceiver, GetAlertmanagerConfig, GetAlertmanagerGlobal, GetAlertmanagerRoutes,
        GetReceiver, ListReceivers, PutAlertmanagerGlobal, PutAlertmanagerRoutes, PutReceiver,
    },
    domain::alertmanager::{GlobalSpec, ReceiverName, ReceiverSpec, RoutesSpec},
    http::{edge::JsonObject, ApiError, Incoming, Media, Parsed},
};
use serde_json::Value;

/// The `{name}` of the path (percent-decoded by API Gateway or the edge), parsed by `parse`.
fn path_name(
    incoming: &Incoming,
    parse: fn(&str) -> Result<ReceiverName, String>,
) -> Parsed<ReceiverName> {
    parse(incoming.param("name")).map_err(|m| ApiError::invalid(m).at("name"))
}

/// The body, a JSON object, parsed by `parse`.
fn body<T>(
    incoming: &Incoming,
    parse: fn(Value) -> Result<T, crate::domain::Invalid>,
) -> Parsed<T> {
    let JsonObject(map) = incoming.json::<JsonObject>(Media::Json)?;
    Ok(parse(Value::Object(map))?)
}

impl FromIncoming for GetAlertmanagerConfig {
    const ROUTE: Route = Route::GetAlertmanagerConfig;

    fn from_incoming(incoming: Incoming) -> Self {
        GetAlertmanagerConfig {
            caller: incoming.caller(),
            if_none_match: incoming.if_none_match(),
        }
    }
}

impl FromIncoming for ListReceivers {
    const ROUTE: Route = Route::ListReceivers;

    fn from_incoming(incoming: Incoming) -> Self {
        ListReceivers {
            caller: incoming.caller(),
            if_none_match: incoming.if_none_match(),
        }
    }
}

impl FromIncoming for GetReceiver {
    const ROUTE: Route = Route::GetReceiver;

    fn from_incoming(incoming: Incoming) -> Self {
        GetReceiver {
            caller: incoming.caller(),
            name: path_name(&incoming, ReceiverName::parse),
            if_none_match: incoming.if_none_match(),
        }
    }
}

impl FromIncoming for PutReceiver {
    const ROUTE: Route = Route::PutReceiver;

    fn from_incoming(incoming: Incoming) -> Self {
        PutReceiver {
            caller: incoming.caller(),
            token: incoming.request_id().to_string(),
            name: path_name(&incoming, ReceiverName::parse_new),
            if_match: incoming.if_match(),
            receiver: body(&incoming, ReceiverSpec::parse),
        }
    }
}

impl FromIncoming for DeleteReceiver {
    const ROUTE: Route = Route::DeleteReceiver;

    fn from_incoming(incoming: Incoming) -> Self {
        DeleteReceiver {
            caller: incoming.caller(),
            token: incoming.request_id().to_string(),
            name: path_name(&incoming, ReceiverName::parse),
            if_match: incoming.if_match(),
        }
    }
}

impl FromIncoming for GetAlertmanagerRoutes {
    const ROUTE: Route = Route::GetAlertmanagerRoutes;

    fn from_incoming(incoming: Incoming) -> Self {
        GetAlertmanagerRoutes {
            caller: incoming.caller(),
            if_none_match: incoming.if_none_match(),
        }
    }
}

impl FromIncoming for PutAlertmanagerRoutes {
    const ROUTE: Route = Route::PutAlertmanagerRoutes;

    fn from_incoming(incoming: Incoming) -> Self {
        PutAlertmanagerRoutes {
            caller: incoming.caller(),
            token: incoming.request_id().to_string(),
            if_match: incoming.if_match(),
            routes: body(&incoming, RoutesSpec::parse),
        }
    }
}

impl FromIncoming for GetAlertmanagerGlobal {
    const ROUTE: Route = Route::GetAlertmanagerGlobal;

    fn from_incoming(incoming: Incoming) -> Self {
        GetAlertmanagerGlobal {
            caller: incoming.caller(),
            if_none_match: incoming.if_none_match(),
        }
    }
}

impl FromIncoming for PutAlertmanagerGlobal {
    const ROUTE: Route = Route::PutAlertmanagerGlobal;

    fn from_incoming(incoming: Incoming) -> Self {
        PutAlertmanagerGlobal {
            caller: incoming.caller(),
            token: incoming.request_id().to_string(),
            if_match: incoming.if_match(),
            global: body(&incoming, GlobalSpec::parse),
        }
    }
}

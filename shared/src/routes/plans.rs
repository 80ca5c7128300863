//! The edge of the plan routes: nothing to parse but the plan name (no key is read).

use super::{FromIncoming, Route};
use crate::{
    api::plans::{GetPlan, ListPlans},
    http::Incoming,
};

impl FromIncoming for ListPlans {
    const ROUTE: Route = Route::ListPlans;

    fn from_incoming(_incoming: Incoming) -> Self {
        ListPlans
    }
}

impl FromIncoming for GetPlan {
    const ROUTE: Route = Route::GetPlan;

    fn from_incoming(incoming: Incoming) -> Self {
        GetPlan {
            name: incoming.param("name").to_string(),
        }
    }
}

//! The route table, one line per route (method, resource path, the function that serves it,
//! its request type), and [`serve`]: read the event at the edge, parse the route's request, run
//! its use case, render the outcome. Each function's `main.rs` names its request type; the local
//! stack and the tests find routes through [`Router`].
//!
//! To add a route: a line in the table, its request type in `api::<family>`, its parser in
//! `routes::<family>`. A route is authenticated by an API key unless its line ends in
//! `[public]` (the plan catalog): the template gives a public route's function no table access
//! and the OpenAPI contract marks it `security: []` (tests check both).

pub mod alertmanager;
pub mod apikeys;
pub mod clusters;
pub mod members;
pub mod operations;
pub mod plans;
pub mod secrets;
pub mod tenant_delete;
pub mod tenants;

use crate::{
    api::UseCase,
    config::ApiContext,
    http::{render, ApiError, Incoming},
};
use lambda_http::{http::Method, Body, Request, Response};
use std::collections::HashMap;

/// The stage prefix every resource is served under.
pub const BASE_PATH: &str = "/api/v1";

/// A list route's `limit` query parameter: absent, or an integer from 1 to 1000.
pub(crate) fn page_limit(incoming: &Incoming) -> crate::http::Parsed<Option<usize>> {
    match incoming.query("limit") {
        None => Ok(None),
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::invalid("limit must be an integer from 1 to 1000").at("limit")),
        },
    }
}

/// A request type the edge builds from the event of its route.
pub trait FromIncoming: Sized {
    /// The route.
    const ROUTE: Route;
    /// Parses the request; problems are kept as deferred errors, never raised here.
    fn from_incoming(incoming: Incoming) -> Self;
}

/// Serves one request of the route of `R`; never fails (every error is a response).
pub async fn serve<R: FromIncoming + UseCase>(ctx: &ApiContext, req: Request) -> Response<Body> {
    let incoming = Incoming::read(req, R::ROUTE.resource());
    let id = incoming.request_id().to_string();
    let outcome = R::from_incoming(incoming).run(ctx).await;
    if let Err(e) = &outcome {
        tracing::info!(request_id = %id, status = e.status().as_u16(), error = %e, "request refused");
    }
    render(outcome, &id)
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// A tenant's API key (its use case opens a `Session`).
    ApiKey,
    /// Anyone: no key is read, an `Authorization` header is ignored (still rate limited per
    /// IP like every route).
    Public,
}

macro_rules! auth_kind {
    () => {
        Auth::ApiKey
    };
    (public) => {
        Auth::Public
    };
}

macro_rules! routes {
    ($($variant:ident: $method:ident $path:literal => $function:literal in $family:ident $([$auth:ident])?;)*) => {
        /// Every route of the API: one Lambda each.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Route {
            $(
                #[doc = concat!("`", stringify!($method), " ", $path, "`")]
                $variant,
            )*
        }

        impl Route {
            /// All routes.
            pub const ALL: [Route; [$(stringify!($variant)),*].len()] = [$(Route::$variant),*];

            /// HTTP method.
            pub fn method(self) -> Method {
                match self { $(Route::$variant => Method::$method,)* }
            }

            /// API Gateway resource path, below [`BASE_PATH`].
            pub fn resource(self) -> &'static str {
                match self { $(Route::$variant => $path,)* }
            }

            /// Who may call it.
            pub fn auth(self) -> Auth {
                match self { $(Route::$variant => auth_kind!($($auth)?),)* }
            }

            /// The function crate (and SAM function binary) serving this route.
            pub fn function(self) -> &'static str {
                match self { $(Route::$variant => $function,)* }
            }

            /// Serves a request of this route (the local stack and the tests; each Lambda calls
            /// [`serve`] for its own request type).
            pub async fn call(self, ctx: &ApiContext, req: Request) -> Response<Body> {
                match self {
                    $(Route::$variant => serve::<crate::api::$family::$variant>(ctx, req).await,)*
                }
            }
        }

    };
}

routes! {
    CreateCluster: POST "/tenants/{tenant}/clusters" => "create-cluster" in clusters;
    ListClusters: GET "/tenants/{tenant}/clusters" => "list-clusters" in clusters;
    GetCluster: GET "/tenants/{tenant}/clusters/{name}" => "get-cluster" in clusters;
    UpdateCluster: PATCH "/tenants/{tenant}/clusters/{name}" => "update-cluster" in clusters;
    DeleteCluster: DELETE "/tenants/{tenant}/clusters/{name}" => "delete-cluster" in clusters;
    GetKubeconfig: GET "/tenants/{tenant}/clusters/{name}/kubeconfig" => "get-kubeconfig" in clusters;
    // a cluster's operations (issue 12)
    ListOperations: GET "/tenants/{tenant}/clusters/{name}/operations" => "list-operations" in operations;
    GetOperation: GET "/tenants/{tenant}/clusters/{name}/operations/{id}" => "get-operation" in operations;
    RetryOperation: POST "/tenants/{tenant}/clusters/{name}/operations/{id}/retry" => "retry-operation" in operations;
    CreateApiKey: POST "/tenants/{tenant}/apikeys" => "create-apikey" in apikeys;
    ListApiKeys: GET "/tenants/{tenant}/apikeys" => "list-apikeys" in apikeys;
    DeleteApiKey: DELETE "/tenants/{tenant}/apikeys/{id}" => "delete-apikey" in apikeys;
    // tenancy: the tenant itself and the public plan catalog
    GetTenant: GET "/tenants/{tenant}" => "get-tenant" in tenants;
    UpdateTenant: PATCH "/tenants/{tenant}" => "update-tenant" in tenants;
    ListPlans: GET "/plans" => "list-plans" in plans [public];
    GetPlan: GET "/plans/{name}" => "get-plan" in plans [public];
    // members and tenant deletion
    ListMembers: GET "/tenants/{tenant}/members" => "list-members" in members;
    AddMember: POST "/tenants/{tenant}/members" => "add-member" in members;
    UpdateMember: PATCH "/tenants/{tenant}/members/{email}" => "update-member" in members;
    RemoveMember: DELETE "/tenants/{tenant}/members/{email}" => "remove-member" in members;
    DeleteTenant: DELETE "/tenants/{tenant}" => "delete-tenant" in tenant_delete;
    // the tenant's Alertmanager configuration
    GetAlertmanagerConfig: GET "/tenants/{tenant}/alertmanager/config" => "get-alertmanager-config" in alertmanager;
    ListReceivers: GET "/tenants/{tenant}/alertmanager/receivers" => "list-alertmanager-receivers" in alertmanager;
    GetReceiver: GET "/tenants/{tenant}/alertmanager/receivers/{name}" => "get-alertmanager-receiver" in alertmanager;
    PutReceiver: PUT "/tenants/{tenant}/alertmanager/receivers/{name}" => "put-alertmanager-receiver" in alertmanager;
    DeleteReceiver: DELETE "/tenants/{tenant}/alertmanager/receivers/{name}" => "delete-alertmanager-receiver" in alertmanager;
    GetAlertmanagerRoutes: GET "/tenants/{tenant}/alertmanager/routes" => "get-alertmanager-routes" in alertmanager;
    PutAlertmanagerRoutes: PUT "/tenants/{tenant}/alertmanager/routes" => "put-alertmanager-routes" in alertmanager;
    GetAlertmanagerGlobal: GET "/tenants/{tenant}/alertmanager/global" => "get-alertmanager-global" in alertmanager;
    PutAlertmanagerGlobal: PUT "/tenants/{tenant}/alertmanager/global" => "put-alertmanager-global" in alertmanager;
    // managed secrets
    CreateSecret: POST "/tenants/{tenant}/secrets" => "create-secret" in secrets;
    ListSecrets: GET "/tenants/{tenant}/secrets" => "list-secrets" in secrets;
    GetSecret: GET "/tenants/{tenant}/secrets/{name}" => "get-secret" in secrets;
    UpdateSecret: PATCH "/tenants/{tenant}/secrets/{name}" => "update-secret" in secrets;
    DeleteSecret: DELETE "/tenants/{tenant}/secrets/{name}" => "delete-secret" in secrets;
}

/// Routes Kupe documents that this server does not serve yet. They answer 501
/// `NotImplemented`, never 404: Kupe's Terraform provider reads a 404 as "deleted elsewhere" and
/// would drop the resource from its state. One function (`not-served`) answers them all; a route
/// moves from here into the table above when it is built.
pub const NOT_SERVED: &[(Method, &str)] = &[
    (Method::GET, "/tenants/{tenant}/invoices"),
    (Method::GET, "/tenants/{tenant}/invoices/{name}"),
];

/// The answer to a route in [`NOT_SERVED`].
pub fn not_served() -> ApiError {
    ApiError::new(
        crate::http::Code::NotImplemented,
        "This Kupe route is not served by this server yet",
    )
}

/// What a path holds: the routes served on it and the methods documented but not served yet.
#[derive(Debug, Default)]
struct PathEntry {
    routes: Vec<Route>,
    not_served: Vec<Method>,
}

/// Finds the route of a method and path (with [`BASE_PATH`]), as API Gateway does.
#[derive(Debug)]
pub struct Router {
    paths: matchit::Router<PathEntry>,
}

impl Default for Router {
    fn default() -> Self {
        let mut by_path: HashMap<&str, PathEntry> = HashMap::new();
        for route in Route::ALL {
            by_path
                .entry(route.resource())
                .or_default()
                .routes
                .push(route);
        }
        for (method, path) in NOT_SERVED {
            by_path
                .entry(path)
                .or_default()
                .not_served
                .push(method.clone());
        }
        let mut paths = matchit::Router::new();
        for (path, entry) in by_path {
            // The tables hold distinct, well-formed templates: a unit test inserts them all.
            let _ = paths.insert(format!("{BASE_PATH}{path}"), entry);
        }
        Router { paths }
    }
}

impl Router {
    /// The methods a path answers (served or documented as not served yet), for the `Allow`
    /// header of a 405 (RFC 9110 §15.5.6); empty for an unknown path.
    pub fn allowed(&self, path: &str) -> Vec<Method> {
        let Ok(found) = self.paths.at(path.trim_end_matches('/')) else {
            return Vec::new();
        };
        let mut methods: Vec<Method> = found
            .value
            .routes
            .iter()
            .map(|r| r.method())
            .chain(found.value.not_served.iter().cloned())
            .collect();
        methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        methods.dedup();
        methods
    }

    /// The route of `method` on `path`, with the path's parameters as sent (not decoded).
    ///
    /// # Errors
    /// 404 for an unknown path, 405 for a known path with another method, 501 for a route in
    /// [`NOT_SERVED`].
    pub fn find(
        &self,
        method: &Method,
        path: &str,
    ) -> Result<(Route, HashMap<String, String>), ApiError> {
        let found = self
            .paths
            .at(path.trim_end_matches('/'))
            .map_err(|_| ApiError::not_found("No such route"))?;
        if found.value.not_served.contains(method) {
            return Err(not_served());
        }
        let route = found
            .value
            .routes
            .iter()
            .find(|r| r.method() == method)
            .ok_or_else(|| {
                ApiError::new(crate::http::Code::MethodNotAllowed, "Method not allowed")
            })?;
        let params = found
            .params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok((*route, params))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_router_finds_every_route_and_tells_404_from_405() {
        let router = Router::default();
        for route in Route::ALL {
            let path = format!("{BASE_PATH}{}", route.resource())
                .replace("{tenant}", "acme")
                .replace("{name}", "prod")
                .replace("{id}", "ak-00000000")
                .replace("{email}", "dev%40acme.com");
            let (found, params) = router.find(&route.method(), &path).unwrap();
            assert_eq!(found, route);
            let tenant_scoped = route.resource().starts_with("/tenants/{tenant}");
            assert_eq!(params.contains_key("tenant"), tenant_scoped, "{route:?}");
            assert_eq!(route.auth() == Auth::Public, !tenant_scoped, "{route:?}");
        }
        let missing = router.find(&Method::GET, "/api/v1/nope").unwrap_err();
        assert_eq!(missing.status().as_u16(), 404);
        let wrong = router
            .find(&Method::PUT, "/api/v1/tenants/acme/clusters")
            .unwrap_err();
        assert_eq!(wrong.status().as_u16(), 405);
    }

    #[test]
    fn routes_not_served_yet_answer_501_and_are_not_in_the_table() {
        let router = Router::default();
        for (method, resource) in NOT_SERVED {
            assert!(
                !Route::ALL
                    .iter()
                    .any(|r| r.method() == method && r.resource() == *resource),
                "{method} {resource} is served and listed as not served"
            );
            let path = format!("{BASE_PATH}{resource}")
                .replace("{tenant}", "acme")
                .replace("{name}", "2026-03");
            let refused = router.find(method, &path).unwrap_err();
            assert_eq!(refused.status().as_u16(), 501, "{method} {path}");
            assert_eq!(refused.code().as_str(), "NotImplemented");
        }
        // Another method on a not-served path is still 405, an unknown path still 404.
        let wrong = router
            .find(&Method::POST, "/api/v1/tenants/acme/invoices")
            .unwrap_err();
        assert_eq!(wrong.status().as_u16(), 405);
    }
}

//! The route table, one line per route (method, resource path, the function that serves it,
//! its request type), and [`serve`]: read the event at the edge, parse the route's request, run
//! its use case, render the outcome. Each function's `main.rs` names its request type; the local
//! stack and the tests find routes through [`Router`].
//!
//! To add a route: a line in the table, its request type in `api::<family>`, its parser in
//! `routes::<family>`.

pub mod apikeys;
pub mod clusters;

use crate::{
    api::UseCase,
    config::ApiContext,
    http::{render, ApiError, Incoming},
};
use lambda_http::{http::Method, Body, Request, Response};
use std::collections::HashMap;

/// The stage prefix every resource is served under.
pub const BASE_PATH: &str = "/api/v1";

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

macro_rules! routes {
    ($($variant:ident: $method:ident $path:literal => $function:literal in $family:ident;)*) => {
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
    CreateApiKey: POST "/tenants/{tenant}/apikeys" => "create-apikey" in apikeys;
    ListApiKeys: GET "/tenants/{tenant}/apikeys" => "list-apikeys" in apikeys;
    DeleteApiKey: DELETE "/tenants/{tenant}/apikeys/{id}" => "delete-apikey" in apikeys;
}

/// Finds the route of a method and path (with [`BASE_PATH`]), as API Gateway does.
#[derive(Debug)]
pub struct Router {
    paths: matchit::Router<Vec<Route>>,
}

impl Default for Router {
    fn default() -> Self {
        let mut by_path: HashMap<&str, Vec<Route>> = HashMap::new();
        for route in Route::ALL {
            by_path.entry(route.resource()).or_default().push(route);
        }
        let mut paths = matchit::Router::new();
        for (path, routes) in by_path {
            // The table holds distinct, well-formed templates: a unit test inserts them all.
            let _ = paths.insert(format!("{BASE_PATH}{path}"), routes);
        }
        Router { paths }
    }
}

impl Router {
    /// The route of `method` on `path`, with the path's parameters as sent (not decoded).
    ///
    /// # Errors
    /// 404 for an unknown path, 405 for a known path with another method.
    pub fn find(
        &self,
        method: &Method,
        path: &str,
    ) -> Result<(Route, HashMap<String, String>), ApiError> {
        let found = self
            .paths
            .at(path.trim_end_matches('/'))
            .map_err(|_| ApiError::not_found("No such route"))?;
        let route = found
            .value
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
                .replace("{id}", "ak-00000000");
            let (found, params) = router.find(&route.method(), &path).unwrap();
            assert_eq!(found, route);
            assert_eq!(params["tenant"], "acme");
        }
        let missing = router.find(&Method::GET, "/api/v1/nope").unwrap_err();
        assert_eq!(missing.status().as_u16(), 404);
        let wrong = router
            .find(&Method::PUT, "/api/v1/tenants/acme/clusters")
            .unwrap_err();
        assert_eq!(wrong.status().as_u16(), 405);
    }
}

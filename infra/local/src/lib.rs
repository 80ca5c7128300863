//! The route table of the API and a router that turns a plain HTTP request into the event API
//! Gateway (REST, proxy integration) would send, then calls the same handler the route's Lambda
//! runs. The local stack serves HTTP through it, and the integration tests call it directly.

pub mod emulator;
pub mod ratelimit;
pub mod stack;

use kupe_shared::{http::render, http::ApiError, Ctx};
use lambda_http::{
    aws_lambda_events::{apigw::ApiGatewayProxyRequest, query_map::QueryMap},
    http::{HeaderMap, Method},
    request::LambdaRequest,
    Body, Request, Response,
};
use std::collections::HashMap;

/// Every route of the API: one Lambda each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /tenants/{tenant}/clusters`
    CreateCluster,
    /// `GET /tenants/{tenant}/clusters`
    ListClusters,
    /// `GET /tenants/{tenant}/clusters/{name}`
    GetCluster,
    /// `PATCH /tenants/{tenant}/clusters/{name}`
    UpdateCluster,
    /// `DELETE /tenants/{tenant}/clusters/{name}`
    DeleteCluster,
    /// `GET /tenants/{tenant}/clusters/{name}/kubeconfig`
    GetKubeconfig,
    /// `POST /tenants/{tenant}/apikeys`
    CreateApiKey,
    /// `GET /tenants/{tenant}/apikeys`
    ListApiKeys,
    /// `DELETE /tenants/{tenant}/apikeys/{id}`
    DeleteApiKey,
}

/// The stage prefix every resource is served under.
pub const BASE_PATH: &str = "/api/v1";

impl Route {
    /// All routes.
    pub const ALL: [Route; 9] = [
        Route::CreateCluster,
        Route::ListClusters,
        Route::GetCluster,
        Route::UpdateCluster,
        Route::DeleteCluster,
        Route::GetKubeconfig,
        Route::CreateApiKey,
        Route::ListApiKeys,
        Route::DeleteApiKey,
    ];

    /// HTTP method.
    pub fn method(self) -> Method {
        match self {
            Route::CreateCluster | Route::CreateApiKey => Method::POST,
            Route::ListApiKeys => Method::GET,
            Route::DeleteApiKey => Method::DELETE,
            Route::ListClusters | Route::GetCluster | Route::GetKubeconfig => Method::GET,
            Route::UpdateCluster => Method::PATCH,
            Route::DeleteCluster => Method::DELETE,
        }
    }

    /// API Gateway resource path, below [`BASE_PATH`].
    pub fn resource(self) -> &'static str {
        match self {
            Route::CreateCluster | Route::ListClusters => "/tenants/{tenant}/clusters",
            Route::GetCluster | Route::UpdateCluster | Route::DeleteCluster => {
                "/tenants/{tenant}/clusters/{name}"
            }
            Route::GetKubeconfig => "/tenants/{tenant}/clusters/{name}/kubeconfig",
            Route::CreateApiKey | Route::ListApiKeys => "/tenants/{tenant}/apikeys",
            Route::DeleteApiKey => "/tenants/{tenant}/apikeys/{id}",
        }
    }

    /// The function crate (and SAM function) serving this route.
    pub fn function(self) -> &'static str {
        match self {
            Route::CreateCluster => "create-cluster",
            Route::ListClusters => "list-clusters",
            Route::GetCluster => "get-cluster",
            Route::UpdateCluster => "update-cluster",
            Route::DeleteCluster => "delete-cluster",
            Route::GetKubeconfig => "get-kubeconfig",
            Route::CreateApiKey => "create-apikey",
            Route::ListApiKeys => "list-apikeys",
            Route::DeleteApiKey => "delete-apikey",
        }
    }

    /// Calls the route's handler.
    pub async fn call(self, ctx: &Ctx, req: Request) -> Response<Body> {
        match self {
            Route::CreateCluster => create_cluster::handler(ctx, req).await,
            Route::ListClusters => list_clusters::handler(ctx, req).await,
            Route::GetCluster => get_cluster::handler(ctx, req).await,
            Route::UpdateCluster => update_cluster::handler(ctx, req).await,
            Route::DeleteCluster => delete_cluster::handler(ctx, req).await,
            Route::GetKubeconfig => get_kubeconfig::handler(ctx, req).await,
            Route::CreateApiKey => create_apikey::handler(ctx, req).await,
            Route::ListApiKeys => list_apikeys::handler(ctx, req).await,
            Route::DeleteApiKey => delete_apikey::handler(ctx, req).await,
        }
    }
}

/// Matches a path (with [`BASE_PATH`]) against a resource template; returns its parameters.
fn match_resource(template: &str, path: &str) -> Option<HashMap<String, String>> {
    let path = path.strip_prefix(BASE_PATH)?;
    let want: Vec<&str> = template.trim_matches('/').split('/').collect();
    let got: Vec<&str> = path
        .trim_end_matches('/')
        .trim_start_matches('/')
        .split('/')
        .collect();
    if want.len() != got.len() {
        return None;
    }
    let mut params = HashMap::new();
    for (w, g) in want.iter().zip(&got) {
        if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
            if g.is_empty() {
                return None;
            }
            params.insert(name.to_string(), percent_decode(g));
        } else if w != g {
            return None;
        }
    }
    Some(params)
}

/// Decodes `%XX` escapes (invalid ones are kept as they are).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A plain HTTP request, as the local server or a test has it.
#[derive(Debug, Clone, Default)]
pub struct PlainRequest {
    /// Method.
    pub method: Method,
    /// Path, with [`BASE_PATH`], without query.
    pub path: String,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Client address.
    pub source_ip: String,
}

/// Builds the REST API proxy event API Gateway would send for `req` on `route`.
pub fn api_gateway_event(
    route: Route,
    req: &PlainRequest,
    params: HashMap<String, String>,
) -> ApiGatewayProxyRequest {
    let mut ev = ApiGatewayProxyRequest::default();
    ev.resource = Some(route.resource().to_string());
    ev.path = Some(req.path.clone());
    ev.http_method = req.method.clone();
    ev.headers = req.headers.clone();
    let mut single = HashMap::new();
    let mut multi: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in &req.query {
        single.insert(k.clone(), v.clone());
        multi.entry(k.clone()).or_default().push(v.clone());
    }
    ev.query_string_parameters = QueryMap::from(single);
    ev.multi_value_query_string_parameters = QueryMap::from(multi);
    ev.path_parameters = params;
    let mut ctx = ev.request_context.clone();
    ctx.request_id = Some(uuid::Uuid::new_v4().to_string());
    ctx.resource_path = Some(route.resource().to_string());
    ctx.http_method = req.method.clone();
    ctx.identity.source_ip = Some(req.source_ip.clone());
    ev.request_context = ctx;
    match std::str::from_utf8(&req.body) {
        _ if req.body.is_empty() => ev.body = None,
        Ok(text) => ev.body = Some(text.to_string()),
        Err(_) => {
            use base64::Engine as _;
            ev.body = Some(base64::engine::general_purpose::STANDARD.encode(&req.body));
            ev.is_base64_encoded = true;
        }
    }
    ev
}

/// Finds the route for a request and calls its handler with the API Gateway event; unknown
/// paths get 404 and known paths with another method 405, as `{"error": ...}`.
pub async fn dispatch(ctx: &Ctx, req: PlainRequest) -> Response<Body> {
    let mut path_matched = false;
    for route in Route::ALL {
        if let Some(params) = match_resource(route.resource(), &req.path) {
            path_matched = true;
            if route.method() == req.method {
                let event = api_gateway_event(route, &req, params);
                let request: Request = LambdaRequest::ApiGatewayV1(event).into();
                return route.call(ctx, request).await;
            }
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    if path_matched {
        return render(Err(ApiError::MethodNotAllowed), &id);
    }
    render(Err(ApiError::NotFound("No such route".into())), &id)
}

/// [`dispatch`] behind the per-IP request limit: what the local server serves (API Gateway
/// with its WAF rule, on AWS).
pub async fn dispatch_limited(
    limiter: &ratelimit::RateLimiter,
    ctx: &Ctx,
    req: PlainRequest,
) -> Response<Body> {
    if let Err(wait) = limiter.check(&req.source_ip, std::time::Instant::now()) {
        return render(
            Err(ApiError::TooManyRequests(wait)),
            &uuid::Uuid::new_v4().to_string(),
        );
    }
    dispatch(ctx, req).await
}

//! The local stack: the emulated API Gateway (a plain HTTP request becomes the REST proxy event
//! API Gateway would send, handed to the same route the Lambda serves), the emulated AWS
//! resources and their event-source players ([`stack`]), the emulator process ([`emulator`]),
//! and the per-IP request limit WAF applies on AWS ([`ratelimit`]).

pub mod emulator;
pub mod players;
pub mod ratelimit;
pub mod stack;

pub use kupe_shared::routes::{Route, BASE_PATH, NOT_SERVED};
use kupe_shared::{
    http::{render, ApiError},
    routes::Router,
    ApiContext,
};
use lambda_http::{
    aws_lambda_events::{apigw::ApiGatewayProxyRequest, query_map::QueryMap},
    http::{HeaderMap, Method},
    request::LambdaRequest,
    Body, Request, Response,
};
use std::{collections::HashMap, sync::OnceLock};

/// Decodes `%XX` escapes, as API Gateway does for path and query parameters (invalid escapes
/// are kept as they are).
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
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
    ev.resource = Some(format!("{BASE_PATH}{}", route.resource()));
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
    ctx.resource_path = ev.resource.clone();
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

/// Finds the route for a request and serves it with the API Gateway event; unknown paths get
/// 404 and known paths with another method 405.
pub async fn dispatch(ctx: &ApiContext, req: PlainRequest) -> Response<Body> {
    static ROUTER: OnceLock<Router> = OnceLock::new();
    let router = ROUTER.get_or_init(Router::default);
    match router.find(&req.method, &req.path) {
        Err(e) => {
            let status = e.status();
            let mut resp = render(Err(e), &uuid::Uuid::new_v4().to_string());
            if status == lambda_http::http::StatusCode::METHOD_NOT_ALLOWED {
                let allow = router
                    .allowed(&req.path)
                    .iter()
                    .map(lambda_http::http::Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                if let Ok(v) = lambda_http::http::HeaderValue::from_str(&allow) {
                    resp.headers_mut()
                        .insert(lambda_http::http::header::ALLOW, v);
                }
            }
            resp
        }
        Ok((route, params)) => {
            let params = params
                .into_iter()
                .map(|(k, v)| (k, percent_decode(&v)))
                .collect();
            let event = api_gateway_event(route, &req, params);
            let request: Request = LambdaRequest::ApiGatewayV1(event).into();
            route.call(ctx, request).await
        }
    }
}

/// [`dispatch`] behind the per-IP request limit: what the local server serves (API Gateway
/// with its WAF rule, on AWS).
pub async fn dispatch_limited(
    limiter: &ratelimit::RateLimiter,
    ctx: &ApiContext,
    req: PlainRequest,
) -> Response<Body> {
    if let Err(wait) = limiter.check(&req.source_ip, std::time::Instant::now()) {
        return render(
            Err(ApiError::rate_limited(wait)),
            &uuid::Uuid::new_v4().to_string(),
        );
    }
    dispatch(ctx, req).await
}

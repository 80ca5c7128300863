//! The edge: everything a route needs from the raw API Gateway event, read once into plain
//! values. Nothing past this module sees the `Request`. A problem found here (a malformed key,
//! header or body) is kept as a deferred error, a [`Parsed`] value, so that each use case reports
//! problems in the API's order: 401, then 403, then 400, 404, 409, 412.

use super::ApiError;
use crate::domain::{
    apikey::{RawKey, INVALID_KEY},
    etag::Precondition,
};
use lambda_http::{request::RequestContext, Body, Request, RequestExt};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;

/// A value parsed at the edge, or the error to report when its turn comes.
pub type Parsed<T> = Result<T, ApiError>;

/// Largest request body accepted, after base64 decoding.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The media types a route accepts for its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// `application/json`.
    Json,
    /// `application/json` or `application/merge-patch+json`.
    MergePatch,
}

/// Who is calling: the presented key (or why it is unusable), the `{tenant}` of the path as
/// sent, and the client's address.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The bearer key, or the 401 to answer.
    pub key: Parsed<RawKey>,
    /// The path's tenant as sent: compared with the key's tenant before it is validated.
    pub tenant: String,
    /// The client IP API Gateway saw (`unknown` when absent).
    pub ip: String,
}

/// One request, read from the event.
#[derive(Debug, Clone)]
pub struct Incoming {
    request_id: String,
    caller: Caller,
    params: HashMap<String, String>,
    query: HashMap<String, String>,
    if_match: Option<Result<String, ()>>,
    if_none_match: Option<Result<String, ()>>,
    content_type: Option<Result<String, ()>>,
    body: Vec<u8>,
}

fn header(req: &Request, name: &str) -> Option<Result<String, ()>> {
    req.headers()
        .get(name)
        .map(|v| v.to_str().map(str::to_string).map_err(|_| ()))
}

fn bearer(value: Option<Result<String, ()>>) -> Parsed<RawKey> {
    let malformed = || ApiError::unauthenticated("Malformed Authorization header");
    let value = value
        .ok_or_else(|| {
            ApiError::unauthenticated("Missing API key: send Authorization: Bearer <key>")
        })?
        .map_err(|()| malformed())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(malformed());
    }
    RawKey::parse(token.trim()).ok_or_else(|| ApiError::unauthenticated(INVALID_KEY))
}

/// Parameters of `template` (`/tenants/{tenant}/…`) found in `path` (`/api/v1/tenants/a/…`),
/// for events without `pathParameters`: the segments are matched from the end.
fn params_from_path(template: &str, path: &str) -> HashMap<String, String> {
    let want: Vec<&str> = template.trim_matches('/').split('/').collect();
    let got: Vec<&str> = path.trim_matches('/').split('/').collect();
    let skip = got.len().saturating_sub(want.len());
    want.iter()
        .zip(got.iter().skip(skip))
        .filter_map(|(w, g)| {
            let name = w.strip_prefix('{')?.strip_suffix('}')?;
            let value = percent_encoding::percent_decode_str(g).decode_utf8_lossy();
            Some((name.to_string(), value.into_owned()))
        })
        .collect()
}

impl Incoming {
    /// Reads the request of a route whose resource path is `template`.
    pub fn read(req: Request, template: &str) -> Incoming {
        let context = req.request_context_ref();
        let (request_id, ip) = match context {
            Some(RequestContext::ApiGatewayV1(c)) => {
                (c.request_id.clone(), c.identity.source_ip.clone())
            }
            Some(RequestContext::ApiGatewayV2(c)) => {
                (c.request_id.clone(), c.http.source_ip.clone())
            }
            _ => (None, None),
        };
        let params = match req.path_parameters_ref() {
            Some(p) => p
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            None => params_from_path(template, req.uri().path()),
        };
        let query = req
            .query_string_parameters_ref()
            .map(|q| {
                q.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let caller = Caller {
            key: bearer(header(&req, "authorization")),
            tenant: params.get("tenant").cloned().unwrap_or_default(),
            ip: ip
                .filter(|ip| !ip.is_empty() && ip.len() <= 64)
                .unwrap_or_else(|| "unknown".into()),
        };
        let if_match = header(&req, "if-match");
        let if_none_match = header(&req, "if-none-match");
        let content_type = header(&req, "content-type");
        let body = match req.into_body() {
            Body::Text(t) => t.into_bytes(),
            Body::Binary(b) => b,
            _ => Vec::new(),
        };
        Incoming {
            request_id: request_id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            caller,
            params,
            query,
            if_match,
            if_none_match,
            content_type,
            body,
        }
    }

    /// API Gateway's request id (a fresh one when there is none): `X-Request-Id`, and the write
    /// token that tells this request's own write from someone else's.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Who is calling.
    pub fn caller(&self) -> Caller {
        self.caller.clone()
    }

    /// A path parameter as sent (empty when absent).
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map_or("", String::as_str)
    }

    /// A query-string parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// `If-Match`, parsed.
    pub fn if_match(&self) -> Parsed<Option<Precondition>> {
        precondition("If-Match", self.if_match.as_ref())
    }

    /// `If-None-Match`, parsed.
    pub fn if_none_match(&self) -> Parsed<Option<Precondition>> {
        precondition("If-None-Match", self.if_none_match.as_ref())
    }

    /// The body as `T`: checks `Content-Type`, the 64 KiB limit and JSON syntax (a key repeated in
    /// one object is refused, see [`strict_json`]), that the body is an object, then deserializes
    /// it, with errors that name the field.
    pub fn json<T: DeserializeOwned>(&self, media: Media) -> Parsed<T> {
        let ctype = match &self.content_type {
            None => "",
            Some(Ok(c)) => c.as_str(),
            Some(Err(())) => {
                return Err(ApiError::invalid("header content-type is not valid text"))
            }
        };
        let essence = ctype
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let accepted = essence == "application/json"
            || (media == Media::MergePatch && essence == "application/merge-patch+json");
        if !accepted {
            let want = match media {
                Media::Json => "application/json",
                Media::MergePatch => "application/json or application/merge-patch+json",
            };
            return Err(ApiError::invalid(format!("Content-Type must be {want}")));
        }
        if self.body.len() > MAX_BODY_BYTES {
            return Err(ApiError::invalid(format!(
                "request body exceeds {MAX_BODY_BYTES} bytes"
            )));
        }
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::invalid("request body is required"));
        }
        let value = strict_json(&self.body)?;
        if !value.is_object() {
            return Err(ApiError::invalid("request body must be a JSON object"));
        }
        decode(value)
    }
}

/// Parses `body` as JSON, refusing an object that repeats a key, at any depth: 400 naming the
/// key by its JSON path (`resources.cpu`, `alerts.routes[0].to`). JSON parsers disagree on which
/// of two `name`s wins (serde keeps the last, others the first), so a body that says both is
/// ambiguous, and a proxy that read the other one could have approved something else.
///
/// # Errors
/// 400 for malformed JSON or a repeated key.
pub fn strict_json(body: &[u8]) -> Parsed<Value> {
    let duplicate = std::cell::RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = serde::de::DeserializeSeed::deserialize(
        Strict {
            path: String::new(),
            duplicate: &duplicate,
        },
        &mut de,
    )
    .and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| match duplicate.take() {
        Some(path) => ApiError::invalid(format!("duplicate field {path}")).at(path),
        None => ApiError::invalid(format!("malformed JSON: {e}")),
    })
}

/// A [`Value`] being parsed at `path`; the path of a repeated key goes to `duplicate`.
struct Strict<'a> {
    path: String,
    duplicate: &'a std::cell::RefCell<Option<String>>,
}

impl Strict<'_> {
    fn at(&self, segment: std::fmt::Arguments<'_>, dot: bool) -> Self {
        let path = if dot && !self.path.is_empty() {
            format!("{}.{segment}", self.path)
        } else {
            format!("{}{segment}", self.path)
        };
        Strict {
            path,
            duplicate: self.duplicate,
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Strict<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) =
            seq.next_element_seed(self.at(format_args!("[{}]", items.len()), false))?
        {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let inner = self.at(format_args!("{key}"), true);
            if object.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some(inner.path);
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate key {key}"
                )));
            }
            let value = map.next_value_seed(inner)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// A JSON object in a request body (`alerts`): anything else is refused as "must be an object".
#[derive(Debug, Clone, PartialEq)]
pub struct JsonObject(pub serde_json::Map<String, Value>);

impl<'de> serde::Deserialize<'de> for JsonObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = JsonObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<JsonObject, A::Error> {
                let map = serde::Deserialize::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(JsonObject(map))
            }
        }
        d.deserialize_map(Visitor)
    }
}

/// For merge-patch fields (`#[serde(default, deserialize_with = "present")]`): a field that is
/// present deserializes to `Some`, so `Option<Option<T>>` tells an absent field (`None`) from an
/// explicit `null` (`Some(None)`).
///
/// # Errors
/// What `T`'s deserializer returns.
pub fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

fn precondition(
    name: &'static str,
    raw: Option<&Result<String, ()>>,
) -> Parsed<Option<Precondition>> {
    match raw {
        None => Ok(None),
        Some(Err(())) => Err(ApiError::invalid(format!(
            "header {name} is not valid text"
        ))),
        Some(Ok(v)) => Precondition::parse(name, v)
            .map(Some)
            .map_err(|e| ApiError::invalid(e.to_string())),
    }
}

/// Deserializes a JSON value into `T`, turning serde's message into one that names the field by
/// its JSON path (`resources.cpu`): `unknown field x`, `x is required`, `x must be <expected>`, or
/// `x: <why>` for a value the type refused.
pub fn decode<T: DeserializeOwned>(value: Value) -> Parsed<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        describe(&path, &e.into_inner().to_string())
    })
}

fn describe(path: &str, serde_message: &str) -> ApiError {
    let join = |name: &str| {
        if path == "." || path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    let quoted = |s: &str| s.split('`').nth(1).unwrap_or_default().to_string();
    if serde_message.starts_with("unknown field ") {
        // the path already ends with the unknown key
        return ApiError::invalid(format!("unknown field {path}")).at(path);
    }
    if let Some(rest) = serde_message.strip_prefix("missing field ") {
        let field = join(&quoted(rest));
        return ApiError::invalid(format!("{field} is required")).at(field);
    }
    let field = if path == "." { "body" } else { path };
    for prefix in ["invalid type: ", "invalid value: ", "invalid length "] {
        if serde_message.starts_with(prefix) {
            if let Some((_, expected)) = serde_message.rsplit_once(", expected ") {
                return ApiError::invalid(format!("{field} must be {expected}")).at(field);
            }
        }
    }
    ApiError::invalid(format!("{field}: {serde_message}")).at(field)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase", expecting = "an object")]
    #[allow(dead_code)]
    struct Inner {
        cpu: Option<u32>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        resources: Option<Inner>,
    }

    fn error(v: Value) -> ApiError {
        decode::<Outer>(v).unwrap_err()
    }

    #[test]
    fn serde_errors_become_messages_that_name_the_field() {
        let e = error(json!({"name": "a", "extra": 1}));
        assert_eq!(e.to_string(), "unknown field extra");
        assert_eq!(e.field(), Some("extra"));
        let e = error(json!({"name": "a", "resources": {"gpu": 1}}));
        assert_eq!(e.to_string(), "unknown field resources.gpu");
        assert_eq!(error(json!({})).to_string(), "name is required");
        assert_eq!(
            error(json!({"name": 1})).to_string(),
            "name must be a string"
        );
        let e = error(json!({"name": "a", "resources": "big"}));
        assert_eq!(e.to_string(), "resources must be an object");
        let e = error(json!({"name": "a", "resources": {"cpu": "x"}}));
        assert_eq!(e.field(), Some("resources.cpu"));
    }

    #[test]
    fn a_key_repeated_at_any_depth_is_refused_by_its_path() {
        let dup = |body: &str| strict_json(body.as_bytes()).unwrap_err();
        let e = dup(r#"{"name":"a","name":"b"}"#);
        assert_eq!(e.to_string(), "duplicate field name");
        assert_eq!(e.field(), Some("name"));
        let e = dup(r#"{"name":"a","resources":{"cpu":"1","memory":"1Gi","cpu":"2"}}"#);
        assert_eq!(e.field(), Some("resources.cpu"));
        let e = dup(r#"{"alerts":{"routes":[{"to":"a"},{"to":"b","to":"c"}]}}"#);
        assert_eq!(e.field(), Some("alerts.routes[1].to"));
        let e = dup(r#"[{"a":1,"a":1}]"#);
        assert_eq!(e.field(), Some("[0].a"));
        // the same key in sibling objects is fine, and the value is what serde_json would give
        let body = r#"{"a":{"x":1},"b":{"x":[1,-2,2.5,true,null,"s"]},"c":{}}"#;
        assert_eq!(
            strict_json(body.as_bytes()).unwrap(),
            serde_json::from_str::<Value>(body).unwrap()
        );
        let e = strict_json(b"{\"a\":1} x").unwrap_err();
        assert!(e.to_string().starts_with("malformed JSON"), "{e}");
        assert_eq!(e.field(), None);
        let e = strict_json(b"{\"a\":").unwrap_err();
        assert!(e.to_string().starts_with("malformed JSON"), "{e}");
    }

    #[test]
    fn events_without_path_parameters_take_them_from_the_path() {
        let p = params_from_path(
            "/tenants/{tenant}/members/{email}",
            "/prod/api/v1/tenants/acme/members/a%40b.example",
        );
        assert_eq!(p["tenant"], "acme");
        assert_eq!(p["email"], "a@b.example");
    }

    #[test]
    fn the_bearer_key_is_checked_for_shape_only() {
        assert!(bearer(None).unwrap_err().to_string().starts_with("Missing"));
        for bad in ["Basic abc", "Bearer", "Bearer nope"] {
            assert_eq!(
                bearer(Some(Ok(bad.into()))).unwrap_err().status(),
                lambda_http::http::StatusCode::UNAUTHORIZED,
                "{bad}"
            );
        }
    }
}

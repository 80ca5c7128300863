//! One isolated world per test: a fresh table, a tenant and its keys, and a request builder that
//! goes through the same router (API Gateway event → route) the local stack uses.

use crate::{calls::CallCounter, emulator::sdk_config};
use kupe_local::{dispatch, PlainRequest};
use kupe_shared::{admin, config::AuthBackoff, store::Store, ApiContext};
use lambda_http::{
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode},
    Body,
};
use serde_json::Value;
use std::collections::HashMap;

/// A response as a test sees it.
#[derive(Debug)]
pub struct TestResponse {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body parsed as JSON (`Null` when empty).
    pub body: Value,
}

impl TestResponse {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The `ETag`.
    pub fn etag(&self) -> String {
        self.header("etag").expect("ETag header").to_string()
    }
    /// The error message of an error body.
    pub fn error(&self) -> &str {
        self.body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {:?}", self.body))
    }
}

/// One isolated world: a fresh table, a tenant, and its keys.
pub struct TestApp {
    /// Context the handlers run with (its client counts calls).
    pub ctx: ApiContext,
    /// The call counter on that client.
    pub calls: CallCounter,
    /// Table name.
    pub table: String,
    /// The tenant.
    pub tenant: String,
    /// An admin key of the tenant.
    pub admin: String,
    /// A readonly key of the tenant.
    pub readonly: String,
}

/// A short random lowercase suffix.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

impl TestApp {
    /// A fresh table with a `pro` tenant and an admin and a readonly key.
    pub async fn spawn() -> TestApp {
        Self::spawn_with_plan("pro").await
    }

    /// A fresh table with a tenant on `plan`.
    pub async fn spawn_with_plan(plan: &str) -> TestApp {
        let table = unique("kupe-test");
        let client = aws_sdk_dynamodb::Client::new(&sdk_config());
        kupe_shared::store::schema::create_table(&client, &table)
            .await
            .expect("create table");
        Self::on_table(table, plan).await
    }

    /// A tenant on `plan`, with an admin and a readonly key, in an existing table; the
    /// handlers' client counts its calls (from zero once this returns).
    pub async fn on_table(table: String, plan: &str) -> TestApp {
        let calls = CallCounter::default();
        let conf = aws_sdk_dynamodb::config::Builder::from(&sdk_config())
            .interceptor(calls.clone())
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(conf);
        let ctx = ApiContext::new(Store::new(client, table.clone()), AuthBackoff::default());
        let tenant = unique("acme");
        admin::create_tenant(&ctx.store, &tenant, Some(plan))
            .await
            .expect("tenant");
        let mut app = TestApp {
            ctx,
            calls,
            table,
            tenant,
            admin: String::new(),
            readonly: String::new(),
        };
        app.admin = app.key(&app.tenant.clone(), "admin", None).await;
        app.readonly = app.key(&app.tenant.clone(), "readonly", None).await;
        app.calls.reset();
        app
    }

    /// Creates a tenant in this table.
    pub async fn tenant(&self, plan: &str) -> String {
        let name = unique("other");
        admin::create_tenant(&self.ctx.store, &name, Some(plan))
            .await
            .expect("tenant");
        name
    }

    /// Issues a key.
    pub async fn key(&self, tenant: &str, role: &str, expires_at: Option<&str>) -> String {
        let new = admin::NewKey {
            tenant,
            role,
            display_name: "test",
            expires_at,
            created_by: "tests",
            fixed_key: None,
        };
        admin::create_api_key(&self.ctx.store, &new)
            .await
            .expect("key")
            .key
            .expose()
            .to_string()
    }

    /// The collection path of this tenant's clusters.
    pub fn clusters(&self) -> String {
        format!("/api/v1/tenants/{}/clusters", self.tenant)
    }

    /// The path of one cluster.
    pub fn cluster(&self, name: &str) -> String {
        format!("/api/v1/tenants/{}/clusters/{name}", self.tenant)
    }

    /// Starts a request with the admin key.
    pub fn req(&self, method: Method, path: &str) -> Req<'_> {
        Req {
            app: self,
            inner: PlainRequest {
                method,
                path: path.to_string(),
                source_ip: next_ip(),
                ..Default::default()
            },
            key: Some(self.admin.clone()),
        }
    }

    /// Creates a cluster with defaults and the given name; panics unless 201.
    pub async fn create(&self, name: &str) -> TestResponse {
        let resp = self
            .req(Method::POST, &self.clusters())
            .json(serde_json::json!({"name": name, "displayName": format!("Cluster {name}"), "type": "shared"}))
            .send()
            .await;
        assert_eq!(resp.status, StatusCode::CREATED, "{:?}", resp.body);
        resp
    }

    /// Every item in the table (a Scan: test-only), to prove a rejected request wrote nothing.
    pub async fn items(&self) -> Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        let out = self
            .ctx
            .store
            .client()
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .send()
            .await
            .expect("scan");
        let mut items = out.items.unwrap_or_default();
        // Bookkeeping, not data a request changes: lastUsedAt (refreshed by successful
        // requests) and the per-IP authentication-failure counters (written by 401s).
        items.retain(|i| {
            !i.get("pk")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|p| p.starts_with("AUTHFAIL#"))
        });
        for item in &mut items {
            item.remove("lastUsedAt");
        }
        items.sort_by_key(|i| format!("{:?}{:?}", i.get("pk"), i.get("sk")));
        items
    }

    /// Arms a fault in the emulator, scoped to this test's table.
    pub async fn arm_fault(&self, target: &str, action: &str) {
        crate::emulator::arm_fault(target, action, &self.table, 1);
    }

    /// Answers the next `count` calls of `target` on this test's table with the DynamoDB error
    /// `error_type` and HTTP `status`.
    pub async fn arm_error(&self, target: &str, error_type: &str, status: u16, count: u32) {
        crate::emulator::arm_error(target, error_type, status, &self.table, count);
    }
}

/// A distinct documentation-range address per request, so the per-IP authentication backoff
/// of one test never leaks into another; tests of the backoff pick their IP with `from_ip`.
fn next_ip() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("198.18.{}.{}", (n >> 8) & 0xff, n & 0xff)
}

/// A request being built.
pub struct Req<'a> {
    app: &'a TestApp,
    inner: PlainRequest,
    key: Option<String>,
}

impl Req<'_> {
    /// Uses this key (or none).
    pub fn key(mut self, key: Option<&str>) -> Self {
        self.key = key.map(str::to_string);
        self
    }
    /// Sends it from this client IP.
    pub fn from_ip(mut self, ip: &str) -> Self {
        self.inner.source_ip = ip.to_string();
        self
    }
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.inner.headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        self
    }
    /// Adds a query parameter.
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.inner.query.push((name.into(), value.into()));
        self
    }
    /// A JSON body with `Content-Type: application/json`.
    pub fn json(self, v: Value) -> Self {
        self.raw("application/json", v.to_string().as_bytes())
    }
    /// A raw body with a content type.
    pub fn raw(mut self, content_type: &str, body: &[u8]) -> Self {
        self.inner.body = body.to_vec();
        self.header("content-type", content_type)
    }
    /// Sends it through the router.
    pub async fn send(mut self) -> TestResponse {
        if let Some(k) = &self.key {
            let v = HeaderValue::from_str(&format!("Bearer {k}")).unwrap();
            self.inner.headers.insert("authorization", v);
        }
        let resp = dispatch(&self.app.ctx, self.inner).await;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = match resp.body() {
            Body::Text(t) => serde_json::from_str(t).expect("JSON body"),
            Body::Binary(b) => serde_json::from_slice(b).expect("JSON body"),
            _ => Value::Null,
        };
        assert!(
            headers.contains_key("x-request-id"),
            "every response carries X-Request-Id"
        );
        TestResponse {
            status,
            headers,
            body,
        }
    }
}

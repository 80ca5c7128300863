//! Test harness: the emulator (moto server behind our serializing wrapper), a fresh table and
//! tenant per test, API keys, an SDK interceptor that counts AWS calls, and a request builder
//! that goes through the same router (API Gateway event → handler) the local stack uses.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::Intercept;
use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::context::BeforeTransmitInterceptorContextRef, orchestrator::Metadata,
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::config_bag::ConfigBag;
use kupe_local::{dispatch, PlainRequest};
use kupe_shared::{admin, store::Store, Ctx};
use lambda_http::{
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode},
    Body,
};
use serde_json::Value;
use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex, OnceLock},
};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The emulator's URL: `KUPE_EMULATOR_URL` when the caller started one (as `make test` does, so
/// every test process shares it), otherwise one started here for this process, on a free port.
/// The emulator's URL: `KUPE_EMULATOR_URL` when the caller started one (as `make test` does, so
/// every test process shares it), otherwise one started here for this process, on a free port.
pub fn emulator_url() -> &'static str {
    static EMULATOR: OnceLock<String> = OnceLock::new();
    EMULATOR.get_or_init(|| {
        if let Ok(url) = std::env::var("KUPE_EMULATOR_URL") {
            return url;
        }
        // Never waited on: it exits with this process (`--parent-pid`).
        let emulator = kupe_local::emulator::Emulator::start(&repo_root()).expect("emulator");
        emulator.url
    })
}

/// SDK configuration pointing at the emulator.
pub fn sdk_config() -> SdkConfig {
    kupe_local::emulator::sdk_config(emulator_url())
}

/// Counts AWS operations (and attempts, which include the SDK's own retries) by name.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    ops: Arc<Mutex<Vec<String>>>,
    attempts: Arc<Mutex<usize>>,
}

impl CallCounter {
    /// Operations since the last reset, in order.
    pub fn operations(&self) -> Vec<String> {
        self.ops.lock().unwrap().clone()
    }
    /// Transmission attempts since the last reset.
    pub fn attempts(&self) -> usize {
        *self.attempts.lock().unwrap()
    }
    /// Forgets what was counted.
    pub fn reset(&self) {
        self.ops.lock().unwrap().clear();
        *self.attempts.lock().unwrap() = 0;
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    // Serialization happens once per operation (retries re-send the same request), and by then
    // the operation's metadata is in the config bag.
    fn read_after_serialization(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg.load::<Metadata>().map_or("?", |m| m.name()).to_string();
        self.ops.lock().unwrap().push(name);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        *self.attempts.lock().unwrap() += 1;
        Ok(())
    }
}

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
    pub ctx: Ctx,
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
        let sdk = sdk_config();
        let calls = CallCounter::default();
        let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(calls.clone())
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(conf);
        let table = unique("kupe-test");
        kupe_shared::store::schema::create_table(&client, &table)
            .await
            .expect("create table");
        let ctx = Ctx::with_store(
            Store::new(client, table.clone()),
            kupe_shared::config::AuthBackoff::default(),
        );
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
        let body = serde_json::json!({"target": target, "action": action, "match": self.table, "count": 1});
        post_json(
            &format!("{}/_kupe/faults", emulator_url()),
            &body.to_string(),
        );
    }
}

fn post_json(url: &str, body: &str) {
    // A tiny blocking HTTP/1.1 POST, to keep the harness free of an HTTP client dependency.
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut s = std::net::TcpStream::connect(host).expect("connect emulator");
    write!(s, "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 204") || resp.starts_with("HTTP/1.0 204"),
        "{resp}"
    );
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

/// Shorthand for methods.
pub use lambda_http::http::Method as M;

/// A test world with the whole lifecycle running: its own table (with stream), queue, bus and
/// state machine on the emulator, and the event-source mappings played in the background.
pub struct LifecycleApp {
    /// The API side (table = the stack's).
    pub app: TestApp,
    /// The stack.
    pub stack: kupe_local::stack::Stack,
    /// The workflow context the players use.
    pub wf: &'static kupe_shared::WorkflowCtx,
    /// The provider the queue player uses.
    pub provider: &'static kupe_shared::provider::simulated::Simulated,
}

impl LifecycleApp {
    /// A fresh stack with fast timings, the simulated provider configured by `tweak`.
    pub async fn spawn(
        tweak: impl FnOnce(&mut kupe_shared::provider::simulated::SimulatedConfig),
    ) -> LifecycleApp {
        Self::spawn_with(kupe_local::stack::Timings::FAST, tweak).await
    }

    /// A fresh stack whose event-source mappings do not run: the test delivers stream records
    /// and task messages itself.
    pub async fn spawn_idle() -> LifecycleApp {
        Self::build(kupe_local::stack::Timings::FAST, |_| {}, false).await
    }

    /// A fresh stack with the given timings.
    pub async fn spawn_with(
        timings: kupe_local::stack::Timings,
        tweak: impl FnOnce(&mut kupe_shared::provider::simulated::SimulatedConfig),
    ) -> LifecycleApp {
        Self::build(timings, tweak, true).await
    }

    async fn build(
        timings: kupe_local::stack::Timings,
        tweak: impl FnOnce(&mut kupe_shared::provider::simulated::SimulatedConfig),
        players: bool,
    ) -> LifecycleApp {
        use kupe_shared::provider::simulated::{Simulated, SimulatedConfig};
        let sdk = sdk_config();
        let prefix = unique("lc");
        let stack = kupe_local::stack::create(&sdk, &repo_root(), &prefix, timings)
            .await
            .expect("stack");
        let calls = CallCounter::default();
        let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(calls.clone())
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(conf);
        let ctx = Ctx::with_store(
            Store::new(client, stack.table.clone()),
            kupe_shared::config::AuthBackoff::default(),
        );
        let tenant = unique("acme");
        admin::create_tenant(&ctx.store, &tenant, Some("enterprise"))
            .await
            .expect("tenant");
        let mut app = TestApp {
            ctx,
            calls,
            table: stack.table.clone(),
            tenant,
            admin: String::new(),
            readonly: String::new(),
        };
        app.admin = app.key(&app.tenant.clone(), "admin", None).await;
        app.readonly = app.key(&app.tenant.clone(), "readonly", None).await;
        let wf: &'static kupe_shared::WorkflowCtx = Box::leak(Box::new(
            kupe_shared::WorkflowCtx::new(&sdk, &stack.table, &stack.state_machine_arn),
        ));
        let mut config = SimulatedConfig::fast("clusters.test");
        tweak(&mut config);
        let provider: &'static Simulated = Box::leak(Box::new(Simulated::new(
            wf.store.client().clone(),
            stack.table.clone(),
            config,
        )));
        if players {
            kupe_local::stack::spawn_players(&sdk, wf, Some(provider), &stack);
        }
        LifecycleApp {
            app,
            stack,
            wf,
            provider,
        }
    }

    /// Polls GET until `done` holds for the body (or the cluster is gone, when `done` accepts
    /// `Null`), failing after `secs` seconds with the last body.
    pub async fn wait_for(&self, name: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let r = self.app.req(M::GET, &self.app.cluster(name)).send().await;
            let body = if r.status == StatusCode::NOT_FOUND {
                Value::Null
            } else {
                r.body
            };
            if done(&body) {
                return body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting; last: {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    /// Every execution of the stack's state machine: (name, status, input).
    pub async fn executions(&self) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        let list = self
            .wf
            .sfn
            .list_executions()
            .state_machine_arn(&self.stack.state_machine_arn)
            .send()
            .await
            .expect("list");
        for e in list.executions {
            let d = self
                .wf
                .sfn
                .describe_execution()
                .execution_arn(&e.execution_arn)
                .send()
                .await
                .expect("describe");
            let input = d
                .input
                .as_deref()
                .and_then(|i| serde_json::from_str(i).ok())
                .unwrap_or(Value::Null);
            out.push((e.name, e.status.as_str().to_string(), input));
        }
        out
    }

    /// Phase-change events delivered to the bus so far, in order of arrival.
    pub async fn events(&self) -> Vec<Value> {
        let sqs = aws_sdk_sqs::Client::new(&sdk_config());
        let mut events = Vec::new();
        loop {
            let out = sqs
                .receive_message()
                .queue_url(&self.stack.events_queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            let msgs = out.messages.unwrap_or_default();
            if msgs.is_empty() {
                return events;
            }
            for m in msgs {
                let body: Value =
                    serde_json::from_str(m.body.as_deref().unwrap_or("{}")).unwrap_or(Value::Null);
                events.push(body["detail"].clone());
                if let Some(h) = m.receipt_handle {
                    sqs.delete_message()
                        .queue_url(&self.stack.events_queue_url)
                        .receipt_handle(h)
                        .send()
                        .await
                        .expect("delete");
                }
            }
        }
    }
}

//! End to end, as a newcomer and Kupe's clients do it: start the local stack the way `make run`
//! does, take only the lines it prints, and drive a cluster through its life, then the tenant,
//! the plans and the members, over plain HTTP with the clients' headers and bodies.

use serde_json::{json, Value};
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

struct Stack(Child);

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Http {
    host: String,
    base: String,
    key: String,
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Http {
    /// One HTTP/1.1 request over a fresh connection.
    fn call(&self, method: &str, path: &str, body: Option<Value>, extra: &[(&str, &str)]) -> Resp {
        let mut s = TcpStream::connect(&self.host).expect("connect");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.base, self.host, self.key, body.len()
        );
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        s.write_all(format!("{head}\r\n{body}").as_bytes()).unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| {
                l.split_once(": ")
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
        Resp {
            status,
            headers,
            body: serde_json::from_str(body).unwrap_or(Value::Null),
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the local stack as `make run` does and reads only the lines it prints: the running
/// stack, a client configured from the exports, and the tenant.
fn start() -> (Stack, Http, String) {
    // GIVEN the local stack started as `make run` starts it
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kupe-local"))
        .env("KUPE_LOCAL_PORT", port.to_string())
        .env_remove("KUPE_DEV_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the local stack");
    let stdout = child.stdout.take().unwrap();
    let stack = Stack(child);
    let mut exports = std::collections::HashMap::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("export KUPE_") {
            let (k, v) = rest.split_once('=').unwrap();
            exports.insert(format!("KUPE_{k}"), v.to_string());
        }
        if line.starts_with("Serving on") {
            break;
        }
    }
    // The exports name the API root, as Kupe's clients expect; they add `/api/v1` themselves.
    let root = &exports["KUPE_API_URL"];
    assert_eq!(root, &exports["KUPE_HOST"]);
    assert_eq!(exports["KUPE_API_KEY"], exports["KUPE_API_TOKEN"]);
    let host = root.strip_prefix("http://").unwrap();
    assert!(
        !host.contains('/'),
        "KUPE_API_URL is the root, not a path: {root}"
    );
    let http = Http {
        host: host.to_string(),
        base: "/api/v1".to_string(),
        key: exports["KUPE_API_KEY"].clone(),
    };
    let tenant = exports["KUPE_TENANT"].clone();
    (stack, http, tenant)
}

#[test]
fn the_printed_exports_drive_a_cluster_through_its_life_over_plain_http() {
    // GIVEN the local stack started as `make run` starts it
    let (_stack, http, tenant) = start();
    let clusters = format!("/tenants/{tenant}/clusters");
    let cluster = format!("{clusters}/web");
    let wait_for = |pred: &dyn Fn(&Resp) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = http.call("GET", &cluster, None, &[]);
            if pred(&r) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "timed out: {} {}",
                r.status,
                r.body
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    let running = |r: &Resp| {
        r.body["status"]["phase"] == "Running"
            && r.body["status"]["observedGeneration"] == r.body["generation"]
    };

    // WHEN a cluster is created, resized with If-Match, and deleted
    let r = http.call(
        "POST",
        &clusters,
        Some(json!({"name": "web", "displayName": "Web", "type": "shared"})),
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let ready = wait_for(&running);
    let etag = ready.header("etag").unwrap().to_string();
    let r = http.call(
        "PATCH",
        &cluster,
        Some(json!({"resources": {"cpu": "3"}})),
        &[("If-Match", &etag)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let stale = http.call(
        "PATCH",
        &cluster,
        Some(json!({"resources": {"cpu": "4"}})),
        &[("If-Match", &etag)],
    );
    assert_eq!(stale.status, 412);
    let resized = wait_for(&running);
    assert_eq!(resized.body["resources"]["cpu"], "3");
    assert_eq!(resized.body["generation"], 2);
    let r = http.call("GET", &format!("{cluster}/kubeconfig"), None, &[]);
    assert_eq!(r.status, 200);
    let r = http.call("DELETE", &cluster, None, &[]);
    assert_eq!(r.status, 204);
    // THEN it is gone
    wait_for(&|r: &Resp| r.status == 404);
    // AND a route Kupe documents but this server does not serve yet is 501, never 404
    let r = http.call("GET", &format!("/tenants/{tenant}/invoices"), None, &[]);
    assert_eq!(r.status, 501);
    assert_eq!(r.body["code"], "NotImplemented");
}

#[test]
fn kupe_clients_drive_the_tenant_plans_and_members_over_plain_http() {
    // GIVEN the local stack and the exports
    let (_stack, http, tenant) = start();
    let etag_of = |r: &Resp| r.header("etag").expect("an ETag").to_string();
    // Plans are public: a bad Authorization header is ignored
    let anonymous = Http {
        host: http.host.clone(),
        base: http.base.clone(),
        key: "not-a-key".into(),
    };
    let r = anonymous.call("GET", "/plans", None, &[]);
    assert_eq!(r.status, 200, "{:?}", r.body);
    let names: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["starter", "pro", "business", "enterprise"]);
    let r = anonymous.call("GET", "/plans/pro", None, &[]);
    assert_eq!(r.body["platformFee"], "49.00");

    // The tenant, and a PATCH with If-Match exactly as the ETag was stored (quoted)
    let me = format!("/tenants/{tenant}");
    let r = http.call("GET", &me, None, &[]);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["plan"], "pro");
    assert_eq!(r.body["status"]["phase"], "Active");
    let r = http.call(
        "PATCH",
        &me,
        Some(json!({"enforceLogLimit": true})),
        &[("If-Match", &etag_of(&r))],
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["enforceLogLimit"], true);
    let mut etag = etag_of(&r);

    // HA is not in the pro plan: 403 NotInPlan, as the CLI's --ha flag would meet it
    let r = http.call(
        "POST",
        &format!("{me}/clusters"),
        Some(
            json!({"name": "ha", "displayName": "HA", "type": "shared", "highAvailability": true}),
        ),
        &[],
    );
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (403, Some("NotInPlan"))
    );

    // Members: the tenant's ETag in If-Match, emails URL-encoded in the path, any case
    let members = format!("{me}/members");
    let r = http.call(
        "POST",
        &members,
        Some(json!({"email": "Dev@Acme.com", "role": "admin"})),
        &[("If-Match", &etag)],
    );
    assert_eq!(r.status, 201, "{:?}", r.body);
    etag = etag_of(&r);
    let r = http.call(
        "PATCH",
        &format!("{members}/dev%40acme.com"),
        Some(json!({"role": "readonly"})),
        &[("If-Match", &etag)],
    );
    assert_eq!(
        r.status, 400,
        "the last admin cannot be demoted: {:?}",
        r.body
    );
    let r = http.call(
        "POST",
        &members,
        Some(json!({"email": "ops@acme.com", "role": "admin"})),
        &[],
    );
    assert_eq!(r.status, 201, "{:?}", r.body);
    let stale = etag.clone();
    etag = etag_of(&r);
    let r = http.call(
        "PATCH",
        &format!("{members}/DEV%40ACME.COM"),
        Some(json!({"role": "readonly"})),
        &[("If-Match", &stale)],
    );
    assert_eq!(r.status, 412, "{:?}", r.body);
    let r = http.call(
        "PATCH",
        &format!("{members}/DEV%40ACME.COM"),
        Some(json!({"role": "readonly"})),
        &[("If-Match", &etag)],
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body, json!({"email": "Dev@Acme.com", "role": "readonly"}));
    let r = http.call("GET", &me, None, &[]);
    assert_eq!(
        r.body["members"],
        json!([{"email": "Dev@Acme.com", "role": "readonly"},
               {"email": "ops@acme.com", "role": "admin"}])
    );
    let r = http.call("DELETE", &format!("{members}/dev%40acme.com"), None, &[]);
    assert_eq!(r.status, 204);

    // Routes Kupe documents that are not served yet: 501, never 404
    let r = http.call("GET", &format!("{me}/invoices/2026-03"), None, &[]);
    assert_eq!(r.status, 501);

    // The tenant goes as the CLI deletes it: 202 Terminating, then purged (its keys get 401)
    let r = http.call(
        "DELETE",
        &me,
        Some(json!({"confirm": tenant, "cascade": true})),
        &[],
    );
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["status"]["phase"], "Terminating");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = http.call("GET", &me, None, &[]);
        if r.status == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not purged: {} {:?}",
            r.status,
            r.body
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

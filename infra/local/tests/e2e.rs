//! End to end, as a newcomer does it: start the local stack the way `make run` does, take only
//! the lines it prints, and drive a cluster through its life over plain HTTP.

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

#[test]
fn the_printed_exports_drive_a_cluster_through_its_life_over_plain_http() {
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
    let _stack = Stack(child);
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
    let url = exports["KUPE_API_URL"]
        .strip_prefix("http://")
        .unwrap()
        .to_string();
    let (host, base) = url.split_once('/').unwrap();
    let http = Http {
        host: host.to_string(),
        base: format!("/{base}"),
        key: exports["KUPE_API_KEY"].clone(),
    };
    let tenant = &exports["KUPE_TENANT"];
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
}

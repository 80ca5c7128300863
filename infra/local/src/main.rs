//! `make run`: the whole control plane on localhost with no AWS account. Starts the emulator,
//! creates the table, stream, queues, bus and state machine, plays the event-source mappings
//! (stream → dispatcher, queue → provisioner, dead executions → reconciler), seeds a dev tenant
//! and an admin key, serves `/api/v1/...` on `127.0.0.1:$KUPE_LOCAL_PORT` (default 8080) through
//! the same handlers the Lambdas run, and prints the lines to paste. Ctrl-C stops everything.

use http_body_util::{BodyExt, Full};
use hyper::{body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use kupe_local::{dispatch_limited, emulator, ratelimit::RateLimiter, stack, PlainRequest};
use kupe_shared::{
    admin, config::AuthBackoff, provider::simulated::SimulatedConfig, store::Store, ApiContext,
};
use std::{convert::Infallible, net::SocketAddr, path::PathBuf};

const STACK: &str = "kupe-local";
const DEV_TENANT: &str = "dev";

fn repo_root() -> PathBuf {
    std::env::var_os("KUPE_REPO_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

async fn serve(
    limiter: &'static RateLimiter,
    ctx: &'static ApiContext,
    req: hyper::Request<hyper::body::Incoming>,
    peer: SocketAddr,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let query = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (kupe_local::percent_decode(k), kupe_local::percent_decode(v))
                })
                .collect()
        })
        .unwrap_or_default();
    eprintln!("{} {}", parts.method, parts.uri);
    let plain = PlainRequest {
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        query,
        headers: parts.headers,
        body,
        source_ip: peer.ip().to_string(),
    };
    let resp = dispatch_limited(limiter, ctx, plain).await;
    let (parts, body) = resp.into_parts();
    let bytes = match body {
        lambda_http::Body::Text(t) => Bytes::from(t),
        lambda_http::Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let port: u16 = std::env::var("KUPE_LOCAL_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e} (set KUPE_LOCAL_PORT)"))?;

    let emu = emulator::Emulator::start(&repo_root())?;
    let sdk = emulator::sdk_config(&emu.url);
    let stack = stack::create(&sdk, &repo_root(), STACK, stack::Timings::FAST).await?;
    let table = stack.table.clone();
    let ctx: &'static ApiContext = Box::leak(Box::new(ApiContext::new(
        Store::new(aws_sdk_dynamodb::Client::new(&sdk), table.clone()),
        AuthBackoff::from_env()?,
    )));
    let workers: &'static stack::Workers = Box::leak(Box::new(stack::Workers::new(
        &sdk,
        &stack,
        SimulatedConfig::from_env()?,
    )));
    kupe_local::players::spawn_players(&sdk, workers, &stack, true);
    admin::create_tenant(&ctx.store, DEV_TENANT, Some("pro")).await?;
    let fixed = std::env::var("KUPE_DEV_API_KEY").ok();
    let key = admin::create_api_key(
        &ctx.store,
        &admin::NewKey {
            tenant: DEV_TENANT,
            role: "admin",
            display_name: "local dev admin",
            expires_at: None,
            created_by: "make run",
            fixed_key: fixed.as_deref(),
        },
    )
    .await?;

    println!("Kupe local stack is ready. Paste these lines into your shell:");
    println!();
    // Kupe's CLI reads KUPE_API_URL and KUPE_API_TOKEN, its Terraform provider KUPE_HOST and
    // KUPE_API_KEY; both append `/api/v1/...` to the root themselves.
    println!("export KUPE_API_URL=http://127.0.0.1:{port}");
    println!("export KUPE_HOST=http://127.0.0.1:{port}");
    println!("export KUPE_TENANT={DEV_TENANT}");
    println!("export KUPE_API_KEY={}", key.key.expose());
    println!("export KUPE_API_TOKEN={}", key.key.expose());
    println!();
    println!("# for kupe-admin (cargo run -p kupe-admin -- ...) against this stack:");
    println!("export TABLE_NAME={table} AWS_ENDPOINT_URL={} AWS_REGION={} AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}",
        emu.url, emulator::REGION, emulator::ACCESS_KEY, emulator::ACCESS_KEY);
    println!();
    println!("Serving on http://{addr}; Ctrl-C stops everything.");

    let limiter: &'static RateLimiter = Box::leak(Box::new(RateLimiter::from_env()));
    let mut child = emu.child;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = accepted?;
                tokio::spawn(async move {
                    let svc = service_fn(move |req| async move { Ok::<_, Infallible>(serve(limiter, ctx, req, peer).await) });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
            _ = tokio::signal::ctrl_c() => {
                let _ = child.kill();
                let _ = child.wait();
                println!("stopped");
                return Ok(());
            }
        }
    }
}

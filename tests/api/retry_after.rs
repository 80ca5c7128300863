//! `Retry-After` is a promise: a client that waits exactly the seconds a 429 gave is served,
//! for the per-IP request limit and for the authentication-failure backoff.

use kupe_tests::{TestApp, TestResponse, M};
use lambda_http::http::StatusCode;
use std::time::Duration;

fn retry_after(r: &TestResponse) -> u64 {
    r.header("retry-after")
        .expect("Retry-After on a 429")
        .parse()
        .expect("Retry-After in seconds")
}

#[tokio::test]
async fn after_the_request_limit_a_retry_after_exactly_retry_after_is_served() {
    let app = TestApp::spawn().await;
    // A short window, so each round lands at another fraction of a second into it.
    let limiter = kupe_local::ratelimit::RateLimiter::new(3, Duration::from_secs(2));
    let send = || {
        let mut req = kupe_local::PlainRequest {
            method: M::GET,
            path: app.clusters(),
            source_ip: "192.0.2.77".to_string(),
            ..Default::default()
        };
        req.headers.insert(
            "authorization",
            format!("Bearer {}", app.admin).parse().unwrap(),
        );
        kupe_local::dispatch_limited(&limiter, &app.ctx, req)
    };
    for round in 0..3 {
        let limited = loop {
            let r = send().await;
            if r.status() == StatusCode::TOO_MANY_REQUESTS {
                break r;
            }
            assert_eq!(r.status(), StatusCode::OK);
        };
        let wait: u64 = limited.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=2).contains(&wait), "round {round}: {wait}");
        tokio::time::sleep(Duration::from_secs(wait)).await;
        assert_eq!(
            send().await.status(),
            StatusCode::OK,
            "round {round}: a retry after exactly {wait} s is served"
        );
        // land the next round mid-second
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn after_the_auth_backoff_a_retry_after_exactly_retry_after_is_served() {
    use kupe_shared::domain::apikey::{KeyId, RawKey};
    let app = TestApp::spawn().await;
    let ip = "203.0.113.77";
    let bad = || RawKey::generate(KeyId::random()).expose().to_string();
    let with = |key: Option<String>| {
        let app = &app;
        async move {
            let req = app.req(M::GET, &app.clusters()).from_ip(ip);
            match key {
                Some(k) => req.key(Some(&k)).send().await,
                None => req.send().await,
            }
        }
    };
    for _ in 0..4 {
        assert_eq!(with(Some(bad())).await.status, StatusCode::UNAUTHORIZED);
    }
    // each further failure blocks the IP for at least 1 s, then 2 s; the good key waits exactly
    // Retry-After and is served
    for round in 0u64..2 {
        assert_eq!(with(Some(bad())).await.status, StatusCode::UNAUTHORIZED);
        let blocked = with(None).await;
        assert_eq!(
            blocked.status,
            StatusCode::TOO_MANY_REQUESTS,
            "round {round}: blocked right after the failure"
        );
        let wait = retry_after(&blocked);
        assert!(
            wait > round,
            "round {round}: at least {} s, told {wait}",
            round + 1
        );
        tokio::time::sleep(Duration::from_secs(wait)).await;
        let served = with(None).await;
        assert_eq!(
            served.status,
            StatusCode::OK,
            "round {round}: a retry after exactly {wait} s is served: {:?}",
            served.body
        );
    }
}

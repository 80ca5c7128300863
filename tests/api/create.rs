use kupe_tests::{TestApp, M};
use lambda_http::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn create_returns_201_the_cluster_and_a_strong_etag() {
    // GIVEN a tenant on the pro plan
    let app = TestApp::spawn().await;
    // WHEN it creates a cluster with only the required fields
    let resp = app.create("prod").await;
    // THEN the cluster is Pending at generation 1 with plan defaults and the latest stable version
    let c = &resp.body;
    assert_eq!(c["name"], "prod");
    assert_eq!(c["displayName"], "Cluster prod");
    assert_eq!(c["type"], "shared");
    assert_eq!(c["version"], "1.33");
    assert_eq!(
        c["resources"],
        json!({"cpu": "2", "memory": "8Gi", "storage": "50Gi"})
    );
    assert_eq!(c["alerts"], json!({}));
    assert_eq!(c["generation"], 1);
    assert_eq!(c["status"]["phase"], "Pending");
    assert_eq!(c["status"]["observedGeneration"], 0);
    let types: Vec<_> = c["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].clone())
        .collect();
    assert_eq!(
        types,
        vec![json!("Ready"), json!("Progressing"), json!("Degraded")]
    );
    let rv = c["resourceVersion"].as_str().unwrap();
    assert!(rv.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(resp.etag(), format!("\"{rv}\""));
    assert!(c["createdAt"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn create_keeps_given_resources_version_and_alerts() {
    let app = TestApp::spawn().await;
    let resp = app
        .req(M::POST, &app.clusters())
        .json(json!({
            "name": "edge", "displayName": "Edge", "type": "dedicated", "version": "v1.31.2",
            "resources": {"cpu": "500m", "memory": "1.5Gi"}, "alerts": {"receiver": {"slack": "#ops"}}
        }))
        .send()
        .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{:?}", resp.body);
    assert_eq!(resp.body["version"], "1.31");
    assert_eq!(
        resp.body["resources"],
        json!({"cpu": "500m", "memory": "1.5Gi", "storage": "50Gi"})
    );
    assert_eq!(resp.body["alerts"], json!({"receiver": {"slack": "#ops"}}));
    assert_eq!(resp.body["type"], "dedicated");
}

#[tokio::test]
async fn a_duplicate_name_is_409_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.create("prod").await;
    let before = app.items().await;
    let resp = app
        .req(M::POST, &app.clusters())
        .json(json!({"name": "prod", "displayName": "Again", "type": "shared"}))
        .send()
        .await;
    assert_eq!(resp.status, StatusCode::CONFLICT);
    assert_eq!(resp.error(), "Cluster name already exists");
    assert_eq!(app.items().await, before);
}

#[tokio::test]
async fn every_validation_failure_is_400_with_an_error_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let before = app.items().await;
    let long = "x".repeat(129);
    let huge_alerts = json!({"a": "x".repeat(17 * 1024)});
    let cases = vec![
        (
            json!({"displayName": "D", "type": "shared"}),
            "name is required",
        ),
        (
            json!({"name": "A", "displayName": "D", "type": "shared"}),
            "name",
        ),
        (
            json!({"name": "a", "displayName": "D", "type": "shared"}),
            "2-63",
        ),
        (
            json!({"name": "-ab", "displayName": "D", "type": "shared"}),
            "RFC 1123",
        ),
        (
            json!({"name": "a".repeat(64), "displayName": "D", "type": "shared"}),
            "2-63",
        ),
        (
            json!({"name": "ok", "type": "shared"}),
            "displayName is required",
        ),
        (
            json!({"name": "ok", "displayName": "", "type": "shared"}),
            "displayName",
        ),
        (
            json!({"name": "ok", "displayName": long, "type": "shared"}),
            "displayName",
        ),
        (
            json!({"name": "ok", "displayName": "a\u{1}b", "type": "shared"}),
            "control",
        ),
        (
            json!({"name": "ok", "displayName": "D"}),
            "type is required",
        ),
        (
            json!({"name": "ok", "displayName": "D", "type": "huge"}),
            "type must be one of",
        ),
        (
            json!({"name": "ok", "displayName": "D", "type": 1}),
            "type must be a string",
        ),
        (
            json!({"name": "ok", "displayName": "D", "type": "shared", "version": "1.29"}),
            "not supported",
        ),
        (
            json!({"name": "ok", "displayName": "D", "type": "shared", "version": "latest"}),
            "malformed",
        ),
        (
            json!({"name": "ok", "displayName": "D", "type": "shared", "version": 1.32}),
            "version must be a string",
        ),
        (
            json!({"name": "ok", "displayName": "D", "type": "shared", "resources": {"cpu": "16GB"}}),
            "resources.cpu",
        ),
        (
            json!({"name": "ok", "displayName": "D", "type": "shared", "resources": {"cpu": 4}}),
            "resources.cpu",
        ),
        (
            json!({"name": "ok", "displayName": "D", "type": "shared", "resources": {"cpu": "0"}}),
            "greater than 0",
        ),
        (
            json!({"name": "ok", "displayName": "D", "type": "shared", "resources": {"memory": "-1Gi"}}),
            "greater than 0",
        ),
        (
            json!({"name": "ok", "displayName": "D", "type": "shared", "resources": {"storage": "10Ti"}}),
            "exceeds",
        ),
        (
            json!({"name": "ok", "displayName": "D", "type": "shared", "resources": {"gpu": "1"}}),
            "unknown field resources.gpu",
        ),
        (
            json!({"name": "ok", "displayName": "D", "type": "shared", "resources": "big"}),
            "resources must be an object",
        ),
        (
            json!({"name": "ok", "displayName": "D", "type": "shared", "alerts": []}),
            "alerts must be an object",
        ),
        (
            json!({"name": "ok", "displayName": "D", "type": "shared", "alerts": huge_alerts}),
            "alerts exceeds",
        ),
        (
            json!({"name": "ok", "displayName": "D", "type": "shared", "extra": true}),
            "unknown field extra",
        ),
    ];
    for (body, want) in cases {
        let resp = app
            .req(M::POST, &app.clusters())
            .json(body.clone())
            .send()
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            resp.error().contains(want),
            "{body}: {:?} lacks {want:?}",
            resp.error()
        );
    }
    let raw_cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("application/json", b"{not json".to_vec(), "malformed JSON"),
        ("application/json", b"[1,2]".to_vec(), "JSON object"),
        ("application/json", b"".to_vec(), "body is required"),
        ("text/plain", br#"{"name":"ok"}"#.to_vec(), "Content-Type"),
        (
            "application/merge-patch+json",
            br#"{"name":"ok"}"#.to_vec(),
            "Content-Type",
        ),
        (
            "application/json",
            format!(
                r#"{{"name":"ok","displayName":"D","type":"shared","alerts":{{"a":"{}"}}}}"#,
                "x".repeat(65 * 1024)
            )
            .into_bytes(),
            "exceeds 65536",
        ),
        (
            "application/json",
            b"{\"a\":1e400}".to_vec(),
            "malformed JSON",
        ),
        ("application/json", vec![0xff, 0xfe], "malformed JSON"),
    ];
    for (ctype, body, want) in raw_cases {
        let resp = app
            .req(M::POST, &app.clusters())
            .raw(ctype, &body)
            .send()
            .await;
        assert_eq!(
            resp.status,
            StatusCode::BAD_REQUEST,
            "{ctype} {:?}",
            String::from_utf8_lossy(&body[..body.len().min(40)])
        );
        assert!(
            resp.error().contains(want),
            "{:?} lacks {want:?}",
            resp.error()
        );
    }
    let resp = app
        .req(M::POST, "/api/v1/tenants/Bad_Tenant/clusters")
        .json(json!({}))
        .send()
        .await;
    assert_eq!(
        resp.status,
        StatusCode::FORBIDDEN,
        "another tenant's path is 403 before 400"
    );
    assert_eq!(
        app.items().await,
        before,
        "no rejected request wrote anything"
    );
}

#[tokio::test]
async fn a_plan_without_dedicated_refuses_it_with_403() {
    let app = TestApp::spawn_with_plan("starter").await;
    let resp = app
        .req(M::POST, &app.clusters())
        .json(json!({"name": "big", "displayName": "Big", "type": "dedicated"}))
        .send()
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    assert!(
        resp.error().contains("dedicated is not enabled"),
        "{}",
        resp.error()
    );
}

//! `infra/openapi.yaml` is the contract: every route the router serves is in it with the
//! statuses the handlers can answer (every route reads the store, so every route can answer
//! 503 `Throttled`), and it documents no route we do not serve.

use kupe_local::{Route, BASE_PATH};
use kupe_tests::repo_root;
use serde_yaml::Value;

fn spec() -> Value {
    let text =
        std::fs::read_to_string(repo_root().join("infra/openapi.yaml")).expect("openapi.yaml");
    serde_yaml::from_str(&text).expect("valid YAML")
}

fn statuses(route: Route) -> &'static [&'static str] {
    match route {
        Route::CreateCluster => &["201", "400", "401", "403", "409", "500", "503"],
        Route::ListClusters => &["200", "400", "401", "403", "500", "503"],
        Route::GetCluster => &["200", "304", "400", "401", "403", "404", "500", "503"],
        Route::UpdateCluster => &[
            "200", "400", "401", "403", "404", "409", "412", "500", "503",
        ],
        Route::DeleteCluster => &["204", "400", "401", "403", "404", "412", "500", "503"],
        Route::GetKubeconfig => &["200", "400", "401", "403", "404", "500", "503"],
        Route::CreateApiKey => &["201", "400", "401", "403", "500", "503"],
        Route::ListApiKeys => &["200", "401", "403", "500", "503"],
        Route::DeleteApiKey => &["204", "400", "401", "403", "404", "500", "503"],
        // tenancy
        Route::GetTenant => &["200", "304", "400", "401", "403", "404", "500", "503"],
        Route::UpdateTenant => &[
            "200", "400", "401", "403", "404", "409", "412", "500", "503",
        ],
        Route::ListPlans => &["200"],
        Route::GetPlan => &["200", "404"],
        Route::ListMembers => &["200", "401", "403", "500", "503"],
        Route::AddMember => &["201", "400", "401", "403", "409", "412", "500", "503"],
        Route::UpdateMember => &[
            "200", "400", "401", "403", "404", "409", "412", "500", "503",
        ],
        Route::RemoveMember => &[
            "204", "400", "401", "403", "404", "409", "412", "500", "503",
        ],
        Route::DeleteTenant => &["202", "400", "401", "403", "404", "409", "500", "503"],
        // alertmanager
        Route::GetAlertmanagerConfig
        | Route::ListReceivers
        | Route::GetAlertmanagerRoutes
        | Route::GetAlertmanagerGlobal => &["200", "304", "400", "401", "403", "500", "503"],
        Route::GetReceiver => &["200", "304", "400", "401", "403", "404", "500", "503"],
        Route::PutReceiver => &[
            "200", "201", "400", "401", "403", "409", "412", "500", "503",
        ],
        Route::DeleteReceiver => &[
            "204", "400", "401", "403", "404", "409", "412", "500", "503",
        ],
        Route::PutAlertmanagerRoutes | Route::PutAlertmanagerGlobal => {
            &["200", "400", "401", "403", "409", "412", "500", "503"]
        }
        // operations
        Route::ListOperations | Route::GetOperation => {
            &["200", "400", "401", "403", "404", "500", "503"]
        }
        Route::RetryOperation => &["202", "400", "401", "403", "404", "409", "500", "503"],
        // managed secrets
        Route::CreateSecret => &["201", "400", "401", "403", "409", "500", "503"],
        Route::ListSecrets => &["200", "400", "401", "403", "500", "503"],
        Route::GetSecret => &["200", "304", "400", "401", "403", "404", "500", "503"],
        Route::UpdateSecret => &[
            "200", "400", "401", "403", "404", "409", "412", "500", "503",
        ],
        Route::DeleteSecret => &[
            "204", "400", "401", "403", "404", "409", "412", "500", "503",
        ],
    }
}

#[test]
fn every_served_route_is_in_the_contract_with_its_statuses() {
    let spec = spec();
    assert_eq!(spec["servers"][0]["url"].as_str(), Some(BASE_PATH));
    for route in Route::ALL {
        let method = route.method().as_str().to_lowercase();
        let op = &spec["paths"][route.resource()][method.as_str()];
        assert!(
            op.is_mapping(),
            "{route:?}: {} {} missing",
            route.method(),
            route.resource()
        );
        for status in statuses(route) {
            assert!(
                !op["responses"][*status].is_null(),
                "{route:?} does not document {status}"
            );
        }
        // public routes opt out of the document's bearer security, and only they do
        let public = op["security"].as_sequence().is_some_and(Vec::is_empty);
        assert_eq!(
            public,
            route.auth() == kupe_shared::routes::Auth::Public,
            "{route:?}: security"
        );
    }
}

#[test]
fn the_contract_documents_no_route_we_do_not_serve() {
    let spec = spec();
    let paths = spec["paths"].as_mapping().expect("paths");
    for (path, ops) in paths {
        let path = path.as_str().unwrap();
        for (method, _) in ops.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if method == "parameters" {
                continue;
            }
            let served = Route::ALL
                .iter()
                .any(|r| r.resource() == path && r.method().as_str().eq_ignore_ascii_case(method));
            assert!(served, "{method} {path} is documented but not served");
        }
    }
}

/// The keys of a JSON object.
fn keys(v: &serde_json::Value) -> std::collections::BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

/// The `properties` names of a schema.
fn schema_props(spec: &Value, name: &str) -> std::collections::BTreeSet<String> {
    spec["components"]["schemas"][name]["properties"]
        .as_mapping()
        .expect("properties")
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_cluster_the_api_returns_has_exactly_the_documented_fields() {
    let spec = spec();
    let app = kupe_tests::TestApp::spawn().await;
    let c = app.create("prod").await.body;
    assert_eq!(keys(&c), schema_props(&spec, "Cluster"));
    let status = keys(&c["status"]);
    assert!(
        status.is_subset(&schema_props(&spec, "ClusterStatus")),
        "{status:?}"
    );
    // every documented condition field but `retryable`, which only a true Degraded carries
    let mut documented = schema_props(&spec, "Condition");
    assert!(documented.remove("retryable"));
    for cond in c["status"]["conditions"].as_array().unwrap() {
        assert_eq!(keys(cond), documented);
    }
    let err = app
        .req(kupe_tests::M::GET, &app.cluster("nope"))
        .send()
        .await
        .body;
    let required: std::collections::BTreeSet<String> = spec["components"]["schemas"]["Error"]
        ["required"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys(&err), required, "a 404 names no field");
    let bad = app
        .req(kupe_tests::M::POST, &app.clusters())
        .json(serde_json::json!({"name": "ok", "displayName": "D", "type": "shared", "resources": {"cpu": "0"}}))
        .send()
        .await
        .body;
    assert_eq!(keys(&bad), schema_props(&spec, "Error"));
    assert_eq!(bad["field"], "resources.cpu");
    assert_eq!(bad["code"], "ValidationFailed");
    assert_eq!(bad["message"], bad["error"]);
}

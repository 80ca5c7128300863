//! The sample events in `events/` (for `sam local invoke`) are real event shapes: the API ones
//! drive the handlers through a cluster's life against the emulator, the others parse into the
//! events the workers take.

use kupe_local::Route;
use kupe_tests::{repo_root, TestApp};
use lambda_http::http::StatusCode;

fn event(name: &str) -> String {
    std::fs::read_to_string(repo_root().join(format!("events/{name}.json"))).unwrap()
}

#[tokio::test]
async fn every_api_event_is_served_by_its_function() {
    // GIVEN the tenant and key the events carry (`make run` with KUPE_DEV_API_KEY seeds the same)
    let app = TestApp::spawn().await;
    kupe_shared::admin::create_tenant(&app.ctx.store, "dev", Some("pro"))
        .await
        .unwrap();
    let key = kupe_shared::admin::NewKey {
        tenant: "dev",
        role: "admin",
        display_name: "dev",
        expires_at: None,
        created_by: "tests",
        fixed_key: Some("kupe_0123abcd_devsecretdevsecretdevsecret"),
    };
    kupe_shared::admin::create_api_key(&app.ctx.store, &key)
        .await
        .unwrap();
    // WHEN each event is handed to its route's handler, in a sensible order
    let expected = [
        ("create-cluster", StatusCode::CREATED),
        ("list-clusters", StatusCode::OK),
        ("get-cluster", StatusCode::OK),
        ("update-cluster", StatusCode::OK),
        // the create's operation, replaced by the update's: listed, read, not retryable
        ("list-operations", StatusCode::OK),
        ("get-operation", StatusCode::OK),
        ("retry-operation", StatusCode::CONFLICT),
        ("get-kubeconfig", StatusCode::SERVICE_UNAVAILABLE),
        ("create-apikey", StatusCode::CREATED),
        ("list-apikeys", StatusCode::OK),
        ("delete-apikey", StatusCode::NOT_FOUND),
        ("delete-cluster", StatusCode::NO_CONTENT),
        // tenancy
        ("get-tenant", StatusCode::OK),
        ("update-tenant", StatusCode::OK),
        ("list-plans", StatusCode::OK),
        ("get-plan", StatusCode::OK),
        ("add-member", StatusCode::CREATED),
        ("list-members", StatusCode::OK),
        ("update-member", StatusCode::OK),
        ("remove-member", StatusCode::NO_CONTENT),
        // without cascade, while the deleting cluster still holds its slot
        ("delete-tenant", StatusCode::CONFLICT),
        // alertmanager: a receiver, routes that use it (so its delete is refused), global
        ("put-alertmanager-receiver", StatusCode::CREATED),
        ("get-alertmanager-receiver", StatusCode::OK),
        ("list-alertmanager-receivers", StatusCode::OK),
        ("put-alertmanager-routes", StatusCode::OK),
        ("get-alertmanager-routes", StatusCode::OK),
        ("delete-alertmanager-receiver", StatusCode::CONFLICT),
        ("put-alertmanager-global", StatusCode::OK),
        ("get-alertmanager-global", StatusCode::OK),
        ("get-alertmanager-config", StatusCode::OK),
        // a managed secret on the (still deleting) cluster `prod`
        ("create-secret", StatusCode::CREATED),
        ("list-secrets", StatusCode::OK),
        ("get-secret", StatusCode::OK),
        ("update-secret", StatusCode::OK),
        ("delete-secret", StatusCode::NO_CONTENT),
    ];
    assert_eq!(expected.len(), Route::ALL.len(), "one event per route");
    for (name, status) in expected {
        let route = Route::ALL
            .into_iter()
            .find(|r| r.function() == name)
            .unwrap();
        let request = lambda_http::request::from_str(&event(name)).expect("an API Gateway event");
        let response = route.call(&app.ctx, request).await;
        // THEN each answers as the API promises
        assert_eq!(response.status(), status, "{name}");
    }
}

#[test]
fn the_worker_events_parse_into_what_the_workers_take() {
    let stream: aws_lambda_events::dynamodb::Event =
        serde_json::from_str(&event("dispatcher")).unwrap();
    let rec = &stream.records[0].change;
    let input =
        kupe_shared::workers::dispatcher::execution_for(&rec.new_image, &rec.old_image).unwrap();
    assert_eq!(input.action, kupe_shared::workflow::Action::Provision);
    let sqs: aws_lambda_events::sqs::SqsEvent =
        serde_json::from_str(&event("provisioner")).unwrap();
    let msg: kupe_shared::workflow::TaskMessage =
        serde_json::from_str(sqs.records[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(msg.step, kupe_shared::workflow::Step::Start);
    assert!(
        msg.queue_url.is_some() && msg.check_interval_seconds.is_some(),
        "as the state machine sends it: {msg:?}"
    );
    let sqs: aws_lambda_events::sqs::SqsEvent =
        serde_json::from_str(&event("provisioner-secret-sync")).unwrap();
    let msg: kupe_shared::workflow::SecretTaskMessage =
        serde_json::from_str(sqs.records[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(msg.kind, kupe_shared::workflow::SECRET_SYNC_KIND);
    assert!(
        serde_json::from_str::<kupe_shared::workflow::TaskMessage>(
            sqs.records[0].body.as_deref().unwrap()
        )
        .is_err(),
        "a secret task is never read as a cluster task"
    );
    let eb: aws_lambda_events::eventbridge::EventBridgeEvent<serde_json::Value> =
        serde_json::from_str(&event("reconciler")).unwrap();
    let input: kupe_shared::workflow::ExecutionInput =
        serde_json::from_str(eb.detail["input"].as_str().unwrap()).unwrap();
    assert_eq!(input.generation, 1);
}

//! Managed secrets through the handlers against the emulator: create, get, list (sorted,
//! paginated), PATCH of the target list (If-Match, fixed fields, `[]`/`null`), DELETE, the
//! validation table (each refusal names its field and writes nothing), 409 on a duplicate name,
//! the tenant's 1,000-secret limit (also under concurrency), roles and tenancy, no field that
//! could carry a value, and the purge. The sync workflow's tests are in `secret_sync`.

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use kupe_shared::store::schema::{tenant_pk, SECRET_COUNT_SK};
use kupe_tests::{TestApp, TestResponse, M};
use lambda_http::http::StatusCode;
use serde_json::{json, Value};

fn secrets(app: &TestApp) -> String {
    format!("/api/v1/tenants/{}/secrets", app.tenant)
}

fn secret(app: &TestApp, name: &str) -> String {
    format!("{}/{name}", secrets(app))
}

async fn create(app: &TestApp, body: Value) -> TestResponse {
    app.req(M::POST, &secrets(app)).json(body).send().await
}

async fn patch(app: &TestApp, name: &str, body: Value) -> TestResponse {
    app.req(M::PATCH, &secret(app, name))
        .json(body)
        .send()
        .await
}

/// A tenant with clusters `prod` and `stage`.
async fn world() -> TestApp {
    let app = TestApp::spawn().await;
    app.create("prod").await;
    app.create("stage").await;
    app
}

#[tokio::test]
async fn a_secret_is_created_read_listed_patched_and_deleted() {
    let app = world().await;
    // WHEN a secret with two targets is created
    let r = create(
        &app,
        json!({"name": "db-creds", "secretPath": "apps/db/prod",
               "sync": [{"cluster": "prod", "namespace": "default"},
                        {"cluster": "stage", "namespace": "apps", "secretName": "db"}]}),
    )
    .await;
    // THEN 201 with the ETag, the targets as given, and every target waiting for the sync
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.etag(), "\"1\"");
    let b = &r.body;
    assert_eq!(b["name"], "db-creds");
    assert_eq!(b["secretPath"], "apps/db/prod");
    assert_eq!(
        b["sync"],
        json!([{"cluster": "prod", "namespace": "default"},
               {"cluster": "stage", "namespace": "apps", "secretName": "db"}])
    );
    assert_eq!(b["resourceVersion"], "1");
    assert_eq!(b["generation"], 1);
    assert_eq!(b["status"]["phase"], "Pending");
    assert_eq!(b["status"]["observedGeneration"], 0);
    assert_eq!(b["status"]["conditions"][0]["type"], "Ready");
    assert_eq!(b["status"]["conditions"][0]["status"], "False");
    let statuses = b["status"]["syncStatuses"].as_array().unwrap();
    assert_eq!(statuses.len(), 2);
    assert_eq!(statuses[0]["secretName"], "db-creds", "the default name");
    assert_eq!(statuses[1]["secretName"], "db");
    assert_eq!(statuses[0]["phase"], "Pending");
    assert!(b["createdAt"].as_str().unwrap().ends_with('Z'));
    // a readonly key reads it, with the same ETag; If-None-Match answers 304
    let g = app
        .req(M::GET, &secret(&app, "db-creds"))
        .key(Some(&app.readonly))
        .send()
        .await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.etag(), "\"1\"");
    assert_eq!(g.body, r.body);
    let nm = app
        .req(M::GET, &secret(&app, "db-creds"))
        .header("If-None-Match", "\"1\"")
        .send()
        .await;
    assert_eq!(nm.status, StatusCode::NOT_MODIFIED);
    // PATCH replaces the whole list: a new generation, a new ETag
    let p = app
        .req(M::PATCH, &secret(&app, "db-creds"))
        .header("If-Match", "\"1\"")
        .json(json!({"sync": [{"cluster": "prod", "namespace": "default"}]}))
        .send()
        .await;
    assert_eq!(p.status, StatusCode::OK, "{:?}", p.body);
    assert_eq!(p.etag(), "\"2\"");
    assert_eq!(p.body["generation"], 2);
    assert_eq!(p.body["sync"].as_array().unwrap().len(), 1);
    assert_eq!(
        p.body["status"]["syncStatuses"].as_array().unwrap().len(),
        1
    );
    // the same list again changes nothing
    let same = patch(
        &app,
        "db-creds",
        json!({"sync": [{"cluster": "prod", "namespace": "default"}], "name": "db-creds",
               "secretPath": "apps/db/prod"}),
    )
    .await;
    assert_eq!(same.status, StatusCode::OK);
    assert_eq!(same.etag(), "\"2\"");
    // `{"sync": []}` stops syncing and keeps the secret; `null` reads the same
    let none = patch(&app, "db-creds", json!({"sync": []})).await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.body["sync"], json!([]));
    assert_eq!(none.body["generation"], 3);
    let null = patch(&app, "db-creds", json!({"sync": null})).await;
    assert_eq!((null.status, null.etag()), (StatusCode::OK, "\"3\"".into()));
    // DELETE: 204, then Deleting (the sync removes the copies, then the secret goes: that is
    // the workflow's part, tested in secret_sync); a repeated DELETE is 204
    let d = app.req(M::DELETE, &secret(&app, "db-creds")).send().await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    let g = app.req(M::GET, &secret(&app, "db-creds")).send().await;
    assert_eq!(g.body["status"]["phase"], "Deleting");
    assert_eq!(g.body["generation"], 4);
    let again = app
        .req(M::DELETE, &secret(&app, "db-creds"))
        .header("If-Match", "\"1\"")
        .send()
        .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    // a PATCH of a deleting secret is 409
    let late = patch(&app, "db-creds", json!({"sync": []})).await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{:?}", late.body);
    let missing = app.req(M::GET, &secret(&app, "nope")).send().await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body["code"], "NotFound");
}

#[tokio::test]
async fn the_list_is_sorted_by_name_and_pages_with_continue() {
    let app = world().await;
    for name in ["cc", "aa", "bb"] {
        let r = create(&app, json!({"name": name, "secretPath": "p"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let all = app
        .req(M::GET, &secrets(&app))
        .key(Some(&app.readonly))
        .send()
        .await;
    assert_eq!(all.status, StatusCode::OK);
    let names: Vec<&str> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["aa", "bb", "cc"]);
    assert!(all.body.get("continue").is_none());
    let first = app
        .req(M::GET, &secrets(&app))
        .query("limit", "2")
        .send()
        .await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    let token = first.body["continue"].as_str().unwrap().to_string();
    let rest = app
        .req(M::GET, &secrets(&app))
        .query("limit", "2")
        .query("continue", &token)
        .send()
        .await;
    assert_eq!(rest.body["items"][0]["name"], "cc");
    assert!(rest.body.get("continue").is_none());
    for (q, v) in [("limit", "0"), ("limit", "1001"), ("continue", "garbage")] {
        let r = app.req(M::GET, &secrets(&app)).query(q, v).send().await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}={v}");
        assert_eq!(r.body["field"], q);
    }
}

#[tokio::test]
async fn every_broken_rule_is_a_400_naming_its_field_and_writes_nothing() {
    let app = world().await;
    let ok = |extra: Value| {
        let mut b = json!({"name": "db-creds", "secretPath": "apps/db",
                           "sync": [{"cluster": "prod", "namespace": "default"}]});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let t = |c: &str, ns: &str| json!({"cluster": c, "namespace": ns});
    let cases: Vec<(Value, &str)> = vec![
        (json!({"secretPath": "a"}), "name"),
        (ok(json!({"name": "a"})), "name"),
        (ok(json!({"name": "Db"})), "name"),
        (ok(json!({"name": "a".repeat(64)})), "name"),
        (ok(json!({"name": 7})), "name"),
        (json!({"name": "db-creds"}), "secretPath"),
        (ok(json!({"secretPath": ""})), "secretPath"),
        (ok(json!({"secretPath": "/abs"})), "secretPath"),
        (ok(json!({"secretPath": "a/../b"})), "secretPath"),
        (ok(json!({"secretPath": "a//b"})), "secretPath"),
        (ok(json!({"secretPath": "a b"})), "secretPath"),
        (ok(json!({"secretPath": "a".repeat(513)})), "secretPath"),
        (ok(json!({"sync": {}})), "sync"),
        (ok(json!({"sync": [{"namespace": "a"}]})), "sync[0].cluster"),
        (ok(json!({"sync": [t("Prod", "a")]})), "sync[0].cluster"),
        (
            ok(json!({"sync": [{"cluster": "prod"}]})),
            "sync[0].namespace",
        ),
        (
            ok(json!({"sync": [t("prod", "a"), t("prod", "Kube")]})),
            "sync[1].namespace",
        ),
        (
            ok(json!({"sync": [t("prod", &"a".repeat(64))]})),
            "sync[0].namespace",
        ),
        (
            ok(json!({"sync": [{"cluster": "prod", "namespace": "a", "secretName": "a_b"}]})),
            "sync[0].secretName",
        ),
        (
            ok(json!({"sync": [{"cluster": "prod", "namespace": "a", "extra": 1}]})),
            "sync[0].extra",
        ),
        // duplicates: the default secretName is the secret's name
        (
            ok(json!({"sync": [t("prod", "a"),
                               {"cluster": "prod", "namespace": "a", "secretName": "db-creds"}]})),
            "sync[1]",
        ),
        // a cluster the tenant does not have
        (
            ok(json!({"sync": [t("prod", "a"), t("nope", "a")]})),
            "sync[1].cluster",
        ),
        // there is no field for a value: the server never holds one
        (ok(json!({"value": "hunter2"})), "value"),
        (ok(json!({"data": {"password": "hunter2"}})), "data"),
    ];
    let before = app.items().await;
    for (body, field) in &cases {
        let r = create(&app, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {:?}", r.body);
        assert_eq!(r.body["code"], "ValidationFailed", "{body}");
        assert_eq!(r.body["field"], *field, "{body}: {:?}", r.body);
    }
    // more than 100 targets
    let many: Vec<Value> = (0..101).map(|i| t("prod", &format!("n{i}"))).collect();
    let r = create(&app, ok(json!({ "sync": many }))).await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("sync"))
    );
    // bodies: not JSON, not an object, the wrong media type, over 64 KiB
    for (ctype, body) in [
        ("application/json", b"{".to_vec()),
        ("application/json", b"[]".to_vec()),
        (
            "text/plain",
            br#"{"name":"db-creds","secretPath":"a"}"#.to_vec(),
        ),
        (
            "application/json",
            format!(r#"{{"name":"db","secretPath":"{}"}}"#, "a".repeat(70_000)).into_bytes(),
        ),
    ] {
        let r = app
            .req(M::POST, &secrets(&app))
            .raw(ctype, &body)
            .send()
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{ctype}");
    }
    assert_eq!(
        app.items().await,
        before,
        "a refused request writes nothing"
    );
    // and the PATCH rules, on a secret that exists
    let r = create(&app, ok(json!({}))).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let before = app.items().await;
    for (body, field) in [
        (json!({}), "sync"),
        (json!({"name": "db-creds"}), "sync"),
        (json!({"sync": [], "name": "other"}), "name"),
        (json!({"sync": [], "secretPath": "other"}), "secretPath"),
        (json!({"sync": [], "value": "x"}), "value"),
        (json!({"sync": [t("nope", "a")]}), "sync[0].cluster"),
        (json!({"sync": [t("prod", "a"), t("prod", "a")]}), "sync[1]"),
    ] {
        let r = patch(&app, "db-creds", body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {:?}", r.body);
        assert_eq!(r.body["field"], field, "{body}");
    }
    let r = patch(&app, "Bad", json!({"sync": []})).await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("name"))
    );
    assert_eq!(app.items().await, before, "a refused PATCH writes nothing");
}

#[tokio::test]
async fn a_taken_name_is_409_and_if_match_guards_patch_and_delete() {
    let app = world().await;
    let body = json!({"name": "db-creds", "secretPath": "a", "sync": [{"cluster": "prod", "namespace": "a"}]});
    assert_eq!(create(&app, body.clone()).await.status, StatusCode::CREATED);
    let before = app.items().await;
    let dup = create(&app, body).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.body["code"], "AlreadyExists");
    assert_eq!(dup.error(), "Secret name already exists");
    // a stale or weak tag is 412 and writes nothing
    for tag in ["\"7\"", "W/\"1\""] {
        let r = app
            .req(M::PATCH, &secret(&app, "db-creds"))
            .header("If-Match", tag)
            .json(json!({"sync": []}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{tag}");
        assert_eq!(r.body["code"], "PreconditionFailed");
        let r = app
            .req(M::DELETE, &secret(&app, "db-creds"))
            .header("If-Match", tag)
            .send()
            .await;
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{tag}");
    }
    assert_eq!(app.items().await, before);
    let r = app
        .req(M::PATCH, &secret(&app, "db-creds"))
        .header("If-Match", "*")
        .json(json!({"sync": []}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // a name re-created after its deletion finished continues its version count
    app.req(M::DELETE, &secret(&app, "db-creds")).send().await;
    let current = app.req(M::GET, &secret(&app, "db-creds")).send().await;
    let rv: u64 = current.body["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let retired = app
        .ctx
        .store
        .secrets()
        .retire(
            &app.tenant,
            "db-creds",
            3,
            kupe_shared::domain::etag::ResourceVersion(rv),
        )
        .await
        .unwrap();
    assert!(retired);
    assert_eq!(
        app.req(M::GET, &secret(&app, "db-creds"))
            .send()
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let again = create(&app, json!({"name": "db-creds", "secretPath": "a"})).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body["resourceVersion"], (rv + 2).to_string());
}

#[tokio::test]
async fn readonly_keys_read_but_do_not_write_and_other_tenants_get_the_one_403() {
    let app = world().await;
    assert_eq!(
        create(&app, json!({"name": "db-creds", "secretPath": "a"}))
            .await
            .status,
        StatusCode::CREATED
    );
    let other = app.tenant("pro").await;
    let stranger = app.key(&other, "admin", None).await;
    let before = app.items().await;
    let body = json!({"name": "x2", "secretPath": "a"});
    let requests = [
        (M::POST, secrets(&app), Some(body.clone())),
        (M::GET, secrets(&app), None),
        (M::GET, secret(&app, "db-creds"), None),
        (
            M::PATCH,
            secret(&app, "db-creds"),
            Some(json!({"sync": []})),
        ),
        (M::DELETE, secret(&app, "db-creds"), None),
    ];
    for (method, path, body) in &requests {
        let mut req = app.req(method.clone(), path).key(Some(&stranger));
        if let Some(b) = body {
            req = req.json(b.clone());
        }
        let r = req.send().await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(r.error(), "Not a member of this tenant");
        assert!(!r.body.to_string().contains("db-creds"));
    }
    for (method, path, body) in &requests {
        let mut req = app.req(method.clone(), path).key(Some(&app.readonly));
        if let Some(b) = body {
            req = req.json(b.clone());
        }
        let r = req.send().await;
        if *method == M::GET {
            assert_eq!(r.status, StatusCode::OK, "{method} {path}");
        } else {
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
            assert_eq!(r.body["code"], "AdminRequired");
        }
    }
    let anonymous = app.req(M::GET, &secrets(&app)).key(None).send().await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.items().await, before, "refusals write nothing");
}

/// Sets the tenant's live-secret counter, as if it had `n` secrets.
async fn set_count(app: &TestApp, n: u64) {
    app.ctx
        .store
        .client()
        .put_item()
        .table_name(&app.table)
        .item("pk", AttributeValue::S(tenant_pk(&app.tenant)))
        .item("sk", AttributeValue::S(SECRET_COUNT_SK.into()))
        .item("secretCount", AttributeValue::N(n.to_string()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_tenant_holds_at_most_1000_secrets_even_under_concurrency() {
    let app = world().await;
    set_count(&app, 999).await;
    // the 1,000th fits
    let r = create(&app, json!({"name": "last", "secretPath": "a"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // the 1,001st does not, and writes nothing
    let before = app.items().await;
    let r = create(&app, json!({"name": "over", "secretPath": "a"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["code"], "QuotaExceeded");
    assert!(r.error().contains("1000"), "{}", r.error());
    assert_eq!(app.items().await, before);
    // a deletion gives its place back at once
    app.req(M::DELETE, &secret(&app, "last")).send().await;
    // eight concurrent creates for the one free place: exactly one lands
    let creates = (0..8).map(|i| {
        let app = &app;
        async move { create(app, json!({"name": format!("race-{i}"), "secretPath": "a"})).await }
    });
    let results = join_all(creates).await;
    let won = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let full = results
        .iter()
        .filter(|r| r.status == StatusCode::FORBIDDEN)
        .count();
    assert_eq!((won, full), (1, 7), "{results:?}");
    let listed = app.req(M::GET, &secrets(&app)).send().await;
    let live: Vec<&Value> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"].as_str().unwrap().starts_with("race-"))
        .collect();
    assert_eq!(live.len(), 1);
}

#[tokio::test]
async fn the_tenant_purge_removes_the_secret_items() {
    let app = world().await;
    create(&app, json!({"name": "kept", "secretPath": "a"})).await;
    create(&app, json!({"name": "gone", "secretPath": "a"})).await;
    app.req(M::DELETE, &secret(&app, "gone")).send().await;
    let pk = tenant_pk(&app.tenant);
    let secret_items = |items: &[std::collections::HashMap<String, AttributeValue>]| {
        items
            .iter()
            .filter(|i| {
                i["pk"].as_s().unwrap() == &pk && i["sk"].as_s().unwrap().starts_with("SECRET")
            })
            .count()
    };
    assert_eq!(
        secret_items(&app.items().await),
        3,
        "two secrets and the counter"
    );
    // the clusters go first (their teardown is the workflow's): retire them by hand
    for c in ["prod", "stage"] {
        app.req(M::DELETE, &app.cluster(c)).send().await;
        let name = kupe_shared::domain::names::ClusterName::parse(c).unwrap();
        let tenant = kupe_shared::domain::names::TenantName::parse(&app.tenant).unwrap();
        app.ctx
            .store
            .clusters()
            .finish_deletion(&tenant, &name, 2)
            .await
            .unwrap();
    }
    let r = app
        .req(M::DELETE, &format!("/api/v1/tenants/{}", app.tenant))
        .json(json!({"confirm": app.tenant}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let late = create(&app, json!({"name": "late", "secretPath": "a"})).await;
    assert_eq!(
        late.status,
        StatusCode::CONFLICT,
        "no writes while terminating"
    );
    let purged = app
        .ctx
        .store
        .tenant_purge()
        .purge(&app.tenant)
        .await
        .unwrap();
    assert_eq!(purged, kupe_shared::store::tenant_purge::Purged::Purged);
    assert_eq!(secret_items(&app.items().await), 0);
}

#[tokio::test]
async fn a_status_written_from_a_stale_read_lands_nowhere_and_the_sync_reconciles_the_newest() {
    use kupe_shared::{
        domain::{etag::ResourceVersion, names::SecretName, secret::SecretPhase},
        provider::simulated::{Simulated, SimulatedConfig},
        workers::secret_sync::{sync_secret, Synced},
    };
    let app = world().await;
    let tenant = kupe_shared::domain::names::TenantName::parse(&app.tenant).unwrap();
    let name = SecretName::parse("db-creds").unwrap();
    create(
        &app,
        json!({"name": "db-creds", "secretPath": "a",
               "sync": [{"cluster": "prod", "namespace": "default"}]}),
    )
    .await;
    // GIVEN a sync that read generation 1 at version 1, and a PATCH that landed since
    let stale = app
        .ctx
        .store
        .secrets()
        .get(&tenant, &name)
        .await
        .unwrap()
        .and_then(|s| s.live())
        .unwrap();
    let p = patch(&app, "db-creds", json!({"sync": []})).await;
    assert_eq!(p.status, StatusCode::OK);
    let before = app.items().await;
    // WHEN the stale sync writes its status (for its generation, or with the new one)
    let mut active = stale.clone();
    active.phase = SecretPhase::Active;
    for generation in [1, 2] {
        active.generation = generation;
        let landed = app
            .ctx
            .store
            .secrets()
            .write_status(
                &app.tenant,
                &active,
                ResourceVersion(1),
                "2026-01-01T00:00:00Z",
            )
            .await
            .unwrap();
        // THEN it lands nowhere
        assert!(!landed, "generation {generation}");
    }
    assert_eq!(app.items().await, before);
    // and a sync run now reconciles the newest spec: no targets, Active, generation 2 observed
    let provider = Simulated::new(
        app.ctx.store.clone(),
        SimulatedConfig::fast("clusters.test"),
    );
    let synced = sync_secret(&app.ctx.store, &provider, &tenant, &name)
        .await
        .unwrap();
    assert_eq!(synced, Synced::Status(SecretPhase::Active));
    let g = app.req(M::GET, &secret(&app, "db-creds")).send().await;
    assert_eq!(g.body["status"]["observedGeneration"], 2);
    assert_eq!(g.body["status"]["phase"], "Active");
    // a target on a cluster still being created waits for it, and says so
    patch(
        &app,
        "db-creds",
        json!({"sync": [{"cluster": "prod", "namespace": "default"}]}),
    )
    .await;
    let synced = sync_secret(&app.ctx.store, &provider, &tenant, &name)
        .await
        .unwrap();
    assert_eq!(synced, Synced::Status(SecretPhase::Pending));
    let g = app.req(M::GET, &secret(&app, "db-creds")).send().await;
    let target = &g.body["status"]["syncStatuses"][0];
    assert_eq!(target["phase"], "Pending");
    assert_eq!(
        target["message"],
        "cluster prod is Pending; the secret is placed once it is Running"
    );
    assert!(provider.copies(&app.tenant).await.unwrap().is_empty());
}

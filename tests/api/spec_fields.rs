//! Issue 12's spec fields against the emulator: `deletionProtection`, `labels` and
//! `annotations` (and `labelSelector` with pagination), `network`, `endpointAccess`, `addons`.
//! Every refusal is a 400 (or 409) naming the field, and writes nothing.

use kupe_shared::{
    api::clusters::deletion_of,
    store::{
        clusters::DeletionGuard,
        item::{to_item, ClusterItem},
        Outcome,
    },
};
use kupe_tests::{LifecycleApp, TestApp, M};
use lambda_http::http::StatusCode;
use serde_json::{json, Value};

fn body(name: &str, extra: Value) -> Value {
    let mut b = json!({"name": name, "displayName": "D", "type": "shared"});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        b[k] = v;
    }
    b
}

#[tokio::test]
async fn a_create_shows_every_new_field_with_its_defaults() {
    let app = TestApp::spawn().await;
    let r = app
        .req(M::POST, &app.clusters())
        .json(body("plain", json!({})))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["labels"], json!({}));
    assert_eq!(r.body["annotations"], json!({}));
    assert_eq!(r.body["deletionProtection"], false);
    assert_eq!(
        r.body["network"],
        json!({"podCidr": "10.244.0.0/16", "serviceCidr": "10.96.0.0/12"})
    );
    assert_eq!(
        r.body["endpointAccess"],
        json!({"public": true, "allowedCidrs": []})
    );
    assert_eq!(r.body["addons"], json!([]));
    let full = json!({
        "labels": {"env": "prod", "example.com/team": "web", "empty": ""},
        "annotations": {"kupe.io/owner": "ops team <ops@example.com>"},
        "deletionProtection": true,
        "network": {"podCidr": "172.20.0.0/16", "serviceCidr": "192.168.0.0/20"},
        "endpointAccess": {"public": true, "allowedCidrs": ["203.0.113.0/24", "0.0.0.0/0"]},
        "addons": [
            {"name": "metrics-server"},
            {"name": "ingress-nginx", "config": {"replicas": 2}, "disabled": true}
        ]
    });
    let r = app
        .req(M::POST, &app.clusters())
        .json(body("full", full.clone()))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let got = app.req(M::GET, &app.cluster("full")).send().await.body;
    for field in [
        "labels",
        "annotations",
        "deletionProtection",
        "network",
        "endpointAccess",
    ] {
        assert_eq!(got[field], full[field], "{field}");
        assert_eq!(r.body[field], full[field], "{field}");
    }
    assert_eq!(
        got["addons"],
        json!([
            {"name": "metrics-server", "config": {}, "disabled": false},
            {"name": "ingress-nginx", "config": {"replicas": 2}, "disabled": true}
        ])
    );
}

#[tokio::test]
async fn every_create_rule_is_a_400_naming_the_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let before = app.items().await;
    let long = "a".repeat(64);
    for (extra, field) in [
        (json!({"labels": {"-bad": "x"}}), "labels.-bad"),
        (
            json!({"labels": {"Example.com/x": "x"}}),
            "labels.Example.com/x",
        ),
        (
            json!({"labels": {long.clone(): "x"}}),
            &*format!("labels.{long}"),
        ),
        (json!({"labels": {"tier": "not ok"}}), "labels.tier"),
        (json!({"labels": {"tier": long.clone()}}), "labels.tier"),
        (json!({"labels": {"tier": 3}}), "labels.tier"),
        (json!({"labels": "env=prod"}), "labels"),
        (json!({"annotations": {"a b": "x"}}), "annotations.a b"),
        (json!({"deletionProtection": "yes"}), "deletionProtection"),
        (
            json!({"network": {"podCidr": "8.8.0.0/16"}}),
            "network.podCidr",
        ),
        (
            json!({"network": {"podCidr": "10.244.0.1/16"}}),
            "network.podCidr",
        ),
        (
            json!({"network": {"podCidr": "10.0.0.0/22"}}),
            "network.podCidr",
        ),
        (
            json!({"network": {"podCidr": "10.0.0.0"}}),
            "network.podCidr",
        ),
        (
            json!({"network": {"serviceCidr": "10.0.0.0/8"}}),
            "network.serviceCidr",
        ),
        (
            json!({"network": {"serviceCidr": "10.96.0.0/25"}}),
            "network.serviceCidr",
        ),
        (
            json!({"network": {"podCidr": "10.0.0.0/8", "serviceCidr": "10.96.0.0/12"}}),
            "network.serviceCidr",
        ),
        (
            json!({"network": {"gateway": "10.0.0.1"}}),
            "network.gateway",
        ),
        (
            json!({"endpointAccess": {"public": false, "allowedCidrs": ["1.2.3.0/24"]}}),
            "endpointAccess.allowedCidrs",
        ),
        (
            json!({"endpointAccess": {"allowedCidrs": ["1.2.3.4/24"]}}),
            "endpointAccess.allowedCidrs[0]",
        ),
        (
            json!({"endpointAccess": {"allowedCidrs": (0..33).map(|i| format!("10.{i}.0.0/16")).collect::<Vec<_>>()}}),
            "endpointAccess.allowedCidrs",
        ),
        (json!({"addons": [{"name": "nope"}]}), "addons[0].name"),
        (
            json!({"addons": [{"name": "cert-manager"}, {"name": "cert-manager"}]}),
            "addons[1].name",
        ),
        (
            json!({"addons": [{"name": "cert-manager", "config": "a=b"}]}),
            "addons[0].config",
        ),
        (
            json!({"addons": [{"name": "cert-manager", "config": {"x": "y".repeat(9000)}}]}),
            "addons[0].config",
        ),
        (json!({"addons": [{"config": {}}]}), "addons[0].name"),
    ] {
        let r = app
            .req(M::POST, &app.clusters())
            .json(body("bad", extra.clone()))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{extra}: {:?}", r.body);
        assert_eq!(r.body["field"], field, "{extra}: {:?}", r.body);
        assert_eq!(r.body["code"], "ValidationFailed");
    }
    assert_eq!(app.items().await, before, "a refused create writes nothing");
}

#[tokio::test]
async fn labels_and_annotations_merge_without_a_new_generation() {
    let app = TestApp::spawn().await;
    app.req(M::POST, &app.clusters())
        .json(body(
            "prod",
            json!({"labels": {"env": "prod", "tier": "web"}, "annotations": {"a": "1"}}),
        ))
        .send()
        .await;
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .raw(
            "application/merge-patch+json",
            br#"{"labels": {"tier": null, "team": "core"}, "annotations": {"b": "2"}}"#,
        )
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["labels"], json!({"env": "prod", "team": "core"}));
    assert_eq!(r.body["annotations"], json!({"a": "1", "b": "2"}));
    assert_eq!(
        r.body["generation"], 1,
        "labels are metadata, not a rollout"
    );
    assert_eq!(r.body["resourceVersion"], "2");
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"labels": null, "deletionProtection": true}))
        .send()
        .await;
    assert_eq!(r.body["labels"], json!({}));
    assert_eq!(r.body["deletionProtection"], true);
    assert_eq!(r.body["generation"], 1);
    // the same labels again: nothing to write
    let before = app.items().await;
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"annotations": {"a": "1"}, "deletionProtection": true}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(app.items().await, before, "a no-op PATCH writes nothing");
    // annotations are capped in total (64 KiB), whatever each request's size
    let half = "x".repeat(40 * 1024);
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"annotations": {"first": half}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let before = app.items().await;
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"annotations": {"second": half}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(r.body["field"], "annotations");
    assert_eq!(app.items().await, before);
    // a private endpoint with a list of sources is refused, and writes nothing
    app.req(M::PATCH, &app.cluster("prod"))
        .json(json!({"endpointAccess": {"allowedCidrs": ["192.0.2.0/24"]}}))
        .send()
        .await;
    let before = app.items().await;
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"endpointAccess": {"public": false}}))
        .send()
        .await;
    assert_eq!(
        r.body["field"], "endpointAccess.allowedCidrs",
        "{:?}",
        r.body
    );
    assert_eq!(app.items().await, before);
}

#[tokio::test]
async fn endpoint_access_and_addons_changes_are_rollouts() {
    let app = TestApp::spawn().await;
    app.create("prod").await;
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"endpointAccess": {"allowedCidrs": ["198.51.100.0/24"]}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["generation"], 2);
    assert_eq!(
        r.body["endpointAccess"],
        json!({"public": true, "allowedCidrs": ["198.51.100.0/24"]})
    );
    // public false needs the list emptied in the same patch
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"endpointAccess": {"public": false, "allowedCidrs": null}}))
        .send()
        .await;
    assert_eq!(r.body["generation"], 3, "{:?}", r.body);
    assert_eq!(
        r.body["endpointAccess"],
        json!({"public": false, "allowedCidrs": []})
    );
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"addons": [{"name": "cert-manager", "config": {"issuer": "acme"}}]}))
        .send()
        .await;
    assert_eq!(r.body["generation"], 4, "{:?}", r.body);
    assert_eq!(r.body["addons"][0]["config"]["issuer"], "acme");
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"addons": null, "endpointAccess": null}))
        .send()
        .await;
    assert_eq!(r.body["generation"], 5);
    assert_eq!(r.body["addons"], json!([]));
    assert_eq!(r.body["endpointAccess"]["public"], true);
}

#[tokio::test]
async fn every_patch_rule_is_a_400_naming_the_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    app.req(M::POST, &app.clusters())
        .json(body(
            "prod",
            json!({"network": {"podCidr": "10.32.0.0/16"}, "labels": {"env": "prod"}}),
        ))
        .send()
        .await;
    let before = app.items().await;
    for (patch, field) in [
        (
            json!({"network": {"podCidr": "10.33.0.0/16"}}),
            "network.podCidr",
        ),
        (
            json!({"network": {"serviceCidr": "10.200.0.0/16"}}),
            "network.serviceCidr",
        ),
        (json!({"network": null}), "network"),
        (json!({"labels": {"bad key": "x"}}), "labels.bad key"),
        (json!({"labels": {"env": "a/b"}}), "labels.env"),
        (json!({"annotations": {"-x": "1"}}), "annotations.-x"),
        (json!({"deletionProtection": 1}), "deletionProtection"),
        (
            json!({"endpointAccess": {"allowedCidrs": ["10.0.0.0/33"]}}),
            "endpointAccess.allowedCidrs[0]",
        ),
        (json!({"addons": [{"name": "istio"}]}), "addons[0].name"),
        (json!({"addons": {"name": "istio"}}), "addons"),
    ] {
        let r = app
            .req(M::PATCH, &app.cluster("prod"))
            .json(patch.clone())
            .send()
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{patch}: {:?}", r.body);
        assert_eq!(r.body["field"], field, "{patch}: {:?}", r.body);
    }
    assert_eq!(app.items().await, before, "a refused PATCH writes nothing");
    // the network echoed as it is: accepted, changes nothing
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"network": {"podCidr": "10.32.0.0/16", "serviceCidr": "10.96.0.0/12"}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(app.items().await, before);
}

#[tokio::test]
async fn a_protected_cluster_refuses_delete_until_patch_clears_it() {
    let app = TestApp::spawn().await;
    app.req(M::POST, &app.clusters())
        .json(body("prod", json!({"deletionProtection": true})))
        .send()
        .await;
    let before = app.items().await;
    let r = app.req(M::DELETE, &app.cluster("prod")).send().await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.body["code"], "DeletionProtected");
    assert!(r.error().contains("deletionProtection"), "{}", r.error());
    // protection wins over a stale If-Match (409 before 412)
    let r = app
        .req(M::DELETE, &app.cluster("prod"))
        .header("if-match", "\"999\"")
        .send()
        .await;
    assert_eq!(r.body["code"], "DeletionProtected");
    assert_eq!(app.items().await, before, "a refused DELETE writes nothing");
    // a tenant cascade sees it too, before anything is written
    let r = app
        .req(M::DELETE, &format!("/api/v1/tenants/{}", app.tenant))
        .json(json!({"confirm": app.tenant, "cascade": true}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.body["code"], "DeletionProtected");
    assert!(r.error().contains("prod"));
    assert_eq!(app.items().await, before);
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"deletionProtection": false}))
        .send()
        .await;
    assert_eq!(r.body["deletionProtection"], false);
    let r = app.req(M::DELETE, &app.cluster("prod")).send().await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_delete_condition_itself_refuses_a_protected_cluster() {
    // GIVEN a protected cluster, read as it is now
    let app = TestApp::spawn().await;
    app.req(M::POST, &app.clusters())
        .json(body("prod", json!({"deletionProtection": true})))
        .send()
        .await;
    let tenant = kupe_shared::domain::names::TenantName::parse(&app.tenant).unwrap();
    let name = kupe_shared::domain::names::ClusterName::parse("prod").unwrap();
    let clusters = app.ctx.store.clusters();
    let current = clusters.get(&tenant, &name).await.unwrap().unwrap();
    // WHEN a deletion is written at exactly its version, skipping the use case's check
    let next = deletion_of(&current);
    let out = clusters
        .mark_deleting(&next, &current, DeletionGuard::Honoured, "t1")
        .await
        .unwrap();
    // THEN the condition refuses it and hands back the protected cluster
    match out {
        Outcome::Conflict(c) => assert!(c.meta.deletion_protection),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let still = clusters.get(&tenant, &name).await.unwrap().unwrap();
    assert_eq!(still.resource_version, current.resource_version);
}

/// A PATCH turning protection on and a DELETE, concurrently: exactly one wins, and the cluster
/// ends as the winner left it (protected and not terminating, or terminating and unprotected).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn protect_and_delete_racing_have_exactly_one_consistent_outcome() {
    let app = TestApp::spawn_with_plan("business").await;
    for round in 0..8 {
        let name = format!("race-{round}");
        app.create(&name).await;
        let path = app.cluster(&name);
        let (p, d) = tokio::join!(
            app.req(M::PATCH, &path)
                .json(json!({"deletionProtection": true}))
                .send(),
            app.req(M::DELETE, &path).send()
        );
        let after = app.req(M::GET, &path).send().await.body;
        let terminating = after["status"]["phase"] == "Terminating";
        let protected = after["deletionProtection"] == true;
        match (p.status, d.status) {
            (StatusCode::OK, StatusCode::CONFLICT) => {
                assert_eq!(d.body["code"], "DeletionProtected", "{round}");
                assert!(protected && !terminating, "{round}: {after}");
            }
            (StatusCode::CONFLICT, StatusCode::NO_CONTENT) => {
                assert!(terminating && !protected, "{round}: {after}");
            }
            other => panic!("{round}: inconsistent outcome {other:?}: {after}"),
        }
    }
}

#[tokio::test]
async fn a_label_selector_filters_pages_and_following_continue_yields_every_match_once() {
    let app = TestApp::spawn_with_plan("business").await;
    // GIVEN nine clusters, every third one without `env`, the rest alternating prod/dev
    let mut want_prod = Vec::new();
    for i in 0..9 {
        let name = format!("c{i}");
        let labels = match i % 3 {
            0 => json!({"tier": "web"}),
            1 => json!({"env": "prod", "tier": "db"}),
            _ => json!({"env": if i % 2 == 0 { "prod" } else { "dev" }}),
        };
        if labels["env"] == "prod" {
            want_prod.push(name.clone());
        }
        let r = app
            .req(M::POST, &app.clusters())
            .json(body(&name, json!({"labels": labels})))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let list = |selector: &str, limit: Option<usize>, token: Option<String>| {
        let mut req = app
            .req(M::GET, &app.clusters())
            .query("labelSelector", selector);
        if let Some(l) = limit {
            req = req.query("limit", &l.to_string());
        }
        if let Some(t) = token {
            req = req.query("continue", &t);
        }
        req.send()
    };
    let names = |b: &Value| -> Vec<String> {
        b["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    // WHEN the whole list is read with a selector
    let all = list("env=prod", None, None).await;
    assert_eq!(names(&all.body), want_prod);
    assert!(all.body.get("continue").is_none());
    // AND page by page, for each limit
    for limit in 1..=4 {
        let mut seen = Vec::new();
        let mut token = None;
        for _ in 0..20 {
            let page = list("env=prod", Some(limit), token.clone()).await;
            assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
            let got = names(&page.body);
            assert!(got.len() <= limit);
            seen.extend(got);
            match page.body.get("continue").and_then(Value::as_str) {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        // THEN every match comes exactly once, and a token only while matches remain
        assert_eq!(seen, want_prod, "limit {limit}");
    }
    for (sel, want) in [
        ("!env", vec!["c0", "c3", "c6"]),
        ("env in (dev),tier", vec![]),
        ("env notin (prod)", vec!["c0", "c3", "c5", "c6"]),
        ("tier!=web,env", vec!["c1", "c2", "c4", "c5", "c7", "c8"]),
        ("tier==db", vec!["c1", "c4", "c7"]),
    ] {
        let r = list(sel, None, None).await;
        assert_eq!(names(&r.body), want, "{sel}");
    }
    for bad in ["env=", "env in (a", "=x", "env=a b", "a,,b"] {
        let r = list(bad, None, None).await;
        if bad == "env=" {
            assert_eq!(r.status, StatusCode::OK, "an empty value is a value");
            continue;
        }
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {:?}", r.body);
        assert_eq!(r.body["field"], "labelSelector", "{bad}");
    }
}

/// An item written before these fields existed reads with their defaults.
#[tokio::test]
async fn a_cluster_stored_before_the_new_fields_reads_with_their_defaults() {
    let app = TestApp::spawn().await;
    let c = kupe_shared::testing::ClusterBuilder::new("old")
        .tenant(&app.tenant)
        .build();
    let mut item = to_item(&ClusterItem::from(&c)).unwrap();
    for attr in [
        "labels",
        "annotations",
        "deletionProtection",
        "podCidr",
        "serviceCidr",
        "endpointAccess",
        "addons",
    ] {
        item.remove(attr);
    }
    app.ctx
        .store
        .client()
        .put_item()
        .table_name(&app.table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
    let r = app.req(M::GET, &app.cluster("old")).send().await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["labels"], json!({}));
    assert_eq!(r.body["deletionProtection"], false);
    assert_eq!(r.body["network"]["podCidr"], "10.244.0.0/16");
    assert_eq!(
        r.body["endpointAccess"],
        json!({"public": true, "allowedCidrs": []})
    );
    assert_eq!(r.body["addons"], json!([]));
    // and a PATCH of the old item works and fills the attributes in
    let r = app
        .req(M::PATCH, &app.cluster("old"))
        .json(json!({"labels": {"era": "before"}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["labels"]["era"], "before");
    let r = app.req(M::DELETE, &app.cluster("old")).send().await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "an old item is unprotected"
    );
}

/// An `endpointAccess` or `addons` change rolls out through the workflow (`Updating`), and the
/// simulated provider records what the new generation applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_endpoint_access_change_rolls_out_and_the_provider_applies_it() {
    let lc = LifecycleApp::spawn(|_| {}).await;
    let app = &lc.app;
    app.req(M::POST, &app.clusters())
        .json(body(
            "prod",
            json!({"addons": [{"name": "metrics-server"}]}),
        ))
        .send()
        .await;
    let done = |c: &Value| {
        c["status"]["phase"] == "Running" && c["status"]["observedGeneration"] == c["generation"]
    };
    lc.wait_for("prod", 30, done).await;
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({
            "endpointAccess": {"allowedCidrs": ["203.0.113.0/24"]},
            "addons": [{"name": "metrics-server"}, {"name": "cert-manager", "disabled": true}]
        }))
        .send()
        .await;
    assert_eq!(r.body["generation"], 2, "{:?}", r.body);
    let c = lc.wait_for("prod", 30, done).await;
    assert_eq!(c["status"]["observedGeneration"], 2);
    let incarnation = 1;
    let op = app
        .ctx
        .store
        .client()
        .get_item()
        .table_name(&app.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "SIM#{}#prod#{incarnation}",
                app.tenant
            )),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("OP#2".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the provider recorded generation 2");
    assert_eq!(op["action"].as_s().unwrap(), "Update");
    let access: Value = serde_json::from_str(op["endpointAccess"].as_s().unwrap()).unwrap();
    assert_eq!(access["allowedCidrs"], json!(["203.0.113.0/24"]));
    let addons: Vec<&str> = op["addons"]
        .as_l()
        .unwrap()
        .iter()
        .map(|a| a.as_s().unwrap().as_str())
        .collect();
    assert_eq!(
        addons,
        ["metrics-server"],
        "a disabled addon is not installed"
    );
    // labels alone start no rollout
    let before = lc.executions().await.len();
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"labels": {"env": "prod"}}))
        .send()
        .await;
    assert_eq!(r.body["generation"], 2);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        lc.executions().await.len(),
        before,
        "no execution for labels"
    );
}

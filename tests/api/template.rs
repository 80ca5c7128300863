//! `template.yaml` deploys what the code serves: one function per route with the route's crate
//! as its binary, every function crate in the template, and the state machine from the ASL file.

use kupe_local::{Route, BASE_PATH, NOT_SERVED};
use kupe_shared::routes::Auth;
use serde_yaml::Value;

fn template() -> Value {
    let text = std::fs::read_to_string(kupe_tests::repo_root().join("template.yaml")).unwrap();
    // CloudFormation's short-form tags (!Ref, !Sub ...) are plain values for this check.
    let text = text
        .replace("!GetAtt ", "")
        .replace("!Ref ", "")
        .replace("!Sub ", "");
    serde_yaml::from_str(&text).expect("template.yaml parses")
}

#[test]
fn every_route_is_one_function_with_its_own_binary_and_api_event() {
    let t = template();
    let resources = t["Resources"].as_mapping().unwrap();
    for route in Route::ALL {
        let f = resources
            .values()
            .find(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(route.function()))
            .unwrap_or_else(|| panic!("no function builds {}", route.function()));
        assert_eq!(f["Type"], "AWS::Serverless::Function");
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda");
        let api = &f["Properties"]["Events"]["Api"]["Properties"];
        assert_eq!(
            api["Path"].as_str().unwrap(),
            format!("{BASE_PATH}{}", route.resource())
        );
        assert_eq!(
            api["Method"].as_str().unwrap(),
            route.method().as_str().to_lowercase()
        );
        // a public route reads no key, so its function gets no table access at all
        assert_eq!(
            f["Properties"]["Policies"].is_null(),
            route.auth() == Auth::Public,
            "{route:?}: policies of a {:?} route",
            route.auth()
        );
    }
}

#[test]
fn every_route_not_served_yet_is_an_event_of_the_501_function() {
    let t = template();
    let resources = t["Resources"].as_mapping().unwrap();
    let f = resources
        .values()
        .find(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some("not-served"))
        .expect("a function builds not-served");
    let events: Vec<(String, String)> = f["Properties"]["Events"]
        .as_mapping()
        .unwrap()
        .values()
        .map(|e| {
            assert_eq!(e["Type"], "Api");
            let p = &e["Properties"];
            (
                p["Method"].as_str().unwrap().to_string(),
                p["Path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(events.len(), NOT_SERVED.len());
    for (method, resource) in NOT_SERVED {
        let wanted = (
            method.as_str().to_lowercase(),
            format!("{BASE_PATH}{resource}"),
        );
        assert!(events.contains(&wanted), "no event for {wanted:?}");
    }
    assert!(
        f["Properties"]["Policies"].is_null(),
        "the 501 function needs no AWS access"
    );
}

#[test]
fn every_function_crate_is_deployed_and_no_policy_uses_wildcards_or_scan() {
    let t = template();
    let resources = t["Resources"].as_mapping().unwrap();
    let binaries: Vec<&str> = resources
        .values()
        .filter_map(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str())
        .collect();
    for entry in std::fs::read_dir(kupe_tests::repo_root().join("functions")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            binaries.contains(&name.as_str()),
            "functions/{name} is not in template.yaml"
        );
    }
    let text = std::fs::read_to_string(kupe_tests::repo_root().join("template.yaml")).unwrap();
    assert!(
        !text.contains("dynamodb:Scan")
            && !text.contains("dynamodb:*")
            && !text.contains("Resource: '*'")
    );
    let sm = &t["Resources"]["ClusterLifecycleStateMachine"]["Properties"];
    assert_eq!(
        sm["DefinitionUri"],
        "infra/statemachine/cluster-lifecycle.asl.json"
    );
    let asl = std::fs::read_to_string(
        kupe_tests::repo_root().join("infra/statemachine/cluster-lifecycle.asl.json"),
    )
    .unwrap();
    for key in sm["DefinitionSubstitutions"].as_mapping().unwrap().keys() {
        assert!(
            asl.contains(&format!("${{{}}}", key.as_str().unwrap())),
            "{key:?} unused"
        );
    }
}

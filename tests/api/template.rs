//! `template.yaml` deploys what the code serves: one function per route with the route's crate
//! as its binary, every function crate in the template, and the state machine from the ASL file.

use kupe_local::{Route, BASE_PATH};
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
    }
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

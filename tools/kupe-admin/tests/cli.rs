//! `kupe-admin` against the emulator: onboarding a tenant and a key that then works on the API.

use kupe_tests::{emulator_url, unique, TestApp, M};
use lambda_http::http::StatusCode;
use std::process::{Command, Output};

fn admin(app: &TestApp, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kupe-admin"))
        .args(args)
        .env("TABLE_NAME", &app.table)
        .env("AWS_ENDPOINT_URL", emulator_url())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .output()
        .expect("run kupe-admin")
}

#[tokio::test]
async fn onboarding_a_tenant_and_a_key_yields_a_key_that_works_once_printed() {
    let app = TestApp::spawn().await;
    let tenant = unique("cli");
    let out = admin(
        &app,
        &[
            "tenant",
            "create",
            &tenant,
            "--plan",
            "starter",
            "--display-name",
            "CLI Tenant",
            "--contact-email",
            "ops@example.com",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("plan starter"));

    let out = admin(
        &app,
        &[
            "apikey", "create", "--tenant", &tenant, "--role", "readonly", "--name", "ci",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.lines().last().unwrap().to_string();
    assert!(
        key.starts_with("kupe_"),
        "the raw key is the last line: {stdout}"
    );
    assert!(
        !format!("{:?}", app.items().await).contains(key.rsplit('_').next().unwrap()),
        "only its hash is stored"
    );

    let path = format!("/api/v1/tenants/{tenant}/clusters");
    let r = app.req(M::GET, &path).key(Some(&key)).send().await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .req(M::POST, &path)
        .key(Some(&key))
        .json(serde_json::json!({"name": "x1", "displayName": "X", "type": "shared"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "readonly");
    // the tenant shows what it was created with
    let r = app
        .req(M::GET, &format!("/api/v1/tenants/{tenant}"))
        .key(Some(&key))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["displayName"], "CLI Tenant");
    assert_eq!(r.body["contactEmail"], "ops@example.com");
    assert_eq!(r.body["plan"], "starter");
}

#[tokio::test]
async fn bad_input_fails_with_a_message_and_a_nonzero_exit() {
    let app = TestApp::spawn().await;
    for args in [
        vec!["tenant", "create", "Bad_Name"],
        vec!["tenant", "create", "okname", "--plan", "platinum"],
        vec![
            "tenant",
            "create",
            "okname",
            "--contact-email",
            "not-an-address",
        ],
        vec!["tenant", "create", &app.tenant],
        vec![
            "apikey",
            "create",
            "--tenant",
            "nosuchtenant",
            "--role",
            "admin",
        ],
        vec![
            "apikey",
            "create",
            "--tenant",
            &app.tenant,
            "--role",
            "owner",
        ],
        vec![
            "apikey",
            "create",
            "--tenant",
            &app.tenant,
            "--role",
            "admin",
            "--expires-at",
            "2020-01-01T00:00:00Z",
        ],
        vec![
            "apikey",
            "create",
            "--tenant",
            &app.tenant,
            "--role",
            "admin",
            "--expires-at",
            "tomorrow",
        ],
        vec!["frobnicate"],
    ] {
        let out = admin(&app, &args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with("kupe-admin: "),
            "{args:?}"
        );
    }
}

#[tokio::test]
async fn add_member_seeds_a_tenants_first_admin_that_the_api_lists() {
    let app = TestApp::spawn().await;
    let out = admin(
        &app,
        &[
            "add-member",
            "--tenant",
            &app.tenant,
            "--email",
            "Owner@Acme.com",
            "--role",
            "admin",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Owner@Acme.com is now admin"));
    let path = format!("/api/v1/tenants/{}/members", app.tenant);
    let r = app.req(M::GET, &path).send().await;
    assert_eq!(
        r.body,
        serde_json::json!({"items": [{"email": "Owner@Acme.com", "role": "admin"}]})
    );
    // the same email in another case, a bad email, a bad role, an unknown tenant: refused
    for args in [
        vec![
            "--tenant",
            app.tenant.as_str(),
            "--email",
            "owner@acme.com",
            "--role",
            "admin",
        ],
        vec![
            "--tenant",
            app.tenant.as_str(),
            "--email",
            "owner",
            "--role",
            "admin",
        ],
        vec![
            "--tenant",
            app.tenant.as_str(),
            "--email",
            "b@acme.com",
            "--role",
            "owner",
        ],
        vec![
            "--tenant",
            "nosuchtenant",
            "--email",
            "b@acme.com",
            "--role",
            "admin",
        ],
    ] {
        let mut all = vec!["add-member"];
        all.extend(args.iter().copied());
        let out = admin(&app, &all);
        assert!(!out.status.success(), "{all:?}");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("kupe-admin: "));
    }
    assert_eq!(
        app.req(M::GET, &path).send().await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

//! `kupe-admin`: onboarding against the table the functions use (`TABLE_NAME`, and the SDK's
//! own `AWS_ENDPOINT_URL`/region/credential variables, so it reaches the emulator or AWS alike).
//!
//! ```text
//! kupe-admin tenant create NAME [--plan P]
//! kupe-admin tenant set-plan NAME PLAN
//! kupe-admin apikey create --tenant T --role admin|readonly [--name N] [--expires-at RFC3339]
//!                           [--key kupe_<8 hex>_<secret>]
//! kupe-admin table create
//! ```
//! `apikey create` prints the raw key as its last line, once; it is never stored.

use kupe_shared::{admin, Ctx};
use std::process::ExitCode;

const USAGE: &str = "usage:
  kupe-admin tenant create NAME [--plan P]
  kupe-admin tenant set-plan NAME PLAN
  kupe-admin apikey create --tenant T --role admin|readonly [--name N] [--expires-at RFC3339]
             [--key kupe_<8 hex>_<secret>]   (a fixed key, for dev and test stacks)
  kupe-admin table create                    (the table as template.yaml declares it, for emulators)";

/// Command-line words: positionals and `--flag value` pairs.
type Words<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>);

/// Splits `args` into positionals and `--flag value` pairs.
fn parse(args: &[String]) -> Result<Words<'_>, String> {
    let mut pos = Vec::new();
    let mut flags = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(flag) = a.strip_prefix("--") {
            let v = it.next().ok_or_else(|| format!("--{flag} needs a value"))?;
            flags.push((flag, v.as_str()));
        } else {
            pos.push(a.as_str());
        }
    }
    Ok((pos, flags))
}

fn flag<'a>(flags: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    flags.iter().find(|(f, _)| *f == name).map(|(_, v)| *v)
}

fn only(flags: &[(&str, &str)], allowed: &[&str]) -> Result<(), String> {
    match flags.iter().find(|(f, _)| !allowed.contains(f)) {
        Some((f, _)) => Err(format!("unknown option --{f}")),
        None => Ok(()),
    }
}

async fn run(args: &[String]) -> Result<(), String> {
    let (pos, flags) = parse(args)?;
    let ctx = Ctx::from_env().await.map_err(|e| e.to_string())?;
    match pos.as_slice() {
        ["tenant", "create", name] => {
            only(&flags, &["plan"])?;
            let t = admin::create_tenant(&ctx.store, name, flag(&flags, "plan"))
                .await
                .map_err(|e| e.to_string())?;
            println!("tenant {} created on plan {}", t.name, t.plan);
            Ok(())
        }
        ["tenant", "set-plan", name, plan] => {
            only(&flags, &[])?;
            admin::set_plan(&ctx.store, name, plan)
                .await
                .map_err(|e| e.to_string())?;
            println!("tenant {name} is now on plan {plan}");
            Ok(())
        }
        ["table", "create"] => {
            only(&flags, &[])?;
            let name = ctx.store.table().to_string();
            kupe_shared::store::schema::create_table(ctx.store.client(), &name)
                .await
                .map_err(|e| e.to_string())?;
            println!("table {name} created");
            Ok(())
        }
        ["apikey", "create"] => {
            only(&flags, &["tenant", "role", "name", "expires-at", "key"])?;
            let tenant = flag(&flags, "tenant").ok_or("--tenant is required")?;
            let role = flag(&flags, "role").ok_or("--role is required")?;
            let new = admin::NewKey {
                tenant,
                role,
                display_name: flag(&flags, "name").unwrap_or("kupe-admin key"),
                expires_at: flag(&flags, "expires-at"),
                created_by: "kupe-admin",
                fixed_key: flag(&flags, "key"),
            };
            let issued = admin::create_api_key(&ctx.store, &new)
                .await
                .map_err(|e| e.to_string())?;
            println!("id: {}", issued.record.id);
            println!("tenant: {}", issued.record.tenant);
            println!("role: {}", issued.record.role.as_str());
            if let Some(e) = &issued.record.expires_at {
                println!("expiresAt: {e}");
            }
            println!("key (shown once, store it now):");
            println!("{}", issued.key.expose());
            Ok(())
        }
        _ => Err(USAGE.to_string()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kupe-admin: {e}");
            ExitCode::FAILURE
        }
    }
}

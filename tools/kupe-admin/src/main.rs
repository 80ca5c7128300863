//! `kupe-admin`: onboarding against the table the functions use (`TABLE_NAME`, and the SDK's
//! own `AWS_ENDPOINT_URL`/region/credential variables, so it reaches the emulator or AWS alike).
//! `apikey create` prints the raw key as its last line, once; it is never stored.

use clap::{Parser, Subcommand};
use kupe_shared::{admin, ApiContext};
use std::process::ExitCode;

/// Onboard tenants and issue API keys against the control plane's table.
#[derive(Debug, Parser)]
#[command(name = "kupe-admin")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// API keys.
    #[command(subcommand)]
    Apikey(ApikeyCommand),
    /// The table itself.
    #[command(subcommand)]
    Table(TableCommand),
    /// Add a member to a tenant (seed its first admin).
    AddMember {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The member's email.
        #[arg(long)]
        email: String,
        /// `admin` or `readonly`.
        #[arg(long)]
        role: String,
    },
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Tenant name (an RFC 1123 label).
        name: String,
        /// Plan (the default plan when omitted).
        #[arg(long)]
        plan: Option<String>,
        /// Display name (the tenant name when omitted).
        #[arg(long)]
        display_name: Option<String>,
        /// Contact email address.
        #[arg(long)]
        contact_email: Option<String>,
    },
    /// Move a tenant to another plan.
    SetPlan {
        /// Tenant name.
        name: String,
        /// The new plan.
        plan: String,
    },
}

#[derive(Debug, Subcommand)]
enum ApikeyCommand {
    /// Issue a key; the raw key is the last line printed, shown once.
    Create {
        /// The tenant the key belongs to.
        #[arg(long)]
        tenant: String,
        /// `admin` or `readonly`.
        #[arg(long)]
        role: String,
        /// Display name.
        #[arg(long, default_value = "kupe-admin key")]
        name: String,
        /// Expiry, RFC 3339.
        #[arg(long)]
        expires_at: Option<String>,
        /// A fixed key `kupe_<8 hex>_<secret>` (for dev and test stacks).
        #[arg(long)]
        key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum TableCommand {
    /// Create the table as template.yaml declares it (for emulators).
    Create,
}

async fn run(command: Command) -> Result<(), String> {
    let ctx = ApiContext::from_env().await.map_err(|e| e.to_string())?;
    let store = &ctx.store;
    match command {
        Command::Tenant(TenantCommand::Create {
            name,
            plan,
            display_name,
            contact_email,
        }) => {
            let new = admin::NewTenant {
                name: &name,
                plan: plan.as_deref(),
                display_name: display_name.as_deref(),
                contact_email: contact_email.as_deref(),
            };
            let t = admin::create_tenant_with(store, &new)
                .await
                .map_err(|e| e.to_string())?;
            println!("tenant {} created on plan {}", t.name, t.plan);
        }
        Command::Tenant(TenantCommand::SetPlan { name, plan }) => {
            admin::set_plan(store, &name, &plan)
                .await
                .map_err(|e| e.to_string())?;
            println!("tenant {name} is now on plan {plan}");
        }
        Command::AddMember {
            tenant,
            email,
            role,
        } => {
            let m = admin::add_member(store, &tenant, &email, &role)
                .await
                .map_err(|e| e.to_string())?;
            println!("{} is now {} of tenant {tenant}", m.email, m.role.as_str());
        }
        Command::Table(TableCommand::Create) => {
            kupe_shared::store::schema::create_table(store.client(), store.table())
                .await
                .map_err(|e| e.to_string())?;
            println!("table {} created", store.table());
        }
        Command::Apikey(ApikeyCommand::Create {
            tenant,
            role,
            name,
            expires_at,
            key,
        }) => {
            let new = admin::NewKey {
                tenant: &tenant,
                role: &role,
                display_name: &name,
                expires_at: expires_at.as_deref(),
                created_by: "kupe-admin",
                fixed_key: key.as_deref(),
            };
            let issued = admin::create_api_key(store, &new)
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
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.render().to_string();
            eprintln!(
                "kupe-admin: {}",
                text.trim_start_matches("error: ").trim_end()
            );
            return ExitCode::FAILURE;
        }
    };
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kupe-admin: {e}");
            ExitCode::FAILURE
        }
    }
}

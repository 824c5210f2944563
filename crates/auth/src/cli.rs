//! `<cell> users create --email … --org … [--role owner]`: bootstraps an administrator without
//! the API. The password is read from standard input, never from the command line.

use std::io::BufRead;

use clap::Parser;
use kernel::CellContext;
use kernel::sea_orm::ActiveModelTrait;
use uuid::Uuid;

use crate::service;
use crate::state::Shared;

#[derive(Debug, Parser)]
#[command(
    name = "users create",
    about = "Create a user (password from stdin) and add them to an organization"
)]
struct CreateArgs {
    #[arg(long)]
    email: String,
    /// An existing organization's slug, or the name of a new one (the user becomes its owner).
    #[arg(long)]
    org: String,
    /// owner, admin, member, viewer, or a role alias of this cell.
    #[arg(long, default_value = "owner")]
    role: String,
    #[arg(long)]
    first_name: Option<String>,
    #[arg(long)]
    last_name: Option<String>,
}

pub(crate) struct CreateUser(pub Shared);

#[kernel::async_trait::async_trait]
impl kernel::module::CommandHandler for CreateUser {
    async fn run(&self, ctx: &CellContext, args: &[String]) -> anyhow::Result<()> {
        let args = CreateArgs::try_parse_from(
            std::iter::once("users create".to_owned()).chain(args.iter().cloned()),
        )?;
        let state = crate::state::get(&self.0).map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        if service::role_of(state, &args.role).is_none() {
            anyhow::bail!(
                "unknown role `{}`: use owner, admin, member, viewer or a role alias of this cell",
                args.role
            );
        }
        if !args.email.contains('@') || args.email.len() > 254 {
            anyhow::bail!("`{}` is not an email address", args.email);
        }
        let existing = service::user_by_email(ctx.db().conn(), &args.email)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        let user_id = match existing {
            Some(u) => {
                println!(
                    "user {} already exists; adding the membership only",
                    u.email
                );
                u.id
            }
            None => {
                let mut password = String::new();
                std::io::stdin().lock().read_line(&mut password)?;
                let password = password.trim_end_matches(['\r', '\n']);
                let hash = service::hash_new_password(state, "password", password)
                    .await
                    .map_err(|e| anyhow::anyhow!("password {}", details(&e)))?;
                let user = service::new_user(
                    &args.email,
                    hash,
                    args.first_name.clone(),
                    args.last_name.clone(),
                    true,
                )
                .insert(ctx.db().conn())
                .await?;
                println!("created user {} ({})", user.email, user.id);
                user.id
            }
        };
        let org = tenancy::organization_by_slug(ctx.db(), &args.org)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        match org {
            Some(org) => {
                let tx = ctx.db().tenant(org.id).await?;
                tenancy::add_member(ctx, &tx, user_id, &args.role)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
                tx.commit().await?;
                println!(
                    "{} is {} of {} ({})",
                    args.email, args.role, org.slug, org.id
                );
            }
            None => {
                let tx = ctx.db().tenant(Uuid::now_v7()).await?;
                let org = tenancy::create_organization(
                    ctx,
                    &tx,
                    tenancy::NewOrganization {
                        name: args.org.clone(),
                        ..Default::default()
                    },
                    user_id,
                )
                .await
                .map_err(|e| anyhow::anyhow!("organization {}", details(&e)))?;
                if args.role != "owner" {
                    println!(
                        "a new organization needs an owner: {} is its owner",
                        args.email
                    );
                }
                tx.commit().await?;
                println!(
                    "created organization {} ({}) owned by {}",
                    org.slug, org.id, args.email
                );
            }
        }
        Ok(())
    }
}

fn details(e: &kernel::ApiError) -> String {
    match e.details() {
        Some(d) => format!("{}: {d}", e.message()),
        None => e.message().to_owned(),
    }
}

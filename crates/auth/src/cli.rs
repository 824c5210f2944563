//! `<cell> users create --email … --org … [--role owner]`: bootstraps an administrator without
//! the API. The password comes from standard input (a prompt that does not echo on a
//! terminal), never from the command line.

use std::io::{BufRead, IsTerminal};

use clap::{CommandFactory, Parser};
use kernel::CellContext;
use kernel::sea_orm::ActiveModelTrait;
use uuid::Uuid;

use crate::service;
use crate::state::Shared;

#[derive(Debug, Parser)]
#[command(
    name = "users create",
    about = "Create a user and add them to an organization",
    after_help = "The password is read from standard input: pipe it \
                  (`printf '%s\\n' \"$PASSWORD\" | <cell> users create …`), or type it at the \
                  prompt. A user who exists keeps their password and only gains the membership."
)]
struct CreateArgs {
    /// The user's email, which they sign in with.
    #[arg(long)]
    email: String,
    /// An organization's slug or name (an existing one is joined); a name no organization has
    /// creates it, with this user as its owner.
    #[arg(long)]
    org: String,
    /// owner, admin, member, viewer, or a role alias of this cell.
    #[arg(long, default_value = "owner")]
    role: String,
    /// For a new user.
    #[arg(long)]
    first_name: Option<String>,
    /// For a new user.
    #[arg(long)]
    last_name: Option<String>,
}

pub(crate) struct CreateUser(pub Shared);

/// The first line piped to standard input; `None` on a terminal or when nothing was piped.
fn piped_line() -> anyhow::Result<Option<String>> {
    if std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line)?;
    Ok((read > 0).then(|| line.trim_end_matches(['\r', '\n']).to_owned()))
}

/// The password: prompted for (without echo) on a terminal, else the piped line.
fn read_password(prompt: &str) -> anyhow::Result<Option<String>> {
    match std::io::stdin().is_terminal() {
        true => Ok(Some(rpassword::prompt_password(prompt)?)),
        false => piped_line(),
    }
}

#[kernel::async_trait::async_trait]
impl kernel::module::CommandHandler for CreateUser {
    fn usage(&self) -> String {
        CreateArgs::command().render_long_help().to_string()
    }

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
        // The organization first: nothing is written when `--org` is ambiguous.
        let org = match tenancy::organizations_by_slug_or_name(ctx.db(), &args.org)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?
            .as_slice()
        {
            [] => None,
            [one] => Some(one.clone()),
            many => anyhow::bail!(
                "{} organizations are named `{}`; pass the slug of one: {}",
                many.len(),
                args.org,
                many.iter()
                    .map(|o| o.slug.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let existing = service::user_by_email(ctx.db().conn(), &args.email)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        let user_id = match existing {
            Some(u) => {
                // A terminal is not prompted for a password that would not be used.
                match piped_line()?.filter(|p| !p.is_empty()) {
                    Some(_) => eprintln!(
                        "warning: user {} already exists and keeps their password; the password \
                         given was NOT used (they can reset it with POST /auth/forgot-password)",
                        u.email
                    ),
                    None => println!("user {} already exists", u.email),
                }
                u.id
            }
            None => {
                let Some(password) = read_password(&format!("password for {}: ", args.email))?
                else {
                    anyhow::bail!(
                        "no password on standard input: pipe one (`printf '%s\\n' \"$PASSWORD\" | … users create …`)"
                    );
                };
                let hash = service::hash_new_password(state, "password", &password)
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
        match org {
            Some(org) => {
                let tx = ctx.db().tenant(org.id).await?;
                tenancy::add_member(ctx, &tx, user_id, &args.role)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
                tx.commit().await?;
                println!(
                    "{} is {} of {} (slug {}, id {})",
                    args.email, args.role, org.name, org.slug, org.id
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
                tx.commit().await?;
                if args.role != "owner" {
                    eprintln!(
                        "note: a new organization needs an owner, so {} is its owner, not {}",
                        args.email, args.role
                    );
                }
                println!(
                    "created organization {} (slug {}, id {}) owned by {}",
                    org.name, org.slug, org.id, args.email
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

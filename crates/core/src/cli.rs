//! The command line every cell binary shares: `serve` (default), `migrate up|status`, `modules`,
//! `check-config`, `openapi`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{CellConfig, Sources};
use crate::http::Application;
use crate::module::{self, PlatformModule};
use crate::startup;
use crate::telemetry::{self, LogTarget};

/// What an app's `main` hands the kernel: its name and its product TOML (compiled in).
#[derive(Debug, Clone, Copy)]
pub struct CellSpec {
    pub name: &'static str,
    pub product_toml: &'static str,
}

#[derive(Debug, Parser)]
#[command(
    version,
    about = "A cell of the platform: one product's modules in one binary"
)]
struct Cli {
    /// A product TOML to use instead of the one compiled into the binary.
    #[arg(long, global = true, env = "CELL_CONFIG")]
    config: Option<PathBuf>,
    /// Override any setting: `--set http.port=9000` (repeatable; secrets are refused here).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE", value_parser = key_value)]
    set: Vec<(String, String)>,
    /// Shorthand for `--set http.port=…`.
    #[arg(long, global = true)]
    port: Option<u16>,
    /// Shorthand for `--set http.bind=…`.
    #[arg(long, global = true)]
    bind: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending migrations and serve HTTP until SIGTERM/SIGINT (the default).
    Serve {
        /// What this instance runs: `api` (HTTP only), `worker` (jobs, schedules, the outbox
        /// dispatcher; HTTP only for health and metrics) or `all`.
        #[arg(long, value_enum)]
        role: Option<crate::config::ServeRole>,
        /// Apply no migration (a deployment runs `migrate up` once); refuse to start when the
        /// database's schema is behind this binary.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Database migrations of the enabled modules.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// The modules linked into this binary, with versions and whether this cell enables them.
    Modules,
    /// Validate the configuration and module settings; print them with secrets redacted.
    CheckConfig,
    /// Print the cell's OpenAPI document.
    Openapi,
    /// Exit 0 when a cell answers `GET /health/live` on this configuration's port on this host
    /// (a container's health check: the image has no curl).
    Health,
    /// The event catalogue, and deliveries parked after their last attempt.
    Events {
        #[command(subcommand)]
        action: EventsAction,
    },
    /// A command of an enabled module (`users create --email … --org …`); `modules` lists them.
    #[command(external_subcommand)]
    Module(Vec<String>),
}

#[derive(Debug, Subcommand)]
enum EventsAction {
    /// Print the enabled modules' events with their payloads' JSON schemas (JSON).
    Catalogue,
    /// List parked deliveries (oldest first).
    Dead {
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
    /// Requeue one parked delivery by id, or all of them with `--all`.
    Replay {
        #[arg(required_unless_present = "all")]
        id: Option<uuid::Uuid>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// List every migration and whether it is applied.
    Status,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    Ok((k.trim().to_owned(), v.to_owned()))
}

/// Runs the cell binary. Exit codes: 0 success, 1 runtime failure, 2 configuration or start-up
/// refusal.
pub fn main(spec: CellSpec) -> ExitCode {
    let linked = module::linked_modules();
    // `--help` lists the commands the linked modules add too.
    let commands: Vec<String> = linked
        .iter()
        .flat_map(|m| {
            m.commands()
                .into_iter()
                .map(move |c| format!("  {:<16} {} ({})", c.path.join(" "), c.about, m.name()))
        })
        .collect();
    let mut command = Cli::command();
    if !commands.is_empty() {
        command = command.after_help(format!(
            "Commands of the modules (`<command> --help` for their options):\n{}",
            commands.join("\n")
        ));
    }
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let config = match load_config(&cli, spec, &linked) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve {
        role: None,
        no_migrate: false,
    });
    let target = match command {
        Command::Serve { .. } => LogTarget::Stdout,
        _ => LogTarget::Stderr,
    };
    let _telemetry = match telemetry::init(&config.telemetry, config.mode(), config.name(), target)
    {
        Ok(g) => g,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(command, config, linked))
}

fn load_config(
    cli: &Cli,
    spec: CellSpec,
    linked: &[Box<dyn PlatformModule>],
) -> Result<CellConfig, String> {
    let file = match &cli.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            (text, path.display().to_string())
        }
        None => (
            spec.product_toml.to_owned(),
            format!("products/{}.toml", spec.name),
        ),
    };
    let mut overrides = cli.set.clone();
    if let Some(port) = cli.port {
        overrides.push(("http.port".into(), port.to_string()));
    }
    if let Some(bind) = &cli.bind {
        overrides.push(("http.bind".into(), bind.clone()));
    }
    if let Some(Command::Serve { role, no_migrate }) = &cli.command {
        if let Some(role) = role {
            let name = match role {
                crate::config::ServeRole::Api => "api",
                crate::config::ServeRole::Worker => "worker",
                crate::config::ServeRole::All => "all",
            };
            overrides.push(("serve.role".into(), name.into()));
        }
        if *no_migrate {
            overrides.push(("serve.migrate".into(), "false".into()));
        }
    }
    let sources = Sources {
        file: Some(file),
        env: None,
        overrides,
    };
    CellConfig::load(&sources, &module::declared_keys(linked)).map_err(|e| e.to_string())
}

async fn run(
    command: Command,
    config: CellConfig,
    linked: Vec<Box<dyn PlatformModule>>,
) -> ExitCode {
    match command {
        Command::Serve { .. } => {
            let app = match Application::build(config, linked).await {
                Ok(app) => app,
                Err(e) => {
                    tracing::error!(error = %e, "start-up refused");
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            match app.run_until_stopped().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "server failed");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Modules => {
            let enabled: Vec<String> = config.enabled_modules().map(String::from).collect();
            let mut rows: Vec<(String, String, bool, String)> = linked
                .iter()
                .map(|m| {
                    (
                        m.name().to_owned(),
                        m.version().to_owned(),
                        enabled.iter().any(|e| e == m.name()),
                        m.dependencies().join(","),
                    )
                })
                .collect();
            rows.sort();
            println!("kernel {} (always)", env!("CARGO_PKG_VERSION"));
            for m in &linked {
                for c in m.commands() {
                    println!("command `{}` ({}): {}", c.path.join(" "), m.name(), c.about);
                }
            }
            for (name, version, on, deps) in rows {
                let state = if on { "enabled" } else { "linked, not enabled" };
                let deps = if deps.is_empty() {
                    String::new()
                } else {
                    format!(" depends on {deps}")
                };
                println!("{name} {version} ({state}){deps}");
            }
            exit(module::resolve(linked, &config).map(|_| ()))
        }
        Command::CheckConfig => match module::resolve(linked, &config) {
            Ok(modules) => {
                print!("{}", config.redacted_summary());
                let order: Vec<&str> = modules.iter().map(|m| m.module.name()).collect();
                println!(
                    "start order: {}",
                    if order.is_empty() {
                        "(no modules)".into()
                    } else {
                        order.join(" → ")
                    }
                );
                println!("configuration is valid");
                ExitCode::SUCCESS
            }
            Err(e) => exit(Err(e)),
        },
        Command::Health => match live(config.http.port) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("unhealthy: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Openapi => match module::resolve(linked, &config) {
            Ok(modules) => {
                let doc = crate::http::openapi_document(&config, &modules);
                match serde_json::to_string_pretty(&doc) {
                    Ok(json) => {
                        println!("{json}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            Err(e) => exit(Err(e)),
        },
        Command::Migrate { action } => migrate(action, config, linked).await,
        Command::Events { action } => events(action, config, linked).await,
        Command::Module(words) => module_command(words, config, linked).await,
    }
}

/// Runs the module command the words name (the longest matching path wins).
async fn module_command(
    words: Vec<String>,
    config: CellConfig,
    linked: Vec<Box<dyn PlatformModule>>,
) -> ExitCode {
    // `--help` needs no database: the linked modules know their commands' options.
    if words.iter().any(|w| w == "--help" || w == "-h") {
        let usage = linked
            .iter()
            .flat_map(|m| m.commands())
            .filter(|c| c.path.iter().zip(&words).all(|(a, b)| a == b))
            .max_by_key(|c| c.path.len())
            .map(|c| c.handler.usage());
        if let Some(usage) = usage {
            print!("{usage}");
            return ExitCode::SUCCESS;
        }
    }
    let result = async {
        let ctx = startup::prepare(config, linked)
            .await
            .map_err(|e| e.to_string())?;
        let commands: Vec<crate::module::ModuleCommand> = ctx
            .modules()
            .iter()
            .flat_map(|m| m.module.commands())
            .collect();
        let chosen = commands
            .iter()
            .filter(|c| {
                c.path.len() <= words.len() && c.path.iter().zip(&words).all(|(a, b)| a == b)
            })
            .max_by_key(|c| c.path.len());
        let Some(command) = chosen else {
            let known: Vec<String> = commands
                .iter()
                .map(|c| format!("  {}  {}", c.path.join(" "), c.about))
                .collect();
            return Err(format!(
                "unknown command `{}`; the enabled modules provide:\n{}",
                words.join(" "),
                if known.is_empty() {
                    "  (none)".into()
                } else {
                    known.join("\n")
                }
            ));
        };
        let outcome = command
            .handler
            .run(&ctx, &words[command.path.len()..])
            .await
            .map_err(|e| format!("{e:#}"));
        startup::shutdown(&ctx).await;
        outcome
    }
    .await;
    exit(result)
}

async fn events(
    action: EventsAction,
    config: CellConfig,
    linked: Vec<Box<dyn PlatformModule>>,
) -> ExitCode {
    let result = async {
        let modules = module::resolve(linked, &config)?;
        let events = crate::events::Events::new(&modules, config.events.clone())
            .map_err(startup::StartupError::Services)?;
        match action {
            EventsAction::Catalogue => {
                let catalogue = crate::events::catalogue(&modules);
                println!(
                    "{}",
                    serde_json::to_string_pretty(&catalogue).unwrap_or_default()
                );
            }
            EventsAction::Dead { limit } => {
                let db = crate::db::Db::connect(&config).await?;
                let (rows, total) = events.dead(&db, 0, limit).await?;
                for r in &rows {
                    println!(
                        "{} {} {} org={} attempts={} error={}",
                        r.id,
                        r.event,
                        r.subscriber,
                        r.org_id,
                        r.attempts,
                        r.last_error.as_deref().unwrap_or("-")
                    );
                }
                println!("{total} parked deliveries");
            }
            EventsAction::Replay { id, .. } => {
                let db = crate::db::Db::connect(&config).await?;
                let n = events.replay(&db, id).await?;
                println!("{n} deliveries requeued");
            }
        }
        Ok::<(), startup::StartupError>(())
    }
    .await;
    exit(result)
}

async fn migrate(
    action: MigrateAction,
    config: CellConfig,
    linked: Vec<Box<dyn PlatformModule>>,
) -> ExitCode {
    let result = async {
        let modules = module::resolve(linked, &config)?;
        let db = crate::db::Db::connect(&config).await?;
        let plan = startup::migration_plan(&modules);
        match action {
            MigrateAction::Up => {
                let applied = cell_migrations::up(db.conn(), &plan).await?;
                startup::grant_app_role(&db, &config).await?;
                for (module, name) in &applied {
                    println!("applied {module} {name}");
                }
                println!("{} migration(s) applied", applied.len());
            }
            MigrateAction::Status => {
                let rows = cell_migrations::status(db.conn(), &plan).await?;
                for r in &rows {
                    let state = match (&r.applied_at, r.enabled) {
                        (Some(at), true) => format!("applied {at}"),
                        (Some(at), false) => format!("applied {at} (module not enabled)"),
                        (None, _) => "pending".into(),
                    };
                    println!("{} {} {}", r.module, r.name, state);
                }
                if rows.is_empty() {
                    println!("no migrations");
                }
            }
        }
        Ok::<(), startup::StartupError>(())
    }
    .await;
    exit(result)
}

/// `GET /health/live` on 127.0.0.1:`port` over plain HTTP/1.0, answered 200 within 2 s.
fn live(port: u16) -> Result<(), String> {
    use std::io::{Read, Write};
    let timeout = std::time::Duration::from_secs(2);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut conn = std::net::TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("127.0.0.1:{port}: {e}"))?;
    conn.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    conn.write_all(b"GET /health/live HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    conn.read_exact(&mut head).map_err(|e| e.to_string())?;
    match &head[9..12] {
        b"200" => Ok(()),
        status => Err(format!("status {}", String::from_utf8_lossy(status))),
    }
}

/// Exit code of a one-shot command: 0, or 2 with the error on stderr.
fn exit<E: std::fmt::Display>(result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The `main` of a cell binary: `kernel::cell_main!("suite");` in `apps/suite/src/main.rs`,
/// after the `use <module> as _;` lines of the modules it links.
#[macro_export]
macro_rules! cell_main {
    ($name:literal) => {
        fn main() -> ::std::process::ExitCode {
            $crate::cli::main($crate::cli::CellSpec {
                name: $name,
                product_toml: include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../products/",
                    $name,
                    ".toml"
                )),
            })
        }
    };
}

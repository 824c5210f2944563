//! Runs the OpenFGA and SpiceDB conformance data against the engine on a real database:
//! `cargo run -p iam --bin iam-conformance -- FILE_OR_FOLDER...`. Prints results per feature,
//! skips per unsupported feature, every failure, and last `N passed, M failed, K skipped`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use iam::conformance::{self, Report, RunOptions};

#[derive(Debug, Parser)]
#[command(
    name = "iam-conformance",
    about = "Run OpenFGA / SpiceDB test files against the iam engine"
)]
struct Args {
    /// Test files or folders (searched recursively for .yaml files).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// PostgreSQL (or SQLite) URL; a temporary SQLite file when absent.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Also replay single-stage OpenFGA tests with their tuples sent as contextual tuples.
    #[arg(long)]
    contextual_replay: bool,
    /// Build every engine without a cache (each query resolves everything from the database).
    #[arg(long)]
    no_cache: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(report) => {
            println!("{}", report.render());
            if report.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("iam-conformance: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<Report> {
    let (db, _dir) = conformance::connect(args.database_url.as_deref()).await?;
    let opts = RunOptions {
        contextual_replay: args.contextual_replay,
        cache: if args.no_cache {
            iam::CacheConfig::disabled()
        } else {
            iam::CacheConfig::default()
        },
    };
    let mut report = Report::default();
    for path in &args.files {
        report.merge(conformance::run_path(&db, path, &opts).await?);
    }
    Ok(report)
}

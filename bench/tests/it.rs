//! The harness builds and a tiny run (seconds) completes with zero errors, on SQLite and on
//! PostgreSQL (when `TEST_DATABASE_URL` names one). Figures are not checked: this is not a
//! timed test.

use std::path::PathBuf;
use std::process::Command;

/// The fullorbit binary the workspace build put beside this crate's binary.
fn fullorbit() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cellbench")).with_file_name("fullorbit")
}

#[test]
fn a_tiny_run_completes_with_zero_errors() -> anyhow::Result<()> {
    let cell = fullorbit();
    anyhow::ensure!(
        cell.exists(),
        "{} is missing: build the workspace (cargo build -p fullorbit)",
        cell.display()
    );
    let work = tempfile::tempdir()?;
    let mut backends = "sqlite".to_owned();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cellbench"));
    if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
        backends.push_str(",postgres");
        cmd.env("BENCH_DATABASE_URL", url);
    }
    let out = work.path().join("report.md");
    let status = cmd
        .args(["run", "--tiny", "--backends", &backends, "--cell"])
        .arg(&cell)
        .arg("--sizes-of")
        .arg(cell.with_file_name("suite"))
        .arg("--work")
        .arg(work.path().join("run"))
        .arg("--out")
        .arg(&out)
        .status()?;
    anyhow::ensure!(status.success(), "cellbench exited with {status}");
    let report = std::fs::read_to_string(&out)?;
    for section in [
        "## sqlite",
        "read by id",
        "PostHog ingestion, batched",
        "login",
        "idle RSS",
    ] {
        anyhow::ensure!(
            report.contains(section),
            "no `{section}` in the report:\n{report}"
        );
    }
    Ok(())
}

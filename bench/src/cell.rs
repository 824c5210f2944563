//! The cell under test: a child process on 127.0.0.1, its time to ready, and its memory and CPU
//! read from `/proc` (Linux).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// How to start the cell: the binary, its data directory, its environment.
#[derive(Debug, Clone)]
pub struct Launch {
    pub bin: PathBuf,
    pub data_dir: PathBuf,
    pub env: Vec<(String, String)>,
    /// `--set key=value` overrides (after the product TOML, before the environment).
    pub set: Vec<String>,
}

/// A running cell.
#[derive(Debug)]
pub struct Cell {
    child: Child,
    pub base: String,
    /// Exec to the first 200 from `/health/ready`.
    pub ready_in: Duration,
}

impl Launch {
    /// Runs `bin <args>` to completion with `stdin` (a CLI command such as `users create`).
    pub fn command(&self, args: &[&str], stdin: &str) -> anyhow::Result<()> {
        use std::io::Write as _;
        let mut cmd = self.base_command();
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        if let Some(mut input) = child.stdin.take() {
            input.write_all(stdin.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        anyhow::ensure!(
            out.status.success(),
            "{} {}: {}",
            self.bin.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    fn base_command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--set")
            .arg(format!("cell.data_dir={}", self.data_dir.display()));
        for s in &self.set {
            cmd.arg("--set").arg(s);
        }
        cmd.env_remove("RUST_LOG");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts `serve` on a free port of 127.0.0.1, its output appended to `log`, and waits for
    /// `/health/ready` (polled every millisecond; a refused connection costs microseconds).
    pub async fn start(&self, log: &Path) -> anyhow::Result<Cell> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let mut cmd = self.base_command();
        cmd.args(["serve", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", self.bin.display()))?;
        wait_ready(&mut child, &format!("{base}/health/ready"), log).await?;
        Ok(Cell {
            ready_in: started.elapsed(),
            child,
            base,
        })
    }
}

/// Polls `url` every millisecond (a refused connection costs microseconds) until it answers
/// 2xx. Fails when `child` exits first or after 120 s (killing it).
pub async fn wait_ready(child: &mut Child, url: &str, log: &Path) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let started = Instant::now();
    loop {
        if let Ok(res) = http.get(url).send().await
            && res.status().is_success()
        {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!(
                "the process exited ({status}) before it was ready; see {}",
                log.display()
            );
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            anyhow::bail!("not ready within 120 s; see {}", log.display());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

impl Cell {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        let status = self.child.wait()?;
        anyhow::ensure!(status.success(), "the cell exited with {status}");
        Ok(())
    }
}

impl Drop for Cell {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Memory and CPU of a process, from `/proc/<pid>`.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// Resident set now, bytes.
    pub rss: u64,
    /// Peak resident set since the last [`reset_peak`], bytes.
    pub peak_rss: u64,
    /// User + system CPU time so far.
    pub cpu: Duration,
}

pub fn usage(pid: u32) -> anyhow::Result<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
            * 1024
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat (11 and 12 after the state field), in clock
    // ticks of 1/100 s (USER_HZ on Linux).
    let ticks = tick(11) + tick(12);
    Ok(Usage {
        rss: kib("VmRSS:"),
        peak_rss: kib("VmHWM:"),
        cpu: Duration::from_millis(ticks * 10),
    })
}

/// Resets the peak resident set (`VmHWM`) to the current one, so the next reading is this
/// scenario's peak.
pub fn reset_peak(pid: u32) -> anyhow::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .with_context(|| format!("cannot reset the peak RSS of {pid}"))
}

/// Size of a file in bytes.
pub fn file_size(path: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("no {}", path.display()))?
        .len())
}

//! The peer beside the cell: the Loco.rs starter with a scaffolded `notes` model whose
//! `GET /api/notes/{id}` requires a JWT (`scripts/bench.sh --peer` builds it from crates.io).
//! It runs on the same machine, database server and load generator as the cell, with its
//! production configuration and the cell's pool size; it has no tenant scope and no
//! permission check, the cell has both.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Context as _;
use serde_json::{Value, json};

/// The notes each run creates (the peer's table; the cell reads from its contacts).
pub const NOTES: usize = 1000;
const PASSWORD: &str = "Peer-password-for-load-42";

/// A running peer.
#[derive(Debug)]
pub struct Peer {
    child: Child,
    pub base: String,
}

/// How to start it: its binary and the directory holding its `config/`.
#[derive(Debug, Clone)]
pub struct PeerLaunch {
    pub bin: PathBuf,
    pub dir: PathBuf,
}

impl PeerLaunch {
    /// Starts the peer on a free port with `database_url` (migrations run at start) and waits
    /// until it answers.
    pub async fn start(&self, database_url: &str, log: &Path) -> anyhow::Result<Peer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let base = format!("http://127.0.0.1:{port}");
        let mut child = Command::new(&self.bin)
            .arg("start")
            .current_dir(&self.dir)
            .env("LOCO_ENV", "production")
            .env("DATABASE_URL", database_url)
            .env("DB_MAX_CONNECTIONS", "10")
            .env("PORT", port.to_string())
            .env("BINDING", "127.0.0.1")
            .env("HOST", &base)
            // Loco reads the secret as base64 (a secret that is not fails every login, 401).
            .env(
                "JWT_SECRET",
                "UGVlckp3dFNlY3JldEZvclRoZUJlbmNoT25seVBlZXJKd3RTZWNyZXRGb3JUaGU=",
            )
            .env("MAILER_HOST", "127.0.0.1")
            .env("MAILER_PORT", "1")
            .env("MAILER_USER", "bench")
            .env("MAILER_PASSWORD", "bench")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("cannot start {}", self.bin.display()))?;
        crate::cell::wait_ready(&mut child, &format!("{base}/_ping"), log).await?;
        Ok(Peer { child, base })
    }
}

impl Peer {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Registers a user, signs in, and creates [`NOTES`] notes: the `authorization` header
    /// and the notes' paths.
    pub async fn prepare(&self) -> anyhow::Result<(String, Vec<String>)> {
        let http = reqwest::Client::new();
        let email = "bench@peer.test";
        let res = http
            .post(format!("{}/api/auth/register", self.base))
            .json(&json!({"email": email, "password": PASSWORD, "name": "Bench"}))
            .send()
            .await?;
        anyhow::ensure!(res.status().is_success(), "peer register: {}", res.status());
        let login: Value = http
            .post(format!("{}/api/auth/login", self.base))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await?
            .json()
            .await?;
        let token = login["token"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("peer login: {login}"))?;
        let auth = format!("Bearer {token}");
        let mut paths = Vec::with_capacity(NOTES);
        for i in 0..NOTES {
            let note: Value = http
                .post(format!("{}/api/notes", self.base))
                .header("authorization", &auth)
                .json(&json!({"title": format!("Note {i}"), "content": "Bench note body"}))
                .send()
                .await?
                .json()
                .await?;
            let id = note["id"]
                .as_i64()
                .ok_or_else(|| anyhow::anyhow!("peer note: {note}"))?;
            paths.push(format!("/api/notes/{id}"));
        }
        // The read requires the token: without it the peer must refuse.
        let anonymous = http
            .get(format!("{}{}", self.base, paths[0]))
            .send()
            .await?;
        anyhow::ensure!(
            anonymous.status() == 401,
            "the peer's note read does not require a JWT ({}): patch its controller",
            anonymous.status()
        );
        Ok((auth, paths))
    }

    pub fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        Ok(())
    }
}

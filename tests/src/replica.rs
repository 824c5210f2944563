//! The streaming replica of the test server (`scripts/replica.sh` starts it on 127.0.0.1:5433;
//! `TEST_REPLICA_URL`), for tests of `database.read_url`.

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

use crate::TestDb;

/// The replica server: `TEST_REPLICA_URL`, else the local default.
pub fn server_url() -> String {
    std::env::var("TEST_REPLICA_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5433/postgres".into())
}

/// `db`'s database on the replica, as `user` (with `password`: the replica checks passwords of
/// every role but `postgres`).
pub fn url_for(db: &TestDb, user: &str, password: Option<&str>) -> anyhow::Result<String> {
    let mut url = url::Url::parse(&server_url())?;
    url.set_path(url::Url::parse(db.url())?.path());
    url.set_username(user)
        .map_err(|()| anyhow::anyhow!("cannot set the user"))?;
    url.set_password(password)
        .map_err(|()| anyhow::anyhow!("cannot set the password"))?;
    Ok(url.to_string())
}

/// Waits until the replica has `db`'s database (created on the primary).
pub async fn wait_for(db: &TestDb) -> anyhow::Result<()> {
    let url = url_for(db, "postgres", None)?;
    crate::eventually("the replica has the test database", async || {
        Ok(Database::connect(url.as_str()).await?.ping().await.is_ok())
    })
    .await
    .map_err(|e| {
        e.context(format!(
            "is the replica up? scripts/replica.sh starts it ({})",
            server_url()
        ))
    })
}

/// Key of the advisory lock (on the primary) that makes pauses exclusive across test processes.
const PAUSE_LOCK: i64 = 0x0072_6570_6c69_6361; // "replica"

/// WAL replay paused on the replica, until [`ReplayPaused::resume`] or drop (also on a failed
/// assertion). One test at a time, in any test process, pauses it: the others wait.
pub struct ReplayPaused {
    replica: DatabaseConnection,
    lock: DatabaseConnection,
}

impl ReplayPaused {
    pub async fn start() -> anyhow::Result<Self> {
        let lock = Database::connect(crate::postgres_server_url().as_str()).await?;
        lock.execute_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT pg_advisory_lock({PAUSE_LOCK})"),
        ))
        .await?;
        let replica = Database::connect(server_url().as_str()).await?;
        replica
            .execute_unprepared("SELECT pg_wal_replay_pause()")
            .await?;
        Ok(Self { replica, lock })
    }

    pub async fn resume(self) -> anyhow::Result<()> {
        self.replica
            .execute_unprepared("SELECT pg_wal_replay_resume()")
            .await?;
        self.lock
            .execute_unprepared(&format!("SELECT pg_advisory_unlock({PAUSE_LOCK})"))
            .await?;
        Ok(())
    }
}

impl Drop for ReplayPaused {
    fn drop(&mut self) {
        // Safe to repeat after `resume`; the lock goes with its connection.
        let _ = std::process::Command::new("psql")
            .args([
                server_url().as_str(),
                "-qAtc",
                "SELECT pg_wal_replay_resume()",
            ])
            .output();
    }
}

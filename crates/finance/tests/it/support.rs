//! A cell of iam, tenancy, auth and finance; signed-in users in orgs; the job queue run by hand;
//! the ledger's balance read straight from its tables.

use kernel::sea_orm::ConnectionTrait;
use serde_json::Value;
pub use testcell::{Cell, org, user};
use testkit::TestDb;

pub const TOML: &str = "[modules.iam]\n[modules.tenancy]\n[modules.auth]\n[modules.finance]\n";

pub async fn cell(db: &TestDb) -> anyhow::Result<Cell> {
    testcell::start(db, TOML, vec![Box::new(finance::Finance::default())]).await
}

pub fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}

/// Runs due jobs until none is left.
pub async fn settle(cell: &Cell) -> anyhow::Result<()> {
    while cell.ctx.jobs().run_once(&cell.ctx).await? > 0 {}
    Ok(())
}

/// A connection as the database's owner (past row-level security): what tests read and try to
/// write behind the API with.
pub async fn owner(db: &TestDb) -> anyhow::Result<kernel::sea_orm::DatabaseConnection> {
    Ok(kernel::sea_orm::Database::connect(db.url()).await?)
}

/// Total debits and credits of every journal line (all orgs), read past the API.
pub async fn ledger_sums(db: &TestDb) -> anyhow::Result<(i64, i64)> {
    let conn = owner(db).await?;
    let row = conn
        .query_one_raw(kernel::sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT CAST(COALESCE(SUM(debit), 0) AS BIGINT) AS d, \
             CAST(COALESCE(SUM(credit), 0) AS BIGINT) AS c FROM finance_journal_lines",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no sums"))?;
    Ok((row.try_get("", "d")?, row.try_get("", "c")?))
}

/// The trial balance's balance of `account` in `currency` (0 when it has no lines).
pub fn balance_of(tb: &Value, account: &str, currency: &str) -> i64 {
    tb["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["account"] == account && a["currency"] == currency)
        .and_then(|a| a["balance"].as_i64())
        .unwrap_or(0)
}

//! A cell of iam, tenancy, auth and finance; signed-in users in orgs; the job queue run by hand;
//! the ledger's balance read straight from its tables.

use kernel::sea_orm::ConnectionTrait;
use serde_json::{Value, json};
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

/// The reports' running totals agree with the journal lines they summarize: each account's daily
/// totals with its lines, what is owed by due date and each invoice's receivable with the
/// receivable lines (read past the API, all orgs).
pub async fn totals_match_lines(db: &TestDb) -> anyhow::Result<()> {
    let conn = owner(db).await?;
    let backend = conn.get_database_backend();
    let rows = |sql: &'static str| {
        let conn = &conn;
        async move {
            let out = conn
                .query_all_raw(kernel::sea_orm::Statement::from_string(backend, sql))
                .await?;
            out.iter()
                .map(|r| {
                    // A key is text, or an invoice id (a UUID: bytes on SQLite).
                    let k = match r.try_get::<String>("", "k") {
                        Ok(k) => k,
                        Err(_) => r.try_get::<uuid::Uuid>("", "k")?.to_string(),
                    };
                    Ok((k, r.try_get::<i64>("", "v")?))
                })
                .collect::<anyhow::Result<Vec<(String, i64)>>>()
        }
    };
    let pairs = [
        (
            "SELECT account || ':' || currency || ':' || COALESCE(category, '') AS k, \
             CAST(SUM(debit) - SUM(credit) AS BIGINT) AS v FROM finance_journal_lines \
             GROUP BY account, currency, COALESCE(category, '') ORDER BY k",
            "SELECT account || ':' || currency || ':' || category AS k, \
             CAST(SUM(debit) - SUM(credit) AS BIGINT) AS v FROM finance_daily_totals \
             GROUP BY account, currency, category ORDER BY k",
        ),
        (
            "SELECT l.currency AS k, CAST(SUM(l.debit) - SUM(l.credit) AS BIGINT) AS v \
             FROM finance_journal_lines l WHERE l.account = 'accounts_receivable' \
             GROUP BY l.currency ORDER BY k",
            "SELECT currency AS k, CAST(SUM(amount) AS BIGINT) AS v FROM finance_receivables \
             GROUP BY currency ORDER BY k",
        ),
        (
            "SELECT invoice_id AS k, CAST(SUM(debit) - SUM(credit) AS BIGINT) AS v \
             FROM finance_journal_lines WHERE account = 'accounts_receivable' \
             GROUP BY invoice_id HAVING SUM(debit) - SUM(credit) <> 0 ORDER BY k",
            "SELECT id AS k, receivable AS v FROM finance_invoices \
             WHERE receivable <> 0 ORDER BY k",
        ),
    ];
    for (lines, totals) in pairs {
        let (a, b) = (rows(lines).await?, rows(totals).await?);
        let a: Vec<_> = a.into_iter().filter(|(_, v)| *v != 0).collect();
        let b: Vec<_> = b.into_iter().filter(|(_, v)| *v != 0).collect();
        anyhow::ensure!(a == b, "the totals drifted from the lines:\n{a:?}\n{b:?}");
    }
    Ok(())
}

/// The trial balance (checked balanced), the journal lines balanced, the running totals
/// matching the lines.
pub async fn balanced(
    cell: &testcell::Cell,
    db: &testkit::TestDb,
    token: &str,
) -> anyhow::Result<Value> {
    let (status, tb) = cell
        .get("/api/v1/finance/trial-balance", Some(token))
        .await?;
    anyhow::ensure!(status == 200, "trial balance: {status} {tb}");
    anyhow::ensure!(tb["balanced"] == json!(true), "unbalanced: {tb}");
    let (d, c) = ledger_sums(db).await?;
    anyhow::ensure!(d == c, "the journal lines do not balance: {d} / {c}");
    totals_match_lines(db).await?;
    Ok(tb)
}

//! Reports over a large ledger and invoice creation with gapless numbers, over HTTP through the
//! cell (iam, tenancy, auth, finance), with their p50 and p95 (reports, one request at a time)
//! and their rate (creations, eight at a time). Every phase is checked: the reports against
//! sums computed here while generating, the numbers consecutive.
//!
//! `cargo bench -p finance --offline` (release). Environment (all optional):
//! `TEST_DATABASE_URL` (as for the tests), `BENCH_BACKENDS` (`sqlite,postgres`),
//! `BENCH_LINES` (journal lines to load, 1 000 000: five per invoice), `BENCH_REPEAT` (requests
//! per report, 100), `BENCH_CREATE` (invoices created, 2 000), `BENCH_CONCURRENCY` (8).

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::ensure;
use chrono::{Duration as Days, NaiveDate, Utc};
use kernel::sea_orm::Value as Sql;
use serde_json::{Value, json};
use testkit::TestDb;
use testkit::bench::{Rng, analyze, backends, env, insert_rows, percentiles};
use uuid::Uuid;

const TOML: &str = "[modules.iam]\n[modules.tenancy]\n[modules.auth]\n[modules.finance]\n";

/// What the generated ledger must report.
#[derive(Default)]
struct Expected {
    revenue: i64,
    owed: i64,
    lines: usize,
}

/// Loads `invoices` sent invoices with their issue entries (receivable, revenue, tax) and one
/// payment each (cash, receivable): five lines an invoice, issued over the past year.
async fn load(
    cell: &testcell::Cell,
    org: Uuid,
    user: Uuid,
    invoices: usize,
) -> anyhow::Result<Expected> {
    let mut rng = Rng(42);
    let today = Utc::now().date_naive();
    let now = Utc::now();
    let mut expected = Expected::default();
    // What the postings would have added to the reports' running totals.
    let mut totals: std::collections::BTreeMap<(&str, NaiveDate), (i64, i64)> = Default::default();
    let mut owed_by_due: std::collections::BTreeMap<NaiveDate, (i64, i64)> = Default::default();
    let batch = 20_000;
    let mut start = 0;
    while start < invoices {
        let end = (start + batch).min(invoices);
        let (mut inv, mut entries, mut lines) = (Vec::new(), Vec::new(), Vec::new());
        for i in start..end {
            let id = Uuid::now_v7();
            let subtotal = 1_000 + rng.below(99_000) as i64;
            let tax = subtotal / 10;
            let total = subtotal + tax;
            let paid = 1 + rng.below(total as usize) as i64;
            let issued: NaiveDate = today - Days::days(rng.below(365) as i64);
            let due = issued + Days::days(30);
            let status = if paid == total {
                "paid"
            } else {
                "partially_paid"
            };
            expected.revenue += subtotal;
            expected.owed += total - paid;
            inv.push(vec![
                id.into(),
                org.into(),
                format!("SEED-{i}").into(),
                status.into(),
                issued.into(),
                due.into(),
                "USD".into(),
                subtotal.into(),
                0i64.into(),
                tax.into(),
                total.into(),
                paid.into(),
                0i64.into(),
                (total - paid).into(),
                user.into(),
                now.into(),
                now.into(),
            ]);
            if total > paid {
                let o = owed_by_due.entry(due).or_default();
                o.0 += total - paid;
                o.1 += 1;
            }
            let (issue, payment) = (Uuid::now_v7(), Uuid::now_v7());
            let pay_day = (issued + Days::days(5)).min(today);
            for (entry, kind, day) in [
                (issue, "invoice_issued", issued),
                (payment, "payment", pay_day),
            ] {
                entries.push(vec![
                    entry.into(),
                    org.into(),
                    day.into(),
                    kind.into(),
                    "USD".into(),
                    Sql::from(Some(id)),
                    "seed".into(),
                    now.into(),
                ]);
            }
            let mut line = |entry: Uuid,
                            account: &'static str,
                            debit: i64,
                            credit: i64,
                            day: NaiveDate,
                            invoice: bool|
             -> Vec<Sql> {
                let t = totals.entry((account, day)).or_default();
                t.0 += debit;
                t.1 += credit;
                vec![
                    Uuid::now_v7().into(),
                    org.into(),
                    entry.into(),
                    account.into(),
                    "USD".into(),
                    debit.into(),
                    credit.into(),
                    day.into(),
                    Sql::from(invoice.then_some(id)),
                ]
            };
            lines.push(line(issue, "accounts_receivable", total, 0, issued, true));
            lines.push(line(issue, "revenue", 0, subtotal, issued, false));
            lines.push(line(issue, "tax_payable", 0, tax, issued, false));
            lines.push(line(payment, "cash", paid, 0, pay_day, false));
            lines.push(line(payment, "accounts_receivable", 0, paid, pay_day, true));
        }
        expected.lines += lines.len();
        let ctx = &cell.ctx;
        insert_rows(ctx, org, "finance_invoices", "id, org_id, number, status, issue_date, due_date, currency, subtotal, discount_amount, tax_amount, total, amount_paid, amount_refunded, receivable, created_by, created_at, updated_at", &inv, 1000).await?;
        insert_rows(
            ctx,
            org,
            "finance_journal_entries",
            "id, org_id, posted_on, kind, currency, invoice_id, memo, created_at",
            &entries,
            2000,
        )
        .await?;
        insert_rows(
            ctx,
            org,
            "finance_journal_lines",
            "id, org_id, entry_id, account, currency, debit, credit, posted_on, invoice_id",
            &lines,
            2000,
        )
        .await?;
        start = end;
    }
    let totals: Vec<Vec<Sql>> = totals
        .into_iter()
        .map(|((account, day), (debit, credit))| {
            vec![
                Uuid::now_v7().into(),
                org.into(),
                account.into(),
                "USD".into(),
                "".into(),
                day.into(),
                debit.into(),
                credit.into(),
            ]
        })
        .collect();
    insert_rows(
        &cell.ctx,
        org,
        "finance_daily_totals",
        "id, org_id, account, currency, category, day, debit, credit",
        &totals,
        1000,
    )
    .await?;
    let owed: Vec<Vec<Sql>> = owed_by_due
        .into_iter()
        .map(|(due, (amount, n))| {
            vec![
                Uuid::now_v7().into(),
                org.into(),
                "USD".into(),
                due.into(),
                amount.into(),
                n.into(),
            ]
        })
        .collect();
    insert_rows(
        &cell.ctx,
        org,
        "finance_receivables",
        "id, org_id, currency, due_date, amount, invoices",
        &owed,
        1000,
    )
    .await?;
    Ok(expected)
}

/// `repeat` GETs of `path`, each checked; p50 and p95.
async fn timed(
    cell: &testcell::Cell,
    token: &str,
    path: &str,
    repeat: usize,
    check: impl Fn(&Value) -> bool,
) -> anyhow::Result<(f64, f64)> {
    let mut took = Vec::with_capacity(repeat);
    for i in 0..repeat + 3 {
        let started = Instant::now();
        let res = cell
            .send(reqwest::Method::GET, path, Some(token), None)
            .await?;
        let status = res.status().as_u16();
        let bytes = res.bytes().await?;
        let d = started.elapsed();
        let out: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        ensure!(status == 200 && check(&out), "{path}: {status} {out}");
        if i >= 3 {
            took.push(d);
        }
    }
    let p = percentiles(took);
    Ok((p.p50, p.p95))
}

async fn run(backend: testkit::Backend) -> anyhow::Result<()> {
    let invoices = env("BENCH_LINES", 1_000_000) / 5;
    let repeat = env("BENCH_REPEAT", 100);
    let create = env("BENCH_CREATE", 2_000);
    let concurrency = env("BENCH_CONCURRENCY", 8);
    let db = TestDb::new(backend).await?;
    let cell = testcell::start(&db, TOML, vec![Box::new(finance::Finance::default())]).await?;
    let org = testcell::org(&cell, "Acme").await?;
    let token = testcell::user(&cell, "mia@acme.test", org, "member").await?;
    let (_, me) = cell.get("/api/v1/users/me", Some(&token)).await?;
    let user = Uuid::parse_str(me["id"].as_str().unwrap_or_default())?;
    let label = format!("{backend:?}").to_lowercase();

    let started = Instant::now();
    let expected = load(&cell, org, user, invoices).await?;
    analyze(&db).await?;
    println!(
        "{label}: loaded {} journal lines ({invoices} invoices) in {:.1} s",
        expected.lines,
        started.elapsed().as_secs_f64()
    );

    let today = Utc::now().date_naive();
    let (p50, p95) = timed(&cell, &token, "/api/v1/finance/ar-aging", repeat, |out| {
        out["currencies"][0]["total"].as_i64() == Some(expected.owed)
    })
    .await?;
    println!(
        "{label}: AR aging over {} lines: p50 {p50:.1} ms, p95 {p95:.1} ms",
        expected.lines
    );
    let year = format!(
        "/api/v1/finance/profit-loss?from={}&to={}",
        today - Days::days(400),
        today + Days::days(1)
    );
    let (p50, p95) = timed(&cell, &token, &year, repeat, |out| {
        out["currencies"][0]["revenue"].as_i64() == Some(expected.revenue)
    })
    .await?;
    println!(
        "{label}: P&L of a year over {} lines: p50 {p50:.1} ms, p95 {p95:.1} ms",
        expected.lines
    );
    let (p50, p95) = timed(
        &cell,
        &token,
        "/api/v1/finance/trial-balance",
        repeat.min(20),
        |out| out["balanced"] == json!(true),
    )
    .await?;
    println!(
        "{label}: trial balance over {} lines: p50 {p50:.1} ms, p95 {p95:.1} ms",
        expected.lines
    );

    // Creations, `concurrency` at a time: their rate, and the numbers consecutive.
    let mut all = tokio::task::JoinSet::new();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    for _ in 0..concurrency {
        let (next, url, token, client) = (
            next.clone(),
            cell.url("/api/v1/invoices"),
            token.clone(),
            cell.client.clone(),
        );
        all.spawn(async move {
            let mut numbers = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < create {
                let res = client.post(&url).bearer_auth(&token)
                    .json(&json!({"line_items": [{"description": "Retainer", "unit_price": 150000, "tax_rate": 8.25}]}))
                    .send().await?;
                ensure!(res.status().as_u16() == 201, "create: {}", res.status());
                let out: Value = res.json().await?;
                numbers.push(out["number"].as_str().unwrap_or_default().to_owned());
            }
            Ok::<_, anyhow::Error>(numbers)
        });
    }
    let mut numbers = BTreeSet::new();
    while let Some(done) = all.join_next().await {
        numbers.extend(done??);
    }
    let secs = started.elapsed().as_secs_f64();
    let year = chrono::Datelike::year(&Utc::now());
    let consecutive: BTreeSet<String> =
        (1..=create).map(|n| format!("INV-{year}-{n:04}")).collect();
    ensure!(numbers == consecutive, "the numbers are not 1..={create}");
    println!(
        "{label}: {create} invoices created {concurrency} at a time in {secs:.2} s: {:.0}/s, numbers 1..={create} with no gap",
        create as f64 / secs
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    for b in backends()? {
        run(b).await?;
    }
    Ok(())
}

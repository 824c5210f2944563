//! Invoice numbers under concurrency: two instances of the cell on one database, 50 invoices
//! created at once, 50 consecutive numbers.

use std::collections::BTreeSet;

use chrono::{Datelike, Utc};
use serde_json::json;
use testkit::db_test;

use crate::support::{cell, org, user};

db_test!(
    async fn fifty_concurrent_creations_on_two_instances_get_fifty_consecutive_numbers(db) {
        let one = cell(&db).await?;
        let two = cell(&db).await?;
        let acme = org(&one, "Acme").await?;
        let token = user(&one, "member@acme.test", acme, "member").await?;
        let mut all = tokio::task::JoinSet::new();
        for i in 0..50 {
            let base = if i % 2 == 0 { one.base.clone() } else { two.base.clone() };
            let client = one.client.clone();
            let token = token.clone();
            all.spawn(async move {
                let res = client
                    .post(format!("{base}/api/v1/invoices"))
                    .bearer_auth(token)
                    .json(&json!({"line_items": [{"description": format!("Item {i}"), "unit_price": 100}]}))
                    .send()
                    .await?;
                let status = res.status().as_u16();
                let body: serde_json::Value = res.json().await?;
                anyhow::ensure!(status == 201, "{status} {body}");
                Ok::<_, anyhow::Error>(body["number"].as_str().unwrap_or_default().to_owned())
            });
        }
        let mut numbers = BTreeSet::new();
        while let Some(done) = all.join_next().await {
            numbers.insert(done??);
        }
        let year = Utc::now().year();
        let expected: BTreeSet<String> = (1..=50).map(|n| format!("INV-{year}-{n:04}")).collect();
        assert_eq!(numbers, expected, "no number shared, none skipped");
        Ok(())
    }
);

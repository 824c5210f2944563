//! List queries over HTTP: filter, sort, search and paging, always inside the caller's org.

use testkit::db_test;
use uuid::Uuid;

use crate::support::{NOTES_AND_TAGS, TestApp, expect_error};

async fn page(app: &TestApp, org: Uuid, query: &str) -> anyhow::Result<serde_json::Value> {
    let res = app.get_as(org, &format!("/api/v1/notes?{query}")).await?;
    assert_eq!(res.status(), 200, "{query}");
    Ok(res.json().await?)
}

fn total(v: &serde_json::Value) -> u64 {
    v["meta"]["total"].as_u64().unwrap_or(u64::MAX)
}

db_test!(async fn lists_filter_sort_search_and_page_within_the_tenant(db) {
    let app = TestApp::spawn(&db, NOTES_AND_TAGS).await?;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    for i in 0..30 {
        assert_eq!(app.create_note(a, &format!("Note {i:02}"), i % 5).await?.status(), 201);
    }
    for i in 0..5 {
        assert_eq!(app.create_note(b, &format!("Other {i}"), 1).await?.status(), 201);
    }

    let p = page(&app, a, "limit=10&page=2&sort=priority:desc,title:asc").await?;
    assert_eq!(
        p["meta"],
        serde_json::json!({"page": 2, "limit": 10, "total": 30, "total_exact": true, "total_pages": 3, "has_next": true, "has_prev": true})
    );
    let rows = p["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 10);
    let priorities: Vec<i64> = rows.iter().map(|r| r["priority"].as_i64().unwrap_or(-1)).collect();
    assert!(priorities.windows(2).all(|w| w[0] >= w[1]), "{priorities:?}");
    assert!(rows.iter().all(|r| r["org_id"] == a.to_string().as_str()), "another org's row in the page");

    // Every row exactly once across the pages.
    let mut seen = std::collections::BTreeSet::new();
    for n in 1..=3 {
        for r in page(&app, a, &format!("limit=10&page={n}")).await?["data"].as_array().cloned().unwrap_or_default() {
            assert!(seen.insert(r["id"].as_str().unwrap_or_default().to_owned()), "row on two pages");
        }
    }
    assert_eq!(seen.len(), 30);

    assert_eq!(total(&page(&app, a, "filter[priority]=1,2").await?), 12);
    assert_eq!(total(&page(&app, a, "filter[priority.gte]=3").await?), 12);
    assert_eq!(total(&page(&app, a, "filter[priority.ne]=0").await?), 24);
    assert_eq!(total(&page(&app, a, "search=NOTE%201").await?), 10);
    assert_eq!(total(&page(&app, a, "search=100%25").await?), 0, "`%` must be matched literally");
    assert_eq!(total(&page(&app, b, "").await?), 5);
    let beyond = page(&app, a, "page=9").await?;
    assert_eq!((beyond["data"].as_array().map(Vec::len), total(&beyond)), (Some(0), 30));

    let e = expect_error(app.get_as(a, "/api/v1/notes?sort=colour").await?, 400, "invalid_query").await?;
    assert!(e["message"].as_str().unwrap_or_default().contains("sortable fields: title, priority, created_at"), "{e}");
    let e = expect_error(app.get_as(a, "/api/v1/notes?filter[priority]=high").await?, 400, "invalid_query").await?;
    assert!(e["message"].as_str().unwrap_or_default().contains("whole number"), "{e}");
    expect_error(app.get_as(a, &format!("/api/v1/notes?filter[org_id]={b}")).await?, 400, "invalid_query").await?;
    Ok(())
});

db_test!(async fn counts_stop_at_the_cap_and_paging_past_it_stays_exact(db) {
    use sea_orm::{ActiveValue::Set, EntityTrait};
    let app = TestApp::spawn(&db, NOTES_AND_TAGS).await?;
    let org = Uuid::now_v7();
    let rows = kernel::http::COUNT_CAP + 1;
    let tx = app.ctx.db().tenant(org).await?;
    let notes: Vec<_> = (0..rows)
        .map(|i| crate::support::note::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(org),
            title: Set(format!("Bulk {i:05}")),
            priority: Set(1),
            created_at: Set(chrono::Utc::now()),
        })
        .collect();
    for chunk in notes.chunks(1000) {
        crate::support::note::Entity::insert_many(chunk.to_vec()).exec(tx.unscoped()).await?;
    }
    tx.commit().await?;

    // The first page: counting stopped at the cap, and there is a next page.
    let first = page(&app, org, "limit=25").await?;
    assert_eq!(
        (&first["meta"]["total"], &first["meta"]["total_exact"], &first["meta"]["has_next"], &first["meta"]["total_pages"]),
        (&serde_json::json!(kernel::http::COUNT_CAP), &serde_json::json!(false), &serde_json::json!(true), &serde_json::json!(kernel::http::COUNT_CAP / 25)),
    );
    // A page past the cap counts up to the row after it: the whole list here, exactly.
    let last = page(&app, org, &format!("limit=25&page={}", kernel::http::COUNT_CAP / 25 + 1)).await?;
    assert_eq!(
        (&last["meta"]["total"], &last["meta"]["total_exact"], &last["meta"]["has_next"], last["data"].as_array().map(Vec::len)),
        (&serde_json::json!(rows), &serde_json::json!(true), &serde_json::json!(false), Some(1)),
    );
    // A filter that matches few rows is counted exactly.
    assert_eq!(total(&page(&app, org, &format!("search=Bulk%20{:05}", kernel::http::COUNT_CAP)).await?), 1);
    Ok(())
});

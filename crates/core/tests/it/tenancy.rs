//! Tenant isolation in the data layer: the repository on both backends, and row-level security
//! on PostgreSQL for code that steps outside the repository.

use kernel::Db;
use sea_orm::ActiveValue::Set;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, Statement};
use testkit::{Backend, TestDb, db_test};
use uuid::Uuid;

use crate::support::{NOTES_AND_TAGS, TestApp, note};

fn new_note(title: &str) -> note::ActiveModel {
    note::ActiveModel {
        id: Set(Uuid::now_v7()),
        title: Set(title.to_owned()),
        priority: Set(1),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
}

async fn seed(db: &Db, org: Uuid, titles: &[&str]) -> anyhow::Result<Vec<Uuid>> {
    let tx = db.tenant(org).await?;
    let mut ids = Vec::new();
    for t in titles {
        ids.push(tx.repo::<note::Entity>().insert(new_note(t)).await?.id);
    }
    tx.commit().await?;
    Ok(ids)
}

db_test!(async fn the_repository_never_crosses_orgs(db) {
    let app = TestApp::spawn(&db, NOTES_AND_TAGS).await?;
    let store = app.ctx.db();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let a_ids = seed(store, a, &["a1", "a2"]).await?;
    let b_ids = seed(store, b, &["b1"]).await?;

    let tx = store.tenant(b).await?;
    let repo = tx.repo::<note::Entity>();
    let seen: Vec<String> = repo.find().all(repo.conn()).await?.into_iter().map(|n| n.title).collect();
    assert_eq!(seen, vec!["b1"]);
    assert_eq!(repo.count().await?, 1);
    assert!(repo.get(a_ids[0]).await?.is_none(), "read another org's row by id");
    assert!(repo.get(b_ids[0]).await?.is_some());

    let steal = note::ActiveModel { id: Set(a_ids[0]), title: Set("stolen".into()), ..Default::default() };
    assert!(repo.update(steal).await.is_err(), "updated another org's row");
    assert!(!repo.delete(a_ids[0]).await?, "deleted another org's row");
    let planted = note::ActiveModel { org_id: Set(a), ..new_note("planted") };
    let err = repo.insert(planted).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("another org"), "{err}");
    let changed = repo
        .update_many(vec![(note::Column::Title, sea_orm::sea_query::Expr::value("renamed"))], sea_orm::sea_query::Expr::value(true))
        .await?;
    assert_eq!(changed, 1);
    assert_eq!(repo.delete_many(sea_orm::sea_query::Expr::value(true)).await?, 1);
    tx.commit().await?;

    let tx = store.tenant(a).await?;
    let repo = tx.repo::<note::Entity>();
    let mut titles: Vec<String> = repo.find().all(repo.conn()).await?.into_iter().map(|n| n.title).collect();
    titles.sort();
    assert_eq!(titles, vec!["a1", "a2"], "org a's rows were touched from org b");
    Ok(())
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tenant_transactions_start_with_the_org_setting() -> anyhow::Result<()> {
    let db = TestDb::new(Backend::Postgres).await?;
    let app = TestApp::spawn(&db, "").await?;
    let org = Uuid::now_v7();
    let tx = app.ctx.db().tenant(org).await?;
    let row = tx
        .unscoped()
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "select current_setting('app.current_org_id', true) as org",
        ))
        .await?;
    assert_eq!(
        row.map(|r| r.try_get::<String>("", "org")).transpose()?,
        Some(org.to_string())
    );
    tx.commit().await?;
    // Transaction-local: gone once the transaction ends.
    let after = app
        .ctx
        .db()
        .conn()
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "select coalesce(current_setting('app.current_org_id', true), '') as org",
        ))
        .await?;
    assert_eq!(
        after.map(|r| r.try_get::<String>("", "org")).transpose()?,
        Some(String::new())
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_row_level_security_backs_the_repository() -> anyhow::Result<()> {
    let mut db = TestDb::new(Backend::Postgres).await?;
    let app = TestApp::spawn(&db, NOTES_AND_TAGS).await?;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    seed(app.ctx.db(), a, &["a1", "a2"]).await?;
    seed(app.ctx.db(), b, &["b1"]).await?;

    // The application role: owns no table, no BYPASSRLS, not a superuser.
    let role = format!("app_{}", Uuid::now_v7().simple());
    let owner = app.ctx.db().conn();
    owner
        .execute_unprepared(&format!(
            "CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS; GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO {role};"
        ))
        .await?;
    let mut url = url::Url::parse(db.url())?;
    url.set_username(&role)
        .map_err(|()| anyhow::anyhow!("bad url"))?;
    let as_app = Db::from_connection(sea_orm::Database::connect(url.as_str()).await?);

    let result = async {
        // No org context: no rows, even though the query has no predicate at all.
        assert!(note::Entity::find().all(as_app.conn()).await?.is_empty());
        // Org a's context: only a's rows through a raw, unscoped query.
        let tx = as_app.tenant(a).await?;
        assert_eq!(note::Entity::find().all(tx.unscoped()).await?.len(), 2);
        // Writing a row of org b from org a's context is refused by the policy.
        let planted = note::ActiveModel {
            org_id: Set(b),
            ..new_note("planted")
        };
        let err = note::Entity::insert(planted)
            .exec(tx.unscoped())
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("row-level security"), "{err}");
        tx.rollback().await?;
        anyhow::Ok(())
    }
    .await;

    as_app.conn().clone().close().await?;
    db.drop_now().await?;
    let server = sea_orm::Database::connect(testkit::postgres_server_url()).await?;
    server
        .execute_unprepared(&format!("DROP ROLE IF EXISTS {role}"))
        .await?;
    result
}

db_test!(async fn reads_answer_while_a_writer_holds_its_transaction(db) {
    let app = TestApp::spawn(&db, NOTES_AND_TAGS).await?;
    let store = app.ctx.db();
    let org = Uuid::now_v7();
    seed(store, org, &["committed"]).await?;
    let titles = |rows: Vec<note::Model>| rows.into_iter().map(|n| n.title).collect::<Vec<_>>();
    // A writer holds its transaction open (on SQLite: the one write lock).
    let writer = store.tenant(org).await?;
    writer.repo::<note::Entity>().insert(new_note("in flight")).await?;
    // A read transaction does not queue behind it (an immediate one would wait out the busy
    // timeout and fail), and sees committed rows only.
    let reader = store.tenant_read(org).await?;
    let repo = reader.repo::<note::Entity>();
    let seen = titles(repo.find().all(repo.conn()).await?);
    reader.commit().await?;
    assert_eq!(seen, vec!["committed"]);
    writer.commit().await?;

    // Scoped once open (how an API key's org is learnt): that org's rows only.
    let other = Uuid::now_v7();
    seed(store, other, &["other"]).await?;
    let tx = store.scope_read(store.begin_read().await?, other).await?;
    let repo = tx.repo::<note::Entity>();
    let seen = titles(repo.find().all(repo.conn()).await?);
    tx.commit().await?;
    assert_eq!(seen, vec!["other"]);

    // A read is read-only in the database (PostgreSQL's read-only transaction, SQLite's
    // `query_only` pool): a write in it fails, rather than being lost without a word when its
    // end drops it.
    let tx = store.tenant_read(org).await?;
    let err = tx
        .repo::<note::Entity>()
        .insert(new_note("must not stick"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("read-only transaction") || err.contains("readonly database"),
        "{err}"
    );
    tx.rollback().await?;
    // Ended without a round trip, the read leaves the pool's connections clean: the next
    // transaction on them writes and commits.
    for title in ["after 1", "after 2", "after 3"] {
        seed(store, org, &[title]).await?;
    }
    let tx = store.tenant_read(org).await?;
    let repo = tx.repo::<note::Entity>();
    assert_eq!(repo.count().await?, 5);
    tx.commit().await?;
    Ok(())
});

db_test!(async fn a_transaction_given_up_while_it_begins_leaves_no_trace(db) {
    // A request whose other extractor fails (a malformed body) drops the one opening its
    // transaction mid-`BEGIN`. The connection must not go back to the pool inside that
    // transaction: the next transaction on it would run in it (read-only, or not scoped).
    let app = TestApp::spawn(&db, NOTES_AND_TAGS).await?;
    let store = app.ctx.db();
    let org = Uuid::now_v7();
    async fn yields(n: usize) {
        for _ in 0..n {
            tokio::task::yield_now().await;
        }
    }
    // Given up at different points of the exchange with the database.
    for n in 0..150 {
        tokio::select! { biased; _ = store.tenant_read(org) => {}, () = yields(n) => {} }
        tokio::select! { biased; _ = store.tenant(org) => {}, () = yields(n) => {} }
    }
    for i in 0..30 {
        seed(store, org, &[&format!("note {i}")]).await?;
    }
    let tx = store.tenant_read(org).await?;
    assert_eq!(tx.repo::<note::Entity>().count().await?, 30);
    Ok(())
});

//! The audit log over HTTP on both backends: what the middleware records (and what it never
//! does), who may read it, filters and paging, CSV exports, and that entries cannot change.

use kernel::audit::{AuditEntry, entity};
use reqwest::Method;
use sea_orm::ActiveValue::Set;
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use testkit::{TestDb, db_test};
use uuid::Uuid;

use crate::support::{Actor, Callers, Notes, Tags, TestApp, expect_error};

const CELL: &str = "[modules.audit]\n[modules.notes]\n[modules.tags]\n[modules.callers]\n";
const QUIET: [(&str, &str); 1] = [("CELL__JOBS__RUN", "false")];

async fn spawn(db: &TestDb) -> anyhow::Result<TestApp> {
    TestApp::spawn_with(
        db,
        CELL,
        &QUIET,
        vec![
            Box::new(Notes::default()),
            Box::new(Tags::default()),
            Box::new(Callers),
        ],
    )
    .await
}

async fn audit_page(app: &TestApp, who: &Actor, query: &str) -> anyhow::Result<serde_json::Value> {
    let res = who
        .request(app, Method::GET, &format!("/api/v1/audit{query}"))
        .send()
        .await?;
    anyhow::ensure!(
        res.status() == 200,
        "GET /api/v1/audit{query}: {}",
        res.status()
    );
    Ok(res.json().await?)
}

fn actions(page: &serde_json::Value) -> Vec<String> {
    page["data"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| r["action"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Inserts an entry with a chosen time, as the table's owner would (tests only).
async fn seed(
    app: &TestApp,
    org: Option<Uuid>,
    actor: Option<Uuid>,
    action: &str,
    entity: (&str, &str),
    at: &str,
) -> anyhow::Result<Uuid> {
    let id = Uuid::now_v7();
    entity::Entity::insert(entity::ActiveModel {
        id: Set(id),
        org_id: Set(org),
        actor_user_id: Set(actor),
        actor_api_key_id: Set(None),
        action: Set(action.into()),
        entity_type: Set(Some(entity.0.into())),
        entity_id: Set(Some(entity.1.into())),
        changes: Set(None),
        ip: Set(None),
        user_agent: Set(Some("=cmd|' /C calc'!A0".into())),
        request_id: Set(None),
        status: Set(None),
        created_at: Set(chrono::DateTime::parse_from_rfc3339(at)?.to_utc()),
    })
    .exec_without_returning(app.ctx.db().conn())
    .await?;
    Ok(id)
}

db_test!(async fn mutating_requests_are_recorded_with_actor_org_and_request(db) {
    let app = spawn(&db).await?;
    let org = Uuid::now_v7();
    let alice = Actor::new(org, "admin");
    let created = alice
        .request(&app, Method::POST, "/api/v1/notes")
        .header("x-request-id", "req-audit-1")
        .header("user-agent", "audit-test/1.0")
        .json(&serde_json::json!({"title": "secret title s3cr3t", "priority": 1}))
        .send()
        .await?;
    assert_eq!(created.status(), 201);
    let note: serde_json::Value = created.json().await?;
    let note_id = note["id"].as_str().unwrap_or_default().to_owned();
    let deleted = alice
        .request(&app, Method::DELETE, &format!("/api/v1/notes/{note_id}"))
        .send()
        .await?;
    assert_eq!(deleted.status(), 204);
    // Reads, failures and anonymous requests are not recorded.
    assert_eq!(alice.request(&app, Method::GET, "/api/v1/notes").send().await?.status(), 200);
    let invalid = alice
        .request(&app, Method::POST, "/api/v1/notes")
        .json(&serde_json::json!({"title": "", "priority": 1}))
        .send()
        .await?;
    assert_eq!(invalid.status(), 422);
    let missing = alice
        .request(&app, Method::DELETE, &format!("/api/v1/notes/{}", Uuid::now_v7()))
        .send()
        .await?;
    assert_eq!(missing.status(), 404);
    assert_eq!(app.create_note(org, "anonymous", 1).await?.status(), 201);
    // A caller through an API key is recorded with the key.
    let robot = alice.with_key("notes:write");
    assert_eq!(
        robot
            .request(&app, Method::POST, "/api/v1/notes")
            .json(&serde_json::json!({"title": "by key", "priority": 2}))
            .send()
            .await?
            .status(),
        201
    );

    let page = audit_page(&app, &alice, "").await?;
    assert_eq!(
        actions(&page),
        vec!["POST /api/v1/notes", "DELETE /api/v1/notes/{id}", "POST /api/v1/notes"],
        "{page}"
    );
    assert_eq!(page["meta"]["total"], 3, "{page}");
    let by_key = &page["data"][0];
    assert_eq!(by_key["actor_api_key_id"], robot.key.map(|k| k.to_string()).unwrap_or_default().as_str());
    let delete = &page["data"][1];
    assert_eq!(delete["entity_type"], "notes", "{page}");
    assert_eq!(delete["entity_id"], note_id.as_str(), "{page}");
    assert_eq!(delete["status"], 204);
    let create = &page["data"][2];
    assert_eq!(create["org_id"], org.to_string().as_str());
    assert_eq!(create["actor_user_id"], alice.user.to_string().as_str());
    assert!(create["actor_api_key_id"].is_null());
    assert_eq!(create["request_id"], "req-audit-1");
    assert_eq!(create["ip"], "127.0.0.1");
    assert_eq!(create["user_agent"], "audit-test/1.0");
    assert_eq!(create["status"], 201);
    assert_eq!((create["entity_type"].as_str(), create["entity_id"].as_str()), (Some("notes"), None));
    assert!(chrono::DateTime::parse_from_rfc3339(create["timestamp"].as_str().unwrap_or_default()).is_ok());
    // Bodies are never recorded.
    assert!(!page.to_string().contains("s3cr3t"), "{page}");
    // Listing the log is a read: still three entries.
    assert_eq!(audit_page(&app, &alice, "").await?["meta"]["total"], 3);
    Ok(())
});

db_test!(async fn only_admins_read_the_log_and_only_their_orgs(db) {
    let app = spawn(&db).await?;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let (admin_a, admin_b) = (Actor::new(a, "admin"), Actor::new(b, "owner"));
    for (who, title) in [(admin_a, "a1"), (admin_a, "a2"), (admin_b, "b1")] {
        let res = who
            .request(&app, Method::POST, "/api/v1/notes")
            .json(&serde_json::json!({"title": title, "priority": 1}))
            .send()
            .await?;
        assert_eq!(res.status(), 201);
    }
    // An entry outside any org (a failed sign-in) is in no org's log.
    app.ctx
        .audit()
        .record(app.ctx.db().conn(), AuditEntry::new("auth.login_failed").entity("email", "x@example.com"))
        .await?;

    let seen_a = audit_page(&app, &admin_a, "").await?;
    assert_eq!(seen_a["meta"]["total"], 2, "{seen_a}");
    assert!(seen_a["data"].as_array().is_some_and(|r| r.iter().all(|e| e["org_id"] == a.to_string().as_str())));
    let seen_b = audit_page(&app, &admin_b, "").await?;
    assert_eq!(seen_b["meta"]["total"], 1, "{seen_b}");

    for role in ["member", "viewer"] {
        let res = Actor::new(a, role).request(&app, Method::GET, "/api/v1/audit").send().await?;
        expect_error(res, 403, "forbidden").await?;
    }
    expect_error(app.get("/api/v1/audit").await?, 401, "unauthorized").await?;
    let keyed = admin_a.with_key("notes:read");
    expect_error(keyed.request(&app, Method::GET, "/api/v1/audit").send().await?, 403, "insufficient_scope").await?;
    let doc: serde_json::Value = app.get("/api-docs/openapi.json").await?.json().await?;
    for path in ["/api/v1/audit", "/api/v1/audit/export", "/api/v1/audit/export/{id}"] {
        assert!(doc["paths"][path].is_object(), "{path} is not in the OpenAPI document");
    }
    let reader = admin_a.with_key("audit:read");
    assert_eq!(reader.request(&app, Method::GET, "/api/v1/audit").send().await?.status(), 200);
    Ok(())
});

db_test!(async fn the_audit_api_is_a_module_mounted_under_its_prefix(db) {
    // Not listed: the routes are not served (the log is still kept).
    let without = TestApp::spawn(&db, "[modules.notes]\n[modules.tags]\n").await?;
    assert_eq!(without.get("/api/v1/audit").await?.status(), 404);
    let doc: serde_json::Value = without.get("/api-docs/openapi.json").await?.json().await?;
    assert!(doc["paths"]["/api/v1/audit"].is_null());
    // Listed with a prefix of its own, like any module.
    let app = TestApp::spawn_with(
        &db,
        "[modules.audit]\nroute_prefix = \"/compliance\"\n[modules.notes]\n[modules.tags]\n[modules.callers]\n",
        &QUIET,
        vec![Box::new(Notes::default()), Box::new(Tags::default()), Box::new(Callers)],
    )
    .await?;
    let admin = Actor::new(Uuid::now_v7(), "admin");
    assert_eq!(admin.request(&app, Method::GET, "/compliance/audit").send().await?.status(), 200);
    assert_eq!(admin.request(&app, Method::GET, "/api/v1/audit").send().await?.status(), 404);
    Ok(())
});

db_test!(async fn the_log_filters_by_entity_actor_and_time_and_pages(db) {
    let app = spawn(&db).await?;
    let (org, other) = (Uuid::now_v7(), Uuid::now_v7());
    let admin = Actor::new(org, "admin");
    let (u456, u789) = (Uuid::now_v7(), Uuid::now_v7());
    seed(&app, Some(org), Some(u456), "documents.updated", ("document", "doc_123"), "2024-12-31T23:00:00Z").await?;
    seed(&app, Some(org), Some(u456), "documents.shared", ("document", "doc_123"), "2025-01-02T10:00:00Z").await?;
    seed(&app, Some(org), Some(u789), "documents.updated", ("document", "doc_999"), "2025-01-03T10:00:00Z").await?;
    seed(&app, Some(org), Some(u456), "tasks.completed", ("task", "t_1"), "2025-02-01T10:00:00Z").await?;
    seed(&app, Some(other), Some(u456), "documents.updated", ("document", "doc_123"), "2025-01-02T11:00:00Z").await?;

    let doc = audit_page(&app, &admin, "?entity_type=document&entity_id=doc_123").await?;
    assert_eq!(actions(&doc), vec!["documents.shared", "documents.updated"], "{doc}");
    let by_actor = audit_page(&app, &admin, &format!("?actor_id={u456}&from=2025-01-01")).await?;
    assert_eq!(actions(&by_actor), vec!["tasks.completed", "documents.shared"], "{by_actor}");
    let january = audit_page(&app, &admin, "?from=2025-01-01&to=2025-01-31").await?;
    assert_eq!(january["meta"]["total"], 2, "{january}");
    let before = audit_page(&app, &admin, "?to=2025-01-02T10:00:00Z").await?;
    assert_eq!(actions(&before), vec!["documents.updated"], "{before}");

    let first = audit_page(&app, &admin, "?page=1&limit=3&sort=timestamp:desc").await?;
    assert_eq!(actions(&first), vec!["tasks.completed", "documents.updated", "documents.shared"]);
    assert_eq!((first["meta"]["total"].as_u64(), first["meta"]["has_next"].as_bool()), (Some(4), Some(true)));
    let second = audit_page(&app, &admin, "?page=2&limit=3&sort=timestamp:desc").await?;
    assert_eq!(actions(&second), vec!["documents.updated"]);
    let oldest = audit_page(&app, &admin, "?sort=timestamp:asc&limit=1").await?;
    assert_eq!(oldest["data"][0]["timestamp"], "2024-12-31T23:00:00Z", "{oldest}");
    let filtered = audit_page(&app, &admin, "?filter[action]=documents.updated").await?;
    assert_eq!(filtered["meta"]["total"], 2);

    for bad in ["?actor=me", "?from=yesterday", "?actor_id=user_456", "?sort=ip:asc"] {
        let res = admin.request(&app, Method::GET, &format!("/api/v1/audit{bad}")).send().await?;
        expect_error(res, 400, "invalid_query").await?;
    }
    Ok(())
});

db_test!(async fn an_export_writes_the_orgs_entries_as_csv_for_that_org_only(db) {
    let app = spawn(&db).await?;
    let (org, other) = (Uuid::now_v7(), Uuid::now_v7());
    let (admin, admin_other) = (Actor::new(org, "admin"), Actor::new(other, "admin"));
    let inside = [
        seed(&app, Some(org), None, "documents.updated", ("document", "doc_1"), "2025-01-02T10:00:00Z").await?,
        seed(&app, Some(org), None, "documents.shared", ("document", "doc_2"), "2025-01-03T10:00:00Z").await?,
    ];
    seed(&app, Some(org), None, "documents.updated", ("document", "doc_3"), "2025-03-01T10:00:00Z").await?;
    seed(&app, Some(other), None, "documents.updated", ("document", "doc_4"), "2025-01-02T12:00:00Z").await?;

    let bad = admin
        .request(&app, Method::POST, "/api/v1/audit/export")
        .json(&serde_json::json!({"from": "2025-01-01", "to": "2025-01-31", "format": "xml"}))
        .send()
        .await?;
    expect_error(bad, 422, "validation_failed").await?;
    let member = Actor::new(org, "member")
        .request(&app, Method::POST, "/api/v1/audit/export")
        .json(&serde_json::json!({"format": "csv"}))
        .send()
        .await?;
    expect_error(member, 403, "forbidden").await?;

    let queued = admin
        .request(&app, Method::POST, "/api/v1/audit/export")
        .json(&serde_json::json!({"from": "2025-01-01", "to": "2025-01-31", "format": "csv"}))
        .send()
        .await?;
    assert_eq!(queued.status(), 202);
    let queued: serde_json::Value = queued.json().await?;
    assert_eq!(queued["status"], "queued", "{queued}");
    let id = queued["id"].as_str().unwrap_or_default().to_owned();
    let status_path = format!("/api/v1/audit/export/{id}");
    let status: serde_json::Value = admin.request(&app, Method::GET, &status_path).send().await?.json().await?;
    assert_eq!((status["status"].as_str(), status["download_url"].is_null()), (Some("queued"), true), "{status}");
    // Another org's admin cannot see it, nor can a member of the org.
    expect_error(admin_other.request(&app, Method::GET, &status_path).send().await?, 404, "not_found").await?;
    expect_error(Actor::new(org, "member").request(&app, Method::GET, &status_path).send().await?, 403, "forbidden").await?;

    assert_eq!(app.ctx.jobs().run_once(&app.ctx).await?, 1);
    let done: serde_json::Value = admin.request(&app, Method::GET, &status_path).send().await?.json().await?;
    assert_eq!(done["status"], "completed", "{done}");
    let url = done["download_url"].as_str().unwrap_or_default();
    let url = if url.starts_with('/') { app.url(url) } else { url.to_owned() };
    let download = app.client.get(url).send().await?;
    assert_eq!(download.status(), 200);
    let body = download.bytes().await?;
    let mut reader = csv::Reader::from_reader(body.as_ref());
    let headers = reader.headers()?.clone();
    assert_eq!(&headers[0], "id");
    assert_eq!(&headers[4], "action");
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    let ids: Vec<String> = rows.iter().map(|r| r[0].to_owned()).collect();
    assert_eq!(ids, inside.iter().map(Uuid::to_string).collect::<Vec<_>>(), "rows: {rows:?}");
    assert_eq!(&rows[0][4], "documents.updated");
    assert_eq!(&rows[1][6], "doc_2");
    // Spreadsheet formulas are defused.
    assert_eq!(&rows[0][9], "'=cmd|' /C calc'!A0");

    // The export itself is in the log, once, with who asked.
    let log = audit_page(&app, &admin, "?filter[action]=audit.export").await?;
    assert_eq!(log["meta"]["total"], 1, "{log}");
    assert_eq!(log["data"][0]["entity_id"], id.as_str());
    assert_eq!(log["data"][0]["actor_user_id"], admin.user.to_string().as_str());
    let generic = audit_page(&app, &admin, "?search=/audit/export").await?;
    assert_eq!(generic["meta"]["total"], 0, "{generic}");
    Ok(())
});

db_test!(async fn entries_commit_with_their_change_and_never_change(db) {
    let app = spawn(&db).await?;
    let org = Uuid::now_v7();
    let audit = app.ctx.audit();
    let tx = app.ctx.db().tenant(org).await?;
    audit.record_in(&tx, AuditEntry::new("notes.renamed").entity("note", "n1").changes(serde_json::json!({"title": {"from": "a", "to": "b"}}))).await?;
    tx.commit().await?;
    let tx = app.ctx.db().tenant(org).await?;
    audit.record_in(&tx, AuditEntry::new("notes.renamed").entity("note", "n2")).await?;
    tx.rollback().await?;
    let tx = app.ctx.db().tenant(org).await?;
    let err = audit.record_in(&tx, AuditEntry::new("x.y").org(Uuid::now_v7())).await.err();
    assert!(err.is_some_and(|e| e.to_string().contains("another org")));
    tx.rollback().await?;

    let page = audit_page(&app, &Actor::new(org, "owner"), "").await?;
    assert_eq!(page["meta"]["total"], 1, "{page}");
    assert_eq!(page["data"][0]["changes"]["title"]["to"], "b", "{page}");

    // Append-only for every connection, the owner's included.
    let conn = app.ctx.db().conn();
    for sql in ["UPDATE audit_log SET action = 'forged'", "DELETE FROM audit_log"] {
        let err = conn
            .execute_raw(Statement::from_string(conn.get_database_backend(), sql))
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(audit_page(&app, &Actor::new(org, "owner"), "").await?["data"][0]["action"], "notes.renamed");
    Ok(())
});

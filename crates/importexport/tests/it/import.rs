//! Imports: preview, mapping, batches, progress, the error file, re-runs that add nothing, all
//! or nothing without skip_errors, and who may import what.

use serde_json::json;
use testkit::db_test;

use crate::support::{
    cell, count_items, download, items_csv, org, preview, preview_keyed, run_jobs, user,
};

db_test!(
    async fn an_upload_is_not_held_for_an_idempotency_key(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        // 40 000 rows: about 1.6 MB, over the 1 MiB every JSON body is held to.
        let csv = items_csv(40_000, &[]);
        assert!(csv.len() > 1 << 20);
        let mut ids = Vec::new();
        for _ in 0..2 {
            let (status, pre) = preview_keyed(&cell, &member, "template_item", "big.csv", csv.clone(), Some("upload-1")).await?;
            assert_eq!((status, &pre["total_rows"]), (201, &json!(40_000)), "{pre}");
            ids.push(pre["preview_id"].clone());
        }
        assert_ne!(ids[0], ids[1], "run each time: the key is not applied to an upload");
        // A small one too (each send draws a new multipart boundary: its bytes never match).
        let small = items_csv(10, &[]);
        let (_, first) = preview_keyed(&cell, &member, "template_item", "small.csv", small.clone(), Some("upload-2")).await?;
        let (status, again) = preview_keyed(&cell, &member, "template_item", "small.csv", small, Some("upload-2")).await?;
        assert_eq!(status, 201, "not refused as another request with the key: {again}");
        assert_ne!(again["preview_id"], first["preview_id"]);
        Ok(())
    }
);

db_test!(
    async fn ten_thousand_rows_with_fifty_bad_ones(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let bad: Vec<usize> = (1..=50).map(|i| i * 199).collect();
        let (status, pre) = preview(&cell, &member, "template_item", "items.csv", items_csv(10_000, &bad)).await?;
        assert_eq!(status, 201, "{pre}");
        assert_eq!(pre["total_rows"], 10_000, "{pre}");
        assert_eq!(pre["headers"], json!(["Name", "Status", "Notes"]));
        assert_eq!(pre["suggested_mapping"], json!({"Name": "name", "Status": "status", "Notes": "notes"}));
        assert_eq!(pre["preview"].as_array().map(Vec::len), Some(10));
        assert_eq!(pre["preview"][0]["Notes"], "note 1, with a comma");
        // The first 100 rows hold no bad one (the first is data row 199).
        assert_eq!(pre["validation_errors"], json!([]), "{pre}");
        let id = pre["preview_id"].as_str().unwrap_or_default().to_owned();

        let (status, queued) = cell
            .post("/api/v1/import/confirm", Some(&member), json!({
                "preview_id": id, "mapping": pre["suggested_mapping"], "skip_errors": true
            }))
            .await?;
        assert_eq!((status, &queued["job_id"]), (202, &json!(id)), "{queued}");
        assert_eq!(cell.events("import.started").await?.len(), 1);
        let (status, again) = cell
            .post("/api/v1/import/confirm", Some(&member), json!({"preview_id": id, "mapping": {}}))
            .await?;
        assert_eq!(status, 409, "{again}");

        // Progress only moves forward while the job runs.
        let path = format!("/api/v1/import/jobs/{id}");
        let runner = {
            let ctx = cell.ctx.clone();
            tokio::spawn(async move { while ctx.jobs().run_once(&ctx).await? > 0 {} anyhow::Ok(()) })
        };
        let mut seen = Vec::new();
        loop {
            let (_, job) = cell.get(&path, Some(&member)).await?;
            seen.push(job["processed"].as_i64().unwrap_or(-1));
            if job["status"] == "completed" || job["status"] == "failed" || runner.is_finished() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        runner.await??;
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "progress went back: {seen:?}");
        let (_, job) = cell.get(&path, Some(&member)).await?;
        assert_eq!(job["status"], "completed", "{job}");
        assert_eq!((&job["processed"], &job["succeeded"], &job["failed"]), (&json!(10_000), &json!(9_950), &json!(50)), "{job}");
        assert_eq!(job["percent"], 100);
        assert_eq!(job["message"], "9,950 of 10,000 imported (50 skipped)");
        assert_eq!(count_items(&cell, acme).await?, 9_950, "exactly the good rows");
        let (_, done) = cell.get("/api/v1/items?limit=1&filter[status]=done&search=Item 10000", Some(&member)).await?;
        assert_eq!(done["data"][0]["notes"], "note 10000, with a comma", "{done}");

        // The error file names each bad row (the header is row 1: data row 199 is row 200).
        let errors = String::from_utf8(download(job["error_file"]["url"].as_str().unwrap_or_default()).await?)?;
        let lines: Vec<&str> = errors.lines().collect();
        assert_eq!(lines[0], "row,field,message");
        assert_eq!(lines.len(), 51, "{errors}");
        assert!(lines[1].starts_with("200,status,is not one of open, done") || lines[1].starts_with("200,status,\"is not one of"), "{}", lines[1]);
        let done = cell.events("import.completed").await?;
        assert_eq!((&done[0]["succeeded"], &done[0]["failed"]), (&json!(9_950), &json!(50)));

        // The same file again adds nothing: names are the key.
        let (_, pre) = preview(&cell, &member, "template_item", "items.csv", items_csv(10_000, &bad)).await?;
        let id2 = pre["preview_id"].as_str().unwrap_or_default().to_owned();
        cell.post("/api/v1/import/confirm", Some(&member), json!({
            "preview_id": id2, "mapping": pre["suggested_mapping"], "skip_errors": true
        })).await?;
        run_jobs(&cell).await?;
        assert_eq!(count_items(&cell, acme).await?, 9_950);
        assert_eq!(cell.events("template.item.created").await?.len(), 9_950, "nothing created twice");
        Ok(())
    }
);

db_test!(
    async fn without_skip_errors_a_bad_row_stores_nothing(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let csv = b"Name,Status\nFirst,open\n,done\nThird,later\n\n".to_vec();
        let (status, pre) = preview(&cell, &member, "template_item", "items.csv", csv).await?;
        assert_eq!(status, 201, "{pre}");
        assert_eq!(pre["total_rows"], 3, "a blank line is no row: {pre}");
        assert_eq!(pre["validation_errors"], json!([
            {"row": 3, "field": "name", "message": "is required"},
            {"row": 4, "field": "status", "message": "is not one of open, done"},
        ]));
        let id = pre["preview_id"].as_str().unwrap_or_default().to_owned();
        let (status, body) = cell
            .post("/api/v1/import/confirm", Some(&member), json!({"preview_id": id, "mapping": {"Status": "status"}}))
            .await?;
        assert_eq!(status, 422, "name is required and unmapped: {body}");
        let (status, body) = cell
            .post("/api/v1/import/confirm", Some(&member), json!({"preview_id": id, "mapping": {"Name": "name", "Nope": "status"}}))
            .await?;
        assert_eq!(status, 422, "{body}");
        let (status, _) = cell
            .post("/api/v1/import/confirm", Some(&member), json!({"preview_id": id, "mapping": {"Name": "name", "Status": "status"}}))
            .await?;
        assert_eq!(status, 202);
        run_jobs(&cell).await?;
        let (_, job) = cell.get(&format!("/api/v1/import/jobs/{id}"), Some(&member)).await?;
        assert_eq!((&job["status"], &job["succeeded"], &job["failed"]), (&json!("failed"), &json!(0), &json!(2)), "{job}");
        let (_, page) = cell.get("/api/v1/items", Some(&member)).await?;
        assert_eq!(page["meta"]["total"], 0, "nothing stored: {page}");
        let errors = String::from_utf8(download(job["error_file"]["url"].as_str().unwrap_or_default()).await?)?;
        assert_eq!(errors, "row,field,message\n3,name,is required\n4,status,\"is not one of open, done\"\n");
        Ok(())
    }
);

db_test!(
    async fn imports_are_refused_to_who_may_not_and_for_what_cannot_be(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let other = org(&cell, "Other").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let viewer = user(&cell, "viewer@acme.test", acme, "viewer").await?;
        let outsider = user(&cell, "owner@other.test", other, "owner").await?;
        let csv = || b"Name\nA\n".to_vec();
        let (status, _) = preview(&cell, &viewer, "template_item", "a.csv", csv()).await?;
        assert_eq!(status, 403, "viewers do not import");
        let (status, body) = preview(&cell, &member, "spaceship", "a.csv", csv()).await?;
        assert_eq!(status, 404, "{body}");
        assert!(body["error"]["message"].as_str().unwrap_or_default().contains("template_item"), "names what can: {body}");
        let (status, body) = preview(&cell, &member, "template_item", "a.exe", csv()).await?;
        assert_eq!(status, 415, "{body}");
        let (status, body) = preview(&cell, &member, "template_item", "a.xlsx", csv()).await?;
        assert_eq!(status, 415, "an .xlsx that is not a workbook: {body}");
        let (status, body) = preview(&cell, &member, "template_item", "a.csv", Vec::new()).await?;
        assert_eq!(status, 422, "no header row: {body}");
        let res = cell.client.post(cell.url("/api/v1/import/preview")).bearer_auth(&member)
            .json(&json!({"entity_type": "template_item"})).send().await?;
        assert_eq!(res.status().as_u16(), 415, "not a form");

        // Another org's preview and job are nobody's to see.
        let (_, pre) = preview(&cell, &member, "template_item", "a.csv", csv()).await?;
        let id = pre["preview_id"].as_str().unwrap_or_default().to_owned();
        let (status, _) = cell.post("/api/v1/import/confirm", Some(&outsider), json!({"preview_id": id, "mapping": {"Name": "name"}})).await?;
        assert_eq!(status, 404);
        let (status, _) = cell.get(&format!("/api/v1/import/jobs/{id}"), Some(&outsider)).await?;
        assert_eq!(status, 404);
        let (status, _) = cell.get(&format!("/api/v1/import/jobs/{id}"), Some(&viewer)).await?;
        assert_eq!(status, 404, "another member's job");
        Ok(())
    }
);

db_test!(
    async fn an_import_stopped_midway_resumes_without_duplicates(db) {
        use kernel::sea_orm::ConnectionTrait;
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        // A fault the database injects (as the table's owner): the row `Item 550` cannot be
        // written, so the sixth batch fails after five have committed.
        let owner = kernel::sea_orm::Database::connect(db.url()).await?;
        let (install, remove) = match db.backend() {
            testkit::Backend::Sqlite => (
                vec!["CREATE TRIGGER fail_550 BEFORE INSERT ON template_items WHEN NEW.name = 'Item 550' \
                      BEGIN SELECT RAISE(ABORT, 'injected failure'); END"],
                vec!["DROP TRIGGER fail_550"],
            ),
            testkit::Backend::Postgres => (
                vec![
                    "CREATE FUNCTION fail_550() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                     IF NEW.name = 'Item 550' THEN RAISE EXCEPTION 'injected failure'; END IF; \
                     RETURN NEW; END $$",
                    "CREATE TRIGGER fail_550 BEFORE INSERT ON template_items FOR EACH ROW EXECUTE FUNCTION fail_550()",
                ],
                vec!["DROP TRIGGER fail_550 ON template_items", "DROP FUNCTION fail_550()"],
            ),
        };
        for sql in install {
            owner.execute_unprepared(sql).await?;
        }
        let (_, pre) = preview(&cell, &member, "template_item", "items.csv", items_csv(1_000, &[])).await?;
        let id = pre["preview_id"].as_str().unwrap_or_default().to_owned();
        let (status, _) = cell
            .post("/api/v1/import/confirm", Some(&member), json!({"preview_id": id, "mapping": pre["suggested_mapping"]}))
            .await?;
        assert_eq!(status, 202);
        run_jobs(&cell).await?;
        let path = format!("/api/v1/import/jobs/{id}");
        let (_, job) = cell.get(&path, Some(&member)).await?;
        assert_eq!((&job["status"], &job["processed"]), (&json!("running"), &json!(500)), "{job}");
        assert_eq!(count_items(&cell, acme).await?, 500, "five batches committed, the sixth not");

        // The fault is gone; the job's next attempt (made due now) resumes at row 501.
        for sql in remove {
            owner.execute_unprepared(sql).await?;
        }
        owner
            .execute_unprepared("UPDATE kernel_jobs SET next_attempt_ms = 0 WHERE status = 'pending'")
            .await?;
        run_jobs(&cell).await?;
        let (_, job) = cell.get(&path, Some(&member)).await?;
        assert_eq!((&job["status"], &job["processed"], &job["succeeded"]), (&json!("completed"), &json!(1_000), &json!(1_000)), "{job}");
        assert_eq!(count_items(&cell, acme).await?, 1_000, "every row once");
        assert_eq!(cell.events("template.item.created").await?.len(), 1_000, "no event twice");
        Ok(())
    }
);

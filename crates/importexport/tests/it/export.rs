//! Exports: CSV, JSON and XLSX of what the list filters select, and the round trip: an export
//! imported into another org gives the same records.

use serde_json::{Value, json};
use testkit::db_test;

use crate::support::{cell, download, org, preview, run_jobs, user};

async fn export(
    cell: &testcell::Cell,
    token: &str,
    body: Value,
) -> anyhow::Result<(Value, Vec<u8>)> {
    let (status, queued) = cell.post("/api/v1/export", Some(token), body).await?;
    anyhow::ensure!(status == 202, "export: {status} {queued}");
    run_jobs(cell).await?;
    let id = queued["job_id"].as_str().unwrap_or_default();
    let (_, job) = cell
        .get(&format!("/api/v1/export/jobs/{id}"), Some(token))
        .await?;
    let bytes = download(job["download_url"].as_str().unwrap_or_default()).await?;
    Ok((job, bytes))
}

fn items(page: &Value) -> Vec<(String, String, Value)> {
    let mut out: Vec<_> = page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["name"].as_str().unwrap_or_default().to_owned(),
                i["status"].as_str().unwrap_or_default().to_owned(),
                i["notes"].clone(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

db_test!(
    async fn an_export_imported_elsewhere_gives_the_same_records(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let viewer = user(&cell, "viewer@acme.test", acme, "viewer").await?;
        let theirs = user(&cell, "member@globex.test", globex, "member").await?;
        for (name, notes) in [("Alpha", json!("=SUM(A1:A2)")), ("Beta", json!("line one\nline two, \"quoted\"")), ("Gamma", Value::Null)] {
            let (status, item) = cell.post("/api/v1/items", Some(&member), json!({"name": name, "notes": notes})).await?;
            assert_eq!(status, 201, "{item}");
        }
        let (_, beta) = cell.get("/api/v1/items?search=beta", Some(&member)).await?;
        let beta_id = beta["data"][0]["id"].as_str().unwrap_or_default().to_owned();
        cell.patch(&format!("/api/v1/items/{beta_id}"), Some(&member), json!({"status": "done"})).await?;

        // Viewers export too; the list's filters select.
        let (job, csv) = export(&cell, &viewer, json!({"entity_type": "template_item", "query": "filter[status]=open"})).await?;
        assert_eq!((&job["status"], &job["rows"]), (&json!("completed"), &json!(2)), "{job}");
        let text = String::from_utf8(csv)?;
        assert!(text.starts_with("id,name,status,notes\n"), "{text}");
        assert!(text.contains(",Alpha,open,'=SUM(A1:A2)\n"), "a formula is quoted: {text}");
        assert!(!text.contains("Beta"), "{text}");
        assert_eq!(cell.events("export.completed").await?.len(), 1);

        let (_, json_file) = export(&cell, &member, json!({"entity_type": "template_item", "format": "json"})).await?;
        let records: Vec<Value> = serde_json::from_slice(&json_file)?;
        assert_eq!(records.len(), 3);
        assert!(records.iter().any(|r| r["name"] == "Beta" && r["status"] == "done"), "{records:?}");

        let (job, xlsx) = export(&cell, &member, json!({"entity_type": "template_item", "format": "xlsx"})).await?;
        assert_eq!(job["rows"], 3);
        assert!(xlsx.starts_with(b"PK\x03\x04"), "a workbook");

        // The full CSV, imported into another org, gives the same records; so does the XLSX.
        let (_, all) = export(&cell, &member, json!({"entity_type": "template_item"})).await?;
        for (file, bytes) in [("items.csv", all), ("items.xlsx", xlsx)] {
            let target = org(&cell, &format!("Target {file}")).await?;
            let token = user(&cell, &format!("member-{file}@target.test"), target, "member").await?;
            let (status, pre) = preview(&cell, &token, "template_item", file, bytes).await?;
            assert_eq!(status, 201, "{file}: {pre}");
            assert_eq!(pre["suggested_mapping"]["id"], Value::Null, "ids are not imported");
            let (status, _) = cell.post("/api/v1/import/confirm", Some(&token), json!({
                "preview_id": pre["preview_id"], "mapping": pre["suggested_mapping"]
            })).await?;
            assert_eq!(status, 202);
            run_jobs(&cell).await?;
            let (_, mine) = cell.get("/api/v1/items?limit=10", Some(&member)).await?;
            let (_, copied) = cell.get("/api/v1/items?limit=10", Some(&token)).await?;
            assert_eq!(items(&copied), items(&mine), "{file}");
        }
        let (_, globex_items) = cell.get("/api/v1/items", Some(&theirs)).await?;
        assert_eq!(globex_items["meta"]["total"], 0, "nothing leaked across orgs");

        // Bad requests name the field.
        for (body, field, expected) in [
            (json!({"entity_type": "spaceship"}), "entity_type", 404),
            (json!({"entity_type": "template_item", "format": "pdf"}), "format", 422),
            // The list's own answer to a filter it does not take.
            (json!({"entity_type": "template_item", "query": "filter[color]=red"}), "color", 400),
        ] {
            let (status, err) = cell.post("/api/v1/export", Some(&member), body.clone()).await?;
            assert_eq!(status, expected, "{body}: {err}");
            assert!(err.to_string().contains(field), "{body}: {err}");
        }
        let (status, _) = cell.get(&format!("/api/v1/export/jobs/{}", job["id"].as_str().unwrap_or_default()), Some(&theirs)).await?;
        assert_eq!(status, 404, "another org's export");
        Ok(())
    }
);

//! Revisions and the redline: the baseline, field changes in order, stale edits refused, the
//! cumulative and historical redlines with and without old values, accepting and rejecting,
//! versions and their comparison.

use serde_json::json;
use testkit::db_test;

use crate::support::*;

db_test!(
    async fn the_redline_is_drawn_from_stored_field_changes(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let vic = user(&cell, "vic@acme.test", acme, "viewer").await?;
        let t = template(&cell, &mia).await?;
        let d = draft(&cell, &mia, &t, "1000").await?;
        let doc = id(&d);
        let at = |p: &str| format!("/api/v1/documents/{doc}{p}");

        // Revision 1: two fields; the baseline (0) is stored first.
        let r1 = revise(&cell, &mia, &doc, json!([
            {"field_name": "fee", "field_label": "Fee", "old_value": "1000", "new_value": "1500"},
            {"field_name": "term", "old_value": "12", "new_value": "24"}])).await?;
        assert_eq!((&r1["number"], r1["changes"].as_array().map(Vec::len)), (&json!(1), Some(2)), "{r1}");
        assert_eq!((&r1["changes"][1]["change_order"], &r1["changes"][1]["field_name"]), (&json!(1), &json!("term")));
        let (_, versions) = cell.get(&at("/versions"), Some(&vic)).await?;
        let numbers: Vec<i64> = versions.as_array().into_iter().flatten().filter_map(|v| v["number"].as_i64()).collect();
        assert_eq!(numbers, [0, 1]);

        // A change from a value the field no longer has: 409 naming it; nothing stored.
        let (status, e) = cell.post(&at("/revisions"), Some(&mia), json!({"field_changes": [
            {"field_name": "law", "old_value": "New York", "new_value": "Delaware"},
            {"field_name": "fee", "old_value": "1000", "new_value": "2000"}]})).await?;
        assert_eq!((status, &e["error"]["details"]["field"], &e["error"]["details"]["current_value"]),
            (409, &json!("fee"), &json!("1500")), "{e}");
        for (body, bad) in [
            (json!({}), "field_changes"),
            (json!({"field_changes": [{"field_name": "fee", "old_value": "1500", "new_value": "1500"}]}), "field_changes[0].new_value"),
            (json!({"field_changes": [{"field_name": "a b", "old_value": "", "new_value": "x"}]}), "field_changes[0].field_name"),
        ] {
            let (status, e) = cell.post(&at("/revisions"), Some(&mia), body).await?;
            assert_eq!((status, field(&e)), (422, vec![bad.to_owned()]), "{e}");
        }

        // Revision 2 changes the fee again and the law.
        let r2 = revise(&cell, &mia, &doc, json!([
            {"field_name": "fee", "old_value": "1500", "new_value": "1800"},
            {"field_name": "law", "old_value": "New York", "new_value": "Delaware"}])).await?;
        assert_eq!(r2["number"], 2);

        // Cumulative: every field from its baseline value to its latest.
        let (status, red) = cell.get(&at("/redline"), Some(&vic)).await?;
        assert_eq!(status, 200, "{red}");
        let html = red["html"].as_str().unwrap_or_default();
        assert!(html.contains(r#"<span data-field="fee"><span data-deleted="true""#), "{html}");
        assert!(html.contains(">1000</span><span data-inserted=\"true\""), "fee from its baseline: {html}");
        assert!(html.contains(">1800</span></span>"), "{html}");
        assert!(html.contains(">12</span>") && html.contains(">24</span>"), "{html}");
        assert!(!html.contains(">1500<"), "an intermediate value is not shown: {html}");
        assert_eq!(red["changes"].as_array().map(Vec::len), Some(4));
        // Without old values; historical (revision 1 only; as of revision 1).
        let (_, clean) = cell.get(&at("/redline?show_old=false"), Some(&vic)).await?;
        assert!(!clean["html"].as_str().unwrap_or_default().contains("data-deleted"));
        let (_, hist) = cell.get(&at("/redline?mode=historical&revision=2"), Some(&vic)).await?;
        let h = hist["html"].as_str().unwrap_or_default();
        assert!(h.contains(">1500</span><span data-inserted=\"true\"") && h.contains(">1800<"), "{h}");
        assert!(h.contains(r#"<span data-field="term">24</span>"#), "term did not change in revision 2: {h}");
        let (_, asof1) = cell.get(&at("/redline?revision=1"), Some(&vic)).await?;
        let a = asof1["html"].as_str().unwrap_or_default();
        assert!(a.contains(">1500<") && !a.contains("Delaware"), "{a}");
        let (status, e) = cell.get(&at("/redline?revision=9"), Some(&vic)).await?;
        assert_eq!((status, field(&e)), (422, vec!["revision".to_owned()]));

        // Accept the term; reject the fee of revision 1: a later change supersedes it.
        let rev1 = id(&r1);
        let rev2 = id(&r2);
        let (status, acc) = cell.post(&format!("/api/v1/revisions/{rev1}/accept/1"), Some(&mia), json!({})).await?;
        assert_eq!((status, &acc["change"]["status"]), (200, &json!("accepted")), "{acc}");
        let (status, _) = cell.post(&format!("/api/v1/revisions/{rev1}/accept/1"), Some(&mia), json!({})).await?;
        assert_eq!(status, 409, "decided already");
        let (status, e) = cell.post(&format!("/api/v1/revisions/{rev1}/reject/0"), Some(&mia), json!({})).await?;
        assert_eq!((status, &e["error"]["details"]["revision"]), (409, &json!(2)), "{e}");
        let (status, _) = cell.post(&format!("/api/v1/revisions/{rev1}/reject/7"), Some(&mia), json!({})).await?;
        assert_eq!(status, 404);
        let (status, _) = cell.post(&format!("/api/v1/revisions/{rev1}/accept/0"), Some(&vic), json!({})).await?;
        assert_eq!(status, 403, "a viewer decides nothing");
        // Reject the law: back to New York in the document and out of the redline.
        let (status, rej) = cell.post(&format!("/api/v1/revisions/{rev2}/reject/1"), Some(&mia), json!({})).await?;
        assert_eq!((status, &rej["change"]["status"]), (200, &json!("rejected")), "{rej}");
        let (_, now) = cell.get(&at(""), Some(&mia)).await?;
        assert_eq!(now["fields"]["law"], "New York");
        assert!(now["content"].as_str().unwrap_or_default().contains(r#"<span data-field="law">New York</span>"#));
        let (_, red) = cell.get(&at("/redline"), Some(&mia)).await?;
        let html = red["html"].as_str().unwrap_or_default();
        assert!(!html.contains("Delaware"), "{html}");
        assert!(!html.contains(">12</span>"), "the accepted term is the baseline now: {html}");
        assert!(html.contains(">1000</span>"), "the fee still pending: {html}");
        assert_eq!(cell.events("documents.change.decided").await?.len(), 2);

        // Compare two versions: the field values stored with each.
        let (status, cmp) = cell.get(&at("/compare?v1=0&v2=2"), Some(&vic)).await?;
        assert_eq!(status, 200, "{cmp}");
        let diff: Vec<(String, String, String)> = cmp["fields"].as_array().into_iter().flatten()
            .map(|f| (f["field_name"].as_str().unwrap_or_default().into(), f["v1_value"].as_str().unwrap_or_default().into(), f["v2_value"].as_str().unwrap_or_default().into()))
            .collect();
        assert_eq!(diff, [
            ("fee".into(), "1000".into(), "1800".into()),
            ("law".into(), "New York".into(), "Delaware".into()),
            ("term".into(), "12".into(), "24".into()),
        ]);
        assert_eq!((&cmp["content_changed"], cmp["changes"].as_array().map(Vec::len)), (&json!(false), Some(4)));
        let (status, e) = cell.get(&at("/compare?v1=0&v2=5"), Some(&vic)).await?;
        assert_eq!((status, field(&e)), (422, vec!["v2".to_owned()]));

        // The history: each revision with its changes.
        let (_, hist) = cell.get(&at("/revisions"), Some(&vic)).await?;
        assert_eq!(hist.as_array().map(Vec::len), Some(3));
        assert_eq!(hist[1]["changes"][0]["status"], "pending");
        assert_eq!(cell.events("documents.document.revised").await?.len(), 2);

        // After the first revision, content changes by revisions only.
        let (status, _) = cell.patch(&at(""), Some(&mia), json!({"content": "<p>new</p>"})).await?;
        assert_eq!(status, 409);
        let (status, r3) = cell.post(&at("/revisions"), Some(&mia), json!({"content": "<p>All new: <span data-field=\"fee\">?</span></p>", "change_description": "Rewrite"})).await?;
        assert_eq!(status, 201, "{r3}");
        let (_, now) = cell.get(&at(""), Some(&mia)).await?;
        assert_eq!(now["content"], "<p>All new: <span data-field=\"fee\">1800</span></p>", "fields are written into new content");
        let (_, cmp) = cell.get(&at("/compare?v1=2&v2=3"), Some(&vic)).await?;
        assert_eq!(cmp["content_changed"], true);
        assert_eq!(cmp["fields"], json!([{"field_name": "law", "v1_value": "Delaware", "v2_value": "New York"}]), "the rejection came after revision 2");
        Ok(())
    }
);

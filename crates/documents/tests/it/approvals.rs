//! Approval workflows: configured by admins; submit finds the workflow of the document's type
//! and notifies the first step's reviewers; only a step's reviewers (a user, a team's members,
//! a role's holders) decide it; return for changes, rejection and the last approval move the
//! document.

use serde_json::{Value, json};
use testkit::db_test;

use crate::support::*;

async fn notified(cell: &Cell, token: &str, event: &str) -> anyhow::Result<Vec<Value>> {
    settle(cell).await?;
    let (status, page) = cell
        .get(
            &format!("/api/v1/notifications?filter[event]={event}"),
            Some(token),
        )
        .await?;
    anyhow::ensure!(status == 200, "notifications: {status} {page}");
    Ok(page["data"].as_array().cloned().unwrap_or_default())
}

db_test!(
    async fn documents_go_through_their_workflow_step_by_step(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let leo = user(&cell, "leo@acme.test", acme, "member").await?;
        let kim = user(&cell, "kim@acme.test", acme, "viewer").await?;
        let ada = user(&cell, "ada@acme.test", acme, "admin").await?;
        let tom = user(&cell, "tom@acme.test", acme, "admin").await?;
        let gus = user(&cell, "gus@globex.test", globex, "owner").await?;
        let (leo_id, kim_id, tom_id) = (me(&cell, &leo).await?, me(&cell, &kim).await?, me(&cell, &tom).await?);

        // Legal is a team (its lead tom, and kim, a viewer); the second step is for admins.
        let (status, team) = cell.post("/api/v1/teams", Some(&tom), json!({"name": "Legal"})).await?;
        assert_eq!(status, 201, "{team}");
        let (status, _) = cell.post(&format!("/api/v1/teams/{}/members", id(&team)), Some(&tom), json!({"user_ids": [kim_id]})).await?;
        assert_eq!(status, 200);
        let steps = json!([
            {"order": 1, "name": "Legal", "reviewers": [{"kind": "team", "id": id(&team)}, {"kind": "user", "id": leo_id}]},
            {"order": 2, "name": "Sign-off", "reviewers": [{"kind": "role", "role": "admin"}]}
        ]);
        let (status, _) = cell.post("/api/v1/approval-workflows", Some(&mia), json!({"name": "Contracts", "document_type": "contract", "steps": steps})).await?;
        assert_eq!(status, 403, "admins configure workflows");
        for (bad_steps, bad) in [
            (json!([{"order": 2, "reviewers": [{"kind": "user", "id": leo_id}]}]), "steps[0].order"),
            (json!([{"order": 1, "reviewers": [{"kind": "user", "id": me(&cell, &gus).await?}]}]), "steps[0].reviewers[0].id"),
            (json!([{"order": 1, "reviewers": [{"kind": "role", "role": "king"}]}]), "steps[0].reviewers[0]"),
        ] {
            let (status, e) = cell.post("/api/v1/approval-workflows", Some(&ada), json!({"name": "x", "steps": bad_steps})).await?;
            assert_eq!((status, field(&e)), (422, vec![bad.to_owned()]), "{e}");
        }
        let (status, wf) = cell.post("/api/v1/approval-workflows", Some(&ada), json!({"name": "Contracts", "document_type": "contract", "steps": steps})).await?;
        assert_eq!(status, 201, "{wf}");
        let (status, _) = cell.get(&format!("/api/v1/approval-workflows/{}", id(&wf)), Some(&gus)).await?;
        assert_eq!(status, 404, "another org's workflow");

        let t = template(&cell, &mia).await?;
        let doc = id(&draft(&cell, &mia, &t, "100").await?);
        let at = |p: &str| format!("/api/v1/documents/{doc}{p}");

        // A contract is approved before it goes out.
        let (status, e) = cell.post(&at("/send"), Some(&mia), json!({"recipient_email": "client@example.com"})).await?;
        assert_eq!(status, 409, "{e}");

        // Submit (no body): the request, internal review, the first step's reviewers told.
        let res = reqwest::Client::new().post(cell.url(&at("/submit-for-approval"))).bearer_auth(&mia).send().await?;
        assert_eq!(res.status(), 201);
        let req: Value = res.json().await?;
        assert_eq!((&req["status"], &req["current_step"]), (&json!("pending"), &json!(1)));
        let (_, d) = cell.get(&at(""), Some(&mia)).await?;
        assert_eq!((&d["status"], &d["approval_status"]), (&json!("internal_review"), &json!("pending")));
        let requested = cell.events("documents.approval.requested").await?;
        let mut reviewers: Vec<String> = requested[0]["reviewer_ids"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect();
        reviewers.sort();
        let mut expected = vec![kim_id.clone(), leo_id.clone(), tom_id];
        expected.sort();
        assert_eq!(reviewers, expected, "the team's members and the user");
        assert_eq!(notified(&cell, &kim, "documents.approval.requested").await?.len(), 1, "the first reviewer is notified: {:?}", failed(&cell).await?);
        assert_eq!(notified(&cell, &ada, "documents.approval.requested").await?.len(), 0, "not yet the second step's");

        // Under review, the document does not change; it is not submitted twice.
        let (status, _) = cell.post(&at("/revisions"), Some(&mia), json!({"field_changes": [{"field_name": "fee", "old_value": "100", "new_value": "200"}]})).await?;
        assert_eq!(status, 409);
        let (status, _) = cell.post(&at("/submit-for-approval"), Some(&mia), json!({})).await?;
        assert_eq!(status, 409);

        // Someone who is not a reviewer of the step: 403; another org: 404.
        let decide = format!("/api/v1/approval-requests/{}/decide", id(&req));
        let (status, e) = cell.post(&decide, Some(&ada), json!({"decision": "approved"})).await?;
        assert_eq!((status, &e["error"]["details"]["step"]), (403, &json!(1)), "{e}");
        let (status, _) = cell.post(&decide, Some(&gus), json!({"decision": "approved"})).await?;
        assert_eq!(status, 404);
        let (status, e) = cell.post(&decide, Some(&kim), json!({"decision": "maybe"})).await?;
        assert_eq!((status, field(&e)), (422, vec!["decision".to_owned()]));

        // Kim (a viewer, through the team) returns it for changes: back to draft.
        let (status, r) = cell.post(&decide, Some(&kim), json!({"decision": "returned_for_changes", "comment": "Cap the fee"})).await?;
        assert_eq!((status, &r["status"]), (200, &json!("returned_for_changes")), "{r}");
        let (_, d) = cell.get(&at(""), Some(&mia)).await?;
        assert_eq!(d["status"], "draft");
        assert_eq!(notified(&cell, &mia, "documents.approval.decided").await?.len(), 1, "the submitter hears");
        let (status, _) = cell.post(&decide, Some(&leo), json!({"decision": "approved"})).await?;
        assert_eq!(status, 409, "the request is over");

        // Changed and submitted again: leo approves step 1, an admin step 2: approved.
        revise(&cell, &mia, &doc, json!([{"field_name": "fee", "old_value": "100", "new_value": "90"}])).await?;
        let (status, req2) = cell.post(&at("/submit-for-approval"), Some(&mia), json!({"workflow_id": id(&wf)})).await?;
        assert_eq!(status, 201, "{req2}");
        let decide2 = format!("/api/v1/approval-requests/{}/decide", id(&req2));
        let (status, r) = cell.post(&decide2, Some(&leo), json!({"decision": "approved"})).await?;
        assert_eq!((status, &r["status"], &r["current_step"]), (200, &json!("pending"), &json!(2)), "{r}");
        assert_eq!(notified(&cell, &ada, "documents.approval.requested").await?.len(), 1, "now the second step's");
        let (status, _) = cell.post(&decide2, Some(&leo), json!({"decision": "approved"})).await?;
        assert_eq!(status, 403, "leo does not review step 2");
        let (status, r) = cell.post(&decide2, Some(&ada), json!({"decision": "approved"})).await?;
        assert_eq!((status, &r["status"], r["decisions"].as_array().map(Vec::len)), (200, &json!("approved"), Some(2)), "{r}");
        let (_, d) = cell.get(&at(""), Some(&mia)).await?;
        assert_eq!((&d["status"], &d["approval_status"]), (&json!("approved"), &json!("approved")));
        let (_, all) = cell.get(&at("/approvals"), Some(&kim)).await?;
        assert_eq!(all.as_array().map(Vec::len), Some(2));

        // An edit of an approved document returns it to draft; a used workflow stays.
        revise(&cell, &mia, &doc, json!([{"field_name": "fee", "old_value": "90", "new_value": "95"}])).await?;
        let (_, d) = cell.get(&at(""), Some(&mia)).await?;
        assert_eq!(d["status"], "draft");
        let (status, _) = cell.delete(&format!("/api/v1/approval-workflows/{}", id(&wf)), Some(&ada)).await?;
        assert_eq!(status, 409);

        // No workflow for notes: 409 naming what to do.
        let (_, note) = cell.post("/api/v1/documents", Some(&mia), json!({"title": "n", "type": "note"})).await?;
        let (status, e) = cell.post(&format!("/api/v1/documents/{}/submit-for-approval", id(&note)), Some(&mia), json!({})).await?;
        assert_eq!(status, 409, "{e}");
        Ok(())
    }
);

//! Signatures: the built-in provider (links in order, the evidence recorded, the certificate,
//! the signed PDF stored through files, an immutable document) and an external provider over
//! HTTP: a local stand-in of DocuSign's eSignature REST API (`POST …/envelopes`, as documented)
//! and its Connect webhook, HMAC-signed; a bad signature, a stale message or a replay stores
//! nothing.

use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use hmac::{KeyInit, Mac};
use kernel::sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use testkit::db_test;

use crate::support::*;

const SECRET: &str = "connect-secret-0123456789";

/// What the stand-in was sent: each envelope with its `Authorization` header.
type Sent = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// The stand-in: what it was sent, and its base URL (an account's REST path).
struct StandIn {
    url: String,
    envelopes: Sent,
}

async fn stand_in() -> anyhow::Result<StandIn> {
    let envelopes: Sent = Arc::default();
    let seen = envelopes.clone();
    let server = actix_web::HttpServer::new(move || {
        let seen = seen.clone();
        actix_web::App::new().route(
            "/restapi/v2.1/accounts/{account}/envelopes",
            web::post().to(move |req: HttpRequest, body: web::Json<Value>| {
                let seen = seen.clone();
                async move {
                    let auth = req
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let n = {
                        let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                        s.push((auth, body.into_inner()));
                        s.len()
                    };
                    HttpResponse::Created().json(json!({
                        "envelopeId": format!("env-{n}"),
                        "status": "sent",
                        "statusDateTime": chrono::Utc::now().to_rfc3339(),
                        "uri": format!("/envelopes/env-{n}"),
                    }))
                }
            }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))?;
    let port = server.addrs().first().map(|a| a.port()).unwrap_or_default();
    tokio::spawn(server.run());
    Ok(StandIn {
        url: format!("http://127.0.0.1:{port}/restapi/v2.1/accounts/42"),
        envelopes,
    })
}

fn signed(body: &[u8], secret: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!());
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// POSTs a Connect message to the cell's webhook with `signature` headers.
async fn connect(
    cell: &Cell,
    body: &Value,
    signature: Option<String>,
) -> anyhow::Result<(u16, Value)> {
    let raw = serde_json::to_vec(body)?;
    let mut req = reqwest::Client::new()
        .post(cell.url("/api/v1/webhooks/docusign"))
        .header("content-type", "application/json");
    if let Some(s) = signature {
        req = req.header("X-DocuSign-Signature-1", s);
    }
    let res = req.body(raw).send().await?;
    let status = res.status().as_u16();
    Ok((status, res.json().await.unwrap_or_default()))
}

fn completed(envelope: &str, generated: chrono::DateTime<chrono::Utc>, pdf: &[u8]) -> Value {
    json!({
        "event": "envelope-completed",
        "apiVersion": "v2.1",
        "uri": format!("/restapi/v2.1/accounts/42/envelopes/{envelope}"),
        "retryCount": 0,
        "configurationId": 7,
        "generatedDateTime": generated.to_rfc3339(),
        "data": {
            "accountId": "42",
            "envelopeId": envelope,
            "envelopeSummary": {
                "status": "completed",
                "envelopeDocuments": [{
                    "documentId": "1", "name": "Acme services.pdf",
                    "PDFBytes": base64::engine::general_purpose::STANDARD.encode(pdf)
                }]
            }
        }
    })
}

db_test!(
    async fn the_builtin_provider_signs_in_order_and_seals_the_document(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let t = template(&cell, &mia).await?;
        let doc = id(&draft(&cell, &mia, &t, "100").await?);
        let at = |p: &str| format!("/api/v1/documents/{doc}{p}");

        for (body, bad) in [
            (json!({"signers": []}), "signers"),
            (json!({"signers": [{"email": "x", "name": "X"}]}), "signers[0].email"),
            (json!({"provider": "docusign", "signers": [{"email": "a@b.test", "name": "A"}]}), "provider"),
            (json!({"signers": [{"email": "a@b.test", "name": "A"}, {"email": "A@b.test", "name": "B"}]}), "signers[1].email"),
        ] {
            let (status, e) = cell.post(&at("/send-for-signature"), Some(&mia), body).await?;
            assert_eq!((status, field(&e)), (422, vec![bad.to_owned()]), "{e}");
        }
        let (status, req) = cell.post(&at("/send-for-signature"), Some(&mia), json!({
            "signers": [{"email": "jane@client.test", "name": "Jane Doe", "order": 1},
                        {"email": "bob@acme.test", "name": "Bob Boss", "order": 2}]})).await?;
        assert_eq!((status, &req["status"], &req["provider"]), (201, &json!("pending"), &json!("builtin")), "{req}");
        let (_, d) = cell.get(&at(""), Some(&mia)).await?;
        assert_eq!(d["status"], "out_for_signature");
        let (status, _) = cell.post(&at("/revisions"), Some(&mia), json!({"field_changes": [{"field_name": "fee", "old_value": "100", "new_value": "1"}]})).await?;
        assert_eq!(status, 409, "out for signature: no edits");

        // Sequential: only Jane has a link yet.
        assert!(mails(&cell, "bob@acme.test", "documents.signature_request").await?.is_empty());
        let first = mailed_token(&cell, "jane@client.test", "documents.signature_request").await?;
        let (_, st) = cell.get(&at("/signature-status"), Some(&mia)).await?;
        let expires = st["signers"][0]["link_expires_at"].as_str().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
        let in_days = expires.map(|e| (e.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours());
        assert_eq!(in_days, Some(30 * 24 - 1), "signing_days (30) from now: {st}");
        assert!(st["signers"][1]["link_expires_at"].is_null(), "Bob has no link yet: {st}");

        // A link past its time answers 410; a reminder sends a new one (the old one is dead).
        let tx = cell.ctx.db().tenant(acme).await?;
        let backend = tx.unscoped().get_database_backend();
        tx.unscoped().execute_raw(kernel::sea_orm::Statement::from_sql_and_values(backend,
            "UPDATE documents_signers SET link_expires_at = $1 WHERE email = 'jane@client.test'",
            [(chrono::Utc::now() - chrono::Duration::minutes(1)).into()])).await?;
        tx.commit().await?;
        let (status, e) = cell.get(&format!("/api/v1/sign/{first}"), None).await?;
        assert_eq!((status, &e["error"]["code"]), (410, &json!("gone")), "{e}");
        let vic = user(&cell, "vic@acme.test", acme, "viewer").await?;
        let other = org(&cell, "Other").await?;
        let gus = user(&cell, "gus@other.test", other, "admin").await?;
        assert_eq!(cell.post(&at("/remind-signers"), Some(&vic), json!({})).await?.0, 403);
        assert_eq!(cell.post(&at("/remind-signers"), Some(&gus), json!({})).await?.0, 404);
        let (status, reminded) = cell.post(&at("/remind-signers"), Some(&mia), json!({})).await?;
        assert_eq!(status, 200, "{reminded}");
        let emails: Vec<&str> = reminded.as_array().into_iter().flatten().filter_map(|s| s["email"].as_str()).collect();
        assert_eq!(emails, ["jane@client.test"], "only whose turn it is");
        assert_eq!(mails(&cell, "jane@client.test", "documents.signature_request").await?.len(), 2);
        let jane = mailed_token(&cell, "jane@client.test", "documents.signature_request").await?;
        assert_ne!(jane, first);
        assert_eq!(cell.get(&format!("/api/v1/sign/{first}"), None).await?.0, 404, "the old link is replaced");
        let (status, page) = cell.get(&format!("/api/v1/sign/{jane}"), None).await?;
        assert_eq!((status, &page["your_turn"], &page["document_hash"]), (200, &json!(true), &req["document_hash"]), "{page}");
        let (status, e) = cell.post(&format!("/api/v1/sign/{jane}"), None, json!({"typed_name": "Jane Doe", "agree": false})).await?;
        assert_eq!((status, field(&e)), (422, vec!["agree".to_owned()]));
        let res = reqwest::Client::new().post(cell.url(&format!("/api/v1/sign/{jane}")))
            .header("user-agent", "JaneBrowser/1.0").json(&json!({"typed_name": "Jane Doe", "agree": true})).send().await?;
        assert_eq!(res.status(), 200);
        let s: Value = res.json().await?;
        assert_eq!((&s["status"], &s["document_status"]), (&json!("pending"), &json!("out_for_signature")));
        let (status, _) = cell.post(&format!("/api/v1/sign/{jane}"), None, json!({"typed_name": "Jane", "agree": true})).await?;
        assert_eq!(status, 404, "a used link is spent");

        // Bob's turn: his link came once Jane signed.
        let bob = mailed_token(&cell, "bob@acme.test", "documents.signature_request").await?;
        let (status, s) = cell.post(&format!("/api/v1/sign/{bob}"), None, json!({"typed_name": "Bob Boss", "agree": true})).await?;
        assert_eq!((status, &s["status"], &s["document_status"]), (200, &json!("completed"), &json!("signed")), "{s}");

        // Signed: the certificate, the signed PDF (a file attached to the document), immutable.
        let (_, st) = cell.get(&at("/signature-status"), Some(&mia)).await?;
        assert_eq!(st["status"], "completed");
        let cert = &st["certificate"];
        assert_eq!(cert["signers"][0]["typed_name"], "Jane Doe");
        assert_eq!(cert["signers"][0]["user_agent"], "JaneBrowser/1.0");
        assert!(cert["signers"][0]["ip"].is_string(), "{cert}");
        assert_eq!(cert["document_hash"], req["document_hash"]);
        let (_, d) = cell.get(&at(""), Some(&mia)).await?;
        assert_eq!((&d["status"], &d["signed_hash"]), (&json!("signed"), &req["document_hash"]));
        let file = d["signed_file_id"].as_str().unwrap_or_default().to_owned();
        let (status, files) = cell.get(&at("/files"), Some(&mia)).await?;
        assert_eq!((status, &files["data"][0]["id"]), (200, &json!(file)), "{files}");
        let (status, dl) = cell.get(&format!("/api/v1/files/{file}/download"), Some(&mia)).await?;
        assert_eq!(status, 200, "{dl}");
        let url = dl["url"].as_str().unwrap_or_default();
        let pdf = reqwest::get(url).await?.bytes().await?;
        assert!(pdf.starts_with(b"%PDF-"), "the signed PDF");
        for (method, p, body) in [
            ("POST", at("/revisions"), json!({"content": "<p>x</p>"})),
            ("PATCH", at(""), json!({"title": "changed"})),
            ("POST", at("/send"), json!({"recipient_email": "x@y.test"})),
            ("POST", at("/submit-for-approval"), json!({})),
            ("DELETE", at(""), json!({})),
        ] {
            let (status, e) = match method {
                "POST" => cell.post(&p, Some(&mia), body).await?,
                "PATCH" => cell.patch(&p, Some(&mia), body).await?,
                _ => cell.delete(&p, Some(&mia)).await?,
            };
            assert_eq!(status, 409, "{method} {p}: {e}");
        }
        let signed = cell.events("documents.document.signed").await?;
        assert_eq!((signed.len(), &signed[0]["file_id"]), (1, &json!(file)));
        let (status, e) = cell.post(&at("/remind-signers"), Some(&mia), json!({})).await?;
        assert_eq!(status, 409, "nothing to remind once signed: {e}");
        assert_eq!(mails(&cell, "jane@client.test", "documents.signed").await?.len(), 1);
        Ok(())
    }
);

db_test!(
    async fn an_external_provider_signs_through_its_verified_webhook(db) {
        let provider = stand_in().await?;
        let toml = format!("{TOML}esign_name = \"docusign\"\nesign_url = \"{}\"\nesign_body_limit = 4194304\n", provider.url);
        let cell = testcell::start_with_env(&db, &toml, &[
            ("CELL__MODULES__DOCUMENTS__ESIGN_SECRET", SECRET),
            ("CELL__MODULES__DOCUMENTS__ESIGN_API_KEY", "test-key"),
        ], modules()).await?;
        let acme = org(&cell, "Acme").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let t = template(&cell, &mia).await?;
        let doc = id(&draft(&cell, &mia, &t, "100").await?);
        let at = |p: &str| format!("/api/v1/documents/{doc}{p}");

        let (status, req) = cell.post(&at("/send-for-signature"), Some(&mia), json!({
            "provider": "docusign", "order": "parallel",
            "signers": [{"email": "jane@client.test", "name": "Jane Doe"}]})).await?;
        assert_eq!((status, &req["envelope_id"]), (201, &Value::Null), "{req}");
        settle(&cell).await?;
        let sent = provider.envelopes.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert_eq!(sent.len(), 1, "one envelope");
        let (auth, envelope) = &sent[0];
        assert_eq!(auth.as_deref(), Some("Bearer test-key"));
        assert_eq!(envelope["recipients"]["signers"][0]["email"], "jane@client.test");
        assert_eq!(envelope["documents"][0]["fileExtension"], "pdf");
        let pdf = base64::engine::general_purpose::STANDARD.decode(envelope["documents"][0]["documentBase64"].as_str().unwrap_or_default())?;
        assert!(pdf.starts_with(b"%PDF-"));
        let (_, st) = cell.get(&at("/signature-status"), Some(&mia)).await?;
        assert_eq!(st["envelope_id"], "env-1");
        settle(&cell).await?;
        assert_eq!(provider.envelopes.lock().unwrap_or_else(|e| e.into_inner()).len(), 1, "the job does not send it twice");

        // Not signed with the secret, signed with another, stale: 401, nothing stored.
        let now = chrono::Utc::now();
        // Larger than `http.body_limit` (1 MiB) once inline: the webhook takes up to its own limit.
        let signed_pdf = [&b"%PDF-1.7 signed by the provider\n"[..], &vec![b'%'; 1_500_000]].concat();
        let msg = completed("env-1", now, &signed_pdf);
        let raw = serde_json::to_vec(&msg)?;
        let (status, _) = connect(&cell, &msg, None).await?;
        assert_eq!(status, 401);
        let (status, _) = connect(&cell, &msg, Some(signed(&raw, "another-secret-123456"))).await?;
        assert_eq!(status, 401);
        let stale = completed("env-1", now - chrono::Duration::hours(1), &signed_pdf);
        let (status, _) = connect(&cell, &stale, Some(signed(&serde_json::to_vec(&stale)?, SECRET))).await?;
        assert_eq!(status, 401);
        let huge = completed("env-1", now, &vec![b'%'; 3_500_000]);
        let (status, e) = connect(&cell, &huge, Some(signed(&serde_json::to_vec(&huge)?, SECRET))).await?;
        assert_eq!((status, &e["error"]["code"]), (413, &json!("payload_too_large")), "{e}");
        let unknown = completed("env-404", now, &signed_pdf);
        let (status, _) = connect(&cell, &unknown, Some(signed(&serde_json::to_vec(&unknown)?, SECRET))).await?;
        assert_eq!(status, 404);
        let (_, d) = cell.get(&at(""), Some(&mia)).await?;
        assert_eq!(d["status"], "out_for_signature", "nothing changed");
        assert!(cell.events("documents.document.signed").await?.is_empty());

        // The real message: signed, the provider's PDF stored; the same delivery again: nothing.
        let (status, ok) = connect(&cell, &msg, Some(signed(&raw, SECRET))).await?;
        assert_eq!((status, &ok["processed"]), (200, &json!(true)), "{ok}");
        let (status, again) = connect(&cell, &msg, Some(signed(&raw, SECRET))).await?;
        assert_eq!((status, &again["processed"]), (200, &json!(false)));
        let (_, d) = cell.get(&at(""), Some(&mia)).await?;
        assert_eq!(d["status"], "signed");
        assert_eq!(cell.events("documents.document.signed").await?.len(), 1);
        let file = d["signed_file_id"].as_str().unwrap_or_default().to_owned();
        let (_, dl) = cell.get(&format!("/api/v1/files/{file}/download"), Some(&mia)).await?;
        let url = dl["url"].as_str().unwrap_or_default();
        assert_eq!(reqwest::get(url).await?.bytes().await?.to_vec(), signed_pdf, "the provider's PDF");
        Ok(())
    }
);

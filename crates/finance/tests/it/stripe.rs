//! Stripe: PaymentIntents and refunds through a local stand-in of Stripe's REST API (the
//! documented form-encoded `POST /v1/payment_intents` and `POST /v1/refunds`, with their
//! idempotency keys), and webhooks signed by Stripe's own Python library (`stripe` from PyPI):
//! a bad signature, a stale one and a replay store nothing; a duplicate event pays once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use testkit::db_test;

use crate::support::{balance_of, id, org, user};

const KEY: &str = "sk_test_cell_0123456789";
const WHSEC: &str = "whsec_cell_test_0123456789";

/// What the stand-in was sent: (path, Authorization, Idempotency-Key, form).
type Calls = Arc<Mutex<Vec<(String, String, String, BTreeMap<String, String>)>>>;

async fn stand_in() -> anyhow::Result<(String, Calls)> {
    let calls: Calls = Arc::default();
    let seen = calls.clone();
    let server = actix_web::HttpServer::new(move || {
        let seen = seen.clone();
        actix_web::App::new().route(
            "/v1/{what}",
            web::post().to(move |req: HttpRequest, what: web::Path<String>, form: web::Form<BTreeMap<String, String>>| {
                let seen = seen.clone();
                async move {
                    let header = |name: &str| {
                        req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
                    };
                    let (auth, key) = (header("authorization"), header("idempotency-key"));
                    let form = form.into_inner();
                    let mut all = seen.lock().unwrap_or_else(|e| e.into_inner());
                    // Stripe answers a repeated idempotency key with the first answer.
                    let n = all.iter().position(|c| c.2 == key).unwrap_or(all.len()) + 1;
                    all.push((what.to_string(), auth, key, form.clone()));
                    let amount: i64 = form.get("amount").and_then(|a| a.parse().ok()).unwrap_or(0);
                    match what.as_str() {
                        "payment_intents" => HttpResponse::Ok().json(json!({
                            "id": format!("pi_{n}"), "object": "payment_intent", "amount": amount,
                            "currency": form.get("currency"), "status": "requires_payment_method",
                            "client_secret": format!("pi_{n}_secret_abc"),
                            "metadata": {"org_id": form.get("metadata[org_id]"), "invoice_id": form.get("metadata[invoice_id]")},
                        })),
                        "refunds" => HttpResponse::Ok().json(json!({
                            "id": format!("re_{n}"), "object": "refund", "amount": amount,
                            "payment_intent": form.get("payment_intent"), "status": "succeeded",
                        })),
                        _ => HttpResponse::NotFound().json(json!({"error": {"message": "no such path"}})),
                    }
                }
            }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))?;
    let port = server.addrs().first().map(|a| a.port()).unwrap_or_default();
    tokio::spawn(server.run());
    Ok((format!("http://127.0.0.1:{port}"), calls))
}

/// A `Stripe-Signature` header for `payload` made by Stripe's Python library.
fn stripe_signature(payload: &str, secret: &str, t: i64) -> anyhow::Result<String> {
    let script = "import sys, stripe\n\
        t, secret = int(sys.argv[1]), sys.argv[2]\n\
        payload = sys.stdin.read()\n\
        sig = stripe.WebhookSignature._compute_signature('%d.%s' % (t, payload), secret)\n\
        header = 't=%d,v1=%s' % (t, sig)\n\
        if abs(t - __import__('time').time()) < 300:\n\
        \x20   stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=300)\n\
        print(header, end='')\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, &t.to_string(), secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        stdin.write_all(payload.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "stripe (PyPI) is needed (scripts/services.sh installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// POSTs an event to the cell's Stripe webhook with `signature`.
async fn deliver(
    cell: &testcell::Cell,
    body: &str,
    signature: &str,
) -> anyhow::Result<(u16, Value)> {
    let res = cell
        .client
        .post(cell.url("/api/v1/finance/webhooks/stripe"))
        .header("content-type", "application/json")
        .header("stripe-signature", signature)
        .body(body.to_owned())
        .send()
        .await?;
    let status = res.status().as_u16();
    Ok((status, res.json().await.unwrap_or(Value::Null)))
}

fn event(id: &str, kind: &str, object: Value) -> String {
    json!({"id": id, "object": "event", "type": kind, "api_version": "2025-01-27", "data": {"object": object}})
        .to_string()
}

db_test!(
    async fn stripe_payments_arrive_once_by_signed_webhooks(db) {
        let (api, calls) = stand_in().await?;
        let toml = format!("{}stripe_api_url = \"{api}\"\n", crate::support::TOML);
        let cell = testcell::start_with_env(
            &db,
            &toml,
            &[
                ("CELL__MODULES__FINANCE__STRIPE_SECRET_KEY", KEY),
                ("CELL__MODULES__FINANCE__STRIPE_WEBHOOK_SECRET", WHSEC),
            ],
            vec![Box::new(finance::Finance::default())],
        )
        .await?;
        let acme = org(&cell, "Acme").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let (_, inv) = cell
            .post("/api/v1/invoices", Some(&owner), json!({"line_items": [{"description": "Plan", "unit_price": 10000}]}))
            .await?;
        let path = format!("/api/v1/invoices/{}", id(&inv));
        let (status, early) = cell.post(&format!("{path}/pay"), Some(&owner), json!({})).await?;
        assert_eq!(status, 409, "a draft owes nothing yet: {early}");
        let (_, sent) = cell.post(&format!("{path}/send"), Some(&owner), json!({})).await?;

        // pay: a PaymentIntent for what is owed, with the secret key and an idempotency key;
        // asked twice (or from the pay link), the same intent.
        let (status, intent) = cell.post(&format!("{path}/pay"), Some(&owner), json!({})).await?;
        assert_eq!(status, 200, "{intent}");
        assert_eq!((&intent["client_secret"], &intent["amount"]), (&json!("pi_1_secret_abc"), &json!(10000)));
        let token = sent["pay_link"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_owned();
        let (status, again) = cell.post(&format!("/api/v1/invoices/view/{token}/pay"), None, json!({})).await?;
        assert_eq!((status, &again["payment_intent_id"]), (200, &json!("pi_1")), "{again}");
        {
            let calls = calls.lock().unwrap_or_else(|e| e.into_inner());
            let (what, auth, key, form) = &calls[0];
            assert_eq!((what.as_str(), auth.as_str()), ("payment_intents", format!("Bearer {KEY}").as_str()));
            assert!(!key.is_empty());
            assert_eq!(form.get("amount").map(String::as_str), Some("10000"));
            assert_eq!(form.get("currency").map(String::as_str), Some("usd"));
            assert_eq!(form.get("metadata[invoice_id]"), Some(&id(&inv)));
            assert_eq!(calls[1].2, *key, "the same idempotency key");
        }

        // The succeeded event, signed by Stripe's library.
        let object = json!({"id": "pi_1", "object": "payment_intent", "amount": 10000, "amount_received": 10000,
            "currency": "usd", "status": "succeeded", "metadata": {"org_id": acme.to_string(), "invoice_id": id(&inv)}});
        let body = event("evt_1", "payment_intent.succeeded", object.clone());
        let now = chrono::Utc::now().timestamp();
        let (status, out) = deliver(&cell, &body, &stripe_signature(&body, "whsec_someone_else", now)?).await?;
        assert_eq!(status, 401, "another secret: {out}");
        let (status, out) = deliver(&cell, &body, &stripe_signature(&body, WHSEC, now - 600)?).await?;
        assert_eq!(status, 401, "ten minutes old: {out}");
        let (status, out) = deliver(&cell, &body, "t=1,v1=00").await?;
        assert_eq!(status, 401, "{out}");
        let (_, nothing) = cell.get("/api/v1/payments", Some(&owner)).await?;
        assert_eq!(nothing["meta"]["total"], 0, "nothing stored: {nothing}");

        let signature = stripe_signature(&body, WHSEC, now)?;
        let (status, out) = deliver(&cell, &body, &signature).await?;
        assert_eq!((status, &out["processed"]), (200, &json!(true)), "{out}");
        let (status, out) = deliver(&cell, &body, &signature).await?;
        assert_eq!((status, &out["processed"]), (200, &json!(false)), "a replay: {out}");
        let other = event("evt_2", "payment_intent.succeeded", object);
        let (status, out) = deliver(&cell, &other, &stripe_signature(&other, WHSEC, now)?).await?;
        assert_eq!((status, &out["processed"]), (200, &json!(false)), "the same intent again: {out}");
        let (_, paid) = cell.get(&path, Some(&owner)).await?;
        assert_eq!((&paid["status"], &paid["amount_paid"]), (&json!("paid"), &json!(10000)), "{paid}");
        let payments = paid["payments"].as_array().cloned().unwrap_or_default();
        assert_eq!(payments.len(), 1, "paid once: {paid}");
        assert_eq!((&payments[0]["provider"], &payments[0]["provider_payment_id"]), (&json!("stripe"), &json!("pi_1")));
        assert_eq!(cell.events("finance.payment.received").await?.len(), 1);

        // A failed attempt is told.
        let failed = event("evt_3", "payment_intent.payment_failed", json!({"id": "pi_9", "object": "payment_intent",
            "metadata": {"org_id": acme.to_string(), "invoice_id": id(&inv)}, "last_payment_error": {"message": "Your card was declined."}}));
        let (status, _) = deliver(&cell, &failed, &stripe_signature(&failed, WHSEC, now)?).await?;
        assert_eq!(status, 200);
        let told = cell.events("finance.payment.failed").await?;
        assert_eq!((told.len(), &told[0]["message"]), (1, &json!("Your card was declined.")), "{told:?}");

        // A refund from the cell goes to Stripe first; its webhook then changes nothing. One made
        // in Stripe's dashboard (20.00 more) arrives by webhook and is recorded.
        let pay_id = id(&payments[0]);
        let (status, r) = cell.post(&format!("/api/v1/payments/{pay_id}/refund"), Some(&owner), json!({"amount": 4000})).await?;
        assert_eq!((status, &r["payment"]["refunded"]), (201, &json!(4000)), "{r}");
        {
            let calls = calls.lock().unwrap_or_else(|e| e.into_inner());
            let (what, _, _, form) = &calls[2];
            assert_eq!(what, "refunds");
            assert_eq!((form.get("payment_intent").map(String::as_str), form.get("amount").map(String::as_str)), (Some("pi_1"), Some("4000")));
        }
        let charge = |evt: &str, refunded: i64| event(evt, "charge.refunded", json!({"id": "ch_1", "object": "charge", "payment_intent": "pi_1", "amount": 10000, "amount_refunded": refunded, "refunded": refunded == 10000}));
        let echo = charge("evt_4", 4000);
        let (_, out) = deliver(&cell, &echo, &stripe_signature(&echo, WHSEC, now)?).await?;
        assert_eq!(out["processed"], false, "the cell's own refund: {out}");
        let more = charge("evt_5", 6000);
        let (_, out) = deliver(&cell, &more, &stripe_signature(&more, WHSEC, now)?).await?;
        assert_eq!(out["processed"], true, "{out}");
        let (_, after) = cell.get(&path, Some(&owner)).await?;
        assert_eq!((&after["amount_paid"], &after["amount_refunded"]), (&json!(4000), &json!(6000)), "{after}");
        let (_, tb) = cell.get("/api/v1/finance/trial-balance", Some(&owner)).await?;
        assert_eq!((&tb["balanced"], balance_of(&tb, "cash", "USD")), (&json!(true), 4000), "{tb}");
        Ok(())
    }
);

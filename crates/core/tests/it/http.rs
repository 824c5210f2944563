//! HTTP conventions over real HTTP: the envelope for every failure, panics, request ids,
//! security headers, health, metrics, OpenAPI and docs.

use testkit::{Backend, TestDb, db_test};
use uuid::Uuid;

use crate::support::{NOTES_AND_TAGS, TestApp, expect_error};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_answers_the_envelope() -> anyhow::Result<()> {
    let db = TestDb::new(Backend::Sqlite).await?;
    let app = TestApp::spawn(&db, &format!("[http]\nbody_limit = 1024\n{NOTES_AND_TAGS}")).await?;

    let e = expect_error(app.get("/no/such/route").await?, 404, "not_found").await?;
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("/no/such/route")
    );
    // A module scope matched by prefix, but no route in it.
    expect_error(app.get("/api/v1/nothing-here").await?, 404, "not_found").await?;

    let wrong_method = app.client.delete(app.url("/api/v1/notes")).send().await?;
    expect_error(wrong_method, 405, "method_not_allowed").await?;
    let wrong_method = app.client.post(app.url("/health/live")).send().await?;
    expect_error(wrong_method, 405, "method_not_allowed").await?;

    let malformed = app
        .post_raw(
            "/api/v1/notes",
            "application/json",
            b"{\"title\": ".to_vec(),
        )
        .await?;
    let e = expect_error(malformed, 400, "invalid_json").await?;
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("malformed JSON"),
        "{e}"
    );

    let wrong_shape = app
        .post_raw(
            "/api/v1/notes",
            "application/json",
            br#"{"title": 5}"#.to_vec(),
        )
        .await?;
    let e = expect_error(wrong_shape, 400, "invalid_json").await?;
    assert!(
        e["message"].as_str().unwrap_or_default().contains("title"),
        "{e}"
    );

    let big = format!(r#"{{"title": "{}", "priority": 1}}"#, "x".repeat(4096));
    let too_large = app
        .post_raw("/api/v1/notes", "application/json", big.into_bytes())
        .await?;
    let e = expect_error(too_large, 413, "payload_too_large").await?;
    assert!(
        e["message"].as_str().unwrap_or_default().contains("1024"),
        "{e}"
    );

    let wrong_type = app
        .post_raw(
            "/api/v1/notes",
            "text/plain",
            br#"{"title":"a","priority":1}"#.to_vec(),
        )
        .await?;
    expect_error(wrong_type, 415, "unsupported_media_type").await?;

    let invalid = app
        .post_raw(
            "/api/v1/notes",
            "application/json",
            br#"{"title":"","priority":9}"#.to_vec(),
        )
        .await?;
    let e = expect_error(invalid, 422, "validation_failed").await?;
    assert!(e["details"]["fields"]["title"].is_string(), "{e}");
    assert!(e["details"]["fields"]["priority"].is_string(), "{e}");

    let bad_query = app
        .get_as(Uuid::now_v7(), "/api/v1/notes?limit=500")
        .await?;
    expect_error(bad_query, 400, "invalid_query").await?;

    let unauthenticated = app.get("/api/v1/notes").await?;
    expect_error(unauthenticated, 401, "unauthorized").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_answers_500_and_the_cell_keeps_serving() -> anyhow::Result<()> {
    let db = TestDb::new(Backend::Sqlite).await?;
    // One worker: if the panic took the worker down, the next request would hang or fail.
    let app = TestApp::spawn(&db, NOTES_AND_TAGS).await?;
    for _ in 0..3 {
        let e = expect_error(app.get("/api/v1/boom").await?, 500, "internal_error").await?;
        assert!(
            !e["message"]
                .as_str()
                .unwrap_or_default()
                .contains("exploded"),
            "the cause leaked: {e}"
        );
        let ok = app.get("/health/live").await?;
        assert_eq!(ok.status(), 200);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_accepted_echoed_or_generated() -> anyhow::Result<()> {
    let db = TestDb::new(Backend::Sqlite).await?;
    let app = TestApp::spawn(&db, "").await?;
    let id_of = |res: &reqwest::Response| {
        res.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let given = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", "client-42")
        .send()
        .await?;
    assert_eq!(id_of(&given), "client-42");
    let alias = app
        .client
        .get(app.url("/health/live"))
        .header("x-correlation-id", "corr-7")
        .send()
        .await?;
    assert_eq!(id_of(&alias), "corr-7");
    let unsafe_id = app
        .client
        .get(app.url("/nope"))
        .header("x-request-id", "bad id\"}")
        .send()
        .await?;
    let generated = id_of(&unsafe_id);
    assert!(Uuid::parse_str(&generated).is_ok(), "{generated}");
    let e = expect_error(unsafe_id, 404, "not_found").await?;
    assert_eq!(e["request_id"], generated.as_str());
    let a = id_of(&app.get("/health/live").await?);
    let b = id_of(&app.get("/health/live").await?);
    assert_ne!(a, b);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_on_api_and_docs() -> anyhow::Result<()> {
    let db = TestDb::new(Backend::Sqlite).await?;
    let app = TestApp::spawn(&db, "").await?;
    for (path, csp_start) in [
        ("/health/live", "default-src 'none'"),
        ("/nope", "default-src 'none'"),
        ("/api-docs/", "default-src 'self'"),
    ] {
        let res = app.get(path).await?;
        let h = res.headers();
        let get = |n: &str| {
            h.get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(
            get("strict-transport-security").starts_with("max-age="),
            "{path}"
        );
        assert_eq!(get("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(get("x-frame-options"), "DENY", "{path}");
        assert_eq!(get("referrer-policy"), "no-referrer", "{path}");
        assert!(
            get("content-security-policy").starts_with(csp_start),
            "{path}: {}",
            get("content-security-policy")
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_and_openapi_cover_exactly_the_enabled_modules() -> anyhow::Result<()> {
    let db = TestDb::new(Backend::Sqlite).await?;
    let app = TestApp::spawn(&db, "[modules.notes]\nroute_prefix = \"/api/notes-v2\"\n").await?;
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .get(app.url("/api-docs"))
        .send()
        .await?;
    assert_eq!(redirect.status(), 308);
    let ui = app.get("/api-docs/").await?;
    assert_eq!(ui.status(), 200);
    let html = ui.text().await?;
    assert!(html.contains("swagger-ui-bundle.js"), "{html}");
    // The UI's script is served by the cell itself: no CDN, works offline.
    let js = app.get("/api-docs/swagger-ui-bundle.js").await?;
    assert_eq!(js.status(), 200);
    assert!(js.bytes().await?.len() > 100_000);

    let doc: serde_json::Value = app.get("/api-docs/openapi.json").await?.json().await?;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    assert!(paths.contains_key("/health/ready"), "{paths:?}");
    assert!(paths.contains_key("/api/notes-v2/notes"), "{paths:?}");
    assert!(
        !paths.keys().any(|p| p.contains("tags")),
        "a disabled module leaked into the spec: {paths:?}"
    );
    assert!(doc["components"]["schemas"]["ErrorEnvelope"].is_object());
    // And the routes really moved with the prefix.
    assert_eq!(
        app.get_as(Uuid::now_v7(), "/api/notes-v2/notes")
            .await?
            .status(),
        200
    );
    expect_error(app.get("/api/v1/notes").await?, 404, "not_found").await?;
    expect_error(app.get("/api/v1/tags").await?, 404, "not_found").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_and_status() -> anyhow::Result<()> {
    let db = TestDb::new(Backend::Sqlite).await?;
    let app = TestApp::spawn_with(
        &db,
        NOTES_AND_TAGS,
        &[("CELL__TELEMETRY__METRICS_TOKEN", "metrics-token-123")],
        vec![
            Box::new(crate::support::Notes::default()),
            Box::new(crate::support::Tags::default()),
        ],
    )
    .await?;
    app.get("/api/v1/tags").await?;
    app.get("/api/v1/tags").await?;
    expect_error(app.get("/metrics").await?, 401, "unauthorized").await?;
    let res = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("metrics-token-123")
        .send()
        .await?;
    assert_eq!(res.status(), 200);
    let text = res.text().await?;
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("http_requests_total")
                && l.contains("route=\"/api/v1/tags\"")
                && l.contains("status=\"200\"")
        })
        .unwrap_or_default();
    let count: f64 = line.rsplit(' ').next().unwrap_or("0").parse()?;
    assert!(count >= 2.0, "{text}");
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("db_pool_connections"), "{text}");
    // Queue depth, for the deployment's alarms: jobs and event deliveries due now.
    for gauge in ["jobs_ready", "events_pending"] {
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix(gauge)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {gauge} in {text}"));
        assert!(value.parse::<f64>()? >= 0.0, "{gauge} {value}");
    }
    Ok(())
}

db_test!(async fn readiness_names_the_failing_check(db) {
    let mut db = db;
    let app = TestApp::spawn(&db, "").await?;
    let ready: serde_json::Value = app.get("/health/ready").await?.json().await?;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["database"], "ok");
    match db.backend() {
        Backend::Postgres => db.drop_now().await?,
        // Closing the pool is the SQLite equivalent of losing the server.
        Backend::Sqlite => app.ctx.db().conn().close_by_ref().await?,
    }
    let e = expect_error(app.get("/health/ready").await?, 503, "not_ready").await?;
    assert!(e["message"].as_str().unwrap_or_default().contains("database"), "{e}");
    assert_ne!(e["details"]["checks"]["database"], "ok", "{e}");
    assert_eq!(app.get("/health/live").await?.status(), 200);
    Ok(())
});

// The outside probe's edge findings (issue 17), on both backends: a NUL character anywhere is
// a clear 4xx (PostgreSQL cannot store it; before, it was a 500 there), a page past the last
// servable one is a 400 (before, a panic), and every 405 names the allowed methods.
db_test!(async fn nul_characters_huge_pages_and_405s_answer_clearly(db) {
    let app = TestApp::spawn(&db, NOTES_AND_TAGS).await?;
    let org = Uuid::now_v7();
    assert_eq!(app.create_note(org, "kept", 1).await?.status(), 201);

    let nul = app
        .client
        .post(app.url("/api/v1/notes"))
        .header("x-org-id", org.to_string())
        .header("content-type", "application/json")
        .body(r#"{"title": "a\u0000b", "priority": 1}"#)
        .send()
        .await?;
    let e = expect_error(nul, 422, "validation_failed").await?;
    assert!(e["details"]["fields"]["title"].as_str().is_some_and(|m| m.contains("NUL")), "{e}");
    for path in ["/api/v1/notes?search=a%00b", "/api/v1/notes?filter[title]=%00"] {
        expect_error(app.get_as(org, path).await?, 400, "invalid_query").await?;
    }
    expect_error(app.get_as(org, "/api/v1/notes/a%00b").await?, 400, "bad_request").await?;
    for page in ["9223372036854775807", "18446744073709551615", "100001"] {
        let e = expect_error(app.get_as(org, &format!("/api/v1/notes?page={page}")).await?, 400, "invalid_query").await?;
        assert!(e["message"].as_str().is_some_and(|m| m.contains("100000")), "{e}");
    }
    // The last servable page answers (empty).
    let last: serde_json::Value = app.get_as(org, "/api/v1/notes?page=100000").await?.json().await?;
    assert_eq!(last["data"], serde_json::json!([]), "{last}");
    // Nothing stored was lost.
    let all: serde_json::Value = app.get_as(org, "/api/v1/notes").await?.json().await?;
    assert_eq!(all["meta"]["total"], 1, "{all}");

    for (method, path, allow) in [
        (reqwest::Method::DELETE, "/api/v1/notes", "GET, POST"),
        (reqwest::Method::POST, "/health/live", "GET"),
        (reqwest::Method::PUT, "/metrics", "GET"),
    ] {
        let res = app.client.request(method, app.url(path)).send().await?;
        let header = res.headers().get("allow").and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(header.as_deref(), Some(allow), "{path}");
        expect_error(res, 405, "method_not_allowed").await?;
    }
    Ok(())
});

/// Two modules whose routes answer different types that share a name (`Thing`).
mod clash {
    use actix_web::{HttpResponse, get};
    use kernel::module::PlatformModule;
    use utoipa_actix_web::service_config::ServiceConfig;

    pub mod a {
        #[derive(serde::Serialize, utoipa::ToSchema)]
        pub struct Thing {
            pub colour: String,
        }
    }

    pub mod b {
        #[derive(serde::Serialize, utoipa::ToSchema)]
        pub struct Thing {
            pub weight: u32,
        }
    }

    #[utoipa::path(responses((status = 200, body = a::Thing)))]
    #[get("/a/thing")]
    async fn a_thing() -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    #[utoipa::path(responses((status = 200, body = b::Thing)))]
    #[get("/b/thing")]
    async fn b_thing() -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    pub struct A;
    pub struct B;

    #[async_trait::async_trait]
    impl PlatformModule for A {
        fn name(&self) -> &'static str {
            "a"
        }
        fn version(&self) -> &'static str {
            "1.0.0"
        }
        fn routes(&self, cfg: &mut ServiceConfig<'_>) {
            cfg.service(a_thing);
        }
    }

    #[async_trait::async_trait]
    impl PlatformModule for B {
        fn name(&self) -> &'static str {
            "b"
        }
        fn version(&self) -> &'static str {
            "1.0.0"
        }
        fn routes(&self, cfg: &mut ServiceConfig<'_>) {
            cfg.service(b_thing);
        }
    }
}

db_test!(async fn a_cell_refuses_two_types_of_one_schema_name(db) {
    let config = crate::support::config(&db, "[modules.a]\n[modules.b]\n", &[])?;
    let started = kernel::Application::build(config, vec![Box::new(clash::A), Box::new(clash::B)]).await;
    let message = started.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("OpenAPI component names claimed by two different types"), "{message}");
    assert!(message.contains("Thing ("), "{message}");
    // Either alone starts.
    let config = crate::support::config(&db, "[modules.a]\n", &[])?;
    assert!(kernel::Application::build(config, vec![Box::new(clash::A)]).await.is_ok());
    Ok(())
});

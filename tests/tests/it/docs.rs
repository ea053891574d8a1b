//! The docs route group in process: the generated document and the page.

use base64::Engine as _;
use lambda_http::Body;
use todo_shared::web::handlers::docs::{self, Docs};
use todo_shared::web::{http, openapi};
use todo_tests::server::Functions;
use todo_tests::*;

/// What the docs function serves: the document, and its embedded Swagger UI.
fn served() -> Docs {
    Docs::new(&openapi::document_json(), swagger_ui::SWAGGER_UI)
}

fn get(path: &str) -> Event {
    Event::fixture("health")
        .method("GET")
        .path(path, None)
        .without_header("authorization")
}

#[tokio::test]
async fn serves_the_generated_document() {
    let docs = served();
    let reply = Reply::new(docs::handle(&docs, get("/openapi.json").request()).await);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.json,
        openapi::document_json(),
        "the document, as generated"
    );
    assert!(reply.json["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(reply.json["info"]["title"], "Todo API");
    assert_eq!(reply.json["info"]["version"], env!("CARGO_PKG_VERSION"));
    let paths: Vec<&str> = reply.json["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(paths.contains(&"/api/tasks/{id}/complete"), "{paths:?}");
    // Stateful links from create to the item routes.
    let links = &reply.json["paths"]["/api/tasks"]["post"]["responses"]["201"]["links"];
    assert_eq!(links["GetTask"]["parameters"]["id"], "$response.body#/id");
}

/// Subresource Integrity hashes of swagger-ui-dist 5.32.0's files, as
/// published (the CDN page of the release lists them).
const RELEASE_SCRIPT_SHA384: &str =
    "7xcoc6ZKDFF7Ek627QTC3Bg/K+5Y36NJ8MWAE43D2m6+3Sh9XO3tdsfHhrS8gNIQ";
const RELEASE_STYLE_SHA384: &str =
    "3nuX7df3EaAoiqLBeyS1Ola0Gpg9ryJKVtarubwfnA1cOH8AWHUdbPSIvEqPZ9VH";

/// A digest of `bytes` in base64, as CSP and Subresource Integrity write it.
fn digest<D: sha2::Digest>(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(D::digest(bytes))
}

#[tokio::test]
async fn serves_a_page_that_needs_nothing_but_this_origin() {
    let docs = served();
    let response = docs::handle(&docs, get("/docs").request()).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let Body::Text(html) = response.body() else {
        panic!("an HTML body")
    };
    // Nothing from anywhere else.
    assert!(
        !html.contains("http:") && !html.contains("https:") && !html.contains("//"),
        "{html}"
    );
    assert!(
        html.contains(r#"<script src="docs/swagger-ui-bundle.js"></script>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<link rel="stylesheet" href="docs/swagger-ui.css">"#),
        "{html}"
    );
    assert!(html.contains(r#"url: "openapi.json""#), "{html}");
    assert!(html.contains("persistAuthorization: false"), "{html}");
    // The policy: this origin, and the one inline script by its hash.
    let policy = headers["content-security-policy"].to_str().unwrap();
    let inline = html
        .split("<script>")
        .nth(1)
        .and_then(|rest| rest.split("</script>").next())
        .expect("an inline script");
    let hash = digest::<sha2::Sha256>(inline.as_bytes());
    let directives: Vec<&str> = policy.split("; ").collect();
    for directive in [
        "default-src 'none'",
        &format!("script-src 'self' 'sha256-{hash}'"),
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(directives.contains(&directive), "{directive} in {policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    let reply = Reply::new(docs::handle(&docs, get("/docs").method("POST").request()).await);
    reply.expect_error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(reply.header("allow"), Some("GET"));
}

/// The assets are swagger-ui-dist 5.32.0's own files, byte for byte.
#[tokio::test]
async fn serves_the_pinned_swagger_ui_release() {
    let docs = served();
    for (path, content_type, sha384) in [
        (
            "/docs/swagger-ui-bundle.js",
            "text/javascript; charset=utf-8",
            RELEASE_SCRIPT_SHA384,
        ),
        (
            "/docs/swagger-ui.css",
            "text/css; charset=utf-8",
            RELEASE_STYLE_SHA384,
        ),
    ] {
        let reply = Reply::new(docs::handle(&docs, get(path).request()).await);
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), Some(content_type), "{path}");
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(reply.header("cache-control"), Some("public, max-age=300"));
        assert_eq!(digest::<sha2::Sha384>(&reply.raw), sha384, "{path}");
    }
    let reply = Reply::new(docs::handle(&docs, get("/docs/other.js").request()).await);
    reply.expect_error(404, "NOT_FOUND");
}

/// Every response carries `X-Content-Type-Options: nosniff`, whatever the
/// route or the outcome; JSON ones `Cache-Control: no-store`.
#[tokio::test]
async fn every_response_says_nosniff() {
    let functions = Functions::new(state());
    let user = unique_user("nosniff");
    let mut events = every_task_route(&user);
    events.extend(
        every_task_route(&user)
            .into_iter()
            .map(|e| e.without_header("authorization")),
    );
    for path in [
        "/health",
        "/openapi.json",
        "/docs",
        "/docs/swagger-ui.css",
        "/nowhere",
    ] {
        events.push(get(path));
        events.push(get(path).method("DELETE"));
    }
    for event in events {
        let request = event.request();
        let label = format!("{} {}", request.method(), http::path(&request));
        let reply = Reply::new(functions.handle(request).await);
        assert_eq!(
            reply.header("x-content-type-options"),
            Some("nosniff"),
            "{label}: {}",
            reply.status
        );
        // The document alone is public and cacheable.
        if reply.header("content-type") == Some("application/json")
            && !label.ends_with(" /openapi.json")
        {
            assert_eq!(reply.header("cache-control"), Some("no-store"), "{label}");
        }
    }
}

/// `clients/openapi.json` is the served document, byte for byte: the
/// TypeScript client is generated from it, so a stale file means a client
/// that no longer fits the API.
#[tokio::test]
async fn the_committed_document_is_the_served_one() {
    let docs = served();
    let reply = Reply::new(docs::handle(&docs, get("/openapi.json").request()).await);
    let committed = std::fs::read(root().join(OPENAPI_FILE)).unwrap_or_default();
    assert!(
        committed == reply.raw,
        "{OPENAPI_FILE} is stale: run `make openapi` and commit the result"
    );
    // The servers: where the document is served, and `make dev`.
    assert_eq!(
        reply.json["servers"],
        serde_json::json!([
            {"url": "/", "description": "This deployment (where this document is served)"},
            {"url": "http://localhost:9000", "description": "Local development (`make dev`)"},
        ])
    );
}

//! The docs route group in process: the generated document and the page.

use lambda_http::Body;
use todo_shared::handlers::docs::{self, Docs};
use todo_shared::openapi;
use todo_tests::{Event, Reply};

fn get(path: &str) -> Event {
    Event::fixture("health")
        .method("GET")
        .path(path, None)
        .without_header("authorization")
}

#[tokio::test]
async fn serves_the_generated_document() {
    let docs = Docs::new(&openapi::document_json());
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

#[tokio::test]
async fn serves_a_page_that_renders_it_with_pinned_swagger_ui() {
    let docs = Docs::new(&openapi::document_json());
    let response = docs::handle(&docs, get("/docs").request()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    let Body::Text(html) = response.body() else {
        panic!("an HTML body")
    };
    assert!(
        html.contains("swagger-ui-dist@5.32.0/swagger-ui-bundle.js"),
        "{html}"
    );
    assert!(html.contains(r#"integrity="sha384-"#), "{html}");
    assert!(html.contains(r#"url: "openapi.json""#), "{html}");
    let reply = Reply::new(docs::handle(&docs, get("/docs").method("POST").request()).await);
    reply.expect_error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(reply.header("allow"), Some("GET"));
}

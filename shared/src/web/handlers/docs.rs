//! `docs`: `GET /openapi.json` (the document), `GET /docs` (a page that
//! renders it with Swagger UI) and the page's Swagger UI assets. All public.
//!
//! Swagger UI is served from this function, not a CDN: pinned by
//! `functions/docs/swagger-ui/package-lock.json` and embedded at build time
//! by the docs function's crate, which hands its files in ([`SwaggerUi`]),
//! so that only that crate needs npm to build. The page works without
//! internet access and trusts no third party. Its Content-Security-Policy
//! allows only this origin and the page's own inline script (by hash); the
//! page does not persist a bearer token entered into it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};

use crate::web::error::ApiError;
use crate::web::http;
use crate::web::routes::{DOCS_SCRIPT, DOCS_STYLE, DocsOp};

/// Swagger UI's two files the page loads, as the docs function embeds them.
#[derive(Clone, Copy)]
pub struct SwaggerUi {
    /// `swagger-ui-bundle.js`.
    pub script: &'static str,
    /// `swagger-ui.css`.
    pub style: &'static str,
}

/// The page's one inline script. Relative URLs, so the page also works
/// behind a path prefix. No validator badge (a third party), and
/// `persistAuthorization` off: a token typed into the page lives only as
/// long as the tab, never in the browser's storage.
const INIT_SCRIPT: &str = r##"
window.ui = SwaggerUIBundle({ url: "openapi.json", dom_id: "#swagger-ui", validatorUrl: null, persistAuthorization: false });
"##;

/// What the docs function builds once per container: the serialised
/// document and the page with its policy, and Swagger UI. The function
/// passes the document in (from `crate::web::openapi`), so this module, whose
/// operations the document describes, does not depend on it.
pub struct Docs {
    json: String,
    page: String,
    policy: HeaderValue,
    swagger_ui: SwaggerUi,
}

impl Docs {
    pub fn new(document: &serde_json::Value, swagger_ui: SwaggerUi) -> Self {
        let page = format!(
            r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Todo API</title>
  <link rel="stylesheet" href="{style}">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{script}"></script>
  <script>{INIT_SCRIPT}</script>
</body>
</html>
"#,
            style = relative(DOCS_STYLE),
            script = relative(DOCS_SCRIPT),
        );
        Docs {
            json: served_json(document),
            page,
            policy: content_security_policy(),
            swagger_ui,
        }
    }
}

/// The document as served, and as committed in `clients/openapi.json`
/// (`make openapi`): indented, so that a change reads well in a diff.
pub fn served_json(document: &serde_json::Value) -> String {
    let mut json = serde_json::to_string_pretty(document).unwrap_or_default();
    json.push('\n');
    json
}

/// A root path as seen from `/docs` (`/docs/x` → `docs/x`).
fn relative(path: &str) -> &str {
    path.trim_start_matches('/')
}

/// Only this origin, and the inline script by its hash. `img-src data:`:
/// Swagger UI's style sheet draws its icons as `data:` SVGs.
fn content_security_policy() -> HeaderValue {
    let hash = STANDARD.encode(Sha256::digest(INIT_SCRIPT.as_bytes()));
    let policy = format!(
        "default-src 'none'; script-src 'self' 'sha256-{hash}'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; font-src 'self'; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    );
    // Base64 and ASCII punctuation only.
    HeaderValue::try_from(policy).expect("a header value")
}

pub async fn handle(docs: &Docs, request: Request) -> Response<Body> {
    http::serve(&request, |operation| async move {
        match operation {
            DocsOp::Document => document(docs).await,
            DocsOp::Page => page(docs).await,
            DocsOp::Script => script(docs).await,
            DocsOp::Style => style(docs).await,
        }
    })
    .await
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "docs", operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object)))]
pub(crate) async fn document(docs: &Docs) -> Result<Response<Body>, ApiError> {
    // Public and the same for everyone: cacheable, unlike the task responses.
    Ok(http::public(http::json_text(
        StatusCode::OK,
        docs.json.clone(),
    )))
}

/// Interactive documentation (Swagger UI) of this document.
#[utoipa::path(get, path = "/docs", tag = "docs", operation_id = "docs",
    responses((status = 200, description = "An HTML page", content_type = "text/html", body = String)))]
pub(crate) async fn page(docs: &Docs) -> Result<Response<Body>, ApiError> {
    let mut response = http::html(docs.page.clone());
    response
        .headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, docs.policy.clone());
    Ok(response)
}

/// Swagger UI's script, for the page.
#[utoipa::path(get, path = "/docs/swagger-ui-bundle.js", tag = "docs", operation_id = "docsScript",
    responses((status = 200, description = "Swagger UI's script", content_type = "text/javascript", body = String)))]
pub(crate) async fn script(docs: &Docs) -> Result<Response<Body>, ApiError> {
    Ok(http::asset(
        "text/javascript; charset=utf-8",
        docs.swagger_ui.script,
    ))
}

/// Swagger UI's style sheet, for the page.
#[utoipa::path(get, path = "/docs/swagger-ui.css", tag = "docs", operation_id = "docsStyle",
    responses((status = 200, description = "Swagger UI's style sheet", content_type = "text/css", body = String)))]
pub(crate) async fn style(docs: &Docs) -> Result<Response<Body>, ApiError> {
    Ok(http::asset(
        "text/css; charset=utf-8",
        docs.swagger_ui.style,
    ))
}

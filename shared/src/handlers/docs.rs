//! `docs`: `GET /openapi.json` (the document) and `GET /docs` (a page that
//! renders it with Swagger UI). Both public.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::error::ApiError;
use crate::http;
use crate::routes::{DOCS, OPENAPI, function};

/// Swagger UI, pinned, from a CDN with Subresource Integrity: the browser
/// refuses the files if they are not exactly the release these hashes name.
const SWAGGER_UI: &str = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.32.0";
const SWAGGER_UI_JS_SRI: &str =
    "sha384-7xcoc6ZKDFF7Ek627QTC3Bg/K+5Y36NJ8MWAE43D2m6+3Sh9XO3tdsfHhrS8gNIQ";
const SWAGGER_UI_CSS_SRI: &str =
    "sha384-3nuX7df3EaAoiqLBeyS1Ola0Gpg9ryJKVtarubwfnA1cOH8AWHUdbPSIvEqPZ9VH";

/// What the docs function builds once per container: the serialised
/// document. The function passes it in (from `crate::openapi`), so this
/// module, whose operations the document describes, does not depend on it.
pub struct Docs {
    json: String,
}

impl Docs {
    pub fn new(document: &serde_json::Value) -> Self {
        Docs {
            json: document.to_string(),
        }
    }
}

pub async fn handle(docs: &Docs, request: Request) -> Response<Body> {
    http::serve(function::DOCS, &request, |route| async move {
        match route.path {
            OPENAPI => document(docs).await,
            DOCS => page().await,
            _ => Err(http::unsupported(route)),
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
pub(crate) async fn page() -> Result<Response<Body>, ApiError> {
    let html = format!(
        r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Todo API</title>
  <link rel="stylesheet" href="{SWAGGER_UI}/swagger-ui.css" integrity="{SWAGGER_UI_CSS_SRI}" crossorigin="anonymous">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{SWAGGER_UI}/swagger-ui-bundle.js" integrity="{SWAGGER_UI_JS_SRI}" crossorigin="anonymous"></script>
  <script>
    window.ui = SwaggerUIBundle({{ url: "openapi.json", dom_id: "#swagger-ui", persistAuthorization: true }});
  </script>
</body>
</html>
"##
    );
    Ok(http::html(html))
}

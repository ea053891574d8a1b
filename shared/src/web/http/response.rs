//! The response builders: every response the API sends is made here (JSON,
//! error bodies, the docs page's HTML and assets), so the headers a kind of
//! response needs are set in one place.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::web::error::{ApiError, Cause};

/// Seconds a client should wait before retrying a 503.
pub const RETRY_AFTER_SECONDS: &str = "2";

/// `Cache-Control` of what is public and the same for everyone (the docs).
const PUBLIC_CACHE: &str = "public, max-age=300";

/// A JSON response. User data must not be cached by browsers or proxies.
pub fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    // Serialising our own types and `serde_json::Value`s cannot fail.
    json_text(status, serde_json::to_string(value).unwrap_or_default())
}

/// A response whose body is already-serialised JSON.
///
/// Sent as text, never as binary: Lambda would base64-encode a binary body
/// inside its response, a third more bytes against its 6 MB response limit.
pub fn json_text(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// How many bytes `json` takes once embedded as a string in the Lambda
/// response envelope: every `"` and `\` gains a backslash there. (Our JSON
/// holds no raw control characters; serde_json has already escaped them.)
pub fn enveloped_len(json: &str) -> usize {
    json.len() + json.bytes().filter(|b| matches!(b, b'"' | b'\\')).count()
}

/// The error's contract-shaped response: its status, `{"error": {...}}`
/// body, and the headers its status calls for.
pub fn error(error: &ApiError, request_id: &str) -> Response<Body> {
    let mut response = json(error.status(), &error.body(request_id));
    let headers = response.headers_mut();
    match error {
        ApiError::Unauthorized => {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        ApiError::MethodNotAllowed(allow) => {
            if let Ok(value) = HeaderValue::try_from(allow.as_str()) {
                headers.insert(header::ALLOW, value);
            }
        }
        ApiError::ServiceUnavailable(_) => retry_later(&mut response),
        _ => {}
    }
    response
}

/// Hands `cause` up with a response `dispatch` built itself for a failure
/// (`/health`'s 503), so that [`super::serve`] logs it as it logs an error's.
pub fn failed_because(response: &mut Response<Body>, cause: Cause) {
    response.extensions_mut().insert(cause);
}

/// Adds `Retry-After` to a 503.
pub fn retry_later(response: &mut Response<Body>) {
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECONDS),
    );
}

/// Marks a response as public and cacheable (the docs, not user data).
pub fn public(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(PUBLIC_CACHE),
    );
    response
}

/// An HTML page, public.
pub fn html(page: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(page));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    public(response)
}

/// A static text asset (the docs page's script and style sheet), public.
pub fn asset(content_type: &'static str, body: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_owned()));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    public(response)
}

/// An empty response (204 on delete).
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_goes_out_as_text_not_base64() {
        let response = json(StatusCode::OK, &serde_json::json!({"a": 1}));
        assert!(matches!(response.body(), Body::Text(t) if t == r#"{"a":1}"#));
    }

    #[test]
    fn error_headers_per_status() {
        let r = error(&ApiError::Unauthorized, "x");
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let r = error(&ApiError::unavailable("down"), "x");
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], RETRY_AFTER_SECONDS);
        let r = error(&ApiError::MethodNotAllowed("GET, POST".into()), "x");
        assert_eq!(r.headers()["allow"], "GET, POST");
        assert_eq!(r.headers()["content-type"], "application/json");
    }

    #[test]
    fn enveloped_length_counts_escapes() {
        let body = r#"{"q":"\"\\"}"#;
        assert_eq!(
            enveloped_len(body),
            serde_json::to_string(body).unwrap().len() - 2
        );
    }
}

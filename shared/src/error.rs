//! The contract's error type and its JSON/HTTP form.
//!
//! Every failure a handler can meet becomes one of these variants, and only
//! here does it turn into a status code and an `{"error": {...}}` body, so the
//! wire format cannot differ between routes. Causes of 500 and 503 are logged
//! where they are created and never sent to the client.

use std::collections::BTreeMap;
use std::fmt::Display;

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Response};
use serde_json::{Value, json};

/// Field name → what is wrong with it, as sent in `details`.
pub type FieldErrors = BTreeMap<&'static str, &'static str>;

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_SECONDS: &str = "2";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// Any token problem. Deliberately carries no reason: a 401 never says
    /// which check failed.
    Unauthorized,
    /// The task does not exist or belongs to someone else (never 403).
    TaskNotFound,
    /// A path no route of this function serves.
    RouteNotFound,
    Validation(FieldErrors),
    /// Carries the `Allow` header value.
    MethodNotAllowed(String),
    PayloadTooLarge,
    IdempotencyKeyReused,
    /// The database is unreachable or timing out.
    ServiceUnavailable,
    Internal,
}

impl ApiError {
    /// A validation error naming one field.
    pub fn field(name: &'static str, message: &'static str) -> Self {
        ApiError::Validation(FieldErrors::from([(name, message)]))
    }

    /// A 503 for a dependency that failed; the cause goes to the log only.
    pub fn unavailable(cause: impl Display) -> Self {
        tracing::warn!(error = %cause, "dependency unavailable");
        ApiError::ServiceUnavailable
    }

    /// A 500; the cause goes to the log only.
    pub fn internal(cause: impl Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        ApiError::Internal
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::TaskNotFound | ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::IdempotencyKeyReused => StatusCode::CONFLICT,
            ApiError::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "UNAUTHORIZED",
            ApiError::TaskNotFound | ApiError::RouteNotFound => "NOT_FOUND",
            ApiError::Validation(_) => "VALIDATION_ERROR",
            ApiError::MethodNotAllowed(_) => "METHOD_NOT_ALLOWED",
            ApiError::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ApiError::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            ApiError::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ApiError::Internal => "INTERNAL_ERROR",
        }
    }

    pub fn message(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "Invalid or missing authentication token",
            ApiError::TaskNotFound => "Task not found",
            ApiError::RouteNotFound => "Not found",
            ApiError::Validation(_) => "Validation failed",
            ApiError::MethodNotAllowed(_) => "Method not allowed",
            ApiError::PayloadTooLarge => "Request body exceeds 64 KiB",
            ApiError::IdempotencyKeyReused => {
                "Idempotency-Key was already used with a different request body"
            }
            ApiError::ServiceUnavailable => "Service temporarily unavailable, please retry",
            ApiError::Internal => "Internal server error",
        }
    }

    /// The `{"error": {...}}` body. `request_id` is only sent for a 500, so
    /// that a user's report can be matched to the log line.
    pub fn body(&self, request_id: &str) -> Value {
        let mut error = json!({ "code": self.code(), "message": self.message() });
        let details = match self {
            ApiError::Validation(fields) => Some(json!(fields)),
            ApiError::Internal => Some(json!({ "request_id": request_id })),
            _ => None,
        };
        if let Some(details) = details {
            error["details"] = details;
        }
        json!({ "error": error })
    }

    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let mut response = crate::http::json(self.status(), &self.body(request_id));
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("static"));
            }
            ApiError::MethodNotAllowed(allow) => {
                if let Ok(value) = allow.parse() {
                    headers.insert(header::ALLOW, value);
                }
            }
            ApiError::ServiceUnavailable => {
                headers.insert(
                    header::RETRY_AFTER,
                    RETRY_AFTER_SECONDS.parse().expect("static"),
                );
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_body_names_fields() {
        let body = ApiError::field("title", "bad").body("r1");
        assert_eq!(
            body,
            json!({"error": {"code": "VALIDATION_ERROR", "message": "Validation failed",
                             "details": {"title": "bad"}}})
        );
    }

    #[test]
    fn internal_body_carries_request_id_only() {
        let body = ApiError::Internal.body("abc-123");
        assert_eq!(body["error"]["details"], json!({"request_id": "abc-123"}));
        assert_eq!(body["error"]["code"], "INTERNAL_ERROR");
    }

    #[test]
    fn headers_per_status() {
        let r = ApiError::Unauthorized.into_response("x");
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let r = ApiError::ServiceUnavailable.into_response("x");
        assert_eq!(r.status(), 503);
        assert!(r.headers().contains_key("retry-after"));
        let r = ApiError::MethodNotAllowed("GET, POST".into()).into_response("x");
        assert_eq!(r.headers()["allow"], "GET, POST");
    }
}

//! The contract's error type and its JSON/HTTP form.
//!
//! Every failure a handler can meet becomes one of these variants, and only
//! here does it turn into a status code and an `{"error": {...}}` body
//! (`crate::web::http::error` makes the response), so the wire format cannot
//! differ between routes. A 500 or 503 carries its [`Cause`] up to
//! `crate::web::http::serve`, which writes it once, on the request's log line;
//! it is never sent to the client.

use std::error::Error;

use lambda_http::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::domain::tasks::TaskError;
use crate::domain::validate::Invalid;
use crate::domain::values::ValueError;
use crate::outside::db::DbError;

pub use crate::cause::Cause;
pub use crate::domain::validate::FieldErrors;

/// Every error response's body: `{"error": {"code", "message", "details"?}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"error": {"code": "VALIDATION_ERROR", "message": "Validation failed",
    "details": {"title": "Title is required and must be between 1 and 200 characters"}}}))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// A human-readable summary; never internals.
    pub message: String,
    /// For 422 the bad fields (name → problem); for 500 the `request_id`;
    /// for `TASK_LIMIT_REACHED` the limit (`max_tasks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Map<String, Value>>,
}

/// The machine-readable error codes of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    Unauthorized,
    NotFound,
    ValidationError,
    MethodNotAllowed,
    PayloadTooLarge,
    IdempotencyKeyReused,
    TaskLimitReached,
    ServiceUnavailable,
    InternalError,
}

impl ErrorCode {
    /// As in the body (`NOT_FOUND`...), for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::ValidationError => "VALIDATION_ERROR",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            ErrorCode::TaskLimitReached => "TASK_LIMIT_REACHED",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::InternalError => "INTERNAL_ERROR",
        }
    }
}

/// A value that breaks its rule is the contract's 422 naming its field; a
/// task id that names no task, its 404.
impl From<ValueError> for ApiError {
    fn from(error: ValueError) -> Self {
        match error {
            ValueError::Invalid { field, problem } => ApiError::field(field, problem),
            ValueError::NoSuchTask => ApiError::TaskNotFound,
        }
    }
}

/// A request whose fields break their rules: the contract's 422 naming each.
impl From<Invalid> for ApiError {
    fn from(Invalid(fields): Invalid) -> Self {
        ApiError::Validation(fields)
    }
}

/// A database that is down, busy or too slow is the contract's 503; any
/// other failure of a statement, a 500.
impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        if error.is_unavailable() {
            ApiError::unavailable(error)
        } else {
            ApiError::internal(error)
        }
    }
}

/// Each way a task operation does not happen, as the contract answers it.
impl From<TaskError> for ApiError {
    fn from(error: TaskError) -> Self {
        match error {
            TaskError::NotFound => ApiError::TaskNotFound,
            TaskError::LimitReached(max) => ApiError::TaskLimitReached(max),
            TaskError::KeyReused => ApiError::IdempotencyKeyReused,
            TaskError::Db(error) => error.into(),
            bug @ (TaskError::Row(_) | TaskError::UnknownOutcome(_) | TaskError::NoOutcome) => {
                ApiError::internal(bug)
            }
        }
    }
}

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
    /// The caller already holds `MAX_TASKS_PER_USER` tasks (carried here,
    /// for `details`).
    TaskLimitReached(i64),
    /// A dependency (the database, the JWKS) is unreachable or timing out.
    ServiceUnavailable(Cause),
    /// Anything else that is not the client's doing: a bug, or a broken
    /// deployment.
    Internal(Cause),
}

impl ApiError {
    /// A validation error naming one field.
    pub fn field(name: &'static str, message: &'static str) -> Self {
        ApiError::Validation(FieldErrors::from([(name, message)]))
    }

    /// A 503 for a dependency that failed, because of `cause`.
    pub fn unavailable(cause: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        ApiError::ServiceUnavailable(Cause::new(cause))
    }

    /// A 500, because of `cause`.
    pub fn internal(cause: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        ApiError::Internal(Cause::new(cause))
    }

    /// What made a 500 or 503 (for the log, never the client).
    pub fn cause(&self) -> Option<&Cause> {
        match self {
            ApiError::ServiceUnavailable(cause) | ApiError::Internal(cause) => Some(cause),
            _ => None,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::TaskNotFound | ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::IdempotencyKeyReused | ApiError::TaskLimitReached(_) => StatusCode::CONFLICT,
            ApiError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Unauthorized => ErrorCode::Unauthorized,
            ApiError::TaskNotFound | ApiError::RouteNotFound => ErrorCode::NotFound,
            ApiError::Validation(_) => ErrorCode::ValidationError,
            ApiError::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
            ApiError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            ApiError::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            ApiError::TaskLimitReached(_) => ErrorCode::TaskLimitReached,
            ApiError::ServiceUnavailable(_) => ErrorCode::ServiceUnavailable,
            ApiError::Internal(_) => ErrorCode::InternalError,
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
            ApiError::TaskLimitReached(_) => {
                "Task limit reached: delete tasks before creating more"
            }
            ApiError::ServiceUnavailable(_) => "Service temporarily unavailable, please retry",
            ApiError::Internal(_) => "Internal server error",
        }
    }

    /// The `{"error": {...}}` body. `request_id` is only sent for a 500, so
    /// that a user's report can be matched to the log line.
    pub fn body(&self, request_id: &str) -> ErrorBody {
        let details = match self {
            ApiError::Validation(fields) => Some(
                fields
                    .iter()
                    .map(|(name, problem)| (name.to_string(), json!(problem)))
                    .collect(),
            ),
            ApiError::Internal(_) => Some(Map::from_iter([(
                "request_id".to_owned(),
                json!(request_id),
            )])),
            ApiError::TaskLimitReached(max) => {
                Some(Map::from_iter([("max_tasks".to_owned(), json!(max))]))
            }
            _ => None,
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.message().to_owned(),
                details,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_body_names_fields() {
        let body = json!(ApiError::field("title", "bad").body("r1"));
        assert_eq!(
            body,
            json!({"error": {"code": "VALIDATION_ERROR", "message": "Validation failed",
                             "details": {"title": "bad"}}})
        );
    }

    #[test]
    fn code_names_are_the_serialised_ones() {
        for error in [
            ApiError::Unauthorized,
            ApiError::TaskNotFound,
            ApiError::field("x", "y"),
            ApiError::MethodNotAllowed("GET".into()),
            ApiError::PayloadTooLarge,
            ApiError::IdempotencyKeyReused,
            ApiError::TaskLimitReached(1),
            ApiError::unavailable("down"),
            ApiError::internal("a bug"),
        ] {
            assert_eq!(json!(error.code()), json!(error.code().as_str()));
        }
    }

    #[test]
    fn internal_body_carries_request_id_only() {
        let body = json!(ApiError::internal("secret internals").body("abc-123"));
        assert_eq!(body["error"]["details"], json!({"request_id": "abc-123"}));
        assert_eq!(body["error"]["code"], "INTERNAL_ERROR");
        assert!(!body.to_string().contains("secret internals"), "{body}");
    }
}

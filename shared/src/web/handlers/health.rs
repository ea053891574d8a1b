//! `health`: `GET /health`, public. Reports whether the database answers.

use std::time::Duration;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::outside::db::{Db, Statement};
use crate::web::error::{ApiError, Cause};
use crate::web::http;
use crate::web::routes::HealthOp;

/// The contract wants a degraded answer within 3 seconds; this leaves room
/// for the rest of the request.
pub const DATABASE_BUDGET: Duration = Duration::from_millis(2500);

/// `GET /health`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when the database does not answer.
    #[schema(example = "ok")]
    pub status: String,
    /// `ok` or `unreachable`.
    #[schema(example = "ok")]
    pub database: String,
    /// The API's version.
    #[schema(example = "0.1.0")]
    pub version: String,
}

pub async fn handle(db: &Db, request: Request) -> Response<Body> {
    http::serve(&request, |HealthOp::Check| check(db)).await
}

/// Whether the API and its database answer. Public.
#[utoipa::path(get, path = "/health", tag = "health", operation_id = "health",
    responses(
        (status = 200, description = "Up, and the database answers", body = Health),
        (status = 503, description = "The database does not answer (within 3 seconds)", body = Health,
            headers(("Retry-After" = String, description = "Seconds to wait"))),
    ))]
pub(crate) async fn check(db: &Db) -> Result<Response<Body>, ApiError> {
    let budget = DATABASE_BUDGET.min(db.timeout());
    let failure = db
        .query_within(budget, &Statement::read("SELECT 1"), &[])
        .await
        .err();
    let answered = failure.is_none();
    let (status, database) = if answered {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unreachable")
    };
    let state = if answered { "ok" } else { "degraded" };
    let body = Health {
        status: state.into(),
        database: database.into(),
        version: crate::VERSION.into(),
    };
    let mut response = http::json(status, &body);
    if let Some(failure) = failure {
        http::retry_later(&mut response);
        http::failed_because(&mut response, Cause::new(failure));
    }
    Ok(response)
}

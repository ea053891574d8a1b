//! `health`: `GET /health`, public. Reports whether the database answers.

use std::time::Duration;

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::json;

use crate::db::Db;
use crate::http;

pub const FUNCTION: &str = "health";

/// The contract wants a degraded answer within 3 seconds; this leaves room
/// for the rest of the request.
pub const DATABASE_BUDGET: Duration = Duration::from_millis(2500);

pub async fn handle(db: &Db, request: Request) -> Response<Body> {
    http::serve(FUNCTION, &request, |_route| async move {
        let budget = DATABASE_BUDGET.min(db.timeout());
        let answered = db
            .run_within(budget, async |client| {
                client.query_typed("SELECT 1", &[]).await.map(drop)
            })
            .await
            .is_ok();
        let (status, database) = if answered {
            (StatusCode::OK, "ok")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "unreachable")
        };
        let state = if answered { "ok" } else { "degraded" };
        let mut response = http::json(
            status,
            &json!({ "status": state, "database": database, "version": crate::VERSION }),
        );
        if !answered {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        Ok(response)
    })
    .await
}

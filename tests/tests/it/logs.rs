//! The one line each request logs: its fields, its level, and a 500 or
//! 503's cause on it, found by the response's request id. (End to end, in
//! Lambda's JSON format, `e2e` checks the same lines in the watch's log.)

use std::time::Duration;

use lambda_http::http::StatusCode;
use serde_json::{Value, json};
use todo_shared::error::ApiError;
use todo_shared::http::{self, serve};
use todo_shared::observe;
use todo_shared::routes::HealthOp;
use todo_tests::Event;
use todo_tests::logs::{logged, request_line};

/// The request lines among `lines`.
fn requests(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|line| line["fields"]["message"] == "request")
        .collect()
}

/// The one line per request, with every field operators search by; the
/// caller only as a hash; a 503 at `WARN` with its cause, written there
/// only.
#[tokio::test]
async fn the_request_line_has_every_field() {
    let event = Event::fixture("health");
    let request = event.request();
    let (response, lines) = logged(serve(&request, |_: HealthOp| async {
        observe::caller("alice@example.com");
        observe::add_db_time(Duration::from_millis(3));
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        Err(ApiError::unavailable(
            todo_shared::https::SendError::Connect(refused),
        ))
    }))
    .await;
    assert_eq!(response.status(), 503);
    assert_eq!(lines.len(), 1, "one line, the cause on it: {lines:?}");
    let requests = requests(&lines);
    assert_eq!(requests.len(), 1, "{lines:?}");
    assert_eq!(requests[0]["level"], "WARN", "a 503 is a warning");
    let fields = &requests[0]["fields"];
    assert_eq!(fields["method"], "GET");
    assert_eq!(fields["route"], "/health");
    assert_eq!(fields["status"], 503);
    assert_eq!(fields["error"], "SERVICE_UNAVAILABLE");
    assert!(fields["latency_ms"].as_f64().is_some(), "{fields}");
    assert_eq!(fields["db_ms"], 3.0);
    assert!(fields["cold_start"].is_boolean(), "{fields}");
    assert_eq!(fields["request_id"], http::request_id(&request));
    assert_eq!(
        fields["apigw_request_id"],
        event.json()["requestContext"]["requestId"]
    );
    assert_eq!(fields["trace_id"], "-", "no Lambda context here");
    assert_eq!(fields["user"], observe::user_hash("alice@example.com"));
    assert_eq!(fields["cause"], "could not connect: refused");
    assert!(
        !lines.iter().any(|l| l.to_string().contains("alice")),
        "{lines:?}"
    );
}

/// A 500's cause is written once, on the request line the body's
/// `request_id` finds, at `ERROR`; a success has no cause, even when a
/// failure came first and was retried (its error was dropped).
#[tokio::test]
async fn a_500s_cause_is_on_the_line_its_request_id_finds() {
    let request = Event::fixture("health").request();
    let (response, lines) = logged(serve(&request, |_: HealthOp| async {
        panic!("a bug");
    }))
    .await;
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    let id = body["error"]["details"]["request_id"].as_str().unwrap();
    let line = request_line(&lines, id).expect("the 500's request line");
    assert_eq!(line["level"], "ERROR", "{line}");
    assert_eq!(line["fields"]["cause"], "handler panicked: a bug");
    assert_eq!(lines.len(), 1, "the cause is written once: {lines:?}");

    let (response, lines) = logged(serve(&request, |_: HealthOp| async {
        let _retried = ApiError::unavailable("the first attempt failed");
        Ok(http::json(StatusCode::OK, &json!({"ok": true})))
    }))
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["level"], "INFO");
    assert!(lines[0]["fields"].get("cause").is_none(), "{}", lines[0]);
}

//! The one line each request logs: its fields, its level, and a 500 or
//! 503's cause on it, found by the response's request id. (End to end, in
//! Lambda's JSON format, `e2e` checks the same lines in the watch's log.)

use std::time::Duration;

use lambda_http::http::StatusCode;
use serde_json::{Value, json};
use todo_shared::observe;
use todo_shared::web::error::ApiError;
use todo_shared::web::http::{self, serve};
use todo_shared::web::routes::HealthOp;
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
            todo_shared::outside::https::SendError::Connect(refused),
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

/// What CloudWatch ingests for a warm request in the function's log group
/// (#41): its one line (the metrics document carrying the log line), 26
/// bytes per event, and Lambda's platform lines at the template's
/// `SystemLogLevel` (bench/billing.json models them), at most half of what
/// f8fba47 wrote: a 292-byte request line, a 625-byte metrics line and the
/// platform lines at `INFO`. The line still carries every field and metric
/// operators use (checked by the EMF specification and above).
#[tokio::test]
async fn a_warm_requests_log_bytes_are_at_most_half_of_before() {
    let billing: Value = serde_json::from_str(
        &std::fs::read_to_string(todo_tests::root().join("bench/billing.json")).unwrap(),
    )
    .unwrap();
    let model = &billing["model"];
    let overhead = model["cloudwatch_event_overhead_bytes"]["bytes"]
        .as_u64()
        .unwrap();
    let platform = |level: &str| -> u64 {
        model["platform_lines"][level]
            .as_array()
            .unwrap_or_else(|| panic!("no platform lines for {level}"))
            .iter()
            .map(|line| line.as_str().unwrap().len() as u64 + overhead)
            .sum()
    };
    let before = &model["before"];
    let before_bytes: u64 = before["function_lines_bytes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bytes| bytes.as_u64().unwrap() + overhead)
        .sum::<u64>()
        + platform(before["system_log_level"].as_str().unwrap());

    let ((), facts) = observe::gather(async {
        observe::caller("4b4bcf8d-9f1e-4f63-9a56-0d2c7a0e3d11");
        observe::add_db_time(Duration::from_micros(1_234));
    })
    .await;
    let log = todo_shared::web::logging::RequestLog {
        method: lambda_http::http::Method::GET,
        function: "tasks-item",
        route: "/api/tasks/{id}",
        status: 200,
        error: "-",
        latency: Duration::from_micros(2_841),
        cold_start: false,
        init: None,
        request_id: "6f7f0961-7b9e-4f4c-a1f8-0e6d2f5c9a11".into(),
        apigw_request_id: "C7rBzhcRoAMEJmw=".into(),
        trace_id: "1-6752cb10-25ba2a6f2c8e1b0e7d7c1a3e".into(),
        facts,
        cause: None,
        now: std::time::SystemTime::now(),
    };
    let mut out = Vec::new();
    todo_shared::web::logging::write_json(&log, true, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.matches('\n').count(), 1, "one line: {text}");
    let line: Value = serde_json::from_str(&text).unwrap();
    todo_tests::check_emf(&line).unwrap_or_else(|problem| panic!("{problem}: {line}"));
    assert_eq!(line["level"], "INFO");
    for field in [
        "message",
        "method",
        "route",
        "status",
        "error",
        "latency_ms",
        "db_ms",
        "cold_start",
        "request_id",
        "apigw_request_id",
        "trace_id",
        "user",
        "max_memory_mb",
    ] {
        assert!(line["fields"].get(field).is_some(), "{field}: {line}");
    }
    let template = std::fs::read_to_string(todo_tests::root().join("template.yaml")).unwrap();
    let level = template
        .lines()
        .find_map(|l| l.trim().strip_prefix("SystemLogLevel:"))
        .expect("the template's SystemLogLevel")
        .trim();
    let now_bytes = text.trim_end().len() as u64 + overhead + platform(level);
    assert!(
        now_bytes * 2 <= before_bytes,
        "{now_bytes} bytes now against {before_bytes} before (SystemLogLevel {level}): {text}"
    );
}

//! The EMF document each request writes (`todo_shared::outside::metrics`), checked
//! against the Embedded Metric Format specification and for its values.
//! (End to end, `e2e::one_json_log_line_per_request_without_tokens_or_bodies`
//! checks the lines the functions really print.)

use std::time::{Duration, SystemTime};

use todo_shared::observe::{self, Dependency};
use todo_shared::outside::metrics::{Measured, document_in};
use todo_tests::check_emf;

#[tokio::test]
async fn a_request_becomes_one_valid_emf_document() {
    let ((), facts) = observe::gather(async { observe::unavailable(Dependency::Database) }).await;
    let request = Measured {
        function: "tasks-item",
        route: "/api/tasks/{id}",
        status: 503,
        latency: Duration::from_micros(12_345),
        cold_start: true,
        facts: &facts,
    };
    let text = document_in(&request, "TodoApi/test", SystemTime::now());
    let line: serde_json::Value = serde_json::from_str(&text).expect("one JSON document");
    assert!(!text.contains('\n'), "one line: {text}");
    check_emf(&line).unwrap_or_else(|problem| panic!("{problem}: {line}"));
    for (name, value) in [
        ("Function", serde_json::json!("tasks-item")),
        ("Route", "/api/tasks/{id}".into()),
        ("StatusClass", "5xx".into()),
        ("Requests", 1.into()),
        ("Latency", 12.345.into()),
        ("ColdStart", 1.into()),
        ("DatabaseUnavailable", 1.into()),
        // What did not happen is not written: its Sum counts the same.
        ("JwksUnavailable", serde_json::Value::Null),
        ("AuthRejected", serde_json::Value::Null),
    ] {
        assert_eq!(line[name], value, "{name}: {line}");
    }
    let per_function: Vec<&str> = line["_aws"]["CloudWatchMetrics"][1]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|metric| metric["Name"].as_str())
        .collect();
    assert_eq!(per_function, ["ColdStart", "DatabaseUnavailable"]);
    // A request that is none of those has the per-route directive alone.
    let ((), none) = observe::gather(async {}).await;
    let ordinary = Measured {
        status: 200,
        cold_start: false,
        facts: &none,
        ..request
    };
    let text = document_in(&ordinary, "TodoApi/test", SystemTime::now());
    let ordinary: serde_json::Value = serde_json::from_str(&text).unwrap();
    check_emf(&ordinary).unwrap_or_else(|problem| panic!("{problem}: {ordinary}"));
    assert_eq!(
        ordinary["_aws"]["CloudWatchMetrics"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{ordinary}"
    );
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "TodoApi/test"
    );
    // The checker itself refuses what the specification does not allow.
    let mut broken = line.clone();
    broken["StatusClass"] = 5.into();
    assert!(check_emf(&broken).is_err());
    let mut broken = line.clone();
    broken["_aws"]["CloudWatchMetrics"][0]["Metrics"][1]["Unit"] = "Millis".into();
    assert!(check_emf(&broken).is_err());
    let mut broken = line;
    broken["Latency"] = "fast".into();
    assert!(check_emf(&broken).is_err());
}

//! Metrics as CloudWatch Embedded Metric Format (EMF) log lines: one JSON
//! line per request on stdout, which CloudWatch Logs turns into metrics.
//! No API call and no added latency; the line is written after the response
//! is built. A small module rather than a crate: one fixed document shape
//! per request, built with `serde_json`.
//!
//! Per function, route and status class (`2xx`...): `Requests` (Count) and
//! `Latency` (Milliseconds). Per function, and over all functions: `ColdStart`,
//! `DatabaseUnavailable` (a 503 because of the database), `JwksUnavailable`
//! (a 503 because of Better Auth's JWKS), `AuthRejected` (a 401), each a Count
//! that is 0 or 1. The namespace is `METRICS_NAMESPACE` (the template sets
//! `TodoApi/<stack name>`), else `TodoApi`.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::observe::{Dependency, Facts};

/// The default namespace, when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "TodoApi";

fn namespace() -> &'static str {
    static NAMESPACE: OnceLock<String> = OnceLock::new();
    NAMESPACE.get_or_init(|| {
        std::env::var("METRICS_NAMESPACE")
            .ok()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned())
    })
}

/// One request, as metrics.
pub struct Measured<'a> {
    pub function: &'a str,
    /// The route pattern, or `-` for a path no route serves.
    pub route: &'a str,
    pub status: u16,
    pub latency: Duration,
    pub cold_start: bool,
    pub facts: &'a Facts,
}

/// The EMF document of one request.
pub fn document(request: &Measured, namespace: &str, now: SystemTime) -> Value {
    let count = |yes: bool| u8::from(yes);
    let unavailable = request.facts.unavailable();
    let timestamp = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    json!({
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [["Function", "Route", "StatusClass"]],
                    "Metrics": [
                        {"Name": "Requests", "Unit": "Count"},
                        {"Name": "Latency", "Unit": "Milliseconds"},
                    ],
                },
                {
                    "Namespace": namespace,
                    "Dimensions": [["Function"], []],
                    "Metrics": [
                        {"Name": "ColdStart", "Unit": "Count"},
                        {"Name": "DatabaseUnavailable", "Unit": "Count"},
                        {"Name": "JwksUnavailable", "Unit": "Count"},
                        {"Name": "AuthRejected", "Unit": "Count"},
                    ],
                },
            ],
        },
        "Function": request.function,
        "Route": request.route,
        "StatusClass": format!("{}xx", request.status / 100),
        "Requests": 1,
        "Latency": request.latency.as_micros() as f64 / 1000.0,
        "ColdStart": count(request.cold_start),
        "DatabaseUnavailable": count(unavailable == Some(Dependency::Database)),
        "JwksUnavailable": count(unavailable == Some(Dependency::Jwks)),
        "AuthRejected": count(request.status == 401),
    })
}

/// Writes the request's EMF line to stdout, where Lambda sends it to
/// CloudWatch Logs.
pub fn emit(request: &Measured) {
    println!("{}", document(request, namespace(), SystemTime::now()));
}

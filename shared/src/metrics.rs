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

use serde::Serialize;

use crate::observe::{Dependency, Facts};

/// The default namespace, when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "TodoApi";

static NAMESPACE: OnceLock<String> = OnceLock::new();

/// Sets the namespace once, at start-up ([`crate::logging::init`] does, from
/// [`crate::config::metrics_namespace`]); later calls change nothing.
pub fn set_namespace(namespace: String) {
    let _ = NAMESPACE.set(namespace);
}

fn namespace() -> &'static str {
    NAMESPACE.get().map_or(DEFAULT_NAMESPACE, String::as_str)
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

/// Per function, route and status class.
const PER_ROUTE: &[Metric] = &[
    Metric::new("Requests", "Count"),
    Metric::new("Latency", "Milliseconds"),
];

/// Per function, and over all functions.
const PER_FUNCTION: &[Metric] = &[
    Metric::new("ColdStart", "Count"),
    Metric::new("DatabaseUnavailable", "Count"),
    Metric::new("JwksUnavailable", "Count"),
    Metric::new("AuthRejected", "Count"),
];

/// Appends the EMF document of one request, as its line (without the
/// newline), to `out` (what `crate::logging::request` writes). Typed rather
/// than a `serde_json::Value`: one serialisation, no map built per request
/// (`make bench`).
pub fn write(out: &mut Vec<u8>, request: &Measured, now: SystemTime) {
    write_in(out, request, namespace(), now);
}

/// The document [`write`] appends, in a namespace of the caller's.
pub fn document_in(request: &Measured, namespace: &str, now: SystemTime) -> String {
    let mut out = Vec::new();
    write_in(&mut out, request, namespace, now);
    String::from_utf8(out).unwrap_or_default()
}

fn write_in(out: &mut Vec<u8>, request: &Measured, namespace: &str, now: SystemTime) {
    let count = |yes: bool| u8::from(yes);
    let unavailable = request.facts.unavailable();
    let timestamp = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    const CLASSES: [&str; 6] = ["0xx", "1xx", "2xx", "3xx", "4xx", "5xx"];
    let document = Document {
        aws: Aws {
            timestamp,
            cloud_watch_metrics: [
                Directive {
                    namespace,
                    dimensions: &[&["Function", "Route", "StatusClass"]],
                    metrics: PER_ROUTE,
                },
                Directive {
                    namespace,
                    dimensions: &[&["Function"], &[]],
                    metrics: PER_FUNCTION,
                },
            ],
        },
        function: request.function,
        route: request.route,
        status_class: CLASSES[usize::from(request.status / 100).min(5)],
        requests: 1,
        latency: millis(request.latency),
        cold_start: count(request.cold_start),
        database_unavailable: count(unavailable == Some(Dependency::Database)),
        jwks_unavailable: count(unavailable == Some(Dependency::Jwks)),
        auth_rejected: count(request.status == 401),
    };
    let start = out.len();
    if serde_json::to_writer(&mut *out, &document).is_err() {
        out.truncate(start);
    }
}

/// A duration in milliseconds to the microsecond, as the log line and the
/// metrics both report it.
pub(crate) fn millis(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Document<'a> {
    #[serde(rename = "_aws")]
    aws: Aws<'a>,
    function: &'a str,
    route: &'a str,
    status_class: &'static str,
    requests: u8,
    latency: f64,
    cold_start: u8,
    database_unavailable: u8,
    jwks_unavailable: u8,
    auth_rejected: u8,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Aws<'a> {
    timestamp: u64,
    cloud_watch_metrics: [Directive<'a>; 2],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Directive<'a> {
    namespace: &'a str,
    dimensions: &'static [&'static [&'static str]],
    metrics: &'static [Metric],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Metric {
    name: &'static str,
    unit: &'static str,
}

impl Metric {
    const fn new(name: &'static str, unit: &'static str) -> Self {
        Metric { name, unit }
    }
}

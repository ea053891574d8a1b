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
//! written only when it happened (1), so that their `Sum` counts them: most
//! requests are none of these, and a line per request is what CloudWatch
//! bills (`make bench`'s bill). The namespace is `METRICS_NAMESPACE` (the
//! template sets `TodoApi/<stack name>`), else `TodoApi`.
//!
//! In Lambda (JSON) the document also carries the request's log line, its
//! `level` and `fields` as the line has them (`crate::web::logging`): EMF lets a
//! metrics document hold other members, and one line per request is about
//! a third of the bytes of two.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::observe::{Dependency, Facts};

/// The default namespace, when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "TodoApi";

static NAMESPACE: OnceLock<String> = OnceLock::new();

/// Sets the namespace once, at start-up ([`crate::web::logging::init`] does, from
/// [`crate::config::Reporting`]); later calls change nothing.
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

/// A request's log line, carried by its metrics document: the line's
/// level and its fields, as members `level` and `fields`.
pub struct Line<'a, F> {
    pub level: &'a str,
    pub fields: &'a F,
}

/// Appends the EMF document of one request, as its line (without the
/// newline), to `out` (what `crate::web::logging::request` writes), with the
/// request's log `line` in it when given. Typed rather than a
/// `serde_json::Value`: one serialisation, no map built per request
/// (`make bench`).
pub fn write<F: Serialize>(
    out: &mut Vec<u8>,
    request: &Measured,
    now: SystemTime,
    line: Option<Line<'_, F>>,
) {
    write_in(out, request, namespace(), now, line);
}

/// The document [`write()`] appends (without a log line), in a namespace of
/// the caller's.
pub fn document_in(request: &Measured, namespace: &str, now: SystemTime) -> String {
    let mut out = Vec::new();
    write_in(&mut out, request, namespace, now, None::<Line<'_, ()>>);
    String::from_utf8(out).unwrap_or_default()
}

fn write_in<F: Serialize>(
    out: &mut Vec<u8>,
    request: &Measured,
    namespace: &str,
    now: SystemTime,
    line: Option<Line<'_, F>>,
) {
    let unavailable = request.facts.unavailable();
    let timestamp = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    const CLASSES: [&str; 6] = ["0xx", "1xx", "2xx", "3xx", "4xx", "5xx"];
    // The per-function counts that happened, in PER_FUNCTION's order.
    let happened = [
        request.cold_start,
        unavailable == Some(Dependency::Database),
        unavailable == Some(Dependency::Jwks),
        request.status == 401,
    ];
    let mut counted = [const { Metric::new("", "") }; PER_FUNCTION.len()];
    let mut n = 0;
    for (metric, yes) in PER_FUNCTION.iter().zip(happened) {
        if yes {
            counted[n] = Metric::new(metric.name, metric.unit);
            n += 1;
        }
    }
    let per_route = Directive {
        namespace,
        dimensions: &[&["Function", "Route", "StatusClass"]],
        metrics: PER_ROUTE,
    };
    let per_function = Directive {
        namespace,
        dimensions: &[&["Function"], &[]],
        metrics: &counted[..n],
    };
    let one = |yes: bool| yes.then_some(1u8);
    let document = Document {
        level: line.as_ref().map(|line| line.level),
        fields: line.as_ref().map(|line| line.fields),
        aws: Aws {
            timestamp,
            cloud_watch_metrics: if n == 0 {
                &[per_route][..]
            } else {
                &[per_route, per_function][..]
            },
        },
        function: request.function,
        route: request.route,
        status_class: CLASSES[usize::from(request.status / 100).min(5)],
        requests: 1,
        latency: millis(request.latency),
        cold_start: one(happened[0]),
        database_unavailable: one(happened[1]),
        jwks_unavailable: one(happened[2]),
        auth_rejected: one(happened[3]),
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
struct Document<'a, F> {
    #[serde(rename = "level", skip_serializing_if = "Option::is_none")]
    level: Option<&'a str>,
    #[serde(rename = "fields", skip_serializing_if = "Option::is_none")]
    fields: Option<&'a F>,
    #[serde(rename = "_aws")]
    aws: Aws<'a>,
    function: &'a str,
    route: &'a str,
    status_class: &'static str,
    requests: u8,
    latency: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    cold_start: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    database_unavailable: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks_unavailable: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_rejected: Option<u8>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Aws<'a> {
    timestamp: u64,
    cloud_watch_metrics: &'a [Directive<'a>],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Directive<'a> {
    namespace: &'a str,
    dimensions: &'static [&'static [&'static str]],
    metrics: &'a [Metric],
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

//! The functions' log setup: Lambda's logging controls, with every
//! dependency held to `INFO` at most.
//!
//! `lambda_runtime` logs each raw invocation event at `TRACE`, headers,
//! tokens and request bodies included, and hyper its traffic; so whatever
//! level `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` asks for applies to this
//! project's own crates only, and no level makes a token or a body reach
//! the logs.

use std::cell::RefCell;
use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use lambda_http::http::Method;
use lambda_http::tracing::subscriber::filter::{FilterExt, LevelFilter, Targets, filter_fn};
use lambda_http::tracing::subscriber::layer::SubscriberExt;
use lambda_http::tracing::subscriber::util::SubscriberInitExt;
use lambda_http::tracing::subscriber::{Layer, fmt, registry};

use crate::config::ConfigError;
use crate::error::Cause;
use crate::metrics::{self, Measured};
use crate::observe::Facts;
use crate::routes::function;

/// The crates whose logs follow the configured level: this library, the
/// routed functions' binaries (their names from the route table) and
/// `migrate`.
fn own_crates() -> impl Iterator<Item = String> {
    let binaries = function::ALL.into_iter().chain(["migrate"]);
    ["todo_shared".to_owned()]
        .into_iter()
        .chain(binaries.map(|name| name.replace('-', "_")))
}

/// The filter for a configured level (`AWS_LAMBDA_LOG_LEVEL`, else
/// `RUST_LOG`, else `INFO`): that level for this project's crates, at most `INFO`
/// for everything else. Only a level is read, never per-target directives,
/// so no setting can open a dependency's `TRACE`.
pub fn directives(configured: Option<&str>) -> String {
    let level = configured
        .and_then(|raw| LevelFilter::from_str(raw.trim()).ok())
        .unwrap_or(LevelFilter::INFO);
    let others = level.min(LevelFilter::INFO);
    let own: Vec<String> = own_crates().map(|name| format!("{name}={level}")).collect();
    format!("{others},{}", own.join(","))
}

/// Installs the subscriber: JSON lines when `AWS_LAMBDA_LOG_FORMAT` is
/// `JSON` (Lambda's JSON logging), text otherwise; no timestamps (Lambda
/// adds its own). Also sets the metrics' namespace (`METRICS_NAMESPACE`,
/// checked: the one variable of a function's output that is not Lambda's).
pub fn init() -> Result<(), ConfigError> {
    crate::metrics::set_namespace(crate::config::metrics_namespace(|name| {
        std::env::var(name).ok()
    })?);
    let configured = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    // `Targets` rather than `EnvFilter`: the directives are plain levels,
    // and EnvFilter's regex engine was a quarter MiB of every binary.
    let filter: Targets = directives(configured.as_deref())
        .parse()
        .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    JSON.store(json, Ordering::Relaxed);
    if json {
        // Each line carries its own request id and trace id (see
        // `crate::http::serve`), so spans (the runtime's per invocation,
        // ours around a query) would only repeat them: in JSON no span is
        // even created (events and `enabled!` hints pass), which saves formatting their fields on every
        // request (`make bench`).
        let lines = fmt::layer()
            .json()
            .with_target(false)
            .without_time()
            .with_current_span(false)
            .with_span_list(false)
            .with_filter(filter.and(filter_fn(|metadata| !metadata.is_span())));
        registry().with(lines).init();
    } else {
        let lines = fmt::layer()
            .with_target(false)
            .without_time()
            .with_filter(filter);
        registry().with(lines).init();
    }
    Ok(())
}

/// Whether [`init`] set up JSON lines.
static JSON: AtomicBool = AtomicBool::new(false);

/// What a request leaves behind (see `crate::http::serve`): its log line
/// and its metrics, owned, so that they can be formatted after the response
/// has gone.
pub struct RequestLog {
    pub method: Method,
    pub function: &'static str,
    pub route: &'static str,
    pub status: u16,
    /// The error code, or `-`.
    pub error: &'static str,
    pub latency: Duration,
    pub cold_start: bool,
    pub request_id: String,
    pub apigw_request_id: String,
    pub trace_id: String,
    pub facts: Facts,
    /// Why it was a 500 or 503 (see `crate::error::Cause`).
    pub cause: Option<Cause>,
    /// When the request ended (the metrics' timestamp).
    pub now: SystemTime,
}

/// The one log line of a request: never headers or bodies.
#[derive(Serialize)]
struct RequestLine<'a> {
    message: &'static str,
    method: &'a str,
    route: &'a str,
    status: u16,
    error: &'a str,
    latency_ms: f64,
    db_ms: f64,
    cold_start: bool,
    request_id: &'a str,
    apigw_request_id: &'a str,
    trace_id: &'a str,
    /// A hash of the user id (`crate::observe::user_hash`).
    user: &'a str,
    /// Why a 500 or 503 happened; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    cause: Option<&'a str>,
}

/// A request line's level: `ERROR` for a 500 (a bug or a broken deployment),
/// `WARN` for a 503 (a dependency down), `INFO` for the rest. So a function
/// whose log level is `WARN` or `ERROR` still writes the lines someone must
/// act on, each with its cause.
fn level_of(status: u16) -> tracing::Level {
    match status {
        503 => tracing::Level::WARN,
        500..=599 => tracing::Level::ERROR,
        _ => tracing::Level::INFO,
    }
}

/// `tracing::enabled!` for a level known only at run time (the macro wants
/// a constant).
fn enabled(level: tracing::Level) -> bool {
    match level {
        tracing::Level::ERROR => tracing::enabled!(tracing::Level::ERROR),
        tracing::Level::WARN => tracing::enabled!(tracing::Level::WARN),
        _ => tracing::enabled!(tracing::Level::INFO),
    }
}

/// Writes a request's log line (at `INFO`, when that level is on) and its
/// EMF metrics line (`crate::metrics`). In JSON, both are written here,
/// typed and in one `write` to stdout, exactly as the JSON subscriber would
/// write the line: formatting it through `tracing` was a tenth of a warm
/// request's CPU, and two writes a system call more. They are formatted into
/// one buffer the process keeps: a fresh one of a kilobyte or more per
/// request made glibc's malloc consolidate its free lists every time. And in
/// Lambda they are formatted and written after the response has been handed
/// over, not before: the two lines were 7 µs of a warm `GET` by id's path
/// (`make bench`, everything on one core).
pub fn request(log: RequestLog) {
    // In Lambda (JSON), the task below runs when the runtime next waits,
    // which is after it has sent the response and before it asks for the
    // next invocation (so before Lambda can freeze the process). Locally,
    // right away.
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) if JSON.load(Ordering::Relaxed) => {
            runtime.spawn(async move {
                tokio::task::yield_now().await;
                write(&log);
            });
        }
        _ => write(&log),
    }
}

/// Formats and writes [`request`]'s lines.
fn write(log: &RequestLog) {
    let user = log.facts.user();
    let cause = log.cause.as_ref().map(ToString::to_string);
    let line = RequestLine {
        message: "request",
        method: log.method.as_str(),
        route: log.route,
        status: log.status,
        error: log.error,
        latency_ms: metrics::millis(log.latency),
        db_ms: metrics::millis(log.facts.db_time()),
        cold_start: log.cold_start,
        request_id: &log.request_id,
        apigw_request_id: &log.apigw_request_id,
        trace_id: &log.trace_id,
        user: user.as_deref().unwrap_or("-"),
        cause: cause.as_deref(),
    };
    let measured = Measured {
        function: log.function,
        route: log.route,
        status: log.status,
        latency: log.latency,
        cold_start: log.cold_start,
        facts: &log.facts,
    };
    let level = level_of(log.status);
    let logged = enabled(level);
    let json = JSON.load(Ordering::Relaxed);
    if logged && !json {
        // One call per level: `tracing::event!` wants its level constant.
        macro_rules! line_at {
            ($level:expr) => {
                tracing::event!(
                    $level,
                    method = line.method,
                    route = line.route,
                    status = line.status,
                    error = line.error,
                    latency_ms = line.latency_ms,
                    db_ms = line.db_ms,
                    cold_start = line.cold_start,
                    request_id = line.request_id,
                    apigw_request_id = line.apigw_request_id,
                    trace_id = line.trace_id,
                    user = line.user,
                    cause = line.cause,
                    "{}",
                    line.message
                )
            };
        }
        match level {
            tracing::Level::ERROR => line_at!(tracing::Level::ERROR),
            tracing::Level::WARN => line_at!(tracing::Level::WARN),
            _ => line_at!(tracing::Level::INFO),
        }
    }
    // Empty: `write_out` clears it before keeping it.
    let mut out = BUFFER.with_borrow_mut(std::mem::take);
    if logged && json {
        out.extend_from_slice(br#"{"level":""#);
        out.extend_from_slice(level.as_str().as_bytes());
        out.extend_from_slice(br#"","fields":"#);
        if serde_json::to_writer(&mut out, &line).is_err() {
            out.clear();
        } else {
            out.extend_from_slice(b"}\n");
        }
    }
    metrics::write(&mut out, &measured, log.now);
    out.push(b'\n');
    write_out(out);
}

thread_local! {
    /// The buffer [`request`] formats into, kept between requests.
    static BUFFER: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(4096));
}

/// Writes `out` to stdout in one `write`, and keeps it for the next request.
fn write_out(mut out: Vec<u8>) {
    let _ = std::io::stdout().lock().write_all(&out);
    // A rare huge line does not stay allocated for the process's life.
    out.clear();
    out.shrink_to(4096);
    BUFFER.set(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directives_are_a_target_filter() {
        use tracing::Level;
        for configured in [Some("trace"), Some("warn"), Some("nonsense"), None] {
            let directives = directives(configured);
            assert!(directives.parse::<Targets>().is_ok(), "{directives}");
        }
        let filter: Targets = directives(Some("trace")).parse().unwrap();
        assert!(filter.would_enable("todo_shared::db", &Level::TRACE));
        assert!(filter.would_enable("tasks_item", &Level::TRACE));
        assert!(!filter.would_enable("lambda_runtime", &Level::DEBUG));
        assert!(filter.would_enable("lambda_runtime", &Level::INFO));
        let filter: Targets = directives(Some("error")).parse().unwrap();
        assert!(!filter.would_enable("todo_shared", &Level::WARN));
        assert!(!filter.would_enable("hyper", &Level::WARN));
    }

    #[test]
    fn dependencies_never_go_below_info() {
        assert!(directives(Some("trace")).starts_with("info,todo_shared=trace,"));
        assert!(directives(Some("TRACE")).contains("tasks_item=trace"));
        assert!(directives(Some("debug")).starts_with("info,"));
        assert!(directives(Some("warn")).starts_with("warn,todo_shared=warn"));
        // Per-target directives are not honoured: a level or the default.
        assert!(directives(Some("lambda_runtime=trace")).starts_with("info,todo_shared=info"));
        assert!(directives(None).starts_with("info,todo_shared=info"));
        for crate_name in [
            "todo_shared",
            "tasks_collection",
            "tasks_item",
            "health",
            "docs",
            "migrate",
        ] {
            assert!(directives(Some("trace")).contains(&format!("{crate_name}=trace")));
        }
    }
}

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
use std::time::SystemTime;

use serde::Serialize;

use lambda_http::tracing::subscriber::filter::{FilterExt, LevelFilter, Targets, filter_fn};
use lambda_http::tracing::subscriber::layer::SubscriberExt;
use lambda_http::tracing::subscriber::util::SubscriberInitExt;
use lambda_http::tracing::subscriber::{Layer, fmt, registry};

use crate::metrics::{self, Measured};
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
/// adds its own).
pub fn init() {
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
}

/// Whether [`init`] set up JSON lines.
static JSON: AtomicBool = AtomicBool::new(false);

/// The one log line of a request (see `crate::http::serve`): never headers
/// or bodies.
#[derive(Serialize)]
pub struct RequestLine<'a> {
    pub message: &'static str,
    pub method: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub error: &'a str,
    pub latency_ms: f64,
    pub db_ms: f64,
    pub cold_start: bool,
    pub request_id: &'a str,
    pub apigw_request_id: &'a str,
    pub trace_id: &'a str,
    /// A hash of the user id (`crate::observe::user_hash`).
    pub user: &'a str,
}

/// Writes a request's log line (at `INFO`, when that level is on) and its
/// EMF metrics line (`crate::metrics`). In JSON, both are written here,
/// typed and in one `write` to stdout, exactly as the JSON subscriber would
/// write the line: formatting it through `tracing` was a tenth of a warm
/// request's CPU, and two writes a system call more. They are formatted into
/// one buffer the process keeps: a fresh one of a kilobyte or more per
/// request made glibc's malloc consolidate its free lists every time. And in
/// Lambda they are written after the response has been handed over, not
/// before (`make bench`).
pub fn request(line: &RequestLine, measured: &Measured, now: SystemTime) {
    let logged = tracing::enabled!(tracing::Level::INFO);
    let json = JSON.load(Ordering::Relaxed);
    if logged && !json {
        tracing::info!(
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
            "{}",
            line.message
        );
    }
    // Empty: `write_out` clears it before keeping it.
    let mut out = BUFFER.with_borrow_mut(std::mem::take);
    if logged && json {
        out.extend_from_slice(br#"{"level":"INFO","fields":"#);
        if serde_json::to_writer(&mut out, line).is_err() {
            out.clear();
        } else {
            out.extend_from_slice(b"}\n");
        }
    }
    metrics::write(&mut out, measured, now);
    out.push(b'\n');
    // In Lambda (JSON), the lines are written once the response is on its
    // way: the task below runs when the runtime next waits, which is after
    // it has sent the response and before it asks for the next invocation
    // (so before Lambda can freeze the process). Locally, right away.
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) if json => {
            runtime.spawn(async move {
                tokio::task::yield_now().await;
                write_out(out);
            });
        }
        _ => write_out(out),
    }
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

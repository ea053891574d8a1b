//! The request writer: each request's log line and its metrics, formatted
//! and written together (see [`request`]): in Lambda one line, the metrics
//! document carrying the log line.

use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use lambda_http::http::Method;

use super::JSON;
use crate::cause::Cause;
use crate::observe::Facts;
use crate::outside::metrics::{self, Measured};

/// What a request leaves behind (see `crate::web::http::serve`): its log line
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
    /// On a cold start, how long the process took from its start to this
    /// request (`crate::observe::init_time`).
    pub init: Option<Duration>,
    pub request_id: String,
    pub apigw_request_id: String,
    pub trace_id: String,
    pub facts: Facts,
    /// Why it was a 500 or 503 (see `crate::web::error::Cause`).
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
    /// On a cold start, this process's Init (what Lambda's REPORT line's
    /// Init Duration told, less the sandbox's own start).
    #[serde(skip_serializing_if = "Option::is_none")]
    init_ms: Option<f64>,
    /// The process's peak memory so far (what the REPORT line's Max Memory
    /// Used told).
    max_memory_mb: u64,
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

/// `$macro!(level)` for a [`level_of`] known only at run time: `tracing`'s
/// macros want their level constant, so this is one call per level.
macro_rules! at_level {
    ($level:expr, $macro:ident) => {
        match $level {
            tracing::Level::ERROR => $macro!(tracing::Level::ERROR),
            tracing::Level::WARN => $macro!(tracing::Level::WARN),
            _ => $macro!(tracing::Level::INFO),
        }
    };
}

/// Writes a request's log line (at `INFO`, when that level is on) and its
/// EMF metrics (`crate::outside::metrics`). In JSON, one line: the metrics document
/// with the log line's `level` and `fields` in it, typed and in one
/// `write` to stdout (formatting the line through `tracing` was a tenth of
/// a warm request's CPU, and two lines are 917 bytes where one is about
/// 480: CloudWatch bills every byte, `make bench`). As text (`make dev`),
/// the line goes through `tracing` and the metrics document after it. They are formatted into
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
    let level = level_of(log.status);
    let logged = {
        use tracing::enabled;
        at_level!(level, enabled)
    };
    // Empty: `write_out` clears it before keeping it.
    let mut out = BUFFER.with_borrow_mut(std::mem::take);
    if JSON.load(Ordering::Relaxed) {
        write_json(log, logged, &mut out);
    } else {
        let user = log.facts.user();
        let cause = log.cause.as_ref().map(ToString::to_string);
        let line = RequestLine::of(log, user.as_deref(), cause.as_deref());
        if logged {
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
                        init_ms = line.init_ms,
                        max_memory_mb = line.max_memory_mb,
                        "{}",
                        line.message
                    )
                };
            }
            at_level!(level, line_at);
        }
        metrics::write(
            &mut out,
            &log.measured(),
            log.now,
            None::<metrics::Line<'_, ()>>,
        );
        out.push(b'\n');
    }
    write_out(out);
}

/// Appends the one line a request writes in Lambda (JSON) to `out`: its
/// metrics document, carrying the log line (`level`, `fields`) when its
/// level is `logged`.
pub fn write_json(log: &RequestLog, logged: bool, out: &mut Vec<u8>) {
    let user = log.facts.user();
    let cause = log.cause.as_ref().map(ToString::to_string);
    let line = RequestLine::of(log, user.as_deref(), cause.as_deref());
    let carried = logged.then(|| metrics::Line {
        level: level_of(log.status).as_str(),
        fields: &line,
    });
    metrics::write(out, &log.measured(), log.now, carried);
    out.push(b'\n');
}

impl RequestLog {
    fn measured(&self) -> Measured<'_> {
        Measured {
            function: self.function,
            route: self.route,
            status: self.status,
            latency: self.latency,
            cold_start: self.cold_start,
            facts: &self.facts,
        }
    }
}

impl<'a> RequestLine<'a> {
    fn of(log: &'a RequestLog, user: Option<&'a str>, cause: Option<&'a str>) -> Self {
        RequestLine {
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
            user: user.unwrap_or("-"),
            cause,
            init_ms: log.init.map(metrics::millis),
            max_memory_mb: crate::observe::peak_memory_mb(),
        }
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

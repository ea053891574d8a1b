//! The functions' log setup: Lambda's logging controls, with every
//! dependency held to `INFO` at most.
//!
//! `lambda_runtime` logs each raw invocation event at `TRACE`, headers,
//! tokens and request bodies included, and hyper its traffic; so whatever
//! level `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` asks for
//! ([`crate::config::Reporting`]) applies to this project's own crates
//! only, and no level makes a token or a body reach the logs.
//!
//! Each request's own line (and its metrics) is written by `request.rs`,
//! re-exported here.

mod request;

pub use request::{RequestLog, request, write_json};

use std::sync::atomic::{AtomicBool, Ordering};

use lambda_http::tracing::subscriber::filter::{FilterExt, LevelFilter, Targets, filter_fn};
use lambda_http::tracing::subscriber::layer::SubscriberExt;
use lambda_http::tracing::subscriber::util::SubscriberInitExt;
use lambda_http::tracing::subscriber::{Layer, fmt, registry};

use crate::config::Reporting;
use crate::web::routes::Function;

/// The crates whose logs follow the configured level: this library, the
/// routed functions' binaries (their names from the route table) and
/// `migrate`.
fn own_crates() -> impl Iterator<Item = String> {
    let binaries = Function::ALL
        .map(Function::name)
        .into_iter()
        .chain(["migrate"]);
    ["todo_shared".to_owned()]
        .into_iter()
        .chain(binaries.map(|name| name.replace('-', "_")))
}

/// The filter for the configured level: that level for this project's
/// crates, at most `INFO` for everything else.
pub fn directives(level: LevelFilter) -> String {
    let others = level.min(LevelFilter::INFO);
    let own: Vec<String> = own_crates().map(|name| format!("{name}={level}")).collect();
    format!("{others},{}", own.join(","))
}

/// Installs the subscriber: JSON lines (Lambda's JSON logging) or text, as
/// `reporting` says; no timestamps (Lambda adds its own). Also sets the
/// metrics' namespace and opens the socket to the X-Ray daemon
/// ([`crate::outside::xray::init`]).
pub fn init(reporting: &Reporting) {
    crate::outside::xray::init(reporting.xray_daemon);
    crate::outside::metrics::set_namespace(reporting.metrics_namespace.clone());
    // `Targets` rather than `EnvFilter`: the directives are plain levels,
    // and EnvFilter's regex engine was a quarter MiB of every binary.
    let filter: Targets = directives(reporting.log_level)
        .parse()
        .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO));
    let json = reporting.json_logs;
    JSON.store(json, Ordering::Relaxed);
    if json {
        // Each line carries its own request id and trace id (see
        // `crate::web::http::serve`), so spans (the runtime's per invocation,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directives_are_a_target_filter() {
        use tracing::Level;
        for level in [LevelFilter::TRACE, LevelFilter::WARN, LevelFilter::OFF] {
            let directives = directives(level);
            assert!(directives.parse::<Targets>().is_ok(), "{directives}");
        }
        let filter: Targets = directives(LevelFilter::TRACE).parse().unwrap();
        assert!(filter.would_enable("todo_shared::outside::db", &Level::TRACE));
        assert!(filter.would_enable("tasks_item", &Level::TRACE));
        assert!(!filter.would_enable("lambda_runtime", &Level::DEBUG));
        assert!(filter.would_enable("lambda_runtime", &Level::INFO));
        let filter: Targets = directives(LevelFilter::ERROR).parse().unwrap();
        assert!(!filter.would_enable("todo_shared", &Level::WARN));
        assert!(!filter.would_enable("hyper", &Level::WARN));
    }

    #[test]
    fn dependencies_never_go_below_info() {
        assert!(directives(LevelFilter::TRACE).starts_with("info,todo_shared=trace,"));
        assert!(directives(LevelFilter::TRACE).contains("tasks_item=trace"));
        assert!(directives(LevelFilter::DEBUG).starts_with("info,"));
        assert!(directives(LevelFilter::WARN).starts_with("warn,todo_shared=warn"));
        for crate_name in [
            "todo_shared",
            "tasks_collection",
            "tasks_item",
            "health",
            "docs",
            "migrate",
        ] {
            assert!(directives(LevelFilter::TRACE).contains(&format!("{crate_name}=trace")));
        }
    }
}

//! The functions' log setup: Lambda's logging controls, with every
//! dependency held to `INFO` at most.
//!
//! `lambda_runtime` logs each raw invocation event at `TRACE`, headers,
//! tokens and request bodies included, and hyper its traffic; so whatever
//! level `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` asks for applies to this
//! project's own crates only, and no level makes a token or a body reach
//! the logs.
//!
//! Each request's own line (and its metrics) is written by `request.rs`,
//! re-exported here.

mod request;

pub use request::{RequestLog, request, write_json};

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use lambda_http::tracing::subscriber::filter::{FilterExt, LevelFilter, Targets, filter_fn};
use lambda_http::tracing::subscriber::layer::SubscriberExt;
use lambda_http::tracing::subscriber::util::SubscriberInitExt;
use lambda_http::tracing::subscriber::{Layer, fmt, registry};

use crate::config::ConfigError;
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
/// checked: the one variable of a function's output that is not Lambda's)
/// and finds the X-Ray daemon ([`crate::outside::xray::init`]).
pub fn init() -> Result<(), ConfigError> {
    crate::observe::init_started();
    crate::outside::xray::init();
    crate::outside::metrics::set_namespace(crate::config::metrics_namespace(|name| {
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
    Ok(())
}

/// Whether [`init`] set up JSON lines.
static JSON: AtomicBool = AtomicBool::new(false);

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
        assert!(filter.would_enable("todo_shared::outside::db", &Level::TRACE));
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

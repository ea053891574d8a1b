//! The functions' log setup: Lambda's logging controls, with every
//! dependency held to `INFO` at most.
//!
//! `lambda_runtime` logs each raw invocation event at `TRACE`, headers,
//! tokens and request bodies included, and hyper its traffic; so whatever
//! level `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` asks for applies to this
//! project's own crates only, and no level makes a token or a body reach
//! the logs.

use std::str::FromStr;

use lambda_http::tracing::subscriber::filter::{EnvFilter, LevelFilter};

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
    let filter = EnvFilter::new(directives(configured.as_deref()));
    let subscriber = lambda_http::tracing::subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(filter);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        subscriber.json().init();
    } else {
        subscriber.init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

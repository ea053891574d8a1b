//! Test kit for the Todo API, a module per job: `requests` (events from the
//! `events/` fixtures, replies, in-process calls), `tokens` (HS256 and
//! Better Auth's), `database` (the database under test, rows read back),
//! `postgres` (a server of a test's own), `pooler` (PgBouncer), `stack` (a
//! whole stack under `cargo lambda watch`), `e2e` (the end-to-end suite's
//! watch servers), `server` (the local HTTP server)
//! and `cors`, `faults` (proxies and fakes), `logs` and `emf` (what the
//! functions write), `services` (what the tests run against) and
//! `own_process` (a test run in a process of its own, for settings read at
//! start). Its items are re-exported here.
//!
//! Tests run against the PostgreSQL named by `TEST_DATABASE_URL` (the test
//! command starts a throwaway one). Every test works as users of its own, so
//! tests can share one database and run in parallel.

use std::path::PathBuf;

pub mod certs;
pub mod cors;
mod database;
mod e2e;
mod emf;
mod faults;
pub mod logs;
mod own_process;
pub mod pooler;
mod postgres;
mod requests;
pub mod server;
pub mod services;
pub mod stack;
mod tokens;

pub use database::*;
pub use e2e::*;
pub use emf::*;
pub use faults::*;
pub use own_process::*;
pub use postgres::*;
pub use requests::*;
pub use tokens::*;

/// The committed OpenAPI document (`make openapi`), from the repository root.
pub const OPENAPI_FILE: &str = "clients/openapi.json";

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The workspace's binary `name` (a function, `xtask`), built first, once
/// per test process, as `make test` builds them (`cargo build --workspace
/// --bins`: nothing to do after `make test`'s own build), so that a plain
/// `cargo test` runs the binaries of its own source.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "--workspace", "--bins", "--quiet"])
            .current_dir(root())
            .status()
            .expect("cargo build");
        assert!(status.success(), "cargo build --workspace --bins failed");
    });
    root().join("target/debug").join(name)
}

/// What `command` printed, once it has run to its end and succeeded;
/// else a panic naming `what`, with everything it said.
pub fn output_of(command: &mut std::process::Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A TCP port on 127.0.0.1 that nothing listens on now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A runtime for the async parts of a synchronous test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `future`'s output, or a failed test when it takes longer than `limit`: for
/// tests whose claim is "answers, and does not hang".
pub async fn within<F: std::future::Future>(
    limit: std::time::Duration,
    what: &str,
    future: F,
) -> F::Output {
    tokio::time::timeout(limit, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {limit:?}, a hang"))
}

/// The variables that point AWS's SDK at a Secrets Manager, with its
/// credentials ([`services::SecretsManager::env`]).
pub const SECRETS_MANAGER_SETTINGS: [&str; 5] = [
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
];

/// The Secrets Manager this process's environment names (the local
/// emulator the test command started), as its settings.
pub fn secrets_manager_of_this_process() -> Vec<(&'static str, String)> {
    SECRETS_MANAGER_SETTINGS
        .iter()
        .filter_map(|name| Some((*name, std::env::var(name).ok()?)))
        .collect()
}

/// Creates a secret in [`secrets_manager_of_this_process`]; its ARN.
pub async fn create_secret(name: &str, value: &str) -> String {
    create_secret_in(&secrets_manager_of_this_process(), name, value).await
}

/// Creates a secret in the Secrets Manager that `env` (a
/// [`services::SecretsManager`]'s) points at, with a client configured by
/// `env` alone, over the functions' own HTTP client; its ARN.
pub async fn create_secret_in(env: &[(&str, String)], name: &str, value: &str) -> String {
    use aws_config::{BehaviorVersion, Region};
    use aws_sdk_secretsmanager::config::Credentials;
    let get = |wanted: &str| {
        env.iter()
            .find(|(name, _)| *name == wanted)
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| panic!("create a secret: {wanted} is not set"))
    };
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(todo_shared::outside::aws_http::client())
        .region(Region::new(get("AWS_REGION")))
        .endpoint_url(get("AWS_ENDPOINT_URL_SECRETS_MANAGER"))
        .credentials_provider(Credentials::new(
            get("AWS_ACCESS_KEY_ID"),
            get("AWS_SECRET_ACCESS_KEY"),
            None,
            None,
            "todo-tests",
        ))
        .load()
        .await;
    let created = aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create the secret {name}: {}",
                todo_shared::cause::Cause::new(e)
            )
        });
    created.arn().expect("an ARN").to_owned()
}

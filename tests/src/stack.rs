//! A whole local stack of one test's own, to break: a PostgreSQL server
//! ([`ScratchServer`]), optionally PgBouncer in front of it ([`Pooler`], as
//! Neon's pooled endpoint), and a `cargo lambda watch` serving every route
//! against it, so that a test can terminate its backends, stop processes
//! and restart the server or the pooler without disturbing any other test.

use std::time::Duration;

use crate::pooler::{Pooler, PoolerSettings};
use crate::services::Watch;
use crate::{ScratchServer, root, unique_user};

/// How the stack's functions reach its database.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Endpoint {
    /// Straight to PostgreSQL (Neon's direct endpoint).
    Direct,
    /// Through PgBouncer in transaction mode (Neon's pooled endpoint);
    /// `migrate` runs through it too.
    Pooled,
}

/// The password of the stack's logins through its pooler (the server
/// trusts its local logins; the pooler asks its clients for SCRAM).
const POOLER_PASSWORD: &str = "fault-stack-pooler-password";

pub struct FaultStack {
    pub db: ScratchServer,
    /// The pooler the functions connect through, with [`Endpoint::Pooled`].
    pub pooler: Option<Pooler>,
    /// The API's base URL.
    pub base: String,
    /// The HS256 secret its functions verify tokens with.
    pub secret: String,
    watch: Watch,
}

impl FaultStack {
    /// Starts the server, applies the migrations, and starts the watch
    /// server (one connection per function, a 1.5 s database budget), once
    /// `/health` answers 200. Needs cargo-lambda, on `PATH` or in the
    /// project's virtualenv (`make test` installs it there).
    ///
    /// With [`Endpoint::Pooled`], the functions and `migrate` know only the
    /// pooler's URLs, and the pooler has four server connections.
    pub fn start(label: &str, endpoint: Endpoint) -> Self {
        let db = ScratchServer::start();
        let pooler = (endpoint == Endpoint::Pooled).then(|| {
            let users = ["postgres", "todo_api"].map(|user| (user.into(), POOLER_PASSWORD.into()));
            Pooler::start(
                db.port,
                &PoolerSettings {
                    pool_size: 4,
                    users: users.to_vec(),
                },
            )
        });
        let (owner_url, url) = match &pooler {
            Some(pooler) => (
                pooler.url("postgres", POOLER_PASSWORD, "postgres"),
                pooler.url("todo_api", POOLER_PASSWORD, "postgres"),
            ),
            None => (db.url(), db.api_url()),
        };
        crate::runtime().block_on(crate::migrate(&owner_url, &url));
        let secret = format!("fault-stack-secret-{}", unique_user(label));
        let log = root().join("target").join(format!("e2e-{label}-watch.log"));
        let env = [
            ("DATABASE_URL", url),
            ("BETTER_AUTH_SECRET", secret.clone()),
            ("DB_POOL_SIZE", "1".into()),
            ("DB_TIMEOUT_MS", "1500".into()),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
        ];
        let watch = Watch::start(&log, &env, &[]);
        if let Err(log) = watch.healthy(Duration::from_secs(180)) {
            panic!("the fault stack's watch server did not come up:\n{log}");
        }
        FaultStack {
            db,
            pooler,
            base: watch.base(),
            secret,
            watch,
        }
    }

    /// The process of `function` (a binary under `functions/`) that this
    /// stack's watch server started, once it has served a request.
    pub fn function_pid(&self, function: &str) -> i32 {
        // The watch server's runtime API, e.g. http://127.0.0.1:<port>/.rt
        let runtime_api = format!("127.0.0.1:{}/", self.watch.port);
        let suffix = format!("/debug/{function}");
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .find(|pid| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let program = cmdline.split(|&b| b == 0).next().unwrap_or_default();
                let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
                String::from_utf8_lossy(program).ends_with(&suffix)
                    && environ
                        .split(|&b| b == 0)
                        .map(String::from_utf8_lossy)
                        .any(|var| {
                            var.starts_with("AWS_LAMBDA_RUNTIME_API=") && var.contains(&runtime_api)
                        })
            })
            .unwrap_or_else(|| {
                panic!(
                    "no {function} process of the watch server on {}",
                    self.watch.port
                )
            })
    }
}

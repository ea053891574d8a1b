//! A whole local stack of one test's own, to break: a PostgreSQL server
//! ([`ScratchServer`]), optionally PgBouncer in front of it ([`Pooler`], as
//! Neon's pooled endpoint), and a `cargo lambda watch` serving every route
//! against it, so that a test can terminate its backends, stop processes
//! and restart the server or the pooler without disturbing any other test.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::pooler::{Pooler, PoolerSettings};
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
    port: u16,
    watch: Child,
}

impl FaultStack {
    /// Starts the server, applies the migrations, and starts the watch
    /// server (one connection per function, a 1.5 s database budget), once
    /// `/health` answers 200. Needs `cargo lambda` on PATH (the test command
    /// puts it there).
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
        let port = crate::free_port();
        let secret = format!("fault-stack-secret-{}", unique_user(label));
        let log = root().join("target").join(format!("e2e-{label}-watch.log"));
        let log = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{log:?}: {e}"));
        let mut command = Command::new("cargo");
        command
            .args([
                "lambda",
                "watch",
                "--invoke-address",
                "127.0.0.1",
                "--ignore-changes",
            ])
            .args(["--invoke-port", &port.to_string()])
            .current_dir(root())
            .env("DATABASE_URL", &url)
            .env("BETTER_AUTH_SECRET", &secret)
            .env("DB_POOL_SIZE", "1")
            .env("DB_TIMEOUT_MS", "1500")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for variable in [
            "DATABASE_URL_SECRET_ARN",
            "BETTER_AUTH_SECRET_ARN",
            "BETTER_AUTH_URL",
            "BETTER_AUTH_JWKS_URL",
            "BETTER_AUTH_JWKS",
            "JWT_ISSUER",
            "JWT_AUDIENCE",
        ] {
            command.env_remove(variable);
        }
        // Its own process group, so that dropping the stack ends the
        // functions it started too.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let watch = command.spawn().expect("cargo lambda watch");
        let stack = FaultStack {
            db,
            pooler,
            base: format!("http://127.0.0.1:{port}"),
            secret,
            port,
            watch,
        };
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let health = ureq::get(&format!("{}/health", stack.base)).call();
            if health.is_ok_and(|r| r.status() == 200) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the fault stack's watch server did not come up"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        stack
    }

    /// The process of `function` (a binary under `functions/`) that this
    /// stack's watch server started, once it has served a request.
    pub fn function_pid(&self, function: &str) -> i32 {
        // The watch server's runtime API, e.g. http://127.0.0.1:<port>/.rt
        let runtime_api = format!("127.0.0.1:{}/", self.port);
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
            .unwrap_or_else(|| panic!("no {function} process of the watch server on {}", self.port))
    }
}

impl Drop for FaultStack {
    fn drop(&mut self) {
        let group = format!("-{}", self.watch.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.watch.wait();
    }
}

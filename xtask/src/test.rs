//! `cargo xtask test` (`make test`): everything CI checks but the
//! deployment, against real PostgreSQL and real functions. It runs the
//! installers for what Rust cannot install (Debian's PgBouncer and Chromium,
//! the pinned Python tools: `scripts/install.sh`; the npm packages) on
//! threads of their own while it checks and builds, then starts the
//! services with the test kit's code (`todo_tests::services`: the same code
//! the tests use to start a server of their own, stopped when this ends,
//! passing or not) and runs the suites on them, the `make dev` one last.
//! `--conformance-only` (`make conformance`) runs only what schemathesis
//! needs.
//!
//! The checks themselves live in the test suites, so a plain `cargo test`
//! runs them too (the slow ones, `#[ignore]`d, with `--ignored`); this
//! runner gives them shared services and runs the ignored suites
//! (schemathesis, end to end through `cargo lambda watch`, the same suites
//! through PgBouncer, the browser, the faults). Every child gets the
//! services' settings through `Command::envs` ([`Run::command`]); this
//! process's own environment is never changed.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use todo_tests::services::{SecretsManager, Services, Watch, npm_ci_once, tools_path};
use todo_tests::{E2eServers, healthy, outage_watch, pg_bin, root, secret_watch};

use crate::arm64;
use crate::command::check;
use crate::install::{Pending, install};
use crate::phases::Phases;

/// How much of it to run.
#[derive(Clone, Copy, PartialEq)]
pub enum Scope {
    /// `make conformance`: schemathesis alone.
    ConformanceOnly,
    /// `make test`.
    Full,
    /// `make test-full`: `make test`, and meanwhile what `make
    /// deploy-check` needs next: its tools, and its arm64 build at the
    /// lowest CPU priority, so that it takes only the CPU the tests leave
    /// idle.
    ThenDeployCheck,
}

/// Every phase; for [`Scope::ThenDeployCheck`], the arm64 build under way.
pub fn all(phases: &mut Phases, scope: Scope) -> Option<Pending<Option<Child>>> {
    let full = scope != Scope::ConformanceOnly;
    let (tools_ready, ready) = mpsc::channel();
    // The Python tools one install after another (pip installs one at a
    // time into the venv): cargo-lambda first, so that deploy-check's
    // arm64 build starts as early as it can (it is the run's longest
    // path), then this run's other tools, then deploy-check's.
    let tools = Pending::start(move || {
        install(&["tools", "cargo-lambda"]);
        let build = (scope == Scope::ThenDeployCheck)
            .then(arm64_build_meanwhile)
            .flatten();
        install(&["tools", "moto_server", "schemathesis"]);
        let _ = tools_ready.send(());
        if scope == Scope::ThenDeployCheck {
            install(&[
                "tools",
                "sam",
                "cfn-lint",
                "check-jsonschema",
                "zizmor",
                "checkov",
            ]);
        }
        build
    });
    let packages = full.then(|| {
        // Debian's one after the other (apt-get holds a lock); npm's.
        let debian = Pending::start(|| {
            install(&["pgbouncer"]);
            install(&["chromium"]);
        });
        let npm = Pending::start(|| {
            npm_ci_once(&root().join("clients/typescript"));
            npm_ci_once(&root().join("tests/browser"));
        });
        (debian, npm)
    });
    if full {
        phases.step("cargo fmt --check and clippy (make check)");
        crate::check::all();
    }

    phases.step(
        "build: the workspace's binaries and tests, once; the Better Auth fixture's packages",
    );
    // Everything later runs what this built (the functions under cargo
    // lambda watch are rebuilt only where their own feature resolution differs).
    check(
        Command::new("cargo").args(["build", "--workspace", "--bins", "--quiet"]),
        "cargo build",
    );
    check(
        Command::new("cargo").args(["test", "--workspace", "--no-run", "--quiet"]),
        "cargo test --no-run",
    );
    npm_ci_once(&root().join("tests/better-auth"));
    if ready.recv().is_err() {
        // The installer failed before the tools were in: its panic says why.
        tools.wait();
        unreachable!("the tools' installer ended without them");
    }
    if let Some((debian, npm)) = packages {
        debian.wait();
        npm.wait();
    }

    services(phases, full);
    full.then_some(tools)
}

/// deploy-check's arm64 build (`arm64::build`), started at the lowest CPU
/// priority, its output in target/arm64-build.log. deploy-check waits for
/// it, then builds again, which finds everything up to date (or shows what
/// failed).
fn arm64_build_meanwhile() -> Option<Child> {
    let log = std::fs::File::create(root().join("target/arm64-build.log")).ok()?;
    arm64::build(&["nice", "-n", "19"])
        .stdout(log.try_clone().ok()?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .ok()
}

fn services(phases: &mut Phases, full: bool) {
    phases
        .step("PostgreSQL (with TLS, for the Neon-style connection test), Better Auth, migrations");
    let mut run = Run::start();
    if full {
        phases.step("a local Secrets Manager (moto)");
        run.secrets_manager = Some(SecretsManager::start(&run.target.join("moto.log"), None));
        phases.step("unit and integration tests");
        suites(&run);
    }

    phases.step("schemathesis: the OpenAPI document against the handlers (local server)");
    it_tests(&run, &["--ignored", "--nocapture", "conformance::"], &[]);
    if !full {
        return;
    }

    phases.step("cargo lambda watch with the router from Cargo.toml");
    let watches = Watches::start(&run);

    phases.step(
        "end-to-end tests over HTTP, the events/ fixtures through cargo lambda invoke, /docs in Chromium",
    );
    it_tests_or_log(
        &run,
        &["--ignored", "e2e::"],
        &watches.e2e_env(&run),
        &watches.watch.log,
    );
    drop(watches);

    phases.step(
        "PgBouncer in transaction mode in front of it (Neon's pooled endpoint): migrate, the concurrency and end-to-end suites through it",
    );
    it_tests(&run, &["--ignored", "--nocapture", "pooled::"], &[]);

    phases.step("the TypeScript client in headless Chromium, from another origin, CORS as the template says");
    it_tests(&run, &["--ignored", "--nocapture", "browser::"], &[]);

    phases.step("end to end under faults, straight and through the pooler: a frozen function, a soak with a model check, a pooler restart");
    // Each on a stack of its own (tests/src/stack.rs), one after the other:
    // the soak's fault windows must not overlap another test's load.
    it_tests(
        &run,
        &["--ignored", "--test-threads=1", "--nocapture", "faults::"],
        &[],
    );

    phases.step("make dev as an ordinary user: starts its own PostgreSQL, serves, stops on Ctrl-C, keeps tasks");
    it_tests(&run, &["--ignored", "--nocapture", "make_dev::"], &[]);
}

/// What the phases share: the services, a Secrets Manager for the full
/// run, and where they write.
struct Run {
    target: PathBuf,
    scratch: PathBuf,
    services: Services,
    secrets_manager: Option<SecretsManager>,
}

impl Run {
    /// Starts the services, and migrates as in AWS: as the owner; the
    /// schema is current, so it applies nothing.
    fn start() -> Run {
        let target = root().join("target");
        let scratch = std::env::temp_dir().join(todo_tests::unique_user("todo-api-test"));
        println!(
            "PostgreSQL: {}",
            todo_tests::postgres_version(&pg_bin()).expect("PostgreSQL's programs")
        );
        let services = Services::start(&scratch);
        let run = Run {
            target,
            scratch,
            services,
            secrets_manager: None,
        };
        check(
            run.command(run.target.join("debug/migrate"))
                .env("MIGRATE_DATABASE_URL", &run.services.owner_url)
                .env("DATABASE_URL", &run.services.api_url),
            "migrate",
        );
        println!(
            "{}",
            redacted(&run.services.api_url, &run.services.api_password)
        );
        run
    }

    /// The settings every child gets: the services' (and the Secrets
    /// Manager's, once it runs).
    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = self.services.env();
        if let Some(secrets_manager) = &self.secrets_manager {
            env.extend_from_slice(&secrets_manager.env);
        }
        env
    }

    /// `program` with [`Run::env`], and without a developer's own settings
    /// that would change what the tests expect: the tests mint tokens
    /// without `iss`/`aud`, and use the test credentials alone.
    fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .envs(self.env())
            .env("PATH", tools_path())
            .env_remove("JWT_ISSUER")
            .env_remove("JWT_AUDIENCE")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN");
        command
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// The whole workspace's tests on the shared services, the throwaway CA as
/// the test process's trust store (as the system store trusts Neon's:
/// tests/tests/it/tls.rs); then the suites whose settings must be in the
/// environment from the start as a plain `cargo test` runs them: none of
/// the services' variables, so the kit starts its own, and each of these
/// tests runs in a process of its own (tests/src/own_process.rs).
fn suites(run: &Run) {
    let ca = run.services.ca.ca().display().to_string();
    cargo_test(run, &["--workspace"], &[("SSL_CERT_FILE", ca)]);
    let mut plain = Command::new("cargo");
    plain
        .args(["test", "--quiet", "-p", "todo-tests", "--test", "it", "--"])
        .args(["tls::", "secrets::"])
        .current_dir(root());
    for (name, _) in run.env() {
        plain.env_remove(name);
    }
    check(
        plain.env_remove("SSL_CERT_FILE"),
        "plain cargo test tls:: secrets::",
    );
}

/// The end-to-end suite's servers: the functions configured as in AWS (only
/// secret ARNs, read from Secrets Manager at cold start; migrate its
/// owner's URL from a secret too), and the JWKS outage test's.
struct Watches {
    watch: Watch,
    xray_port: u16,
    outage: Watch,
}

impl Watches {
    fn start(run: &Run) -> Watches {
        let services = &run.services;
        let secrets_manager = run.secrets_manager.as_ref().expect("a Secrets Manager");
        let (watch, xray_port) = secret_watch(
            &run.target.join("e2e-watch.log"),
            (&services.api_url, &services.owner_url),
            &services.secret,
            &services.better_auth.base,
            &secrets_manager.env,
        );
        let outage = outage_watch(
            &run.target.join("e2e-outage-watch.log"),
            &services.api_url,
            &services.better_auth.base,
        );
        healthy(&watch);
        healthy(&outage);
        Watches {
            watch,
            xray_port,
            outage,
        }
    }

    /// What names them to the suite.
    fn e2e_env(&self, run: &Run) -> Vec<(&'static str, String)> {
        E2eServers::of(
            &self.watch,
            self.xray_port,
            &self.outage,
            &run.services.secret,
        )
        .env()
    }
}

/// `cargo test --quiet ARGS` with the run's settings and `env`; a failure
/// fails the run.
fn cargo_test(run: &Run, args: &[&str], env: &[(&str, String)]) {
    let mut command = run.command("cargo");
    command
        .args(["test", "--quiet"])
        .args(args)
        .envs(env.iter().map(|(n, v)| (n, v)))
        .current_dir(root());
    check(&mut command, &format!("cargo test {}", args.join(" ")));
}

/// The integration tests' binary (`tests/tests/it`) with these test
/// arguments (filters, `--ignored`...).
fn it_tests(run: &Run, args: &[&str], env: &[(&str, String)]) {
    let all: Vec<&str> = ["-p", "todo-tests", "--test", "it", "--"]
        .iter()
        .chain(args)
        .copied()
        .collect();
    cargo_test(run, &all, env);
}

/// [`it_tests`], and the tail of a watch server's log when it fails.
fn it_tests_or_log(run: &Run, args: &[&str], env: &[(&str, String)], log: &Path) {
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| it_tests(run, args, env)));
    if let Err(panic) = outcome {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(60).collect();
        eprintln!("--- {} (tail) ---", log.display());
        for line in tail.iter().rev() {
            eprintln!("{line}");
        }
        std::panic::resume_unwind(panic);
    }
}

/// A URL with its password hidden.
fn redacted(url: &str, password: &str) -> String {
    url.replace(&format!(":{password}@"), ":***@")
}

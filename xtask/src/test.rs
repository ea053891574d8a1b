//! `cargo xtask test`: the phases of `make test` that need services, run
//! by `scripts/test.sh` once it has installed what Rust cannot (Debian's,
//! PyPI's and npm's packages, PostgreSQL's programs) and built the
//! workspace. The services are the test kit's (`todo_tests::services`): the
//! same code the tests use to start a server of their own, stopped when
//! this ends, passing or not. `--conformance-only` (`make conformance`)
//! stops after schemathesis.
//!
//! The checks themselves live in the test suites, so a plain `cargo test`
//! runs them too (the slow ones, `#[ignore]`d, with `--ignored`); this
//! runner gives them shared services, runs the ignored suites (schemathesis,
//! end to end through `cargo lambda watch`, the browser, the faults) and
//! runs the end-to-end and concurrency suites again through PgBouncer.
//! Every child gets the services' settings through `Command::envs`
//! ([`Run::command`]); this process's own environment is never changed.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use todo_tests::pooler::{Pooler, PoolerSettings};
use todo_tests::services::{SecretsManager, Services, Watch};
use todo_tests::{E2eServers, healthy, outage_watch, pg_bin, root, runtime, secret_watch};

pub fn run(args: &[String]) -> ExitCode {
    let full = !args.iter().any(|arg| arg == "--conformance-only");
    let mut phases = Phases::default();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        phases_of_the_run(&mut phases, full)
    }));
    phases.print();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        // The panic has said what failed.
        Err(_) => ExitCode::FAILURE,
    }
}

fn phases_of_the_run(phases: &mut Phases, full: bool) {
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

    phases.step(
        "PgBouncer in transaction mode in front of it (Neon's pooled endpoint); migrate through it",
    );
    pooled_pass(phases, &run, &watches.outage);

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

/// The concurrency and end-to-end suites again through PgBouncer in
/// transaction mode (Neon's pooled endpoint), on a database of their own,
/// migrated through the pooler as a user with only the pooled URLs would,
/// with an API role of its own (migrate refuses one role for two
/// databases: it would reach both databases' rows).
fn pooled_pass(phases: &mut Phases, run: &Run, outage: &Watch) {
    const API_ROLE: &str = "todo_api_pooled";
    let services = &run.services;
    let owner_password = todo_tests::services::random_secret(18);
    let pooler = Pooler::start(
        services.server.port,
        &PoolerSettings {
            pool_size: 8,
            users: vec![
                ("postgres".into(), owner_password.clone()),
                (API_ROLE.into(), services.api_password.clone()),
            ],
        },
    );
    runtime().block_on(async {
        todo_tests::pg_at(&services.owner_url)
            .await
            .batch_execute("CREATE DATABASE pooled")
            .await
            .expect("the pooled pass's database");
    });
    let pooled_admin_url = pooler.url("postgres", &owner_password, "pooled");
    let pooled_url = pooler.url(API_ROLE, &services.api_password, "pooled");
    check(
        run.command(run.target.join("debug/migrate"))
            .env("MIGRATE_DATABASE_URL", &pooled_admin_url)
            .env("DATABASE_URL", &pooled_url),
        "migrate through the pooler",
    );
    passed(&format!(
        "migrate through the pooler: {}",
        redacted(&pooled_url, &services.api_password)
    ));
    // The tests' own assertions read the rows straight from the server.
    let direct = services
        .api_url
        .replace("/postgres?", "/pooled?")
        .replace("//todo_api:", &format!("//{API_ROLE}:"));
    let pooled = [
        ("TEST_DATABASE_URL", pooled_url.clone()),
        ("TEST_ADMIN_DATABASE_URL", pooled_admin_url.clone()),
        ("TEST_DIRECT_DATABASE_URL", direct),
    ];

    phases.step("the concurrency suite in process, through the pooler");
    it_tests(run, &["tasks::concurrent"], &pooled);

    phases.step("end-to-end tests over HTTP, through the pooler");
    let (watch, xray_port) = secret_watch(
        &run.target.join("e2e-pooled-watch.log"),
        (&pooled_url, &pooled_admin_url),
        &services.secret,
        &services.better_auth.base,
        &run.secrets_manager.as_ref().expect("a Secrets Manager").env,
    );
    healthy(&watch);
    // All but the JWKS outage test (its fixture's outage is single-use, and
    // it is about the JWKS), the 4,800 large responses (about the watch
    // server, not the database; 15 s) and the /docs page.
    let mut env = E2eServers::of(&watch, xray_port, outage, &services.secret).env();
    env.push(pooled[0].clone());
    env.push(pooled[2].clone());
    it_tests_or_log(
        run,
        &[
            "--ignored",
            "e2e::",
            "--skip",
            "e2e::jwks_outage",
            "--skip",
            "e2e::large_responses",
            "--skip",
            "e2e::the_docs_page",
        ],
        &env,
        &watch.log,
    );
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

/// Runs `command` to its end, its output passed through; fails the run
/// unless it succeeds.
fn check(command: &mut Command, what: &str) {
    let status = command.status().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(status.success(), "{what} failed ({status})");
}

/// A URL with its password hidden.
fn redacted(url: &str, password: &str) -> String {
    url.replace(&format!(":{password}@"), ":***@")
}

/// One check of the runner's own passed, printed as the browser tests print
/// theirs, which .ci/run counts (scripts/ci_summary.py).
fn passed(what: &str) {
    println!("ok   {what}");
}

/// Each phase's name and duration, printed at the end as the scripts print
/// theirs (scripts/ci_summary.py reads the table).
#[derive(Default)]
struct Phases {
    done: Vec<(String, Duration)>,
    current: Option<(String, Instant)>,
    started: Option<Instant>,
}

impl Phases {
    fn step(&mut self, name: &str) {
        self.end_current();
        self.started.get_or_insert_with(Instant::now);
        println!("\n==> {name}");
        self.current = Some((name.to_owned(), Instant::now()));
    }

    fn end_current(&mut self) {
        if let Some((name, started)) = self.current.take() {
            self.done.push((name, started.elapsed()));
        }
    }

    fn print(&mut self) {
        self.end_current();
        println!("\nPhases of xtask test (seconds):");
        for (name, took) in &self.done {
            println!("{:6}  {name}", took.as_secs());
        }
        let total = self
            .started
            .map_or(0, |started| started.elapsed().as_secs());
        println!("{total:6}  total");
    }
}

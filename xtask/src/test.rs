//! `cargo xtask test`: the phases of `make test` that need services, run
//! by `scripts/test.sh` once it has installed what Rust cannot (Debian's,
//! PyPI's and npm's packages, PostgreSQL's programs) and built the
//! workspace. The services are the test kit's (`todo_tests::services`): the
//! same code the tests use to start a server of their own, stopped when
//! this ends, passing or not. `--conformance-only` (`make conformance`)
//! stops after schemathesis.
//!
//! Packages `scripts/test.sh` installs in the background are waited for
//! where a phase needs them: each writes `target/install/<name>.status`
//! (its exit status) when done, and its output to `<name>.log`.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use todo_shared::config::AuthConfig;
use todo_tests::pooler::{Pooler, PoolerSettings};
use todo_tests::services::{Background, SecretsManager, Services, Watch, wait_until_answers};
use todo_tests::{
    E2eServers, free_port, healthy, local_token, outage_watch, pg_bin, root, runtime, secret_watch,
};

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
    let target = root().join("target");
    let scratch = std::env::temp_dir().join(todo_tests::unique_user("todo-api-test"));

    phases
        .step("PostgreSQL (with TLS, for the Neon-style connection test), Better Auth, migrations");
    println!(
        "PostgreSQL: {}",
        output(Command::new(pg_bin().join("postgres")).arg("--version")).trim()
    );
    let services = Services::start(&scratch);
    // SAFETY: the runner has one thread (its runtimes are current-thread
    // ones, ended before this): nothing reads the environment meanwhile.
    // The tests and the servers below inherit it.
    for (name, value) in services.env() {
        unsafe { std::env::set_var(name, value) };
    }
    // The tests mint tokens without iss/aud: a developer's own settings must not apply.
    unsafe {
        std::env::remove_var("JWT_ISSUER");
        std::env::remove_var("JWT_AUDIENCE");
    }
    // As in AWS: migrate as the owner; the schema is current, so it applies nothing.
    let migrate = target.join("debug/migrate");
    check(
        Command::new(&migrate)
            .env("MIGRATE_DATABASE_URL", &services.owner_url)
            .env("DATABASE_URL", &services.api_url),
        "migrate",
    );
    println!("{}", redacted(&services.api_url, &services.api_password));
    let better_auth = services.better_auth.base.clone();
    let mint = |user: &str| {
        let config = AuthConfig::from_lookup(|name| match name {
            "BETTER_AUTH_SECRET" => Some(services.secret.clone()),
            "BETTER_AUTH_URL" => Some(better_auth.clone()),
            _ => None,
        })
        .expect("auth config");
        local_token(&config, user, 3600).expect("a token")
    };

    let mut moto = None;
    if full {
        phases.step("a local Secrets Manager (moto)");
        installed("tools");
        let secrets = SecretsManager::start(&target.join("moto.log"), None);
        for (name, value) in &secrets.env {
            unsafe { std::env::set_var(name, value) };
        }
        unsafe {
            std::env::remove_var("AWS_PROFILE");
            std::env::remove_var("AWS_SESSION_TOKEN");
        }
        moto = Some(secrets);

        phases.step("unit and integration tests");
        installed("debian"); // PgBouncer, for the tests through a pooler
        // The throwaway CA is the test process's trust store, as the system
        // store trusts Neon's (tests/tests/it/tls.rs).
        cargo_test(
            &["--workspace"],
            &[("SSL_CERT_FILE", services.ca.ca().display().to_string())],
        );
        // The same suites as a plain `cargo test` runs them: none of the
        // variables above, so the kit starts its own services, and each of
        // these tests runs in a process of its own with the settings it
        // must have from the start (tests/src/own_process.rs).
        let mut plain = Command::new("cargo");
        plain
            .args(["test", "--quiet", "-p", "todo-tests", "--test", "it", "--"])
            .args(["tls::", "secrets::"])
            .current_dir(root());
        let moto_env = moto.iter().flat_map(|moto| &moto.env);
        for (name, _) in services.env().iter().chain(moto_env) {
            plain.env_remove(name);
        }
        check(
            plain.env_remove("SSL_CERT_FILE"),
            "plain cargo test tls:: secrets::",
        );

        phases.step(
            "the TypeScript client: generated from clients/openapi.json, current, type-checks",
        );
        check(
            Command::new(target.join("debug/xtask")).args(["openapi", "--check"]),
            "openapi",
        );
        installed("client");
        let client = root().join("clients/typescript");
        let schema = target.join("schema.d.ts");
        check(
            Command::new(client.join("node_modules/.bin/openapi-typescript"))
                .arg(root().join("clients/openapi.json"))
                .arg("--output")
                .arg(&schema)
                .current_dir(&client),
            "openapi-typescript",
        );
        assert!(
            std::fs::read(&schema).ok() == std::fs::read(client.join("src/schema.d.ts")).ok(),
            "clients/typescript/src/schema.d.ts is stale: run make openapi and commit it"
        );
        check(
            npm(&client).args(["run", "--silent", "check"]),
            "the client's type check",
        );
        passed("the client is current, and it and its Next.js example type-check");
    }

    phases.step("schemathesis: the OpenAPI document against the handlers (local server)");
    installed("tools");
    conformance(&target, &services, &mint);
    if !full {
        return;
    }

    phases.step("cargo lambda watch with the router from Cargo.toml");
    // The functions get both secrets as in AWS: only ARNs, read from Secrets
    // Manager (moto) at cold start; migrate its owner's URL from a secret too.
    let (watch, xray_port) = secret_watch(
        &target.join("e2e-watch.log"),
        (&services.api_url, &services.owner_url),
        &services.secret,
        &better_auth,
    );
    let outage = outage_watch(
        &target.join("e2e-outage-watch.log"),
        &services.api_url,
        &better_auth,
    );
    healthy(&watch);
    healthy(&outage);

    phases.step("the events/ fixtures, and migrate as a Lambda, through cargo lambda invoke");
    for (fixture, function) in [("health", "health"), ("tasks-list", "tasks-collection")] {
        let event = std::fs::read_to_string(root().join(format!("events/{fixture}.json")))
            .unwrap()
            .replace("REPLACE_WITH_TOKEN", &mint("invoke-user"));
        let file = target.join(format!("{fixture}.event.json"));
        std::fs::write(&file, event).unwrap();
        let said = output(invoke(function, watch.port).arg("--data-file").arg(&file));
        assert!(
            compact(&said).contains(r#""statusCode":200"#),
            "expected a 200 from {function}: {said}"
        );
        passed(&format!(
            "cargo lambda invoke {function}, events/{fixture}.json: 200"
        ));
    }
    let said = output(invoke("migrate", watch.port).args(["--data-ascii", "{}"]));
    assert!(
        compact(&said).contains(r#""applied":[]"#),
        "expected migrate to apply nothing: {said}"
    );
    passed("cargo lambda invoke migrate: nothing to apply");

    phases.step("end-to-end tests over HTTP");
    let e2e = E2eServers::of(&watch, xray_port, &outage, &services.secret).env();
    it_tests_or_log(&["--ignored", "e2e::"], &e2e, &watch.log);

    phases.step(
        "PgBouncer in transaction mode in front of it (Neon's pooled endpoint); migrate through it",
    );
    pooled_pass(phases, &target, &services, &outage);

    phases.step("the /docs page in headless Chromium, through cargo lambda watch, no other origin");
    installed("chromium");
    installed("browser");
    check(
        Command::new("node")
            .arg(root().join("tests/browser/docs.mjs"))
            .arg(watch.base())
            .arg(mint("docs-browser")),
        "the /docs browser test",
    );

    phases.step("the TypeScript client in headless Chromium, from another origin, CORS as the template says");
    browser_client(&target, &services);

    phases.step("end to end under faults, straight and through the pooler: a frozen function, a soak with a model check, a pooler restart");
    // Each on a stack of its own (tests/src/stack.rs), one after the other:
    // the soak's fault windows must not overlap another test's load.
    it_tests(
        &["--ignored", "--test-threads=1", "--nocapture", "faults::"],
        &[],
    );
    drop((watch, outage, moto, services));
    let _ = std::fs::remove_dir_all(&scratch);
}

/// schemathesis against the handlers behind the local server: every check
/// and phase, 100 examples per operation, a fixed seed; once with a valid
/// token (where a run of 401s fails it: tests/schemathesis.toml) and once
/// with an invalid one, the two at once (one per core).
fn conformance(target: &Path, services: &Services, mint: &dyn Fn(&str) -> String) {
    let dir = target.join("schemathesis");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (api, base) = local_api(target, services, &dir.join("local-api.log"), None);
    // The token first, on its own: a token that does not work would turn
    // the valid-token pass into a run of 401s.
    let token = mint(&todo_tests::unique_user("conformance"));
    let status = ureq::get(&format!("{base}/api/tasks"))
        .header("Authorization", &format!("Bearer {token}"))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .map(|reply| reply.status().as_u16());
    assert_eq!(
        status.ok(),
        Some(200),
        "the conformance token must be accepted"
    );
    let pass = |label: &str, token: &str, config: &[&str]| {
        let log = dir.join(format!("{label}.log"));
        let mut command = Command::new("schemathesis");
        command
            .args(config)
            .arg("run")
            .arg(format!("{base}/openapi.json"))
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args([
                "--checks",
                "all",
                "--max-examples",
                "100",
                "--seed",
                "20261126",
            ])
            .args(["--report", "json", "--report-json-path"])
            .arg(dir.join(format!("{label}.json")))
            .current_dir(root());
        (
            label.to_owned(),
            log.clone(),
            Background::spawn("schemathesis", command, &log, false),
        )
    };
    let config = root().join("tests/schemathesis.toml").display().to_string();
    let runs = [
        pass("valid", &token, &["--config-file", &config]),
        pass("invalid", "not-a-jwt", &[]),
    ];
    let mut failed = Vec::new();
    for (label, log, mut run) in runs {
        let status = run.wait();
        println!(
            "\n--- schemathesis, {label} token ---\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        if !status {
            failed.push(label);
        }
    }
    assert!(
        failed.is_empty(),
        "schemathesis failed with the {failed:?} token"
    );
    drop(api);
}

/// `cargo xtask local-api` on a free port, with the functions' settings
/// for the services (and `cors_origins` as `LOCAL_API_CORS_ORIGINS`).
fn local_api(
    target: &Path,
    services: &Services,
    log: &Path,
    cors_origins: Option<&str>,
) -> (Background, String) {
    let port = free_port();
    let mut command = Command::new(target.join("debug/xtask"));
    command
        .args(["local-api", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &services.api_url)
        .env("DB_POOL_SIZE", "4")
        .env("BETTER_AUTH_URL", &services.better_auth.base);
    if let Some(origins) = cors_origins {
        command.env("LOCAL_API_CORS_ORIGINS", origins);
    }
    let api = Background::spawn("the local API", command, log, false);
    let base = format!("http://127.0.0.1:{port}");
    assert!(
        wait_until_answers(&format!("{base}/health"), Duration::from_secs(60)),
        "the local API did not answer: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    (api, base)
}

/// The concurrency and end-to-end suites again through PgBouncer in
/// transaction mode (Neon's pooled endpoint), on a database of their own,
/// migrated through the pooler as a user with only the pooled URLs would,
/// with an API role of its own (migrate refuses one role for two
/// databases: it would reach both databases' rows).
fn pooled_pass(phases: &mut Phases, target: &Path, services: &Services, outage: &Watch) {
    const API_ROLE: &str = "todo_api_pooled";
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
        Command::new(target.join("debug/migrate"))
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
    it_tests(&["tasks::concurrent"], &pooled);

    phases.step("end-to-end tests over HTTP, through the pooler");
    let (watch, xray_port) = secret_watch(
        &target.join("e2e-pooled-watch.log"),
        (&pooled_url, &pooled_admin_url),
        &services.secret,
        &services.better_auth.base,
    );
    healthy(&watch);
    // All but the JWKS outage test (its fixture's outage is single-use, and
    // it is about the JWKS) and the 4,800 large responses (about the watch
    // server, not the database; 15 s).
    let mut env = E2eServers::of(&watch, xray_port, outage, &services.secret).env();
    env.push(pooled[0].clone());
    env.push(pooled[2].clone());
    it_tests_or_log(
        &[
            "--ignored",
            "e2e::",
            "--skip",
            "e2e::jwks_outage",
            "--skip",
            "e2e::large_responses",
        ],
        &env,
        &watch.log,
    );
}

/// The TypeScript client, compiled to JavaScript, in a page of another
/// origin: the API on http://localhost:<port> answers CORS as API Gateway
/// would with the template's CorsConfiguration and FrontendUrl = the page's
/// origin (cargo lambda watch would allow anything).
fn browser_client(target: &Path, services: &Services) {
    let client_js = target.join("browser-client");
    let _ = std::fs::remove_dir_all(&client_js);
    let client = root().join("clients/typescript");
    check(
        Command::new(client.join("node_modules/.bin/tsc"))
            .arg(client.join("src/index.ts"))
            .arg("--outDir")
            .arg(&client_js)
            .args([
                "--module",
                "esnext",
                "--target",
                "es2022",
                "--moduleResolution",
                "bundler",
                "--skipLibCheck",
            ]),
        "tsc",
    );
    let page_port = free_port();
    let origin = format!("http://127.0.0.1:{page_port}");
    let (api, base) = local_api(
        target,
        services,
        &target.join("cors-local-api.log"),
        Some(&origin),
    );
    check(
        Command::new("node")
            .arg(root().join("tests/browser/client.mjs"))
            .arg(base.replace("127.0.0.1", "localhost"))
            .arg(&client_js)
            .env("PAGE_PORT", page_port.to_string())
            .env("PSQL", pg_bin().join("psql")),
        "the client's browser test",
    );
    drop(api);
}

/// Waits for a package `scripts/test.sh` installs in the background.
fn installed(name: &str) {
    let dir = root().join("target/install");
    let status = dir.join(format!("{name}.status"));
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        if let Ok(code) = std::fs::read_to_string(&status) {
            let log = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
            assert_eq!(code.trim(), "0", "installing {name} failed:\n{log}");
            return;
        }
        assert!(Instant::now() < deadline, "installing {name} did not end");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn invoke(function: &str, port: u16) -> Command {
    let mut command = Command::new("cargo");
    command
        .args([
            "lambda",
            "invoke",
            function,
            "--invoke-address",
            "127.0.0.1",
        ])
        .args(["--invoke-port", &port.to_string()])
        .current_dir(root());
    command
}

fn npm(dir: &Path) -> Command {
    let mut command = Command::new("npm");
    command.arg("--prefix").arg(dir);
    command
}

/// `cargo test --quiet ARGS` with `env`; a failure fails the run.
fn cargo_test(args: &[&str], env: &[(&str, String)]) {
    let mut command = Command::new("cargo");
    command
        .args(["test", "--quiet"])
        .args(args)
        .envs(env.iter().map(|(n, v)| (n, v)))
        .current_dir(root());
    check(&mut command, &format!("cargo test {}", args.join(" ")));
}

/// The integration tests' binary (`tests/tests/it`) with these test
/// arguments (filters, `--ignored`...).
fn it_tests(args: &[&str], env: &[(&str, String)]) {
    let all: Vec<&str> = ["-p", "todo-tests", "--test", "it", "--"]
        .iter()
        .chain(args)
        .copied()
        .collect();
    cargo_test(&all, env);
}

/// [`it_tests`], and the tail of a watch server's log when it fails.
fn it_tests_or_log(args: &[&str], env: &[(&str, String)], log: &Path) {
    let outcome = std::panic::catch_unwind(|| it_tests(args, env));
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

/// Runs `command` to its end; its standard output (a failure fails the run).
fn output(command: &mut Command) -> String {
    let ran = command.output().expect("a command");
    assert!(
        ran.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&ran.stderr)
    );
    String::from_utf8_lossy(&ran.stdout).into_owned()
}

/// `text` without whitespace, to find JSON fragments however printed.
fn compact(text: &str) -> String {
    text.split_whitespace().collect()
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

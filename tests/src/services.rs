//! The services a test run starts besides PostgreSQL: the Better Auth
//! fixture (`tests/better-auth`), a local Secrets Manager (moto), and
//! `cargo lambda watch`. Each runs as a [`Background`] process, stopped when
//! dropped, so a failing run leaves nothing behind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::certs::TestCa;
use crate::root;

/// A process started for a test run, stopped when dropped (with every
/// process it started, when it leads a process group of its own).
pub struct Background {
    child: Child,
    group: bool,
    what: String,
}

impl Background {
    /// Starts `command` with its output in `log`. `group`: in a process
    /// group of its own (the watch server starts the functions as its
    /// children).
    pub fn spawn(what: &str, mut command: Command, log: &Path, group: bool) -> Self {
        let file = std::fs::File::create(log).unwrap_or_else(|e| panic!("{log:?}: {e}"));
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        if group {
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{what} did not start: {e}"));
        Background {
            child,
            group,
            what: what.to_owned(),
        }
    }

    /// Waits for it to end; whether it succeeded.
    pub fn wait(&mut self) -> bool {
        self.child.wait().is_ok_and(|status| status.success())
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let target = if self.group {
            format!("-{}", self.child.id())
        } else {
            self.child.id().to_string()
        };
        let _ = Command::new("kill").args(["-TERM", "--", &target]).status();
        if self.child.wait().is_err() {
            eprintln!("{} could not be waited for", self.what);
        }
    }
}

/// Waits until `url` answers at all (any status), for at most `limit`.
pub fn wait_until_answers(url: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into();
    while Instant::now() < deadline {
        if agent.get(url).call().is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

/// A random secret of `bytes` bytes, in hex (from the kernel's generator).
pub fn random_secret(bytes: usize) -> String {
    use std::io::Read;
    let mut buffer = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut buffer))
        .expect("/dev/urandom");
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

/// The real Better Auth of `tests/better-auth` (its packages installed by
/// the test command), also over HTTPS with `tls`'s certificate.
pub struct BetterAuthFixture {
    pub process: Background,
    /// The fixture file it wrote (tokens, keys): `BETTER_AUTH_FIXTURE`.
    pub file: PathBuf,
    /// Its base URL: `BETTER_AUTH_URL`, and its tokens' `iss` and `aud`.
    pub base: String,
}

impl BetterAuthFixture {
    pub fn start(file: &Path, tls: Option<&TestCa>) -> Self {
        let _ = std::fs::remove_file(file);
        let mut command = Command::new("node");
        command
            .arg(root().join("tests/better-auth/issuer.mjs"))
            .arg(file);
        if let Some(ca) = tls {
            command.arg(ca.cert()).arg(ca.key());
        }
        let log = file.with_extension("log");
        let mut process = Background::spawn("the Better Auth fixture", command, &log, false);
        let deadline = Instant::now() + Duration::from_secs(60);
        let fixture = loop {
            if let Ok(text) = std::fs::read_to_string(file)
                && let Ok(fixture) = serde_json::from_str::<serde_json::Value>(&text)
            {
                break fixture;
            }
            let log = || std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                !process.exited(),
                "the Better Auth fixture died:\n{}",
                log()
            );
            assert!(
                Instant::now() < deadline,
                "the Better Auth fixture did not start:\n{}",
                log()
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        BetterAuthFixture {
            process,
            file: file.to_owned(),
            base: fixture["base"].as_str().expect("base").to_owned(),
        }
    }
}

/// The project's virtualenv's commands, where `scripts/install.sh` puts
/// the Python tools.
pub fn venv_bin() -> PathBuf {
    root().join(".local/venv/bin")
}

/// `PATH` with the project's virtualenv first, where `make test` installs
/// moto and cargo-lambda (`scripts/install.sh`): a plain `cargo test` finds
/// them as the test command does.
pub fn tools_path() -> std::ffi::OsString {
    let venv = venv_bin();
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(venv).chain(std::env::split_paths(&path))).expect("PATH")
}

/// `npm ci` in `dir` (a folder with a `package-lock.json`), unless that
/// lockfile is the one last installed there: the stamp
/// `node_modules/.installed-lock` that `make test`'s installer writes too.
pub fn npm_ci_once(dir: &Path) {
    let lock = std::fs::read(dir.join("package-lock.json")).expect("a package-lock.json");
    let stamp = dir.join("node_modules/.installed-lock");
    if std::fs::read(&stamp).is_ok_and(|installed| installed == lock) {
        return;
    }
    let status = Command::new("npm")
        .arg("ci")
        .arg("--prefix")
        .arg(dir)
        .args(["--no-audit", "--no-fund", "--loglevel=error"])
        .status()
        .expect("npm (Node 20 or newer)");
    assert!(status.success(), "npm ci in {} failed", dir.display());
    std::fs::write(stamp, lock).unwrap();
}

/// A local Secrets Manager (moto's server, on `PATH` from the project's
/// virtualenv), over TLS with `tls`'s certificate when given.
pub struct SecretsManager {
    pub process: Background,
    /// What points AWS's SDK at it, with test credentials.
    pub env: Vec<(&'static str, String)>,
}

impl SecretsManager {
    pub fn start(log: &Path, tls: Option<&TestCa>) -> Self {
        let port = crate::free_port();
        let mut command = Command::new("moto_server");
        command.env("PATH", tools_path());
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        let url = match tls {
            Some(ca) => {
                command.arg("-c").arg(ca.cert()).arg("-k").arg(ca.key());
                format!("https://localhost:{port}")
            }
            None => format!("http://127.0.0.1:{port}"),
        };
        let process = Background::spawn("moto_server", command, log, false);
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let said = || std::fs::read_to_string(log).unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen: {}",
                said()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let env = vec![
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", url),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ];
        SecretsManager { process, env }
    }
}

/// The variables of a developer's or an earlier setup that would change how
/// a watch server's functions verify tokens or find their database: each
/// watch server gets exactly the ones it is given.
pub const FUNCTION_SETTINGS: [&str; 10] = [
    "DATABASE_URL",
    "DATABASE_URL_SECRET_ARN",
    "BETTER_AUTH_SECRET",
    "BETTER_AUTH_SECRET_ARN",
    "BETTER_AUTH_URL",
    "BETTER_AUTH_JWKS_URL",
    "BETTER_AUTH_JWKS",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "MIGRATE_DATABASE_URL_SECRET_ARN",
];

/// `cargo lambda watch` with the router from `Cargo.toml`, serving every
/// route on one port, its functions configured by `env` only (and
/// `function_env`, passed with `--env-var`: the functions' own, not the
/// emulator's); its log in `log`.
pub struct Watch {
    pub process: Background,
    pub port: u16,
    pub log: PathBuf,
}

impl Watch {
    pub fn start(log: &Path, env: &[(&str, String)], function_env: &[(&str, String)]) -> Self {
        let port = crate::free_port();
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
            .env("PATH", tools_path())
            .current_dir(root());
        for (name, value) in function_env {
            command.args(["--env-var", &format!("{name}={value}")]);
        }
        for name in FUNCTION_SETTINGS {
            command.env_remove(name);
        }
        command.envs(env.iter().map(|(name, value)| (name, value)));
        let process = Background::spawn("cargo lambda watch", command, log, true);
        Watch {
            process,
            port,
            log: log.to_owned(),
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until its `/health` answers 200 (the first request builds and
    /// starts the functions), for at most `limit`; its log when it does not.
    pub fn healthy(&self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        let health = format!("{}/health", self.base());
        while Instant::now() < deadline {
            if ureq::get(&health).call().is_ok_and(|r| r.status() == 200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Err(std::fs::read_to_string(&self.log).unwrap_or_default())
    }
}

/// Every service the tests share: a PostgreSQL server with TLS (its own
/// test CA) and the logins Neon has (`tls_user`, SCRAM over TLS only; the
/// API's `todo_api`, made by the migrations, with a password), migrated;
/// and the Better Auth fixture over HTTP and HTTPS. Stopped when dropped.
pub struct Services {
    pub ca: TestCa,
    pub server: crate::ScratchServer,
    pub better_auth: BetterAuthFixture,
    /// The owner's URL (migrations, scratch databases).
    pub owner_url: String,
    /// The API's role's URL: what the functions under test connect with.
    pub api_url: String,
    /// The password of the API's role, for logins through a pooler.
    pub api_password: String,
    /// `tls_user`'s: `sslmode=require` and channel binding, as Neon's.
    pub tls_url: String,
    /// The HS256 secret the functions and the tests share.
    pub secret: String,
}

/// `tls_user`'s password (a throwaway server's test login).
const TLS_PASSWORD: &str = "tls-test-password";

/// The test run's server settings: its data need not survive a crash.
pub const TEST_SETTINGS: [&str; 4] = [
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=200",
];

impl Services {
    /// Starts them with [`TEST_SETTINGS`]; `scratch` holds the
    /// certificates and the fixture file.
    pub fn start(scratch: &Path) -> Self {
        Self::start_with(scratch, &TEST_SETTINGS)
    }

    /// With these server settings (TLS's are added).
    pub fn start_with(scratch: &Path, settings: &[&str]) -> Self {
        std::fs::create_dir_all(scratch).unwrap();
        let ca = TestCa::make(&scratch.join("tls"));
        crate::give_to_postgres(&ca.dir);
        let mut settings: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
        settings.push("ssl=on".into());
        settings.push(format!("ssl_cert_file={}", ca.cert().display()));
        settings.push(format!("ssl_key_file={}", ca.key().display()));
        let server = crate::ScratchServer::start_set_up(&crate::ServerSetup {
            settings,
            hba: &[
                "hostssl all tls_user 127.0.0.1/32 scram-sha-256",
                "hostnossl all tls_user all reject",
                "host all todo_api 127.0.0.1/32 scram-sha-256",
            ],
        });
        let port = server.port;
        let owner_url = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable");
        let api_password = random_secret(18);
        let api_url =
            format!("postgres://todo_api:{api_password}@127.0.0.1:{port}/postgres?sslmode=disable");
        crate::runtime().block_on(async {
            crate::pg_at(&owner_url)
                .await
                .batch_execute(&format!(
                    "CREATE ROLE tls_user LOGIN PASSWORD '{TLS_PASSWORD}'"
                ))
                .await
                .expect("tls_user");
            crate::migrate(&owner_url, &api_url).await;
            // migrate lets only the API's group connect (and the owner).
            crate::pg_at(&owner_url)
                .await
                .batch_execute("GRANT CONNECT ON DATABASE postgres TO tls_user")
                .await
                .expect("tls_user may connect");
        });
        let tls_url = format!(
            "postgresql://tls_user:{TLS_PASSWORD}@localhost:{port}/postgres\
             ?sslmode=require&channel_binding=require"
        );
        let better_auth =
            BetterAuthFixture::start(&scratch.join("better-auth-fixture.json"), Some(&ca));
        Services {
            ca,
            server,
            better_auth,
            owner_url,
            api_url,
            api_password,
            tls_url,
            secret: random_secret(27),
        }
    }

    /// What the tests read to find them (`crate::database_url` and the
    /// rest), and the secret the functions verify tokens with.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TEST_DATABASE_URL", self.api_url.clone()),
            ("TEST_ADMIN_DATABASE_URL", self.owner_url.clone()),
            ("TEST_TLS_DATABASE_URL", self.tls_url.clone()),
            ("TEST_TLS_CA_FILE", self.ca.ca().display().to_string()),
            (
                "BETTER_AUTH_FIXTURE",
                self.better_auth.file.display().to_string(),
            ),
            ("BETTER_AUTH_SECRET", self.secret.clone()),
        ]
    }
}

/// The services of a test process that the test command did not give any
/// (a plain `cargo test`): started once, on first use, on a thread of their
/// own (the tests run inside a runtime), and stopped when the process ends
/// by a watchdog that waits for the process's end of a pipe to close.
pub fn shared() -> &'static Services {
    static SHARED: std::sync::OnceLock<Services> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| {
        let scratch = std::env::temp_dir().join(crate::unique_user("todo-tests-services"));
        let dir = scratch.clone();
        let services = std::thread::spawn(move || Services::start(&dir))
            .join()
            .unwrap_or_else(|_| panic!("the test services did not start (see above)"));
        // The server has a watchdog of its own (`ScratchServer::start_set_up`).
        stop_when_this_process_ends(&format!(
            "kill {}; rm -rf '{}'",
            services.better_auth.process.id(),
            scratch.display()
        ));
        services
    })
}

/// A Secrets Manager of this test process's own, for a plain `cargo test`
/// (the test command starts one for all): started once, on first use, and
/// stopped when the process ends, as [`shared`]'s services are.
pub fn shared_secrets_manager() -> &'static SecretsManager {
    static SHARED: std::sync::OnceLock<SecretsManager> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| {
        let log = std::env::temp_dir().join(crate::unique_user("todo-tests-moto") + ".log");
        let secrets = SecretsManager::start(&log, None);
        stop_when_this_process_ends(&format!(
            "kill {}; rm -f '{}'",
            secrets.process.id(),
            log.display()
        ));
        secrets
    })
}

/// What a child test process needs to find this process's services: the
/// test command's are in the environment it inherits; the kit's own
/// ([`shared`]) are named to it, so it does not start its own.
pub fn env_for_a_child() -> Vec<(&'static str, String)> {
    if std::env::var_os("TEST_DATABASE_URL").is_some() {
        Vec::new()
    } else {
        shared().env()
    }
}

/// Runs `script` once this process has ended, however it ends: a watchdog
/// waits for this process's end of a pipe to close. Not in this process's
/// group: a Ctrl-C must not stop it before it cleans up.
pub fn stop_when_this_process_ends(script: &str) {
    let mut command = watchdog(&format!("cat >/dev/null; {script}"));
    command.stdout(Stdio::null()).stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    keep_until_this_process_ends(command);
}

/// [`stop_when_this_process_ends`], the watchdog in this process's group,
/// ignoring the Ctrl-C that ends the rest of it: whoever waits for the
/// group (a terminal, make) waits for `script` to finish too.
pub fn stop_when_this_group_ends(script: &str) {
    // Ignoring them from the start: a Ctrl-C may come while it waits.
    keep_until_this_process_ends(watchdog(&format!(
        "trap '' INT TERM HUP; cat >/dev/null; {script}"
    )));
}

/// `sh` running `script`, which waits for its standard input to close.
fn watchdog(script: &str) -> Command {
    let mut command = Command::new("sh");
    command.args(["-c", script]).stdin(Stdio::piped());
    command
}

fn keep_until_this_process_ends(mut command: Command) {
    let mut watchdog = command.spawn().expect("a watchdog");
    // Kept open for the life of the process: the watchdog reads until it closes.
    std::mem::forget(watchdog.stdin.take());
    std::mem::forget(watchdog);
}

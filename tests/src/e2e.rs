//! The end-to-end suite's servers: `cargo lambda watch` configured as in
//! AWS, and a second one for the JWKS outage test. `cargo xtask test` starts
//! them and names them to the suite (`E2E_*`); a plain `cargo test --
//! --ignored e2e::` gets them from [`e2e_servers`], which runs the suite in a
//! child process that starts its own.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::services::{self, Watch};
use crate::{BetterAuth, admin_database_url, create_secret_in, database_url, free_port, runtime};

/// Where the suite finds its servers.
#[derive(Clone, Debug)]
pub struct E2eServers {
    /// The API, configured as in AWS ([`secret_watch`]).
    pub base: String,
    /// Its log (JSON, at `trace`).
    pub log: PathBuf,
    /// Where its functions send X-Ray subsegments.
    pub xray_port: u16,
    /// The JWKS outage test's API ([`outage_watch`]).
    pub outage_base: String,
    pub outage_log: PathBuf,
    /// The HS256 secret both servers' functions verify tokens with.
    pub secret: String,
}

impl E2eServers {
    pub fn of(watch: &Watch, xray_port: u16, outage: &Watch, secret: &str) -> Self {
        E2eServers {
            base: watch.base(),
            log: watch.log.clone(),
            xray_port,
            outage_base: outage.base(),
            outage_log: outage.log.clone(),
            secret: secret.to_owned(),
        }
    }

    /// The variables that name them to a test process.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("E2E_BASE_URL", self.base.clone()),
            ("E2E_WATCH_LOG", self.log.display().to_string()),
            ("E2E_XRAY_DAEMON_PORT", self.xray_port.to_string()),
            ("E2E_JWKS_OUTAGE_URL", self.outage_base.clone()),
            (
                "E2E_OUTAGE_WATCH_LOG",
                self.outage_log.display().to_string(),
            ),
            ("BETTER_AUTH_SECRET", self.secret.clone()),
        ]
    }

    fn from_env() -> Option<Self> {
        let var = |name| std::env::var(name).ok();
        Some(E2eServers {
            base: var("E2E_BASE_URL")?,
            log: var("E2E_WATCH_LOG")?.into(),
            xray_port: var("E2E_XRAY_DAEMON_PORT")?.parse().ok()?,
            outage_base: var("E2E_JWKS_OUTAGE_URL")?,
            outage_log: var("E2E_OUTAGE_WATCH_LOG")?.into(),
            secret: var("BETTER_AUTH_SECRET")?,
        })
    }
}

/// The servers for the end-to-end test `e2e::<test>`: the test command's,
/// named by `E2E_*`. Else, in a process whose environment has a Secrets
/// Manager, servers of this process's own, started once. Else `None`, once
/// the whole suite has run in a child of this test binary with a Secrets
/// Manager of this process's own ([`services::shared_secrets_manager`]), and
/// `test` has passed there.
pub fn e2e_servers(test: &str) -> Option<E2eServers> {
    if let Some(servers) = E2eServers::from_env() {
        return Some(servers);
    }
    if std::env::var_os("AWS_ENDPOINT_URL_SECRETS_MANAGER").is_some() {
        return Some(own_servers().clone());
    }
    static SUITE: OnceLock<String> = OnceLock::new();
    let said = SUITE.get_or_init(|| {
        let mut env = services::env_for_a_child();
        env.extend_from_slice(&services::shared_secrets_manager().env);
        crate::run_tests_in_own_process(&["--ignored", "e2e::"], &env)
    });
    assert!(
        said.contains(&format!("test e2e::{test} ... ok")),
        "e2e::{test}, in the suite's own process, did not pass:\n{said}"
    );
    None
}

/// Servers of this process's own, on the kit's database and fixture,
/// stopped when the process ends.
fn own_servers() -> &'static E2eServers {
    static OWN: OnceLock<E2eServers> = OnceLock::new();
    OWN.get_or_init(|| {
        let dir = std::env::temp_dir().join(crate::unique_user("todo-tests-e2e"));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = std::env::var("BETTER_AUTH_SECRET")
            .unwrap_or_else(|_| services::shared().secret.clone());
        let better_auth = BetterAuth::load().base;
        let (watch, xray_port) = secret_watch(
            &dir.join("e2e-watch.log"),
            (&database_url(), &admin_database_url()),
            &secret,
            &better_auth,
            &crate::secrets_manager_of_this_process(),
        );
        let outage = outage_watch(
            &dir.join("e2e-outage-watch.log"),
            &database_url(),
            &better_auth,
        );
        for server in [&watch, &outage] {
            healthy(server);
        }
        let servers = E2eServers::of(&watch, xray_port, &outage, &secret);
        services::stop_when_this_process_ends(&format!(
            "kill -- -{} -{}; rm -rf '{}'",
            watch.process.id(),
            outage.process.id(),
            dir.display()
        ));
        std::mem::forget((watch, outage));
        servers
    })
}

/// A watch server configured as in AWS: its functions get only secret ARNs
/// (the database URLs `api_url` and `owner_url`, and `secret`, stored in the
/// Secrets Manager `secrets_manager` points at), read at cold start, and `better_auth` as
/// `BETTER_AUTH_URL`. They log at `trace` in JSON (Lambda's JSON logging), so
/// the e2e log test shows no level lets a token or a body into the logs, and
/// send X-Ray subsegments to the port returned beside it, which an e2e test
/// listens on. Its log in `log`.
pub fn secret_watch(
    log: &Path,
    (api_url, owner_url): (&str, &str),
    secret: &str,
    better_auth: &str,
    secrets_manager: &[(&'static str, String)],
) -> (Watch, u16) {
    let suffix = crate::unique_user("e2e");
    let create = |name: &str, value: &str| {
        let name = format!("todo-api/{suffix}/{name}");
        runtime().block_on(create_secret_in(secrets_manager, &name, value))
    };
    let mut env = vec![
        ("DATABASE_URL_SECRET_ARN", create("database-url", api_url)),
        ("BETTER_AUTH_SECRET_ARN", create("auth", secret)),
        (
            "MIGRATE_DATABASE_URL_SECRET_ARN",
            create("migrate-url", owner_url),
        ),
        ("DB_POOL_SIZE", "4".into()),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
        ("BETTER_AUTH_URL", better_auth.to_owned()),
    ];
    env.extend_from_slice(secrets_manager);
    let xray_port = free_port();
    let watch = Watch::start(
        log,
        &env,
        &[
            ("RUST_LOG", "trace".into()),
            ("AWS_XRAY_DAEMON_ADDRESS", format!("127.0.0.1:{xray_port}")),
        ],
    );
    (watch, xray_port)
}

/// The JWKS outage test's watch server: its keys come only from its own
/// prefix of the fixture, so taking them down disturbs no other test.
pub fn outage_watch(log: &Path, api_url: &str, better_auth: &str) -> Watch {
    Watch::start(
        log,
        &[
            ("DATABASE_URL", api_url.to_owned()),
            (
                "BETTER_AUTH_JWKS_URL",
                format!("{better_auth}/e2e-outage/api/auth/jwks"),
            ),
            ("JWT_ISSUER", better_auth.to_owned()),
            ("JWT_AUDIENCE", better_auth.to_owned()),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
        ],
        &[],
    )
}

/// Waits for `watch` to answer (the first request builds and starts the
/// functions); its log when it does not.
pub fn healthy(watch: &Watch) {
    if let Err(log) = watch.healthy(Duration::from_secs(600)) {
        panic!("cargo lambda watch did not come up; its log:\n{log}");
    }
}

//! What a run is told (`BENCH_*`), the services it measures against, and
//! the setups a function runs in.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use todo_tests::services::SecretsManager;

use crate::delay;
use crate::reexec;

/// What the run was told, from the environment.
pub struct Settings {
    pub bin_dir: PathBuf,
    pub out_dir: PathBuf,
    pub starts: usize,
    pub requests: usize,
    pub seconds: f64,
    pub database_url: String,
    pub tls_database_url: String,
    pub admin_database_url: String,
    pub api_role: String,
    pub ca_bundle: String,
    pub secret: String,
    pub fixture: Value,
    /// A local Secrets Manager over TLS (`AWS_ENDPOINT_URL_SECRETS_MANAGER`),
    /// when the run has one, and its test credentials.
    pub secrets_manager: Option<String>,
    pub secrets_manager_credentials: Vec<(&'static str, String)>,
    /// The production-like database and JWKS URLs through [`delay`] proxies.
    pub network: Network,
}

/// The network setup's one-way delay: a 4 ms round trip.
pub const ONE_WAY: Duration = Duration::from_millis(2);

/// The URLs of the network setup, each through a proxy of its own.
pub struct Network {
    pub database_url: String,
    pub jwks_url: String,
    /// The Secrets Manager's endpoint, when the run has one.
    pub secrets_manager: Option<String>,
}

impl Network {
    /// Proxies to the production-like database, Better Auth's HTTPS and
    /// the Secrets Manager, if any (each at `localhost:<port>`, which their
    /// certificate names).
    pub fn start(tls_database_url: &str, https_base: &str, secrets: Option<&str>) -> Network {
        let proxied = |url: &str| -> String {
            let port: u16 = url
                .split("localhost:")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|port| port.parse().ok())
                .unwrap_or_else(|| panic!("no localhost:<port> in {url}"));
            let proxy = delay::Delay::start(([127, 0, 0, 1], port).into(), ONE_WAY)
                .expect("a delaying proxy");
            url.replace(
                &format!("localhost:{port}"),
                &format!("localhost:{}", proxy.port),
            )
        };
        Network {
            database_url: proxied(tls_database_url),
            jwks_url: format!("{}/bench/api/auth/jwks", proxied(https_base)),
            secrets_manager: secrets.map(proxied),
        }
    }
}

pub fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set (run `make bench`)"))
}

pub fn number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What a run measures against, started by the test kit's own code: a
/// PostgreSQL server with TLS (its test CA) and `pg_stat_statements`,
/// durable as a server is (`fsync` on), migrated; the Better Auth fixture
/// over HTTP and HTTPS; and a Secrets Manager over TLS. Stopped when the run
/// ends.
pub struct Services {
    pub kit: todo_tests::services::Services,
    secrets_manager: SecretsManager,
    /// The production-like setup's trust: the whole system bundle, with the
    /// test CA appended, as AWS trusts Neon's.
    pub ca_bundle: PathBuf,
}

impl Services {
    pub fn start() -> Services {
        let scratch = std::env::temp_dir().join(todo_tests::unique_user("bench-services"));
        let kit = todo_tests::services::Services::start_with(
            &scratch,
            &[
                "max_connections=100",
                "shared_preload_libraries=pg_stat_statements",
            ],
        );
        let ca_bundle = scratch.join("ca-bundle.crt");
        let mut bundle = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
        bundle.extend(std::fs::read(kit.ca.ca()).expect("the test CA"));
        std::fs::write(&ca_bundle, bundle).expect("the CA bundle");
        let secrets_manager = SecretsManager::start(&scratch.join("moto.log"), Some(&kit.ca));
        Services {
            kit,
            secrets_manager,
            ca_bundle,
        }
    }

    /// The local Secrets Manager's endpoint.
    pub fn secrets_manager_endpoint(&self) -> Option<String> {
        self.secrets_manager
            .env
            .iter()
            .find(|(name, _)| *name == "AWS_ENDPOINT_URL_SECRETS_MANAGER")
            .map(|(_, url)| url.clone())
    }

    /// The local Secrets Manager's test credentials.
    pub fn secrets_manager_credentials(&self) -> Vec<(&'static str, String)> {
        let credentials = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];
        let env = self.secrets_manager.env.iter();
        env.filter(|(name, _)| credentials.contains(name))
            .cloned()
            .collect()
    }

    /// A secret holding `value` in the local Secrets Manager, named
    /// `name` and this run; its ARN.
    pub fn create_secret(&self, name: &str, value: &str) -> String {
        let name = format!("{name}-{}", std::process::id());
        reexec::create_secret(&name, value, &self.secrets_manager.env, &self.ca_bundle)
    }
}

impl Settings {
    pub fn new(services: &Services) -> Settings {
        let kit = &services.kit;
        let fixture =
            std::fs::read_to_string(&kit.better_auth.file).expect("the Better Auth fixture");
        let fixture: Value = serde_json::from_str(&fixture).expect("the fixture is JSON");
        let tls_database_url = kit
            .api_url
            .replace("@127.0.0.1:", "@localhost:")
            .replace("sslmode=disable", "sslmode=require");
        Settings {
            bin_dir: var("BENCH_BIN_DIR").into(),
            out_dir: var("BENCH_OUT_DIR").into(),
            starts: number("BENCH_STARTS", 20),
            requests: number("BENCH_REQUESTS", 2000),
            seconds: number("BENCH_MILLIS", 12000) as f64 / 1000.0,
            database_url: kit.api_url.clone(),
            network: Network::start(
                &tls_database_url,
                fixture["https_base"]
                    .as_str()
                    .expect("Better Auth over HTTPS"),
                services.secrets_manager_endpoint().as_deref(),
            ),
            tls_database_url,
            admin_database_url: kit.owner_url.clone(),
            api_role: "todo_api".into(),
            ca_bundle: services.ca_bundle.display().to_string(),
            secret: kit.secret.clone(),
            secrets_manager: services.secrets_manager_endpoint(),
            secrets_manager_credentials: services.secrets_manager_credentials(),
            fixture,
        }
    }
}

/// One configuration a function runs in.
#[derive(Clone, Copy, PartialEq)]
pub enum Setup {
    /// Loopback database without TLS, HS256 tokens: `make dev`.
    Local,
    /// `sslmode=require` to a server with a test CA (trusted through a copy
    /// of the system bundle with it appended), EdDSA tokens checked against
    /// Better Auth's JWKS over HTTPS: as in AWS.
    Production,
    /// Production-like, the database and the JWKS each behind a proxy that
    /// delays every byte [`ONE_WAY`] each way: round trips made visible.
    Network,
}

impl Setup {
    pub fn name(self) -> &'static str {
        match self {
            Setup::Local => "local",
            Setup::Production => "production-like",
            Setup::Network => "network",
        }
    }
}

//! Configuration from the environment, read once per container at cold start.
//!
//! Each function has one tree of settings, read and checked in one place,
//! then handed down: [`TasksConfig`] (the task functions), [`HealthConfig`],
//! [`Reporting`] (the docs function's whole tree, and a branch of every
//! other), and `migrate`'s [`crate::migrations::Target`]. Nothing below
//! reads the environment. The settings' types belong to the parts that use
//! them ([`DbConfig`] to the database, [`JwksSettings`] to the JWKS); this
//! module reads them, which is why it stands above those parts.
//!
//! A missing or invalid variable stops the function before it serves anything,
//! with a message that names the variable: a misconfigured deployment should
//! fail its first invocation loudly, not answer 500s one request at a time.
//! Every variable is documented in `README.md` and `.env.example`.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;
use tracing::level_filters::LevelFilter;

pub use crate::outside::db::DbConfig;
use crate::outside::jwks::{JwksSettings, JwksSource};
use crate::outside::secrets::{Environment, Unresolved};

/// A variable that is missing or holds something unusable.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration error: {} {}", self.variable, self.problem)
    }
}

// `main` returning this prints it with `Debug`; make that the readable form too.
impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ConfigError {}

/// The API's database URL: `DATABASE_URL` (`migrate` names its own).
impl From<crate::outside::db::UnusableUrl> for ConfigError {
    fn from(unusable: crate::outside::db::UnusableUrl) -> Self {
        ConfigError {
            variable: "DATABASE_URL",
            problem: unusable.0,
        }
    }
}

/// Named as the ARN's variable, with the whole chain: the SDK's error says
/// little, its sources (the service's answer, the connection's failure)
/// the rest.
impl From<Unresolved> for ConfigError {
    fn from(unresolved: Unresolved) -> Self {
        ConfigError {
            variable: unresolved.variable,
            problem: crate::cause::Cause::new(unresolved.error).to_string(),
        }
    }
}

/// How to verify bearer tokens: HS256 with a shared secret, Better Auth's
/// JWKS, or both.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `BETTER_AUTH_SECRET`: the HS256 key (its UTF-8 bytes), at least 32
    /// characters when set.
    pub secret: Option<SecretString>,
    /// `BETTER_AUTH_JWKS` (inline), else `BETTER_AUTH_JWKS_URL`, else
    /// `BETTER_AUTH_URL` + `/api/auth/jwks`.
    pub jwks: Option<JwksSource>,
    /// `JWKS_TTL_SECONDS` (default 600) and `JWKS_MAX_AGE_SECONDS` (default
    /// 3600, at least the TTL): how long fetched keys are trusted. The fetch
    /// intervals are fixed; tests shorten them and move the clock.
    pub jwks_settings: JwksSettings,
    /// `JWT_ISSUER`: when set, the `iss` claim must equal it.
    pub issuer: Option<String>,
    /// `JWT_AUDIENCE`: when set, the `aud` claim must contain it.
    pub audience: Option<String>,
    /// `BETTER_AUTH_URL`: Better Auth signs its tokens with `iss` = `aud` =
    /// this URL, so JWKS tokens (wherever the keys come from) are held to it
    /// unless `JWT_ISSUER`/`JWT_AUDIENCE` say otherwise.
    pub better_auth_url: Option<String>,
}

/// The shortest `BETTER_AUTH_SECRET` accepted (Better Auth's own minimum).
pub const MIN_SECRET_CHARS: usize = 32;

impl DbConfig {
    /// Reads through `lookup`: the environment with its secrets resolved
    /// ([`Environment`]), or a test's own.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let url = required(&lookup, "DATABASE_URL")?;
        Ok(DbConfig {
            url: url.into(),
            pool_size: number(&lookup, "DB_POOL_SIZE", 1, 1..=32)?,
            connect_timeout: millis(&lookup, "DB_CONNECT_TIMEOUT_MS", 3000)?,
            timeout: millis(&lookup, "DB_TIMEOUT_MS", 5000)?,
            max_idle: Duration::from_millis(number(
                &lookup,
                "DB_MAX_IDLE_MS",
                120_000,
                1_000..=3_600_000,
            )? as u64),
        })
    }
}

impl AuthConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let secret = optional(&lookup, "BETTER_AUTH_SECRET");
        if let Some(secret) = &secret
            && secret.chars().count() < MIN_SECRET_CHARS
        {
            return Err(ConfigError {
                variable: "BETTER_AUTH_SECRET",
                problem: format!("must be at least {MIN_SECRET_CHARS} characters long"),
            });
        }
        let url = optional(&lookup, "BETTER_AUTH_URL").map(|u| u.trim_end_matches('/').to_owned());
        // Parsed here, once: a bad value stops the function at start-up,
        // named as the variable it came from.
        let named = |variable: &'static str| {
            move |problem: &dyn std::fmt::Display| ConfigError {
                variable,
                problem: problem.to_string(),
            }
        };
        let jwks = if let Some(document) = optional(&lookup, "BETTER_AUTH_JWKS") {
            Some(JwksSource::inline(&document).map_err(|e| named("BETTER_AUTH_JWKS")(&e))?)
        } else if let Some(jwks_url) = optional(&lookup, "BETTER_AUTH_JWKS_URL") {
            Some(JwksSource::url(&jwks_url).map_err(|e| named("BETTER_AUTH_JWKS_URL")(&e))?)
        } else {
            url.as_ref()
                .map(|url| JwksSource::url(&format!("{url}/api/auth/jwks")))
                .transpose()
                .map_err(|e| named("BETTER_AUTH_URL")(&e))?
        };
        if secret.is_none() && jwks.is_none() {
            return Err(ConfigError {
                variable: "BETTER_AUTH_SECRET",
                problem: "is not set, and neither is BETTER_AUTH_URL, BETTER_AUTH_JWKS_URL or \
                          BETTER_AUTH_JWKS: configure at least one way to verify tokens"
                    .into(),
            });
        }
        let config = AuthConfig {
            secret: secret.map(SecretString::from),
            jwks,
            jwks_settings: jwks_settings(&lookup)?,
            issuer: optional(&lookup, "JWT_ISSUER"),
            audience: optional(&lookup, "JWT_AUDIENCE"),
            better_auth_url: url,
        };
        if config.jwks.is_some() {
            config.jwks_claims()?;
        }
        Ok(config)
    }

    /// The `iss` and `aud` that every token, HS256 included, must carry
    /// when the deployment configures them: `JWT_ISSUER`/`JWT_AUDIENCE`,
    /// else `BETTER_AUTH_URL` (Better Auth's default for both). Other JWTs
    /// may be signed with the same secret.
    pub fn claims(&self) -> (Option<&str>, Option<&str>) {
        let default = self.better_auth_url.as_deref();
        (
            self.issuer.as_deref().or(default),
            self.audience.as_deref().or(default),
        )
    }

    /// [`AuthConfig::claims`], both of which asymmetric (JWKS) tokens must
    /// carry. A JWKS source without both is refused: Better Auth signs other
    /// tokens with the same keys (OAuth ID tokens, whose `aud` is a client
    /// id), and the API must not take those for its own.
    pub fn jwks_claims(&self) -> Result<(&str, &str), ConfigError> {
        let (issuer, audience) = self.claims();
        let missing = |variable: &'static str| ConfigError {
            variable,
            problem: "is not set, and neither is BETTER_AUTH_URL: tokens verified with a JWKS \
                      (BETTER_AUTH_JWKS_URL, BETTER_AUTH_JWKS) must be held to an issuer and \
                      an audience"
                .into(),
        };
        let issuer = issuer.ok_or_else(|| missing("JWT_ISSUER"))?;
        let audience = audience.ok_or_else(|| missing("JWT_AUDIENCE"))?;
        Ok((issuer, audience))
    }

    /// Only the shared secret, as in the simplest deployment.
    pub fn hs256(secret: &str) -> Self {
        AuthConfig {
            secret: Some(secret.into()),
            jwks: None,
            jwks_settings: JwksSettings::default(),
            issuer: None,
            audience: None,
            better_auth_url: None,
        }
    }
}

/// How a function reports on itself: its log lines, its metrics, its
/// traces. Every function's tree holds it; the docs function's is nothing
/// else.
#[derive(Debug, Clone)]
pub struct Reporting {
    /// `AWS_LAMBDA_LOG_LEVEL` (Lambda's, from the template's
    /// `LoggingConfig`), else `RUST_LOG`, else `INFO`: one level, `TRACE`,
    /// `DEBUG`, `INFO`, `WARN`, `ERROR` or `OFF` in any case (Lambda's
    /// `FATAL` is `ERROR`), for this project's crates only
    /// ([`crate::web::logging`]). Per-target directives are refused: none
    /// may open a dependency's `TRACE`.
    pub log_level: LevelFilter,
    /// `AWS_LAMBDA_LOG_FORMAT`: `JSON` (Lambda's JSON logging) or `Text`
    /// (the default).
    pub json_logs: bool,
    /// `METRICS_NAMESPACE`: CloudWatch's rules, checked (`metrics_namespace`).
    pub metrics_namespace: String,
    /// `AWS_XRAY_DAEMON_ADDRESS` (Lambda sets it with active tracing):
    /// `host:port`, or `udp:host:port tcp:host:port`; the UDP address is
    /// where subsegments go ([`crate::outside::xray`]). Unset: none are sent.
    pub xray_daemon: Option<SocketAddr>,
}

impl Reporting {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let level_variable = if optional(&lookup, "AWS_LAMBDA_LOG_LEVEL").is_some() {
            "AWS_LAMBDA_LOG_LEVEL"
        } else {
            "RUST_LOG"
        };
        let log_level = match optional(&lookup, level_variable) {
            None => LevelFilter::INFO,
            Some(raw) if raw.trim().eq_ignore_ascii_case("fatal") => LevelFilter::ERROR,
            Some(raw) => LevelFilter::from_str(raw.trim()).map_err(|_| ConfigError {
                variable: level_variable,
                problem: format!(
                    "must be one level (TRACE, DEBUG, INFO, WARN, ERROR, FATAL or OFF), \
                     got {raw:?}"
                ),
            })?,
        };
        let json_logs = match optional(&lookup, "AWS_LAMBDA_LOG_FORMAT") {
            None => false,
            Some(raw) if raw.trim().eq_ignore_ascii_case("json") => true,
            Some(raw) if raw.trim().eq_ignore_ascii_case("text") => false,
            Some(raw) => {
                return Err(ConfigError {
                    variable: "AWS_LAMBDA_LOG_FORMAT",
                    problem: format!("must be JSON or Text, got {raw:?}"),
                });
            }
        };
        Ok(Reporting {
            log_level,
            json_logs,
            metrics_namespace: metrics_namespace(&lookup)?,
            xray_daemon: xray_daemon(&lookup)?,
        })
    }

    /// The docs function's whole tree, from the process environment (it
    /// has no secrets). Init starts here ([`crate::observe::init_started`]).
    pub fn load() -> Result<Self, ConfigError> {
        crate::observe::init_started();
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

/// What the task functions read at start-up, parsed: handed to
/// [`crate::web::handlers::TasksState`], which reads nothing itself.
#[derive(Debug)]
pub struct TasksConfig {
    pub reporting: Reporting,
    pub db: DbConfig,
    pub auth: AuthConfig,
    /// `MAX_TASKS_PER_USER`: a create beyond it is a 409.
    pub max_tasks_per_user: i64,
}

impl TasksConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(TasksConfig {
            reporting: Reporting::from_lookup(&lookup)?,
            db: DbConfig::from_lookup(&lookup)?,
            auth: AuthConfig::from_lookup(&lookup)?,
            max_tasks_per_user: max_tasks_per_user(&lookup)?,
        })
    }
}

/// What the health function reads at start-up.
#[derive(Debug)]
pub struct HealthConfig {
    pub reporting: Reporting,
    pub db: DbConfig,
}

impl HealthConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(HealthConfig {
            reporting: Reporting::from_lookup(&lookup)?,
            db: DbConfig::from_lookup(&lookup)?,
        })
    }
}

/// A function's whole tree of settings.
pub trait Tree: Sized {
    fn read(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError>;
}

impl Tree for TasksConfig {
    fn read(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_lookup(lookup)
    }
}

impl Tree for HealthConfig {
    fn read(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_lookup(lookup)
    }
}

/// A function's tree, read from the process environment with its secrets
/// resolved from Secrets Manager; fails naming the first bad variable.
/// Init starts here ([`crate::observe::init_started`]).
pub async fn load<T: Tree>() -> Result<T, ConfigError> {
    crate::observe::init_started();
    let env = Environment::load().await?;
    T::read(&env.lookup())
}

/// `AWS_XRAY_DAEMON_ADDRESS`'s UDP address ([`Reporting::xray_daemon`]).
fn xray_daemon(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<SocketAddr>, ConfigError> {
    let Some(raw) = optional(lookup, "AWS_XRAY_DAEMON_ADDRESS") else {
        return Ok(None);
    };
    let udp = raw
        .split_whitespace()
        .find_map(|part| part.strip_prefix("udp:"))
        .unwrap_or(raw.trim());
    udp.parse().map(Some).map_err(|_| ConfigError {
        variable: "AWS_XRAY_DAEMON_ADDRESS",
        problem: format!(
            "must be an IP address and port (or udp:ADDRESS tcp:ADDRESS), got {raw:?}"
        ),
    })
}

/// `METRICS_NAMESPACE` (default [`crate::outside::metrics::DEFAULT_NAMESPACE`]; the
/// template sets `TodoApi/<stack name>`): CloudWatch's rules, 1 to 255 of
/// letters, digits, `.-_/#:` and spaces, not starting with `:` nor with
/// `AWS/` (AWS's own). Checked at start-up: a namespace CloudWatch refuses
/// would lose every metric silently.
fn metrics_namespace(lookup: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let Some(namespace) = optional(lookup, "METRICS_NAMESPACE") else {
        return Ok(crate::outside::metrics::DEFAULT_NAMESPACE.to_owned());
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c);
    let problem = if namespace.chars().count() > 255 {
        Some("must be at most 255 characters")
    } else if !namespace.chars().all(allowed) {
        Some("may hold only letters, digits, spaces and . - _ / # :")
    } else if namespace.starts_with(':') || namespace.starts_with("AWS/") {
        Some("must not start with ':' or 'AWS/' (AWS's own namespaces)")
    } else {
        None
    };
    match problem {
        None => Ok(namespace),
        Some(problem) => Err(ConfigError {
            variable: "METRICS_NAMESPACE",
            problem: problem.into(),
        }),
    }
}

/// Default of `MAX_TASKS_PER_USER`.
pub const DEFAULT_MAX_TASKS_PER_USER: i64 = 10_000;

/// `MAX_TASKS_PER_USER` (1 to 1,000,000): how many tasks one user may hold.
pub fn max_tasks_per_user(lookup: impl Fn(&str) -> Option<String>) -> Result<i64, ConfigError> {
    let default = DEFAULT_MAX_TASKS_PER_USER as usize;
    number(&lookup, "MAX_TASKS_PER_USER", default, 1..=1_000_000).map(|n| n as i64)
}

fn jwks_settings(lookup: &impl Fn(&str) -> Option<String>) -> Result<JwksSettings, ConfigError> {
    let seconds = |name, default: Duration| {
        let default = default.as_secs() as usize;
        number(lookup, name, default, 1..=7 * 24 * 3600).map(|s| Duration::from_secs(s as u64))
    };
    let ttl = seconds("JWKS_TTL_SECONDS", crate::outside::jwks::DEFAULT_TTL)?;
    let max_age = seconds(
        "JWKS_MAX_AGE_SECONDS",
        crate::outside::jwks::DEFAULT_MAX_AGE,
    )?;
    if max_age < ttl {
        return Err(ConfigError {
            variable: "JWKS_MAX_AGE_SECONDS",
            problem: format!(
                "must be at least JWKS_TTL_SECONDS ({}), got {}",
                ttl.as_secs(),
                max_age.as_secs()
            ),
        });
    }
    Ok(JwksSettings {
        ttl,
        max_age,
        ..JwksSettings::default()
    })
}

fn optional(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|value| !value.trim().is_empty())
}

fn required(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<String, ConfigError> {
    optional(lookup, name).ok_or(ConfigError {
        variable: name,
        problem: "is not set".into(),
    })
}

fn number(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, ConfigError> {
    let Some(raw) = optional(lookup, name) else {
        return Ok(default);
    };
    raw.trim()
        .parse()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or(ConfigError {
            variable: name,
            problem: format!(
                "must be a whole number from {} to {}, got {raw:?}",
                range.start(),
                range.end()
            ),
        })
}

fn millis(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: usize,
) -> Result<Duration, ConfigError> {
    let ms = number(lookup, name, default, 1..=120_000)?;
    Ok(Duration::from_millis(ms as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn how_a_function_reports_is_read_and_every_bad_value_named() {
        let r = Reporting::from_lookup(env(&[])).unwrap();
        assert_eq!(r.log_level, LevelFilter::INFO);
        assert!(!r.json_logs && r.xray_daemon.is_none());
        let r = Reporting::from_lookup(env(&[
            ("AWS_LAMBDA_LOG_LEVEL", "FATAL"),
            ("RUST_LOG", "not even read"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            (
                "AWS_XRAY_DAEMON_ADDRESS",
                "udp:169.254.79.129:2000 tcp:169.254.79.129:2000",
            ),
        ]))
        .unwrap();
        assert_eq!(r.log_level, LevelFilter::ERROR);
        assert!(r.json_logs);
        assert_eq!(r.xray_daemon, Some("169.254.79.129:2000".parse().unwrap()));
        let r = Reporting::from_lookup(env(&[("RUST_LOG", " debug ")])).unwrap();
        assert_eq!(r.log_level, LevelFilter::DEBUG);
        for (variable, value) in [
            ("RUST_LOG", "info,hyper=trace"),
            ("AWS_LAMBDA_LOG_LEVEL", "verbose"),
            ("AWS_LAMBDA_LOG_FORMAT", "yaml"),
            ("AWS_XRAY_DAEMON_ADDRESS", "xray.local:2000"),
            ("AWS_XRAY_DAEMON_ADDRESS", "udp:169.254.79.129"),
            ("METRICS_NAMESPACE", "AWS/Lambda"),
        ] {
            let err = Reporting::from_lookup(env(&[(variable, value)])).unwrap_err();
            assert_eq!(err.variable, variable, "{value}");
        }
    }

    #[test]
    fn missing_database_url_names_the_variable() {
        let err = DbConfig::from_lookup(env(&[])).unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL");
        assert!(err.to_string().contains("DATABASE_URL is not set"));
    }

    #[test]
    fn db_defaults_and_overrides() {
        let c = DbConfig::from_lookup(env(&[("DATABASE_URL", "postgres://x/y")])).unwrap();
        assert_eq!(c.pool_size, 1);
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.max_idle, Duration::from_secs(120));
        let c = DbConfig::from_lookup(env(&[
            ("DATABASE_URL", "postgres://x/y"),
            ("DB_POOL_SIZE", "4"),
            ("DB_TIMEOUT_MS", "250"),
            ("DB_MAX_IDLE_MS", "60000"),
        ]))
        .unwrap();
        assert_eq!(c.pool_size, 4);
        assert_eq!(c.timeout, Duration::from_millis(250));
        assert_eq!(c.max_idle, Duration::from_secs(60));
    }

    #[test]
    fn bad_numbers_name_the_variable() {
        for (name, value) in [
            ("DB_POOL_SIZE", "0"),
            ("DB_POOL_SIZE", "lots"),
            ("DB_TIMEOUT_MS", "-1"),
            ("DB_MAX_IDLE_MS", "500"),
        ] {
            let err =
                DbConfig::from_lookup(env(&[("DATABASE_URL", "postgres://x/y"), (name, value)]))
                    .unwrap_err();
            assert_eq!(err.variable, name);
        }
    }

    #[test]
    fn some_way_to_verify_tokens_is_required() {
        let err = AuthConfig::from_lookup(env(&[])).unwrap_err();
        assert_eq!(err.variable, "BETTER_AUTH_SECRET");
        assert!(err.to_string().contains("BETTER_AUTH_URL"), "{err}");
        let err = AuthConfig::from_lookup(env(&[("BETTER_AUTH_SECRET", "short")])).unwrap_err();
        assert_eq!(err.variable, "BETTER_AUTH_SECRET");
        assert!(err.to_string().contains("at least 32 characters"));
        // 32 characters, counted as characters rather than bytes.
        let secret = "é".repeat(32);
        let ok = AuthConfig::from_lookup(env(&[("BETTER_AUTH_SECRET", &secret)])).unwrap();
        assert_eq!(
            ok.secret.as_ref().map(ExposeSecret::expose_secret),
            Some(secret.as_str())
        );
        assert!(
            !format!("{ok:?}").contains('é'),
            "Debug must not print the secret"
        );
    }

    #[test]
    fn jwks_sources_and_their_defaults() {
        let c = AuthConfig::from_lookup(env(&[("BETTER_AUTH_URL", "https://app.example.com/")]))
            .unwrap();
        assert!(c.secret.is_none());
        assert_eq!(
            format!("{:?}", c.jwks),
            "Some(Url(https://app.example.com/api/auth/jwks))"
        );
        assert_eq!(
            c.better_auth_url.as_deref(),
            Some("https://app.example.com")
        );
        let c = AuthConfig::from_lookup(env(&[
            ("BETTER_AUTH_URL", "https://app.example.com"),
            ("BETTER_AUTH_JWKS_URL", "https://keys.example.com/jwks"),
        ]))
        .unwrap();
        assert_eq!(
            format!("{:?}", c.jwks),
            "Some(Url(https://keys.example.com/jwks))"
        );
        assert_eq!(
            c.jwks_claims().unwrap(),
            ("https://app.example.com", "https://app.example.com"),
            "the iss/aud default applies wherever the keys come from"
        );
        let doc = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k"}]}"#;
        let c = AuthConfig::from_lookup(env(&[
            ("BETTER_AUTH_JWKS", doc),
            ("JWT_ISSUER", "https://issuer.example.com"),
            ("JWT_AUDIENCE", "todo-api"),
        ]))
        .unwrap();
        assert_eq!(format!("{:?}", c.jwks), "Some(Inline(k))");
        assert_eq!(
            c.jwks_claims().unwrap(),
            ("https://issuer.example.com", "todo-api")
        );
        // The short-secret rule applies only when the secret is set.
        assert!(
            AuthConfig::from_lookup(env(&[("BETTER_AUTH_URL", "http://localhost:3000")])).is_ok()
        );
    }

    /// A JWKS source is never left without an issuer and an audience: Better
    /// Auth signs other tokens (OAuth ID tokens) with the same keys.
    #[test]
    fn a_jwks_source_without_issuer_and_audience_refuses_to_start() {
        let jwks_url = ("BETTER_AUTH_JWKS_URL", "https://keys.example.com/jwks");
        let err = AuthConfig::from_lookup(env(&[jwks_url])).unwrap_err();
        assert_eq!(err.variable, "JWT_ISSUER");
        assert!(err.to_string().contains("BETTER_AUTH_URL"), "{err}");
        let err =
            AuthConfig::from_lookup(env(&[jwks_url, ("JWT_ISSUER", "https://i")])).unwrap_err();
        assert_eq!(err.variable, "JWT_AUDIENCE");
        let err = AuthConfig::from_lookup(env(&[
            jwks_url,
            ("JWT_AUDIENCE", "a"),
            ("BETTER_AUTH_SECRET", &"s".repeat(40)),
        ]))
        .unwrap_err();
        assert_eq!(
            err.variable, "JWT_ISSUER",
            "a secret does not excuse the JWKS"
        );
        assert!(
            AuthConfig::from_lookup(env(&[jwks_url, ("JWT_ISSUER", "i"), ("JWT_AUDIENCE", "a")]))
                .is_ok()
        );
        assert!(
            AuthConfig::from_lookup(env(&[
                jwks_url,
                ("BETTER_AUTH_URL", "https://app.example.com")
            ]))
            .is_ok()
        );
        // HS256 alone needs neither.
        assert!(AuthConfig::from_lookup(env(&[("BETTER_AUTH_SECRET", &"s".repeat(40))])).is_ok());
    }

    /// No configuration type prints a password or a key, in `Debug` (or
    /// anything built on it): every such value is a `SecretString`.
    #[test]
    fn no_configuration_type_prints_a_secret() {
        let password = "pw-7f3a9c51";
        let key = "hs256-key-0f9e8d7c6b5a4f3e2d1c0b9a";
        let api_url = format!("postgres://api:{password}@db.example.com/todo?sslmode=require");
        let owner_url = format!("postgres://owner:{password}@db.example.com/todo?sslmode=require");
        let vars = env(&[
            ("DATABASE_URL", &api_url),
            ("MIGRATE_DATABASE_URL", &owner_url),
            ("BETTER_AUTH_SECRET", key),
        ]);
        let tasks = TasksConfig::from_lookup(&vars).unwrap();
        let target = crate::migrations::Target::from_lookup(&vars).unwrap();
        let printed = [
            format!("{:?}", tasks.db),
            format!("{:#?}", tasks.auth),
            format!("{tasks:?}"),
            format!("{target:#?}"),
        ];
        for printed in printed {
            assert!(
                !printed.contains(password) && !printed.contains(key),
                "a secret in {printed}"
            );
        }
        assert!(
            format!("{target:?}").contains("api"),
            "the role's name is shown"
        );
    }

    #[test]
    fn task_cap() {
        assert_eq!(max_tasks_per_user(env(&[])).unwrap(), 10_000);
        let cap = |v| max_tasks_per_user(env(&[("MAX_TASKS_PER_USER", v)]));
        assert_eq!(cap("25").unwrap(), 25);
        for bad in ["0", "-1", "many", "1000001"] {
            assert_eq!(cap(bad).unwrap_err().variable, "MAX_TASKS_PER_USER");
        }
    }

    #[test]
    fn jwks_key_lifetimes() {
        let url = ("BETTER_AUTH_URL", "https://app.example.com");
        let c = AuthConfig::from_lookup(env(&[url])).unwrap();
        assert_eq!(c.jwks_settings.ttl, Duration::from_secs(600));
        assert_eq!(c.jwks_settings.max_age, Duration::from_secs(3600));
        let c = AuthConfig::from_lookup(env(&[
            url,
            ("JWKS_TTL_SECONDS", "60"),
            ("JWKS_MAX_AGE_SECONDS", "60"),
        ]))
        .unwrap();
        assert_eq!(c.jwks_settings.ttl, Duration::from_secs(60));
        assert_eq!(c.jwks_settings.max_age, Duration::from_secs(60));
        for (pairs, variable) in [
            (vec![("JWKS_TTL_SECONDS", "0")], "JWKS_TTL_SECONDS"),
            (vec![("JWKS_TTL_SECONDS", "ten")], "JWKS_TTL_SECONDS"),
            (
                vec![("JWKS_MAX_AGE_SECONDS", "599")],
                "JWKS_MAX_AGE_SECONDS",
            ),
            (
                vec![("JWKS_TTL_SECONDS", "120"), ("JWKS_MAX_AGE_SECONDS", "60")],
                "JWKS_MAX_AGE_SECONDS",
            ),
        ] {
            let mut pairs = pairs;
            pairs.push(url);
            let err = AuthConfig::from_lookup(env(&pairs)).unwrap_err();
            assert_eq!(err.variable, variable, "{err}");
        }
    }

    #[test]
    fn metrics_namespaces_follow_cloudwatch() {
        let namespace = |value: &str| metrics_namespace(&env(&[("METRICS_NAMESPACE", value)]));
        assert_eq!(metrics_namespace(&env(&[])).unwrap(), "TodoApi");
        assert_eq!(namespace("  ").unwrap(), "TodoApi", "blank is unset");
        assert_eq!(namespace("TodoApi/prod-1").unwrap(), "TodoApi/prod-1");
        for bad in ["AWS/Lambda", ":x", "Todo\u{e9}", "a,b", &"n".repeat(256)] {
            assert_eq!(
                namespace(bad).unwrap_err().variable,
                "METRICS_NAMESPACE",
                "{bad}"
            );
        }
    }

    #[test]
    fn bad_jwks_sources_name_their_variable() {
        for (name, value) in [
            ("BETTER_AUTH_URL", "http://auth.example.com"),
            ("BETTER_AUTH_JWKS_URL", "ftp://x/jwks"),
            ("BETTER_AUTH_JWKS", "{\"keys\": []}"),
            ("BETTER_AUTH_JWKS", "not json"),
        ] {
            let err = AuthConfig::from_lookup(env(&[(name, value)])).unwrap_err();
            assert_eq!(err.variable, name, "{err}");
        }
    }
}

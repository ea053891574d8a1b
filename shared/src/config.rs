//! Configuration from the environment, read once per container at cold start.
//!
//! A missing or invalid variable stops the function before it serves anything,
//! with a message that names the variable: a misconfigured deployment should
//! fail its first invocation loudly, not answer 500s one request at a time.
//! Every variable is documented in `README.md` and `.env.example`.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

use crate::outside::jwks::{JwksSettings, JwksSource};

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

/// How to reach PostgreSQL.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// `DATABASE_URL`: a libpq-style URL; `sslmode=require` (as in Neon's
    /// strings) switches TLS on. Secret: it holds the password.
    pub url: SecretString,
    /// `DB_POOL_SIZE` (default 1): a Lambda instance serves one request at a
    /// time, so one connection per container is enough and keeps Neon's
    /// connection count equal to the number of warm containers.
    pub pool_size: usize,
    /// `DB_CONNECT_TIMEOUT_MS` (default 3000): TCP + TLS + auth handshake.
    pub connect_timeout: Duration,
    /// `DB_TIMEOUT_MS` (default 5000): the whole database part of a request
    /// (checkout, connect if needed, query); past it the answer is a 503.
    pub timeout: Duration,
    /// `DB_MAX_IDLE_MS` (default 120000): a pooled connection idle longer is
    /// replaced before use, well before a NAT's idle timeout (350 s on AWS)
    /// can have dropped it silently.
    pub max_idle: Duration,
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
    /// ([`crate::outside::secrets::Environment`]), or a test's own.
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
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

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

/// What the task functions read at start-up, parsed: handed to
/// [`crate::web::handlers::TasksState`], which reads nothing itself.
#[derive(Debug)]
pub struct TasksConfig {
    pub db: DbConfig,
    pub auth: AuthConfig,
    /// `MAX_TASKS_PER_USER`: a create beyond it is a 409.
    pub max_tasks_per_user: i64,
}

impl TasksConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(TasksConfig {
            db: DbConfig::from_lookup(&lookup)?,
            auth: AuthConfig::from_lookup(&lookup)?,
            max_tasks_per_user: max_tasks_per_user(&lookup)?,
        })
    }
}

/// `METRICS_NAMESPACE` (default [`crate::outside::metrics::DEFAULT_NAMESPACE`]; the
/// template sets `TodoApi/<stack name>`): CloudWatch's rules, 1 to 255 of
/// letters, digits, `.-_/#:` and spaces, not starting with `:` nor with
/// `AWS/` (AWS's own). Checked at start-up: a namespace CloudWatch refuses
/// would lose every metric silently.
pub fn metrics_namespace(lookup: impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let Some(namespace) = optional(&lookup, "METRICS_NAMESPACE") else {
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
        let namespace = |value: &str| metrics_namespace(env(&[("METRICS_NAMESPACE", value)]));
        assert_eq!(metrics_namespace(env(&[])).unwrap(), "TodoApi");
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

//! Configuration from the environment, read once per container at cold start.
//!
//! A missing or invalid variable stops the function before it serves anything,
//! with a message that names the variable: a misconfigured deployment should
//! fail its first invocation loudly, not answer 500s one request at a time.
//! Every variable is documented in `README.md` and `.env.example`.

use std::fmt;
use std::time::Duration;

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
    /// strings) switches TLS on.
    pub url: String,
    /// `DB_POOL_SIZE` (default 1): a Lambda instance serves one request at a
    /// time, so one connection per container is enough and keeps Neon's
    /// connection count equal to the number of warm containers.
    pub pool_size: usize,
    /// `DB_CONNECT_TIMEOUT_MS` (default 3000): TCP + TLS + auth handshake.
    pub connect_timeout: Duration,
    /// `DB_TIMEOUT_MS` (default 5000): the whole database part of a request
    /// (checkout, connect if needed, query); past it the answer is a 503.
    pub timeout: Duration,
}

/// How to verify bearer tokens.
#[derive(Clone)]
pub struct AuthConfig {
    /// `BETTER_AUTH_SECRET`: the HS256 key (its UTF-8 bytes), at least 32 characters.
    pub secret: String,
    /// `JWT_ISSUER`: when set, the `iss` claim must equal it.
    pub issuer: Option<String>,
    /// `JWT_AUDIENCE`: when set, the `aud` claim must contain it.
    pub audience: Option<String>,
}

// Never print the secret, not even in a debug log.
impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// The shortest `BETTER_AUTH_SECRET` accepted (Better Auth's own minimum).
pub const MIN_SECRET_CHARS: usize = 32;

impl DbConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads through `lookup` so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let url = required(&lookup, "DATABASE_URL")?;
        Ok(DbConfig {
            url,
            pool_size: number(&lookup, "DB_POOL_SIZE", 1, 1..=32)?,
            connect_timeout: millis(&lookup, "DB_CONNECT_TIMEOUT_MS", 3000)?,
            timeout: millis(&lookup, "DB_TIMEOUT_MS", 5000)?,
        })
    }
}

impl AuthConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let secret = required(&lookup, "BETTER_AUTH_SECRET")?;
        if secret.chars().count() < MIN_SECRET_CHARS {
            return Err(ConfigError {
                variable: "BETTER_AUTH_SECRET",
                problem: format!("must be at least {MIN_SECRET_CHARS} characters long"),
            });
        }
        Ok(AuthConfig {
            secret,
            issuer: optional(&lookup, "JWT_ISSUER"),
            audience: optional(&lookup, "JWT_AUDIENCE"),
        })
    }
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
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
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
        let c = DbConfig::from_lookup(env(&[
            ("DATABASE_URL", "postgres://x/y"),
            ("DB_POOL_SIZE", "4"),
            ("DB_TIMEOUT_MS", "250"),
        ]))
        .unwrap();
        assert_eq!(c.pool_size, 4);
        assert_eq!(c.timeout, Duration::from_millis(250));
    }

    #[test]
    fn bad_numbers_name_the_variable() {
        for (name, value) in [
            ("DB_POOL_SIZE", "0"),
            ("DB_POOL_SIZE", "lots"),
            ("DB_TIMEOUT_MS", "-1"),
        ] {
            let err =
                DbConfig::from_lookup(env(&[("DATABASE_URL", "postgres://x/y"), (name, value)]))
                    .unwrap_err();
            assert_eq!(err.variable, name);
        }
    }

    #[test]
    fn secret_is_required_and_long_enough() {
        let err = AuthConfig::from_lookup(env(&[])).unwrap_err();
        assert_eq!(err.variable, "BETTER_AUTH_SECRET");
        let err = AuthConfig::from_lookup(env(&[("BETTER_AUTH_SECRET", "short")])).unwrap_err();
        assert_eq!(err.variable, "BETTER_AUTH_SECRET");
        assert!(err.to_string().contains("at least 32 characters"));
        // 32 characters, counted as characters rather than bytes.
        let secret = "é".repeat(32);
        let ok = AuthConfig::from_lookup(env(&[("BETTER_AUTH_SECRET", &secret)])).unwrap();
        assert_eq!(ok.secret, secret);
        assert!(
            !format!("{ok:?}").contains('é'),
            "Debug must not print the secret"
        );
    }
}

//! Where `migrate` connects, and which login role it sets up for the API:
//! read from `MIGRATE_DATABASE_URL` and `DATABASE_URL`, checked before
//! anything connects.

use crate::config::{ConfigError, DbConfig};
use crate::outside::db::Db;

use super::roles::{ApiLogin, parse_url};

/// Where `migrate` connects, and the API's login role it sets up.
#[derive(Debug)]
pub struct Target {
    /// `MIGRATE_DATABASE_URL`, else `DATABASE_URL`.
    pub db: DbConfig,
    /// The user of `DATABASE_URL`, when `MIGRATE_DATABASE_URL` is set.
    pub api_login: Option<ApiLogin>,
    /// Which of Neon's endpoints the API's `DATABASE_URL` names, if Neon's.
    pub api_endpoint: Option<NeonEndpoint>,
    /// The variable [`Target::db`]'s URL came from.
    url_variable: &'static str,
}

impl Target {
    /// Refuses a `DATABASE_URL` whose user is `MIGRATE_DATABASE_URL`'s:
    /// the API would then run as the schema's owner, with DDL rights, where
    /// `migrate`'s promise is a role that touches rows and nothing else.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let api_endpoint = set("DATABASE_URL").and_then(|url| NeonEndpoint::of(&url));
        let Some(owner_url) = set("MIGRATE_DATABASE_URL") else {
            tracing::warn!(
                "MIGRATE_DATABASE_URL is not set: migrating as DATABASE_URL's role, which the \
                 API then shares (not least privilege)"
            );
            return Ok(Target {
                db: DbConfig::from_lookup(lookup)?,
                api_login: None,
                api_endpoint,
                url_variable: "DATABASE_URL",
            });
        };
        let db = DbConfig::from_lookup(|name| match name {
            "DATABASE_URL" => Some(owner_url.clone()),
            _ => lookup(name),
        })
        .map_err(|e| ConfigError {
            variable: if e.variable == "DATABASE_URL" {
                "MIGRATE_DATABASE_URL"
            } else {
                e.variable
            },
            ..e
        })?;
        let api_login = match set("DATABASE_URL") {
            None => None,
            Some(api_url) => {
                let login = ApiLogin::from_url(&api_url)?;
                let (_, owner) = parse_url(&owner_url).map_err(|problem| ConfigError {
                    variable: "MIGRATE_DATABASE_URL",
                    problem,
                })?;
                if login.name() == owner {
                    return Err(ConfigError {
                        variable: "DATABASE_URL",
                        problem: format!(
                            "names {owner}, MIGRATE_DATABASE_URL's role: the API would run as \
                             the schema's owner, free to alter or drop its tables. Give the \
                             API its own role: name a new one in DATABASE_URL (migrate creates \
                             it, with rights to the rows alone)"
                        ),
                    });
                }
                Some(login)
            }
        };
        Ok(Target {
            db,
            api_login,
            api_endpoint,
            url_variable: "MIGRATE_DATABASE_URL",
        })
    }

    /// The pool `migrate` works through; a URL it cannot use is named as
    /// the variable it came from.
    pub fn pool(&self) -> Result<Db, ConfigError> {
        Db::new(&self.db).map_err(|unusable| ConfigError {
            variable: self.url_variable,
            problem: unusable.0,
        })
    }
}

/// Neon's two endpoints of a compute, told apart by the host name: the
/// pooled one's first label ends in `-pooler` (`ep-xxx-pooler.<region>.aws.neon.tech`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeonEndpoint {
    /// PgBouncer in transaction mode: up to 10,000 clients share a server
    /// pool of 90% of `max_connections`. What the API is built for.
    Pooled,
    /// PostgreSQL itself: every warm container holds one of the compute's
    /// `max_connections`.
    Direct,
}

impl NeonEndpoint {
    /// The endpoint a connection URL names; `None` when its host is not Neon's.
    pub fn of(url: &str) -> Option<Self> {
        let config: tokio_postgres::Config = url.parse().ok()?;
        let host = config.get_hosts().iter().find_map(|host| match host {
            tokio_postgres::config::Host::Tcp(host) => Some(host.to_ascii_lowercase()),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(_) => None,
        })?;
        let (endpoint, domain) = host.split_once('.')?;
        if !(domain == "neon.tech" || domain.ends_with(".neon.tech")) {
            return None;
        }
        Some(if endpoint.ends_with("-pooler") {
            NeonEndpoint::Pooled
        } else {
            NeonEndpoint::Direct
        })
    }

    /// What `migrate` says of the API's `DATABASE_URL`, after a deploy.
    pub fn advice(self) -> &'static str {
        match self {
            NeonEndpoint::Pooled => {
                "the API's DATABASE_URL is Neon's pooled endpoint: its concurrency is not \
                 bound by the compute's max_connections (docs/deploy.md, Capacity)"
            }
            NeonEndpoint::Direct => {
                "the API's DATABASE_URL is Neon's direct endpoint (no -pooler in the host): \
                 every warm container holds one of the compute's max_connections (97 usable \
                 at 0.25 CU), so the task functions' ReservedConcurrency together, plus 5 for \
                 health, must stay under it, or requests fail when they are not; use the \
                 -pooler host (docs/deploy.md, Capacity)"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `MIGRATE_DATABASE_URL` and `DATABASE_URL` naming one user would
    /// leave the API running as the schema's owner: refused, naming
    /// `DATABASE_URL` and what to do.
    #[test]
    fn the_api_may_not_share_the_owners_role() {
        let owner = "postgres://owner:pw@db.example.com/todo?sslmode=require";
        let target = |api: &str| {
            let vars = [("MIGRATE_DATABASE_URL", owner), ("DATABASE_URL", api)];
            Target::from_lookup(|name| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            })
        };
        let error = target("postgres://owner:pw@db-pooler.example.com/todo?sslmode=require")
            .expect_err("the owner's role for the API");
        assert_eq!(error.variable, "DATABASE_URL");
        assert!(
            error.problem.contains("owner") && error.problem.contains("its own role"),
            "{error}"
        );
        let target = target("postgres://api:pw@db.example.com/todo?sslmode=require").unwrap();
        assert_eq!(
            target.api_login.map(|l| l.name().to_owned()),
            Some("api".into())
        );
    }

    #[test]
    fn tells_neons_pooled_endpoint_from_its_direct_one() {
        let of = |url: &str| NeonEndpoint::of(url);
        assert_eq!(
            of(
                "postgresql://u:p@ep-cool-darkness-a1b2c3d4-pooler.us-east-2.aws.neon.tech/db?sslmode=require"
            ),
            Some(NeonEndpoint::Pooled)
        );
        assert_eq!(
            of(
                "postgresql://u:p@ep-cool-darkness-a1b2c3d4.us-east-2.aws.neon.tech/db?sslmode=require"
            ),
            Some(NeonEndpoint::Direct)
        );
        assert_eq!(of("postgres://u@127.0.0.1:5432/db"), None);
        assert_eq!(of("postgres://u@db.example.com/db"), None);
        assert_eq!(of("postgres://u@ep-x-pooler.evil-neon.tech/db"), None);
        assert_eq!(of("not a url"), None);
    }
}

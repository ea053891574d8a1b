//! Versioned schema migrations, applied by the `migrate` function.
//!
//! A short runner of our own rather than a migration library, because it must
//! be safe where this API runs: several `migrate` invocations (a deploy and a
//! developer, or parallel test processes) may start at once, and Neon's pooler
//! forbids session state such as session advisory locks. So the whole run is
//! one transaction that first takes a *transaction-scoped* advisory lock; a
//! concurrent run waits, then finds nothing left to do. Each applied file's
//! checksum is recorded, and a file edited after it was applied stops the run
//! instead of leaving the schema silently different from the code.
//!
//! Least privilege: migrations run as the owner (`MIGRATE_DATABASE_URL`),
//! while the API functions connect as the login role of their own
//! `DATABASE_URL`, which every run creates or updates and makes a member of
//! `todo_app` (migration 0005): rows only, no DDL. See [`Target`].

use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::Client;

use crate::config::{ConfigError, DbConfig};
use crate::db::Db;

/// A migration: its version, name, and SQL (compiled into the binary).
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
    /// The checksums (md5) of the file's earlier texts, which differed from
    /// this one only in comments: a database that applied one of them is
    /// current. Empty unless a comment was corrected after release.
    pub earlier: &'static [&'static str],
}

/// Every migration, in order. Append only; never edit an applied one.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "tasks",
        sql: include_str!("../migrations/0001_tasks.sql"),
        // Its first line named the contract by a path outside the repository.
        earlier: &["e50592502cc913350f2271164223e0dd"],
    },
    Migration {
        version: 2,
        name: "idempotency_keys",
        sql: include_str!("../migrations/0002_idempotency_keys.sql"),
        earlier: &[],
    },
    Migration {
        version: 3,
        name: "idempotency_keys_created_at",
        sql: include_str!("../migrations/0003_idempotency_keys_created_at.sql"),
        earlier: &[],
    },
    Migration {
        version: 4,
        name: "task_slot",
        sql: include_str!("../migrations/0004_task_slot.sql"),
        earlier: &[],
    },
    Migration {
        version: 5,
        name: "app_role",
        sql: include_str!("../migrations/0005_app_role.sql"),
        earlier: &[],
    },
];

/// The longest any statement of the API's role may run, set on the role by
/// every run (so through a pooler too): the task functions' Lambda timeout.
/// It bounds how long after its request a write can still take effect
/// (docs/behaviour.md, "What a 503 on a write means"), and it keeps a
/// runaway statement from holding a connection that Lambda gave up on.
pub const API_STATEMENT_TIMEOUT: &str = "10s";

/// An arbitrary constant naming this runner's advisory lock.
const LOCK_ID: i64 = 0x746f_646f_6d69_6772; // "todomigr"

#[derive(Debug)]
pub enum MigrationError {
    Connect(deadpool_postgres::PoolError),
    Database(tokio_postgres::Error),
    /// An applied migration's file no longer matches what was applied.
    Changed {
        version: i32,
        name: &'static str,
    },
}

impl std::fmt::Display for MigrationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MigrationError::Connect(e) => write!(f, "could not connect to the database: {e}"),
            MigrationError::Database(e) => match e.as_db_error() {
                Some(db) => write!(f, "migration failed: {}", db.message()),
                None => write!(f, "migration failed: {e}"),
            },
            MigrationError::Changed { version, name } => write!(
                f,
                "migration {version} ({name}) was changed after it was applied; add a new migration instead"
            ),
        }
    }
}

impl std::error::Error for MigrationError {}

impl From<tokio_postgres::Error> for MigrationError {
    fn from(e: tokio_postgres::Error) -> Self {
        MigrationError::Database(e)
    }
}

/// Where `migrate` connects, and the API's login role it sets up.
#[derive(Debug)]
pub struct Target {
    /// `MIGRATE_DATABASE_URL`, else `DATABASE_URL`.
    pub db: DbConfig,
    /// The user of `DATABASE_URL`, when it differs from the migrating one.
    pub api_login: Option<ApiLogin>,
    /// Which of Neon's endpoints the API's `DATABASE_URL` names, if Neon's.
    pub api_endpoint: Option<NeonEndpoint>,
}

impl Target {
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
                (login.name != owner).then_some(login)
            }
        };
        Ok(Target {
            db,
            api_login,
            api_endpoint,
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

/// The login role of the API's `DATABASE_URL`.
#[derive(Debug, Clone)]
pub struct ApiLogin {
    name: String,
    /// Its SCRAM-SHA-256 verifier; `None` when the URL has no password.
    /// Secret: a verifier is what an attacker guesses passwords against.
    verifier: Option<SecretString>,
}

/// A connection URL, and the user it names.
fn parse_url(url: &str) -> Result<(tokio_postgres::Config, String), String> {
    let config: tokio_postgres::Config = url.parse().map_err(|e| format!("is not valid: {e}"))?;
    let user = config.get_user().ok_or("names no user")?.to_owned();
    Ok((config, user))
}

impl ApiLogin {
    /// The user (a plain lower-case SQL name, so it can be written into the
    /// statement unquoted) and password of `url` (`DATABASE_URL`).
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let problem = |problem: String| ConfigError {
            variable: "DATABASE_URL",
            problem,
        };
        let (config, name) = parse_url(url).map_err(problem)?;
        let plain = name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !plain {
            return Err(problem(format!(
                "names the role {name:?}: the API's role must be lower-case letters, digits \
                 and underscores"
            )));
        }
        let verifier = config
            .get_password()
            .map(|password| postgres_protocol::password::scram_sha_256(password).into());
        Ok(ApiLogin { name, verifier })
    }

    /// Creates the role, or brings its password up to date, and makes it a
    /// member of `todo_app`. An existing role that may do more than that
    /// stops the run: the API must not connect as it, and its password is
    /// not ours. More is an attribute (superuser, create roles or
    /// databases, bypass row security, replicate), a membership in any
    /// other role (a member of the schema's owner may alter its tables; on
    /// Neon every role made in the console is a member of
    /// `neon_superuser`), or an object it owns or holds rights on directly
    /// (`pg_shdepend`, in every database of the cluster). Taking those
    /// away is not migrate's call, so it says what to do instead.
    fn statement(&self) -> String {
        let name = &self.name;
        let password = match &self.verifier {
            // Base64 and `$:` only: nothing to escape.
            Some(verifier) => format!(" PASSWORD '{}'", verifier.expose_secret()),
            None => String::new(),
        };
        let advice = "Let migrate create the API''s role: drop this one, or name a new role \
            in DATABASE_URL.";
        format!(
            "DO $api_login$
DECLARE r pg_roles%ROWTYPE;
BEGIN
    SELECT * INTO r FROM pg_roles WHERE rolname = '{name}';
    IF NOT FOUND THEN
        CREATE ROLE {name} LOGIN{password};
    ELSIF r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls OR r.rolreplication THEN
        RAISE EXCEPTION 'DATABASE_URL''s role {name} is privileged: the API must connect as a role \
            that only todo_app''s grants apply to. {advice}';
    ELSIF EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                  WHERE m.member = r.oid AND g.rolname <> 'todo_app') THEN
        RAISE EXCEPTION 'DATABASE_URL''s role {name} is a member of %: it would inherit more than \
            todo_app''s grants (a member of the tables'' owner may alter or drop them). {advice}',
            (SELECT string_agg(g.rolname, ', ' ORDER BY g.rolname) FROM pg_auth_members m
             JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid AND g.rolname <> 'todo_app');
    ELSIF EXISTS (SELECT 1 FROM pg_shdepend WHERE refclassid = 'pg_authid'::regclass
                  AND refobjid = r.oid AND deptype IN ('o', 'a')) THEN
        RAISE EXCEPTION 'DATABASE_URL''s role {name} owns objects or holds rights of its own \
            (in some database of this server): the API''s role may have only todo_app''s \
            grants. {advice}';
    ELSE
        ALTER ROLE {name} LOGIN{password};
    END IF;
    ALTER ROLE {name} SET statement_timeout = '{API_STATEMENT_TIMEOUT}';
    GRANT todo_app TO {name};
EXCEPTION WHEN unique_violation THEN
    -- Created at the same moment by a migration of another database.
    NULL;
END
$api_login$"
        )
    }
}

/// [`run`] on a connection of `db`'s pool.
pub async fn run_on(db: &Db, api_login: Option<&ApiLogin>) -> Result<Vec<i32>, MigrationError> {
    let mut client = db.connection().await.map_err(MigrationError::Connect)?;
    run(&mut client, api_login).await
}

/// Applies every pending migration, then sets up the API's login role (when
/// given); returns the versions it applied (empty when the schema was
/// already current).
pub async fn run(
    client: &mut Client,
    api_login: Option<&ApiLogin>,
) -> Result<Vec<i32>, MigrationError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_ID])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            checksum   text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .await?;
    let mut applied = Vec::new();
    for migration in MIGRATIONS {
        let row = tx
            .query_opt(
                "SELECT checksum = md5($2) OR checksum = ANY($3)
                 FROM schema_migrations WHERE version = $1",
                &[&migration.version, &migration.sql, &migration.earlier],
            )
            .await?;
        match row.map(|r| r.get::<_, bool>(0)) {
            Some(true) => continue,
            Some(false) => {
                return Err(MigrationError::Changed {
                    version: migration.version,
                    name: migration.name,
                });
            }
            None => {}
        }
        tx.batch_execute(migration.sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, md5($3))",
            &[&migration.version, &migration.name, &migration.sql],
        )
        .await?;
        applied.push(migration.version);
    }
    if let Some(login) = api_login {
        tx.batch_execute(&login.statement()).await?;
    }
    tx.commit().await?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

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

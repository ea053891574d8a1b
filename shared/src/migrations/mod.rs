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
//! `DATABASE_URL`, which every run checks, creates or updates and makes the
//! one member of this database's own group role: rows only, no DDL, no
//! other database (`roles.rs`). Where it connects: `target.rs`.

mod roles;
mod target;

pub use roles::{API_STATEMENT_TIMEOUT, ApiLogin, group_of};
pub use target::{NeonEndpoint, Target};

use tokio_postgres::Client;

use crate::outside::db::Db;

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
        sql: include_str!("../../migrations/0001_tasks.sql"),
        // Its first line named the contract by a path outside the repository.
        earlier: &["e50592502cc913350f2271164223e0dd"],
    },
    Migration {
        version: 2,
        name: "idempotency_keys",
        sql: include_str!("../../migrations/0002_idempotency_keys.sql"),
        earlier: &[],
    },
    Migration {
        version: 3,
        name: "idempotency_keys_created_at",
        sql: include_str!("../../migrations/0003_idempotency_keys_created_at.sql"),
        earlier: &[],
    },
    Migration {
        version: 4,
        name: "task_slot",
        sql: include_str!("../../migrations/0004_task_slot.sql"),
        // Its comment named the tasks module at its path before the layers' folders.
        earlier: &["666662cdd2707d7bc27be4558f3cae51"],
    },
    Migration {
        version: 5,
        name: "app_role",
        sql: include_str!("../../migrations/0005_app_role.sql"),
        // Its comment named the runner's file before it became a folder.
        earlier: &["cbf0c9470597cd853e09abe90c1178cc"],
    },
    Migration {
        version: 6,
        name: "app_role_per_database",
        sql: include_str!("../../migrations/0006_app_role_per_database.sql"),
        earlier: &[],
    },
];

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
    /// A role on the server would give the API more than its rights (or
    /// this run could not keep other roles out): what, and what to do.
    Role(String),
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
            MigrationError::Role(refusal) => f.write_str(refusal),
        }
    }
}

impl std::error::Error for MigrationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MigrationError::Connect(e) => Some(e),
            MigrationError::Database(e) => Some(e),
            MigrationError::Changed { .. } | MigrationError::Role(_) => None,
        }
    }
}

impl From<tokio_postgres::Error> for MigrationError {
    fn from(e: tokio_postgres::Error) -> Self {
        MigrationError::Database(e)
    }
}

/// [`run`] on a connection of `db`'s pool.
pub async fn run_on(db: &Db, api_login: Option<&ApiLogin>) -> Result<Vec<i32>, MigrationError> {
    let mut client = db.connection().await.map_err(MigrationError::Connect)?;
    run(&mut client, api_login).await
}

/// Applies every pending migration, then sets up the API's roles (when
/// given a login) and drops migration 5's server-wide group if nothing
/// needs it any more; returns the versions it applied (empty when the
/// schema was already current).
pub async fn run(
    client: &mut Client,
    api_login: Option<&ApiLogin>,
) -> Result<Vec<i32>, MigrationError> {
    let mut tx = client.transaction().await?;
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
        roles::set_up(&tx, login).await?;
    }
    roles::drop_legacy_group(&mut tx).await?;
    tx.commit().await?;
    Ok(applied)
}

//! The connection pool and how database failures map onto the contract.
//!
//! Statements are sent with `query_typed`: unnamed statements whose parameter
//! types travel with them, so each query is exactly one round trip
//! (Parse/Bind/Execute/Sync in one flight) on a cold connection as on a warm
//! one, and nothing named outlives the statement. That suits both Lambda,
//! where a container's first request would otherwise pay an extra round trip
//! per statement to prepare it, and Neon's pooler (PgBouncer in transaction
//! mode), where named prepared statements are tied to one server connection.
//! Unnamed statements are planned with the actual parameter values, so the
//! optional filters of the list query still get the right index.

use std::future::Future;
use std::time::{Duration, Instant};

use deadpool_postgres::{
    Hook, HookError, Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use postgres_native_tls::MakeTlsConnector;

use crate::config::{ConfigError, DbConfig};
use crate::error::ApiError;

tokio::task_local! {
    /// When the current request must be answered by (the Lambda invocation's
    /// deadline less a margin), set by `crate::http::serve`.
    static DEADLINE: Instant;
}

/// Runs `future` with every database wait inside it bounded by `deadline`
/// as well as by its own budget: a slow database then yields the contract's
/// 503, never a Lambda timeout (which API Gateway answers with a bare 503).
pub async fn within_deadline<F: Future>(deadline: Option<Instant>, future: F) -> F::Output {
    match deadline {
        Some(deadline) => DEADLINE.scope(deadline, future).await,
        None => future.await,
    }
}

/// The pool plus the time budget every database call gets.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    timeout: Duration,
}

impl Db {
    /// From the environment, its secrets resolved (see [`crate::secrets`]).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let env = crate::secrets::Environment::load().await?;
        Db::new(&DbConfig::from_lookup(env.lookup())?)
    }

    /// Builds the pool without connecting: the first request connects, so a
    /// cold start does not wait on the database and `/health` can report it.
    pub fn new(config: &DbConfig) -> Result<Self, ConfigError> {
        let invalid = |problem: String| ConfigError {
            variable: "DATABASE_URL",
            problem,
        };
        let mut pg: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e| invalid(format!("is not a valid PostgreSQL URL ({e})")))?;
        pg.connect_timeout(config.connect_timeout);
        pg.application_name("todo-api");
        // TLS is used whenever the URL's sslmode asks for it (Neon: require).
        // native-tls always verifies the server certificate and host name,
        // which is stricter than libpq's `require` and what Neon supports.
        let tls = native_tls::TlsConnector::new()
            .map_err(|e| invalid(format!("needs TLS, which could not be set up ({e})")))?;
        let manager = Manager::from_config(
            pg,
            MakeTlsConnector::new(tls),
            // `Fast` checks only that the connection is open: `Verified` would
            // add a `SELECT 1` round trip to every request.
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let max_idle = config.max_idle;
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            // A connection idle for longer may have been dropped silently on
            // the way (a NAT forgets an idle flow after 350 s on AWS): replace
            // it before use instead of finding out by a timeout. It reads the
            // pool's own timestamps only: no round trip on the warm path.
            .pre_recycle(Hook::sync_fn(move |_, metrics| {
                if metrics.last_used() > max_idle {
                    Err(HookError::message("idle longer than DB_MAX_IDLE_MS"))
                } else {
                    Ok(())
                }
            }))
            .build()
            .map_err(|e| invalid(format!("could not build a pool ({e})")))?;
        Ok(Db {
            pool,
            timeout: config.timeout,
        })
    }

    /// A pooled connection with no time budget, for work that may run long
    /// (migrations).
    pub async fn connection(&self) -> Result<Object, PoolError> {
        self.pool.get().await
    }

    /// The configured time budget of one database call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `work` on a pooled connection within `budget` (and the request's
    /// deadline); a database that is unreachable or slow becomes a 503,
    /// anything else a 500.
    ///
    /// A connection that timed out or failed at the connection level is
    /// discarded, never returned to the pool: its server may be gone, hung
    /// or unreachable, and the next request would wait on it too.
    pub async fn run_within<T>(
        &self,
        budget: Duration,
        work: impl AsyncFnOnce(&Object) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, ApiError> {
        let budget = match DEADLINE.try_with(|deadline| *deadline) {
            Ok(deadline) => budget.min(deadline.saturating_duration_since(Instant::now())),
            Err(_) => budget,
        };
        let mut held: Option<Object> = None;
        let mut broken = false;
        let attempt = async {
            let client = held.insert(self.pool.get().await.map_err(pool_error)?);
            work(client).await.map_err(|error| {
                broken = is_connection_failure(&error);
                query_error(error)
            })
        };
        let outcome = tokio::time::timeout(budget, attempt).await;
        if (outcome.is_err() || broken)
            && let Some(client) = held.take()
        {
            drop(Object::take(client));
        }
        match outcome {
            Ok(result) => result,
            Err(_) => Err(ApiError::unavailable(format!(
                "database did not answer within {budget:?}"
            ))),
        }
    }

    /// [`Db::run_within`] with the configured budget.
    pub async fn run<T>(
        &self,
        work: impl AsyncFnOnce(&Object) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, ApiError> {
        self.run_within(self.timeout, work).await
    }
}

fn pool_error(error: PoolError) -> ApiError {
    match error {
        PoolError::Backend(e) => query_error(e),
        PoolError::Timeout(_) => ApiError::unavailable("timed out waiting for a connection"),
        other => ApiError::internal(format!("connection pool: {other}")),
    }
}

/// Whether the connection itself failed (I/O, TLS, closed, protocol, the
/// server ending the session), as opposed to a statement the server refused
/// on a healthy connection.
fn is_connection_failure(error: &tokio_postgres::Error) -> bool {
    match error.as_db_error() {
        None => true,
        Some(db) => {
            let code = db.code().code();
            code.starts_with("08") || code.starts_with("57P")
        }
    }
}

/// Connection-level failures (I/O, TLS, closed connection, server shutting
/// down or overloaded, cancelled or timed-out statement) mean "try again
/// later"; any other server error is a bug of ours.
fn query_error(error: tokio_postgres::Error) -> ApiError {
    let Some(db) = error.as_db_error() else {
        return ApiError::unavailable(error);
    };
    let code = db.code().code();
    let transient = code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources, too many connections
        || code.starts_with("57P") // admin/crash shutdown, cannot connect now
        || code == "57014" // statement cancelled or timed out
        || code == "40001" // serialization failure
        || code == "40P01"; // deadlock detected
    if transient {
        ApiError::unavailable(error)
    } else {
        ApiError::internal(error)
    }
}

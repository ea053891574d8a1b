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

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use deadpool_postgres::{
    Hook, HookError, Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use postgres_native_tls::MakeTlsConnector;
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Sleep;
use tokio_postgres::config::{Host, SslMode, SslNegotiation};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{NoTls, Row};

use crate::cause::Cause;
use crate::observe::{self, Dependency};
use tracing::Instrument;

/// How to reach PostgreSQL: read by [`crate::config`].
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

/// Why [`Db::new`] cannot use `DATABASE_URL`: the rest of a sentence
/// that begins with the variable's name (the caller knows which one it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusableUrl(pub String);

impl std::fmt::Display for UnusableUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnusableUrl {}

/// The pool plus the time budget every database call gets.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    timeout: Duration,
    timer: Arc<KeptTimer>,
}

impl Db {
    /// Builds the pool without connecting: the first request connects, so a
    /// cold start does not wait on the database and `/health` can report it.
    pub fn new(config: &DbConfig) -> Result<Self, UnusableUrl> {
        let url = config.url.expose_secret();
        let mut pg: tokio_postgres::Config = url
            .parse()
            .map_err(|e| UnusableUrl(format!("is not a valid PostgreSQL URL ({e})")))?;
        // Direct TLS (libpq's `sslnegotiation=direct`, PostgreSQL 17+ and
        // Neon's proxy) starts the handshake at once instead of asking with
        // an SSLRequest first: a round trip less before every connection.
        // As libpq, it is refused with any sslmode weaker than require,
        // which could not insist on TLS.
        let direct = pg.get_ssl_negotiation() == SslNegotiation::Direct;
        if direct && (pg.get_ssl_mode() != SslMode::Require || !url.contains("sslmode")) {
            return Err(UnusableUrl(
                "sets sslnegotiation=direct without sslmode=require: direct TLS cannot fall \
                 back to plaintext, so libpq refuses any weaker sslmode, and so does the API. \
                 Add sslmode=require (Neon: sslmode=require&channel_binding=require&\
                 sslnegotiation=direct)"
                    .into(),
            ));
        }
        if let Some(host) = remote_host(&pg)
            && pg.get_ssl_mode() != SslMode::Require
        {
            return Err(UnusableUrl(format!(
                "reaches {host} without sslmode=require: a database that is not on this machine \
                 must be reached over TLS, or a password and every task could cross the network \
                 in the clear (libpq's default, prefer, falls back to plaintext). Add \
                 sslmode=require (Neon: sslmode=require&channel_binding=require)"
            )));
        }
        pg.connect_timeout(config.connect_timeout);
        pg.application_name("todo-api");
        // `Fast` checks only that the connection is open: `Verified` would
        // add a `SELECT 1` round trip to every request.
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        // TLS whenever the URL's sslmode asks for it (Neon: require), with
        // the process's one connector (crate::outside::tls). native-tls always
        // verifies the server certificate and host name, which is stricter
        // than libpq's `require` and what Neon supports. `disable`, and a
        // loopback database named with no sslmode at all (`make dev`),
        // build no TLS: libpq's default, `prefer`, would build a connector
        // (its trust roots) only to protect traffic that never leaves the
        // machine. An explicit `sslmode=prefer` keeps its meaning.
        let local_default = remote_host(&pg).is_none() && !url.contains("sslmode");
        let manager = if pg.get_ssl_mode() == SslMode::Disable || local_default {
            Manager::from_config(pg, NoTls, manager_config)
        } else {
            let tls = crate::outside::tls::database_connector(direct).map_err(|e| {
                UnusableUrl(format!(
                    "needs TLS, which could not be set up ({})",
                    Cause::new(e)
                ))
            })?;
            Manager::from_config(pg, MakeTlsConnector::new(tls), manager_config)
        };
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
            .map_err(|e| UnusableUrl(format!("could not build a pool ({e})")))?;
        Ok(Db {
            pool,
            timeout: config.timeout,
            timer: Arc::default(),
        })
    }

    /// Opens the pool's first connection, if it has none, and runs
    /// `statements` on it, their rows dropped: Init's head start (see
    /// `crate::web::handlers::TasksState`, `crate::domain::tasks::warm_up`). A new server
    /// backend reads the catalog (the table, its indexes, their types) and
    /// plans a statement the first time it meets it, 2 ms of a first
    /// request on loopback that Init pays instead. The statements go
    /// together, pipelined: one round trip for all of them, which is what
    /// counts where the database is a network away (#42). A failure is left
    /// for a request to meet (and answer) as it would have.
    pub async fn prefetch(&self, statements: &[(&Statement, &Params<'_>)]) {
        if self.connections() > 0 {
            return;
        }
        let client = match self.pool.get().await {
            Ok(client) => client,
            Err(error) => {
                tracing::warn!(%error, "Init could not open a database connection");
                return;
            }
        };
        let sent = statements
            .iter()
            .map(|(statement, params)| client.query_typed(statement.sql, params));
        for result in futures_util::future::join_all(sent).await {
            if let Err(error) = result {
                tracing::warn!(%error, "Init's warm-up statement failed");
            }
        }
    }

    /// How many connections the pool holds, in use or idle.
    pub fn connections(&self) -> usize {
        self.pool.status().size
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

    /// Runs one statement on a pooled connection within `budget` (and the
    /// request's deadline) and returns its rows, or a [`DbError`] that says
    /// whether the database was unavailable (the web edge's 503) or the
    /// statement failed otherwise (a 500).
    ///
    /// A connection that timed out or failed at the connection level is
    /// discarded, never returned to the pool: its server may be gone, hung
    /// or unreachable, and the next request would wait on it too. When the
    /// connection failed under the statement and `retry` allows it, the
    /// statement runs once more on a fresh connection, within what is left
    /// of the same budget.
    pub async fn query_within(
        &self,
        budget: Duration,
        statement: &Statement,
        params: &Params<'_>,
    ) -> Result<Vec<Row>, DbError> {
        let Statement { sql, kind } = *statement;
        let budget = match crate::deadline::current() {
            Some(deadline) => budget.min(deadline.saturating_duration_since(Instant::now())),
            None => budget,
        };
        let until = tokio::time::Instant::now() + budget;
        // A write's last parameter is the moment this request stops waiting
        // for it, in the server's terms; see `Kind::Write`.
        let fence: DateTime<Utc>;
        let mut fenced: Vec<(&(dyn ToSql + Sync), Type)>;
        let (params, retry) = match kind {
            Kind::Read => (params, Retry::Once),
            Kind::Write(retry) => {
                fence = Utc::now() + budget;
                fenced = params.to_vec();
                fenced.push((&fence, Type::TIMESTAMPTZ));
                (&fenced[..], retry)
            }
        };
        let started = Instant::now();
        let started_at = SystemTime::now();
        let span = tracing::info_span!("db.query", kind = ?kind);
        let result = self
            .attempts(until, sql, params, retry)
            .instrument(span)
            .await;
        observe::add_db_time(started.elapsed());
        crate::outside::xray::called("PostgreSQL", started_at, result.is_err());
        if result.as_ref().is_err_and(DbError::is_unavailable) {
            observe::unavailable(Dependency::Database);
        }
        result
    }

    /// [`Db::query_within`]'s attempts: once, or twice after a connection
    /// failure when `retry` allows it, all before `until`.
    async fn attempts(
        &self,
        until: tokio::time::Instant,
        sql: &str,
        params: &Params<'_>,
        retry: Retry,
    ) -> Result<Vec<Row>, DbError> {
        let (runtime, mut timer) = self.timer.take(until);
        let mut retried = false;
        let outcome = loop {
            let mut held: Option<Object> = None;
            let attempt = async {
                let pooled = self.pool.get().await;
                let client = held.insert(pooled.map_err(|e| Failure::Other(DbError::from(e)))?);
                client.query_typed(sql, params).await.map_err(|error| {
                    if is_connection_failure(&error) {
                        Failure::Connection(error)
                    } else {
                        Failure::Other(DbError::Statement(error))
                    }
                })
            };
            let outcome = tokio::select! {
                biased;
                outcome = attempt => outcome,
                () = timer.as_mut() => Err(Failure::TimedOut),
            };
            if matches!(outcome, Err(Failure::Connection(_) | Failure::TimedOut))
                && let Some(client) = held.take()
            {
                drop(Object::take(client));
            }
            match outcome {
                Err(Failure::Connection(error)) if retry == Retry::Once && !retried => {
                    tracing::info!(%error, "connection failed under a statement; once more on a fresh one");
                    retried = true;
                }
                outcome => break outcome,
            }
        };
        self.timer.keep((runtime, timer));
        outcome.map_err(Failure::into_error)
    }

    /// [`Db::query_within`] with the configured budget.
    pub async fn query(
        &self,
        statement: &Statement,
        params: &Params<'_>,
    ) -> Result<Vec<Row>, DbError> {
        self.query_within(self.timeout, statement, params).await
    }
}

/// The statement deadline's timer, kept armed from one statement to the next.
///
/// Arming a fresh tokio timer for every statement makes the runtime wake its
/// own driver (tokio unparks it whenever a new timer is due before the
/// driver's next wake-up: an eventfd write, then an `epoll_wait` that returns
/// at once), 3 µs of a warm `GET` by id (`make bench`, on one core). Moving
/// an armed timer to a later moment is one atomic store. So the last
/// statement's timer stays armed (it fires, unheard, a budget after the last
/// statement), and the next statement moves it on. A statement that finds
/// none (the first, one beside another, one on another runtime) arms its own.
#[derive(Default)]
struct KeptTimer(Mutex<Option<(tokio::runtime::Id, Pin<Box<Sleep>>)>>);

impl KeptTimer {
    /// A timer due at `until`, with the id of the runtime it belongs to:
    /// the kept one if it is this runtime's (one of another, say a finished
    /// test's, could not be polled here).
    fn take(&self, until: tokio::time::Instant) -> (tokio::runtime::Id, Pin<Box<Sleep>>) {
        let runtime = tokio::runtime::Handle::current().id();
        let kept = self.0.lock().ok().and_then(|mut kept| kept.take());
        let timer = match kept {
            Some((id, mut timer)) if id == runtime => {
                timer.as_mut().reset(until);
                timer
            }
            _ => Box::pin(tokio::time::sleep_until(until)),
        };
        (runtime, timer)
    }

    /// Keeps what [`KeptTimer::take`] gave for the next statement, unless
    /// one is already kept.
    fn keep(&self, timer: (tokio::runtime::Id, Pin<Box<Sleep>>)) {
        if let Ok(mut kept) = self.0.lock()
            && kept.is_none()
        {
            *kept = Some(timer);
        }
    }
}

/// A statement's parameters, each with its type (sent with `query_typed`).
pub type Params<'a> = [(&'a (dyn ToSql + Sync), Type)];

/// A statement and what it does, defined together: a write's SQL, its
/// fence (see [`Kind::Write`]) and whether it may be retried are stated in
/// one place (`crate::domain::tasks`, whose unit test holds every write to its
/// fence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement {
    pub sql: &'static str,
    pub kind: Kind,
}

impl Statement {
    pub const fn read(sql: &'static str) -> Self {
        Statement {
            sql,
            kind: Kind::Read,
        }
    }

    pub const fn write(sql: &'static str, retry: Retry) -> Self {
        Statement {
            sql,
            kind: Kind::Write(retry),
        }
    }
}

/// What a statement does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// It only reads: retried once when its connection fails under it.
    Read,
    /// It writes. Its SQL must take one more parameter than `params` holds,
    /// the last one (a `timestamptz`, added by [`Db`]), and apply nothing
    /// unless `clock_timestamp()` is before it: the moment this request
    /// stops waiting. A statement that reaches a server only later (held in
    /// a hung connection, a stopped backend) then changes nothing, instead
    /// of applying after the client was told 503 and may have gone on (the
    /// soak test saw a create held 5 s in a stopped backend apply after its
    /// retry had been answered and deleted).
    Write(Retry),
}

/// Whether a statement may run a second time after its connection failed
/// under it, when nobody can know whether the server received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// It reads, or running it twice is running it once (a full
    /// replacement; a create under an `Idempotency-Key`, whose second run
    /// finds the first one's task): once more, on a fresh connection.
    Once,
    /// A second run could apply it twice (a toggle, a create without a key)
    /// or answer for the first one (a delete would say 404): never.
    Never,
}

/// How one attempt failed.
enum Failure {
    /// The connection failed under the statement (I/O, closed, protocol,
    /// the server ending the session).
    Connection(tokio_postgres::Error),
    TimedOut,
    Other(DbError),
}

impl Failure {
    fn into_error(self) -> DbError {
        match self {
            Failure::Connection(error) => DbError::Statement(error),
            Failure::TimedOut => DbError::TimedOut,
            Failure::Other(error) => error,
        }
    }
}

/// Why a statement got no rows back.
#[derive(Debug)]
pub enum DbError {
    /// It had no answer within its budget (or the request's deadline).
    TimedOut,
    /// No connection was free within the budget.
    NoConnection,
    /// The pool could not make or hand over a connection for another reason.
    Pool(PoolError),
    /// The server or the connection failed it ([`DbError::is_unavailable`]
    /// tells a database that is down or busy from a statement it refused).
    Statement(tokio_postgres::Error),
}

impl DbError {
    /// Whether the database itself was unreachable, overloaded or too slow
    /// (try again later: the contract's 503), as opposed to a statement it
    /// refused on a healthy connection or a broken set-up (a bug: a 500).
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::TimedOut | DbError::NoConnection => true,
            DbError::Pool(PoolError::Backend(error)) | DbError::Statement(error) => {
                is_transient(error)
            }
            DbError::Pool(_) => false,
        }
    }
}

impl From<PoolError> for DbError {
    fn from(error: PoolError) -> Self {
        match error {
            PoolError::Timeout(_) => DbError::NoConnection,
            other => DbError::Pool(other),
        }
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::TimedOut => f.write_str("database did not answer within the budget"),
            DbError::NoConnection => f.write_str("timed out waiting for a connection"),
            DbError::Pool(error) => write!(f, "{error}"),
            DbError::Statement(error) => write!(f, "{error}"),
        }
    }
}

/// The wrapped error's own sources: its text is already this one's.
impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DbError::Pool(error) => error.source(),
            DbError::Statement(error) => error.source(),
            DbError::TimedOut | DbError::NoConnection => None,
        }
    }
}

/// The first host of `config` that is neither loopback nor a Unix socket.
fn remote_host(config: &tokio_postgres::Config) -> Option<String> {
    // `hostaddr` is where the connection really goes (`host` then only
    // names the server for TLS), so every address is judged as well as
    // every host of a multi-host URL.
    let address = config
        .get_hostaddrs()
        .iter()
        .find(|ip| !ip.is_loopback())
        .map(|ip| format!("hostaddr {ip}"));
    address.or_else(|| {
        config.get_hosts().iter().find_map(|host| match host {
            Host::Tcp(name) => {
                let loopback = name.eq_ignore_ascii_case("localhost")
                    || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
                (!loopback).then(|| name.clone())
            }
            Host::Unix(_) => None,
        })
    })
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

/// Whether `error` means "try again later": the connection itself failed,
/// or the server is shutting down, overloaded, out of connections, or
/// cancelled the statement (its timeout); any other server error is a bug
/// of ours.
fn is_transient(error: &tokio_postgres::Error) -> bool {
    let Some(db) = error.as_db_error() else {
        return true;
    };
    let code = db.code().code();
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources, too many connections
        || code.starts_with("57P") // admin/crash shutdown, cannot connect now
        || code == "57014" // statement cancelled or timed out
        || code == "40001" // serialization failure
        || code == "40P01" // deadlock detected
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(url: &str) -> Option<String> {
        let config = DbConfig {
            url: url.into(),
            pool_size: 1,
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            max_idle: Duration::from_secs(1),
        };
        Db::new(&config).err().map(|e| e.to_string())
    }

    /// Direct TLS needs `sslmode=require`, as libpq says: a weaker mode
    /// (or none, whose default is `prefer`) is refused at start-up (the
    /// caller names the variable).
    #[test]
    fn direct_tls_with_a_weaker_sslmode_is_refused() {
        for url in [
            "postgres://api:pw@db.example.com/db?sslnegotiation=direct&sslmode=prefer",
            "postgres://api:pw@localhost/db?sslnegotiation=direct&sslmode=disable",
            "postgres://api:pw@localhost/db?sslnegotiation=direct",
        ] {
            let refusal = refusal(url).unwrap_or_else(|| panic!("{url} was accepted"));
            assert!(
                refusal.starts_with("sets sslnegotiation=direct without sslmode=require"),
                "{url}: {refusal}"
            );
        }
        let neon = "postgresql://api:pw@ep-x-pooler.us-east-2.aws.neon.tech/neondb\
                    ?sslmode=require&channel_binding=require&sslnegotiation=direct";
        assert_eq!(refusal(neon), None);
    }

    /// TLS is required wherever the connection really goes: a remote
    /// `hostaddr` behind a loopback `host`, or any remote host of several.
    #[test]
    fn a_remote_target_without_tls_is_refused_whatever_names_it() {
        for url in [
            "postgres://api:pw@localhost:5432/neondb?hostaddr=192.0.2.2",
            "postgres://api:pw@localhost,localhost/db?hostaddr=127.0.0.1,192.0.2.2",
            "postgres://api:pw@localhost,db.example.com/db",
            "postgres://api:pw@db.example.com/db?sslmode=prefer",
            "host=localhost hostaddr=192.0.2.2 user=api password=pw dbname=neondb",
        ] {
            let refusal = refusal(url).unwrap_or_else(|| panic!("{url} was accepted"));
            assert!(
                refusal.starts_with("reaches") && refusal.contains("without sslmode=require"),
                "{url}: {refusal}"
            );
        }
        for url in [
            "postgres://api:pw@localhost:5432/neondb?hostaddr=127.0.0.1",
            "postgres://api:pw@localhost,127.0.0.1/db",
            "postgres://api:pw@localhost:5432/neondb?hostaddr=192.0.2.2&sslmode=require",
        ] {
            assert_eq!(refusal(url), None, "{url}");
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn a_kept_timer_is_moved_to_the_next_deadline_and_fires_there() {
        let kept = KeptTimer::default();
        runtime().block_on(async {
            let first = tokio::time::Instant::now() + Duration::from_millis(5);
            kept.keep(kept.take(first));
            let second = first + Duration::from_millis(30);
            let (runtime, mut timer) = kept.take(second);
            assert_eq!(timer.deadline(), second);
            // Not at the first deadline, which it was armed for before...
            let early =
                tokio::time::timeout_at(first + Duration::from_millis(10), timer.as_mut()).await;
            assert!(early.is_err(), "the kept timer fired at its old deadline");
            timer.as_mut().await;
            assert!(tokio::time::Instant::now() >= second);
            kept.keep((runtime, timer));
        });
        runtime().block_on(async {
            // ...and one kept on a runtime that is gone is not polled here
            // (it would panic): a fresh one fires at its deadline.
            let until = tokio::time::Instant::now() + Duration::from_millis(5);
            let (_, timer) = kept.take(until);
            timer.await;
            assert!(tokio::time::Instant::now() >= until);
        });
    }

    #[test]
    fn one_timer_is_kept_however_many_statements_ran_at_once() {
        let kept = KeptTimer::default();
        runtime().block_on(async {
            let until = tokio::time::Instant::now() + Duration::from_secs(5);
            let (one, two) = (kept.take(until), kept.take(until));
            kept.keep(one);
            kept.keep(two);
            assert!(kept.0.lock().unwrap().is_some());
            let (_, three) = kept.take(until);
            assert_eq!(three.deadline(), until);
            assert!(kept.0.lock().unwrap().is_none());
        });
    }
}

//! What each request reports about itself: facts gathered while it runs
//! (database time, the caller, a dependency that failed), whether it was
//! its container's first, and a one-way name for the caller.
//!
//! The facts live in a task-local scope that [`crate::web::http::serve`] opens
//! around each request; the database and authentication code add to it
//! without knowing about logs or metrics. Outside a scope (tests calling
//! `tasks::` directly, `migrate`) the calls do nothing.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Where a sampled invocation's subsegments go: its trace and the segment
/// Lambda made for the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub root: String,
    pub parent: String,
}

impl Trace {
    /// From the invocation's trace header; `None` unless it is sampled and
    /// names its root and parent.
    pub fn from_header(header: &str) -> Option<Self> {
        let field = |name: &str| {
            header
                .split(';')
                .find_map(|part| part.trim().strip_prefix(name)?.strip_prefix('='))
        };
        if field("Sampled") != Some("1") {
            return None;
        }
        Some(Trace {
            root: field("Root")?.to_owned(),
            parent: field("Parent")?.to_owned(),
        })
    }
}

/// A dependency whose failure made the request a 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    Database,
    Jwks,
}

/// What one request learnt while it ran.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    db_time: Cell<Duration>,
    user: RefCell<Option<String>>,
    unavailable: Cell<Option<Dependency>>,
    trace: RefCell<Option<Trace>>,
}

impl Facts {
    /// Time spent waiting on the database (checkout, connect, statements).
    pub fn db_time(&self) -> Duration {
        self.db_time.get()
    }

    /// [`user_hash`] of the authenticated caller, if any.
    pub fn user(&self) -> Option<String> {
        self.user.borrow().clone()
    }

    pub fn unavailable(&self) -> Option<Dependency> {
        self.unavailable.get()
    }
}

tokio::task_local! {
    static FACTS: Facts;
}

/// Runs `future` with fresh facts, and returns them with its output.
pub async fn gather<F: Future>(future: F) -> (F::Output, Facts) {
    let facts = Facts::default();
    FACTS
        .scope(facts, async {
            let output = future.await;
            (output, FACTS.with(Facts::clone))
        })
        .await
}

pub fn add_db_time(elapsed: Duration) {
    let _ = FACTS.try_with(|facts| facts.db_time.set(facts.db_time.get() + elapsed));
}

pub fn caller(user_id: &str) {
    let _ = FACTS.try_with(|facts| *facts.user.borrow_mut() = Some(user_hash(user_id)));
}

/// The invocation's X-Ray trace header, when Lambda traces it.
pub fn traced(header: &str) {
    let _ = FACTS.try_with(|facts| *facts.trace.borrow_mut() = Trace::from_header(header));
}

/// Runs `record` with the request's trace, when it has one.
pub fn with_trace(record: impl FnOnce(&Trace)) {
    let _ = FACTS.try_with(|facts| {
        if let Some(trace) = facts.trace.borrow().as_ref() {
            record(trace);
        }
    });
}

pub fn unavailable(dependency: Dependency) {
    let _ = FACTS.try_with(|facts| facts.unavailable.set(Some(dependency)));
}

/// Whether this is the container's first request (true once per process).
pub fn cold_start() -> bool {
    static FIRST: AtomicBool = AtomicBool::new(true);
    FIRST.swap(false, Ordering::Relaxed)
}

/// When the process began its Init: the start of reading its settings
/// (`crate::config::load`, `crate::config::Reporting::load`), the first
/// thing `main` does after the trust roots.
static STARTED: OnceLock<Instant> = OnceLock::new();

/// Marks the start of Init, once.
pub fn init_started() {
    let _ = STARTED.get_or_init(Instant::now);
}

/// How long since [`init_started`]: on the first request, the Init it
/// waited for.
pub fn init_time() -> Option<Duration> {
    STARTED.get().map(Instant::elapsed)
}

/// The process's peak resident memory so far, in MB (`getrusage`: one
/// system call, no file read).
pub fn peak_memory_mb() -> u64 {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_SELF).map_or(0, |usage| {
        u64::try_from(usage.max_rss()).unwrap_or(0) / 1024
    })
}

/// A stable, non-reversible name for a user id in logs: the first 16 hex
/// digits of SHA-256 over a fixed prefix and the id. One user's requests can
/// be followed; the id itself (which Better Auth also uses in URLs and its
/// own tables) never reaches a log.
pub fn user_hash(user_id: &str) -> String {
    let digest = Sha256::digest(format!("todo-api user {user_id}").as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn facts_are_per_request_and_nothing_outside_one() {
        add_db_time(Duration::from_secs(9));
        let ((), facts) = gather(async {
            add_db_time(Duration::from_millis(3));
            add_db_time(Duration::from_millis(4));
            caller("alice");
            unavailable(Dependency::Jwks);
        })
        .await;
        assert_eq!(facts.db_time(), Duration::from_millis(7));
        assert_eq!(facts.user(), Some(user_hash("alice")));
        assert_eq!(facts.unavailable(), Some(Dependency::Jwks));
        let ((), fresh) = gather(async {}).await;
        assert_eq!((fresh.db_time(), fresh.user()), (Duration::ZERO, None));
    }

    #[test]
    fn only_sampled_invocations_are_traced() {
        const HEADER: &str =
            "Root=1-6b099459-5a01960328e5fc589f8af651;Parent=0e94e3ee19cc3307;Sampled=1";
        let trace = Trace::from_header(HEADER).unwrap();
        assert_eq!(trace.root, "1-6b099459-5a01960328e5fc589f8af651");
        assert_eq!(trace.parent, "0e94e3ee19cc3307");
        assert!(Trace::from_header(&HEADER.replace("Sampled=1", "Sampled=0")).is_none());
        assert!(Trace::from_header("Root=1-6b099459-5a01960328e5fc589f8af651;Sampled=1").is_none());
        assert!(Trace::from_header("").is_none());
    }

    #[test]
    fn user_hashes_are_stable_short_and_not_the_id() {
        assert_eq!(user_hash("alice"), user_hash("alice"));
        assert_ne!(user_hash("alice"), user_hash("alice "));
        assert_eq!(user_hash("alice").len(), 16);
        assert!(!user_hash("alice").contains("alice"));
    }
}

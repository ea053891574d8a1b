//! The request's deadline: when it must be answered by (the Lambda
//! invocation's deadline less a margin), set by `crate::web::http::serve` around
//! a handler and read by every database wait inside it (`crate::outside::db`), so
//! that a slow database yields the contract's 503, never a Lambda timeout
//! (which API Gateway answers with a bare 503). A module of its own, so the
//! web edge and the database meet here, not in each other.

use std::future::Future;
use std::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `future` with `deadline` (when there is one) as the current one.
pub async fn within<F: Future>(deadline: Option<Instant>, future: F) -> F::Output {
    match deadline {
        Some(deadline) => DEADLINE.scope(deadline, future).await,
        None => future.await,
    }
}

/// The deadline of the request being served, if any.
pub fn current() -> Option<Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok()
}

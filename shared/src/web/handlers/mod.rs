//! The route-group handlers: plain async functions from a `lambda_http`
//! request to a response, one module per Lambda function. They always return
//! a response; errors become contract-shaped bodies in [`crate::web::http::serve`].

pub mod docs;
pub mod health;
pub mod tasks_collection;
pub mod tasks_item;

use std::time::Duration;

use crate::config::{self, AuthConfig, ConfigError, DbConfig, TasksConfig};
use crate::outside::db::Db;
use crate::web::auth::Verifier;

/// What the task route groups build once per container.
pub struct TasksState {
    pub db: Db,
    pub verifier: Verifier,
    /// `MAX_TASKS_PER_USER`: a create beyond it is a 409.
    pub max_tasks_per_user: i64,
}

impl TasksState {
    /// With the default [`config::DEFAULT_MAX_TASKS_PER_USER`].
    pub fn new(db: &DbConfig, auth: &AuthConfig) -> Result<Self, ConfigError> {
        Ok(TasksState {
            db: Db::new(db)?,
            verifier: Verifier::new(auth)?,
            max_tasks_per_user: config::DEFAULT_MAX_TASKS_PER_USER,
        })
    }

    /// [`TasksState::from_config`], then [`TasksState::prefetch`] and
    /// [`Verifier::rehearse`]: this is the Init path.
    pub async fn start(config: &TasksConfig) -> Result<Self, ConfigError> {
        let state = Self::from_config(config)?;
        state.prefetch(PREFETCH_BUDGET).await;
        state.verifier.rehearse().await;
        Ok(state)
    }

    pub fn from_config(config: &TasksConfig) -> Result<Self, ConfigError> {
        Ok(TasksState {
            max_tasks_per_user: config.max_tasks_per_user,
            ..Self::new(&config.db, &config.auth)?
        })
    }

    /// Opens the first database connection (and warms its server backend
    /// with the read statements, [`crate::domain::tasks::warm_up`]) and fetches the
    /// JWKS (when it comes from a URL) at once, for at most `budget`: work
    /// every first request would otherwise do, one after the other, over
    /// the network.
    /// Lambda runs Init at full CPU and, for provisioned or proactively
    /// initialised containers, before any user waits. Whatever is not done
    /// in time, or fails, is left to the first request, which does it as
    /// it always has: Init itself never fails for it.
    pub async fn prefetch(&self, budget: Duration) {
        let both = futures_util::future::join(
            crate::domain::tasks::warm_up(&self.db),
            self.verifier.prefetch(),
        );
        if tokio::time::timeout(budget, both).await.is_err() {
            tracing::warn!(
                budget_ms = budget.as_millis() as u64,
                "Init's database connection and JWKS fetch did not finish in time; \
                 the first request completes them"
            );
        }
    }
}

/// How long Init may spend on [`TasksState::prefetch`]: many times what a
/// healthy connection and fetch take, short enough that an unreachable
/// database does not hold Init for its whole connect timeout. (A Neon
/// compute waking from suspension can take longer; the attempt still wakes
/// it, and the first request waits for the rest.)
pub const PREFETCH_BUDGET: Duration = Duration::from_secs(1);

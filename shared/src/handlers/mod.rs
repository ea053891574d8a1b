//! The route-group handlers: plain async functions from a `lambda_http`
//! request to a response, one module per Lambda function. They always return
//! a response; errors become contract-shaped bodies in [`crate::http::serve`].

pub mod docs;
pub mod health;
pub mod tasks_collection;
pub mod tasks_item;

use crate::auth::Verifier;
use crate::config::{self, AuthConfig, ConfigError, DbConfig};
use crate::db::Db;
use crate::secrets::Environment;

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

    /// From the environment, secrets resolved; fails naming the first bad
    /// variable.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let env = Environment::load().await?;
        Ok(TasksState {
            max_tasks_per_user: config::max_tasks_per_user(env.lookup())?,
            ..Self::new(
                &DbConfig::from_lookup(env.lookup())?,
                &AuthConfig::from_lookup(env.lookup())?,
            )?
        })
    }
}

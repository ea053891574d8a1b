//! The route-group handlers: plain async functions from a `lambda_http`
//! request to a response, one module per Lambda function. They always return
//! a response; errors become contract-shaped bodies in [`crate::http::serve`].

pub mod docs;
pub mod health;
pub mod tasks_collection;
pub mod tasks_item;

use crate::auth::Verifier;
use crate::config::{AuthConfig, ConfigError, DbConfig};
use crate::db::Db;
use crate::secrets::Environment;

/// What the task route groups build once per container.
pub struct TasksState {
    pub db: Db,
    pub verifier: Verifier,
}

impl TasksState {
    pub fn new(db: &DbConfig, auth: &AuthConfig) -> Result<Self, ConfigError> {
        Ok(TasksState {
            db: Db::new(db)?,
            verifier: Verifier::new(auth)?,
        })
    }

    /// From the environment, secrets resolved; fails naming the first bad
    /// variable.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let env = Environment::load().await?;
        Self::new(
            &DbConfig::from_lookup(env.lookup())?,
            &AuthConfig::from_lookup(env.lookup())?,
        )
    }
}

//! The route-group handlers: plain async functions from a `lambda_http`
//! request to a response, one module per Lambda function. They always return
//! a response; errors become contract-shaped bodies in [`crate::http::serve`].

pub mod health;
pub mod tasks_collection;
pub mod tasks_item;

use crate::auth::Verifier;
use crate::config::{AuthConfig, ConfigError, DbConfig};
use crate::db::Db;

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

    /// From the environment; fails naming the first bad variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::new(&DbConfig::from_env()?, &AuthConfig::from_env()?)
    }
}

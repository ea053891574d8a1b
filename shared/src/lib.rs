//! The Todo API's domain logic, shared by every Lambda function.
//!
//! Each binary under `functions/` is a thin `main` that builds its state once
//! per container ([`handlers::TasksState`] or a [`db::Db`]) and hands one of the
//! route-group handlers in [`handlers`] to `lambda_http::run`. Everything else
//! (configuration, auth, validation, SQL, the error contract) lives here so the
//! functions cannot drift apart.

pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod handlers;
pub mod http;
pub mod jwks;
pub mod logging;
pub mod metrics;
pub mod migrations;
pub mod observe;
pub mod openapi;
pub mod routes;
pub mod secrets;
pub mod tasks;
pub mod validate;
pub mod xray;

/// The version reported by `GET /health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

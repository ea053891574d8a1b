//! The Todo API's domain logic, shared by every Lambda function.
//!
//! Each binary under `functions/` is a thin `main` that builds its state once
//! per container ([`handlers::TasksState`] or a [`db::Db`]) and hands one of the
//! route-group handlers in [`handlers`] to `lambda_http::run`. Everything else
//! (configuration, auth, validation, SQL, the error contract) lives here so the
//! functions cannot drift apart.
//!
//! The binaries run tokio's current-thread runtime: a Lambda instance serves
//! one request at a time on a fraction of a vCPU, and a second worker thread
//! only adds hand-offs between threads (`make bench`: warm `GET` by id 1.33×
//! the floor instead of 1.64×, 8 instances' throughput 0.71× instead of 0.55×).

pub mod auth;
pub mod aws_http;
pub mod cause;
pub mod config;
pub mod db;
pub mod deadline;
pub mod error;
pub mod handlers;
pub mod http;
pub mod https;
pub mod jwks;
pub mod logging;
pub mod metrics;
pub mod migrations;
pub mod observe;
pub mod openapi;
pub mod routes;
pub mod secrets;
pub mod tasks;
pub mod tls;
pub mod validate;
pub mod values;
pub mod xray;

/// The version reported by `GET /health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

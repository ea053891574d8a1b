//! The Todo API's domain logic, shared by every Lambda function.
//!
//! Each binary under `functions/` is a thin `main` that reads its settings
//! ([`config`]) and builds its state once per container
//! ([`web::handlers::TasksState`] or a [`outside::db::Db`]) and
//! hands one of the route-group handlers in [`web::handlers`] to
//! `lambda_http::run`. Everything else (configuration, auth, validation, SQL,
//! the error contract) lives here so the functions cannot drift apart.
//!
//! In layers, each importing only from those below it:
//! - [`web`], the edge: the request pipeline, the handlers, the route table,
//!   the token check, the error contract, the request's log line, the
//!   OpenAPI document; beside it [`migrations`], which only `migrate` runs;
//! - [`domain`], what the API is about: values that carry their rules,
//!   validation of what a client sends, the tasks and their statements;
//!   beside it [`config`], each function's settings read from the
//!   environment into the types of the parts below that use them;
//! - [`outside`], the world it talks to: the database, Secrets Manager,
//!   Better Auth's JWKS, X-Ray, CloudWatch's metrics, TLS;
//! - beneath them all: the request's deadline and facts ([`deadline`],
//!   [`observe`]) and a failure's [`cause`].
//!
//! The binaries run tokio's current-thread runtime: a Lambda instance serves
//! one request at a time on a fraction of a vCPU, and a second worker thread
//! only adds hand-offs between threads (`make bench`: warm `GET` by id 1.33×
//! the floor instead of 1.64×, 8 instances' throughput 0.71× instead of 0.55×).

pub mod domain;
pub mod outside;
pub mod web;

pub mod cause;
pub mod config;
pub mod deadline;
pub mod migrations;
pub mod observe;

/// The version reported by `GET /health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

//! The integration tests, one binary (each test binary links the whole API,
//! so one link instead of a dozen). Each module is a suite;
//! `e2e` is ignored in a plain `cargo test` and run by `make test` against
//! `cargo lambda watch`.

mod auth;
mod better_auth;
mod browser;
mod client;
mod conformance;
mod connections;
mod contract;
mod docs;
mod e2e;
mod failures;
mod faults;
mod links;
mod local_server;
mod logs;
mod make_dev;
mod metrics;
mod migrations;
mod pooled;
mod properties;
mod readme;
mod round_trips;
mod routes;
mod secrets;
mod start_up;
mod tasks;
mod tls;

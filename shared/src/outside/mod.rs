//! The world the API talks to: PostgreSQL ([`db`]), Secrets Manager
//! ([`secrets`], over [`aws_http`]), Better Auth's JWKS ([`jwks`], over
//! [`https`]), X-Ray ([`xray`]), CloudWatch's metrics ([`metrics`]) and the
//! one TLS client all of them share ([`tls`]).

pub mod aws_http;
pub mod db;
pub mod https;
pub mod jwks;
pub mod metrics;
pub mod secrets;
pub mod tls;
pub mod xray;

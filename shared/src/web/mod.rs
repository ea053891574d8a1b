//! The web edge: a Lambda's HTTP request in, a contract-shaped response out.
//! The request pipeline ([`http`]), the handler of each route group
//! ([`handlers`]) over the route table ([`routes`]), the token check
//! ([`auth`]), the one error contract ([`error`]), each request's log line
//! ([`logging`]) and the OpenAPI document ([`openapi`]).

pub mod auth;
pub mod error;
pub mod handlers;
pub mod http;
pub mod logging;
pub mod openapi;
pub mod routes;

//! Health, and what clients see when the database is down, slow or broken.

use std::time::{Duration, Instant};

use serde_json::json;
use todo_shared::config::{ConfigError, DbConfig};
use todo_shared::outside::db::Db;
use todo_shared::web::handlers::{TasksState, health};
use todo_tests::*;

fn db_at(url: String) -> DbConfig {
    DbConfig {
        url: url.into(),
        pool_size: 1,
        connect_timeout: Duration::from_secs(10),
        timeout: Duration::from_secs(5),
        max_idle: Duration::from_secs(120),
    }
}

/// A port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// One request to every task route, as `user`.
async fn health_of(db: &Db) -> Reply {
    Reply::new(health::handle(db, Event::fixture("health").request()).await)
}

#[tokio::test]
async fn health_reports_ok_with_version() {
    let db = Db::new(&db_config()).unwrap();
    let reply = health_of(&db).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json,
        json!({"status": "ok", "database": "ok", "version": env!("CARGO_PKG_VERSION")})
    );
    let post =
        Reply::new(health::handle(&db, Event::fixture("health").method("POST").request()).await);
    post.expect_error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(post.header("allow"), Some("GET"));
}

#[tokio::test]
async fn health_is_degraded_within_3_seconds_when_the_database_is_silent() {
    let (port, server) = silent_server().await;
    let db = Db::new(&db_at(format!(
        "postgres://postgres@127.0.0.1:{port}/postgres"
    )))
    .unwrap();
    let started = Instant::now();
    let reply = within(Duration::from_secs(10), "health, silent", health_of(&db)).await;
    // A bound of the contract, not a speed measurement.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json["status"], "degraded");
    assert_eq!(reply.json["database"], "unreachable");
    assert_eq!(reply.json["version"], env!("CARGO_PKG_VERSION"));
    server.abort();

    let refused = Db::new(&db_at(format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        closed_port()
    )))
    .unwrap();
    let reply = within(
        Duration::from_secs(3),
        "health, refused",
        health_of(&refused),
    )
    .await;
    assert_eq!(reply.status, 503);
}

#[tokio::test]
async fn task_routes_answer_503_with_retry_after_when_the_database_is_down() {
    let user = unique_user("down");
    let (port, server) = silent_server().await;
    for url in [
        format!("postgres://postgres@127.0.0.1:{}/postgres", closed_port()),
        format!("postgres://postgres@127.0.0.1:{port}/postgres"),
    ] {
        let mut config = db_at(url);
        config.timeout = Duration::from_millis(500);
        let state = TasksState::new(&config, &auth_config()).unwrap();
        for event in every_task_route(&user) {
            // The budget is 500 ms; the bound leaves room for a loaded machine.
            let (reply, lines) = logs::logged(within(
                Duration::from_secs(5),
                "a task route",
                call(&state, &event),
            ))
            .await;
            reply.expect_error(503, "SERVICE_UNAVAILABLE");
            assert!(reply.header("retry-after").is_some());
            // The cause, on the request line its id finds (API Gateway
            // sends the id to the client as `apigw-requestid`), once.
            let id = event.json()["requestContext"]["requestId"]
                .as_str()
                .unwrap()
                .to_owned();
            let line = logs::request_line(&lines, &id).expect("the 503's request line");
            assert_eq!(line["level"], "WARN", "{line}");
            let cause = line["fields"]["cause"].as_str().unwrap_or_default();
            assert!(
                [
                    "could not connect",
                    "Connection refused",
                    "timed out",
                    "did not answer"
                ]
                .iter()
                .any(|said| cause.contains(said)),
                "{line}"
            );
            assert_eq!(lines.len(), 1, "the cause is written once: {lines:?}");
        }
    }
    server.abort();
}

#[tokio::test]
async fn unexpected_failures_are_500_with_the_request_id_and_no_internals() {
    // A database without our schema: the query fails in a way no client caused.
    let (admin, name) = scratch_database("empty").await;
    let state = TasksState::new(&db_at(database_url_of(&name)), &auth_config()).unwrap();
    for event in every_task_route(&unique_user("500")) {
        let (reply, lines) = logs::logged(call(&state, &event)).await;
        let details = reply.expect_error(500, "INTERNAL_ERROR");
        let request_id = event.json()["requestContext"]["requestId"]
            .as_str()
            .unwrap();
        assert_eq!(details, &json!({"request_id": request_id}));
        let text = String::from_utf8_lossy(&reply.raw);
        assert!(
            !text.contains("relation") && !text.contains("does not exist"),
            "{text}"
        );
        // What the client was not told, the log has: found by that id.
        let line = logs::request_line(&lines, request_id).expect("the 500's request line");
        assert_eq!(line["level"], "ERROR", "{line}");
        let cause = line["fields"]["cause"].as_str().unwrap_or_default();
        assert!(cause.contains("does not exist"), "{line}");
        assert_eq!(lines.len(), 1, "the cause is written once: {lines:?}");
    }
    drop(state);
    drop_database(&admin, &name).await;
}

#[test]
fn a_bad_database_url_names_the_variable() {
    let err = ConfigError::from(
        Db::new(&db_at("postgres://host:notaport/db".into()))
            .err()
            .unwrap(),
    );
    assert_eq!(err.variable, "DATABASE_URL");
}

/// No plaintext to a remote database: for any host that is not loopback or
/// a Unix socket, sslmode must be require (libpq's default, prefer, falls
/// back to plaintext and a cleartext password). Neon's setting passes.
#[test]
fn a_remote_database_without_tls_is_refused() {
    for url in [
        "postgres://user:pw@db.example.com/app",
        "postgres://user:pw@db.example.com/app?sslmode=prefer",
        "postgres://user:pw@db.example.com/app?sslmode=disable",
        "postgres://user@10.0.0.5:5432/app",
        "postgres://user@localhost,db.example.com/app",
    ] {
        let err = ConfigError::from(Db::new(&db_at(url.into())).err().expect(url));
        assert_eq!(err.variable, "DATABASE_URL", "{url}");
        assert!(err.to_string().contains("sslmode=require"), "{url}: {err}");
        assert!(
            !err.to_string().contains("pw"),
            "the password is not repeated: {err}"
        );
    }
    for url in [
        "postgres://user:pw@db.example.com/app?sslmode=require",
        "postgresql://user:pw@ep-x-pooler.us-east-1.aws.neon.tech/neondb?sslmode=require&channel_binding=require",
        "postgres://user@127.0.0.1/app",
        "postgres://user@localhost:5432/app",
        "postgres://user@[::1]/app",
        "postgres://user@%2Fvar%2Frun%2Fpostgresql/app",
    ] {
        assert!(Db::new(&db_at(url.into())).is_ok(), "{url}");
    }
}

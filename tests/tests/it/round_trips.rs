//! Every task request is exactly one database round trip on a warm
//! connection, counted on the wire: a proxy in front of PostgreSQL counts the
//! client's `Sync` and simple `Query` messages, each of which ends a flight
//! the server answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use todo_shared::handlers::TasksState;
use todo_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Starts the proxy; returns its port and the live count of round trips.
async fn counting_proxy(upstream: String) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&upstream).await.unwrap();
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            tokio::spawn(async move { tokio::io::copy(&mut server_read, &mut client_write).await });
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut started = false;
                let mut chunk = [0u8; 8192];
                loop {
                    let n = match client_read.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&chunk[..n]);
                    // Whole messages only: the startup message has no type byte.
                    loop {
                        let header = if started { 5 } else { 4 };
                        if pending.len() < header {
                            break;
                        }
                        let len_at = usize::from(started);
                        let len =
                            u32::from_be_bytes(pending[len_at..len_at + 4].try_into().unwrap())
                                as usize;
                        let total = len + len_at;
                        if pending.len() < total {
                            break;
                        }
                        if started && matches!(pending[0], b'S' | b'Q') {
                            counter.fetch_add(1, Ordering::SeqCst);
                        }
                        pending.drain(..total);
                        started = true;
                    }
                    // Counted before forwarding, so the count is complete by
                    // the time the server can answer.
                    if server_write.write_all(&chunk[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_task_request_is_one_round_trip() {
    let url = database_url();
    let rest = url.split_once("://").unwrap().1;
    let (credentials_host, path) = rest.split_once('/').unwrap();
    let (credentials, host_port) = credentials_host.rsplit_once('@').unwrap();
    let database = path.split('?').next().unwrap();
    let (port, count) = counting_proxy(host_port.to_owned()).await;
    let mut config = db_config();
    config.url = format!("postgres://{credentials}@127.0.0.1:{port}/{database}?sslmode=disable");
    config.pool_size = 1;
    let state = TasksState::new(&config, &auth_config()).unwrap();
    let user = unique_user("trips");

    // Warm up: the first request also opens the connection.
    let first = create_task(&state, &user, "warm").await;
    let id = first["id"].as_i64().unwrap();
    let keyed = |key: &str| {
        Event::fixture("tasks-create")
            .as_user(&user)
            .header("idempotency-key", key)
            .body_json(&json!({"title": "keyed"}))
    };
    let cases = [
        (
            "list",
            Event::fixture("tasks-list")
                .as_user(&user)
                .query(&[("status", "pending")]),
        ),
        (
            "create",
            Event::fixture("tasks-create")
                .as_user(&user)
                .body_json(&json!({"title": "t"})),
        ),
        ("create with key", keyed("k1")),
        ("replay with key", keyed("k1")),
        (
            "get",
            Event::fixture("task-get").as_user(&user).task(id, false),
        ),
        (
            "put",
            Event::fixture("task-update")
                .as_user(&user)
                .task(id, false)
                .body_json(&json!({"title": "u", "completed": true})),
        ),
        (
            "toggle",
            Event::fixture("task-complete")
                .as_user(&user)
                .task(id, true),
        ),
        (
            "get missing",
            Event::fixture("task-get")
                .as_user(&user)
                .task(999_999_999_999i64, false),
        ),
        (
            "delete",
            Event::fixture("task-delete").as_user(&user).task(id, false),
        ),
    ];
    for (name, event) in cases {
        let before = count.load(Ordering::SeqCst);
        let reply = call(&state, &event).await;
        assert!(reply.status < 500, "{name}: {}", reply.json);
        assert_eq!(
            count.load(Ordering::SeqCst) - before,
            1,
            "{name}: round trips"
        );
    }
    // Requests refused before the database cost none.
    let before = count.load(Ordering::SeqCst);
    call(&state, &Event::fixture("tasks-list").query(&[]))
        .await
        .expect_error(401, "UNAUTHORIZED");
    call(
        &state,
        &Event::fixture("tasks-create").as_user(&user).body("{"),
    )
    .await
    .expect_invalid(&["body"]);
    assert_eq!(count.load(Ordering::SeqCst), before);
}

//! What crosses the wire to the database, counted by a proxy in front of
//! PostgreSQL: every task request is exactly one round trip on a warm
//! connection (the client's `Sync` and simple `Query` messages, each of
//! which ends a flight the server answers), and a page of large tasks reads
//! about what it returns (the bytes the server sends); and Init's warm-up
//! takes one round trip once the connection is ready (the flights the
//! client sends after the server has spoken).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::json;
use todo_shared::web::handlers::TasksState;
use todo_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The live counts of a [`counting_proxy`].
#[derive(Clone, Default)]
struct Wire {
    round_trips: Arc<AtomicUsize>,
    /// Bytes the server sent.
    received: Arc<AtomicUsize>,
    /// The client's flights: what it sends after the server has spoken
    /// (or first) is a new round trip, however many messages it holds.
    flights: Arc<AtomicUsize>,
    server_spoke: Arc<AtomicBool>,
}

/// Starts the proxy; returns its port and its counts.
async fn counting_proxy(upstream: String) -> (u16, Wire) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let wire = Wire::default();
    wire.server_spoke.store(true, Ordering::SeqCst);
    let counts = wire.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&upstream).await.unwrap();
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            let received = counts.received.clone();
            let spoke = counts.server_spoke.clone();
            tokio::spawn(async move {
                let mut chunk = vec![0u8; 65536];
                while let Ok(n @ 1..) = server_read.read(&mut chunk).await {
                    received.fetch_add(n, Ordering::SeqCst);
                    spoke.store(true, Ordering::SeqCst);
                    if client_write.write_all(&chunk[..n]).await.is_err() {
                        break;
                    }
                }
            });
            let counter = counts.round_trips.clone();
            let (flights, spoke) = (counts.flights.clone(), counts.server_spoke.clone());
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut started = false;
                let mut chunk = [0u8; 8192];
                loop {
                    let n = match client_read.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if spoke.swap(false, Ordering::SeqCst) {
                        flights.fetch_add(1, Ordering::SeqCst);
                    }
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
    (port, wire)
}

/// The task functions' state on one connection through a counting proxy
/// to the test database.
async fn counted_state() -> (TasksState, Wire) {
    let url = database_url();
    let rest = url.split_once("://").unwrap().1;
    let (credentials_host, path) = rest.split_once('/').unwrap();
    let (credentials, host_port) = credentials_host.rsplit_once('@').unwrap();
    let database = path.split('?').next().unwrap();
    let (port, wire) = counting_proxy(host_port.to_owned()).await;
    let mut config = db_config();
    config.url =
        format!("postgres://{credentials}@127.0.0.1:{port}/{database}?sslmode=disable").into();
    config.pool_size = 1;
    (TasksState::new(&config, &auth_config()).unwrap(), wire)
}

/// Init's warm-up (the list and the get, `tasks::warm_up`) is one round
/// trip once the connection is ready: the two statements are pipelined, not
/// sent one after the other (#42). Counted against the same connection's
/// opening alone. On one thread, as the functions run
/// (`#[tokio::main(flavor = "current_thread")]`): on two, the connection's
/// task could write the first statement before the second is queued, which
/// a loaded machine made happen in CI (1 run in 15 here with the CPUs busy).
#[tokio::test(flavor = "current_thread")]
async fn inits_warm_up_is_one_round_trip_after_the_connection() {
    let (state, wire) = counted_state().await;
    drop(state.db.connection().await.expect("a connection"));
    let opening = wire.flights.load(Ordering::SeqCst);
    assert!(
        opening >= 2,
        "the startup and its authentication: {opening}"
    );
    let (state, wire) = counted_state().await;
    state.prefetch(std::time::Duration::from_secs(5)).await;
    assert_eq!(
        state.db.connections(),
        1,
        "the warm-up opened the connection"
    );
    assert_eq!(
        wire.flights.load(Ordering::SeqCst),
        opening + 1,
        "the warm-up's statements took one round trip after the {opening} of the opening"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_task_request_is_one_round_trip() {
    let (state, wire) = counted_state().await;
    let count = wire.round_trips;
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

/// 1,001 tasks of 10,000 four-byte characters each (40 MB) and `limit=1000`:
/// each page is cut at 5 MiB, and the database sends about that much, not
/// every row the limit allows. Following the cursors reads every task once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_large_tasks_reads_about_what_it_returns() {
    const TASKS: i32 = 1001;
    let (state, wire) = counted_state().await;
    let user = unique_user("fat-list");
    pg().await
        .execute(
            "INSERT INTO tasks (user_id, title, description)
             SELECT $1, 'fat ' || n, repeat(chr(128512), 10000) FROM generate_series(1, $2) AS n",
            &[&user, &TASKS],
        )
        .await
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = vec![("limit", "1000")];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor));
        }
        let before = wire.received.load(Ordering::SeqCst);
        let reply = call(
            &state,
            &Event::fixture("tasks-list").as_user(&user).query(&query),
        )
        .await;
        let received = wire.received.load(Ordering::SeqCst) - before;
        assert_eq!(reply.status, 200, "{}", reply.json);
        assert!(reply.raw.len() <= todo_shared::domain::tasks::MAX_LIST_BYTES);
        // The page's tasks, plus the one that told the function to stop,
        // plus the protocol's framing: well under 6 MiB, where the whole
        // limit would be 40 MB.
        assert!(
            received < reply.raw.len() + 200_000,
            "page {pages}: the database sent {received} bytes for a page of {}",
            reply.raw.len()
        );
        pages += 1;
        for task in reply.json["tasks"].as_array().unwrap() {
            assert!(seen.insert(task["id"].as_i64().unwrap()), "a task twice");
        }
        match reply.json["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), TASKS as usize);
    assert!(pages >= 8, "{pages} pages of 40 MB");
}

//! Production conditions against the real server: a pooled connection whose
//! backend hangs or is terminated, a database that is slow to accept, and a
//! Lambda invocation whose deadline comes before the database budget.

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_http::RequestExt;
use todo_shared::config::DbConfig;
use todo_shared::outside::db::{Db, Statement};
use todo_shared::web::handlers::{TasksState, health, tasks_collection};
use todo_tests::*;

/// One connection, so that the connection under test is the one reused.
fn one_connection(url: String, timeout: Duration) -> DbConfig {
    DbConfig {
        url: url.into(),
        pool_size: 1,
        connect_timeout: Duration::from_secs(3),
        timeout,
        max_idle: Duration::from_secs(120),
    }
}

/// The task functions' state on one connection to `url`, with `budget`.
fn one_connection_state(url: String, budget: Duration) -> TasksState {
    TasksState::new(&one_connection(url, budget), &auth_config()).unwrap()
}

/// The server process behind the pool's (only) connection.
async fn backend_pid(db: &Db) -> i32 {
    let rows = db
        .query(&Statement::read("SELECT pg_backend_pid()"), &[])
        .await
        .expect("the backend's pid");
    rows[0].get(0)
}

/// Resumes and ends a stopped backend, also when the test fails.
struct Stopped(i32);

impl Drop for Stopped {
    fn drop(&mut self) {
        // Best effort: the backend may have ended already.
        let _ = Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
        let pid = self.0;
        // Best effort: the server ends the session it no longer needs.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                pg().await
                    .execute("SELECT pg_terminate_backend($1)", &[&pid])
                    .await
            })
        })
        .join();
    }
}

fn list(user: &str) -> Event {
    Event::fixture("tasks-list").as_user(user).query(&[])
}

/// A pooled connection whose backend stops answering (its process stopped,
/// as a silently dropped network path looks): one request waits out the
/// budget and gets a 503; the connection is discarded, not reused, and the
/// next requests get 200 at once on a fresh one.
#[tokio::test]
async fn a_hung_connection_costs_one_503_then_a_fresh_one_serves() {
    let state = one_connection_state(database_url(), Duration::from_secs(1));
    let user = unique_user("hung");
    assert_eq!(call(&state, &list(&user)).await.status, 200);
    let pid = backend_pid(&state.db).await;
    signal(pid, "STOP");
    let _resume = Stopped(pid);

    let reply = within(
        Duration::from_secs(10),
        "the hung request",
        call(&state, &list(&user)),
    )
    .await;
    reply.expect_error(503, "SERVICE_UNAVAILABLE");
    assert!(reply.header("retry-after").is_some());
    for _ in 0..3 {
        let reply = within(
            Duration::from_secs(10),
            "a later request",
            call(&state, &list(&user)),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.json);
    }
    assert_ne!(backend_pid(&state.db).await, pid, "a fresh connection");
}

/// Backends terminated between requests (a pooler or server restart): the
/// next request is served on a fresh connection.
#[tokio::test]
async fn terminated_backends_between_requests_are_replaced() {
    let state = one_connection_state(database_url(), Duration::from_secs(5));
    let user = unique_user("terminated");
    let admin = pg().await;
    for round in 0..3 {
        let created = create_task(&state, &user, &format!("round {round}")).await;
        let pid = backend_pid(&state.db).await;
        let terminated: bool = admin
            .query_one("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .unwrap()
            .get(0);
        assert!(terminated);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let id = created["id"].as_i64().unwrap();
        let reply = call(
            &state,
            &Event::fixture("task-get").as_user(&user).task(id, false),
        )
        .await;
        assert_eq!(reply.status, 200, "round {round}: {}", reply.json);
        assert_ne!(backend_pid(&state.db).await, pid);
    }
    assert_eq!(count_tasks(&admin, &user).await, 3);
}

/// A database that takes 2 s to accept (a Neon compute waking up): within
/// the 5 s budget the request is served. The connect timeout (3 s) bounds
/// the TCP connect, the budget everything.
#[tokio::test]
async fn a_database_waking_up_for_2_seconds_still_serves() {
    let (port, proxy) = delaying_proxy(database_address(), Duration::from_secs(2)).await;
    let url = database_url().replace(&database_address(), &format!("127.0.0.1:{port}"));
    let state = one_connection_state(url, Duration::from_secs(5));
    let started = Instant::now();
    let reply = within(
        Duration::from_secs(10),
        "a waking database",
        call(&state, &list(&unique_user("waking"))),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the proxy did delay"
    );
    proxy.abort();
}

/// Under a Lambda runtime the invocation's deadline bounds every database
/// wait, less a margin: with 1.5 s left and a 20 s budget, a silent database
/// is a 503 before the deadline, never a Lambda timeout.
#[tokio::test]
async fn the_invocation_deadline_bounds_the_database_wait() {
    let (port, server) = silent_server().await;
    let state = one_connection_state(
        format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        Duration::from_secs(20),
    );
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let mut context = lambda_http::Context::default();
    context.request_id = "deadline-test".into();
    context.deadline = (now + Duration::from_millis(1500)).as_millis() as u64;
    let request = list(&unique_user("deadline"))
        .request()
        .with_lambda_context(context);
    let started = Instant::now();
    let response = within(
        Duration::from_secs(10),
        "a request with 1.5 s left",
        tasks_collection::handle(&state, request),
    )
    .await;
    let elapsed = started.elapsed();
    let reply = Reply::new(response);
    reply.expect_error(503, "SERVICE_UNAVAILABLE");
    assert!(
        elapsed < Duration::from_millis(1500),
        "answered after the deadline: {elapsed:?}"
    );
    server.abort();
}

/// A connection idle longer than `max_idle` is replaced before use (a NAT
/// may have dropped it silently); one used within it is reused as it is.
#[tokio::test]
async fn a_connection_idle_too_long_is_replaced_before_use() {
    let config = DbConfig {
        max_idle: Duration::from_millis(600),
        ..one_connection(database_url(), Duration::from_secs(5))
    };
    let state = TasksState::new(&config, &auth_config()).unwrap();
    let user = unique_user("idle");
    assert_eq!(call(&state, &list(&user)).await.status, 200);
    let first = backend_pid(&state.db).await;
    assert_eq!(call(&state, &list(&user)).await.status, 200);
    assert_eq!(backend_pid(&state.db).await, first, "reused while fresh");
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(call(&state, &list(&user)).await.status, 200);
    assert_ne!(backend_pid(&state.db).await, first, "replaced after idling");
}

/// A deadline already past when the request starts is no deadline (Lambda
/// never sends one; `cargo lambda watch` sends a constant that is): the
/// request is served with its own budget.
#[tokio::test]
async fn a_deadline_already_past_bounds_nothing() {
    let state = one_connection_state(database_url(), Duration::from_secs(5));
    let mut context = lambda_http::Context::default();
    context.request_id = "past-deadline".into();
    context.deadline = 600_000;
    let request = list(&unique_user("past"))
        .request()
        .with_lambda_context(context);
    let reply = Reply::new(tasks_collection::handle(&state, request).await);
    assert_eq!(reply.status, 200, "{}", reply.json);
}

/// A connection that dies under a statement (sent, never passed on): what
/// can run twice safely runs once more on a fresh connection within the
/// same budget (reads, a full replacement, a create under an
/// Idempotency-Key); what cannot (a toggle, a delete, a create without a
/// key) is a 503 and nothing is applied twice.
#[tokio::test]
async fn a_connection_dying_under_a_statement_retries_only_what_is_safe_to_repeat() {
    let proxy = CuttingProxy::start(database_address()).await;
    let url = database_url().replace(&database_address(), &format!("127.0.0.1:{}", proxy.port));
    let state = one_connection_state(url, Duration::from_secs(5));
    let pg = pg().await;
    let user = unique_user("cut");
    let id = create_task(&state, &user, "cut").await["id"]
        .as_i64()
        .unwrap();
    let item =
        |fixture: &str, complete: bool| Event::fixture(fixture).as_user(&user).task(id, complete);

    proxy.cut();
    let reply = call(&state, &item("task-get", false)).await;
    assert_eq!(reply.status, 200, "a read runs once more: {}", reply.json);

    proxy.cut();
    let put = item("task-update", false)
        .body_json(&serde_json::json!({"title": "replaced", "completed": false}));
    let reply = call(&state, &put).await;
    assert_eq!(
        reply.status, 200,
        "a replacement runs once more: {}",
        reply.json
    );

    proxy.cut();
    let keyed = Event::fixture("tasks-create")
        .as_user(&user)
        .header("idempotency-key", &unique_user("key"))
        .body_json(&serde_json::json!({"title": "keyed"}));
    let reply = call(&state, &keyed).await;
    assert_eq!(
        reply.status, 201,
        "a keyed create runs once more: {}",
        reply.json
    );
    assert_eq!(
        count_tasks(&pg, &user).await,
        2,
        "one task for the keyed create"
    );

    proxy.cut();
    let reply = call(&state, &item("task-complete", true)).await;
    reply.expect_error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(
        task_row(&pg, id).await.unwrap()["completed"],
        false,
        "never toggled twice, here not at all"
    );

    // A pooled connection again (the failed one was discarded), then cut it.
    assert_eq!(call(&state, &item("task-get", false)).await.status, 200);
    proxy.cut();
    let reply = call(&state, &item("task-delete", false)).await;
    reply.expect_error(503, "SERVICE_UNAVAILABLE");
    assert!(
        task_row(&pg, id).await.is_some(),
        "the delete was not passed on"
    );

    assert_eq!(call(&state, &item("task-get", false)).await.status, 200);
    proxy.cut();
    let plain = Event::fixture("tasks-create")
        .as_user(&user)
        .body_json(&serde_json::json!({"title": "plain"}));
    call(&state, &plain)
        .await
        .expect_error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(
        count_tasks(&pg, &user).await,
        2,
        "a plain create is not run twice"
    );

    // And the connection after is a fresh one that works.
    assert_eq!(call(&state, &item("task-get", false)).await.status, 200);
}

/// A PostgreSQL server of the test's own, migrated, its API role set up.
async fn migrated_server() -> ScratchServer {
    let server = tokio::task::spawn_blocking(ScratchServer::start)
        .await
        .unwrap();
    server.migrate().await;
    server
}

/// The database stopped: every task route answers 503 with Retry-After
/// within its budget and /health is degraded. Started again: 200, with
/// nothing restarted.
#[tokio::test]
async fn a_database_stopped_then_started_again_needs_nothing_restarted() {
    let server = migrated_server().await;
    let db = Db::new(&one_connection(server.api_url(), Duration::from_secs(2))).unwrap();
    let state = one_connection_state(server.api_url(), Duration::from_secs(2));
    let user = unique_user("restart");
    let id = create_task(&state, &user, "before").await["id"]
        .as_i64()
        .unwrap();
    let get = Event::fixture("task-get").as_user(&user).task(id, false);
    let health =
        || async { Reply::new(health::handle(&db, Event::fixture("health").request()).await) };
    assert_eq!(health().await.status, 200);

    let server = tokio::task::spawn_blocking(move || {
        server.stop();
        server
    })
    .await
    .unwrap();
    for event in every_task_route(&user).iter().chain([&get]) {
        let reply = within(
            Duration::from_secs(6),
            "a route while the database is down",
            call(&state, event),
        )
        .await;
        reply.expect_error(503, "SERVICE_UNAVAILABLE");
        assert_eq!(reply.header("retry-after"), Some("2"));
    }
    let reply = within(
        Duration::from_secs(6),
        "health while the database is down",
        health(),
    )
    .await;
    assert_eq!(
        (reply.status, &reply.json["status"]),
        (503, &serde_json::json!("degraded"))
    );

    let _server = tokio::task::spawn_blocking(move || {
        server.start_again();
        server
    })
    .await
    .unwrap();
    let reply = call(&state, &get).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["title"], "before");
    assert_eq!(health().await.status, 200);
}

/// A write held up on its way (here in a stopped backend) until after its
/// request gave up and answered 503 changes nothing when it finally runs:
/// the client was told it failed, and may have gone on.
#[tokio::test]
async fn a_write_reaching_the_server_after_its_request_gave_up_changes_nothing() {
    let state = one_connection_state(database_url(), Duration::from_secs(1));
    let pg = pg().await;
    let user = unique_user("late");
    let id = create_task(&state, &user, "late").await["id"]
        .as_i64()
        .unwrap();
    let pid = backend_pid(&state.db).await;
    signal(pid, "STOP");
    let stopped = Stopped(pid);
    let toggle = Event::fixture("task-complete")
        .as_user(&user)
        .task(id, true);
    let reply = within(
        Duration::from_secs(10),
        "a held-up toggle",
        call(&state, &toggle),
    )
    .await;
    reply.expect_error(503, "SERVICE_UNAVAILABLE");
    // The backend runs the toggle it holds, after the request's fence.
    signal(pid, "CONT");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        task_row(&pg, id).await.unwrap()["completed"],
        false,
        "applied after the 503"
    );
    drop(stopped);
}

/// What a 503 on a write means (docs/behaviour.md): the outcome is unknown
/// until it settles, within the API role's `statement_timeout`. The case the
/// soak found, made deterministic: a `PUT` that passed its fence and is then
/// held inside the database (here by a trigger that sleeps) past its
/// request's budget is answered 503, a read right after still shows the old
/// task, and the change appears later, after the 503. A write held past the
/// role's `statement_timeout` is cancelled by the server and never appears.
#[tokio::test]
async fn a_write_answered_503_settles_within_the_statement_timeout() {
    let server = migrated_server().await;
    let owner = pg_at(&server.url()).await;
    // Holds an update whose title is `held <seconds>` for that long, after
    // the statement's fence was checked and before it commits.
    owner
        .batch_execute(
            "CREATE FUNCTION hold() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN PERFORM pg_sleep(split_part(NEW.title, ' ', 2)::float); RETURN NEW; END $$;
             CREATE TRIGGER hold AFTER UPDATE ON tasks FOR EACH ROW
             WHEN (NEW.title LIKE 'held %') EXECUTE FUNCTION hold()",
        )
        .await
        .unwrap();
    let user = unique_user("settle");
    let state = one_connection_state(server.api_url(), Duration::from_secs(1));
    let id = create_task(&state, &user, "before").await["id"]
        .as_i64()
        .unwrap();
    let put = |title: &str| {
        Event::fixture("task-update")
            .as_user(&user)
            .task(id, false)
            .body_json(&serde_json::json!({"title": title, "completed": false}))
    };
    let title = |reply: Reply| reply.json["title"].as_str().unwrap().to_owned();
    let reader = one_connection_state(server.api_url(), Duration::from_secs(5));
    let get = Event::fixture("task-get").as_user(&user).task(id, false);

    // Held 3 s, under the role's statement_timeout (10 s): applied after the 503.
    let sent = Instant::now();
    call(&state, &put("held 3"))
        .await
        .expect_error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(title(call(&reader, &get).await), "before", "not yet");
    let applied = loop {
        let now = title(call(&reader, &get).await);
        if now != "before" || sent.elapsed() > Duration::from_secs(10) {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        applied, "held 3",
        "the held write took effect after its 503"
    );
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "{:?}",
        sent.elapsed()
    );

    // The role's statement_timeout is the bound: held past it (a lower one
    // here, for a quick test; migrate sets 10 s), the server cancels the
    // write, and nothing changes however long one waits.
    owner
        .batch_execute("ALTER ROLE todo_api SET statement_timeout = '2s'")
        .await
        .unwrap();
    let state = one_connection_state(server.api_url(), Duration::from_secs(1));
    let sent = Instant::now();
    call(&state, &put("held 4"))
        .await
        .expect_error(503, "SERVICE_UNAVAILABLE");
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(sent.elapsed())).await;
    let reader = one_connection_state(server.api_url(), Duration::from_secs(5));
    assert_eq!(
        title(call(&reader, &get).await),
        "held 3",
        "cancelled at the bound"
    );
}

/// Neon's pooled endpoint with every server connection taken (#30): a pool
/// of one server connection for the API's role, held by a transaction that
/// another client leaves open. The API's requests wait in PgBouncer's queue
/// only until their database budget, then answer 503 with Retry-After,
/// never hanging on to Lambda's timeout; the write that could not be made
/// is not made (nor made twice later); once the connection is free, the
/// same request, Idempotency-Key and all, succeeds, once.
#[tokio::test]
async fn a_pooler_with_every_server_connection_held_answers_503_then_serves() {
    use todo_tests::pooler::{Pooler, PoolerSettings};
    const PASSWORD: &str = "saturation-pooler-password";
    const BUDGET: Duration = Duration::from_secs(1);
    let server = migrated_server().await;
    let port = server.port;
    let pooler = tokio::task::spawn_blocking(move || {
        Pooler::start(
            port,
            &PoolerSettings {
                pool_size: 1,
                users: vec![("todo_api".into(), PASSWORD.into())],
            },
        )
    })
    .await
    .unwrap();
    let url = pooler.url("todo_api", PASSWORD, "postgres");
    let owner = pg_at(&server.url()).await;
    let state = one_connection_state(url.clone(), BUDGET);
    let user = unique_user("saturated");
    let create = Event::fixture("tasks-create")
        .as_user(&user)
        .header("idempotency-key", &unique_user("saturation-key"))
        .body_json(&serde_json::json!({"title": "while saturated"}));

    // Another client of the same role takes the only server connection.
    let holder = pg_at(&url).await;
    holder.batch_execute("BEGIN; SELECT 1").await.unwrap();
    for event in [&create, &list(&user)] {
        let started = Instant::now();
        let reply = within(
            Duration::from_secs(10),
            "a request while the pool is held",
            call(&state, event),
        )
        .await;
        let waited = started.elapsed();
        reply.expect_error(503, "SERVICE_UNAVAILABLE");
        assert!(reply.header("retry-after").is_some(), "{:?}", reply.json);
        assert!(
            waited >= BUDGET - Duration::from_millis(50)
                && waited < BUDGET + Duration::from_millis(900),
            "answered after {waited:?}, the budget being {BUDGET:?}"
        );
    }
    assert_eq!(count_tasks(&owner, &user).await, 0, "nothing written");

    holder.batch_execute("COMMIT").await.unwrap();
    drop(holder);
    let reply = within(
        Duration::from_secs(10),
        "the same create once the pool is free",
        call(&state, &create),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.json);
    assert_eq!(call(&state, &list(&user)).await.status, 200);
    // The key replays the task it made; nothing is written twice.
    let replay = call(&state, &create).await;
    assert_eq!(replay.json["id"], reply.json["id"], "{}", replay.json);
    assert_eq!(count_tasks(&owner, &user).await, 1, "written once");
    drop(pooler);
}

//! End to end under faults, each on a stack of its own (`FaultStack`: a
//! PostgreSQL server and a `cargo lambda watch` against it, straight or
//! through PgBouncer in transaction mode as Neon's pooled endpoint): a
//! function frozen while its connections are terminated, a soak with a
//! model check while backends are terminated, one is stopped and the server
//! restarts, and the pooler itself restarted. Ignored in a plain `cargo
//! test`; `make test` runs them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use todo_tests::stack::{Endpoint, FaultStack};
use todo_tests::{pg_at, runtime, signal, unique_user};

use crate::e2e::Api;

/// Ends every session the functions hold on the stack's server; returns how many.
fn terminate_backends(stack: &FaultStack) -> i64 {
    runtime().block_on(async {
        pg_at(&stack.db.url())
            .await
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE application_name = 'todo-api'",
                &[],
            )
            .await
            .unwrap()
            .get(0)
    })
}

/// The container frozen (as Lambda freezes it between invocations) while its
/// connection is terminated, then thawed by the next request: that request,
/// and the ones after it, are served.
#[test]
#[ignore = "needs `cargo lambda watch`; run by `make test`"]
fn a_function_frozen_while_its_connections_are_terminated_serves_when_thawed() {
    frozen_while_terminated(Endpoint::Direct);
}

/// The same through the pooler: the server connections behind it end while
/// the function is frozen.
#[test]
#[ignore = "needs `cargo lambda watch`; run by `make test`"]
fn through_the_pooler_a_function_frozen_while_its_connections_are_terminated_serves() {
    frozen_while_terminated(Endpoint::Pooled);
}

fn frozen_while_terminated(endpoint: Endpoint) {
    let stack = FaultStack::start(&format!("freeze-{endpoint:?}"), endpoint);
    let api = Api::with(stack.base.clone(), stack.secret.clone());
    let user = unique_user("frozen");
    let created = api.send(
        "POST",
        "/api/tasks",
        Some(&user),
        Some(r#"{"title": "frozen"}"#),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let path = format!("/api/tasks/{}", created.json()["id"]);
    assert_eq!(api.send("GET", &path, Some(&user), None).status, 200);

    let pid = stack.function_pid("tasks-item");
    signal(pid, "STOP");
    let terminated = terminate_backends(&stack);
    assert!(terminated >= 1, "the frozen function held a connection");
    // The next request arrives while the function is still frozen, and the
    // thaw hands it over at once, as Lambda's does: the closed connection
    // and the request meet.
    let got = std::thread::scope(|scope| {
        let request = scope.spawn(|| api.send("GET", &path, Some(&user), None));
        std::thread::sleep(Duration::from_millis(500));
        signal(pid, "CONT");
        request.join().unwrap()
    });
    assert_eq!(
        got.status, 200,
        "the first request after the thaw: {}",
        got.body
    );
    let toggled = api.send("PATCH", &format!("{path}/complete"), Some(&user), None);
    assert_eq!(toggled.status, 200, "{}", toggled.body);
    assert_eq!(toggled.json()["completed"], true);
}

/// How long a write answered 503 may still take effect: the API role's
/// `statement_timeout` (docs/behaviour.md, "What a 503 on a write means"),
/// and a margin for the clocks of the client and the server.
const SETTLE: Duration = Duration::from_secs(11);

/// What one user's client believes the user's tasks are.
#[derive(Default)]
struct Model {
    /// The tasks whose state the client knows.
    tasks: BTreeMap<i64, Value>,
    /// Tasks a write answered 503 left unknown, with when: until SETTLE has
    /// passed, the write may or may not take effect, so the model claims
    /// nothing about them; a read after it settles them.
    unknown: BTreeMap<i64, Instant>,
    /// Idempotency keys of acknowledged creates, and the task each made.
    created: BTreeMap<String, i64>,
}

/// Every response: when it came, how long it took, which request, what status.
struct Outcome {
    at: Instant,
    took: Duration,
    what: String,
    status: u16,
}

/// Reads a settled unknown task again: the model takes what the server
/// says. False while the server cannot say (a 503).
fn resync(
    api: &Api,
    user: &str,
    id: i64,
    model: &mut Model,
    record: &impl Fn(String, u16, Instant),
) -> bool {
    let sent = Instant::now();
    let reply = api.send("GET", &format!("/api/tasks/{id}"), Some(user), None);
    record(format!("GET {id} (resync)"), reply.status, sent);
    match reply.status {
        200 => {
            assert_eq!(reply.json()["user_id"], user, "another user's task");
            model.tasks.insert(id, fields(&reply.json()));
        }
        404 => {
            model.tasks.remove(&id);
        }
        _ => return false,
    }
    model.unknown.remove(&id);
    true
}

/// A write answered 503: its task's state is unknown until it settles.
fn unknown(model: &mut Model, id: i64) {
    model.tasks.remove(&id);
    model.unknown.insert(id, Instant::now());
}

/// A small deterministic generator (xorshift), one per client.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

/// The fields a client can set, as the API answers them.
fn fields(task: &Value) -> Value {
    json!({"title": task["title"], "description": task["description"], "completed": task["completed"]})
}

/// One user's client: random requests to every task route until `until`,
/// keeping the model from acknowledged responses; a 503 on a write leaves
/// the task unknown until it has settled and is read again. Creates carry an
/// Idempotency-Key and are repeated until acknowledged, so each is made
/// exactly once.
fn client(
    api: &Api,
    user: &str,
    seed: u64,
    until: Instant,
    outcomes: &Mutex<Vec<Outcome>>,
) -> Model {
    let mut model = Model::default();
    let mut dice = Dice(seed | 1);
    let record = |what: String, status: u16, sent: Instant| {
        let at = Instant::now();
        outcomes.lock().unwrap().push(Outcome {
            at,
            took: at - sent,
            what,
            status,
        });
    };
    let mut n = 0;
    while Instant::now() < until {
        n += 1;
        let settled = model
            .unknown
            .iter()
            .find(|(_, at)| at.elapsed() >= SETTLE)
            .map(|(id, _)| *id);
        if let Some(id) = settled {
            // Read a settled task again before anything else.
            if !resync(api, user, id, &mut model, &record) {
                std::thread::sleep(Duration::from_millis(100));
            }
            continue;
        }
        let known: Vec<i64> = model.tasks.keys().copied().collect();
        let pick = (!known.is_empty()).then(|| known[dice.roll(known.len() as u64) as usize]);
        let sent = Instant::now();
        match (dice.roll(6), pick) {
            (0, _) | (_, None) => {
                let key = format!("{user}-{n}");
                let body =
                    json!({"title": format!("task {n}"), "description": format!("by {user}")})
                        .to_string();
                loop {
                    let sent = Instant::now();
                    let reply = api.send_keyed(&key, user, &body);
                    record(format!("POST {key}"), reply.status, sent);
                    if reply.status == 201 {
                        let task = reply.json();
                        assert_eq!(task["user_id"], user, "another user's task");
                        let id = task["id"].as_i64().unwrap();
                        model.tasks.insert(id, fields(&task));
                        model.created.insert(key, id);
                        break;
                    }
                    if reply.status != 503 || Instant::now() > until + Duration::from_secs(30) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            (1, Some(id)) => {
                let reply = api.send("GET", &format!("/api/tasks/{id}"), Some(user), None);
                record(format!("GET {id}"), reply.status, sent);
                if reply.status == 200 {
                    assert_eq!(fields(&reply.json()), model.tasks[&id], "GET {id}");
                }
            }
            (2, _) => {
                let reply = api.send("GET", "/api/tasks?limit=1000", Some(user), None);
                record("GET list".into(), reply.status, sent);
                if reply.status == 200 {
                    // Unsettled tasks may show either state.
                    let listed: BTreeMap<i64, Value> = reply.json()["tasks"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|task| {
                            assert_eq!(task["user_id"], user, "another user's task in a list");
                            (task["id"].as_i64().unwrap(), fields(task))
                        })
                        .filter(|(id, _)| !model.unknown.contains_key(id))
                        .collect();
                    if listed != model.tasks {
                        let history: Vec<String> = outcomes
                            .lock()
                            .unwrap()
                            .iter()
                            .filter(|o| {
                                listed.iter().chain(&model.tasks).any(|(id, task)| {
                                    (listed.get(id) != model.tasks.get(id))
                                        && (o.what.contains(&id.to_string())
                                            || task["title"].as_str().is_some_and(|t| {
                                                o.what.ends_with(&format!(
                                                    "-{}",
                                                    t.trim_start_matches("task ")
                                                ))
                                            }))
                                })
                            })
                            .map(|o| format!("{} -> {} after {:?}", o.what, o.status, o.took))
                            .collect();
                        panic!(
                            "the list is not the model: listed {:?}, model {:?}; history {history:#?}",
                            listed
                                .keys()
                                .filter(|id| !model.tasks.contains_key(id))
                                .collect::<Vec<_>>(),
                            model
                                .tasks
                                .keys()
                                .filter(|id| !listed.contains_key(id))
                                .collect::<Vec<_>>(),
                        );
                    }
                }
            }
            (3, Some(id)) => {
                let update = json!({"title": format!("put {n}"), "description": null, "completed": n % 2 == 0});
                let reply = api.send(
                    "PUT",
                    &format!("/api/tasks/{id}"),
                    Some(user),
                    Some(&update.to_string()),
                );
                record(format!("PUT {id}"), reply.status, sent);
                match reply.status {
                    200 => {
                        assert_eq!(fields(&reply.json()), update, "PUT {id}");
                        model.tasks.insert(id, update);
                    }
                    _ => unknown(&mut model, id),
                }
            }
            (4, Some(id)) => {
                let reply = api.send(
                    "PATCH",
                    &format!("/api/tasks/{id}/complete"),
                    Some(user),
                    None,
                );
                record(format!("PATCH {id}"), reply.status, sent);
                match reply.status {
                    200 => {
                        let task = model.tasks.get_mut(&id).unwrap();
                        let flipped = !task["completed"].as_bool().unwrap();
                        assert_eq!(
                            reply.json()["completed"],
                            flipped,
                            "a toggle applied once: {id}"
                        );
                        task["completed"] = json!(flipped);
                    }
                    _ => unknown(&mut model, id),
                }
            }
            (_, Some(id)) => {
                let reply = api.send("DELETE", &format!("/api/tasks/{id}"), Some(user), None);
                record(format!("DELETE {id}"), reply.status, sent);
                match reply.status {
                    204 => {
                        model.tasks.remove(&id);
                    }
                    _ => unknown(&mut model, id),
                }
            }
        }
    }
    // What a 503 left unknown, read again once it has settled.
    let deadline = Instant::now() + SETTLE + Duration::from_secs(20);
    while let Some((&id, &at)) = model.unknown.iter().next() {
        assert!(Instant::now() < deadline, "task {id} still unknown");
        std::thread::sleep(SETTLE.saturating_sub(at.elapsed()));
        if !resync(api, user, id, &mut model, &record) {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    model
}

/// Four users' clients through every task route for 40 s while backends are
/// terminated (twice), one backend's process is stopped for 5 s, and the
/// server restarts once. Afterwards the database equals the model built from
/// every acknowledged response; the only failures are 503s inside the fault
/// windows (each followed by the budget and a grace period).
#[test]
#[ignore = "needs `cargo lambda watch`; run by `make test`"]
fn soak_with_faults_keeps_every_acknowledged_write() {
    soak(Endpoint::Direct);
}

/// The same soak through the pooler (four server connections, retrying a
/// failed server login after 1 s): the faults hit the server behind it.
#[test]
#[ignore = "needs `cargo lambda watch`; run by `make test`"]
fn through_the_pooler_soak_with_faults_keeps_every_acknowledged_write() {
    soak(Endpoint::Pooled);
}

fn soak(endpoint: Endpoint) {
    const USERS: usize = 4;
    const RUN: Duration = Duration::from_secs(40);
    let stack = FaultStack::start(&format!("soak-{endpoint:?}"), endpoint);
    let api = Api::with(stack.base.clone(), stack.secret.clone());
    let users: Vec<String> = (0..USERS)
        .map(|i| unique_user(&format!("soak{i}")))
        .collect();
    let outcomes = Mutex::new(Vec::new());
    let started = Instant::now();
    let until = started + RUN;
    let mut windows: Vec<(String, Instant, Instant)> = Vec::new();

    let models: Vec<Model> = std::thread::scope(|scope| {
        let clients: Vec<_> = users
            .iter()
            .enumerate()
            .map(|(i, user)| {
                let (api, outcomes) = (&api, &outcomes);
                scope
                    .spawn(move || client(api, user, 0x9e37_79b9 * (i as u64 + 1), until, outcomes))
            })
            .collect();
        let at = |seconds: u64| {
            let when = started + Duration::from_secs(seconds);
            std::thread::sleep(when.saturating_duration_since(Instant::now()));
        };
        at(5);
        let from = Instant::now();
        let ended = terminate_backends(&stack);
        windows.push((format!("{ended} backends terminated"), from, Instant::now()));

        at(12);
        let from = Instant::now();
        let pid: i32 = runtime().block_on(async {
            pg_at(&stack.db.url())
                .await
                .query_one(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'todo-api' ORDER BY pid LIMIT 1",
                    &[],
                )
                .await
                .unwrap()
                .get(0)
        });
        signal(pid, "STOP");
        at(17);
        signal(pid, "CONT");
        windows.push((format!("backend {pid} stopped"), from, Instant::now()));

        at(22);
        let from = Instant::now();
        stack.db.stop();
        stack.db.start_again();
        windows.push(("server restarted".into(), from, Instant::now()));

        at(30);
        let from = Instant::now();
        let ended = terminate_backends(&stack);
        windows.push((format!("{ended} backends terminated"), from, Instant::now()));

        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });

    // Every failure is a 503 inside a fault window (plus the 1.5 s budget
    // and a grace period); everything else is the answer the request asked for.
    let grace = Duration::from_millis(1500 + 2500);
    let outcomes = outcomes.into_inner().unwrap();
    let mut per_status: BTreeMap<u16, usize> = BTreeMap::new();
    for outcome in &outcomes {
        *per_status.entry(outcome.status).or_default() += 1;
        match outcome.status {
            200 | 201 | 204 => {}
            404 => assert!(
                outcome.what.contains("resync"),
                "a 404 for {}",
                outcome.what
            ),
            503 => assert!(
                windows
                    .iter()
                    .any(|(_, from, to)| outcome.at >= *from && outcome.at <= *to + grace),
                "a 503 outside every fault window: {} at {:?}",
                outcome.what,
                outcome.at - started
            ),
            other => panic!("{other} for {}", outcome.what),
        }
    }

    // The database equals the models.
    let rows = runtime().block_on(async {
        pg_at(&stack.db.url())
            .await
            .query(
                "SELECT id, user_id, title, description, completed FROM tasks",
                &[],
            )
            .await
            .unwrap()
    });
    for (user, model) in users.iter().zip(&models) {
        let stored: BTreeMap<i64, Value> = rows
            .iter()
            .filter(|row| row.get::<_, String>("user_id") == *user)
            .map(|row| {
                let id: i64 = row.get("id");
                let task = json!({
                    "title": row.get::<_, String>("title"),
                    "description": row.get::<_, Option<String>>("description"),
                    "completed": row.get::<_, bool>("completed"),
                });
                (id, task)
            })
            .collect();
        assert_eq!(stored, model.tasks, "{user}: the table is the model");
        // Every acknowledged create exactly once: one task per key, and no
        // task the model does not know (a create repeated under its key).
        let made: BTreeSet<i64> = model.created.values().copied().collect();
        assert_eq!(made.len(), model.created.len(), "{user}: one task per key");
        for id in stored.keys() {
            assert!(
                model.tasks.contains_key(id),
                "{user}: task {id} is in the table but not in the model"
            );
        }
    }
    let requests = outcomes.len();
    let longest = outcomes
        .iter()
        .max_by_key(|o| o.took)
        .map(|o| (o.took, o.what.clone()));
    eprintln!(
        "soak ({endpoint:?}): {requests} requests in {:?}, statuses {per_status:?}, fault windows {:?}, longest request {longest:?}",
        started.elapsed(),
        windows
            .iter()
            .map(|(what, from, to)| format!(
                "{what} at {:?} for {:?}",
                *from - started,
                *to - *from
            ))
            .collect::<Vec<_>>()
    );
    assert!(requests > 500, "only {requests} requests");
}

/// The pooler itself restarted (all its client and server connections cut,
/// then nothing listening for a while): every route answers 503 with
/// Retry-After within the budget while it is down, and 200 once it is back,
/// with nothing else restarted.
#[test]
#[ignore = "needs `cargo lambda watch`; run by `make test`"]
fn a_pooler_restart_costs_bounded_503s_then_serves() {
    let mut stack = FaultStack::start("pooler-restart", Endpoint::Pooled);
    let api = Api::with(stack.base.clone(), stack.secret.clone());
    let user = unique_user("pooler-restart");
    let created = api.send(
        "POST",
        "/api/tasks",
        Some(&user),
        Some(r#"{"title": "kept"}"#),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let path = format!("/api/tasks/{}", created.json()["id"]);
    assert_eq!(api.send("GET", &path, Some(&user), None).status, 200);

    let pooler = stack.pooler.as_mut().expect("a pooled stack");
    pooler.stop();
    for (method, route) in [("GET", path.as_str()), ("GET", "/api/tasks")] {
        let sent = Instant::now();
        let reply = api.send(method, route, Some(&user), None);
        assert_eq!(
            reply.status, 503,
            "{method} {route} while the pooler is down: {}",
            reply.body
        );
        assert_eq!(reply.header("retry-after"), Some("2"));
        // The stack's budget is 1.5 s; the watch adds its own overhead.
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "{method} {route} took {:?}",
            sent.elapsed()
        );
    }
    let health = api.send("GET", "/health", None, None);
    assert_eq!(
        (health.status, &health.json()["status"]),
        (503, &json!("degraded"))
    );

    pooler.start_again();
    let back = Instant::now();
    let got = loop {
        let reply = api.send("GET", &path, Some(&user), None);
        if reply.status != 503 || back.elapsed() > Duration::from_secs(10) {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(got.status, 200, "after the pooler came back: {}", got.body);
    assert_eq!(got.json()["title"], "kept");
    let toggled = api.send("PATCH", &format!("{path}/complete"), Some(&user), None);
    assert_eq!(toggled.status, 200, "{}", toggled.body);
    assert_eq!(api.send("GET", "/health", None, None).status, 200);
}

//! The six task routes in process, against the real database: every row of
//! the contract's status table, with status, headers, body and the table.

use std::sync::Arc;

use serde_json::{Value, json};
use todo_shared::web::handlers::TasksState;
use todo_tests::*;

fn id_of(task: &Value) -> i64 {
    task["id"].as_i64().expect("numeric id")
}

fn assert_task_shape(task: &Value) {
    let keys: Vec<&str> = task
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort();
    assert_eq!(
        keys,
        [
            "completed",
            "created_at",
            "description",
            "id",
            "title",
            "updated_at",
            "user_id"
        ]
    );
    for field in ["created_at", "updated_at"] {
        let text = task[field].as_str().unwrap();
        // 2026-02-17T10:00:00.123456Z
        assert_eq!(text.len(), 27, "{text}");
        assert!(text.ends_with('Z') && text.as_bytes()[10] == b'T', "{text}");
        chrono::DateTime::parse_from_rfc3339(text).expect("RFC 3339");
    }
}

#[tokio::test]
async fn create_returns_201_location_and_stores_the_row() {
    let state = state();
    let pg = pg().await;
    let user = unique_user("create");
    let reply = call(
        &state,
        &Event::fixture("tasks-create")
            .as_user(&user)
            // Client-sent identity and timestamps are ignored; the title is trimmed.
            .body_json(&json!({"title": "  Buy milk \n", "description": "2 litres",
                               "id": 999999, "user_id": "mallory", "completed": true,
                               "created_at": "2000-01-01T00:00:00Z", "extra": [1, 2]})),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.json);
    assert_task_shape(&reply.json);
    let id = id_of(&reply.json);
    assert_ne!(id, 999999);
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/tasks/{id}").as_str())
    );
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.json["title"], "Buy milk");
    assert_eq!(reply.json["description"], "2 litres");
    assert_eq!(reply.json["completed"], false);
    assert_eq!(reply.json["user_id"], user.as_str());
    assert_eq!(reply.json["created_at"], reply.json["updated_at"]);
    let row = task_row(&pg, id).await.expect("row exists");
    assert_eq!(row["user_id"], user.as_str());
    assert_eq!(row["title"], "Buy milk");
    assert_eq!(row["description"], "2 litres");
    assert_eq!(row["completed"], false);
}

#[tokio::test]
async fn body_is_json_whatever_the_content_type() {
    let state = state();
    let user = unique_user("ctype");
    let reply = call(
        &state,
        &Event::fixture("tasks-create")
            .as_user(&user)
            .header("content-type", "text/plain")
            .body(r#"{"title": "plain"}"#),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.json);
    assert_eq!(reply.json["description"], Value::Null);
}

#[tokio::test]
async fn get_put_patch_delete_own_task() {
    let state = state();
    let pg = pg().await;
    let user = unique_user("crud");
    let created = create_task(&state, &user, "first").await;
    let id = id_of(&created);

    let got = call(
        &state,
        &Event::fixture("task-get").as_user(&user).task(id, false),
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json, created);

    let put = call(
        &state,
        &Event::fixture("task-update")
            .as_user(&user)
            .task(id, false)
            .body_json(
                &json!({"title": " renamed ", "description": "now with text", "completed": true}),
            ),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.json);
    assert_task_shape(&put.json);
    assert_eq!(put.json["title"], "renamed");
    assert_eq!(put.json["completed"], true);
    assert_eq!(put.json["created_at"], created["created_at"]);
    assert!(
        put.json["updated_at"].as_str() > created["updated_at"].as_str(),
        "updated_at bumped"
    );
    let row = task_row(&pg, id).await.unwrap();
    assert_eq!(
        (row["title"].as_str(), row["completed"].as_bool()),
        (Some("renamed"), Some(true))
    );

    // PUT replaces: an absent description becomes null.
    let put = call(
        &state,
        &Event::fixture("task-update")
            .as_user(&user)
            .task(id, false)
            .body_json(&json!({"title": "renamed", "completed": true})),
    )
    .await;
    assert_eq!(put.status, 200);
    assert_eq!(put.json["description"], Value::Null);
    assert_eq!(task_row(&pg, id).await.unwrap()["description"], Value::Null);

    // The toggle flips and flips back, bumping updated_at each time.
    let t1 = call(
        &state,
        &Event::fixture("task-complete")
            .as_user(&user)
            .task(id, true),
    )
    .await;
    assert_eq!(t1.status, 200, "{}", t1.json);
    assert_eq!(t1.json["completed"], false);
    assert!(t1.json["updated_at"].as_str() > put.json["updated_at"].as_str());
    assert_eq!(task_row(&pg, id).await.unwrap()["completed"], false);
    let t2 = call(
        &state,
        &Event::fixture("task-complete")
            .as_user(&user)
            .task(id, true),
    )
    .await;
    assert_eq!(t2.json["completed"], true);
    assert_eq!(task_row(&pg, id).await.unwrap()["completed"], true);

    let deleted = call(
        &state,
        &Event::fixture("task-delete").as_user(&user).task(id, false),
    )
    .await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.raw.is_empty());
    assert!(task_row(&pg, id).await.is_none());
    let again = call(
        &state,
        &Event::fixture("task-delete").as_user(&user).task(id, false),
    )
    .await;
    again.expect_error(404, "NOT_FOUND");
    let gone = call(
        &state,
        &Event::fixture("task-get").as_user(&user).task(id, false),
    )
    .await;
    gone.expect_error(404, "NOT_FOUND");
    assert_eq!(gone.json["error"]["message"], "Task not found");
}

#[tokio::test]
async fn another_users_task_is_404_everywhere_and_untouched() {
    let state = state();
    let pg = pg().await;
    let owner = unique_user("owner");
    let intruder = unique_user("intruder");
    let id = id_of(&create_task(&state, &owner, "private").await);
    let before = task_row(&pg, id).await.unwrap();
    let events = [
        Event::fixture("task-get").task(id, false),
        Event::fixture("task-update")
            .task(id, false)
            .body_json(&json!({"title": "pwned", "description": "x", "completed": true})),
        Event::fixture("task-delete").task(id, false),
        Event::fixture("task-complete").task(id, true),
    ];
    for event in events {
        let reply = call(&state, &event.as_user(&intruder)).await;
        reply.expect_error(404, "NOT_FOUND");
        assert_eq!(reply.json["error"]["message"], "Task not found");
    }
    assert_eq!(task_row(&pg, id).await.unwrap(), before);
    let list = call(
        &state,
        &Event::fixture("tasks-list").as_user(&intruder).query(&[]),
    )
    .await;
    assert_eq!(list.json["tasks"], json!([]));
}

#[tokio::test]
async fn missing_and_unknown_ids() {
    let state = state();
    let user = unique_user("ids");
    for id in [
        "99999999999",
        "9223372036854775807",
        "9223372036854775808",
        "0",
        "-1",
    ] {
        for name in ["task-get", "task-delete"] {
            let reply = call(&state, &Event::fixture(name).as_user(&user).task(id, false)).await;
            reply.expect_error(404, "NOT_FOUND");
        }
        let reply = call(
            &state,
            &Event::fixture("task-complete")
                .as_user(&user)
                .task(id, true),
        )
        .await;
        reply.expect_error(404, "NOT_FOUND");
    }
    for id in ["abc", "1.5", "1e3", "%20"] {
        let reply = call(
            &state,
            &Event::fixture("task-get").as_user(&user).task(id, false),
        )
        .await;
        reply.expect_invalid(&["id"]);
        let reply = call(
            &state,
            &Event::fixture("task-complete")
                .as_user(&user)
                .task(id, true),
        )
        .await;
        reply.expect_invalid(&["id"]);
    }
}

#[tokio::test]
async fn unsupported_methods_are_405_with_allow() {
    let state = state();
    let user = unique_user("405");
    let cases = [
        (Event::fixture("tasks-list").method("DELETE"), "GET, POST"),
        (Event::fixture("tasks-list").method("PUT"), "GET, POST"),
        (
            Event::fixture("task-get").method("POST").task(1, false),
            "GET, PUT, DELETE",
        ),
        (
            Event::fixture("task-get").method("PATCH").task(1, false),
            "GET, PUT, DELETE",
        ),
        (
            Event::fixture("task-complete").method("GET").task(1, true),
            "PATCH",
        ),
        (
            Event::fixture("task-complete").method("PUT").task(1, true),
            "PATCH",
        ),
    ];
    for (event, allow) in cases {
        // Even without a token: the method is checked first, as a router would.
        for event in [
            event.clone().as_user(&user),
            event.without_header("authorization"),
        ] {
            let reply = call(&state, &event).await;
            reply.expect_error(405, "METHOD_NOT_ALLOWED");
            assert_eq!(reply.header("allow"), Some(allow));
        }
    }
}

#[tokio::test]
async fn options_is_answered_without_a_token() {
    let state = state();
    for (event, allow) in [
        (
            Event::fixture("tasks-list").method("OPTIONS"),
            "GET, POST, OPTIONS",
        ),
        (
            Event::fixture("task-get").method("OPTIONS").task(1, false),
            "GET, PUT, DELETE, OPTIONS",
        ),
        (
            Event::fixture("task-complete")
                .method("OPTIONS")
                .task(1, true),
            "PATCH, OPTIONS",
        ),
    ] {
        let reply = call(&state, &event.without_header("authorization")).await;
        assert_eq!(reply.status, 204);
        assert_eq!(reply.header("allow"), Some(allow));
        assert!(reply.raw.is_empty());
    }
}

/// Without a usable token nothing is read or written: a real user's task is
/// the target of every item route, and it is exactly as it was afterwards;
/// the create's unique title is nowhere in the table.
#[tokio::test]
async fn every_task_route_requires_a_token() {
    let state = state();
    let pg = pg().await;
    let owner = unique_user("token-owner");
    let id = create_task(&state, &owner, "owned").await["id"]
        .as_i64()
        .unwrap();
    let before = task_row(&pg, id).await.expect("the owner's task");
    let title = format!("never stored {}", unique_user("anonymous"));
    let events = [
        Event::fixture("tasks-list"),
        Event::fixture("tasks-create").body_json(&json!({ "title": title })),
        Event::fixture("task-get").task(id, false),
        Event::fixture("task-update")
            .task(id, false)
            .body_json(&json!({"title": title, "completed": true})),
        Event::fixture("task-delete").task(id, false),
        Event::fixture("task-complete").task(id, true),
    ];
    for event in events {
        // The fixtures carry a placeholder token, which is no token at all.
        for event in [event.clone(), event.without_header("authorization")] {
            let reply = call(&state, &event).await;
            reply.expect_error(401, "UNAUTHORIZED");
            assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        }
    }
    assert_eq!(
        task_row(&pg, id).await,
        Some(before),
        "the task is unchanged"
    );
    let stored: Vec<i64> = column(&pg, "SELECT id FROM tasks WHERE title = $1", &[&title]).await;
    assert!(
        stored.is_empty(),
        "an unauthenticated create was stored: {stored:?}"
    );
}

#[tokio::test]
async fn validation_errors_name_each_field_and_store_nothing() {
    let state = state();
    let pg = pg().await;
    let user = unique_user("invalid");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (r#"{}"#, vec!["title"]),
        (r#"{"title": ""}"#, vec!["title"]),
        (r#"{"title": "   \t "}"#, vec!["title"]),
        (r#"{"title": null}"#, vec!["title"]),
        (r#"{"title": 42}"#, vec!["title"]),
        (r#"{"title": ["a"]}"#, vec!["title"]),
        (r#"{"title": "a\u0000b"}"#, vec!["title"]),
        (r#"{"title": "ok", "description": 5}"#, vec!["description"]),
        (
            r#"{"title": "ok", "description": "a\u0000"}"#,
            vec!["description"],
        ),
        (
            r#"{"title": false, "description": {}}"#,
            vec!["description", "title"],
        ),
        (r#"{"title": "unterminated"#, vec!["body"]),
        (r#"[{"title": "in an array"}]"#, vec!["body"]),
        (r#""just a string""#, vec!["body"]),
        ("", vec!["body"]),
    ];
    for (body, fields) in &cases {
        let reply = call(
            &state,
            &Event::fixture("tasks-create").as_user(&user).body(body),
        )
        .await;
        reply.expect_invalid(fields);
    }
    let title_200 = "ü".repeat(200);
    let reply = call(
        &state,
        &Event::fixture("tasks-create")
            .as_user(&user)
            .body_json(&json!({"title": title_200})),
    )
    .await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.json["title"].as_str().unwrap().chars().count(), 200);
    let reply = call(
        &state,
        &Event::fixture("tasks-create")
            .as_user(&user)
            .body_json(&json!({"title": "ü".repeat(201)})),
    )
    .await;
    reply.expect_invalid(&["title"]);
    let reply = call(
        &state,
        &Event::fixture("tasks-create")
            .as_user(&user)
            .body_json(&json!({"title": "d", "description": "字".repeat(10_000)})),
    )
    .await;
    assert_eq!(reply.status, 201);
    let reply = call(
        &state,
        &Event::fixture("tasks-create")
            .as_user(&user)
            .body_json(&json!({"title": "d", "description": "字".repeat(10_001)})),
    )
    .await;
    reply.expect_invalid(&["description"]);
    assert_eq!(
        count_tasks(&pg, &user).await,
        2,
        "only the two valid creates stored"
    );

    // PUT: completed is required and boolean; nothing changes on a 422.
    let id = id_of(&create_task(&state, &user, "keep me").await);
    let before = task_row(&pg, id).await.unwrap();
    for (body, fields) in [
        (json!({"title": "x"}), vec!["completed"]),
        (
            json!({"title": "x", "completed": "true"}),
            vec!["completed"],
        ),
        (
            json!({"title": "", "completed": 1}),
            vec!["completed", "title"],
        ),
        (json!("string"), vec!["body"]),
    ] {
        let reply = call(
            &state,
            &Event::fixture("task-update")
                .as_user(&user)
                .task(id, false)
                .body_json(&body),
        )
        .await;
        reply.expect_invalid(&fields);
    }
    assert_eq!(task_row(&pg, id).await.unwrap(), before);
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let state = state();
    let pg = pg().await;
    let user = unique_user("big");
    let big = json!({"title": "big", "description": "x".repeat(64 * 1024)}).to_string();
    let reply = call(
        &state,
        &Event::fixture("tasks-create").as_user(&user).body(&big),
    )
    .await;
    reply.expect_error(413, "PAYLOAD_TOO_LARGE");
    let id = id_of(&create_task(&state, &user, "small").await);
    let reply = call(
        &state,
        &Event::fixture("task-update")
            .as_user(&user)
            .task(id, false)
            .body(&big),
    )
    .await;
    reply.expect_error(413, "PAYLOAD_TOO_LARGE");
    assert_eq!(count_tasks(&pg, &user).await, 1);
    assert_eq!(task_row(&pg, id).await.unwrap()["title"], "small");
    // Exactly 64 KiB is still accepted as a size (and then validated).
    let pad = 64 * 1024 - r#"{"title":"t","pad":""}"#.len();
    let exact = format!(r#"{{"title":"t","pad":"{}"}}"#, "p".repeat(pad));
    assert_eq!(exact.len(), 64 * 1024);
    let reply = call(
        &state,
        &Event::fixture("tasks-create").as_user(&user).body(&exact),
    )
    .await;
    assert_eq!(reply.status, 201);
}

#[tokio::test]
async fn list_filters_and_bad_query_values() {
    let state = state();
    let user = unique_user("list");
    let a = id_of(&create_task(&state, &user, "a").await);
    let b = id_of(&create_task(&state, &user, "b").await);
    let c = id_of(&create_task(&state, &user, "c").await);
    call(
        &state,
        &Event::fixture("task-complete").as_user(&user).task(b, true),
    )
    .await;
    let ids = |reply: &Reply| -> Vec<i64> {
        reply.json["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(id_of)
            .collect()
    };
    let list = |q: Vec<(&'static str, &'static str)>| {
        let event = Event::fixture("tasks-list").as_user(&user).query(&q);
        let state = &state;
        async move { call(state, &event).await }
    };
    let all = list(vec![]).await;
    assert_eq!(all.status, 200);
    assert_eq!(ids(&all), [c, b, a], "newest first");
    assert_eq!(all.json["next_cursor"], Value::Null);
    for t in all.json["tasks"].as_array().unwrap() {
        assert_task_shape(t);
    }
    assert_eq!(ids(&list(vec![("completed", "true")]).await), [b]);
    assert_eq!(ids(&list(vec![("completed", "false")]).await), [c, a]);
    assert_eq!(ids(&list(vec![("status", "completed")]).await), [b]);
    assert_eq!(ids(&list(vec![("status", "pending")]).await), [c, a]);
    assert_eq!(ids(&list(vec![("status", "all")]).await), [c, b, a]);
    assert_eq!(
        ids(&list(vec![("completed", "true"), ("status", "completed")]).await),
        [b]
    );
    let first = list(vec![("limit", "2")]).await;
    assert_eq!(ids(&first), [c, b]);
    assert_eq!(first.json["next_cursor"], b.to_string());

    for (k, v) in [
        ("limit", "0"),
        ("limit", "1001"),
        ("limit", "-1"),
        ("limit", "abc"),
        ("limit", "2.5"),
        ("cursor", "abc"),
        ("cursor", "-5"),
        ("cursor", "0"),
        ("cursor", "1e3"),
        ("cursor", "99999999999999999999"),
        ("completed", "maybe"),
        ("completed", ""),
        ("status", "done"),
    ] {
        list(vec![(k, v)]).await.expect_invalid(&[k]);
    }
    // Both filters apply: contradicting, they match nothing.
    let none = list(vec![("completed", "true"), ("status", "pending")]).await;
    assert_eq!((none.status, ids(&none)), (200, vec![]));
    list(vec![("limit", "1"), ("limit", "2")])
        .await
        .expect_invalid(&["limit"]);
    // Unknown parameters are ignored.
    assert_eq!(ids(&list(vec![("sort", "asc")]).await), [c, b, a]);
}

#[tokio::test]
async fn paging_returns_every_task_exactly_once() {
    let state = state();
    let pg = pg().await;
    let user = unique_user("paging");
    pg.execute(
        "INSERT INTO tasks (user_id, title, completed) SELECT $1, 'task ' || n, n % 3 = 0
         FROM generate_series(1, 95) AS n",
        &[&user],
    )
    .await
    .unwrap();
    let expected: Vec<i64> = column(
        &pg,
        "SELECT id FROM tasks WHERE user_id = $1 ORDER BY id DESC",
        &[&user],
    )
    .await;
    for (filter, limit) in [
        (None, "10"),
        (None, "7"),
        (Some("pending"), "9"),
        (None, "1000"),
    ] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut q: Vec<(&str, &str)> = vec![("limit", limit)];
            if let Some(f) = filter {
                q.push(("status", f));
            }
            if let Some(c) = &cursor {
                q.push(("cursor", c));
            }
            let reply = call(
                &state,
                &Event::fixture("tasks-list").as_user(&user).query(&q),
            )
            .await;
            assert_eq!(reply.status, 200, "{}", reply.json);
            seen.extend(reply.json["tasks"].as_array().unwrap().iter().map(id_of));
            pages += 1;
            match reply.json["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
            assert!(pages < 200);
        }
        let want: Vec<i64> =
            match filter {
                None => expected.clone(),
                Some(_) => column(
                    &pg,
                    "SELECT id FROM tasks WHERE user_id = $1 AND NOT completed ORDER BY id DESC",
                    &[&user],
                )
                .await,
            };
        assert_eq!(seen, want, "filter {filter:?} limit {limit}");
    }
}

#[tokio::test]
async fn a_page_never_exceeds_5_mib() {
    let state = state();
    let pg = pg().await;
    let user = unique_user("huge");
    // 10,000 control characters take 60,000 bytes of JSON each: ~88 fit in 5 MiB.
    pg.execute(
        "INSERT INTO tasks (user_id, title, description)
         SELECT $1, 'huge ' || n, repeat(chr(1), 10000) FROM generate_series(1, 120) AS n",
        &[&user],
    )
    .await
    .unwrap();
    let first = call(
        &state,
        &Event::fixture("tasks-list").as_user(&user).query(&[]),
    )
    .await;
    assert_eq!(first.status, 200);
    assert!(
        first.raw.len() <= 5 * 1024 * 1024,
        "{} bytes",
        first.raw.len()
    );
    let n = first.json["tasks"].as_array().unwrap().len();
    assert!(n > 0 && n < 120, "{n}");
    let cursor = first.json["next_cursor"]
        .as_str()
        .expect("a cursor")
        .to_owned();
    let second = call(
        &state,
        &Event::fixture("tasks-list")
            .as_user(&user)
            .query(&[("cursor", &cursor)]),
    )
    .await;
    assert_eq!(second.status, 200);
    assert_eq!(second.json["tasks"].as_array().unwrap().len(), 120 - n);
    assert_eq!(second.json["next_cursor"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_by_two_users_stay_separate() {
    let state = Arc::new(state());
    let pg = pg().await;
    let alice = unique_user("alice");
    let bob = unique_user("bob");
    let mut handles = Vec::new();
    for i in 0..50 {
        let state = state.clone();
        let user = if i % 2 == 0 {
            alice.clone()
        } else {
            bob.clone()
        };
        handles.push(tokio::spawn(async move {
            let event = Event::fixture("tasks-create")
                .as_user(&user)
                .body_json(&json!({"title": format!("task {i}")}));
            let reply = call(&state, &event).await;
            assert_eq!(reply.status, 201, "{}", reply.json);
            assert_eq!(reply.json["user_id"], user.as_str());
            (user, id_of(&reply.json))
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for handle in handles {
        let (_, id) = handle.await.unwrap();
        assert!(ids.insert(id), "ids are unique");
    }
    assert_eq!(count_tasks(&pg, &alice).await, 25);
    assert_eq!(count_tasks(&pg, &bob).await, 25);
    for user in [&alice, &bob] {
        let list = call(
            &state,
            &Event::fixture("tasks-list").as_user(user).query(&[]),
        )
        .await;
        let tasks = list.json["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 25);
        assert!(tasks.iter().all(|t| t["user_id"] == user.as_str()));
    }
}

#[tokio::test]
async fn idempotency_key_replays_and_conflicts() {
    let state = state();
    let pg = pg().await;
    let user = unique_user("idem");
    let other = unique_user("idem-other");
    let body = json!({"title": "once", "description": "only once"});
    let send = |user: &str, key: &str, body: &Value| {
        Event::fixture("tasks-create")
            .as_user(user)
            .header("idempotency-key", key)
            .body_json(body)
    };
    let first = call(&state, &send(&user, "key-1", &body)).await;
    assert_eq!(first.status, 201, "{}", first.json);
    let again = call(&state, &send(&user, "key-1", &body)).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.json, first.json);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(count_tasks(&pg, &user).await, 1);
    // Equal after normalisation (trimmed title) is the same request.
    let trimmed = call(
        &state,
        &send(
            &user,
            "key-1",
            &json!({"title": " once ", "description": "only once"}),
        ),
    )
    .await;
    assert_eq!(trimmed.status, 201);
    // A different body under the same key is a 409, and creates nothing.
    let conflict = call(&state, &send(&user, "key-1", &json!({"title": "twice"}))).await;
    conflict.expect_error(409, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(count_tasks(&pg, &user).await, 1);
    // Keys are per user.
    let theirs = call(&state, &send(&other, "key-1", &json!({"title": "twice"}))).await;
    assert_eq!(theirs.status, 201);
    assert_ne!(theirs.json["id"], first.json["id"]);
    // A key older than 24 hours is free again.
    pg.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE user_id = $1",
        &[&user],
    )
    .await
    .unwrap();
    let fresh = call(&state, &send(&user, "key-1", &json!({"title": "new day"}))).await;
    assert_eq!(fresh.status, 201);
    assert_ne!(fresh.json["id"], first.json["id"]);
    assert_eq!(count_tasks(&pg, &user).await, 2);
    // Bad keys are a 422.
    for key in ["has space", &"k".repeat(256), "tab\tkey"] {
        let reply = call(&state, &send(&user, key, &body)).await;
        reply.expect_invalid(&["Idempotency-Key"]);
    }
    assert_eq!(count_tasks(&pg, &user).await, 2);
}

/// Concurrent creates under a key that has just expired: exactly one new
/// task; every other request gets that task (a replay), never the day-old
/// task and never a stale 409. Twenty rounds of eight at once, each with a
/// key aged past 24 hours first.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_under_an_expired_key_take_it_over_once() {
    let state = Arc::new(state());
    let pg = pg().await;
    let user = unique_user("idem-expired");
    for round in 0..20 {
        let key = format!("expired-{round}");
        let create = Event::fixture("tasks-create")
            .as_user(&user)
            .header("idempotency-key", &key)
            .body_json(&json!({"title": "daily"}));
        let old = call(&state, &create).await;
        assert_eq!(old.status, 201, "{}", old.json);
        pg.execute(
            "UPDATE idempotency_keys SET created_at = now() - interval '25 hours'
             WHERE user_id = $1 AND idempotency_key = $2",
            &[&user, &key],
        )
        .await
        .unwrap();
        let before = count_tasks(&pg, &user).await;
        let replies: Vec<Reply> = futures_join(
            (0..8)
                .map(|_| {
                    let (state, create) = (state.clone(), create.clone());
                    tokio::spawn(async move { call(&state, &create).await })
                })
                .collect(),
        )
        .await;
        let ids: std::collections::HashSet<i64> = replies
            .iter()
            .map(|reply| {
                assert_eq!(reply.status, 201, "round {round}: {}", reply.json);
                id_of(&reply.json)
            })
            .collect();
        assert_eq!(ids.len(), 1, "round {round}: one task for all: {ids:?}");
        assert!(
            !ids.contains(&id_of(&old.json)),
            "round {round}: the day-old task was answered"
        );
        assert_eq!(count_tasks(&pg, &user).await, before + 1, "round {round}");
    }
}

/// Expired keys are deleted, not only taken over: each keyed create deletes
/// a few (anyone's), so they do not pile up without a scheduler.
#[tokio::test]
async fn expired_keys_are_deleted_by_later_keyed_creates() {
    let state = state();
    let pg = pg().await;
    let user = unique_user("purged");
    let keyed = |user: &str, key: &str| {
        Event::fixture("tasks-create")
            .as_user(user)
            .header("idempotency-key", key)
            .body_json(&json!({"title": "keyed"}))
    };
    for i in 0..3 {
        assert_eq!(
            call(&state, &keyed(&user, &format!("old-{i}")))
                .await
                .status,
            201
        );
    }
    pg.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE user_id = $1",
        &[&user],
    )
    .await
    .unwrap();
    let keys_left = async || -> i64 {
        pg.query_one(
            "SELECT count(*) FROM idempotency_keys WHERE user_id = $1",
            &[&user],
        )
        .await
        .unwrap()
        .get(0)
    };
    assert_eq!(keys_left().await, 3);
    // Other users' keyed creates; other tests' expired keys may go first.
    let other = unique_user("purger");
    for i in 0..20 {
        assert_eq!(
            call(&state, &keyed(&other, &format!("new-{i}")))
                .await
                .status,
            201
        );
        if keys_left().await == 0 {
            break;
        }
    }
    assert_eq!(keys_left().await, 0, "expired keys deleted");
    assert_eq!(count_tasks(&pg, &user).await, 3, "their tasks stay");
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<Reply>>) -> Vec<Reply> {
    let mut replies = Vec::new();
    for handle in handles {
        replies.push(handle.await.unwrap());
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_with_one_key_create_one_task() {
    let state = Arc::new(state());
    let pg = pg().await;
    let user = unique_user("idem-race");
    let mut handles = Vec::new();
    for _ in 0..8 {
        let state = state.clone();
        let user = user.clone();
        handles.push(tokio::spawn(async move {
            let event = Event::fixture("tasks-create")
                .as_user(&user)
                .header("idempotency-key", "race")
                .body_json(&json!({"title": "raced"}));
            call(&state, &event).await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for handle in handles {
        let reply = handle.await.unwrap();
        assert_eq!(reply.status, 201, "{}", reply.json);
        ids.insert(id_of(&reply.json));
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(count_tasks(&pg, &user).await, 1);
}

/// The list statement itself (`tasks::LIST`), with the parameters the API
/// sends for each kind of query (an unnamed statement, planned with its
/// values), reads the user's index in order: no sort, however the page is
/// filtered or where it starts.
#[tokio::test]
async fn list_query_reads_the_index_in_order() {
    use todo_shared::domain::tasks::{LIST, ListParameters};
    use todo_shared::domain::validate::{LIMIT_MAX, ListQuery, StatusFilter};
    use todo_shared::domain::values::Cursor;
    use tokio_postgres::types::{ToSql, Type};
    let pg = pg().await;
    let user = unique_user("plan");
    pg.execute(
        "INSERT INTO tasks (user_id, title, completed) SELECT $1, 't', n % 2 = 0
         FROM generate_series(1, 5000) AS n",
        &[&user],
    )
    .await
    .unwrap();
    // Only the owner may analyse the table.
    pg_at(&admin_database_url())
        .await
        .batch_execute("ANALYZE tasks")
        .await
        .unwrap();
    let explain = format!("EXPLAIN {}", LIST.sql);
    // Filters that agree: given together and contradicting, no row can
    // match, and the plan does not matter.
    let filters = [
        (None, None),
        (Some(false), None),
        (None, Some(StatusFilter::Completed)),
        (Some(true), Some(StatusFilter::Completed)),
    ];
    for (completed, status) in filters {
        for cursor in [None, Cursor::parse("999999999999999999").ok()] {
            let query = ListQuery {
                completed,
                status,
                limit: LIMIT_MAX,
                cursor,
            };
            let p = ListParameters::of(&query);
            let params: [(&(dyn ToSql + Sync), Type); 6] = [
                (&user, Type::VARCHAR),
                (&p.completed, Type::BOOL),
                (&p.before_id, Type::INT8),
                (&p.fetch, Type::INT8),
                (&p.status, Type::BOOL),
                (&p.budget, Type::INT8),
            ];
            let rows = pg.query_typed(&explain, &params).await.unwrap();
            let plan: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
            let plan = plan.join("\n");
            assert!(plan.contains("Index Scan"), "{query:?}: {plan}");
            assert!(!plan.contains("Sort"), "{query:?}, no sort needed: {plan}");
        }
    }
}

fn capped_state(max_tasks: i64) -> TasksState {
    TasksState {
        max_tasks_per_user: max_tasks,
        ..state()
    }
}

/// `MAX_TASKS_PER_USER`: a create beyond it is a 409 that stores nothing (no
/// task, no key); a replay is still answered; a delete makes room.
#[tokio::test]
async fn creates_beyond_the_task_cap_are_409_and_store_nothing() {
    let state = capped_state(3);
    let pg = pg().await;
    let user = unique_user("capped");
    let create = |key: Option<&str>, title: &str| {
        let event = Event::fixture("tasks-create")
            .as_user(&user)
            .body_json(&json!({"title": title}));
        match key {
            Some(key) => event.header("idempotency-key", key),
            None => event,
        }
    };
    let first = call(&state, &create(Some("k1"), "one")).await;
    assert_eq!(first.status, 201, "{}", first.json);
    for (key, title) in [(None, "two"), (Some("k3"), "three")] {
        assert_eq!(call(&state, &create(key, title)).await.status, 201);
    }
    for (key, title) in [(None, "four"), (Some("k4"), "four")] {
        let reply = call(&state, &create(key, title)).await;
        reply.expect_error(409, "TASK_LIMIT_REACHED");
        assert_eq!(reply.json["error"]["details"], json!({"max_tasks": 3}));
        assert_eq!(reply.header("cache-control"), Some("no-store"));
    }
    assert_eq!(count_tasks(&pg, &user).await, 3);
    let keys: i64 = pg
        .query_one(
            "SELECT count(*) FROM idempotency_keys WHERE user_id = $1",
            &[&user],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(keys, 2, "the refused key was not stored");
    // At the cap, a retry of an earlier create still gets its task.
    let replay = call(&state, &create(Some("k1"), "one")).await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.json, first.json);
    // Someone else is not affected.
    let other = Event::fixture("tasks-create")
        .as_user(&unique_user("uncapped"))
        .body_json(&json!({"title": "mine"}));
    assert_eq!(call(&state, &other).await.status, 201);
    // A delete makes room for one more.
    let delete = Event::fixture("task-delete")
        .as_user(&user)
        .task(id_of(&first.json), false);
    assert_eq!(call(&state, &delete).await.status, 204);
    assert_eq!(call(&state, &create(Some("k4"), "four")).await.status, 201);
    call(&state, &create(None, "five"))
        .await
        .expect_error(409, "TASK_LIMIT_REACHED");
    assert_eq!(count_tasks(&pg, &user).await, 3);
}

/// Concurrent creates at the cap: never one task too many. Rounds of twelve
/// creates at once (half with keys) for a user one short of a cap of five.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_never_exceed_the_task_cap() {
    let state = Arc::new(capped_state(5));
    let pg = pg().await;
    for round in 0..10 {
        let user = unique_user("cap-race");
        for _ in 0..4 {
            let create = Event::fixture("tasks-create")
                .as_user(&user)
                .body_json(&json!({"title": "before"}));
            assert_eq!(call(&state, &create).await.status, 201);
        }
        let replies = futures_join(
            (0..12)
                .map(|i| {
                    let mut create = Event::fixture("tasks-create")
                        .as_user(&user)
                        .body_json(&json!({"title": format!("racer {i}")}));
                    if i % 2 == 0 {
                        create = create.header("idempotency-key", &format!("race-{i}"));
                    }
                    let state = state.clone();
                    tokio::spawn(async move { call(&state, &create).await })
                })
                .collect(),
        )
        .await;
        let created = replies.iter().filter(|r| r.status == 201).count();
        for reply in replies.iter().filter(|r| r.status != 201) {
            reply.expect_error(409, "TASK_LIMIT_REACHED");
        }
        assert_eq!(created, 1, "round {round}");
        assert_eq!(count_tasks(&pg, &user).await, 5, "round {round}");
    }
}

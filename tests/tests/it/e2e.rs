//! End to end: every route over real HTTP through `cargo lambda watch` with
//! the router from Cargo.toml, as the frontend would call the API Gateway URL.
//!
//! Ignored in a plain `cargo test`: `make test` starts the watch servers and
//! runs these with `--ignored`, naming them in `E2E_*` variables. Without
//! those, `cargo test -p todo-tests --test it -- --ignored e2e::` runs the
//! suite in a child process that starts servers of its own
//! (`todo_tests::e2e_servers`).

use serde_json::{Value, json};
use todo_tests::{
    BetterAuth, E2eServers, check_emf, count_tasks, e2e_servers, now, pg, runtime, sign, task_row,
    unique_user,
};

pub(crate) struct Api {
    base: String,
    agent: ureq::Agent,
    secret: String,
    /// The `iss` and `aud` its functions hold every token to, if any.
    issuer: Option<String>,
}

pub(crate) struct Http {
    pub(crate) status: u16,
    headers: ureq::http::HeaderMap,
    pub(crate) body: String,
}

impl Http {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Api {
    /// The suite's API. Its functions are configured with the Better Auth
    /// fixture's URL (`BETTER_AUTH_URL`, or `JWT_ISSUER` and
    /// `JWT_AUDIENCE`), which then holds HS256 tokens to it too.
    fn new(servers: &E2eServers) -> Self {
        Self::issued(servers.base.clone(), servers)
    }

    /// The JWKS outage test's API.
    fn outage(servers: &E2eServers) -> Self {
        Self::issued(servers.outage_base.clone(), servers)
    }

    fn issued(base: String, servers: &E2eServers) -> Self {
        Api {
            issuer: Some(BetterAuth::load().base),
            ..Self::with(base, servers.secret.clone())
        }
    }

    /// The API at `base`, whose functions verify HS256 tokens with `secret`.
    pub(crate) fn with(base: String, secret: String) -> Self {
        // A bound on every request: a response the emulator holds back is a
        // failure, not a hung test.
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build()
            .into();
        Api {
            base,
            agent,
            secret,
            issuer: None,
        }
    }

    pub(crate) fn token(&self, user: &str) -> String {
        let mut claims = json!({"sub": user, "iat": now(), "exp": now() + 900});
        if let Some(issuer) = &self.issuer {
            claims["iss"] = json!(issuer);
            claims["aud"] = json!(issuer);
        }
        sign(&self.secret, &claims)
    }

    /// As `user` (an HS256 token signed with the server's secret), or anonymous.
    pub(crate) fn send(
        &self,
        method: &str,
        path: &str,
        user: Option<&str>,
        body: Option<&str>,
    ) -> Http {
        let token = user.map(|user| self.token(user));
        self.send_token(method, path, token.as_deref(), body)
    }

    /// With `Authorization: Bearer <token>` when a token is given.
    pub(crate) fn send_token(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Http {
        self.request(method, path, token, &[], body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// `POST /api/tasks` as `user` with an `Idempotency-Key`.
    pub(crate) fn send_keyed(&self, key: &str, user: &str, body: &str) -> Http {
        let token = self.token(user);
        let key = [("idempotency-key", key)];
        self.request("POST", "/api/tasks", Some(&token), &key, Some(body))
            .unwrap_or_else(|e| panic!("POST {key:?}: {e}"))
    }

    /// A body-less request whose network failure is an `Err`, not a panic.
    pub(crate) fn try_send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
    ) -> Result<Http, String> {
        self.request(method, path, token, &[], None)
            .map_err(|e| format!("{method} {path}: {e}"))
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<Http, ureq::Error> {
        let url = format!("{}{path}", self.base);
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.header("content-type", "application/json");
        let mut response = match body {
            Some(body) => self.agent.run(request.body(body.to_owned()).unwrap()),
            None => self.agent.run(request.body(()).unwrap()),
        }?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_string()?;
        Ok(Http {
            status,
            headers,
            body,
        })
    }
}

/// `cargo lambda watch` 1.9.2 acknowledges a function's response before it
/// reads the body; under parallel load about 0.2 % of bodies over ~16 KiB
/// were lost (its own 500) or held back (docs/upstream-cargo-lambda-watch.md).
/// The pinned 1.9.1 must deliver every one: 4,800 pages of about 22 KiB from
/// six clients at once, each a 200 with all its tasks.
#[test]
#[ignore = "needs `cargo lambda watch`; run by `make test`"]
fn large_responses_in_parallel_are_never_lost() {
    let Some(servers) = e2e_servers("large_responses_in_parallel_are_never_lost") else {
        return;
    };
    const CLIENTS: usize = 6;
    const REQUESTS: usize = 800;
    let api = Api::new(&servers);
    let user = unique_user("e2e-large");
    let description = "d".repeat(1000);
    for i in 0..20 {
        let body = json!({"title": format!("large {i}"), "description": description}).to_string();
        let reply = api.send("POST", "/api/tasks", Some(&user), Some(&body));
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let token = api.token(&user);
    let outcomes: Vec<Result<usize, String>> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                scope.spawn(|| {
                    (0..REQUESTS)
                        .map(|_| {
                            let reply = api.try_send("GET", "/api/tasks?limit=20", Some(&token))?;
                            let tasks = reply.json()["tasks"].as_array().map_or(0, Vec::len);
                            if reply.status == 200 && tasks == 20 {
                                Ok(reply.body.len())
                            } else {
                                Err(format!(
                                    "{} with {tasks} tasks: {:.200}",
                                    reply.status, reply.body
                                ))
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    });
    let failures: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} responses lost, e.g. {:?}",
        failures.len(),
        outcomes.len(),
        &failures[..failures.len().min(3)]
    );
    assert_eq!(outcomes.len(), CLIENTS * REQUESTS);
    let smallest = outcomes.iter().flatten().min().copied().unwrap_or(0);
    assert!(
        smallest > 16 * 1024,
        "pages of {smallest} bytes prove nothing"
    );
}

#[test]
#[ignore = "needs `cargo lambda watch`; run by `make test`"]
fn health_over_http() {
    let Some(servers) = e2e_servers("health_over_http") else {
        return;
    };
    let api = Api::new(&servers);
    let reply = api.send("GET", "/health", None, None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["status"], "ok");
    assert_eq!(reply.json()["database"], "ok");
}

#[test]
#[ignore = "needs `cargo lambda watch`; run by `make test`"]
fn docs_over_http() {
    let Some(servers) = e2e_servers("docs_over_http") else {
        return;
    };
    let api = Api::new(&servers);
    let document = api.send("GET", "/openapi.json", None, None);
    assert_eq!(document.status, 200);
    assert_eq!(document.json()["info"]["title"], "Todo API");
    let page = api.send("GET", "/docs", None, None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("SwaggerUIBundle"));
    assert!(page.header("content-security-policy").is_some());
    let script = api.send("GET", "/docs/swagger-ui-bundle.js", None, None);
    assert_eq!(script.status, 200);
    assert!(script.body.len() > 1_000_000, "{}", script.body.len());
}

#[test]
#[ignore = "needs `cargo lambda watch`; run by `make test`"]
fn every_task_route_over_http() {
    let Some(servers) = e2e_servers("every_task_route_over_http") else {
        return;
    };
    let api = Api::new(&servers);
    let rt = runtime();
    let db = rt.block_on(pg());
    let user = unique_user("e2e");
    let other = unique_user("e2e-other");

    let created = api.send(
        "POST",
        "/api/tasks",
        Some(&user),
        Some(r#"{"title": " Write tests ", "description": "e2e"}"#),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let task = created.json();
    let id = task["id"].as_i64().unwrap();
    assert_eq!(
        created.header("location"),
        Some(format!("/api/tasks/{id}").as_str())
    );
    assert_eq!(task["title"], "Write tests");
    assert_eq!(task["user_id"], user.as_str());
    assert_eq!(
        rt.block_on(task_row(&db, id)).unwrap()["title"],
        "Write tests"
    );

    let list = api.send(
        "GET",
        "/api/tasks?status=pending&limit=10",
        Some(&user),
        None,
    );
    assert_eq!(list.status, 200);
    assert_eq!(
        list.json(),
        json!({"tasks": [task.clone()], "next_cursor": null})
    );

    let got = api.send("GET", &format!("/api/tasks/{id}"), Some(&user), None);
    assert_eq!((got.status, got.json()), (200, task.clone()));

    let put = api.send(
        "PUT",
        &format!("/api/tasks/{id}"),
        Some(&user),
        Some(r#"{"title": "Written", "completed": true}"#),
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.json()["description"], Value::Null);
    assert_eq!(put.json()["completed"], true);

    let toggled = api.send(
        "PATCH",
        &format!("/api/tasks/{id}/complete"),
        Some(&user),
        None,
    );
    assert_eq!(toggled.status, 200, "{}", toggled.body);
    assert_eq!(toggled.json()["completed"], false);
    assert_eq!(rt.block_on(task_row(&db, id)).unwrap()["completed"], false);

    // Another user sees nothing and changes nothing.
    for (method, path) in [
        ("GET", format!("/api/tasks/{id}")),
        ("PUT", format!("/api/tasks/{id}")),
        ("DELETE", format!("/api/tasks/{id}")),
        ("PATCH", format!("/api/tasks/{id}/complete")),
    ] {
        let reply = api.send(
            method,
            &path,
            Some(&other),
            Some(r#"{"title": "x", "completed": true}"#),
        );
        assert_eq!(
            (reply.status, reply.code()),
            (404, "NOT_FOUND".into()),
            "{method} {path}"
        );
    }
    assert_eq!(rt.block_on(task_row(&db, id)).unwrap()["title"], "Written");

    let deleted = api.send("DELETE", &format!("/api/tasks/{id}"), Some(&user), None);
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    assert!(rt.block_on(task_row(&db, id)).is_none());
    assert_eq!(rt.block_on(count_tasks(&db, &user)), 0);
}

#[test]
#[ignore = "needs `cargo lambda watch`; run by `make test`"]
fn errors_over_http() {
    let Some(servers) = e2e_servers("errors_over_http") else {
        return;
    };
    let api = Api::new(&servers);
    let user = unique_user("e2e-errors");
    for (method, path) in [
        ("GET", "/api/tasks"),
        ("POST", "/api/tasks"),
        ("GET", "/api/tasks/1"),
        ("PUT", "/api/tasks/1"),
        ("DELETE", "/api/tasks/1"),
        ("PATCH", "/api/tasks/1/complete"),
    ] {
        let reply = api.send(method, path, None, None);
        assert_eq!(
            (reply.status, reply.code()),
            (401, "UNAUTHORIZED".into()),
            "{method} {path}"
        );
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    }
    let reply = api.send("DELETE", "/api/tasks", Some(&user), None);
    assert_eq!(
        (reply.status, reply.code()),
        (405, "METHOD_NOT_ALLOWED".into())
    );
    assert_eq!(reply.header("allow"), Some("GET, POST"));
    let reply = api.send("GET", "/api/tasks/1/complete", Some(&user), None);
    assert_eq!((reply.status, reply.header("allow")), (405, Some("PATCH")));

    let reply = api.send("GET", "/api/tasks/abc", Some(&user), None);
    assert_eq!(reply.status, 422);
    assert_eq!(
        reply.json()["error"]["details"]["id"],
        "Task id must be an integer"
    );
    let reply = api.send("GET", "/api/tasks/99999999999999999999", Some(&user), None);
    assert_eq!((reply.status, reply.code()), (404, "NOT_FOUND".into()));
    let reply = api.send("GET", "/api/tasks?limit=0", Some(&user), None);
    assert_eq!(
        (reply.status, reply.code()),
        (422, "VALIDATION_ERROR".into())
    );
    let reply = api.send("POST", "/api/tasks", Some(&user), Some("{not json"));
    assert_eq!(
        (reply.status, reply.code()),
        (422, "VALIDATION_ERROR".into())
    );
    assert_eq!(
        reply.json()["error"]["details"]["body"],
        "The body is not valid JSON"
    );

    let big = json!({"title": "big", "description": "x".repeat(70_000)}).to_string();
    let reply = api.send("POST", "/api/tasks", Some(&user), Some(&big));
    assert_eq!(
        (reply.status, reply.code()),
        (413, "PAYLOAD_TOO_LARGE".into())
    );

    // Paths no route serves: the fallback's contract-shaped 404 (the
    // router's catch-all, as API Gateway's $default route), with nosniff.
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/nowhere"),
        ("POST", "/api"),
        ("GET", "/api/tasks/1/2/3"),
        ("DELETE", "/docs/other.js"),
    ] {
        let reply = api.send(method, path, Some(&user), None);
        assert_eq!(
            (reply.status, reply.code()),
            (404, "NOT_FOUND".into()),
            "{method} {path}: {}",
            reply.body
        );
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    }

    let rt = runtime();
    assert_eq!(
        rt.block_on(async { count_tasks(&pg().await, &user).await }),
        0
    );
}

/// The first JSON line of the watch server's `log` that is `wanted`, with
/// the whole log as it was then. A function's output reaches the log through
/// the watch server, so this waits up to 10 s for it.
fn await_log_line(log: &str, wanted: impl Fn(&Value) -> bool) -> Option<(Value, String)> {
    for _ in 0..50 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let found = text
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|line| wanted(line));
        if let Some(line) = found {
            return Some((line, text));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    None
}

/// The watch server's functions log at TRACE (`secret_watch`), where
/// lambda_runtime would log each raw event, Authorization header and body
/// included, were its level not held to INFO (`todo_shared::web::logging`).
#[test]
#[ignore = "needs `cargo lambda watch`; run by `make test`"]
fn one_json_log_line_per_request_without_tokens_or_bodies() {
    let Some(servers) = e2e_servers("one_json_log_line_per_request_without_tokens_or_bodies")
    else {
        return;
    };
    let api = Api::new(&servers);
    let log = servers.log.display().to_string();
    let user = unique_user("e2e-log");
    let secret_text = format!("private body text {user}");
    let created = api.send(
        "POST",
        "/api/tasks",
        Some(&user),
        Some(&json!({"title": secret_text}).to_string()),
    );
    assert_eq!(created.status, 201);
    let missing = 987_654_321_987_654i64;
    let reply = api.send("GET", &format!("/api/tasks/{missing}"), Some(&user), None);
    assert_eq!(reply.status, 404);
    let token = api.token(&user);

    let (line, text) = await_log_line(&log, |line| {
        let f = &line["fields"];
        // This test's request: its user, by the hash the line carries.
        f["message"] == "request"
            && f["method"] == "GET"
            && f["route"] == "/api/tasks/{id}"
            && f["status"] == 404
            && f["user"] == todo_shared::observe::user_hash(&user)
    })
    .expect("a JSON request line for GET /api/tasks/{id} 404");
    assert!(!text.contains(&secret_text), "a request body was logged");
    assert!(!text.contains(&user), "a user id was logged");
    assert!(!text.contains(&token[..40]), "a token was logged");
    assert!(!text.contains(&api.secret), "the secret was logged");
    let fields = &line["fields"];
    assert!(fields["latency_ms"].as_f64().is_some(), "{line}");
    assert!(
        fields["db_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{line}"
    );
    assert!(fields["cold_start"].is_boolean(), "{line}");
    assert_eq!(fields["error"], "NOT_FOUND", "{line}");
    let request_id = fields["request_id"].as_str().unwrap_or_default();
    assert!(request_id.len() >= 8 && request_id != "-", "{line}");
    let apigw_request_id = fields["apigw_request_id"].as_str().unwrap_or_default();
    assert!(!apigw_request_id.is_empty(), "{line}");
    let trace_id = fields["trace_id"].as_str().unwrap_or_default();
    assert!(trace_id.starts_with("1-"), "the X-Ray root: {line}");

    // And its metrics: an EMF line per request, valid by the specification.
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let emf: Vec<Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("_aws").is_some())
        .collect();
    assert!(!emf.is_empty(), "no EMF line in the log");
    for line in &emf {
        check_emf(line).unwrap_or_else(|problem| panic!("{problem}: {line}"));
    }
    assert!(
        emf.iter().any(|m| m["Function"] == "tasks-item"
            && m["Route"] == "/api/tasks/{id}"
            && m["StatusClass"] == "4xx"),
        "the 404's metrics"
    );
    assert!(
        emf.iter().any(|m| m["ColdStart"] == 1),
        "a cold start counted"
    );
}

/// Exactly one line per request, counted where nothing else calls: the
/// health function of the outage test's watch server (that test only lists
/// tasks), so every `/health` line there is one of these requests.
#[test]
#[ignore = "needs `cargo lambda watch`; run by `make test`"]
fn exactly_one_log_line_per_request() {
    let Some(servers) = e2e_servers("exactly_one_log_line_per_request") else {
        return;
    };
    let api = Api::outage(&servers);
    let log = servers.outage_log.display().to_string();
    let count = |status: u64| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| {
                let f = &line["fields"];
                f["message"] == "request" && f["route"] == "/health" && f["status"] == status
            })
            .count()
    };
    let (ok_before, not_allowed_before) = (count(200), count(405));
    for _ in 0..5 {
        assert_eq!(api.send("GET", "/health", None, None).status, 200);
    }
    for _ in 0..3 {
        assert_eq!(api.send("POST", "/health", None, None).status, 405);
    }
    let expected = (ok_before + 5, not_allowed_before + 3);
    // The lines reach the log through the watch server; allow them a moment,
    // then a little more, so that a second line per request would show.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while (count(200), count(405)) != expected && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        (count(200), count(405)),
        expected,
        "request lines for 5 GETs and 3 POSTs"
    );
}

#[test]
#[ignore = "needs `cargo lambda watch`; run by `make test`"]
fn better_auth_tokens_over_http() {
    let Some(servers) = e2e_servers("better_auth_tokens_over_http") else {
        return;
    };
    let api = Api::new(&servers);
    let ba = todo_tests::BetterAuth::load();
    let send = |method: &str, path: &str, token: &str, body: Option<&str>| {
        let reply = api.send_token(method, path, Some(token), body);
        (reply.status, reply.json())
    };
    for alg in ["EdDSA", "ES256", "RS256"] {
        let alice = ba.token(alg, "alice");
        let bob = ba.token(alg, "bob");
        let (status, task) = send(
            "POST",
            "/api/tasks",
            &alice.token,
            Some(r#"{"title": "via Better Auth"}"#),
        );
        assert_eq!(status, 201, "{alg}: {task}");
        assert_eq!(task["user_id"], alice.user_id.as_str());
        let id = task["id"].as_i64().unwrap();
        let (status, _) = send("GET", &format!("/api/tasks/{id}"), &bob.token, None);
        assert_eq!(status, 404, "{alg}: Bob cannot reach Alice's task");
        let (status, _) = send("GET", "/api/tasks", &ba.token(alg, "other").token, None);
        assert_eq!(status, 401, "{alg}: another Better Auth instance");
        let (status, _) = send("DELETE", &format!("/api/tasks/{id}"), &alice.token, None);
        assert_eq!(status, 204);
    }
    // A tampered payload (Alice's signature, Bob's id) is refused.
    let alice = ba.token("EdDSA", "alice");
    let bob = ba.token("EdDSA", "bob");
    let parts: Vec<&str> = alice.token.split('.').collect();
    let payload = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        json!({"sub": bob.user_id, "exp": now() + 900, "iss": ba.base, "aud": ba.base}).to_string(),
    );
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    assert_eq!(send("GET", "/api/tasks", &tampered, None).0, 401);
    // alg: none with a real kid, and the classic confusion: HS256 keyed with
    // the server's own public key.
    let kid = {
        let header =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, parts[0])
                .unwrap();
        serde_json::from_slice::<Value>(&header).unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let none_header = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        json!({"alg": "none", "kid": kid}).to_string(),
    );
    assert_eq!(
        send(
            "GET",
            "/api/tasks",
            &format!("{none_header}.{}.", parts[1]),
            None
        )
        .0,
        401
    );
    let public_jwk = ba.jwks("EdDSA")["keys"][0].to_string();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid);
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, parts[1])
            .unwrap(),
    )
    .unwrap();
    let confused = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(public_jwk.as_bytes()),
    )
    .unwrap();
    assert_eq!(send("GET", "/api/tasks", &confused, None).0, 401);
    // Forged kids: each function container fetches at most once a minute.
    let before = ba.control("", "hits");
    for i in 0..20 {
        let header = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            json!({"alg": "EdDSA", "kid": format!("forged-e2e-{i}")}).to_string(),
        );
        let forged = format!("{header}.{payload}.AAAA");
        assert_eq!(send("GET", "/api/tasks", &forged, None).0, 401);
        assert_eq!(send("GET", "/api/tasks/1", &forged, None).0, 401);
    }
    let fetched = ba.control("", "hits") - before;
    assert!(
        fetched <= 2,
        "{fetched} JWKS fetches for 40 forged tokens to two functions"
    );
    // The HS256 secret keeps working next to the JWKS.
    let (status, _) = send("GET", "/api/tasks", &api.token(&unique_user("hs")), None);
    assert_eq!(status, 200);
}

/// Better Auth's JWKS down and rotated, through a watch server of its own
/// (`E2E_JWKS_OUTAGE_URL`) whose functions read keys only from the fixture's
/// `e2e-outage` prefix and have fetched nothing yet. The 60 s refetch
/// interval after a success is shown in process (tests/tests/it/better_auth.rs);
/// here the 10 s retry after a failure is waited out for real.
#[test]
#[ignore = "needs `cargo lambda watch`; run by `make test`"]
fn jwks_outage_and_rotation_over_http() {
    let Some(servers) = e2e_servers("jwks_outage_and_rotation_over_http") else {
        return;
    };
    let api = Api::outage(&servers);
    let ba = todo_tests::BetterAuth::load();
    let prefix = "e2e-outage";
    let list = |token: &str| api.send_token("GET", "/api/tasks", Some(token), None);
    let alice = ba.token("EdDSA", "alice");
    let carol = ba.token("EdDSA", "rotated");
    assert_eq!(ba.control(prefix, "hits"), 0, "no fetch at cold start");

    // Down, nothing cached: our dependency failed, 503 with Retry-After.
    ba.control(prefix, "down");
    let reply = list(&alice.token);
    assert_eq!(
        (reply.status, reply.code()),
        (503, "SERVICE_UNAVAILABLE".to_owned())
    );
    assert!(reply.header("retry-after").is_some());
    assert_eq!(ba.control(prefix, "hits"), 1);
    // Its cause, in Lambda's JSON log format, on its request line (this
    // watch server serves only this test's task requests) and nowhere else.
    let log = servers.outage_log.display().to_string();
    let (line, text) = await_log_line(&log, |line| {
        line["fields"]["route"] == "/api/tasks" && line["fields"]["status"] == 503
    })
    .expect("the 503's request line");
    assert_eq!(line["level"], "WARN", "{line}");
    let cause = line["fields"]["cause"].as_str().unwrap_or_default();
    assert!(
        cause.starts_with("the JWKS could not be fetched: "),
        "{line}"
    );
    assert_eq!(text.matches(cause).count(), 1, "the cause is written once");

    // Up again with a rotated key: within the retry interval nothing is fetched.
    ba.control(prefix, "up");
    ba.control(prefix, "rotate");
    assert_eq!(list(&carol.token).status, 503);
    assert_eq!(ba.control(prefix, "hits"), 1, "retries wait");
    std::thread::sleep(std::time::Duration::from_secs(11));
    // One refetch, and the rotated key (and the old one) are accepted.
    let reply = list(&carol.token);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(list(&alice.token).status, 200);
    assert_eq!(ba.control(prefix, "hits"), 2);

    // Down again: cached keys keep serving; an unknown kid fetches nothing.
    ba.control(prefix, "down");
    assert_eq!(list(&alice.token).status, 200);
    assert_eq!(list(&carol.token).status, 200);
    assert_eq!(list(&ba.token("EdDSA", "other").token).status, 401);
    assert_eq!(ba.control(prefix, "hits"), 2);
}

/// The database call shows in the invocation's X-Ray trace as its own
/// subsegment: the watch server's functions send them to the UDP port
/// `make test` names as the X-Ray daemon, under the trace of the request's
/// log line.
#[test]
#[ignore = "needs `cargo lambda watch`; run by `make test`"]
fn the_database_call_is_an_xray_subsegment() {
    let Some(servers) = e2e_servers("the_database_call_is_an_xray_subsegment") else {
        return;
    };
    let port = servers.xray_port;
    let daemon = std::net::UdpSocket::bind(("127.0.0.1", port)).expect("the daemon's port");
    daemon
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let api = Api::new(&servers);
    let user = unique_user("e2e-xray");
    assert_eq!(api.send("GET", "/api/tasks", Some(&user), None).status, 200);
    // The request's trace, from its log line.
    let log = servers.log.display().to_string();
    let hash = todo_shared::observe::user_hash(&user);
    let trace = await_log_line(&log, |line| line["fields"]["user"] == hash.as_str())
        .and_then(|(line, _)| line["fields"]["trace_id"].as_str().map(str::to_owned));
    let trace = trace.expect("the request's log line, with its trace id");
    assert!(trace.starts_with("1-"), "{trace}");
    // Other tests' requests send theirs too: read until this trace's.
    let mut buffer = [0u8; 65536];
    let subsegment = loop {
        let (size, _) = daemon
            .recv_from(&mut buffer)
            .expect("this request's subsegment within 10 s");
        let text = std::str::from_utf8(&buffer[..size]).unwrap();
        let (header, body) = text
            .split_once('\n')
            .expect("header line, then the document");
        assert_eq!(
            serde_json::from_str::<Value>(header).unwrap(),
            json!({"format": "json", "version": 1})
        );
        let subsegment: Value = serde_json::from_str(body).unwrap();
        if subsegment["trace_id"] == trace.as_str() {
            break subsegment;
        }
    };
    assert_eq!(subsegment["type"], "subsegment", "{subsegment}");
    assert_eq!(subsegment["name"], "PostgreSQL", "{subsegment}");
    assert_eq!(subsegment["fault"], false, "{subsegment}");
    assert!(
        subsegment["parent_id"]
            .as_str()
            .is_some_and(|p| p.len() == 16),
        "{subsegment}"
    );
}

/// `cargo lambda invoke FUNCTION ARGS...` against the suite's watch
/// server; its answer, as JSON.
fn invoke(servers: &E2eServers, function: &str, data: &[&str]) -> Value {
    let port = servers.base.rsplit(':').next().expect("a port");
    let mut ran = std::process::Command::new("cargo");
    ran.args([
        "lambda",
        "invoke",
        function,
        "--invoke-address",
        "127.0.0.1",
    ])
    .args(["--invoke-port", port])
    .args(data)
    .env("PATH", todo_tests::services::tools_path())
    .current_dir(todo_tests::root());
    let said = todo_tests::output_of(&mut ran, &format!("cargo lambda invoke {function}"));
    serde_json::from_str(&said).unwrap_or_else(|_| panic!("{function}: {said}"))
}

/// An `events/` fixture, sent as a developer sends it (`cargo lambda
/// invoke --data-file`, a token put in): its function answers 200.
fn invoke_fixture(servers: &E2eServers, fixture: &str, function: &str) {
    let event = std::fs::read_to_string(todo_tests::root().join(format!("events/{fixture}.json")))
        .unwrap()
        .replace(
            "REPLACE_WITH_TOKEN",
            &Api::new(servers).token(&unique_user("invoke")),
        );
    let file = std::env::temp_dir().join(format!("{}.json", unique_user(fixture)));
    std::fs::write(&file, event).unwrap();
    let answer = invoke(servers, function, &["--data-file", file.to_str().unwrap()]);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(
        answer["statusCode"], 200,
        "{function}, events/{fixture}.json: {answer}"
    );
}

#[test]
#[ignore = "needs `cargo lambda watch`; run by `make test`"]
fn the_health_fixture_through_cargo_lambda_invoke() {
    let Some(servers) = e2e_servers("the_health_fixture_through_cargo_lambda_invoke") else {
        return;
    };
    invoke_fixture(&servers, "health", "health");
}

#[test]
#[ignore = "needs `cargo lambda watch`; run by `make test`"]
fn the_tasks_list_fixture_through_cargo_lambda_invoke() {
    let Some(servers) = e2e_servers("the_tasks_list_fixture_through_cargo_lambda_invoke") else {
        return;
    };
    invoke_fixture(&servers, "tasks-list", "tasks-collection");
}

/// `migrate` invoked as a Lambda (`sam remote invoke`'s event, `{}`):
/// nothing to apply.
#[test]
#[ignore = "needs `cargo lambda watch`; run by `make test`"]
fn migrate_through_cargo_lambda_invoke() {
    let Some(servers) = e2e_servers("migrate_through_cargo_lambda_invoke") else {
        return;
    };
    let answer = invoke(&servers, "migrate", &["--data-ascii", "{}"]);
    assert_eq!(answer["applied"], json!([]), "{answer}");
}

/// The `/docs` page of the watch server in headless Chromium
/// (`tests/browser/docs.mjs`, Debian's `chromium` or `CHROMIUM`), with every
/// request to another origin refused: every operation rendered, "Try it
/// out" answered 200 with a token typed into the page, the token in no
/// storage, no CSP violation, no console error.
#[test]
#[ignore = "needs `cargo lambda watch`; run by `make test`"]
fn the_docs_page_in_chromium() {
    let Some(servers) = e2e_servers("the_docs_page_in_chromium") else {
        return;
    };
    todo_tests::services::npm_ci_once(&todo_tests::root().join("tests/browser"));
    let tested = std::process::Command::new("node")
        .arg(todo_tests::root().join("tests/browser/docs.mjs"))
        .arg(&servers.base)
        .arg(Api::new(&servers).token(&unique_user("docs-browser")))
        .status()
        .expect("node");
    assert!(tested.success(), "the /docs browser test: {tested}");
}

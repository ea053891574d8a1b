//! Requests as Lambda delivers them, built from the `events/` fixtures, the
//! replies read back, and the in-process calls of the task functions.

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use todo_shared::config::AuthConfig;
use todo_shared::web::handlers::TasksState;

use crate::{SECRET, db_config, root, server, token};

/// HS256 with [`SECRET`]: what the in-process tests' functions verify.
pub fn auth_config() -> AuthConfig {
    AuthConfig::hs256(SECRET)
}

/// The state the task functions build, on the test database.
pub fn state() -> TasksState {
    TasksState::new(&db_config(), &auth_config()).expect("test state")
}

/// An API Gateway HTTP API (payload v2) event from `events/<name>.json`,
/// to be adjusted and turned into a request.
#[derive(Clone)]
pub struct Event(Value);

impl Event {
    pub fn fixture(name: &str) -> Self {
        let path = root().join("events").join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        Event(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}")))
    }

    pub fn json(&self) -> &Value {
        &self.0
    }

    pub fn method(mut self, method: &str) -> Self {
        self.0["requestContext"]["http"]["method"] = json!(method);
        let path = self.0["rawPath"].as_str().unwrap_or_default().to_owned();
        self.0["routeKey"] = json!(format!("{method} {path}"));
        self
    }

    /// Sets the raw path, and the `id` path parameter as API Gateway would.
    pub fn path(mut self, raw_path: &str, id: Option<&str>) -> Self {
        self.0["rawPath"] = json!(raw_path);
        self.0["requestContext"]["http"]["path"] = json!(raw_path);
        match id {
            Some(id) => self.0["pathParameters"] = json!({ "id": id }),
            None => {
                if let Some(map) = self.0.as_object_mut() {
                    map.remove("pathParameters");
                }
            }
        }
        self
    }

    /// The item path `/api/tasks/{id}` (with `/complete` when `complete`).
    pub fn task(self, id: impl ToString, complete: bool) -> Self {
        let id = id.to_string();
        let suffix = if complete { "/complete" } else { "" };
        self.path(&format!("/api/tasks/{id}{suffix}"), Some(&id))
    }

    pub fn query(mut self, pairs: &[(&str, &str)]) -> Self {
        let raw: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.0["rawQueryString"] = json!(raw.join("&"));
        let mut map = serde_json::Map::new();
        for (k, v) in pairs {
            // API Gateway joins repeated parameters with commas.
            let joined = match map.get(*k).and_then(Value::as_str) {
                Some(prev) => format!("{prev},{v}"),
                None => v.to_string(),
            };
            map.insert(k.to_string(), json!(joined));
        }
        self.0["queryStringParameters"] = Value::Object(map);
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.0["headers"][name.to_ascii_lowercase()] = json!(value);
        self
    }

    pub fn without_header(mut self, name: &str) -> Self {
        if let Some(headers) = self.0["headers"].as_object_mut() {
            headers.remove(&name.to_ascii_lowercase());
        }
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn as_user(self, user: &str) -> Self {
        self.bearer(&token(user))
    }

    pub fn body(mut self, body: &str) -> Self {
        self.0["body"] = json!(body);
        self.0["isBase64Encoded"] = json!(false);
        self
    }

    pub fn body_json(self, body: &Value) -> Self {
        self.body(&body.to_string())
    }

    pub fn no_body(mut self) -> Self {
        if let Some(map) = self.0.as_object_mut() {
            map.remove("body");
        }
        self
    }

    pub fn request(&self) -> Request {
        lambda_http::request::from_str(&self.0.to_string()).expect("a valid API Gateway v2 event")
    }
}

/// What a test needs of a response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: lambda_http::http::HeaderMap,
    pub raw: Vec<u8>,
    pub json: Value,
}

impl Reply {
    pub fn new(response: Response<Body>) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let raw = response.body().as_ref().to_vec();
        let json = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            raw,
            json,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn error_code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    /// Asserts the contract's error shape and returns `details` (or null).
    pub fn expect_error(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status, status, "status; body: {}", self.json);
        assert_eq!(self.error_code(), code, "code; body: {}", self.json);
        assert!(
            self.json["error"]["message"].is_string(),
            "message; body: {}",
            self.json
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
        &self.json["error"]["details"]
    }

    /// Asserts a 422 whose `details` name exactly `fields`.
    pub fn expect_invalid(&self, fields: &[&str]) {
        let details = self.expect_error(422, "VALIDATION_ERROR");
        assert_eq!(self.json["error"]["message"], "Validation failed");
        let mut named: Vec<&str> = details
            .as_object()
            .map(|d| d.keys().map(String::as_str).collect())
            .unwrap_or_default();
        named.sort();
        let mut expected = fields.to_vec();
        expected.sort();
        assert_eq!(named, expected, "details: {details}");
    }
}

/// Sends `event` to the task function whose route (in the shared route table)
/// matches its path, in process, as Lambda would.
pub async fn call(state: &TasksState, event: &Event) -> Reply {
    use todo_shared::web::handlers::{tasks_collection, tasks_item};
    use todo_shared::web::routes::Function;
    let request = event.request();
    let function =
        server::route(todo_shared::web::http::path(&request)).map(|route| route.function());
    let response = match function {
        Some(Function::TasksCollection) => tasks_collection::handle(state, request).await,
        // Its own paths, and any other: tasks-item answers those with a 404.
        _ => tasks_item::handle(state, request).await,
    };
    Reply::new(response)
}

/// One request of `user`'s to each task route (the item routes name task 1).
pub fn every_task_route(user: &str) -> Vec<Event> {
    vec![
        Event::fixture("tasks-list").query(&[]),
        Event::fixture("tasks-create").body_json(&json!({"title": "lost?"})),
        Event::fixture("task-get").task(1, false),
        Event::fixture("task-update").task(1, false),
        Event::fixture("task-delete").task(1, false),
        Event::fixture("task-complete").task(1, true),
    ]
    .into_iter()
    .map(|event| event.as_user(user))
    .collect()
}

/// Creates a task through the API as `user` and returns its JSON.
pub async fn create_task(state: &TasksState, user: &str, title: &str) -> Value {
    let reply = call(
        state,
        &Event::fixture("tasks-create")
            .as_user(user)
            .body_json(&json!({ "title": title })),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.json);
    reply.json
}

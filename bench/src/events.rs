//! What the functions are sent: the seeded data and its tokens, each
//! program's environment, and the API Gateway events of every route.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use todo_shared::web::routes::{CollectionOp, ItemOp, Operation};

use crate::runtime::Reply;
use crate::settings::{Settings, Setup};

/// Everything seeded in the database, and the tokens for it.
pub struct Data {
    pub list_user: String,
    pub get_task: i64,
    pub write_task: i64,
    pub delete_tasks: Vec<i64>,
    pub floor_delete_tasks: Vec<i64>,
    /// The Better Auth user of the production-like runs, and a task of theirs.
    pub production_user: String,
    pub production_task: i64,
    pub hs256: BTreeMap<String, String>,
    pub eddsa: String,
    /// The production-like `DATABASE_URL` as a secret in the local Secrets
    /// Manager, for the cold starts that read it (`<function>+secrets`),
    /// and the network setup's.
    pub database_url_arn: Option<String>,
    pub network_database_url_arn: Option<String>,
}

pub const GET_USER: &str = "bench-get";
pub const WRITE_USER: &str = "bench-write";
pub const DELETE_USER: &str = "bench-delete";
pub const CREATE_USER: &str = "bench-create";

/// A program's environment. `<function>+secrets` is the function started
/// with its `DATABASE_URL` given as a secret ARN, read at Init from the
/// local Secrets Manager (over TLS, through the network's delay in that
/// setup), as in AWS; `<function>+direct` has `sslnegotiation=direct` in
/// its `DATABASE_URL` (#42).
pub fn env_of(
    settings: &Settings,
    data: &Data,
    function: &str,
    setup: Setup,
) -> Vec<(String, String)> {
    let mut parts = function.split('+');
    let function = parts.next().unwrap_or(function);
    let flags: Vec<&str> = parts.collect();
    let with_secrets = flags.contains(&"secrets");
    let direct = flags.contains(&"direct");
    let mut env: Vec<(String, String)> = [
        ("PATH", "/usr/bin:/bin"),
        ("AWS_LAMBDA_FUNCTION_NAME", function),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
        ("AWS_REGION", "us-east-1"),
        ("MAX_TASKS_PER_USER", "1000000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut set = |k: &str, v: &str| env.push((k.to_owned(), v.to_owned()));
    // The floor connects as the owner, so that pg_stat_statements tells the
    // API's statements (its own role) from the floor's.
    let floor = function == "floor";
    match setup {
        Setup::Local => {
            set(
                "DATABASE_URL",
                if floor {
                    &settings.admin_database_url
                } else {
                    &settings.database_url
                },
            );
            set("BETTER_AUTH_SECRET", &settings.secret);
        }
        Setup::Production | Setup::Network => {
            set("SSL_CERT_FILE", &settings.ca_bundle);
            let base = settings.fixture["base"].as_str().unwrap_or_default();
            let https = settings.fixture["https_base"].as_str().unwrap_or_default();
            set("BETTER_AUTH_URL", base);
            if setup == Setup::Network {
                set("DATABASE_URL", &settings.network.database_url);
                set("BETTER_AUTH_JWKS_URL", &settings.network.jwks_url);
            } else {
                set("DATABASE_URL", &settings.tls_database_url);
                set(
                    "BETTER_AUTH_JWKS_URL",
                    &format!("{https}/bench/api/auth/jwks"),
                );
            }
        }
    }
    if direct {
        for (name, value) in &mut env {
            if name == "DATABASE_URL" {
                value.push_str("&sslnegotiation=direct");
            }
        }
    }
    if with_secrets {
        let (arn, endpoint) = if setup == Setup::Network {
            (
                data.network_database_url_arn.as_deref(),
                settings.network.secrets_manager.clone(),
            )
        } else {
            (
                data.database_url_arn.as_deref(),
                settings.secrets_manager.clone(),
            )
        };
        env.retain(|(name, _)| name != "DATABASE_URL");
        env.push((
            "DATABASE_URL_SECRET_ARN".into(),
            arn.expect("a Secrets Manager").into(),
        ));
        env.push((
            "AWS_ENDPOINT_URL_SECRETS_MANAGER".into(),
            endpoint.expect("a Secrets Manager"),
        ));
        for (name, value) in &settings.secrets_manager_credentials {
            env.push((name.to_string(), value.clone()));
        }
    }
    env
}

/// An API Gateway HTTP API (v2) event, as `events/*.json` holds them.
pub fn event(
    method: &str,
    path: &str,
    route: &str,
    id: Option<i64>,
    token: &str,
    user: &str,
    body: Option<Value>,
) -> Vec<u8> {
    let mut headers = json!({
        "accept": "application/json",
        "host": "abc123def4.execute-api.us-east-1.amazonaws.com",
        "user-agent": "todo-bench",
        "x-forwarded-proto": "https",
        "authorization": format!("Bearer {token}"),
        "x-bench-user": user,
    });
    if body.is_some() {
        headers["content-type"] = json!("application/json");
    }
    let event = json!({
        "version": "2.0",
        "routeKey": format!("ANY {route}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123def4",
            "domainName": "abc123def4.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123def4",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.7", "userAgent": "todo-bench"},
            // As long as API Gateway's (the log line carries it).
            "requestId": "C7rBzhcRoAMEJmw=",
            "routeKey": format!("ANY {route}"),
            "stage": "$default",
            "time": "27/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1795773600000u64
        },
        "pathParameters": id.map(|id| json!({"id": id.to_string()})),
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false,
    });
    serde_json::to_vec(&event).expect("an event")
}

/// The task routes, each with the function that serves it and its request.
#[derive(Clone, Copy, PartialEq)]
pub enum Route {
    List,
    Create,
    Get,
    Update,
    Toggle,
    Delete,
}

impl Route {
    pub const ALL: [Route; 6] = [
        Route::List,
        Route::Create,
        Route::Get,
        Route::Update,
        Route::Toggle,
        Route::Delete,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Route::List => "GET /api/tasks (20 tasks)",
            Route::Create => "POST /api/tasks",
            Route::Get => "GET /api/tasks/{id}",
            Route::Update => "PUT /api/tasks/{id}",
            Route::Toggle => "PATCH /api/tasks/{id}/complete",
            Route::Delete => "DELETE /api/tasks/{id}",
        }
    }

    /// The operation in the shared route table.
    pub fn operation(self) -> Operation {
        match self {
            Route::List => Operation::Collection(CollectionOp::List),
            Route::Create => Operation::Collection(CollectionOp::Create),
            Route::Get => Operation::Item(ItemOp::Get),
            Route::Update => Operation::Item(ItemOp::Replace),
            Route::Toggle => Operation::Item(ItemOp::Toggle),
            Route::Delete => Operation::Item(ItemOp::Delete),
        }
    }

    /// The function that serves it.
    pub fn function(self) -> &'static str {
        self.operation().function().name()
    }

    pub fn status(self) -> u16 {
        match self {
            Route::Create => 201,
            Route::Delete => 204,
            _ => 200,
        }
    }

    /// The `n`-th request of this route (`floor`: the floor's own share of
    /// the tasks to delete).
    pub fn event(self, data: &Data, n: usize, floor: bool) -> Vec<u8> {
        let token = |user: &str| data.hs256[user].clone();
        let item = "/api/tasks/{id}";
        match self {
            Route::List => event(
                "GET",
                "/api/tasks",
                "/api/tasks",
                None,
                &token(&data.list_user),
                &data.list_user,
                None,
            ),
            Route::Create => event(
                "POST",
                "/api/tasks",
                "/api/tasks",
                None,
                &token(CREATE_USER),
                CREATE_USER,
                Some(
                    json!({"title": format!("benchmark task {n}"), "description": "made by make bench"}),
                ),
            ),
            Route::Get => {
                let id = data.get_task;
                event(
                    "GET",
                    &format!("/api/tasks/{id}"),
                    item,
                    Some(id),
                    &token(GET_USER),
                    GET_USER,
                    None,
                )
            }
            Route::Update => {
                let id = data.write_task;
                let body = json!({"title": format!("renamed {n}"), "description": "changed by make bench", "completed": n.is_multiple_of(2)});
                event(
                    "PUT",
                    &format!("/api/tasks/{id}"),
                    item,
                    Some(id),
                    &token(WRITE_USER),
                    WRITE_USER,
                    Some(body),
                )
            }
            Route::Toggle => {
                let id = data.write_task;
                event(
                    "PATCH",
                    &format!("/api/tasks/{id}/complete"),
                    "/api/tasks/{id}/complete",
                    Some(id),
                    &token(WRITE_USER),
                    WRITE_USER,
                    None,
                )
            }
            Route::Delete => {
                let ids = if floor {
                    &data.floor_delete_tasks
                } else {
                    &data.delete_tasks
                };
                let id = ids[n % ids.len()];
                event(
                    "DELETE",
                    &format!("/api/tasks/{id}"),
                    item,
                    Some(id),
                    &token(DELETE_USER),
                    DELETE_USER,
                    None,
                )
            }
        }
    }
}

pub fn check(reply: &Reply, expected: u16, what: &str) -> Result<(), String> {
    if reply.failed || reply.status() != expected {
        return Err(format!(
            "{what}: expected {expected}, got {} ({})",
            reply.status(),
            String::from_utf8_lossy(&reply.body)
                .chars()
                .take(400)
                .collect::<String>()
        ));
    }
    Ok(())
}

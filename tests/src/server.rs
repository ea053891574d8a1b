//! A local HTTP server over the real handlers, for tests that need a URL
//! (schemathesis) but not the Lambda emulator.
//!
//! Each HTTP request becomes the API Gateway HTTP API (payload 2.0) event
//! that API Gateway would send for it ([`event`]), which `lambda_http` then
//! parses exactly as it does in Lambda; the route table picks the function,
//! and that function's handler answers. So everything between the event and
//! the response is the deployed code path; only the Lambda runtime (proven
//! end to end through `cargo lambda watch`) is left out. A test holds
//! [`event`] equal to the `events/` fixtures, so the two cannot drift.
//! Optionally it also answers CORS as API Gateway would ([`Cors`]).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use lambda_http::http::request::Parts;
use lambda_http::http::{self as h, header};
use lambda_http::{Body, Request, Response};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value, json};
use todo_shared::config::{ConfigError, TasksConfig};
use todo_shared::outside::db::Db;
use todo_shared::web::error::ApiError;
use todo_shared::web::handlers::docs::{self, Docs};
use todo_shared::web::handlers::{TasksState, health, tasks_collection, tasks_item};
use todo_shared::web::routes::{self, Function, Route};
use todo_shared::web::{http, openapi};

use crate::cors::Cors;
use tokio::net::TcpListener;

/// Swagger UI's files for the `/docs` page, from the docs function's crate
/// (whose build runs npm) with the feature `swagger-ui`; without it, empty
/// files: the page and the document are served, the page renders nothing.
#[cfg(feature = "swagger-ui")]
const SWAGGER_UI: docs::SwaggerUi = swagger_ui::SWAGGER_UI;
#[cfg(not(feature = "swagger-ui"))]
const SWAGGER_UI: docs::SwaggerUi = docs::SwaggerUi {
    script: "",
    style: "",
};

/// API Gateway's own limit on a request body (10 MB); ours is far smaller.
const GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;

/// What every function builds at cold start, built once for all of them.
pub struct Functions {
    tasks: TasksState,
    health: Db,
    docs: Docs,
}

impl Functions {
    pub fn new(tasks: TasksState) -> Self {
        Functions {
            health: tasks.db.clone(),
            docs: Docs::new(&openapi::document_json(), SWAGGER_UI),
            tasks,
        }
    }

    /// As the task functions start from their settings.
    pub async fn start(config: &TasksConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(TasksState::start(config).await?))
    }

    /// The response of the function whose route matches the request's path;
    /// a path no route serves gets the contract's 404.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let Some(route) = route(http::path(&request)) else {
            return http::route_not_found(&request);
        };
        match route.function() {
            Function::TasksCollection => tasks_collection::handle(&self.tasks, request).await,
            Function::TasksItem => tasks_item::handle(&self.tasks, request).await,
            Function::Health => health::handle(&self.health, request).await,
            Function::Docs => docs::handle(&self.docs, request).await,
        }
    }
}

/// A local API of this test process's own, for the tools that need a URL
/// without the Lambda emulator (schemathesis, the client's browser test):
/// the task functions' settings for the test database and the Better Auth
/// fixture (`BETTER_AUTH_URL`, and HS256 with the kit's secret, held to the
/// fixture's issuer as well), behind [`serve`] on a free port, on a thread
/// of its own, for the rest of the process. With `cors_origins` (a
/// `FrontendUrl` value) it answers CORS as the template says. Its base URL,
/// and the token settings, to mint with ([`crate::local_token`]).
pub fn local_api(cors_origins: Option<&str>) -> (String, todo_shared::config::AuthConfig) {
    let settings = [
        ("DATABASE_URL", crate::database_url()),
        ("DB_POOL_SIZE", "4".to_owned()),
        ("BETTER_AUTH_SECRET", crate::SECRET.to_owned()),
        ("BETTER_AUTH_URL", crate::BetterAuth::load().base),
    ];
    let config = TasksConfig::from_lookup(|name| {
        settings
            .iter()
            .find(|(setting, _)| *setting == name)
            .map(|(_, value)| value.clone())
    })
    .expect("the local API's settings");
    let auth = config.auth.clone();
    let cors = cors_origins.map(|origins| Arc::new(Cors::from_template(origins)));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        crate::runtime().block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = TcpListener::from_std(listener).unwrap();
            let functions = Arc::new(Functions::start(&config).await.expect("the local API"));
            serve(listener, functions, cors).await
        })
    });
    (base, auth)
}

/// The route whose pattern matches a request path, if any.
pub fn route(path: &str) -> Option<&'static Route> {
    routes::ROUTES.iter().find(|route| route.matches(path))
}

/// Serves `functions` on `listener` until the task is dropped; with `cors`,
/// answering CORS as API Gateway does with the template's configuration.
pub async fn serve(
    listener: TcpListener,
    functions: Arc<Functions>,
    cors: Option<Arc<Cors>>,
) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let functions = functions.clone();
        let cors = cors.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let (functions, cors) = (functions.clone(), cors.clone());
                async move {
                    Ok::<_, Infallible>(answer(&functions, cors.as_deref(), request, peer).await)
                }
            });
            // A client that goes away mid-request is its own business.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    functions: &Functions,
    cors: Option<&Cors>,
    request: h::Request<Incoming>,
    peer: SocketAddr,
) -> h::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    if let Some((status, headers)) = cors.and_then(|c| c.preflight(&parts.method, &parts.headers)) {
        let mut response = h::Response::new(Full::new(Bytes::new()));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        return response;
    }
    let mut response = match Limited::new(body, GATEWAY_MAX_BODY).collect().await {
        Ok(body) => {
            let event = event(&parts, &body.to_bytes(), peer.ip());
            match lambda_http::request::from_str(&event.to_string()) {
                Ok(request) => functions.handle(request).await,
                Err(error) => http::error(&ApiError::internal(error), "-"),
            }
        }
        Err(_) => http::error(&ApiError::PayloadTooLarge, "-"),
    };
    if let Some(cors) = cors {
        cors.decorate(&parts.headers, response.headers_mut());
    }
    let (parts, body) = response.into_parts();
    h::Response::from_parts(parts, Full::new(Bytes::copy_from_slice(body.as_ref())))
}

/// The API Gateway HTTP API (payload 2.0) event for one HTTP request:
/// lower-case headers (repeats joined with commas), cookies in `cookies`,
/// decoded query parameters (repeats joined with commas, as API Gateway
/// does), the route's path parameters, a text body or a base64 one, and the
/// request context with `routeKey` `ANY <route>` (the template routes ANY).
pub fn event(parts: &Parts, body: &[u8], source: IpAddr) -> Value {
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or_default();
    let route = route(path);
    let route_key = route.map_or_else(|| "$default".to_owned(), |r| format!("ANY {}", r.path));

    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == header::COOKIE {
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(String::from),
            );
        } else {
            join(&mut headers, name.as_str(), value);
        }
    }
    let user_agent = headers.get("user-agent").cloned().unwrap_or(json!(""));
    let host = headers
        .get("host")
        .and_then(Value::as_str)
        .unwrap_or("localhost")
        .to_owned();

    let mut parameters = Map::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        join(&mut parameters, &decode(name), decode(value));
    }

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    static REQUESTS: AtomicU64 = AtomicU64::new(0);
    let request_id = format!(
        "local-{}-{}",
        now.as_millis(),
        REQUESTS.fetch_add(1, Ordering::Relaxed)
    );
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or_default(),
            "http": {
                "method": parts.method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source.to_string(),
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": chrono::Utc::now().format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.as_millis() as u64,
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !parameters.is_empty() {
        event["queryStringParameters"] = Value::Object(parameters);
    }
    if let Some(route) = route {
        event["pathParameters"] = Value::Object(path_parameters(route, path));
    }
    if !body.is_empty() {
        match std::str::from_utf8(body) {
            Ok(text) => event["body"] = json!(text),
            Err(_) => {
                event["body"] = json!(BASE64.encode(body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    event
}

/// `{param}` segments of the route's pattern, decoded, by name.
fn path_parameters(route: &Route, path: &str) -> Map<String, Value> {
    route
        .path
        .split('/')
        .zip(path.split('/'))
        .filter_map(|(pattern, actual)| {
            let name = pattern.strip_prefix('{')?.strip_suffix('}')?;
            Some((name.to_owned(), json!(decode(actual))))
        })
        .collect()
}

/// Adds `value` under `name`, joining a repeated name's values with commas.
fn join(map: &mut Map<String, Value>, name: &str, value: String) {
    let joined = match map.get(name).and_then(Value::as_str) {
        Some(previous) => format!("{previous},{value}"),
        None => value,
    };
    map.insert(name.to_owned(), json!(joined));
}

fn decode(raw: &str) -> String {
    percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

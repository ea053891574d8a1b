//! Test kit for the Todo API: requests built from the `events/` fixtures,
//! tokens minted like Better Auth's HS256 ones, and direct database access for
//! asserting what the API left in the table.
//!
//! Tests run against the PostgreSQL named by `TEST_DATABASE_URL` (the test
//! command starts a throwaway one). Every test works as users of its own, so
//! tests can share one database and run in parallel.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use todo_shared::config::{AuthConfig, DbConfig};
use todo_shared::handlers::TasksState;

pub mod cors;
pub mod logs;
pub mod pooler;
pub mod server;
pub mod stack;

/// The HS256 secret of in-process tests (a test value, not a credential).
pub const SECRET: &str = "in-process-test-secret-0123456789abcdef";

/// The committed OpenAPI document (`make openapi`), from the repository root.
pub const OPENAPI_FILE: &str = "clients/openapi.json";

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The database the API under test connects to, as the API's restricted
/// role (`make test` sets it up; see `migrations::Target`).
pub fn database_url() -> String {
    std::env::var("TEST_DATABASE_URL").expect(
        "TEST_DATABASE_URL is not set: run the tests with `make test`, which starts a \
         throwaway PostgreSQL, or point TEST_DATABASE_URL at a database you can wipe",
    )
}

/// The same server as its owner (`TEST_ADMIN_DATABASE_URL`, else
/// `TEST_DATABASE_URL`): for migrations and scratch databases.
pub fn admin_database_url() -> String {
    std::env::var("TEST_ADMIN_DATABASE_URL").unwrap_or_else(|_| database_url())
}

/// The API's login role that `migrate` sets up for [`database_url`], as the
/// `migrate` function derives it.
pub fn api_login() -> Option<todo_shared::migrations::ApiLogin> {
    let urls = [
        ("MIGRATE_DATABASE_URL", admin_database_url()),
        ("DATABASE_URL", database_url()),
    ];
    todo_shared::migrations::Target::from_lookup(|name| {
        urls.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, url)| url.clone())
    })
    .expect("the test database URLs")
    .api_login
}

pub fn db_config() -> DbConfig {
    db_config_for(&database_url())
}

/// The tests' pool settings for the database at `url`.
pub fn db_config_for(url: &str) -> DbConfig {
    DbConfig {
        url: url.to_owned(),
        pool_size: 8,
        connect_timeout: std::time::Duration::from_secs(5),
        timeout: std::time::Duration::from_secs(10),
        max_idle: std::time::Duration::from_secs(120),
    }
}

pub fn auth_config() -> AuthConfig {
    AuthConfig::hs256(SECRET)
}

/// The state the task functions build, on the test database.
pub fn state() -> TasksState {
    TasksState::new(&db_config(), &auth_config()).expect("test state")
}

/// [`admin_database_url`] with another database name (its query string kept).
pub fn database_url_of(database: &str) -> String {
    let url = admin_database_url();
    let (path, query) = url
        .split_once('?')
        .map_or((url.as_str(), None), |(p, q)| (p, Some(q)));
    let (server, _) = path.rsplit_once('/').expect("a URL with a database name");
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

/// Creates an empty database of its own for one test; returns an admin
/// connection and its name, for [`drop_database`] afterwards.
pub async fn scratch_database(label: &str) -> (tokio_postgres::Client, String) {
    let admin = pg_at(&admin_database_url()).await;
    let name = format!("{label}_{}", std::process::id());
    drop_database(&admin, &name).await;
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    (admin, name)
}

pub async fn drop_database(admin: &tokio_postgres::Client, name: &str) {
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .expect("drop database");
}

/// A connection for assertions on the table: straight to the server
/// (`TEST_DIRECT_DATABASE_URL`, which the test command sets when the API
/// under test goes through a pooler, whose transaction mode has no room for
/// the named statements of these assertions), else [`database_url`].
pub async fn pg() -> tokio_postgres::Client {
    let url = std::env::var("TEST_DIRECT_DATABASE_URL").unwrap_or_else(|_| database_url());
    pg_at(&url).await
}

/// A direct connection to the database at `url`.
pub async fn pg_at(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    tokio::spawn(connection);
    client
}

/// A user id no other test uses.
pub fn unique_user(label: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{label}-{}-{nanos}-{n}", std::process::id())
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An HS256 token over `claims`, signed with `secret`.
pub fn sign(secret: &str, claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

/// A valid in-process token for `user`, as Better Auth would issue it.
pub fn token(user: &str) -> String {
    sign(
        SECRET,
        &json!({ "sub": user, "iat": now(), "exp": now() + 900 }),
    )
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
    use todo_shared::handlers::{tasks_collection, tasks_item};
    use todo_shared::routes::Function;
    let request = event.request();
    let function = server::route(todo_shared::http::path(&request)).map(|route| route.function);
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

/// Whether this process is root, asked once: PostgreSQL's programs and
/// PgBouncer refuse root, so as root they run as the `postgres` user.
pub fn is_root() -> bool {
    static ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| {
        let id = std::process::Command::new("id").arg("-u").output().unwrap();
        String::from_utf8_lossy(&id.stdout).trim() == "0"
    })
}

/// `program`, run as the `postgres` user when this process is root.
pub fn as_postgres(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    if is_root() {
        let mut runuser = std::process::Command::new("runuser");
        runuser.args(["-u", "postgres", "--"]).arg(program);
        runuser
    } else {
        std::process::Command::new(program)
    }
}

/// Makes `dir` the `postgres` user's, when this process is root.
pub fn give_to_postgres(dir: &std::path::Path) {
    if is_root() {
        let status = std::process::Command::new("chown")
            .args(["-R", "postgres:"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success(), "chown {dir:?}");
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The PostgreSQL server programs the test command chose (`PG_BIN`: see
/// `find_postgres` in scripts/common.sh).
pub fn pg_bin() -> PathBuf {
    std::env::var_os("PG_BIN").map(PathBuf::from).expect(
        "PG_BIN is not set: run the tests with `make test`, which finds or installs \
         PostgreSQL, or point PG_BIN at a PostgreSQL 17 or newer's bin folder",
    )
}

/// A PostgreSQL server of one test's own, to stop and start again: a fresh
/// cluster in a temporary folder on a free port (as the `postgres` user when
/// root, since `initdb` refuses root), removed when dropped.
pub struct ScratchServer {
    dir: PathBuf,
    pub port: u16,
    /// Settings beyond the defaults, as `name=value` (`-c` options).
    settings: Vec<String>,
}

impl ScratchServer {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// With these server settings (`name=value`), say `max_connections=20`.
    pub fn start_with(settings: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(unique_user("todo-scratch-pg"));
        std::fs::create_dir_all(&dir).unwrap();
        give_to_postgres(&dir);
        let server = ScratchServer {
            dir,
            port: free_port(),
            settings: settings.iter().map(|s| s.to_string()).collect(),
        };
        let data = server.dir.join("data");
        server.run(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
            ],
        );
        server.start_again();
        server
    }

    /// A PostgreSQL server binary (from [`pg_bin`]).
    fn command(&self, binary: &str, args: &[&str]) -> std::process::Command {
        let mut command = as_postgres(pg_bin().join(binary));
        command.args(args);
        command
    }

    fn run(&self, binary: &str, args: &[&str]) {
        let output = self
            .command(binary, args)
            .output()
            .unwrap_or_else(|e| panic!("{binary}: {e}"));
        assert!(
            output.status.success(),
            "{binary} {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.join("data").to_string_lossy().into_owned();
        let mut all = vec!["-D", &data];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all);
    }

    /// Starts the server (again), and waits until it accepts connections.
    pub fn start_again(&self) {
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.to_string_lossy()
        );
        for setting in &self.settings {
            options += &format!(" -c {setting}");
        }
        let log = self.dir.join("server.log").to_string_lossy().into_owned();
        self.pg_ctl(&["-l", &log, "-w", "-t", "30", "-o", &options, "start"]);
    }

    /// Stops the server (its connections end), and waits until it has.
    pub fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "-w", "stop"]);
    }

    /// As the superuser.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// As the API's restricted role, once [`ScratchServer::migrate`] made it.
    pub fn api_url(&self) -> String {
        format!("postgres://todo_api@127.0.0.1:{}/postgres", self.port)
    }

    /// Applies the migrations as the superuser and sets up the API's role.
    pub async fn migrate(&self) {
        migrate(&self.url(), &self.api_url()).await;
    }
}

/// Applies the migrations as the owner at `owner_url` and sets up the API's
/// role of `api_url`, as `migrate` does.
pub async fn migrate(owner_url: &str, api_url: &str) {
    let owner = todo_shared::db::Db::new(&db_config_for(owner_url)).unwrap();
    let login = todo_shared::migrations::ApiLogin::from_url(api_url).unwrap();
    todo_shared::migrations::run_on(&owner, Some(&login))
        .await
        .expect("migrations");
}

impl Drop for ScratchServer {
    fn drop(&mut self) {
        let data = self.dir.join("data").to_string_lossy().into_owned();
        let _ = self
            .command("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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

/// The task row as JSON-ish values, or None when it is gone.
pub async fn task_row(pg: &tokio_postgres::Client, id: i64) -> Option<Value> {
    let row = pg
        .query_opt(
            "SELECT user_id, title, description, completed,
                    created_at::text AS created_at, updated_at::text AS updated_at
             FROM tasks WHERE id = $1",
            &[&id],
        )
        .await
        .expect("query");
    row.map(|r| {
        json!({
            "user_id": r.get::<_, String>("user_id"),
            "title": r.get::<_, String>("title"),
            "description": r.get::<_, Option<String>>("description"),
            "completed": r.get::<_, bool>("completed"),
            "created_at": r.get::<_, String>("created_at"),
            "updated_at": r.get::<_, String>("updated_at"),
        })
    })
}

/// The first column of every row `sql` returns.
pub async fn column<T>(
    client: &tokio_postgres::Client,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Vec<T>
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    client
        .query(sql, params)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// How many tasks `user` has in the table.
pub async fn count_tasks(pg: &tokio_postgres::Client, user: &str) -> i64 {
    pg.query_one("SELECT count(*) FROM tasks WHERE user_id = $1", &[&user])
        .await
        .expect("count")
        .get(0)
}

/// Tokens and keys from the real Better Auth of `tests/better-auth/issuer.mjs`,
/// which the test command starts (`BETTER_AUTH_FIXTURE` names its output).
pub struct BetterAuth {
    /// The fixture server's base URL: Better Auth's `baseURL`, so also the
    /// tokens' `iss` and `aud`.
    pub base: String,
    fixture: Value,
}

/// A real token and the user id Better Auth put in its `sub`.
pub struct RealToken {
    pub token: String,
    pub user_id: String,
}

impl BetterAuth {
    pub fn load() -> Self {
        let path = std::env::var("BETTER_AUTH_FIXTURE").expect(
            "BETTER_AUTH_FIXTURE is not set: run the tests with `make test`, which starts \
             the Better Auth fixture (tests/better-auth/issuer.mjs)",
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let fixture: Value = serde_json::from_str(&text).expect("fixture JSON");
        let base = fixture["base"].as_str().expect("base").to_owned();
        BetterAuth { base, fixture }
    }

    /// `who` is `alice` or `bob` (same instance), `rotated` (a key published
    /// only after rotation) or `other` (a key never published); `alg` is
    /// `EdDSA`, `ES256` or `RS256`.
    pub fn token(&self, alg: &str, who: &str) -> RealToken {
        let entry = &self.fixture["tokens"][alg][who];
        RealToken {
            token: entry["token"].as_str().expect("token").to_owned(),
            user_id: entry["user_id"].as_str().expect("user_id").to_owned(),
        }
    }

    /// A token issued now (`who` also `expired`: exp 2 minutes ago, or
    /// `recent`: exp 30 seconds ago, both EdDSA).
    pub fn fresh_token(&self, alg: &str, who: &str) -> RealToken {
        let url = format!("{}/token/{alg}/{who}", self.base);
        let mut response = ureq::get(&url).call().expect("fixture token");
        let entry: Value =
            serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        RealToken {
            token: entry["token"].as_str().expect("token").to_owned(),
            user_id: entry["user_id"].as_str().expect("user_id").to_owned(),
        }
    }

    /// The fixture's HTTPS address (`https://localhost:<port>`, certificate
    /// from the test CA), when the test command gave it one.
    pub fn https_base(&self) -> Option<String> {
        self.fixture["https_base"].as_str().map(str::to_owned)
    }

    /// The public JWKS of the `alg` instance, as Better Auth serves it.
    pub fn jwks(&self, alg: &str) -> Value {
        self.fixture["jwks"][alg].clone()
    }

    /// The JWKS URL under a path prefix of the caller's own.
    pub fn jwks_url(&self, prefix: &str) -> String {
        format!("{}/{prefix}/api/auth/jwks", self.base)
    }

    /// POST `<prefix>/control/<action>` (`rotate`, `down`, `up`, `hits`;
    /// the prefix `""` is the root);
    /// returns the prefix's fetch count.
    pub fn control(&self, prefix: &str, action: &str) -> u64 {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        // The empty prefix is the root, where BETTER_AUTH_URL finds the JWKS.
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("/{prefix}")
        };
        let url = format!("{}{prefix}/control/{action}", self.base);
        let mut response = agent.post(&url).send_empty().expect("fixture control");
        let state: Value =
            serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        state["hits"].as_u64().expect("hits")
    }
}

/// Sends `signal` (`STOP`, `CONT`...) to a process of this machine's.
pub fn signal(pid: i32, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(
        status.success(),
        "kill -{signal} {pid}: the process must be local and alive"
    );
}

/// A runtime for the async parts of a synchronous test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `future`'s output, or a failed test when it takes longer than `limit`: for
/// tests whose claim is "answers, and does not hang".
pub async fn within<F: std::future::Future>(
    limit: std::time::Duration,
    what: &str,
    future: F,
) -> F::Output {
    tokio::time::timeout(limit, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {limit:?}, a hang"))
}

/// A TCP proxy to `upstream` that holds each connection for `delay` before
/// connecting it through, as a Neon compute that is waking up does. Returns
/// its port; abort the handle to stop it.
pub async fn delaying_proxy(
    upstream: String,
    delay: std::time::Duration,
) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (port, task)
}

/// A TCP proxy to `upstream` whose open connections can be cut: after
/// [`CuttingProxy::cut`], a connection opened before it closes both ends when
/// its client next sends anything, without passing it on. That is a
/// statement sent on a connection that has died under it (a pooler restart,
/// a dropped path), seen by the client only once it has sent. New
/// connections pass through.
pub struct CuttingProxy {
    pub port: u16,
    generation: std::sync::Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl CuttingProxy {
    pub async fn start(upstream: String) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let generation = std::sync::Arc::new(AtomicU64::new(0));
        let current = generation.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    continue;
                };
                let born = current.load(Ordering::SeqCst);
                let current = current.clone();
                tokio::spawn(async move {
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let back = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                    });
                    let mut chunk = [0u8; 8192];
                    loop {
                        let n = match client_read.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if current.load(Ordering::SeqCst) != born
                            || server_write.write_all(&chunk[..n]).await.is_err()
                        {
                            break;
                        }
                    }
                    // Dropping every half closes both connections.
                    back.abort();
                });
            }
        });
        CuttingProxy {
            port,
            generation,
            task,
        }
    }

    /// Cuts every connection open now.
    pub fn cut(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `host:port` of the test database.
pub fn database_address() -> String {
    let config: tokio_postgres::Config = database_url().parse().expect("TEST_DATABASE_URL");
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        other => panic!("a TCP host, not {other:?}"),
    };
    format!(
        "{host}:{}",
        config.get_ports().first().copied().unwrap_or(5432)
    )
}

/// A server that accepts connections and never says a word: a dependency
/// that hangs. Abort the handle to stop it.
pub async fn silent_server() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (port, task)
}

/// Checks one log line against the CloudWatch Embedded Metric Format
/// specification: an `_aws` object with an integer `Timestamp` (ms) and
/// `CloudWatchMetrics` directives, each with a `Namespace`, `Dimensions` (a
/// list of dimension sets, each at most 30 names, every name a string member
/// of the line) and `Metrics` (at most 100, each a `Name` whose value in the
/// line is a number, or a list of at most 100 numbers, and a `Unit` from
/// CloudWatch's list).
pub fn check_emf(line: &Value) -> Result<(), String> {
    const UNITS: [&str; 27] = [
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];
    let aws = line["_aws"].as_object().ok_or("no _aws object")?;
    aws.get("Timestamp")
        .and_then(Value::as_u64)
        .filter(|ms| *ms > 1_600_000_000_000)
        .ok_or("_aws.Timestamp: not a time in milliseconds")?;
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty())
        .ok_or("_aws.CloudWatchMetrics: not a non-empty list")?;
    for directive in directives {
        let namespace = directive["Namespace"].as_str().unwrap_or_default();
        if namespace.is_empty() || namespace.len() > 1024 {
            return Err(format!("Namespace {namespace:?}"));
        }
        let sets = directive["Dimensions"]
            .as_array()
            .ok_or("Dimensions: not a list")?;
        for set in sets {
            let names = set.as_array().ok_or("a dimension set: not a list")?;
            if names.len() > 30 {
                return Err("more than 30 dimensions in a set".into());
            }
            for name in names {
                let name = name.as_str().ok_or("a dimension name: not a string")?;
                if !line[name].is_string() {
                    return Err(format!("dimension {name}: no string member"));
                }
            }
        }
        let metrics = directive["Metrics"]
            .as_array()
            .ok_or("Metrics: not a list")?;
        if metrics.len() > 100 {
            return Err("more than 100 metrics".into());
        }
        for metric in metrics {
            let name = metric["Name"].as_str().ok_or("a metric without a Name")?;
            let value = &line[name];
            let numeric = value.is_number()
                || value
                    .as_array()
                    .is_some_and(|v| v.len() <= 100 && v.iter().all(Value::is_number));
            if !numeric {
                return Err(format!("metric {name}: no numeric member"));
            }
            if let Some(unit) = metric.get("Unit") {
                if !unit.as_str().is_some_and(|u| UNITS.contains(&u)) {
                    return Err(format!("metric {name}: unit {unit}"));
                }
            }
        }
    }
    Ok(())
}

/// Creates a secret in the environment's Secrets Manager (the local
/// emulator) through the functions' own client, and returns its ARN.
pub async fn create_secret(name: &str, value: &str) -> String {
    todo_shared::secrets::create(name, value)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create a secret (is AWS_ENDPOINT_URL_SECRETS_MANAGER set?): {}",
                todo_shared::error::Cause::new(e)
            )
        })
}

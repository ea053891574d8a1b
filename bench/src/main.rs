//! `make bench`: the functions' release binaries against a floor, driven
//! through a minimal Lambda Runtime API ([`runtime`]), on a throwaway
//! PostgreSQL. `scripts/bench.sh` builds everything, starts the database and
//! Better Auth, runs this, and turns its JSON into `BENCHMARKS.md` and a chart.
//!
//! Every figure is taken in the same run as the floor it is compared with
//! (`src/bin/floor.rs`), alternating between the two, because these machines
//! are noisy: ratios travel, absolute numbers do not.
//!
//! Settings come from `BENCH_*` variables (see `scripts/bench.sh`); the
//! smoke mode of CI only makes every count small.

mod delay;
mod runtime;
mod scale;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use todo_shared::routes::{CollectionOp, Function, ItemOp, Operation};
use todo_tests::services::SecretsManager;
use tokio_postgres::NoTls;

use runtime::{Instance, Reply};

/// What the run was told, from the environment.
struct Settings {
    bin_dir: PathBuf,
    out_dir: PathBuf,
    starts: usize,
    requests: usize,
    seconds: f64,
    database_url: String,
    tls_database_url: String,
    admin_database_url: String,
    api_role: String,
    ca_bundle: String,
    secret: String,
    fixture: Value,
    /// A local Secrets Manager over TLS (`AWS_ENDPOINT_URL_SECRETS_MANAGER`,
    /// with the AWS test credentials beside it), when the run has one.
    secrets_manager: Option<String>,
    /// The production-like database and JWKS URLs through [`delay`] proxies.
    network: Network,
}

/// The network setup's one-way delay: a 4 ms round trip.
const ONE_WAY: Duration = Duration::from_millis(2);

/// The URLs of the network setup, each through a proxy of its own.
struct Network {
    database_url: String,
    jwks_url: String,
}

impl Network {
    /// Proxies to the production-like database and Better Auth's HTTPS
    /// (both at `localhost:<port>`, which their certificate names).
    fn start(tls_database_url: &str, https_base: &str) -> Network {
        let proxied = |url: &str| -> String {
            let port: u16 = url
                .split("localhost:")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|port| port.parse().ok())
                .unwrap_or_else(|| panic!("no localhost:<port> in {url}"));
            let proxy = delay::Delay::start(([127, 0, 0, 1], port).into(), ONE_WAY)
                .expect("a delaying proxy");
            url.replace(
                &format!("localhost:{port}"),
                &format!("localhost:{}", proxy.port),
            )
        };
        Network {
            database_url: proxied(tls_database_url),
            jwks_url: format!("{}/bench/api/auth/jwks", proxied(https_base)),
        }
    }
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set (run `make bench`)"))
}

fn number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What a run measures against, started by the test kit's own code: a
/// PostgreSQL server with TLS (its test CA) and `pg_stat_statements`,
/// durable as a server is (`fsync` on), migrated; the Better Auth fixture
/// over HTTP and HTTPS; and a Secrets Manager over TLS. Stopped when the run
/// ends.
struct Services {
    kit: todo_tests::services::Services,
    _secrets_manager: SecretsManager,
    /// The production-like setup's trust: the whole system bundle, with the
    /// test CA appended, as AWS trusts Neon's.
    ca_bundle: PathBuf,
}

impl Services {
    fn start() -> Services {
        let scratch = std::env::temp_dir().join(todo_tests::unique_user("bench-services"));
        let kit = todo_tests::services::Services::start_with(
            &scratch,
            &[
                "max_connections=100",
                "shared_preload_libraries=pg_stat_statements",
            ],
        );
        let ca_bundle = scratch.join("ca-bundle.crt");
        let mut bundle = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
        bundle.extend(std::fs::read(kit.ca.ca()).expect("the test CA"));
        std::fs::write(&ca_bundle, bundle).expect("the CA bundle");
        let secrets_manager = SecretsManager::start(&scratch.join("moto.log"), Some(&kit.ca));
        // SAFETY: nothing else runs yet (no thread has started): this
        // process's own calls to Secrets Manager trust the bundle too.
        unsafe {
            std::env::set_var("SSL_CERT_FILE", &ca_bundle);
            for (name, value) in &secrets_manager.env {
                std::env::set_var(name, value);
            }
            std::env::remove_var("AWS_PROFILE");
            std::env::remove_var("AWS_SESSION_TOKEN");
        }
        Services {
            kit,
            _secrets_manager: secrets_manager,
            ca_bundle,
        }
    }
}

impl Settings {
    fn new(services: &Services) -> Settings {
        let kit = &services.kit;
        let fixture =
            std::fs::read_to_string(&kit.better_auth.file).expect("the Better Auth fixture");
        let fixture: Value = serde_json::from_str(&fixture).expect("the fixture is JSON");
        let tls_database_url = kit
            .api_url
            .replace("@127.0.0.1:", "@localhost:")
            .replace("sslmode=disable", "sslmode=require");
        Settings {
            bin_dir: var("BENCH_BIN_DIR").into(),
            out_dir: var("BENCH_OUT_DIR").into(),
            starts: number("BENCH_STARTS", 20),
            requests: number("BENCH_REQUESTS", 2000),
            seconds: number("BENCH_MILLIS", 12000) as f64 / 1000.0,
            database_url: kit.api_url.clone(),
            network: Network::start(
                &tls_database_url,
                fixture["https_base"]
                    .as_str()
                    .expect("Better Auth over HTTPS"),
            ),
            tls_database_url,
            admin_database_url: kit.owner_url.clone(),
            api_role: "todo_api".into(),
            ca_bundle: services.ca_bundle.display().to_string(),
            secret: kit.secret.clone(),
            secrets_manager: std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER").ok(),
            fixture,
        }
    }
}

/// One configuration a function runs in.
#[derive(Clone, Copy, PartialEq)]
enum Setup {
    /// Loopback database without TLS, HS256 tokens: `make dev`.
    Local,
    /// `sslmode=require` to a server with a test CA (trusted through a copy
    /// of the system bundle with it appended), EdDSA tokens checked against
    /// Better Auth's JWKS over HTTPS: as in AWS.
    Production,
    /// Production-like, the database and the JWKS each behind a proxy that
    /// delays every byte [`ONE_WAY`] each way: round trips made visible.
    Network,
}

impl Setup {
    fn name(self) -> &'static str {
        match self {
            Setup::Local => "local",
            Setup::Production => "production-like",
            Setup::Network => "network",
        }
    }
}

/// Everything seeded in the database, and the tokens for it.
struct Data {
    list_user: String,
    get_task: i64,
    write_task: i64,
    delete_tasks: Vec<i64>,
    floor_delete_tasks: Vec<i64>,
    /// The Better Auth user of the production-like runs, and a task of theirs.
    production_user: String,
    production_task: i64,
    hs256: BTreeMap<String, String>,
    eddsa: String,
    /// The production-like `DATABASE_URL` as a secret in the local Secrets
    /// Manager, for the cold starts that read it (`<function>+secrets`).
    database_url_arn: Option<String>,
}

const GET_USER: &str = "bench-get";
const WRITE_USER: &str = "bench-write";
const DELETE_USER: &str = "bench-delete";
const CREATE_USER: &str = "bench-create";

/// A program's environment. `<function>+secrets` is the function started
/// production-like with its `DATABASE_URL` given as a secret ARN, read at
/// Init from the local Secrets Manager (over TLS), as in AWS.
fn env_of(settings: &Settings, data: &Data, function: &str, setup: Setup) -> Vec<(String, String)> {
    let (function, with_secrets) = match function.split_once('+') {
        Some((function, "secrets")) => (function, true),
        _ => (function, false),
    };
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
    if with_secrets {
        let arn = data.database_url_arn.as_deref().expect("a Secrets Manager");
        env.retain(|(name, _)| name != "DATABASE_URL");
        env.push(("DATABASE_URL_SECRET_ARN".into(), arn.into()));
        for name in [
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            env.push((name.into(), var(name)));
        }
    }
    env
}

/// An API Gateway HTTP API (v2) event, as `events/*.json` holds them.
fn event(
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
            "requestId": "bench",
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
enum Route {
    List,
    Create,
    Get,
    Update,
    Toggle,
    Delete,
}

impl Route {
    const ALL: [Route; 6] = [
        Route::List,
        Route::Create,
        Route::Get,
        Route::Update,
        Route::Toggle,
        Route::Delete,
    ];

    fn name(self) -> &'static str {
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
    fn operation(self) -> Operation {
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
    fn function(self) -> &'static str {
        self.operation().function().name()
    }

    fn status(self) -> u16 {
        match self {
            Route::Create => 201,
            Route::Delete => 204,
            _ => 200,
        }
    }

    /// The `n`-th request of this route (`floor`: the floor's own share of
    /// the tasks to delete).
    fn event(self, data: &Data, n: usize, floor: bool) -> Vec<u8> {
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
                let body = json!({"title": format!("renamed {n}"), "description": "changed by make bench", "completed": n % 2 == 0});
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

fn check(reply: &Reply, expected: u16, what: &str) -> Result<(), String> {
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

/// How many times a cold start's first request is repeated on the same
/// instance: their median is what the first invocation is compared with.
const WARM_AFTER_FIRST: usize = 5;

/// How many rounds the warm phase runs, each with fresh instances of the
/// functions and the floor (`BENCH_REQUESTS` is their total per route).
/// Where the scheduler keeps a set of instances on the 2 cores moves a warm
/// p50 by a tenth (the floor's was 0.22 ms in one run, 0.25 in the next):
/// with three rounds two lucky or unlucky ones decided a route's ratio
/// (1.11x and 1.19x for the same build), six weigh that luck out better.
const WARM_ROUNDS: usize = 6;

/// How many alternating blocks of each the API and the floor get per
/// throughput figure (`BENCH_MILLIS` is each one's total per figure).
const THROUGHPUT_ROUNDS: usize = 6;

/// Throughput blocks of one target, added up.
#[derive(Default)]
struct Block {
    samples: Vec<Duration>,
    elapsed: Duration,
    /// Requests answered 503 (a statement past the budget).
    unavailable: usize,
    /// CPU time of the function processes during the block.
    function_cpu: Duration,
    /// CPU time of the PostgreSQL processes during the block.
    database_cpu: Duration,
    /// CPU time of the whole machine (every process, the kernel) during it.
    machine_cpu: Duration,
}

impl Block {
    fn add(&mut self, other: Block) {
        self.samples.extend(other.samples);
        self.elapsed += other.elapsed;
        self.unavailable += other.unavailable;
        self.function_cpu += other.function_cpu;
        self.database_cpu += other.database_cpu;
        self.machine_cpu += other.machine_cpu;
    }

    fn result(&self) -> Value {
        let requests = self.samples.len().max(1) as f64;
        let micros = |d: Duration| (d.as_secs_f64() * 1e6 / requests * 10.0).round() / 10.0;
        json!({
            "requests_per_second": self.samples.len() as f64 / self.elapsed.as_secs_f64(),
            "latency": summary(&self.samples),
            "unavailable": self.unavailable,
            "cpu_us_per_request": {
                "function": micros(self.function_cpu),
                "database": micros(self.database_cpu),
                "machine": micros(self.machine_cpu),
            },
        })
    }
}

/// The CPU time of every `postgres` process so far. Read at a block's start
/// and end, while its instances, and so their backends, are all alive.
fn database_cpu() -> Duration {
    let processes = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    processes
        .filter(|p| {
            std::fs::read_to_string(p.path().join("comm")).is_ok_and(|c| c.trim() == "postgres")
        })
        .map(|p| runtime::on_cpu(&p.path()))
        .sum()
}

/// The machine's busy CPU time so far: `/proc/stat`'s total less idle and
/// iowait, in clock ticks (100 per second) turned into time.
fn machine_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    let busy = ticks.iter().sum::<u64>() - ticks.get(3..5).map_or(0, |idle| idle.iter().sum());
    Duration::from_millis(busy * 10)
}

/// Milliseconds with microsecond precision.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of unsorted samples, in ms.
fn percentile(samples: &[Duration], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    ms(sorted[rank.min(sorted.len()) - 1])
}

fn summary(samples: &[Duration]) -> Value {
    json!({
        "n": samples.len(),
        "p50_ms": percentile(samples, 50.0),
        "p99_ms": percentile(samples, 99.0),
        "max_ms": percentile(samples, 100.0),
    })
}

struct Bench {
    settings: Settings,
    data: Data,
    log_dir: PathBuf,
}

impl Bench {
    fn start(&self, function: &str, setup: Setup) -> Instance {
        let program = function.split('+').next().unwrap_or(function);
        let binary = self.settings.bin_dir.join(program);
        let log = self.log_dir.join(format!("{function}.log"));
        let env = env_of(&self.settings, &self.data, function, setup);
        Instance::start(&binary, &env, &log)
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()))
    }

    /// A cold start's first request for each function.
    fn first_event(&self, function: &str, setup: Setup) -> (Vec<u8>, u16) {
        let data = &self.data;
        match (function, setup) {
            (_, Setup::Production | Setup::Network) => {
                let id = data.production_task;
                let user = &data.production_user;
                (
                    event(
                        "GET",
                        &format!("/api/tasks/{id}"),
                        "/api/tasks/{id}",
                        Some(id),
                        &data.eddsa,
                        user,
                        None,
                    ),
                    200,
                )
            }
            ("tasks-collection", _) => (Route::List.event(data, 0, false), 200),
            ("health", _) => (event("GET", "/health", "/health", None, "", "", None), 200),
            ("docs", _) => (
                event("GET", "/openapi.json", "/openapi.json", None, "", "", None),
                200,
            ),
            _ => (Route::Get.event(data, 0, false), 200),
        }
    }

    /// Init and first invocation over `starts` cold starts of each function,
    /// taken in turns.
    fn cold_starts(&self, functions: &[&str], setup: Setup) -> Result<Value, String> {
        let mut init: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
        let mut first: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
        let mut warm: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
        let mut rss: BTreeMap<&str, u64> = BTreeMap::new();
        for round in 0..self.settings.starts + 1 {
            for &function in functions {
                let (event, status) = self.first_event(function, setup);
                let instance = self.start(function, setup);
                let reply = instance.invoke(&event)?;
                check(
                    &reply,
                    status,
                    &format!("{function} cold ({})", setup.name()),
                )?;
                // The same request again, warm: what the first invocation
                // is compared with.
                let mut again = Vec::new();
                for _ in 0..WARM_AFTER_FIRST {
                    let reply = instance.invoke(&event)?;
                    check(
                        &reply,
                        status,
                        &format!("{function} warm ({})", setup.name()),
                    )?;
                    again.push(reply.latency());
                }
                again.sort();
                let peak = instance.peak_rss().unwrap_or(0);
                let entry = rss.entry(function).or_default();
                *entry = (*entry).max(peak);
                // The first round warms the page cache; it is not counted.
                if round > 0 {
                    init.entry(function)
                        .or_default()
                        .push(instance.init_duration().unwrap_or_default());
                    first.entry(function).or_default().push(reply.latency());
                    warm.entry(function)
                        .or_default()
                        .push(again[again.len() / 2]);
                }
            }
        }
        let mut out = serde_json::Map::new();
        for function in functions {
            let (i, f) = (&init[function], &first[function]);
            let cold: Vec<Duration> = i.iter().zip(f).map(|(a, b)| *a + *b).collect();
            out.insert(
                function.to_string(),
                json!({
                    "init": summary(i),
                    "first": summary(f),
                    "cold": summary(&cold),
                    "warm": summary(&warm[function]),
                    "peak_rss_bytes": rss[function],
                }),
            );
        }
        Ok(Value::Object(out))
    }

    /// Warm latency of every task route, the API and the floor in
    /// alternating blocks, and the API's statements per request.
    fn warm(&self, db: &Admin) -> Result<Value, String> {
        /// One route's samples over the rounds.
        #[derive(Default)]
        struct Samples {
            api: Vec<Duration>,
            floor: Vec<Duration>,
            sent: usize,
            statements: i64,
            /// The next request's number (each delete needs a task of its own).
            counter: usize,
        }
        let mut routes: Vec<Samples> = Route::ALL.iter().map(|_| Samples::default()).collect();
        let n = (self.settings.requests / WARM_ROUNDS).max(1);
        let blocks = 10.min(n).max(1);
        let mut rss = Value::Null;
        for _ in 0..WARM_ROUNDS {
            // Fresh instances each round: one process's luck (its memory
            // layout, its database backend) then weighs a third, not all.
            let collection = self.start(Function::TasksCollection.name(), Setup::Local);
            let item = self.start(Function::TasksItem.name(), Setup::Local);
            let floor = self.start("floor", Setup::Local);
            for (route, samples) in Route::ALL.into_iter().zip(&mut routes) {
                let api = if route.operation().function() == Function::TasksCollection {
                    &collection
                } else {
                    &item
                };
                // Warm-up: connections open, caches and branch predictors warm.
                for _ in 0..(n / 10).max(5) {
                    api.invoke(&route.event(&self.data, samples.counter, false))?;
                    floor.invoke(&route.event(&self.data, samples.counter, true))?;
                    samples.counter += 1;
                }
                for _ in 0..blocks {
                    db.reset_statements();
                    let per_block = n / blocks;
                    for i in 0..per_block {
                        let reply =
                            api.invoke(&route.event(&self.data, samples.counter + i, false))?;
                        check(&reply, route.status(), route.name())?;
                        samples.api.push(reply.latency());
                    }
                    samples.statements += db.statements(&self.settings.api_role);
                    samples.sent += per_block;
                    for i in 0..per_block {
                        let reply =
                            floor.invoke(&route.event(&self.data, samples.counter + i, true))?;
                        check(&reply, route.status(), &format!("floor {}", route.name()))?;
                        samples.floor.push(reply.latency());
                    }
                    samples.counter += per_block;
                }
            }
            rss = json!({
                "tasks-collection": collection.peak_rss(),
                "tasks-item": item.peak_rss(),
                "floor": floor.peak_rss(),
            });
        }
        let mut out = serde_json::Map::new();
        for (route, samples) in Route::ALL.into_iter().zip(routes) {
            out.insert(
                route.name().to_owned(),
                json!({
                    "function": route.function(),
                    "api": summary(&samples.api),
                    "floor": summary(&samples.floor),
                    "statements_per_request": samples.statements as f64 / samples.sent as f64,
                }),
            );
        }
        Ok(json!({"routes": out, "peak_rss_bytes": rss}))
    }

    /// A fresh `tasks-collection` answering the first page (the default
    /// limit, 1,000) of a user with 1,001 of the largest tasks: 40 MB that
    /// the 5 MiB page must not pull into the function. Its peak RSS before
    /// and after.
    fn large_list(&self, admin: &Admin) -> Result<Value, String> {
        const USER: &str = "bench-large-list";
        admin.large_tasks(USER, 1001);
        let instance = self.start("tasks-collection", Setup::Local);
        let list = event(
            "GET",
            "/api/tasks",
            "/api/tasks",
            None,
            &hs256(&self.settings.secret, USER, None),
            USER,
            None,
        );
        // The first request opens the connection: its memory is the idle one.
        let warm = instance.invoke(&Route::List.event(&self.data, 0, false))?;
        check(&warm, 200, "list")?;
        let idle = instance.peak_rss();
        let reply = instance.invoke(&list)?;
        check(&reply, 200, "a list of large tasks")?;
        Ok(json!({
            "tasks": 1001,
            "response_bytes": reply.body.len(),
            "idle_peak_rss_bytes": idle,
            "peak_rss_bytes": instance.peak_rss(),
        }))
    }

    /// One block of `seconds / THROUGHPUT_ROUNDS` with `instances`
    /// closed-loop instances of `function`, each with its own driver
    /// thread: each request's latency, and how long the block took.
    fn throughput(&self, function: &str, route: Route, instances: usize) -> Result<Block, String> {
        let floor = function == "floor";
        let mut running: Vec<Instance> = (0..instances)
            .map(|_| self.start(function, Setup::Local))
            .collect();
        for instance in &running {
            for n in 0..20 {
                check(
                    &instance.invoke(&route.event(&self.data, n, floor))?,
                    route.status(),
                    "warm-up",
                )?;
            }
        }
        let duration = Duration::from_secs_f64(self.settings.seconds / THROUGHPUT_ROUNDS as f64);
        let cpu = |running: &[Instance]| running.iter().map(Instance::cpu_time).sum::<Duration>();
        let before = (cpu(&running), database_cpu(), machine_cpu());
        let started = Instant::now();
        let results: Vec<Result<(Vec<Duration>, usize), String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = running
                .iter_mut()
                .map(|instance| {
                    scope.spawn(move || {
                        let mut samples = Vec::new();
                        let mut n = 0;
                        let mut unavailable = 0;
                        while started.elapsed() < duration {
                            let reply = instance.invoke(&route.event(&self.data, n, floor))?;
                            // The contract's 503, when a statement outlived
                            // the 5 s budget: counted, not fatal. With eight
                            // backends on two busy cores PostgreSQL now and
                            // then holds one statement for seconds (the
                            // floor's too, which just waits).
                            if !reply.failed && reply.status() == 503 {
                                unavailable += 1;
                            } else {
                                check(&reply, route.status(), route.name())?;
                            }
                            samples.push(reply.latency());
                            n += 1;
                        }
                        Ok((samples, unavailable))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a driver thread"))
                .collect()
        });
        let mut block = Block {
            elapsed: started.elapsed(),
            function_cpu: cpu(&running).saturating_sub(before.0),
            database_cpu: database_cpu().saturating_sub(before.1),
            machine_cpu: machine_cpu().saturating_sub(before.2),
            ..Block::default()
        };
        for result in results {
            let (samples, unavailable) = result?;
            block.samples.extend(samples);
            block.unavailable += unavailable;
        }
        Ok(block)
    }
}

/// The owner's connection: seeding and pg_stat_statements.
struct Admin {
    client: tokio_postgres::Client,
    rt: tokio::runtime::Runtime,
}

impl Admin {
    fn connect(url: &str) -> Admin {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let client = rt.block_on(async {
            let (client, connection) = tokio_postgres::connect(url, NoTls)
                .await
                .expect("the database");
            tokio::spawn(connection);
            client
        });
        Admin { client, rt }
    }

    fn tasks(&self, user: &str, count: usize) -> Vec<i64> {
        self.rt.block_on(async {
            let rows = self
                .client
                .query(
                    "INSERT INTO tasks (user_id, title, description)
                     SELECT $1, 'seeded task ' || n, 'for make bench' FROM generate_series(1, $2) n
                     RETURNING id",
                    &[&user, &(count as i32)],
                )
                .await
                .expect("seed tasks");
            rows.iter().map(|r| r.get(0)).collect()
        })
    }

    /// `count` tasks of the largest size a user may store: a 200-character
    /// title and 10,000 four-byte characters of description (about 40 kB).
    fn large_tasks(&self, user: &str, count: i32) {
        self.rt
            .block_on(self.client.execute(
                "INSERT INTO tasks (user_id, title, description)
                 SELECT $1, repeat('t', 200), repeat(chr(128512), 10000) FROM generate_series(1, $2)",
                &[&user, &count],
            ))
            .expect("seed large tasks");
    }

    /// Creates `pg_stat_statements` (once) and empties its counts.
    fn reset_statements(&self) {
        self.rt
            .block_on(self.client.simple_query(
                "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; \
                     SELECT pg_stat_statements_reset()",
            ))
            .expect("pg_stat_statements (is it preloaded?)");
    }

    /// The server connections `role` holds now.
    fn connections_of(&self, role: &str) -> i64 {
        self.rt.block_on(async {
            self.client
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = $1",
                    &[&role],
                )
                .await
                .map_or(0, |row| row.get(0))
        })
    }

    /// Statements `role` ran since the last reset.
    fn statements(&self, role: &str) -> i64 {
        self.rt.block_on(async {
            self.client
                .query_one(
                    "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
                     WHERE userid = (SELECT oid FROM pg_roles WHERE rolname = $1)",
                    &[&role],
                )
                .await
                .expect("pg_stat_statements")
                .get(0)
        })
    }
}

/// An HS256 token for `user`, with `iss` and `aud` when the verifier holds
/// tokens to an issuer (the functions the benchmark starts hold them to
/// none, as `make dev` does).
/// A secret in the run's Secrets Manager, through the functions' own
/// client; its ARN.
fn create_secret(name: &str, value: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let name = format!("{name}-{}", std::process::id());
    runtime
        .block_on(todo_shared::secrets::create(&name, value))
        .unwrap_or_else(|e| panic!("create a secret: {}", todo_shared::error::Cause::new(e)))
}

fn hs256(secret: &str, user: &str, issuer: Option<&str>) -> String {
    let mut claims = json!({"sub": user, "exp": chrono::Utc::now().timestamp() + 3600});
    if let Some(issuer) = issuer {
        claims["iss"] = json!(issuer);
        claims["aud"] = json!(issuer);
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("a token")
}

/// What verifying one token costs in process, per algorithm: the verifier
/// the functions use, timed over many calls.
fn token_cost(settings: &Settings, data: &Data, iterations: usize) -> Value {
    use lambda_http::http::{HeaderMap, HeaderValue};
    use todo_shared::auth::Verifier;
    use todo_shared::config::AuthConfig;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let jwks = settings.fixture["jwks"]["EdDSA"].to_string();
    let base = settings.fixture["base"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let secret = settings.secret.clone();
    let config = AuthConfig::from_lookup(|name| match name {
        "BETTER_AUTH_SECRET" => Some(secret.clone()),
        "BETTER_AUTH_JWKS" => Some(jwks.clone()),
        "BETTER_AUTH_URL" => Some(base.clone()),
        _ => None,
    })
    .expect("an auth config");
    let mut out = serde_json::Map::new();
    // BETTER_AUTH_URL holds HS256 tokens to its issuer and audience too.
    for (alg, token) in [
        ("HS256", hs256(&secret, GET_USER, Some(&base))),
        ("EdDSA", data.eddsa.clone()),
    ] {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).expect("a header"),
        );
        rt.block_on(async {
            // The full check: each time a verifier that has not seen the
            // token (built outside the timed part).
            let mut first = Duration::ZERO;
            for _ in 0..iterations {
                let verifier = Verifier::new(&config).expect("a verifier");
                let started = Instant::now();
                let verified = verifier.authenticate(&headers).await;
                first += started.elapsed();
                verified.expect("the token verifies");
            }
            // A token the container has verified before (every warm request
            // of a signed-in user after their first).
            let verifier = Verifier::new(&config).expect("a verifier");
            verifier
                .authenticate(&headers)
                .await
                .expect("the token verifies");
            let started = Instant::now();
            for _ in 0..iterations {
                std::hint::black_box(verifier.authenticate(&headers).await.is_ok());
            }
            let again = started.elapsed();
            let micros = |total: Duration| total.as_secs_f64() * 1e6 / iterations as f64;
            out.insert(
                alg.to_owned(),
                json!({"microseconds": micros(first), "cached_microseconds": micros(again),
                       "iterations": iterations}),
            );
        });
    }
    Value::Object(out)
}

/// What turning a `GET /api/tasks/{id}` event into a request costs in
/// process: the API's through lambda_http (an `http::Request` with its
/// headers, URI and extensions, which the contract's handlers work on), the
/// floor's as a `serde_json::Value`. Part of the gap between the two that no
/// handler code can close.
fn glue_cost(data: &Data, iterations: usize) -> Value {
    let event = String::from_utf8(Route::Get.event(data, 0, false)).expect("an event");
    let each = |parse: &dyn Fn() -> bool| {
        let started = Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(parse());
        }
        started.elapsed().as_secs_f64() * 1e6 / iterations as f64
    };
    let api = each(&|| lambda_http::request::from_str(std::hint::black_box(&event)).is_ok());
    let floor = each(&|| serde_json::from_str::<Value>(std::hint::black_box(&event)).is_ok());
    json!({"lambda_http_microseconds": api, "floor_microseconds": floor,
           "event_bytes": event.len(), "iterations": iterations})
}

fn main() {
    let services = Services::start();
    let settings = Settings::new(&services);
    let log_dir = settings.out_dir.join("logs");
    std::fs::create_dir_all(&log_dir).expect("the output directory");
    let admin = Admin::connect(&settings.admin_database_url);
    admin.reset_statements();

    let alice = &settings.fixture["tokens"]["EdDSA"]["alice"];
    let eddsa = alice["token"].as_str().expect("a fixture token").to_owned();
    let production_user = alice["user_id"].as_str().expect("its user id").to_owned();
    let list_user = "bench-list".to_owned();
    admin.tasks(&list_user, 25);
    let deletes = settings.requests + settings.requests / 10 + 10 * WARM_ROUNDS;
    let data = Data {
        get_task: admin.tasks(GET_USER, 1)[0],
        write_task: admin.tasks(WRITE_USER, 1)[0],
        delete_tasks: admin.tasks(DELETE_USER, deletes),
        floor_delete_tasks: admin.tasks(DELETE_USER, deletes),
        production_task: admin.tasks(&production_user, 1)[0],
        hs256: [
            list_user.as_str(),
            GET_USER,
            WRITE_USER,
            DELETE_USER,
            CREATE_USER,
        ]
        .iter()
        .map(|user| (user.to_string(), hs256(&settings.secret, user, None)))
        .collect(),
        database_url_arn: settings
            .secrets_manager
            .as_ref()
            .map(|_| create_secret("bench/database-url", &settings.tls_database_url)),
        list_user,
        production_user,
        eddsa,
    };
    let bench = Bench {
        settings,
        data,
        log_dir,
    };
    // BENCH_PHASES (comma-separated; all by default): to rerun one part.
    let phases = std::env::var("BENCH_PHASES")
        .unwrap_or_else(|_| "cold,warm,throughput,large_list,glue,tokens,scale".into());
    let phase = |name: &str| phases.split(',').any(|p| p.trim() == name);
    let run = || -> Result<Value, String> {
        let mut results = json!({
            "settings": {"starts": bench.settings.starts, "requests": bench.settings.requests,
                         "seconds": bench.settings.seconds, "warm_rounds": WARM_ROUNDS,
                         "throughput_rounds": THROUGHPUT_ROUNDS},
        });
        if phase("cold") {
            eprintln!("bench: cold starts, production-like");
            // BENCH_EXTRA_PRODUCTION: more programs in the binary directory
            // to start production-like (the smoke run's arm64 tasks-item
            // under qemu: the deployed build's own TLS stack, exercised).
            let extra = std::env::var("BENCH_EXTRA_PRODUCTION").unwrap_or_default();
            let mut functions = vec!["tasks-item", "floor"];
            if bench.data.database_url_arn.is_some() {
                functions.push("tasks-item+secrets");
            }
            functions.extend(extra.split(',').map(str::trim).filter(|f| !f.is_empty()));
            let production = bench.cold_starts(&functions, Setup::Production)?;
            eprintln!("bench: cold starts, over a network (RTT {:?})", ONE_WAY * 2);
            let network = bench.cold_starts(&["tasks-item", "floor"], Setup::Network)?;
            eprintln!("bench: cold starts, local");
            let functions = ["tasks-item", "tasks-collection", "health", "docs", "floor"];
            let local = bench.cold_starts(&functions, Setup::Local)?;
            results["cold_start"] =
                json!({"local": local, "production-like": production, "network": network});
            results["settings"]["rtt_ms"] = json!(ONE_WAY.as_secs_f64() * 2000.0);
        }
        if phase("warm") {
            eprintln!("bench: warm routes");
            results["warm"] = bench.warm(&admin)?;
        }
        if phase("throughput") {
            eprintln!("bench: throughput");
            let mut throughput = Vec::new();
            for route in [Route::Get, Route::List] {
                for instances in [1, 8] {
                    // The API and the floor in alternating blocks, so that
                    // the machine's drift falls on both alike.
                    let targets = [("api", route.function()), ("floor", "floor")];
                    let mut blocks: [Block; 2] = Default::default();
                    for _ in 0..THROUGHPUT_ROUNDS {
                        for ((_, function), block) in targets.iter().zip(&mut blocks) {
                            block.add(bench.throughput(function, route, instances)?);
                        }
                    }
                    for ((label, _), block) in targets.iter().zip(blocks) {
                        throughput.push(json!({"route": route.name(), "instances": instances,
                                               "target": label, "result": block.result()}));
                    }
                }
            }
            results["throughput"] = Value::Array(throughput);
        }
        if phase("large_list") {
            eprintln!("bench: a page of large tasks");
            results["large_list"] = bench.large_list(&admin)?;
        }
        if phase("scale") {
            // BENCH_SCALE: the instance counts (the smoke run's are small).
            let instances: Vec<usize> = std::env::var("BENCH_SCALE")
                .unwrap_or_else(|_| "8,64,256".into())
                .split(',')
                .filter_map(|k| k.trim().parse().ok())
                .collect();
            let requests = (bench.settings.requests / 20).clamp(5, 100);
            results["scale"] = bench.scale(&instances, requests)?;
        }
        // The in-process timings' repetitions.
        let iterations = (bench.settings.requests * 5).max(100);
        if phase("glue") {
            eprintln!("bench: event parsing");
            results["event_parsing"] = glue_cost(&bench.data, iterations);
        }
        if phase("tokens") {
            eprintln!("bench: token verification");
            results["token_verification"] = token_cost(&bench.settings, &bench.data, iterations);
        }
        Ok(results)
    };
    match run() {
        Ok(results) => {
            let path = bench.settings.out_dir.join("results.json");
            std::fs::write(&path, serde_json::to_string_pretty(&results).expect("JSON"))
                .expect("write the results");
            eprintln!("bench: wrote {}", path.display());
        }
        Err(problem) => {
            eprintln!("bench failed: {problem}");
            eprintln!(
                "(the functions' output is in {})",
                Path::new(&bench.log_dir).display()
            );
            std::process::exit(1);
        }
    }
}

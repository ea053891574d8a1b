//! The phases that start instances of the functions and the floor: cold
//! starts, warm requests, throughput, a page of large tasks.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use todo_shared::web::routes::Function;

use crate::admin::Admin;
use crate::cgroup::Sandbox;
use crate::events::{Route, check, env_of, event};
use crate::in_process::hs256;
use crate::lambda::Capped;
use crate::runtime::Instance;
use crate::settings::Setup;
use crate::stats::{Block, database_cpu, machine_cpu, summary};
use crate::{Bench, THROUGHPUT_ROUNDS, WARM_AFTER_FIRST, WARM_ROUNDS};

/// A warm phase of `requests` per route and target: per round, the
/// requests counted and the warm-up before them.
fn warm_split(requests: usize) -> (usize, usize) {
    let n = (requests / WARM_ROUNDS).max(1);
    (n, (n / 10).max(5))
}

/// How many requests of each route a warm phase of `requests` sends to each
/// target, warm-ups included: the deletes it needs.
pub fn warm_sequence(requests: usize) -> usize {
    let (n, warm_up) = warm_split(requests);
    WARM_ROUNDS * (n + warm_up)
}

/// The user of the page of large tasks, seeded once.
pub const LARGE_LIST_USER: &str = "bench-large-list";

impl Bench {
    pub fn start(&self, function: &str, setup: Setup) -> Instance {
        self.start_in(function, setup, None)
    }

    /// [`Bench::start`], in `sandbox` when given (a capped phase's).
    pub fn start_in(&self, function: &str, setup: Setup, sandbox: Option<Sandbox>) -> Instance {
        let program = function.split('+').next().unwrap_or(function);
        let binary = self.settings.bin_dir.join(program);
        let log = self.log_dir.join(format!("{function}.log"));
        let env = env_of(&self.settings, &self.data, function, setup);
        Instance::start(&binary, &env, &log, sandbox)
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()))
    }

    /// A cold start's first request for each function.
    pub fn first_event(&self, function: &str, setup: Setup) -> (Vec<u8>, u16) {
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
    /// taken in turns; each in a fresh sandbox capped as `capped` says, if
    /// given. With them, the CPU time of Init and the first invocation, and
    /// how many of the sandbox's periods ran out of quota.
    pub fn cold_starts(
        &self,
        functions: &[&str],
        setup: Setup,
        starts: usize,
        capped: Option<Capped>,
    ) -> Result<Value, String> {
        let mut init: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
        let mut first: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
        let mut warm: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
        let mut cpu: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
        let mut throttled: BTreeMap<&str, u64> = BTreeMap::new();
        let mut rss: BTreeMap<&str, u64> = BTreeMap::new();
        for round in 0..starts + 1 {
            for &function in functions {
                let (event, status) = self.first_event(function, setup);
                let sandbox = capped.map(Capped::sandbox).transpose()?;
                let instance = self.start_in(function, setup, sandbox);
                if let Some(capped) = capped {
                    capped.after_init(&instance)?;
                }
                let reply = instance.invoke(&event)?;
                let spent = instance.cpu_time();
                let periods = instance.sandbox.as_ref().map_or(0, |s| s.throttled().0);
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
                    cpu.entry(function).or_default().push(spent);
                    *throttled.entry(function).or_default() += periods;
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
                    "cpu": summary(&cpu[function]),
                    "throttled_periods_per_start": throttled[function] as f64 / starts.max(1) as f64,
                    "peak_rss_bytes": rss[function],
                }),
            );
        }
        Ok(Value::Object(out))
    }

    /// Warm latency of every task route, the API and the floor in
    /// alternating blocks, and the API's statements per request.
    /// `requests` per route and target in all, over [`WARM_ROUNDS`]; each
    /// instance in a sandbox capped at `capped`'s memory size, if given.
    pub fn warm(
        &self,
        db: &Admin,
        requests: usize,
        capped: Option<Capped>,
    ) -> Result<Value, String> {
        /// One route's samples over the rounds.
        #[derive(Default)]
        struct Samples {
            api: Vec<Duration>,
            floor: Vec<Duration>,
            sent: usize,
            statements: i64,
            /// The statements' time on the server (pg_stat_statements), ms.
            statement_ms: f64,
            /// What the API's function wrote to its log, and in how many lines.
            log_bytes: u64,
            log_lines: u64,
            /// The API's answers' bytes.
            response_bytes: usize,
            /// The next request's number (each delete needs a task of its own).
            counter: usize,
        }
        let (n, warm_up) = warm_split(requests);
        let blocks = 10.min(n).max(1);
        // Request numbers no earlier phase used (each delete a task of its own).
        let first = self.take_requests(warm_sequence(requests));
        let mut routes: Vec<Samples> = Route::ALL
            .iter()
            .map(|_| Samples {
                counter: first,
                ..Samples::default()
            })
            .collect();
        let start = |function: &str| -> Result<Instance, String> {
            let sandbox = capped.map(Capped::sandbox).transpose()?;
            Ok(self.start_in(function, Setup::Local, sandbox))
        };
        let mut rss = Value::Null;
        for _ in 0..WARM_ROUNDS {
            // Fresh instances each round: one process's luck (its memory
            // layout, its database backend) then weighs a third, not all.
            let collection = start(Function::TasksCollection.name())?;
            let item = start(Function::TasksItem.name())?;
            let floor = start("floor")?;
            for (route, samples) in Route::ALL.into_iter().zip(&mut routes) {
                let api = if route.operation().function() == Function::TasksCollection {
                    &collection
                } else {
                    &item
                };
                // Warm-up: connections open, caches and branch predictors warm.
                for _ in 0..warm_up {
                    api.invoke(&route.event(&self.data, samples.counter, false))?;
                    floor.invoke(&route.event(&self.data, samples.counter, true))?;
                    samples.counter += 1;
                }
                let log = self.log_dir.join(format!("{}.log", route.function()));
                for _ in 0..blocks {
                    db.reset_statements();
                    let per_block = n / blocks;
                    let logged_before = LogFile::read(&log);
                    for i in 0..per_block {
                        let reply =
                            api.invoke(&route.event(&self.data, samples.counter + i, false))?;
                        check(&reply, route.status(), route.name())?;
                        samples.api.push(reply.latency());
                        samples.response_bytes += reply.body.len();
                    }
                    let (statements, statement_ms) = db.statements(&self.settings.api_role);
                    samples.statements += statements;
                    samples.statement_ms += statement_ms;
                    samples.sent += per_block;
                    for i in 0..per_block {
                        let reply =
                            floor.invoke(&route.event(&self.data, samples.counter + i, true))?;
                        check(&reply, route.status(), &format!("floor {}", route.name()))?;
                        samples.floor.push(reply.latency());
                    }
                    // Read after the floor's block: by then the API has
                    // written its last request's line (after its response).
                    let logged = LogFile::read(&log).since(&logged_before, &log);
                    samples.log_bytes += logged.bytes;
                    samples.log_lines += logged.lines;
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
            let sent = samples.sent.max(1) as f64;
            out.insert(
                route.name().to_owned(),
                json!({
                    "function": route.function(),
                    "api": summary(&samples.api),
                    "floor": summary(&samples.floor),
                    "statements_per_request": samples.statements as f64 / sent,
                    "database_ms_per_request": samples.statement_ms / sent,
                    "log_bytes_per_request": samples.log_bytes as f64 / sent,
                    "log_lines_per_request": samples.log_lines as f64 / sent,
                    "response_bytes": samples.response_bytes as f64 / sent,
                }),
            );
        }
        Ok(json!({"routes": out, "peak_rss_bytes": rss}))
    }

    /// A fresh `tasks-collection` answering the first page (the default
    /// limit, 1,000) of a user with 1,001 of the largest tasks (seeded by
    /// [`Admin::large_tasks`] once): 40 MB that the 5 MiB page must not
    /// pull into the function. Its peak RSS before and after, and how long
    /// the page took; in a sandbox capped as `capped` says, if given.
    pub fn large_list(&self, capped: Option<Capped>) -> Result<Value, String> {
        let sandbox = capped.map(Capped::sandbox).transpose()?;
        let instance = self.start_in("tasks-collection", Setup::Local, sandbox);
        let list = event(
            "GET",
            "/api/tasks",
            "/api/tasks",
            None,
            &hs256(&self.settings.secret, LARGE_LIST_USER, None),
            LARGE_LIST_USER,
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
            "latency_ms": reply.latency().as_secs_f64() * 1000.0,
            "response_bytes": reply.body.len(),
            "idle_peak_rss_bytes": idle,
            "peak_rss_bytes": instance.peak_rss(),
        }))
    }

    /// One block of `seconds / THROUGHPUT_ROUNDS` with `instances`
    /// closed-loop instances of `function`, each with its own driver
    /// thread: each request's latency, and how long the block took.
    pub fn throughput(
        &self,
        function: &str,
        route: Route,
        instances: usize,
    ) -> Result<Block, String> {
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

/// A function's log file, as far as it was written at one moment.
struct LogFile {
    bytes: u64,
}

/// What a function wrote to its log between two moments.
struct Logged {
    bytes: u64,
    lines: u64,
}

impl LogFile {
    fn read(path: &std::path::Path) -> LogFile {
        let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
        LogFile { bytes }
    }

    /// What was written after `before`: its bytes, and its lines counted.
    fn since(&self, before: &LogFile, path: &std::path::Path) -> Logged {
        use std::io::{Read, Seek, SeekFrom};
        let mut written = Vec::new();
        if let Ok(mut file) = std::fs::File::open(path)
            && file.seek(SeekFrom::Start(before.bytes)).is_ok()
        {
            let _ = file
                .take(self.bytes.saturating_sub(before.bytes))
                .read_to_end(&mut written);
        }
        Logged {
            bytes: written.len() as u64,
            lines: written.iter().filter(|b| **b == b'\n').count() as u64,
        }
    }
}

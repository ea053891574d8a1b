//! `make bench`: the functions' release binaries against a floor, driven
//! through a minimal Lambda Runtime API ([`runtime`]), on a throwaway
//! PostgreSQL. `cargo xtask bench` (xtask/src/bench.rs) builds everything,
//! runs this, which starts the database and Better Auth, and turns its JSON
//! into `BENCHMARKS.md` and the charts.
//!
//! Every figure is taken in the same run as the floor it is compared with
//! (`src/bin/floor.rs`), alternating between the two, because these machines
//! are noisy: ratios travel, absolute numbers do not.
//!
//! Settings come from `BENCH_*` variables (see xtask/src/bench.rs); the
//! smoke mode of CI only makes every count small.

mod admin;
mod cgroup;
mod delay;
mod events;
mod in_process;
mod lambda;
mod phases;
mod reexec;
mod runtime;
mod scale;
mod settings;
mod stats;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use admin::Admin;
use events::{CREATE_USER, DELETE_USER, Data, GET_USER, Route, WRITE_USER};
use in_process::{glue_cost, hs256, init_parts, token_cost};
use lambda::MEMORY_SIZES;
use phases::{LARGE_LIST_USER, warm_sequence};
use settings::{ONE_WAY, Services, Settings, Setup};
use stats::Block;

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

pub struct Bench {
    pub settings: Settings,
    pub data: Data,
    pub log_dir: PathBuf,
    /// How many request numbers the phases have taken ([`Bench::take_requests`]).
    taken: AtomicUsize,
}

impl Bench {
    /// `count` request numbers no phase has used: the deletes among them
    /// each find a task of their own.
    pub fn take_requests(&self, count: usize) -> usize {
        self.taken.fetch_add(count, Ordering::SeqCst)
    }
}

fn main() -> ExitCode {
    if let Some(ended) = reexec::act_if_asked() {
        return ended;
    }
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
    // The capped phases' sizes and counts (BENCH_SIZES, BENCH_CAPPED_STARTS,
    // BENCH_CAPPED_REQUESTS).
    let sizes: Vec<u32> = std::env::var("BENCH_SIZES")
        .ok()
        .map(|sizes| {
            sizes
                .split(',')
                .filter_map(|s| s.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| MEMORY_SIZES.to_vec());
    let capped_starts = settings::number("BENCH_CAPPED_STARTS", 10);
    let capped_requests = settings::number("BENCH_CAPPED_REQUESTS", 600);
    let deletes = warm_sequence(settings.requests) + sizes.len() * warm_sequence(capped_requests);
    admin.large_tasks(LARGE_LIST_USER, 1001);
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
            .map(|_| services.create_secret("bench/database-url", &settings.tls_database_url)),
        network_database_url_arn: settings.secrets_manager.as_ref().map(|_| {
            services.create_secret("bench/network-database-url", &settings.network.database_url)
        }),
        list_user,
        production_user,
        eddsa,
    };
    let bench = Bench {
        settings,
        data,
        log_dir,
        taken: AtomicUsize::new(0),
    };
    // BENCH_PHASES (comma-separated; all by default): to rerun one part.
    let phases = std::env::var("BENCH_PHASES").unwrap_or_else(|_| {
        "cold,warm,throughput,large_list,lambda,glue,init_parts,tokens,scale".into()
    });
    let phase = |name: &str| phases.split(',').any(|p| p.trim() == name);
    let run = || -> Result<Value, String> {
        let mut results = json!({
            "settings": {"starts": bench.settings.starts, "requests": bench.settings.requests,
                         "seconds": bench.settings.seconds, "warm_rounds": WARM_ROUNDS,
                         "throughput_rounds": THROUGHPUT_ROUNDS,
                         "postgres": todo_tests::postgres_version(&todo_tests::pg_bin())},
        });
        if phase("cold") {
            eprintln!("bench: cold starts, production-like");
            // BENCH_EXTRA_PRODUCTION: more programs in the binary directory
            // to start production-like (the smoke run's arm64 tasks-item
            // under qemu: the deployed build's own TLS stack, exercised).
            let extra = std::env::var("BENCH_EXTRA_PRODUCTION").unwrap_or_default();
            // Both URL forms (+direct: sslnegotiation=direct), and the URL
            // read from Secrets Manager at Init (+secrets), in both setups.
            let mut remote = vec!["tasks-item", "floor", "tasks-item+direct"];
            if bench.data.database_url_arn.is_some() {
                remote.push("tasks-item+secrets");
            }
            let mut functions = remote.clone();
            functions.extend(extra.split(',').map(str::trim).filter(|f| !f.is_empty()));
            let starts = bench.settings.starts;
            let production = bench.cold_starts(&functions, Setup::Production, starts, None)?;
            eprintln!("bench: cold starts, over a network (RTT {:?})", ONE_WAY * 2);
            let network = bench.cold_starts(&remote, Setup::Network, starts, None)?;
            eprintln!("bench: cold starts, local");
            let functions = ["tasks-item", "tasks-collection", "health", "docs", "floor"];
            let local = bench.cold_starts(&functions, Setup::Local, starts, None)?;
            results["cold_start"] =
                json!({"local": local, "production-like": production, "network": network});
            results["settings"]["rtt_ms"] = json!(ONE_WAY.as_secs_f64() * 2000.0);
        }
        if phase("warm") {
            eprintln!("bench: warm routes");
            results["warm"] = bench.warm(&admin, bench.settings.requests, None)?;
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
            results["large_list"] = bench.large_list(None)?;
        }
        if phase("lambda") {
            results["lambda"] = bench.lambda(&admin, &sizes, capped_starts, capped_requests)?;
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
        if phase("init_parts") {
            eprintln!("bench: what Init's CPU goes to, in process");
            results["init_parts"] = init_parts(&bench.settings, iterations / 20);
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
            ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("bench failed: {problem}");
            eprintln!(
                "(the functions' output is in {})",
                Path::new(&bench.log_dir).display()
            );
            ExitCode::FAILURE
        }
    }
}

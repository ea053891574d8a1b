//! `cargo xtask cold-start` (`make bench-cold-start`, against the local
//! emulator): what reading the secrets from Secrets Manager adds to a cold
//! start.
//!
//! A task function's initialisation is measured two ways in the same run,
//! alternating: from plain variables (the baseline), and from secret ARNs
//! (a fresh client each time, as each cold start has). Reported as
//! medians and their ratio; the emulator is local, so real Secrets Manager
//! adds its network round trips (and TLS) on top: see the README.
//!
//! Starts its own Secrets Manager (moto's server, installed first).

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use todo_shared::config::{AuthConfig, DbConfig};
use todo_shared::outside::secrets::Environment;
use todo_shared::web::handlers::TasksState;
use todo_tests::create_secret;
use todo_tests::services::SecretsManager;

const ROUNDS: usize = 40;
const DATABASE_URL: &str =
    "postgresql://user:pw@ep-x-pooler.us-east-1.aws.neon.tech/db?sslmode=require";
const SECRET: &str = "cold-start-benchmark-secret-0123456789";

async fn init(lookup: impl Fn(&str) -> Option<String>) -> Duration {
    let started = Instant::now();
    let env = Environment::load_with(lookup).await.expect("environment");
    let state = TasksState::new(
        &DbConfig::from_lookup(env.lookup()).expect("db config"),
        &AuthConfig::from_lookup(env.lookup()).expect("auth config"),
    )
    .expect("state");
    let elapsed = started.elapsed();
    drop(state);
    elapsed
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Set in the child that measures.
const MEASURING: &str = "TODO_COLD_START_MEASURING";

/// Starts the emulator, then measures in a child of this binary that has
/// the emulator's settings in its environment from the start, where the
/// functions' Secrets Manager client reads them (a process with threads
/// may not set its own).
pub fn run() -> ExitCode {
    if std::env::var_os(MEASURING).is_some() {
        return measure_here();
    }
    crate::install::install(&["tools", "moto_server"]);
    let log = todo_tests::root().join("target/cold-start-moto.log");
    let secrets_manager = SecretsManager::start(&log, None);
    let measured = std::env::current_exe().and_then(|xtask| {
        Command::new(xtask)
            .arg("cold-start")
            .envs(
                secrets_manager
                    .env
                    .iter()
                    .map(|(name, value)| (name, value)),
            )
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env(MEASURING, "1")
            .status()
    });
    match measured {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("cold-start: the measuring process failed ({status})");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("cold-start: {error}");
            ExitCode::FAILURE
        }
    }
}

fn measure_here() -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => {
            runtime.block_on(measure());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("cold-start: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn measure() {
    let suffix = std::process::id();
    let mut arns = Vec::new();
    for (name, value) in [("database-url", DATABASE_URL), ("auth", SECRET)] {
        arns.push(create_secret(&format!("cold-start/{suffix}/{name}"), value).await);
    }
    let plain = |name: &str| match name {
        "DATABASE_URL" => Some(DATABASE_URL.to_owned()),
        "BETTER_AUTH_SECRET" => Some(SECRET.to_owned()),
        _ => None,
    };
    let from_secrets = |name: &str| match name {
        "DATABASE_URL_SECRET_ARN" => Some(arns[0].clone()),
        "BETTER_AUTH_SECRET_ARN" => Some(arns[1].clone()),
        _ => None,
    };
    // Warm up the process (page faults, lazy statics) before measuring.
    init(plain).await;
    init(from_secrets).await;
    let (mut baseline, mut with_secrets) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        baseline.push(init(plain).await);
        with_secrets.push(init(from_secrets).await);
    }
    let (b, s) = (median(baseline), median(with_secrets));
    println!("cold-start initialisation, median of {ROUNDS} (same run, alternating):");
    println!("  plain variables (baseline): {b:?}");
    println!("  two secrets from Secrets Manager (local emulator): {s:?}");
    println!(
        "  ratio: {:.1}x the baseline; {:?} added",
        s.as_secs_f64() / b.as_secs_f64(),
        s.saturating_sub(b)
    );
}

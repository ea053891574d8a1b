//! The scale setup (issue #30): K instances of the release `tasks-item`, all
//! at once, against a PostgreSQL of [`MAX_CONNECTIONS`], once straight to it
//! (Neon's direct endpoint: every container a server connection) and once
//! through PgBouncer in transaction mode with a server pool of
//! [`SERVER_POOL`] (Neon's pooled endpoint, started as the tests start it:
//! `todo_tests::pooler`). For each: throughput, p50/p99, the statuses (503s
//! counted, not fatal), and the most server connections the API's role held
//! (`pg_stat_activity`, sampled while the load runs).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use todo_tests::ScratchServer;
use todo_tests::pooler::{Pooler, PoolerSettings};

use crate::Bench;
use crate::admin::Admin;
use crate::events::{env_of, event};
use crate::in_process::hs256;
use crate::runtime::Instance;
use crate::settings::Setup;
use crate::stats::summary;

/// The small server's `max_connections` (3 of them kept for superusers).
pub const MAX_CONNECTIONS: u32 = 20;
/// The pooler's server connections for the API's role and database.
pub const SERVER_POOL: u32 = 8;
const USER: &str = "bench-scale";
/// The API role's password at the pooler (the server trusts loopback).
const PASSWORD: &str = "bench-scale-password";

/// One K, one endpoint.
struct Run {
    sent: usize,
    ok: usize,
    unavailable: usize,
    other: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    server_connections: i64,
}

impl Bench {
    /// Every K of `instances`, straight and through the pooler, each
    /// instance sending `requests` GETs of one task one after the other.
    pub fn scale(&self, instances: &[usize], requests: usize) -> Result<Value, String> {
        let server = ScratchServer::start_with(&[&format!("max_connections={MAX_CONNECTIONS}")]);
        let admin = Admin::connect(&server.url());
        admin.rt.block_on(server.migrate());
        let task = admin.tasks(USER, 1)[0];
        let pooler = Pooler::start(
            server.port,
            &PoolerSettings {
                pool_size: SERVER_POOL,
                users: vec![("todo_api".into(), PASSWORD.into())],
            },
        );
        let event = event(
            "GET",
            &format!("/api/tasks/{task}"),
            "/api/tasks/{id}",
            Some(task),
            &hs256(&self.settings.secret, USER, None),
            USER,
            None,
        );
        let endpoints = [
            ("direct", server.api_url()),
            ("pooled", pooler.url("todo_api", PASSWORD, "postgres")),
        ];
        let mut runs = Vec::new();
        for &k in instances {
            for (endpoint, url) in &endpoints {
                eprintln!("bench: scale, {k} instances, {endpoint}");
                let run = self.scale_run(&admin, url, k, requests, &event)?;
                let latencies = summary(&run.latencies);
                runs.push(json!({
                    "instances": k, "endpoint": endpoint, "sent": run.sent, "ok": run.ok,
                    "unavailable": run.unavailable, "other": run.other,
                    "requests_per_second": run.ok as f64 / run.elapsed.as_secs_f64(),
                    "p50_ms": latencies["p50_ms"], "p99_ms": latencies["p99_ms"],
                    "server_connections": run.server_connections,
                }));
            }
        }
        Ok(
            json!({"max_connections": MAX_CONNECTIONS, "server_pool": SERVER_POOL,
                  "requests_per_instance": requests, "runs": runs}),
        )
    }

    fn scale_run(
        &self,
        admin: &Admin,
        database_url: &str,
        k: usize,
        requests: usize,
        event: &[u8],
    ) -> Result<Run, String> {
        let mut env = env_of(&self.settings, &self.data, "tasks-item", Setup::Local);
        env.retain(|(name, _)| name != "DATABASE_URL");
        env.push(("DATABASE_URL".into(), database_url.into()));
        let binary = self.settings.bin_dir.join("tasks-item");
        let log = self.log_dir.join("tasks-item-scale.log");
        let mut running: Vec<Instance> = (0..k)
            .map(|_| Instance::start(&binary, &env, &log, None))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("start tasks-item: {e}"))?;
        let done = AtomicBool::new(false);
        let peak = AtomicI64::new(0);
        let started = Instant::now();
        let results: Vec<Result<Vec<(u16, Duration)>, String>> = std::thread::scope(|scope| {
            // The server connections the API's role holds, while the load runs.
            scope.spawn(|| {
                while !done.load(Ordering::SeqCst) {
                    peak.fetch_max(admin.connections_of("todo_api"), Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
            let drivers: Vec<_> = running
                .iter_mut()
                .map(|instance| {
                    scope.spawn(move || {
                        (0..requests)
                            .map(|_| {
                                let reply = instance.invoke(event)?;
                                if reply.failed {
                                    return Err("an invocation failed".to_owned());
                                }
                                Ok((reply.status(), reply.latency()))
                            })
                            .collect()
                    })
                })
                .collect();
            let results = drivers
                .into_iter()
                .map(|driver| driver.join().expect("a driver thread"))
                .collect();
            done.store(true, Ordering::SeqCst);
            results
        });
        let elapsed = started.elapsed();
        drop(running);
        let mut run = Run {
            sent: 0,
            ok: 0,
            unavailable: 0,
            other: 0,
            elapsed,
            latencies: Vec::new(),
            server_connections: peak.load(Ordering::SeqCst),
        };
        for result in results {
            for (status, latency) in result? {
                run.sent += 1;
                match status {
                    200 => run.ok += 1,
                    503 => run.unavailable += 1,
                    _ => run.other += 1,
                }
                run.latencies.push(latency);
            }
        }
        Ok(run)
    }
}

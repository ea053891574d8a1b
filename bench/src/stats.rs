//! What a phase records: latency summaries, throughput blocks, CPU time.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

/// Throughput blocks of one target, added up.
#[derive(Default)]
pub struct Block {
    pub samples: Vec<Duration>,
    pub elapsed: Duration,
    /// Requests answered 503 (a statement past the budget).
    pub unavailable: usize,
    /// CPU time of the function processes during the block.
    pub function_cpu: Duration,
    /// CPU time of the PostgreSQL processes during the block.
    pub database_cpu: Duration,
    /// CPU time of the whole machine (every process, the kernel) during it.
    pub machine_cpu: Duration,
}

impl Block {
    pub fn add(&mut self, other: Block) {
        self.samples.extend(other.samples);
        self.elapsed += other.elapsed;
        self.unavailable += other.unavailable;
        self.function_cpu += other.function_cpu;
        self.database_cpu += other.database_cpu;
        self.machine_cpu += other.machine_cpu;
    }

    pub fn result(&self) -> Value {
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
pub fn database_cpu() -> Duration {
    let processes = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    processes
        .filter(|p| {
            std::fs::read_to_string(p.path().join("comm")).is_ok_and(|c| c.trim() == "postgres")
        })
        .map(|p| on_cpu(&p.path()))
        .sum()
}

/// The machine's busy CPU time so far: `/proc/stat`'s total less idle and
/// iowait, in clock ticks (100 per second) turned into time.
pub fn machine_cpu() -> Duration {
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
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of unsorted samples, in ms.
pub fn percentile(samples: &[Duration], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    ms(sorted[rank.min(sorted.len()) - 1])
}

pub fn summary(samples: &[Duration]) -> Value {
    json!({
        "n": samples.len(),
        "p50_ms": percentile(samples, 50.0),
        "p99_ms": percentile(samples, 99.0),
        "max_ms": percentile(samples, 100.0),
    })
}

/// How long the task (thread or process) at `/proc/...` `path` has run, by
/// its `schedstat`; zero once it is gone.
pub fn on_cpu(path: &Path) -> Duration {
    let stat = std::fs::read_to_string(path.join("schedstat")).unwrap_or_default();
    let nanos = stat.split_whitespace().next().and_then(|n| n.parse().ok());
    Duration::from_nanos(nanos.unwrap_or(0))
}

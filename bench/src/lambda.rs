//! The functions on the CPU a Lambda of each memory size gets (#41): for
//! 128, 256, 512, 1,024 and 1,769 MB, cold starts (production-like,
//! network, local) with Init uncapped and the first invocation capped (what
//! published measurements of Lambda show) and with everything capped; warm
//! requests per route; and the page of large tasks. Every function process,
//! the floor's too, runs in a sandbox of its own ([`crate::cgroup`]); the
//! driver, PostgreSQL and the fixtures stay outside.

use serde_json::{Map, Value, json};

use crate::Bench;
use crate::admin::Admin;
use crate::cgroup::{Sandbox, Sandboxes, quota_us};
use crate::runtime::Instance;
use crate::settings::Setup;

/// Lambda's memory sizes measured: 1,769 MB is one whole vCPU.
pub const MEMORY_SIZES: [u32; 5] = [128, 256, 512, 1024, 1769];

/// Whether Init runs under the cap too.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum InitCap {
    /// Init at full speed, the invocations capped: what published
    /// measurements suggest Lambda does (AWS does not document it).
    Uncapped,
    /// Everything capped, from the process's first instruction.
    Capped,
}

impl InitCap {
    fn name(self) -> &'static str {
        match self {
            InitCap::Uncapped => "init_uncapped",
            InitCap::Capped => "capped",
        }
    }
}

/// How an instance's sandbox is capped.
#[derive(Clone, Copy)]
pub struct Capped<'a> {
    pub sandboxes: &'a Sandboxes,
    pub memory_mb: u32,
    pub init: InitCap,
}

impl Capped<'_> {
    /// A fresh sandbox, capped from the start unless Init is not.
    pub fn sandbox(self) -> Result<Sandbox, String> {
        let sandbox = self
            .sandboxes
            .sandbox()
            .map_err(|e| format!("a sandbox: {e}"))?;
        if self.init == InitCap::Capped {
            sandbox
                .cap(Some(self.memory_mb))
                .map_err(|e| format!("a CPU quota: {e}"))?;
        }
        Ok(sandbox)
    }

    /// Once `instance` has finished Init, caps it if Init was not.
    pub fn after_init(self, instance: &Instance) -> Result<(), String> {
        if self.init == InitCap::Uncapped {
            instance.wait_for_init(std::time::Duration::from_secs(30))?;
            if let Some(sandbox) = &instance.sandbox {
                sandbox
                    .cap(Some(self.memory_mb))
                    .map_err(|e| format!("a CPU quota: {e}"))?;
            }
        }
        Ok(())
    }
}

impl Bench {
    /// Every phase of the capped setup, for each of `sizes`: `starts` cold
    /// starts per function, setup and way of capping, `requests` warm
    /// requests per route and target, one page of large tasks. Where no
    /// sandbox can be made, says why instead.
    pub fn lambda(
        &self,
        admin: &Admin,
        sizes: &[u32],
        starts: usize,
        requests: usize,
    ) -> Result<Value, String> {
        let sandboxes = match Sandboxes::new() {
            Ok(sandboxes) => sandboxes,
            Err(why) => {
                eprintln!("bench: no capped phases: {why}");
                return Ok(json!({ "unavailable": why }));
            }
        };
        let functions = ["tasks-item", "floor"];
        let mut by_size = Map::new();
        for &memory_mb in sizes {
            eprintln!(
                "bench: on {memory_mb} MB's share of a CPU ({} µs per 100 ms)",
                quota_us(memory_mb)
            );
            let mut cold = Map::new();
            for init in [InitCap::Uncapped, InitCap::Capped] {
                let capped = Capped {
                    sandboxes: &sandboxes,
                    memory_mb,
                    init,
                };
                let mut setups = Map::new();
                for setup in [Setup::Production, Setup::Network, Setup::Local] {
                    let result = self.cold_starts(&functions, setup, starts, Some(capped))?;
                    setups.insert(setup.name().to_owned(), result);
                }
                cold.insert(init.name().to_owned(), Value::Object(setups));
            }
            let everything = Capped {
                sandboxes: &sandboxes,
                memory_mb,
                init: InitCap::Capped,
            };
            by_size.insert(
                memory_mb.to_string(),
                json!({
                    "quota_us": quota_us(memory_mb),
                    "cold_start": cold,
                    "warm": self.warm(admin, requests, Some(everything))?,
                    "large_list": self.large_list(Some(everything))?,
                }),
            );
        }
        Ok(json!({ "sizes": sizes, "starts": starts, "requests": requests, "by_size": by_size }))
    }
}

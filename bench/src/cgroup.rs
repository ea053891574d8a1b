//! A Lambda's share of a CPU, as a cgroup: each function instance of the
//! capped phases runs in a cgroup of its own (a sandbox), whose CPU quota
//! is the share of one core that Lambda gives its memory size (1,769 MB is
//! one vCPU), over CFS's 100 ms period. A fresh cgroup per instance, as a
//! new sandbox has spent none of its quota. The driver, PostgreSQL, the
//! pooler and the fixtures stay outside.
//!
//! cgroup v1 (the `cpu` controller's hierarchy, `cpu.cfs_quota_us`) or v2
//! (`cpu.max`), whichever the machine mounts; root (or a delegated tree) is
//! needed to make one. Where none can be made, [`Sandboxes::new`] says why
//! and the capped phases are left out of the report with that reason.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// CFS's period: the quota is spent, then the sandbox waits for the next.
const PERIOD_US: u64 = 100_000;

/// The memory size that buys one whole vCPU.
const ONE_VCPU_MB: u64 = 1_769;

/// The CPU quota per period of a function of `memory_mb`.
pub fn quota_us(memory_mb: u32) -> u64 {
    (PERIOD_US * u64::from(memory_mb) + ONE_VCPU_MB / 2) / ONE_VCPU_MB
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// The run's own cgroup under the CPU controller, whose children are the
/// sandboxes; removed at the end of the run.
pub struct Sandboxes {
    dir: PathBuf,
    version: Version,
    made: AtomicUsize,
}

/// One instance's cgroup.
pub struct Sandbox {
    dir: PathBuf,
    version: Version,
    /// `cgroup.procs`, which a process enters by writing `0` to it.
    procs: PathBuf,
}

impl Sandboxes {
    /// A cgroup of this run's own, or why none can be made here.
    pub fn new() -> Result<Self, String> {
        let (root, version) =
            cpu_hierarchy().ok_or("no cgroup hierarchy with the cpu controller is mounted")?;
        // Below the hierarchy's root: in v2 only the root may hold
        // processes and hand controllers down at once.
        let dir = root.join(format!("todo-bench-{}", std::process::id()));
        if version == Version::V2 {
            let _ = fs::write(root.join("cgroup.subtree_control"), "+cpu");
        }
        fs::create_dir(&dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
        if version == Version::V2 {
            // The children need the cpu controller from their parent.
            let enable = fs::write(dir.join("cgroup.subtree_control"), "+cpu");
            if let Err(e) = enable {
                let _ = fs::remove_dir(&dir);
                return Err(format!(
                    "cannot enable the cpu controller below {}: {e}",
                    dir.display()
                ));
            }
        }
        let sandboxes = Sandboxes {
            dir,
            version,
            made: AtomicUsize::new(0),
        };
        // Proves that a quota can be set and a process moved, before the
        // run relies on it.
        let probe = sandboxes
            .sandbox()
            .map_err(|e| format!("cannot make a sandbox: {e}"))?;
        probe
            .cap(Some(128))
            .map_err(|e| format!("cannot set a CPU quota: {e}"))?;
        Ok(sandboxes)
    }

    /// A fresh cgroup, uncapped until [`Sandbox::cap`].
    pub fn sandbox(&self) -> io::Result<Sandbox> {
        let n = self.made.fetch_add(1, Ordering::SeqCst);
        let dir = self.dir.join(format!("sandbox-{n}"));
        fs::create_dir(&dir)?;
        let procs = dir.join("cgroup.procs");
        Ok(Sandbox {
            dir,
            version: self.version,
            procs,
        })
    }
}

impl Drop for Sandboxes {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.dir);
    }
}

impl Sandbox {
    /// Caps the sandbox at the CPU share of `memory_mb`, or lifts the cap.
    pub fn cap(&self, memory_mb: Option<u32>) -> io::Result<()> {
        match self.version {
            Version::V1 => {
                fs::write(self.dir.join("cpu.cfs_period_us"), PERIOD_US.to_string())?;
                let quota = memory_mb.map_or("-1".to_owned(), |mb| quota_us(mb).to_string());
                fs::write(self.dir.join("cpu.cfs_quota_us"), quota)
            }
            Version::V2 => {
                let quota = memory_mb.map_or("max".to_owned(), |mb| quota_us(mb).to_string());
                fs::write(self.dir.join("cpu.max"), format!("{quota} {PERIOD_US}"))
            }
        }
    }

    /// The file a process writes `0` to, to enter the sandbox
    /// ([`crate::reexec::in_sandbox`]).
    pub fn procs(&self) -> &Path {
        &self.procs
    }

    /// How many periods the sandbox was held back for want of quota, and
    /// for how long in all.
    pub fn throttled(&self) -> (u64, Duration) {
        let stat = fs::read_to_string(self.dir.join("cpu.stat")).unwrap_or_default();
        let field = |name: &str| -> u64 {
            stat.lines()
                .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
                .unwrap_or(0)
        };
        let time = match self.version {
            Version::V1 => Duration::from_nanos(field("throttled_time ")),
            Version::V2 => Duration::from_micros(field("throttled_usec ")),
        };
        (field("nr_throttled "), time)
    }
}

impl Drop for Sandbox {
    /// Removes the cgroup, once its processes are gone (the instance kills
    /// and reaps its process before dropping its sandbox).
    fn drop(&mut self) {
        for _ in 0..50 {
            if fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Where the cpu controller's hierarchy is mounted, and its version.
fn cpu_hierarchy() -> Option<(PathBuf, Version)> {
    let mounts = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut v2 = None;
    for line in mounts.lines() {
        // `... mount_point options - fstype source super_options`
        let (left, right) = line.split_once(" - ")?;
        let mount_point = left.split_whitespace().nth(4)?;
        let mut right = right.split_whitespace();
        let (fstype, super_options) = (right.next()?, right.nth(1).unwrap_or_default());
        match fstype {
            "cgroup" if super_options.split(',').any(|o| o == "cpu") => {
                return Some((PathBuf::from(mount_point), Version::V1));
            }
            "cgroup2" => {
                let controllers =
                    fs::read_to_string(Path::new(mount_point).join("cgroup.controllers"))
                        .unwrap_or_default();
                if controllers.split_whitespace().any(|c| c == "cpu") {
                    v2 = Some((PathBuf::from(mount_point), Version::V2));
                }
            }
            _ => {}
        }
    }
    v2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_are_the_memory_sizes_share_of_one_vcpu() {
        assert_eq!(quota_us(1769), 100_000);
        assert_eq!(quota_us(128), 7_236);
        assert_eq!(quota_us(256), 14_471);
        assert_eq!(quota_us(512), 28_943);
        assert_eq!(quota_us(1024), 57_886);
    }
}

//! A command's phases: each one's heading as it starts, and at the end one
//! table of their durations, which `cargo xtask ci-summary` (`.ci/run`)
//! reads back. Every command that runs in phases runs through [`run`].

use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Runs `body` with a fresh [`Phases`], prints the table however it ends,
/// and exits as it did: a failure panics, having said what failed.
pub fn run(command: &str, body: impl FnOnce(&mut Phases)) -> ExitCode {
    let mut phases = Phases::default();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&mut phases)));
    phases.print(command);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// Each phase's name and duration.
#[derive(Default)]
pub struct Phases {
    done: Vec<(String, Duration)>,
    current: Option<(String, Instant)>,
    started: Option<Instant>,
}

impl Phases {
    /// Ends the phase under way and starts `name`.
    pub fn step(&mut self, name: &str) {
        self.end_current();
        self.started.get_or_insert_with(Instant::now);
        println!("\n==> {name}");
        self.current = Some((name.to_owned(), Instant::now()));
    }

    fn end_current(&mut self) {
        if let Some((name, started)) = self.current.take() {
            self.done.push((name, started.elapsed()));
        }
    }

    fn print(&mut self, command: &str) {
        self.end_current();
        if self.done.is_empty() {
            return;
        }
        println!("\n{TABLE_HEADING}{command} (seconds):");
        for (name, took) in &self.done {
            println!("{:6}  {name}", took.as_secs());
        }
        let total = self
            .started
            .map_or(0, |started| started.elapsed().as_secs());
        println!("{total:6}  total");
    }
}

/// How the table starts, for the summary to find it.
pub const TABLE_HEADING: &str = "Phases of xtask ";

/// One check of a command's own has passed: a line as the test suites'
/// child processes and the browser tests print theirs, which the summary
/// counts.
pub fn passed(what: &str) {
    println!("{PASSED}{what}");
}

/// How [`passed`]'s lines start.
pub const PASSED: &str = "ok   ";

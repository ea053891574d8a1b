//! `cargo xtask ci-summary LOG STATUS`: `.ci/run`'s last words, from the
//! run's whole output: the phases' table and one line counting every test
//! the run ran, `N passed, N failed`.
//!
//! It counts cargo's `test result:` lines (unit, integration, end-to-end
//! and fault tests, and the suites a test runs again in a child of its
//! own), schemathesis's test cases, and the `ok   ...` / `not ok ...` lines
//! of the browser tests and of the commands' own checks
//! ([`crate::phases::passed`]). A run that stopped with a failure no line
//! counted adds one failed test: the step that stopped it.

use std::process::ExitCode;

use crate::phases::{PASSED, TABLE_HEADING};

pub fn run(args: &[String]) -> ExitCode {
    let [log, status] = args else {
        eprintln!("usage: cargo xtask ci-summary LOG EXIT_STATUS");
        return ExitCode::FAILURE;
    };
    let Ok(bytes) = std::fs::read(log) else {
        eprintln!("ci-summary: cannot read {log}");
        return ExitCode::FAILURE;
    };
    let text = String::from_utf8_lossy(&bytes);
    let summary = Summary::of(&text, status != "0");
    println!();
    for line in &summary.phases {
        println!("{line}");
    }
    println!("{} passed, {} failed", summary.passed, summary.failed);
    ExitCode::SUCCESS
}

#[derive(Debug, Default, PartialEq)]
struct Summary {
    passed: u64,
    failed: u64,
    phases: Vec<String>,
}

impl Summary {
    fn of(log: &str, run_failed: bool) -> Self {
        let mut summary = Summary::default();
        let mut in_table = false;
        for line in log.lines().map(without_colours) {
            if let Some((passed, failed)) = cargo_result(&line).or_else(|| schemathesis(&line)) {
                summary.passed += passed;
                summary.failed += failed;
            } else if line.starts_with(PASSED) {
                summary.passed += 1;
            } else if line.starts_with("not ok") {
                summary.failed += 1;
            }
            if line.starts_with(TABLE_HEADING) {
                in_table = true;
                summary.phases.push(line);
            } else if in_table && is_table_row(&line) {
                summary.phases.push(line);
            } else {
                in_table = false;
            }
        }
        if run_failed && summary.failed == 0 {
            summary.failed = 1;
        }
        summary
    }
}

/// `test result: ok. 12 passed; 0 failed; ...`
fn cargo_result(line: &str) -> Option<(u64, u64)> {
    let rest = line.strip_prefix("test result: ")?;
    let (_, rest) = rest.split_once(". ")?;
    let (passed, rest) = rest.split_once(" passed; ")?;
    let (failed, _) = rest.split_once(" failed")?;
    Some((passed.parse().ok()?, failed.parse().ok()?))
}

/// Schemathesis's `  861 generated, 861 passed` (`, 2 failed`, `, 12 skipped`).
fn schemathesis(line: &str) -> Option<(u64, u64)> {
    let mut parts = line.trim_start().split(", ");
    parts
        .next()?
        .strip_suffix(" generated")?
        .parse::<u64>()
        .ok()?;
    let passed = parts.next()?.strip_suffix(" passed")?.parse().ok()?;
    // Then `N failed`, `N skipped`... of which only failures count.
    let failed = parts
        .filter_map(|part| part.strip_suffix(" failed")?.parse::<u64>().ok())
        .sum();
    Some((passed, failed))
}

/// `   123  a phase's name`
fn is_table_row(line: &str) -> bool {
    let trimmed = line.trim_start();
    let digits = trimmed.len()
        - trimmed
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .len();
    digits > 0 && trimmed[digits..].starts_with("  ")
}

/// The line without the terminal's colour codes (`ESC [ ... letter`, `ESC ( B`).
fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            Some('(') => {
                chars.next();
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
==> unit tests
test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out
test result: \x1b[32mok\x1b[0m. 3 passed; 1 failed; 0 ignored
     861 generated, 860 passed, 1 failed
      40 generated, 40 passed
  1057 generated, 1057 passed, 12 skipped
ok   cfn-lint: clean
not ok 3 - the browser
test e2e::health_over_http ... ok

Phases of xtask test-full (seconds):
    12  unit tests
   300  the rest
   312  total
after the table
";

    #[test]
    fn counts_every_kind_of_result_and_keeps_the_phases_table() {
        let summary = Summary::of(LOG, true);
        assert_eq!(summary.passed, 12 + 3 + 860 + 40 + 1057 + 1);
        assert_eq!(summary.failed, 1 + 1 + 1);
        assert_eq!(
            summary.phases,
            [
                "Phases of xtask test-full (seconds):",
                "    12  unit tests",
                "   300  the rest",
                "   312  total"
            ]
        );
    }

    #[test]
    fn a_failed_run_with_no_failed_line_counts_one_failure() {
        let summary = Summary::of("test result: ok. 2 passed; 0 failed;\n", true);
        assert_eq!((summary.passed, summary.failed), (2, 1));
        let summary = Summary::of("test result: ok. 2 passed; 0 failed;\n", false);
        assert_eq!((summary.passed, summary.failed), (2, 0));
    }
}

//! `cargo xtask bench [--smoke]` (`make bench`, `make bench-smoke`): the
//! performance of the functions against a floor, measured in one run,
//! written to BENCHMARKS.md and benchmarks.png. Not a test: nothing here
//! passes or fails on a number.
//!
//! Builds the release binaries (and the arm64 `bootstrap`s, for their
//! sizes), then runs bench/ (a minimal Lambda Runtime API driving the real
//! binaries and the floor function, bench/src/bin/floor.rs), which starts a
//! throwaway PostgreSQL with TLS and pg_stat_statements, a real Better Auth
//! and a local Secrets Manager with the test kit's code, and renders its
//! results with scripts/bench_report.py.
//!
//! `--smoke` (CI): the debug binaries `make test` built, a few starts and
//! requests, and the arm64 tasks-item that `make deploy-check` built, run
//! under qemu; the report goes to target/bench-smoke/ instead.
//!
//! Settings, from the environment:
//! - `BENCH_ARM64=0`: skip the arm64 build (and the sizes; in smoke mode,
//!   the arm64 run) for a quicker run.
//! - `BENCH_STARTS`, `BENCH_REQUESTS`, `BENCH_MILLIS`, `BENCH_PHASES` (cold,
//!   warm, throughput, large_list, lambda, glue, init_parts, tokens, scale),
//!   `BENCH_SCALE` (the scale setup's instance counts, 8,64,256),
//!   `BENCH_SIZES` (the capped setup's memory sizes,
//!   128,256,512,1024,1769), `BENCH_CAPPED_STARTS` and
//!   `BENCH_CAPPED_REQUESTS` (its counts, 10 and 600): the driver's counts
//!   and parts (bench/src/main.rs; with `BENCH_PHASES` the report stays in
//!   target/bench/, BENCHMARKS.md as it was).
//! - `BENCH_BIN_DIR`: binaries built elsewhere (say, with frame pointers for
//!   perf).
//! - `BENCH_BEFORE=<commit>`: also that commit's tasks-item, cold-started
//!   reading its secrets beside this tree's (a before/after in one run).

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use todo_tests::services::venv_bin;
use todo_tests::{output_of, root};

use crate::arm64::{self, TARGET};
use crate::command::{check, tool};
use crate::install::install;
use crate::phases::{Phases, passed};

const FUNCTIONS: [&str; 4] = ["tasks-collection", "tasks-item", "health", "docs"];

/// The smoke run's counts, where the environment sets none: a few starts
/// and requests; the scale setup under and over the small server's
/// connections; one memory size, one cold start each way in the capped
/// setup (a machine where no cgroup can be made says so in the report).
const SMOKE_COUNTS: [(&str, &str); 7] = [
    ("BENCH_STARTS", "2"),
    ("BENCH_REQUESTS", "50"),
    ("BENCH_MILLIS", "300"),
    ("BENCH_SCALE", "4,24"),
    ("BENCH_SIZES", "128"),
    ("BENCH_CAPPED_STARTS", "1"),
    ("BENCH_CAPPED_REQUESTS", "60"),
];

fn setting(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

pub fn all(phases: &mut Phases, smoke: bool) {
    let (out, profile) = if smoke {
        (root().join("target/bench-smoke"), "debug")
    } else {
        (root().join("target/bench"), "release")
    };
    let arm64 = setting("BENCH_ARM64").is_none_or(|value| value != "0");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("the report's folder");
    let scratch = Scratch::new();
    // What the driver adds to the production setup beside the functions.
    let mut extra_production = Vec::new();

    let mut bin = match setting("BENCH_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => root().join("target").join(profile),
    };
    if smoke {
        phases.step("the debug binaries (already built by make test)");
        check(
            Command::new("cargo").args(["build", "--workspace", "--bins", "--quiet"]),
            "cargo build",
        );
    } else {
        phases.step("release binaries (x86_64): the functions, migrate, the floor and the driver");
        let mut build = release_build();
        for package in FUNCTIONS.iter().chain(&["migrate", "todo-bench"]) {
            build.args(["-p", package]);
        }
        check(&mut build, "the release build");
    }
    if !smoke && arm64 {
        phases.step(
            "arm64 bootstraps, as sam build makes them (cargo lambda build --release --arm64)",
        );
        arm64_sizes(&out.join("arm64"));
    }

    if smoke && arm64 {
        // The smoke run also starts the arm64 tasks-item that sam build made
        // (make deploy-check, before this in make test-full), under qemu,
        // against the TLS database and the HTTPS JWKS: the deployed
        // binary's own OpenSSL (configured by .cargo/openssl-perl) has to
        // serve a request.
        phases.step("the deployed arm64 tasks-item, under qemu");
        let bootstrap = root().join(".aws-sam/build/TasksItemFunction/bootstrap");
        assert!(
            bootstrap.is_file(),
            "{} is missing: run make deploy-check first (or BENCH_ARM64=0)",
            bootstrap.display()
        );
        install(&["qemu-arm64"]);
        bin = scratch.programs_of(&bin);
        let qemu = output_of(
            Command::new("sh").args(["-c", "command -v qemu-aarch64"]),
            "qemu",
        );
        let wrapper = bin.join("tasks-item-arm64");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec {} -L /usr/aarch64-linux-gnu {} \"$@\"\n",
                qemu.trim(),
                bootstrap.display()
            ),
        )
        .expect("the qemu wrapper");
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        extra_production.push("tasks-item-arm64".to_owned());
    }

    if let Some(before) = setting("BENCH_BEFORE") {
        let before = output_of(
            Command::new("git").args(["rev-parse", "--short", &before]),
            "git rev-parse",
        )
        .trim()
        .to_owned();
        phases.step(&format!(
            "tasks-item as of {before} (release, x86_64), for the before/after"
        ));
        if !bin.starts_with(&scratch.0) {
            bin = scratch.programs_of(&bin);
        }
        build_tasks_item_as_of(&before, &scratch.0.join("before"));
        std::fs::copy(
            root().join("target/bench-before/release/tasks-item"),
            bin.join(format!("tasks-item@{before}")),
        )
        .expect("the earlier tasks-item");
        extra_production.push(format!("tasks-item@{before}+secrets"));
    }

    phases.step(
        "what the driver starts: PostgreSQL's programs, the Better Auth fixture, PgBouncer, moto",
    );
    // The driver starts its services with the test kit's code (bench/src/
    // services.rs): a PostgreSQL with TLS and pg_stat_statements, the Better
    // Auth fixture over HTTPS, a Secrets Manager over TLS; the scale setup's
    // pooler. (The kit finds PostgreSQL 17 or newer, or installs the pinned one.)
    todo_tests::services::npm_ci_once(&root().join("tests/better-auth"));
    install(&["pgbouncer"]);
    install(&["tools", "moto_server"]);

    phases.step("measuring (bench/, through a minimal Lambda Runtime API)");
    let mut driver = tool(bin.join("bench"));
    if smoke {
        for (name, value) in SMOKE_COUNTS {
            if std::env::var_os(name).is_none() {
                driver.env(name, value);
            }
        }
    }
    if !extra_production.is_empty() {
        driver.env("BENCH_EXTRA_PRODUCTION", extra_production.join(","));
    }
    check(
        driver
            .env("BENCH_BIN_DIR", &bin)
            .env("BENCH_OUT_DIR", &out)
            .env("TMPDIR", &scratch.0),
        "the benchmark",
    );

    phases.step("report");
    install(&["python-modules"]);
    let mut report = tool(venv_bin().join("python"));
    report
        .arg("scripts/bench_report.py")
        .arg(out.join("results.json"))
        .arg("--out")
        .arg(&out);
    if !smoke && arm64 {
        report.arg("--arm64").arg(out.join("arm64"));
    }
    report
        .args(["--command", "make bench", "--functions"])
        .args(FUNCTIONS);
    check(&mut report, "scripts/bench_report.py");
    if smoke {
        passed("make bench-smoke: every phase ran and reported");
    } else if setting("BENCH_PHASES").is_none() {
        for file in [
            "BENCHMARKS.md",
            "benchmarks.png",
            "benchmarks-scale.png",
            "benchmarks-lambda.png",
        ] {
            std::fs::copy(out.join(file), root().join(file)).expect("the report");
        }
        println!(
            "Wrote BENCHMARKS.md, benchmarks.png, benchmarks-scale.png and benchmarks-lambda.png"
        );
    } else {
        // Some phases only: the committed report stays as it was.
        println!(
            "Wrote {}/BENCHMARKS.md and benchmarks.png (BENCH_PHASES: BENCHMARKS.md is left alone)",
            out.display()
        );
    }
}

/// A release build for x86_64 that links OpenSSL as the deployed binaries
/// do: vendored (built from source, configured by .cargo/openssl-perl) and
/// static, not the machine's libssl that host builds use
/// (.cargo/config.toml). The machine's (Debian's OpenSSL 3.0) parsed the
/// floor's CA bundle in 40 ms where the deployed one takes about 10, and
/// loading it as a shared library costs every cold start its symbol lookups.
fn release_build() -> Command {
    let mut build = Command::new("cargo");
    build
        .args(["build", "--release", "--quiet"])
        .env("X86_64_UNKNOWN_LINUX_GNU_OPENSSL_NO_VENDOR", "0")
        .current_dir(root());
    build
}

/// The arm64 bootstraps as `sam build` makes them, for the report's sizes,
/// into `dir/<function>/bootstrap.full`, and OpenSSL's static libraries as
/// linked into `dir/openssl`, so the report can tell its symbols. Built
/// with their symbol table (in a target directory of their own, so that
/// `sam build`'s artifacts stay as they are); the report takes the deployed
/// size as the file less what stripping removes (the symbol and string
/// tables). Neither binutils' strip nor Zig's objcopy handles these aarch64
/// files here.
fn arm64_sizes(dir: &Path) {
    install(&["tools", "cargo-lambda"]);
    install(&["rust-target", TARGET]);
    let target = root().join("target/bench-arm64");
    arm64::fresh_vendored_openssl(&target);
    let mut build = tool("cargo");
    build
        .args(["lambda", "build", "--release", "--arm64", "--quiet"])
        .env("CARGO_TARGET_DIR", &target)
        .env("CARGO_PROFILE_RELEASE_STRIP", "none")
        .stdout(std::process::Stdio::null());
    for function in FUNCTIONS {
        build.args(["--bin", function]);
    }
    check(&mut build, "the arm64 build");
    for function in FUNCTIONS {
        std::fs::create_dir_all(dir.join(function)).expect("the sizes' folder");
        std::fs::copy(
            target.join(format!("lambda/{function}/bootstrap")),
            dir.join(format!("{function}/bootstrap.full")),
        )
        .expect("a bootstrap");
    }
    let openssl = arm64::vendored_openssl_builds(&target)
        .into_iter()
        .map(|install| install.join("lib"))
        .find(|lib| lib.join("libssl.a").is_file())
        .expect("the arm64 OpenSSL's libraries");
    std::fs::create_dir_all(dir.join("openssl")).expect("the sizes' folder");
    for library in ["libcrypto.a", "libssl.a"] {
        std::fs::copy(openssl.join(library), dir.join("openssl").join(library))
            .expect("OpenSSL's library");
    }
}

/// Builds tasks-item as of commit `before` in a worktree at `worktree`,
/// into target/bench-before.
fn build_tasks_item_as_of(before: &str, worktree: &Path) {
    check(
        Command::new("git")
            .args(["worktree", "add", "--detach", "--force"])
            .arg(worktree)
            .arg(before)
            .current_dir(root()),
        "git worktree add",
    );
    let mut build = release_build();
    check(
        build
            .args(["-p", "tasks-item"])
            .env("CARGO_TARGET_DIR", root().join("target/bench-before"))
            .current_dir(worktree),
        "the earlier tasks-item",
    );
    check(
        Command::new("git")
            .args(["worktree", "remove", "--force"])
            .arg(worktree)
            .current_dir(root()),
        "git worktree remove",
    );
}

/// The run's temporary folder (the driver's `TMPDIR`), readable by the
/// `postgres` user the driver's servers run as; removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(todo_tests::unique_user("todo-bench"));
        std::fs::create_dir_all(&dir).expect("the bench's scratch folder");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Scratch(dir)
    }

    /// A folder of links to the programs in `bin`, to which the run adds
    /// its own (the qemu wrapper, an earlier tasks-item).
    fn programs_of(&self, bin: &Path) -> PathBuf {
        let dir = self.0.join("bin");
        std::fs::create_dir_all(&dir).expect("the programs' folder");
        for program in FUNCTIONS.iter().chain(&["migrate", "floor", "bench"]) {
            symlink(bin.join(program), dir.join(program)).expect("a link to a program");
        }
        dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

//! The arm64 Lambda build (`make deploy-check`, `make bench`'s sizes), and
//! what each built `bootstrap` must be to run on Lambda's provided.al2023.

use std::path::{Path, PathBuf};
use std::process::Command;

use todo_tests::{output_of, root};

use crate::command::{check, tool};
use crate::install::install;

pub const TARGET: &str = "aarch64-unknown-linux-gnu";

/// The functions for arm64, release, in one cargo build, `prefix` (say,
/// `nice -n 19`) before it. One process compiles every dependency once and
/// links the five binaries side by side; every function resolves its
/// dependencies' features exactly as this build does (the comment on
/// `hyper` in shared/Cargo.toml), so each of `sam build`'s per-function
/// builds finds its binary up to date and only copies it. The arm64
/// target is installed first, once.
pub fn build(prefix: &[&str]) -> Command {
    install(&["tools", "cargo-lambda"]);
    install(&["rust-target", TARGET]);
    fresh_vendored_openssl(&root().join("target"));
    let (program, before) = match prefix.split_first() {
        Some((program, before)) => (*program, before),
        None => ("cargo", &[][..]),
    };
    let mut command = tool(program);
    command.args(before);
    if !prefix.is_empty() {
        command.arg("cargo");
    }
    command.args(["lambda", "build", "--release", "--arm64"]);
    for package in FUNCTIONS {
        command.args(["-p", package]);
    }
    command
}

/// The packages deployed as functions, as `sam build` builds them: the
/// arm64 build compiles these alone, not the tools and tests beside them
/// in the workspace.
pub const FUNCTIONS: [&str; 5] = [
    "tasks-collection",
    "tasks-item",
    "health",
    "docs",
    "migrate",
];

/// The arm64 OpenSSL that cargo built in `target_dir` (openssl-sys's
/// vendored build) is configured as `.cargo/openssl-perl` says now, or is
/// cleaned so that the next build configures it again: cargo itself does
/// not notice a change of that list.
pub fn fresh_vendored_openssl(target_dir: &Path) {
    let options = output_of(
        Command::new(root().join(".cargo/openssl-perl")).arg("--options"),
        ".cargo/openssl-perl --options",
    );
    // no-sm2 -> OPENSSL_NO_SM2, as configuration.h names what is left out.
    let left_out: Vec<String> = options
        .split_whitespace()
        .map(|option| {
            let name = option.trim_start_matches("no-").to_uppercase();
            format!("OPENSSL_NO_{}", name.replace('-', "_"))
        })
        .collect();
    let defines = |header: &str, name: &str| {
        header.lines().any(|line| {
            let words: Vec<&str> = line.trim_start_matches('#').split_whitespace().collect();
            words.first() == Some(&"define") && words.get(1) == Some(&name)
        })
    };
    let stale = vendored_openssl_builds(target_dir)
        .iter()
        .filter_map(|install| {
            std::fs::read_to_string(install.join("include/openssl/configuration.h")).ok()
        })
        .any(|header| left_out.iter().any(|name| !defines(&header, name)));
    if stale {
        eprintln!(
            "the arm64 OpenSSL in {} predates .cargo/openssl-perl's options: rebuilding it",
            target_dir.display()
        );
        check(
            Command::new("cargo")
                .args([
                    "clean",
                    "--quiet",
                    "--release",
                    "--target",
                    TARGET,
                    "--target-dir",
                ])
                .arg(target_dir)
                .args(["-p", "openssl-sys"]),
            "cargo clean -p openssl-sys",
        );
    }
}

/// Where openssl-sys's vendored builds in `target_dir` installed OpenSSL
/// (`include/`, `lib/`), the newest first.
pub fn vendored_openssl_builds(target_dir: &Path) -> Vec<PathBuf> {
    let builds = target_dir.join(format!("{TARGET}/release/build"));
    let mut installs: Vec<PathBuf> = std::fs::read_dir(builds)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("openssl-sys-")
        })
        .map(|entry| entry.path().join("out/openssl-build/install"))
        .filter(|install| install.is_dir())
        .collect();
    installs.sort_by_key(|install| {
        std::cmp::Reverse(std::fs::metadata(install).and_then(|m| m.modified()).ok())
    });
    installs
}

/// glibc's own libraries; anything else would have to exist on the Lambda host.
const GLIBC_LIBRARIES: [&str; 7] = [
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libutil.so.1",
    "ld-linux-aarch64.so.1",
];

/// Issue #14's budget: what Lambda downloads and maps on a cold start.
const BUDGET_BYTES: u64 = 10 * 1024 * 1024;

/// What `bootstrap` is, when it is what Lambda's provided.al2023 on arm64
/// runs: an aarch64 ELF needing at most GLIBC 2.34 and no shared library
/// beyond glibc's, within the size budget. Else what is wrong with it.
pub fn deployable(bootstrap: &Path) -> Result<String, String> {
    let readelf = |flag: &str| {
        output_of(
            Command::new("readelf").arg(flag).arg(bootstrap),
            &format!("readelf {flag} {}", bootstrap.display()),
        )
    };
    let name = bootstrap.display();
    let machine = readelf("-h")
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("Machine:")
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_default();
    if machine != "AArch64" {
        return Err(format!("{name} is built for {machine}, not AArch64"));
    }
    let versions = readelf("-V");
    let glibc = versions
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .filter_map(|word| word.strip_prefix("GLIBC_"))
        .filter_map(|version| {
            let parts: Option<Vec<u32>> = version.split('.').map(|p| p.parse().ok()).collect();
            parts
        })
        .max()
        .unwrap_or_default();
    if glibc > vec![2, 34] {
        return Err(format!(
            "{name} needs GLIBC_{}; the provided.al2023 runtime has 2.34",
            dotted(&glibc)
        ));
    }
    let needed: Vec<String> = readelf("-d")
        .lines()
        .filter(|line| line.contains("(NEEDED)"))
        .filter_map(|line| Some(line.split_once('[')?.1.split_once(']')?.0.to_owned()))
        .collect();
    let extra: Vec<&String> = needed
        .iter()
        .filter(|library| !GLIBC_LIBRARIES.contains(&library.as_str()))
        .collect();
    if !extra.is_empty() {
        return Err(format!("{name} needs libraries beyond glibc: {extra:?}"));
    }
    let bytes = std::fs::metadata(bootstrap)
        .map_err(|e| format!("{name}: {e}"))?
        .len();
    if bytes > BUDGET_BYTES {
        return Err(format!(
            "{name} is {bytes} bytes, over the 10 MiB budget (make bench breaks it down)"
        ));
    }
    Ok(format!(
        "aarch64 ELF, GLIBC <= {}, needs {} - {:.1} MiB (budget 10 MiB)",
        dotted(&glibc),
        needed.join(" "),
        bytes as f64 / 1_048_576.0
    ))
}

fn dotted(version: &[u32]) -> String {
    version
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This test's own binary is an x86-64 one: not what Lambda runs.
    #[test]
    fn a_binary_for_another_machine_is_not_deployable() {
        let this = std::env::current_exe().expect("this test binary");
        let problem = deployable(&this).expect_err("an x86-64 binary");
        assert!(problem.contains("not AArch64"), "{problem}");
    }
}

//! Tests whose settings must be in the environment before their process
//! starts: the trust store OpenSSL reads (`SSL_CERT_FILE`) and the endpoint
//! AWS's SDK reads (`AWS_ENDPOINT_URL_SECRETS_MANAGER`). A test process
//! cannot set them safely once its test threads run, so under a plain
//! `cargo test` such a test runs again, alone, in a child of the same test
//! binary started with them; the functions' code under test stays exactly
//! the code that reads them in production.

use std::process::Command;

/// Set in the child, so that it runs the test rather than start another.
const CHILD: &str = "TODO_TESTS_OWN_PROCESS";

/// Runs `test` (its path in the test binary, `suite::name`) in a child of
/// this test binary with `env` added to this process's environment, and
/// fails this test with the child's output unless the child ran exactly
/// that one test and it passed.
pub fn run_in_own_process(test: &str, env: &[(&str, String)]) {
    let said = run_tests_in_own_process(&[test, "--exact", "--test-threads=1"], env);
    assert!(
        said.contains("test result: ok. 1 passed"),
        "{test}, in a process of its own, failed:\n{said}"
    );
}

/// Runs this test binary with `args` (test names or filters, and libtest's
/// options) and `env` added to this process's environment; what it said,
/// one line per test (`test <path> ... ok`).
pub fn run_tests_in_own_process(args: &[&str], env: &[(&str, String)]) -> String {
    assert!(
        std::env::var_os(CHILD).is_none(),
        "{args:?}: its own process still lacks what it needs: {:?}",
        env.iter().map(|(name, _)| name).collect::<Vec<_>>()
    );
    let binary = std::env::current_exe().expect("this test binary");
    let ran = Command::new(&binary)
        .args(args)
        .arg("--nocapture")
        .envs(env.iter().map(|(name, value)| (name, value)))
        .env(CHILD, "1")
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", binary.display()));
    format!(
        "{}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    )
}

/// Where this process is root, runs `test` (as [`run_in_own_process`]
/// does) as an ordinary user, and answers true once it has passed there;
/// false where the caller runs the test's body itself: when this process
/// is no root, or the machine allows no user namespace (some container
/// runtimes; it says so, and the body runs as root).
///
/// The ordinary user is uid 1000 in a user namespace of its own
/// (util-linux's `unshare`), with no privilege over the machine (apt-get,
/// runuser and chown to another user fail; PostgreSQL sees a user, not
/// root), yet owning the files root's run made, so the builds and tools
/// already here serve it at the same paths, not built again.
pub fn ran_as_ordinary_user(test: &str) -> bool {
    const ORDINARY: [&str; 4] = ["--user", "--map-user=1000", "--map-group=1000", "--"];
    if !crate::is_root() || std::env::var_os(CHILD).is_some() {
        return false;
    }
    let namespaces = Command::new("unshare")
        .args(ORDINARY)
        .arg("true")
        .status()
        .is_ok_and(|status| status.success());
    if !namespaces {
        eprintln!("warning: no user namespace here (unshare --user failed): {test} runs as root");
        return false;
    }
    let binary = std::env::current_exe().expect("this test binary");
    let ran = Command::new("unshare")
        .args(ORDINARY)
        .arg(&binary)
        .args([test, "--exact", "--include-ignored", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap_or_else(|e| panic!("run {} as an ordinary user: {e}", binary.display()));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    assert!(
        said.contains("test result: ok. 1 passed"),
        "{test}, as an ordinary user, failed:\n{said}"
    );
    true
}

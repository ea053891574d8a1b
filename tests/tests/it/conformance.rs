//! Schemathesis (PyPI's, pinned in scripts/requirements.txt) against the
//! handlers behind a local server of this process's own: every check and
//! phase, 100 examples per operation, a fixed seed; once with a valid
//! token (where a run of 401s fails it: tests/schemathesis.toml) and once
//! with an invalid one, the two at once (one per core).
//!
//! Ignored in a plain `cargo test` (a minute, and the project's Python
//! tools): `make test` runs it, as `cargo test -- --ignored conformance::`
//! does once `make test` has installed schemathesis.

use std::process::Command;

use todo_tests::services::{Background, tools_path};
use todo_tests::{local_token, root, unique_user};

#[test]
#[ignore = "runs schemathesis, about a minute; run by `make test`"]
fn the_openapi_document_holds_against_the_handlers() {
    let (base, auth) = todo_tests::server::local_api(None);
    let dir = root().join("target/schemathesis");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The token first, on its own: a token that does not work would turn
    // the valid-token pass into a run of 401s.
    let token = local_token(&auth, &unique_user("conformance"), 3600).expect("a token");
    let status = ureq::get(&format!("{base}/api/tasks"))
        .header("Authorization", &format!("Bearer {token}"))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .map(|reply| reply.status().as_u16());
    assert_eq!(
        status.ok(),
        Some(200),
        "the conformance token must be accepted"
    );
    let pass = |label: &str, token: &str, config: &[&str]| {
        let log = dir.join(format!("{label}.log"));
        let mut command = Command::new("schemathesis");
        command
            .env("PATH", tools_path())
            .args(config)
            .arg("run")
            .arg(format!("{base}/openapi.json"))
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args([
                "--checks",
                "all",
                "--max-examples",
                "100",
                "--seed",
                "20261126",
            ])
            .args(["--report", "json", "--report-json-path"])
            .arg(dir.join(format!("{label}.json")))
            .current_dir(root());
        (
            label.to_owned(),
            log.clone(),
            Background::spawn("schemathesis", command, &log, false),
        )
    };
    let config = root().join("tests/schemathesis.toml").display().to_string();
    let runs = [
        pass("valid", &token, &["--config-file", &config]),
        pass("invalid", "not-a-jwt", &[]),
    ];
    let mut failed = Vec::new();
    for (label, log, mut run) in runs {
        let passed = run.wait();
        println!(
            "\n--- schemathesis, {label} token ---\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        if !passed {
            failed.push(label);
        }
    }
    assert!(
        failed.is_empty(),
        "schemathesis failed with the {failed:?} token"
    );
}

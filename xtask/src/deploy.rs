//! `cargo xtask deploy` (`make deploy`, `ENV=prod` for production): `sam
//! build`, `sam deploy` of the samconfig.toml environment, the migrations
//! (the migrate function, invoked in AWS), then the stack's URLs. Needs AWS
//! credentials; the first deploy of an environment is `sam deploy --guided`
//! (docs/deploy.md), which saves the parameters this one reuses.
//! `SAM_CLI` names another `sam` (deploy-check runs this with a stand-in
//! that records its calls).

use std::path::PathBuf;

use todo_tests::services::venv_bin;
use todo_tests::{output_of, root};

use crate::arm64::TARGET;
use crate::command::{check, tool};
use crate::install::install;
use crate::phases::Phases;

pub fn all(phases: &mut Phases) {
    let environment = std::env::var("ENV")
        .ok()
        .filter(|environment| !environment.is_empty())
        .unwrap_or_else(|| "default".into());
    let stack = stack_name(&environment);
    install(&["tools", "sam", "cargo-lambda"]);
    install(&["rust-target", TARGET]);
    let sam = std::env::var_os("SAM_CLI").map_or_else(|| venv_bin().join("sam"), PathBuf::from);
    let config = ["--config-env", environment.as_str()];

    phases.step(&format!("sam build ({environment})"));
    check(tool(&sam).arg("build").args(config), "sam build");

    phases.step(&format!("sam deploy: stack {stack}"));
    check(tool(&sam).arg("deploy").args(config), "sam deploy");

    phases.step("migrations (the migrate function)");
    let said = output_of(
        tool(&sam)
            .args([
                "remote",
                "invoke",
                "MigrateFunction",
                "--stack-name",
                &stack,
            ])
            .args(config)
            .args(["--output", "text"]),
        "sam remote invoke MigrateFunction",
    );
    println!("{said}");
    assert!(
        said.contains("\"applied\""),
        "migrate did not answer {{\"applied\": [...]}}"
    );

    phases.step("where it is");
    check(
        tool(&sam)
            .args(["list", "stack-outputs", "--stack-name", &stack])
            .args(config)
            .args(["--output", "table"]),
        "sam list stack-outputs",
    );
}

/// The stack samconfig.toml names for `environment`.
fn stack_name(environment: &str) -> String {
    let text = std::fs::read_to_string(root().join("samconfig.toml")).expect("samconfig.toml");
    let config: toml::Table = toml::from_str(&text).expect("samconfig.toml is TOML");
    config
        .get(environment)
        .and_then(|table| {
            table
                .get("deploy")?
                .get("parameters")?
                .get("stack_name")?
                .as_str()
        })
        .unwrap_or_else(|| panic!("samconfig.toml names no stack for {environment}"))
        .to_owned()
}

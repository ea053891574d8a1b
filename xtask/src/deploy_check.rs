//! `cargo xtask deploy-check` (`make deploy-check`): the deployment, checked
//! offline (nothing is deployed). cfn-lint and `sam validate --lint` on
//! template.yaml; the GitHub workflows against GitHub's schema and zizmor,
//! dependabot's file against its schema, the deploy role's template with
//! cfn-lint, both templates with checkov (each finding fixed or suppressed
//! in place with its reason); SAM's transform read back
//! (scripts/check-template.py); `make deploy` against a stand-in `sam`;
//! then `sam build` of every function (cargo-lambda + Zig, arm64, release,
//! vendored OpenSSL), and each built `bootstrap` what Lambda runs
//! ([`arm64::deployable`]). Part of `make test-full`, which CI runs.

use std::process::{Child, Command};

use todo_tests::root;
use todo_tests::services::venv_bin;

use crate::arm64;
use crate::command::{check, tool};
use crate::install::{Pending, install};
use crate::phases::{Phases, passed};

const TOOLS: [&str; 6] = [
    "sam",
    "cfn-lint",
    "check-jsonschema",
    "zizmor",
    "checkov",
    "cargo-lambda",
];

/// The functions as the template names them.
const FUNCTIONS: [&str; 5] = [
    "TasksCollectionFunction",
    "TasksItemFunction",
    "HealthFunction",
    "DocsFunction",
    "MigrateFunction",
];

/// Every phase; `prebuild` is the arm64 build `make test-full` started
/// while the tests ran (`test::Scope::ThenDeployCheck`), waited for before
/// this one builds (and finds everything up to date).
pub fn all(phases: &mut Phases, prebuild: Option<Pending<Option<Child>>>) {
    phases.step("the tools (SAM CLI, cfn-lint, check-jsonschema, zizmor, checkov, cargo-lambda), pinned, into .local/venv");
    let mut tools = vec!["tools"];
    tools.extend(TOOLS);
    install(&tools);

    phases.step("cfn-lint template.yaml and the deploy role's template");
    check(
        tool("cfn-lint").args(["template.yaml", ".github/aws-deploy-role.yaml"]),
        "cfn-lint",
    );
    passed("cfn-lint: clean");

    phases.step("the GitHub workflows: GitHub's schema, zizmor; dependabot's file: its schema");
    let workflows: Vec<_> = std::fs::read_dir(root().join(".github/workflows"))
        .expect(".github/workflows")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yml"))
        .collect();
    check(
        tool("check-jsonschema")
            .args(["--builtin-schema", "vendor.github-workflows"])
            .args(&workflows),
        "check-jsonschema (the workflows)",
    );
    check(
        tool("check-jsonschema").args([
            "--builtin-schema",
            "vendor.dependabot",
            ".github/dependabot.yml",
        ]),
        "check-jsonschema (dependabot)",
    );
    // --offline: no GitHub API here; the audits that need none all run.
    check(
        tool("zizmor").args(["--offline", "--no-progress", ".github/workflows"]),
        "zizmor",
    );
    passed("workflows and dependabot: valid, no zizmor finding");

    phases.step("checkov: template.yaml and the deploy role's template");
    check(
        tool("checkov")
            .args(["--quiet", "--compact", "--skip-download"])
            .args(["--framework", "cloudformation"])
            .args(["-f", "template.yaml", "-f", ".github/aws-deploy-role.yaml"]),
        "checkov",
    );
    passed("checkov: no failed check (suppressions in place, each with its reason)");

    phases.step("sam validate --lint");
    check(
        tool("sam").args(["validate", "--lint"]),
        "sam validate --lint",
    );
    passed("sam validate --lint: clean");

    phases.step(
        "SAM's transform: CORS, $default, access log, tracing, log levels, concurrency, alarms",
    );
    check(
        tool(venv_bin().join("python")).arg("scripts/check-template.py"),
        "scripts/check-template.py",
    );
    passed("the template after SAM's transform");

    phases.step("make deploy, with a stand-in for sam that records its calls");
    make_deploy_with_a_stand_in();

    phases.step("the functions for arm64, release: one cargo build for the five");
    if let Some(Some(mut prebuild)) = prebuild.map(Pending::wait) {
        // Its log is target/arm64-build.log; the build below shows what failed.
        let _ = prebuild.wait();
    }
    check(&mut arm64::build(&[]), "the arm64 build");

    phases.step("sam build (arm64, release)");
    check(tool("sam").arg("build"), "sam build");

    phases.step("the built bootstraps");
    for function in FUNCTIONS {
        let bootstrap = root().join(format!(".aws-sam/build/{function}/bootstrap"));
        match arm64::deployable(&bootstrap) {
            Ok(what) => passed(&format!("{function}: {what}")),
            Err(problem) => panic!("{problem}"),
        }
    }
}

/// `make deploy` for each environment, its `sam` a script that records its
/// calls: it builds, deploys that environment's stack, migrates, and prints
/// the outputs, in that order.
fn make_deploy_with_a_stand_in() {
    let dir = std::env::temp_dir().join(todo_tests::unique_user("todo-sam-stand-in"));
    std::fs::create_dir_all(&dir).expect("the stand-in's folder");
    let sam = dir.join("sam");
    std::fs::write(
        &sam,
        "#!/usr/bin/env bash\n\
         echo \"sam $*\" >>\"${0%/*}/calls\"\n\
         [ \"$1 $2\" = \"remote invoke\" ] && echo '{\"applied\": []}'\n\
         exit 0\n",
    )
    .expect("the stand-in");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&sam, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for environment in ["default", "prod"] {
        let calls = dir.join("calls");
        std::fs::write(&calls, "").expect("the calls file");
        let ran = Command::new("make")
            .args(["-s", "deploy"])
            .env("SAM_CLI", &sam)
            .env("ENV", environment)
            .current_dir(root())
            .output()
            .expect("make deploy");
        let stack = if environment == "prod" {
            "todo-api-prod"
        } else {
            "todo-api-dev"
        };
        let expected = format!(
            "sam build --config-env {environment}\n\
             sam deploy --config-env {environment}\n\
             sam remote invoke MigrateFunction --stack-name {stack} --config-env {environment} --output text\n\
             sam list stack-outputs --stack-name {stack} --config-env {environment} --output table\n"
        );
        let called = std::fs::read_to_string(&calls).unwrap_or_default();
        assert!(
            ran.status.success() && called == expected,
            "make deploy ENV={environment} ran:\n{called}\n{}",
            String::from_utf8_lossy(&ran.stderr)
        );
        passed(&format!(
            "make deploy ENV={environment}: build, deploy {stack}, migrate, outputs"
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

//! The concurrency suite and the end-to-end suite again, with the API
//! reaching PostgreSQL through PgBouncer in transaction mode, as it reaches
//! Neon's pooled endpoint in production: on a database of their own,
//! migrated through the pooler as a user with only the pooled URLs would,
//! with an API role of its own (`migrate` refuses one role for two
//! databases: it would reach both databases' rows).
//!
//! Each suite runs in a child of this test binary whose database settings
//! name the pooler (`own_process.rs`); its assertions read rows straight
//! from the server (`TEST_DIRECT_DATABASE_URL`: transaction mode has no
//! room for their named statements). Ignored in a plain `cargo test` (it
//! starts a `cargo lambda watch`); `make test` runs it.

use todo_tests::pooler::{Pooler, PoolerSettings};
use todo_tests::services::{env_for_a_child, random_secret, shared_secrets_manager};
use todo_tests::{
    admin_database_url, binary, database_url, drop_database, output_of, run_tests_in_own_process,
    runtime, scratch_database, secrets_manager_of_this_process,
};

#[test]
#[ignore = "needs PgBouncer and `cargo lambda watch`; run by `make test`"]
fn the_concurrency_and_end_to_end_suites_through_pgbouncer() {
    let runtime = runtime();
    let (admin, database) = runtime.block_on(scratch_database("pooled"));
    let through = ThroughThePooler::start(&database);

    output_of(
        std::process::Command::new(binary("migrate"))
            .env("MIGRATE_DATABASE_URL", &through.owner_url)
            .env("DATABASE_URL", &through.api_url),
        "migrate through the pooler",
    );

    let env = through.env();
    passed_in_own_process("the concurrency suite", &["tasks::concurrent"], &env);

    let mut env = env;
    if secrets_manager_of_this_process().is_empty() {
        env.extend_from_slice(&shared_secrets_manager().env);
    }
    // All but the JWKS outage test (its fixture's outage is single-use, and
    // it is about the JWKS), the 4,800 large responses (about the watch
    // server, not the database; 15 s) and the /docs page.
    passed_in_own_process(
        "the end-to-end suite",
        &[
            "--ignored",
            "e2e::",
            "--skip",
            "e2e::jwks_outage",
            "--skip",
            "e2e::large_responses",
            "--skip",
            "e2e::the_docs_page",
        ],
        &env,
    );
    runtime.block_on(drop_database(&admin, &database));
}

/// A pooler in front of the test server, and the URLs through it (and
/// straight) for one database and an API role of its own.
struct ThroughThePooler {
    _pooler: Pooler,
    owner_url: String,
    api_url: String,
    direct_api_url: String,
}

impl ThroughThePooler {
    fn start(database: &str) -> Self {
        let owner: tokio_postgres::Config = admin_database_url().parse().expect("the owner's URL");
        let api: tokio_postgres::Config = database_url().parse().expect("the API's URL");
        let owner_user = owner.get_user().expect("the owner's name").to_owned();
        // The server trusts its owner from loopback; the pooler's clients
        // log in with SCRAM, so it gets a password of its own.
        let owner_password = random_secret(18);
        let api_password = String::from_utf8(api.get_password().expect("a password").to_vec())
            .expect("a UTF-8 password");
        let api_role = format!("todo_api_{database}");
        let port = *owner.get_ports().first().expect("the server's port");
        let pooler = Pooler::start(
            port,
            &PoolerSettings {
                pool_size: 8,
                users: vec![
                    (owner_user.clone(), owner_password.clone()),
                    (api_role.clone(), api_password.clone()),
                ],
            },
        );
        ThroughThePooler {
            owner_url: pooler.url(&owner_user, &owner_password, database),
            api_url: pooler.url(&api_role, &api_password, database),
            direct_api_url: format!(
                "postgres://{api_role}:{api_password}@127.0.0.1:{port}/{database}?sslmode=disable"
            ),
            _pooler: pooler,
        }
    }

    /// What a child needs: this process's services, the database through
    /// the pooler in their place.
    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = env_for_a_child();
        env.extend([
            ("TEST_DATABASE_URL", self.api_url.clone()),
            ("TEST_ADMIN_DATABASE_URL", self.owner_url.clone()),
            ("TEST_DIRECT_DATABASE_URL", self.direct_api_url.clone()),
        ]);
        env
    }
}

/// Runs the tests `args` select in a child with `env`; passes when at least
/// one ran and none failed. Prints the child's verdicts, so its results are
/// counted with the run's.
fn passed_in_own_process(what: &str, args: &[&str], env: &[(&str, String)]) {
    let said = run_tests_in_own_process(args, env);
    for line in said.lines().filter(|line| line.starts_with("test ")) {
        println!("{line}");
    }
    let result = said
        .lines()
        .find(|line| line.starts_with("test result:"))
        .unwrap_or_else(|| panic!("{what} through the pooler did not finish:\n{said}"));
    assert!(
        result.starts_with("test result: ok.") && !result.contains(" 0 passed"),
        "{what} through the pooler: {result}"
    );
}

//! Every function refuses a bad configuration at start-up, naming the
//! variable: a misconfigured deployment fails its first invocation loudly
//! instead of answering 500s, or losing its logs, metrics or traces,
//! silently. Each case runs a function's binary with only these settings.

use std::process::Command;

use todo_tests::binary;

/// Enough for the task functions to get past the database and tokens.
const DB: (&str, &str) = ("DATABASE_URL", "postgres://db/x");
const SECRET: (&str, &str) = ("BETTER_AUTH_SECRET", "a-secret-of-at-least-32-characters");

/// The settings a developer's shell or the test command may hold, which
/// would otherwise satisfy or spoil a case.
const CLEARED: [&str; 12] = [
    "DATABASE_URL",
    "MIGRATE_DATABASE_URL",
    "BETTER_AUTH_SECRET",
    "BETTER_AUTH_URL",
    "BETTER_AUTH_JWKS",
    "BETTER_AUTH_JWKS_URL",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "RUST_LOG",
    "AWS_LAMBDA_LOG_LEVEL",
    "AWS_LAMBDA_LOG_FORMAT",
    "AWS_XRAY_DAEMON_ADDRESS",
];

/// `function`, started with only `settings`, must fail saying `expected`.
fn refuses(function: &str, expected: &str, settings: &[(&str, &str)]) {
    let mut command = Command::new(binary(function));
    for name in CLEARED {
        command.env_remove(name);
    }
    let ran = command
        .envs(settings.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{function}: {e}"));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    assert!(
        !ran.status.success(),
        "{function} started without a valid configuration ({settings:?})"
    );
    assert!(said.contains(expected), "{function} said: {said}");
}

/// One test per case: the function, what it must say, its settings.
macro_rules! refusals {
    ($($name:ident: $function:literal, $expected:literal, [$($setting:expr),*];)*) => {
        $(
            #[test]
            fn $name() {
                refuses($function, $expected, &[$($setting),*]);
            }
        )*
    };
}

refusals! {
    tasks_collection_without_a_database: "tasks-collection", "DATABASE_URL is not set", [];
    health_without_a_database: "health", "DATABASE_URL is not set", [];
    tasks_item_without_a_way_to_verify_tokens: "tasks-item", "BETTER_AUTH_SECRET is not set", [DB];
    a_short_secret: "tasks-collection", "BETTER_AUTH_SECRET must be at least 32 characters",
        [DB, ("BETTER_AUTH_SECRET", "too-short")];
    a_pool_of_none: "health", "DB_POOL_SIZE must be a whole number", [DB, ("DB_POOL_SIZE", "0")];
    migrate_without_a_database: "migrate", "DATABASE_URL is not set", [];
    migrate_with_an_upper_case_api_role: "migrate", "the API's role must be lower-case",
        [("MIGRATE_DATABASE_URL", "postgres://owner@db/x"), ("DATABASE_URL", "postgres://Api-Role@db/x")];
    migrate_with_the_owner_as_the_api: "migrate", "DATABASE_URL names owner, MIGRATE_DATABASE_URL's role",
        [("MIGRATE_DATABASE_URL", "postgres://owner@db/x"), ("DATABASE_URL", "postgres://owner@db-pooler/x")];
    migrate_to_a_remote_owner_without_tls: "migrate",
        "MIGRATE_DATABASE_URL reaches db.example.com without sslmode=require",
        [("MIGRATE_DATABASE_URL", "postgres://owner@db.example.com/x"), ("DATABASE_URL", "postgres://api@db.example.com/x")];
    a_remote_database_without_tls: "health", "DATABASE_URL reaches db.example.com without sslmode=require",
        [("DATABASE_URL", "postgres://user:pw@db.example.com/app")];
    an_aws_metrics_namespace: "docs", "METRICS_NAMESPACE must not start with ':' or 'AWS/'",
        [("METRICS_NAMESPACE", "AWS/Lambda")];
    a_jwks_without_an_issuer: "tasks-item", "JWT_ISSUER is not set, and neither is BETTER_AUTH_URL",
        [DB, ("BETTER_AUTH_JWKS_URL", "https://keys.example.com/jwks")];
    // How a function reports: a bad value lost logs or traces silently.
    a_log_level_lambda_does_not_know: "docs", "AWS_LAMBDA_LOG_LEVEL must be one level",
        [("AWS_LAMBDA_LOG_LEVEL", "verbose")];
    per_target_log_directives: "health", "RUST_LOG must be one level",
        [DB, ("RUST_LOG", "info,hyper=trace")];
    a_log_format_lambda_does_not_know: "tasks-collection", "AWS_LAMBDA_LOG_FORMAT must be JSON or Text",
        [DB, SECRET, ("AWS_LAMBDA_LOG_FORMAT", "yaml")];
    an_xray_daemon_named_not_addressed: "tasks-item", "AWS_XRAY_DAEMON_ADDRESS must be an IP address and port",
        [DB, SECRET, ("AWS_XRAY_DAEMON_ADDRESS", "xray.local:2000")];
    // migrate reads how it reports only as a Lambda (the Runtime API's
    // address set; it stops before it would call it).
    migrate_as_a_lambda_with_a_bad_log_format: "migrate", "AWS_LAMBDA_LOG_FORMAT must be JSON or Text",
        [("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9"), DB, ("AWS_LAMBDA_LOG_FORMAT", "yaml")];
}

/// Lambda's own values pass: its log levels in its spelling (`FATAL`
/// included), both formats, the daemon address as Lambda sets it. Each
/// function gets past its settings and stops only at the Runtime API,
/// which nothing serves here.
#[test]
fn lambdas_own_values_are_accepted() {
    let lambda: &[(&str, &str)] = &[
        ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9"),
        (
            "AWS_XRAY_DAEMON_ADDRESS",
            "udp:169.254.79.129:2000 tcp:169.254.79.129:2000",
        ),
    ];
    for (level, format) in [("FATAL", "JSON"), ("debug", "Text"), ("WARN", "json")] {
        let ran = Command::new(binary("docs"))
            .envs(lambda.iter().copied())
            .env("AWS_LAMBDA_LOG_LEVEL", level)
            .env("AWS_LAMBDA_LOG_FORMAT", format)
            .env_remove("METRICS_NAMESPACE")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&ran.stderr).into_owned()
            + &String::from_utf8_lossy(&ran.stdout);
        assert!(
            !said.contains("configuration error"),
            "{level} {format}: {said}"
        );
    }
}

//! Every function refuses a bad configuration at start-up, naming the
//! variable: a misconfigured deployment fails its first invocation loudly
//! instead of answering 500s, or losing its logs, metrics or traces,
//! silently. Each case runs a function's binary with only these settings.

use std::process::Command;

use todo_tests::binary;

/// What the function must say, the function, its settings.
type Refusal = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// Enough for the task functions to get past the database and tokens.
const TASKS: [(&str, &str); 2] = [
    ("DATABASE_URL", "postgres://db/x"),
    ("BETTER_AUTH_SECRET", "a-secret-of-at-least-32-characters"),
];

const CASES: [Refusal; 17] = [
    ("DATABASE_URL is not set", "tasks-collection", &[]),
    ("DATABASE_URL is not set", "health", &[]),
    (
        "BETTER_AUTH_SECRET is not set",
        "tasks-item",
        &[("DATABASE_URL", "postgres://db/x")],
    ),
    (
        "BETTER_AUTH_SECRET must be at least 32 characters",
        "tasks-collection",
        &[
            ("DATABASE_URL", "postgres://db/x"),
            ("BETTER_AUTH_SECRET", "too-short"),
        ],
    ),
    (
        "DB_POOL_SIZE must be a whole number",
        "health",
        &[("DATABASE_URL", "postgres://db/x"), ("DB_POOL_SIZE", "0")],
    ),
    ("DATABASE_URL is not set", "migrate", &[]),
    (
        "the API's role must be lower-case",
        "migrate",
        &[
            ("MIGRATE_DATABASE_URL", "postgres://owner@db/x"),
            ("DATABASE_URL", "postgres://Api-Role@db/x"),
        ],
    ),
    (
        "DATABASE_URL names owner, MIGRATE_DATABASE_URL's role",
        "migrate",
        &[
            ("MIGRATE_DATABASE_URL", "postgres://owner@db/x"),
            ("DATABASE_URL", "postgres://owner@db-pooler/x"),
        ],
    ),
    (
        "MIGRATE_DATABASE_URL reaches db.example.com without sslmode=require",
        "migrate",
        &[
            ("MIGRATE_DATABASE_URL", "postgres://owner@db.example.com/x"),
            ("DATABASE_URL", "postgres://api@db.example.com/x"),
        ],
    ),
    (
        "DATABASE_URL reaches db.example.com without sslmode=require",
        "health",
        &[("DATABASE_URL", "postgres://user:pw@db.example.com/app")],
    ),
    (
        "METRICS_NAMESPACE must not start with ':' or 'AWS/'",
        "docs",
        &[("METRICS_NAMESPACE", "AWS/Lambda")],
    ),
    (
        "JWT_ISSUER is not set, and neither is BETTER_AUTH_URL",
        "tasks-item",
        &[
            ("DATABASE_URL", "postgres://db/x"),
            ("BETTER_AUTH_JWKS_URL", "https://keys.example.com/jwks"),
        ],
    ),
    // How a function reports: a bad value lost logs or traces silently.
    (
        "AWS_LAMBDA_LOG_LEVEL must be one level",
        "docs",
        &[("AWS_LAMBDA_LOG_LEVEL", "verbose")],
    ),
    (
        "RUST_LOG must be one level",
        "health",
        &[
            ("DATABASE_URL", "postgres://db/x"),
            ("RUST_LOG", "info,hyper=trace"),
        ],
    ),
    (
        "AWS_LAMBDA_LOG_FORMAT must be JSON or Text",
        "tasks-collection",
        &[TASKS[0], TASKS[1], ("AWS_LAMBDA_LOG_FORMAT", "yaml")],
    ),
    (
        "AWS_XRAY_DAEMON_ADDRESS must be an IP address and port",
        "tasks-item",
        &[
            TASKS[0],
            TASKS[1],
            ("AWS_XRAY_DAEMON_ADDRESS", "xray.local:2000"),
        ],
    ),
    // migrate reads how it reports only as a Lambda (the Runtime API's
    // address set; it stops before it would call it).
    (
        "AWS_LAMBDA_LOG_FORMAT must be JSON or Text",
        "migrate",
        &[
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9"),
            ("DATABASE_URL", "postgres://db/x"),
            ("AWS_LAMBDA_LOG_FORMAT", "yaml"),
        ],
    ),
];

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

#[test]
fn functions_refuse_a_bad_configuration_naming_the_variable() {
    for (expected, function, settings) in CASES {
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

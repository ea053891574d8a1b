//! The Secrets Manager path of a cold start, against a local emulator (moto,
//! started by the test command; the functions' own signed client reaches it
//! through `AWS_ENDPOINT_URL_SECRETS_MANAGER`, and creates the secrets with
//! the same client). No mocks: real HTTP, real secrets.

use serde_json::json;
use todo_shared::config::{AuthConfig, ConfigError, DbConfig};
use todo_shared::outside::secrets::Environment;
use todo_shared::web::handlers::TasksState;
use todo_tests::services;
use todo_tests::*;

/// The emulator's URL, when this process's environment points AWS's SDK at
/// it (the test command's does). Else `None`, once `test` has passed in a
/// process of its own whose environment does, with a Secrets Manager of
/// this process's own (a plain `cargo test`).
fn emulator(test: &str) -> Option<String> {
    if let Ok(url) = std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER") {
        return Some(url);
    }
    let mut env = services::env_for_a_child();
    env.extend_from_slice(&services::shared_secrets_manager().env);
    run_in_own_process(&format!("secrets::{test}"), &env);
    None
}

#[tokio::test]
async fn secret_arns_stand_in_for_the_plain_variables() {
    if emulator("secret_arns_stand_in_for_the_plain_variables").is_none() {
        return;
    }
    let label = unique_user("secrets");
    let auth_secret = format!("secret-from-secrets-manager-{label}");
    let db_arn = create_secret(&format!("{label}/database-url"), &database_url()).await;
    let auth_arn = create_secret(&format!("{label}/auth"), &format!("{auth_secret}\n")).await;

    // Only the ARNs are configured, as in AWS; plain values lose to secrets.
    let lookup = |name: &str| match name {
        "DATABASE_URL_SECRET_ARN" => Some(db_arn.clone()),
        "BETTER_AUTH_SECRET_ARN" => Some(auth_arn.clone()),
        "DATABASE_URL" => Some("postgres://nobody@127.0.0.1:1/wrong".into()),
        _ => None,
    };
    let env = Environment::load_with(lookup)
        .await
        .expect("secrets resolve");
    assert_eq!(env.get("DATABASE_URL"), Some(database_url()));
    assert_eq!(
        env.get("BETTER_AUTH_SECRET"),
        Some(auth_secret.clone()),
        "trimmed"
    );

    let db = DbConfig::from_lookup(env.lookup()).unwrap();
    let auth = AuthConfig::from_lookup(env.lookup()).unwrap();
    let state = TasksState::new(&db, &auth).unwrap();
    let user = unique_user("secret-user");
    let token = sign(&auth_secret, &json!({"sub": user, "exp": now() + 900}));
    let reply = call(
        &state,
        &Event::fixture("tasks-create")
            .bearer(&token)
            .body_json(&json!({"title": "from secrets"})),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.json);
    assert_eq!(count_tasks(&pg().await, &user).await, 1);
}

#[tokio::test]
async fn an_unreadable_secret_stops_start_up_naming_its_variable() {
    if emulator("an_unreadable_secret_stops_start_up_naming_its_variable").is_none() {
        return;
    }
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:does-not-exist-AbCdEf";
    let lookup = |name: &str| (name == "BETTER_AUTH_SECRET_ARN").then(|| missing.to_owned());
    let err = ConfigError::from(
        Environment::load_with(lookup)
            .await
            .err()
            .expect("an error"),
    );
    assert_eq!(err.variable, "BETTER_AUTH_SECRET_ARN");
    assert!(
        err.to_string()
            .contains("could not be read from Secrets Manager"),
        "{err}"
    );
}

#[tokio::test]
async fn without_arns_nothing_is_resolved() {
    let lookup = |name: &str| (name == "DATABASE_URL").then(|| "postgres://local/db".to_owned());
    let env = Environment::load_with(lookup).await.unwrap();
    assert_eq!(
        env.get("DATABASE_URL").as_deref(),
        Some("postgres://local/db")
    );
    assert_eq!(env.get("BETTER_AUTH_SECRET"), None);
}

/// The credentials are aws-config's to find, not read by hand from three
/// variables: `migrate` run with none of `AWS_ACCESS_KEY_ID` and friends,
/// only a container credentials endpoint (as ECS, CodeBuild or a local SSO
/// helper provide it; here a server of the test's own), reads its secret
/// from the emulator and migrates. The endpoint is asked with its
/// authorization token, and the call to Secrets Manager is signed with the
/// key it handed out.
#[tokio::test]
async fn credentials_come_from_aws_configs_provider_chain() {
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let Some(emulator) = emulator("credentials_come_from_aws_configs_provider_chain") else {
        return;
    };
    let emulator_address = emulator
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let label = unique_user("container-credentials");
    let arn = create_secret(&format!("{label}/migrate-url"), &admin_database_url()).await;

    // The container credentials endpoint: records each request it gets.
    let asked = Arc::new(Mutex::new(Vec::<String>::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let credentials_port = listener.local_addr().unwrap().port();
    let seen = asked.clone();
    let credentials = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = vec![0u8; 4096];
            let n = socket.read(&mut request).await.unwrap_or(0);
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&request[..n]).into_owned());
            let body = json!({
                "AccessKeyId": "ASIACONTAINEREXAMPLE",
                "SecretAccessKey": "container-secret-access-key",
                "Token": "container-session-token",
                "Expiration": "2099-01-01T00:00:00Z",
            })
            .to_string();
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    // A pass-through to the emulator that keeps what the client sent.
    let sent = Arc::new(Mutex::new(Vec::<u8>::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let recorder_port = listener.local_addr().unwrap().port();
    let record = sent.clone();
    let recorder = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = tokio::net::TcpStream::connect(&emulator_address)
                .await
                .unwrap();
            let (mut client_read, mut client_write) = client.into_split();
            let (mut upstream_read, mut upstream_write) = upstream.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut upstream_read, &mut client_write).await;
            });
            let record = record.clone();
            tokio::spawn(async move {
                let mut chunk = [0u8; 8192];
                while let Ok(n @ 1..) = client_read.read(&mut chunk).await {
                    record.lock().unwrap().extend_from_slice(&chunk[..n]);
                    if upstream_write.write_all(&chunk[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });

    let home = std::env::temp_dir().join(format!("{label}-home"));
    std::fs::create_dir_all(&home).unwrap();
    let migrate = binary("migrate");
    let output = tokio::process::Command::new(&migrate)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        // No profile of the machine's: an empty home.
        .env("HOME", &home)
        .env("AWS_REGION", "us-east-1")
        .env(
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            format!("http://127.0.0.1:{recorder_port}"),
        )
        .env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("http://127.0.0.1:{credentials_port}/v2/credentials/test"),
        )
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-auth-token")
        .env("MIGRATE_DATABASE_URL_SECRET_ARN", &arn)
        .env("DATABASE_URL", database_url())
        .output()
        .await
        .unwrap_or_else(|e| panic!("run {} (built by make test): {e}", migrate.display()));
    credentials.abort();
    recorder.abort();
    let _ = std::fs::remove_dir_all(&home);

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "migrate: {stdout}{stderr}");
    assert!(stdout.contains("schema is up to date"), "{stdout}");
    let asked = asked.lock().unwrap().join("\n---\n");
    assert!(
        asked.starts_with("GET /v2/credentials/test ")
            && asked
                .to_ascii_lowercase()
                .contains("authorization: container-auth-token"),
        "the container endpoint was asked as aws-config asks it: {asked}"
    );
    let sent = String::from_utf8_lossy(&sent.lock().unwrap()).to_ascii_lowercase();
    assert!(
        sent.contains("credential=asiacontainerexample/")
            && sent.contains("x-amz-security-token: container-session-token")
            && sent.contains("x-amz-target: secretsmanager.getsecretvalue"),
        "GetSecretValue signed with the container's key: {sent}"
    );
}

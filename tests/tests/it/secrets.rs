//! The Secrets Manager path of a cold start, against a local emulator (moto,
//! started by the test command; the functions' own signed client reaches it
//! through `AWS_ENDPOINT_URL_SECRETS_MANAGER`, and creates the secrets with
//! the same client). No mocks: real HTTP, real secrets.

use serde_json::json;
use todo_shared::config::{AuthConfig, DbConfig};
use todo_shared::handlers::TasksState;
use todo_shared::secrets::Environment;
use todo_tests::*;

fn emulator() -> String {
    std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER").expect(
        "AWS_ENDPOINT_URL_SECRETS_MANAGER is not set: run the tests with `make test`, \
         which starts a local Secrets Manager (moto)",
    )
}

#[tokio::test]
async fn secret_arns_stand_in_for_the_plain_variables() {
    assert!(!emulator().is_empty());
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
    assert!(!emulator().is_empty());
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:does-not-exist-AbCdEf";
    let lookup = |name: &str| (name == "BETTER_AUTH_SECRET_ARN").then(|| missing.to_owned());
    let err = Environment::load_with(lookup)
        .await
        .err()
        .expect("an error");
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

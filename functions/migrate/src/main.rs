//! `migrate`: applies pending schema migrations to the database. A no-op when
//! there are none, and safe to run concurrently.
//!
//! Locally (and in the tests) it is a command that runs once and exits. In
//! AWS it is a Lambda function outside the API, invoked after every deploy
//! (`sam remote invoke MigrateFunction`); each invocation applies what is
//! pending and answers `{"applied": [versions]}`.

use std::process::ExitCode;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use todo_shared::config::{ConfigError, Reporting};
use todo_shared::migrations::{self, NeonEndpoint, Target};
use todo_shared::outside::db::Db;
use todo_shared::outside::secrets::Environment;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // First, while the process has one thread: the CA bundle's roots are
    // then parsed when a handshake needs one, not all at start-up.
    trust_roots::defer_loading();
    let in_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let result = if in_lambda {
        serve().await
    } else {
        run_once().await
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("migrate: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `migrate`'s settings, read once from the environment with its secrets
/// resolved: how it reports (as a Lambda, [`serve`]), then where it
/// migrates (the pool, as the owner, and the API's login role).
async fn settings(in_lambda: bool) -> Result<(Db, Target), Error> {
    let env = Environment::load().await.map_err(ConfigError::from)?;
    if in_lambda {
        todo_shared::web::logging::init(&Reporting::from_lookup(env.lookup())?);
    }
    let target = Target::from_lookup(env.lookup())?;
    Ok((target.pool()?, target))
}

/// Says which of Neon's endpoints the API's DATABASE_URL names (a warning
/// for the direct one); the same words for the Lambda's answer.
fn say_endpoint(target: &Target) -> Option<&'static str> {
    let endpoint = target.api_endpoint?;
    let advice = endpoint.advice();
    let warning = if endpoint == NeonEndpoint::Direct {
        "warning: "
    } else {
        ""
    };
    eprintln!("migrate: {warning}{advice}");
    Some(advice)
}

async fn run_once() -> Result<(), Error> {
    let (db, target) = settings(false).await?;
    say_endpoint(&target);
    let applied = migrations::run_on(&db, target.api_login.as_ref()).await?;
    if applied.is_empty() {
        println!("migrate: schema is up to date");
    } else {
        println!("migrate: applied {applied:?}");
    }
    Ok(())
}

async fn serve() -> Result<(), Error> {
    let (db, target) = settings(true).await?;
    let endpoint = say_endpoint(&target);
    let (db, login) = (&db, target.api_login.as_ref());
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let applied = migrations::run_on(db, login).await?;
        lambda_runtime::tracing::info!(?applied, "migrations");
        let mut answer = json!({ "applied": applied });
        if let Some(advice) = endpoint {
            // In `make deploy`'s output, which prints this answer.
            answer["database_url"] = json!(advice);
        }
        Ok::<_, Error>(answer)
    }))
    .await
}

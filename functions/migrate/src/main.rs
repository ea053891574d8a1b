//! `migrate`: applies pending schema migrations to `DATABASE_URL`, then exits.
//! Safe to run again (a no-op) and to run concurrently.

use std::process::ExitCode;

use todo_shared::config::DbConfig;
use todo_shared::db::Db;
use todo_shared::migrations;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let result = async {
        let db = Db::new(&DbConfig::from_env()?)?;
        Ok::<_, Box<dyn std::error::Error>>(migrations::run_on(&db).await?)
    };
    match result.await {
        Ok(applied) if applied.is_empty() => println!("migrate: schema is up to date"),
        Ok(applied) => println!("migrate: applied {applied:?}"),
        Err(error) => {
            eprintln!("migrate: {error}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

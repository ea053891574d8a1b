//! `cargo xtask local-api HOST:PORT`: the API's handlers behind a plain local HTTP server
//! (see `todo_tests::server`), configured from the environment as the
//! functions are. For tests that need a URL without the Lambda emulator.
//! With `LOCAL_API_CORS_ORIGINS` (a `FrontendUrl` value), it answers CORS as
//! API Gateway does with the template's configuration.

use std::process::ExitCode;
use std::sync::Arc;

use todo_shared::config::TasksConfig;
use todo_tests::cors::Cors;
use todo_tests::server::{Functions, serve};

pub fn run(args: &[String]) -> ExitCode {
    let [address] = args else {
        eprintln!("usage: cargo xtask local-api HOST:PORT");
        return ExitCode::FAILURE;
    };
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(serve_on(address)),
        Err(error) => {
            eprintln!("local_api: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_on(address: &str) -> ExitCode {
    let started = match todo_shared::config::load::<TasksConfig>().await {
        Ok(config) => {
            todo_shared::web::logging::init(&config.reporting);
            Functions::start(&config).await
        }
        Err(error) => Err(error),
    };
    let functions = match started {
        Ok(functions) => Arc::new(functions),
        Err(error) => {
            eprintln!("local_api: {error}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("local_api: cannot listen on {address}: {error}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("local_api: serving on http://{address}");
    let cors = std::env::var("LOCAL_API_CORS_ORIGINS")
        .ok()
        .map(|origins| Arc::new(Cors::from_template(&origins)));
    match serve(listener, functions, cors).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("local_api: {error}");
            ExitCode::FAILURE
        }
    }
}

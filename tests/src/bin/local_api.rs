//! `local_api ADDRESS`: the API's handlers behind a plain local HTTP server
//! (see `todo_tests::server`), configured from the environment as the
//! functions are. For tests that need a URL without the Lambda emulator.

use std::process::ExitCode;
use std::sync::Arc;

use todo_tests::server::{Functions, serve};

#[tokio::main]
async fn main() -> ExitCode {
    todo_shared::logging::init();
    let Some(address) = std::env::args().nth(1) else {
        eprintln!("usage: local_api HOST:PORT");
        return ExitCode::FAILURE;
    };
    let functions = match Functions::from_env().await {
        Ok(functions) => Arc::new(functions),
        Err(error) => {
            eprintln!("local_api: {error}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(&address).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("local_api: cannot listen on {address}: {error}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("local_api: serving on http://{address}");
    match serve(listener, functions).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("local_api: {error}");
            ExitCode::FAILURE
        }
    }
}

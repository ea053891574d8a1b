//! Lambda function `tasks-item`: `GET`, `PUT`, `DELETE /api/tasks/{id}` and
//! `PATCH /api/tasks/{id}/complete`.

use lambda_http::{Error, run, service_fn};
use todo_shared::config::{self, TasksConfig};
use todo_shared::web::handlers::{TasksState, tasks_item};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // First, while the process has one thread: the CA bundle's roots are
    // then parsed when a handshake needs one, not all at start-up.
    trust_roots::defer_loading();
    // Every setting read and checked once (secrets from Secrets Manager).
    let config = config::load::<TasksConfig>().await?;
    todo_shared::web::logging::init(&config.reporting);
    // Built once per container and shared by every invocation it serves.
    let state = TasksState::start(&config).await?;
    let state = &state;
    run(service_fn(move |request| async move {
        Ok::<_, Error>(tasks_item::handle(state, request).await)
    }))
    .await
}

//! Lambda function `health`: `GET /health`. Needs only the database.

use lambda_http::{Error, run, service_fn};
use todo_shared::db::Db;
use todo_shared::handlers::health;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // SAFETY: the first statement; the current-thread runtime has started
    // no other thread.
    unsafe { todo_shared::tls::roots::defer_loading() };
    todo_shared::logging::init()?;
    let db = Db::from_env().await?;
    let db = &db;
    run(service_fn(move |request| async move {
        Ok::<_, Error>(health::handle(db, request).await)
    }))
    .await
}

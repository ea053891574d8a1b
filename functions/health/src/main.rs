//! Lambda function `health`: `GET /health`. Needs only the database.

use lambda_http::{Error, run, service_fn};
use todo_shared::config::{self, ConfigError, HealthConfig};
use todo_shared::outside::db::Db;
use todo_shared::web::handlers::health;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // First, while the process has one thread: the CA bundle's roots are
    // then parsed when a handshake needs one, not all at start-up.
    trust_roots::defer_loading();
    let config = config::load::<HealthConfig>().await?;
    todo_shared::web::logging::init(&config.reporting);
    let db = Db::new(&config.db).map_err(ConfigError::from)?;
    let db = &db;
    run(service_fn(move |request| async move {
        Ok::<_, Error>(health::handle(db, request).await)
    }))
    .await
}

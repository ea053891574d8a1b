//! Lambda function `docs`: `GET /openapi.json` and `GET /docs`. Needs no
//! configuration.

use lambda_http::{Error, run, service_fn};
use todo_shared::handlers::docs::{self, Docs};
use todo_shared::openapi;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let docs = Docs::new(&openapi::document_json());
    let docs = &docs;
    run(service_fn(move |request| async move {
        Ok::<_, Error>(docs::handle(docs, request).await)
    }))
    .await
}

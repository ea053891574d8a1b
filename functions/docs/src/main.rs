//! Lambda function `docs`: `GET /openapi.json` and `GET /docs`. Reads only
//! how it reports (logs, metrics, traces).

use lambda_http::{Error, run, service_fn};
use todo_shared::config::Reporting;
use todo_shared::web::handlers::docs::{self, Docs};
use todo_shared::web::openapi;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    todo_shared::web::logging::init(&Reporting::load()?);
    let docs = Docs::new(&openapi::document_json(), swagger_ui::SWAGGER_UI);
    let docs = &docs;
    run(service_fn(move |request| async move {
        Ok::<_, Error>(docs::handle(docs, request).await)
    }))
    .await
}

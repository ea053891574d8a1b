//! `tasks-item`: `GET`, `PUT`, `DELETE /api/tasks/{id}` and
//! `PATCH /api/tasks/{id}/complete`.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};

use super::TasksState;
use crate::http;
use crate::routes::{TASK, TASK_COMPLETE};
use crate::tasks;
use crate::validate;

pub const FUNCTION: &str = "tasks-item";

pub async fn handle(state: &TasksState, request: Request) -> Response<Body> {
    let request = &request;
    http::serve(FUNCTION, request, |route| async move {
        let user = state.verifier.authenticate(request.headers()).await?;
        let id = validate::task_id(request.path_parameters().first("id"))?;
        let task = match (route.path, request.method().clone()) {
            (TASK, Method::GET) => tasks::get(&state.db, &user, id).await?,
            (TASK, Method::PUT) => {
                let update = validate::task_update(http::body(request)?)?;
                tasks::replace(&state.db, &user, id, &update).await?
            }
            (TASK, Method::DELETE) => {
                tasks::delete(&state.db, &user, id).await?;
                return Ok(http::empty(StatusCode::NO_CONTENT));
            }
            (TASK_COMPLETE, Method::PATCH) => tasks::toggle(&state.db, &user, id).await?,
            _ => return Err(http::unsupported(route)),
        };
        Ok(http::json(StatusCode::OK, &task))
    })
    .await
}

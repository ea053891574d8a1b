//! `tasks-item`: `GET`, `PUT`, `DELETE /api/tasks/{id}` and
//! `PATCH /api/tasks/{id}/complete`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};

use super::TasksState;
use crate::domain::tasks::{self, Task};
use crate::domain::validate::{self, TaskUpdate};
use crate::domain::values::TaskId;
use crate::domain::values::UserId;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::http;
use crate::web::routes::ItemOp;

type Reply = Result<Response<Body>, ApiError>;

pub async fn handle(state: &TasksState, request: Request) -> Response<Body> {
    let request = &request;
    http::serve(request, |operation| async move {
        let user = state.verifier.authenticate(request.headers()).await?;
        let id = TaskId::parse(request.path_parameters().first("id"))?;
        match operation {
            ItemOp::Get => get(state, &user, id).await,
            ItemOp::Replace => replace(state, &user, id, request).await,
            ItemOp::Delete => delete(state, &user, id).await,
            ItemOp::Toggle => toggle(state, &user, id).await,
        }
    })
    .await
}

/// One task of the caller's.
#[utoipa::path(get, path = "/api/tasks/{id}", tag = "tasks", operation_id = "getTask",
    params(("id" = i64, Path, description = "The task's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The task", body = Task),
        (status = 404, description = "No such task of the caller's (another user's task included)", body = ErrorBody),
    ))]
pub(crate) async fn get(state: &TasksState, user: &UserId, id: TaskId) -> Reply {
    let task = tasks::get(&state.db, user, id).await?;
    Ok(http::json(StatusCode::OK, &task))
}

/// Replaces title, description and completed; an absent description becomes null.
#[utoipa::path(put, path = "/api/tasks/{id}", tag = "tasks", operation_id = "updateTask",
    params(("id" = i64, Path, description = "The task's id")),
    request_body = TaskUpdate,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The task as it is now", body = Task),
        (status = 404, description = "No such task of the caller's", body = ErrorBody),
    ))]
pub(crate) async fn replace(
    state: &TasksState,
    user: &UserId,
    id: TaskId,
    request: &Request,
) -> Reply {
    let update = validate::task_update(http::body(request)?)?;
    let task = tasks::replace(&state.db, user, id, &update).await?;
    Ok(http::json(StatusCode::OK, &task))
}

/// Deletes the task.
#[utoipa::path(delete, path = "/api/tasks/{id}", tag = "tasks", operation_id = "deleteTask",
    params(("id" = i64, Path, description = "The task's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such task of the caller's", body = ErrorBody),
    ))]
pub(crate) async fn delete(state: &TasksState, user: &UserId, id: TaskId) -> Reply {
    tasks::delete(&state.db, user, id).await?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// Flips `completed`.
#[utoipa::path(patch, path = "/api/tasks/{id}/complete", tag = "tasks", operation_id = "toggleTask",
    params(("id" = i64, Path, description = "The task's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The task with `completed` flipped", body = Task),
        (status = 404, description = "No such task of the caller's", body = ErrorBody),
    ))]
pub(crate) async fn toggle(state: &TasksState, user: &UserId, id: TaskId) -> Reply {
    let task = tasks::toggle(&state.db, user, id).await?;
    Ok(http::json(StatusCode::OK, &task))
}

//! `tasks-collection`: `GET /api/tasks` and `POST /api/tasks`.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};

use super::TasksState;
use crate::domain::tasks::{self, Created, MAX_LIST_BYTES, Task, TaskList};
use crate::domain::validate::{self, ListQuery, NewTask};
use crate::domain::values::Cursor;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::http;
use crate::web::routes::CollectionOp;

pub async fn handle(state: &TasksState, request: Request) -> Response<Body> {
    let request = &request;
    http::serve(request, |operation| async move {
        match operation {
            CollectionOp::List => list(state, request).await,
            CollectionOp::Create => create(state, request).await,
        }
    })
    .await
}

/// The caller's tasks, newest first, a page at a time.
#[utoipa::path(get, path = "/api/tasks", tag = "tasks", operation_id = "listTasks",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page (at most `limit` tasks and 5 MiB)", body = TaskList),
    ))]
pub(crate) async fn list(
    state: &TasksState,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let user = state.verifier.authenticate(request.headers()).await?;
    let query = validate::list_query(&request.query_string_parameters())?;
    let tasks = tasks::list(&state.db, &user, &query).await?;
    let body = list_body(&tasks, query.limit as usize)?;
    Ok(http::json_text(StatusCode::OK, body))
}

/// `{"tasks": [...], "next_cursor": ...}` with at most `limit` tasks and at
/// most [`MAX_LIST_BYTES`] enveloped bytes. `tasks` holds one more than
/// `limit` when more remain. A page cut short by either bound ends with a
/// cursor.
fn list_body(tasks: &[Task], limit: usize) -> Result<String, ApiError> {
    // Room for the closing `],"next_cursor":"<i64>"}`, escaped.
    const TAIL: usize = 2 * r#"],"next_cursor":""}"#.len() + 20;
    let mut body = String::from(r#"{"tasks":["#);
    let mut size = http::enveloped_len(&body);
    let mut included = 0;
    for task in tasks.iter().take(limit) {
        let json = serde_json::to_string(task).map_err(ApiError::internal)?;
        let separator = usize::from(included > 0);
        let added = separator + http::enveloped_len(&json);
        if included > 0 && size + added + TAIL > MAX_LIST_BYTES {
            break;
        }
        if separator == 1 {
            body.push(',');
        }
        body.push_str(&json);
        size += added;
        included += 1;
    }
    let cursor =
        (included < tasks.len()).then(|| Cursor::after(tasks[included - 1].id).to_string());
    body.push_str(r#"],"next_cursor":"#);
    body.push_str(&serde_json::to_string(&cursor).map_err(ApiError::internal)?);
    body.push('}');
    Ok(body)
}

/// Creates a task for the caller. With an `Idempotency-Key`, a retry within
/// 24 hours returns the original task instead of creating another.
#[utoipa::path(post, path = "/api/tasks", tag = "tasks", operation_id = "createTask",
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$",
        description = "1-255 visible ASCII characters; per user, valid 24 hours")),
    request_body = NewTask,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created (or the original task of a retried Idempotency-Key)", body = Task,
            headers(("Location" = String, description = "/api/tasks/{id}"),
                ("Idempotent-Replayed" = String, description = "`true` when this is the task of an earlier request with the same Idempotency-Key"))),
        (status = 409, description = "The Idempotency-Key was used with a different body \
            (`IDEMPOTENCY_KEY_REUSED`), or the caller already holds `MAX_TASKS_PER_USER` tasks \
            (default 10,000; `TASK_LIMIT_REACHED`)", body = ErrorBody),
    ))]
pub(crate) async fn create(
    state: &TasksState,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let user = state.verifier.authenticate(request.headers()).await?;
    let new_task = validate::new_task(http::body(request)?)?;
    let key = validate::idempotency_key(request.headers())?;
    let (task, replayed) = match tasks::create(
        &state.db,
        &user,
        &new_task,
        key.as_ref(),
        state.max_tasks_per_user,
    )
    .await?
    {
        Created::New(task) => (task, false),
        Created::Replayed(task) => (task, true),
    };
    let mut response = http::json(StatusCode::CREATED, &task);
    let headers = response.headers_mut();
    let location = format!("/api/tasks/{}", task.id.get());
    headers.insert(
        header::LOCATION,
        HeaderValue::try_from(location).map_err(ApiError::internal)?,
    );
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::values::{Description, TaskId, Title, UserId};
    use chrono::Utc;
    use serde_json::Value;

    fn task(id: i64, description_len: usize) -> Task {
        Task {
            id: TaskId::stored(id),
            user_id: UserId::stored("u".into()),
            title: Title::stored("t".into()),
            // Control characters take six bytes each in JSON.
            description: Some(Description::stored("\u{1}".repeat(description_len))),
            completed: false,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn pages_have_the_documented_shape() {
        let raw = list_body(&[task(2, 3), task(1, 0)], 1).unwrap();
        let page: TaskList = serde_json::from_str(&raw).unwrap();
        assert_eq!(page.tasks.len(), 1);
        assert_eq!(page.next_cursor.as_deref(), Some("2"));
    }

    #[test]
    fn the_budget_counts_the_lambda_envelope() {
        // Quotes double inside the Lambda response: 10,000 of them per task.
        let quoted = |id| Task {
            description: Some(Description::stored("\"".repeat(10_000))),
            ..task(id, 0)
        };
        let many: Vec<Task> = (1..=300).rev().map(quoted).collect();
        let raw = list_body(&many, 1000).unwrap();
        let envelope = serde_json::to_string(&raw).unwrap();
        assert!(envelope.len() <= MAX_LIST_BYTES, "{}", envelope.len());
        let body: Value = serde_json::from_str(&raw).unwrap();
        assert!(body["next_cursor"].is_string());
    }

    #[test]
    fn short_page_has_no_cursor() {
        let body: Value =
            serde_json::from_str(&list_body(&[task(2, 0), task(1, 0)], 5).unwrap()).unwrap();
        assert_eq!(body["tasks"].as_array().unwrap().len(), 2);
        assert!(body["next_cursor"].is_null());
        let body: Value = serde_json::from_str(&list_body(&[], 5).unwrap()).unwrap();
        assert_eq!(body, serde_json::json!({"tasks": [], "next_cursor": null}));
    }

    #[test]
    fn limit_cut_gives_cursor_of_last_included() {
        let body: Value =
            serde_json::from_str(&list_body(&[task(9, 0), task(8, 0), task(7, 0)], 2).unwrap())
                .unwrap();
        assert_eq!(body["tasks"].as_array().unwrap().len(), 2);
        assert_eq!(body["next_cursor"], "8");
    }

    #[test]
    fn byte_budget_cuts_page() {
        let many: Vec<Task> = (1..=120).rev().map(|id| task(id, 10_000)).collect();
        let raw = list_body(&many, 1000).unwrap();
        assert!(raw.len() <= MAX_LIST_BYTES, "{}", raw.len());
        let body: Value = serde_json::from_str(&raw).unwrap();
        let n = body["tasks"].as_array().unwrap().len();
        assert!(n < 120 && n > 50, "{n}");
        assert_eq!(body["next_cursor"], body["tasks"][n - 1]["id"].to_string());
    }
}

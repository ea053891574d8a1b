//! The Task model and all of its SQL.
//!
//! Each function here is one statement and so one database round trip (see
//! [`crate::outside::db`]). Ownership is part of every statement's `WHERE user_id = $n`,
//! so another user's task simply does not match: it is indistinguishable from
//! one that does not exist.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};
use utoipa::ToSchema;

use crate::domain::validate::{ListQuery, NewTask, TaskUpdate};
use crate::domain::values::UserId;
use crate::domain::values::{Cursor, Description, IdempotencyKey, TaskId, Title};
use crate::outside::db::{Db, DbError, Params, Retry, Statement};

/// Why a task was not read, made, changed or deleted. The web edge
/// (`crate::web::error`) turns each into the contract's answer.
#[derive(Debug)]
pub enum TaskError {
    /// The user has no task of that id (another user's is the same).
    NotFound,
    /// The user already holds this many tasks, `MAX_TASKS_PER_USER`.
    LimitReached(i64),
    /// The `Idempotency-Key` named another request's body within 24 hours.
    KeyReused,
    /// The database did not run the statement.
    Db(DbError),
    /// A row back did not read as a task: the schema and this code differ.
    Row(tokio_postgres::Error),
    /// The idempotent create answered what its statement never answers.
    UnknownOutcome(String),
    /// The idempotent create found neither a new nor an existing task,
    /// twice.
    NoOutcome,
}

impl From<DbError> for TaskError {
    fn from(error: DbError) -> Self {
        TaskError::Db(error)
    }
}

impl std::fmt::Display for TaskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaskError::NotFound => f.write_str("no such task"),
            TaskError::LimitReached(max) => write!(f, "the user holds {max} tasks already"),
            TaskError::KeyReused => f.write_str("the Idempotency-Key named another request"),
            TaskError::Db(error) => write!(f, "{error}"),
            TaskError::Row(_) => f.write_str("a row did not read as a task"),
            TaskError::UnknownOutcome(outcome) => {
                write!(f, "the idempotent create answered {outcome:?}")
            }
            TaskError::NoOutcome => {
                f.write_str("idempotent create found neither a new nor an existing task")
            }
        }
    }
}

impl std::error::Error for TaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TaskError::Db(error) => error.source(),
            TaskError::Row(error) => Some(error),
            _ => None,
        }
    }
}

// Read into the same values a write is made of, serialised as the numbers
// and strings the contract sends (this type's doc comment is the OpenAPI
// document's description).
/// A task as stored and as sent (the contract's Task shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"id": 1, "user_id": "u_8a7f3c", "title": "Complete backend API",
    "description": null, "completed": false, "created_at": "2026-02-17T10:00:00.123456Z",
    "updated_at": "2026-02-17T10:00:00.123456Z"}))]
pub struct Task {
    #[schema(value_type = i64, minimum = 1)]
    pub id: TaskId,
    /// The owner, from the token that created it.
    #[schema(value_type = String, min_length = 1, max_length = 255)]
    pub user_id: UserId,
    /// Trimmed.
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub title: Title,
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub description: Option<Description>,
    pub completed: bool,
    /// RFC 3339 in UTC with microseconds and a `Z`.
    #[serde(serialize_with = "rfc3339_utc")]
    #[schema(value_type = String, format = DateTime, example = "2026-02-17T10:00:00.123456Z")]
    pub created_at: DateTime<Utc>,
    /// Bumped by every change.
    #[serde(serialize_with = "rfc3339_utc")]
    #[schema(value_type = String, format = DateTime, example = "2026-02-17T10:00:00.123456Z")]
    pub updated_at: DateTime<Utc>,
}

/// One page of tasks, newest first. The collection handler writes this
/// shape itself, task by task, to keep the page within 5 MiB; a test reads
/// its output back into this type.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
pub struct TaskList {
    #[schema(value_type = Vec<Task>)]
    pub tasks: Vec<serde_json::Value>,
    /// Where the next page starts (pass it as `cursor`), or null on the last page.
    #[schema(pattern = "^[1-9][0-9]{0,17}$")]
    pub next_cursor: Option<String>,
}

/// RFC 3339 in UTC with microseconds and a `Z`, e.g. `2026-02-17T10:00:00.123456Z`
/// (PostgreSQL's own precision, always the same width).
/// chrono's RFC 3339 writer rather than a `format` string, which is parsed
/// again on every call.
fn rfc3339_utc<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Micros, true))
}

impl Task {
    fn from_row(row: &Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Task {
            id: TaskId::stored(row.try_get("id")?),
            user_id: UserId::stored(row.try_get("user_id")?),
            title: Title::stored(row.try_get("title")?),
            description: row
                .try_get::<_, Option<String>>("description")?
                .map(Description::stored),
            completed: row.try_get("completed")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// The task columns, in the order of [`Task`]; a macro so that the
/// statements below can be `const` strings built with `concat!`.
macro_rules! columns {
    () => {
        "id, user_id, title, description, completed, created_at, updated_at"
    };
}

/// A list page never exceeds this many bytes of JSON (API Gateway and
/// Lambda cap a response at 6 MB). Counted as the body will be embedded in
/// the Lambda response, escapes included, so the HTTP body is at most this
/// and the Lambda response stays under its limit even for JSON full of
/// quotes. [`LIST`] stops sending rows past it, and the collection handler
/// cuts the page exactly.
pub const MAX_LIST_BYTES: usize = 5 * 1024 * 1024;

// `$2`, `$3` and `$5` drop out when null: the statement is unnamed, so
// PostgreSQL plans it with the actual values and reads idx_tasks_user_id_id
// or idx_tasks_user_completed_id in order, without a sort. `$2` and `$5` are
// the `completed` and `status` filters; given together, both apply.
//
// `$6`, the page's byte budget, is applied in the statement, so that a page
// of large tasks costs the database, the network and the function about
// what the page returns, not `limit` full rows (1,000 tasks of 40 kB are
// 40 MB): a row is sent only while the tasks before it take at most `$6`
// bytes. Each task is counted at a lower bound of its JSON (its strings'
// bytes, which JSON only grows, plus 100: the keys, punctuation and two
// timestamps come to more than 150), so the statement
// sends every task the handler's exact cut can keep, plus the one that
// tells it to stop. `octet_length` reads a stored value's size without
// decompressing it, and the rows past the budget are never sent.
/// The list statement: `$1` user, `$2` completed, `$3` before this id, `$4`
/// limit, `$5` the status filter, `$6` the byte budget. This and the
/// statements below are public so that a test can EXPLAIN them and the
/// benchmark's floor function (`bench/src/bin/floor.rs`) runs exactly the
/// statements the API runs.
pub const LIST: Statement = Statement::read(concat!(
    "SELECT ",
    columns!(),
    " FROM (SELECT ",
    columns!(),
    ", sum(octet_length(user_id) + octet_length(title) + coalesce(octet_length(description), 0) + ",
    "100) OVER (ORDER BY id DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
        FROM tasks
        WHERE user_id = $1
          AND ($2::boolean IS NULL OR completed = $2)
          AND ($5::boolean IS NULL OR completed = $5)
          AND ($3::bigint IS NULL OR id < $3)
        ORDER BY id DESC
        LIMIT $4) AS page
     WHERE before IS NULL OR before <= $6
     ORDER BY id DESC"
));
pub const GET: Statement = Statement::read(concat!(
    "SELECT ",
    columns!(),
    " FROM tasks WHERE id = $1 AND user_id = $2"
));
// `task_slot_free` (migration 0004) holds the user's creates to
// `MAX_TASKS_PER_USER` ($4), race-free; no row back means the cap is reached.
// Without a key, a second run would create a second task.
pub const INSERT: Statement = Statement::write(
    concat!(
        "INSERT INTO tasks (user_id, title, description) SELECT $1, $2, $3
     WHERE clock_timestamp() < $5 AND task_slot_free($1, $4) RETURNING ",
        columns!()
    ),
    Retry::Never,
);
// The same replacement twice leaves the task as once.
pub const REPLACE: Statement = Statement::write(
    concat!(
        "UPDATE tasks SET title = $3, description = $4, completed = $5, updated_at = now()
     WHERE id = $1 AND user_id = $2 AND clock_timestamp() < $6 RETURNING ",
        columns!()
    ),
    Retry::Once,
);
// Flips `completed` in the same statement that checks ownership, so two
// toggles can never both read the old value. Twice would flip it back.
pub const TOGGLE: Statement = Statement::write(
    concat!(
        "UPDATE tasks SET completed = NOT completed, updated_at = now()
     WHERE id = $1 AND user_id = $2 AND clock_timestamp() < $3 RETURNING ",
        columns!()
    ),
    Retry::Never,
);
// A second run would answer 404 for a task the first one deleted.
pub const DELETE: Statement = Statement::write(
    "DELETE FROM tasks WHERE id = $1 AND user_id = $2 AND clock_timestamp() < $3 RETURNING id",
    Retry::Never,
);

/// A description as its statement parameter (`NULL` when there is none).
fn text(description: &Option<Description>) -> Option<&str> {
    description.as_ref().map(Description::as_str)
}

/// Runs one statement and reads every row it returns as a task.
async fn query_tasks(
    db: &Db,
    statement: &Statement,
    params: &Params<'_>,
) -> Result<Vec<Task>, TaskError> {
    let rows = db.query(statement, params).await?;
    rows.iter()
        .map(Task::from_row)
        .collect::<Result<_, _>>()
        .map_err(TaskError::Row)
}

/// Runs one statement that returns at most one task; none is not found.
async fn query_task(
    db: &Db,
    statement: &Statement,
    params: &Params<'_>,
) -> Result<Task, TaskError> {
    query_tasks(db, statement, params)
        .await?
        .into_iter()
        .next()
        .ok_or(TaskError::NotFound)
}

/// One page of a user's tasks, newest first, with one task more than `limit`
/// when more remain (the caller trims it and emits a cursor).
pub async fn list(db: &Db, user: &UserId, query: &ListQuery) -> Result<Vec<Task>, TaskError> {
    let parameters = ListParameters::of(query);
    let user = user.as_str();
    query_tasks(db, &LIST, &list_params(&user, &parameters)).await
}

/// [`LIST`]'s parameters, typed.
fn list_params<'a>(
    user: &'a &'a str,
    p: &'a ListParameters,
) -> [(&'a (dyn ToSql + Sync), Type); 6] {
    [
        (user, Type::VARCHAR),
        (&p.completed, Type::BOOL),
        (&p.before_id, Type::INT8),
        (&p.fetch, Type::INT8),
        (&p.status, Type::BOOL),
        (&p.budget, Type::INT8),
    ]
}

/// [`LIST`]'s parameters after the user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListParameters {
    pub completed: Option<bool>,
    pub before_id: Option<i64>,
    /// One more than the page size: a task beyond it means another page.
    pub fetch: i64,
    pub status: Option<bool>,
    /// [`MAX_LIST_BYTES`]: past it, no more rows are sent.
    pub budget: i64,
}

impl ListParameters {
    /// A `status` equal to `completed` says nothing more and is sent as
    /// null: the planner would count the same condition twice, think it
    /// matches a quarter of the rows instead of half, and sort a bitmap scan
    /// instead of reading the index in order.
    pub fn of(query: &ListQuery) -> Self {
        let status = query.status_completed();
        let status = status.filter(|_| status != query.completed);
        ListParameters {
            completed: query.completed,
            before_id: query.cursor.map(Cursor::before_id),
            fetch: i64::from(query.limit) + 1,
            status,
            budget: MAX_LIST_BYTES as i64,
        }
    }
}

/// The task functions' Init warm-up: the read statements, for a user id no
/// token can carry (the empty one), so they match nothing and plan as a
/// request's would, sent together on the connection they open
/// ([`Db::prefetch`]): one round trip. (Sending the get after the list,
/// through a request's whole path, saved the first request 0.05 ms on
/// loopback for a round trip more in Init: a trade the network setup of
/// `make bench`, where a round trip costs 4 ms, decided against.)
pub async fn warm_up(db: &Db) {
    let first_page = ListParameters::of(&ListQuery::FIRST_PAGE);
    let nobody = "";
    let list = list_params(&nobody, &first_page);
    let get: &Params<'_> = &[(&0i64, Type::INT8), (&nobody, Type::VARCHAR)];
    db.prefetch(&[(&LIST, &list), (&GET, get)]).await;
}

pub async fn get(db: &Db, user: &UserId, id: TaskId) -> Result<Task, TaskError> {
    query_task(
        db,
        &GET,
        &[(&id.get(), Type::INT8), (&user.as_str(), Type::VARCHAR)],
    )
    .await
}

/// How a create ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    New(Task),
    /// The same user sent the same `Idempotency-Key` and body within 24
    /// hours: the original task, nothing new created.
    Replayed(Task),
}

/// Creates a task, unless the user already holds `max_tasks`.
pub async fn create(
    db: &Db,
    user: &UserId,
    task: &NewTask,
    idempotency_key: Option<&IdempotencyKey>,
    max_tasks: i64,
) -> Result<Created, TaskError> {
    let Some(key) = idempotency_key else {
        let params: &Params = &[
            (&user.as_str(), Type::VARCHAR),
            (&task.title.as_str(), Type::VARCHAR),
            (&text(&task.description), Type::TEXT),
            (&max_tasks, Type::INT8),
        ];
        let created = query_tasks(db, &INSERT, params).await?;
        return created
            .into_iter()
            .next()
            .map(Created::New)
            .ok_or(TaskError::LimitReached(max_tasks));
    };
    // A concurrent request holding the same key makes our statement wait for
    // it and then see neither its key nor its task (they are newer than our
    // snapshot): no row, or (when its task filled the last slot) the limit.
    // Trying once more then finds them.
    for first in [true, false] {
        match create_idempotent(db, user, task, key, max_tasks).await? {
            Claimed::NotVisible | Claimed::AtLimit if first => continue,
            Claimed::Created(task) => return Ok(Created::New(task)),
            Claimed::Replayed(task) => return Ok(Created::Replayed(task)),
            Claimed::Reused => return Err(TaskError::KeyReused),
            Claimed::AtLimit => return Err(TaskError::LimitReached(max_tasks)),
            Claimed::NotVisible => break,
        }
    }
    Err(TaskError::NoOutcome)
}

/// What the idempotent create's one statement found.
enum Claimed {
    /// The key was free (or expired): the task it made.
    Created(Task),
    /// The key names a task of the same request: that task.
    Replayed(Task),
    /// The key names another request's task.
    Reused,
    /// The key was free, but the user holds `max_tasks`.
    AtLimit,
    /// Neither a new nor a visible existing task: run it again.
    NotVisible,
}

/// One statement: claim the key (new, or expired and taken over) and insert
/// the task under an id drawn up front, or else return the task the key
/// already names, if it has not expired, together with whether the request
/// bodies match. A concurrent request that took the expired key over is
/// newer than this statement's snapshot: the old row then matches nothing
/// here (rather than answering the day-old task or a stale 409), and the
/// caller runs the statement once more, which finds the new one.
///
/// A new key is claimed only while `task_slot_free` ($5, `MAX_TASKS_PER_USER`)
/// says the user has room; otherwise, unless the key replays, the one row
/// back says so (`outcome` = `limit`). A replay is answered even at the cap.
///
/// It also deletes up to 16 expired keys (anyone's, skipping rows others
/// hold), so that expired keys do not pile up without a scheduler.
const CREATE_IDEMPOTENT: Statement = Statement::write(
    concat!(
        "
WITH purged AS (
    DELETE FROM idempotency_keys WHERE ctid IN (
        SELECT ctid FROM idempotency_keys
        WHERE created_at <= now() - interval '24 hours'
          AND NOT (user_id = $1 AND idempotency_key = $4)
          AND clock_timestamp() < $6
        LIMIT 16
        FOR UPDATE SKIP LOCKED)
), request AS (
    SELECT sha256(convert_to(json_build_array($2::text, $3::text)::text, 'UTF8')) AS hash
), slot AS (
    SELECT task_slot_free($1, $5) AS free WHERE clock_timestamp() < $6
), claimed AS (
    INSERT INTO idempotency_keys AS k (user_id, idempotency_key, request_hash, task_id)
    SELECT $1, $4, request.hash, nextval(pg_get_serial_sequence('tasks', 'id'))
    FROM request, slot WHERE slot.free
    ON CONFLICT (user_id, idempotency_key) DO UPDATE
        SET request_hash = EXCLUDED.request_hash, task_id = EXCLUDED.task_id, created_at = now()
        WHERE k.created_at <= now() - interval '24 hours'
    RETURNING task_id
), inserted AS (
    INSERT INTO tasks (id, user_id, title, description) OVERRIDING SYSTEM VALUE
    SELECT task_id, $1, $2, $3 FROM claimed
    RETURNING ",
        columns!(),
        "
), replayed AS (
    SELECT k.request_hash = request.hash AS same_request,
           t.id, t.user_id, t.title, t.description, t.completed, t.created_at, t.updated_at
    FROM idempotency_keys k
    JOIN tasks t ON t.id = k.task_id
    CROSS JOIN request
    WHERE k.user_id = $1 AND k.idempotency_key = $4
      AND k.created_at > now() - interval '24 hours'
      AND NOT EXISTS (SELECT 1 FROM claimed)
)
SELECT 'created' AS outcome, inserted.* FROM inserted
UNION ALL
SELECT CASE WHEN same_request THEN 'replayed' ELSE 'reused' END,
       id, user_id, title, description, completed, created_at, updated_at
FROM replayed
UNION ALL
SELECT 'limit', NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM slot WHERE NOT slot.free AND NOT EXISTS (SELECT 1 FROM replayed)"
    ),
    Retry::Once,
);

async fn create_idempotent(
    db: &Db,
    user: &UserId,
    task: &NewTask,
    key: &IdempotencyKey,
    max_tasks: i64,
) -> Result<Claimed, TaskError> {
    // A second run finds the key, and the first run's task if it made one.
    let params: &Params = &[
        (&user.as_str(), Type::VARCHAR),
        (&task.title.as_str(), Type::TEXT),
        (&text(&task.description), Type::TEXT),
        (&key.as_str(), Type::VARCHAR),
        (&max_tasks, Type::INT8),
    ];
    let rows = db.query(&CREATE_IDEMPOTENT, params).await?;
    let Some(row) = rows.first() else {
        return Ok(Claimed::NotVisible);
    };
    let outcome: &str = row.try_get("outcome").map_err(TaskError::Row)?;
    let task = || Task::from_row(row).map_err(TaskError::Row);
    Ok(match outcome {
        "created" => Claimed::Created(task()?),
        "replayed" => Claimed::Replayed(task()?),
        "reused" => Claimed::Reused,
        "limit" => Claimed::AtLimit,
        other => return Err(TaskError::UnknownOutcome(other.to_owned())),
    })
}

/// `PUT`: replaces title, description and completed.
pub async fn replace(
    db: &Db,
    user: &UserId,
    id: TaskId,
    update: &TaskUpdate,
) -> Result<Task, TaskError> {
    let params: &Params = &[
        (&id.get(), Type::INT8),
        (&user.as_str(), Type::VARCHAR),
        (&update.title.as_str(), Type::VARCHAR),
        (&text(&update.description), Type::TEXT),
        (&update.completed, Type::BOOL),
    ];
    query_task(db, &REPLACE, params).await
}

/// `PATCH .../complete`: flips `completed`.
pub async fn toggle(db: &Db, user: &UserId, id: TaskId) -> Result<Task, TaskError> {
    query_task(
        db,
        &TOGGLE,
        &[(&id.get(), Type::INT8), (&user.as_str(), Type::VARCHAR)],
    )
    .await
}

pub async fn delete(db: &Db, user: &UserId, id: TaskId) -> Result<(), TaskError> {
    let params: &Params = &[(&id.get(), Type::INT8), (&user.as_str(), Type::VARCHAR)];
    let deleted = !db.query(&DELETE, params).await?.is_empty();
    if deleted {
        Ok(())
    } else {
        Err(TaskError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outside::db::Kind;

    /// Every statement of this module.
    const STATEMENTS: [(&str, Statement); 7] = [
        ("LIST", LIST),
        ("GET", GET),
        ("INSERT", INSERT),
        ("CREATE_IDEMPOTENT", CREATE_IDEMPOTENT),
        ("REPLACE", REPLACE),
        ("TOGGLE", TOGGLE),
        ("DELETE", DELETE),
    ];

    /// The highest `$n` a statement names.
    fn last_parameter(sql: &str) -> usize {
        sql.split('$')
            .skip(1)
            .filter_map(|rest| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .max()
            .unwrap_or(0)
    }

    /// A write applies nothing once the request has stopped waiting: its
    /// last parameter, which `Db` adds, is the fence `clock_timestamp()` is
    /// held below (`Kind::Write`). A read has no fence to be given.
    #[test]
    fn every_write_is_fenced_by_its_last_parameter() {
        for (name, statement) in STATEMENTS {
            let fence = format!("clock_timestamp() < ${}", last_parameter(statement.sql));
            match statement.kind {
                Kind::Write(_) => assert!(statement.sql.contains(&fence), "{name}: {fence}"),
                Kind::Read => assert!(!statement.sql.contains("clock_timestamp()"), "{name}"),
            }
        }
        assert_eq!(last_parameter("a = $1 AND b < $12 OR $3"), 12);
    }
}

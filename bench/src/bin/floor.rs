//! The benchmark's floor: the least a Lambda function can do to answer a
//! task route. A bare `lambda_runtime` function on one `tokio-postgres`
//! connection opened at init (over TLS when the URL says `sslmode=require`),
//! with no auth, validation, pool, logging or error contract: it runs the
//! API's own statement for the route (`todo_shared::domain::tasks`), with the user id
//! from the `x-bench-user` header, and writes the rows as JSON.
//!
//! `make bench` compares every function against it: whatever the API costs
//! beyond this is the price of its checks, and the number to keep small.

use chrono::{DateTime, SecondsFormat, Utc};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde::Serialize;
use serde_json::{Value, json};
use todo_shared::domain::tasks;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};

#[derive(Serialize)]
struct Task {
    id: i64,
    user_id: String,
    title: String,
    description: Option<String>,
    completed: bool,
    created_at: String,
    updated_at: String,
}

fn task(row: &Row) -> Task {
    // As the API writes them (todo_shared::domain::tasks::rfc3339_utc).
    let at = |column| {
        row.get::<_, DateTime<Utc>>(column)
            .to_rfc3339_opts(SecondsFormat::Micros, true)
    };
    Task {
        id: row.get(0),
        user_id: row.get(1),
        title: row.get(2),
        description: row.get(3),
        completed: row.get(4),
        created_at: at(5),
        updated_at: at(6),
    }
}

fn respond(status: u16, body: Option<String>) -> Value {
    json!({
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": body,
        "isBase64Encoded": false,
    })
}

async fn handle(db: &Client, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let request = &event.payload;
    let method = request["requestContext"]["http"]["method"]
        .as_str()
        .unwrap_or("");
    let path = request["rawPath"].as_str().unwrap_or("");
    let user = request["headers"]["x-bench-user"].as_str().unwrap_or("");
    let body: Value = request["body"]
        .as_str()
        .and_then(|body| serde_json::from_str(body).ok())
        .unwrap_or(Value::Null);
    let id: i64 = request["pathParameters"]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or(0);
    // The API's writes carry the moment it stops waiting as a last parameter.
    let fence = Utc::now() + chrono::Duration::seconds(5);
    let title = body["title"].as_str();
    let description = body["description"].as_str();
    let completed = body["completed"].as_bool();
    let max_tasks = 1_000_000i64;
    let none: Option<i64> = None;
    let no_filter: Option<bool> = None;
    let fetch = 21i64;
    let budget = tasks::MAX_LIST_BYTES as i64;
    let (sql, params): (&str, Vec<(&(dyn ToSql + Sync), Type)>) =
        match (method, path.ends_with("/complete")) {
            ("GET", _) if path == "/api/tasks" => (
                tasks::LIST.sql,
                vec![
                    (&user, Type::VARCHAR),
                    (&no_filter, Type::BOOL),
                    (&none, Type::INT8),
                    (&fetch, Type::INT8),
                    (&no_filter, Type::BOOL),
                    (&budget, Type::INT8),
                ],
            ),
            ("POST", _) => (
                tasks::INSERT.sql,
                vec![
                    (&user, Type::VARCHAR),
                    (&title, Type::VARCHAR),
                    (&description, Type::TEXT),
                    (&max_tasks, Type::INT8),
                    (&fence, Type::TIMESTAMPTZ),
                ],
            ),
            ("GET", _) => (
                tasks::GET.sql,
                vec![(&id, Type::INT8), (&user, Type::VARCHAR)],
            ),
            ("PUT", _) => (
                tasks::REPLACE.sql,
                vec![
                    (&id, Type::INT8),
                    (&user, Type::VARCHAR),
                    (&title, Type::VARCHAR),
                    (&description, Type::TEXT),
                    (&completed, Type::BOOL),
                    (&fence, Type::TIMESTAMPTZ),
                ],
            ),
            ("PATCH", true) => (
                tasks::TOGGLE.sql,
                vec![
                    (&id, Type::INT8),
                    (&user, Type::VARCHAR),
                    (&fence, Type::TIMESTAMPTZ),
                ],
            ),
            ("DELETE", _) => (
                tasks::DELETE.sql,
                vec![
                    (&id, Type::INT8),
                    (&user, Type::VARCHAR),
                    (&fence, Type::TIMESTAMPTZ),
                ],
            ),
            _ => return Ok(respond(404, None)),
        };
    let rows = db.query_typed(sql, &params).await?;
    Ok(match (method, path == "/api/tasks") {
        ("DELETE", _) => respond(204, None),
        ("GET", true) => {
            let tasks: Vec<Task> = rows.iter().take(20).map(task).collect();
            respond(
                200,
                Some(serde_json::to_string(
                    &json!({"tasks": tasks, "next_cursor": null}),
                )?),
            )
        }
        _ => match rows.first() {
            Some(row) => respond(
                if method == "POST" { 201 } else { 200 },
                Some(serde_json::to_string(&task(row))?),
            ),
            None => respond(404, None),
        },
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let url = std::env::var("DATABASE_URL")?;
    let config: tokio_postgres::Config = url.parse()?;
    let db = if config.get_ssl_mode() == tokio_postgres::config::SslMode::Disable {
        let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client
    } else {
        let tls = postgres_native_tls::MakeTlsConnector::new(native_tls::TlsConnector::new()?);
        let (client, connection) = config.connect(tls).await?;
        tokio::spawn(connection);
        client
    };
    let db = &db;
    lambda_runtime::run(service_fn(move |event| handle(db, event))).await
}

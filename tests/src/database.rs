//! The database under test: its URLs (`TEST_DATABASE_URL`, the owner's
//! `TEST_ADMIN_DATABASE_URL`), the configurations the API gets for it,
//! scratch databases, and reading rows back to assert on them.

use serde_json::{Value, json};
use todo_shared::config::DbConfig;

/// The database the API under test connects to, as the API's restricted
/// role: `TEST_DATABASE_URL` (the test command's, or a database of yours
/// you can wipe), else the kit's own server ([`crate::services::shared`]).
pub fn database_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| crate::services::shared().api_url.clone())
}

/// The same server as its owner: `TEST_ADMIN_DATABASE_URL`, else
/// `TEST_DATABASE_URL`'s, else the kit's own server's. For migrations and
/// scratch databases.
pub fn admin_database_url() -> String {
    std::env::var("TEST_ADMIN_DATABASE_URL")
        .or_else(|_| std::env::var("TEST_DATABASE_URL"))
        .unwrap_or_else(|_| crate::services::shared().owner_url.clone())
}

/// The API's login role that `migrate` sets up for [`database_url`], as the
/// `migrate` function derives it.
pub fn api_login() -> Option<todo_shared::migrations::ApiLogin> {
    let urls = [
        ("MIGRATE_DATABASE_URL", admin_database_url()),
        ("DATABASE_URL", database_url()),
    ];
    todo_shared::migrations::Target::from_lookup(|name| {
        urls.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, url)| url.clone())
    })
    .expect("the test database URLs")
    .api_login
}

pub fn db_config() -> DbConfig {
    db_config_for(&database_url())
}

/// The tests' pool settings for the database at `url`.
pub fn db_config_for(url: &str) -> DbConfig {
    DbConfig {
        url: url.into(),
        pool_size: 8,
        connect_timeout: std::time::Duration::from_secs(5),
        timeout: std::time::Duration::from_secs(10),
        max_idle: std::time::Duration::from_secs(120),
    }
}

/// [`admin_database_url`] with another database name (its query string kept).
pub fn database_url_of(database: &str) -> String {
    let url = admin_database_url();
    let (path, query) = url
        .split_once('?')
        .map_or((url.as_str(), None), |(p, q)| (p, Some(q)));
    let (server, _) = path.rsplit_once('/').expect("a URL with a database name");
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

/// Creates an empty database of its own for one test; returns an admin
/// connection and its name, for [`drop_database`] afterwards.
pub async fn scratch_database(label: &str) -> (tokio_postgres::Client, String) {
    let admin = pg_at(&admin_database_url()).await;
    let name = format!("{label}_{}", std::process::id());
    drop_database(&admin, &name).await;
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    (admin, name)
}

pub async fn drop_database(admin: &tokio_postgres::Client, name: &str) {
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .expect("drop database");
}

/// A connection for assertions on the table: straight to the server
/// (`TEST_DIRECT_DATABASE_URL`, which the test command sets when the API
/// under test goes through a pooler, whose transaction mode has no room for
/// the named statements of these assertions), else [`database_url`].
pub async fn pg() -> tokio_postgres::Client {
    let url = std::env::var("TEST_DIRECT_DATABASE_URL").unwrap_or_else(|_| database_url());
    pg_at(&url).await
}

/// A direct connection to the database at `url`.
pub async fn pg_at(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    tokio::spawn(connection);
    client
}

/// The task row as JSON-ish values, or None when it is gone.
pub async fn task_row(pg: &tokio_postgres::Client, id: i64) -> Option<Value> {
    let row = pg
        .query_opt(
            "SELECT user_id, title, description, completed,
                    created_at::text AS created_at, updated_at::text AS updated_at
             FROM tasks WHERE id = $1",
            &[&id],
        )
        .await
        .expect("query");
    row.map(|r| {
        json!({
            "user_id": r.get::<_, String>("user_id"),
            "title": r.get::<_, String>("title"),
            "description": r.get::<_, Option<String>>("description"),
            "completed": r.get::<_, bool>("completed"),
            "created_at": r.get::<_, String>("created_at"),
            "updated_at": r.get::<_, String>("updated_at"),
        })
    })
}

/// The first column of every row `sql` returns.
pub async fn column<T>(
    client: &tokio_postgres::Client,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Vec<T>
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    client
        .query(sql, params)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// How many tasks `user` has in the table.
pub async fn count_tasks(pg: &tokio_postgres::Client, user: &str) -> i64 {
    pg.query_one("SELECT count(*) FROM tasks WHERE user_id = $1", &[&user])
        .await
        .expect("count")
        .get(0)
}

/// `host:port` of the test database.
pub fn database_address() -> String {
    let config: tokio_postgres::Config = database_url().parse().expect("TEST_DATABASE_URL");
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        other => panic!("a TCP host, not {other:?}"),
    };
    format!(
        "{host}:{}",
        config.get_ports().first().copied().unwrap_or(5432)
    )
}

//! Migrations against a fresh database: they build the contract's schema, a
//! second run is a no-op, concurrent runs are safe, edited files are caught.

use todo_shared::db::Db;
use todo_shared::migrations::{self, MIGRATIONS};
use todo_tests::*;

async fn fresh_database(label: &str) -> (tokio_postgres::Client, String, String) {
    let (admin, name) = scratch_database(&format!("mig_{label}")).await;
    let url = database_url_of(&name);
    (admin, name, url)
}

fn db(url: &str) -> Db {
    let mut config = db_config();
    config.url = url.to_owned();
    Db::new(&config).unwrap()
}

#[tokio::test]
async fn second_run_is_a_no_op_and_schema_matches_the_contract() {
    let (admin, name, url) = fresh_database("twice").await;
    let all: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(migrations::run_on(&db(&url)).await.unwrap(), all);
    assert!(migrations::run_on(&db(&url)).await.unwrap().is_empty());

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let columns: Vec<(String, String, String)> = client
        .query(
            "SELECT column_name, data_type || coalesce('(' || character_maximum_length || ')', ''), is_nullable
             FROM information_schema.columns WHERE table_name = 'tasks' ORDER BY ordinal_position",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let expected = [
        ("id", "bigint", "NO"),
        ("user_id", "character varying(255)", "NO"),
        ("title", "character varying(200)", "NO"),
        ("description", "text", "YES"),
        ("completed", "boolean", "NO"),
        ("created_at", "timestamp with time zone", "NO"),
        ("updated_at", "timestamp with time zone", "NO"),
    ];
    let actual: Vec<(&str, &str, &str)> = columns
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(actual, expected);
    let indexes: Vec<String> = column(
        &client,
        "SELECT indexname FROM pg_indexes WHERE tablename = 'tasks'",
        &[],
    )
    .await;
    for index in [
        "idx_tasks_user_id",
        "idx_tasks_user_completed",
        "idx_tasks_user_id_id",
    ] {
        assert!(indexes.iter().any(|i| i == index), "{index} in {indexes:?}");
    }
    let identity: String = client
        .query_one("SELECT is_identity FROM information_schema.columns WHERE table_name = 'tasks' AND column_name = 'id'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(identity, "YES");
    drop(client);
    drop_database(&admin, &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_runs_apply_each_migration_once() {
    let (admin, name, url) = fresh_database("race").await;
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                migrations::run_on(&db(&url))
                    .await
                    .map_err(|e| e.to_string())
            })
        })
        .collect();
    let mut applied = Vec::new();
    for run in runs {
        applied.extend(run.await.unwrap().unwrap());
    }
    applied.sort();
    let all: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(applied, all, "each applied exactly once across the runs");
    drop_database(&admin, &name).await;
}

#[tokio::test]
async fn an_edited_migration_stops_the_run() {
    let (admin, name, url) = fresh_database("edited").await;
    migrations::run_on(&db(&url)).await.unwrap();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .execute(
            "UPDATE schema_migrations SET checksum = 'x' WHERE version = 1",
            &[],
        )
        .await
        .unwrap();
    let err = migrations::run_on(&db(&url)).await.unwrap_err();
    assert!(
        err.to_string().contains("migration 1 (tasks) was changed"),
        "{err}"
    );
    drop(client);
    drop_database(&admin, &name).await;
}

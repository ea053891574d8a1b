//! Migrations against a fresh database: they build the contract's schema, a
//! second run is a no-op, concurrent runs are safe, edited files are caught.

use todo_shared::migrations::{self, MIGRATIONS};
use todo_shared::outside::db::Db;
use todo_shared::web::handlers::TasksState;
use todo_tests::*;

async fn fresh_database(label: &str) -> (tokio_postgres::Client, String, String) {
    let (admin, name) = scratch_database(&format!("mig_{label}")).await;
    let url = database_url_of(&name);
    (admin, name, url)
}

fn db(url: &str) -> Db {
    let mut config = db_config();
    config.url = url.into();
    Db::new(&config).unwrap()
}

#[tokio::test]
async fn second_run_is_a_no_op_and_schema_matches_the_contract() {
    let (admin, name, url) = fresh_database("twice").await;
    let all: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(migrations::run_on(&db(&url), None).await.unwrap(), all);
    assert!(
        migrations::run_on(&db(&url), None)
            .await
            .unwrap()
            .is_empty()
    );

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
                migrations::run_on(&db(&url), None)
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

/// A database that applied an earlier text of a migration, one that differed
/// only in comments, is current: nothing is applied, nothing refused.
#[tokio::test]
async fn a_migration_applied_in_an_earlier_text_is_current() {
    let (admin, name, url) = fresh_database("earlier").await;
    migrations::run_on(&db(&url), None).await.unwrap();
    let earlier = migrations::MIGRATIONS[0].earlier[0];
    pg_at(&url)
        .await
        .execute(
            "UPDATE schema_migrations SET checksum = $1 WHERE version = 1",
            &[&earlier],
        )
        .await
        .unwrap();
    assert_eq!(
        migrations::run_on(&db(&url), None).await.unwrap(),
        Vec::<i32>::new()
    );
    drop_database(&admin, &name).await;
}

#[tokio::test]
async fn an_edited_migration_stops_the_run() {
    let (admin, name, url) = fresh_database("edited").await;
    migrations::run_on(&db(&url), None).await.unwrap();
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
    let err = migrations::run_on(&db(&url), None).await.unwrap_err();
    assert!(
        err.to_string().contains("migration 1 (tasks) was changed"),
        "{err}"
    );
    drop(client);
    drop_database(&admin, &name).await;
}

/// `url` with its user (and password) replaced by `user:password`.
fn as_role(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}:{password}@{host}")
}

/// Every statement the API's role must not run: DDL of any kind, the
/// migrations' own table, and handing on privileges.
const FORBIDDEN: [&str; 11] = [
    "CREATE TABLE sneaky (x int)",
    "ALTER TABLE tasks ADD COLUMN sneaky int",
    "DROP TABLE tasks",
    "TRUNCATE tasks",
    "CREATE INDEX sneaky ON tasks (title)",
    "CREATE SCHEMA sneaky",
    "CREATE FUNCTION sneaky() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "ALTER FUNCTION task_slot_free(varchar, bigint) RENAME TO sneaky",
    "SELECT * FROM schema_migrations",
    "COMMENT ON TABLE tasks IS 'sneaky'",
    "CREATE ROLE sneaky",
];

async fn assert_forbidden(client: &tokio_postgres::Client) {
    for statement in FORBIDDEN {
        let error = client.batch_execute(statement).await.expect_err(statement);
        assert_eq!(
            error.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{statement}: {error}"
        );
    }
}

/// Roles are the cluster's: a test's own goes with its database.
async fn drop_database_and_role(admin: &tokio_postgres::Client, name: &str, role: &str) {
    drop_database(admin, name).await;
    admin
        .batch_execute(&format!("DROP ROLE {role}"))
        .await
        .unwrap();
}

/// The role `migrate` sets up for the API's DATABASE_URL uses its rows, and
/// nothing else; a second run (a new password) keeps it so.
#[tokio::test]
async fn the_api_role_may_use_rows_and_nothing_else() {
    let (admin, name, url) = fresh_database("role").await;
    let role = format!("api_role_{}", std::process::id());
    let first = migrations::ApiLogin::from_url(&as_role(&url, &role, "first")).unwrap();
    migrations::run_on(&db(&url), Some(&first)).await.unwrap();
    let api_url = as_role(&url, &role, "second");
    let again = migrations::ApiLogin::from_url(&api_url).unwrap();
    assert!(
        migrations::run_on(&db(&url), Some(&again))
            .await
            .unwrap()
            .is_empty()
    );
    let client = pg_at(&api_url).await;
    // What the API does works...
    let state = TasksState::new(&db_config_for(&api_url), &auth_config()).unwrap();
    let user = unique_user("role");
    let task = create_task(&state, &user, "as the api role").await;
    let keyed = Event::fixture("tasks-create")
        .as_user(&user)
        .header("idempotency-key", "k")
        .body_json(&serde_json::json!({"title": "keyed"}));
    assert_eq!(call(&state, &keyed).await.status, 201);
    let delete = Event::fixture("task-delete")
        .as_user(&user)
        .task(task["id"].as_i64().unwrap(), false);
    assert_eq!(call(&state, &delete).await.status, 204);
    // ...and nothing else does.
    assert_forbidden(&client).await;
    // No statement of the role outlives the functions' Lambda timeout.
    let timeout: String = client
        .query_one("SHOW statement_timeout", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(timeout, migrations::API_STATEMENT_TIMEOUT);
    drop(client);
    drop_database_and_role(&admin, &name, &role).await;
}

/// A privileged role in the API's DATABASE_URL stops the run: the API must
/// not connect as it (and its password is left alone).
#[tokio::test]
async fn a_privileged_api_role_stops_the_run() {
    let (admin, name, url) = fresh_database("privileged").await;
    let role = format!("api_creator_{}", std::process::id());
    admin
        .batch_execute(&format!("CREATE ROLE {role} LOGIN CREATEDB"))
        .await
        .unwrap();
    let login = migrations::ApiLogin::from_url(&as_role(&url, &role, "x")).unwrap();
    let error = migrations::run_on(&db(&url), Some(&login))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("is privileged"), "{error}");
    drop_database_and_role(&admin, &name, &role).await;
}

/// An existing API role that would inherit or hold more than todo_app's
/// grants stops the run, saying what to do: a member of the tables' owner
/// (who could then alter and drop them), a member of a role like Neon's
/// `neon_superuser` (every role made in Neon's console is one), and a role
/// that owns an object. Each had passed the attribute check alone.
#[tokio::test]
async fn an_api_role_that_would_inherit_or_own_more_stops_the_run() {
    let pid = std::process::id();
    let cases = [
        ("member_of_owner", "GRANT postgres TO {role}".to_owned()),
        (
            "neon_member",
            format!(
                "CREATE ROLE neon_stand_in_{pid} CREATEDB CREATEROLE BYPASSRLS NOLOGIN;
                 GRANT neon_stand_in_{pid} TO {{role}}"
            ),
        ),
        (
            "owner",
            "CREATE TABLE owned_by_api (x int); ALTER TABLE owned_by_api OWNER TO {role}"
                .to_owned(),
        ),
    ];
    for (label, setup) in cases {
        let (admin, name, url) = fresh_database(label).await;
        let role = format!("api_{label}_{pid}");
        admin
            .batch_execute(&format!("CREATE ROLE {role} LOGIN"))
            .await
            .unwrap();
        let admin_here = pg_at(&url).await;
        admin_here
            .batch_execute(&setup.replace("{role}", &role))
            .await
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        drop(admin_here);
        let login = migrations::ApiLogin::from_url(&as_role(&url, &role, "x")).unwrap();
        let error = migrations::run_on(&db(&url), Some(&login))
            .await
            .expect_err(label)
            .to_string();
        assert!(
            error.contains(&role) && error.contains("Let migrate create the API's role"),
            "{label}: {error}"
        );
        // Refused as a whole: the role did not become a member of todo_app.
        let member: bool = admin
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_auth_members m
                                JOIN pg_roles g ON g.oid = m.roleid
                                JOIN pg_roles r ON r.oid = m.member
                                WHERE r.rolname = $1 AND g.rolname = $2)",
                &[&role, &migrations::group_of(&name)],
            )
            .await
            .unwrap()
            .get(0);
        assert!(!member, "{label}: granted the group all the same");
        drop_database_and_role(&admin, &name, &role).await;
    }
    pg_at(&admin_database_url())
        .await
        .batch_execute(&format!("DROP ROLE neon_stand_in_{pid}"))
        .await
        .unwrap();
}

/// Two stacks migrated into two databases of one server (on Neon: two
/// databases of one branch, say staging and production) cannot reach each
/// other's rows: each API role is refused the other's database, and were
/// that database opened to every role, its rows still. The review's
/// reproduction: staging's API role updated production's tasks.
#[tokio::test]
async fn two_stacks_on_one_server_cannot_reach_each_other() {
    let server = tokio::task::spawn_blocking(ScratchServer::start)
        .await
        .unwrap();
    let admin = pg_at(&server.url()).await;
    for database in ["staging", "production"] {
        admin
            .batch_execute(&format!("CREATE DATABASE {database}"))
            .await
            .unwrap();
    }
    let stacks = [("staging", "staging_api"), ("production", "production_api")];
    for (database, role) in stacks {
        let owner = server.url_as("postgres", database);
        let login = migrations::ApiLogin::from_url(&server.url_as(role, database)).unwrap();
        migrations::run_on(&db(&owner), Some(&login)).await.unwrap();
        pg_at(&owner)
            .await
            .batch_execute(&format!(
                "INSERT INTO tasks (user_id, title) VALUES ('{database}-user', 'of {database}')"
            ))
            .await
            .unwrap();
    }
    let tamper = "UPDATE tasks SET title = 'tampered' RETURNING id";
    for ((database, _), (_, other_role)) in stacks.iter().zip(stacks.iter().rev()) {
        let url = server.url_as(other_role, database);
        let refused = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .map(drop)
            .expect_err(&format!("{other_role} connected to {database}"));
        assert_eq!(
            refused.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{other_role} to {database}: {refused}"
        );
        // A database opened to every role still keeps its rows.
        admin
            .batch_execute(&format!("GRANT CONNECT ON DATABASE {database} TO PUBLIC"))
            .await
            .unwrap();
        let error = pg_at(&url)
            .await
            .query(tamper, &[])
            .await
            .expect_err(&format!("{other_role} updated {database}'s tasks"));
        assert_eq!(
            error.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{other_role} in {database}: {error}"
        );
    }
    // Each still uses its own.
    for (database, role) in stacks {
        let rows = pg_at(&server.url_as(role, database))
            .await
            .query(tamper, &[])
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{role} in {database}");
    }
}

/// A group role of the name `migrate` would give the API's rights to,
/// made beforehand with more than those (a member of the tables' owner),
/// stops the run, saying what to do; and the review's other reproduction,
/// the old server-wide `todo_app` made a member of the owner, gives a role
/// `migrate` creates no DDL.
#[tokio::test]
async fn a_group_role_that_would_give_more_stops_the_run() {
    let server = tokio::task::spawn_blocking(ScratchServer::start)
        .await
        .unwrap();
    let admin = pg_at(&server.url()).await;
    let owner = server.url_as("postgres", "postgres");
    // The old scheme's server-wide group (migration 5 makes it), then
    // made a member of the owner.
    migrations::run_on(&db(&owner), None).await.unwrap();
    admin
        .batch_execute(
            "DO $$ BEGIN CREATE ROLE todo_app NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
             GRANT postgres TO todo_app",
        )
        .await
        .unwrap();
    let login = migrations::ApiLogin::from_url(&server.url_as("api_new", "postgres")).unwrap();
    migrations::run_on(&db(&owner), Some(&login)).await.unwrap();
    assert_forbidden(&pg_at(&server.url_as("api_new", "postgres")).await).await;

    admin.batch_execute("CREATE DATABASE other").await.unwrap();
    let group = migrations::group_of("other");
    admin
        .batch_execute(&format!(
            "CREATE ROLE {group} NOLOGIN; GRANT postgres TO {group}"
        ))
        .await
        .unwrap();
    let owner = server.url_as("postgres", "other");
    let login = migrations::ApiLogin::from_url(&server.url_as("api_other", "other")).unwrap();
    let error = migrations::run_on(&db(&owner), Some(&login))
        .await
        .expect_err("a group that is a member of the owner")
        .to_string();
    assert!(
        error.contains(&group)
            && error.contains("member of postgres")
            && error.contains(&format!("DROP ROLE {group}")),
        "{error}"
    );
    let exists: bool = admin
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'api_other')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!exists, "refused as a whole: the login role was not made");
}

/// A database migrated before the group per database (migration 5's
/// server-wide `todo_app`, its API login a member) upgrades in one run: the
/// login loses `todo_app` and gets this database's group, which alone holds
/// the rights, and `todo_app`, needed by nothing else, is dropped.
#[tokio::test]
async fn a_database_of_the_server_wide_group_upgrades_in_one_run() {
    let server = tokio::task::spawn_blocking(ScratchServer::start)
        .await
        .unwrap();
    let owner = pg_at(&server.url()).await;
    for migration in &MIGRATIONS[..5] {
        owner.batch_execute(migration.sql).await.unwrap();
    }
    owner
        .batch_execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
                 checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
             CREATE ROLE api_old LOGIN; GRANT todo_app TO api_old;
             INSERT INTO tasks (user_id, title) VALUES ('u', 'before the upgrade')",
        )
        .await
        .unwrap();
    for migration in &MIGRATIONS[..5] {
        owner
            .execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, md5($3))",
                &[&migration.version, &migration.name, &migration.sql],
            )
            .await
            .unwrap();
    }
    let api_url = server.url_as("api_old", "postgres");
    let login = migrations::ApiLogin::from_url(&api_url).unwrap();
    let applied = migrations::run_on(&db(&server.url()), Some(&login))
        .await
        .unwrap();
    assert_eq!(applied, vec![6]);
    let memberships: Vec<String> = column(
        &owner,
        "SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
         JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = 'api_old'",
        &[],
    )
    .await;
    assert_eq!(memberships, [migrations::group_of("postgres")]);
    let legacy: Vec<String> = column(
        &owner,
        "SELECT rolname::text FROM pg_roles WHERE rolname = 'todo_app'",
        &[],
    )
    .await;
    assert!(legacy.is_empty(), "todo_app was left behind");
    let api = pg_at(&api_url).await;
    let rows = api
        .query("UPDATE tasks SET title = 'after' RETURNING id", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_forbidden(&api).await;
}

/// Every API test connects as that role: `make test` (and the fault stack)
/// set the API's role up like `migrate` does, not as the owner.
#[tokio::test]
async fn the_tests_run_as_the_api_role() {
    let client = pg().await;
    let database: String = client
        .query_one("SELECT current_database()::text", &[])
        .await
        .unwrap()
        .get(0);
    let row = client
        .query_one(
            "SELECT rolsuper, pg_has_role(current_user, $1, 'MEMBER')
             FROM pg_roles WHERE rolname = current_user",
            &[&migrations::group_of(&database)],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, bool>(0), row.get::<_, bool>(1)),
        (false, true),
        "TEST_DATABASE_URL must name the API's role, a member of its database's group"
    );
    assert!(api_login().is_some());
    assert_forbidden(&client).await;
}

/// After a deploy, `migrate` says which of Neon's endpoints the API's
/// `DATABASE_URL` names, and warns when it is the direct one, which holds a
/// server connection per container (#30). The API's URL here is the test
/// database's with a Neon host put in: migrate only reads its role and
/// password from it, which stay the same.
#[tokio::test]
async fn migrate_names_the_neon_endpoint_of_the_apis_url_and_warns_on_the_direct_one() {
    let migrate = binary("migrate");
    for (host, expected) in [
        (
            "ep-cool-darkness-a1b2c3d4.us-east-2.aws.neon.tech",
            "migrate: warning: the API's DATABASE_URL is Neon's direct endpoint",
        ),
        (
            "ep-cool-darkness-a1b2c3d4-pooler.us-east-2.aws.neon.tech",
            "migrate: the API's DATABASE_URL is Neon's pooled endpoint",
        ),
    ] {
        let api_url = database_url().replace(&database_address(), host);
        assert_ne!(api_url, database_url());
        let output = tokio::process::Command::new(&migrate)
            .env_remove("DATABASE_URL_SECRET_ARN")
            .env_remove("MIGRATE_DATABASE_URL_SECRET_ARN")
            .env("MIGRATE_DATABASE_URL", admin_database_url())
            .env("DATABASE_URL", &api_url)
            .output()
            .await
            .unwrap_or_else(|e| panic!("run {} (built by make test): {e}", migrate.display()));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
}

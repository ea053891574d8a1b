//! A Neon-style URL (`sslmode=require&channel_binding=require`, SCRAM) works
//! unchanged: the connection is TLS, the certificate and host name are
//! verified. The test command runs a TLS-enabled PostgreSQL with a throwaway
//! CA and a user that may only log in over TLS.

use todo_shared::config::DbConfig;
use todo_shared::db::Db;
use todo_shared::handlers::health;
use todo_tests::{Event, Reply, db_config};

#[tokio::test]
async fn neon_style_url_connects_over_verified_tls() {
    let (Ok(url), Ok(ca)) = (
        std::env::var("TEST_TLS_DATABASE_URL"),
        std::env::var("TEST_TLS_CA_FILE"),
    ) else {
        eprintln!("skipped: TEST_TLS_DATABASE_URL/TEST_TLS_CA_FILE are set by `make test` only");
        return;
    };
    // Trust the throwaway CA, as the system store trusts Neon's. This test
    // binary holds this one test, so nothing else reads the environment.
    unsafe { std::env::set_var("SSL_CERT_FILE", &ca) };
    let config = |url: &str| DbConfig {
        url: url.to_owned(),
        ..db_config()
    };

    let db = Db::new(&config(&url)).unwrap();
    let (ssl, user): (bool, String) = db
        .run(async |client| {
            let row = client
                .query_typed_one(
                    "SELECT ssl, current_user::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                )
                .await?;
            Ok((row.get(0), row.get(1)))
        })
        .await
        .expect("query over TLS");
    assert!(ssl, "the connection is encrypted");
    assert_eq!(user, "tls_user");
    let reply = Reply::new(health::handle(&db, Event::fixture("health").request()).await);
    assert_eq!(reply.status, 200, "{}", reply.json);

    // The certificate names localhost, not 127.0.0.1: verification refuses it.
    let wrong_host = Db::new(&config(&url.replace("@localhost:", "@127.0.0.1:"))).unwrap();
    let reply = Reply::new(health::handle(&wrong_host, Event::fixture("health").request()).await);
    assert_eq!(reply.status, 503, "{}", reply.json);
    // And that user may not connect without TLS at all.
    let plain = Db::new(&config(
        &url.replace("sslmode=require&channel_binding=require", "sslmode=disable"),
    ))
    .unwrap();
    let reply = Reply::new(health::handle(&plain, Event::fixture("health").request()).await);
    assert_eq!(reply.status, 503);
}

//! Verified TLS to our two dependencies, with a throwaway CA that the test
//! command makes: a Neon-style PostgreSQL URL (`sslmode=require&
//! channel_binding=require`, SCRAM, a user that may only log in over TLS)
//! works unchanged, and Better Auth's JWKS is fetched over HTTPS. Both check
//! the certificate and the host name.

use todo_shared::config::AuthConfig;
use todo_shared::config::DbConfig;
use todo_shared::outside::db::{Db, Statement};
use todo_shared::outside::jwks::JwksSource;
use todo_shared::web::handlers::TasksState;
use todo_shared::web::handlers::health;
use todo_tests::{BetterAuth, Event, Reply, SECRET, call, db_config, run_in_own_process};

/// The test command makes a throwaway CA and server certificate, and so
/// does the kit when it starts its own services (a plain `cargo test`: the
/// test then runs in a process of its own whose trust store is that CA).
/// With an outside `TEST_DATABASE_URL` there is none, and this test fails
/// unless `TEST_TLS_SKIP=1` says that is intended.
#[tokio::test]
async fn verified_tls_to_postgres_and_to_the_jwks() {
    let (Ok(url), Ok(ca)) = (
        std::env::var("TEST_TLS_DATABASE_URL"),
        std::env::var("TEST_TLS_CA_FILE"),
    ) else {
        if std::env::var("TEST_TLS_SKIP").as_deref() == Ok("1") {
            eprintln!("skipped on purpose: TEST_TLS_SKIP=1");
            return;
        }
        assert!(
            std::env::var_os("TEST_DATABASE_URL").is_none(),
            "TEST_DATABASE_URL names an outside database, with no TLS test server: \
             set TEST_TLS_SKIP=1 to run the suite without the TLS test"
        );
        let mut env = todo_tests::services::env_for_a_child();
        let ca = todo_tests::services::shared().ca.ca().display().to_string();
        env.push(("SSL_CERT_FILE", ca));
        run_in_own_process("tls::verified_tls_to_postgres_and_to_the_jwks", &env);
        return;
    };
    // The throwaway CA is the trust store of the whole test process, as the
    // system store trusts Neon's: the test command sets SSL_CERT_FILE (a test
    // cannot set it safely while other tests run in the same process).
    assert_eq!(
        std::env::var("SSL_CERT_FILE").ok(),
        Some(ca),
        "SSL_CERT_FILE must name the test CA (TEST_TLS_CA_FILE)"
    );
    let config = |url: &str| DbConfig {
        url: url.into(),
        ..db_config()
    };

    let db = Db::new(&config(&url)).unwrap();
    assert_eq!(
        encrypted_as(&db).await,
        (true, "tls_user".to_owned()),
        "the connection is encrypted, as tls_user"
    );
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

    direct_tls(&url, &config).await;

    // Better Auth's JWKS over HTTPS (native-tls, the same trust store).
    let ba = BetterAuth::load();
    let https = ba
        .https_base()
        .expect("the fixture serves HTTPS when make test gives it a certificate");
    let alice = ba.token("EdDSA", "alice").token;
    let verifier = |jwks_url: String| {
        let auth = AuthConfig {
            secret: None,
            jwks: Some(JwksSource::url(&jwks_url).unwrap()),
            better_auth_url: Some(ba.base.clone()),
            ..AuthConfig::hs256(SECRET)
        };
        TasksState::new(&db_config(), &auth).unwrap()
    };
    let list = Event::fixture("tasks-list").bearer(&alice).query(&[]);
    let good = verifier(format!("{https}/tls/api/auth/jwks"));
    let reply = call(&good, &list).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(ba.control("tls", "hits"), 1);
    // The certificate names localhost: by IP address the host is not verified.
    let wrong = https.replace("://localhost:", "://127.0.0.1:");
    let bad = verifier(format!("{wrong}/tls-wrong-host/api/auth/jwks"));
    let reply = call(&bad, &list).await;
    assert_eq!(reply.status, 503, "{}", reply.json);
    assert_eq!(
        ba.control("tls-wrong-host", "hits"),
        0,
        "refused before any request"
    );
}

/// A loopback database named without `sslmode` (what `make dev` uses) is
/// reached without TLS, even by a server that offers it, so a local run
/// never builds a TLS connector (its trust roots cost most of an Init).
/// A remote host without `sslmode=require` is refused (tests/tests/it/failures.rs).
#[tokio::test]
async fn a_loopback_database_without_sslmode_is_reached_in_plaintext() {
    let tls_url = match std::env::var("TEST_TLS_DATABASE_URL") {
        Ok(url) => url,
        Err(_) if std::env::var_os("TEST_DATABASE_URL").is_none() => {
            todo_tests::services::shared().tls_url.clone()
        }
        Err(_) => return, // verified_tls_to_postgres_and_to_the_jwks says why
    };
    // The TLS-enabled server, by the name its certificate carries, as a
    // user that may log in without TLS.
    let port = tls_url
        .split("@localhost:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("the port of TEST_TLS_DATABASE_URL");
    let plain = database_url_with_host(&format!("localhost:{port}"));
    let db = Db::new(&DbConfig {
        url: plain.clone().into(),
        ..db_config()
    })
    .unwrap();
    let rows = db
        .query(
            &Statement::read("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"),
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{plain}: {e:?}"));
    let ssl: bool = rows[0].get(0);
    assert!(!ssl, "{plain} went over TLS");
}

/// The tests' own database URL with `sslmode` removed and `host` in place
/// of its host and port.
fn database_url_with_host(host: &str) -> String {
    let url = todo_tests::database_url();
    let (base, query) = url.split_once('?').unwrap_or((&url, ""));
    let (scheme_user, rest) = base.split_once('@').expect("a user in TEST_DATABASE_URL");
    let path = rest.split_once('/').map_or("", |(_, path)| path);
    let query: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("sslmode="))
        .collect();
    let mut out = format!("{scheme_user}@{host}/{path}");
    if !query.is_empty() {
        out = format!("{out}?{}", query.join("&"));
    }
    out
}

/// Direct TLS (`sslnegotiation=direct`, #42): the same Neon-style URL with
/// it connects with no `SSLRequest` first (a proxy sees the client open
/// with a TLS record, 0x16, where a URL without it opens with the
/// request's length, 0x00), with ALPN `postgresql` (PostgreSQL 18 refuses
/// a direct handshake without it), verified as before: channel binding,
/// the trust roots, the host name.
async fn direct_tls(url: &str, config: &dyn Fn(&str) -> DbConfig) {
    use std::sync::{Arc, Mutex};
    let upstream = url
        .split_once('@')
        .and_then(|(_, rest)| rest.split('/').next())
        .expect("host:port")
        .replace("localhost", "127.0.0.1");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let openings: Arc<Mutex<Vec<u8>>> = Arc::default();
    let seen = openings.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let mut server = tokio::net::TcpStream::connect(&upstream).await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut first = [0u8; 1];
                if client.peek(&mut first).await.is_ok() {
                    seen.lock().unwrap().push(first[0]);
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    let through = |url: &str| {
        let (head, rest) = url.split_once("@localhost:").unwrap();
        let path = rest.split_once('/').unwrap().1;
        format!("{head}@localhost:{port}/{path}&hostaddr=127.0.0.1")
    };
    let direct = Db::new(&config(&through(&format!("{url}&sslnegotiation=direct")))).unwrap();
    assert_eq!(encrypted_as(&direct).await, (true, "tls_user".to_owned()));
    let negotiated = Db::new(&config(&through(url))).unwrap();
    assert_eq!(
        encrypted_as(&negotiated).await,
        (true, "tls_user".to_owned())
    );
    assert_eq!(
        *openings.lock().unwrap(),
        [0x16, 0x00],
        "direct opens with a TLS record, the URL without it with an SSLRequest"
    );
    // Still verified: a name the certificate does not carry is refused.
    let wrong_host = Db::new(&config(
        &format!("{url}&sslnegotiation=direct").replace("@localhost:", "@127.0.0.1:"),
    ))
    .unwrap();
    let reply = Reply::new(health::handle(&wrong_host, Event::fixture("health").request()).await);
    assert_eq!(reply.status, 503, "{}", reply.json);
}

/// Whether `db`'s connection is encrypted, and as which role.
async fn encrypted_as(db: &Db) -> (bool, String) {
    let rows = db
        .query(
            &Statement::read(
                "SELECT ssl, current_user::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            ),
            &[],
        )
        .await
        .expect("a query over TLS");
    (rows[0].get(0), rows[0].get(1))
}

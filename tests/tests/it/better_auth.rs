//! Better Auth's own JWTs (the `jwt()` plugin), issued by a real Better Auth
//! for EdDSA, ES256 and RS256 keys, through the real handlers. The JWKS is
//! served over HTTP by the fixture, which counts every fetch.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use todo_shared::config::AuthConfig;
use todo_shared::outside::jwks::{Clock, JwksSettings, JwksSource};
use todo_shared::web::handlers::{PREFETCH_BUDGET, TasksState};
use todo_tests::*;

const ALGORITHMS: [&str; 3] = ["EdDSA", "ES256", "RS256"];

/// A verifier on the fixture's JWKS under `prefix`, holding JWKS tokens to
/// Better Auth's `iss`/`aud` (as `BETTER_AUTH_URL` does), and (optionally)
/// the HS256 secret alongside.
fn jwks_state(ba: &BetterAuth, prefix: &str, settings: JwksSettings, secret: bool) -> TasksState {
    let auth = AuthConfig {
        secret: secret.then(|| SECRET.into()),
        jwks: Some(JwksSource::url(&ba.jwks_url(prefix)).unwrap()),
        jwks_settings: settings,
        issuer: None,
        audience: None,
        better_auth_url: Some(ba.base.clone()),
    };
    TasksState::new(&db_config(), &auth).unwrap()
}

fn unique_prefix(label: &str) -> String {
    unique_user(label)
}

async fn list(state: &TasksState, token: &str) -> Reply {
    call(
        state,
        &Event::fixture("tasks-list").bearer(token).query(&[]),
    )
    .await
}

async fn create(state: &TasksState, token: &str, title: &str) -> Reply {
    call(
        state,
        &Event::fixture("tasks-create")
            .bearer(token)
            .body_json(&json!({"title": title})),
    )
    .await
}

fn part(token: &str, index: usize) -> Value {
    let segment = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

fn with_part(token: &str, index: usize, value: &Value) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[index] = URL_SAFE_NO_PAD.encode(value.to_string());
    parts.join(".")
}

#[tokio::test]
async fn better_auth_url_alone_accepts_real_tokens_scoped_to_their_user() {
    let ba = BetterAuth::load();
    // Configured as a deployment would be: only BETTER_AUTH_URL. The JWKS is
    // then <url>/api/auth/jwks and iss/aud must be that URL.
    let base = ba.base.clone();
    let auth =
        AuthConfig::from_lookup(|name| (name == "BETTER_AUTH_URL").then(|| base.clone())).unwrap();
    let state = TasksState::new(&db_config(), &auth).unwrap();
    let pg = pg().await;
    for alg in ALGORITHMS {
        let alice = ba.token(alg, "alice");
        let bob = ba.token(alg, "bob");
        assert_eq!(part(&alice.token, 0)["alg"], alg);
        let created = create(&state, &alice.token, &format!("{alg} task")).await;
        assert_eq!(created.status, 201, "{alg}: {}", created.json);
        assert_eq!(created.json["user_id"], alice.user_id.as_str());
        let id = created.json["id"].as_i64().unwrap();
        assert_eq!(
            task_row(&pg, id).await.unwrap()["user_id"],
            alice.user_id.as_str()
        );
        // Bob, same Better Auth, does not see or reach Alice's task.
        let theirs = call(
            &state,
            &Event::fixture("task-get")
                .bearer(&bob.token)
                .task(id, false),
        )
        .await;
        theirs.expect_error(404, "NOT_FOUND");
        let bobs = list(&state, &bob.token).await;
        assert_eq!(bobs.status, 200);
        assert!(
            bobs.json["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["user_id"] == bob.user_id.as_str())
        );
    }
    // HS256 is not configured here: a token signed with any secret is refused.
    let hs = sign(SECRET, &json!({"sub": "x", "exp": now() + 900}));
    list(&state, &hs).await.expect_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn hs256_and_jwks_work_side_by_side() {
    let ba = BetterAuth::load();
    let state = jwks_state(&ba, &unique_prefix("both"), JwksSettings::default(), true);
    assert_eq!(
        list(&state, &ba.token("EdDSA", "alice").token).await.status,
        200
    );
    // BETTER_AUTH_URL holds HS256 tokens to its issuer and audience too.
    let user = unique_user("hs");
    let claims =
        serde_json::json!({"sub": user, "exp": now() + 900, "iss": ba.base, "aud": ba.base});
    assert_eq!(list(&state, &sign(SECRET, &claims)).await.status, 200);
    assert_eq!(list(&state, &token(&user)).await.status, 401);
}

#[tokio::test]
async fn inline_jwks_needs_no_fetch() {
    let ba = BetterAuth::load();
    for alg in ALGORITHMS {
        let auth = AuthConfig {
            jwks: Some(JwksSource::inline(&ba.jwks(alg).to_string()).unwrap()),
            secret: None,
            issuer: Some(ba.base.clone()),
            audience: Some(ba.base.clone()),
            ..AuthConfig::hs256(SECRET)
        };
        let state = TasksState::new(&db_config(), &auth).unwrap();
        let reply = list(&state, &ba.token(alg, "alice").token).await;
        assert_eq!(reply.status, 200, "{alg}: {}", reply.json);
    }
}

#[tokio::test]
async fn forged_altered_and_foreign_tokens_are_401() {
    let ba = BetterAuth::load();
    let prefix = unique_prefix("reject");
    let state = jwks_state(&ba, &prefix, JwksSettings::default(), true);
    for alg in ALGORITHMS {
        let alice = ba.token(alg, "alice");
        let bob = ba.token(alg, "bob");
        assert_eq!(list(&state, &alice.token).await.status, 200, "{alg}");
        let mut refused = vec![
            // Another Better Auth instance (same issuer, keys never published).
            ("another instance", ba.token(alg, "other").token),
        ];
        // Alice's token claiming to be Bob.
        let mut payload = part(&alice.token, 1);
        payload["sub"] = json!(bob.user_id);
        payload["id"] = json!(bob.user_id);
        refused.push(("tampered payload", with_part(&alice.token, 1, &payload)));
        // A header naming another algorithm than the key's.
        let mut header = part(&alice.token, 0);
        header["alg"] = json!(if alg == "ES256" { "ES384" } else { "ES256" });
        refused.push((
            "header disagrees with key",
            with_part(&alice.token, 0, &header),
        ));
        // alg: none with a real kid.
        let kid = part(&alice.token, 0)["kid"].as_str().unwrap().to_owned();
        let none_header = json!({"alg": "none", "kid": kid});
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(none_header.to_string()),
            alice.token.split('.').nth(1).unwrap()
        );
        refused.push(("alg none", none));
        // The classic confusion: HS256 keyed with the server's public key.
        let jwk = ba.jwks(alg)["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid.as_str())
            .unwrap()
            .clone();
        let public_x = jwk
            .get("x")
            .or(jwk.get("n"))
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        for hmac_key in [
            jwk.to_string(),
            public_x.clone(),
            String::from_utf8(URL_SAFE_NO_PAD.decode(&public_x).unwrap_or_default())
                .unwrap_or_default(),
        ] {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(kid.clone());
            let forged = encode(
                &header,
                &payload,
                &EncodingKey::from_secret(hmac_key.as_bytes()),
            )
            .unwrap();
            refused.push(("HS256 keyed with the public key", forged));
        }
        for (name, token) in refused {
            let reply = list(&state, &token).await;
            assert_eq!(reply.status, 401, "{alg} {name}: {}", reply.json);
            assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        }
    }
    // Without a secret configured, the confusion token has nothing to match either.
    let no_secret = jwks_state(&ba, &prefix, JwksSettings::default(), false);
    let alice = ba.token("RS256", "alice");
    let kid = part(&alice.token, 0)["kid"].as_str().unwrap().to_owned();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid);
    let forged = encode(
        &header,
        &part(&alice.token, 1),
        &EncodingKey::from_secret(ba.jwks("RS256").to_string().as_bytes()),
    )
    .unwrap();
    list(&no_secret, &forged)
        .await
        .expect_error(401, "UNAUTHORIZED");
}

/// Each state differs from an accepting one (the first, the control) only in
/// the issuer or audience it expects.
#[tokio::test]
async fn wrong_issuer_or_audience_is_401() {
    let ba = BetterAuth::load();
    let alice = ba.token("EdDSA", "alice");
    let right = Some(ba.base.as_str());
    let wrong = Some("https://elsewhere.example.com");
    for (issuer, audience, status) in [
        (right, right, 200),
        (wrong, right, 401),
        (right, wrong, 401),
    ] {
        let auth = AuthConfig {
            secret: None,
            jwks: Some(JwksSource::url(&ba.jwks_url(&unique_prefix("issaud"))).unwrap()),
            issuer: issuer.map(str::to_owned),
            audience: audience.map(str::to_owned),
            ..AuthConfig::hs256(SECRET)
        };
        let state = TasksState::new(&db_config(), &auth).unwrap();
        let reply = list(&state, &alice.token).await;
        assert_eq!(
            reply.status, status,
            "iss {issuer:?}, aud {audience:?}: {}",
            reply.json
        );
    }
    // A JWKS source held to no issuer or no audience refuses to start.
    for (issuer, audience, variable) in [(right, None, "JWT_AUDIENCE"), (None, right, "JWT_ISSUER")]
    {
        let auth = AuthConfig {
            secret: None,
            jwks: Some(JwksSource::url(&ba.jwks_url("never-fetched")).unwrap()),
            issuer: issuer.map(str::to_owned),
            audience: audience.map(str::to_owned),
            ..AuthConfig::hs256(SECRET)
        };
        let refused = TasksState::new(&db_config(), &auth).err().expect("refused");
        assert_eq!(refused.variable, variable);
    }
    // BETTER_AUTH_URL sets the iss/aud default: this app's URL accepts the
    // token, another app's does not.
    for (url, status) in [
        (ba.base.as_str(), 200),
        ("https://another-app.example.com", 401),
    ] {
        let auth = AuthConfig::from_lookup(|name| match name {
            "BETTER_AUTH_URL" => Some(url.to_owned()),
            _ => None,
        })
        .unwrap();
        let auth = AuthConfig {
            jwks: Some(JwksSource::url(&ba.jwks_url(&unique_prefix("wrongapp"))).unwrap()),
            ..auth
        };
        let state = TasksState::new(&db_config(), &auth).unwrap();
        let reply = list(&state, &alice.token).await;
        assert_eq!(
            reply.status, status,
            "BETTER_AUTH_URL {url}: {}",
            reply.json
        );
    }
}

#[tokio::test]
async fn forged_kids_cause_at_most_one_fetch_a_minute() {
    let ba = BetterAuth::load();
    let prefix = unique_prefix("forged");
    let state = jwks_state(&ba, &prefix, JwksSettings::default(), false);
    assert_eq!(
        ba.control(&prefix, "hits"),
        0,
        "nothing is fetched at start-up"
    );
    let alice = ba.token("EdDSA", "alice");
    let payload = alice.token.split('.').nth(1).unwrap().to_owned();
    // Before any real token: the first forged kid fetches, the rest do not.
    for i in 0..25 {
        let header = json!({"alg": "EdDSA", "kid": format!("forged-{i}")});
        let forged = format!(
            "{}.{payload}.AAAA",
            URL_SAFE_NO_PAD.encode(header.to_string())
        );
        list(&state, &forged)
            .await
            .expect_error(401, "UNAUTHORIZED");
    }
    assert_eq!(ba.control(&prefix, "hits"), 1);
    // Known keys are served from the cache.
    assert_eq!(list(&state, &alice.token).await.status, 200);
    assert_eq!(
        list(&state, &ba.token("RS256", "bob").token).await.status,
        200
    );
    assert_eq!(ba.control(&prefix, "hits"), 1);
}

#[tokio::test]
async fn a_rotated_key_is_accepted_after_one_refetch() {
    let ba = BetterAuth::load();
    let prefix = unique_prefix("rotate");
    // The real interval is 60 s; shortened so the test need not wait a minute.
    let settings = JwksSettings {
        refetch_interval: Duration::from_millis(400),
        retry_interval: Duration::from_millis(400),
        ..JwksSettings::default()
    };
    let state = jwks_state(&ba, &prefix, settings, false);
    assert_eq!(
        list(&state, &ba.token("EdDSA", "alice").token).await.status,
        200
    );
    assert_eq!(ba.control(&prefix, "hits"), 1);
    ba.control(&prefix, "rotate");
    for alg in ALGORITHMS {
        let carol = ba.token(alg, "rotated");
        // Within the interval the new kid is unknown and not fetched again.
        list(&state, &carol.token)
            .await
            .expect_error(401, "UNAUTHORIZED");
    }
    assert_eq!(ba.control(&prefix, "hits"), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let carol = ba.token("EdDSA", "rotated");
    let created = create(&state, &carol.token, "after rotation").await;
    assert_eq!(created.status, 201, "{}", created.json);
    assert_eq!(created.json["user_id"], carol.user_id.as_str());
    // The refetch brought every rotated key at once.
    for alg in ALGORITHMS {
        assert_eq!(
            list(&state, &ba.token(alg, "rotated").token).await.status,
            200,
            "{alg}"
        );
    }
    assert_eq!(ba.control(&prefix, "hits"), 2);
}

#[tokio::test]
async fn jwks_down_is_503_until_a_key_is_cached_then_cached_keys_serve() {
    let ba = BetterAuth::load();
    let alice = ba.token("ES256", "alice");

    // Down from the start: nothing cached, so our dependency failed: 503.
    let cold = unique_prefix("down-cold");
    ba.control(&cold, "down");
    let state = jwks_state(&ba, &cold, JwksSettings::default(), false);
    for _ in 0..3 {
        let reply = list(&state, &alice.token).await;
        reply.expect_error(503, "SERVICE_UNAVAILABLE");
        assert!(reply.header("retry-after").is_some());
    }
    assert_eq!(
        ba.control(&cold, "hits"),
        1,
        "retries wait, they do not hammer"
    );

    // Down after a fetch: cached keys keep working.
    let warm = unique_prefix("down-warm");
    let settings = JwksSettings {
        refetch_interval: Duration::ZERO,
        retry_interval: Duration::from_secs(60),
        ..JwksSettings::default()
    };
    let state = jwks_state(&ba, &warm, settings, false);
    assert_eq!(list(&state, &alice.token).await.status, 200);
    ba.control(&warm, "down");
    assert_eq!(list(&state, &alice.token).await.status, 200);
    assert_eq!(
        list(&state, &ba.token("EdDSA", "bob").token).await.status,
        200
    );
    // An unknown kid needs the JWKS, which cannot be fetched: 503, not 401.
    list(&state, &ba.token("ES256", "rotated").token)
        .await
        .expect_error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(ba.control(&warm, "hits"), 2);
}

/// Default lifetimes (10 min TTL, 1 h maximum age) on a clock the test moves.
fn clocked_state(ba: &BetterAuth, prefix: &str) -> (TasksState, Clock) {
    let settings = JwksSettings::default();
    let clock = settings.clock.clone();
    (jwks_state(ba, prefix, settings, false), clock)
}

#[tokio::test]
async fn a_key_removed_from_the_jwks_stops_verifying_within_the_ttl() {
    let ba = BetterAuth::load();
    let prefix = unique_prefix("retire");
    let (state, clock) = clocked_state(&ba, &prefix);
    let alice = ba.token("EdDSA", "alice");
    assert_eq!(list(&state, &alice.token).await.status, 200);
    // Better Auth rotates and removes the old key.
    ba.control(&prefix, "retire");
    clock.advance(Duration::from_secs(9 * 60));
    assert_eq!(
        list(&state, &alice.token).await.status,
        200,
        "within the TTL the cached key still serves"
    );
    assert_eq!(ba.control(&prefix, "hits"), 1);
    clock.advance(Duration::from_secs(60));
    list(&state, &alice.token)
        .await
        .expect_error(401, "UNAUTHORIZED");
    assert_eq!(ba.control(&prefix, "hits"), 2, "one refetch at the TTL");
    let carol = ba.token("EdDSA", "rotated");
    assert_eq!(list(&state, &carol.token).await.status, 200);
    list(&state, &alice.token)
        .await
        .expect_error(401, "UNAUTHORIZED");
    assert_eq!(ba.control(&prefix, "hits"), 2);
}

#[tokio::test]
async fn while_the_jwks_is_down_cached_keys_serve_up_to_their_maximum_age() {
    let ba = BetterAuth::load();
    let prefix = unique_prefix("max-age");
    let (state, clock) = clocked_state(&ba, &prefix);
    let alice = ba.token("ES256", "alice");
    assert_eq!(list(&state, &alice.token).await.status, 200);
    ba.control(&prefix, "down");
    // Past the TTL: a refetch is tried, fails, and the cached key serves.
    clock.advance(Duration::from_secs(11 * 60));
    assert_eq!(list(&state, &alice.token).await.status, 200);
    assert_eq!(ba.control(&prefix, "hits"), 2);
    // Retries still wait the retry interval.
    assert_eq!(list(&state, &alice.token).await.status, 200);
    assert_eq!(ba.control(&prefix, "hits"), 2);
    clock.advance(Duration::from_secs(48 * 60));
    assert_eq!(list(&state, &alice.token).await.status, 200, "59 min old");
    assert_eq!(ba.control(&prefix, "hits"), 3);
    // An hour old: the keys are no longer trusted.
    clock.advance(Duration::from_secs(60));
    for _ in 0..2 {
        let reply = list(&state, &alice.token).await;
        reply.expect_error(503, "SERVICE_UNAVAILABLE");
        assert!(reply.header("retry-after").is_some());
    }
    assert_eq!(ba.control(&prefix, "hits"), 4);
    // The JWKS is back: the next fetch (after the retry interval) serves.
    ba.control(&prefix, "up");
    clock.advance(Duration::from_secs(10));
    assert_eq!(list(&state, &alice.token).await.status, 200);
    assert_eq!(ba.control(&prefix, "hits"), 5);
}

#[tokio::test]
async fn real_tokens_expire_with_60_seconds_of_leeway() {
    let ba = BetterAuth::load();
    let state = jwks_state(
        &ba,
        &unique_prefix("expiry"),
        JwksSettings::default(),
        false,
    );
    let expired = ba.fresh_token("EdDSA", "expired");
    list(&state, &expired.token)
        .await
        .expect_error(401, "UNAUTHORIZED");
    let recent = ba.fresh_token("EdDSA", "recent");
    assert_eq!(list(&state, &recent.token).await.status, 200);
}

#[tokio::test]
async fn a_silent_jwks_server_is_a_503_not_a_hang() {
    let ba = BetterAuth::load();
    let (port, server) = silent_server().await;
    let auth = AuthConfig {
        secret: None,
        jwks: Some(JwksSource::url(&format!("http://127.0.0.1:{port}/api/auth/jwks")).unwrap()),
        better_auth_url: Some(ba.base.clone()),
        ..AuthConfig::hs256(SECRET)
    };
    let state = TasksState::new(&db_config(), &auth).unwrap();
    // The fetch gives up after 3 s; well before this bound.
    let reply = within(
        Duration::from_secs(10),
        "a list behind a silent JWKS server",
        list(&state, &ba.token("EdDSA", "alice").token),
    )
    .await;
    reply.expect_error(503, "SERVICE_UNAVAILABLE");
    server.abort();
}

/// Init's head start (`TasksState::prefetch`, which `from_env` runs): the
/// JWKS fetched and a database connection opened before any request, so
/// the first request fetches and connects nothing. With the JWKS down and a
/// database that accepts but never answers, it gives up within its budget,
/// and the first request meets the failure as it always has.
#[tokio::test]
async fn init_prefetches_the_jwks_and_a_connection_and_never_fails_for_them() {
    let ba = BetterAuth::load();
    let alice = ba.token("EdDSA", "alice");
    let prefix = unique_prefix("prefetch");
    let state = jwks_state(&ba, &prefix, JwksSettings::default(), false);
    assert_eq!(
        (ba.control(&prefix, "hits"), state.db.connections()),
        (0, 0)
    );
    state.prefetch(PREFETCH_BUDGET).await;
    assert_eq!(
        (ba.control(&prefix, "hits"), state.db.connections()),
        (1, 1)
    );
    assert_eq!(list(&state, &alice.token).await.status, 200);
    assert_eq!(
        (ba.control(&prefix, "hits"), state.db.connections()),
        (1, 1)
    );

    let down = unique_prefix("prefetch-down");
    ba.control(&down, "down");
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let auth = AuthConfig {
        jwks: Some(JwksSource::url(&ba.jwks_url(&down)).unwrap()),
        secret: None,
        better_auth_url: Some(ba.base.clone()),
        ..AuthConfig::hs256(SECRET)
    };
    let db = db_config_for(&format!(
        "postgres://nobody@127.0.0.1:{}/postgres?sslmode=disable",
        silent.local_addr().unwrap().port()
    ));
    let state = TasksState::new(&db, &auth).unwrap();
    let budget = Duration::from_millis(300);
    let started = std::time::Instant::now();
    state.prefetch(budget).await;
    assert!(started.elapsed() < budget * 5, "{:?}", started.elapsed());
    assert_eq!((ba.control(&down, "hits"), state.db.connections()), (1, 0));
    list(&state, &alice.token)
        .await
        .expect_error(503, "SERVICE_UNAVAILABLE");
}

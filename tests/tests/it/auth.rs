//! Tokens, through the real handlers: what is accepted, what is a 401, and
//! that a 401 never says which check failed.

use base64::Engine as _;
use serde_json::{Value, json};
use todo_shared::config::AuthConfig;
use todo_shared::web::handlers::TasksState;
use todo_tests::*;

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

async fn list_with(state: &TasksState, authorization: Option<&str>) -> Reply {
    let mut event = Event::fixture("tasks-list").query(&[]);
    event = match authorization {
        Some(value) => event.header("authorization", value),
        None => event.without_header("authorization"),
    };
    call(state, &event).await
}

/// Every 401 is the same: same body, same header, whatever failed.
fn assert_opaque_401(reply: &Reply) {
    reply.expect_error(401, "UNAUTHORIZED");
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        reply.json,
        json!({"error": {"code": "UNAUTHORIZED", "message": "Invalid or missing authentication token"}})
    );
}

#[tokio::test]
async fn rejected_tokens_are_opaque_401s() {
    let state = state();
    let user = unique_user("auth");
    let good = token(&user);
    let (header, payload, signature) = {
        let mut parts = good.split('.');
        (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        )
    };
    let tampered_payload = b64(&json!({"sub": "someone-else", "iat": now(), "exp": now() + 900}));
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&json!({"sub": user, "exp": now() + 900}))
    );
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing header", None),
        ("wrong scheme", Some(format!("Basic {good}"))),
        ("token without scheme", Some(good.clone())),
        ("empty token", Some("Bearer ".into())),
        ("garbage", Some("Bearer not.a.jwt".into())),
        (
            "bad signature",
            Some(format!(
                "Bearer {header}.{payload}.{}",
                "A".repeat(signature.len())
            )),
        ),
        (
            "tampered payload",
            Some(format!("Bearer {header}.{tampered_payload}.{signature}")),
        ),
        (
            "wrong secret",
            Some(format!(
                "Bearer {}",
                sign(
                    "another-secret-of-at-least-32-chars!!",
                    &json!({"sub": user, "exp": now() + 900})
                )
            )),
        ),
        ("alg none", Some(format!("Bearer {alg_none}"))),
        (
            "alg none, no signature dot",
            Some(format!("Bearer {}", alg_none.trim_end_matches('.'))),
        ),
        (
            "expired 61 s ago",
            Some(format!(
                "Bearer {}",
                sign(SECRET, &json!({"sub": user, "exp": now() - 61}))
            )),
        ),
        (
            "not yet valid",
            Some(format!(
                "Bearer {}",
                sign(
                    SECRET,
                    &json!({"sub": user, "exp": now() + 900, "nbf": now() + 120})
                )
            )),
        ),
        (
            "no exp",
            Some(format!("Bearer {}", sign(SECRET, &json!({"sub": user})))),
        ),
        (
            "exp not a number",
            Some(format!(
                "Bearer {}",
                sign(SECRET, &json!({"sub": user, "exp": "tomorrow"}))
            )),
        ),
        (
            "no user claim",
            Some(format!(
                "Bearer {}",
                sign(SECRET, &json!({"exp": now() + 900, "email": "a@b.c"}))
            )),
        ),
        (
            "empty sub",
            Some(format!(
                "Bearer {}",
                sign(SECRET, &json!({"sub": "", "exp": now() + 900}))
            )),
        ),
        (
            "numeric sub",
            Some(format!(
                "Bearer {}",
                sign(SECRET, &json!({"sub": 42, "exp": now() + 900}))
            )),
        ),
        (
            "sub over 255 characters",
            Some(format!(
                "Bearer {}",
                sign(SECRET, &json!({"sub": "ü".repeat(256), "exp": now() + 900}))
            )),
        ),
        (
            "sub with NUL",
            Some(format!(
                "Bearer {}",
                sign(SECRET, &json!({"sub": "a\u{0}b", "exp": now() + 900}))
            )),
        ),
    ];
    for (name, authorization) in cases {
        let reply = list_with(&state, authorization.as_deref()).await;
        assert_eq!(reply.status, 401, "{name}: {}", reply.json);
        assert_opaque_401(&reply);
    }
}

#[tokio::test]
async fn confusion_with_an_hs256_header_over_other_algorithms_fails() {
    // A token whose header claims RS256 is not checked against the secret.
    let state = state();
    let forged = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "RS256", "typ": "JWT"})),
        b64(&json!({"sub": "x", "exp": now() + 900})),
        "c2lnbmF0dXJl"
    );
    assert_opaque_401(&list_with(&state, Some(&format!("Bearer {forged}"))).await);
}

#[tokio::test]
async fn accepted_tokens_and_the_user_claims() {
    let state = state();
    let pg = pg().await;
    // Expired 30 s ago is within the 60 s leeway.
    let user = unique_user("leeway");
    let recent = sign(SECRET, &json!({"sub": user, "exp": now() - 30}));
    let reply = list_with(&state, Some(&format!("Bearer {recent}"))).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    // The scheme is case-insensitive.
    let reply = list_with(&state, Some(&format!("bEaReR {}", token(&user)))).await;
    assert_eq!(reply.status, 200);

    // Each of sub, user_id, userId, id names the user; the task is theirs.
    for claim in ["sub", "user_id", "userId", "id"] {
        let user = unique_user(claim);
        let token = sign(
            SECRET,
            &json!({claim: user, "exp": now() + 900, "name": "Ann"}),
        );
        let reply = call(
            &state,
            &Event::fixture("tasks-create")
                .bearer(&token)
                .body_json(&json!({"title": claim})),
        )
        .await;
        assert_eq!(reply.status, 201, "{claim}: {}", reply.json);
        assert_eq!(reply.json["user_id"], user.as_str());
        let row = task_row(&pg, reply.json["id"].as_i64().unwrap())
            .await
            .unwrap();
        assert_eq!(row["user_id"], user.as_str(), "{claim}");
    }
    // sub wins over the others; 255 characters is the longest accepted.
    let long = "ü".repeat(255);
    let token = sign(
        SECRET,
        &json!({"sub": long, "id": "other", "exp": now() + 900}),
    );
    let reply = call(
        &state,
        &Event::fixture("tasks-create")
            .bearer(&token)
            .body_json(&json!({"title": "t"})),
    )
    .await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.json["user_id"], long.as_str());
}

/// A user id with surrounding whitespace or a control character is a 401,
/// never trimmed: `alice` and `alice ` cannot be two owners. The same
/// request with the clean id is the control.
#[tokio::test]
async fn user_ids_with_whitespace_or_control_characters_are_401() {
    let state = state();
    let pg = pg().await;
    let user = unique_user("clean");
    let create = |id: &str| {
        Event::fixture("tasks-create")
            .bearer(&sign(SECRET, &json!({"sub": id, "exp": now() + 900})))
            .body_json(&json!({"title": "mine"}))
    };
    assert_eq!(call(&state, &create(&user)).await.status, 201);
    for id in [
        format!("{user} "),
        format!(" {user}"),
        format!("{user}\n"),
        format!("{user}\u{a0}"),
        format!("{user}\u{7}"),
        "   ".to_owned(),
    ] {
        assert_opaque_401(&call(&state, &create(&id)).await);
        assert_eq!(count_tasks(&pg, &id).await, 0, "{id:?}");
    }
    assert_eq!(count_tasks(&pg, &user).await, 1);
}

#[tokio::test]
async fn issuer_and_audience_are_checked_when_configured() {
    expect_issuer_and_audience(AuthConfig {
        issuer: Some("https://auth.example.com".into()),
        audience: Some("https://auth.example.com".into()),
        ..AuthConfig::hs256(SECRET)
    })
    .await;
}

/// `BETTER_AUTH_URL` is the issuer and audience of HS256 tokens too, not
/// only of JWKS ones: other JWTs may be signed with the same secret.
#[tokio::test]
async fn better_auth_url_holds_hs256_tokens_to_its_issuer_and_audience() {
    let config = AuthConfig::from_lookup(|name| match name {
        "BETTER_AUTH_SECRET" => Some(SECRET.into()),
        "BETTER_AUTH_URL" => Some("https://auth.example.com/".into()),
        _ => None,
    })
    .unwrap();
    expect_issuer_and_audience(config).await;
}

/// HS256 tokens are accepted with `https://auth.example.com` as `iss` and
/// `aud`, and a 401 with another or none.
async fn expect_issuer_and_audience(config: AuthConfig) {
    let state = TasksState::new(&db_config(), &config).unwrap();
    let user = unique_user("issaud");
    let base = json!({"sub": user, "exp": now() + 900,
                      "iss": "https://auth.example.com", "aud": "https://auth.example.com"});
    let reply = list_with(&state, Some(&format!("Bearer {}", sign(SECRET, &base)))).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    for (field, value) in [
        ("iss", json!("https://evil.example.com")),
        ("aud", json!("https://evil.example.com")),
        ("iss", Value::Null),
        ("aud", Value::Null),
    ] {
        let mut claims = base.clone();
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(field);
        } else {
            claims[field] = value;
        }
        let reply = list_with(&state, Some(&format!("Bearer {}", sign(SECRET, &claims)))).await;
        assert_opaque_401(&reply);
    }
    // An audience list containing ours is fine.
    let mut claims = base.clone();
    claims["aud"] = json!(["other", "https://auth.example.com"]);
    let reply = list_with(&state, Some(&format!("Bearer {}", sign(SECRET, &claims)))).await;
    assert_eq!(reply.status, 200);
}

//! What the benchmark times inside its own process: verifying a token,
//! and turning an event into a request.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::events::{Data, GET_USER, Route};
use crate::settings::Settings;

/// An HS256 token for `user` (signed by the test kit), with `iss` and
/// `aud` when the verifier holds tokens to an issuer (the functions the
/// benchmark starts hold them to none, as `make dev` does).
pub fn hs256(secret: &str, user: &str, issuer: Option<&str>) -> String {
    let mut claims = json!({"sub": user, "exp": todo_tests::now() + 3600});
    if let Some(issuer) = issuer {
        claims["iss"] = json!(issuer);
        claims["aud"] = json!(issuer);
    }
    todo_tests::sign(secret, &claims)
}

/// What verifying one token costs in process, per algorithm: the verifier
/// the functions use, timed over many calls.
pub fn token_cost(settings: &Settings, data: &Data, iterations: usize) -> Value {
    use lambda_http::http::{HeaderMap, HeaderValue};
    use todo_shared::config::AuthConfig;
    use todo_shared::web::auth::Verifier;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let jwks = settings.fixture["jwks"]["EdDSA"].to_string();
    let base = settings.fixture["base"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let secret = settings.secret.clone();
    let config = AuthConfig::from_lookup(|name| match name {
        "BETTER_AUTH_SECRET" => Some(secret.clone()),
        "BETTER_AUTH_JWKS" => Some(jwks.clone()),
        "BETTER_AUTH_URL" => Some(base.clone()),
        _ => None,
    })
    .expect("an auth config");
    let mut out = serde_json::Map::new();
    // BETTER_AUTH_URL holds HS256 tokens to its issuer and audience too.
    for (alg, token) in [
        ("HS256", hs256(&secret, GET_USER, Some(&base))),
        ("EdDSA", data.eddsa.clone()),
    ] {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).expect("a header"),
        );
        rt.block_on(async {
            // The full check: each time a verifier that has not seen the
            // token (built outside the timed part).
            let mut first = Duration::ZERO;
            for _ in 0..iterations {
                let verifier = Verifier::new(&config).expect("a verifier");
                let started = Instant::now();
                let verified = verifier.authenticate(&headers).await;
                first += started.elapsed();
                verified.expect("the token verifies");
            }
            // A token the container has verified before (every warm request
            // of a signed-in user after their first).
            let verifier = Verifier::new(&config).expect("a verifier");
            verifier
                .authenticate(&headers)
                .await
                .expect("the token verifies");
            let started = Instant::now();
            for _ in 0..iterations {
                std::hint::black_box(verifier.authenticate(&headers).await.is_ok());
            }
            let again = started.elapsed();
            let micros = |total: Duration| total.as_secs_f64() * 1e6 / iterations as f64;
            out.insert(
                alg.to_owned(),
                json!({"microseconds": micros(first), "cached_microseconds": micros(again),
                       "iterations": iterations}),
            );
        });
    }
    Value::Object(out)
}

/// What turning a `GET /api/tasks/{id}` event into a request costs in
/// process: the API's through lambda_http (an `http::Request` with its
/// headers, URI and extensions, which the contract's handlers work on), the
/// floor's as a `serde_json::Value`. Part of the gap between the two that no
/// handler code can close.
pub fn glue_cost(data: &Data, iterations: usize) -> Value {
    let event = String::from_utf8(Route::Get.event(data, 0, false)).expect("an event");
    let each = |parse: &dyn Fn() -> bool| {
        let started = Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(parse());
        }
        started.elapsed().as_secs_f64() * 1e6 / iterations as f64
    };
    let api = each(&|| lambda_http::request::from_str(std::hint::black_box(&event)).is_ok());
    let floor = each(&|| serde_json::from_str::<Value>(std::hint::black_box(&event)).is_ok());
    json!({"lambda_http_microseconds": api, "floor_microseconds": floor,
           "event_bytes": event.len(), "iterations": iterations})
}

/// What Init spends its CPU on that no code of ours can make cheaper, each
/// timed in process over `iterations`: the SCRAM-SHA-256 key derivation
/// (4,096 rounds of PBKDF2, as PostgreSQL and Neon store a password), one
/// TLS handshake's client side (CPU time of this thread, against Better
/// Auth's HTTPS, whose certificate the run's CA signs), and the index of
/// the CA bundle's roots (`trust_roots::certificates`).
pub fn init_parts(settings: &Settings, iterations: usize) -> Value {
    use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
    let iterations = iterations.clamp(10, 200);
    let cpu = || crate::stats::on_cpu(std::path::Path::new("/proc/thread-self"));
    let per = |total: Duration| total.as_secs_f64() * 1e6 / iterations as f64;

    let mut scram = Duration::ZERO;
    for _ in 0..iterations {
        let mut client =
            ScramSha256::new(b"bench-password-0123456789", ChannelBinding::unsupported());
        let first = String::from_utf8_lossy(client.message()).into_owned();
        // `n,,n=,r=<nonce>`: the nonce may itself hold "r=".
        let nonce = first
            .split_once(",r=")
            .map(|(_, nonce)| nonce.to_owned())
            .unwrap_or_default();
        let server_first = format!("r={nonce}server-nonce,s=c2FsdHNhbHRzYWx0c2FsdA==,i=4096");
        let started = cpu();
        client
            .update(server_first.as_bytes())
            .expect("a server-first message");
        scram += cpu() - started;
    }

    let https = settings.fixture["https_base"].as_str().unwrap_or_default();
    let address = https
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned();
    let host = address.split(':').next().unwrap_or_default().to_owned();
    let mut builder = native_tls::TlsConnector::builder();
    let bundle = std::fs::read(&settings.ca_bundle).expect("the CA bundle");
    for root in native_tls::Certificate::stack_from_pem(&bundle).expect("PEM") {
        builder.add_root_certificate(root);
    }
    let connector = builder.build().expect("a connector");
    let mut handshake = Duration::ZERO;
    for _ in 0..iterations {
        let stream = std::net::TcpStream::connect(&address).expect("Better Auth over HTTPS");
        let started = cpu();
        let tls = connector.connect(&host, stream).expect("a handshake");
        handshake += cpu() - started;
        drop(tls);
    }

    let mut index = Duration::ZERO;
    for _ in 0..iterations {
        let started = cpu();
        let roots = trust_roots::certificates(std::path::Path::new(&settings.ca_bundle));
        index += cpu() - started;
        std::hint::black_box(roots.expect("the bundle").len());
    }
    json!({
        "scram_sha256_4096_us": per(scram),
        "tls_handshake_client_cpu_us": per(handshake),
        "roots_index_us": per(index),
        "iterations": iterations,
    })
}

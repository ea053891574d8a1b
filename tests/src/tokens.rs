//! Tokens: HS256 ones minted as Better Auth's would be, and real ones from
//! the Better Auth fixture (`tests/better-auth`), with its users.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use todo_shared::config::AuthConfig;

/// The HS256 secret of in-process tests (a test value, not a credential).
pub const SECRET: &str = "in-process-test-secret-0123456789abcdef";

/// A user id no other test uses.
pub fn unique_user(label: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{label}-{}-{nanos}-{n}", std::process::id())
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An HS256 token over `claims`, signed with `secret`.
pub fn sign(secret: &str, claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

/// A valid in-process token for `user`, as Better Auth would issue it.
pub fn token(user: &str) -> String {
    sign(
        SECRET,
        &json!({ "sub": user, "iat": now(), "exp": now() + 900 }),
    )
}

/// Tokens and keys from the real Better Auth of `tests/better-auth/issuer.mjs`,
/// which the test command starts (`BETTER_AUTH_FIXTURE` names its output).
pub struct BetterAuth {
    /// The fixture server's base URL: Better Auth's `baseURL`, so also the
    /// tokens' `iss` and `aud`.
    pub base: String,
    fixture: Value,
}

/// A real token and the user id Better Auth put in its `sub`.
pub struct RealToken {
    pub token: String,
    pub user_id: String,
}

impl BetterAuth {
    /// The fixture `BETTER_AUTH_FIXTURE` names (the test command's), else
    /// the kit's own ([`crate::services::shared`]).
    pub fn load() -> Self {
        let path = Self::file();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let fixture: Value = serde_json::from_str(&text).expect("fixture JSON");
        let base = fixture["base"].as_str().expect("base").to_owned();
        BetterAuth { base, fixture }
    }

    /// The fixture's file: `BETTER_AUTH_FIXTURE` (the test command's), else
    /// the kit's own.
    pub fn file() -> String {
        std::env::var("BETTER_AUTH_FIXTURE").unwrap_or_else(|_| {
            let shared = crate::services::shared();
            shared.better_auth.file.display().to_string()
        })
    }

    /// `who` is `alice` or `bob` (same instance), `rotated` (a key published
    /// only after rotation) or `other` (a key never published); `alg` is
    /// `EdDSA`, `ES256` or `RS256`.
    pub fn token(&self, alg: &str, who: &str) -> RealToken {
        let entry = &self.fixture["tokens"][alg][who];
        RealToken {
            token: entry["token"].as_str().expect("token").to_owned(),
            user_id: entry["user_id"].as_str().expect("user_id").to_owned(),
        }
    }

    /// A token issued now (`who` also `expired`: exp 2 minutes ago, or
    /// `recent`: exp 30 seconds ago, both EdDSA).
    pub fn fresh_token(&self, alg: &str, who: &str) -> RealToken {
        let url = format!("{}/token/{alg}/{who}", self.base);
        let mut response = ureq::get(&url).call().expect("fixture token");
        let entry: Value =
            serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        RealToken {
            token: entry["token"].as_str().expect("token").to_owned(),
            user_id: entry["user_id"].as_str().expect("user_id").to_owned(),
        }
    }

    /// The fixture's HTTPS address (`https://localhost:<port>`, certificate
    /// from the test CA), when the test command gave it one.
    pub fn https_base(&self) -> Option<String> {
        self.fixture["https_base"].as_str().map(str::to_owned)
    }

    /// The public JWKS of the `alg` instance, as Better Auth serves it.
    pub fn jwks(&self, alg: &str) -> Value {
        self.fixture["jwks"][alg].clone()
    }

    /// The JWKS URL under a path prefix of the caller's own.
    pub fn jwks_url(&self, prefix: &str) -> String {
        format!("{}/{prefix}/api/auth/jwks", self.base)
    }

    /// POST `<prefix>/control/<action>` (`rotate`, `down`, `up`, `hits`;
    /// the prefix `""` is the root);
    /// returns the prefix's fetch count.
    pub fn control(&self, prefix: &str, action: &str) -> u64 {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        // The empty prefix is the root, where BETTER_AUTH_URL finds the JWKS.
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("/{prefix}")
        };
        let url = format!("{}{prefix}/control/{action}", self.base);
        let mut response = agent.post(&url).send_empty().expect("fixture control");
        let state: Value =
            serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        state["hits"].as_u64().expect("hits")
    }
}

/// An HS256 token for `user`, valid `ttl` seconds, that passes exactly the
/// checks `config` makes (its `iss` and `aud`, when it sets them): what
/// `make token` prints. `None` without a secret to sign with.
pub fn local_token(config: &AuthConfig, user: &str, ttl: i64) -> Option<String> {
    let now = now();
    let mut claims = json!({ "sub": user, "iat": now, "exp": now + ttl });
    let (issuer, audience) = config.claims();
    if let Some(issuer) = issuer {
        claims["iss"] = json!(issuer);
    }
    if let Some(audience) = audience {
        claims["aud"] = json!(audience);
    }
    Some(sign(
        secrecy::ExposeSecret::expose_secret(config.secret.as_ref()?),
        &claims,
    ))
}

//! Bearer-token verification: who is calling.
//!
//! Two kinds of token are accepted at once. HS256 tokens are checked only
//! against `BETTER_AUTH_SECRET`; asymmetric tokens (Better Auth's `jwt()`
//! plugin: EdDSA by default, ES256, RS256, PS256...) only against the key
//! their `kid` names in Better Auth's JWKS, with the algorithm that key
//! fixes. The token header only chooses which of the two to consult, and a
//! header whose `alg` disagrees with the key is refused; so an HS256 token
//! "signed" with a public key, or `alg: none`, gets nowhere.
//!
//! The user id comes only from a verified token. Every failure is the same
//! [`ApiError::Unauthorized`]: a 401 never says which check failed. The one
//! exception is a JWKS that cannot be fetched while no cached key fits: that
//! is our dependency failing, a 503.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use lambda_http::http::{HeaderMap, header};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use crate::config::{AuthConfig, ConfigError};
use crate::domain::values::UserId;
use crate::observe::{self, Dependency};
use crate::outside::jwks::{Jwks, PublicKey};
use crate::web::error::ApiError;

/// Seconds of clock skew allowed on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 60;
/// Claims tried for the user id, in order; the first present one decides.
pub const USER_ID_CLAIMS: [&str; 4] = ["sub", "user_id", "userId", "id"];

/// Verifies tokens; built once per container.
pub struct Verifier {
    hs256: Option<(DecodingKey, Validation)>,
    /// The JWKS, and the claim checks of its tokens (algorithm set per key).
    jwks: Option<(Jwks, Validation)>,
    verified: VerifiedTokens,
}

impl Verifier {
    pub fn new(config: &AuthConfig) -> Result<Self, ConfigError> {
        let hs256 = config.secret.as_ref().map(|secret| {
            let (issuer, audience) = config.claims();
            let validation = validation(Algorithm::HS256, issuer, audience);
            (
                DecodingKey::from_secret(secret.expose_secret().as_bytes()),
                validation,
            )
        });
        let jwks = match &config.jwks {
            None => None,
            Some(source) => {
                let jwks = Jwks::new(source.clone(), config.jwks_settings.clone());
                let (issuer, audience) = config.jwks_claims()?;
                let validation = validation(Algorithm::EdDSA, Some(issuer), Some(audience));
                Some((jwks, validation))
            }
        };
        Ok(Verifier {
            hs256,
            jwks,
            verified: VerifiedTokens::default(),
        })
    }

    /// Fetches the JWKS now if it comes from a URL (see [`Jwks::prefetch`]).
    pub async fn prefetch(&self) {
        if let Some((jwks, _)) = &self.jwks {
            jwks.prefetch().await;
        }
    }

    /// Init's rehearsal of a request's signature check: a key of each
    /// algorithm this verifier holds checks a signature that cannot hold.
    /// Nothing is cached and no user comes of it; the check's code and
    /// tables are only touched once before a request waits for them. The
    /// first EdDSA check in a process takes about 115 µs here, a later one
    /// 75 µs: measured, this takes 0.04 ms off a first request of 0.56 ms
    /// (docs/performance.md). Runs after [`Verifier::prefetch`], which
    /// brings the JWKS keys.
    pub async fn rehearse(&self) {
        let jwks_keys = match &self.jwks {
            Some((jwks, _)) => jwks.one_key_per_algorithm().await,
            None => Vec::new(),
        };
        let keys = (self.hs256.iter().map(|(key, _)| (key, Algorithm::HS256)))
            .chain(jwks_keys.iter().map(|key| (&key.key, key.algorithm)));
        let signature = URL_SAFE_NO_PAD.encode([0u8; 64]);
        for (key, algorithm) in keys {
            let _ = jsonwebtoken::crypto::verify(&signature, b"rehearsal", key, algorithm);
        }
    }

    /// The user id of a request's `Authorization: Bearer <jwt>`.
    ///
    /// A token this container has verified before is not verified again
    /// while its `exp` and `nbf` still hold: a client sends the same token
    /// until it expires, and checking its signature again (40 µs for
    /// Better Auth's EdDSA, more than a tenth of a warm request) tells
    /// nothing new. A JWKS token's key is still looked up every time, and
    /// must be the very key that verified it: a key the JWKS has dropped, a
    /// refetch, and a JWKS past its maximum age act exactly as without the
    /// cache.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<UserId, ApiError> {
        let token = bearer_token(headers).ok_or(ApiError::Unauthorized)?;
        let now = jsonwebtoken::get_current_timestamp();
        let user = match self.verified.get(token, now) {
            Some(hit) if self.still_holds(&hit.key).await? => hit.user,
            _ => self.verify(token).await?,
        };
        observe::caller(user.as_str());
        Ok(user)
    }

    /// Whether the key that verified a cached token is still the one its
    /// `kid` names.
    async fn still_holds(&self, key: &VerifiedBy) -> Result<bool, ApiError> {
        Ok(match key {
            VerifiedBy::Secret => true,
            VerifiedBy::Jwks { kid, key } => self
                .jwks_key(kid)
                .await?
                .is_some_and(|current| Arc::ptr_eq(&current, key)),
        })
    }

    /// The full check of a token: signature, algorithm, claims.
    async fn verify(&self, token: &str) -> Result<UserId, ApiError> {
        // An unknown `alg` (such as `none`) fails here.
        let header = decode_header(token).map_err(|_| ApiError::Unauthorized)?;
        let (claims, by) = match header.alg {
            Algorithm::HS256 => {
                let (key, validation) = self.hs256.as_ref().ok_or(ApiError::Unauthorized)?;
                (
                    decode::<Map<String, Value>>(token, key, validation),
                    VerifiedBy::Secret,
                )
            }
            Algorithm::HS384 | Algorithm::HS512 => return Err(ApiError::Unauthorized),
            _ => {
                let (_, validation) = self.jwks.as_ref().ok_or(ApiError::Unauthorized)?;
                let kid = header.kid.ok_or(ApiError::Unauthorized)?;
                let key = self.jwks_key(&kid).await?.ok_or(ApiError::Unauthorized)?;
                if header.alg != key.algorithm {
                    return Err(ApiError::Unauthorized);
                }
                let mut validation = validation.clone();
                validation.algorithms = vec![key.algorithm];
                let claims = decode::<Map<String, Value>>(token, &key.key, &validation);
                (claims, VerifiedBy::Jwks { kid, key })
            }
        };
        let claims = claims.map_err(|_| ApiError::Unauthorized)?.claims;
        let user = user_id(&claims).ok_or(ApiError::Unauthorized)?;
        self.verified.insert(token, &claims, &user, by);
        Ok(user)
    }

    /// The JWKS key named `kid`; `None` when there is no such key (or no
    /// JWKS), a 503 when the JWKS cannot be had.
    async fn jwks_key(&self, kid: &str) -> Result<Option<Arc<PublicKey>>, ApiError> {
        let Some((jwks, _)) = &self.jwks else {
            return Ok(None);
        };
        jwks.key(kid).await.map_err(|unavailable| {
            observe::unavailable(Dependency::Jwks);
            ApiError::unavailable(unavailable)
        })
    }
}

/// Tokens verified by this container, by their exact text, with what the
/// verification found. At most [`VerifiedTokens::CAPACITY`] are held; when
/// full, all are dropped (a container sees few users between two such
/// moments, and a miss only costs the full check).
#[derive(Default)]
struct VerifiedTokens(Mutex<HashMap<Box<str>, Verified>>);

#[derive(Clone)]
struct Verified {
    user: UserId,
    exp: u64,
    nbf: Option<u64>,
    key: VerifiedBy,
}

#[derive(Clone)]
enum VerifiedBy {
    Secret,
    Jwks { kid: String, key: Arc<PublicKey> },
}

impl VerifiedTokens {
    const CAPACITY: usize = 1024;

    /// The token's entry, if it is held and its `exp` and `nbf` hold at
    /// `now` as jsonwebtoken checks them (with the leeway).
    fn get(&self, token: &str, now: u64) -> Option<Verified> {
        let mut held = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = held.get(token)?;
        let timely = entry.exp >= now.saturating_sub(LEEWAY_SECONDS)
            && entry.nbf.is_none_or(|nbf| nbf <= now + LEEWAY_SECONDS);
        if timely {
            Some(entry.clone())
        } else {
            held.remove(token);
            None
        }
    }

    /// Holds a token that passed the full check. Verified tokens always
    /// have an integer `exp` (required and checked); one whose `nbf` is not
    /// an integer is not held, to stay exactly jsonwebtoken's judgement.
    fn insert(&self, token: &str, claims: &Map<String, Value>, user: &UserId, key: VerifiedBy) {
        let Some(exp) = claims.get("exp").and_then(Value::as_u64) else {
            return;
        };
        let nbf = match claims.get("nbf") {
            None => None,
            Some(nbf) => match nbf.as_u64() {
                Some(nbf) => Some(nbf),
                None => return,
            },
        };
        let mut held = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if held.len() >= Self::CAPACITY {
            held.clear();
        }
        let verified = Verified {
            user: user.clone(),
            exp,
            nbf,
            key,
        };
        held.insert(token.into(), verified);
    }
}

/// The contract's checks: `exp` required, 60 s leeway on `exp` and `nbf`,
/// and `iss`/`aud` required and matched when given. A URL is accepted with
/// or without a trailing slash.
fn validation(algorithm: Algorithm, issuer: Option<&str>, audience: Option<&str>) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    let mut required = vec!["exp"];
    if let Some(issuer) = issuer {
        validation.set_issuer(&with_and_without_slash(issuer));
        required.push("iss");
    }
    match audience {
        Some(audience) => {
            validation.set_audience(&with_and_without_slash(audience));
            required.push("aud");
        }
        // Unconfigured, `aud` is not ours to judge.
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&required);
    validation
}

fn with_and_without_slash(value: &str) -> [String; 2] {
    let bare = value.trim_end_matches('/');
    [bare.to_owned(), format!("{bare}/")]
}

/// The token of `Authorization: Bearer <token>`; the scheme is
/// case-insensitive, and exactly one such header must be present.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?.to_str().ok()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The first present of [`USER_ID_CLAIMS`], a string that is a valid
/// [`UserId`] (refused, not repaired, when it is not).
pub fn user_id(claims: &Map<String, Value>) -> Option<UserId> {
    let value = USER_ID_CLAIMS.iter().find_map(|name| claims.get(*name))?;
    UserId::from_verified_claim(value.as_str()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    /// Holds `token` as verified by the secret for alice, with `claims`.
    fn hold(held: &VerifiedTokens, token: &str, value: Value) {
        let alice = UserId::from_verified_claim("alice").unwrap();
        held.insert(token, &claims(value), &alice, VerifiedBy::Secret);
    }

    #[test]
    fn a_verified_token_serves_only_while_its_exp_and_nbf_hold() {
        let held = VerifiedTokens::default();
        hold(&held, "t", json!({"exp": 1000}));
        // jsonwebtoken's rule: valid while exp >= now - leeway.
        let hit = held.get("t", 1000 + LEEWAY_SECONDS).unwrap();
        assert_eq!(hit.user.as_str(), "alice");
        assert!(held.get("t", 1001 + LEEWAY_SECONDS).is_none());
        assert!(held.get("t", 0).is_none(), "an expired entry is dropped");

        hold(&held, "n", json!({"exp": 9000, "nbf": 500}));
        assert!(held.get("n", 500 - LEEWAY_SECONDS).is_some());
        assert!(held.get("n", 499 - LEEWAY_SECONDS).is_none());
    }

    #[test]
    fn only_the_exact_token_text_is_served() {
        let held = VerifiedTokens::default();
        hold(&held, "abc.def.ghi", json!({"exp": 9000}));
        for other in ["abc.def.gh", "abc.def.ghi ", "ABC.def.ghi", "abc.def.ghj"] {
            assert!(held.get(other, 0).is_none(), "{other:?}");
        }
        assert!(held.get("abc.def.ghi", 0).is_some());
    }

    #[test]
    fn tokens_with_claims_jsonwebtoken_would_judge_differently_are_not_held() {
        let held = VerifiedTokens::default();
        for (token, value) in [
            ("float-exp", json!({"exp": 9000.5})),
            ("string-nbf", json!({"exp": 9000, "nbf": "1"})),
            ("float-nbf", json!({"exp": 9000, "nbf": 1.5})),
        ] {
            hold(&held, token, value);
            assert!(held.get(token, 0).is_none(), "{token}");
        }
    }

    #[test]
    fn the_held_tokens_are_bounded() {
        let held = VerifiedTokens::default();
        for n in 0..VerifiedTokens::CAPACITY * 2 + 1 {
            hold(&held, &format!("t{n}"), json!({"exp": 9000}));
            assert!(held.0.lock().unwrap().len() <= VerifiedTokens::CAPACITY);
        }
    }

    #[tokio::test]
    async fn a_rehearsal_verifies_nobody_and_holds_nothing() {
        let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]});
        let config = AuthConfig::from_lookup(|name| match name {
            "BETTER_AUTH_SECRET" => Some("s".repeat(32)),
            "BETTER_AUTH_URL" => Some("https://auth.example".into()),
            "BETTER_AUTH_JWKS" => Some(jwks.to_string()),
            _ => None,
        })
        .unwrap();
        let verifier = Verifier::new(&config).unwrap();
        verifier.rehearse().await;
        assert!(verifier.verified.0.lock().unwrap().is_empty());
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let mut h = HeaderMap::new();
        for (value, expected) in [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER   abc ", Some("abc")),
            ("Basic abc", None),
            ("Bearer", None),
            ("Bearer ", None),
            ("abc", None),
        ] {
            h.insert(header::AUTHORIZATION, value.parse().unwrap());
            assert_eq!(bearer_token(&h), expected, "{value:?}");
        }
    }

    #[test]
    fn user_id_takes_first_present_claim() {
        assert_eq!(
            user_id(&claims(json!({"sub": "a", "id": "b"})))
                .unwrap()
                .as_str(),
            "a"
        );
        assert_eq!(
            user_id(&claims(json!({"userId": "c", "id": "d"})))
                .unwrap()
                .as_str(),
            "c"
        );
        assert_eq!(user_id(&claims(json!({"id": "d"}))).unwrap().as_str(), "d");
        // The first present claim decides, even when it is unusable.
        assert!(user_id(&claims(json!({"sub": "", "id": "d"}))).is_none());
        assert!(user_id(&claims(json!({"sub": 5}))).is_none());
        assert!(user_id(&claims(json!({"sub": "a\u{0}b"}))).is_none());
        for refused in [
            "   ",
            "alice ",
            " alice",
            "alice\n",
            "\u{a0}alice",
            "al\tice",
            "al\u{7f}ice",
            "al\u{85}ice",
        ] {
            assert!(
                user_id(&claims(json!({"sub": refused}))).is_none(),
                "{refused:?}"
            );
        }
        assert_eq!(
            user_id(&claims(json!({"sub": "alice smith"})))
                .unwrap()
                .as_str(),
            "alice smith"
        );
        assert!(user_id(&claims(json!({"sub": "é".repeat(256)}))).is_none());
        assert!(user_id(&claims(json!({"sub": "é".repeat(255)}))).is_some());
        assert!(user_id(&claims(json!({}))).is_none());
    }
}

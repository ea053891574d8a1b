//! Bearer-token verification: who is calling.
//!
//! The user id comes only from a verified token, never from anything else a
//! client sends. Every failure is the same [`ApiError::Unauthorized`]: a 401
//! never says which check the token failed. Verification is `async` so that
//! key sources that must be fetched (Better Auth's JWKS) fit behind the same
//! call.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use lambda_http::http::{HeaderMap, header};
use serde_json::{Map, Value};

use crate::config::AuthConfig;
use crate::error::ApiError;

/// Seconds of clock skew allowed on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 60;
/// The longest user id accepted, in characters (the `user_id` column's size).
pub const USER_ID_MAX_CHARS: usize = 255;
/// Claims tried for the user id, in order; the first present one decides.
pub const USER_ID_CLAIMS: [&str; 4] = ["sub", "user_id", "userId", "id"];

/// The verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserId(String);

impl UserId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Verifies tokens; built once per container.
pub struct Verifier {
    hs256_key: DecodingKey,
    hs256: Validation,
}

impl Verifier {
    pub fn new(config: &AuthConfig) -> Self {
        Verifier {
            hs256_key: DecodingKey::from_secret(config.secret.as_bytes()),
            hs256: validation(Algorithm::HS256, config),
        }
    }

    /// The user id of a request's `Authorization: Bearer <jwt>`.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<UserId, ApiError> {
        let token = bearer_token(headers).ok_or(ApiError::Unauthorized)?;
        // The header decides only which key source to consult; the algorithm
        // itself is fixed by the key (here HS256 for the shared secret), and
        // `decode` rejects a token whose header names any other.
        let header = decode_header(token).map_err(|_| ApiError::Unauthorized)?;
        if header.alg != Algorithm::HS256 {
            return Err(ApiError::Unauthorized);
        }
        let claims = decode::<Map<String, Value>>(token, &self.hs256_key, &self.hs256)
            .map_err(|_| ApiError::Unauthorized)?
            .claims;
        user_id(&claims).ok_or(ApiError::Unauthorized)
    }
}

/// The contract's checks for one algorithm: `exp` required, 60 s leeway on
/// `exp` and `nbf`, and `iss`/`aud` required and matched when configured.
fn validation(algorithm: Algorithm, config: &AuthConfig) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    let mut required = vec!["exp"];
    if let Some(issuer) = &config.issuer {
        validation.set_issuer(&[issuer]);
        required.push("iss");
    }
    match &config.audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        // Unconfigured, `aud` is not ours to judge (Better Auth always sets it).
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&required);
    validation
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

/// The first present of [`USER_ID_CLAIMS`]; it must be a non-empty string of
/// at most 255 characters with no NUL (which PostgreSQL cannot store).
pub fn user_id(claims: &Map<String, Value>) -> Option<UserId> {
    let value = USER_ID_CLAIMS.iter().find_map(|name| claims.get(*name))?;
    let id = value.as_str()?;
    let valid = !id.is_empty() && !id.contains('\0') && id.chars().count() <= USER_ID_MAX_CHARS;
    valid.then(|| UserId(id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
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
        assert!(user_id(&claims(json!({"sub": "é".repeat(256)}))).is_none());
        assert!(user_id(&claims(json!({"sub": "é".repeat(255)}))).is_some());
        assert!(user_id(&claims(json!({}))).is_none());
    }
}

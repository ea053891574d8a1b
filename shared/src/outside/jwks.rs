//! Better Auth's public keys (a JWKS), fetched lazily and cached per container.
//!
//! Keys come from an inline document or from a URL. A URL is fetched the
//! first time a token needs a key, not at cold start. Fetched keys expire:
//! once older than [`JwksSettings::ttl`] (10 min) they are fetched again
//! before use, so a key Better Auth has removed stops verifying within the
//! TTL. While the URL cannot be fetched, the keys already held keep serving
//! until they are [`JwksSettings::max_age`] old (1 h); after that tokens get
//! a 503, as when nothing was ever fetched.
//!
//! A token naming an unknown `kid` may trigger a refetch (that is how a key
//! rotation is picked up), but at most once per
//! [`JwksSettings::refetch_interval`] (60 s), so forged `kid`s cannot turn the
//! API into a traffic amplifier against the auth server. After a failed
//! fetch, the next attempt waits [`JwksSettings::retry_interval`] (10 s).
//!
//! Each key's algorithm comes from the key itself (its `alg`, else its
//! `kty`/`crv`), never from a token.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::http::{Request, StatusCode, header};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::outside::https::{Endpoint, SendError, UrlError};
use tokio::sync::Mutex;
use tracing::Instrument;

/// The longest a JWKS fetch may take, connection included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// A verification key and the one algorithm it may be used with.
pub struct PublicKey {
    pub key: DecodingKey,
    pub algorithm: Algorithm,
}

/// Where the keys come from, already checked: a source is only made by
/// [`JwksSource::url`] or [`JwksSource::inline`], at start-up, where the
/// variable it came from is known, so nothing later parses it again.
#[derive(Clone)]
pub struct JwksSource(Source);

#[derive(Clone)]
enum Source {
    /// The keys of a JWKS document (`BETTER_AUTH_JWKS`), parsed.
    Inline(Keys),
    /// An `https://` URL, or `http://` on a loopback host.
    Url(Endpoint),
}

impl JwksSource {
    /// Keys fetched from `url`: https, or http on a loopback host.
    pub fn url(url: &str) -> Result<Self, UrlError> {
        Endpoint::parse(url).map(|endpoint| JwksSource(Source::Url(endpoint)))
    }

    /// The keys of a JWKS document; it must hold at least one usable one.
    pub fn inline(document: &str) -> Result<Self, &'static str> {
        let keys =
            parse_jwks(document.as_bytes()).ok_or("is not a JWKS document ({\"keys\": [...]})")?;
        if keys.is_empty() {
            return Err("holds no usable public signing key");
        }
        Ok(JwksSource(Source::Inline(keys)))
    }
}

/// `Url(https://host/path)`, or `Inline(kid, ...)` with the key ids sorted.
impl std::fmt::Debug for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Source::Url(endpoint) => write!(f, "Url({})", endpoint.url()),
            Source::Inline(keys) => {
                let mut kids: Vec<&str> = keys.keys().map(String::as_str).collect();
                kids.sort_unstable();
                write!(f, "Inline({})", kids.join(", "))
            }
        }
    }
}

/// How long fetched keys are trusted, and how often the URL may be fetched.
#[derive(Debug, Clone)]
pub struct JwksSettings {
    /// `JWKS_TTL_SECONDS`: keys older than this are fetched again before use.
    pub ttl: Duration,
    /// `JWKS_MAX_AGE_SECONDS`: while the URL cannot be fetched, keys older
    /// than this are no longer used.
    pub max_age: Duration,
    /// Least time between fetches after a successful one, for unknown `kid`s.
    pub refetch_interval: Duration,
    /// Least time between fetches after a failed one.
    pub retry_interval: Duration,
    /// Where the cache reads the time.
    pub clock: Clock,
}

/// Default of [`JwksSettings::ttl`].
pub const DEFAULT_TTL: Duration = Duration::from_secs(10 * 60);
/// Default of [`JwksSettings::max_age`].
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60 * 60);

impl Default for JwksSettings {
    fn default() -> Self {
        JwksSettings {
            ttl: DEFAULT_TTL,
            max_age: DEFAULT_MAX_AGE,
            refetch_interval: Duration::from_secs(60),
            retry_interval: Duration::from_secs(10),
            clock: Clock::default(),
        }
    }
}

/// The monotonic clock, plus an offset that only tests move: expiry is
/// counted in minutes and hours, which a test cannot wait for, and the
/// fetches it exercises are real HTTP (so tokio's paused time, which jumps
/// ahead whenever the runtime waits on I/O, would fire the fetch timeout).
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicU64>,
}

impl Clock {
    pub fn now(&self) -> Instant {
        Instant::now() + Duration::from_millis(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock, and every clone of it, forward.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// The JWKS could not be fetched and no cached key fits: a 503, since it is
/// our dependency that failed, not the client's token. Its source is why
/// the last fetch failed.
#[derive(Debug, Clone)]
pub struct Unavailable {
    last_error: Option<Arc<FetchError>>,
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the JWKS could not be fetched")
    }
}

impl std::error::Error for Unavailable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.last_error
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Why one fetch of the JWKS URL brought no keys.
#[derive(Debug)]
pub enum FetchError {
    Request(hyper::http::Error),
    Send(SendError),
    Status(StatusCode),
    NotJwks,
    NoUsableKey,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Request(_) => f.write_str("the request could not be made"),
            FetchError::Send(_) => f.write_str("no answer"),
            FetchError::Status(status) => write!(f, "answered HTTP {status}"),
            FetchError::NotJwks => f.write_str("the answer is not a JWKS document"),
            FetchError::NoUsableKey => f.write_str("the JWKS holds no usable public signing key"),
        }
    }
}

impl std::error::Error for FetchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FetchError::Request(e) => Some(e),
            FetchError::Send(e) => Some(e),
            _ => None,
        }
    }
}

type Keys = HashMap<String, Arc<PublicKey>>;

pub struct Jwks {
    endpoint: Option<Endpoint>,
    settings: JwksSettings,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    keys: Keys,
    /// When the keys were fetched (`None`: never, or inline keys).
    fetched_at: Option<Instant>,
    /// When the last fetch ended, and whether it succeeded.
    last_fetch: Option<(Instant, bool)>,
    /// Why the last fetch failed, while it is the last.
    last_error: Option<Arc<FetchError>>,
}

impl Cache {
    fn unavailable(&self) -> Unavailable {
        Unavailable {
            last_error: self.last_error.clone(),
        }
    }
}

impl Jwks {
    /// Keys from `source`, nothing fetched yet.
    pub fn new(source: JwksSource, settings: JwksSettings) -> Self {
        let (endpoint, keys) = match source.0 {
            Source::Url(endpoint) => (Some(endpoint), Keys::new()),
            Source::Inline(keys) => (None, keys),
        };
        Jwks {
            endpoint,
            settings,
            cache: Mutex::new(Cache {
                keys,
                ..Cache::default()
            }),
        }
    }

    /// The key named `kid`, fetching the JWKS when the keys held are older
    /// than the TTL, or `kid` is unknown, and a fetch is allowed. `Ok(None)`:
    /// no such key (the token is refused).
    pub async fn key(&self, kid: &str) -> Result<Option<Arc<PublicKey>>, Unavailable> {
        // Held across the fetch: concurrent requests wait for one fetch
        // instead of starting their own.
        let mut cache = self.cache.lock().await;
        let Some(endpoint) = &self.endpoint else {
            // Inline keys are configuration: they last as long as it does.
            return Ok(cache.keys.get(kid).cloned());
        };
        let settings = &self.settings;
        let now = settings.clock.now();
        let age = cache.fetched_at.map(|at| now.saturating_duration_since(at));
        let stale = age.is_none_or(|age| age >= settings.ttl);
        let known = cache.keys.get(kid).cloned();
        if known.is_some() && !stale {
            return Ok(known);
        }
        let may_fetch = match cache.last_fetch {
            None => true,
            Some((at, true)) => {
                stale || now.saturating_duration_since(at) >= settings.refetch_interval
            }
            Some((at, false)) => now.saturating_duration_since(at) >= settings.retry_interval,
        };
        if may_fetch && self.refresh(&mut cache, endpoint).await {
            return Ok(cache.keys.get(kid).cloned());
        }
        // No fresh keys: the ones held serve until they reach the maximum age.
        if age.is_none_or(|age| age >= settings.max_age) {
            if !cache.keys.is_empty() {
                tracing::warn!("the JWKS keys held are past their maximum age: dropped");
                cache.keys.clear();
            }
            return Err(cache.unavailable());
        }
        match (known, cache.last_fetch) {
            (Some(key), _) => Ok(Some(key)),
            (None, Some((_, false))) => Err(cache.unavailable()),
            (None, _) => Ok(None),
        }
    }
}

impl Jwks {
    /// One key held of each algorithm (for [`crate::web::auth::Verifier::rehearse`]).
    pub async fn one_key_per_algorithm(&self) -> Vec<Arc<PublicKey>> {
        let mut keys: Vec<Arc<PublicKey>> = Vec::new();
        for key in self.cache.lock().await.keys.values() {
            if !keys.iter().any(|held| held.algorithm == key.algorithm) {
                keys.push(key.clone());
            }
        }
        keys
    }

    /// Fetches the keys once if they come from a URL and none were ever
    /// fetched: Init's head start (see `crate::web::handlers::TasksState`), so
    /// that the first request finds them held. A failure is logged here,
    /// where there is no request to carry it.
    pub async fn prefetch(&self) {
        let mut cache = self.cache.lock().await;
        if let Some(endpoint) = &self.endpoint
            && cache.last_fetch.is_none()
            && !self.refresh(&mut cache, endpoint).await
            && let Some(error) = &cache.last_error
        {
            let error = crate::cause::Cause::new(error.clone());
            tracing::warn!(%error, "Init could not fetch the JWKS; the first request will try again");
        }
    }

    /// One fetch, its outcome recorded in `cache`; whether it succeeded.
    async fn refresh(&self, cache: &mut Cache, endpoint: &Endpoint) -> bool {
        let span = tracing::info_span!("jwks.fetch", host = %endpoint.host());
        let started_at = std::time::SystemTime::now();
        let fetched = fetch(endpoint).instrument(span).await;
        crate::outside::xray::called("Better Auth JWKS", started_at, fetched.is_err());
        let now = self.settings.clock.now();
        cache.last_fetch = Some((now, fetched.is_ok()));
        match fetched {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "fetched the JWKS");
                cache.keys = keys;
                cache.fetched_at = Some(now);
                cache.last_error = None;
                true
            }
            Err(error) => {
                // Written by whoever meets it: the request it fails (its
                // 503's cause), or Init's `prefetch`.
                cache.last_error = Some(Arc::new(error));
                false
            }
        }
    }
}

/// One GET of the JWKS URL: its usable keys.
async fn fetch(endpoint: &Endpoint) -> Result<Keys, FetchError> {
    let request = Request::get(endpoint.path())
        .header(header::HOST, endpoint.authority())
        .header(header::ACCEPT, "application/json")
        .header(header::USER_AGENT, crate::outside::https::USER_AGENT)
        .body(Full::default())
        .map_err(FetchError::Request)?;
    let response = endpoint
        .send(request, MAX_JWKS_BYTES, FETCH_TIMEOUT)
        .await
        .map_err(FetchError::Send)?;
    if response.status() != StatusCode::OK {
        return Err(FetchError::Status(response.status()));
    }
    let keys = parse_jwks(response.body()).ok_or(FetchError::NotJwks)?;
    if keys.is_empty() {
        return Err(FetchError::NoUsableKey);
    }
    Ok(keys)
}

/// The usable keys of a JWKS document by `kid`: public signing keys whose
/// algorithm is known and fits the key. Others are skipped one by one, so
/// one odd key does not make the whole set unusable. `None`: not a JWKS.
fn parse_jwks(document: &[u8]) -> Option<Keys> {
    let value: Value = serde_json::from_slice(document).ok()?;
    let keys = value.get("keys")?.as_array()?;
    Some(
        keys.iter()
            .filter_map(|key| serde_json::from_value::<Jwk>(key.clone()).ok())
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let key = public_key(&jwk)?;
                Some((kid, Arc::new(key)))
            })
            .collect(),
    )
}

/// The key and its algorithm: the JWK's `alg` when present (it must fit the
/// key type), else the one its `kty`/`crv` implies (RSA without `alg`: RS256).
fn public_key(jwk: &Jwk) -> Option<PublicKey> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let implied = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P384 => Algorithm::ES384,
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        // Symmetric keys and unknown key types are never accepted from a JWKS.
        _ => return None,
    };
    let algorithm = match jwk.common.key_algorithm {
        None => implied,
        Some(KeyAlgorithm::UNKNOWN_ALGORITHM) => return None,
        Some(alg) => {
            let alg = Algorithm::try_from(alg).ok()?;
            let fits = match implied {
                Algorithm::RS256 => matches!(
                    alg,
                    Algorithm::RS256
                        | Algorithm::RS384
                        | Algorithm::RS512
                        | Algorithm::PS256
                        | Algorithm::PS384
                        | Algorithm::PS512
                ),
                other => alg == other,
            };
            if !fits {
                return None;
            }
            alg
        }
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(PublicKey { key, algorithm })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ED: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn keys(doc: Value) -> Vec<(String, Algorithm)> {
        let mut keys: Vec<_> = parse_jwks(doc.to_string().as_bytes())
            .unwrap()
            .into_iter()
            .map(|(kid, key)| (kid, key.algorithm))
            .collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        keys
    }

    #[test]
    fn algorithm_comes_from_the_key() {
        let doc = json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": ED, "kid": "a"},
            {"kty": "OKP", "crv": "Ed25519", "x": ED, "kid": "b", "alg": "EdDSA"},
            // alg that does not fit the key type: skipped.
            {"kty": "OKP", "crv": "Ed25519", "x": ED, "kid": "c", "alg": "RS256"},
            // symmetric keys are never taken from a JWKS.
            {"kty": "oct", "k": "c2VjcmV0", "kid": "d", "alg": "HS256"},
            // encryption keys are not signing keys.
            {"kty": "OKP", "crv": "Ed25519", "x": ED, "kid": "e", "use": "enc"},
            // no kid: cannot be named by a token.
            {"kty": "OKP", "crv": "Ed25519", "x": ED},
            {"kty": "weird", "kid": "f"},
            {"kty": "OKP", "crv": "Ed25519", "x": ED, "kid": "g", "alg": "made-up"},
        ]});
        assert_eq!(
            keys(doc),
            [
                ("a".into(), Algorithm::EdDSA),
                ("b".into(), Algorithm::EdDSA)
            ]
        );
    }

    #[tokio::test]
    async fn one_key_of_each_algorithm_is_rehearsed() {
        let doc = json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": ED, "kid": "a"},
            {"kty": "OKP", "crv": "Ed25519", "x": ED, "kid": "b"},
        ]});
        let source = JwksSource::inline(&doc.to_string()).unwrap();
        let jwks = Jwks::new(source, JwksSettings::default());
        let keys = jwks.one_key_per_algorithm().await;
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].algorithm, Algorithm::EdDSA);
    }

    #[test]
    fn not_a_jwks() {
        for doc in [&b"[]"[..], b"{}", b"{\"keys\": 5}", b"nonsense"] {
            assert!(parse_jwks(doc).is_none());
        }
    }
}

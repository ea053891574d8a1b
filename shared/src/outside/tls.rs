//! The process's one TLS client configuration, shared by the database pool,
//! the JWKS fetch and the AWS SDK.
//!
//! It is built at most once per process, and only by a configuration that
//! talks TLS: a loopback database URL without `sslmode=require` and an
//! inline or loopback JWKS never build it. Building it costs little when
//! `main` has called [`trust_roots::defer_loading`] (the trust roots are then
//! looked up by subject when a handshake needs one); without that, OpenSSL
//! reads and parses every root of the system's CA bundle first (15-40 ms,
//! `make bench`).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

static CONNECTOR: OnceLock<Result<native_tls::TlsConnector, SetUpError>> = OnceLock::new();
/// The database's, for direct TLS: the same roots, offering ALPN
/// `postgresql` (PostgreSQL 17+ refuses a direct handshake without it, and
/// an HTTPS server must not be offered it).
static DIRECT: OnceLock<Result<native_tls::TlsConnector, SetUpError>> = OnceLock::new();

/// Why the process has no TLS client: kept, and handed to every caller, so
/// that each failure it causes can name it.
#[derive(Debug, Clone)]
pub enum SetUpError {
    /// A CA bundle could not be read.
    Bundle(PathBuf, Arc<std::io::Error>),
    /// OpenSSL refused a root or the configuration.
    Tls(Arc<native_tls::Error>),
}

impl std::fmt::Display for SetUpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetUpError::Bundle(path, _) => {
                write!(f, "the CA bundle {} could not be read", path.display())
            }
            SetUpError::Tls(_) => f.write_str("the TLS client could not be built"),
        }
    }
}

impl std::error::Error for SetUpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SetUpError::Bundle(_, e) => Some(e.as_ref()),
            SetUpError::Tls(e) => Some(e.as_ref()),
        }
    }
}

impl From<native_tls::Error> for SetUpError {
    fn from(error: native_tls::Error) -> Self {
        SetUpError::Tls(Arc::new(error))
    }
}

/// The shared connector (a cheap, reference-counted clone). Certificates
/// and host names are always verified.
pub fn connector() -> Result<native_tls::TlsConnector, SetUpError> {
    CONNECTOR.get_or_init(|| build(&[])).clone()
}

/// The database's connector: [`connector`], or for direct TLS
/// (`sslnegotiation=direct`) one that offers ALPN `postgresql`.
pub fn database_connector(direct: bool) -> Result<native_tls::TlsConnector, SetUpError> {
    if direct {
        DIRECT.get_or_init(|| build(&["postgresql"])).clone()
    } else {
        connector()
    }
}

fn build(alpn: &[&str]) -> Result<native_tls::TlsConnector, SetUpError> {
    let mut builder = native_tls::TlsConnector::builder();
    if !alpn.is_empty() {
        builder.request_alpns(alpn);
    }
    let Some(deferred) = trust_roots::deferred() else {
        return Ok(builder.build()?);
    };
    match deferred.index() {
        Ok(()) => Ok(builder.build()?),
        Err(e) => {
            // The same roots, handed over one by one: what OpenSSL would
            // have done with the bundle, at its cost. native-tls reads
            // plain `CERTIFICATE` blocks only, so a `TRUSTED CERTIFICATE`
            // (a root with trust settings) is left out: not trusted at
            // all, rather than beyond its settings.
            tracing::warn!(
                error = %e,
                "trust roots: the CA bundle could not be indexed; loading it whole"
            );
            for bundle in &deferred.bundles {
                let pem = std::fs::read(bundle)
                    .map_err(|e| SetUpError::Bundle(bundle.clone(), Arc::new(e)))?;
                for root in native_tls::Certificate::stack_from_pem(&pem)? {
                    builder.add_root_certificate(root);
                }
            }
            Ok(builder.build()?)
        }
    }
}

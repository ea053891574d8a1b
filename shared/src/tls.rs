//! The process's one TLS client configuration, shared by the database pool
//! and the JWKS fetch.
//!
//! Building it reads and parses the system's trust roots (OpenSSL's CA
//! bundle, `SSL_CERT_FILE` if set): about 40 ms on a 2-core machine, more
//! than the rest of a cold start together (`make bench`). So it is built at
//! most once per process, and only by a configuration that talks TLS: a
//! database URL with `sslmode=disable` and an inline or loopback JWKS never
//! pay for it. When the database needs it, [`crate::db::Db::new`] builds it
//! during Init, which Lambda runs at full CPU, rather than in the first
//! request.

use std::sync::OnceLock;

static CONNECTOR: OnceLock<Result<native_tls::TlsConnector, String>> = OnceLock::new();

/// The shared connector (a cheap, reference-counted clone). Certificates
/// and host names are always verified.
pub fn connector() -> Result<native_tls::TlsConnector, String> {
    CONNECTOR
        .get_or_init(|| native_tls::TlsConnector::new().map_err(|e| e.to_string()))
        .clone()
}

//! The process's one TLS client configuration, shared by the database pool,
//! the JWKS fetch and the AWS SDK.
//!
//! It is built at most once per process, and only by a configuration that
//! talks TLS: a loopback database URL without `sslmode=require` and an
//! inline or loopback JWKS never build it. Building it costs little when
//! `main` has called [`roots::defer_loading`] (the trust roots are then
//! looked up by subject when a handshake needs one); without that, OpenSSL
//! reads and parses every root of the system's CA bundle first (15-40 ms,
//! `make bench`).

pub mod roots;
pub mod subject_hash;

use std::sync::OnceLock;

static CONNECTOR: OnceLock<Result<native_tls::TlsConnector, String>> = OnceLock::new();

/// The shared connector (a cheap, reference-counted clone). Certificates
/// and host names are always verified.
pub fn connector() -> Result<native_tls::TlsConnector, String> {
    CONNECTOR.get_or_init(build).clone()
}

fn build() -> Result<native_tls::TlsConnector, String> {
    let Some(deferred) = roots::deferred() else {
        return native_tls::TlsConnector::new().map_err(|e| e.to_string());
    };
    match deferred.index() {
        Ok(()) => native_tls::TlsConnector::new().map_err(|e| e.to_string()),
        Err(e) => {
            // The same roots, handed over one by one: what OpenSSL would
            // have done with the bundle, at its cost.
            tracing::warn!(
                error = %e,
                "trust roots: the CA bundle could not be indexed; loading it whole"
            );
            let mut builder = native_tls::TlsConnector::builder();
            for bundle in &deferred.bundles {
                let pem = std::fs::read(bundle).map_err(|e| e.to_string())?;
                for root in
                    native_tls::Certificate::stack_from_pem(&pem).map_err(|e| e.to_string())?
                {
                    builder.add_root_certificate(root);
                }
            }
            builder.build().map_err(|e| e.to_string())
        }
    }
}

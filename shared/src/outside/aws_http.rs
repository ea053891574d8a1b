//! The AWS SDK's HTTP client: the project's own hyper and native-tls
//! ([`crate::outside::https`]) behind the SDK's `HttpClient` trait.
//!
//! Every call the SDK makes for us (Secrets Manager's `GetSecretValue`, and
//! whatever credential provider aws-config's chain reaches: the container
//! endpoint, STS, SSO, IMDS) goes through here, so the process has one TLS
//! stack and one set of trust roots, the system's, as the database and the
//! JWKS use. The SDK's default client would bring rustls with a crypto
//! library and roots of its own: a second TLS stack in every `bootstrap`,
//! and a second trust store to keep right.
//!
//! The SDK signs, retries and times out; this only carries one request over
//! a new connection (one call per cold start: nothing to keep alive).

use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::http::{HeaderValue, header};

use crate::outside::https::{Endpoint, SendError};

/// Every answer the SDK reads here is small: a secret is at most 64 KiB,
/// and the JSON around it adds little.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Each attempt's bound when the SDK sets none (the SDK retries).
const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// The client to give `aws_config::ConfigLoader::http_client`.
pub fn client() -> SharedHttpClient {
    http_client_fn(|settings, _| SharedHttpConnector::new(Connector::new(settings)))
}

#[derive(Debug)]
struct Connector {
    /// Connecting and reading together: the SDK's two timeouts, summed.
    timeout: Duration,
}

impl Connector {
    fn new(settings: &HttpConnectorSettings) -> Self {
        let part = |t: Option<Duration>| t.unwrap_or(DEFAULT_ATTEMPT_TIMEOUT);
        Connector {
            timeout: part(settings.connect_timeout()) + part(settings.read_timeout()),
        }
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let timeout = self.timeout;
        HttpConnectorFuture::new(async move { send(request, timeout).await })
    }
}

async fn send(request: HttpRequest, timeout: Duration) -> Result<HttpResponse, ConnectorError> {
    let request = request
        .try_into_http1x()
        .map_err(|e| ConnectorError::user(e.into()))?;
    let (mut parts, body) = request.into_parts();
    // https, or http on the loopback interface (a local emulator, the
    // container credentials endpoint of a test): the same rule as the JWKS.
    let endpoint =
        Endpoint::parse(&parts.uri.to_string()).map_err(|e| ConnectorError::user(e.into()))?;
    let body = body
        .bytes()
        .ok_or_else(|| ConnectorError::user("a streaming request body".into()))?;
    let body = Full::new(Bytes::copy_from_slice(body));
    // hyper's connection-level client sends the request line as given:
    // origin form, and the Host header the signature covered.
    parts.uri = endpoint
        .path()
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| ConnectorError::user(e.into()))?;
    if !parts.headers.contains_key(header::HOST) {
        let host = HeaderValue::from_str(endpoint.authority())
            .map_err(|e| ConnectorError::user(e.into()))?;
        parts.headers.insert(header::HOST, host);
    }
    let request = hyper::http::Request::from_parts(parts, body);
    let response = endpoint
        .send(request, MAX_RESPONSE_BYTES, timeout)
        .await
        .map_err(|e| match e {
            SendError::Timeout(_) => ConnectorError::timeout(e.into()),
            SendError::Connect(_) | SendError::Tls(_) | SendError::Http(_) => {
                ConnectorError::io(e.into())
            }
            SendError::TlsSetUp(_) | SendError::Body(_) => ConnectorError::other(e.into(), None),
        })?;
    HttpResponse::try_from(response.map(SdkBody::from))
        .map_err(|e| ConnectorError::other(e.into(), None))
}

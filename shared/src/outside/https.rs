//! Outbound HTTP/1.1 for the calls the functions make besides the
//! database: Better Auth's JWKS ([`crate::outside::jwks`]) and, at cold start, the
//! AWS SDK's calls to Secrets Manager and its credential providers
//! ([`crate::outside::aws_http`]). All are rare (once per cold start, once per JWKS
//! TTL), so each request opens its own connection, over the process's one
//! TLS configuration ([`crate::outside::tls`]).

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::http::{Request, Response, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The `User-Agent` of every outbound request.
pub const USER_AGENT: &str = concat!("todo-api/", env!("CARGO_PKG_VERSION"));

/// A parsed `https` URL (or `http` on the loopback interface, for local
/// services and tests).
#[derive(Clone)]
pub struct Endpoint {
    uri: Uri,
    tls: bool,
    host: String,
    port: u16,
}

/// Why a URL is not an [`Endpoint`]. Its text completes a sentence that
/// begins with the URL's variable name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    NotAUrl(String),
    NoHost,
    /// Plain `http` to a host that is not loopback.
    PlainHttp,
    OtherScheme,
}

impl std::fmt::Display for UrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UrlError::NotAUrl(url) => write!(f, "is not a URL: {url:?}"),
            UrlError::NoHost => f.write_str("has no host"),
            UrlError::PlainHttp => f.write_str("must be https (http only for localhost)"),
            UrlError::OtherScheme => f.write_str("must be an https URL"),
        }
    }
}

impl std::error::Error for UrlError {}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let uri: Uri = url.parse().map_err(|_| UrlError::NotAUrl(url.to_owned()))?;
        let host = uri
            .host()
            .ok_or(UrlError::NoHost)?
            .trim_matches(['[', ']'])
            .to_owned();
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") if is_loopback(&host) => false,
            Some("http") => return Err(UrlError::PlainHttp),
            _ => return Err(UrlError::OtherScheme),
        };
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Endpoint {
            uri,
            tls,
            host,
            port,
        })
    }

    /// The URL, as parsed.
    pub fn url(&self) -> String {
        self.uri.to_string()
    }

    /// The host name, without port.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The `Host` header's value: host, and port when the URL gives one.
    pub fn authority(&self) -> &str {
        self.uri
            .authority()
            .map_or(self.host.as_str(), |a| a.as_str())
    }

    /// Path and query, `/` when the URL has none.
    pub fn path(&self) -> &str {
        self.uri.path_and_query().map_or("/", |p| p.as_str())
    }

    /// Sends `request` on a new connection to this endpoint, all within
    /// `timeout`; the response, with at most `max_body` bytes of body.
    pub async fn send(
        &self,
        request: Request<Full<Bytes>>,
        max_body: usize,
        timeout: Duration,
    ) -> Result<Response<Bytes>, SendError> {
        tokio::time::timeout(timeout, self.exchange(request, max_body))
            .await
            .map_err(|_| SendError::Timeout(timeout))?
    }

    async fn exchange(
        &self,
        request: Request<Full<Bytes>>,
        max_body: usize,
    ) -> Result<Response<Bytes>, SendError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(SendError::Connect)?;
        if self.tls {
            let connector = crate::outside::tls::connector().map_err(SendError::TlsSetUp)?;
            let stream = tokio_native_tls::TlsConnector::from(connector)
                .connect(&self.host, tcp)
                .await
                .map_err(SendError::Tls)?;
            exchange_on(stream, request, max_body).await
        } else {
            exchange_on(tcp, request, max_body).await
        }
    }
}

/// Why an outbound request got no answer. Its text says which step failed;
/// the underlying error is its `source`.
#[derive(Debug)]
pub enum SendError {
    Timeout(Duration),
    Connect(std::io::Error),
    /// The process's TLS configuration could not be built ([`crate::outside::tls`]).
    TlsSetUp(crate::outside::tls::SetUpError),
    /// The handshake failed: an untrusted or expired certificate, a wrong
    /// host name, or no TLS at all.
    Tls(native_tls::Error),
    Http(hyper::Error),
    /// The body failed midway or was longer than allowed.
    Body(Box<dyn std::error::Error + Send + Sync>),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Timeout(timeout) => write!(f, "no answer within {timeout:?}"),
            SendError::Connect(_) => f.write_str("could not connect"),
            SendError::TlsSetUp(_) => f.write_str("no TLS client"),
            SendError::Tls(_) => f.write_str("TLS handshake failed"),
            SendError::Http(_) => f.write_str("HTTP exchange failed"),
            SendError::Body(_) => f.write_str("the body could not be read"),
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendError::Timeout(_) => None,
            SendError::TlsSetUp(e) => Some(e),
            SendError::Connect(e) => Some(e),
            SendError::Tls(e) => Some(e),
            SendError::Http(e) => Some(e),
            SendError::Body(e) => Some(e.as_ref()),
        }
    }
}

/// One request on an open connection.
async fn exchange_on<S>(
    stream: S,
    request: Request<Full<Bytes>>,
    max_body: usize,
) -> Result<Response<Bytes>, SendError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(SendError::Http)?;
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(SendError::Http)?;
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, max_body)
        .collect()
        .await
        .map_err(SendError::Body)?
        .to_bytes();
    Ok(Response::from_parts(parts, body))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_except_on_loopback() {
        let ok = |url: &str| Endpoint::parse(url).is_ok();
        assert!(ok("https://auth.example.com/api/auth/jwks"));
        assert!(ok("http://localhost:3000/api/auth/jwks"));
        assert!(ok("http://127.0.0.1:3000/api/auth/jwks"));
        assert!(ok("http://[::1]:3000/api/auth/jwks"));
        assert!(!ok("http://auth.example.com/api/auth/jwks"));
        assert!(!ok("ftp://auth.example.com/jwks"));
        assert!(!ok("not a url"));
        let e = Endpoint::parse("https://auth.example.com/x?y=1").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.tls),
            ("auth.example.com", 443, true)
        );
        assert_eq!((e.authority(), e.path()), ("auth.example.com", "/x?y=1"));
    }
}

//! Why a request failed on our side, with the chain of errors behind it:
//! what every layer hands up, and what the web edge writes once, on the
//! request's log line (`crate::web::error`, `crate::web::http::serve`).

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// Why a request failed on our side: the error behind a 500 or 503, with
/// its chain of sources. It travels with the `crate::web::error::ApiError` (or, for a
/// handler that builds its own 503, in the response's extensions) to the
/// edge, so that it is written once, on the line that has the request id,
/// and never where it was made, which knows no request.
#[derive(Clone)]
pub struct Cause(Arc<dyn Error + Send + Sync>);

impl Cause {
    pub fn new(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Cause(Arc::from(error.into()))
    }
}

/// The error, then each source not already in the text before it (some
/// errors, tokio-postgres's among them, print their source themselves),
/// joined by `: `.
impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.0.to_string();
        let mut source = self.0.source();
        while let Some(error) = source {
            let said = error.to_string();
            if !text.contains(&said) {
                text.push_str(": ");
                text.push_str(&said);
            }
            source = error.source();
        }
        f.write_str(&text)
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cause({self})")
    }
}

/// Two causes are the same when they say the same (for tests' `assert_eq!`
/// on results).
impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Cause {}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error whose text already says its source, as tokio-postgres's does.
    #[derive(Debug)]
    struct Repeats(std::io::Error);

    impl fmt::Display for Repeats {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "db error: {}", self.0)
        }
    }

    impl Error for Repeats {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_says_its_chain_once() {
        let refused = || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let https = crate::outside::https::SendError::Connect(refused());
        assert_eq!(Cause::new(https).to_string(), "could not connect: refused");
        assert_eq!(
            Cause::new(Repeats(refused())).to_string(),
            "db error: refused"
        );
        assert_eq!(Cause::new("plain").to_string(), "plain");
    }
}

//! Secrets from AWS Secrets Manager, resolved once per container at cold start.
//!
//! In AWS, the template gives each function the ARNs of its secrets
//! (`DATABASE_URL_SECRET_ARN`, `BETTER_AUTH_SECRET_ARN`, and for `migrate`
//! `MIGRATE_DATABASE_URL_SECRET_ARN`) instead of their values, so no secret
//! sits in the template, `samconfig.toml` or the function configuration.
//! Each ARN that is set is read with one `GetSecretValue` call and its value
//! stands in for the plain variable (`DATABASE_URL`, `BETTER_AUTH_SECRET`,
//! `MIGRATE_DATABASE_URL`). Locally nothing is set and the plain variables
//! work as they are; nothing talks to AWS.
//!
//! The call is made here, signed with Signature Version 4, over the same
//! HTTP client and TLS as the JWKS fetch ([`crate::https`]), rather than
//! with the AWS SDK: the SDK brought a second TLS stack (rustls and ring,
//! with trust roots of its own) and was most of each function's size
//! (`make bench`: BENCHMARKS.md), for one request per cold start. Lambda
//! provides everything the call needs in the environment: the region
//! (`AWS_REGION`) and the function role's credentials (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`). `AWS_ENDPOINT_URL_SECRETS_MANAGER`
//! (or `AWS_ENDPOINT_URL`) points it elsewhere, as for the SDK: the tests
//! use a local emulator.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::ConfigError;
use crate::https::Endpoint;

/// `(ARN variable, the variable its secret's value stands for)`.
pub const SECRET_VARIABLES: [(&str, &str); 3] = [
    ("DATABASE_URL_SECRET_ARN", "DATABASE_URL"),
    ("BETTER_AUTH_SECRET_ARN", "BETTER_AUTH_SECRET"),
    ("MIGRATE_DATABASE_URL_SECRET_ARN", "MIGRATE_DATABASE_URL"),
];

/// Bounds each Secrets Manager call, so a cold start cannot hang on it.
const SECRETS_TIMEOUT: Duration = Duration::from_secs(5);
/// A secret value is at most 64 KiB; the JSON around it adds little.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// The configuration environment: the process environment (or a lookup of
/// the caller's), with each secret whose ARN is set resolved into the
/// variable it stands for.
pub struct Environment<L> {
    lookup: L,
    resolved: HashMap<&'static str, String>,
}

impl Environment<fn(&str) -> Option<String>> {
    /// The process environment, secrets resolved.
    pub async fn load() -> Result<Self, ConfigError> {
        fn process(name: &str) -> Option<String> {
            std::env::var(name).ok()
        }
        Environment::load_with(process as fn(&str) -> Option<String>).await
    }
}

impl<L: Fn(&str) -> Option<String>> Environment<L> {
    /// Resolves the secrets whose ARN `lookup` names. The AWS settings
    /// themselves (region, credentials, endpoint) come from the process
    /// environment, as Lambda provides them.
    pub async fn load_with(lookup: L) -> Result<Self, ConfigError> {
        let mut resolved = HashMap::new();
        let mut client = None;
        for (arn_variable, variable) in SECRET_VARIABLES {
            let Some(arn) = lookup(arn_variable).filter(|arn| !arn.trim().is_empty()) else {
                continue;
            };
            let problem = |problem| ConfigError {
                variable: arn_variable,
                problem,
            };
            let client = match &client {
                Some(client) => client,
                None => client.insert(SecretsManager::from_env().map_err(problem)?),
            };
            let value = client.secret(arn.trim()).await.map_err(problem)?;
            resolved.insert(variable, value);
        }
        Ok(Environment { lookup, resolved })
    }

    /// A variable's value: a resolved secret wins over the plain variable.
    pub fn get(&self, name: &str) -> Option<String> {
        self.resolved
            .get(name)
            .cloned()
            .or_else(|| (self.lookup)(name))
    }

    /// [`Environment::get`] as a closure, for the `from_lookup` constructors.
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |name| self.get(name)
    }
}

/// Secrets Manager, as the process environment configures it.
struct SecretsManager {
    endpoint: Endpoint,
    region: String,
    credentials: Credentials,
}

/// An access key, and the session token of temporary credentials (a
/// Lambda function's role).
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl SecretsManager {
    fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let region = var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .ok_or("needs AWS_REGION (Lambda sets it) to reach Secrets Manager")?;
        let url = var("AWS_ENDPOINT_URL_SECRETS_MANAGER")
            .or_else(|| var("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| format!("https://secretsmanager.{region}.amazonaws.com"));
        let endpoint =
            Endpoint::parse(&url).map_err(|e| format!("names a Secrets Manager URL that {e}"))?;
        let (Some(access_key_id), Some(secret_access_key)) =
            (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
        else {
            return Err(
                "needs AWS credentials in the environment (AWS_ACCESS_KEY_ID, \
                        AWS_SECRET_ACCESS_KEY; Lambda sets them from the function's role)"
                    .into(),
            );
        };
        Ok(SecretsManager {
            endpoint,
            region,
            credentials: Credentials {
                access_key_id,
                secret_access_key,
                session_token: var("AWS_SESSION_TOKEN"),
            },
        })
    }

    /// `GetSecretValue`: the secret's string, trimmed.
    async fn secret(&self, arn: &str) -> Result<String, String> {
        let answer = self
            .call("GetSecretValue", &json!({ "SecretId": arn }))
            .await
            .map_err(|e| format!("could not be read from Secrets Manager: {e}"))?;
        let value = answer["SecretString"]
            .as_str()
            .ok_or("names a secret without a string value")?;
        Ok(value.trim().to_owned())
    }

    /// One action of Secrets Manager's JSON protocol, signed; the answer's
    /// document, or the error it reports.
    async fn call(&self, action: &str, input: &Value) -> Result<Value, String> {
        let body = input.to_string();
        let now = SystemTime::now();
        let mut headers = vec![
            ("content-type", "application/x-amz-json-1.1".to_owned()),
            ("host", self.endpoint.authority().to_owned()),
            ("x-amz-date", amz_date(now)),
            ("x-amz-target", format!("secretsmanager.{action}")),
        ];
        if let Some(token) = &self.credentials.session_token {
            headers.push(("x-amz-security-token", token.clone()));
        }
        let authorization = sign(
            &Signing {
                method: "POST",
                path: self.endpoint.path(),
                region: &self.region,
                service: "secretsmanager",
                credentials: &self.credentials,
            },
            &mut headers,
            body.as_bytes(),
        );
        let mut request = Request::post(self.endpoint.path())
            .header(header::AUTHORIZATION, authorization)
            .header(header::USER_AGENT, crate::https::USER_AGENT);
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let (status, answer) = self
            .endpoint
            .send(request, MAX_RESPONSE_BYTES, SECRETS_TIMEOUT)
            .await?;
        let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        if status != StatusCode::OK {
            // The JSON protocol's error: `__type` (maybe prefixed with a
            // namespace and `#`) and a message.
            let kind = answer["__type"].as_str().unwrap_or("unknown error");
            let kind = kind.rsplit('#').next().unwrap_or(kind);
            let message = answer["message"]
                .as_str()
                .or(answer["Message"].as_str())
                .unwrap_or("");
            return Err(format!("{kind} (HTTP {}): {message}", status.as_u16()));
        }
        Ok(answer)
    }
}

/// One Secrets Manager action (`GetSecretValue`, `CreateSecret`...) with
/// the region, credentials and endpoint of the process environment: how
/// the tests put secrets into the local emulator.
pub async fn call(action: &str, input: &Value) -> Result<Value, String> {
    SecretsManager::from_env()?.call(action, input).await
}

/// What a Signature Version 4 signature covers besides headers and body.
pub struct Signing<'a> {
    pub method: &'a str,
    /// Path and query, already URI-encoded as sent (no query here).
    pub path: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub credentials: &'a Credentials,
}

/// `YYYYMMDD'T'HHMMSS'Z'` in UTC, as `x-amz-date` carries it.
pub fn amz_date(at: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(at)
        .format("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// The `Authorization` header of AWS Signature Version 4 for a request with
/// `headers` (lower-case names; `host` and `x-amz-date` among them) and
/// `body`. Every header given is signed; `headers` ends up sorted by name.
pub fn sign(signing: &Signing, headers: &mut [(&str, String)], body: &[u8]) -> String {
    headers.sort_by(|a, b| a.0.cmp(b.0));
    let date_time = headers
        .iter()
        .find(|(name, _)| *name == "x-amz-date")
        .map_or("", |(_, value)| value.as_str());
    let date = date_time.get(..8).unwrap_or("");
    let (path, query) = signing.path.split_once('?').unwrap_or((signing.path, ""));
    let canonical_headers: String = headers
        .iter()
        .map(|(name, value)| format!("{name}:{}\n", value.trim()))
        .collect();
    let signed_headers = headers
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n{path}\n{query}\n{canonical_headers}\n{signed_headers}\n{}",
        signing.method,
        hex(&Sha256::digest(body))
    );
    let scope = format!("{date}/{}/{}/aws4_request", signing.region, signing.service);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{date_time}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let secret = format!("AWS4{}", signing.credentials.secret_access_key);
    let key = [date, signing.region, signing.service, "aws4_request"]
        .iter()
        .fold(secret.into_bytes(), |key, part| hmac(&key, part.as_bytes()));
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        signing.credentials.access_key_id
    )
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_credentials() -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }
    }

    /// `get-vanilla` of AWS's Signature Version 4 test suite.
    #[test]
    fn signs_the_aws_test_suite_request() {
        let credentials = example_credentials();
        let mut headers = vec![
            ("x-amz-date", "20150830T123600Z".to_owned()),
            ("host", "example.amazonaws.com".to_owned()),
        ];
        let signing = Signing {
            method: "GET",
            path: "/",
            region: "us-east-1",
            service: "service",
            credentials: &credentials,
        };
        assert_eq!(
            sign(&signing, &mut headers, b""),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    /// The call this module makes, with temporary credentials, signed the
    /// same way by botocore (the AWS SDK for Python) for comparison.
    #[test]
    fn signs_get_secret_value_as_botocore_does() {
        let credentials = Credentials {
            session_token: Some("session-token-example".into()),
            ..example_credentials()
        };
        let body = json!({
            "SecretId": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:todo/db-AbCdEf"
        })
        .to_string();
        let mut headers = vec![
            ("content-type", "application/x-amz-json-1.1".to_owned()),
            ("host", "secretsmanager.eu-west-1.amazonaws.com".to_owned()),
            ("x-amz-date", "20261127T171430Z".to_owned()),
            ("x-amz-target", "secretsmanager.GetSecretValue".to_owned()),
            ("x-amz-security-token", "session-token-example".to_owned()),
        ];
        let signing = Signing {
            method: "POST",
            path: "/",
            region: "eu-west-1",
            service: "secretsmanager",
            credentials: &credentials,
        };
        assert_eq!(
            sign(&signing, &mut headers, body.as_bytes()),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/eu-west-1/secretsmanager/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, \
             Signature=43229c889a81b4d466afa0e1f564ebae026518ac1ab7e3a5c5cdcf9237d23e3a"
        );
    }

    #[test]
    fn formats_the_amz_date() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        assert_eq!(amz_date(at), "20150830T123600Z");
    }
}

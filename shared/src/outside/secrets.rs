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
//! The call is AWS's own: aws-config resolves the region, the credentials
//! (its provider chain: the environment Lambda sets from the function's
//! role, or a container endpoint, a profile, SSO, a web identity, IMDS...)
//! and the endpoint (`AWS_ENDPOINT_URL_SECRETS_MANAGER` or
//! `AWS_ENDPOINT_URL` point it elsewhere: the tests use a local emulator),
//! and `aws-sdk-secretsmanager` makes, signs and retries the call. Only the
//! HTTP client is ours ([`crate::outside::aws_http`]), so the SDK rides the process's
//! one TLS stack. None of it runs unless an ARN is set: a local run or a
//! test with plain variables never touches the SDK.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};

/// Why a secret could not be had. Its text completes a sentence that begins
/// with the ARN's variable name; the SDK's error, when there is one, is its
/// source.
#[derive(Debug)]
pub enum SecretsError {
    NoRegion,
    Read(Box<dyn std::error::Error + Send + Sync>),
    NoString,
}

impl std::fmt::Display for SecretsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SecretsError::NoRegion => "needs AWS_REGION (Lambda sets it) to reach Secrets Manager",
            SecretsError::Read(_) => "could not be read from Secrets Manager",
            SecretsError::NoString => "names a secret without a string value",
        })
    }
}

impl std::error::Error for SecretsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SecretsError::Read(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// A secret whose ARN a variable names, and why it could not be had.
#[derive(Debug)]
pub struct Unresolved {
    /// The ARN's variable (`DATABASE_URL_SECRET_ARN`...).
    pub variable: &'static str,
    pub error: SecretsError,
}

/// `(ARN variable, the variable its secret's value stands for)`.
pub const SECRET_VARIABLES: [(&str, &str); 3] = [
    ("DATABASE_URL_SECRET_ARN", "DATABASE_URL"),
    ("BETTER_AUTH_SECRET_ARN", "BETTER_AUTH_SECRET"),
    ("MIGRATE_DATABASE_URL_SECRET_ARN", "MIGRATE_DATABASE_URL"),
];

/// Bounds each Secrets Manager call, its retries included, so a cold
/// start cannot hang on it.
const SECRETS_TIMEOUT: Duration = Duration::from_secs(5);

/// The configuration environment: the process environment (or a lookup of
/// the caller's), with each secret whose ARN is set resolved into the
/// variable it stands for.
pub struct Environment<L> {
    lookup: L,
    resolved: HashMap<&'static str, SecretString>,
}

impl Environment<fn(&str) -> Option<String>> {
    /// The process environment, secrets resolved.
    pub async fn load() -> Result<Self, Unresolved> {
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
    pub async fn load_with(lookup: L) -> Result<Self, Unresolved> {
        let mut resolved = HashMap::new();
        let mut client = None;
        for (arn_variable, variable) in SECRET_VARIABLES {
            let Some(arn) = lookup(arn_variable).filter(|arn| !arn.trim().is_empty()) else {
                continue;
            };
            let problem = |error| Unresolved {
                variable: arn_variable,
                error,
            };
            let client = match &client {
                Some(client) => client,
                None => client.insert(client_from_env().await.map_err(problem)?),
            };
            let value = secret(client, arn.trim()).await.map_err(problem)?;
            resolved.insert(variable, value.into());
        }
        Ok(Environment { lookup, resolved })
    }

    /// A variable's value: a resolved secret wins over the plain variable.
    pub fn get(&self, name: &str) -> Option<String> {
        self.resolved
            .get(name)
            .map(|value| value.expose_secret().to_owned())
            .or_else(|| (self.lookup)(name))
    }

    /// [`Environment::get`] as a closure, for the `from_lookup` constructors.
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |name| self.get(name)
    }
}

/// A Secrets Manager client as aws-config configures it from the process
/// environment (and the AWS config files, for a developer's laptop), over
/// the project's HTTP client.
async fn client_from_env() -> Result<Client, SecretsError> {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(crate::outside::aws_http::client())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(SECRETS_TIMEOUT)
                .build(),
        )
        .load()
        .await;
    if config.region().is_none() {
        return Err(SecretsError::NoRegion);
    }
    Ok(Client::new(&config))
}

/// `GetSecretValue`: the secret's string, trimmed.
async fn secret(client: &Client, arn: &str) -> Result<String, SecretsError> {
    let answer = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| SecretsError::Read(e.into()))?;
    let value = answer.secret_string().ok_or(SecretsError::NoString)?;
    Ok(value.trim().to_owned())
}

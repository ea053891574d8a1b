//! Secrets from AWS Secrets Manager, resolved once per container at cold start.
//!
//! In AWS, the template gives each function the ARNs of its secrets
//! (`DATABASE_URL_SECRET_ARN`, `BETTER_AUTH_SECRET_ARN`, and for `migrate`
//! `MIGRATE_DATABASE_URL_SECRET_ARN`) instead of their
//! values, so no secret sits in the template, `samconfig.toml` or the
//! function configuration. Each ARN that is set is read with the Secrets
//! Manager SDK client and its value stands in for the plain variable
//! (`DATABASE_URL`, `BETTER_AUTH_SECRET`, `MIGRATE_DATABASE_URL`). Locally nothing is set and the
//! plain variables work as they are; nothing talks to AWS.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use crate::config::ConfigError;

/// `(ARN variable, the variable its secret's value stands for)`.
pub const SECRET_VARIABLES: [(&str, &str); 3] = [
    ("DATABASE_URL_SECRET_ARN", "DATABASE_URL"),
    ("BETTER_AUTH_SECRET_ARN", "BETTER_AUTH_SECRET"),
    ("MIGRATE_DATABASE_URL_SECRET_ARN", "MIGRATE_DATABASE_URL"),
];

/// Bounds the whole Secrets Manager call, so a cold start cannot hang on it.
const SECRETS_TIMEOUT: Duration = Duration::from_secs(5);

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
            let client = match &client {
                Some(client) => client,
                None => client.insert(secrets_client().await),
            };
            let value = read_secret(client, arn.trim())
                .await
                .map_err(|problem| ConfigError {
                    variable: arn_variable,
                    problem,
                })?;
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

/// A Secrets Manager client configured from the environment (region,
/// credentials, `AWS_ENDPOINT_URL_SECRETS_MANAGER`), on rustls with ring.
pub async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(SECRETS_TIMEOUT)
                .build(),
        )
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&config)
}

async fn read_secret(client: &aws_sdk_secretsmanager::Client, arn: &str) -> Result<String, String> {
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            format!(
                "could not be read from Secrets Manager: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            )
        })?;
    let value = output
        .secret_string()
        .ok_or("names a secret without a string value")?;
    Ok(value.trim().to_owned())
}

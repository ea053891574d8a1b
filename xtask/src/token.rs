//! `cargo xtask token USER [TTL]` (`make token USER=alice`): prints an
//! HS256 token for local use, valid TTL seconds (else `TOKEN_TTL`, else
//! 3600). Signs with `BETTER_AUTH_SECRET` as `make dev` sees it (the
//! environment, else `.env`, else make dev's own [`dev_secret`]) and adds
//! `iss`/`aud` when the configuration sets them (`JWT_ISSUER`,
//! `JWT_AUDIENCE`, else `BETTER_AUTH_URL`), so the token passes exactly the
//! checks the local API applies.

use std::process::ExitCode;

use todo_shared::config::AuthConfig;

use crate::local::{Settings, dev_secret};

pub fn run(args: &[String]) -> ExitCode {
    let settings = Settings::read();
    let setting = |name: &str| settings.get(name);
    let (user, ttl) = match args {
        [user] => (user, setting("TOKEN_TTL")),
        [user, ttl] => (user, Some(ttl.clone())),
        _ => (&String::new(), None),
    };
    if user.is_empty() {
        eprintln!("usage: cargo xtask token <user-id> [ttl-seconds]");
        return ExitCode::FAILURE;
    }
    let ttl: i64 = match ttl.map(|t| t.trim().parse()) {
        None => 3600,
        Some(Ok(ttl)) if ttl > 0 => ttl,
        Some(_) => {
            eprintln!("ttl-seconds (TOKEN_TTL) must be a positive whole number");
            return ExitCode::FAILURE;
        }
    };
    let secret = match setting("BETTER_AUTH_SECRET") {
        Some(secret) => secret,
        None => match dev_secret() {
            Ok(secret) => secret,
            Err(e) => {
                eprintln!("make dev's secret: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let config = match AuthConfig::from_lookup(|name| match name {
        "BETTER_AUTH_SECRET" => Some(secret.clone()),
        _ => setting(name),
    }) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match todo_tests::local_token(&config, user, ttl) {
        Some(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("BETTER_AUTH_SECRET is not set: local HS256 tokens need it");
            ExitCode::FAILURE
        }
    }
}

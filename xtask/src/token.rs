//! `cargo xtask token USER [TTL]` (`make token USER=alice`): prints an
//! HS256 token for local use, valid TTL seconds (default 3600). Signs with `BETTER_AUTH_SECRET`
//! and adds `iss`/`aud` when the configuration sets them (`JWT_ISSUER`,
//! `JWT_AUDIENCE`, else `BETTER_AUTH_URL`), so the token passes exactly the
//! checks the local API applies.

use std::process::ExitCode;

use serde_json::json;
use todo_shared::config::AuthConfig;

pub fn run(args: &[String]) -> ExitCode {
    let mut args = args.iter();
    let Some(user) = args.next().filter(|u| !u.is_empty()) else {
        eprintln!("usage: cargo xtask token <user-id> [ttl-seconds]");
        return ExitCode::FAILURE;
    };
    let ttl: i64 = match args.next().map(|t| t.parse()) {
        None => 3600,
        Some(Ok(ttl)) if ttl > 0 => ttl,
        Some(_) => {
            eprintln!("ttl-seconds must be a positive whole number");
            return ExitCode::FAILURE;
        }
    };
    let config = match AuthConfig::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let now = todo_tests::now();
    let mut claims = json!({ "sub": user, "iat": now, "exp": now + ttl });
    let (issuer, audience) = config.claims();
    if let Some(issuer) = issuer {
        claims["iss"] = json!(issuer);
    }
    if let Some(audience) = audience {
        claims["aud"] = json!(audience);
    }
    let Some(secret) = config.secret else {
        eprintln!("BETTER_AUTH_SECRET is not set: local HS256 tokens need it");
        return ExitCode::FAILURE;
    };
    println!("{}", todo_tests::sign(&secret, &claims));
    ExitCode::SUCCESS
}

//! `cargo xtask token USER [TTL]` (`make token USER=alice`): prints an
//! HS256 token for local use, valid TTL seconds (default 3600). Signs with `BETTER_AUTH_SECRET`
//! and adds `iss`/`aud` when the configuration sets them (`JWT_ISSUER`,
//! `JWT_AUDIENCE`, else `BETTER_AUTH_URL`), so the token passes exactly the
//! checks the local API applies.

use std::process::ExitCode;

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
    let config = match AuthConfig::from_lookup(|name| std::env::var(name).ok()) {
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

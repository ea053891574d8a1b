//! `cargo xtask token USER [TTL]` (`make token USER=alice`): prints an
//! HS256 token for local use, valid TTL seconds (else `TOKEN_TTL`, else
//! 3600). Signs with `BETTER_AUTH_SECRET` as `make dev` sees it (the
//! environment, else `.env`, else make dev's own [`dev_secret`]) and adds
//! `iss`/`aud` when the configuration sets them (`JWT_ISSUER`,
//! `JWT_AUDIENCE`, else `BETTER_AUTH_URL`), so the token passes exactly the
//! checks the local API applies.
//!
//! `cargo xtask dev-secret` prints make dev's own secret.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use todo_shared::config::AuthConfig;
use todo_tests::root;

pub fn run(args: &[String]) -> ExitCode {
    let dotenv = dotenv();
    let setting = |name: &str| {
        std::env::var(name)
            .ok()
            .or_else(|| dotenv.get(name).cloned())
            .filter(|value| !value.trim().is_empty())
    };
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

/// `cargo xtask dev-secret`: prints [`dev_secret`] (`make dev` uses it
/// when `BETTER_AUTH_SECRET` is set nowhere).
pub fn print_dev_secret() -> ExitCode {
    match dev_secret() {
        Ok(secret) => {
            println!("{secret}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("make dev's secret: {e}");
            ExitCode::FAILURE
        }
    }
}

/// make dev's own secret: made once (36 random bytes, in hex) and kept in the
/// ignored `.local/dev-secret`, readable by its owner alone.
fn dev_secret() -> std::io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file: PathBuf = root().join(".local/dev-secret");
    if let Ok(secret) = std::fs::read_to_string(&file)
        && !secret.trim().is_empty()
    {
        return Ok(secret.trim().to_owned());
    }
    std::fs::create_dir_all(root().join(".local"))?;
    let secret = todo_tests::services::random_secret(36);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&file)?;
    std::io::Write::write_all(&mut out, format!("{secret}\n").as_bytes())?;
    Ok(secret)
}

/// The `NAME=value` lines of `.env` (comments and blank lines skipped,
/// one pair of surrounding double quotes taken off), as `make dev` loads it.
fn dotenv() -> HashMap<String, String> {
    let text = std::fs::read_to_string(root().join(".env")).unwrap_or_default();
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| {
            let value = value.strip_prefix('"').unwrap_or(value);
            let value = value.strip_suffix('"').unwrap_or(value);
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

//! What `make dev`, `make token` and `make dev`'s smoke check share: the
//! developer's settings (the environment, else `.env`) and make dev's own
//! token secret.

use std::collections::HashMap;
use std::path::PathBuf;

use todo_tests::root;

/// The developer's settings: the environment's, else `.env`'s.
pub struct Settings {
    dotenv: HashMap<String, String>,
}

impl Settings {
    pub fn read() -> Self {
        Settings { dotenv: dotenv() }
    }

    /// `name`'s value, when it is set to something.
    pub fn get(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .or_else(|| self.dotenv.get(name).cloned())
            .filter(|value| !value.trim().is_empty())
    }

    /// What `.env` sets that the environment does not: what a child gets
    /// on top of the environment it inherits.
    pub fn for_children(&self) -> Vec<(String, String)> {
        self.dotenv
            .iter()
            .filter(|(name, _)| std::env::var_os(name).is_none())
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    }
}

/// The `NAME=value` lines of `.env` (comments and blank lines skipped, one
/// pair of surrounding double quotes taken off).
fn dotenv() -> HashMap<String, String> {
    parse(&std::fs::read_to_string(root().join(".env")).unwrap_or_default())
}

fn parse(text: &str) -> HashMap<String, String> {
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

/// make dev's own secret, for when `BETTER_AUTH_SECRET` is set nowhere:
/// made once (36 random bytes, in hex) and kept in the ignored
/// `.local/dev-secret`, readable by its owner alone.
pub fn dev_secret() -> std::io::Result<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_lines_are_names_and_values_quotes_taken_off() {
        let parsed = parse(
            "# a comment\n\nDATABASE_URL=postgres://u@h/db?sslmode=require\n\
             BETTER_AUTH_URL=\"http://localhost:3000\"\nEMPTY=\nnot a setting\n",
        );
        let expected: HashMap<String, String> = [
            ("DATABASE_URL", "postgres://u@h/db?sslmode=require"),
            ("BETTER_AUTH_URL", "http://localhost:3000"),
            ("EMPTY", ""),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
        assert_eq!(parsed, expected);
    }
}

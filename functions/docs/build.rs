//! Installs the pinned Swagger UI (`swagger-ui/package-lock.json`) into
//! `OUT_DIR` with `npm ci`, so that the docs function embeds its assets and
//! `/docs` needs no CDN. Runs again only when the lockfile changes.
//! `--ignore-scripts`: swagger-ui-dist's one dependency (`@scarf/scarf`)
//! would otherwise run an install script that reports the download.

use std::path::PathBuf;
use std::process::Command;
use std::{env, fs};

fn main() {
    let source = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("swagger-ui");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("swagger-ui");
    for file in ["package.json", "package-lock.json"] {
        println!("cargo:rerun-if-changed=swagger-ui/{file}");
        fs::create_dir_all(&out).unwrap();
        fs::copy(source.join(file), out.join(file)).unwrap();
    }
    let status = Command::new("npm")
        .args([
            "ci",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ])
        .current_dir(&out)
        .status();
    match status {
        Ok(status) if status.success() => {}
        outcome => panic!(
            "`npm ci` of functions/docs/swagger-ui (the docs page's pinned Swagger UI) failed: \
             {outcome:?}. Building needs Node.js and npm, and the npm registry or its cache."
        ),
    }
}

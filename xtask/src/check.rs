//! `cargo xtask check` (`make check`): formatting and clippy, warnings as
//! errors. No services.

use std::process::Command;

use crate::command::check;

pub fn all() {
    check(
        Command::new("cargo").args(["fmt", "--all", "--check"]),
        "cargo fmt --check",
    );
    check(
        Command::new("cargo").args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--quiet",
            "--",
            "-D",
            "warnings",
        ]),
        "cargo clippy",
    );
}

//! The TypeScript client, compiled to JavaScript, in headless Chromium, in
//! a page of another origin (`tests/browser/client.mjs`): the local API on
//! `http://localhost:<port>` answers CORS as API Gateway would with the
//! template's `CorsConfiguration` and `FrontendUrl` = the page's origin
//! (`cargo lambda watch` would allow anything). (The `/docs` page's own
//! browser test is an end-to-end one: `e2e::the_docs_page_in_chromium`.)
//!
//! Ignored in a plain `cargo test` (a browser, Debian's `chromium` or
//! `CHROMIUM`): `make test` runs it, as `cargo test -- --ignored browser::`
//! does where a Chromium is installed.

use std::process::Command;

use todo_tests::services::npm_ci_once;
use todo_tests::{BetterAuth, database_url, free_port, pg_bin, root};

#[test]
#[ignore = "needs Chromium; run by `make test`"]
fn the_typescript_client_from_another_origin() {
    let client = root().join("clients/typescript");
    npm_ci_once(&client);
    npm_ci_once(&root().join("tests/browser"));
    let client_js = std::env::temp_dir().join(todo_tests::unique_user("browser-client"));
    let compiled = Command::new(client.join("node_modules/.bin/tsc"))
        .arg(client.join("src/index.ts"))
        .arg("--outDir")
        .arg(&client_js)
        .args(["--module", "esnext", "--target", "es2022"])
        .args(["--moduleResolution", "bundler", "--skipLibCheck"])
        .status()
        .expect("tsc");
    assert!(compiled.success(), "tsc: {compiled}");
    let page_port = free_port();
    let origin = format!("http://127.0.0.1:{page_port}");
    let (base, _) = todo_tests::server::local_api(Some(&origin));
    let tested = Command::new("node")
        .arg(root().join("tests/browser/client.mjs"))
        .arg(base.replace("127.0.0.1", "localhost"))
        .arg(&client_js)
        .env("PAGE_PORT", page_port.to_string())
        .env("PSQL", pg_bin().join("psql"))
        .env("BETTER_AUTH_FIXTURE", BetterAuth::file())
        .env("TEST_DATABASE_URL", database_url())
        .status()
        .expect("node");
    let _ = std::fs::remove_dir_all(&client_js);
    assert!(tested.success(), "the client's browser test: {tested}");
}

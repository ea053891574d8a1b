//! The route table is stated once in code (`todo_shared::routes::ROUTES`);
//! the `cargo lambda watch` router in Cargo.toml must say the same.

use std::collections::BTreeMap;

use todo_shared::routes::ROUTES;
use todo_tests::root;

#[test]
fn watch_router_equals_the_route_table() {
    let manifest: toml::Table = std::fs::read_to_string(root().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let router = &manifest["workspace"]["metadata"]["lambda"]["watch"]["router"];
    let router: BTreeMap<String, String> = router
        .as_table()
        .expect("[workspace.metadata.lambda.watch.router]")
        .iter()
        .map(|(path, function)| {
            // One function per path for every method: the function answers 405.
            let function = function
                .as_str()
                .unwrap_or_else(|| panic!("{path}: one function name"));
            (path.clone(), function.to_owned())
        })
        .collect();
    let table: BTreeMap<String, String> = ROUTES
        .iter()
        .map(|r| (r.path.to_owned(), r.function.to_owned()))
        .collect();
    assert_eq!(router, table);
}

#[test]
fn every_route_function_is_a_workspace_binary() {
    for route in ROUTES {
        let manifest = root()
            .join("functions")
            .join(route.function)
            .join("Cargo.toml");
        assert!(manifest.exists(), "{manifest:?}");
    }
}

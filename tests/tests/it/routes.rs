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

/// The template's functions and HttpApi events must say what the route table
/// says: each path to its function, for ANY method (the function answers 405).
#[test]
fn template_routes_equal_the_route_table() {
    use serde_yaml_ng::Value;
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let template: Value = serde_yaml_ng::from_str(&text).unwrap();
    let resources = template["Resources"].as_mapping().expect("Resources");
    let mut routes = BTreeMap::new();
    let mut binaries = Vec::new();
    for (name, resource) in resources {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{name:?}: Metadata.BuildProperties.Binary"))
            .to_owned();
        assert_eq!(
            resource["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{name:?}"
        );
        binaries.push(binary.clone());
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (event, spec) in events {
            assert_eq!(spec["Type"], "HttpApi", "{event:?}");
            let properties = &spec["Properties"];
            assert_eq!(
                properties["Method"], "ANY",
                "{event:?}: the function answers 405"
            );
            assert!(!properties["ApiId"].is_null(), "{event:?}: ApiId");
            let path = properties["Path"].as_str().unwrap().to_owned();
            assert!(
                routes.insert(path.clone(), binary.clone()).is_none(),
                "{path} twice"
            );
        }
    }
    let table: BTreeMap<String, String> = ROUTES
        .iter()
        .map(|r| (r.path.to_owned(), r.function.to_owned()))
        .collect();
    assert_eq!(routes, table);
    // Every function is a workspace binary; migrate is deployed but not routed.
    for binary in &binaries {
        assert!(
            root()
                .join("functions")
                .join(binary)
                .join("Cargo.toml")
                .exists(),
            "{binary}"
        );
    }
    assert!(binaries.iter().any(|b| b == "migrate"));
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Architectures"][0], "arm64");
    assert_eq!(globals["Handler"], "bootstrap");
    assert_eq!(globals["LoggingConfig"]["LogFormat"], "JSON");
}

/// The contract's CORS, exactly.
#[test]
fn template_cors_is_the_contracts() {
    use serde_yaml_ng::Value;
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let template: Value = serde_yaml_ng::from_str(&text).unwrap();
    let cors = &template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_sequence()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        strings(&cors["AllowMethods"]),
        ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
    );
    assert_eq!(
        strings(&cors["AllowHeaders"]),
        ["Content-Type", "Authorization"]
    );
    assert_eq!(cors["AllowCredentials"], false);
    assert_eq!(cors["MaxAge"], 600);
    assert_eq!(
        cors["AllowOrigins"].as_sequence().unwrap().len(),
        1,
        "the FrontendUrl parameter"
    );
}

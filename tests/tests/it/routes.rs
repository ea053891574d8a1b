//! The route table is stated once in code (`todo_shared::web::routes::ROUTES`);
//! the `cargo lambda watch` router in Cargo.toml must say the same.

use std::collections::{BTreeMap, BTreeSet};

use todo_shared::web::routes::{FALLBACK, ROUTES};
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
    let mut table: BTreeMap<String, String> = ROUTES
        .iter()
        .map(|r| (r.path.to_owned(), r.function().name().to_owned()))
        .collect();
    // Every other path: the fallback's 404 (matchit's catch-all needs a
    // segment, so `/` is named too).
    table.insert("/".into(), FALLBACK.name().into());
    table.insert("/{*path}".into(), FALLBACK.name().into());
    assert_eq!(router, table);
}

#[test]
fn every_route_function_is_a_workspace_binary() {
    for route in ROUTES {
        let manifest = root()
            .join("functions")
            .join(route.function().name())
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
            assert!(!properties["ApiId"].is_null(), "{event:?}: ApiId");
            // Neither path nor method: SAM makes it the $default route.
            let path = match properties["Path"].as_str() {
                None => {
                    assert!(properties["Method"].is_null(), "{event:?}");
                    "$default".to_owned()
                }
                Some(path) => {
                    assert_eq!(
                        properties["Method"], "ANY",
                        "{event:?}: the function answers 405"
                    );
                    path.to_owned()
                }
            };
            assert!(
                routes.insert(path.clone(), binary.clone()).is_none(),
                "{path} twice"
            );
        }
    }
    let mut table: BTreeMap<String, String> = ROUTES
        .iter()
        .map(|r| (r.path.to_owned(), r.function().name().to_owned()))
        .collect();
    table.insert("$default".into(), FALLBACK.name().into());
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

/// What a browser on the frontend's origin needs, derived from the OpenAPI
/// document: the methods of every operation; the request headers a client
/// may send (header parameters, `Authorization` for secured operations,
/// `Content-Type` for bodies); the response headers it may need to read
/// (every documented one that CORS does not already expose).
fn cors_needs() -> [BTreeSet<String>; 3] {
    let doc = todo_shared::web::openapi::document_json();
    let [mut methods, mut send, mut read] = <[BTreeSet<String>; 3]>::default();
    for item in doc["paths"].as_object().unwrap().values() {
        for (method, op) in item.as_object().unwrap() {
            methods.insert(method.to_uppercase());
            for parameter in op["parameters"].as_array().into_iter().flatten() {
                if parameter["in"] == "header" {
                    send.insert(parameter["name"].as_str().unwrap().to_owned());
                }
            }
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                send.insert("Authorization".into());
            }
            if !op["requestBody"].is_null() {
                send.insert("Content-Type".into());
            }
            for response in op["responses"].as_object().unwrap().values() {
                if let Some(headers) = response["headers"].as_object() {
                    read.extend(headers.keys().cloned());
                }
            }
        }
    }
    // Readable from script without being exposed.
    for safelisted in [
        "Cache-Control",
        "Content-Language",
        "Content-Length",
        "Content-Type",
        "Expires",
        "Last-Modified",
        "Pragma",
    ] {
        read.remove(safelisted);
    }
    [methods, send, read]
}

/// The contract's CORS, exactly, and covering everything the document says
/// a client may send or read.
#[test]
fn template_cors_covers_the_document_and_is_the_contracts() {
    use serde_yaml_ng::Value;
    let cors = todo_tests::cors::template_configuration();
    let strings = |v: &Value| -> Vec<String> {
        v.as_sequence()
            .unwrap_or_else(|| panic!("a list: {v:?}"))
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    let lower = |names: &[String]| -> BTreeSet<String> {
        names.iter().map(|n| n.to_ascii_lowercase()).collect()
    };
    let [methods, send, read] = cors_needs();
    let allow_methods = strings(&cors["AllowMethods"]);
    let allow_headers = strings(&cors["AllowHeaders"]);
    let expose_headers = strings(&cors["ExposeHeaders"]);
    for (needed, listed, what) in [
        (&methods, &allow_methods, "AllowMethods"),
        (&send, &allow_headers, "AllowHeaders"),
        (&read, &expose_headers, "ExposeHeaders"),
    ] {
        let missing: Vec<_> = needed
            .iter()
            .filter(|n| !lower(listed).contains(&n.to_ascii_lowercase()))
            .collect();
        assert!(missing.is_empty(), "{what} lacks {missing:?}");
    }
    assert!(
        read.contains("Idempotent-Replayed") && send.contains("Idempotency-Key"),
        "the document names the idempotency headers: {send:?} {read:?}"
    );
    // The contract's lists, exactly.
    assert_eq!(
        allow_methods,
        ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
    );
    assert_eq!(
        allow_headers,
        ["Content-Type", "Authorization", "Idempotency-Key"]
    );
    assert_eq!(
        expose_headers,
        [
            "Location",
            "Retry-After",
            "Idempotent-Replayed",
            "WWW-Authenticate"
        ]
    );
    assert_eq!(cors["AllowCredentials"], false);
    assert_eq!(cors["MaxAge"], 600);
    // Every origin of the comma-separated FrontendUrl.
    let Value::Tagged(origins) = &cors["AllowOrigins"] else {
        panic!("AllowOrigins: !Split of FrontendUrl")
    };
    assert_eq!(origins.tag, "Split");
    assert_eq!(origins.value[0], ",");
    let Value::Tagged(reference) = &origins.value[1] else {
        panic!("!Ref FrontendUrl")
    };
    assert_eq!(
        (reference.tag.to_string(), &reference.value),
        ("!Ref".to_owned(), &Value::from("FrontendUrl"))
    );
}

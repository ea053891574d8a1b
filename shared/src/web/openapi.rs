//! The OpenAPI 3 document of the contract, generated from the handlers'
//! `#[utoipa::path]` annotations and the types they send and receive.
//!
//! The annotations state each operation's own responses; `CommonErrors`
//! adds the error responses that follow from an operation's shape, so they
//! cannot be forgotten on one route: 401 for every secured operation, 413
//! where there is a body, 422 where there is input, 500 and 503 everywhere.
//! A test holds the document's paths and methods equal to the route table.

use serde_json::{Value, json};
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{Object, ObjectBuilder, Ref, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, OpenApi as Document, RefOr};
use utoipa::{Modify, OpenApi};

use crate::domain::tasks::{Task, TaskList};
use crate::domain::validate::{NewTask, StatusFilter, TaskUpdate};
use crate::domain::values::TITLE_ERROR;
use crate::web::error::{ApiError, ErrorBody, ErrorCode, ErrorDetail, FieldErrors};
use crate::web::handlers::{docs, health, tasks_collection, tasks_item};

#[derive(OpenApi)]
#[openapi(
    servers(
        (url = "/", description = "This deployment (where this document is served)"),
        (url = "http://localhost:9000", description = "Local development (`make dev`)"),
    ),
    info(
        title = "Todo API",
        description = "The tasks of the signed-in user. Every `/api` request carries \
            `Authorization: Bearer <jwt>` (Better Auth); a user only ever sees their own tasks."
    ),
    paths(
        tasks_collection::list,
        tasks_collection::create,
        tasks_item::get,
        tasks_item::replace,
        tasks_item::delete,
        tasks_item::toggle,
        health::check,
        docs::document,
        docs::page,
        docs::script,
        docs::style,
    ),
    components(schemas(Task, TaskList, NewTask, TaskUpdate, StatusFilter, ErrorBody, ErrorDetail, ErrorCode, health::Health)),
    modifiers(&CommonErrors, &Security, &Links),
    tags(
        (name = "tasks", description = "The caller's tasks"),
        (name = "health", description = "Liveness and database reachability"),
        (name = "docs", description = "This document, and a page that renders it"),
    )
)]
pub struct ApiDoc;

/// The document, generated once per call (the docs function keeps it).
pub fn document() -> Document {
    ApiDoc::openapi()
}

/// The document as JSON, as it is served.
///
/// utoipa 5.5 serialises a Link Object's fields in snake case
/// (`operation_id`), which OpenAPI tools reject; they are renamed here to the
/// specification's camel case.
pub fn document_json() -> Value {
    let mut json = json!(document());
    if let Some(paths) = json["paths"].as_object_mut() {
        let operations = paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|item| item.values_mut());
        let responses = operations
            .filter_map(|op| op.get_mut("responses")?.as_object_mut())
            .flat_map(|r| r.values_mut());
        let links = responses
            .filter_map(|r| r.get_mut("links")?.as_object_mut())
            .flat_map(|l| l.values_mut());
        for link in links.filter_map(Value::as_object_mut) {
            for (snake, camel) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(value) = link.remove(snake) {
                    link.insert(camel.into(), value);
                }
            }
        }
    }
    json
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.bearer_format = Some("JWT".into());
        bearer.description = Some(
            "A Better Auth JWT: EdDSA/ES256/RS256 from its jwt() plugin (JWKS), or HS256 \
             signed with BETTER_AUTH_SECRET"
                .into(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
    }
}

/// Stateful testing follows these: a created task's id feeds the item routes.
struct Links;

impl Modify for Links {
    fn modify(&self, openapi: &mut Document) {
        let Some(created) = openapi
            .paths
            .paths
            .get_mut(crate::web::routes::TASKS)
            .and_then(|item| item.post.as_mut())
            .and_then(|post| post.responses.responses.get_mut("201"))
        else {
            return;
        };
        let RefOr::T(created) = created else { return };
        for (name, operation) in [
            ("GetTask", "getTask"),
            ("UpdateTask", "updateTask"),
            ("DeleteTask", "deleteTask"),
            ("ToggleTask", "toggleTask"),
        ] {
            let link = LinkBuilder::new()
                .operation_id(operation)
                .parameter("id", "$response.body#/id")
                .build();
            created.links.insert(name.into(), RefOr::T(link));
        }
    }
}

struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut Document) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                add_common_errors(operation);
            }
        }
    }
}

fn add_common_errors(operation: &mut Operation) {
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_body = operation.request_body.is_some();
    let has_input = has_body || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let responses = &mut operation.responses.responses;
    let mut add = |status: &str, response: Response| {
        responses.entry(status.into()).or_insert(RefOr::T(response));
    };
    if secured {
        add(
            "401",
            error_response(
                "Missing, malformed, expired or wrongly signed token",
                &ApiError::Unauthorized,
                Some(("WWW-Authenticate", "Always `Bearer`")),
            ),
        );
    }
    if has_body {
        add(
            "413",
            error_response("The body is over 64 KiB", &ApiError::PayloadTooLarge, None),
        );
    }
    if has_input {
        let example = ApiError::Validation(FieldErrors::from([("title", TITLE_ERROR)]));
        add(
            "422",
            error_response(
                "Invalid body, query or id; `details` names each bad field",
                &example,
                None,
            ),
        );
    }
    add(
        "500",
        error_response(
            "Unexpected; `details.request_id` identifies it in the logs",
            &ApiError::internal("example"),
            None,
        ),
    );
    add(
        "503",
        error_response(
            "A dependency (the database, or Better Auth's JWKS) is unreachable or timing out. \
             A write answered 503 may still take effect, but only within 10 s of the request \
             (the API role's statement_timeout): a read after that shows the final state. \
             PUT, DELETE and a create with its Idempotency-Key are safe to repeat; read a task \
             before toggling it again",
            &ApiError::unavailable("example"),
            Some(("Retry-After", "Seconds to wait before retrying")),
        ),
    );
    add("429", throttled());
}

/// API Gateway's own answer when it throttles (the stage's rate and burst
/// limits): it never reaches a function, so its body is API Gateway's, not
/// the contract's error shape.
fn throttled() -> Response {
    let schema = ObjectBuilder::new()
        .property("message", Object::with_type(Type::String))
        .required("message")
        .build();
    let content = ContentBuilder::new()
        .schema(Some(schema))
        .example(Some(json!({"message": "Too Many Requests"})))
        .build();
    ResponseBuilder::new()
        .description(
            "Throttled by API Gateway before reaching the API: retry with backoff. Its body is \
             API Gateway's own, not the error shape of the other responses.",
        )
        .content("application/json", content)
        .build()
}

fn error_response(description: &str, example: &ApiError, header: Option<(&str, &str)>) -> Response {
    let example: Value = json!(example.body("8a7f3c1e-0d4b-4a5e-9d3c-2b1a0f9e8d7c"));
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .example(Some(example))
        .build();
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/json", content);
    if let Some((name, description)) = header {
        let header = HeaderBuilder::new()
            .schema(Object::with_type(Type::String))
            .description(Some(description))
            .build();
        response = response.header(name, header);
    }
    response.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::routes::ROUTES;
    use std::collections::BTreeSet;

    fn operations(doc: &Value) -> BTreeSet<(String, String)> {
        let mut found = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in ["get", "put", "post", "delete", "patch"] {
                if item.get(method).is_some() {
                    found.insert((path.clone(), method.to_uppercase()));
                }
            }
        }
        found
    }

    #[test]
    fn document_and_route_table_agree() {
        let doc = serde_json::to_value(document()).unwrap();
        let table: BTreeSet<(String, String)> = ROUTES
            .iter()
            .flat_map(|r| {
                r.methods()
                    .map(|m| (r.path.to_owned(), m.as_str().to_owned()))
            })
            .collect();
        assert_eq!(operations(&doc), table);
    }

    #[test]
    fn every_api_operation_documents_the_contract_errors() {
        let doc = serde_json::to_value(document()).unwrap();
        for (path, method) in operations(&doc) {
            let op = &doc["paths"][&path][method.to_lowercase()];
            let statuses: BTreeSet<&str> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            for status in ["429", "500", "503"] {
                assert!(statuses.contains(status), "{method} {path}: {status}");
            }
            if path.starts_with("/api/") {
                for status in ["401", "422"] {
                    assert!(statuses.contains(status), "{method} {path}: {status}");
                }
                assert_eq!(op["security"], json!([{"bearer": []}]), "{method} {path}");
            }
            if op.get("requestBody").is_some() {
                assert!(statuses.contains("413"), "{method} {path}");
            }
            if path.contains("{id}") {
                assert!(statuses.contains("404"), "{method} {path}");
            }
        }
        assert!(doc["paths"]["/api/tasks"]["post"]["responses"]["409"].is_object());
    }

    #[test]
    fn links_use_the_specifications_field_names() {
        let doc = document_json();
        let link = &doc["paths"]["/api/tasks"]["post"]["responses"]["201"]["links"]["GetTask"];
        assert_eq!(link["operationId"], "getTask", "{link}");
        assert!(link.get("operation_id").is_none());
        assert_eq!(link["parameters"]["id"], "$response.body#/id");
    }

    /// Each limit and pattern is one constant; where utoipa's attributes
    /// need a literal, this holds the document to the constant.
    #[test]
    fn limits_and_patterns_are_the_constants() {
        use crate::domain::validate::{
            CURSOR_PATTERN, IDEMPOTENCY_KEY_PATTERN, LIMIT_MAX, NO_NUL_PATTERN, TITLE_PATTERN,
        };
        use crate::domain::values::{
            DESCRIPTION_MAX_CHARS, IDEMPOTENCY_KEY_MAX, TITLE_MAX_CHARS, USER_ID_MAX_CHARS,
        };
        let doc = document_json();
        let schemas = &doc["components"]["schemas"];
        for input in ["NewTask", "TaskUpdate"] {
            let properties = &schemas[input]["properties"];
            assert_eq!(properties["title"]["pattern"], TITLE_PATTERN, "{input}");
            let description = &properties["description"];
            assert_eq!(description["maxLength"], DESCRIPTION_MAX_CHARS, "{input}");
            assert_eq!(description["pattern"], NO_NUL_PATTERN, "{input}");
            assert_eq!(description["type"], json!(["string", "null"]), "{input}");
        }
        // One character, then at most TITLE_MAX_CHARS - 2, then one more.
        let middle = format!("{{0,{}}}", TITLE_MAX_CHARS - 2);
        assert!(TITLE_PATTERN.contains(&middle), "{middle}");
        assert_eq!(schemas["NewTask"]["required"], json!(["title"]));
        assert_eq!(
            schemas["TaskUpdate"]["required"],
            json!(["title", "completed"])
        );
        let task = &schemas["Task"]["properties"];
        assert_eq!(task["title"]["maxLength"], TITLE_MAX_CHARS);
        assert_eq!(task["description"]["maxLength"], DESCRIPTION_MAX_CHARS);
        assert_eq!(task["user_id"]["maxLength"], USER_ID_MAX_CHARS);
        assert_eq!(
            schemas["TaskList"]["properties"]["next_cursor"]["pattern"],
            CURSOR_PATTERN
        );
        let list = doc["paths"]["/api/tasks"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let param = |name: &str| list.iter().find(|p| p["name"] == name).unwrap();
        assert_eq!(param("limit")["schema"]["minimum"], 1);
        assert_eq!(param("limit")["schema"]["maximum"], LIMIT_MAX);
        assert_eq!(param("cursor")["schema"]["pattern"], CURSOR_PATTERN);
        let create = doc["paths"]["/api/tasks"]["post"]["parameters"]
            .as_array()
            .unwrap();
        let key = create
            .iter()
            .find(|p| p["name"] == "Idempotency-Key")
            .unwrap();
        assert_eq!(key["schema"]["pattern"], IDEMPOTENCY_KEY_PATTERN);
        let max = format!("{{1,{IDEMPOTENCY_KEY_MAX}}}");
        assert!(IDEMPOTENCY_KEY_PATTERN.contains(&max), "{max}");
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }
}

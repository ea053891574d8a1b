//! The route table: which function serves which path, and with which methods.
//!
//! It is the one statement of the API's routes in code. Tests hold the
//! `cargo lambda watch` router in `Cargo.toml` (and, later, `template.yaml`)
//! to it, and each route-group handler uses it to tell its routes apart and to
//! name the route in its log line. Path parameters themselves always come from
//! the event, which API Gateway and the watch router both fill.

use lambda_http::http::Method;

/// One path of the API and the function that serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The binary under `functions/` that serves this path.
    pub function: &'static str,
    /// The path pattern, in the `{param}` syntax that API Gateway and matchit share.
    pub path: &'static str,
    /// The methods the function serves on this path; others are answered 405.
    pub methods: &'static [Method],
}

/// The names of the functions that serve routes: the binaries under
/// `functions/`, the `cargo lambda watch` router's targets and the template's
/// `Binary` properties (tests hold those two to these).
pub mod function {
    pub const TASKS_COLLECTION: &str = "tasks-collection";
    pub const TASKS_ITEM: &str = "tasks-item";
    pub const HEALTH: &str = "health";
    pub const DOCS: &str = "docs";
    /// Every function above.
    pub const ALL: [&str; 4] = [TASKS_COLLECTION, TASKS_ITEM, HEALTH, DOCS];
}

/// The function that answers every path no route serves (API Gateway's
/// `$default` route, the watch router's catch-all) with the contract's 404.
/// The docs function: it needs no configuration and no database, so it can
/// always answer, and its own route table matches none of those paths.
pub const FALLBACK: &str = function::DOCS;

pub const TASKS: &str = "/api/tasks";
pub const TASK: &str = "/api/tasks/{id}";
pub const TASK_COMPLETE: &str = "/api/tasks/{id}/complete";
pub const HEALTH: &str = "/health";
pub const OPENAPI: &str = "/openapi.json";
pub const DOCS: &str = "/docs";
/// Swagger UI's script and style sheet, served by the docs function itself.
pub const DOCS_SCRIPT: &str = "/docs/swagger-ui-bundle.js";
pub const DOCS_STYLE: &str = "/docs/swagger-ui.css";

/// Every route of the contract (`docs/api.md`, "Routes").
pub const ROUTES: &[Route] = &[
    Route {
        function: function::TASKS_COLLECTION,
        path: TASKS,
        methods: &[Method::GET, Method::POST],
    },
    Route {
        function: function::TASKS_ITEM,
        path: TASK,
        methods: &[Method::GET, Method::PUT, Method::DELETE],
    },
    Route {
        function: function::TASKS_ITEM,
        path: TASK_COMPLETE,
        methods: &[Method::PATCH],
    },
    Route {
        function: function::HEALTH,
        path: HEALTH,
        methods: &[Method::GET],
    },
    Route {
        function: function::DOCS,
        path: OPENAPI,
        methods: &[Method::GET],
    },
    Route {
        function: function::DOCS,
        path: DOCS,
        methods: &[Method::GET],
    },
    Route {
        function: function::DOCS,
        path: DOCS_SCRIPT,
        methods: &[Method::GET],
    },
    Route {
        function: function::DOCS,
        path: DOCS_STYLE,
        methods: &[Method::GET],
    },
];

impl Route {
    /// Whether a concrete request path fits this route's pattern: literal
    /// segments must be equal, and a `{param}` segment takes any non-empty one.
    pub fn matches(&self, path: &str) -> bool {
        let mut pattern = self.path.split('/');
        let mut actual = path.split('/');
        loop {
            match (pattern.next(), actual.next()) {
                (None, None) => return true,
                (Some(p), Some(a)) if p.starts_with('{') => {
                    if a.is_empty() {
                        return false;
                    }
                }
                (Some(p), Some(a)) if p == a => {}
                _ => return false,
            }
        }
    }

    /// The `Allow` header value for a 405 on this route.
    pub fn allow_header(&self) -> String {
        self.methods
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The route of `function` that a request path belongs to, if any.
pub fn find(function: &str, path: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|route| route.function == function && route.matches(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_literal_and_parameter_segments() {
        assert_eq!(find("tasks-item", "/api/tasks/12").unwrap().path, TASK);
        assert_eq!(
            find("tasks-item", "/api/tasks/12/complete").unwrap().path,
            TASK_COMPLETE
        );
        assert_eq!(find("tasks-collection", "/api/tasks").unwrap().path, TASKS);
        assert!(find("tasks-item", "/api/tasks/").is_none());
        assert!(find("tasks-item", "/api/tasks/1/2").is_none());
        assert!(find("tasks-item", "/api/tasks").is_none());
        assert!(find("tasks-collection", "/api/tasks/1").is_none());
        assert!(find("health", "/healthz").is_none());
    }

    #[test]
    fn allow_header_lists_methods() {
        assert_eq!(
            find("tasks-item", "/api/tasks/1").unwrap().allow_header(),
            "GET, PUT, DELETE"
        );
    }

    #[test]
    fn every_function_has_a_route() {
        for f in function::ALL {
            assert!(ROUTES.iter().any(|r| r.function == f), "{f}");
        }
    }
}

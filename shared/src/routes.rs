//! The route table: which function serves which path, and with which methods.
//!
//! It is the one statement of the API's routes in code. Tests hold the
//! `cargo lambda watch` router in `Cargo.toml` (and, later, `template.yaml`)
//! to it, and each route-group handler uses it to tell its routes apart and to
//! name the route in its log line. Path parameters themselves always come from
//! the event, which API Gateway and the watch router both fill.

use lambda_http::http::Method;

/// The functions that serve routes: the binaries under `functions/`, the
/// `cargo lambda watch` router's targets and the template's `Binary`
/// properties (tests hold those two to [`Function::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Function {
    TasksCollection,
    TasksItem,
    Health,
    Docs,
}

impl Function {
    pub const ALL: [Function; 4] = [
        Function::TasksCollection,
        Function::TasksItem,
        Function::Health,
        Function::Docs,
    ];

    /// The binary's name.
    pub const fn name(self) -> &'static str {
        match self {
            Function::TasksCollection => "tasks-collection",
            Function::TasksItem => "tasks-item",
            Function::Health => "health",
            Function::Docs => "docs",
        }
    }
}

impl std::fmt::Display for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a request asks for: one method on one route. Each function's
/// handler receives its own group's operations only (`http::serve` converts
/// with `TryFrom`), and matches them exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Collection(CollectionOp),
    Item(ItemOp),
    Health(HealthOp),
    Docs(DocsOp),
}

/// `tasks-collection`'s operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectionOp {
    /// `GET /api/tasks`
    List,
    /// `POST /api/tasks`
    Create,
}

/// `tasks-item`'s operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemOp {
    /// `GET /api/tasks/{id}`
    Get,
    /// `PUT /api/tasks/{id}`
    Replace,
    /// `DELETE /api/tasks/{id}`
    Delete,
    /// `PATCH /api/tasks/{id}/complete`
    Toggle,
}

/// `health`'s operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthOp {
    /// `GET /health`
    Check,
}

/// `docs`'s operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocsOp {
    /// `GET /openapi.json`
    Document,
    /// `GET /docs`
    Page,
    /// `GET /docs/swagger-ui-bundle.js`
    Script,
    /// `GET /docs/swagger-ui.css`
    Style,
}

impl Operation {
    /// The function that serves it.
    pub const fn function(self) -> Function {
        match self {
            Operation::Collection(_) => Function::TasksCollection,
            Operation::Item(_) => Function::TasksItem,
            Operation::Health(_) => Function::Health,
            Operation::Docs(_) => Function::Docs,
        }
    }
}

/// One function's operations: what its handler matches. `TryFrom` gives
/// the group's own operation, or the operation back (another function's).
pub trait Group: TryFrom<Operation, Error = Operation> {
    const FUNCTION: Function;
}

macro_rules! group {
    ($($group:ident => $variant:ident of $function:ident),* $(,)?) => {$(
        impl TryFrom<Operation> for $group {
            type Error = Operation;
            fn try_from(operation: Operation) -> Result<Self, Operation> {
                match operation {
                    Operation::$variant(op) => Ok(op),
                    other => Err(other),
                }
            }
        }

        impl Group for $group {
            const FUNCTION: Function = Function::$function;
        }
    )*};
}

group!(
    CollectionOp => Collection of TasksCollection,
    ItemOp => Item of TasksItem,
    HealthOp => Health of Health,
    DocsOp => Docs of Docs,
);

/// One path of the API, the function that serves it, and its operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub function: Function,
    /// The path pattern, in the `{param}` syntax that API Gateway and matchit share.
    pub path: &'static str,
    /// Each method the function serves on this path, and what it means;
    /// other methods are answered 405.
    pub operations: &'static [(Method, Operation)],
}

/// The function that answers every path no route serves (API Gateway's
/// `$default` route, the watch router's catch-all) with the contract's 404.
/// The docs function: it needs no configuration and no database, so it can
/// always answer, and its own route table matches none of those paths.
pub const FALLBACK: Function = Function::Docs;

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
    route(
        Function::TasksCollection,
        TASKS,
        &[
            (Method::GET, Operation::Collection(CollectionOp::List)),
            (Method::POST, Operation::Collection(CollectionOp::Create)),
        ],
    ),
    route(
        Function::TasksItem,
        TASK,
        &[
            (Method::GET, Operation::Item(ItemOp::Get)),
            (Method::PUT, Operation::Item(ItemOp::Replace)),
            (Method::DELETE, Operation::Item(ItemOp::Delete)),
        ],
    ),
    route(
        Function::TasksItem,
        TASK_COMPLETE,
        &[(Method::PATCH, Operation::Item(ItemOp::Toggle))],
    ),
    route(
        Function::Health,
        HEALTH,
        &[(Method::GET, Operation::Health(HealthOp::Check))],
    ),
    route(
        Function::Docs,
        OPENAPI,
        &[(Method::GET, Operation::Docs(DocsOp::Document))],
    ),
    route(
        Function::Docs,
        DOCS,
        &[(Method::GET, Operation::Docs(DocsOp::Page))],
    ),
    route(
        Function::Docs,
        DOCS_SCRIPT,
        &[(Method::GET, Operation::Docs(DocsOp::Script))],
    ),
    route(
        Function::Docs,
        DOCS_STYLE,
        &[(Method::GET, Operation::Docs(DocsOp::Style))],
    ),
];

const fn route(
    function: Function,
    path: &'static str,
    operations: &'static [(Method, Operation)],
) -> Route {
    Route {
        function,
        path,
        operations,
    }
}

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

    /// The methods served on this route.
    pub fn methods(&self) -> impl Iterator<Item = &'static Method> {
        self.operations.iter().map(|(method, _)| method)
    }

    /// What `method` means on this route, if it is served.
    pub fn operation(&self, method: &Method) -> Option<Operation> {
        self.operations
            .iter()
            .find(|(served, _)| served == method)
            .map(|&(_, operation)| operation)
    }

    /// The `Allow` header value for a 405 on this route.
    pub fn allow_header(&self) -> String {
        self.methods()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The route of `function` that a request path belongs to, if any.
pub fn find(function: Function, path: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|route| route.function == function && route.matches(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_literal_and_parameter_segments() {
        use Function::*;
        assert_eq!(find(TasksItem, "/api/tasks/12").unwrap().path, TASK);
        assert_eq!(
            find(TasksItem, "/api/tasks/12/complete").unwrap().path,
            TASK_COMPLETE
        );
        assert_eq!(find(TasksCollection, "/api/tasks").unwrap().path, TASKS);
        assert!(find(TasksItem, "/api/tasks/").is_none());
        assert!(find(TasksItem, "/api/tasks/1/2").is_none());
        assert!(find(TasksItem, "/api/tasks").is_none());
        assert!(find(TasksCollection, "/api/tasks/1").is_none());
        assert!(find(Health, "/healthz").is_none());
    }

    #[test]
    fn allow_header_lists_methods() {
        assert_eq!(
            find(Function::TasksItem, "/api/tasks/1")
                .unwrap()
                .allow_header(),
            "GET, PUT, DELETE"
        );
    }

    #[test]
    fn every_function_has_a_route() {
        for f in Function::ALL {
            assert!(ROUTES.iter().any(|r| r.function == f), "{f}");
        }
    }

    /// What lets `http::serve` hand each handler its own operations only:
    /// every operation of a route is its function's, and each method is
    /// served once per route.
    #[test]
    fn a_routes_operations_are_its_functions() {
        for route in ROUTES {
            for (method, operation) in route.operations {
                assert_eq!(
                    operation.function(),
                    route.function,
                    "{} {method}",
                    route.path
                );
            }
            let mut methods: Vec<&Method> = route.methods().collect();
            methods.dedup();
            assert_eq!(methods.len(), route.operations.len(), "{}", route.path);
        }
    }
}

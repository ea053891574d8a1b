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

/// What a request asks for: one method on one route, in any function. Each
/// function's handler receives its own group's operations only (its
/// routes' typed operations, [`Group::of`]), and matches them exhaustively.
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

/// A route's operations, each method with what it means: of one function's
/// group, so a route cannot name another function's operation, and the
/// function that serves the route is the group's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operations {
    Collection(&'static [(Method, CollectionOp)]),
    Item(&'static [(Method, ItemOp)]),
    Health(&'static [(Method, HealthOp)]),
    Docs(&'static [(Method, DocsOp)]),
}

/// One function's operations: what its handler matches.
pub trait Group: Copy + Sized + 'static {
    const FUNCTION: Function;
    /// A route's operations, when they are this group's.
    fn of(operations: Operations) -> Option<&'static [(Method, Self)]>;
}

macro_rules! group {
    ($($group:ident => $variant:ident of $function:ident),* $(,)?) => {$(
        impl Group for $group {
            const FUNCTION: Function = Function::$function;
            fn of(operations: Operations) -> Option<&'static [(Method, Self)]> {
                match operations {
                    Operations::$variant(own) => Some(own),
                    _ => None,
                }
            }
        }

        impl From<$group> for Operation {
            fn from(operation: $group) -> Self {
                Operation::$variant(operation)
            }
        }
    )*};
}

group!(
    CollectionOp => Collection of TasksCollection,
    ItemOp => Item of TasksItem,
    HealthOp => Health of Health,
    DocsOp => Docs of Docs,
);

impl Operations {
    /// The function that serves these operations.
    pub const fn function(self) -> Function {
        match self {
            Operations::Collection(_) => Function::TasksCollection,
            Operations::Item(_) => Function::TasksItem,
            Operations::Health(_) => Function::Health,
            Operations::Docs(_) => Function::Docs,
        }
    }
}

/// One path of the API and its operations (whose group is the function
/// that serves it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The path pattern, in the `{param}` syntax that API Gateway and matchit share.
    pub path: &'static str,
    /// Each method served on this path, and what it means; other methods
    /// are answered 405.
    pub operations: Operations,
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

/// Every route of the contract (`docs/api.md`, "Routes"), each with its
/// function's operations.
pub const ROUTES: &[Route] = &[
    Route {
        path: TASKS,
        operations: Operations::Collection(&[
            (Method::GET, CollectionOp::List),
            (Method::POST, CollectionOp::Create),
        ]),
    },
    Route {
        path: TASK,
        operations: Operations::Item(&[
            (Method::GET, ItemOp::Get),
            (Method::PUT, ItemOp::Replace),
            (Method::DELETE, ItemOp::Delete),
        ]),
    },
    Route {
        path: TASK_COMPLETE,
        operations: Operations::Item(&[(Method::PATCH, ItemOp::Toggle)]),
    },
    Route {
        path: HEALTH,
        operations: Operations::Health(&[(Method::GET, HealthOp::Check)]),
    },
    Route {
        path: OPENAPI,
        operations: Operations::Docs(&[(Method::GET, DocsOp::Document)]),
    },
    Route {
        path: DOCS,
        operations: Operations::Docs(&[(Method::GET, DocsOp::Page)]),
    },
    Route {
        path: DOCS_SCRIPT,
        operations: Operations::Docs(&[(Method::GET, DocsOp::Script)]),
    },
    Route {
        path: DOCS_STYLE,
        operations: Operations::Docs(&[(Method::GET, DocsOp::Style)]),
    },
];

impl Route {
    /// The function that serves this route.
    pub const fn function(&self) -> Function {
        self.operations.function()
    }

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

    /// Each method served on this route, with what it means.
    pub fn operations(&self) -> Vec<(&'static Method, Operation)> {
        fn all<Op: Group + Into<Operation>>(
            own: &'static [(Method, Op)],
        ) -> Vec<(&'static Method, Operation)> {
            own.iter()
                .map(|(method, op)| (method, (*op).into()))
                .collect()
        }
        match self.operations {
            Operations::Collection(own) => all(own),
            Operations::Item(own) => all(own),
            Operations::Health(own) => all(own),
            Operations::Docs(own) => all(own),
        }
    }

    /// The methods served on this route.
    pub fn methods(&self) -> impl Iterator<Item = &'static Method> {
        self.operations().into_iter().map(|(method, _)| method)
    }

    /// What `method` means on this route, if it is served.
    pub fn operation(&self, method: &Method) -> Option<Operation> {
        self.operations()
            .into_iter()
            .find(|(served, _)| *served == method)
            .map(|(_, operation)| operation)
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
        .find(|route| route.function() == function && route.matches(path))
}

/// The route of `Op`'s function that a request path belongs to, if any,
/// with its operations as that group's own.
pub fn find_own<Op: Group>(path: &str) -> Option<(&'static Route, &'static [(Method, Op)])> {
    ROUTES
        .iter()
        .filter(|route| route.matches(path))
        .find_map(|route| Some((route, Op::of(route.operations)?)))
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
            assert!(ROUTES.iter().any(|r| r.function() == f), "{f}");
        }
    }

    /// Each method is served once per route (its operations' function is
    /// the route's by construction).
    #[test]
    fn each_method_is_served_once_per_route() {
        for route in ROUTES {
            let mut methods: Vec<&Method> = route.methods().collect();
            let all = methods.len();
            methods.sort_by_key(|m| m.as_str());
            methods.dedup();
            assert_eq!(methods.len(), all, "{}", route.path);
            for (_, operation) in route.operations() {
                assert_eq!(operation.function(), route.function(), "{}", route.path);
            }
        }
        assert_eq!(
            find_own::<ItemOp>("/api/tasks/3/complete").map(|(route, own)| (route.path, own)),
            Some((TASK_COMPLETE, &[(Method::PATCH, ItemOp::Toggle)][..]))
        );
        assert!(find_own::<CollectionOp>("/api/tasks/3").is_none());
    }
}

//! Turning what a client sends into checked values, or a 422 naming every bad
//! field. Nothing here trusts the client: bodies are parsed as JSON whatever
//! their Content-Type, unknown fields are ignored, and `id`, `user_id` and
//! timestamps in a body are never read.

use std::collections::BTreeMap;

use lambda_http::aws_lambda_events::query_map::QueryMap;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::{IntoParams, ToSchema};

use lambda_http::http::HeaderMap;

use crate::domain::values::{
    Cursor, DESCRIPTION_ERROR, DESCRIPTION_MAX_CHARS, Description, IdempotencyKey, TITLE_ERROR,
    Title, ValueError,
};

pub const LIMIT_MAX: u32 = 1000;

/// Field name → what is wrong with it, as the contract sends it in a 422's
/// `details`.
pub type FieldErrors = BTreeMap<&'static str, &'static str>;

/// A body or a query whose fields break their rules: every such field,
/// named (the web edge's 422).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub FieldErrors);

impl Invalid {
    fn field(name: &'static str, problem: &'static str) -> Self {
        Invalid(FieldErrors::from([(name, problem)]))
    }

    /// The fields it names (tests' view).
    #[cfg(test)]
    fn invalid_fields(self) -> Vec<&'static str> {
        self.0.keys().copied().collect()
    }
}

const COMPLETED_ERROR: &str = "Completed is required and must be a boolean";

/// Titles in the OpenAPI document: 1–200 characters once trimmed of
/// surrounding whitespace, no NUL. `maxLength` cannot say "after trimming", so
/// the pattern says all of it. Whitespace is spelled out character by
/// character (the 29 that Python's `str.strip()` removes, as the original API
/// did, see `values::is_python_whitespace`), not `\s`, which means different things
/// to ECMA, Python and Rust regular expressions.
pub const TITLE_PATTERN: &str = r"^[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00](?:[^\x00]{0,198}[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00])?[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$";

/// No NUL anywhere (PostgreSQL text cannot hold one).
pub const NO_NUL_PATTERN: &str = r"^[^\x00]*$";

/// A cursor (a task id): a positive integer of at most 18 digits, no leading zero.
pub const CURSOR_PATTERN: &str = "^[1-9][0-9]{0,17}$";

/// An `Idempotency-Key`: 1 to [`crate::domain::values::IDEMPOTENCY_KEY_MAX`] visible ASCII characters.
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]{1,255}$";

/// The `title` property of [`NewTask`] and [`TaskUpdate`] in the document.
fn title_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "1–200 characters after trimming surrounding whitespace; no NUL.",
        ))
        .pattern(Some(TITLE_PATTERN))
        .build()
}

/// The `description` property of [`NewTask`] and [`TaskUpdate`] in the document.
fn description_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some(
            "At most 10,000 characters; no NUL. Absent means null (on PUT too: PUT replaces).",
        ))
        .max_length(Some(DESCRIPTION_MAX_CHARS))
        .pattern(Some(NO_NUL_PATTERN))
        .build()
}

/// A task as created by `POST /api/tasks`. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(example = json!({"title": "Complete backend API", "description": "Lambda + Neon"}))]
pub struct NewTask {
    #[schema(schema_with = title_schema)]
    pub title: Title,
    #[schema(schema_with = description_schema)]
    pub description: Option<Description>,
}

/// A full replacement by `PUT /api/tasks/{id}`. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(example = json!({"title": "Complete backend API", "description": null, "completed": true}))]
pub struct TaskUpdate {
    #[schema(schema_with = title_schema)]
    pub title: Title,
    #[schema(schema_with = description_schema)]
    pub description: Option<Description>,
    pub completed: bool,
}

/// `GET /api/tasks`'s query, checked by [`list_query`]; also its
/// parameters in the OpenAPI document, so the two cannot differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only completed (`true`) or pending (`false`) tasks.
    pub completed: Option<bool>,
    /// The same filter by name; when both are given, both apply.
    pub status: Option<StatusFilter>,
    /// Page size.
    #[param(minimum = 1, maximum = 1000, required = false, value_type = Option<u32>)]
    pub limit: u32,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[1-9][0-9]{0,17}$", value_type = Option<String>)]
    pub cursor: Option<Cursor>,
}

impl ListQuery {
    /// The first page of every task.
    pub const FIRST_PAGE: ListQuery = ListQuery {
        completed: None,
        status: None,
        limit: LIMIT_MAX,
        cursor: None,
    };

    /// `status` as a filter on `completed` (`all` is none).
    pub fn status_completed(&self) -> Option<bool> {
        match self.status? {
            StatusFilter::All => None,
            StatusFilter::Pending => Some(false),
            StatusFilter::Completed => Some(true),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusFilter {
    All,
    Pending,
    Completed,
}

pub fn new_task(body: &[u8]) -> Result<NewTask, Invalid> {
    let object = json_object(body)?;
    let mut errors = FieldErrors::new();
    let title = title(&object, &mut errors);
    let description = description(&object, &mut errors);
    match (title, description) {
        (Some(title), Some(description)) if errors.is_empty() => Ok(NewTask { title, description }),
        _ => Err(Invalid(errors)),
    }
}

pub fn task_update(body: &[u8]) -> Result<TaskUpdate, Invalid> {
    let object = json_object(body)?;
    let mut errors = FieldErrors::new();
    let title = title(&object, &mut errors);
    let description = description(&object, &mut errors);
    let completed = match object.get("completed") {
        Some(Value::Bool(b)) => Some(*b),
        _ => {
            errors.insert("completed", COMPLETED_ERROR);
            None
        }
    };
    match (title, description, completed) {
        (Some(title), Some(description), Some(completed)) if errors.is_empty() => Ok(TaskUpdate {
            title,
            description,
            completed,
        }),
        _ => Err(Invalid(errors)),
    }
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, Invalid> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Invalid::field("body", "A JSON object body is required"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Invalid::field("body", "The body must be a JSON object")),
        Err(_) => Err(Invalid::field("body", "The body is not valid JSON")),
    }
}

fn title(object: &Map<String, Value>, errors: &mut FieldErrors) -> Option<Title> {
    let Some(Value::String(raw)) = object.get("title") else {
        errors.insert("title", TITLE_ERROR);
        return None;
    };
    Title::parse(raw).map_err(|error| note(errors, error)).ok()
}

/// Adds a value's broken rule to `errors` (values that parse fields only
/// ever say that).
fn note(errors: &mut FieldErrors, error: ValueError) {
    if let ValueError::Invalid { field, problem } = error {
        errors.insert(field, problem);
    }
}

/// The optional `Idempotency-Key` header: given more than once, or
/// malformed, a 422.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ValueError> {
    let mut values = headers.get_all("idempotency-key").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(IdempotencyKey::repeated());
    }
    IdempotencyKey::parse(value.as_bytes()).map(Some)
}

/// `Some(None)` for an absent or null description, `None` when it is invalid.
fn description(
    object: &Map<String, Value>,
    errors: &mut FieldErrors,
) -> Option<Option<Description>> {
    match object.get("description") {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(text)) => Description::parse(text)
            .map(Some)
            .map_err(|error| note(errors, error))
            .ok(),
        Some(_) => {
            errors.insert("description", DESCRIPTION_ERROR);
            None
        }
    }
}

/// `completed=true|false`, `status=all|pending|completed`, `limit=1..1000`,
/// `cursor=<next_cursor>`. Each may be given once.
pub fn list_query(params: &QueryMap) -> Result<ListQuery, Invalid> {
    let mut errors = FieldErrors::new();
    let mut single = |name: &'static str| -> Option<String> {
        let values = params.all(name)?;
        if values.len() > 1 {
            errors.insert(name, "Must be given at most once");
            return None;
        }
        values.first().map(|v| (*v).to_owned())
    };
    let completed_raw = single("completed");
    let status_raw = single("status");
    let limit_raw = single("limit");
    let cursor_raw = single("cursor");

    let completed = completed_raw.and_then(|raw| {
        let parsed = match raw.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        };
        if parsed.is_none() {
            errors.insert("completed", "Must be true or false");
        }
        parsed
    });
    let status = status_raw.and_then(|raw| match raw.as_str() {
        "all" => Some(StatusFilter::All),
        "pending" => Some(StatusFilter::Pending),
        "completed" => Some(StatusFilter::Completed),
        _ => {
            errors.insert("status", "Must be one of all, pending, completed");
            None
        }
    });
    let limit = match limit_raw {
        None => LIMIT_MAX,
        // Digits only: no sign, no spaces (u32's parser would take "+5").
        Some(raw) => match raw.parse::<u32>() {
            Ok(n) if (1..=LIMIT_MAX).contains(&n) && raw.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                errors.insert("limit", "Must be an integer from 1 to 1000");
                LIMIT_MAX
            }
        },
    };
    let cursor = cursor_raw.and_then(|raw| {
        Cursor::parse(&raw)
            .map_err(|error| note(&mut errors, error))
            .ok()
    });
    if errors.is_empty() {
        Ok(ListQuery {
            completed,
            status,
            limit,
            cursor,
        })
    } else {
        Err(Invalid(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn query(pairs: &[(&str, &str)]) -> QueryMap {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            map.entry(k.to_string()).or_default().push(v.to_string());
        }
        map.into()
    }

    #[test]
    fn titles_are_trimmed_and_counted_in_characters() {
        let t = new_task(br#"{"title": "  hi  "}"#).unwrap();
        assert_eq!((t.title.as_str(), t.description), ("hi", None));
        let ok = format!(r#"{{"title": "{}"}}"#, "é".repeat(200));
        let title = new_task(ok.as_bytes()).unwrap().title;
        assert_eq!(title.as_str().chars().count(), 200);
        let long = format!(r#"{{"title": "{}"}}"#, "é".repeat(201));
        assert_eq!(
            new_task(long.as_bytes()).unwrap_err().invalid_fields(),
            ["title"]
        );
        assert_eq!(
            new_task(br#"{"title": " \t\n "}"#)
                .unwrap_err()
                .invalid_fields(),
            ["title"]
        );
        assert_eq!(
            new_task(br#"{"title": "a\u0000b"}"#)
                .unwrap_err()
                .invalid_fields(),
            ["title"]
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let err =
            task_update(br#"{"title": 5, "description": 7, "completed": "yes"}"#).unwrap_err();
        assert_eq!(err.invalid_fields(), ["completed", "description", "title"]);
        let err = new_task(br#"{"description": "x\u0000"}"#).unwrap_err();
        assert_eq!(err.invalid_fields(), ["description", "title"]);
    }

    #[test]
    fn bodies_must_be_json_objects() {
        for body in [
            &b""[..],
            b"  ",
            b"[1]",
            b"\"x\"",
            b"null",
            b"{",
            b"\xff\xfe",
        ] {
            assert_eq!(
                new_task(body).unwrap_err().invalid_fields(),
                ["body"],
                "{body:?}"
            );
        }
    }

    #[test]
    fn put_replaces_description() {
        let u =
            task_update(br#"{"title": "t", "completed": true, "id": 9, "user_id": "x"}"#).unwrap();
        assert_eq!(
            (u.title.as_str(), u.description, u.completed),
            ("t", None, true)
        );
    }

    #[test]
    fn description_limit() {
        let ok = format!(
            r#"{{"title": "t", "description": "{}"}}"#,
            "😀".repeat(10_000)
        );
        assert!(new_task(ok.as_bytes()).is_ok());
        let long = format!(
            r#"{{"title": "t", "description": "{}"}}"#,
            "a".repeat(10_001)
        );
        assert_eq!(
            new_task(long.as_bytes()).unwrap_err().invalid_fields(),
            ["description"]
        );
    }

    #[test]
    fn list_queries() {
        let q = list_query(&query(&[])).unwrap();
        assert_eq!(q, ListQuery::FIRST_PAGE);
        assert_eq!(q.limit, 1000);
        let q = list_query(&query(&[
            ("status", "pending"),
            ("limit", "5"),
            ("cursor", "17"),
        ]))
        .unwrap();
        assert_eq!(
            q,
            ListQuery {
                completed: None,
                status: Some(StatusFilter::Pending),
                limit: 5,
                cursor: Cursor::parse("17").ok(),
            }
        );
        assert_eq!(
            list_query(&query(&[("completed", "true")]))
                .unwrap()
                .completed,
            Some(true)
        );
        let all = list_query(&query(&[("status", "all")])).unwrap();
        assert_eq!((all.completed, all.status_completed()), (None, None));
        for (k, v) in [
            ("completed", "yes"),
            ("status", "done"),
            ("limit", "0"),
            ("limit", "1001"),
            ("limit", "ten"),
            ("cursor", "abc"),
            ("cursor", "-1"),
            ("cursor", "0"),
            ("cursor", "99999999999999999999"),
        ] {
            assert_eq!(
                list_query(&query(&[(k, v)])).unwrap_err().invalid_fields(),
                [k],
                "{k}={v}"
            );
        }
        let err = list_query(&query(&[("limit", "1"), ("limit", "2")])).unwrap_err();
        assert_eq!(err.invalid_fields(), ["limit"]);
    }
}

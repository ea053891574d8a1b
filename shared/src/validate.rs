//! Turning what a client sends into checked values, or a 422 naming every bad
//! field. Nothing here trusts the client: bodies are parsed as JSON whatever
//! their Content-Type, unknown fields are ignored, and `id`, `user_id` and
//! timestamps in a body are never read.

use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, FieldErrors};

pub const TITLE_MAX_CHARS: usize = 200;
pub const DESCRIPTION_MAX_CHARS: usize = 10_000;
pub const LIMIT_MAX: u32 = 1000;
pub const IDEMPOTENCY_KEY_MAX: usize = 255;

pub const TITLE_ERROR: &str = "Title is required and must be between 1 and 200 characters";
const TITLE_NUL: &str = "Title must not contain NUL characters";
const DESCRIPTION_ERROR: &str = "Description must be a string of at most 10000 characters, or null";
const DESCRIPTION_NUL: &str = "Description must not contain NUL characters";
const COMPLETED_ERROR: &str = "Completed is required and must be a boolean";

/// Titles in the OpenAPI document: 1–200 characters once trimmed of
/// surrounding whitespace, no NUL. `maxLength` cannot say "after trimming", so
/// the pattern says all of it. Whitespace is spelled out character by
/// character (the 29 that Python's `str.strip()` removes, as the original API
/// did, see `is_python_whitespace`), not `\s`, which means different things
/// to ECMA, Python and Rust regular expressions.
pub const TITLE_PATTERN: &str = r"^[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00](?:[^\x00]{0,198}[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00])?[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$";

/// No NUL anywhere (PostgreSQL text cannot hold one).
pub const NO_NUL_PATTERN: &str = r"^[^\x00]*$";

/// A cursor (a task id): a positive integer of at most 18 digits, no leading zero.
pub const CURSOR_PATTERN: &str = "^[1-9][0-9]{0,17}$";

/// An `Idempotency-Key`: 1 to [`IDEMPOTENCY_KEY_MAX`] visible ASCII characters.
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
    pub title: String,
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
}

/// A full replacement by `PUT /api/tasks/{id}`. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(example = json!({"title": "Complete backend API", "description": null, "completed": true}))]
pub struct TaskUpdate {
    #[schema(schema_with = title_schema)]
    pub title: String,
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
    pub completed: bool,
}

/// `GET /api/tasks` query parameters as the OpenAPI document states them;
/// [`list_query`] checks exactly these rules.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read by the OpenAPI generator only.
pub struct ListParams {
    /// Only completed (`true`) or pending (`false`) tasks.
    completed: Option<bool>,
    /// The same filter by name; when both are given, both apply.
    status: Option<StatusFilter>,
    /// Page size.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[1-9][0-9]{0,17}$")]
    cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusFilter {
    All,
    Pending,
    Completed,
}

/// `GET /api/tasks` query parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListQuery {
    /// `completed=true|false`.
    pub completed: Option<bool>,
    /// `status=pending|completed` (`all` is no filter). Both filters apply:
    /// given together and contradicting, no task matches.
    pub status: Option<bool>,
    pub limit: u32,
    /// Only tasks with an id below this one.
    pub before_id: Option<i64>,
}

/// The `{id}` path parameter. Not an integer is a 422; an integer that is
/// out of range or not positive names no task, so it is a 404.
pub fn task_id(raw: Option<&str>) -> Result<i64, ApiError> {
    let raw = raw.unwrap_or_default();
    let digits = raw.strip_prefix(['-', '+']).unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::field("id", "Task id must be an integer"));
    }
    match raw.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ApiError::TaskNotFound),
    }
}

pub fn new_task(body: &[u8]) -> Result<NewTask, ApiError> {
    let object = json_object(body)?;
    let mut errors = FieldErrors::new();
    let title = title(&object, &mut errors);
    let description = description(&object, &mut errors);
    match (title, description) {
        (Some(title), Some(description)) if errors.is_empty() => Ok(NewTask { title, description }),
        _ => Err(ApiError::Validation(errors)),
    }
}

pub fn task_update(body: &[u8]) -> Result<TaskUpdate, ApiError> {
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
        _ => Err(ApiError::Validation(errors)),
    }
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::field("body", "A JSON object body is required"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::field("body", "The body must be a JSON object")),
        Err(_) => Err(ApiError::field("body", "The body is not valid JSON")),
    }
}

fn title(object: &Map<String, Value>, errors: &mut FieldErrors) -> Option<String> {
    let Some(Value::String(raw)) = object.get("title") else {
        errors.insert("title", TITLE_ERROR);
        return None;
    };
    let title = raw.trim_matches(is_python_whitespace);
    if title.contains('\0') {
        errors.insert("title", TITLE_NUL);
        return None;
    }
    let chars = title.chars().count();
    if chars == 0 || chars > TITLE_MAX_CHARS {
        errors.insert("title", TITLE_ERROR);
        return None;
    }
    Some(title.to_owned())
}

/// Whitespace as the original API's Python `str.strip()` sees it: Unicode
/// White_Space, plus the four information separators U+001C..U+001F.
pub fn is_python_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `Some(None)` for an absent or null description, `None` when it is invalid.
fn description(object: &Map<String, Value>, errors: &mut FieldErrors) -> Option<Option<String>> {
    match object.get("description") {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(text)) if text.contains('\0') => {
            errors.insert("description", DESCRIPTION_NUL);
            None
        }
        Some(Value::String(text)) if text.chars().count() <= DESCRIPTION_MAX_CHARS => {
            Some(Some(text.clone()))
        }
        Some(_) => {
            errors.insert("description", DESCRIPTION_ERROR);
            None
        }
    }
}

/// `completed=true|false`, `status=all|pending|completed`, `limit=1..1000`,
/// `cursor=<next_cursor>`. Each may be given once.
pub fn list_query(params: &QueryMap) -> Result<ListQuery, ApiError> {
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
        "all" => Some(None),
        "pending" => Some(Some(false)),
        "completed" => Some(Some(true)),
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
    let before_id = cursor_raw.and_then(|raw| {
        let parsed = decode_cursor(&raw);
        if parsed.is_none() {
            errors.insert("cursor", "Must be a next_cursor value returned by this API");
        }
        parsed
    });
    if errors.is_empty() {
        Ok(ListQuery {
            completed,
            status: status.flatten(),
            limit,
            before_id,
        })
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// A cursor is the id of the last task of the previous page, in decimal.
/// Clients must treat it as opaque; the server checks it like any input.
pub fn encode_cursor(last_id: i64) -> String {
    last_id.to_string()
}

/// A positive decimal of at most 18 digits (so always below `i64::MAX`), no
/// leading zero: [`CURSOR_PATTERN`].
fn decode_cursor(raw: &str) -> Option<i64> {
    let bytes = raw.as_bytes();
    let well_formed =
        (1..=18).contains(&bytes.len()) && bytes[0] != b'0' && bytes.iter().all(u8::is_ascii_digit);
    well_formed.then(|| raw.parse().ok()).flatten()
}

/// The optional `Idempotency-Key` header: 1–255 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all("idempotency-key").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    let valid = values.next().is_none()
        && (1..=IDEMPOTENCY_KEY_MAX).contains(&bytes.len())
        && bytes.iter().all(|b| b.is_ascii_graphic());
    if !valid {
        return Err(ApiError::field(
            "Idempotency-Key",
            "Must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
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

    fn fields(err: ApiError) -> Vec<&'static str> {
        match err {
            ApiError::Validation(f) => f.keys().copied().collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn task_ids() {
        assert_eq!(task_id(Some("42")), Ok(42));
        assert_eq!(
            task_id(Some("99999999999999999999")),
            Err(ApiError::TaskNotFound)
        );
        assert_eq!(task_id(Some("0")), Err(ApiError::TaskNotFound));
        assert_eq!(task_id(Some("-3")), Err(ApiError::TaskNotFound));
        for bad in ["abc", "1.5", "", "-", "1e3", " 1", "0x10"] {
            assert_eq!(fields(task_id(Some(bad)).unwrap_err()), ["id"], "{bad:?}");
        }
        assert_eq!(fields(task_id(None).unwrap_err()), ["id"]);
    }

    #[test]
    fn titles_are_trimmed_and_counted_in_characters() {
        let t = new_task(br#"{"title": "  hi  "}"#).unwrap();
        assert_eq!(
            t,
            NewTask {
                title: "hi".into(),
                description: None
            }
        );
        let ok = format!(r#"{{"title": "{}"}}"#, "é".repeat(200));
        assert_eq!(new_task(ok.as_bytes()).unwrap().title.chars().count(), 200);
        let long = format!(r#"{{"title": "{}"}}"#, "é".repeat(201));
        assert_eq!(fields(new_task(long.as_bytes()).unwrap_err()), ["title"]);
        assert_eq!(
            fields(new_task(br#"{"title": " \t\n "}"#).unwrap_err()),
            ["title"]
        );
        assert_eq!(
            fields(new_task(br#"{"title": "a\u0000b"}"#).unwrap_err()),
            ["title"]
        );
    }

    #[test]
    fn python_whitespace_is_the_documented_set() {
        let documented: Vec<char> = "\t\n\u{b}\u{c}\r\u{1c}\u{1d}\u{1e}\u{1f} \u{85}\u{a0}\u{1680}\
            \u{2000}\u{2001}\u{2002}\u{2003}\u{2004}\u{2005}\u{2006}\u{2007}\u{2008}\u{2009}\u{200a}\
            \u{2028}\u{2029}\u{202f}\u{205f}\u{3000}"
            .chars()
            .collect();
        let found: Vec<char> = (0..=0x10ffff)
            .filter_map(char::from_u32)
            .filter(|c| is_python_whitespace(*c))
            .collect();
        assert_eq!(found, documented);
    }

    #[test]
    fn every_bad_field_is_named() {
        let err =
            task_update(br#"{"title": 5, "description": 7, "completed": "yes"}"#).unwrap_err();
        assert_eq!(fields(err), ["completed", "description", "title"]);
        let err = new_task(br#"{"description": "x\u0000"}"#).unwrap_err();
        assert_eq!(fields(err), ["description", "title"]);
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
            assert_eq!(fields(new_task(body).unwrap_err()), ["body"], "{body:?}");
        }
    }

    #[test]
    fn put_replaces_description() {
        let u =
            task_update(br#"{"title": "t", "completed": true, "id": 9, "user_id": "x"}"#).unwrap();
        assert_eq!(
            u,
            TaskUpdate {
                title: "t".into(),
                description: None,
                completed: true
            }
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
            fields(new_task(long.as_bytes()).unwrap_err()),
            ["description"]
        );
    }

    #[test]
    fn list_queries() {
        let q = list_query(&query(&[])).unwrap();
        assert_eq!(
            q,
            ListQuery {
                completed: None,
                status: None,
                limit: 1000,
                before_id: None
            }
        );
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
                status: Some(false),
                limit: 5,
                before_id: Some(17)
            }
        );
        assert_eq!(
            list_query(&query(&[("completed", "true")]))
                .unwrap()
                .completed,
            Some(true)
        );
        assert_eq!(
            list_query(&query(&[("status", "all")])).unwrap().completed,
            None
        );
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
                fields(list_query(&query(&[(k, v)])).unwrap_err()),
                [k],
                "{k}={v}"
            );
        }
        let err = list_query(&query(&[("limit", "1"), ("limit", "2")])).unwrap_err();
        assert_eq!(fields(err), ["limit"]);
    }

    #[test]
    fn idempotency_keys() {
        let mut h = HeaderMap::new();
        assert_eq!(idempotency_key(&h), Ok(None));
        h.insert("idempotency-key", "abc-123".parse().unwrap());
        assert_eq!(idempotency_key(&h), Ok(Some("abc-123".into())));
        for bad in ["has space", &"k".repeat(256)] {
            h.insert("idempotency-key", bad.parse().unwrap());
            assert!(idempotency_key(&h).is_err(), "{bad}");
        }
        h.insert("idempotency-key", "".parse().unwrap());
        assert!(idempotency_key(&h).is_err());
    }
}

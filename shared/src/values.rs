//! Values that carry their rules: a title, a description, a task id, a
//! list cursor and an `Idempotency-Key`. Each is made only by checking its
//! rules (its field is private), so a function that takes one, down to the
//! SQL in `crate::tasks`, cannot be handed an unchecked value. What the
//! client is told when a rule fails is here too; `crate::validate` turns
//! bodies, queries and headers into these.

use lambda_http::http::HeaderMap;

use crate::error::ApiError;
use crate::validate::{DESCRIPTION_MAX_CHARS, IDEMPOTENCY_KEY_MAX, TITLE_MAX_CHARS};

pub const TITLE_ERROR: &str = "Title is required and must be between 1 and 200 characters";
const TITLE_NUL: &str = "Title must not contain NUL characters";
pub const DESCRIPTION_ERROR: &str =
    "Description must be a string of at most 10000 characters, or null";
const DESCRIPTION_NUL: &str = "Description must not contain NUL characters";

/// A task's title: 1–200 characters once trimmed of surrounding whitespace
/// (as Python's `str.strip()` sees it: [`is_python_whitespace`]), no NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    /// The trimmed title, or what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let title = raw.trim_matches(is_python_whitespace);
        if title.contains('\0') {
            return Err(TITLE_NUL);
        }
        match title.chars().count() {
            1..=TITLE_MAX_CHARS => Ok(Title(title.to_owned())),
            _ => Err(TITLE_ERROR),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A task's description: at most 10,000 characters, no NUL; kept as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if raw.contains('\0') {
            Err(DESCRIPTION_NUL)
        } else if raw.chars().count() > DESCRIPTION_MAX_CHARS {
            Err(DESCRIPTION_ERROR)
        } else {
            Ok(Description(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whitespace as the original API's Python `str.strip()` sees it: Unicode
/// White_Space, plus the four information separators U+001C..U+001F.
pub fn is_python_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// A task id from a path: a positive `i64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TaskId(i64);

impl TaskId {
    /// The `{id}` path parameter. Not an integer is a 422; an integer that
    /// is out of range or not positive names no task, so it is a 404.
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let raw = raw.unwrap_or_default();
        let digits = raw.strip_prefix(['-', '+']).unwrap_or(raw);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::field("id", "Task id must be an integer"));
        }
        match raw.parse::<i64>() {
            Ok(id) if id > 0 => Ok(TaskId(id)),
            _ => Err(ApiError::TaskNotFound),
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// Where the next page of a list starts: the id of the last task of the
/// previous one, in decimal. Clients must treat it as opaque; the server
/// checks it like any input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(i64);

impl Cursor {
    /// A positive decimal of at most 18 digits (so always below
    /// `i64::MAX`), no leading zero: `validate::CURSOR_PATTERN`.
    pub fn parse(raw: &str) -> Option<Self> {
        let bytes = raw.as_bytes();
        let well_formed = (1..=18).contains(&bytes.len())
            && bytes[0] != b'0'
            && bytes.iter().all(u8::is_ascii_digit);
        well_formed.then(|| raw.parse().ok().map(Cursor)).flatten()
    }

    /// The cursor of a page that ends with the task `last_id` (a stored
    /// task's, so positive).
    pub fn after(last_id: i64) -> Self {
        Cursor(last_id)
    }

    /// Tasks with ids below this one are on the next page.
    pub fn before_id(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A create's `Idempotency-Key`: 1–255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The optional header; given twice or malformed, a 422.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, ApiError> {
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
        Ok(Some(IdempotencyKey(
            String::from_utf8_lossy(bytes).into_owned(),
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids() {
        assert_eq!(TaskId::parse(Some("42")).map(TaskId::get), Ok(42));
        for missing in ["99999999999999999999", "0", "-3"] {
            assert_eq!(TaskId::parse(Some(missing)), Err(ApiError::TaskNotFound));
        }
        for bad in ["abc", "1.5", "", "-", "1e3", " 1", "0x10"] {
            assert_eq!(
                TaskId::parse(Some(bad)).unwrap_err().invalid_fields(),
                ["id"],
                "{bad:?}"
            );
        }
        assert_eq!(TaskId::parse(None).unwrap_err().invalid_fields(), ["id"]);
    }

    #[test]
    fn titles_are_trimmed_and_counted_in_characters() {
        assert_eq!(Title::parse("  hi  ").unwrap().as_str(), "hi");
        assert!(Title::parse(&"é".repeat(200)).is_ok());
        assert_eq!(Title::parse(&"é".repeat(201)), Err(TITLE_ERROR));
        assert_eq!(Title::parse(" \t\n "), Err(TITLE_ERROR));
        assert_eq!(Title::parse("a\0b"), Err(TITLE_NUL));
    }

    #[test]
    fn descriptions_are_counted_in_characters_and_kept_as_sent() {
        assert_eq!(Description::parse(" x ").unwrap().as_str(), " x ");
        assert!(Description::parse(&"😀".repeat(10_000)).is_ok());
        assert_eq!(
            Description::parse(&"a".repeat(10_001)),
            Err(DESCRIPTION_ERROR)
        );
        assert_eq!(Description::parse("x\0"), Err(DESCRIPTION_NUL));
    }

    #[test]
    fn cursors_round_trip_and_nothing_else_parses() {
        let cursor = Cursor::after(17);
        assert_eq!(Cursor::parse(&cursor.to_string()), Some(cursor));
        for bad in ["abc", "-1", "0", "017", "99999999999999999999", ""] {
            assert_eq!(Cursor::parse(bad), None, "{bad:?}");
        }
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
    fn idempotency_keys() {
        let mut h = HeaderMap::new();
        assert_eq!(IdempotencyKey::from_headers(&h), Ok(None));
        h.insert("idempotency-key", "abc-123".parse().unwrap());
        let key = IdempotencyKey::from_headers(&h).unwrap().unwrap();
        assert_eq!(key.as_str(), "abc-123");
        for bad in ["has space", &"k".repeat(256), ""] {
            h.insert("idempotency-key", bad.parse().unwrap());
            assert!(IdempotencyKey::from_headers(&h).is_err(), "{bad}");
        }
    }
}

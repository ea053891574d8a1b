//! Values that carry their rules: a title, a description, a task id, a
//! list cursor, an `Idempotency-Key` and the caller's user id. Each is made
//! only by checking its rules (its field is private), so a function that
//! takes one, down to the SQL in `crate::domain::tasks`, cannot be handed an
//! unchecked value; a stored task reads back into the same values. They
//! know no HTTP: a broken rule is a [`ValueError`], which the web edge
//! turns into the contract's 422 (or 404), and `crate::domain::validate` turns
//! bodies, queries and headers into these.

use std::fmt;

use serde::{Serialize, Serializer};

/// The longest title, in characters once trimmed.
pub const TITLE_MAX_CHARS: usize = 200;
/// The longest description, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 10_000;
/// The longest `Idempotency-Key`, in bytes (all ASCII).
pub const IDEMPOTENCY_KEY_MAX: usize = 255;
/// The longest user id accepted, in characters (the `user_id` column's size).
pub const USER_ID_MAX_CHARS: usize = 255;

pub const TITLE_ERROR: &str = "Title is required and must be between 1 and 200 characters";
const TITLE_NUL: &str = "Title must not contain NUL characters";
pub const DESCRIPTION_ERROR: &str =
    "Description must be a string of at most 10000 characters, or null";
const DESCRIPTION_NUL: &str = "Description must not contain NUL characters";
const TASK_ID_ERROR: &str = "Task id must be an integer";
const CURSOR_ERROR: &str = "Must be a next_cursor value returned by this API";
const IDEMPOTENCY_KEY_ERROR: &str = "Must be 1 to 255 visible ASCII characters";

/// Why a value could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueError {
    /// It breaks its rule: which field, and what the client is told.
    Invalid {
        field: &'static str,
        problem: &'static str,
    },
    /// A task id that is a well-formed integer but names no task (not
    /// positive, or out of range): the task is not found, the request is
    /// not invalid.
    NoSuchTask,
}

impl ValueError {
    const fn invalid(field: &'static str, problem: &'static str) -> Self {
        ValueError::Invalid { field, problem }
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::Invalid { field, problem } => write!(f, "{field}: {problem}"),
            ValueError::NoSuchTask => f.write_str("no task has that id"),
        }
    }
}

impl std::error::Error for ValueError {}

/// A task's title: 1–200 characters once trimmed of surrounding whitespace
/// (as Python's `str.strip()` sees it: [`is_python_whitespace`]), no NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    /// The trimmed title, or what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let title = raw.trim_matches(is_python_whitespace);
        if title.contains('\0') {
            return Err(ValueError::invalid("title", TITLE_NUL));
        }
        match title.chars().count() {
            1..=TITLE_MAX_CHARS => Ok(Title(title.to_owned())),
            _ => Err(ValueError::invalid("title", TITLE_ERROR)),
        }
    }

    /// A stored task's title: it was parsed when it was written.
    pub(crate) fn stored(title: String) -> Self {
        Title(title)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A task's description: at most 10,000 characters, no NUL; kept as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        if raw.contains('\0') {
            Err(ValueError::invalid("description", DESCRIPTION_NUL))
        } else if raw.chars().count() > DESCRIPTION_MAX_CHARS {
            Err(ValueError::invalid("description", DESCRIPTION_ERROR))
        } else {
            Ok(Description(raw.to_owned()))
        }
    }

    /// A stored task's description: it was parsed when it was written.
    pub(crate) fn stored(description: String) -> Self {
        Description(description)
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

/// A task id: a positive `i64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TaskId(i64);

impl TaskId {
    /// The `{id}` path parameter. Not an integer is invalid; an integer
    /// that is out of range or not positive names no task.
    pub fn parse(raw: Option<&str>) -> Result<Self, ValueError> {
        let raw = raw.unwrap_or_default();
        let digits = raw.strip_prefix(['-', '+']).unwrap_or(raw);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ValueError::invalid("id", TASK_ID_ERROR));
        }
        match raw.parse::<i64>() {
            Ok(id) if id > 0 => Ok(TaskId(id)),
            _ => Err(ValueError::NoSuchTask),
        }
    }

    /// A stored task's id (its identity column: positive).
    pub(crate) fn stored(id: i64) -> Self {
        TaskId(id)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// As the contract sends it: a number.
impl Serialize for TaskId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.0)
    }
}

/// As the contract sends them: strings.
macro_rules! serialize_as_str {
    ($($value:ty),*) => {$(
        impl Serialize for $value {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    )*};
}
serialize_as_str!(Title, Description, UserId);

/// Where the next page of a list starts: the id of the last task of the
/// previous one, in decimal. Clients must treat it as opaque; the server
/// checks it like any input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(i64);

impl Cursor {
    /// A positive decimal of at most 18 digits (so always below
    /// `i64::MAX`), no leading zero: `validate::CURSOR_PATTERN`.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let bytes = raw.as_bytes();
        let well_formed = (1..=18).contains(&bytes.len())
            && bytes[0] != b'0'
            && bytes.iter().all(u8::is_ascii_digit);
        well_formed
            .then(|| raw.parse().ok().map(Cursor))
            .flatten()
            .ok_or(ValueError::invalid("cursor", CURSOR_ERROR))
    }

    /// The cursor of a page that ends with the task `last`.
    pub fn after(last: TaskId) -> Self {
        Cursor(last.get())
    }

    /// Tasks with ids below this one are on the next page.
    pub fn before_id(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A create's `Idempotency-Key`: 1–255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key as sent (the header's bytes), or what is wrong with it.
    pub fn parse(raw: &[u8]) -> Result<Self, ValueError> {
        let valid = (1..=IDEMPOTENCY_KEY_MAX).contains(&raw.len())
            && raw.iter().all(|b| b.is_ascii_graphic());
        if !valid {
            return Err(ValueError::invalid(
                "Idempotency-Key",
                IDEMPOTENCY_KEY_ERROR,
            ));
        }
        Ok(IdempotencyKey(String::from_utf8_lossy(raw).into_owned()))
    }

    /// The key given more than once.
    pub fn repeated() -> ValueError {
        ValueError::invalid("Idempotency-Key", IDEMPOTENCY_KEY_ERROR)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The caller: the user id a verified token carries. Made only by
/// `crate::web::auth` from such a token, never from anything else a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserId(String);

impl UserId {
    /// A claim's value as a user id: non-empty, at most 255 characters, no
    /// leading or trailing whitespace and no control character (NUL
    /// included, which PostgreSQL cannot store). Refused, not trimmed:
    /// `"alice"` and `"alice "` can never be two owners, nor the same one by
    /// accident.
    pub(crate) fn from_verified_claim(id: &str) -> Option<Self> {
        let valid = !id.is_empty()
            && id.trim() == id
            && !id.chars().any(char::is_control)
            && id.chars().count() <= USER_ID_MAX_CHARS;
        valid.then(|| UserId(id.to_owned()))
    }

    /// A stored task's owner: it came from a verified token.
    pub(crate) fn stored(id: String) -> Self {
        UserId(id)
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
            assert_eq!(TaskId::parse(Some(missing)), Err(ValueError::NoSuchTask));
        }
        let invalid = Err(ValueError::invalid("id", TASK_ID_ERROR));
        for bad in ["abc", "1.5", "", "-", "1e3", " 1", "0x10"] {
            assert_eq!(TaskId::parse(Some(bad)), invalid, "{bad:?}");
        }
        assert_eq!(TaskId::parse(None), invalid);
    }

    #[test]
    fn titles_are_trimmed_and_counted_in_characters() {
        assert_eq!(Title::parse("  hi  ").unwrap().as_str(), "hi");
        assert!(Title::parse(&"é".repeat(200)).is_ok());
        let title = |problem| Err(ValueError::invalid("title", problem));
        assert_eq!(Title::parse(&"é".repeat(201)), title(TITLE_ERROR));
        assert_eq!(Title::parse(" \t\n "), title(TITLE_ERROR));
        assert_eq!(Title::parse("a\0b"), title(TITLE_NUL));
    }

    #[test]
    fn descriptions_are_counted_in_characters_and_kept_as_sent() {
        assert_eq!(Description::parse(" x ").unwrap().as_str(), " x ");
        assert!(Description::parse(&"😀".repeat(10_000)).is_ok());
        let description = |problem| Err(ValueError::invalid("description", problem));
        assert_eq!(
            Description::parse(&"a".repeat(10_001)),
            description(DESCRIPTION_ERROR)
        );
        assert_eq!(Description::parse("x\0"), description(DESCRIPTION_NUL));
    }

    #[test]
    fn cursors_round_trip_and_nothing_else_parses() {
        let cursor = Cursor::after(TaskId::stored(17));
        assert_eq!(Cursor::parse(&cursor.to_string()), Ok(cursor));
        for bad in ["abc", "-1", "0", "017", "99999999999999999999", ""] {
            assert!(Cursor::parse(bad).is_err(), "{bad:?}");
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
        assert_eq!(
            IdempotencyKey::parse(b"abc-123").unwrap().as_str(),
            "abc-123"
        );
        for bad in ["has space", &"k".repeat(256), ""] {
            assert!(IdempotencyKey::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_ids_are_refused_not_trimmed() {
        assert_eq!(
            UserId::from_verified_claim("alice").map(|u| u.as_str().to_owned()),
            Some("alice".into())
        );
        for bad in ["", " alice", "alice ", "a\0b", "a\nb", &"u".repeat(256)] {
            assert_eq!(UserId::from_verified_claim(bad), None, "{bad:?}");
        }
        assert!(UserId::from_verified_claim(&"é".repeat(255)).is_some());
    }
}

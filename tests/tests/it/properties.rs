//! Property tests: thousands of generated inputs for every parser of what a
//! client sends (bodies, query strings, path ids, `Idempotency-Key`,
//! bearer tokens). Each yields a value that keeps the contract's rules, or
//! the contract's error, and never a panic.

use std::collections::HashMap;

use lambda_http::http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use serde_json::json;
use todo_shared::domain::validate::{self, LIMIT_MAX};
use todo_shared::domain::values::{
    DESCRIPTION_MAX_CHARS, IDEMPOTENCY_KEY_MAX, TITLE_MAX_CHARS, TaskId, is_python_whitespace,
};
use todo_shared::web::auth::Verifier;
use todo_shared::web::error::ApiError;
use todo_tests::auth_config;

const CASES: u32 = 2000;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn is_validation(error: &ApiError) -> bool {
    matches!(error, ApiError::Validation(fields) if !fields.is_empty())
}

/// Strings as clients send them: any Unicode, often whitespace, NUL, long.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ \t\n\u{a0}\u{3000}a-z\u{0}é]{0,40}",
        "[a-z ]{190,210}",
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_as_a_body_are_a_task_or_a_422(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        // A task's fields are `Title` and `Description`, which keep their
        // own rules (see the next property); here: no panic, no other error.
        if let Err(error) = validate::new_task(&body) {
            prop_assert!(is_validation(&error.into()), "a 422");
        }
        if let Err(error) = validate::task_update(&body) {
            prop_assert!(is_validation(&error.into()), "a 422");
        }
    }

    #[test]
    /// The contract's rules, stated here independently of `values`.
    fn a_title_is_accepted_exactly_when_the_contract_says(title in text(), description in proptest::option::of(text())) {
        let body = json!({"title": title, "description": description, "completed": true}).to_string();
        let trimmed = title.trim_matches(is_python_whitespace);
        let valid = !trimmed.is_empty()
            && trimmed.chars().count() <= TITLE_MAX_CHARS
            && !title.contains('\0')
            && description.as_deref().is_none_or(|d| d.chars().count() <= DESCRIPTION_MAX_CHARS && !d.contains('\0'));
        let created = validate::new_task(body.as_bytes());
        prop_assert_eq!(created.is_ok(), valid, "{:?}", created);
        if let Ok(task) = created {
            prop_assert_eq!(task.title.as_str(), trimmed);
            prop_assert_eq!(task.description.as_ref().map(|d| d.as_str()), description.as_deref());
        }
        prop_assert_eq!(validate::task_update(body.as_bytes()).is_ok(), valid);
    }

    #[test]
    fn any_query_string_is_a_page_or_a_422(
        pairs in proptest::collection::vec(
            (prop_oneof![Just("completed"), Just("status"), Just("limit"), Just("cursor"), Just("other")],
             prop_oneof![any::<String>(), "[0-9]{0,20}", Just("true".to_owned()), Just("pending".to_owned())]),
            0..5,
        )
    ) {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (name, value) in &pairs {
            map.entry((*name).to_owned()).or_default().push(value.clone());
        }
        match validate::list_query(&map.into()).map_err(ApiError::from) {
            Ok(query) => {
                prop_assert!((1..=LIMIT_MAX).contains(&query.limit));
                prop_assert!(query.cursor.is_none_or(|cursor| cursor.before_id() > 0));
            }
            Err(error) => prop_assert!(is_validation(&error), "{error:?}"),
        }
    }

    #[test]
    fn any_path_id_is_a_positive_id_a_404_or_a_422(raw in prop_oneof![any::<String>(), "[-+]?[0-9]{0,25}"]) {
        match TaskId::parse(Some(&raw)).map_err(ApiError::from) {
            Ok(id) => {
                prop_assert!(id.get() > 0);
                prop_assert_eq!(raw.parse::<i64>().ok(), Some(id.get()));
            }
            Err(ApiError::TaskNotFound) => {}
            Err(error) => prop_assert!(is_validation(&error), "{error:?}"),
        }
    }

    #[test]
    fn any_idempotency_key_is_kept_whole_or_a_422(key in proptest::collection::vec(any::<u8>(), 0..300)) {
        let Ok(value) = HeaderValue::from_bytes(&key) else {
            return Ok(()); // not a header value at all: no client can send it
        };
        let mut headers = HeaderMap::new();
        headers.insert("idempotency-key", value);
        match validate::idempotency_key(&headers).map_err(ApiError::from) {
            Ok(Some(kept)) => {
                let kept = kept.as_str();
                prop_assert_eq!(kept.as_bytes(), &key[..]);
                prop_assert!((1..=IDEMPOTENCY_KEY_MAX).contains(&kept.len()));
                prop_assert!(kept.bytes().all(|b| b.is_ascii_graphic()));
            }
            Ok(None) => prop_assert!(false, "a key that was sent"),
            Err(error) => prop_assert!(is_validation(&error), "{error:?}"),
        }
    }

    #[test]
    fn any_authorization_header_without_a_valid_signature_is_a_401(
        scheme in prop_oneof![Just("Bearer "), Just("bearer "), Just(""), Just("Basic ")],
        header in prop_oneof![
            Just(json!({"alg": "HS256", "typ": "JWT"})),
            Just(json!({"alg": "none"})),
            Just(json!({"alg": "EdDSA", "kid": "k"})),
            any::<String>().prop_map(|alg| json!({"alg": alg})),
        ],
        payload in any::<String>(),
        signature in "[A-Za-z0-9_-]{0,60}",
        raw in any::<String>(),
    ) {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let verifier = Verifier::new(&auth_config()).unwrap();
        let shaped = format!(
            "{scheme}{}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(&payload),
        );
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        for value in [shaped, format!("{scheme}{raw}")] {
            let Ok(value) = HeaderValue::from_str(&value) else { continue };
            let mut headers = HeaderMap::new();
            headers.insert("authorization", value);
            let outcome = runtime.block_on(verifier.authenticate(&headers));
            prop_assert!(matches!(outcome, Err(ApiError::Unauthorized)), "{outcome:?}");
        }
    }
}

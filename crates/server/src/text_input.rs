//! The text rule ([`store::text`]) applied at the edge, once for every front door: every string of a JSON
//! body (keys and values, at any depth), of a multipart text field, of the query string and of the URL path is
//! checked and put in NFC before any handler sees it. A request that breaks it is answered 400 `invalid_text`
//! (Rekognition: `InvalidParameterException`), never stored and never a 500.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;
use store::text::{normalize, TextError};

use crate::http_error::ErrorAnswer;
use app::error::{ApiError, Code};

/// The error for text at `place` (a field path such as `metadata.name`, or `the path`).
pub fn text_error(place: &str, e: &TextError) -> ApiError {
    ApiError::new(
        Code::InvalidText,
        format!("{place} {e}: text may hold no control characters other than tab and line breaks"),
    )
}

/// Checks and normalises a string in place.
pub fn clean_string(place: &str, s: &mut String) -> Result<(), ApiError> {
    match normalize(s).map_err(|e| text_error(place, &e))? {
        std::borrow::Cow::Borrowed(_) => {}
        std::borrow::Cow::Owned(n) => *s = n,
    }
    Ok(())
}

/// Checks and normalises every string of `value` (object keys too); `place` names it in errors.
pub fn clean_json(place: &str, value: &mut Value) -> Result<(), ApiError> {
    match value {
        Value::String(s) => clean_string(place, s),
        Value::Array(items) => items.iter_mut().try_for_each(|v| clean_json(place, v)),
        Value::Object(map) => {
            let mut cleaned = serde_json::Map::with_capacity(map.len());
            for (k, mut v) in std::mem::take(map) {
                let mut key = k;
                let inner = if place.is_empty() { key.clone() } else { format!("{place}.{key}") };
                clean_string(&inner, &mut key)?;
                clean_json(&inner, &mut v)?;
                cleaned.insert(key, v);
            }
            *map = cleaned;
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// Percent-decodes a URL path (lossily: invalid UTF-8 becomes U+FFFD, which the router's own decoding refuses).
fn decoded_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).and_then(|&b| hex(b)), bytes.get(i + 2).and_then(|&b| hex(b))) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Middleware on every route, inside its access layer: refuses a request whose decoded path holds a control
/// character (ids in paths: `/v1/users/%00`).
/// The query string and bodies are checked where they are parsed (the `input` module).
pub async fn check_path(request: Request, next: Next) -> Response {
    let path = decoded_path(request.uri().path());
    if let Err(e) = normalize(&path) {
        return text_error("the path", &e).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_string_is_checked_and_composed() {
        let mut v = json!({"externalId": "Jose\u{301}", "metadata": {"a\u{301}": ["x", "e\u{301}"]}, "n": 3});
        clean_json("", &mut v).expect("clean");
        assert_eq!(v, json!({"externalId": "Jos\u{e9}", "metadata": {"\u{e1}": ["x", "\u{e9}"]}, "n": 3}));
        let mut bad = json!({"metadata": {"list": ["ok", "nul\u{0}"]}});
        let e = clean_json("", &mut bad).expect_err("NUL");
        assert_eq!(e.code, app::error::Code::InvalidText);
        assert!(e.message.contains("metadata.list") && e.message.contains("U+0000"), "{}", e.message);
    }

    #[test]
    fn paths_are_decoded_before_the_check() {
        assert_eq!(decoded_path("/v1/users/%00"), "/v1/users/\u{0}");
        assert_eq!(decoded_path("/v1/users/J%C3%BCrgen%2"), "/v1/users/J\u{fc}rgen%2");
    }
}

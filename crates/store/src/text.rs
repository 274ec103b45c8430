//! The one rule for text that reaches Facegate, whatever the front door (the `/v1` API, the Rekognition
//! protocol, the command line): no control characters other than tab, line feed and carriage return (a NUL
//! byte cannot be stored by PostgreSQL and means nothing in a name), and Unicode in its composed form (NFC),
//! so that "é" written as one code point or as "e" plus an accent is one id and one name. Identifiers have
//! their own alphabets on top of this (see [`crate::valid_collection_id`], [`crate::valid_user_id`]), and are
//! never `.` or `..`.

use std::borrow::Cow;

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// Text that breaks the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("contains the control character U+{0:04X}")]
    ControlCharacter(u32),
}

/// Whether `c` is refused in text: a control character (Unicode category Cc) other than tab, LF and CR.
fn refused(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// Checks `s` against the rule and returns it in NFC (borrowed when it already is).
pub fn normalize(s: &str) -> Result<Cow<'_, str>, TextError> {
    if let Some(c) = s.chars().find(|&c| refused(c)) {
        return Err(TextError::ControlCharacter(c as u32));
    }
    Ok(match is_nfc_quick(s.chars()) {
        IsNormalized::Yes => Cow::Borrowed(s),
        _ => Cow::Owned(s.nfc().collect()),
    })
}

/// Whether an id is one of the path segments `.` and `..`, which no id may be.
pub fn is_dot_segment(id: &str) -> bool {
    id == "." || id == ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_and_text_is_composed() {
        assert_eq!(normalize("a\u{0}b"), Err(TextError::ControlCharacter(0)));
        assert_eq!(normalize("a\u{1b}[31m"), Err(TextError::ControlCharacter(0x1b)));
        assert_eq!(normalize("a\u{85}"), Err(TextError::ControlCharacter(0x85)));
        assert_eq!(normalize("two\tlines\r\nhere").as_deref(), Ok("two\tlines\r\nhere"));
        // "é" as e + combining acute accent becomes the one code point.
        assert_eq!(normalize("Jose\u{301}").as_deref(), Ok("Jos\u{e9}"));
        assert!(matches!(normalize("plain"), Ok(Cow::Borrowed("plain"))));
        assert!(is_dot_segment("..") && is_dot_segment(".") && !is_dot_segment("..a"));
    }
}

//! User handles: unique case-insensitively, 3 to 32 characters of `[A-Za-z0-9_.-]`.

use std::fmt;

use crate::DomainError;

/// Shortest allowed handle.
pub const HANDLE_MIN_LEN: usize = 3;
/// Longest allowed handle.
pub const HANDLE_MAX_LEN: usize = 32;

/// A valid handle, kept as the user typed it. Compare handles with [`Handle::key`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Handle(String);

impl Handle {
    /// Parses a handle, naming `field` in the error.
    pub fn parse(field: &'static str, text: &str) -> Result<Self, DomainError> {
        let len = text.chars().count();
        if !(HANDLE_MIN_LEN..=HANDLE_MAX_LEN).contains(&len) {
            return Err(DomainError::invalid(
                field,
                format!("\"{text}\" must be {HANDLE_MIN_LEN} to {HANDLE_MAX_LEN} characters long"),
            ));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        {
            return Err(DomainError::invalid(
                field,
                format!(
                    "\"{text}\" contains {bad:?}; only letters, digits, '_', '.' and '-' are allowed"
                ),
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// Wraps a handle read back from storage, which was validated when it was stored.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// The handle as the user typed it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form under which handles are unique.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        for ok in ["abc", "Alice_B.c-9", &"x".repeat(32)] {
            assert!(Handle::parse("handle", ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_bad_lengths_and_characters() {
        for bad in [
            "",
            "ab",
            &"x".repeat(33),
            "has space",
            "émile",
            "a/b",
            "tab\tx",
            "semi;colon",
        ] {
            assert!(Handle::parse("handle", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_is_case_insensitive() {
        let a = Handle::parse("handle", "Alice").unwrap();
        let b = Handle::parse("handle", "aLICE").unwrap();
        assert_eq!(a.key(), b.key());
        assert_eq!(a.as_str(), "Alice");
    }

    #[test]
    fn exhaustive_single_characters() {
        // Every ASCII character in an otherwise valid handle: only the documented ones pass.
        for byte in 0u8..128 {
            let c = byte as char;
            let text = format!("ab{c}");
            let allowed = c.is_ascii_alphanumeric() || "_.-".contains(c);
            assert_eq!(Handle::parse("handle", &text).is_ok(), allowed, "{c:?}");
        }
    }
}

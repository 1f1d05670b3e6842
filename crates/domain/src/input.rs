//! Parsed input values other than ids and handles.

use serde_json::{Map, Value};

use crate::DomainError;

/// Shortest allowed password, in characters.
pub const PASSWORD_MIN_LEN: usize = 8;
/// Longest allowed password, in bytes: argon2 takes any length, but an unbounded one is a
/// denial-of-service lever.
pub const PASSWORD_MAX_BYTES: usize = 1024;
/// Longest allowed display name, in characters.
pub const DISPLAY_NAME_MAX_LEN: usize = 64;
/// Largest allowed metadata object, serialized, in bytes.
pub const METADATA_MAX_BYTES: usize = 16 * 1024;
/// Deepest allowed nesting of objects and arrays in metadata (the object itself is level 1):
/// deeper JSON could not be read back by the JSON parser's own recursion limit.
pub const METADATA_MAX_DEPTH: usize = 32;

/// A password that meets the length rules. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Parses a password for a new account.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        if text.chars().count() < PASSWORD_MIN_LEN {
            return Err(DomainError::invalid(
                "password",
                format!("must be at least {PASSWORD_MIN_LEN} characters long"),
            ));
        }
        if text.len() > PASSWORD_MAX_BYTES {
            return Err(DomainError::invalid(
                "password",
                format!("must be at most {PASSWORD_MAX_BYTES} bytes long"),
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The password in clear, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A display name: trimmed, 1 to 64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Parses a display name; an empty or blank one means "none".
    pub fn parse_optional(text: Option<&str>) -> Result<Option<Self>, DomainError> {
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        if text.chars().count() > DISPLAY_NAME_MAX_LEN {
            return Err(DomainError::invalid(
                "displayName",
                format!("must be at most {DISPLAY_NAME_MAX_LEN} characters long"),
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(DomainError::invalid(
                "displayName",
                "must not contain control characters",
            ));
        }
        Ok(Some(Self(text.to_owned())))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Unwraps the name.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Longest allowed avatar address, in bytes.
pub const AVATAR_URL_MAX_LEN: usize = 2048;

/// An avatar address: an absolute `http` or `https` URL without spaces or control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvatarUrl(String);

impl AvatarUrl {
    /// Parses an avatar address.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let text = text.trim();
        let lower = text.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"));
        if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
            return Err(DomainError::invalid(
                "avatarUrl",
                "must be an absolute http:// or https:// address",
            ));
        }
        if text.len() > AVATAR_URL_MAX_LEN {
            return Err(DomainError::invalid(
                "avatarUrl",
                format!("must be at most {AVATAR_URL_MAX_LEN} bytes long"),
            ));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(DomainError::invalid(
                "avatarUrl",
                "must not contain spaces or control characters",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A JSON object of at most 16 KiB serialized, as attached to users and friend edges.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata(Map<String, Value>);

impl Metadata {
    /// Parses client-supplied metadata, naming `field` in the error.
    pub fn parse(field: &'static str, value: Value) -> Result<Self, DomainError> {
        let Value::Object(map) = value else {
            return Err(DomainError::invalid(field, "must be a JSON object"));
        };
        let depth = json_depth(&map);
        if depth > METADATA_MAX_DEPTH {
            return Err(DomainError::invalid(
                field,
                format!(
                    "is nested {depth} levels deep; at most {METADATA_MAX_DEPTH} levels of \
                     objects and arrays are allowed"
                ),
            ));
        }
        let size = serde_json::to_vec(&map)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > METADATA_MAX_BYTES {
            return Err(DomainError::invalid(
                field,
                format!("is {size} bytes; at most {METADATA_MAX_BYTES} bytes are allowed"),
            ));
        }
        Ok(Self(map))
    }

    /// Wraps metadata read back from storage; anything but an object is dropped.
    pub fn from_stored(value: Value) -> Option<Self> {
        match value {
            Value::Object(map) => Some(Self(map)),
            _ => None,
        }
    }

    /// The JSON object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The JSON value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
    }
}

/// How deep objects and arrays nest in `map` (the map itself is 1), without recursion.
fn json_depth(map: &Map<String, Value>) -> usize {
    let mut deepest = 1;
    let mut pending: Vec<(&Value, usize)> = map.values().map(|v| (v, 2)).collect();
    while let Some((value, depth)) = pending.pop() {
        match value {
            Value::Object(inner) => {
                deepest = deepest.max(depth);
                pending.extend(inner.values().map(|v| (v, depth + 1)));
            }
            Value::Array(items) => {
                deepest = deepest.max(depth);
                pending.extend(items.iter().map(|v| (v, depth + 1)));
            }
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn password_length_rules() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"x".repeat(PASSWORD_MAX_BYTES + 1)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret-pw").unwrap()),
            "Password(***)"
        );
    }

    #[test]
    fn display_name_rules() {
        assert_eq!(DisplayName::parse_optional(Some("  ")).unwrap(), None);
        assert_eq!(
            DisplayName::parse_optional(Some(" Ada "))
                .unwrap()
                .unwrap()
                .as_str(),
            "Ada"
        );
        assert!(DisplayName::parse_optional(Some(&"é".repeat(64))).is_ok());
        assert!(DisplayName::parse_optional(Some(&"é".repeat(65))).is_err());
        assert!(DisplayName::parse_optional(Some("a\u{7}b")).is_err());
    }

    #[test]
    fn avatar_urls_must_be_absolute_web_addresses() {
        assert!(AvatarUrl::parse("https://cdn.example.com/a.png").is_ok());
        assert!(AvatarUrl::parse("HTTP://example.com/a.png").is_ok());
        for bad in [
            "",
            "example.com/a.png",
            "javascript:alert(1)",
            "https://",
            "https:///x",
            "https://a b",
            "ftp://x/y",
        ] {
            assert!(AvatarUrl::parse(bad).is_err(), "{bad}");
        }
        let long = format!("https://x/{}", "a".repeat(AVATAR_URL_MAX_LEN));
        assert!(AvatarUrl::parse(&long).is_err());
    }

    #[test]
    fn metadata_must_be_a_small_object() {
        assert!(Metadata::parse("metadata", json!({"tag": "raid"})).is_ok());
        assert!(Metadata::parse("metadata", json!([1, 2])).is_err());
        assert!(Metadata::parse("metadata", json!("x")).is_err());
        let nested = |levels: usize| {
            let mut value = json!({});
            for _ in 1..levels {
                value = json!({ "a": value });
            }
            value
        };
        assert!(Metadata::parse("metadata", nested(METADATA_MAX_DEPTH)).is_ok());
        let err = Metadata::parse("metadata", nested(METADATA_MAX_DEPTH + 1)).unwrap_err();
        assert!(err.to_string().contains("at most 32 levels"), "{err}");
        let mut list = json!([1]);
        for _ in 2..METADATA_MAX_DEPTH {
            list = json!([list]);
        }
        assert!(Metadata::parse("metadata", json!({ "l": list.clone() })).is_ok());
        assert!(Metadata::parse("metadata", json!({ "l": [list] })).is_err());
        let big = json!({ "x": "y".repeat(METADATA_MAX_BYTES) });
        let err = Metadata::parse("metadata", big).unwrap_err();
        assert!(err.to_string().contains("at most 16384 bytes"), "{err}");
    }
}

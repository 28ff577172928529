//! [`Secret`]: a string that is never printed.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a [`Secret`] shows instead of its value.
pub(crate) const REDACTED: &str = "[redacted]";

/// A string that never leaks: API tokens, passwords, database URLs.
///
/// `Debug`, `Display` and `Serialize` all produce `[redacted]`; the only way
/// to read the value is [`Secret::expose`], which makes every use greppable.
/// It deserializes from a plain string, so a connector's typed configuration
/// can hold `Secret` fields and be filled from [`Options::to_json`](crate::Options::to_json).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value so that it is no longer printed.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value itself. Never log or format what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shows_its_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&s)), "Some([redacted])");
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""[redacted]""#);
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(s.clone(), Secret::from("hunter2"));
        assert_ne!(s, Secret::from("hunter3"));
    }

    #[test]
    fn deserializes_from_a_string() {
        #[derive(Deserialize, Debug)]
        struct Creds {
            token: Secret,
        }
        let c: Creds = serde_json::from_str(r#"{"token": "abc"}"#).unwrap();
        assert_eq!(c.token.expose(), "abc");
        assert_eq!(format!("{c:?}"), "Creds { token: [redacted] }");
    }
}

//! [`Options`]: validated values of a table, in file order.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Secret;
use crate::secret::REDACTED;

/// A validated value.
#[derive(Clone, Debug, PartialEq)]
pub enum OptionValue {
    /// A string (after `${ENV}` substitution).
    String(String),
    /// A secret string.
    Secret(Secret),
    /// An integer.
    Integer(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// An array.
    Array(Vec<OptionValue>),
    /// A table.
    Table(Options),
}

impl OptionValue {
    /// The string, if this is a [`OptionValue::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The secret, if this is a [`OptionValue::Secret`].
    pub fn as_secret(&self) -> Option<&Secret> {
        match self {
            Self::Secret(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is a [`OptionValue::Integer`].
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Self::Integer(n) => Some(*n),
            _ => None,
        }
    }

    /// The boolean, if this is a [`OptionValue::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The table, if this is a [`OptionValue::Table`].
    pub fn as_table(&self) -> Option<&Options> {
        match self {
            Self::Table(t) => Some(t),
            _ => None,
        }
    }

    /// This value as JSON, secrets exposed as plain strings (see [`Options::to_json`]).
    /// Non-finite floats become `null`.
    pub fn to_json(&self) -> Value {
        match self {
            Self::String(s) => Value::String(s.clone()),
            Self::Secret(s) => Value::String(s.expose().to_owned()),
            Self::Integer(n) => Value::from(*n),
            Self::Float(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
            Self::Bool(b) => Value::Bool(*b),
            Self::Array(items) => Value::Array(items.iter().map(Self::to_json).collect()),
            Self::Table(t) => t.to_json(),
        }
    }

    fn secrets<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Self::Secret(s) => out.push(s.expose()),
            Self::Array(items) => items.iter().for_each(|v| v.secrets(out)),
            Self::Table(t) => t.entries.iter().for_each(|(_, v)| v.secrets(out)),
            _ => {}
        }
    }
}

/// Validated values of a table, keyed by TOML key, in the order they appear
/// in the file. `Debug` shows secrets as `[redacted]`.
#[derive(Clone, Default, PartialEq)]
pub struct Options {
    entries: Vec<(String, OptionValue)>,
}

impl Options {
    /// No values.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&OptionValue> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key`, keeping its position if it was already there; returns the old value.
    pub fn insert(&mut self, key: impl Into<String>, value: OptionValue) -> Option<OptionValue> {
        let key = key.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, old)) => Some(std::mem::replace(old, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<OptionValue> {
        let at = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(at).1)
    }

    /// The entries in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &OptionValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A JSON object of these options with secrets EXPOSED as plain strings,
    /// meant only for deserializing into a connector's typed configuration
    /// (whose secret fields are [`Secret`]s). Never log the result.
    pub fn to_json(&self) -> Value {
        Value::Object(self.entries.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
    }

    /// Deserializes these options into a connector's typed configuration.
    /// Secret values are replaced by `[redacted]` in the error message.
    pub fn deserialize_into<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_value(self.to_json()).map_err(|e| {
            let mut secrets = Vec::new();
            self.entries.iter().for_each(|(_, v)| v.secrets(&mut secrets));
            secrets
                .into_iter()
                .filter(|s| !s.is_empty())
                .fold(e.to_string(), |msg, s| msg.replace(s, REDACTED))
        })
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl FromIterator<(String, OptionValue)> for Options {
    fn from_iter<I: IntoIterator<Item = (String, OptionValue)>>(iter: I) -> Self {
        let mut options = Self::new();
        for (k, v) in iter {
            options.insert(k, v);
        }
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn sample() -> Options {
        let nested: Options = [("depth".to_owned(), OptionValue::Integer(2))].into_iter().collect();
        [
            ("zeta".to_owned(), OptionValue::String("z".into())),
            ("token".to_owned(), OptionValue::Secret(Secret::new("tok-123"))),
            ("ratio".to_owned(), OptionValue::Float(0.5)),
            ("on".to_owned(), OptionValue::Bool(true)),
            ("tags".to_owned(), OptionValue::Array(vec![OptionValue::String("a".into())])),
            ("nested".to_owned(), OptionValue::Table(nested)),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn json_keeps_order_and_exposes_secrets() {
        assert_eq!(
            sample().to_json().to_string(),
            r#"{"zeta":"z","token":"tok-123","ratio":0.5,"on":true,"tags":["a"],"nested":{"depth":2}}"#
        );
    }

    #[test]
    fn debug_redacts() {
        assert_eq!(
            format!("{:?}", sample()),
            r#"{"zeta": String("z"), "token": Secret([redacted]), "ratio": Float(0.5), "on": Bool(true), "tags": Array([String("a")]), "nested": Table({"depth": Integer(2)})}"#
        );
    }

    #[test]
    fn deserialize_into_typed_config() {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Typed {
            zeta: String,
            token: Secret,
            ratio: f64,
            on: bool,
            tags: Vec<String>,
            nested: Nested,
        }
        #[derive(Deserialize)]
        struct Nested {
            depth: u8,
        }
        let t: Typed = sample().deserialize_into().unwrap();
        assert_eq!(t.token.expose(), "tok-123");
        assert_eq!(t.nested.depth, 2);

        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Wrong {
            token: u32,
        }
        let err = sample().deserialize_into::<Wrong>().unwrap_err();
        assert_eq!(err, r#"invalid type: string "[redacted]", expected u32"#);
    }

    #[test]
    fn insert_replaces_in_place_and_remove() {
        let mut o = sample();
        assert_eq!(o.insert("zeta", OptionValue::Integer(1)), Some(OptionValue::String("z".into())));
        assert_eq!(o.iter().next(), Some(("zeta", &OptionValue::Integer(1))));
        assert_eq!(o.remove("on"), Some(OptionValue::Bool(true)));
        assert_eq!(o.len(), 5);
        assert_eq!(o.get("on"), None);
    }
}

//! What every simulator reads from a request or writes into its ground truth the same way.

use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::Value;

/// The decoded `user:password` of an `Authorization: Basic` header, unsplit (vendors differ on
/// whether the password part is required).
pub(crate) fn basic(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()
}

/// The token of an `Authorization: Bearer` header, trimmed.
pub(crate) fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    Some(value.strip_prefix("Bearer ")?.trim())
}

/// A served document as a JSON value (for ground truth); `null` if it cannot be serialised.
pub(crate) fn to_value<T: Serialize>(doc: &T) -> Value {
    serde_json::to_value(doc).unwrap_or(Value::Null)
}

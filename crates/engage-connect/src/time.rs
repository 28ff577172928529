//! Lenient timestamp parsing for the many formats vendors use. Time is UTC inside Engage; the
//! original string stays in the record's raw payload.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Parses a timestamp in any of the forms vendors send: RFC 3339 / ISO 8601 with an offset or
/// `Z` (`2024-05-01T12:00:00Z`, `+02:00`, fractional seconds), ISO 8601 basic
/// (`20140704T15:37:04Z`), a space instead of `T`, a zone-less date-time (taken as UTC), a bare
/// date (midnight UTC), and Unix seconds or milliseconds as text. `None` when it is none of
/// these.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let with_t = text.replacen(' ', "T", 1);
    if let Ok(t) = DateTime::parse_from_rfc3339(&with_t) {
        return Some(t.with_timezone(&Utc));
    }
    for format in
        ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y%m%dT%H:%M:%S%.f%z", "%Y%m%dT%H%M%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f %z"]
    {
        if let Ok(t) = DateTime::parse_from_str(&with_t.replace('Z', "+0000"), format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    if let Some(naive) = parse_naive(text) {
        return Some(Utc.from_utc_datetime(&naive));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return date.and_hms_opt(0, 0, 0).map(|d| Utc.from_utc_datetime(&d));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) && text.len() <= 13 {
        let n: i64 = text.parse().ok()?;
        return unix_any(n);
    }
    None
}

/// Parses a zone-less date-time (`YYYY-MM-DD HH:MM:SS`, `T` or space, optional fraction).
pub fn parse_naive(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
}

/// Unix seconds (or milliseconds, when the number is too large to be seconds) as a UTC time.
pub fn unix_any(n: i64) -> Option<DateTime<Utc>> {
    if n.abs() >= 100_000_000_000 {
        DateTime::from_timestamp_millis(n)
    } else {
        DateTime::from_timestamp(n, 0)
    }
}

/// A JSON value holding a timestamp: a string in any form [`parse_timestamp`] knows, or a number
/// of Unix seconds/milliseconds. `Ok(None)` for null or absent, `Err` with the reason otherwise.
pub fn json_timestamp(value: Option<&serde_json::Value>) -> Result<Option<DateTime<Utc>>, String> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(serde_json::Value::String(s)) => {
            parse_timestamp(s).map(Some).ok_or_else(|| format!("`{s}` is not a timestamp"))
        }
        Some(serde_json::Value::Number(n)) => {
            n.as_i64().and_then(unix_any).map(Some).ok_or_else(|| format!("`{n}` is not a Unix timestamp"))
        }
        Some(other) => Err(format!("`{other}` is not a timestamp")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> String {
        parse_timestamp(text).map(|t| t.to_rfc3339()).unwrap_or_else(|| "none".into())
    }

    #[test]
    fn parses_vendor_forms() {
        assert_eq!(at("2024-05-01T12:00:00Z"), "2024-05-01T12:00:00+00:00");
        assert_eq!(at("2024-05-01T14:00:00+02:00"), "2024-05-01T12:00:00+00:00");
        assert_eq!(at("2024-05-01T12:00:00.250Z"), "2024-05-01T12:00:00.250+00:00");
        assert_eq!(at("20140704T15:37:04Z"), "2014-07-04T15:37:04+00:00");
        assert_eq!(at("2024-05-01 12:00:00"), "2024-05-01T12:00:00+00:00");
        assert_eq!(at("2024-05-01"), "2024-05-01T00:00:00+00:00");
        assert_eq!(at("1700000000"), "2023-11-14T22:13:20+00:00");
        assert_eq!(at("1700000000123"), "2023-11-14T22:13:20.123+00:00");
        assert_eq!(at("2015-08-28T010:08:16Z"), "none");
        assert_eq!(at("not a date"), "none");
        assert_eq!(at(""), "none");
    }

    #[test]
    fn json_values() {
        assert_eq!(json_timestamp(None), Ok(None));
        assert_eq!(json_timestamp(Some(&serde_json::json!(null))), Ok(None));
        assert_eq!(
            json_timestamp(Some(&serde_json::json!(1_700_000_000))).unwrap().map(|t| t.timestamp()),
            Some(1_700_000_000)
        );
        assert_eq!(json_timestamp(Some(&serde_json::json!("nope"))), Err("`nope` is not a timestamp".into()));
        assert_eq!(json_timestamp(Some(&serde_json::json!(true))), Err("`true` is not a timestamp".into()));
    }
}

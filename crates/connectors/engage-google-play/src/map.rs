//! Google Play reviews → [`Review`]s. The raw payload is the review object as served.
//!
//! - `comments[]` holds the reviewer's `userComment` and, once the developer replied, a
//!   `developerComment`.
//! - `userComment.text` is the title and the body joined by a tab (no tab: no title). When the
//!   request asked for a `translationLanguage` and the review is in another language, `text` is
//!   Google's translation and `originalText` what the reviewer wrote: the original is kept.
//! - Times are `{"seconds": "1443676826", "nanos": 713000000}` (seconds as a string).
//! - Play gives no creation time: `created_at` and `updated_at` are both the user comment's
//!   `lastModified` (an edit moves it).

use chrono::{DateTime, Utc};
use engage_connect::language;
use engage_model::{Quarantined, Record, Review, raw_json};
use serde_json::Value;

use crate::PLATFORM;

/// The scale Play ratings are given on.
pub const SCALE: &str = "1-5";

/// A `{seconds, nanos}` timestamp (seconds as a string or a number).
pub fn timestamp(value: &Value) -> Result<DateTime<Utc>, String> {
    let seconds = match value.get("seconds") {
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| format!("`{value}` has no whole seconds"))?;
    let nanos = match value.get("nanos") {
        None | Some(Value::Null) => Some(0),
        Some(Value::Number(n)) => n.as_u64().filter(|n| *n < 1_000_000_000),
        Some(_) => None,
    }
    .ok_or_else(|| format!("`{value}` has bad nanos"))?;
    DateTime::from_timestamp(seconds, nanos as u32).ok_or_else(|| format!("`{value}` is out of range"))
}

fn comment<'a>(review: &'a Value, kind: &str) -> Option<&'a Value> {
    review.get("comments")?.as_array()?.iter().find_map(|c| c.get(kind))
}

/// The last change of the reviewer's comment.
pub fn modified(review: &Value) -> Option<DateTime<Utc>> {
    comment(review, "userComment")?.get("lastModified").and_then(|t| timestamp(t).ok())
}

/// The review's id.
pub fn id(review: &Value) -> Option<&str> {
    review.get("reviewId").and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Title and body of a comment text (`title\tbody`).
pub fn split_text(text: &str) -> (Option<String>, String) {
    match text.split_once('\t') {
        Some((title, body)) => ((!title.is_empty()).then(|| title.to_owned()), body.to_owned()),
        None => (None, text.to_owned()),
    }
}

/// An ISO 639-1 code for a Play language (`pl`, `pt_BR`, `sr-Latn`, `fil`...), when it has one.
pub fn iso_language(code: &str) -> Option<String> {
    let primary = code.trim().split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
    if primary.len() == 2 && primary.chars().all(|c| c.is_ascii_lowercase()) {
        return Some(primary);
    }
    language::lang_of(&primary).and_then(language::iso639_1).map(str::to_owned)
}

/// Maps one review of app `package`; `languages` narrows language detection when the review
/// does not name its language.
pub fn review(review: &Value, package: &str, languages: &[String]) -> Result<Record, String> {
    let id = id(review).ok_or("the review has no reviewId")?.to_owned();
    let user = comment(review, "userComment").ok_or("the review has no userComment")?;
    let rating = match user.get("starRating") {
        Some(Value::Number(n)) => n.as_i64().filter(|r| (1..=5).contains(r)),
        _ => None,
    }
    .ok_or_else(|| {
        format!("starRating {} is not an integer from 1 to 5", user.get("starRating").unwrap_or(&Value::Null))
    })?;
    let modified = timestamp(user.get("lastModified").ok_or("the userComment has no lastModified")?)
        .map_err(|e| format!("userComment.lastModified: {e}"))?;
    let written = match (user.get("originalText"), user.get("text")) {
        (Some(Value::String(original)), _) => Some(original.as_str()),
        (_, Some(Value::String(text))) => Some(text.as_str()),
        _ => None,
    };
    let (title, body) = match written {
        Some(text) => {
            let (title, body) = split_text(text);
            (title, Some(body))
        }
        None => (None, None),
    };
    let language = match user.get("reviewerLanguage").and_then(Value::as_str).and_then(iso_language) {
        Some(code) => Some(code),
        None => body
            .as_deref()
            .and_then(|b| language::detect_titled(title.as_deref(), Some(b), languages))
            .map(str::to_owned),
    };
    let developer = comment(review, "developerComment");
    let reply_body = developer.and_then(|d| d.get("text")).and_then(Value::as_str).map(str::to_owned);
    let reply_at = match developer.and_then(|d| d.get("lastModified")) {
        Some(t) => Some(timestamp(t).map_err(|e| format!("developerComment.lastModified: {e}"))?),
        None => None,
    };
    let entity = Review {
        platform: PLATFORM.to_owned(),
        location: Some(package.to_owned()),
        rating: Some(rating as f64),
        source_rating: Some(rating.to_string()),
        source_scale: Some(SCALE.to_owned()),
        title,
        body,
        language,
        author: review.get("authorName").and_then(Value::as_str).map(str::to_owned),
        customer_source_id: None,
        created_at: Some(modified),
        updated_at: Some(modified),
        reply_body,
        reply_at,
        url: None,
    };
    let raw = raw_json(&review.to_string()).map_err(|e| format!("payload: {e}"))?;
    Ok(Record::new(id, raw, entity))
}

/// A review that could not be mapped, with the reason.
pub fn quarantine(review: &Value, reason: String) -> Quarantined {
    Quarantined { source_id: id(review).map(str::to_owned), raw: review.to_string(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engage_model::Entity;

    fn at(s: &str) -> DateTime<Utc> {
        engage_connect::time::parse_timestamp(s).unwrap()
    }

    fn entity(record: &Record) -> &Review {
        match &record.entity {
            Entity::Review(r) => r,
            other => panic!("not a review: {other:?}"),
        }
    }

    #[test]
    fn the_official_list_example_maps_exactly() {
        let page: Value = serde_json::from_str(engage_sandbox::google_play::DOCS_LIST).unwrap();
        let jane = review(&page["reviews"][0], "com.example", &[]).unwrap();
        let r = entity(&jane);
        assert_eq!(jane.source_id, "12345678");
        assert_eq!(r.body.as_deref(), Some("This is the best app ever!"));
        assert_eq!(r.title, None);
        assert_eq!(r.rating, Some(5.0));
        assert_eq!(r.author.as_deref(), Some("Jane Bloggs"));
        assert_eq!(r.created_at, Some(at("2015-10-01T05:20:26.713Z")));
        assert_eq!(r.language.as_deref(), Some("en"));
        let john = review(&page["reviews"][1], "com.example", &[]).unwrap();
        let r = entity(&john);
        assert_eq!(r.language.as_deref(), Some("en"));
        assert_eq!(r.reply_body.as_deref(), Some("That's great to hear!"));
        assert_eq!(r.reply_at, Some(at("2015-02-05T01:57:47.813Z")));
        assert_eq!(r.updated_at, Some(at("1974-06-27T16:22:14.213Z")));
        assert_eq!(serde_json::from_str::<Value>(john.raw.get()).unwrap(), page["reviews"][1]);
    }

    #[test]
    fn the_original_text_is_kept_over_the_translation() {
        let one: Value = serde_json::from_str(engage_sandbox::google_play::DOCS_TRANSLATED).unwrap();
        let record = review(&one, "com.example", &[]).unwrap();
        let r = entity(&record);
        assert_eq!(r.body.as_deref(), Some("Dies ist die beste App überhaupt!"));
        assert_eq!(r.language.as_deref(), Some("de"));
    }

    #[test]
    fn titles_languages_and_bad_records() {
        assert_eq!(split_text("Super\tDziała świetnie."), (Some("Super".into()), "Działa świetnie.".into()));
        assert_eq!(split_text("\tOnly body"), (None, "Only body".into()));
        assert_eq!(iso_language("pl_PL").as_deref(), Some("pl"));
        assert_eq!(iso_language("sr-Latn").as_deref(), Some("sr"));
        assert_eq!(iso_language("rus").as_deref(), Some("ru"));
        assert_eq!(timestamp(&serde_json::json!({"seconds": 5})).unwrap().timestamp(), 5);
        assert!(timestamp(&serde_json::json!({"seconds": "x", "nanos": 1})).is_err());
        let bad = serde_json::json!({ "reviewId": "b1", "comments": [{ "userComment": {
            "text": "ok", "starRating": 6, "lastModified": { "seconds": "1", "nanos": 0 } } }] });
        assert_eq!(review(&bad, "p", &[]).unwrap_err(), "starRating 6 is not an integer from 1 to 5");
        assert_eq!(quarantine(&bad, "why".into()).source_id.as_deref(), Some("b1"));
    }
}

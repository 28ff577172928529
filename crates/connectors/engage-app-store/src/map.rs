//! Customer reviews → [`Review`]s.
//!
//! A review's raw payload is the review as its own JSON:API document would carry it:
//! `{"data": <customerReviews resource>, "included": [<customerReviewResponses resource>]}`,
//! `included` only when the review has a developer response. Nothing Apple sent is dropped.

use chrono::{DateTime, Utc};
use engage_connect::language;
use engage_model::{Quarantined, Record, Review, raw_json};
use serde_json::{Value, json};

use crate::PLATFORM;

/// The scale App Store ratings are given on.
pub const SCALE: &str = "1-5";

/// A review resource and its developer response (from `included`), as one document.
pub fn document(review: &Value, response: Option<&Value>) -> Value {
    match response {
        Some(response) => json!({ "data": review, "included": [response] }),
        None => json!({ "data": review }),
    }
}

/// The id of the response a review's relationship names (`include=response`), if any.
pub fn response_id(review: &Value) -> Option<&str> {
    review.pointer("/relationships/response/data/id").and_then(Value::as_str)
}

/// The review's creation time, when it has a readable one.
pub fn created(document: &Value) -> Option<DateTime<Utc>> {
    document
        .pointer("/data/attributes/createdDate")
        .and_then(Value::as_str)
        .and_then(engage_connect::time::parse_timestamp)
}

/// The review's id.
pub fn id(document: &Value) -> Option<&str> {
    document.pointer("/data/id").and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn text(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::to_owned)
}

/// Maps one review document of app `app_id`; `languages` narrows language detection.
pub fn review(document: &Value, app_id: &str, languages: &[String]) -> Result<Record, String> {
    let id = id(document).ok_or("the review has no id")?.to_owned();
    let attrs = document.pointer("/data/attributes").ok_or("the review has no attributes")?;
    let rating = match attrs.get("rating") {
        Some(Value::Number(n)) => n.as_i64().filter(|r| (1..=5).contains(r)),
        _ => None,
    }
    .ok_or_else(|| {
        format!("rating {} is not an integer from 1 to 5", attrs.get("rating").unwrap_or(&Value::Null))
    })?;
    let created_at = match attrs.get("createdDate") {
        Some(Value::String(s)) => engage_connect::time::parse_timestamp(s)
            .ok_or_else(|| format!("createdDate `{s}` is not a timestamp"))?,
        _ => return Err("the review has no createdDate".to_owned()),
    };
    let title = text(attrs.get("title"));
    let body = text(attrs.get("body"));
    let language = detect(title.as_deref(), body.as_deref(), languages);
    let response = document.get("included").and_then(Value::as_array).and_then(|items| {
        items.iter().find(|i| i.get("type").and_then(Value::as_str) == Some("customerReviewResponses"))
    });
    let reply_body = response.and_then(|r| text(r.pointer("/attributes/responseBody")));
    let reply_at = match response.and_then(|r| r.pointer("/attributes/lastModifiedDate")) {
        Some(value) => engage_connect::time::json_timestamp(Some(value))
            .map_err(|e| format!("response lastModifiedDate: {e}"))?,
        None => None,
    };
    let entity = Review {
        platform: PLATFORM.to_owned(),
        location: Some(app_id.to_owned()),
        rating: Some(rating as f64),
        source_rating: Some(rating.to_string()),
        source_scale: Some(SCALE.to_owned()),
        title,
        body,
        language,
        author: text(attrs.get("reviewerNickname")),
        customer_source_id: None,
        created_at: Some(created_at),
        updated_at: None,
        reply_body,
        reply_at,
        url: None,
    };
    let raw = raw_json(&document.to_string()).map_err(|e| format!("payload: {e}"))?;
    Ok(Record::new(id, raw, entity))
}

/// The language of a review: its body, or title and body together when the body alone is too
/// short to tell.
pub fn detect(title: Option<&str>, body: Option<&str>, languages: &[String]) -> Option<String> {
    language::detect_titled(title, body, languages).map(str::to_owned)
}

/// A review that could not be mapped, with the reason.
pub fn quarantine(document: &Value, reason: String) -> Quarantined {
    Quarantined { source_id: id(document).map(str::to_owned), raw: document.to_string(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        engage_connect::time::parse_timestamp(s).unwrap()
    }

    #[test]
    fn the_official_example_maps_exactly() {
        let page: Value =
            serde_json::from_str(engage_sandbox::app_store::DOCS_EXAMPLE).expect("the docs example is JSON");
        let doc = document(&page["data"][0], None);
        let record = review(&doc, "682658836", &[]).unwrap();
        assert_eq!(record.source_id, "00000028-b08c-0014-729e-fbd500000000");
        let engage_model::Entity::Review(r) = &record.entity else { panic!("a review") };
        assert_eq!(r.platform, "app_store");
        assert_eq!(r.location.as_deref(), Some("682658836"));
        assert_eq!(r.rating, Some(5.0));
        assert_eq!(r.source_rating.as_deref(), Some("5"));
        assert_eq!(r.source_scale.as_deref(), Some("1-5"));
        assert_eq!(r.title.as_deref(), Some("Awesome!!!"));
        assert_eq!(r.body.as_deref(), Some("It's a really fantastic app!"));
        assert_eq!(r.author.as_deref(), Some("Anne Johnson"));
        // -08:00 is kept as the instant it names.
        assert_eq!(r.created_at, Some(at("2017-11-15T16:10:34Z")));
        assert_eq!((r.reply_body.as_deref(), r.reply_at), (None, None));
        let raw: Value = serde_json::from_str(record.raw.get()).unwrap();
        assert_eq!(raw, json!({ "data": page["data"][0] }));
    }

    #[test]
    fn a_developer_response_becomes_the_reply() {
        let review_obj = json!({
            "type": "customerReviews", "id": "r1",
            "attributes": { "rating": 2, "title": "Słabo", "body": "Aplikacja ciągle się zawiesza przy logowaniu. Proszę o szybką poprawkę, bo nie da się z niej korzystać.",
                            "reviewerNickname": "Kasia", "createdDate": "2025-05-30T10:00:00+02:00", "territory": "POL" },
            "relationships": { "response": { "data": { "type": "customerReviewResponses", "id": "p1" } } }
        });
        let response = json!({ "type": "customerReviewResponses", "id": "p1",
            "attributes": { "responseBody": "Dziękujemy, poprawka jest już w drodze.", "lastModifiedDate": "2025-05-31T08:00:00-07:00", "state": "PUBLISHED" } });
        assert_eq!(response_id(&review_obj), Some("p1"));
        let record = review(&document(&review_obj, Some(&response)), "1", &[]).unwrap();
        let engage_model::Entity::Review(r) = &record.entity else { panic!("a review") };
        assert_eq!(r.reply_body.as_deref(), Some("Dziękujemy, poprawka jest już w drodze."));
        assert_eq!(r.reply_at, Some(at("2025-05-31T15:00:00Z")));
        assert_eq!(r.language.as_deref(), Some("pl"));
        assert_eq!(r.rating, Some(2.0));
    }

    #[test]
    fn slovenian_and_croatian_are_told_apart() {
        let sl = "Ali lahko prosim preverite, kaj se je zgodilo? Na strani za sledenje piše, da je bila pošiljka dostavljena, vendar je nisem prejel.";
        let hr = "Možete li, molim vas, provjeriti što se dogodilo? Paket je bio otvoren i nedostaje jedan artikl.";
        assert_eq!(detect(None, Some(sl), &[]).as_deref(), Some("sl"));
        assert_eq!(detect(None, Some(hr), &[]).as_deref(), Some("hr"));
        assert_eq!(detect(None, Some(sl), &["hr".to_owned()]).as_deref(), Some("hr"), "sl is not allowed");
    }

    #[test]
    fn bad_records_say_why() {
        let base = json!({ "type": "customerReviews", "id": "x",
            "attributes": { "rating": 5, "createdDate": "2025-01-01T00:00:00Z" } });
        let mut bad = base.clone();
        bad["attributes"]["rating"] = json!(0);
        assert_eq!(
            review(&document(&bad, None), "a", &[]).unwrap_err(),
            "rating 0 is not an integer from 1 to 5"
        );
        let mut bad = base.clone();
        bad["attributes"]["createdDate"] = json!("not a date");
        assert_eq!(
            review(&document(&bad, None), "a", &[]).unwrap_err(),
            "createdDate `not a date` is not a timestamp"
        );
        let q = quarantine(&document(&bad, None), "why".into());
        assert_eq!(q.source_id.as_deref(), Some("x"));
        assert!(review(&document(&base, None), "a", &[]).is_ok());
    }
}

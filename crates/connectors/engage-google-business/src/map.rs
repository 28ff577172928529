//! Google Business Profile reviews → unified reviews. A review that cannot be mapped is
//! quarantined with the reason and the rest of the page goes on.

use chrono::{DateTime, Utc};
use engage_connect::Page;
use engage_connect::language::detect_among;
use engage_connect::time::parse_timestamp;
use engage_model::{Quarantined, Record, Review, raw_json};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// The platform name on every review.
pub const PLATFORM: &str = "google_business";
/// The source scale of `starRating`.
pub const SCALE: &str = "ONE-FIVE";

/// A mapped page, the `updateTime` of every review that has a readable one (Unix milliseconds)
/// and the names of the reviews stored.
pub struct Mapped {
    /// Records and quarantined reviews.
    pub page: Page,
    /// `updateTime` of the reviews, in the order received.
    pub updates: Vec<i64>,
    /// Names of the reviews stored.
    pub names: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fields {
    name: Option<Value>,
    review_id: Option<Value>,
    reviewer: Option<Reviewer>,
    star_rating: Option<Value>,
    comment: Option<Value>,
    create_time: Option<Value>,
    update_time: Option<Value>,
    review_reply: Option<ReplyFields>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reviewer {
    display_name: Option<Value>,
    is_anonymous: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplyFields {
    comment: Option<Value>,
    update_time: Option<Value>,
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn time(value: Option<&Value>, field: &str) -> Result<Option<DateTime<Utc>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            parse_timestamp(s).map(Some).ok_or_else(|| format!("{field}: `{s}` is not an RFC 3339 time"))
        }
        Some(other) => Err(format!("{field}: `{other}` is not a time")),
    }
}

/// `ONE`..`FIVE` as 1–5; `STAR_RATING_UNSPECIFIED` (or no rating) is none.
pub fn stars(word: &str) -> Result<Option<f64>, String> {
    Ok(Some(match word {
        "ONE" => 1.0,
        "TWO" => 2.0,
        "THREE" => 3.0,
        "FOUR" => 4.0,
        "FIVE" => 5.0,
        "STAR_RATING_UNSPECIFIED" | "" => return Ok(None),
        other => return Err(format!("starRating: `{other}` is not ONE..FIVE")),
    }))
}

/// The text to detect the language of: the original part of a comment Google translated.
pub fn original(comment: &str) -> &str {
    match comment.split_once("(Original)") {
        Some((_, original)) if !original.trim().is_empty() => original.trim(),
        _ => comment,
    }
}

fn review(item: &RawValue, location: &str, languages: &[String]) -> Result<(String, Record), String> {
    let f: Fields = serde_json::from_str(item.get()).map_err(|e| format!("review: {e}"))?;
    let name = match (text(f.name.as_ref()), text(f.review_id.as_ref())) {
        (Some(name), _) => name,
        (None, Some(id)) => format!("{location}/reviews/{id}"),
        (None, None) => return Err("name: missing".into()),
    };
    let word = match &f.star_rating {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(format!("starRating: `{other}` is not ONE..FIVE")),
    };
    let rating = stars(&word)?;
    let created_at = time(f.create_time.as_ref(), "createTime")?.ok_or("createTime: missing")?;
    let updated_at = time(f.update_time.as_ref(), "updateTime")?;
    let body = text(f.comment.as_ref());
    let language = body.as_deref().and_then(|b| detect_among(original(b), languages)).map(str::to_owned);
    let author =
        f.reviewer.filter(|r| r.is_anonymous != Some(true)).and_then(|r| text(r.display_name.as_ref()));
    let (reply_body, reply_at) = match &f.review_reply {
        Some(reply) => {
            (text(reply.comment.as_ref()), time(reply.update_time.as_ref(), "reviewReply.updateTime")?)
        }
        None => (None, None),
    };
    let entity = Review {
        platform: PLATFORM.to_owned(),
        location: Some(location.to_owned()),
        rating,
        source_rating: (!word.is_empty()).then(|| word.clone()),
        source_scale: Some(SCALE.to_owned()),
        title: None,
        body,
        language,
        author,
        customer_source_id: None,
        created_at: Some(created_at),
        updated_at,
        reply_body,
        reply_at,
        url: None,
    };
    let raw = raw_json(item.get()).map_err(|e| format!("payload: {e}"))?;
    Ok((name.clone(), Record::new(name, raw, entity)))
}

/// The reviews of one page of `location` (`accounts/{a}/locations/{l}`).
pub fn reviews(items: &[Box<RawValue>], location: &str, languages: &[String]) -> Mapped {
    let mut mapped = Mapped { page: Page::default(), updates: Vec::new(), names: Vec::new() };
    for item in items {
        let keys: Option<Fields> = serde_json::from_str(item.get()).ok();
        if let Some(at) = keys.as_ref().and_then(|k| time(k.update_time.as_ref(), "").ok().flatten()) {
            mapped.updates.push(at.timestamp_millis());
        }
        match review(item, location, languages) {
            Ok((name, record)) => {
                mapped.names.push(name);
                mapped.page.records.push(record);
            }
            Err(reason) => {
                let id = keys.and_then(|k| text(k.name.as_ref()).or_else(|| text(k.review_id.as_ref())));
                mapped.page.quarantined.push(Quarantined {
                    source_id: id,
                    raw: item.get().to_owned(),
                    reason,
                });
            }
        }
    }
    mapped
}

/// A review that disappeared from a full listing: deleted at `at`. Google keeps nothing of it,
/// so the record carries its name, platform and location only, as a tombstone: the store keeps
/// what it already holds of the review and marks it deleted.
pub fn deleted(name: &str, location: &str, at: DateTime<Utc>) -> Record {
    let raw = serde_json::json!({ "name": name }).to_string();
    let raw = raw_json(&raw).or_else(|_| raw_json("{}")).unwrap_or_else(|_| RawValue::NULL.to_owned());
    let entity =
        Review { platform: PLATFORM.to_owned(), location: Some(location.to_owned()), ..Review::default() };
    Record::tombstone(name, raw, entity, at)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use engage_model::Entity;

    use super::*;

    const PAGE1: &str = include_str!(
        "../../../engage-sandbox/fixtures/google-business-profile/reviews_list_page1_assembled.json"
    );
    const PAGE2: &str = include_str!(
        "../../../engage-sandbox/fixtures/google-business-profile/reviews_list_page2_last_assembled.json"
    );
    const LOCATION: &str = "accounts/106433552101751461082/locations/4213962870581623145";

    fn items(page: &str) -> Vec<Box<RawValue>> {
        #[derive(Deserialize)]
        struct List {
            reviews: Vec<Box<RawValue>>,
        }
        serde_json::from_str::<List>(page).unwrap().reviews
    }

    fn review_of(record: &Record) -> &Review {
        match &record.entity {
            Entity::Review(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    /// The official example's first page: star words, the reply and its time, the anonymous
    /// reviewer, nanoseconds, the translated comment kept whole and detected on its original.
    #[test]
    fn the_example_pages_map_every_field() {
        let out = reviews(&items(PAGE1), LOCATION, &[]);
        assert!(out.page.quarantined.is_empty());
        let [a, b, c] = &out.page.records[..] else { panic!() };
        assert_eq!(a.source_id, format!("{LOCATION}/reviews/AbFvOqnQ1zXlZx3r2h9pB7Wk0eTj"));
        assert_eq!(
            review_of(a),
            &Review {
                platform: "google_business".into(),
                location: Some(LOCATION.into()),
                rating: Some(5.0),
                source_rating: Some("FIVE".into()),
                source_scale: Some("ONE-FIVE".into()),
                title: None,
                body: Some("Fast service and friendly staff. Will come back!".into()),
                language: Some("en".into()),
                author: Some("Maria Lopez".into()),
                customer_source_id: None,
                created_at: Some(at("2024-05-03T17:21:09.512Z")),
                updated_at: Some(at("2024-05-04T08:02:44.101Z")),
                reply_body: Some("Thank you Maria, see you soon!".into()),
                reply_at: Some(at("2024-05-04T08:02:44.101Z")),
                url: None,
            }
        );
        let translated = review_of(b);
        assert_eq!(
            translated.body.as_deref(),
            Some(
                "(Translated by Google) Long wait, cold food.\n\n(Original)\nLange Wartezeit, kaltes Essen."
            )
        );
        // Four German words are too few to be sure of; among the languages the business
        // expects, the original (not Google's translation) decides.
        assert_eq!((translated.rating, translated.language.as_deref()), (Some(2.0), None));
        let expected: Vec<String> = vec!["en".into(), "de".into()];
        let among = reviews(&items(PAGE1), LOCATION, &expected);
        assert_eq!(review_of(&among.page.records[1]).language.as_deref(), Some("de"));
        let anonymous = review_of(c);
        assert_eq!((anonymous.author.as_deref(), anonymous.body.as_deref()), (None, None));
        assert_eq!(anonymous.created_at.unwrap().timestamp_subsec_nanos(), 45_123_456);
        assert_eq!(a.raw.get(), items(PAGE1)[0].get());
        assert_eq!(out.updates.len(), 3);
        let last = reviews(&items(PAGE2), LOCATION, &[]);
        assert_eq!(
            last.page.records.iter().map(|r| review_of(r).rating).collect::<Vec<_>>(),
            [Some(5.0), Some(5.0)]
        );
    }

    #[test]
    fn every_star_word() {
        let words = ["ONE", "TWO", "THREE", "FOUR", "FIVE", "STAR_RATING_UNSPECIFIED"];
        let got: Vec<Option<f64>> = words.iter().map(|w| stars(w).unwrap()).collect();
        assert_eq!(got, [Some(1.0), Some(2.0), Some(3.0), Some(4.0), Some(5.0), None]);
        assert_eq!(stars("SIX"), Err("starRating: `SIX` is not ONE..FIVE".into()));
    }

    #[test]
    fn malformed_reviews_are_quarantined_and_the_page_goes_on() {
        let good = items(PAGE2).remove(0);
        let six = RawValue::from_string(good.get().replace("\"FIVE\"", "\"SIX\"")).unwrap();
        let when =
            RawValue::from_string(good.get().replace("2023-11-19T15:30:12.000Z", "yesterday")).unwrap();
        let out = reviews(&[six, good.clone(), when], LOCATION, &[]);
        assert_eq!(out.page.records.len(), 1);
        let reasons: Vec<&str> = out.page.quarantined.iter().map(|q| q.reason.as_str()).collect();
        assert_eq!(
            reasons,
            ["starRating: `SIX` is not ONE..FIVE", "createTime: `yesterday` is not an RFC 3339 time"]
        );
        assert!(
            out.page.quarantined[0].source_id.as_deref().unwrap().ends_with("AbFvOqlR4vNw8Cx1Ep5Gj7Hk2Mz0")
        );
    }

    #[test]
    fn a_deletion_keeps_name_platform_and_location() {
        let t = at("2025-06-01T00:00:00Z");
        let record = deleted(&format!("{LOCATION}/reviews/x"), LOCATION, t);
        assert_eq!(record.deleted_at, Some(t));
        assert_eq!(record.raw.get(), format!(r#"{{"name":"{LOCATION}/reviews/x"}}"#));
        assert_eq!(review_of(&record).location.as_deref(), Some(LOCATION));
    }
}

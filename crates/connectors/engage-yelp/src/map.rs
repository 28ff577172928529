//! Yelp reviews → unified reviews. A review that cannot be mapped is quarantined with the reason
//! and the rest of the page goes on.

use chrono_tz::Tz;
use engage_connect::Page;
use engage_connect::language::detect_among;
use engage_model::{Quarantined, Record, Review, raw_json};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::parse_local;

/// The platform name on every review.
pub const PLATFORM: &str = "yelp";
/// Yelp's scale.
pub const SCALE: &str = "1-5";

/// A mapped page and the `time_created` of its reviews (Unix seconds, where readable).
pub struct Mapped {
    /// Records and quarantined reviews.
    pub page: Page,
    /// `time_created` of the reviews, in the order received.
    pub created: Vec<i64>,
}

#[derive(Deserialize)]
struct Fields {
    id: Option<Value>,
    rating: Option<Value>,
    user: Option<User>,
    text: Option<Value>,
    time_created: Option<Value>,
    url: Option<Value>,
}

#[derive(Deserialize)]
struct User {
    id: Option<Value>,
    name: Option<Value>,
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// The review link without Yelp's tracking parameters (`adjust_creative`, `utm_*`), which
/// change from request to request; `hrid` (the review) stays.
pub fn stable_url(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else { return url.to_owned() };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or("");
            !(key.starts_with("utm_") || key == "adjust_creative")
        })
        .collect();
    if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) }
}

fn review(item: &RawValue, business: &str, tz: Tz, languages: &[String]) -> Result<(Record, i64), String> {
    let f: Fields = serde_json::from_str(item.get()).map_err(|e| format!("review: {e}"))?;
    let id = text(f.id.as_ref()).ok_or("id: missing")?;
    let stars = match &f.rating {
        Some(Value::Number(n)) => n.as_u64().filter(|s| (1..=5).contains(s)),
        _ => None,
    }
    .ok_or_else(|| {
        format!("rating: `{}` is not 1–5", f.rating.as_ref().map_or("missing".into(), Value::to_string))
    })?;
    let created = match &f.time_created {
        Some(Value::String(s)) => {
            parse_local(s, tz).ok_or_else(|| format!("time_created: `{s}` is not YYYY-MM-DD HH:MM:SS"))?
        }
        _ => return Err("time_created: missing".into()),
    };
    let body = text(f.text.as_ref());
    let language = body.as_deref().and_then(|b| detect_among(b, languages)).map(str::to_owned);
    let (author, author_id) = match &f.user {
        Some(u) => (text(u.name.as_ref()), text(u.id.as_ref())),
        None => (None, None),
    };
    let entity = Review {
        platform: PLATFORM.to_owned(),
        location: Some(business.to_owned()),
        rating: Some(stars as f64),
        source_rating: Some(stars.to_string()),
        source_scale: Some(SCALE.to_owned()),
        title: None,
        body,
        language,
        author,
        customer_source_id: author_id,
        created_at: Some(created),
        updated_at: None,
        reply_body: None,
        reply_at: None,
        url: text(f.url.as_ref()).map(|u| stable_url(&u)),
    };
    let raw = raw_json(item.get()).map_err(|e| format!("payload: {e}"))?;
    Ok((Record::new(id, raw, entity), created.timestamp()))
}

/// The reviews of one page of `business`, times read in `tz`.
pub fn reviews(items: &[Box<RawValue>], business: &str, tz: Tz, languages: &[String]) -> Mapped {
    let mut mapped = Mapped { page: Page::default(), created: Vec::new() };
    for item in items {
        match review(item, business, tz, languages) {
            Ok((record, created)) => {
                mapped.created.push(created);
                mapped.page.records.push(record);
            }
            Err(reason) => {
                let id = serde_json::from_str::<Fields>(item.get()).ok().and_then(|f| text(f.id.as_ref()));
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{DateTime, Utc};
    use engage_model::Entity;

    use super::*;

    const EXAMPLE: &str =
        include_str!("../../../engage-sandbox/fixtures/yelp/business_reviews_docs_example.json");
    const BUSINESS: &str = "la-palma-mexicatessen-san-francisco";

    fn items() -> Vec<Box<RawValue>> {
        #[derive(Deserialize)]
        struct List {
            reviews: Vec<Box<RawValue>>,
        }
        serde_json::from_str::<List>(EXAMPLE).unwrap().reviews
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

    /// The documentation's example: stars, the excerpt kept exactly, the author, San Francisco
    /// local time, the link without tracking parameters.
    #[test]
    fn the_example_maps_every_field() {
        let sf: Tz = "America/Los_Angeles".parse().unwrap();
        let out = reviews(&items(), BUSINESS, sf, &[]);
        assert!(out.page.quarantined.is_empty());
        let first = &out.page.records[0];
        assert_eq!(first.source_id, "xAG4O7l-t1ubbwVAlPnDKg");
        assert_eq!(first.raw.get(), items()[0].get());
        assert_eq!(
            review_of(first),
            &Review {
                platform: "yelp".into(),
                location: Some(BUSINESS.into()),
                rating: Some(5.0),
                source_rating: Some("5".into()),
                source_scale: Some("1-5".into()),
                title: None,
                body: Some("Went back again to this place since the last time i visited the bay area 5 months ago, and nothing has changed. Still the sketchy Mission, Still the cashier...".into()),
                language: Some("en".into()),
                author: Some("Ella A.".into()),
                customer_source_id: Some("W8UK02IDdRS2GL_66fuq6w".into()),
                created_at: Some(at("2016-08-29T07:41:13Z")),
                updated_at: None,
                reply_body: None,
                reply_at: None,
                url: Some("https://www.yelp.com/biz/la-palma-mexicatessen-san-francisco?hrid=hp8hAJ-AnlpqxCCu7kyCWA".into()),
            }
        );
        assert_eq!(
            out.created,
            [at("2016-08-29T07:41:13Z"), at("2016-09-28T15:55:29Z"), at("2016-08-10T14:56:44Z")]
                .map(|t| t.timestamp())
        );
    }

    #[test]
    fn malformed_reviews_are_quarantined() {
        let good = items().remove(0);
        let zero = RawValue::from_string(good.get().replace("\"rating\": 5", "\"rating\": 0")).unwrap();
        let when =
            RawValue::from_string(good.get().replace("2016-08-29 00:41:13", "2016-13-45 99:99:99")).unwrap();
        let out = reviews(&[zero, when, good], BUSINESS, chrono_tz::UTC, &[]);
        assert_eq!(out.page.records.len(), 1);
        let reasons: Vec<&str> = out.page.quarantined.iter().map(|q| q.reason.as_str()).collect();
        assert_eq!(
            reasons,
            ["rating: `0` is not 1–5", "time_created: `2016-13-45 99:99:99` is not YYYY-MM-DD HH:MM:SS"]
        );
        assert_eq!(out.page.quarantined[0].source_id.as_deref(), Some("xAG4O7l-t1ubbwVAlPnDKg"));
    }
}

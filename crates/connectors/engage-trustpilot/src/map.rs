//! Trustpilot reviews → unified reviews. A review that cannot be mapped is quarantined with the
//! reason and the rest of the page goes on.

use chrono::{DateTime, Utc};
use engage_connect::Page;
use engage_connect::language::detect_among;
use engage_connect::time::parse_timestamp;
use engage_model::{Quarantined, Record, Review, raw_json};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// The platform name on every review.
pub const PLATFORM: &str = "trustpilot";
/// Trustpilot's scale.
pub const SCALE: &str = "1-5";

/// A mapped page, the `createdAt` of its reviews (Unix seconds, where readable) and the ids of
/// the reviews stored.
pub struct Mapped {
    /// Records and quarantined reviews.
    pub page: Page,
    /// `createdAt` of the reviews, in the order received.
    pub created: Vec<i64>,
    /// Ids of the reviews stored.
    pub ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fields {
    id: Option<Value>,
    consumer: Option<Consumer>,
    stars: Option<Value>,
    title: Option<Value>,
    text: Option<Value>,
    language: Option<Value>,
    created_at: Option<Value>,
    updated_at: Option<Value>,
    company_reply: Option<Reply>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Consumer {
    id: Option<Value>,
    display_name: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    text: Option<Value>,
    created_at: Option<Value>,
    updated_at: Option<Value>,
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn time(value: Option<&Value>, field: &str) -> Result<Option<DateTime<Utc>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            parse_timestamp(s).map(Some).ok_or_else(|| format!("{field}: `{s}` is not a time"))
        }
        Some(other) => Err(format!("{field}: `{other}` is not a time")),
    }
}

fn review(item: &RawValue, unit: &str, languages: &[String]) -> Result<(Record, i64), String> {
    let f: Fields = serde_json::from_str(item.get()).map_err(|e| format!("review: {e}"))?;
    let id = text(f.id.as_ref()).ok_or("id: missing")?;
    let stars = match &f.stars {
        Some(Value::Number(n)) => n.as_u64().filter(|s| (1..=5).contains(s)),
        _ => None,
    }
    .ok_or_else(|| {
        format!("stars: `{}` is not 1–5", f.stars.as_ref().map_or("missing".into(), Value::to_string))
    })?;
    let created = time(f.created_at.as_ref(), "createdAt")?.ok_or("createdAt: missing")?;
    let title = text(f.title.as_ref());
    let body = text(f.text.as_ref());
    let sample = [title.as_deref(), body.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let language = detect_among(&sample, languages).map(str::to_owned).or_else(|| text(f.language.as_ref()));
    let (reply_body, reply_at) = match &f.company_reply {
        Some(reply) => {
            let updated = time(reply.updated_at.as_ref(), "companyReply.updatedAt")?;
            let created = time(reply.created_at.as_ref(), "companyReply.createdAt")?;
            (text(reply.text.as_ref()), updated.or(created))
        }
        None => (None, None),
    };
    let (author, author_id) = match &f.consumer {
        Some(c) => (text(c.display_name.as_ref()), text(c.id.as_ref())),
        None => (None, None),
    };
    let entity = Review {
        platform: PLATFORM.to_owned(),
        location: Some(unit.to_owned()),
        rating: Some(stars as f64),
        source_rating: Some(stars.to_string()),
        source_scale: Some(SCALE.to_owned()),
        title,
        body,
        language,
        author,
        customer_source_id: author_id,
        created_at: Some(created),
        updated_at: time(f.updated_at.as_ref(), "updatedAt")?,
        reply_body,
        reply_at,
        url: Some(format!("https://www.trustpilot.com/reviews/{id}")),
    };
    let raw = raw_json(item.get()).map_err(|e| format!("payload: {e}"))?;
    Ok((Record::new(id, raw, entity), created.timestamp()))
}

/// The reviews of one page of business unit `unit`.
pub fn reviews(items: &[Box<RawValue>], unit: &str, languages: &[String]) -> Mapped {
    let mut mapped = Mapped { page: Page::default(), created: Vec::new(), ids: Vec::new() };
    for item in items {
        match review(item, unit, languages) {
            Ok((record, created)) => {
                mapped.created.push(created);
                mapped.ids.push(record.source_id.clone());
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

/// A review that disappeared from a full listing: deleted at `at`, with its id, platform and
/// business unit only, as a tombstone: the store keeps what it already holds of the review and
/// marks it deleted.
pub fn deleted(id: &str, unit: &str, at: DateTime<Utc>) -> Record {
    let raw = serde_json::json!({ "id": id }).to_string();
    let raw = raw_json(&raw).unwrap_or_else(|_| RawValue::NULL.to_owned());
    let entity =
        Review { platform: PLATFORM.to_owned(), location: Some(unit.to_owned()), ..Review::default() };
    Record::tombstone(id, raw, entity, at)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use engage_model::Entity;

    use super::*;

    const PAGE1: &str = include_str!(
        "../../../engage-sandbox/fixtures/trustpilot/business_unit_reviews_page1_assembled.json"
    );
    const DOCS: &str =
        include_str!("../../../engage-sandbox/fixtures/trustpilot/private_reviews_docs_schema_example.json");
    const UNIT: &str = "5d2b94b915dd0c0001cab136";

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

    /// The assembled first page: stars, title and text exactly, the consumer, the company reply
    /// at its `createdAt` (no `updatedAt`).
    #[test]
    fn the_example_page_maps_every_field() {
        let out = reviews(&items(PAGE1), UNIT, &[]);
        assert!(out.page.quarantined.is_empty());
        let first = &out.page.records[0];
        assert_eq!(first.raw.get(), items(PAGE1)[0].get());
        assert_eq!(
            review_of(first),
            &Review {
                platform: "trustpilot".into(),
                location: Some(UNIT.into()),
                rating: Some(1.0),
                source_rating: Some("1".into()),
                source_scale: Some("1-5".into()),
                title: Some("Waste of time".into()),
                body: Some("-Got an offer for 50% off. -No price was shown prior to booking-The App showed the driver was 12 min away. -I was charged £25. -App showed: no driver found. -Book an Uber for £10.40-No refund so far from FreeNow.".into()),
                language: Some("en".into()),
                author: Some("Beatriz Martin".into()),
                customer_source_id: Some("5d343e748c9ca11205e98599".into()),
                created_at: Some(at("2022-10-14T17:12:38Z")),
                updated_at: None,
                reply_body: Some("Hi Beatriz, we're sorry to hear this. Please contact our support team so we can look into the refund.".into()),
                reply_at: Some(at("2022-10-15T08:03:11Z")),
                url: Some("https://www.trustpilot.com/reviews/63497c66377e522e314f2434".into()),
            }
        );
        assert_eq!(review_of(&out.page.records[1]).reply_body, None);
        assert_eq!(out.ids, ["63497c66377e522e314f2434", "634862469b12f67dfee07d56"]);
    }

    /// The documentation's schema example has `stars: 0`: quarantined, with the reason.
    #[test]
    fn stars_outside_one_to_five_are_quarantined() {
        let out = reviews(&items(DOCS), UNIT, &[]);
        assert!(out.page.records.is_empty());
        assert_eq!(out.page.quarantined[0].reason, "stars: `0` is not 1–5");
        assert_eq!(out.page.quarantined[0].source_id.as_deref(), Some("1"));
        let good = items(PAGE1).remove(0);
        let bad =
            RawValue::from_string(good.get().replace("2022-10-14T17:12:38Z", "14/10/2022 17:12")).unwrap();
        let out = reviews(&[bad, good], UNIT, &[]);
        assert_eq!(out.page.records.len(), 1);
        assert_eq!(out.page.quarantined[0].reason, "createdAt: `14/10/2022 17:12` is not a time");
    }

    /// A reply edited later is dated by its `updatedAt`; zone-less documentation times are UTC.
    #[test]
    fn reply_time_prefers_the_edit() {
        let good = items(PAGE1).remove(0);
        let edited = good.get().replace(
            r#""createdAt": "2022-10-15T08:03:11Z",
        "updatedAt": null"#,
            r#""createdAt": "2022-10-15T08:03:11Z",
        "updatedAt": "2022-10-16T09:00:00""#,
        );
        assert_ne!(edited, good.get());
        let out = reviews(&[RawValue::from_string(edited).unwrap()], UNIT, &[]);
        assert_eq!(review_of(&out.page.records[0]).reply_at, Some(at("2022-10-16T09:00:00Z")));
    }
}

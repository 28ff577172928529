//! How each unified entity maps onto its table's columns: one place, used by both backends.

use std::borrow::Cow;

use engage_model::{Entity, Timestamp, normalize_email};
use rust_decimal::Decimal;

/// A typed column value; the type is kept even when the value is absent so that PostgreSQL
/// array binds know their element type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Text(Option<Cow<'a, str>>),
    Int(Option<i64>),
    Real(Option<f64>),
    Bool(bool),
    Time(Option<Timestamp>),
    Decimal(Decimal),
}

/// The entity-specific columns of `entity`, in table order, with their values.
pub(crate) fn entity_columns(entity: &Entity) -> Vec<(&'static str, Value<'_>)> {
    use Value::*;
    let s = |v: &'static str| Text(Some(Cow::Borrowed(v)));
    match entity {
        Entity::Identity(i) => vec![
            ("email", text(&i.email)),
            ("email_normalized", Text(i.email.as_deref().and_then(normalize_email).map(Cow::Owned))),
            ("phone", text(&i.phone)),
            ("name", text(&i.name)),
            ("created_at", Time(i.created_at)),
            ("updated_at", Time(i.updated_at)),
        ],
        Entity::Ticket(t) => vec![
            ("customer_source_id", text(&t.customer_source_id)),
            ("customer_email", text(&t.customer_email)),
            ("subject", text(&t.subject)),
            ("channel", text(&t.channel)),
            ("status", text(&t.status)),
            ("priority", text(&t.priority)),
            ("created_at", Time(t.created_at)),
            ("updated_at", Time(t.updated_at)),
            ("first_reply_at", Time(t.first_reply_at)),
            ("solved_at", Time(t.solved_at)),
            ("first_reply_minutes", Real(t.first_reply_minutes)),
            ("first_resolution_minutes", Real(t.first_resolution_minutes)),
            ("full_resolution_minutes", Real(t.full_resolution_minutes)),
            ("reopens", Int(t.reopens)),
            ("replies", Int(t.replies)),
            ("satisfaction", text(&t.satisfaction)),
        ],
        Entity::Review(r) => vec![
            ("platform", text_str(&r.platform)),
            ("location", text(&r.location)),
            ("rating", Real(r.rating)),
            ("source_rating", text(&r.source_rating)),
            ("source_scale", text(&r.source_scale)),
            ("title", text(&r.title)),
            ("body", text(&r.body)),
            ("language", text(&r.language)),
            ("author", text(&r.author)),
            ("customer_source_id", text(&r.customer_source_id)),
            ("created_at", Time(r.created_at)),
            ("updated_at", Time(r.updated_at)),
            ("reply_body", text(&r.reply_body)),
            ("reply_at", Time(r.reply_at)),
            ("url", text(&r.url)),
        ],
        Entity::EmailCampaign(c) => vec![
            ("platform", text_str(&c.platform)),
            ("name", text(&c.name)),
            ("subject", text(&c.subject)),
            ("sent_at", Time(c.sent_at)),
            ("recipients", Int(c.recipients)),
            ("hard_bounces", Int(c.hard_bounces)),
            ("soft_bounces", Int(c.soft_bounces)),
            ("unique_opens", Int(c.unique_opens)),
            ("unique_opens_human", Int(c.unique_opens_human)),
            ("total_opens", Int(c.total_opens)),
            ("unique_clickers", Int(c.unique_clickers)),
            ("unique_clicks", Int(c.unique_clicks)),
            ("total_clicks", Int(c.total_clicks)),
            ("unsubscribes", Int(c.unsubscribes)),
            ("spam_reports", Int(c.spam_reports)),
        ],
        Entity::EmailEvent(e) => vec![
            ("platform", text_str(&e.platform)),
            ("campaign_source_id", text(&e.campaign_source_id)),
            ("email", text(&e.email)),
            ("customer_source_id", text(&e.customer_source_id)),
            ("kind", s(e.kind.as_str())),
            ("occurred_at", Time(e.occurred_at)),
            ("machine_open", Bool(e.machine_open)),
            ("url", text(&e.url)),
            ("bounce_type", text(&e.bounce_type)),
        ],
        Entity::SurveyResponse(r) => vec![
            ("platform", text_str(&r.platform)),
            ("survey_id", text(&r.survey_id)),
            ("question", text(&r.question)),
            ("kind", s(r.kind.as_str())),
            ("score", Real(r.score)),
            ("scale_min", Real(r.scale_min)),
            ("scale_max", Real(r.scale_max)),
            ("comment", text(&r.comment)),
            ("customer_source_id", text(&r.customer_source_id)),
            ("customer_email", text(&r.customer_email)),
            ("answered_at", Time(r.answered_at)),
        ],
        Entity::Order(o) => vec![
            ("platform", text_str(&o.platform)),
            ("customer_source_id", text(&o.customer_source_id)),
            ("customer_email", text(&o.customer_email)),
            ("created_at", Time(o.created_at)),
            ("updated_at", Time(o.updated_at)),
            ("currency", text(&o.currency)),
            ("total", Decimal(o.total)),
            ("refunded", Decimal(o.refunded)),
            ("item_count", Int(o.item_count)),
            ("guest", Bool(o.guest)),
            ("cancelled_at", Time(o.cancelled_at)),
            ("financial_status", text(&o.financial_status)),
        ],
        Entity::Interaction(i) => vec![
            ("customer_source_id", text(&i.customer_source_id)),
            ("customer_email", text(&i.customer_email)),
            ("channel", s(i.channel.as_str())),
            ("kind", text_str(&i.kind)),
            ("occurred_at", Time(i.occurred_at)),
            ("value", Real(i.value)),
            (
                "customer_email_normalized",
                Text(i.customer_email.as_deref().and_then(normalize_email).map(Cow::Owned)),
            ),
        ],
    }
}

fn text(value: &Option<String>) -> Value<'_> {
    Value::Text(value.as_deref().map(Cow::Borrowed))
}

fn text_str(value: &str) -> Value<'_> {
    Value::Text(Some(Cow::Borrowed(value)))
}

/// Formats a timestamp the way the SQLite store keeps it: fixed-width RFC 3339 in UTC with
/// microseconds, so text order is time order and SQLite's date functions read it.
pub(crate) fn sqlite_time(ts: &Timestamp) -> String {
    use chrono::{Datelike, Timelike};
    let micros = ts.timestamp_subsec_micros().min(999_999);
    let year = ts.year();
    if !(0..=9999).contains(&year) {
        return format!(
            "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            ts.month(),
            ts.day(),
            ts.hour(),
            ts.minute(),
            ts.second(),
        );
    }
    // Written digit by digit: this runs for every timestamp of every committed record.
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut value: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year as u32);
    put(5, 2, ts.month());
    put(8, 2, ts.day());
    put(11, 2, ts.hour());
    put(14, 2, ts.minute());
    put(17, 2, ts.second());
    put(20, 6, micros);
    out.iter().map(|&b| b as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_time_is_fixed_width_utc() {
        let ts = chrono::DateTime::from_timestamp(1_700_000_000, 1_500).unwrap();
        assert_eq!(sqlite_time(&ts), "2023-11-14T22:13:20.000001Z");
        let leap_second = chrono::DateTime::from_timestamp(1_483_228_799, 1_500_000_000).unwrap();
        assert_eq!(sqlite_time(&leap_second), "2016-12-31T23:59:59.999999Z");
        let early = chrono::DateTime::from_timestamp(-62_135_596_800 + 86_400 * 40 + 3_723, 7_000).unwrap();
        assert_eq!(sqlite_time(&early), "0001-02-10T01:02:03.000007Z");
        let far = chrono::DateTime::from_timestamp(253_402_300_800, 0).unwrap();
        assert_eq!(sqlite_time(&far), "10000-01-01T00:00:00.000000Z");
    }
}

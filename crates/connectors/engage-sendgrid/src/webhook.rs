//! SendGrid's Event Webhook: signature verification and batch parsing (no I/O; the
//! `engage-webhooks` crate serves the endpoint and writes the records).
//!
//! SendGrid POSTs a JSON array of events. When the signed webhook is on, it signs the
//! `X-Twilio-Email-Event-Webhook-Timestamp` header followed by the raw body with ECDSA P-256 and
//! SHA-256, and sends the base64 DER signature in `X-Twilio-Email-Event-Webhook-Signature`; the
//! verification key it shows is the base64 DER (SubjectPublicKeyInfo) public key.
//!
//! Each event becomes an [`EmailEvent`] record. Delivery is at least once, so the record's source
//! id is the event's `sg_event_id` — qualified by the event type, and by the bounce type for
//! bounces ([`event_id`]): a redelivered event repeats all three and lands on the same record,
//! while SendGrid's own documentation examples, which reuse one id across event types, stay
//! distinct events. An event without `sg_event_id`, `event` or a valid `timestamp`, or with a
//! `category` that is neither a string nor a list of strings, is quarantined with the reason.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use engage_model::{EmailEvent, EmailEventKind, Quarantined, Record, raw_json};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The header carrying the base64 DER ECDSA signature.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Email-Event-Webhook-Signature";
/// The header carrying the signed timestamp.
pub const TIMESTAMP_HEADER: &str = "X-Twilio-Email-Event-Webhook-Timestamp";
/// The stream webhook events are stored under.
pub const EVENTS_STREAM: &str = "events";
/// The longest `sg_event_id` SendGrid sends.
pub const MAX_EVENT_ID: usize = 100;

/// The Event Webhook's verification key (a P-256 public key). Never printed.
#[derive(Clone)]
pub struct VerificationKey(VerifyingKey);

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerificationKey(..)")
    }
}

/// Why a verification key could not be read (the key itself is never part of the message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Not base64.
    Base64,
    /// Not a DER P-256 public key.
    Der,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyError::Base64 => "the verification key is not base64",
            KeyError::Der => "the verification key is not a DER-encoded P-256 public key",
        })
    }
}

impl std::error::Error for KeyError {}

/// Why a batch's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// The signature or timestamp header is absent.
    Missing,
    /// The signature is not base64 DER.
    Malformed,
    /// The signature does not match the timestamp and body.
    Mismatch,
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureError::Missing => "the signature or timestamp header is missing",
            SignatureError::Malformed => "the signature is not a base64 DER ECDSA signature",
            SignatureError::Mismatch => "the signature does not match the timestamp and body",
        })
    }
}

impl std::error::Error for SignatureError {}

impl VerificationKey {
    /// Reads the key as SendGrid shows it: base64 of the DER public key (surrounding spaces and
    /// PEM armour lines are ignored).
    pub fn from_base64_der(text: &str) -> Result<Self, KeyError> {
        let body: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("-----"))
            .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
            .collect();
        let der = STANDARD.decode(body).map_err(|_| KeyError::Base64)?;
        VerifyingKey::from_public_key_der(&der).map(VerificationKey).map_err(|_| KeyError::Der)
    }

    /// Checks `signature` (base64 DER) over `timestamp` followed by the raw `body`.
    pub fn verify(&self, timestamp: &str, body: &[u8], signature: &str) -> Result<(), SignatureError> {
        let der = STANDARD.decode(signature.trim()).map_err(|_| SignatureError::Malformed)?;
        let signature = Signature::from_der(&der).map_err(|_| SignatureError::Malformed)?;
        // (r, s) and (r, n − s) are the same signature; the verifier wants the low-s form.
        let signature = signature.normalize_s().unwrap_or(signature);
        let mut message = Vec::with_capacity(timestamp.len() + body.len());
        message.extend_from_slice(timestamp.as_bytes());
        message.extend_from_slice(body);
        self.0.verify(&message, &signature).map_err(|_| SignatureError::Mismatch)
    }
}

/// A batch that is not a JSON array of events: rejected whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchError(pub String);

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an Event Webhook batch: {}", self.0)
    }
}

impl std::error::Error for BatchError {}

/// The records and quarantined events of one batch.
#[derive(Debug, Default)]
pub struct Batch {
    /// One email event per well-formed event.
    pub records: Vec<Record>,
    /// Events that could not be mapped, with the reason.
    pub quarantined: Vec<Quarantined>,
}

/// The source id of an event: `sg_event_id`, then the event type, then the bounce type for
/// bounces (`ID/bounce/blocked`).
pub fn event_id(sg_event_id: &str, event: &str, bounce_type: Option<&str>) -> String {
    match bounce_type {
        Some(t) => format!("{sg_event_id}/{event}/{t}"),
        None => format!("{sg_event_id}/{event}"),
    }
}

fn kind(event: &str) -> EmailEventKind {
    match event {
        "processed" => EmailEventKind::Processed,
        "delivered" => EmailEventKind::Delivered,
        "open" => EmailEventKind::Open,
        "click" => EmailEventKind::Click,
        "bounce" => EmailEventKind::Bounce,
        "dropped" => EmailEventKind::Dropped,
        "deferred" => EmailEventKind::Deferred,
        "spamreport" => EmailEventKind::SpamReport,
        "unsubscribe" | "group_unsubscribe" => EmailEventKind::Unsubscribe,
        _ => EmailEventKind::Other,
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The event's categories: `category` is a string or a list of strings (absent: none).
pub fn categories(event: &Map<String, Value>) -> Result<Vec<String>, String> {
    match event.get("category") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| format!("category: `{v}` is not a string")))
            .collect(),
        Some(other) => Err(format!("category: `{other}` is neither a string nor a list")),
    }
}

/// Maps one event object; on failure, the id when it could be formed and the reason.
pub fn event(object: &Map<String, Value>) -> Result<(String, EmailEvent), (Option<String>, String)> {
    let sg_event_id = match object.get("sg_event_id") {
        Some(Value::String(id)) if !id.is_empty() && id.len() <= MAX_EVENT_ID => id.clone(),
        Some(Value::String(id)) if !id.is_empty() => {
            return Err((None, format!("sg_event_id: longer than {MAX_EVENT_ID} characters")));
        }
        _ => return Err((None, "sg_event_id: missing (events are deduplicated on it)".to_owned())),
    };
    let name = match object.get("event") {
        Some(Value::String(e)) if !e.is_empty() => e.clone(),
        _ => return Err((Some(sg_event_id), "event: missing".to_owned())),
    };
    let bounce_type = if name == "bounce" { text(object.get("type")) } else { None };
    let id = event_id(&sg_event_id, &name, bounce_type.as_deref());
    let fail = |reason: String| (Some(id.clone()), reason);
    let occurred_at = match object.get("timestamp") {
        Some(Value::Number(n)) => match n.as_i64().and_then(engage_connect::time::unix_any) {
            Some(t) => t,
            None => return Err(fail(format!("timestamp: `{n}` is not a Unix time"))),
        },
        Some(other) => return Err(fail(format!("timestamp: `{other}` is not a Unix time"))),
        None => return Err(fail("timestamp: missing".to_owned())),
    };
    let categories = categories(object).map_err(fail)?;
    let machine_open = match object.get("sg_machine_open") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(fail(format!("sg_machine_open: `{other}` is not a boolean"))),
    };
    let campaign = text(object.get("marketing_campaign_id")).or_else(|| categories.first().cloned());
    let event = EmailEvent {
        platform: "sendgrid".to_owned(),
        campaign_source_id: campaign,
        email: text(object.get("email")),
        customer_source_id: None,
        kind: kind(&name),
        occurred_at: Some(occurred_at),
        machine_open: name == "open" && machine_open,
        url: if name == "click" { text(object.get("url")) } else { None },
        bounce_type,
    };
    Ok((id, event))
}

/// Parses a batch: the body must be a JSON array (else the whole batch is refused); each
/// element becomes a record, or is quarantined with the reason. A later duplicate of an event
/// in the same batch is dropped here (the store would keep one anyway).
pub fn parse_batch(body: &[u8]) -> Result<Batch, BatchError> {
    let items: Vec<Box<RawValue>> = serde_json::from_slice(body).map_err(|e| BatchError(e.to_string()))?;
    let mut batch = Batch::default();
    let mut seen = std::collections::HashSet::new();
    for raw in items {
        let object = match serde_json::from_str::<Value>(raw.get()) {
            Ok(Value::Object(object)) => object,
            Ok(_) | Err(_) => {
                batch.quarantined.push(Quarantined {
                    source_id: None,
                    raw: raw.get().to_owned(),
                    reason: "event: not an object".to_owned(),
                });
                continue;
            }
        };
        match event(&object) {
            Ok((id, event)) => {
                if !seen.insert(id.clone()) {
                    continue;
                }
                match raw_json(raw.get()) {
                    Ok(payload) => batch.records.push(Record::new(id, payload, event)),
                    Err(e) => batch.quarantined.push(Quarantined {
                        source_id: Some(id),
                        raw: raw.get().to_owned(),
                        reason: format!("payload: {e}"),
                    }),
                }
            }
            Err((source_id, reason)) => {
                batch.quarantined.push(Quarantined { source_id, raw: raw.get().to_owned(), reason })
            }
        }
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use engage_model::Entity;
    use engage_sandbox::sendgrid::{WEBHOOK_ALL_TYPES, WEBHOOK_MARKETING, WEBHOOK_PER_TYPE};

    fn events(batch: &Batch) -> Vec<(&str, &EmailEvent)> {
        batch
            .records
            .iter()
            .map(|r| match &r.entity {
                Entity::EmailEvent(e) => (r.source_id.as_str(), e),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn official_batch_of_all_types_keeps_every_event() {
        let batch = parse_batch(WEBHOOK_ALL_TYPES.as_bytes()).unwrap();
        assert!(batch.quarantined.is_empty());
        let e = events(&batch);
        let ids: Vec<&str> = e.iter().map(|(id, _)| *id).collect();
        assert_eq!(
            ids,
            [
                "sg_event_id/processed",
                "sg_event_id/deferred",
                "sg_event_id/delivered",
                "sg_event_id/open",
                "sg_event_id/click",
                "sg_event_id/bounce",
                "sg_event_id/dropped",
                "sg_event_id/spamreport",
                "sg_event_id/unsubscribe",
                "sg_event_id/group_unsubscribe",
                "sg_event_id/group_resubscribe",
            ]
        );
        let kinds: Vec<&str> = e.iter().map(|(_, e)| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "processed",
                "deferred",
                "delivered",
                "open",
                "click",
                "bounce",
                "dropped",
                "spam_report",
                "unsubscribe",
                "unsubscribe",
                "other"
            ]
        );
        let click = e[4].1;
        assert_eq!(click.url.as_deref(), Some("http://www.sendgrid.com/"));
        assert_eq!(click.email.as_deref(), Some("example@test.com"));
        assert_eq!(click.campaign_source_id.as_deref(), Some("cat facts"));
        assert_eq!(click.occurred_at.map(|t| t.timestamp()), Some(1_513_299_569));
        assert!(!e[3].1.machine_open);
        // Raw payloads are the events verbatim.
        let official: Value = serde_json::from_str(WEBHOOK_ALL_TYPES).unwrap();
        let raw: Value = serde_json::from_str(batch.records[4].raw.get()).unwrap();
        assert_eq!(raw, official[4]);
    }

    #[test]
    fn bounce_types_and_array_categories() {
        let per_type = parse_batch(WEBHOOK_PER_TYPE.as_bytes()).unwrap();
        let e = events(&per_type);
        assert_eq!(e.len(), 12);
        let bounces: Vec<(&str, Option<&str>)> = e
            .iter()
            .filter(|(_, e)| e.kind == EmailEventKind::Bounce)
            .map(|(id, e)| (*id, e.bounce_type.as_deref()))
            .collect();
        assert_eq!(
            bounces,
            [
                ("6g4ZI7SA-xmRDv57GoPIPw==/bounce/bounce", Some("bounce")),
                ("6g4ZI7SA-xmRDv57GoPIPw==/bounce/blocked", Some("blocked"))
            ]
        );
        let marketing = parse_batch(WEBHOOK_MARKETING.as_bytes()).unwrap();
        let e = events(&marketing);
        let ids: Vec<&str> = e.iter().map(|(id, _)| *id).collect();
        assert_eq!(
            ids,
            [
                "sendgrid_internal_event_id/processed",
                "qNOzbkTuTNCdxa1eXEpnXg/processed",
                "X2M1IUfMRhuAhWM0CbmFqQ/delivered",
                "sendgrid_internal_event_id/click"
            ]
        );
        assert_eq!(e[0].1.campaign_source_id.as_deref(), Some("12345"));
        // category ["category1", "category2"], no campaign id: the first category.
        assert_eq!(e[3].1.campaign_source_id.as_deref(), Some("category1"));
        // The legacy example without sg_event_id cannot be deduplicated: quarantined.
        assert_eq!(marketing.quarantined.len(), 1);
        assert_eq!(marketing.quarantined[0].reason, "sg_event_id: missing (events are deduplicated on it)");
    }

    #[test]
    fn machine_opens_duplicates_and_bad_events() {
        let body = br#"[
            {"sg_event_id":"a","event":"open","timestamp":1700000000,"email":"x@example.com","sg_machine_open":true},
            {"sg_event_id":"a","event":"open","timestamp":1700000000,"email":"x@example.com","sg_machine_open":true},
            {"sg_event_id":"b","event":"open","timestamp":1700000001,"sg_machine_open":false},
            {"sg_event_id":"c","event":"click","timestamp":"yesterday"},
            {"sg_event_id":"d","event":"click","timestamp":1700000002,"category":{"a":1}},
            {"event":"open","timestamp":1700000003},
            42
        ]"#;
        let batch = parse_batch(body).unwrap();
        let e = events(&batch);
        assert_eq!(
            e.iter().map(|(id, e)| (*id, e.machine_open)).collect::<Vec<_>>(),
            [("a/open", true), ("b/open", false)]
        );
        let reasons: Vec<(Option<&str>, &str)> =
            batch.quarantined.iter().map(|q| (q.source_id.as_deref(), q.reason.as_str())).collect();
        assert_eq!(
            reasons,
            [
                (Some("c/click"), "timestamp: `\"yesterday\"` is not a Unix time"),
                (Some("d/click"), "category: `{\"a\":1}` is neither a string nor a list"),
                (None, "sg_event_id: missing (events are deduplicated on it)"),
                (None, "event: not an object"),
            ]
        );
        assert_eq!(
            parse_batch(b"{\"event\":\"open\"}").unwrap_err().0,
            "invalid type: map, expected a sequence at line 1 column 0"
        );
        assert!(parse_batch(b"[{\"sg_event_id\":").is_err());
    }

    #[test]
    fn signatures_verify_over_timestamp_and_body() {
        use p256::ecdsa::SigningKey;
        use p256::ecdsa::signature::Signer;
        use p256::pkcs8::EncodePublicKey;
        let signing = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let der = signing.verifying_key().to_public_key_der().unwrap();
        let key = VerificationKey::from_base64_der(&STANDARD.encode(der.as_bytes())).unwrap();
        let body = br#"[{"sg_event_id":"a"}]"#;
        let sign = |message: &[u8]| {
            let signature: Signature = signing.sign(message);
            STANDARD.encode(signature.to_der().as_bytes())
        };
        let good = sign(b"1700000000[{\"sg_event_id\":\"a\"}]");
        assert_eq!(key.verify("1700000000", body, &good), Ok(()));
        assert_eq!(key.verify("1700000001", body, &good), Err(SignatureError::Mismatch));
        assert_eq!(key.verify("1700000000", b"[]", &good), Err(SignatureError::Mismatch));
        assert_eq!(key.verify("1700000000", body, "not base64!"), Err(SignatureError::Malformed));
        assert_eq!(VerificationKey::from_base64_der("%%%").unwrap_err(), KeyError::Base64);
        assert_eq!(VerificationKey::from_base64_der("AAAA").unwrap_err(), KeyError::Der);
        assert_eq!(format!("{key:?}"), "VerificationKey(..)");
    }
}

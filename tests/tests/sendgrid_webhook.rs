//! The SendGrid Event Webhook receiver (`engage-webhooks`) over real HTTP on 127.0.0.1, writing to
//! SQLite and PostgreSQL: the official batch fixtures posted twice and concurrently are stored
//! exactly once; a bad signature is refused with 403 and writes nothing; a malformed batch gets 400
//! and loses nothing stored before; an oversized body gets 413.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use engage_model::{EmailEventKind, Entity, EntityKind};
use engage_sandbox::sendgrid::{WEBHOOK_ALL_TYPES, WEBHOOK_MARKETING, WEBHOOK_PER_TYPE};
use engage_sendgrid::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, VerificationKey};
use engage_store::testing::{TestStore, fresh_store};
use engage_store::{Backend, ReadFilter, query_read_only};
use engage_webhooks::{SendGridReceiver, WebhookConfig};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey;
use rand::{RngCore, SeedableRng};
use serde_json::Value;

const SIGNED: &str = "sendgrid-signed";
const UNSIGNED: &str = "sendgrid-unsigned";
const MAX_BODY: usize = 64 * 1024;

/// A fresh P-256 key from the operating system's randomness.
fn generate_key() -> SigningKey {
    let mut rng = rand::rngs::StdRng::from_os_rng();
    loop {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        if let Ok(key) = SigningKey::from_slice(&bytes) {
            return key;
        }
    }
}

/// SendGrid's verification key text for `key`: base64 of the DER public key.
fn verification_key(key: &SigningKey) -> String {
    STANDARD.encode(key.verifying_key().to_public_key_der().unwrap().as_bytes())
}

/// The signature SendGrid sends: base64 DER ECDSA over the timestamp then the body.
fn sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
    let mut message = timestamp.as_bytes().to_vec();
    message.extend_from_slice(body);
    let signature: Signature = key.sign(&message);
    STANDARD.encode(signature.to_der().as_bytes())
}

struct Receiver {
    base: String,
    key: SigningKey,
    client: reqwest::Client,
    store: TestStore,
}

impl Receiver {
    async fn start(backend: Backend) -> Receiver {
        let store = fresh_store(backend).await;
        let key = generate_key();
        let config = WebhookConfig {
            sendgrid: vec![
                SendGridReceiver {
                    connection: SIGNED.to_owned(),
                    key: Some(VerificationKey::from_base64_der(&verification_key(&key)).unwrap()),
                },
                SendGridReceiver { connection: UNSIGNED.to_owned(), key: None },
            ],
            max_body_bytes: MAX_BODY,
        };
        let app = engage_webhooks::router(store.store.clone(), config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { base, key, client: reqwest::Client::new(), store }
    }

    /// Posts `body` to `connection`, with the signature of `signer` over `signed_body` when given.
    async fn post_with(
        &self,
        connection: &str,
        body: &[u8],
        signature: Option<(&SigningKey, &[u8])>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .post(format!("{}/webhooks/sendgrid/{connection}", self.base))
            .header("Content-Type", "application/json")
            .body(body.to_vec());
        if let Some((key, signed_body)) = signature {
            let timestamp = "1700000000";
            request = request
                .header(TIMESTAMP_HEADER, timestamp)
                .header(SIGNATURE_HEADER, sign(key, timestamp, signed_body));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Posts `body` to the signed connection, correctly signed.
    async fn post_signed(&self, body: &[u8]) -> (u16, Value) {
        self.post_with(SIGNED, body, Some((&self.key, body))).await
    }

    async fn ids(&self, connection: &str) -> Vec<String> {
        let sql = format!(
            "SELECT source_id FROM email_events WHERE connection = '{connection}' AND stream = 'events' ORDER BY source_id"
        );
        let rows = query_read_only(&self.store.url, &sql).await.unwrap().rows;
        rows.into_iter().map(|r| r[0].as_str().unwrap().to_owned()).collect()
    }

    async fn quarantined(&self, connection: &str) -> Vec<(Option<String>, String)> {
        let sql = format!(
            "SELECT source_id, reason FROM quarantine WHERE connection = '{connection}' AND stream = 'events' ORDER BY reason"
        );
        let rows = query_read_only(&self.store.url, &sql).await.unwrap().rows;
        rows.into_iter()
            .map(|r| (r[0].as_str().map(str::to_owned), r[1].as_str().unwrap().to_owned()))
            .collect()
    }
}

/// Every event of the three official batches, by its stored id: `sg_event_id` qualified by the
/// event type (and a bounce's type), since the docs' examples reuse ids across event types. The
/// marketing batch's legacy event without `sg_event_id` is quarantined instead.
fn official_ids() -> BTreeSet<String> {
    let all_types = [
        "processed",
        "deferred",
        "delivered",
        "open",
        "click",
        "bounce",
        "dropped",
        "spamreport",
        "unsubscribe",
        "group_unsubscribe",
        "group_resubscribe",
    ]
    .map(|e| format!("sg_event_id/{e}"));
    let per_type = [
        "rbtnWrG1DVDGGGFHFyun0A==/processed",
        "zmzJhfJgAfUSOW80yEbPyw==/dropped",
        "rWVYmVk90MjZJ9iohOBa3w==/delivered",
        "t7LEShmowp86DTdUW8M-GQ==/deferred",
        "6g4ZI7SA-xmRDv57GoPIPw==/bounce/bounce",
        "6g4ZI7SA-xmRDv57GoPIPw==/bounce/blocked",
        "FOTFFO0ecsBE-zxFXfs6WA==/open",
        "kCAi1KttyQdEKHhdC-nuEA==/click",
        "37nvH5QBz858KGVYCM4uOA==/spamreport",
        "zz_BjPgU_5pS-J8vlfB1sg==/unsubscribe",
        "ahSCB7xYcXFb-hEaawsPRw==/group_unsubscribe",
        "w_u0vJhLT-OFfprar5N93g==/group_resubscribe",
    ];
    let marketing = [
        "sendgrid_internal_event_id/processed",
        "qNOzbkTuTNCdxa1eXEpnXg/processed",
        "X2M1IUfMRhuAhWM0CbmFqQ/delivered",
        "sendgrid_internal_event_id/click",
    ];
    all_types.into_iter().chain(per_type.map(str::to_owned)).chain(marketing.map(str::to_owned)).collect()
}

const LEGACY_REASON: &str = "sg_event_id: missing (events are deduplicated on it)";

async fn official_batches_twice_and_concurrently_are_stored_once(backend: Backend) {
    let r = Receiver::start(backend).await;
    let batches = [WEBHOOK_ALL_TYPES, WEBHOOK_PER_TYPE, WEBHOOK_MARKETING];
    // Every batch twice, all six posts at once.
    let posts = batches.iter().chain(batches.iter()).map(|b| r.post_signed(b.as_bytes()));
    let answers = futures::future::join_all(posts).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
    }
    let expected = official_ids();
    assert_eq!(expected.len(), 27);
    let stored = r.ids(SIGNED).await;
    assert_eq!(stored.len(), 27, "each event exactly once: {stored:?}");
    assert_eq!(stored.into_iter().collect::<BTreeSet<_>>(), expected);
    assert_eq!(r.quarantined(SIGNED).await, [(None, LEGACY_REASON.to_owned())]);

    // A third delivery, after the others: nothing new to write.
    let (status, body) = r.post_signed(WEBHOOK_PER_TYPE.as_bytes()).await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({ "events": 12, "written": 0, "unchanged": 12, "quarantined": 0 }));
    assert_eq!(r.ids(SIGNED).await.len(), 27);

    // The events as stored: kinds, the click's URL, the bounce types, raw payloads verbatim.
    let stored = r.store.store.read_entities(EntityKind::EmailEvent, &ReadFilter::default()).await.unwrap();
    let find = |id: &str| stored.iter().find(|s| s.source_id == id).unwrap();
    let Entity::EmailEvent(click) = &find("kCAi1KttyQdEKHhdC-nuEA==/click").entity else { panic!() };
    assert_eq!(click.kind, EmailEventKind::Click);
    assert_eq!(click.url.as_deref(), Some("http://www.sendgrid.com/"));
    assert_eq!(click.email.as_deref(), Some("example@test.com"));
    assert_eq!(click.campaign_source_id.as_deref(), Some("cat facts"));
    assert_eq!(click.occurred_at.map(|t| t.timestamp()), Some(1_513_299_569));
    let Entity::EmailEvent(blocked) = &find("6g4ZI7SA-xmRDv57GoPIPw==/bounce/blocked").entity else {
        panic!()
    };
    assert_eq!((blocked.kind, blocked.bounce_type.as_deref()), (EmailEventKind::Bounce, Some("blocked")));
    let Entity::EmailEvent(ab) = &find("qNOzbkTuTNCdxa1eXEpnXg/processed").entity else { panic!() };
    assert_eq!(ab.campaign_source_id.as_deref(), Some("23314"));
    let Entity::EmailEvent(arrays) = &find("sendgrid_internal_event_id/click").entity else { panic!() };
    assert_eq!(arrays.campaign_source_id.as_deref(), Some("category1"));
    let raw = query_read_only(
        &r.store.url,
        &format!("SELECT raw FROM email_events WHERE connection = '{SIGNED}' AND source_id = 'sendgrid_internal_event_id/click'"),
    )
    .await
    .unwrap()
    .rows;
    let raw: Value = match &raw[0][0] {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    };
    let official: Value = serde_json::from_str(WEBHOOK_MARKETING).unwrap();
    assert_eq!(raw, official[3], "custom args and the category array kept in the raw payload");

    // Machine opens keep their flag.
    let machine = br#"[{"sg_event_id":"mpp-1","event":"open","timestamp":1700000100,"email":"a@example.com","sg_machine_open":true},
                       {"sg_event_id":"human-1","event":"open","timestamp":1700000101,"email":"a@example.com","sg_machine_open":false}]"#;
    assert_eq!(r.post_signed(machine).await.0, 200);
    let stored = r.store.store.read_entities(EntityKind::EmailEvent, &ReadFilter::default()).await.unwrap();
    let flags: Vec<(&str, bool)> = stored
        .iter()
        .filter_map(|s| match &s.entity {
            Entity::EmailEvent(e) if s.source_id.ends_with("-1/open") => {
                Some((s.source_id.as_str(), e.machine_open))
            }
            _ => None,
        })
        .collect();
    let mut flags = flags;
    flags.sort();
    assert_eq!(flags, [("human-1/open", false), ("mpp-1/open", true)]);

    // A connection without a verification key takes unsigned batches.
    let (status, _) = r.post_with(UNSIGNED, WEBHOOK_ALL_TYPES.as_bytes(), None).await;
    assert_eq!(status, 200);
    assert_eq!(r.ids(UNSIGNED).await.len(), 11);
    assert_eq!(r.post_with("nobody", WEBHOOK_ALL_TYPES.as_bytes(), None).await.0, 404);
}

async fn bad_signatures_are_refused_and_write_nothing(backend: Backend) {
    let r = Receiver::start(backend).await;
    assert_eq!(r.post_signed(WEBHOOK_ALL_TYPES.as_bytes()).await.0, 200);
    let before = r.ids(SIGNED).await;
    assert_eq!(before.len(), 11);
    let batch = WEBHOOK_PER_TYPE.as_bytes();
    // Signed by another key.
    let other = generate_key();
    let (status, body) = r.post_with(SIGNED, batch, Some((&other, batch))).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "the signature does not match the timestamp and body");
    // Signed correctly, then altered in transit.
    let altered = WEBHOOK_PER_TYPE.replace("example@test.com", "attacker@example.com");
    let (status, _) = r.post_with(SIGNED, altered.as_bytes(), Some((&r.key, batch))).await;
    assert_eq!(status, 403);
    // No signature at all.
    let (status, body) = r.post_with(SIGNED, batch, None).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("the signature or timestamp header is missing")));
    // A signature that is not base64 DER.
    let response = r
        .client
        .post(format!("{}/webhooks/sendgrid/{SIGNED}", r.base))
        .header(TIMESTAMP_HEADER, "1700000000")
        .header(SIGNATURE_HEADER, "bm90IGEgc2lnbmF0dXJl")
        .body(batch.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    // Nothing of any refused batch was written, not even to quarantine.
    assert_eq!(r.ids(SIGNED).await, before);
    assert!(r.quarantined(SIGNED).await.is_empty());
    let counts = query_read_only(
        &r.store.url,
        "SELECT (SELECT COUNT(*) FROM email_events), (SELECT COUNT(*) FROM quarantine)",
    )
    .await
    .unwrap()
    .rows;
    assert_eq!(counts[0], [serde_json::json!(11), serde_json::json!(0)]);
}

async fn malformed_batches_get_400_and_lose_nothing(backend: Backend) {
    let r = Receiver::start(backend).await;
    for batch in [WEBHOOK_ALL_TYPES, WEBHOOK_PER_TYPE] {
        assert_eq!(r.post_signed(batch.as_bytes()).await.0, 200);
    }
    let before = r.ids(SIGNED).await;
    assert_eq!(before.len(), 23);
    // Correctly signed, but cut off mid-array: not a batch.
    let truncated = &WEBHOOK_MARKETING.as_bytes()[..WEBHOOK_MARKETING.len() / 2];
    let (status, body) = r.post_signed(truncated).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().starts_with("not an Event Webhook batch: "), "{body}");
    // An object where SendGrid sends an array.
    let (status, _) = r.post_signed(br#"{"sg_event_id":"x","event":"open","timestamp":1700000000}"#).await;
    assert_eq!(status, 400);
    // Not JSON at all.
    assert_eq!(r.post_signed(b"event=open").await.0, 400);
    // Nothing lost, nothing of the malformed batches written.
    assert_eq!(r.ids(SIGNED).await, before);
    assert!(r.quarantined(SIGNED).await.is_empty());
    // A body over the limit is refused before it is read whole.
    let event = r#"{"sg_event_id":"big","event":"processed","timestamp":1700000000},"#;
    let big = format!(
        "[{}{}]",
        event.repeat(MAX_BODY / event.len() + 1),
        r#"{"sg_event_id":"end","event":"processed","timestamp":1700000000}"#
    );
    assert!(big.len() > MAX_BODY);
    assert_eq!(r.post_signed(big.as_bytes()).await.0, 413);
    assert_eq!(r.ids(SIGNED).await, before);
    // The receiver still works afterwards.
    let (status, _) = r.post_signed(WEBHOOK_MARKETING.as_bytes()).await;
    assert_eq!(status, 200);
    assert_eq!(r.ids(SIGNED).await.len(), 27);
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn official_batches_twice_and_concurrently_are_stored_once() {
        super::official_batches_twice_and_concurrently_are_stored_once(super::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_signatures_are_refused_and_write_nothing() {
        super::bad_signatures_are_refused_and_write_nothing(super::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn malformed_batches_get_400_and_lose_nothing() {
        super::malformed_batches_get_400_and_lose_nothing(super::Backend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn official_batches_twice_and_concurrently_are_stored_once() {
        super::official_batches_twice_and_concurrently_are_stored_once(super::Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_signatures_are_refused_and_write_nothing() {
        super::bad_signatures_are_refused_and_write_nothing(super::Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn malformed_batches_get_400_and_lose_nothing() {
        super::malformed_batches_get_400_and_lose_nothing(super::Backend::Postgres).await;
    }
}

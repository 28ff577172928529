//! The App Store connector against its simulator: tokens signed by the right key only, and the
//! key kept out of every message.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use base64::Engine as _;
use engage_app_store::{AppStore, AppStoreConfig};
use engage_connect::{Connector, ConnectorContext, ErrorClass, Secret};
use engage_sandbox::Sim;
use engage_sandbox::app_store::{AppStore as AppStoreSim, AppStoreOptions};
use futures::StreamExt;

fn config(o: &AppStoreOptions, private_key: &str) -> AppStoreConfig {
    AppStoreConfig {
        issuer_id: o.issuer_id.clone(),
        key_id: o.key_id.clone(),
        private_key: Secret::new(private_key),
        app_id: o.app_id.clone(),
        rescan_days: None,
        languages: None,
        page_size: Some(100),
    }
}

fn context(base_url: String) -> ConnectorContext {
    let mut ctx = ConnectorContext::new("ios");
    ctx.base_url = Some(base_url);
    ctx
}

/// A P-256 PKCS#8 key other than the sandbox's, as PEM.
fn other_key() -> String {
    let rng = ring::rand::SystemRandom::new();
    let der = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .unwrap();
    let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_tokens_signed_by_the_key_are_accepted() {
    let o = AppStoreOptions::new(5, 120);
    let sim = Sim::<AppStoreSim>::start(o.clone()).await.unwrap();
    let good = AppStore::new(config(&o, &o.private_key), context(sim.base_url())).unwrap();
    good.check().await.unwrap();
    let pages: Vec<_> = good.read("customer_reviews", None).collect().await;
    let records: usize = pages.iter().map(|p| p.as_ref().unwrap().records.len()).sum();
    assert_eq!(records, 121, "120 generated reviews and the official example");

    let key = other_key();
    let forged = AppStore::new(config(&o, &key), context(sim.base_url())).unwrap();
    let error = forged.check().await.unwrap_err();
    assert_eq!(error.class, ErrorClass::NeedsHuman);
    assert_eq!(error.status, Some(401));
    assert!(error.message.contains("NOT_AUTHORIZED"), "{}", error.message);
    let key_body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!error.message.contains(&key_body[10..40]));

    let mut wrong_issuer = config(&o, &o.private_key);
    wrong_issuer.issuer_id = "00000000-0000-0000-0000-000000000000".into();
    let error = AppStore::new(wrong_issuer, context(sim.base_url())).unwrap().check().await.unwrap_err();
    assert_eq!(error.status, Some(401));
}

#[test]
fn a_bad_key_is_refused_when_built_and_never_quoted() {
    let o = AppStoreOptions::default();
    let secret = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ1dC1ub3QtYS1rZXk=\n-----END PRIVATE KEY-----";
    let error = AppStore::new(config(&o, secret), ConnectorContext::new("ios")).unwrap_err();
    assert_eq!(error.class, ErrorClass::NeedsHuman);
    assert!(error.message.contains("PKCS#8") && !error.message.contains("c2VjcmV0"), "{}", error.message);
    let built = AppStore::new(config(&o, &o.private_key), ConnectorContext::new("ios")).unwrap();
    let debug = format!("{built:?}");
    assert!(!debug.contains("PRIVATE") && debug.contains("682658836"), "{debug}");
}

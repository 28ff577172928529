//! Rate limits end to end: the HTTP toolkit paces itself by the vendor's advertised limit, and
//! a sync through a storm of 429s still ends exact.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::Duration;

use engage_runner::{BuildOptions, SyncOptions, build_connector, sync_stream};
use engage_sandbox::zendesk::{Zendesk, ZendeskOptions};
use engage_sandbox::{Faults, Sim};
use engage_store::testing::fresh_store;
use engage_store::{Backend, RunStatus};
use serde_json::json;

fn options(sim: &ZendeskOptions, page_size: u32) -> serde_json::Value {
    json!({ "email": sim.email, "api_token": sim.api_token, "page_size": page_size })
}

/// The simulator enforces and advertises 700 requests a minute (`X-Rate-Limit: 700`); a sync
/// making more than 700 requests spreads them out and never meets a 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advertised_limit_is_respected_without_a_single_429() {
    let mut sim_options = ZendeskOptions::new(3, 760);
    sim_options.incremental_limit = 0; // only the advertised account limit applies
    assert_eq!(sim_options.account_limit, 700);
    let connector_options = options(&sim_options, 1); // one ticket per request: 761 requests
    let sim = Sim::<Zendesk>::start(sim_options).await.unwrap();
    let t = fresh_store(Backend::Sqlite).await;
    let (connector, http) = build_connector(
        "zendesk",
        "z",
        Some(&sim.base_url()),
        None,
        &connector_options,
        &BuildOptions::default(),
    )
    .unwrap();
    let outcome =
        sync_stream(&t.store, connector.as_ref(), "z", "tickets", &SyncOptions::default()).await.unwrap();
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let stats = http.stats();
    assert!(
        stats.requests > 700,
        "the test must exceed one minute's allowance ({} requests)",
        stats.requests
    );
    assert_eq!(stats.throttled, 0, "no 429 may be received");
    let expected = sim.ground_truth().stream("tickets").len() as i64;
    assert_eq!(t.store.count_rows("tickets").await.unwrap(), expected);
}

/// One response in five is a 429 (with `Retry-After`, then without any header): every stream
/// still completes with exactly the simulator's records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifth_of_responses_throttled_still_syncs_exactly() {
    for retry_after in [Some(1), None] {
        let mut sim_options = ZendeskOptions::new(5, 1_500);
        sim_options.incremental_limit = 0;
        let connector_options = options(&sim_options, 100);
        let sim = Sim::<Zendesk>::start(sim_options).await.unwrap();
        sim.set_all_faults(Faults {
            throttle_rate: 0.2,
            throttle_retry_after: retry_after,
            ..Faults::default()
        });
        let t = fresh_store(Backend::Sqlite).await;
        let tuning: engage_connect::HttpTuning = Arc::new(|b: engage_connect::http::HttpClientBuilder| {
            b.backoff(Duration::from_millis(20), Duration::from_millis(400))
        });
        let build = BuildOptions { clock: None, http_tuning: Some(tuning) };
        let (connector, http) =
            build_connector("zendesk", "z", Some(&sim.base_url()), None, &connector_options, &build).unwrap();
        let streams: Vec<(String, &'static str)> =
            connector.streams().iter().map(|s| (s.name.to_owned(), s.entity.table())).collect();
        for (stream, _) in &streams {
            let outcome = sync_stream(
                &t.store,
                connector.as_ref(),
                engage_testkit::CONNECTION,
                stream,
                &SyncOptions::default(),
            )
            .await
            .unwrap();
            assert_eq!(outcome.status, RunStatus::Succeeded, "{stream}: {:?}", outcome.error);
        }
        assert!(http.stats().throttled > 0, "the simulator must have throttled some requests");
        engage_testkit::assert_matches_truth(&t, &streams, &sim.ground_truth(), "20% of responses are 429s")
            .await;
    }
}

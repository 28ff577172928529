//! End to end, App Store Connect and Google Play reviews through the runner into real stores:
//! developer replies added to old reviews inside the re-scan window arrive with the next sync
//! (and the window's limit is kept), deletions are noticed, Play's 7-day window is watched, and
//! reviews in Polish, Russian, Persian, Croatian and Slovenian come back byte for byte with the
//! right language code.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::Duration;

use engage_connect::{DynConnector, HttpTuning};
use engage_runner::{BuildOptions, SyncOptions, build_connector, sync_stream};
use engage_sandbox::Sim;
use engage_sandbox::app_store::{AppStore, AppStoreOptions};
use engage_sandbox::google_play::{GooglePlay, GooglePlayOptions};
use engage_store::testing::{TestStore, fresh_store};
use engage_store::{Backend, RunStatus, query_read_only};
use serde_json::{Value, json};

const CONNECTION: &str = "apps";
const DAY: i64 = 86_400;
const LANGUAGES: [&str; 5] = ["pl", "ru", "fa", "hr", "sl"];

fn connector(kind: &str, base_url: &str, options: &Value) -> Box<dyn DynConnector> {
    let tuning: HttpTuning = Arc::new(|b: engage_connect::http::HttpClientBuilder| {
        b.backoff(Duration::from_millis(5), Duration::from_millis(100)).timeout(Duration::from_secs(10))
    });
    let build = BuildOptions { clock: None, http_tuning: Some(tuning) };
    build_connector(kind, CONNECTION, Some(base_url), None, options, &build).expect("build the connector").0
}

async fn sync(store: &TestStore, connector: &dyn DynConnector, stream: &str) {
    let outcome = sync_stream(&store.store, connector, CONNECTION, stream, &SyncOptions::default())
        .await
        .expect("store");
    assert_eq!(outcome.status, RunStatus::Succeeded, "{stream}: {:?}", outcome.error);
}

/// source_id -> (title, body, language, reply_body, reply_at, deleted) of every stored review.
async fn stored(store: &TestStore) -> std::collections::BTreeMap<String, Vec<Value>> {
    let rows = query_read_only(
        &store.url,
        "SELECT source_id, title, body, language, reply_body, reply_at, deleted_at FROM reviews",
    )
    .await
    .expect("query")
    .rows;
    rows.into_iter().map(|r| (r[0].as_str().unwrap_or_default().to_owned(), r[1..].to_vec())).collect()
}

fn text(v: &Value) -> Option<&str> {
    v.as_str()
}

async fn app_store_sim(records: usize) -> (Sim<AppStore>, Value) {
    let mut o = AppStoreOptions::new(11, records);
    o.hourly_limit = 1_000_000;
    let options = json!({ "issuer_id": o.issuer_id, "key_id": o.key_id, "private_key": o.private_key,
                          "app_id": o.app_id, "page_size": 50 });
    (Sim::<AppStore>::start(o).await.expect("start the App Store Connect simulator"), options)
}

async fn google_play_sim(o: GooglePlayOptions) -> (Sim<GooglePlay>, Value) {
    let options = json!({ "package_name": o.package_name, "access_token": o.access_token,
                          "reads_per_hour": 600_000, "page_size": 50 });
    (Sim::<GooglePlay>::start(o).await.expect("start the Google Play simulator"), options)
}

async fn app_store_replies_and_deletions(backend: Backend) {
    let (sim, options) = app_store_sim(300).await;
    let c = connector("app_store", &sim.base_url(), &options);
    let store = fresh_store(backend).await;
    sync(&store, c.as_ref(), "customer_reviews").await;
    let now = sim.now();
    let reviews = sim.simulator().all();
    // Old reviews without a reply: one inside the 14-day window, one well outside it.
    let pick = |from: i64, to: i64| {
        reviews
            .iter()
            .find(|r| {
                r.index != 0
                    && r.reply.is_none()
                    && r.created >= now - from * DAY
                    && r.created < now - to * DAY
            })
            .expect("a review of that age")
            .clone()
    };
    let inside = pick(12, 9);
    let outside = pick(60, 30);
    let recent = pick(5, 1);
    let before = stored(&store).await;
    assert_eq!(before[&inside.id][3], Value::Null, "no reply yet");
    assert!(sim.simulator().reply(&inside.id, "Dziękujemy! Poprawka jest już w sklepie.", now - 60));
    assert!(sim.simulator().reply(&outside.id, "Thanks, fixed in 2.1.", now - 60));
    assert!(sim.simulator().delete(&recent.id));
    sim.reset_requests();
    sync(&store, c.as_ref(), "customer_reviews").await;
    let after = stored(&store).await;
    assert_eq!(text(&after[&inside.id][3]), Some("Dziękujemy! Poprawka jest już w sklepie."));
    let reply_at = chrono::DateTime::from_timestamp(now - 60, 0).unwrap();
    let stored_at = after[&inside.id][4].as_str().and_then(engage_connect::time::parse_timestamp);
    assert_eq!(stored_at, Some(reply_at));
    assert_eq!(after[&inside.id][5], Value::Null);
    // Past the window nothing is read again: Apple has no change filter (the documented limit).
    assert_eq!(after[&outside.id][3], Value::Null);
    assert!(!after[&recent.id][5].is_null(), "a review gone from the window's listing is deleted");
    assert_eq!(text(&after[&recent.id][0]), Some(recent.title.as_str()), "kept with its last content");
    // 300 reviews over 90 days: the 14-day window and one page's margin fit one page of 50.
    assert_eq!(sim.total_requests(), 1, "the re-scan stops once past the window");
}

async fn google_play_replies_and_deletions(backend: Backend) {
    let (sim, options) = google_play_sim(GooglePlayOptions::new(11, 150)).await;
    let c = connector("google_play", &sim.base_url(), &options);
    let store = fresh_store(backend).await;
    sync(&store, c.as_ref(), "reviews").await;
    let now = sim.now();
    let reviews = sim.simulator().all();
    let old = reviews
        .iter()
        .find(|r| r.reply.is_none() && r.seconds < now - 4 * DAY)
        .expect("an old review")
        .clone();
    let gone = reviews.iter().find(|r| r.seconds > now - DAY).expect("a recent review").clone();
    assert!(sim.simulator().reply(&old.id, "Хвала на повратној информацији, исправљено.", now - 30));
    assert!(sim.simulator().delete(&gone.id));
    sync(&store, c.as_ref(), "reviews").await;
    let after = stored(&store).await;
    assert_eq!(text(&after[&old.id][3]), Some("Хвала на повратној информацији, исправљено."));
    let stored_at = after[&old.id][4].as_str().and_then(engage_connect::time::parse_timestamp);
    assert_eq!(stored_at, chrono::DateTime::from_timestamp(now - 30, 500_000_000));
    assert!(!after[&gone.id][5].is_null(), "a review that should still be visible and is gone is deleted");
    assert_eq!(after.len(), 150);
    // Reviews that age out of Play's 7 days are not deletions; a sync more than 7 days after the
    // last one is noted on the run.
    sim.control().advance(8 * DAY);
    sync(&store, c.as_ref(), "reviews").await;
    let after = stored(&store).await;
    assert_eq!(after.values().filter(|r| !r[5].is_null()).count(), 1, "only the deleted review");
    let details = query_read_only(
        &store.url,
        "SELECT details FROM sync_runs WHERE stream = 'reviews' ORDER BY run_id DESC LIMIT 1",
    )
    .await
    .unwrap()
    .rows;
    let details = match &details[0][0] {
        Value::String(s) => serde_json::from_str::<Value>(s).unwrap(),
        other => other.clone(),
    };
    let note = details["notes"][0].as_str().unwrap_or_default();
    assert!(note.contains("more than 7 days ago") && note.contains("may have been missed"), "{details}");
}

async fn languages_come_back_exactly(backend: Backend) {
    let store = fresh_store(backend).await;
    // The languages the business expects: without the list, whatlang's trigram models call a
    // third of these short Russian texts Bulgarian or "not sure".
    let expected = json!(["en", "es", "de", "pl", "ru", "fa", "hr", "sl"]);
    let (apple, mut options) = app_store_sim(400).await;
    options["languages"] = expected.clone();
    let c = connector("app_store", &apple.base_url(), &options);
    sync(&store, c.as_ref(), "customer_reviews").await;
    let mut o = GooglePlayOptions::new(13, 200);
    o.reads_per_hour = 0;
    let (play, mut options) = google_play_sim(o).await;
    // Play translates into English on request; the original words are what is stored.
    options["translation_language"] = json!("en");
    options["languages"] = expected;
    let c = connector("google_play", &play.base_url(), &options);
    sync(&store, c.as_ref(), "reviews").await;
    let rows = stored(&store).await;
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    for r in apple.simulator().all().iter().filter(|r| LANGUAGES.contains(&r.language)) {
        let row = &rows[&r.id];
        assert_eq!(text(&row[0]), Some(r.title.as_str()), "{}", r.id);
        assert_eq!(text(&row[1]), Some(r.body.as_str()), "{}", r.id);
        assert_eq!(text(&row[2]), Some(r.language), "{}: {}", r.id, r.body);
        *seen.entry(r.language).or_default() += 1;
    }
    let mut detected = 0;
    for r in play.simulator().all().iter().filter(|r| LANGUAGES.contains(&r.language)) {
        let row = &rows[&r.id];
        assert_eq!(text(&row[0]), r.title.as_deref(), "{}", r.id);
        assert_eq!(text(&row[1]), Some(r.body.as_str()), "{}", r.id);
        assert_eq!(text(&row[2]), Some(r.language), "{}: {}", r.id, r.body);
        detected += usize::from(!r.names_language);
        *seen.entry(r.language).or_default() += 1;
    }
    for code in LANGUAGES {
        assert!(seen.get(code).copied().unwrap_or(0) >= 10, "{code}: {seen:?}");
    }
    assert!(detected >= 5, "Play reviews without reviewerLanguage are detected too: {detected}");
}

/// The official `reviews.list` example and the last page after it, served verbatim.
async fn google_play_docs_examples(backend: Backend) {
    let mut o = GooglePlayOptions::new(1, 0);
    o.docs_examples = true;
    let (sim, options) = google_play_sim(o).await;
    let c = connector("google_play", &sim.base_url(), &options);
    let store = fresh_store(backend).await;
    sync(&store, c.as_ref(), "reviews").await;
    let rows = query_read_only(
        &store.url,
        "SELECT source_id, author, rating, body, language, updated_at, reply_body, reply_at FROM reviews ORDER BY source_id",
    )
    .await
    .unwrap()
    .rows;
    let at = |v: &Value| v.as_str().and_then(engage_connect::time::parse_timestamp).map(|t| t.to_rfc3339());
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0][0], "11223344");
    assert_eq!(rows[0][1], "John Doe");
    assert_eq!(rows[0][2].as_f64(), Some(5.0));
    assert_eq!(rows[0][3], "I love using this app!");
    assert_eq!(rows[0][4], "en");
    assert_eq!(at(&rows[0][5]).as_deref(), Some("1974-06-27T16:22:14.213+00:00"));
    assert_eq!(rows[0][6], "That's great to hear!");
    assert_eq!(at(&rows[0][7]).as_deref(), Some("2015-02-05T01:57:47.813+00:00"));
    assert_eq!(rows[1][0], "12345678");
    assert_eq!(at(&rows[1][5]).as_deref(), Some("2015-10-01T05:20:26.713+00:00"));
    assert_eq!(rows[2][0], "87654321");
    assert_eq!(rows[2][1], "Joan Smith");
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn app_store_reply_within_the_window_arrives() {
        app_store_replies_and_deletions(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn google_play_reply_arrives_and_the_window_is_watched() {
        google_play_replies_and_deletions(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pl_ru_fa_hr_sl_reviews_come_back_exactly() {
        languages_come_back_exactly(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn google_play_official_examples() {
        google_play_docs_examples(Backend::Sqlite).await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn app_store_reply_within_the_window_arrives() {
        app_store_replies_and_deletions(Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn google_play_reply_arrives_and_the_window_is_watched() {
        google_play_replies_and_deletions(Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pl_ru_fa_hr_sl_reviews_come_back_exactly() {
        languages_come_back_exactly(Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn google_play_official_examples() {
        google_play_docs_examples(Backend::Postgres).await;
    }
}

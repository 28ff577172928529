//! Surveys and the shop end to end: the Shopify, Delighted and Typeform connectors against their
//! simulators on 127.0.0.1, through the runner into a real store: the vendor behaviours each
//! contract names (Shopify's `page_info` rule, bucket, 429 and pinned version; Typeform's
//! completed-only responses and 2 requests a second; Delighted's pages and answers) and what
//! lands in the store for the metrics (exact money, guests, refunds, cancellations, interactions,
//! NPS and referral answers).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::time::Duration;

use engage_connect::ErrorClass;
use engage_model::{Channel, Entity, EntityKind, SurveyKind};
use engage_runner::{BuildOptions, SyncOptions, build_connector, sync_stream};
use engage_sandbox::{Mutation, Sim};
use engage_store::testing::fresh_store;
use engage_store::{Backend, ReadFilter, RunStatus, Store, StoredEntity, query_read_only};
use serde_json::{Value, json};

/// One plain HTTP/1.1 GET: (status, headers with lower-case names, body).
fn raw_get(base: &str, target: &str, headers: &[(&str, &str)]) -> (u16, BTreeMap<String, String>, String) {
    let host = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

/// `raw_get` off the async runtime.
async fn get(base: &str, target: &str, headers: &[(&str, &str)]) -> (u16, BTreeMap<String, String>, String) {
    let (base, target) = (base.to_owned(), target.to_owned());
    let headers: Vec<(String, String)> =
        headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    tokio::task::spawn_blocking(move || {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        raw_get(&base, &target, &h)
    })
    .await
    .unwrap()
}

async fn entities(store: &Store, kind: EntityKind, stream: &str) -> Vec<StoredEntity> {
    let all = store.read_entities(kind, &ReadFilter::default()).await.unwrap();
    all.into_iter().filter(|e| e.stream == stream).collect()
}

// ---------------------------------------------------------------- Shopify

mod shopify {
    use super::*;
    use engage_sandbox::shopify::{ERROR_400_PAGE_INFO, ERROR_429, ORDERS, Shopify, ShopifyOptions};

    /// The simulator's paging and version headers as the contract has them: `Link` with
    /// `page_info` (previous and next), the served version echoed, the call-limit header, a
    /// missing version falling forward to the oldest supported one, and the official 400 when a
    /// filter accompanies `page_info`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn page_info_links_and_the_400_for_filters_beside_it() {
        let options = ShopifyOptions::new(5, 120);
        let token = options.access_token.clone();
        let sim = Sim::<Shopify>::start(options).await.unwrap();
        let base = sim.base_url();
        let auth = [("X-Shopify-Access-Token", token.as_str())];
        let first = "/admin/api/2025-01/orders.json?status=any&order=updated_at%20asc&limit=50";
        let (status, headers, body) = get(&base, first, &auth).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers["x-shopify-api-version"], "2025-01");
        assert_eq!(headers["x-shopify-shop-api-call-limit"], "1/40");
        let link = &headers["link"];
        assert!(!link.contains("rel=\"previous\""), "no previous link on the first page: {link}");
        let next = link.strip_prefix('<').and_then(|l| l.split_once(">; rel=\"next\"")).unwrap().0;
        assert!(
            next.starts_with(&format!("{base}/admin/api/2025-01/orders.json?limit=50&page_info=")),
            "{next}"
        );
        let orders: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(orders["orders"].as_array().unwrap().len(), 50);
        assert_eq!(orders["orders"][0]["id"], 450_789_469u64, "the official order is the oldest");

        let next_target = next.trim_start_matches(&base).to_owned();
        let (status, headers, _) = get(&base, &next_target, &auth).await;
        assert_eq!(status, 200);
        assert!(headers["link"].contains("rel=\"previous\"") && headers["link"].contains("rel=\"next\""));

        // Any filter next to page_info: the official 400, byte for byte for created_at_min.
        let (status, _, body) =
            get(&base, &format!("{next_target}&created_at_min=2024-01-01T00:00:00-05:00"), &auth).await;
        assert_eq!((status, body.as_str()), (400, ERROR_400_PAGE_INFO));
        let (status, _, body) = get(&base, &format!("{next_target}&status=any"), &auth).await;
        assert_eq!(status, 400);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!({ "errors": { "status": "status cannot be passed when page_info is present." } })
        );

        // A retired version is served by the oldest supported one, which only the header says.
        let (status, headers, _) = get(&base, "/admin/api/2023-04/orders.json?limit=1", &auth).await;
        assert_eq!((status, headers["x-shopify-api-version"].as_str()), (200, "2024-01"));
        // Everything fits in one page: no Link header at all.
        let (_, headers, _) = get(&base, "/admin/api/2025-01/orders.json?status=any&limit=250", &auth).await;
        assert!(!headers.contains_key("link"));
        let (status, _, body) = get(&base, first, &[("X-Shopify-Access-Token", "wrong")]).await;
        assert_eq!(status, 401);
        assert!(body.contains("[API] Invalid API key or access token"));
    }

    /// Orders land as orders (exact money, refunds, guests, cancellations) and as `order`
    /// interactions; customers as identities.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn orders_and_interactions_in_the_store() {
        let options = ShopifyOptions::new(6, 150);
        let token = options.access_token.clone();
        let sim = Sim::<Shopify>::start(options).await.unwrap();
        let t = fresh_store(Backend::Sqlite).await;
        let (connector, _) = build_connector(
            "shopify",
            "shop",
            Some(&sim.base_url()),
            None,
            &json!({ "access_token": token, "page_size": 40 }),
            &BuildOptions::default(),
        )
        .unwrap();
        for stream in ["orders", "customers"] {
            let o = sync_stream(&t.store, connector.as_ref(), "shop", stream, &SyncOptions::default())
                .await
                .unwrap();
            assert_eq!(o.status, RunStatus::Succeeded, "{stream}: {:?}", o.error);
        }
        let truth = sim.ground_truth();
        let orders = entities(&t.store, EntityKind::Order, "orders").await;
        assert_eq!(orders.len(), truth.stream(ORDERS).len());
        let official = orders.iter().find(|e| e.source_id == "450789469").unwrap();
        let Entity::Order(o) = &official.entity else { panic!() };
        assert_eq!(
            (o.total.normalize().to_string(), o.refunded.normalize().to_string()),
            ("598.94".to_owned(), "209".to_owned())
        );
        assert_eq!(
            (o.guest, o.customer_source_id.as_deref(), o.item_count),
            (false, Some("207119551"), Some(3))
        );
        assert_eq!(o.financial_status.as_deref(), Some("partially_refunded"));
        // Guests, cancellations and refunds, each exactly as the source says.
        let count = |f: &dyn Fn(&Value) -> bool| truth.stream(ORDERS).values().filter(|r| f(&r.raw)).count();
        let guests = orders
            .iter()
            .filter(|e| matches!(&e.entity, Entity::Order(o) if o.guest && o.customer_source_id.is_none()))
            .count();
        assert_eq!(guests, count(&|r| r.get("customer").is_none()));
        assert!(guests > 0);
        let cancelled = orders
            .iter()
            .filter(|e| matches!(&e.entity, Entity::Order(o) if o.cancelled_at.is_some()))
            .count();
        assert_eq!(cancelled, count(&|r| !r["cancelled_at"].is_null()));
        assert!(cancelled > 0);
        for e in &orders {
            let Entity::Order(o) = &e.entity else { panic!() };
            let raw = &truth.stream(ORDERS)[&e.source_id].raw;
            let price = raw["total_price"].as_str().unwrap();
            let exact =
                if price.contains('.') { price.trim_end_matches('0').trim_end_matches('.') } else { price };
            assert_eq!(o.total.normalize().to_string(), exact, "{}", e.source_id);
            if raw["financial_status"] == "refunded" {
                assert_eq!(o.refunded, o.total, "{}: a cancelled order is refunded in full", e.source_id);
            }
        }
        let interactions = entities(&t.store, EntityKind::Interaction, "orders").await;
        let ids: BTreeSet<&str> = interactions.iter().map(|e| e.source_id.as_str()).collect();
        assert_eq!(ids, orders.iter().map(|e| e.source_id.as_str()).collect());
        assert!(interactions.iter().all(|e| matches!(&e.entity,
            Entity::Interaction(i) if i.channel == Channel::Shop && i.kind == "order")));
        let customers = entities(&t.store, EntityKind::Identity, "customers").await;
        assert_eq!(customers.len(), truth.stream("customers").len());
    }

    /// A shop serving another version than the pinned one: `fail` stops the sync with a clear
    /// error and no checkpoint; `warn` syncs and notes it once on the run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pinned_version_checked_against_the_served_one() {
        let mut options = ShopifyOptions::new(7, 30);
        options.versions = vec!["2025-04".into(), "2025-07".into()];
        let token = options.access_token.clone();
        let sim = Sim::<Shopify>::start(options).await.unwrap();
        let t = fresh_store(Backend::Sqlite).await;
        for (name, policy) in [("strict", "fail"), ("lenient", "warn")] {
            let (connector, _) = build_connector(
                "shopify",
                name,
                Some(&sim.base_url()),
                None,
                &json!({ "access_token": token, "version_mismatch": policy, "page_size": 10 }),
                &BuildOptions::default(),
            )
            .unwrap();
            let o = sync_stream(&t.store, connector.as_ref(), name, "orders", &SyncOptions::default())
                .await
                .unwrap();
            let expected = "Shopify served API version 2025-04 instead of the pinned 2025-01";
            if policy == "fail" {
                assert_eq!((o.status, o.error_class), (RunStatus::Failed, Some(ErrorClass::NeedsHuman)));
                assert!(o.error.as_deref().unwrap_or_default().contains(expected), "{:?}", o.error);
                assert_eq!(t.store.checkpoint(name, "orders").await.unwrap(), None);
            } else {
                assert_eq!(o.status, RunStatus::Succeeded, "{:?}", o.error);
                assert_eq!(o.pages, 4);
                let rows = query_read_only(
                    &t.url,
                    "SELECT details FROM sync_runs WHERE connection = 'lenient' AND stream = 'orders'",
                )
                .await
                .unwrap()
                .rows;
                let details: Value = match &rows[0][0] {
                    Value::String(s) => serde_json::from_str(s).unwrap(),
                    other => other.clone(),
                };
                let notes = details["notes"].as_array().unwrap();
                assert_eq!(notes.len(), 1, "noted once per run: {notes:?}");
                assert!(notes[0].as_str().unwrap().starts_with(expected));
            }
        }
    }

    /// A small, slowly leaking bucket: the simulator answers 429 with `Retry-After: 2.0`, the
    /// call-limit header full and the official body; the sync waits as asked and ends complete.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_bucket_429_retry_after_is_waited_out() {
        let mut options = ShopifyOptions::new(8, 60);
        options.bucket_size = 3;
        options.leak_per_second = 0.5;
        let token = options.access_token.clone();
        let sim = Sim::<Shopify>::start(options).await.unwrap();
        let auth = [("X-Shopify-Access-Token", token.as_str())];
        let base = sim.base_url();
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(get(&base, "/admin/api/2025-01/customers.json?limit=1", &auth).await);
        }
        let calls: Vec<&str> =
            seen.iter().map(|(_, h, _)| h["x-shopify-shop-api-call-limit"].as_str()).collect();
        assert_eq!(calls[..3], ["1/3", "2/3", "3/3"]);
        let (status, headers, body) = &seen[3];
        assert_eq!((*status, headers["retry-after"].as_str(), calls[3]), (429, "2.0", "3/3"));
        assert_eq!(body, ERROR_429);

        tokio::time::sleep(Duration::from_secs(6)).await; // the bucket drains
        let t = fresh_store(Backend::Sqlite).await;
        let (connector, http) = build_connector(
            "shopify",
            "shop",
            Some(&base),
            None,
            &json!({ "access_token": token, "page_size": 10 }),
            &BuildOptions::default(),
        )
        .unwrap();
        let o = sync_stream(&t.store, connector.as_ref(), "shop", "orders", &SyncOptions::default())
            .await
            .unwrap();
        assert_eq!(o.status, RunStatus::Succeeded, "{:?}", o.error);
        assert_eq!(entities(&t.store, EntityKind::Order, "orders").await.len(), 61);
        assert!(http.stats().throttled >= 1, "the bucket must have overflowed: {:?}", http.stats());
        assert!(o.elapsed >= Duration::from_secs(2), "each 429 waits the 2.0 s it asks for");
    }
}

// ---------------------------------------------------------------- Typeform

mod typeform {
    use super::*;
    use engage_sandbox::typeform::{FIELD_MAPPING, RESPONSES, Typeform, TypeformOptions};

    fn options(sim: &TypeformOptions, page_size: u32) -> Value {
        json!({
            "access_token": sim.access_token, "forms": [sim.form_id], "page_size": page_size,
            "fields": FIELD_MAPPING.iter()
                .map(|(field, kind, lo, hi)| json!({ "field": field, "kind": kind, "scale_min": lo, "scale_max": hi }))
                .collect::<Vec<_>>()
        })
    }

    fn tokens(rows: &[StoredEntity]) -> BTreeSet<String> {
        rows.iter().map(|e| e.source_id.split('/').next().unwrap().to_owned()).collect()
    }

    /// Only completed responses are stored, one answer per field, kinds from the mapping; the
    /// client keeps under 2 requests a second (not one 429 from the simulator's real limit);
    /// partial responses completed later arrive with the next sync.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn completed_responses_mapped_at_two_requests_a_second() {
        let sim_options = TypeformOptions::new(9, 80);
        assert_eq!(sim_options.per_second, 2);
        let connector_options = options(&sim_options, 10);
        let sim = Sim::<Typeform>::start(sim_options).await.unwrap();
        let t = fresh_store(Backend::Sqlite).await;
        let (connector, http) = build_connector(
            "typeform",
            "forms",
            Some(&sim.base_url()),
            None,
            &connector_options,
            &BuildOptions::default(),
        )
        .unwrap();
        let o = sync_stream(&t.store, connector.as_ref(), "forms", "responses", &SyncOptions::default())
            .await
            .unwrap();
        assert_eq!(o.status, RunStatus::Succeeded, "{:?}", o.error);
        let truth = sim.ground_truth();
        let expected: BTreeSet<String> =
            truth.stream(RESPONSES).keys().map(|k| k.split('/').next().unwrap().to_owned()).collect();
        assert!(expected.len() < 80, "the dataset has partial responses: {}", expected.len());
        let rows = entities(&t.store, EntityKind::SurveyResponse, "responses").await;
        assert_eq!(tokens(&rows), expected);
        assert_eq!(rows.len(), truth.stream(RESPONSES).len());
        let stats = http.stats();
        let pages = (expected.len() as u64).div_ceil(10) + u64::from(expected.len().is_multiple_of(10));
        assert_eq!((stats.requests, stats.throttled), (pages, 0), "{stats:?}");
        // Spaced at 110 a minute: never three requests within one second.
        assert!(
            o.elapsed
                >= Duration::from_secs_f64((pages - 1) as f64 * 60.0 / 110.0) - Duration::from_millis(50)
        );

        let kinds = |kind: SurveyKind| {
            rows.iter().filter(|e| matches!(&e.entity, Entity::SurveyResponse(s) if s.kind == kind)).count()
        };
        assert_eq!(
            kinds(SurveyKind::Nps),
            expected.len(),
            "every completed response answers the NPS question"
        );
        assert!(kinds(SurveyKind::Csat) > 0 && kinds(SurveyKind::Ces) > 0 && kinds(SurveyKind::Referral) > 0);
        for e in &rows {
            let Entity::SurveyResponse(s) = &e.entity else { panic!() };
            match s.kind {
                SurveyKind::Nps => assert_eq!((s.scale_min, s.scale_max), (Some(0.0), Some(10.0))),
                SurveyKind::Referral => assert!(s.comment.is_some() && s.score.is_none()),
                _ => {}
            }
            assert_eq!(s.survey_id.as_deref(), Some("u6nXL7"));
        }

        // Partial responses completed between syncs.
        sim.mutate(Mutation { updates: 40, deletions: 0, creations: 5 });
        let grown: BTreeSet<String> = sim
            .ground_truth()
            .stream(RESPONSES)
            .keys()
            .map(|k| k.split('/').next().unwrap().to_owned())
            .collect();
        assert!(
            grown.len() > expected.len() + 5,
            "some partial responses completed: {} -> {}",
            expected.len(),
            grown.len()
        );
        let o = sync_stream(&t.store, connector.as_ref(), "forms", "responses", &SyncOptions::default())
            .await
            .unwrap();
        assert_eq!(o.status, RunStatus::Succeeded, "{:?}", o.error);
        assert_eq!(tokens(&entities(&t.store, EntityKind::SurveyResponse, "responses").await), grown);
    }

    /// A pass stopped after its first page keeps its `since` and the token to continue `before`;
    /// the next sync resumes there and ends with every response once, `since` at the newest.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn interrupted_pass_resumes_before_its_last_token() {
        let sim_options =
            TypeformOptions { sim: TypeformOptions::new(12, 60).sim, ..TypeformOptions::unlimited() };
        let connector_options = options(&sim_options, 15);
        let sim = Sim::<Typeform>::start(sim_options).await.unwrap();
        let t = fresh_store(Backend::Sqlite).await;
        let (connector, _) = build_connector(
            "typeform",
            "forms",
            Some(&sim.base_url()),
            None,
            &connector_options,
            &BuildOptions::default(),
        )
        .unwrap();
        let defaults = SyncOptions::default();
        let on_page = defaults.cancel.clone();
        let stop = SyncOptions {
            progress: Some(std::sync::Arc::new(move |p: &engage_runner::Progress| {
                if p.pages >= 1 {
                    on_page.cancel();
                }
            })),
            ..defaults
        };
        let o = sync_stream(&t.store, connector.as_ref(), "forms", "responses", &stop).await.unwrap();
        assert_eq!((o.status, o.pages), (RunStatus::Cancelled, 1));
        let checkpoint = t.store.checkpoint("forms", "responses").await.unwrap().unwrap();
        let pass = &checkpoint["forms"]["u6nXL7"];
        assert!(pass.get("since").is_none(), "the first pass reads from the beginning: {checkpoint}");
        let before = pass["before"].as_str().unwrap();
        let first_page = entities(&t.store, EntityKind::SurveyResponse, "responses").await;
        assert_eq!(tokens(&first_page).len(), 15);
        assert!(tokens(&first_page).contains(before), "the token of the page's last response");

        let o = sync_stream(&t.store, connector.as_ref(), "forms", "responses", &SyncOptions::default())
            .await
            .unwrap();
        assert_eq!(o.status, RunStatus::Succeeded, "{:?}", o.error);
        let truth = sim.ground_truth();
        let rows = entities(&t.store, EntityKind::SurveyResponse, "responses").await;
        assert_eq!(rows.len(), truth.stream(RESPONSES).len());
        let newest = truth
            .stream(RESPONSES)
            .values()
            .map(|r| r.raw["submitted_at"].as_str().unwrap().trim_end_matches('Z').to_owned())
            .max()
            .unwrap();
        let checkpoint = t.store.checkpoint("forms", "responses").await.unwrap().unwrap();
        assert_eq!(checkpoint, json!({ "forms": { "u6nXL7": { "since": newest } } }));
    }

    /// The simulator lists only completed responses unless asked, walks `before` tokens newest
    /// first, refuses `before` with `sort`, and answers 429 beyond 2 requests a second.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn responses_api_contract() {
        let options = TypeformOptions::new(10, 40);
        let bearer = format!("Bearer {}", options.access_token);
        let sim = Sim::<Typeform>::start(options).await.unwrap();
        let base = sim.base_url();
        let auth = [("Authorization", bearer.as_str())];
        let (status, _, body) = get(&base, "/forms/u6nXL7/responses?page_size=1000", &auth).await;
        assert_eq!(status, 200);
        let all: Value = serde_json::from_str(&body).unwrap();
        let items = all["items"].as_array().unwrap();
        assert!(items.iter().all(|i| i["response_type"] == "completed"));
        assert_eq!(all["total_items"].as_u64(), Some(items.len() as u64));
        let times: Vec<&str> = items.iter().map(|i| i["submitted_at"].as_str().unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let token = items[4]["token"].as_str().unwrap();
        let (_, _, body) =
            get(&base, &format!("/forms/u6nXL7/responses?page_size=3&before={token}"), &auth).await;
        let page: Value = serde_json::from_str(&body).unwrap();
        let got: Vec<&Value> = page["items"].as_array().unwrap().iter().map(|i| &i["token"]).collect();
        assert_eq!(got, [&items[5]["token"], &items[6]["token"], &items[7]["token"]]);
        let (status, _, _) =
            get(&base, &format!("/forms/u6nXL7/responses?before={token}&sort=submitted_at,desc"), &auth)
                .await;
        assert_eq!(status, 400);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (_, _, body) =
            get(&base, "/forms/u6nXL7/responses?page_size=1000&response_type=partial,completed", &auth).await;
        let with_partial: Value = serde_json::from_str(&body).unwrap();
        assert!(with_partial["items"].as_array().unwrap().iter().any(|i| i["response_type"] == "partial"));
        assert_eq!(get(&base, "/forms/u6nXL7/responses", &auth).await.0, 200);
        let (status, headers, _) = get(&base, "/forms/u6nXL7/responses", &auth).await;
        assert_eq!(
            (status, headers.get("retry-after").map(String::as_str)),
            (429, Some("1")),
            "the third request within a second"
        );
    }
}

// ---------------------------------------------------------------- Delighted

mod delighted {
    use super::*;
    use engage_sandbox::delighted::{Delighted, DelightedOptions, SURVEY_RESPONSES};

    /// Pages of `per_page` until a short page; the response's own NPS score and its additional
    /// answers, the "how did you hear about us" one mapped to a referral answer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pages_scores_and_additional_answers() {
        let options = DelightedOptions::new(2, 45);
        let key = options.api_key.clone();
        let sim = Sim::<Delighted>::start(options).await.unwrap();
        let t = fresh_store(Backend::Sqlite).await;
        let (connector, _) = build_connector(
            "delighted",
            "nps",
            Some(&sim.base_url()),
            None,
            &json!({ "api_key": key, "page_size": 20, "questions": [{ "question": "21", "kind": "referral" }] }),
            &BuildOptions::default(),
        )
        .unwrap();
        let o = sync_stream(&t.store, connector.as_ref(), "nps", "survey_responses", &SyncOptions::default())
            .await
            .unwrap();
        assert_eq!((o.status, o.pages), (RunStatus::Succeeded, 3), "46 responses: 20, 20 and 6");
        assert_eq!(sim.requests(SURVEY_RESPONSES), 3);
        let rows = entities(&t.store, EntityKind::SurveyResponse, "survey_responses").await;
        assert_eq!(rows.len(), sim.ground_truth().stream(SURVEY_RESPONSES).len());
        let official = rows.iter().find(|e| e.source_id == "2").unwrap();
        let Entity::SurveyResponse(s) = &official.entity else { panic!() };
        assert_eq!(
            (s.kind, s.score, s.customer_source_id.as_deref()),
            (SurveyKind::Nps, Some(9.0), Some("1"))
        );
        let referrals: Vec<&StoredEntity> = rows
            .iter()
            .filter(|e| matches!(&e.entity, Entity::SurveyResponse(s) if s.kind == SurveyKind::Referral))
            .collect();
        assert_eq!(referrals.len(), 45, "every generated response answers question 21");
        let Entity::SurveyResponse(r) = &referrals[0].entity else { panic!() };
        assert_eq!(r.question.as_deref(), Some("How did you hear about us?"));
        assert!(r.comment.is_some());
        // Nothing changed: one request.
        sim.reset_requests();
        let o = sync_stream(&t.store, connector.as_ref(), "nps", "survey_responses", &SyncOptions::default())
            .await
            .unwrap();
        assert_eq!((o.status, sim.requests(SURVEY_RESPONSES)), (RunStatus::Succeeded, 1));
    }

    /// Beyond the limit the simulator answers 429 with `Retry-After` in seconds; a bad key 401.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rate_limit_and_auth() {
        let mut options = DelightedOptions::new(3, 10);
        options.per_minute = 2;
        assert_eq!(options.api_key, "dlt_sandbox_0123456789abcdef");
        let basic = "Basic ZGx0X3NhbmRib3hfMDEyMzQ1Njc4OWFiY2RlZjo="; // base64("dlt_sandbox_0123456789abcdef:"): key as user, no password
        let sim = Sim::<Delighted>::start(options).await.unwrap();
        let base = sim.base_url();
        let auth = [("Authorization", basic)];
        for _ in 0..2 {
            assert_eq!(get(&base, "/v1/people.json", &auth).await.0, 200);
        }
        let (status, headers, _) = get(&base, "/v1/people.json", &auth).await;
        assert_eq!(status, 429);
        let wait: u64 = headers["retry-after"].parse().unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        let (status, _, _) =
            get(&base, "/v1/survey_responses.json", &[("Authorization", "Basic d3Jvbmc6")]).await;
        assert_eq!(status, 401);
    }
}

//! The conformance kit for every connector, on SQLite and PostgreSQL.

use engage_sandbox::Sim;
use engage_sandbox::zendesk::{Zendesk, ZendeskOptions};
use engage_store::Backend;
use engage_testkit::{Subject, conformance, conformance_local, conformance_with};
use serde_json::json;

async fn zendesk() -> Subject {
    let mut options = ZendeskOptions::new(7, 240);
    options.incremental_limit = 0; // the real 10/minute would make the kit take minutes
    let (email, token) = (options.email.clone(), options.api_token.clone());
    let sim = Sim::<Zendesk>::start(options).await.expect("start the Zendesk simulator");
    Subject {
        kind: "zendesk",
        sim: Box::new(sim),
        options: json!({ "email": email, "api_token": token, "page_size": 50 }),
    }
}

/// The declarative rest connector describing the Zendesk simulator's incremental user export:
/// Basic auth, cursor pagination ended by `end_of_stream`, `updated_at` sent back as
/// `start_time` (Unix seconds), `active: false` as a deletion, integer ids.
async fn rest_zendesk_users() -> Subject {
    let mut options = ZendeskOptions::new(11, 240);
    options.incremental_limit = 0;
    let (email, token) = (options.email.clone(), options.api_token.clone());
    let sim = Sim::<Zendesk>::start(options).await.expect("start the Zendesk simulator");
    Subject {
        kind: "rest",
        sim: Box::new(sim),
        options: json!({
            "auth": { "type": "basic", "username": format!("{email}/token"), "password": token },
            "stream": [{
                "name": "users",
                "path": "/api/v2/incremental/users/cursor.json",
                "query": { "per_page": 25 },
                "records": "/users",
                "primary_key": "id",
                "id_type": "integer",
                "pagination": { "style": "cursor", "param": "cursor", "cursor_pointer": "/after_cursor",
                                 "done_pointer": "/end_of_stream" },
                "incremental": { "cursor_field": "updated_at", "param": "start_time", "format": "unix", "start": "0" },
                "entity": "identity",
                "fields": { "email": "email", "name": "name", "phone": "phone", "created_at": "created_at",
                            "updated_at": "updated_at" },
                "deleted": { "from": "active", "equals": false, "at": "updated_at" },
            }],
        }),
    }
}

async fn intercom() -> Subject {
    use engage_sandbox::intercom::{Intercom, IntercomOptions};
    // Intercom's default limit (1,666 requests per 10-second window) stays on.
    let options = IntercomOptions::new(7, 240);
    let token = options.access_token.clone();
    let sim = Sim::<Intercom>::start(options).await.expect("start the Intercom simulator");
    Subject {
        kind: "intercom",
        sim: Box::new(sim),
        options: json!({ "access_token": token, "page_size": 100 }),
    }
}

async fn freshdesk() -> Subject {
    use engage_sandbox::freshdesk::{Freshdesk, FreshdeskOptions};
    let mut options = FreshdeskOptions::new(7, 240);
    options.credits_per_minute = 0; // the real 400 credits a minute would make the kit take minutes
    let key = options.api_key.clone();
    let sim = Sim::<Freshdesk>::start(options).await.expect("start the Freshdesk simulator");
    Subject { kind: "freshdesk", sim: Box::new(sim), options: json!({ "api_key": key, "page_size": 30 }) }
}

/// Freshdesk lists deleted and spam tickets, and deleted contacts, only on request: one request
/// per pass when nothing changed.
const FRESHDESK_PASSES: &[(&str, u64)] = &[("tickets", 3), ("contacts", 2)];

async fn liveagent() -> Subject {
    use engage_sandbox::liveagent::{LiveAgent, LiveAgentOptions};
    // LiveAgent's 180 requests a minute per key stay on; the connector paces itself below them.
    let options = LiveAgentOptions::new(7, 240);
    let (key, zone) = (options.api_key.clone(), options.time_zone.clone());
    let sim = Sim::<LiveAgent>::start(options).await.expect("start the LiveAgent simulator");
    Subject {
        kind: "liveagent",
        sim: Box::new(sim),
        options: json!({ "api_key": key, "time_zone": zone, "page_size": 50 }),
    }
}

/// Google Business Profile: three generated locations and the example's; with nothing changed
/// each location needs one page (its re-scan window fits in it).
async fn google_business() -> (Subject, Vec<(&'static str, u64)>) {
    use engage_sandbox::google_business::{ACCOUNT, GoogleBusiness, GoogleBusinessOptions};
    // Google's 300 requests a minute stay on; the connector paces itself at that rate.
    let options = GoogleBusinessOptions::new(7, 240);
    let token = options.access_token.clone();
    let sim = Sim::<GoogleBusiness>::start(options).await.expect("start the Google Business simulator");
    let locations = sim.simulator().locations().to_vec();
    let passes = vec![("reviews", locations.len() as u64)];
    let o = json!({ "access_token": token, "account": ACCOUNT, "locations": locations, "page_size": 50 });
    (Subject { kind: "google_business", sim: Box::new(sim), options: o }, passes)
}

/// Yelp on a plan without the 3-review cap (the kit compares full listings; the cap has its
/// own test in tests/reviews.rs): one request per business when nothing changed.
async fn yelp() -> (Subject, Vec<(&'static str, u64)>) {
    use engage_sandbox::yelp::{Yelp, YelpOptions};
    let mut options = YelpOptions::new(7, 240);
    options.review_cap = None;
    let (key, zone) = (options.api_key.clone(), options.time_zone.clone());
    let sim = Sim::<Yelp>::start(options).await.expect("start the Yelp simulator");
    let businesses = sim.simulator().businesses().to_vec();
    let passes = vec![("reviews", businesses.len() as u64)];
    let o = json!({ "api_key": key, "businesses": businesses, "time_zone": zone });
    (Subject { kind: "yelp", sim: Box::new(sim), options: o }, passes)
}

/// Trustpilot with its recommended budget (833 calls in five minutes) enforced.
async fn trustpilot() -> Subject {
    use engage_sandbox::trustpilot::{BUSINESS_UNIT, Trustpilot, TrustpilotOptions};
    let options = TrustpilotOptions::new(7, 240);
    let key = options.api_key.clone();
    let sim = Sim::<Trustpilot>::start(options).await.expect("start the Trustpilot simulator");
    let o = json!({ "api_key": key, "business_unit_id": BUSINESS_UNIT });
    Subject { kind: "trustpilot", sim: Box::new(sim), options: o }
}

async fn postmark() -> Subject {
    use engage_sandbox::postmark::{Postmark, PostmarkOptions};
    let mut options = PostmarkOptions::new(7, 240);
    options.requests_per_minute = 0;
    let token = options.server_token.clone();
    let sim = Sim::<Postmark>::start(options).await.expect("start the Postmark simulator");
    Subject { kind: "postmark", sim: Box::new(sim), options: json!({ "server_token": token }) }
}

/// Postmark's stats come from five per-day endpoints, all read again on every sync.
const POSTMARK_PASSES: &[(&str, u64)] = &[("outbound_stats", 5)];

async fn mailchimp() -> (Subject, Vec<(&'static str, u64)>) {
    use engage_sandbox::mailchimp::{Mailchimp, MailchimpOptions};
    let options = MailchimpOptions::new(7, 120);
    let key = options.api_key.clone();
    let sim = Sim::<Mailchimp>::start(options).await.expect("start the Mailchimp simulator");
    // Nothing changed: the creation pass (1) and the window's campaigns and reports (2); the
    // activity of every campaign sent in the 45-day window, after the list of those campaigns.
    let mc = sim.simulator();
    let window = mc.sent_since(mc.newest_send().expect("sent campaigns") - 45 * 86_400) as u64;
    let passes = vec![("campaigns", 3), ("email_activity", 1 + window)];
    let options = json!({ "api_key": key, "page_size": 25 });
    (Subject { kind: "mailchimp", sim: Box::new(sim), options }, passes)
}

async fn klaviyo() -> Subject {
    use engage_sandbox::klaviyo::{Klaviyo, KlaviyoOptions};
    let options = KlaviyoOptions::new(7, 240);
    let key = options.api_key.clone();
    let sim = Sim::<Klaviyo>::start(options).await.expect("start the Klaviyo simulator");
    Subject { kind: "klaviyo", sim: Box::new(sim), options: json!({ "api_key": key, "page_size": 40 }) }
}

/// Klaviyo's events are named by the account's metrics, read at the start of every sync.
const KLAVIYO_PASSES: &[(&str, u64)] = &[("events", 2)];

async fn helpscout() -> Subject {
    use engage_sandbox::helpscout::{HelpScout, HelpScoutOptions};
    let mut options = HelpScoutOptions::new(7, 240);
    options.per_minute = 0; // the kit's thousand requests would wait on the real limit for minutes
    let (id, secret) = (options.client_id.clone(), options.client_secret.clone());
    let sim = Sim::<HelpScout>::start(options).await.expect("start the Help Scout simulator");
    Subject {
        kind: "helpscout",
        sim: Box::new(sim),
        options: json!({ "client_id": id, "client_secret": secret }),
    }
}

async fn sendgrid() -> Subject {
    use engage_sandbox::sendgrid::{SendGrid, SendGridOptions};
    let mut options = SendGridOptions::new(7, 240);
    options.requests_per_minute = 0; // the kit's many syncs would wait on the real limit
    let (key, categories) = (options.api_key.clone(), options.categories.clone());
    let sim = Sim::<SendGrid>::start(options).await.expect("start the SendGrid simulator");
    Subject {
        kind: "sendgrid",
        sim: Box::new(sim),
        options: json!({ "api_key": key, "categories": categories, "start_date": "2015-01-01" }),
    }
}

/// Shopify's real bucket (40 calls, 2 a second) stays on: the toolkit paces on the call-limit
/// header and waits out the 429s' `Retry-After: 2.0`.
async fn shopify() -> Subject {
    use engage_sandbox::shopify::{Shopify, ShopifyOptions};
    let options = ShopifyOptions::new(7, 240);
    let token = options.access_token.clone();
    let sim = Sim::<Shopify>::start(options).await.expect("start the Shopify simulator");
    Subject {
        kind: "shopify",
        sim: Box::new(sim),
        options: json!({ "access_token": token, "page_size": 50, "version_mismatch": "fail" }),
    }
}

async fn delighted() -> Subject {
    use engage_sandbox::delighted::{Delighted, DelightedOptions};
    let options = DelightedOptions::new(7, 240);
    let key = options.api_key.clone();
    let sim = Sim::<Delighted>::start(options).await.expect("start the Delighted simulator");
    Subject {
        kind: "delighted",
        sim: Box::new(sim),
        options: json!({ "api_key": key, "page_size": 50,
                         "questions": [{ "question": "21", "kind": "referral" }] }),
    }
}

/// App Store Connect: ES256 tokens, `links.next`; the trailing window fits one page of 100.
async fn app_store() -> Subject {
    use engage_sandbox::app_store::{AppStore, AppStoreOptions};
    let mut options = AppStoreOptions::new(7, 240);
    options.hourly_limit = 1_000_000; // Apple's 3,600 an hour paces the kit at a request a second
    let o = json!({ "issuer_id": options.issuer_id, "key_id": options.key_id,
                    "private_key": options.private_key, "app_id": options.app_id, "page_size": 100 });
    let sim = Sim::<AppStore>::start(options).await.expect("start the App Store Connect simulator");
    Subject { kind: "app_store", sim: Box::new(sim), options: o }
}

/// Google Play lists its whole 7-day window on every sync: one request per page of it.
async fn google_play() -> (Subject, Vec<(&'static str, u64)>) {
    use engage_sandbox::google_play::{GooglePlay, GooglePlayOptions};
    let mut options = GooglePlayOptions::new(7, 120);
    options.reads_per_hour = 0; // Play's 200 an hour would make the kit take an hour
    let o = json!({ "package_name": options.package_name, "access_token": options.access_token,
                    "reads_per_hour": 600_000, "page_size": 40 });
    let sim = Sim::<GooglePlay>::start(options).await.expect("start the Google Play simulator");
    let pages = (sim.simulator().visible(sim.control()) as u64).div_ceil(40);
    (Subject { kind: "google_play", sim: Box::new(sim), options: o }, vec![("reviews", pages)])
}

/// The files connector over seeded CSV and JSON Lines files that change between syncs
/// (`engage_testkit::files`): with nothing changed a sync opens no file.
fn files() -> Subject {
    use engage_testkit::files::{FileSource, FileSourceOptions};
    let source = FileSource::start(FileSourceOptions::default());
    let options = source.options();
    Subject { kind: "files", sim: Box::new(source), options }
}

/// Files opened by a files sync with nothing changed: none.
const FILES_OPENED: &[(&str, u64)] = &[("orders", 0), ("responses", 0), ("events", 0)];

/// Typeform's 2 requests a second stay on: the connector paces itself below them.
async fn typeform() -> Subject {
    use engage_sandbox::typeform::{Typeform, TypeformOptions};
    let options = TypeformOptions::new(7, 240);
    let (token, form) = (options.access_token.clone(), options.form_id.clone());
    let sim = Sim::<Typeform>::start(options).await.expect("start the Typeform simulator");
    Subject {
        kind: "typeform",
        sim: Box::new(sim),
        options: json!({ "access_token": token, "forms": [form], "page_size": 100,
                         "fields": engage_sandbox::typeform::FIELD_MAPPING.iter()
                             .map(|(field, kind, lo, hi)| json!({ "field": field, "kind": kind, "scale_min": lo, "scale_max": hi }))
                             .collect::<Vec<_>>() }),
    }
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn files() {
        super::conformance_local(super::Backend::Sqlite, super::files(), super::FILES_OPENED).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn app_store() {
        super::conformance(super::Backend::Sqlite, super::app_store().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn google_play() {
        let (subject, passes) = super::google_play().await;
        super::conformance_with(super::Backend::Sqlite, subject, &passes).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn zendesk() {
        super::conformance(super::Backend::Sqlite, super::zendesk().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rest_zendesk_users() {
        super::conformance(super::Backend::Sqlite, super::rest_zendesk_users().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn freshdesk() {
        super::conformance_with(super::Backend::Sqlite, super::freshdesk().await, super::FRESHDESK_PASSES)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn helpscout() {
        super::conformance(super::Backend::Sqlite, super::helpscout().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn intercom() {
        super::conformance(super::Backend::Sqlite, super::intercom().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn liveagent() {
        super::conformance(super::Backend::Sqlite, super::liveagent().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn google_business() {
        let (subject, passes) = super::google_business().await;
        super::conformance_with(super::Backend::Sqlite, subject, &passes).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn yelp() {
        let (subject, passes) = super::yelp().await;
        super::conformance_with(super::Backend::Sqlite, subject, &passes).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn trustpilot() {
        super::conformance(super::Backend::Sqlite, super::trustpilot().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postmark() {
        super::conformance_with(super::Backend::Sqlite, super::postmark().await, super::POSTMARK_PASSES)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mailchimp() {
        let (subject, passes) = super::mailchimp().await;
        super::conformance_with(super::Backend::Sqlite, subject, &passes).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn klaviyo() {
        super::conformance_with(super::Backend::Sqlite, super::klaviyo().await, super::KLAVIYO_PASSES).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sendgrid() {
        super::conformance(super::Backend::Sqlite, super::sendgrid().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shopify() {
        super::conformance(super::Backend::Sqlite, super::shopify().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delighted() {
        super::conformance(super::Backend::Sqlite, super::delighted().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn typeform() {
        super::conformance(super::Backend::Sqlite, super::typeform().await).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn files() {
        super::conformance_local(super::Backend::Postgres, super::files(), super::FILES_OPENED).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn app_store() {
        super::conformance(super::Backend::Postgres, super::app_store().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn google_play() {
        let (subject, passes) = super::google_play().await;
        super::conformance_with(super::Backend::Postgres, subject, &passes).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn zendesk() {
        super::conformance(super::Backend::Postgres, super::zendesk().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rest_zendesk_users() {
        super::conformance(super::Backend::Postgres, super::rest_zendesk_users().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn freshdesk() {
        super::conformance_with(super::Backend::Postgres, super::freshdesk().await, super::FRESHDESK_PASSES)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn helpscout() {
        super::conformance(super::Backend::Postgres, super::helpscout().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn intercom() {
        super::conformance(super::Backend::Postgres, super::intercom().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn liveagent() {
        super::conformance(super::Backend::Postgres, super::liveagent().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn google_business() {
        let (subject, passes) = super::google_business().await;
        super::conformance_with(super::Backend::Postgres, subject, &passes).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn yelp() {
        let (subject, passes) = super::yelp().await;
        super::conformance_with(super::Backend::Postgres, subject, &passes).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn trustpilot() {
        super::conformance(super::Backend::Postgres, super::trustpilot().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postmark() {
        super::conformance_with(super::Backend::Postgres, super::postmark().await, super::POSTMARK_PASSES)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mailchimp() {
        let (subject, passes) = super::mailchimp().await;
        super::conformance_with(super::Backend::Postgres, subject, &passes).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn klaviyo() {
        super::conformance_with(super::Backend::Postgres, super::klaviyo().await, super::KLAVIYO_PASSES)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sendgrid() {
        super::conformance(super::Backend::Postgres, super::sendgrid().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shopify() {
        super::conformance(super::Backend::Postgres, super::shopify().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delighted() {
        super::conformance(super::Backend::Postgres, super::delighted().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn typeform() {
        super::conformance(super::Backend::Postgres, super::typeform().await).await;
    }
}

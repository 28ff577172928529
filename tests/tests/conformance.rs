//! The conformance kit for every connector, on SQLite and PostgreSQL.

use engage_sandbox::Sim;
use engage_sandbox::zendesk::{Zendesk, ZendeskOptions};
use engage_store::Backend;
use engage_testkit::{Subject, conformance, conformance_with};
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

mod sqlite {
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
}

mod postgres {
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
}

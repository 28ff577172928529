//! The conformance kit for every connector, on SQLite and PostgreSQL.

use engage_sandbox::Sim;
use engage_sandbox::zendesk::{Zendesk, ZendeskOptions};
use engage_store::Backend;
use engage_testkit::{Subject, conformance};
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

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn zendesk() {
        super::conformance(super::Backend::Sqlite, super::zendesk().await).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn zendesk() {
        super::conformance(super::Backend::Postgres, super::zendesk().await).await;
    }
}

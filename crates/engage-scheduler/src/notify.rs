//! Failure and recovery notifications: a JSON body POSTed to the configured webhook.

use std::time::Duration;

use chrono::{DateTime, Utc};
use engage_config::Secret;
use serde::Serialize;

/// Attempts at delivering one notification.
const ATTEMPTS: u32 = 3;

/// What the webhook receives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    /// `sync_failed` (after its retries) or `sync_recovered` (the first success after that).
    pub event: &'static str,
    /// Connection name.
    pub connection: String,
    /// Stream name.
    pub stream: String,
    /// The failure's class (`retry`, `needs_human`, `bad_record`, `timeout`, `store`); `null`
    /// on recovery.
    pub error_class: Option<String>,
    /// The error, or what recovered.
    pub message: String,
    /// The `sync_runs.run_id` of the run that failed or recovered.
    pub run_id: Option<i64>,
    /// The due time it served.
    pub due_at: DateTime<Utc>,
    /// Attempts made at that due time.
    pub attempts: u32,
    /// The runner that sends it.
    pub runner: String,
}

/// Sends notifications to one webhook.
#[derive(Clone)]
pub struct Notifier {
    url: Secret,
    client: reqwest::Client,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").field("url", &self.url).finish()
    }
}

impl Notifier {
    /// A notifier POSTing to `url` (a secret: it may carry a token).
    pub fn new(url: Secret) -> Result<Notifier, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("engage/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Notifier { url, client })
    }

    /// POSTs `n`, trying a few times; a notification that cannot be delivered is logged (without
    /// the URL), never an error of the sync.
    pub async fn send(&self, n: &Notification) -> bool {
        for attempt in 1..=ATTEMPTS {
            match self.client.post(self.url.expose()).json(n).send().await {
                Ok(response) if response.status().is_success() => {
                    tracing::info!(event = n.event, connection = %n.connection, stream = %n.stream, "webhook notified");
                    return true;
                }
                Ok(response) => {
                    tracing::warn!(
                        status = response.status().as_u16(),
                        attempt,
                        event = n.event,
                        "webhook refused the notification"
                    );
                }
                Err(e) => {
                    // reqwest's message may contain the URL: only its kind is logged.
                    let kind = if e.is_timeout() {
                        "timeout"
                    } else if e.is_connect() {
                        "connect"
                    } else {
                        "request"
                    };
                    tracing::warn!(error = kind, attempt, event = n.event, "webhook could not be reached");
                }
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            }
        }
        false
    }
}

//! Webhook receivers: vendors push events to Engage, which writes them to the store.
//!
//! [`router`] serves `POST /webhooks/sendgrid/{connection}`, SendGrid's Event Webhook, for every
//! connection of kind `sendgrid` in [`WebhookConfig`]. For each batch it:
//!
//! 1. refuses a body over [`WebhookConfig::max_body_bytes`] (413);
//! 2. when the connection has a `webhook_verification_key`, checks the ECDSA signature over the
//!    timestamp header followed by the raw body, and answers 403 without writing anything when it
//!    is missing or wrong;
//! 3. refuses a body that is not a JSON array of events (400), writing nothing from it;
//! 4. writes the batch in one transaction (`Store::commit_page`, stream `events`): one
//!    email event per event, upserted on its id (`sg_event_id` qualified by the event type), so a
//!    batch delivered twice — even concurrently — stores each event once; events that cannot be
//!    mapped are quarantined with the reason.
//!
//! A 2xx tells SendGrid the batch is stored; anything else makes it retry. The verification key
//! is a [`Secret`](engage_config::Secret) and is never logged.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use engage_config::Config;
use engage_sendgrid::webhook::{
    EVENTS_STREAM, SIGNATURE_HEADER, SignatureError, TIMESTAMP_HEADER, VerificationKey, parse_batch,
};
use engage_store::{PageWrite, Store};

/// The largest batch accepted by default (SendGrid batches hold at most a few MB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Attempts at writing a batch before answering 500 (SendGrid then retries the whole batch).
const WRITE_ATTEMPTS: u32 = 3;

/// Errors building the receivers from the configuration (never containing a key).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// A connection's verification key cannot be read.
    #[error("connection `{connection}`: webhook_verification_key: {reason}")]
    Key {
        /// The connection.
        connection: String,
        /// Why.
        reason: String,
    },
}

/// One SendGrid connection that receives Event Webhook batches.
#[derive(Debug, Clone)]
pub struct SendGridReceiver {
    /// The connection the events are stored under (the last segment of the URL).
    pub connection: String,
    /// When set, only batches signed with the matching private key are accepted.
    pub key: Option<VerificationKey>,
}

/// What [`router`] serves.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The SendGrid connections.
    pub sendgrid: Vec<SendGridReceiver>,
    /// The largest body accepted.
    pub max_body_bytes: usize,
}

impl WebhookConfig {
    /// The receivers of every connection of kind `sendgrid` in the configuration, with their
    /// verification keys (`webhook_verification_key`).
    pub fn from_config(config: &Config) -> Result<WebhookConfig, WebhookError> {
        let mut sendgrid = Vec::new();
        for connection in config.connections.iter().filter(|c| c.kind == "sendgrid") {
            let key = match connection.options.get(engage_sendgrid::WEBHOOK_KEY_OPTION) {
                Some(value) => match value.as_secret() {
                    Some(secret) => Some(VerificationKey::from_base64_der(secret.expose()).map_err(|e| {
                        WebhookError::Key { connection: connection.name.clone(), reason: e.to_string() }
                    })?),
                    None => {
                        return Err(WebhookError::Key {
                            connection: connection.name.clone(),
                            reason: "not a secret string".to_owned(),
                        });
                    }
                },
                None => None,
            };
            sendgrid.push(SendGridReceiver { connection: connection.name.clone(), key });
        }
        Ok(WebhookConfig { sendgrid, max_body_bytes: DEFAULT_MAX_BODY_BYTES })
    }
}

struct AppState {
    store: Store,
    sendgrid: HashMap<String, Option<VerificationKey>>,
}

/// The webhook routes (`POST /webhooks/sendgrid/{connection}`), ready to be served or merged into
/// a larger app.
pub fn router(store: Store, config: WebhookConfig) -> Router {
    let sendgrid = config.sendgrid.into_iter().map(|r| (r.connection, r.key)).collect();
    let state = Arc::new(AppState { store, sendgrid });
    Router::new()
        .route("/webhooks/sendgrid/{connection}", post(sendgrid_batch))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .with_state(state)
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn refuse(status: StatusCode, message: &str) -> Response {
    answer(status, serde_json::json!({ "error": message }))
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn sendgrid_batch(
    State(state): State<Arc<AppState>>,
    Path(connection): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(key) = state.sendgrid.get(&connection) else {
        return refuse(StatusCode::NOT_FOUND, "no sendgrid connection of that name");
    };
    if let Some(key) = key {
        let verified =
            match (header_text(&headers, SIGNATURE_HEADER), header_text(&headers, TIMESTAMP_HEADER)) {
                (Some(signature), Some(timestamp)) => key.verify(timestamp, &body, signature),
                _ => Err(SignatureError::Missing),
            };
        if let Err(e) = verified {
            tracing::warn!(connection, reason = %e, "sendgrid webhook batch refused: bad signature");
            return refuse(StatusCode::FORBIDDEN, &e.to_string());
        }
    }
    let batch = match parse_batch(&body) {
        Ok(batch) => batch,
        Err(e) => {
            tracing::warn!(connection, reason = %e, "sendgrid webhook batch refused: malformed");
            return refuse(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    let page = PageWrite {
        records: &batch.records,
        quarantined: &batch.quarantined,
        checkpoint: None,
        run_id: None,
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        match state.store.commit_page(&connection, EVENTS_STREAM, page).await {
            Ok(stats) => {
                tracing::info!(
                    connection,
                    events = batch.records.len(),
                    written = stats.written,
                    quarantined = stats.quarantined,
                    "sendgrid webhook batch stored"
                );
                return answer(
                    StatusCode::OK,
                    serde_json::json!({
                        "events": batch.records.len(),
                        "written": stats.written,
                        "unchanged": stats.unchanged,
                        "quarantined": stats.quarantined,
                    }),
                );
            }
            Err(e) if attempt < WRITE_ATTEMPTS => {
                tracing::warn!(connection, attempt, error = %e, "sendgrid webhook batch: write failed, retrying");
                tokio::time::sleep(std::time::Duration::from_millis(50 * u64::from(attempt))).await;
            }
            Err(e) => {
                tracing::error!(connection, error = %e, "sendgrid webhook batch not stored");
                return refuse(StatusCode::INTERNAL_SERVER_ERROR, "the batch could not be stored; retry");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use engage_config::{Kinds, load_str};
    use engage_sendgrid::SendGrid;
    use p256::ecdsa::SigningKey;
    use p256::pkcs8::EncodePublicKey;

    use super::*;

    fn load(key_line: &str, key: &str) -> Result<WebhookConfig, WebhookError> {
        let text = format!(
            "[store]\nurl = \"sqlite://x.db\"\n\n[[connection]]\nname = \"email\"\nkind = \"sendgrid\"\n\
             api_key = \"SG.x\"\n{key_line}\n\n[[connection]]\nname = \"other\"\nkind = \"sendgrid\"\napi_key = \"SG.y\"\n"
        );
        let kinds = Kinds::new().with("sendgrid", <SendGrid as engage_connect::Connector>::options());
        let env: BTreeMap<String, String> = [("KEY".to_owned(), key.to_owned())].into();
        WebhookConfig::from_config(&load_str(&text, "engage.toml", &kinds, &env).unwrap())
    }

    #[test]
    fn keys_come_from_the_connection_options_and_stay_secret() {
        let der = SigningKey::from_slice(&[9u8; 32]).unwrap().verifying_key().to_public_key_der().unwrap();
        let key = STANDARD.encode(der.as_bytes());
        let config = load("webhook_verification_key = \"${KEY}\"", &key).unwrap();
        let receivers: Vec<(&str, bool)> =
            config.sendgrid.iter().map(|r| (r.connection.as_str(), r.key.is_some())).collect();
        assert_eq!(receivers, [("email", true), ("other", false)]);
        assert_eq!(config.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert!(!format!("{config:?}").contains(&key[30..60]), "the key is never printed");

        let secret = "c2VjcmV0LWJ1dC1ub3QtYS1rZXk=";
        let error = load("webhook_verification_key = \"${KEY}\"", secret).unwrap_err().to_string();
        assert_eq!(
            error,
            "connection `email`: webhook_verification_key: the verification key is not a DER-encoded P-256 public key"
        );
    }
}

//! Authentication schemes, and the OAuth2 client-credentials token cache.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use engage_config::Secret;
use tokio::time::Instant;

use super::client::HttpClient;
use crate::ConnectorError;

/// How a client authenticates. Credentials are sent only to the base URL's origin (and the
/// token URL), never to other hosts a next-page link may point to.
#[derive(Debug, Clone, Default)]
pub enum Auth {
    /// No authentication.
    #[default]
    None,
    /// HTTP Basic (`Authorization: Basic base64(username:password)`); API keys as username work.
    Basic {
        /// User name (or API key).
        username: String,
        /// Password (often `X` or empty for key-as-username schemes).
        password: Secret,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// A header carrying the credential (`X-Api-Key: …`, `Authorization: Klaviyo-API-Key …`).
    Header {
        /// Header name.
        name: String,
        /// Header value.
        value: Secret,
    },
    /// A query parameter carrying the credential (`?key=…`).
    Query {
        /// Parameter name.
        name: String,
        /// Parameter value.
        value: Secret,
    },
    /// OAuth2 client credentials: a token from `token_url`, cached until shortly before it
    /// expires, refreshed once when a request gets a 401.
    OAuth2ClientCredentials {
        /// The token endpoint (absolute URL).
        token_url: String,
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: Secret,
        /// Space-separated scopes, when the vendor wants them.
        scope: Option<String>,
    },
}

impl Auth {
    /// Every secret value of the scheme, for redaction.
    pub(crate) fn secrets(&self) -> Vec<String> {
        match self {
            Self::None => Vec::new(),
            Self::Basic { username, password } => {
                use base64::Engine as _;
                let pair = format!("{username}:{}", password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(&pair);
                let mut secrets = vec![password.expose().to_owned(), pair, encoded];
                // Key-as-username schemes (Freshdesk: `key:X`): the username is the secret.
                if password.expose().len() < 4 {
                    secrets.push(username.clone());
                }
                secrets
            }
            Self::Bearer(token) => vec![token.expose().to_owned()],
            Self::Header { value, .. } | Self::Query { value, .. } => vec![value.expose().to_owned()],
            Self::OAuth2ClientCredentials { client_secret, .. } => vec![client_secret.expose().to_owned()],
        }
    }

    /// The query parameter carrying the credential, if any.
    pub(crate) fn query_param(&self) -> Option<&str> {
        match self {
            Self::Query { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The scheme's name, for `Debug` of the client.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Basic { .. } => "basic",
            Self::Bearer(_) => "bearer",
            Self::Header { .. } => "header",
            Self::Query { .. } => "query",
            Self::OAuth2ClientCredentials { .. } => "oauth2_client_credentials",
        }
    }
}

/// A cached OAuth2 access token.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) value: Secret,
    /// When to fetch a new one (shortly before it expires); `None`: when it is rejected.
    refresh_at: Option<Instant>,
}

/// The token cache: one fetch at a time, shared by every clone of a client.
pub(crate) type TokenCache = tokio::sync::Mutex<Option<Token>>;

/// A boxed future, for the recursion token fetch → request → token fetch.
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl HttpClient {
    /// The current access token; fetches one when there is none, it is about to expire, or it
    /// is `rejected` (a request just got a 401 with it).
    pub(crate) async fn access_token(&self, rejected: Option<&Secret>) -> Result<Secret, ConnectorError> {
        let mut cache = self.token_cache().lock().await;
        if let Some(token) = cache.as_ref() {
            let fresh = token.refresh_at.is_none_or(|at| Instant::now() < at);
            if fresh && rejected != Some(&token.value) {
                return Ok(token.value.clone());
            }
        }
        let token = self.fetch_token().await?;
        let value = token.value.clone();
        *cache = Some(token);
        Ok(value)
    }

    /// POSTs the client credentials to the token URL (through the usual retries).
    fn fetch_token(&self) -> BoxFuture<'_, Result<Token, ConnectorError>> {
        Box::pin(async move {
            let Auth::OAuth2ClientCredentials { token_url, client_id, client_secret, scope } = self.auth()
            else {
                return Err(ConnectorError::needs_human("no OAuth2 credentials configured"));
            };
            let mut form = vec![
                ("grant_type", "client_credentials"),
                ("client_id", client_id.as_str()),
                ("client_secret", client_secret.expose()),
            ];
            if let Some(scope) = scope {
                form.push(("scope", scope.as_str()));
            }
            let requested = Instant::now();
            let (response, body) = self.post(token_url).form(&form).without_auth().send_json().await?;
            let Some(access) = body.get("access_token").and_then(|v| v.as_str()).filter(|s| !s.is_empty())
            else {
                return Err(ConnectorError::needs_human(format!(
                    "the OAuth2 token endpoint {} returned no access_token",
                    self.redactor().path(&response.url)
                )));
            };
            self.redactor().learn(access);
            let expires_in = match body.get("expires_in") {
                Some(serde_json::Value::Number(n)) => n.as_f64(),
                Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
                _ => None,
            };
            let refresh_at = expires_in.filter(|s| s.is_finite() && *s > 0.0).map(|secs| {
                let lifetime = Duration::from_secs_f64(secs.min(1e9));
                requested + lifetime - (lifetime / 10).min(Duration::from_secs(60))
            });
            Ok(Token { value: Secret::new(access), refresh_at })
        })
    }
}

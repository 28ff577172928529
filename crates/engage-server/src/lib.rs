//! `engage serve`: the store's metrics, customers and sync status over HTTP, read-only.
//!
//! - JSON under `/api/`: the metric catalogue, one metric, the overview, customers, one
//!   customer, sync status and runs, each mirroring an `engage` command with the same options;
//!   `/openapi.json` describes them (OpenAPI 3.0); `/healthz` answers whether the store does.
//! - The dashboard, server-rendered HTML with hand-made SVG charts and no script: `/` (the
//!   overview by channel with trends and the previous period, sync status), `/customers`,
//!   `/customers/{email}` (score breakdown, timeline) and `/status`. Every number on a page is
//!   rendered from the value the JSON API returns and carries it in a `data-value` attribute.
//! - `/metrics`, the runner's Prometheus text, when the server runs inside `engage run`.
//!
//! No endpoint writes to the store. A bearer token, when configured, is required by every
//! request; binding anything but a loopback address requires one ([`check_listen`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use engage_config::Secret;
use engage_store::Store;
use tokio_util::sync::CancellationToken;

mod api;
mod chart;
mod html;
mod openapi;
mod query;

pub use openapi::openapi;

/// Renders the Prometheus text served at `/metrics`.
pub type Prometheus = Arc<dyn Fn() -> String + Send + Sync>;

/// What the server serves.
#[derive(Clone)]
pub struct ServerOptions {
    /// The store, read only.
    pub store: Store,
    /// The bearer token every request must carry; `None` serves without one (loopback only).
    pub api_token: Option<Secret>,
    /// The runner's metrics, served at `/metrics` when the server runs inside `engage run`.
    pub prometheus: Option<Prometheus>,
    /// Routes under `/webhooks/` merged in as they are (the SendGrid event receiver, which
    /// authenticates its callers by their signature, not by the bearer token).
    pub webhooks: Option<Router>,
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("store", &self.store.backend())
            .field("api_token", &self.api_token)
            .field("prometheus", &self.prometheus.is_some())
            .field("webhooks", &self.webhooks.is_some())
            .finish()
    }
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A non-loopback address without a token.
    #[error(
        "refusing to listen on {0} without an API token: anything but a loopback address \
         requires one (`[server] api_token`, ENGAGE_API_TOKEN or --api-token-file), or listen on 127.0.0.1"
    )]
    TokenRequired(SocketAddr),
    /// A token that is empty or too short to be one.
    #[error("the API token must be at least 16 characters long")]
    WeakToken,
    /// The address could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

/// The shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// Checks that the server may listen on `addr`: a token when the address is not loopback,
/// and a token long enough when one is given.
pub fn check_listen(addr: SocketAddr, token: Option<&Secret>) -> Result<(), ServeError> {
    match token {
        Some(t) if t.expose().trim().len() < MIN_TOKEN_LEN => Err(ServeError::WeakToken),
        Some(_) => Ok(()),
        None if addr.ip().is_loopback() => Ok(()),
        None => Err(ServeError::TokenRequired(addr)),
    }
}

/// The shared state of the handlers.
#[derive(Clone)]
pub(crate) struct AppState {
    pub store: Store,
    pub prometheus: Option<Prometheus>,
    pub secured: bool,
}

/// The whole application: API, dashboard, `/openapi.json`, `/healthz`, `/metrics` when given,
/// the webhooks under `/webhooks/`, behind the bearer token when one is configured.
pub fn router(options: ServerOptions) -> Router {
    let state = AppState {
        store: options.store,
        prometheus: options.prometheus,
        secured: options.api_token.is_some(),
    };
    let mut app = api::routes().merge(html::routes()).fallback(api::not_found).with_state(state);
    if let Some(token) = options.api_token {
        app = app.layer(axum::middleware::from_fn_with_state(Arc::new(token), require_token));
    }
    // Merge point of the SendGrid webhook receiver (crate engage-webhooks): the CLI passes its
    // `engage_webhooks::router(...)`, whose routes live under /webhooks/; it is the only part
    // that writes to the store, outside the bearer token (SendGrid signs its batches instead).
    if let Some(webhooks) = options.webhooks {
        app = app.merge(webhooks);
    }
    app.layer(axum::middleware::from_fn(security_headers))
}

/// Binds `addr` (after [`check_listen`]) and serves until `stop`; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    options: ServerOptions,
    stop: CancellationToken,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), ServeError> {
    check_listen(addr, options.api_token.as_ref())?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| ServeError::Bind(addr, e))?;
    let bound = listener.local_addr().map_err(|e| ServeError::Bind(addr, e))?;
    let app = router(options);
    let task = tokio::spawn(async move {
        let shutdown = async move { stop.cancelled().await };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::warn!(error = %e, "HTTP server stopped");
        }
    });
    Ok((bound, task))
}

/// Compares without an early exit, so the time taken does not tell how much of a guess matched.
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(!x));
    }
    diff == 0
}

async fn require_token(State(token): State<Arc<Secret>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    match given {
        Some(given) if same(given.as_bytes(), token.expose().trim().as_bytes()) => next.run(request).await,
        _ => {
            let body = serde_json::json!({
                "error": "unauthorized: send the API token as `Authorization: Bearer TOKEN`"
            });
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"engage\""))],
                axum::Json(body),
            )
                .into_response()
        }
    }
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"),
    );
    response
}

#[cfg(test)]
mod tests;

//! `/metrics` (Prometheus text format) and `/healthz`, served with axum.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// What the endpoints read.
#[derive(Clone)]
pub struct Observed {
    /// The runner's counters.
    pub metrics: Arc<Metrics>,
    /// Whether the runner's last exchange with the store succeeded.
    pub healthy: Arc<AtomicBool>,
    /// The runner's id.
    pub runner: String,
}

async fn metrics(State(o): State<Observed>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], o.metrics.render()).into_response()
}

async fn healthz(State(o): State<Observed>) -> Response {
    let healthy = o.healthy.load(Ordering::SeqCst);
    let body = serde_json::json!({
        "status": if healthy { "ok" } else { "store unreachable" },
        "runner": o.runner,
        "running": o.metrics.running_now(),
    });
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

/// Binds `addr` and serves `/metrics` and `/healthz` until `stop`; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    observed: Observed,
    stop: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app =
        Router::new().route("/metrics", get(metrics)).route("/healthz", get(healthz)).with_state(observed);
    let task = tokio::spawn(async move {
        let shutdown = async move { stop.cancelled().await };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::warn!(error = %e, "metrics server stopped");
        }
    });
    Ok((bound, task))
}

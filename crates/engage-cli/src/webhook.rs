//! `engage webhook --listen IP:PORT`: the webhook receivers alone (SendGrid's Event Webhook at
//! `POST /webhooks/sendgrid/{connection}`), until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::Path;

use engage_store::Store;
use engage_webhooks::WebhookConfig;

use crate::commands::{Failure, load, store_url};

/// Serves the receivers of every `sendgrid` connection of the configuration on `listen`.
pub async fn webhook(config_path: &Path, listen: SocketAddr) -> Result<(), Failure> {
    let config = load(config_path)?;
    let receivers = WebhookConfig::from_config(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    if receivers.sendgrid.is_empty() {
        return Err(anyhow::anyhow!(
            "no connection of kind `sendgrid` in {}: nothing to receive",
            config_path.display()
        )
        .into());
    }
    let store = Store::open(&store_url(&config, config_path)).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let bound = listener.local_addr()?;
    for receiver in &receivers.sendgrid {
        let signed = if receiver.key.is_some() { "signed batches only" } else { "unsigned" };
        eprintln!(
            "receiving SendGrid events on http://{bound}/webhooks/sendgrid/{} ({signed})",
            receiver.connection
        );
    }
    let app = engage_webhooks::router(store.clone(), receivers);
    axum::serve(listener, app).with_graceful_shutdown(stop_signal()).await?;
    store.close().await;
    eprintln!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

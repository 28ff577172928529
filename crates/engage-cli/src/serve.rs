//! `engage serve`: the read-only HTTP API and dashboard over the store until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use engage_config::{Config, Secret};
use engage_server::{ServerOptions, check_listen};
use engage_store::Store;
use engage_webhooks::WebhookConfig;
use tokio_util::sync::CancellationToken;

use crate::commands::{Failure, load, store_url};

/// The environment variable holding the API token.
pub const TOKEN_ENV: &str = "ENGAGE_API_TOKEN";

/// The address `engage serve` listens on without `--listen` or `[server] listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The API token: from `--api-token-file` (trailing newline dropped), else `[server] api_token`
/// of the configuration, else `ENGAGE_API_TOKEN`.
pub fn api_token(file: Option<&PathBuf>, config: &Config) -> Result<Option<Secret>, Failure> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the API token file {}: {e}", path.display()))?;
        return Ok(Some(Secret::new(text.trim_end_matches(['\r', '\n']))));
    }
    if let Some(token) = &config.server.api_token {
        return Ok(Some(token.clone()));
    }
    Ok(std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()).map(Secret::new))
}

/// The options shared by `engage serve` and `engage run --serve` (whose callers have checked
/// `listen` against `api_token` with [`check_listen`] before opening anything). The SendGrid Event Webhook
/// receivers of the configuration's `sendgrid` connections are mounted under
/// `/webhooks/sendgrid/CONNECTION` (they verify SendGrid's signature, not the bearer token).
pub fn prepare(store: Store, config: &Config, api_token: Option<Secret>) -> Result<ServerOptions, Failure> {
    let receivers = WebhookConfig::from_config(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let webhooks = if receivers.sendgrid.is_empty() {
        None
    } else {
        for receiver in &receivers.sendgrid {
            let signed = if receiver.key.is_some() { "signed batches only" } else { "unsigned" };
            eprintln!("receiving SendGrid events at /webhooks/sendgrid/{} ({signed})", receiver.connection);
        }
        Some(engage_webhooks::router(store.clone(), receivers))
    };
    Ok(ServerOptions { store, api_token, prometheus: None, webhooks })
}

/// `engage serve`.
pub async fn serve(
    config_path: &Path,
    listen: Option<SocketAddr>,
    token_file: Option<&PathBuf>,
) -> Result<(), Failure> {
    let config = load(config_path)?;
    let listen = match listen.or(config.server.listen) {
        Some(addr) => addr,
        None => DEFAULT_LISTEN.parse().map_err(|e| anyhow::anyhow!("{DEFAULT_LISTEN}: {e}"))?,
    };
    // Checked before the store is opened, so a refused address fails fast and touches nothing.
    let token = api_token(token_file, &config)?;
    check_listen(listen, token.as_ref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = Store::open(&store_url(&config, config_path)).await?;
    let options = prepare(store.clone(), &config, token)?;
    let secured = options.api_token.is_some();
    let stop = CancellationToken::new();
    spawn_signal_handler(stop.clone());
    let (bound, task) =
        engage_server::serve(listen, options, stop.clone()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!(
        "serving the dashboard and API on http://{bound}/ ({}); Ctrl-C or SIGTERM stops",
        if secured { "bearer token required" } else { "no token: loopback only" }
    );
    task.await.ok();
    store.close().await;
    Ok(())
}

/// Cancels `stop` on SIGINT or SIGTERM.
fn spawn_signal_handler(stop: CancellationToken) {
    tokio::spawn(async move {
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
        eprintln!("stopping the server");
        stop.cancel();
    });
}

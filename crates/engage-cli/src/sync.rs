//! `engage check` and `engage sync`: progress for people, a summary table at the end.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engage_runner::{BuildOptions, Progress, Selection, StreamOutcome, SyncOptions};
use engage_store::{RunStatus, Store};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::commands::{Failure, load, store_url};
use crate::output::{Table, print_table};
use crate::{Format, exit};

/// Streams synced at the same time.
const CONCURRENCY: usize = 4;

/// `engage check [CONNECTION]`.
pub async fn check(config_path: &Path, only: Option<&str>) -> Result<(), Failure> {
    let config = load(config_path)?;
    let connections = engage_runner::build_connections(&config, &BuildOptions::default())?;
    let selected: Vec<_> = connections.iter().filter(|c| only.is_none_or(|n| n == c.config.name)).collect();
    if let Some(name) = only.filter(|_| selected.is_empty()) {
        return Err(anyhow::anyhow!("no connection named `{name}`").into());
    }
    let mut rows = Vec::new();
    let mut failed = false;
    for conn in selected {
        let result = conn.connector.check().await;
        failed |= result.is_err();
        rows.push(vec![
            json!(conn.config.name),
            json!(conn.config.kind),
            json!(if result.is_ok() { "ok" } else { "failed" }),
            json!(result.err().map(|e| e.message).unwrap_or_default()),
        ]);
    }
    let columns = ["connection", "kind", "check", "error"].map(String::from).to_vec();
    print_table(&Table { columns, rows }, Format::Table)?;
    if failed { Err(Failure::Exit(exit::FAILURE)) } else { Ok(()) }
}

/// `engage sync`.
pub async fn sync(
    config_path: &Path,
    connections: Vec<String>,
    stream: Option<String>,
    full_refresh: bool,
    format: Format,
) -> Result<(), Failure> {
    let config = load(config_path)?;
    let store = Store::open(&store_url(&config, config_path)).await?;
    let built = engage_runner::build_connections(&config, &BuildOptions::default())?;
    let selection = Selection { connections, stream };
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: committing the pages already fetched, then stopping");
            on_ctrl_c.cancel();
        }
    });
    let reporter = Reporter::new(std::io::stderr().is_terminal());
    let options = SyncOptions {
        full_refresh,
        cancel: cancel.clone(),
        progress: Some(reporter.callback()),
        ..SyncOptions::default()
    };
    let outcomes = engage_runner::sync_selected(&store, &built, &selection, &options, CONCURRENCY).await?;
    reporter.finish();
    // The unified customers follow the identities just synced; only changes are written.
    if !cancel.is_cancelled()
        && let Err(e) = engage_metrics::customers::link(&store).await
    {
        eprintln!("warning: linking identities into customers failed: {e}");
    }
    store.close().await;
    print_summary(&outcomes, format)?;
    if outcomes.iter().any(|o| o.status == RunStatus::Failed) {
        return Err(Failure::Exit(exit::FAILURE));
    }
    if cancel.is_cancelled() {
        return Err(Failure::Exit(exit::INTERRUPTED));
    }
    Ok(())
}

fn print_summary(outcomes: &[StreamOutcome], format: Format) -> std::io::Result<()> {
    let columns = [
        "connection",
        "stream",
        "status",
        "pages",
        "records",
        "written",
        "quarantined",
        "seconds",
        "records_per_s",
        "error",
    ]
    .map(String::from)
    .to_vec();
    let rows = outcomes
        .iter()
        .map(|o| {
            let secs = o.elapsed.as_secs_f64();
            vec![
                json!(o.connection),
                json!(o.stream),
                json!(o.status.as_str()),
                json!(o.pages),
                json!(o.records),
                json!(o.written),
                json!(o.quarantined),
                json!((secs * 100.0).round() / 100.0),
                json!(if secs > 0.0 { (o.records as f64 / secs).round() as u64 } else { 0 }),
                json!(o.error.clone().unwrap_or_default()),
            ]
        })
        .collect();
    print_table(&Table { columns, rows }, format)
}

/// Progress display: a bar per stream on a terminal, a log line every few seconds otherwise.
struct Reporter {
    multi: Option<MultiProgress>,
    bars: Mutex<Vec<((String, String), ProgressBar)>>,
    last_line: Mutex<std::time::Instant>,
}

impl Reporter {
    fn new(terminal: bool) -> Arc<Self> {
        Arc::new(Self {
            multi: terminal.then(MultiProgress::new),
            bars: Mutex::new(Vec::new()),
            last_line: Mutex::new(std::time::Instant::now()),
        })
    }

    fn callback(self: &Arc<Self>) -> engage_runner::ProgressFn {
        let me = Arc::clone(self);
        Arc::new(move |p: &Progress| me.report(p))
    }

    fn report(&self, p: &Progress) {
        let rate = p.records as f64 / p.elapsed.as_secs_f64().max(0.001);
        let message = format!(
            "{}/{}: {} records, {} pages, {:.0} records/s{}",
            p.connection,
            p.stream,
            p.records,
            p.pages,
            rate,
            if p.quarantined > 0 { format!(", {} quarantined", p.quarantined) } else { String::new() }
        );
        match &self.multi {
            Some(multi) => {
                let Ok(mut bars) = self.bars.lock() else { return };
                let key = (p.connection.clone(), p.stream.clone());
                let bar = match bars.iter().find(|(k, _)| *k == key) {
                    Some((_, bar)) => bar.clone(),
                    None => {
                        let bar = multi.add(ProgressBar::new_spinner());
                        bar.set_style(
                            ProgressStyle::with_template("{spinner} {msg}")
                                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                        );
                        bar.enable_steady_tick(Duration::from_millis(120));
                        bars.push((key, bar.clone()));
                        bar
                    }
                };
                bar.set_message(message);
            }
            None => {
                let Ok(mut last) = self.last_line.lock() else { return };
                if last.elapsed() >= Duration::from_secs(5) || p.pages == 1 {
                    *last = std::time::Instant::now();
                    eprintln!("{message}");
                }
            }
        }
    }

    fn finish(&self) {
        if let Ok(bars) = self.bars.lock() {
            for (_, bar) in bars.iter() {
                bar.finish();
            }
        }
    }
}

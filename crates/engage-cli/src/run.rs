//! `engage run` (the scheduler as a foreground service) and `engage status` (per stream).

use std::net::SocketAddr;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use engage_runner::BuildOptions;
use engage_scheduler::{Clock, Scheduler, runner_id};
use engage_store::Store;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::Format;
use crate::commands::{Failure, load, store_url};
use crate::output::{Table, print_table};

/// Options of `engage run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Serves `/metrics` and `/healthz` here (overrides `[scheduler] metrics_address`).
    pub metrics_address: Option<SocketAddr>,
    /// Also serves the HTTP API, the dashboard and `/metrics` here (`engage serve`'s server).
    pub serve: Option<SocketAddr>,
    /// The API token of `serve`, from this file (else `[server] api_token`, else
    /// `ENGAGE_API_TOKEN`).
    pub api_token_file: Option<std::path::PathBuf>,
    /// Scheduler time runs this many times faster than wall time (tests).
    pub time_scale: Option<f64>,
    /// The wall time at which scheduler time starts running faster (tests; default: now).
    pub time_epoch: Option<DateTime<Utc>>,
}

/// `engage run`: syncs every enabled connection on its schedule until SIGINT or SIGTERM.
pub async fn run(config_path: &Path, options: RunOptions) -> Result<(), Failure> {
    let config = load(config_path)?;
    // A refused --serve address fails before anything starts.
    let api_token = match options.serve {
        Some(addr) => {
            let token = crate::serve::api_token(options.api_token_file.as_ref(), &config)?;
            engage_server::check_listen(addr, token.as_ref()).map_err(|e| anyhow::anyhow!("{e}"))?;
            token
        }
        None => None,
    };
    let store = Store::open(&store_url(&config, config_path)).await?;
    let connections = engage_runner::build_connections(&config, &BuildOptions::default())?;
    let clock = match options.time_scale {
        Some(scale) => Clock::scaled(options.time_epoch.unwrap_or_else(Utc::now), scale),
        None => Clock::system(),
    };
    let id = runner_id();
    let scheduler = Scheduler::new(store.clone(), &config, connections, id.clone(), clock)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    let stop_server = CancellationToken::new();
    let server = match options.metrics_address.or(config.scheduler.metrics_address) {
        Some(addr) => {
            let (bound, task) = scheduler
                .serve_metrics(addr, stop_server.clone())
                .await
                .map_err(|e| anyhow::anyhow!("cannot serve metrics on {addr}: {e}"))?;
            eprintln!("serving /metrics and /healthz on http://{bound}");
            Some(task)
        }
        None => None,
    };
    let api = match options.serve {
        Some(addr) => {
            let mut server = crate::serve::prepare(store.clone(), &config, api_token)?;
            let observed = scheduler.observed();
            server.prometheus = Some(std::sync::Arc::new(move || observed.metrics.render()));
            let (bound, task) = engage_server::serve(addr, server, stop_server.clone())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!("serving the dashboard, API and /metrics on http://{bound}/");
            Some(task)
        }
        None => None,
    };
    let streams = scheduler.plans().count();
    let connections = config.connections.iter().filter(|c| c.enabled).count();
    eprintln!(
        "runner {id}: {streams} stream(s) of {connections} connection(s) on schedule; Ctrl-C or SIGTERM stops"
    );
    let result = scheduler.run(shutdown).await;
    stop_server.cancel();
    if let Some(task) = server {
        task.await.ok();
    }
    if let Some(task) = api {
        task.await.ok();
    }
    store.close().await;
    result.map_err(|e| Failure::Other(anyhow::anyhow!("{e}")))?;
    eprintln!("runner {id} stopped");
    Ok(())
}

/// Cancels `shutdown` on SIGINT or SIGTERM.
fn spawn_signal_handler(shutdown: CancellationToken) {
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
        eprintln!("stopping: committing the pages in flight and releasing leases");
        shutdown.cancel();
    });
}

fn time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| json!(t.to_rfc3339_opts(SecondsFormat::Secs, true)))
}

/// `engage status`: per connection and stream, its latest run, last success and failure,
/// stored rows, next due time and lease.
pub async fn status(config_path: &Path, format: Format) -> Result<(), Failure> {
    let config = load(config_path)?;
    let store = Store::open(&store_url(&config, config_path)).await?;
    let streams = store.stream_status().await?;
    store.close().await;
    if streams.is_empty() && format == Format::Table {
        println!("no sync runs yet");
        return Ok(());
    }
    let all = [
        "connection",
        "stream",
        "status",
        "finished_at",
        "pages",
        "records",
        "error",
        "last_success_at",
        "last_failure_at",
        "last_failure_error",
        "stored_records",
        "schedule",
        "next_due_at",
        "holder",
        "lease_expires_at",
        "waiting",
    ];
    let rows: Vec<Vec<Value>> = streams
        .iter()
        .map(|s| {
            let run = s.last_run.as_ref();
            let schedule = s.schedule.as_ref();
            vec![
                json!(s.connection),
                json!(s.stream),
                run.map_or(Value::Null, |r| json!(r.status.as_str())),
                time(run.and_then(|r| r.finished_at)),
                run.map_or(Value::Null, |r| json!(r.pages)),
                run.map_or(Value::Null, |r| json!(r.records)),
                run.and_then(|r| r.error.clone()).map_or(Value::Null, Value::String),
                time(s.last_success_at),
                time(s.last_failure_at),
                s.last_error.clone().map_or(Value::Null, Value::String),
                json!(s.stored_records),
                schedule.map_or(Value::Null, |r| json!(r.cadence)),
                time(schedule.map(|r| r.next_due_at)),
                schedule.and_then(|r| r.holder.clone()).map_or(Value::Null, Value::String),
                time(schedule.and_then(|r| r.lease_expires_at)),
                schedule.and_then(|r| r.waiting_reason.clone()).map_or(Value::Null, Value::String),
            ]
        })
        .collect();
    // People get the columns that fit a terminal; scripts get everything.
    let shown: Vec<usize> = match format {
        Format::Table => [0, 1, 2, 7, 5, 8, 9, 10, 12, 13, 15].to_vec(),
        _ => (0..all.len()).collect(),
    };
    let table = Table {
        columns: shown.iter().map(|&i| all[i].to_owned()).collect(),
        rows: rows.iter().map(|r| shown.iter().map(|&i| r[i].clone()).collect()).collect(),
    };
    print_table(&table, format)?;
    Ok(())
}

//! `engage`: gather customer-engagement signals into a store you own, and query them.
//!
//! Exit codes: see [`exit`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod commands;
mod demo;
mod metrics;
mod output;
mod run;
mod serve;
mod sync;
mod webhook;

/// Exit codes of `engage`, documented in the README.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// A failure at run time: the store is unreachable, a sync failed...
    pub const FAILURE: u8 = 1;
    /// Bad command-line usage.
    pub const USAGE: u8 = 2;
    /// Interrupted (Ctrl-C): pages already fetched were committed.
    pub const INTERRUPTED: u8 = 130;
    /// `engage query` refused a statement that would write.
    pub const WRITE_REFUSED: u8 = 77;
    /// The configuration file is invalid (EX_CONFIG).
    pub const CONFIG: u8 = 78;
}

/// Gathers customer-engagement signals into one store and measures engagement.
#[derive(Debug, Parser)]
#[command(name = "engage", version, about, propagate_version = true)]
struct Cli {
    /// The configuration file.
    #[arg(long, global = true, env = "ENGAGE_CONFIG", default_value = "engage.toml")]
    config: PathBuf,
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Output format of tabular results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns, for people.
    Table,
    /// A JSON array of objects, for scripts.
    Json,
    /// CSV with a header row, for spreadsheets.
    Csv,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a commented starter configuration to the --config path.
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Check the configuration file and report every problem in it.
    Validate,
    /// Create or upgrade the store's tables.
    Migrate,
    /// Run one read-only SQL statement on the store.
    Query {
        /// The SQL statement.
        sql: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Check each connection's credentials and reachability (read-only).
    Check {
        /// Only this connection.
        connection: Option<String>,
    },
    /// Sync connections into the store (all enabled connections when none is named).
    Sync {
        /// Connections to sync.
        connections: Vec<String>,
        /// Only this stream.
        #[arg(long)]
        stream: Option<String>,
        /// Ignore checkpoints and read everything again.
        #[arg(long)]
        full_refresh: bool,
        /// Format of the summary.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Start the built-in simulators, sync them into a fresh SQLite store and show the result.
    Demo {
        /// Where to write engage.toml and engage.db (a new temporary folder when absent).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Records per simulator.
        #[arg(long, default_value_t = 5_000)]
        records: usize,
    },
    /// Run the vendor API simulators on 127.0.0.1 until Ctrl-C, printing their base URLs.
    Sandbox {
        /// Simulators to start (all when none is named).
        names: Vec<String>,
        /// Records per simulator.
        #[arg(long, default_value_t = 5_000)]
        records: usize,
    },
    /// Metrics: `list` (definitions), `overview` (headline metrics by channel), or a metric name.
    Metrics {
        /// `list`, `overview`, or a metric name from `engage metrics list`.
        name: String,
        #[command(flatten)]
        window: metrics::WindowArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Unified customers: link identities, show one customer whole.
    Customers {
        #[command(subcommand)]
        command: CustomersCommand,
    },
    /// Predictive customer lifetime value (BG/NBD and Gamma-Gamma).
    Clv {
        #[command(subcommand)]
        command: ClvCommand,
    },
    /// Per connection and stream: latest run, last success and failure, records, next due time
    /// and lease holder (`--runs`: the recent sync runs instead).
    Status {
        /// Show the most recent sync runs instead.
        #[arg(long)]
        runs: bool,
        /// How many runs `--runs` shows.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Receive pushed events (SendGrid's Event Webhook at /webhooks/sendgrid/CONNECTION) into the
    /// store until SIGINT or SIGTERM.
    Webhook {
        /// IP:PORT to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: std::net::SocketAddr,
    },
    /// Keep every enabled connection synced on its schedule until SIGINT or SIGTERM.
    Run {
        /// Serve /metrics and /healthz at IP:PORT (overrides `[scheduler] metrics_address`).
        #[arg(long)]
        metrics_address: Option<std::net::SocketAddr>,
        /// Also serve the HTTP API, the dashboard and /metrics at IP:PORT (see `engage serve`).
        #[arg(long, value_name = "ADDR")]
        serve: Option<std::net::SocketAddr>,
        /// File holding the API token of --serve (else `[server] api_token`, else ENGAGE_API_TOKEN).
        #[arg(long, requires = "serve")]
        api_token_file: Option<PathBuf>,
        /// Run scheduler time this many times faster than wall time (for tests).
        #[arg(long, hide = true)]
        time_scale: Option<f64>,
        /// RFC 3339 wall time from which scheduler time runs faster (for tests; default now).
        #[arg(long, hide = true)]
        time_epoch: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Serve the read-only HTTP API (/api/..., /openapi.json, /healthz) and the dashboard until
    /// SIGINT or SIGTERM. A non-loopback address requires an API token (bearer).
    Serve {
        /// IP:PORT to listen on (else `[server] listen`, else 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// File holding the API token (else `[server] api_token`, else ENGAGE_API_TOKEN); every
        /// request must then send it as `Authorization: Bearer TOKEN`.
        #[arg(long)]
        api_token_file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum CustomersCommand {
    /// Link identities of every source into customers now (sync does it after each run).
    Link {
        /// Relink the whole store from scratch instead of what changed since the last pass.
        #[arg(long)]
        full: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// One customer: linked identities, engagement score and breakdown, CLV, timeline.
    Show {
        /// An email address the customer is known by.
        email: String,
        /// Time zone for days and the CLV calibration date.
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// TOML file with score weights, bands and transforms.
        #[arg(long)]
        score_config: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
enum ClvCommand {
    /// Fit BG/NBD and Gamma-Gamma on the store's orders; print parameters and diagnostics.
    Fit {
        /// Last day of the calibration period (inclusive).
        #[arg(long)]
        calibration_end: chrono::NaiveDate,
        /// Time zone in which orders fall on days.
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// Only orders of this connection (repeatable).
        #[arg(long)]
        connection: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A service logs what it does; one-shot commands only warnings.
    let default_level =
        if matches!(cli.command, Command::Run { .. } | Command::Serve { .. }) { "info" } else { "warn" };
    init_logging(cli.log_format, default_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let code = runtime.block_on(run(cli));
    ExitCode::from(code)
}

async fn run(cli: Cli) -> u8 {
    let config = cli.config.as_path();
    let result = match cli.command {
        Command::Init { force } => commands::init(config, force),
        Command::Validate => commands::validate(config),
        Command::Migrate => commands::migrate(config).await,
        Command::Query { sql, format } => commands::query(config, &sql, format).await,
        Command::Status { runs: true, limit, format } => commands::status(config, limit, format).await,
        Command::Status { runs: false, format, .. } => run::status(config, format).await,
        Command::Run { metrics_address, serve, api_token_file, time_scale, time_epoch } => {
            let options = run::RunOptions { metrics_address, serve, api_token_file, time_scale, time_epoch };
            run::run(config, options).await
        }
        Command::Serve { listen, api_token_file } => {
            serve::serve(config, listen, api_token_file.as_ref()).await
        }
        Command::Metrics { name, window, format } => match name.as_str() {
            "list" => metrics::list(format),
            "overview" => metrics::overview(config, &window, format).await,
            name => metrics::metric(config, name, &window, format).await,
        },
        Command::Customers { command: CustomersCommand::Link { full, format } } => {
            metrics::link(config, full, format).await
        }
        Command::Customers { command: CustomersCommand::Show { email, tz, score_config, format } } => {
            metrics::show(config, &email, &tz, score_config.as_ref(), format).await
        }
        Command::Clv { command: ClvCommand::Fit { calibration_end, tz, connection, format } } => {
            metrics::clv_fit(config, calibration_end, &tz, &connection, format).await
        }
        Command::Demo { dir, records } => demo::demo(dir, records).await,
        Command::Webhook { listen } => webhook::webhook(config, listen).await,
        Command::Sandbox { names, records } => demo::sandbox(names, records).await,
        Command::Check { connection } => sync::check(config, connection.as_deref()).await,
        Command::Sync { connections, stream, full_refresh, format } => {
            sync::sync(config, connections, stream, full_refresh, format).await
        }
    };
    match result {
        Ok(()) => exit::OK,
        Err(failure) => failure.report(),
    }
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ENGAGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Makes a relative SQLite path in the store URL relative to the configuration file's folder,
/// so the store does not depend on where `engage` is started.
pub fn resolve_store_url(url: &str, config_path: &Path) -> String {
    let Some(rest) = url.strip_prefix("sqlite://") else {
        return url.to_owned();
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, format!("?{q}")),
        None => (rest, String::new()),
    };
    if path.is_empty() || path.starts_with('/') || path.starts_with(':') {
        return url.to_owned();
    }
    let base = config_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    format!("sqlite://{}{query}", base.join(path).display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_sqlite_paths_follow_the_config_file() {
        let cfg = Path::new("/etc/engage/engage.toml");
        assert_eq!(resolve_store_url("sqlite://engage.db", cfg), "sqlite:///etc/engage/engage.db");
        assert_eq!(resolve_store_url("sqlite:///var/lib/e.db", cfg), "sqlite:///var/lib/e.db");
        assert_eq!(
            resolve_store_url("sqlite://data/e.db?mode=rwc", cfg),
            "sqlite:///etc/engage/data/e.db?mode=rwc"
        );
        assert_eq!(resolve_store_url("sqlite://engage.db", Path::new("engage.toml")), "sqlite://./engage.db");
        assert_eq!(resolve_store_url("postgres://h/db", cfg), "postgres://h/db");
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

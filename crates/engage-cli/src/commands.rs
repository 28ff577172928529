//! The subcommands. Each returns `Ok(())` or a [`Failure`] that knows its exit code.

use std::fmt;
use std::path::Path;

use engage_config::{Config, ProcessEnv, STARTER_CONFIG};
use engage_store::{Store, StoreError, query_read_only};

use crate::output::{Table, print_table};
use crate::{Format, exit, resolve_store_url};

/// A command that did not succeed: what to tell the user and which exit code to use.
pub enum Failure {
    /// The configuration is invalid; every problem is listed.
    Config(engage_config::ConfigErrors),
    /// A statement was refused because it would write.
    WriteRefused(String),
    /// Anything else.
    Other(anyhow::Error),
    /// Already reported; exit with this code.
    Exit(u8),
}

impl Failure {
    /// Prints the failure on standard error and returns the exit code.
    pub fn report(self) -> u8 {
        match self {
            Failure::Config(errors) => {
                eprintln!("{errors}");
                eprintln!("error: the configuration has {} problem(s)", errors.len());
                exit::CONFIG
            }
            Failure::WriteRefused(message) => {
                eprintln!("error: {message}");
                exit::WRITE_REFUSED
            }
            Failure::Other(error) => {
                eprintln!("error: {error:#}");
                exit::FAILURE
            }
            Failure::Exit(code) => code,
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure::Other(error.into())
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Config(e) => write!(f, "Config({e})"),
            Failure::WriteRefused(m) => write!(f, "WriteRefused({m})"),
            Failure::Other(e) => write!(f, "Other({e:#})"),
            Failure::Exit(code) => write!(f, "Exit({code})"),
        }
    }
}

type Outcome = Result<(), Failure>;

/// Loads and validates the configuration against the connector kinds of this build.
pub(crate) fn load(config_path: &Path) -> Result<Config, Failure> {
    engage_config::load_file(config_path, &engage_runner::kinds(), &ProcessEnv).map_err(Failure::Config)
}

/// The configured store URL, a relative SQLite path resolved against the config file.
pub(crate) fn store_url(config: &Config, config_path: &Path) -> String {
    resolve_store_url(config.store.url.expose(), config_path)
}

async fn open_store(config_path: &Path) -> Result<Store, Failure> {
    let config = load(config_path)?;
    Ok(Store::open(&store_url(&config, config_path)).await?)
}

/// `engage init`.
pub fn init(config_path: &Path, force: bool) -> Outcome {
    if config_path.exists() && !force {
        return Err(anyhow::anyhow!(
            "{} already exists; pass --force to overwrite it",
            config_path.display()
        )
        .into());
    }
    if let Some(parent) = config_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(config_path, STARTER_CONFIG)?;
    println!("wrote {}", config_path.display());
    println!("next: edit it, then run `engage --config {} validate`", config_path.display());
    Ok(())
}

/// `engage validate`.
pub fn validate(config_path: &Path) -> Outcome {
    let config = load(config_path)?;
    let backend = if config.store.is_sqlite() { "SQLite" } else { "PostgreSQL" };
    println!("{}: OK ({} connection(s), {backend} store)", config_path.display(), config.connections.len());
    Ok(())
}

/// `engage migrate`.
pub async fn migrate(config_path: &Path) -> Outcome {
    let config = load(config_path)?;
    let store = Store::connect(&store_url(&config, config_path)).await?;
    let applied = store.migrate().await?;
    if applied.is_empty() {
        println!("store is up to date ({})", store.backend());
    } else {
        let versions: Vec<String> = applied.iter().map(i64::to_string).collect();
        println!("applied migration(s) {} ({})", versions.join(", "), store.backend());
    }
    store.close().await;
    Ok(())
}

/// `engage query`.
pub async fn query(config_path: &Path, sql: &str, format: Format) -> Outcome {
    let config = load(config_path)?;
    let url = store_url(&config, config_path);
    let result = match query_read_only(&url, sql).await {
        Ok(result) => result,
        Err(StoreError::WriteRefused(message)) => {
            return Err(Failure::WriteRefused(format!(
                "refused: `engage query` is read-only and this statement would change the store ({message})"
            )));
        }
        Err(other) => return Err(other.into()),
    };
    print_table(&Table { columns: result.columns, rows: result.rows }, format)?;
    Ok(())
}

/// `engage status`.
pub async fn status(config_path: &Path, limit: i64, format: Format) -> Outcome {
    let store = open_store(config_path).await?;
    let runs = store.recent_runs(limit).await?;
    store.close().await;
    let columns = [
        "run_id",
        "connection",
        "stream",
        "status",
        "started_at",
        "finished_at",
        "pages",
        "records",
        "quarantined",
        "error",
    ];
    let rows = runs
        .iter()
        .map(|run| {
            let value = serde_json::to_value(run).unwrap_or_default();
            columns.iter().map(|c| value.get(*c).cloned().unwrap_or_default()).collect()
        })
        .collect();
    if runs.is_empty() && format == Format::Table {
        println!("no sync runs yet");
        return Ok(());
    }
    print_table(&Table { columns: columns.iter().map(|c| c.to_string()).collect(), rows }, format)?;
    Ok(())
}

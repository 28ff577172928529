//! The typed configuration and the loader.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::schedule::{Cadence, Cron, Schedule, parse_duration};
use crate::walk::{Span, Unknown, Walker, backticked, child, closest, line_col};
use crate::{ConfigError, ConfigErrors, Env, Field, FieldType, Kinds, OptionValue, Options, Schema, Secret};

/// A whole, valid `engage.toml`.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `[store]`: where synced data goes.
    pub store: StoreConfig,
    /// `[scheduler]`: how `engage run` schedules syncs.
    pub scheduler: SchedulerConfig,
    /// `[server]`: how `engage serve` (and `engage run --serve`) serves the API and dashboard.
    pub server: ServerConfig,
    /// Every `[[connection]]`, in file order.
    pub connections: Vec<ConnectionConfig>,
}

impl Config {
    /// The schema of the whole file (for documentation; the loader uses it too).
    /// `connection` elements also accept their kind's own options.
    pub fn schema() -> Schema {
        Schema::new(vec![
            StoreConfig::field(),
            SchedulerConfig::field(),
            ServerConfig::field(),
            Field::optional(
                CONNECTION,
                FieldType::TableList(ConnectionConfig::common_schema()),
                "One [[connection]] per vendor account to sync from.",
            ),
        ])
    }

    /// The connection called `name`.
    pub fn connection(&self, name: &str) -> Option<&ConnectionConfig> {
        self.connections.iter().find(|c| c.name == name)
    }
}

/// The key of the connection list.
const CONNECTION: &str = "connection";

/// A fixed top-level table of `engage.toml`. Adding a section means: a struct
/// implementing this, a line in [`Config::schema`] and a field in [`Config`]
/// filled by [`build_section`].
trait Section: Sized {
    /// The table's key.
    const KEY: &'static str;
    /// One line of user documentation.
    const DOC: &'static str;
    /// The keys the section accepts.
    fn schema() -> Schema;
    /// Builds the section from its validated options (empty when the section
    /// is absent), applying defaults and reporting semantic problems.
    fn build(options: Options, check: &mut Check<'_, '_>) -> Self;

    /// The section as a field of the root schema.
    fn field() -> Field {
        Field::optional(Self::KEY, FieldType::Table(Self::schema()), Self::DOC)
    }
}

/// Reports problems found after schema validation at a key of one section.
struct Check<'w, 'a> {
    walker: &'w mut Walker<'a>,
    table: Option<(&'w DeTable<'w>, Span)>,
    path: &'static str,
}

impl Check<'_, '_> {
    /// An error at `key`'s value (or its `key_file` value, or the table header).
    fn error(&mut self, key: &str, message: &str) {
        let file_key = format!("{key}_file");
        let (span, path) = match self.table {
            Some((t, ref header)) => match (t.get(key), t.get(file_key.as_str())) {
                (Some(v), _) => (v.span(), child(self.path, key)),
                (None, Some(v)) => (v.span(), child(self.path, &file_key)),
                (None, None) => (header.clone(), child(self.path, key)),
            },
            None => (0..0, child(self.path, key)),
        };
        self.walker.error(&span, &path, message);
    }
}

/// `[store]`: where synced data is stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreConfig {
    /// `sqlite://...` or `postgres://...`; a secret because a PostgreSQL URL
    /// may embed a password.
    pub url: Secret,
}

impl StoreConfig {
    /// The store used when `[store]` or its `url` is absent.
    pub const DEFAULT_URL: &'static str = "sqlite://engage.db";

    /// Whether the URL points at SQLite (otherwise PostgreSQL).
    pub fn is_sqlite(&self) -> bool {
        self.url.expose().starts_with("sqlite:")
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { url: Secret::new(Self::DEFAULT_URL) }
    }
}

impl Section for StoreConfig {
    const KEY: &'static str = "store";
    const DOC: &'static str = "Where synced data is stored.";

    fn schema() -> Schema {
        Schema::new(vec![Field::optional(
            "url",
            FieldType::Secret,
            "`sqlite://FILE` (default `sqlite://engage.db`) or `postgres://USER:PASSWORD@HOST:PORT/DB`.",
        )])
    }

    fn build(mut options: Options, check: &mut Check<'_, '_>) -> Self {
        let Some(OptionValue::Secret(url)) = options.remove("url") else {
            return Self::default();
        };
        let u = url.expose();
        if !["sqlite:", "postgres://", "postgresql://"].iter().any(|p| u.starts_with(p)) {
            check.error("url", "expected a `sqlite://...` or `postgres://...` URL");
        }
        Self { url }
    }
}

/// One `[[connection]]`: a vendor account to sync from.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionConfig {
    /// Unique name, `[a-z0-9_-]{1,64}`.
    pub name: String,
    /// The connector kind, e.g. `zendesk`.
    pub kind: String,
    /// Overrides the vendor API's base URL (http or https).
    pub base_url: Option<String>,
    /// Client-side rate limit, 1..=100000.
    pub max_requests_per_minute: Option<u32>,
    /// Whether syncs run for it (default `true`).
    pub enabled: bool,
    /// When `engage run` syncs it (the `[scheduler]` default when `None`).
    pub schedule: Option<Schedule>,
    /// The kind-specific options, validated against the kind's schema.
    pub options: Options,
}

impl ConnectionConfig {
    /// The keys every connection accepts, whatever its kind. Kind schemas
    /// must not reuse these names.
    pub fn common_schema() -> Schema {
        Schema::new(vec![
            Field::required("name", FieldType::String, "Unique name: 1 to 64 of a-z, 0-9, `_`, `-`."),
            Field::required("kind", FieldType::String, "The connector kind."),
            Field::optional("base_url", FieldType::Url, "Overrides the vendor API's base URL."),
            Field::optional(
                "max_requests_per_minute",
                FieldType::Integer { min: 1, max: 100_000 },
                "Client-side rate limit.",
            ),
            Field::optional("enabled", FieldType::Bool, "Whether syncs run (default true)."),
            Field::optional(
                SCHEDULE,
                FieldType::Table(schedule_schema(true)),
                "When `engage run` syncs it: `every` or `cron` (+ `timezone`), `jitter`, and \
                 `streams.NAME` tables for streams on a schedule of their own.",
            ),
        ])
    }

    /// Splits validated options into the common keys and the kind's own.
    fn from_options(mut options: Options) -> Self {
        let mut string = |key| match options.remove(key) {
            Some(OptionValue::String(s)) => Some(s),
            _ => None,
        };
        let (name, kind, base_url) = (string("name"), string("kind"), string("base_url"));
        let max = options.remove("max_requests_per_minute");
        let enabled = options.remove("enabled");
        Self {
            name: name.unwrap_or_default(),
            kind: kind.unwrap_or_default(),
            base_url,
            max_requests_per_minute: max.and_then(|v| v.as_integer()).and_then(|n| u32::try_from(n).ok()),
            enabled: enabled.and_then(|v| v.as_bool()).unwrap_or(true),
            schedule: None,
            options,
        }
    }
}

/// Loads and validates the configuration file at `path`.
///
/// Relative `KEY_file` paths are resolved against the file's directory.
pub fn load_file(path: impl AsRef<Path>, kinds: &Kinds, env: &dyn Env) -> Result<Config, ConfigErrors> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let fail = |line, col, message: String| {
        Err(ConfigErrors(vec![ConfigError {
            file: file.clone(),
            line,
            col,
            key_path: "(root)".into(),
            message,
        }]))
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return fail(1, 1, format!("cannot read the file: {e}")),
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let prefix = String::from_utf8_lossy(e.as_bytes().get(..valid).unwrap_or_default());
            let (line, col) = line_col(&prefix, valid);
            return fail(line, col, "the file is not valid UTF-8".into());
        }
    };
    load(&text, &file, kinds, env, path.parent())
}

/// Loads and validates configuration text; `file_name` is only used in
/// error messages. Relative `KEY_file` paths are resolved against the
/// working directory.
pub fn load_str(text: &str, file_name: &str, kinds: &Kinds, env: &dyn Env) -> Result<Config, ConfigErrors> {
    load(text, file_name, kinds, env, None)
}

fn load(
    text: &str,
    file: &str,
    kinds: &Kinds,
    env: &dyn Env,
    base_dir: Option<&Path>,
) -> Result<Config, ConfigErrors> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut w = Walker::new(file, text, env, base_dir);
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            w.error(&span, "", format!("invalid TOML: {}", e.message()));
            return Err(ConfigErrors(w.errors));
        }
    };
    let root = doc.get_ref();
    let mut options = w.table(root, &doc.span(), "", &[&Config::schema()], Unknown::Reject, &[CONNECTION]);
    let store = build_section(&mut w, root, &mut options);
    let scheduler = build_section(&mut w, root, &mut options);
    let server = build_section(&mut w, root, &mut options);
    let connections = connections(&mut w, root.get(CONNECTION), kinds);
    if w.errors.is_empty() {
        Ok(Config { store, scheduler, server, connections })
    } else {
        Err(ConfigErrors::sorted(w.errors))
    }
}

/// Builds section `S` from the root's validated options.
fn build_section<S: Section>(w: &mut Walker<'_>, root: &DeTable<'_>, options: &mut Options) -> S {
    let opts = match options.remove(S::KEY) {
        Some(OptionValue::Table(t)) => t,
        _ => Options::new(),
    };
    let table = root.get(S::KEY).and_then(|v| match v.get_ref() {
        DeValue::Table(t) => Some((t, v.span())),
        _ => None,
    });
    let mut check = Check { walker: w, table, path: S::KEY };
    S::build(opts, &mut check)
}

/// Validates every `[[connection]]` against the common schema plus its kind's.
fn connections(
    w: &mut Walker<'_>,
    raw: Option<&Spanned<DeValue<'_>>>,
    kinds: &Kinds,
) -> Vec<ConnectionConfig> {
    let Some(raw) = raw else {
        return Vec::new();
    };
    let DeValue::Array(items) = raw.get_ref() else {
        w.type_error(&raw.span(), CONNECTION, "an array of tables", raw.get_ref());
        return Vec::new();
    };
    let common = ConnectionConfig::common_schema();
    let mut names: Vec<(String, usize)> = Vec::new();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("{CONNECTION}[{i}]");
        let DeValue::Table(t) = item.get_ref() else {
            w.type_error(&item.span(), &path, "a table", item.get_ref());
            continue;
        };
        let kind = t.get("kind").and_then(|k| Some((k, k.get_ref().as_str()?)));
        let schema = kind.and_then(|(v, k)| {
            let found = kinds.get(k);
            if found.is_none() {
                w.error(&v.span(), &child(&path, "kind"), unknown_kind(k, kinds));
            }
            found
        });
        // Without a known kind, its options cannot be judged: skip them.
        let unknown = if schema.is_some() { Unknown::Reject } else { Unknown::Ignore };
        let schemas: Vec<&Schema> = std::iter::once(&common).chain(schema).collect();
        let options = w.table(t, &item.span(), &path, &schemas, unknown, &[SCHEDULE]);
        let schedule = t.get(SCHEDULE).and_then(|v| schedule_table(w, v, &child(&path, SCHEDULE), None));
        if let Some(name) = options.get("name").and_then(OptionValue::as_str)
            && let Some(raw) = t.get("name")
        {
            check_name(w, &mut names, name, raw, &child(&path, "name"));
        }
        let mut connection = ConnectionConfig::from_options(options);
        connection.schedule = schedule;
        out.push(connection);
    }
    out
}

/// "unknown connection kind" with a hint and the known kinds.
fn unknown_kind(kind: &str, kinds: &Kinds) -> String {
    let known: Vec<String> = kinds.names().map(str::to_owned).collect();
    let mut msg = format!("unknown connection kind `{}`", kind.escape_debug());
    if let Some(hint) = closest(kind, &known) {
        msg.push_str(&format!("; did you mean `{hint}`?"));
    }
    if known.is_empty() {
        msg.push_str("; no connection kinds are available");
    } else {
        msg.push_str(&format!(" (known kinds: {})", backticked(&known)));
    }
    msg
}

/// Checks a connection name's form and uniqueness. Messages show the name
/// as written (`raw`), never what an environment variable put there.
fn check_name(
    w: &mut Walker<'_>,
    names: &mut Vec<(String, usize)>,
    name: &str,
    raw: &Spanned<DeValue<'_>>,
    path: &str,
) {
    let span = raw.span();
    let valid = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !valid {
        let msg = "a connection name must be 1 to 64 characters of a-z, 0-9, `_` or `-`";
        w.error(&span, path, msg);
    } else if let Some((_, line)) = names.iter().find(|(n, _)| n == name) {
        let shown = raw.get_ref().as_str().unwrap_or_default().escape_debug();
        let msg = format!("duplicate connection name `{shown}` (first defined at line {line})");
        w.error(&span, path, msg);
    } else {
        names.push((name.to_owned(), w.line(span.start)));
    }
}

/// The key of a connection's schedule.
const SCHEDULE: &str = "schedule";

/// `[scheduler]`: how `engage run` schedules syncs. Its `every`/`cron`/`timezone`/`jitter` keys
/// are the default schedule of connections that name none.
#[derive(Clone, Debug, PartialEq)]
pub struct SchedulerConfig {
    /// The schedule of connections without one (default: every hour).
    pub default_schedule: Schedule,
    /// Syncs running at once in one runner (default 4).
    pub max_concurrent_syncs: usize,
    /// Syncs of one connection running at once, across every runner (default 1).
    pub max_concurrent_per_connection: usize,
    /// A sync running longer is cancelled (its committed pages stay) and counts as failed.
    pub sync_timeout: Duration,
    /// Attempts after the first before a sync is reported failed (default 3).
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one (default 1m).
    pub retry_backoff: Duration,
    /// How long a runner's claim on a sync lasts unless renewed (default 60s).
    pub lease_ttl: Duration,
    /// Where `/metrics` and `/healthz` are served (none when `None`).
    pub metrics_address: Option<SocketAddr>,
    /// Called with a JSON body when a sync fails after its retries and when it recovers.
    pub webhook_url: Option<Secret>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            default_schedule: Schedule::new(Cadence::Every(Duration::from_secs(3_600))),
            max_concurrent_syncs: 4,
            max_concurrent_per_connection: 1,
            sync_timeout: Duration::from_secs(6 * 3_600),
            retries: 3,
            retry_backoff: Duration::from_secs(60),
            lease_ttl: Duration::from_secs(60),
            metrics_address: None,
            webhook_url: None,
        }
    }
}

/// The keys of a schedule table; `streams` only at the connection level.
fn schedule_schema(with_streams: bool) -> Schema {
    let mut fields = vec![
        Field::optional("every", FieldType::String, "Due at every multiple of this interval, e.g. `15m`."),
        Field::optional("cron", FieldType::String, "Due when this five-field cron expression matches."),
        Field::optional("timezone", FieldType::String, "Time zone of `cron` (IANA name, default UTC)."),
        Field::optional("jitter", FieldType::String, "Delay each start by a stable amount up to this."),
    ];
    if with_streams {
        fields.push(Field::optional(
            "streams",
            FieldType::Any,
            "`streams.NAME = { every = ... }`: a stream's own schedule.",
        ));
    }
    Schema::new(fields)
}

/// Builds a schedule from the validated keys of a schedule table; `error(key, message)` reports
/// a problem at a key (or at the table when the key is absent). `None` when it names neither
/// `every` nor `cron`, or has a problem.
fn build_schedule(
    options: &mut Options,
    inherited_jitter: Option<Duration>,
    error: &mut dyn FnMut(&str, String),
) -> Option<Schedule> {
    let mut text = |key| match options.remove(key) {
        Some(OptionValue::String(s)) => Some(s),
        _ => None,
    };
    let (every, cron, timezone, jitter) = (text("every"), text("cron"), text("timezone"), text("jitter"));
    let mut ok = true;
    let jitter = match jitter.map(|j| parse_duration(&j)) {
        Some(Ok(j)) => j,
        Some(Err(e)) => {
            error("jitter", e);
            ok = false;
            Duration::ZERO
        }
        None => inherited_jitter.unwrap_or(Duration::ZERO),
    };
    let cadence = match (every, cron) {
        (Some(_), Some(_)) => {
            error("cron", "set either `every` or `cron`, not both".into());
            None
        }
        (Some(every), None) => {
            if timezone.is_some() {
                error("timezone", "`timezone` applies to `cron` only; `every` counts in UTC".into());
                ok = false;
            }
            match parse_duration(&every) {
                Ok(d) if d < Duration::from_secs(1) => {
                    error("every", "must be at least 1s".into());
                    None
                }
                Ok(d) if d.subsec_nanos() != 0 => {
                    error("every", "must be a whole number of seconds".into());
                    None
                }
                Ok(d) => Some(Cadence::Every(d)),
                Err(e) => {
                    error("every", e);
                    None
                }
            }
        }
        (None, Some(cron)) => match Cron::parse(&cron, timezone.as_deref().unwrap_or("UTC")) {
            Ok(c) => Some(Cadence::Cron(c)),
            Err(e) => {
                let key = if e.starts_with("unknown time zone") { "timezone" } else { "cron" };
                error(key, e);
                None
            }
        },
        (None, None) => {
            if timezone.is_some() {
                error("timezone", "`timezone` applies to `cron` only".into());
            }
            return None;
        }
    };
    let cadence = cadence?;
    ok.then(|| Schedule { cadence, jitter, streams: Default::default() })
}

/// Validates a connection's `schedule` table (or one of its `streams.NAME` tables, when
/// `parent_jitter` is given) and builds it.
fn schedule_table(
    w: &mut Walker<'_>,
    v: &Spanned<DeValue<'_>>,
    path: &str,
    parent_jitter: Option<Duration>,
) -> Option<Schedule> {
    let DeValue::Table(t) = v.get_ref() else {
        w.type_error(&v.span(), path, "a table", v.get_ref());
        return None;
    };
    let top = parent_jitter.is_none();
    let schema = schedule_schema(top);
    let mut options = w.table(t, &v.span(), path, &[&schema], Unknown::Reject, &["streams"]);
    let errors_before = w.errors.len();
    let mut problems: Vec<(String, Span, String)> = Vec::new();
    let schedule = build_schedule(&mut options, parent_jitter, &mut |key, message| {
        let span = t.get(key).map_or(v.span(), |k| k.span());
        problems.push((child(path, key), span, message));
    });
    let named = t.contains_key("every") || t.contains_key("cron");
    for (key_path, span, message) in problems {
        w.error(&span, &key_path, message);
    }
    if !named && w.errors.len() == errors_before {
        w.error(&v.span(), path, "a schedule needs `every` (e.g. \"15m\") or `cron` (e.g. \"0 */6 * * *\")");
    }
    let jitter = schedule.as_ref().map_or(Duration::ZERO, |s| s.jitter);
    let mut streams = std::collections::BTreeMap::new();
    if let Some(raw) = t.get("streams").filter(|_| top) {
        let streams_path = child(path, "streams");
        match raw.get_ref() {
            DeValue::Table(entries) => {
                for (name, value) in entries.iter() {
                    let name: &str = name.get_ref();
                    if let Some(s) = schedule_table(w, value, &child(&streams_path, name), Some(jitter)) {
                        streams.insert(name.to_owned(), s);
                    }
                }
            }
            other => {
                w.type_error(&raw.span(), &streams_path, "a table", other);
            }
        }
    }
    schedule.map(|s| Schedule { streams, ..s })
}

impl Section for SchedulerConfig {
    const KEY: &'static str = "scheduler";
    const DOC: &'static str = "How `engage run` schedules syncs.";

    fn schema() -> Schema {
        let mut fields = schedule_schema(false).fields;
        fields.extend([
            Field::optional(
                "max_concurrent_syncs",
                FieldType::Integer { min: 1, max: 1_024 },
                "Syncs running at once in one runner (default 4).",
            ),
            Field::optional(
                "max_concurrent_per_connection",
                FieldType::Integer { min: 1, max: 64 },
                "Syncs of one connection running at once, across runners (default 1).",
            ),
            Field::optional("sync_timeout", FieldType::String, "A longer sync is cancelled (default 6h)."),
            Field::optional(
                "retries",
                FieldType::Integer { min: 0, max: 20 },
                "Attempts after the first before a sync is reported failed (default 3).",
            ),
            Field::optional(
                "retry_backoff",
                FieldType::String,
                "Wait before the first retry, doubled for each further one (default 1m).",
            ),
            Field::optional(
                "lease_ttl",
                FieldType::String,
                "How long a claim lasts unless renewed (default 60s).",
            ),
            Field::optional(
                "metrics_address",
                FieldType::String,
                "IP:PORT serving /metrics and /healthz, e.g. `127.0.0.1:9464`.",
            ),
            Field::optional(
                "webhook_url",
                FieldType::Secret,
                "POSTed a JSON body when a sync fails after its retries and when it recovers.",
            ),
        ]);
        Schema::new(fields)
    }

    fn build(mut options: Options, check: &mut Check<'_, '_>) -> Self {
        let mut config = Self::default();
        let mut problems: Vec<(String, String)> = Vec::new();
        if let Some(s) =
            build_schedule(&mut options, None, &mut |key, message| problems.push((key.to_owned(), message)))
        {
            config.default_schedule = s;
        }
        for (key, message) in problems {
            check.error(&key, &message);
        }
        if let Some(n) = options.remove("max_concurrent_syncs").and_then(|v| v.as_integer()) {
            config.max_concurrent_syncs = n as usize;
        }
        if let Some(n) = options.remove("max_concurrent_per_connection").and_then(|v| v.as_integer()) {
            config.max_concurrent_per_connection = n as usize;
        }
        if let Some(n) = options.remove("retries").and_then(|v| v.as_integer()) {
            config.retries = n as u32;
        }
        for (key, slot, min) in [
            ("sync_timeout", &mut config.sync_timeout, Duration::from_secs(1)),
            ("retry_backoff", &mut config.retry_backoff, Duration::ZERO),
            ("lease_ttl", &mut config.lease_ttl, Duration::from_millis(100)),
        ] {
            let Some(OptionValue::String(text)) = options.remove(key) else { continue };
            match parse_duration(&text) {
                Ok(d) if d < min => {
                    check.error(key, &format!("must be at least {}", crate::format_duration(min)))
                }
                Ok(d) => *slot = d,
                Err(e) => check.error(key, &e),
            }
        }
        if let Some(OptionValue::String(text)) = options.remove("metrics_address") {
            match text.parse::<SocketAddr>() {
                Ok(addr) => config.metrics_address = Some(addr),
                Err(_) => check.error("metrics_address", "expected IP:PORT, e.g. `127.0.0.1:9464`"),
            }
        }
        if let Some(OptionValue::Secret(url)) = options.remove("webhook_url") {
            let u = url.expose().to_ascii_lowercase();
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                check.error("webhook_url", "expected an http:// or https:// URL");
            }
            config.webhook_url = Some(url);
        }
        config
    }
}

/// `[server]`: how `engage serve` and `engage run --serve` serve the HTTP API and dashboard.
/// Command-line flags override it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerConfig {
    /// IP:PORT to listen on (`engage serve` defaults to `127.0.0.1:8080`).
    pub listen: Option<SocketAddr>,
    /// The bearer token every request must send; required to listen beyond loopback.
    pub api_token: Option<Secret>,
}

impl Section for ServerConfig {
    const KEY: &'static str = "server";
    const DOC: &'static str = "How `engage serve` serves the HTTP API and the dashboard.";

    fn schema() -> Schema {
        Schema::new(vec![
            Field::optional("listen", FieldType::String, "IP:PORT to listen on (default `127.0.0.1:8080`)."),
            Field::optional(
                "api_token",
                FieldType::Secret,
                "Bearer token every request must send (`Authorization: Bearer TOKEN`); required to \
                 listen beyond loopback.",
            ),
        ])
    }

    fn build(mut options: Options, check: &mut Check<'_, '_>) -> Self {
        let mut config = Self::default();
        if let Some(OptionValue::String(text)) = options.remove("listen") {
            match text.parse::<SocketAddr>() {
                Ok(addr) => config.listen = Some(addr),
                Err(_) => check.error("listen", "expected IP:PORT, e.g. `127.0.0.1:8080`"),
            }
        }
        if let Some(OptionValue::Secret(token)) = options.remove("api_token") {
            if token.expose().trim().is_empty() {
                check.error("api_token", "must not be empty");
            }
            config.api_token = Some(token);
        }
        config
    }
}

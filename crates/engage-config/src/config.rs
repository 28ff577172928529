//! The typed configuration and the loader.

use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::walk::{Span, Unknown, Walker, backticked, child, closest, line_col};
use crate::{ConfigError, ConfigErrors, Env, Field, FieldType, Kinds, OptionValue, Options, Schema, Secret};

/// A whole, valid `engage.toml`.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `[store]`: where synced data goes.
    pub store: StoreConfig,
    /// Every `[[connection]]`, in file order.
    pub connections: Vec<ConnectionConfig>,
}

impl Config {
    /// The schema of the whole file (for documentation; the loader uses it too).
    /// `connection` elements also accept their kind's own options.
    pub fn schema() -> Schema {
        Schema::new(vec![
            StoreConfig::field(),
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
    let connections = connections(&mut w, root.get(CONNECTION), kinds);
    if w.errors.is_empty() { Ok(Config { store, connections }) } else { Err(ConfigErrors::sorted(w.errors)) }
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
        let options = w.table(t, &item.span(), &path, &schemas, unknown, &[]);
        if let Some(name) = options.get("name").and_then(OptionValue::as_str)
            && let Some(raw) = t.get("name")
        {
            check_name(w, &mut names, name, raw, &child(&path, "name"));
        }
        out.push(ConnectionConfig::from_options(options));
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

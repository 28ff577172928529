//! The Singer connector (`kind = "singer"`): runs any [Singer](https://hub.meltano.com/singer/spec)
//! tap as a subprocess and maps its streams to unified entities through the TOML mapping of
//! [`engage_connect::mapping`].
//!
//! The tap is started as `COMMAND ARGS --config FILE [--state FILE] [--catalog FILE]`, with the
//! configuration written to a private temporary file. Its standard output is read line by line:
//!
//! - `SCHEMA` gives a stream's `key_properties`, the source id of its records (unless the
//!   configuration names `primary_key`); records of streams with no key are identified by a
//!   hash of their content, so identical records are stored once;
//! - `RECORD`s of the configured tap stream are mapped (records of other streams are counted
//!   and skipped); a `_sdc_deleted_at` value marks a deletion unless `deleted` says otherwise;
//! - `STATE` becomes the checkpoint of the page it is read in: every record before it is in
//!   that page or an earlier one, so a committed STATE never claims records the store does not
//!   hold (a page may also hold records after its STATE: they come again on resume, and the
//!   upsert keeps one);
//! - a line that is not a JSON message is quarantined with its line number.
//!
//! The next run passes the last committed STATE back with `--state`. A tap that exits non-zero
//! fails the sync with its exit code and the last lines of its standard error (credentials from
//! the inline configuration redacted); the records it emitted are committed first, with the last
//! STATE seen before them, so the next run resumes there without loss, and the upsert on the
//! record key absorbs what the tap sends again.

use std::collections::{BTreeMap, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use engage_connect::mapping::{self, DeletedRule, EntityMapping, FieldSpec, lookup, text_of};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, ErrorClass, Field, FieldType, Page, PageStream,
    Schema, Step, StreamSpec, SyncMode, paged,
};
use engage_model::{Quarantined, Record, raw_json};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// Kind-specific options of a singer connection.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SingerConfig {
    /// The tap's program: a name on `PATH` (`tap-jsonl`) or a path.
    pub command: String,
    /// Arguments before `--config`.
    #[serde(default)]
    pub args: Vec<String>,
    /// The tap's configuration, written to a temporary file for `--config`.
    pub config: Option<Map<String, Value>>,
    /// An existing configuration file for `--config` instead.
    pub config_file: Option<String>,
    /// A catalog file (selected streams and fields), passed with `catalog_flag`.
    pub catalog_file: Option<String>,
    /// The flag the catalog is passed with (default `--catalog`; older taps take `--properties`).
    pub catalog_flag: Option<String>,
    /// Environment variables for the tap.
    #[serde(default)]
    pub env: BTreeMap<String, Value>,
    /// Records per committed page at most (default 1000).
    pub page_size: Option<i64>,
    /// One entry per tap stream to keep.
    pub stream: Vec<StreamConfig>,
}

impl std::fmt::Debug for SingerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The inline configuration and the environment may hold credentials: never shown.
        f.debug_struct("SingerConfig")
            .field("command", &self.command)
            .field("args", &self.args)
            .field("streams", &self.stream.len())
            .finish_non_exhaustive()
    }
}

/// One tap stream, mapped to one entity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// The Engage stream name.
    pub name: String,
    /// The tap's stream name (default: `name`).
    pub tap_stream: Option<String>,
    /// Record field(s) identifying a record; default: the SCHEMA's `key_properties`.
    pub primary_key: Option<OneOrMany>,
    /// The unified entity.
    pub entity: String,
    /// Entity field → record field (or a rule).
    #[serde(default)]
    pub fields: BTreeMap<String, FieldSpec>,
    /// When a record counts as a deletion (default: a `_sdc_deleted_at` value).
    pub deleted: Option<DeletedRule>,
    /// `platform` of the records when `fields` does not map it (default: the connection name).
    pub platform: Option<String>,
}

/// A string or a list of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

struct StreamDef {
    name: &'static str,
    tap_stream: String,
    primary_key: Option<Vec<String>>,
    mapping: EntityMapping,
}

/// The singer connector.
pub struct Singer {
    command: String,
    args: Vec<String>,
    config: Option<Map<String, Value>>,
    config_file: Option<String>,
    catalog: Option<(String, String)>,
    env: Vec<(String, String)>,
    page_size: usize,
    streams: Vec<Arc<StreamDef>>,
    ctx: ConnectorContext,
    /// Text from the inline configuration that must never appear in messages.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Singer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Singer").field("command", &self.command).finish_non_exhaustive()
    }
}

fn stream_schema() -> Schema {
    Schema::new(vec![
        Field::required("name", FieldType::String, "Engage stream name."),
        Field::optional("tap_stream", FieldType::String, "The tap's stream name (default: name)."),
        Field::optional(
            "primary_key",
            FieldType::Any,
            "Record field(s) of the key (default: key_properties).",
        ),
        Field::required("entity", FieldType::String, "Unified entity."),
        Field::optional(
            "fields",
            FieldType::Table(mapping::fields_schema()),
            "Entity field -> record field.",
        ),
        Field::optional("deleted", FieldType::Table(mapping::deleted_schema()), "When a record is deleted."),
        Field::optional("platform", FieldType::String, "Platform of the records."),
    ])
}

/// String values of a JSON tree (the inline configuration's possible credentials).
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) if s.len() >= 6 => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

#[async_trait]
impl Connector for Singer {
    type Config = SingerConfig;
    const KIND: &'static str = "singer";

    fn options() -> Schema {
        Schema::new(vec![
            Field::required("command", FieldType::String, "The tap program (on PATH, or a path)."),
            Field::optional("args", FieldType::StringList, "Arguments before --config."),
            Field::optional("config", FieldType::Any, "The tap's configuration (a table)."),
            Field::optional("config_file", FieldType::Path, "Or an existing --config file."),
            Field::optional("catalog_file", FieldType::Path, "Catalog of selected streams."),
            Field::optional("catalog_flag", FieldType::String, "Flag of the catalog (default --catalog)."),
            Field::optional("env", FieldType::Any, "Environment variables for the tap."),
            Field::optional(
                "page_size",
                FieldType::Integer { min: 1, max: 100_000 },
                "Records per page at most (1000).",
            ),
            Field::required("stream", FieldType::TableList(stream_schema()), "Tap streams to keep."),
        ])
    }

    fn new(config: SingerConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let fail =
            |e: String| ConnectorError::needs_human(format!("singer connection `{}`: {e}", ctx.connection));
        if config.command.trim().is_empty() {
            return Err(fail("`command` is empty".to_owned()));
        }
        if config.config.is_some() && config.config_file.is_some() {
            return Err(fail("give `config` or `config_file`, not both".to_owned()));
        }
        let mut streams: Vec<Arc<StreamDef>> = Vec::new();
        for stream in config.stream {
            if streams.iter().any(|s| s.name == stream.name) {
                return Err(fail(format!("two streams are named `{}`", stream.name)));
            }
            let platform = stream.platform.clone().unwrap_or_else(|| ctx.connection.clone());
            let deleted = stream.deleted.clone().or(Some(DeletedRule {
                from: "_sdc_deleted_at".to_owned(),
                equals: None,
                at: None,
            }));
            let mapping = EntityMapping::new(&stream.entity, &stream.fields, deleted, &platform)
                .map_err(|e| fail(format!("stream `{}`: {e}", stream.name)))?;
            let primary_key = stream.primary_key.map(|k| match k {
                OneOrMany::One(one) => vec![one],
                OneOrMany::Many(many) => many,
            });
            if primary_key.as_ref().is_some_and(Vec::is_empty) {
                return Err(fail(format!("stream `{}`: `primary_key` names no field", stream.name)));
            }
            streams.push(Arc::new(StreamDef {
                name: mapping::intern(&stream.name),
                tap_stream: stream.tap_stream.unwrap_or(stream.name),
                primary_key,
                mapping,
            }));
        }
        if streams.is_empty() {
            return Err(fail("a singer connection needs at least one [[connection.stream]]".to_owned()));
        }
        let mut secrets = Vec::new();
        if let Some(inline) = &config.config {
            strings(&Value::Object(inline.clone()), &mut secrets);
        }
        let env: Vec<(String, String)> = config.env.iter().map(|(k, v)| (k.clone(), text_of(v))).collect();
        secrets.extend(env.iter().map(|(_, v)| v.clone()).filter(|v| v.len() >= 6));
        let catalog =
            config.catalog_file.map(|file| (config.catalog_flag.unwrap_or_else(|| "--catalog".into()), file));
        Ok(Singer {
            command: config.command,
            args: config.args,
            config: config.config,
            config_file: config.config_file,
            catalog,
            env,
            page_size: config.page_size.unwrap_or(1000).clamp(1, 100_000) as usize,
            streams,
            ctx,
            secrets,
        })
    }

    fn streams(&self) -> Vec<StreamSpec> {
        self.streams
            .iter()
            .map(|s| StreamSpec {
                name: s.name,
                entity: s.mapping.kind(),
                primary_key: s.primary_key.as_deref().map_or(&[][..], mapping::intern_list),
                cursor_field: None,
                modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
            })
            .collect()
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        // Starting the program is the check a tap allows without reading data: it must exist and
        // be executable. (`--discover` would contact the source; taps differ too much in it.)
        let path = std::path::Path::new(&self.command);
        let found = if self.command.contains('/') {
            path.is_file()
        } else {
            std::env::var_os("PATH").is_some_and(|paths| {
                std::env::split_paths(&paths).any(|dir| dir.join(&self.command).is_file())
            })
        };
        if found {
            Ok(())
        } else {
            Err(ConnectorError::needs_human(format!("tap program `{}` not found", self.command)))
        }
    }

    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        let Some(def) = self.streams.iter().find(|s| s.name == stream) else {
            let error =
                ConnectorError::needs_human(format!("this singer connection has no stream `{stream}`"));
            return Box::pin(futures::stream::once(async move { Err(error) }));
        };
        let state = checkpoint.and_then(|c| c.get("state").cloned()).filter(|s| !s.is_null());
        let run = match self.start(Arc::clone(def), state) {
            Ok(tap) => Run::Tap(Box::new(tap)),
            Err(error) => Run::Failed(error),
        };
        paged(run, |run| async move {
            match run {
                Run::Tap(tap) => tap.next_page().await,
                Run::Failed(error) => Err(error),
            }
        })
    }
}

/// The state of a read.
enum Run {
    /// The tap is running.
    Tap(Box<Tap>),
    /// It failed after its last page was committed: report this next.
    Failed(ConnectorError),
}

/// A running tap.
struct Tap {
    def: Arc<StreamDef>,
    command: String,
    child: Child,
    stdout: BufReader<ChildStdout>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    stderr_task: tokio::task::JoinHandle<()>,
    /// The temporary folder of the configuration and state files (kept until the tap ends).
    _files: tempfile::TempDir,
    /// The newest STATE read (committed with the next page).
    state: Option<Value>,
    key_properties: Option<Vec<String>>,
    line: u64,
    records: u64,
    ignored: BTreeMap<String, u64>,
    page_size: usize,
    secrets: Vec<String>,
    now: engage_connect::Clock,
}

const STDERR_LINES: usize = 20;

impl Singer {
    fn start(&self, def: Arc<StreamDef>, state: Option<Value>) -> Result<Tap, ConnectorError> {
        let io = |what: &str, e: std::io::Error| ConnectorError::needs_human(format!("{what}: {e}"));
        let files = tempfile::Builder::new()
            .prefix("engage-singer-")
            .tempdir()
            .map_err(|e| io("cannot create a temporary folder", e))?;
        let config_path = match (&self.config_file, &self.config) {
            (Some(file), _) => std::path::PathBuf::from(file),
            (None, inline) => {
                let path = files.path().join("config.json");
                let text = Value::Object(inline.clone().unwrap_or_default()).to_string();
                write_private(&path, &text).map_err(|e| io("cannot write the tap configuration", e))?;
                path
            }
        };
        let mut command = Command::new(&self.command);
        command.args(&self.args).arg("--config").arg(&config_path);
        if let Some(state) = &state {
            let path = files.path().join("state.json");
            write_private(&path, &state.to_string()).map_err(|e| io("cannot write the tap state", e))?;
            command.arg("--state").arg(path);
        }
        if let Some((flag, file)) = &self.catalog {
            command.arg(flag).arg(file);
        }
        command
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| {
            ConnectorError::needs_human(format!("cannot run the tap `{}`: {e}", self.command))
        })?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(ConnectorError::retry("the tap's output could not be captured"));
        };
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let sink = Arc::clone(&tail);
        let stderr_task = tokio::spawn(async move {
            let mut reader = BufReader::new(stderr);
            let mut buf = Vec::new();
            while reader.read_until(b'\n', &mut buf).await.is_ok_and(|n| n > 0) {
                let text = String::from_utf8_lossy(&buf).trim_end().chars().take(500).collect::<String>();
                buf.clear();
                if text.is_empty() {
                    continue;
                }
                let mut lines = sink.lock().unwrap_or_else(|e| e.into_inner());
                if lines.len() == STDERR_LINES {
                    lines.pop_front();
                }
                lines.push_back(text);
            }
        });
        Ok(Tap {
            def,
            command: self.command.clone(),
            child,
            stdout: BufReader::with_capacity(1 << 16, stdout),
            stderr: tail,
            stderr_task,
            _files: files,
            state,
            key_properties: None,
            line: 0,
            records: 0,
            ignored: BTreeMap::new(),
            page_size: self.page_size,
            secrets: self.secrets.clone(),
            now: self.ctx.clock.clone(),
        })
    }
}

/// Writes a file only the current user can read (the tap's configuration may hold credentials).
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

/// One line of a tap's output.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
enum Message {
    Schema {
        stream: String,
        #[serde(default)]
        key_properties: Option<Vec<String>>,
    },
    Record {
        stream: String,
        record: Value,
    },
    State {
        value: Value,
    },
    ActivateVersion {},
    #[serde(other)]
    Other,
}

impl Tap {
    fn checkpoint(&self) -> Checkpoint {
        json!({ "state": self.state.clone().unwrap_or(Value::Null) })
    }

    /// Reads until the page is full or the tap ends.
    async fn next_page(mut self: Box<Self>) -> Result<Step<Run>, ConnectorError> {
        let mut page = Page::default();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = self
                .stdout
                .read_until(b'\n', &mut buf)
                .await
                .map_err(|e| ConnectorError::retry(format!("reading the tap's output: {e}")))?;
            if n == 0 {
                return self.finish(page).await;
            }
            self.line += 1;
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.message(&buf, &mut page);
            if page.records.len() + page.quarantined.len() >= self.page_size {
                page.checkpoint = self.checkpoint();
                return Ok(Step::Page(page, Run::Tap(self)));
            }
        }
    }

    /// Handles one line.
    fn message(&mut self, line: &[u8], page: &mut Page) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim();
        let line_no = self.line;
        let quarantine = |page: &mut Page, id: Option<String>, raw: String, reason: String| {
            page.quarantined.push(Quarantined {
                source_id: id,
                raw,
                reason: format!("tap output line {line_no}: {reason}"),
            });
        };
        let message = match serde_json::from_str::<Message>(text) {
            Ok(message) => message,
            Err(e) => {
                let reason = match serde_json::from_str::<Value>(text) {
                    Ok(_) => format!("not a Singer message: {e}"),
                    Err(e) => format!("not valid JSON: {e}"),
                };
                return quarantine(page, None, text.to_owned(), reason);
            }
        };
        match message {
            Message::Schema { stream, key_properties } => {
                if stream == self.def.tap_stream {
                    self.key_properties = key_properties;
                }
            }
            Message::State { value } => self.state = Some(value),
            Message::Record { stream, record } => {
                if stream != self.def.tap_stream {
                    *self.ignored.entry(stream).or_default() += 1;
                    return;
                }
                self.records += 1;
                let raw = record.to_string();
                if !record.is_object() {
                    return quarantine(page, None, raw, "the record is not a JSON object".to_owned());
                }
                let keys = self.def.primary_key.as_ref().or(self.key_properties.as_ref());
                let id = match keys.filter(|k| !k.is_empty()) {
                    Some(keys) => {
                        let mut parts = Vec::with_capacity(keys.len());
                        for key in keys {
                            match lookup(&record, key).filter(|v| !v.is_null()).map(text_of) {
                                Some(part) if !part.is_empty() => parts.push(part),
                                _ => {
                                    let reason = format!("key property `{key}` is missing");
                                    return quarantine(page, None, raw, reason);
                                }
                            }
                        }
                        parts.join(":")
                    }
                    // No key: identical records are one record.
                    None => format!("sha:{:016x}", fnv(raw.as_bytes())),
                };
                let mapped = self.def.mapping.map(&record).and_then(|entity| {
                    let deleted_at = self.def.mapping.deleted_at(&record, (self.now)())?;
                    let raw = raw_json(&raw).map_err(|e| format!("not valid JSON: {e}"))?;
                    Ok(Record { source_id: id.clone(), raw, deleted_at, tombstone: false, entity })
                });
                match mapped {
                    Ok(record) => page.records.push(record),
                    Err(reason) => quarantine(page, Some(id), raw, reason),
                }
            }
            Message::ActivateVersion {} => {}
            Message::Other => {
                let kind = serde_json::from_str::<Value>(text)
                    .ok()
                    .and_then(|v| v.get("type").map(text_of))
                    .unwrap_or_default();
                quarantine(page, None, text.to_owned(), format!("unknown Singer message type `{kind}`"));
            }
        }
    }

    /// The tap closed its output: the last page, then its exit status.
    async fn finish(mut self: Box<Self>, mut page: Page) -> Result<Step<Run>, ConnectorError> {
        let status = self
            .child
            .wait()
            .await
            .map_err(|e| ConnectorError::retry(format!("waiting for the tap `{}`: {e}", self.command)))?;
        // The tap is gone, so its standard error closes: take all of it (a child the tap left
        // running may hold it open, so not forever).
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), &mut self.stderr_task).await;
        page.checkpoint = self.checkpoint();
        if !self.ignored.is_empty() {
            let list: Vec<String> = self.ignored.iter().map(|(s, n)| format!("{s} ({n})")).collect();
            page.notes
                .push(format!("records of tap streams not configured here, skipped: {}", list.join(", ")));
        }
        if status.success() {
            return Ok(Step::Last(page));
        }
        let how = match status.code() {
            Some(code) => format!("exited with code {code}"),
            None => "was killed by a signal".to_owned(),
        };
        let mut stderr: Vec<String> =
            self.stderr.lock().map(|l| l.iter().cloned().collect()).unwrap_or_default();
        for line in &mut stderr {
            for secret in &self.secrets {
                *line = line.replace(secret.as_str(), "[redacted]");
            }
        }
        let stderr = if stderr.is_empty() {
            "its standard error was empty".to_owned()
        } else {
            format!("the last lines of its standard error:\n{}", stderr.join("\n"))
        };
        let error = ConnectorError::new(
            ErrorClass::Retry,
            format!(
                "the tap `{}` {how} after {} line(s) of output ({} record(s) of `{}`); the records before it \
                 were kept and the next sync resumes from its last STATE; {stderr}",
                self.command, self.line, self.records, self.def.tap_stream
            ),
        );
        Ok(Step::Page(page, Run::Failed(error)))
    }
}

/// 64-bit FNV-1a.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_parse() {
        let m: Message =
            serde_json::from_str(r#"{"type":"SCHEMA","stream":"s","schema":{},"key_properties":["id"]}"#)
                .unwrap();
        assert!(matches!(m, Message::Schema { key_properties: Some(k), .. } if k == ["id"]));
        let m: Message = serde_json::from_str(r#"{"type":"STATE","value":{"a":1}}"#).unwrap();
        assert!(matches!(m, Message::State { value } if value == json!({"a": 1})));
        let m: Message = serde_json::from_str(r#"{"type":"BATCH","stream":"s"}"#).unwrap();
        assert!(matches!(m, Message::Other));
        assert!(serde_json::from_str::<Message>(r#"{"type":"RECORD","stream":"s"}"#).is_err());
        assert_eq!(fnv(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}

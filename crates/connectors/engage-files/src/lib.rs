//! The files connector (`kind = "files"`): local CSV, TSV, whitespace-separated and JSON Lines
//! files, one path or glob per stream, mapped to a unified entity through the TOML mapping of
//! [`engage_connect::mapping`].
//!
//! - **Incremental** by modification time and content hash: a file whose time and size are
//!   unchanged is not opened; a file that only grew (its old content hashes the same) is read from
//!   where the last sync stopped; any other change re-reads the file (the upsert keeps that
//!   exact). The checkpoint holds, per file, its time, size, line count and a 64-bit FNV-1a hash
//!   of the content read, plus the position inside the file being read, so an interrupted sync
//!   resumes mid-file.
//! - **Source ids** come from the `source_id` fields, or by default from the file name and line
//!   number (`orders.csv:42`), so two identical rows stay two records.
//! - **Bad rows** (wrong column count, invalid JSON or UTF-8, a value that does not fit its
//!   field) are quarantined with the file, the line number and the reason; the sync goes on.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use engage_connect::mapping::{self, DeletedRule, EntityMapping, FieldSpec};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, Field, FieldType, PageStream, Schema, Step,
    StreamSpec, SyncMode, paged,
};
use serde::Deserialize;

mod read;
mod scan;

pub use read::Format;

/// Kind-specific options of a files connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// One entry per stream (`[[connection.stream]]`).
    pub stream: Vec<StreamConfig>,
}

/// One stream: which files, how to read them, and how rows map to an entity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Stream name (unique in the connection).
    pub name: String,
    /// A file or a glob (`data/orders-*.csv`, `exports/**/*.jsonl`); relative to the
    /// configuration file.
    pub path: String,
    /// `csv`, `tsv`, `whitespace` or `jsonl`; guessed from the extension when absent.
    pub format: Option<Format>,
    /// Field delimiter of `csv` (one character, default `,`).
    pub delimiter: Option<String>,
    /// Whether the first line names the columns (default: yes for csv/tsv, no otherwise).
    pub header: Option<bool>,
    /// Column names, for files without a header (or to rename the header's).
    pub columns: Option<Vec<String>>,
    /// The unified entity (`order`, `survey_response`, `review`, `interaction`, `identity`...).
    pub entity: String,
    /// The fields that identify a row; `$file` and `$line` are the file name and line number.
    /// Default: `["$file", "$line"]`.
    pub source_id: Option<OneOrMany>,
    /// Entity field → source column (or a rule).
    #[serde(default)]
    pub fields: BTreeMap<String, FieldSpec>,
    /// When a row counts as a deletion.
    pub deleted: Option<DeletedRule>,
    /// `platform` of the records when `fields` does not map it (default `files`).
    pub platform: Option<String>,
    /// Rows per page (default 1000).
    pub page_size: Option<i64>,
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

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

/// A compiled stream.
#[derive(Debug)]
pub(crate) struct StreamDef {
    pub name: &'static str,
    pub pattern: PathBuf,
    pub format: Format,
    pub delimiter: u8,
    pub header: bool,
    pub columns: Option<Vec<String>>,
    pub source_id: Vec<String>,
    pub mapping: EntityMapping,
    pub page_size: usize,
}

/// The files connector.
pub struct Files {
    streams: Vec<Arc<StreamDef>>,
    ctx: ConnectorContext,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Files").field("streams", &self.streams.len()).finish_non_exhaustive()
    }
}

fn stream_schema() -> Schema {
    Schema::new(vec![
        Field::required("name", FieldType::String, "Stream name."),
        Field::required("path", FieldType::Path, "File or glob, relative to this configuration file."),
        Field::optional(
            "format",
            FieldType::String,
            "csv, tsv, whitespace or jsonl (default: by extension).",
        ),
        Field::optional("delimiter", FieldType::String, "CSV field delimiter (default `,`)."),
        Field::optional("header", FieldType::Bool, "First line names the columns (default: csv/tsv yes)."),
        Field::optional("columns", FieldType::StringList, "Column names when there is no header."),
        Field::required("entity", FieldType::String, "Unified entity: order, survey_response, review..."),
        Field::optional("source_id", FieldType::Any, "Fields identifying a row ($file, $line by default)."),
        Field::optional("fields", FieldType::Table(mapping::fields_schema()), "Entity field -> column."),
        Field::optional("deleted", FieldType::Table(mapping::deleted_schema()), "When a row is a deletion."),
        Field::optional("platform", FieldType::String, "Platform of the records (default `files`)."),
        Field::optional("page_size", FieldType::Integer { min: 1, max: 100_000 }, "Rows per page (1000)."),
    ])
}

fn compile(config: StreamConfig) -> Result<StreamDef, String> {
    let format = match config.format {
        Some(format) => format,
        None => Format::from_extension(&config.path).ok_or_else(|| {
            format!(
                "`{}`: set `format` (csv, tsv, whitespace or jsonl): the extension does not say",
                config.path
            )
        })?,
    };
    let delimiter = match (format, config.delimiter.as_deref()) {
        (Format::Tsv, None) => b'\t',
        (_, None) => b',',
        (Format::Csv | Format::Tsv, Some(d)) if d.len() == 1 && d.is_ascii() => d.as_bytes()[0],
        (Format::Csv | Format::Tsv, Some("\\t")) => b'\t',
        (Format::Csv | Format::Tsv, Some(d)) => {
            return Err(format!("delimiter `{d}` must be one ASCII character"));
        }
        (_, Some(_)) => return Err("`delimiter` applies to csv and tsv only".to_owned()),
    };
    let header = config.header.unwrap_or(matches!(format, Format::Csv | Format::Tsv));
    if format == Format::Jsonl && (config.header.is_some() || config.columns.is_some()) {
        return Err("`header` and `columns` do not apply to jsonl".to_owned());
    }
    if format != Format::Jsonl && !header && config.columns.is_none() {
        return Err("a file without a header needs `columns`".to_owned());
    }
    let source_id =
        config.source_id.map(OneOrMany::into_vec).unwrap_or_else(|| vec!["$file".into(), "$line".into()]);
    if source_id.is_empty() {
        return Err("`source_id` names no field".to_owned());
    }
    let platform = config.platform.as_deref().unwrap_or("files");
    let mapping = EntityMapping::new(&config.entity, &config.fields, config.deleted, platform)?;
    Ok(StreamDef {
        name: mapping::intern(&config.name),
        pattern: PathBuf::from(&config.path),
        format,
        delimiter,
        header,
        columns: config.columns,
        source_id,
        mapping,
        page_size: config.page_size.unwrap_or(1000).clamp(1, 100_000) as usize,
    })
}

#[async_trait]
impl Connector for Files {
    type Config = FilesConfig;
    const KIND: &'static str = "files";

    fn options() -> Schema {
        Schema::new(vec![Field::required(
            "stream",
            FieldType::TableList(stream_schema()),
            "One [[connection.stream]] per file set.",
        )])
    }

    fn new(config: FilesConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let mut streams = Vec::new();
        for stream in config.stream {
            let name = stream.name.clone();
            if streams.iter().any(|s: &Arc<StreamDef>| s.name == name) {
                return Err(ConnectorError::needs_human(format!("two streams are named `{name}`")));
            }
            let def = compile(stream)
                .map_err(|e| ConnectorError::needs_human(format!("files stream `{name}`: {e}")))?;
            streams.push(Arc::new(def));
        }
        if streams.is_empty() {
            return Err(ConnectorError::needs_human(
                "a files connection needs at least one [[connection.stream]]",
            ));
        }
        Ok(Files { streams, ctx })
    }

    fn streams(&self) -> Vec<StreamSpec> {
        self.streams
            .iter()
            .map(|s| StreamSpec {
                name: s.name,
                entity: s.mapping.kind(),
                primary_key: mapping::intern_list(&s.source_id),
                cursor_field: None,
                modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
            })
            .collect()
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        for stream in &self.streams {
            let def = Arc::clone(stream);
            let files = tokio::task::spawn_blocking(move || scan::expand(&def.pattern))
                .await
                .map_err(|e| ConnectorError::retry(format!("listing files: {e}")))??;
            if files.is_empty() {
                return Err(ConnectorError::needs_human(format!(
                    "stream `{}`: no file matches `{}`",
                    stream.name,
                    stream.pattern.display()
                )));
            }
            for file in files {
                std::fs::File::open(&file.path).map_err(|e| {
                    ConnectorError::needs_human(format!("cannot open {}: {e}", file.path.display()))
                })?;
            }
        }
        Ok(())
    }

    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        let Some(def) = self.streams.iter().find(|s| s.name == stream) else {
            let error =
                ConnectorError::needs_human(format!("this files connection has no stream `{stream}`"));
            return Box::pin(futures::stream::once(async move { Err(error) }));
        };
        let state = read::Run::new(Arc::clone(def), checkpoint.as_ref(), self.ctx.clock.clone());
        paged(Some(state), |state: Option<read::Run>| async move {
            let Some(run) = state else { return Ok(Step::Done) };
            let (run, step) = tokio::task::spawn_blocking(move || {
                let mut run = run;
                let step = run.step();
                (run, step)
            })
            .await
            .map_err(|e| ConnectorError::retry(format!("reading files: {e}")))?;
            Ok(match step? {
                read::Next::Page(page) => Step::Page(page, Some(run)),
                read::Next::Last(page) => Step::Last(page),
                read::Next::Done => Step::Done,
            })
        })
    }
}

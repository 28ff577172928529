//! Reading a stream's files page by page: rows parsed by format, mapped to entities, bad rows
//! quarantined, and a checkpoint after every page.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::sync::Arc;

use engage_connect::mapping::{lookup, text_of};
use engage_connect::{Checkpoint, Clock, ConnectorError, Page};
use engage_model::{Quarantined, Record, raw_json};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::StreamDef;
use crate::scan::{self, FNV_START, Matched, fnv};

/// How a file's rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Comma-separated values (RFC 4180 quoting; another delimiter with `delimiter`).
    Csv,
    /// Tab-separated values.
    Tsv,
    /// Columns separated by any run of spaces or tabs (fixed-width exports, CDNOW).
    Whitespace,
    /// One JSON object per line.
    Jsonl,
}

impl Format {
    /// The format a file extension implies (`.csv`, `.tsv`, `.jsonl`, `.ndjson`).
    pub fn from_extension(path: &str) -> Option<Format> {
        let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "tsv" | "tab" => Some(Format::Tsv),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

/// The checkpoint of a files stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct State {
    /// Files read to their end: name → fingerprint.
    #[serde(default)]
    files: BTreeMap<String, Mark>,
    /// The file being read, and where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current: Option<Position>,
}

/// A file read to its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Mark {
    /// Modification time, milliseconds since the Unix epoch.
    modified: i64,
    /// Bytes read.
    len: u64,
    /// FNV-1a of those bytes, hex.
    hash: String,
    /// Lines read.
    lines: u64,
}

/// A position inside a file being read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Position {
    file: String,
    modified: i64,
    offset: u64,
    line: u64,
    hash: String,
}

/// An open file being read.
struct Open {
    matched: Matched,
    modified: i64,
    reader: BufReader<File>,
    offset: u64,
    line: u64,
    hash: u64,
    /// Column names; `None` until the header is read.
    columns: Option<Vec<String>>,
    /// The next non-blank line is the header.
    header_pending: bool,
}

/// What one step produced.
pub(crate) enum Next {
    /// A page; more may follow.
    Page(Page),
    /// The last page.
    Last(Page),
    /// Nothing more.
    Done,
}

/// One sync of one stream.
pub(crate) struct Run {
    def: Arc<StreamDef>,
    clock: Clock,
    state: State,
    queue: Option<VecDeque<Matched>>,
    open: Option<Open>,
    /// The checkpoint changed since the last page (a touched file, a removed one).
    changed: bool,
}

fn hex(hash: u64) -> String {
    format!("{hash:016x}")
}

fn unhex(text: &str) -> Option<u64> {
    u64::from_str_radix(text, 16).ok()
}

fn io_error(path: &std::path::Path, e: std::io::Error) -> ConnectorError {
    ConnectorError::retry(format!("reading {}: {e}", path.display()))
}

impl Run {
    /// A run from the last committed checkpoint (an unreadable one starts over: the upsert
    /// makes re-reading harmless).
    pub(crate) fn new(def: Arc<StreamDef>, checkpoint: Option<&Checkpoint>, clock: Clock) -> Self {
        let state = checkpoint.and_then(|c| serde_json::from_value(c.clone()).ok()).unwrap_or_default();
        Run { def, clock, state, queue: None, open: None, changed: false }
    }

    /// Reads the next page (blocking I/O: call it off the async threads).
    pub(crate) fn step(&mut self) -> Result<Next, ConnectorError> {
        if self.queue.is_none() {
            let files = scan::expand(&self.def.pattern)?;
            let before = self.state.files.len();
            self.state.files.retain(|name, _| files.iter().any(|f| &f.name == name));
            self.changed |= self.state.files.len() != before;
            self.queue = Some(files.into());
        }
        loop {
            if self.open.is_none() {
                let Some(next) = self.queue.as_mut().and_then(VecDeque::pop_front) else { break };
                self.open = self.plan(next)?;
                continue;
            }
            let page = self.read_page()?;
            self.changed = false;
            return Ok(Next::Page(page));
        }
        if self.state.current.take().is_some() || self.changed {
            self.changed = false;
            return Ok(Next::Last(Page { checkpoint: self.checkpoint(), ..Page::default() }));
        }
        Ok(Next::Done)
    }

    fn checkpoint(&self) -> Checkpoint {
        serde_json::to_value(&self.state).unwrap_or(Value::Null)
    }

    /// Whether `matched` must be read, and from where.
    fn plan(&mut self, matched: Matched) -> Result<Option<Open>, ConnectorError> {
        let (modified, len) = scan::stat(&matched.path)?;
        if let Some(pos) = self.state.current.take() {
            if pos.file == matched.name && pos.modified == modified && pos.offset <= len {
                if let Some(hash) = unhex(&pos.hash) {
                    return self.open(matched, modified, pos.offset, pos.line, hash).map(Some);
                }
            } else if pos.file != matched.name {
                self.state.current = Some(pos);
            } else {
                self.changed = true;
            }
        }
        let Some(mark) = self.state.files.get_mut(&matched.name) else {
            return self.open(matched, modified, 0, 0, FNV_START).map(Some);
        };
        if mark.modified == modified && mark.len == len {
            return Ok(None);
        }
        if len >= mark.len
            && let Some(prefix) = scan::prefix_hash(&matched.path, mark.len)?
            && Some(prefix) == unhex(&mark.hash)
        {
            if len == mark.len {
                // Touched, not changed.
                mark.modified = modified;
                self.changed = true;
                return Ok(None);
            }
            // Grown: read only what was appended.
            let (offset, line) = (mark.len, mark.lines);
            return self.open(matched, modified, offset, line, prefix).map(Some);
        }
        self.open(matched, modified, 0, 0, FNV_START).map(Some)
    }

    fn open(
        &self,
        matched: Matched,
        modified: i64,
        offset: u64,
        line: u64,
        hash: u64,
    ) -> Result<Open, ConnectorError> {
        let file = File::open(&matched.path).map_err(|e| io_error(&matched.path, e))?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut columns = self.def.columns.clone();
        if offset > 0 {
            if self.def.header && columns.is_none() {
                // The header is at the start; rows continue at `offset`.
                let mut head = Open {
                    matched: matched.clone(),
                    modified,
                    reader,
                    offset: 0,
                    line: 0,
                    hash: FNV_START,
                    columns: None,
                    header_pending: true,
                };
                while let Some((_, bytes)) = self.chunk(&mut head)? {
                    if !is_blank(&bytes) {
                        columns = self.header(&bytes).ok();
                        break;
                    }
                }
                reader = head.reader;
            }
            reader.seek(SeekFrom::Start(offset)).map_err(|e| io_error(&matched.path, e))?;
        }
        let header_pending = self.def.header && offset == 0;
        Ok(Open { matched, modified, reader, offset, line, hash, columns, header_pending })
    }

    /// The next row's bytes and first line number; `None` at the end of the file. A CSV row
    /// with a quoted line break spans several lines.
    fn chunk(&self, open: &mut Open) -> Result<Option<(u64, Vec<u8>)>, ConnectorError> {
        let mut bytes = Vec::new();
        let first = open.line + 1;
        loop {
            let start = bytes.len();
            let n = open.reader.read_until(b'\n', &mut bytes).map_err(|e| io_error(&open.matched.path, e))?;
            if n == 0 {
                break;
            }
            open.hash = fnv(open.hash, &bytes[start..]);
            open.offset += n as u64;
            open.line += 1;
            let quoted = matches!(self.def.format, crate::Format::Csv | crate::Format::Tsv)
                && bytes.iter().filter(|b| **b == b'"').count() % 2 == 1;
            if !quoted || !bytes.ends_with(b"\n") {
                break;
            }
        }
        Ok((!bytes.is_empty()).then_some((first, bytes)))
    }

    fn read_page(&mut self) -> Result<Page, ConnectorError> {
        let Some(mut open) = self.open.take() else { return Ok(Page::default()) };
        let mut page = Page::default();
        let mut rows = 0;
        let mut finished = false;
        while rows < self.def.page_size {
            let Some((line, mut bytes)) = self.chunk(&mut open)? else {
                finished = true;
                break;
            };
            if line == 1 && bytes.starts_with(b"\xEF\xBB\xBF") {
                bytes.drain(..3);
            }
            if is_blank(&bytes) {
                continue;
            }
            if open.header_pending {
                open.header_pending = false;
                match self.header(&bytes) {
                    Ok(columns) => {
                        open.columns.get_or_insert(columns);
                    }
                    Err(reason) => {
                        page.quarantined.push(Quarantined {
                            source_id: None,
                            raw: String::from_utf8_lossy(&bytes).trim_end().to_owned(),
                            reason: format!(
                                "{} line {line}: unreadable header ({reason}); file skipped",
                                open.matched.name
                            ),
                        });
                        // Skip the rest: the fingerprint marks the file done until it changes.
                        let (modified, len) = scan::stat(&open.matched.path)?;
                        let hash = scan::prefix_hash(&open.matched.path, len)?.unwrap_or(open.hash);
                        open.modified = modified;
                        open.offset = len;
                        open.hash = hash;
                        finished = true;
                        break;
                    }
                }
                continue;
            }
            rows += 1;
            self.row(&open, line, &bytes, &mut page);
        }
        if finished {
            self.state.current = None;
            self.state.files.insert(
                open.matched.name.clone(),
                Mark { modified: open.modified, len: open.offset, hash: hex(open.hash), lines: open.line },
            );
        } else {
            self.state.current = Some(Position {
                file: open.matched.name.clone(),
                modified: open.modified,
                offset: open.offset,
                line: open.line,
                hash: hex(open.hash),
            });
            self.open = Some(open);
        }
        page.checkpoint = self.checkpoint();
        Ok(page)
    }

    /// Column names from a header line.
    fn header(&self, bytes: &[u8]) -> Result<Vec<String>, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not valid UTF-8".to_owned())?;
        let mut names = self.split(text.trim_end_matches(['\r', '\n']))?;
        for name in &mut names {
            *name = name.trim().to_owned();
        }
        if names.iter().all(String::is_empty) {
            return Err("no column names".to_owned());
        }
        Ok(names)
    }

    /// The fields of one tabular row.
    fn split(&self, text: &str) -> Result<Vec<String>, String> {
        match self.def.format {
            crate::Format::Whitespace => Ok(text.split_ascii_whitespace().map(str::to_owned).collect()),
            _ => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .delimiter(self.def.delimiter)
                    .from_reader(text.as_bytes());
                match reader.records().next() {
                    Some(Ok(record)) => Ok(record.iter().map(str::to_owned).collect()),
                    Some(Err(e)) => Err(format!("not valid CSV: {e}")),
                    None => Ok(Vec::new()),
                }
            }
        }
    }

    /// Maps one row into the page, or quarantines it with the reason.
    fn row(&self, open: &Open, line: u64, bytes: &[u8], page: &mut Page) {
        let file = &open.matched.name;
        let quarantine = |page: &mut Page, id: Option<String>, reason: String| {
            page.quarantined.push(Quarantined {
                source_id: id.or_else(|| Some(format!("{file}:{line}"))),
                raw: String::from_utf8_lossy(bytes).trim_end_matches(['\r', '\n']).to_owned(),
                reason: format!("{file} line {line}: {reason}"),
            });
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            return quarantine(page, None, "not valid UTF-8".to_owned());
        };
        let text = text.trim_end_matches(['\r', '\n']);
        let (raw, mut object) = match self.def.format {
            crate::Format::Jsonl => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(object)) => (text.trim().to_owned(), object),
                Ok(_) => return quarantine(page, None, "not a JSON object".to_owned()),
                Err(e) => return quarantine(page, None, format!("not valid JSON: {e}")),
            },
            _ => {
                let values = match self.split(text) {
                    Ok(values) => values,
                    Err(reason) => return quarantine(page, None, reason),
                };
                let columns = open.columns.as_deref().unwrap_or_default();
                if values.len() != columns.len() {
                    let reason = format!("expected {} columns, found {}", columns.len(), values.len());
                    return quarantine(page, None, reason);
                }
                let object: Map<String, Value> =
                    columns.iter().cloned().zip(values.into_iter().map(Value::String)).collect();
                (Value::Object(object.clone()).to_string(), object)
            }
        };
        object.insert("$file".to_owned(), Value::String(file.clone()));
        object.insert("$line".to_owned(), Value::from(line));
        let record = Value::Object(object);
        let mut parts = Vec::with_capacity(self.def.source_id.len());
        for field in &self.def.source_id {
            match lookup(&record, field)
                .filter(|v| !v.is_null())
                .map(text_of)
                .filter(|t| !t.trim().is_empty())
            {
                Some(part) => parts.push(part),
                None => return quarantine(page, None, format!("source id field `{field}` is missing")),
            }
        }
        let id = parts.join(":");
        let entity = match self.def.mapping.map(&record) {
            Ok(entity) => entity,
            Err(reason) => return quarantine(page, Some(id), reason),
        };
        let deleted_at = match self.def.mapping.deleted_at(&record, (self.clock)()) {
            Ok(at) => at,
            Err(reason) => return quarantine(page, Some(id), reason),
        };
        match raw_json(&raw) {
            Ok(raw) => page.records.push(Record { source_id: id, raw, deleted_at, tombstone: false, entity }),
            Err(e) => quarantine(page, Some(id), format!("not valid JSON: {e}")),
        }
    }
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

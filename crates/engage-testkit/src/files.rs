//! A file-backed source for the conformance kit: [`FileSource`] writes seeded CSV and JSON Lines
//! files into a temporary folder, knows what the files connector must store from them, and
//! changes them between syncs the way exports change.
//!
//! It stands where a simulator stands ([`RunningSim`]), with these meanings:
//!
//! - **ground truth**: every well-formed row of every file, by source id, with its raw row (a
//!   CSV row as `{column: text}`, a JSON line as written); rows written malformed (a missing
//!   column, cut-off JSON, a value that does not fit its field) are expected in quarantine;
//! - **mutations**: updates edit rows in place (the file is rewritten: the connector must read
//!   it again), deletions mark rows the way the streams' `deleted` rules say (`status = erased`,
//!   a `deleted_at` key: the files connector turns no removed line into a deletion), creations
//!   append whole lines to the newest file of a stream and add a new file; every mutation also
//!   rewrites one orders file with its rows reordered and touches one file without changing it;
//! - **requests**: files opened by anyone but the source itself (counted with inotify), so the
//!   kit's "a sync with nothing changed makes N requests" reads "opens N files" (0 for files);
//! - **faults**: transport faults and credentials have no meaning for local files; the source
//!   ignores them (the kit's [`crate::conformance_local`] does not ask for them).
//!
//! Every write gives the file a modification time one second after the previous write's, so
//! a change is never hidden by a file system's time resolution.

use std::collections::BTreeSet;
use std::fs::{File, FileTimes};
use std::io::Write;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engage_sandbox::{Faults, GroundTruth, Mutation, RunningSim, TruthRecord};
use rustix::fs::inotify;
use serde_json::{Map, Value, json};

/// Sizes and seed of a [`FileSource`].
#[derive(Clone, Debug, PartialEq)]
pub struct FileSourceOptions {
    /// Seed of all generated rows and changes.
    pub seed: u64,
    /// Orders at start (CSV, `order_id` as source id), spread over three files.
    pub orders: usize,
    /// Survey responses at start (JSON Lines, `id` as source id), over two files.
    pub responses: usize,
    /// Interactions at start (JSON Lines, the default `<file>:<line>` ids), over two files.
    pub events: usize,
    /// Rows per committed page.
    pub page_size: usize,
}

impl Default for FileSourceOptions {
    fn default() -> Self {
        FileSourceOptions { seed: 7, orders: 240, responses: 150, events: 120, page_size: 25 }
    }
}

/// Seconds since the Unix epoch of the first file's modification time (2024-06-01T00:00:00Z).
const FIRST_MTIME: u64 = 1_717_200_000;

/// The CSV columns of the orders files.
const ORDER_COLUMNS: [&str; 10] = [
    "order_id",
    "customer_id",
    "email",
    "created_at",
    "updated_at",
    "currency",
    "total",
    "items",
    "status",
    "note",
];

/// How a row is written wrong (the connector must quarantine it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bad {
    /// A CSV row missing its last column; a JSON line cut in the middle.
    Shape,
    /// A value that does not fit its field (an amount `n/a`, a score `ten`, a channel `pigeon`).
    Value,
}

/// One row of a file.
#[derive(Clone, Debug)]
struct Row {
    /// Its own id (`o-000001`, `r-000001`); events get theirs from the file and line.
    id: Option<String>,
    /// The row: CSV columns as text in column order, or the JSON object.
    value: Map<String, Value>,
    bad: Option<Bad>,
    deleted: bool,
}

/// The three streams, in the order of [`FileSource::streams`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Orders,
    Responses,
    Events,
}

const KINDS: [Kind; 3] = [Kind::Orders, Kind::Responses, Kind::Events];

impl Kind {
    fn stream(self) -> &'static str {
        match self {
            Kind::Orders => "orders",
            Kind::Responses => "responses",
            Kind::Events => "events",
        }
    }
    fn folder(self) -> &'static str {
        self.stream()
    }
    fn file_name(self, n: usize) -> String {
        match self {
            Kind::Orders => format!("orders-{n:03}.csv"),
            Kind::Responses => format!("responses-{n:03}.jsonl"),
            Kind::Events => format!("events-{n:03}.jsonl"),
        }
    }
}

/// One file of a stream.
#[derive(Clone, Debug)]
struct DataFile {
    /// Name inside the stream's folder (the connector's `$file`).
    name: String,
    rows: Vec<Row>,
}

/// What the source holds, behind its lock.
struct Model {
    seed: u64,
    draws: u64,
    next_id: [u64; 3],
    /// Modification time of the last write, seconds since the epoch.
    mtime: u64,
    files: [Vec<DataFile>; 3],
    /// Files opened by others so far.
    opened: u64,
}

/// The CSV and JSON Lines files a files connection reads, in a temporary folder.
pub struct FileSource {
    dir: tempfile::TempDir,
    page_size: usize,
    model: Mutex<Model>,
    watch: OwnedFd,
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource").field("dir", &self.dir.path()).finish_non_exhaustive()
    }
}

/// splitmix64: the next 64 random bits of `(seed, n)`.
fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Model {
    fn draw(&mut self, below: u64) -> u64 {
        self.draws += 1;
        mix(self.seed, self.draws) % below.max(1)
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.draw(items.len() as u64) as usize]
    }

    /// Row number `n` of a stream is written wrong now and then, in both ways.
    fn bad(n: u64) -> Option<Bad> {
        match n % 29 {
            5 => Some(Bad::Shape),
            17 => Some(Bad::Value),
            _ => None,
        }
    }

    fn time(&mut self, day_offset: u64) -> String {
        let secs = FIRST_MTIME - 90 * 86_400 + day_offset * 3_600 + self.draw(3_600);
        chrono_like(secs)
    }

    fn new_row(&mut self, kind: Kind) -> Row {
        let i = kind as usize;
        self.next_id[i] += 1;
        let n = self.next_id[i];
        let bad = Model::bad(n);
        match kind {
            Kind::Orders => {
                let id = format!("o-{n:06}");
                let created = self.time(n);
                let guest = self.draw(7) == 0;
                let customer = if guest { String::new() } else { format!("c-{:04}", self.draw(300)) };
                let email =
                    if guest { format!("guest{n}@example.org") } else { format!("{customer}@example.com") };
                let cents = 500 + self.draw(40_000);
                let total = if bad == Some(Bad::Value) {
                    "n/a".to_owned()
                } else {
                    format!("{}.{:02}", cents / 100, cents % 100)
                };
                let note = match self.draw(6) {
                    0 => "gift, wrapped".to_owned(),
                    1 => "said \"asap\"".to_owned(),
                    2 => "line one\nline two".to_owned(),
                    3 => "café ☕".to_owned(),
                    _ => String::new(),
                };
                let values = [
                    id.clone(),
                    customer,
                    email,
                    created.clone(),
                    created,
                    self.pick(&["USD", "EUR", "gbp"]).to_owned(),
                    total,
                    (1 + self.draw(5)).to_string(),
                    self.pick(&["paid", "paid", "pending", "refunded"]).to_owned(),
                    note,
                ];
                let value =
                    ORDER_COLUMNS.iter().map(|c| c.to_string()).zip(values.map(Value::String)).collect();
                Row { id: Some(id), value, bad, deleted: false }
            }
            Kind::Responses => {
                let id = format!("r-{n:06}");
                let score = if bad == Some(Bad::Value) { json!("ten") } else { json!(self.draw(11)) };
                let why = self.pick(&["fast shipping", "Support was \"meh\"", "", "très bien 👍", "a\\b"]);
                let value = json!({
                    "id": id,
                    "survey": "nps-2024",
                    "submitted": FIRST_MTIME - 30 * 86_400 + n * 600,
                    "answers": { "score": score, "why": why },
                    "respondent": { "email": format!("c-{:04}@example.com", self.draw(300)) },
                });
                Row { id: Some(id), value: into_map(value), bad, deleted: false }
            }
            Kind::Events => {
                let channel =
                    if bad == Some(Bad::Value) { "pigeon" } else { self.pick(&["web", "shop", "email"]) };
                let value = json!({
                    "customer": format!("c-{:04}", self.draw(300)),
                    "channel": channel,
                    "kind": self.pick(&["page_view", "add_to_cart", "click"]),
                    "at": self.time(n),
                    "value": self.draw(100),
                });
                Row { id: None, value: into_map(value), bad, deleted: false }
            }
        }
    }

    /// A well-formed, live row of `kind` chosen at random: (file index, row index).
    fn live_row(&mut self, kind: Kind) -> Option<(usize, usize)> {
        let candidates: Vec<(usize, usize)> = self.files[kind as usize]
            .iter()
            .enumerate()
            .flat_map(|(f, file)| {
                file.rows
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.bad.is_none() && !r.deleted)
                    .map(move |(r, _)| (f, r))
            })
            .collect();
        if candidates.is_empty() {
            return None;
        }
        Some(candidates[self.draw(candidates.len() as u64) as usize])
    }

    fn update(&mut self, kind: Kind, file: usize, row: usize) {
        let now = chrono_like(self.mtime + 1);
        let cents = 500 + self.draw(40_000);
        let score = self.draw(11);
        let value = self.draw(100) + 100;
        let r = &mut self.files[kind as usize][file].rows[row];
        match kind {
            Kind::Orders => {
                r.value.insert("total".into(), Value::String(format!("{}.{:02}", cents / 100, cents % 100)));
                r.value.insert("status".into(), Value::String("refunded".into()));
                r.value.insert("updated_at".into(), Value::String(now));
            }
            Kind::Responses => {
                r.value.insert("answers".into(), json!({ "score": score, "why": "changed my mind" }));
            }
            Kind::Events => {
                r.value.insert("value".into(), json!(value));
            }
        }
    }

    fn delete(&mut self, kind: Kind, file: usize, row: usize) {
        let now = chrono_like(self.mtime + 1);
        let r = &mut self.files[kind as usize][file].rows[row];
        match kind {
            Kind::Orders => {
                r.value.insert("status".into(), Value::String("erased".into()));
                r.value.insert("updated_at".into(), Value::String(now));
            }
            Kind::Responses => {
                r.value.insert("deleted_at".into(), Value::String(now));
            }
            Kind::Events => return,
        }
        r.deleted = true;
    }

    /// The source id of row `row` of `file` (events: `<file>:<line>`).
    fn source_id(kind: Kind, file: &DataFile, row: usize) -> String {
        match &file.rows[row].id {
            Some(id) => id.clone(),
            None => {
                debug_assert_eq!(kind, Kind::Events);
                format!("{}:{}", file.name, row + 1)
            }
        }
    }

    fn truth(&self) -> GroundTruth {
        let mut truth = GroundTruth::default();
        for kind in KINDS {
            truth.streams.entry(kind.stream().to_owned()).or_default();
            for file in &self.files[kind as usize] {
                for (i, row) in file.rows.iter().enumerate() {
                    let id = Model::source_id(kind, file, i);
                    let record = TruthRecord { raw: Value::Object(row.value.clone()), deleted: row.deleted };
                    truth.insert(kind.stream(), id, record, row.bad.is_some());
                }
            }
        }
        truth
    }
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix seconds (days from the civil calendar algorithm).
fn chrono_like(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3_600, rem / 60 % 60, rem % 60)
}

/// One CSV field, quoted when it holds a delimiter, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The bytes of one file.
fn render(kind: Kind, file: &DataFile) -> String {
    let mut out = String::new();
    if kind == Kind::Orders {
        out.push_str(&ORDER_COLUMNS.join(","));
        out.push('\n');
    }
    for row in &file.rows {
        match kind {
            Kind::Orders => {
                let mut fields: Vec<String> =
                    row.value.values().map(|v| csv_field(v.as_str().unwrap_or_default())).collect();
                if row.bad == Some(Bad::Shape) {
                    fields.pop();
                }
                out.push_str(&fields.join(","));
            }
            Kind::Responses | Kind::Events => {
                let line = Value::Object(row.value.clone()).to_string();
                if row.bad == Some(Bad::Shape) {
                    // Cut after the first key, so the line still names its record.
                    let cut = line.find(',').map_or(line.len() / 2, |i| i + 6).min(line.len());
                    out.push_str(&line[..cut]);
                } else {
                    out.push_str(&line);
                }
            }
        }
        out.push('\n');
    }
    out
}

impl FileSource {
    /// Writes the seeded files into a new temporary folder and starts counting opens.
    ///
    /// # Panics
    /// When the folder, the files or the inotify watch cannot be made (the test cannot run).
    pub fn start(options: FileSourceOptions) -> FileSource {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let watch = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
            .expect("inotify (files opened are counted with it)");
        for kind in KINDS {
            let folder = dir.path().join(kind.folder());
            std::fs::create_dir_all(&folder).expect("create a stream folder");
            inotify::add_watch(&watch, &folder, inotify::WatchFlags::OPEN).expect("watch a stream folder");
        }
        let mut model = Model {
            seed: options.seed,
            draws: 0,
            next_id: [0; 3],
            mtime: FIRST_MTIME,
            files: [Vec::new(), Vec::new(), Vec::new()],
            opened: 0,
        };
        for (kind, count, files) in [
            (Kind::Orders, options.orders, 3),
            (Kind::Responses, options.responses, 2),
            (Kind::Events, options.events, 2),
        ] {
            for f in 0..files {
                let rows = count / files + usize::from(f < count % files);
                let rows = (0..rows).map(|_| model.new_row(kind)).collect();
                model.files[kind as usize].push(DataFile { name: kind.file_name(f + 1), rows });
            }
        }
        let source = FileSource { dir, page_size: options.page_size, model: Mutex::new(model), watch };
        {
            let mut model = source.model.lock().expect("lock");
            for kind in KINDS {
                for f in 0..model.files[kind as usize].len() {
                    source.write(&mut model, kind, f);
                }
            }
            source.drain(&mut model, false);
        }
        source
    }

    /// The folder holding the files.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The files connection's options reading this source: `orders` (CSV, `order_id` ids, rows
    /// with `status = erased` deleted), `responses` (JSON Lines, `id` ids, rows with a
    /// `deleted_at` deleted) and `events` (JSON Lines, the default `<file>:<line>` ids).
    pub fn options(&self) -> Value {
        let glob = |kind: Kind, ext: &str| self.dir.path().join(kind.folder()).join(format!("*.{ext}"));
        json!({ "stream": [
            {
                "name": "orders",
                "path": glob(Kind::Orders, "csv").display().to_string(),
                "entity": "order",
                "source_id": "order_id",
                "platform": "shop",
                "page_size": self.page_size,
                "fields": {
                    "customer_source_id": "customer_id",
                    "customer_email": "email",
                    "created_at": "created_at",
                    "updated_at": "updated_at",
                    "currency": "currency",
                    "total": "total",
                    "item_count": "items",
                    "financial_status": "status",
                },
                "deleted": { "from": "status", "equals": "erased", "at": "updated_at" },
            },
            {
                "name": "responses",
                "path": glob(Kind::Responses, "jsonl").display().to_string(),
                "entity": "survey_response",
                "source_id": "id",
                "page_size": self.page_size,
                "fields": {
                    "kind": { "value": "nps" },
                    "survey_id": "survey",
                    "score": "answers.score",
                    "scale_min": { "value": 0 },
                    "scale_max": { "value": 10 },
                    "comment": "answers.why",
                    "customer_email": "respondent.email",
                    "answered_at": { "from": "submitted", "format": "unix" },
                },
                "deleted": { "from": "deleted_at" },
            },
            {
                "name": "events",
                "path": glob(Kind::Events, "jsonl").display().to_string(),
                "entity": "interaction",
                "page_size": self.page_size,
                "fields": {
                    "customer_source_id": "customer",
                    "channel": "channel",
                    "kind": "kind",
                    "occurred_at": "at",
                    "value": "value",
                },
            },
        ]})
    }

    fn file_path(&self, kind: Kind, name: &str) -> PathBuf {
        self.dir.path().join(kind.folder()).join(name)
    }

    fn next_mtime(model: &mut Model) -> SystemTime {
        model.mtime += 1;
        UNIX_EPOCH + Duration::from_secs(model.mtime)
    }

    /// Writes file `f` of `kind` whole, with the next modification time.
    fn write(&self, model: &mut Model, kind: Kind, f: usize) {
        let file = &model.files[kind as usize][f];
        let (path, bytes) = (self.file_path(kind, &file.name), render(kind, file));
        let modified = FileSource::next_mtime(model);
        let mut out = File::create(&path).expect("write a source file");
        out.write_all(bytes.as_bytes()).expect("write a source file");
        out.set_times(FileTimes::new().set_modified(modified)).expect("set the modification time");
    }

    /// Appends `rows` to file `f` of `kind` (whole lines), with the next modification time.
    fn append(&self, model: &mut Model, kind: Kind, f: usize, rows: Vec<Row>) {
        let name = model.files[kind as usize][f].name.clone();
        let tail = DataFile { name: name.clone(), rows: rows.clone() };
        let mut bytes = render(kind, &tail);
        if kind == Kind::Orders {
            bytes = bytes.split_once('\n').map(|(_, rows)| rows.to_owned()).unwrap_or_default();
        }
        model.files[kind as usize][f].rows.extend(rows);
        let modified = FileSource::next_mtime(model);
        let mut out = std::fs::OpenOptions::new()
            .append(true)
            .open(self.file_path(kind, &name))
            .expect("append to a file");
        out.write_all(bytes.as_bytes()).expect("append to a file");
        out.set_times(FileTimes::new().set_modified(modified)).expect("set the modification time");
    }

    /// Gives file `f` of `kind` a new modification time, its content unchanged.
    fn touch(&self, model: &mut Model, kind: Kind, f: usize) {
        let path = self.file_path(kind, &model.files[kind as usize][f].name);
        let modified = FileSource::next_mtime(model);
        let file = File::options().append(true).open(path).expect("open a file to touch it");
        file.set_times(FileTimes::new().set_modified(modified)).expect("set the modification time");
    }

    /// Reads the pending open events: counted (`count`) or dropped (the source's own writes).
    fn drain(&self, model: &mut Model, count: bool) {
        let mut buf = [MaybeUninit::<u8>::uninit(); 8192];
        let mut reader = inotify::Reader::new(&self.watch, &mut buf);
        loop {
            match reader.next() {
                Ok(event) => {
                    let flags = event.events();
                    assert!(
                        !flags.contains(inotify::ReadFlags::QUEUE_OVERFLOW),
                        "inotify queue overflow: file opens were lost"
                    );
                    if count && !flags.contains(inotify::ReadFlags::ISDIR) && event.file_name().is_some() {
                        model.opened += 1;
                    }
                }
                Err(rustix::io::Errno::AGAIN) => break,
                Err(e) => panic!("reading inotify events: {e}"),
            }
        }
    }
}

impl RunningSim for FileSource {
    fn name(&self) -> &'static str {
        "files"
    }

    /// `file://` and the folder (the files connector reads the paths of its options).
    fn base_url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }

    fn ground_truth(&self) -> GroundTruth {
        self.model.lock().expect("lock").truth()
    }

    fn mutate(&self, mutation: Mutation) {
        let mut model = self.model.lock().expect("lock");
        self.drain(&mut model, true);
        let mut dirty: BTreeSet<(usize, usize)> = BTreeSet::new();
        for n in 0..mutation.updates {
            let kind = KINDS[n % 3];
            if let Some((f, r)) = model.live_row(kind) {
                model.update(kind, f, r);
                dirty.insert((kind as usize, f));
            }
        }
        for n in 0..mutation.deletions {
            let kind = [Kind::Orders, Kind::Responses][n % 2];
            if let Some((f, r)) = model.live_row(kind) {
                model.delete(kind, f, r);
                dirty.insert((kind as usize, f));
            }
        }
        // A rewrite with the rows in another order (ids are columns: nothing changes but lines).
        if let Some(first) = model.files[Kind::Orders as usize].first_mut() {
            first.rows.reverse();
            dirty.insert((Kind::Orders as usize, 0));
        }
        for (k, f) in &dirty {
            self.write(&mut model, KINDS[*k], *f);
        }
        // Creations: half appended to each stream's newest file, the rest in a new file.
        let mut per_kind = [0usize; 3];
        for n in 0..mutation.creations {
            per_kind[n % 3] += 1;
        }
        for kind in KINDS {
            let count = per_kind[kind as usize];
            let appended = count.div_ceil(2);
            let rows: Vec<Row> = (0..appended).map(|_| model.new_row(kind)).collect();
            let last = model.files[kind as usize].len() - 1;
            if !rows.is_empty() {
                self.append(&mut model, kind, last, rows);
            }
            if count > appended {
                let rows = (appended..count).map(|_| model.new_row(kind)).collect();
                let name = kind.file_name(model.files[kind as usize].len() + 1);
                model.files[kind as usize].push(DataFile { name, rows });
                let f = model.files[kind as usize].len() - 1;
                self.write(&mut model, kind, f);
            }
        }
        // Touched, not changed: the connector must notice it is the same file.
        if !model.files[Kind::Responses as usize].is_empty() {
            self.touch(&mut model, Kind::Responses, 0);
        }
        self.drain(&mut model, false);
    }

    /// Files opened by others (the connector) since the start.
    fn total_requests(&self) -> u64 {
        let mut model = self.model.lock().expect("lock");
        self.drain(&mut model, true);
        model.opened
    }

    /// Transport faults and credentials do not apply to local files: ignored.
    fn set_all_faults(&self, _faults: Faults) {}
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn dates() {
        assert_eq!(chrono_like(FIRST_MTIME), "2024-06-01T00:00:00Z");
        assert_eq!(chrono_like(0), "1970-01-01T00:00:00Z");
        assert_eq!(chrono_like(951_782_400 + 3_723), "2000-02-29T01:02:03Z");
    }

    #[test]
    fn seeded_files_and_their_truth() {
        let source = FileSource::start(FileSourceOptions {
            orders: 60,
            responses: 30,
            events: 30,
            ..Default::default()
        });
        let truth = source.ground_truth();
        // Rows 5 and 17 of every 29 are malformed: 60 orders hold 2 + 2 of them.
        assert_eq!(truth.stream("orders").len(), 56);
        assert_eq!(truth.malformed("orders").len(), 4);
        assert_eq!(truth.stream("responses").len() + truth.malformed("responses").len(), 30);
        assert_eq!(truth.stream("events").len() + truth.malformed("events").len(), 30);
        assert!(truth.stream("events").contains_key("events-001.jsonl:1"));
        // The source's own writes are not counted; reading a file is.
        assert_eq!(source.total_requests(), 0);
        let csv = std::fs::read_to_string(source.path().join("orders/orders-001.csv")).unwrap();
        assert!(csv.starts_with(
            "order_id,customer_id,email,created_at,updated_at,currency,total,items,status,note\n"
        ));
        assert!(csv.contains("o-000005,"), "the short row still names its order");
        assert_eq!(source.total_requests(), 1);
        std::fs::read(source.path().join("events/events-002.jsonl")).unwrap();
        assert_eq!(source.total_requests(), 2);
        let before = source.ground_truth();
        source.mutate(Mutation { updates: 6, deletions: 4, creations: 9 });
        assert_eq!(source.total_requests(), 2);
        let after = source.ground_truth();
        let deleted =
            |t: &GroundTruth| t.streams.values().flat_map(|s| s.values()).filter(|r| r.deleted).count();
        assert_eq!(deleted(&after) - deleted(&before), 4);
        let rows = |t: &GroundTruth| {
            t.streams.values().map(BTreeMap::len).sum::<usize>()
                + t.malformed.values().map(|m| m.len()).sum::<usize>()
        };
        assert_eq!(rows(&after) - rows(&before), 9);
        assert!(source.path().join("orders/orders-004.csv").is_file(), "creations add a file");
    }
}

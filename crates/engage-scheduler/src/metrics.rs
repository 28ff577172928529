//! Prometheus metrics of a runner, in the text exposition format. Labels are bounded: the
//! configured connections and streams, and fixed sets of statuses and error classes.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use engage_connect::HttpClients;
use engage_runner::Progress;

/// Upper bounds (seconds) of the sync duration histogram.
const BUCKETS: [f64; 12] = [0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1_800.0, 3_600.0, 21_600.0];

/// How a sync run ended, as counted by `engage_syncs_total{status}`.
pub const STATUSES: [&str; 3] = ["succeeded", "failed", "cancelled"];

/// Error classes counted by `engage_sync_failures_total{class}`.
pub const CLASSES: [&str; 5] = ["retry", "needs_human", "bad_record", "timeout", "store"];

#[derive(Default, Clone)]
struct Stream {
    records: u64,
    pages: u64,
    quarantined: u64,
    runs: [u64; 3],
    failures: [u64; 5],
    retries: u64,
    paused: u64,
    buckets: [u64; 12],
    duration_count: u64,
    duration_sum: f64,
    last_success: Option<f64>,
}

#[derive(Default)]
struct Inner {
    streams: BTreeMap<(String, String), Stream>,
    running: i64,
}

/// The counters of one runner.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    http: Vec<(String, HttpClients)>,
}

/// Progress of one sync, to turn its cumulative counts into increments.
#[derive(Default)]
pub struct SyncTally {
    pages: u64,
    records: u64,
    quarantined: u64,
}

impl Metrics {
    /// Metrics for these streams (each shown from zero) and connections' HTTP clients.
    pub fn new(streams: &[(String, String)], http: Vec<(String, HttpClients)>) -> Metrics {
        let streams = streams.iter().map(|k| (k.clone(), Stream::default())).collect();
        Metrics { inner: Mutex::new(Inner { streams, running: 0 }), http }
    }

    fn with(&self, connection: &str, stream: &str, f: impl FnOnce(&mut Stream)) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(inner.streams.entry((connection.to_owned(), stream.to_owned())).or_default());
    }

    /// Adds what a sync committed since its last report.
    pub fn progress(&self, tally: &mut SyncTally, p: &Progress) {
        let (pages, records, quarantined) = (
            p.pages - tally.pages.min(p.pages),
            p.records - tally.records.min(p.records),
            p.quarantined - tally.quarantined.min(p.quarantined),
        );
        (tally.pages, tally.records, tally.quarantined) = (p.pages, p.records, p.quarantined);
        self.with(&p.connection, &p.stream, |s| {
            s.pages += pages;
            s.records += records;
            s.quarantined += quarantined;
        });
    }

    /// A sync started or ended.
    pub fn running(&self, delta: i64) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).running += delta;
    }

    /// A sync run ended with `status` after `seconds`; `now` is its end in Unix seconds.
    pub fn run_ended(&self, connection: &str, stream: &str, status: &str, seconds: f64, now: f64) {
        self.with(connection, stream, |s| {
            if let Some(i) = STATUSES.iter().position(|x| *x == status) {
                s.runs[i] += 1;
            }
            for (i, bound) in BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    s.buckets[i] += 1;
                }
            }
            s.duration_count += 1;
            s.duration_sum += seconds;
            if status == "succeeded" {
                s.last_success = Some(now);
            }
        });
    }

    /// A due time failed after its retries, with error class `class`.
    pub fn failed(&self, connection: &str, stream: &str, class: &str) {
        let i = CLASSES.iter().position(|x| *x == class).unwrap_or(0);
        self.with(connection, stream, |s| s.failures[i] += 1);
    }

    /// A failed attempt will be retried.
    pub fn retried(&self, connection: &str, stream: &str) {
        self.with(connection, stream, |s| s.retries += 1);
    }

    /// The vendor asked the stream to wait.
    pub fn paused(&self, connection: &str, stream: &str) {
        self.with(connection, stream, |s| s.paused += 1);
    }

    /// Syncs running now.
    pub fn running_now(&self) -> i64 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).running
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, lines: Vec<String>| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for line in lines {
                out.push_str(&line);
                out.push('\n');
            }
        };
        let labels =
            |(c, s): &(String, String)| format!("connection=\"{}\",stream=\"{}\"", escape(c), escape(s));
        let per_stream = |f: &dyn Fn(&Stream) -> u64, name: &str| -> Vec<String> {
            inner.streams.iter().map(|(k, s)| format!("{name}{{{}}} {}", labels(k), f(s))).collect()
        };
        family(
            "engage_sync_records_total",
            "counter",
            "Source records committed.",
            per_stream(&|s| s.records, "engage_sync_records_total"),
        );
        family(
            "engage_sync_pages_total",
            "counter",
            "Pages committed.",
            per_stream(&|s| s.pages, "engage_sync_pages_total"),
        );
        family(
            "engage_sync_quarantined_total",
            "counter",
            "Records quarantined because they could not be parsed.",
            per_stream(&|s| s.quarantined, "engage_sync_quarantined_total"),
        );
        family(
            "engage_sync_retries_total",
            "counter",
            "Failed sync attempts scheduled to be tried again.",
            per_stream(&|s| s.retries, "engage_sync_retries_total"),
        );
        family(
            "engage_sync_paused_total",
            "counter",
            "Syncs the vendor asked to wait (quota exhausted, long Retry-After).",
            per_stream(&|s| s.paused, "engage_sync_paused_total"),
        );
        let mut runs = Vec::new();
        let mut failures = Vec::new();
        let mut histogram = Vec::new();
        let mut last = Vec::new();
        for (k, s) in &inner.streams {
            let l = labels(k);
            for (i, status) in STATUSES.iter().enumerate() {
                runs.push(format!("engage_syncs_total{{{l},status=\"{status}\"}} {}", s.runs[i]));
            }
            for (i, class) in CLASSES.iter().enumerate() {
                failures
                    .push(format!("engage_sync_failures_total{{{l},class=\"{class}\"}} {}", s.failures[i]));
            }
            for (i, bound) in BUCKETS.iter().enumerate() {
                histogram.push(format!(
                    "engage_sync_duration_seconds_bucket{{{l},le=\"{bound}\"}} {}",
                    s.buckets[i]
                ));
            }
            histogram
                .push(format!("engage_sync_duration_seconds_bucket{{{l},le=\"+Inf\"}} {}", s.duration_count));
            histogram.push(format!("engage_sync_duration_seconds_sum{{{l}}} {}", s.duration_sum));
            histogram.push(format!("engage_sync_duration_seconds_count{{{l}}} {}", s.duration_count));
            if let Some(t) = s.last_success {
                last.push(format!("engage_sync_last_success_timestamp_seconds{{{l}}} {t}"));
            }
        }
        family("engage_syncs_total", "counter", "Sync runs ended, by status.", runs);
        family(
            "engage_sync_failures_total",
            "counter",
            "Due syncs that failed after their retries, by error class.",
            failures,
        );
        family("engage_sync_duration_seconds", "histogram", "Duration of sync runs.", histogram);
        family(
            "engage_sync_last_success_timestamp_seconds",
            "gauge",
            "End of the last successful sync (scheduler time).",
            last,
        );
        let http = |f: &dyn Fn(&engage_connect::http::HttpStats) -> u64, name: &str| -> Vec<String> {
            self.http
                .iter()
                .map(|(c, clients)| format!("{name}{{connection=\"{}\"}} {}", escape(c), f(&clients.stats())))
                .collect()
        };
        family(
            "engage_http_requests_total",
            "counter",
            "HTTP requests sent to vendors.",
            http(&|s| s.requests, "engage_http_requests_total"),
        );
        family(
            "engage_http_retries_total",
            "counter",
            "HTTP requests retried.",
            http(&|s| s.retries, "engage_http_retries_total"),
        );
        family(
            "engage_http_throttled_total",
            "counter",
            "HTTP 429 responses received.",
            http(&|s| s.throttled, "engage_http_throttled_total"),
        );
        family(
            "engage_syncs_running",
            "gauge",
            "Syncs running now.",
            vec![format!("engage_syncs_running {}", inner.running)],
        );
        out
    }
}

/// Escapes a label value (backslash, quote, newline).
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn renders_counters_histograms_and_escapes_labels() {
        let m = Metrics::new(&[("a\"b".into(), "tickets".into())], Vec::new());
        let mut tally = SyncTally::default();
        let p = |pages, records| Progress {
            connection: "a\"b".into(),
            stream: "tickets".into(),
            pages,
            records,
            quarantined: 1,
            elapsed: Duration::ZERO,
        };
        m.progress(&mut tally, &p(1, 100));
        m.progress(&mut tally, &p(3, 250));
        m.run_ended("a\"b", "tickets", "succeeded", 2.5, 1_750_000_000.0);
        m.failed("a\"b", "tickets", "needs_human");
        let text = m.render();
        for line in [
            "# TYPE engage_sync_records_total counter",
            "engage_sync_records_total{connection=\"a\\\"b\",stream=\"tickets\"} 250",
            "engage_sync_pages_total{connection=\"a\\\"b\",stream=\"tickets\"} 3",
            "engage_sync_quarantined_total{connection=\"a\\\"b\",stream=\"tickets\"} 1",
            "engage_syncs_total{connection=\"a\\\"b\",stream=\"tickets\",status=\"succeeded\"} 1",
            "engage_sync_failures_total{connection=\"a\\\"b\",stream=\"tickets\",class=\"needs_human\"} 1",
            "engage_sync_duration_seconds_bucket{connection=\"a\\\"b\",stream=\"tickets\",le=\"1\"} 0",
            "engage_sync_duration_seconds_bucket{connection=\"a\\\"b\",stream=\"tickets\",le=\"5\"} 1",
            "engage_sync_duration_seconds_count{connection=\"a\\\"b\",stream=\"tickets\"} 1",
            "engage_syncs_running 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in\n{text}");
        }
    }
}

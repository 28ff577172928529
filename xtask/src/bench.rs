//! `cargo xtask bench <store>`: runs a benchmark and records its figures in
//! `docs/BENCHMARKS.md` between `<!-- bench:NAME -->` markers.

use std::process::Command;

use anyhow::{Result, bail};

use crate::postgres::{Cluster, URL_VAR};

pub fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("store") => store(),
        Some("sync") => sync(),
        Some("metrics") => metrics(&args[1..]),
        _ => bail!("usage: cargo xtask bench <store|sync|metrics>"),
    }
}

fn store() -> Result<()> {
    let cluster = Cluster::start_durable();
    let mut cmd = crate::cargo();
    cmd.args(["bench", "-p", "engage-store", "--bench", "store_upsert", "--", "sqlite"]);
    match &cluster {
        Ok(c) => {
            cmd.arg("postgres").env(URL_VAR, c.url());
        }
        Err(e) => eprintln!("warning: PostgreSQL benchmark skipped: {e:#}"),
    }
    let output = capture(&mut cmd)?;
    let figures: Vec<&str> = output.lines().filter(|l| l.starts_with("store/")).collect();
    record(
        "store",
        "cargo xtask bench store",
        &figures,
        "PostgreSQL: a fresh local cluster with default durability settings (fsync on).",
    )
}

/// End-to-end Zendesk sync with the simulator in its own process, at three sizes, each in a
/// process of its own so that every peak RSS is its own.
fn sync() -> Result<()> {
    crate::run(crate::cargo().args([
        "build",
        "--release",
        "-p",
        "engage-sandbox",
        "--bin",
        "engage-sandbox",
    ]))?;
    crate::run(crate::cargo().args(["bench", "-p", "engage-runner", "--bench", "sync_zendesk", "--no-run"]))?;
    let sandbox = crate::target_dir().join("release/engage-sandbox").canonicalize()?;
    let mut figures = Vec::new();
    let mut rss = Vec::new();
    for tickets in ["100000", "200000", "1000000"] {
        let mut cmd = crate::cargo();
        cmd.args(["bench", "-p", "engage-runner", "--bench", "sync_zendesk", "--", tickets])
            .env("ENGAGE_SANDBOX_BIN", &sandbox);
        let output = capture(&mut cmd)?;
        for line in output.lines().filter(|l| l.starts_with("sync/")) {
            if let Some(mib) = line
                .split("peak RSS ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .and_then(|v| v.parse::<f64>().ok())
            {
                rss.push(mib);
            }
            figures.push(line.to_owned());
        }
    }
    let note = match rss.as_slice() {
        [small, _, large] => format!(
            "The simulator runs as a separate process (`engage-sandbox zendesk --unlimited --cache-pages`; an untimed warm-up sync into a scratch store has it render every page first). Peak RSS at 1,000,000 tickets is {:+.1} % of that at 100,000.",
            (large / small - 1.0) * 100.0
        ),
        _ => "The simulator runs as a separate process.".to_owned(),
    };
    let refs: Vec<&str> = figures.iter().map(String::as_str).collect();
    record("sync", "cargo xtask bench sync", &refs, &note)
}

/// `engage metrics overview` (a release build, timed as a user runs it) over a store of
/// 10,000,000 interactions, on SQLite and on a fresh PostgreSQL cluster. Extra arguments go to
/// the benchmark (`--interactions N --days D` for a smaller trial).
fn metrics(extra: &[String]) -> Result<()> {
    crate::run(crate::cargo().args(["build", "--release", "-p", "engage-cli", "--bin", "engage"]))?;
    crate::run(crate::cargo().args(["bench", "-p", "engage-metrics", "--bench", "overview", "--no-run"]))?;
    let engage = crate::target_dir().join("release/engage").canonicalize()?;
    let run = |backend: &str, pg: Option<&Cluster>| -> Result<String> {
        let mut cmd = crate::cargo();
        cmd.args(["bench", "-p", "engage-metrics", "--bench", "overview", "--", backend])
            .args(extra)
            .env("ENGAGE_BIN", &engage);
        if let Some(c) = pg {
            cmd.env(URL_VAR, c.url());
        }
        capture(&mut cmd)
    };
    // One backend at a time, each store deleted after its runs: both at once would need twice
    // the disk.
    let mut output = run("sqlite", None)?;
    match Cluster::start_durable() {
        Ok(cluster) => output.push_str(&run("postgres", Some(&cluster))?),
        Err(e) => eprintln!("warning: PostgreSQL benchmark skipped: {e:#}"),
    }
    let figures: Vec<&str> = output.lines().filter(|l| l.starts_with("metrics/")).collect();
    let command = format!("cargo xtask bench metrics {}", extra.join(" "));
    record(
        "metrics",
        command.trim_end(),
        &figures,
        "Wall time of `engage --config C metrics overview --from 2025-10-02 --to 2025-12-31 --by week --format json` (a release build), process start included. PostgreSQL: a fresh local cluster with default settings.",
    )
}

fn capture(cmd: &mut Command) -> Result<String> {
    eprintln!("$ {cmd:?}");
    let out = cmd.stderr(std::process::Stdio::inherit()).output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{text}");
    if !out.status.success() {
        bail!("benchmark failed with {}", out.status);
    }
    Ok(text)
}

/// Replaces the section `name` of docs/BENCHMARKS.md with the figures just measured.
fn record(name: &str, command: &str, figures: &[&str], note: &str) -> Result<()> {
    let path = "docs/BENCHMARKS.md";
    let text = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let machine = machine();
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let body = format!(
        "<!-- bench:{name} -->\nMeasured {date} on {machine} with `{command}`. {note}\n\n```text\n{}\n```\n<!-- /bench:{name} -->",
        figures.join("\n")
    );
    let start_marker = format!("<!-- bench:{name} -->");
    let end_marker = format!("<!-- /bench:{name} -->");
    let updated = match (text.find(&start_marker), text.find(&end_marker)) {
        (Some(s), Some(e)) if e > s => {
            format!("{}{}{}", &text[..s], body, &text[e + end_marker.len()..])
        }
        _ => format!("{}\n{}\n", text.trim_end(), body),
    };
    std::fs::write(path, updated)?;
    eprintln!("recorded in {path}");
    Ok(())
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024 / 1024)
        .unwrap_or(0);
    format!("{cpus} cores ({model}), {mem_gib} GiB")
}

//! Project automation, run as `cargo xtask <task>`:
//!
//! - `test`: the whole suite; with a throwaway PostgreSQL cluster on 127.0.0.1 when the
//!   `initdb`/`pg_ctl` binaries are present (`ENGAGE_REQUIRE_POSTGRES=1` makes them required).
//!   The singer tests' PyPI taps come from `ENGAGE_SINGER_TAPS` (default `target/singer-venv`,
//!   where `.ci/run` installs them); without them those tests are skipped, unless
//!   `ENGAGE_REQUIRE_SINGER_TAPS=1`, which makes a missing tap a failure.
//! - `lint`: formatting, clippy, crate-boundary checks and `validate-examples`.
//! - `ci`: `lint`, then `test`.
//! - `validate-examples`: every file in `config/` must pass `engage validate`.
//! - `bench store`: store upsert throughput on SQLite and PostgreSQL, recorded in
//!   `docs/BENCHMARKS.md`.
//! - `fuzz [SECONDS]`: a short run of the config-loader fuzz target.
//! - `api-fuzz`: `engage serve` on a demo store, its OpenAPI description validated and
//!   fuzzed with schemathesis (Python tools from `ENGAGE_PY_VENV`, default `target/py-venv`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

mod api_fuzz;
mod bench;
mod postgres;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = project_root();
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("ci") => ci(),
        Some("lint") => lint(),
        Some("validate-examples") => validate_examples(),
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz") => fuzz(args.get(1).map(String::as_str)),
        Some("api-fuzz") => api_fuzz::api_fuzz(),
        _ => {
            eprintln!(
                "usage: cargo xtask <test|lint|ci|validate-examples|bench <store|sync>|fuzz [SECONDS]|api-fuzz>"
            );
            std::process::exit(2);
        }
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Runs a command, echoing it, and fails when it fails.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", display(cmd));
    let status = cmd.status().with_context(|| format!("cannot start {}", display(cmd)))?;
    if !status.success() {
        bail!("`{}` failed with {status}", display(cmd));
    }
    Ok(())
}

fn display(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn require_postgres() -> bool {
    std::env::var("ENGAGE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// The PyPI taps the singer tests run (`tests/tests/singer_pypi.rs`), one venv each.
const SINGER_TAPS: &[&str] = &["tap-jsonl", "tap-spreadsheets"];

/// The variable naming the folder of the taps' venvs (`<folder>/<tap>/bin/<tap>`).
const SINGER_TAPS_VAR: &str = "ENGAGE_SINGER_TAPS";

/// The folder of the singer tests' taps (`ENGAGE_SINGER_TAPS`, else `target/singer-venv`),
/// when every tap is installed there.
fn singer_taps(root: &Path) -> Option<PathBuf> {
    let dir = std::env::var_os(SINGER_TAPS_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target").join("singer-venv"));
    SINGER_TAPS.iter().all(|tap| dir.join(tap).join("bin").join(tap).is_file()).then_some(dir)
}

/// `cargo xtask test [extra cargo test args]`.
fn test(extra: &[String]) -> Result<()> {
    let cluster = match postgres::Cluster::start() {
        Ok(cluster) => Some(cluster),
        Err(e) if require_postgres() => {
            return Err(e.context("ENGAGE_REQUIRE_POSTGRES=1 but no PostgreSQL cluster could be started"));
        }
        Err(e) => {
            eprintln!("warning: PostgreSQL tests skipped: {e:#}");
            eprintln!("warning: install Debian's `postgresql` package to run them (CI requires them)");
            None
        }
    };
    let mut cmd = cargo();
    cmd.args(["test", "--workspace", "--no-fail-fast"]).args(extra).arg("--");
    match &cluster {
        Some(c) => {
            cmd.env(postgres::URL_VAR, c.url());
        }
        None => {
            cmd.args(["--skip", "postgres::"]);
        }
    }
    match singer_taps(&project_root()) {
        Some(dir) => {
            cmd.env(SINGER_TAPS_VAR, dir);
        }
        None if std::env::var("ENGAGE_REQUIRE_SINGER_TAPS").is_ok_and(|v| v == "1") => {
            bail!(
                "ENGAGE_REQUIRE_SINGER_TAPS=1 but {} are not installed under {SINGER_TAPS_VAR} or \
                 target/singer-venv (.ci/run installs them)",
                SINGER_TAPS.join(" and ")
            );
        }
        None => {
            eprintln!(
                "warning: the singer tests with PyPI taps skipped: {} not installed",
                SINGER_TAPS.join(", ")
            );
            eprintln!("warning: .ci/run installs them into target/singer-venv (CI requires them)");
            cmd.args(["--skip", "pypi_tap_"]);
        }
    }
    let output = run_teed(&mut cmd)?;
    let counts = count_backend_tests(&output);
    eprintln!(
        "store and end-to-end tests by backend: sqlite {} passed, postgres {} passed{}",
        counts.0,
        counts.1,
        if cluster.is_none() { " (PostgreSQL not available: skipped)" } else { "" }
    );
    let totals = total_counts(&output);
    println!("{} passed, {} failed, {} skipped", totals.0, totals.1, totals.2);
    drop(cluster);
    if totals.1 > 0 {
        bail!("{} test(s) failed", totals.1);
    }
    if require_postgres() && counts.1 == 0 {
        bail!("ENGAGE_REQUIRE_POSTGRES=1 but no PostgreSQL test ran");
    }
    Ok(())
}

/// Runs `cmd`, copying its standard output to ours, and returns that output; fails when the
/// command fails.
fn run_teed(cmd: &mut Command) -> Result<String> {
    use std::io::{BufRead, BufReader, Write};
    eprintln!("$ {}", display(cmd));
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().context("cannot start cargo")?;
    let mut collected = String::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            println!("{line}");
            std::io::stdout().flush().ok();
            collected.push_str(&line);
            collected.push('\n');
        }
    }
    let status = child.wait()?;
    if !status.success() {
        let totals = total_counts(&collected);
        println!("{} passed, {} failed, {} skipped", totals.0, totals.1.max(1), totals.2);
        bail!("`{}` failed with {status}", display(cmd));
    }
    Ok(collected)
}

/// Passed tests whose path names a backend (`sqlite::...`, `postgres::...`).
fn count_backend_tests(output: &str) -> (usize, usize) {
    let passed = |backend: &str| {
        output
            .lines()
            .filter(|l| l.starts_with("test ") && l.ends_with(" ok"))
            .filter(|l| {
                l.split_whitespace().nth(1).is_some_and(|name| name.split("::").any(|part| part == backend))
            })
            .count()
    };
    (passed("sqlite"), passed("postgres"))
}

/// Sums the `test result:` lines: (passed, failed, ignored).
fn total_counts(output: &str) -> (usize, usize, usize) {
    let mut totals = (0, 0, 0);
    for line in output.lines().filter(|l| l.starts_with("test result:")) {
        let number_before = |word: &str| {
            line.split(';')
                .find(|part| part.trim_end().ends_with(word))
                .and_then(|part| part.split_whitespace().rev().nth(1))
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0)
        };
        totals.0 += number_before("passed");
        totals.1 += number_before("failed");
        totals.2 += number_before("ignored");
    }
    totals
}

/// `cargo xtask ci`: `lint`, then `test`.
fn ci() -> Result<()> {
    lint()?;
    test(&[])
}

/// `cargo xtask lint`: formatting, clippy, crate boundaries and the example configurations.
fn lint() -> Result<()> {
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    check_boundaries()?;
    validate_examples()
}

/// The boundaries ARCHITECTURE.md promises: the model, the config, the SDK and every connector
/// never reach the database (not even through a dev-dependency), and connectors have no HTTP
/// client of their own (the SDK's toolkit is the only one).
fn check_boundaries() -> Result<()> {
    let mut no_database =
        vec!["engage-model".to_owned(), "engage-config".to_owned(), "engage-connect".to_owned()];
    let connectors = connector_crates()?;
    no_database.extend(connectors.iter().cloned());
    for krate in &no_database {
        let out = cargo().args(["tree", "-i", "sqlx", "-p", krate]).output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        if text.lines().any(|l| l.contains("sqlx")) {
            bail!("{krate} depends on sqlx; only engage-store may talk to the database:\n{text}");
        }
    }
    eprintln!("boundary ok: {} does not depend on sqlx", no_database.join(", "));
    for krate in &connectors {
        let manifest = std::fs::read_to_string(format!("crates/connectors/{krate}/Cargo.toml"))?;
        for banned in ["reqwest", "hyper", "ureq", "sqlx", "engage-store", "engage-runner", "engage-config"] {
            if manifest.lines().any(|l| {
                l.trim_start().starts_with(&format!("{banned} "))
                    || l.trim_start().starts_with(&format!("{banned}."))
            }) {
                bail!(
                    "{krate} depends on {banned}: connectors use the SDK's HTTP toolkit and never see the store or the config file"
                );
            }
        }
    }
    eprintln!("boundary ok: connectors ({}) use only the SDK for HTTP", connectors.join(", "));
    Ok(())
}

/// The connector crates: every folder of `crates/connectors/`.
fn connector_crates() -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir("crates/connectors")?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else `target/` of the workspace.
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| project_root().join("target"))
}

/// `cargo xtask validate-examples`: `engage validate` on every `config/*.toml`, with a
/// placeholder for every `${VAR}` the examples name.
fn validate_examples() -> Result<()> {
    run(cargo().args(["build", "--quiet", "-p", "engage-cli"]))?;
    let engage = target_dir().join("debug/engage");
    let mut files: Vec<PathBuf> = std::fs::read_dir("config")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("config/ holds no example");
    }
    for file in &files {
        let text = std::fs::read_to_string(file)?;
        let mut cmd = Command::new(&engage);
        cmd.arg("--config").arg(file).arg("validate");
        for var in env_vars_named(&text) {
            if std::env::var_os(&var).is_none() {
                cmd.env(&var, format!("placeholder-{}", var.to_lowercase()));
            }
        }
        run(&mut cmd)?;
    }
    eprintln!("validate-examples: {} file(s) valid", files.len());
    Ok(())
}

/// The `${VAR}` names in `text`.
fn env_vars_named(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        rest = &rest[start + 2..];
        if let Some(end) = rest.find('}') {
            names.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    names
}

/// `cargo xtask fuzz [SECONDS]`: builds the cargo-fuzz target with libFuzzer's coverage
/// instrumentation (no sanitizer, so a stable toolchain suffices) and runs it from the seeds.
fn fuzz(seconds: Option<&str>) -> Result<()> {
    let seconds: u32 = seconds.unwrap_or("60").parse().context("SECONDS must be a number")?;
    let flags = [
        "--cfg fuzzing",
        "-Cpasses=sancov-module",
        "-Cllvm-args=-sanitizer-coverage-level=4",
        "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
        "-Cllvm-args=-sanitizer-coverage-pc-table",
        "-Cllvm-args=-sanitizer-coverage-trace-compares",
        "-Cdebug-assertions",
        "-Coverflow-checks",
    ]
    .join(" ");
    let target = "x86_64-unknown-linux-gnu";
    run(cargo().current_dir("fuzz").env("RUSTFLAGS", flags).args([
        "build",
        "--release",
        "--target",
        target,
        "--bin",
        "config_loader",
    ]))?;
    let corpus = Path::new("fuzz/corpus/config_loader");
    std::fs::create_dir_all(corpus)?;
    for seed in std::fs::read_dir("fuzz/seeds/config_loader")? {
        let seed = seed?.path();
        if let Some(name) = seed.file_name() {
            std::fs::copy(&seed, corpus.join(name))?;
        }
    }
    std::fs::create_dir_all("fuzz/artifacts")?;
    run(Command::new(format!("fuzz/target/{target}/release/config_loader"))
        .arg(corpus)
        .arg(format!("-max_total_time={seconds}"))
        .arg("-artifact_prefix=fuzz/artifacts/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_tests_by_backend_and_totals() {
        let out = "test sqlite::commits ... ok\ntest postgres::commits ... ok\ntest postgres::x ... FAILED\n\
                   test unit::sqlite_time ... ok\ntest result: ok. 3 passed; 1 failed; 2 ignored; 0 measured\n\
                   test result: ok. 4 passed; 0 failed; 0 ignored; 0 measured\n";
        assert_eq!(count_backend_tests(out), (1, 1));
        assert_eq!(total_counts(out), (7, 1, 2));
    }

    #[test]
    fn finds_env_vars() {
        assert_eq!(env_vars_named("a = \"${X_1}\"\nb = \"x${Y}z\""), vec!["X_1", "Y"]);
    }
}

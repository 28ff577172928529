//! `cargo xtask api-fuzz`: `engage serve` on a fresh demo store, its `/openapi.json` validated
//! with `openapi-spec-validator`, then the `schemathesis` fuzzer against it with a bounded
//! number of examples per operation. Any 5xx, or a status, content type or body the
//! description does not allow, fails the task.
//!
//! The Python tools come from the virtual environment `ENGAGE_PY_VENV` (default
//! `target/py-venv`), which `.ci/run` creates; `ENGAGE_FUZZ_EXAMPLES` sets the examples per
//! operation (default 30).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::{cargo, run};

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from)
}

fn venv_tool(venv: &Path, name: &str) -> Result<PathBuf> {
    let path = venv.join("bin").join(name);
    if !path.is_file() {
        bail!(
            "{} is missing: create the virtual environment with `python3 -m venv {v} && {v}/bin/pip install \
             openapi-spec-validator schemathesis` (or set ENGAGE_PY_VENV)",
            path.display(),
            v = venv.display()
        );
    }
    Ok(path)
}

/// `cargo xtask api-fuzz`.
pub fn api_fuzz() -> Result<()> {
    let venv = std::env::var_os("ENGAGE_PY_VENV").map_or_else(|| target_dir().join("py-venv"), PathBuf::from);
    let python = venv_tool(&venv, "python")?;
    let validator = venv_tool(&venv, "openapi-spec-validator")?;
    let schemathesis = venv_tool(&venv, "schemathesis")?;
    let examples = std::env::var("ENGAGE_FUZZ_EXAMPLES").unwrap_or_else(|_| "30".into());

    run(cargo().args(["build", "-p", "engage-cli"]))?;
    let engage = std::fs::canonicalize(target_dir().join("debug").join("engage"))?;
    let dir = std::env::temp_dir().join(format!("engage-api-fuzz-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    let result = fuzz(&engage, &dir, &python, &validator, &schemathesis, &examples);
    std::fs::remove_dir_all(&dir).ok();
    result
}

fn fuzz(
    engage: &Path,
    dir: &Path,
    python: &Path,
    validator: &Path,
    schemathesis: &Path,
    examples: &str,
) -> Result<()> {
    run(Command::new(engage).args(["demo", "--records", "300", "--dir"]).arg(dir).stdout(Stdio::null()))?;
    // A token, so that the fuzzer also checks that requests without it are refused.
    let token = format!("fuzz-{:x}-{}", std::process::id(), std::time::UNIX_EPOCH.elapsed()?.as_nanos());
    let mut server = Killed(
        Command::new(engage)
            .arg("--config")
            .arg(dir.join("engage.toml"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("ENGAGE_API_TOKEN", &token)
            .env("ENGAGE_LOG", "warn")
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start engage serve")?,
    );
    let stderr = server.0.stderr.take().context("no standard error")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("engage serve: {line}");
            if let Some(rest) = line.split("on http://").nth(1) {
                tx.send(rest.split('/').next().unwrap_or_default().to_owned()).ok();
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(60)).context("engage serve did not start")?;
    let base = format!("http://{addr}");

    let spec = dir.join("openapi.json");
    run(Command::new(python)
        .args([
            "-c",
            "import os, sys, urllib.request\n\
             r = urllib.request.Request(sys.argv[1], headers={'Authorization': 'Bearer ' + os.environ['TOKEN']})\n\
             open(sys.argv[2], 'wb').write(urllib.request.urlopen(r).read())",
        ])
        .arg(format!("{base}/openapi.json"))
        .arg(&spec)
        .env("TOKEN", &token))?;
    run(Command::new(validator).arg(&spec))?;
    // The token reaches schemathesis through its configuration, not the echoed command line.
    let settings = dir.join("schemathesis.toml");
    std::fs::write(&settings, "headers = { Authorization = \"Bearer ${ENGAGE_FUZZ_TOKEN}\" }\n")?;
    run(Command::new(schemathesis)
        .arg("--config-file")
        .arg(&settings)
        .arg("run")
        .arg(&spec)
        .args(["--url", &base])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,ignored_auth",
        ])
        .args(["--max-examples", examples, "--seed", "1", "--workers", "2"])
        .args(["--generation-database", "none", "--no-color", "--output-sanitize", "true"])
        .env("ENGAGE_FUZZ_TOKEN", &token))
    .context("schemathesis found a server error or a response the description does not allow")?;
    drop(server);
    Ok(())
}

//! Runs simulators in their own process (for benchmarks and the CLI):
//! `engage-sandbox zendesk --records 200000 --seed 1 [--unlimited] [--cache-pages] [--now UNIX|wall]`.
//! Prints one JSON line `{"zendesk":"http://127.0.0.1:PORT"}` and runs until killed or until
//! standard input closes. `--cache-pages` keeps the Zendesk export pages it has rendered and
//! serves them again when the same query repeats (for benchmarks).

use std::io::{Read, Write};
use std::process::ExitCode;

use engage_sandbox::{SIMULATORS, Sandbox, SandboxOptions};

const USAGE: &str =
    "usage: engage-sandbox NAME... [--records N] [--seed N] [--unlimited] [--cache-pages] [--now UNIX|wall]";

fn parse(args: &[String]) -> Result<(Vec<String>, SandboxOptions), String> {
    let mut names = Vec::new();
    let mut options = SandboxOptions::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
        match arg.as_str() {
            "--records" => options.records = value(arg)?.parse().map_err(|e| format!("--records: {e}"))?,
            "--seed" => options.seed = value(arg)?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--unlimited" => options.unlimited = true,
            "--cache-pages" => options.cache_pages = true,
            "--now" => {
                let v = value(arg)?;
                options.now = if v == "wall" {
                    chrono::Utc::now().timestamp()
                } else {
                    v.parse().map_err(|e| format!("--now: {e}"))?
                };
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}\n{USAGE}")),
            name if SIMULATORS.contains(&name) => names.push(name.to_owned()),
            name => return Err(format!("unknown simulator {name:?}; known: {}", SIMULATORS.join(", "))),
        }
    }
    if names.is_empty() {
        return Err(USAGE.to_owned());
    }
    Ok((names, options))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (names, options) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("engage-sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let sandbox = match Sandbox::start(&names, &options).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("engage-sandbox: {e}");
                return ExitCode::FAILURE;
            }
        };
        let line = serde_json::to_string(&sandbox.urls()).unwrap_or_default();
        let mut stdout = std::io::stdout();
        if writeln!(stdout, "{line}").and_then(|()| stdout.flush()).is_err() {
            return ExitCode::FAILURE;
        }
        let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let mut sink = [0u8; 256];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            let _ = closed_tx.send(());
        });
        tokio::select! {
            _ = closed_rx => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        drop(sandbox);
        ExitCode::SUCCESS
    })
}

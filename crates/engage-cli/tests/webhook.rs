//! `engage webhook --listen`: the SendGrid Event Webhook receiver as its own process, on a SQLite
//! store; a batch posted twice is stored once, a malformed one refused, and SIGTERM stops it
//! cleanly (exit 0). The signature itself is covered by `tests/tests/sendgrid_webhook.rs`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use engage_sandbox::sendgrid::WEBHOOK_PER_TYPE;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn receives_batches_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("engage.toml");
    std::fs::write(
        &config,
        "[store]\nurl = \"sqlite://engage.db\"\n\n[[connection]]\nname = \"email\"\nkind = \"sendgrid\"\napi_key = \"SG.test\"\n",
    )
    .unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_engage"))
        .args(["--config", config.to_str().unwrap(), "webhook", "--listen", &format!("127.0.0.1:{port}")])
        .env_remove("ENGAGE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/webhooks/sendgrid/email");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let post = |body: &'static str| {
        runtime.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match reqwest::Client::new().post(&url).body(body).send().await {
                    Ok(r) => return (r.status().as_u16(), r.text().await.unwrap()),
                    Err(_) if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(100)).await
                    }
                    Err(e) => panic!("engage webhook never answered: {e}"),
                }
            }
        })
    };
    let first = post(WEBHOOK_PER_TYPE);
    assert_eq!(first, (200, r#"{"events":12,"written":12,"unchanged":0,"quarantined":0}"#.to_owned()));
    let again = post(WEBHOOK_PER_TYPE);
    assert_eq!(again, (200, r#"{"events":12,"written":0,"unchanged":12,"quarantined":0}"#.to_owned()));
    assert_eq!(post("[{\"sg_event_id\":").0, 400);

    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "engage webhook did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(
        stderr.contains(&format!(
            "receiving SendGrid events on http://127.0.0.1:{port}/webhooks/sendgrid/email (unsigned)"
        )),
        "{stderr}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_engage"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "query",
            "--format",
            "json",
            "SELECT COUNT(*) AS n FROM email_events",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows, serde_json::json!([{ "n": 12 }]), "each event once");
}

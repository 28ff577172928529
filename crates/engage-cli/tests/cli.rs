//! The `engage` binary end to end: init, validate, migrate, query and status, and the exit
//! codes they promise.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use engage_store::testing::fresh_url;
use engage_store::{Backend, PageWrite, Store};
use std::path::Path;
use std::process::{Command, Output};

/// Runs the `engage` binary with `args` in `cwd`.
fn engage(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_engage"));
    cmd.current_dir(cwd).args(args).env_remove("ENGAGE_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run engage")
}

/// Standard output and error as one text.
fn all_output(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn init_validate_migrate_status() {
    let dir = tempfile::tempdir().unwrap();
    let out = engage(dir.path(), &["init"], &[]);
    assert!(out.status.success(), "{}", all_output(&out));
    assert!(dir.path().join("engage.toml").exists());
    let again = engage(dir.path(), &["init"], &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(all_output(&again).contains("already exists; pass --force"));

    let out = engage(dir.path(), &["validate"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "engage.toml: OK (0 connection(s), SQLite store)\n");

    // Every migration the store ships, by the version its file name starts with.
    let migrations =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../engage-store/migrations/sqlite");
    let mut versions: Vec<u32> = std::fs::read_dir(migrations)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.split('_').next()?.parse().ok())
        .collect();
    versions.sort_unstable();
    assert!(versions.len() >= 3, "{versions:?}");
    let listed = versions.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
    let out = engage(dir.path(), &["migrate"], &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("applied migration(s) {listed} (sqlite)\n"));
    let out = engage(dir.path(), &["migrate"], &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "store is up to date (sqlite)\n");
    assert!(dir.path().join("engage.db").exists(), "the store sits next to the config file");

    let out = engage(dir.path(), &["status"], &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "no sync runs yet\n");
}

#[test]
fn config_errors_are_all_reported_with_exit_78_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secret_value = "zd-token-9f8e7d6c5b4a";
    let config = r#"[store]
url = "sqlite://engage.db"

[[connection]]
name = "support"
kind = "zendesk"
subdomain = "acme"
email = "ops@acme.example"
api_token = "${ZENDESK_TOKEN}"
max_requests_per_minute = "fast"
colour = "blue"

[[connection]]
name = "support"
kind = "zendesk"
subdomain = "${ZENDESK_SUBDOMAIN}"
email = "ops@acme.example"
api_token_file = "missing-token.txt"
"#;
    std::fs::write(dir.path().join("engage.toml"), config).unwrap();
    let out = engage(dir.path(), &["validate"], &[("ZENDESK_TOKEN", secret_value)]);
    assert_eq!(out.status.code(), Some(78));
    let text = all_output(&out);
    assert!(!text.contains(secret_value), "the secret leaked: {text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("engage.toml:")).collect();
    let expected = [
        "engage.toml:10:27: connection[0].max_requests_per_minute: expected an integer, found a string",
        "engage.toml:11:1: connection[0].colour: unknown key `colour`",
        "engage.toml:14:8: connection[1].name: duplicate connection name `support` (first defined at line 5)",
        "engage.toml:16:13: connection[1].subdomain: environment variable `ZENDESK_SUBDOMAIN` is not set",
        "engage.toml:18:18: connection[1].api_token_file: cannot read secret file `missing-token.txt`",
    ];
    for (line, want) in errors.iter().zip(expected) {
        assert!(line.starts_with(want), "expected `{want}`, got `{line}`\n{text}");
    }
    assert_eq!(errors.len(), expected.len(), "{text}");
    assert!(text.contains("error: the configuration has 5 problem(s)"), "{text}");

    // A PostgreSQL URL with a password, read from a secret file, is accepted and never printed.
    let pg_password = "pg-pass-1a2b3c4d";
    std::fs::write(
        dir.path().join("url.txt"),
        format!("postgres://engage:{pg_password}@127.0.0.1:1/engage\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join("engage.toml"), "[store]\nurl_file = \"url.txt\"\n").unwrap();
    let out = engage(dir.path(), &["validate"], &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "engage.toml: OK (0 connection(s), PostgreSQL store)\n");
    let out = engage(dir.path(), &["status"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let text = all_output(&out);
    assert!(
        text.contains("cannot open the store at postgres://engage:[redacted]@127.0.0.1:1/engage"),
        "{text}"
    );
    assert!(!text.contains(pg_password), "the secret leaked: {text}");
}

#[test]
fn a_missing_secret_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("engage.toml"), "[store]\nurl_file = \"db-url.txt\"\n").unwrap();
    let out = engage(dir.path(), &["validate"], &[]);
    assert_eq!(out.status.code(), Some(78));
    let text = all_output(&out);
    assert!(
        text.starts_with("engage.toml:2:12: store.url_file: cannot read secret file `db-url.txt`"),
        "{text}"
    );
}

fn write_config(dir: &std::path::Path, url: &str) {
    std::fs::write(dir.join("engage.toml"), "[store]\nurl = \"${ENGAGE_STORE_URL}\"\n").unwrap();
    let _ = url;
}

async fn query_refuses_writes(backend: Backend) {
    let (url, _db_dir) = fresh_url(backend).await;
    let store = Store::open(&url).await.unwrap();
    let records: Vec<_> =
        (0..3).map(|i| engage_store::testing::sample_ticket(&format!("{i}"), 1, 200)).collect();
    store.commit_page("c", "tickets", PageWrite { records: &records, ..Default::default() }).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &url);
    let env = [("ENGAGE_STORE_URL", url.as_str())];
    for sql in [
        "DELETE FROM tickets",
        "UPDATE tickets SET status = 'closed'",
        "DROP TABLE tickets",
        "WITH gone AS (DELETE FROM tickets RETURNING 1) SELECT count(*) FROM gone",
    ] {
        let out = engage(dir.path(), &["query", sql], &env);
        let text = all_output(&out);
        assert_ne!(out.status.code(), Some(0), "{sql}: {text}");
        assert!(text.contains("error:"), "{sql}: {text}");
        assert_eq!(store.count_rows("tickets").await.unwrap(), 3, "{sql}");
    }
    let out = engage(dir.path(), &["query", "DELETE FROM tickets"], &env);
    assert_eq!(out.status.code(), Some(77));
    assert!(all_output(&out).contains("refused: `engage query` is read-only"));
    let out = engage(
        dir.path(),
        &["query", "--format", "csv", "SELECT source_id, status FROM tickets ORDER BY source_id"],
        &env,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "source_id,status\n0,open\n1,open\n2,open\n");
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn query_refuses_writes() {
        super::query_refuses_writes(engage_store::Backend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn query_refuses_writes() {
        super::query_refuses_writes(engage_store::Backend::Postgres).await;
    }
}

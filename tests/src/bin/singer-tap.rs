//! Test helper: a small Singer tap. `singer-tap --config FILE [--state FILE]` writes a SCHEMA for
//! stream `items` (key `id`), records `items` from the state's `bookmarks.items.position` (or 0)
//! up to `count`, a STATE after every `state_every` records and at the end, and a record of a
//! second stream `other` now and then.
//!
//! Configuration keys: `count`, `state_every`, `crash_at` (exit 3 with a message on standard
//! error just before that record), `malformed_after` (positions after which a line that is not
//! JSON is written), `bad_amount_at` (a record whose `amount` is not a number).

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1));
    let read = |path: &String| -> serde_json::Value {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    };
    let Some(config_path) = arg("--config") else {
        eprintln!("usage: singer-tap --config FILE [--state FILE]");
        std::process::exit(2);
    };
    let config = read(config_path);
    let number = |key: &str| config.get(key).and_then(serde_json::Value::as_u64);
    let count = number("count").unwrap_or(10);
    let state_every = number("state_every").unwrap_or(5).max(1);
    let crash_at = number("crash_at");
    let bad_amount_at = number("bad_amount_at");
    let malformed_after: Vec<u64> = config
        .get("malformed_after")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect())
        .unwrap_or_default();
    let start = arg("--state")
        .map(read)
        .and_then(|s| s.pointer("/bookmarks/items/position").and_then(serde_json::Value::as_u64))
        .unwrap_or(0);
    eprintln!("singer-tap: starting at position {start}");

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut emit = |line: String| {
        // A closed pipe means the reader is gone: stop quietly.
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            std::process::exit(0);
        }
    };
    let state = |position: u64| {
        serde_json::json!({"type": "STATE", "value": {"bookmarks": {"items": {"position": position}}}})
            .to_string()
    };
    emit(
        serde_json::json!({"type": "SCHEMA", "stream": "items", "key_properties": ["id"],
            "schema": {"type": "object", "properties": {"id": {"type": "integer"}}}})
        .to_string(),
    );
    emit(
        serde_json::json!({"type": "SCHEMA", "stream": "other", "key_properties": ["k"], "schema": {}})
            .to_string(),
    );
    for i in start..count {
        if crash_at == Some(i) {
            eprintln!("singer-tap: connection to the source lost at record {i}");
            std::process::exit(3);
        }
        let amount = if bad_amount_at == Some(i) { "n/a".to_owned() } else { format!("{i}.50") };
        emit(
            serde_json::json!({"type": "RECORD", "stream": "items", "record": {
                "id": i, "email": format!("user{i}@example.com"), "amount": amount,
                "bought_at": format!("2024-01-{:02}T10:00:00Z", i % 28 + 1)
            }})
            .to_string(),
        );
        if i % 7 == 0 {
            emit(serde_json::json!({"type": "RECORD", "stream": "other", "record": {"k": i}}).to_string());
        }
        if malformed_after.contains(&i) {
            emit(format!("{{\"type\": \"RECORD\", \"stream\": \"items\", \"record\": {{\"id\": {i}"));
        }
        if (i + 1) % state_every == 0 {
            emit(state(i + 1));
        }
    }
    emit(state(count));
}

//! Feeds arbitrary UTF-8 to `engage_config::load_str`: it must never panic,
//! every error must have a position inside the input, and no error may show
//! the value of the secret environment variable.

#![no_main]

use std::collections::HashMap;
use std::sync::LazyLock;

use engage_config::{Field, FieldType, Kinds, Schema, load_str};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-secret-value-9f3";

static KINDS: LazyLock<Kinds> = LazyLock::new(|| {
    let item = Schema::new(vec![
        Field::required("id", FieldType::Integer { min: 1, max: 1000 }, "Id."),
        Field::optional("label", FieldType::String, "Label."),
    ]);
    Kinds::new().with(
        "helpdesk",
        Schema::new(vec![
            Field::required("subdomain", FieldType::String, "Subdomain."),
            Field::required("api_token", FieldType::Secret, "Token."),
            Field::optional(
                "page_size",
                FieldType::Integer { min: 1, max: 100 },
                "Page size.",
            ),
            Field::optional(
                "routing",
                FieldType::Table(Schema::new(vec![Field::required(
                    "queue",
                    FieldType::String,
                    "Queue.",
                )])),
                "Routing.",
            ),
            Field::optional("views", FieldType::TableList(item), "Views."),
        ]),
    )
});

static ENV: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    [("TOKEN", SECRET), ("SUB", "acme"), ("EMPTY", "")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Err(errors) = load_str(text, "fuzz.toml", &KINDS, &*ENV) else {
        return;
    };
    let lines = text.split('\n').count();
    for e in &errors {
        assert!(e.line >= 1 && e.line <= lines && e.col >= 1, "{e}");
    }
    if !text.contains(SECRET) {
        assert!(!errors.to_string().contains(SECRET), "{errors}");
        assert!(!format!("{errors:?}").contains(SECRET), "{errors:?}");
    }
});

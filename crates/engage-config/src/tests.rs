//! Loader tests: whole files in, exact errors or values out.

use super::*;
use std::collections::HashMap;

fn kinds() -> Kinds {
    let routing = Schema::new(vec![
        Field::required("queue", FieldType::String, "Queue."),
        Field::optional("weight", FieldType::Integer { min: 0, max: 10 }, "Weight."),
        Field::optional("key", FieldType::Secret, "Routing key."),
    ]);
    let view = Schema::new(vec![
        Field::required("id", FieldType::Integer { min: 1, max: i64::MAX }, "View id."),
        Field::optional("title", FieldType::String, "Title."),
    ]);
    Kinds::new()
        .with(
            "helpdesk",
            Schema::new(vec![
                Field::required("subdomain", FieldType::String, "Account subdomain."),
                Field::required("api_token", FieldType::Secret, "API token."),
                Field::optional("tags", FieldType::StringList, "Tags."),
                Field::optional("page_size", FieldType::Integer { min: 1, max: 100 }, "Page size."),
                Field::optional("ratio", FieldType::Float, "Ratio."),
                Field::optional("webhook", FieldType::Url, "Webhook."),
                Field::optional("routing", FieldType::Table(routing), "Routing."),
                Field::optional("views", FieldType::TableList(view), "Views."),
                Field::optional("extra", FieldType::Any, "Anything."),
                Field::optional("data", FieldType::Path, "A data file."),
            ]),
        )
        .with("reviews", Schema::default())
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn load(text: &str, env_pairs: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    load_str(text, "engage.toml", &kinds(), &env(env_pairs))
}

/// The rendered errors of a load that must fail.
fn errors(text: &str, env_pairs: &[(&str, &str)]) -> String {
    match load(text, env_pairs) {
        Ok(c) => panic!("expected errors, loaded {c:?}"),
        Err(e) => e.to_string(),
    }
}

/// The options of the only connection of a load that must succeed.
fn only_options(text: &str, env_pairs: &[(&str, &str)]) -> Options {
    let config = load(text, env_pairs).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.connections.len(), 1);
    config.connections[0].options.clone()
}

fn string(s: &str) -> OptionValue {
    OptionValue::String(s.to_owned())
}

const ENV_SECRET: &str = "env-secret-Zx9k";
const FILE_SECRET: &str = "file-secret-Qw7m";

#[test]
fn every_problem_is_reported_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token.txt"), format!("{FILE_SECRET}\n")).unwrap();
    let text = r#"# Engage test config
[store]
url = "sqlite://engage.db"

[[connection]]
name = "support"
kind = "helpdesk"
subdomain = "acme"
api_token = "${HELPDESK_TOKEN}"
enabeld = false
max_requests_per_minute = "fast"

[[connection]]
name = "reviews"
kind = "helpdesk"
subdomain = "${REVIEWS_SUBDOMAIN}"
api_token_file = "token.txt"

[[connection]]
name = "support"
kind = "helpdesk"
subdomain = "acme"
api_token_file = "missing-token.txt"
"#;
    let path = dir.path().join("engage.toml");
    std::fs::write(&path, text).unwrap();
    let file = path.display().to_string();

    let result = load_file(&path, &kinds(), &env(&[("HELPDESK_TOKEN", ENV_SECRET)]));

    let errors = result.as_ref().unwrap_err();
    let expected = [
        format!("{file}:10:1: connection[0].enabeld: unknown key `enabeld`; did you mean `enabled`?"),
        format!("{file}:11:27: connection[0].max_requests_per_minute: expected an integer, found a string"),
        format!("{file}:16:13: connection[1].subdomain: environment variable `REVIEWS_SUBDOMAIN` is not set"),
        format!(
            "{file}:20:8: connection[2].name: duplicate connection name `support` (first defined at line 6)"
        ),
        format!(
            "{file}:23:18: connection[2].api_token_file: cannot read secret file `missing-token.txt`: \
             No such file or directory (os error 2)"
        ),
    ];
    let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(rendered, expected);
    assert_eq!(errors.to_string(), expected.join("\n"));
    assert_eq!(
        errors.0[3],
        ConfigError {
            file: file.clone(),
            line: 20,
            col: 8,
            key_path: "connection[2].name".into(),
            message: "duplicate connection name `support` (first defined at line 6)".into(),
        }
    );
    let debug = format!("{result:?}");
    for secret in [ENV_SECRET, FILE_SECRET] {
        assert!(!errors.to_string().contains(secret));
        assert!(!debug.contains(secret));
    }
}

#[test]
fn valid_file_is_typed_and_secrets_stay_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{FILE_SECRET}\r\n\n")).unwrap();
    let text = format!(
        r#"
[store]
url = "postgres://engage:${{PGPASS}}@127.0.0.1:5432/engage"

[[connection]]
name = "support-eu_1"
kind = "helpdesk"
base_url = "https://acme.example.com/api"
max_requests_per_minute = 600
enabled = false
subdomain = "acme"
api_token_file = "{}"
tags = ["vip", "${{REGION}}"]
ratio = 2
routing = {{ queue = "tier1", weight = 3, key = "${{PGPASS}}" }}

[[connection.views]]
id = 7
title = "Open"

[[connection.views]]
id = 8

[[connection]]
name = "reviews"
kind = "reviews"
"#,
        token_file.display()
    );
    let pg = env(&[("PGPASS", ENV_SECRET), ("REGION", "eu")]);
    let config = load_str(&text, "engage.toml", &kinds(), &pg).unwrap();

    assert_eq!(config.store.url.expose(), format!("postgres://engage:{ENV_SECRET}@127.0.0.1:5432/engage"));
    assert!(!config.store.is_sqlite());
    let c = &config.connections[0];
    assert_eq!(c.name, "support-eu_1");
    assert_eq!(c.kind, "helpdesk");
    assert_eq!(c.base_url.as_deref(), Some("https://acme.example.com/api"));
    assert_eq!(c.max_requests_per_minute, Some(600));
    assert!(!c.enabled);
    let keys: Vec<&str> = c.options.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["subdomain", "api_token", "tags", "ratio", "routing", "views"]);
    assert_eq!(c.options.get("api_token"), Some(&OptionValue::Secret(Secret::new(FILE_SECRET))));
    assert_eq!(c.options.get("tags"), Some(&OptionValue::Array(vec![string("vip"), string("eu")])));
    assert_eq!(c.options.get("ratio"), Some(&OptionValue::Float(2.0)));
    assert_eq!(
        c.options.to_json().to_string(),
        format!(
            r#"{{"subdomain":"acme","api_token":"{FILE_SECRET}","tags":["vip","eu"],"ratio":2.0,"routing":{{"queue":"tier1","weight":3,"key":"{ENV_SECRET}"}},"views":[{{"id":7,"title":"Open"}},{{"id":8}}]}}"#
        )
    );
    assert_eq!(config.connection("reviews").map(|c| c.options.len()), Some(0));

    // A connector's typed config, with `Secret` fields.
    #[derive(serde::Deserialize)]
    struct Helpdesk {
        subdomain: String,
        api_token: Secret,
        routing: Routing,
    }
    #[derive(serde::Deserialize)]
    struct Routing {
        key: Secret,
    }
    let typed: Helpdesk = c.options.deserialize_into().unwrap();
    assert_eq!(typed.subdomain, "acme");
    assert_eq!(typed.api_token.expose(), FILE_SECRET);
    assert_eq!(typed.routing.key.expose(), ENV_SECRET);

    let debug = format!("{config:?}");
    assert!(debug.contains("api_token\": Secret([redacted])"), "{debug}");
    assert!(!debug.contains(ENV_SECRET) && !debug.contains(FILE_SECRET));
}

#[test]
fn defaults() {
    let config = load("", &[]).unwrap();
    assert_eq!(config.store, StoreConfig::default());
    assert_eq!(config.store.url.expose(), "sqlite://engage.db");
    assert!(config.store.is_sqlite());
    assert!(config.connections.is_empty());

    let config = load("[store]\n", &[]).unwrap();
    assert_eq!(config.store.url.expose(), StoreConfig::DEFAULT_URL);

    let config = load("[[connection]]\nname = \"r\"\nkind = \"reviews\"\n", &[]).unwrap();
    let c = &config.connections[0];
    assert!(c.enabled);
    assert_eq!((c.base_url.as_deref(), c.max_requests_per_minute), (None, None));
    assert!(c.options.is_empty());
}

#[test]
fn env_substitution_only_in_values() {
    let text = r#"# ${UNSET_IN_COMMENT} is ignored here
[[connection]]
name = "a"   # and ${HERE}
kind = "helpdesk"
subdomain = "${SUB}-$${LITERAL}-${SUB}"
api_token = '${TOKEN}'
extra = { "${KEY}" = "${SUB}", n = ["$${X}", "cost: 5$"] }
"#;
    let o = only_options(text, &[("SUB", "acme"), ("TOKEN", "t0k"), ("KEY", "nope")]);
    assert_eq!(o.get("subdomain"), Some(&string("acme-${LITERAL}-acme")));
    assert_eq!(o.get("api_token").and_then(OptionValue::as_secret), Some(&Secret::new("t0k")));
    let extra = o.get("extra").and_then(OptionValue::as_table).unwrap();
    assert_eq!(extra.get("${KEY}"), Some(&string("acme")));
    assert_eq!(extra.get("nope"), None);
    assert_eq!(extra.get("n"), Some(&OptionValue::Array(vec![string("${X}"), string("cost: 5$")])));

    // An unset variable, several unset variables, a malformed reference.
    let text = r#"[[connection]]
name = "a"
kind = "helpdesk"
subdomain = "${SUB}"
api_token = "${T1}${T2}"
tags = ["ok", "${"]
"#;
    assert_eq!(
        errors(text, &[]),
        "engage.toml:4:13: connection[0].subdomain: environment variable `SUB` is not set\n\
         engage.toml:5:13: connection[0].api_token: environment variables `T1`, `T2` are not set\n\
         engage.toml:6:15: connection[0].tags[1]: `${` must be followed by a variable name and `}` \
         (write `$${` for a literal `${`)"
    );
}

#[test]
fn secret_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tok"), "line1\nline2\n\n").unwrap();
    std::fs::write(dir.path().join("bad"), [0xff, 0xfe]).unwrap();
    let text = |extra: &str| {
        format!("[[connection]]\nname = \"a\"\nkind = \"helpdesk\"\nsubdomain = \"s\"\n{extra}\n")
    };
    let path = dir.path().join("engage.toml");
    let load_with = |extra: &str| {
        std::fs::write(&path, text(extra)).unwrap();
        load_file(&path, &kinds(), &env(&[("DIR", &dir.path().display().to_string())]))
    };
    let errs = |extra: &str| {
        let e = load_with(extra).unwrap_err();
        let prefix = format!("{}:", path.display());
        e.to_string().replace(&prefix, "")
    };

    // Relative to the config file's directory; only trailing newlines trimmed.
    let config = load_with("api_token_file = \"tok\"").unwrap();
    let token = config.connections[0].options.get("api_token");
    assert_eq!(token, Some(&OptionValue::Secret(Secret::new("line1\nline2"))));
    // Env substitution in the path.
    assert!(load_with("api_token_file = \"${DIR}/tok\"").is_ok());
    // Errors show the path as written, not what the environment put in it.
    assert_eq!(
        errs("api_token_file = \"${DIR}/nope\""),
        "5:18: connection[0].api_token_file: cannot read secret file `${DIR}/nope`: \
         No such file or directory (os error 2)"
    );

    assert_eq!(
        errs("api_token = \"x\"\napi_token_file = \"tok\""),
        "6:1: connection[0].api_token_file: both `api_token` and `api_token_file` are set; keep only one"
    );
    assert_eq!(
        errs("api_token_file = \"bad\""),
        "5:18: connection[0].api_token_file: cannot read secret file `bad`: not valid UTF-8"
    );
    assert_eq!(
        errs("api_token_file = \".\""),
        "5:18: connection[0].api_token_file: cannot read secret file `.`: not a regular file"
    );
    assert_eq!(
        errs("api_token_file = 7"),
        "5:18: connection[0].api_token_file: expected a file path string, found an integer"
    );
    assert_eq!(
        errs("routing = { queue = \"q\", key_file = \"nope\" }"),
        "1:1: connection[0].api_token: missing required key `api_token` (or `api_token_file`)\n\
         5:37: connection[0].routing.key_file: cannot read secret file `nope`: \
         No such file or directory (os error 2)"
    );
}

#[test]
fn wrong_types_and_ranges_never_show_secret_values() {
    let text = r#"[store]
url = "mysql://root:hunter2@db/engage"

[[connection]]
name = "a"
kind = "helpdesk"
subdomain = ["x"]
api_token = 4815162342
base_url = "${URLISH}"
max_requests_per_minute = 100001
page_size = 0
ratio = "1.5"
webhook = "https://hooks.example.com:99999"
tags = "one"
"#;
    let rendered = errors(text, &[("URLISH", "not a url hunter2")]);
    assert_eq!(
        rendered,
        "engage.toml:2:7: store.url: expected a `sqlite://...` or `postgres://...` URL\n\
         engage.toml:7:13: connection[0].subdomain: expected a string, found an array\n\
         engage.toml:8:13: connection[0].api_token: expected a string, found an integer\n\
         engage.toml:9:12: connection[0].base_url: expected an http:// or https:// URL with a host\n\
         engage.toml:10:27: connection[0].max_requests_per_minute: must be between 1 and 100000, found 100001\n\
         engage.toml:11:13: connection[0].page_size: must be between 1 and 100, found 0\n\
         engage.toml:12:9: connection[0].ratio: expected a number, found a string\n\
         engage.toml:13:11: connection[0].webhook: expected an http:// or https:// URL with a host\n\
         engage.toml:14:8: connection[0].tags: expected an array of strings, found a string"
    );
    assert!(!rendered.contains("hunter2") && !rendered.contains("4815162342"));
}

#[test]
fn unknown_kind_lists_kinds_and_skips_its_options() {
    let text = r#"[[connection]]
name = "a"
kind = "helpdsk"
subdomain = 5
whatever = true
base_url = "nope"

[[connection]]
name = "b"
kind = "crm"
"#;
    assert_eq!(
        errors(text, &[]),
        "engage.toml:3:8: connection[0].kind: unknown connection kind `helpdsk`; did you mean `helpdesk`? \
         (known kinds: `helpdesk`, `reviews`)\n\
         engage.toml:6:12: connection[0].base_url: expected an http:// or https:// URL with a host\n\
         engage.toml:10:8: connection[1].kind: unknown connection kind `crm` (known kinds: `helpdesk`, `reviews`)"
    );
    let none = load_str(text, "x.toml", &Kinds::new(), &env(&[])).unwrap_err();
    assert_eq!(none.0[0].message, "unknown connection kind `helpdsk`; no connection kinds are available");
}

#[test]
fn structural_errors() {
    let text = r#"colour = "blue"
[store]
uri = "sqlite://x.db"
[[connection]]
kind = "reviews"
[[connection]]
name = "UPPER"
kind = 5
[[connection]]
name = ""
kind = "reviews"
[[connection]]
name = "this-name-is-far-too-long-for-a-connection-because-it-has-65-chars"
kind = "reviews"
"#;
    assert_eq!(
        errors(text, &[]),
        "engage.toml:1:1: colour: unknown key `colour`; expected one of `store`, `scheduler`, `server`, `connection`\n\
         engage.toml:3:1: store.uri: unknown key `uri`; did you mean `url`?\n\
         engage.toml:4:1: connection[0].name: missing required key `name`\n\
         engage.toml:7:8: connection[1].name: a connection name must be 1 to 64 characters of a-z, 0-9, `_` or `-`\n\
         engage.toml:8:8: connection[1].kind: expected a string, found an integer\n\
         engage.toml:10:8: connection[2].name: a connection name must be 1 to 64 characters of a-z, 0-9, `_` or `-`\n\
         engage.toml:13:8: connection[3].name: a connection name must be 1 to 64 characters of a-z, 0-9, `_` or `-`"
    );
    assert_eq!(
        errors("connection = 5\nstore = \"x\"\n", &[]),
        "engage.toml:1:14: connection: expected an array of tables, found an integer\n\
         engage.toml:2:9: store: expected a table, found a string"
    );
    assert_eq!(
        errors("connection = [1, {name = \"a\", kind = \"reviews\", x = 1}]", &[]),
        "engage.toml:1:15: connection[0]: expected a table, found an integer\n\
         engage.toml:1:49: connection[1].x: unknown key `x`; expected one of `name`, `kind`, `base_url`, \
         `max_requests_per_minute`, `enabled`, `schedule`"
    );
}

#[test]
fn nested_tables_point_inside() {
    let text = r#"[[connection]]
name = "a"
kind = "helpdesk"
subdomain = "s"
api_token = "t"

[connection.routing]
weight = 11
queue_name = "x"

[[connection.views]]
id = 1
title = "ok"

[[connection.views]]
title = 5

[[connection.views]]
id = 0

[[connection]]
name = "b"
kind = "helpdesk"
subdomain = "s"
api_token = "t"
routing = { weight = 1 }
views = [{ id = 1 }, "x", { id = 2, extra = 1 }]
"#;
    assert_eq!(
        errors(text, &[]),
        "engage.toml:7:1: connection[0].routing.queue: missing required key `queue`\n\
         engage.toml:8:10: connection[0].routing.weight: must be between 0 and 10, found 11\n\
         engage.toml:9:1: connection[0].routing.queue_name: unknown key `queue_name`; expected one of \
         `queue`, `weight`, `key`, `key_file`\n\
         engage.toml:15:1: connection[0].views[1].id: missing required key `id`\n\
         engage.toml:16:9: connection[0].views[1].title: expected a string, found an integer\n\
         engage.toml:19:6: connection[0].views[2].id: must be between 1 and 9223372036854775807, found 0\n\
         engage.toml:26:11: connection[1].routing.queue: missing required key `queue`\n\
         engage.toml:27:22: connection[1].views[1]: expected a table, found a string\n\
         engage.toml:27:37: connection[1].views[2].extra: unknown key `extra`; expected one of `id`, `title`"
    );
}

#[test]
fn syntax_error_is_one_error_with_position() {
    let text = "[store]\nurl = \"sqlite://x\"\n\n[[connection]]\nname = \"a\nkind = 5\n";
    assert_eq!(
        errors(text, &[]),
        "engage.toml:5:10: (root): invalid TOML: invalid basic string, expected `\"`"
    );
    assert_eq!(errors("a = 1\na = 2\n", &[]), "engage.toml:2:1: (root): invalid TOML: duplicate key");
    // Columns are characters, also for syntax errors.
    assert_eq!(
        errors("# żółw\nключ = \"значение\" x\n", &[]),
        "engage.toml:2:19: (root): invalid TOML: unexpected key or value, expected newline, `#`"
    );
}

#[test]
fn non_ascii_values_are_kept_and_columns_count_characters() {
    let text = r#"[[connection]]
name = "pl"
kind = "helpdesk"
subdomain = "Zażółć gęślą jaźń"
api_token = "Съешь же ещё этих мягких французских булок"
extra = { fa = "سلام دنیا", "ключ" = "ﻼ\u00e9" }
tags = ["گربه", "кот", "kot"]
"#;
    let o = only_options(text, &[]);
    assert_eq!(o.get("subdomain"), Some(&string("Zażółć gęślą jaźń")));
    let token = o.get("api_token").and_then(OptionValue::as_secret).unwrap();
    assert_eq!(token.expose().as_bytes(), "Съешь же ещё этих мягких французских булок".as_bytes());
    let extra = o.get("extra").and_then(OptionValue::as_table).unwrap();
    assert_eq!(extra.get("fa"), Some(&string("سلام دنیا")));
    assert_eq!(extra.get("ключ"), Some(&string("ﻼé")));
    assert_eq!(o.get("tags"), Some(&OptionValue::Array(vec![string("گربه"), string("кот"), string("kot")])));

    let text = "[[connection]]\nname = \"pl\"\nkind = \"helpdesk\"\n\
                subdomain = \"ok\"\napi_token = \"t\"\n\
                tags = [\"گربه\", \"кот\", 5]\n\
                extra = { \"żółw\" = \"${BRAK}\" }\n";
    assert_eq!(
        errors(text, &[]),
        // Byte columns would be 31 and 28.
        "engage.toml:6:24: connection[0].tags[2]: expected a string, found an integer\n\
         engage.toml:7:20: connection[0].extra.\"żółw\": environment variable `BRAK` is not set"
    );
}

#[test]
fn starter_config_loads() {
    let config = load_str(STARTER_CONFIG, "engage.toml", &Kinds::new(), &env(&[])).unwrap();
    assert_eq!(config.store, StoreConfig::default());
    assert!(config.connections.is_empty());

    // The commented-out example is valid too, once uncommented.
    let (head, example) = STARTER_CONFIG.split_once("# [[connection]]").unwrap();
    let example = format!("{head}# [[connection]]{example}")
        .lines()
        .map(|l| l.strip_prefix("# ").filter(|_| !l.starts_with("# [store]")).unwrap_or(l))
        .skip_while(|l| !l.starts_with("[[connection]]"))
        .collect::<Vec<_>>()
        .join("\n");
    let kinds = Kinds::new()
        .with(
            "zendesk",
            Schema::new(vec![
                Field::required("email", FieldType::String, "Agent email."),
                Field::required("api_token", FieldType::Secret, "API token."),
            ]),
        )
        .with("trustpilot", Schema::new(vec![Field::required("api_key", FieldType::Secret, "API key.")]));
    let errs = load_str(&example, "x.toml", &kinds, &env(&[("ZENDESK_API_TOKEN", "z")])).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs}");
    assert!(errs.0[0].to_string().starts_with(
        "x.toml:13:16: connection[1].api_key_file: cannot read secret file `/run/secrets/trustpilot_api_key`"
    ), "{errs}");
}

#[test]
fn load_file_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.toml");
    let e = load_file(&missing, &kinds(), &env(&[])).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:1:1: (root): cannot read the file: No such file or directory (os error 2)",
            missing.display()
        )
    );
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, b"[store]\nurl = \"\xc5\x82\xff\"\n").unwrap();
    let e = load_file(&bad, &kinds(), &env(&[])).unwrap_err();
    assert_eq!(e.to_string(), format!("{}:2:9: (root): the file is not valid UTF-8", bad.display()));
}

#[test]
fn process_env_is_an_env() {
    let path = std::env::var("PATH").ok();
    assert_eq!(ProcessEnv.var("PATH"), path);
    assert_eq!(ProcessEnv.var("ENGAGE_CONFIG_TEST_SURELY_UNSET_VARIABLE"), None);
}

#[test]
fn errors_sort_by_line_then_column() {
    let at = |line, col| ConfigError {
        file: "f".into(),
        line,
        col,
        key_path: "(root)".into(),
        message: "m".into(),
    };
    let errs = ConfigErrors(vec![at(3, 1), at(1, 9), at(1, 2)]);
    assert_eq!(errs.to_string(), "f:1:2: (root): m\nf:1:9: (root): m\nf:3:1: (root): m");
    assert_eq!(EXIT_CONFIG, 78);
}

/// A cheap stand-in for the fuzz target: every prefix of a rich file, and
/// some nasty single-character insertions, must load or fail without panicking.
#[test]
fn never_panics_on_mangled_input() {
    let base = r#"[store]
url = "postgres://u:${PW}@h/db"
[[connection]]
name = "żółw"
kind = "helpdesk"
subdomain = "${SUB}$${x}"
api_token_file = "/nonexistent"
tags = ["a", 'b', """c"""]
routing = { queue = "q", weight = 1, key = "k" }
views = [{ id = 9_223_372_036_854_775_807 }, { id = -0 }]
extra = { d = 1979-05-27T07:32:00Z, f = nan, i = 0xff, e = [] }
[[connection.views]]
id = 1
"#;
    let kinds = kinds();
    let env = env(&[("PW", "p"), ("SUB", "s")]);
    let mut count = 0;
    for (i, _) in base.char_indices() {
        let _ = load_str(&base[..i], "f", &kinds, &env);
        for insert in ["\"", "[", "]", "{", "=", "\n", "$", "ж", "\u{feff}", "[[", "."] {
            let mangled = format!("{}{insert}{}", &base[..i], &base[i..]);
            let _ = load_str(&mangled, "f", &kinds, &env);
            count += 1;
        }
    }
    assert!(count > 1000);
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let head = "[[connection]]\nname = 'a'\nkind = 'helpdesk'\nextra = ";
    for text in [
        format!("{head}{}{}", "[".repeat(100_000), "]".repeat(100_000)),
        format!("{head}{}{}", "{a=".repeat(100_000), "}".repeat(100_000)),
    ] {
        let e = errors(&text, &[]);
        assert!(e.ends_with("(root): invalid TOML: cannot recurse further; max recursion depth met"));
    }
}

#[test]
fn duplicate_name_from_env_shows_the_reference_not_the_value() {
    let text = "[[connection]]\nname = \"s3cr3t\"\nkind = \"reviews\"\n\
                [[connection]]\nname = \"${NAME}\"\nkind = \"reviews\"\n";
    assert_eq!(
        errors(text, &[("NAME", "s3cr3t")]),
        "engage.toml:5:8: connection[1].name: duplicate connection name `${NAME}` (first defined at line 2)"
    );
}

#[test]
fn paths_resolve_against_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("engage.toml");
    let load_with = |data: &str| {
        let text = format!(
            "[[connection]]\nname = \"a\"\nkind = \"helpdesk\"\nsubdomain = \"s\"\napi_token = \"t\"\ndata = {data}\n"
        );
        std::fs::write(&path, text).unwrap();
        load_file(&path, &kinds(), &env(&[("DATA", "/srv/data")]))
    };
    let data = |config: Config| config.connections[0].options.get("data").cloned();
    let relative = dir.path().join("../data/*.csv").display().to_string();
    assert_eq!(data(load_with("\"../data/*.csv\"").unwrap()), Some(OptionValue::String(relative)));
    assert_eq!(
        data(load_with("\"${DATA}/orders.csv\"").unwrap()),
        Some(OptionValue::String("/srv/data/orders.csv".into()))
    );
    let e = load_with("\"\"").unwrap_err().to_string().replace(&format!("{}:", path.display()), "");
    assert_eq!(e, "6:8: connection[0].data: expected a path, found an empty string");
    let e = load_with("3").unwrap_err().to_string().replace(&format!("{}:", path.display()), "");
    assert_eq!(e, "6:8: connection[0].data: expected a path string, found an integer");
    // From text (no file): relative paths stay as written, relative to the working directory.
    let text = "[[connection]]\nname = \"a\"\nkind = \"helpdesk\"\nsubdomain = \"s\"\napi_token = \"t\"\ndata = \"x.csv\"\n";
    let config = load(text, &[]).unwrap();
    assert_eq!(data(config), Some(OptionValue::String("x.csv".into())));
}

#[test]
fn schedules_per_connection_and_stream_with_a_default() {
    use std::time::Duration;
    let config = load(
        r#"[scheduler]
every = "30m"
jitter = "1m"
max_concurrent_syncs = 8
sync_timeout = "2h"
retries = 2
retry_backoff = "30s"
lease_ttl = "45s"
metrics_address = "127.0.0.1:9464"
webhook_url = "${HOOK}"

[[connection]]
name = "a"
kind = "reviews"
schedule = { cron = "0 */6 * * *", timezone = "Europe/Paris", jitter = "5m" }

[[connection]]
name = "b"
kind = "reviews"

[connection.schedule]
every = "15m"

[connection.schedule.streams.users]
every = "6h"

[[connection]]
name = "c"
kind = "reviews"
"#,
        &[("HOOK", "http://127.0.0.1:9/hook")],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let s = &config.scheduler;
    assert_eq!(
        s.default_schedule,
        Schedule {
            cadence: Cadence::Every(Duration::from_secs(1_800)),
            jitter: Duration::from_secs(60),
            streams: Default::default(),
        }
    );
    assert_eq!(
        (s.max_concurrent_syncs, s.max_concurrent_per_connection, s.sync_timeout, s.retries),
        (8, 1, Duration::from_secs(7_200), 2)
    );
    assert_eq!((s.retry_backoff, s.lease_ttl), (Duration::from_secs(30), Duration::from_secs(45)));
    assert_eq!(s.metrics_address, Some("127.0.0.1:9464".parse().unwrap()));
    assert_eq!(s.webhook_url.as_ref().map(|u| u.expose()), Some("http://127.0.0.1:9/hook"));

    let a = config.connections[0].schedule.as_ref().unwrap();
    assert_eq!(a.cadence.to_string(), "cron 0 */6 * * * Europe/Paris");
    assert_eq!(a.jitter, Duration::from_secs(300));
    let b = config.connections[1].schedule.as_ref().unwrap();
    assert_eq!(b.cadence, Cadence::Every(Duration::from_secs(900)));
    assert_eq!(b.for_stream("users").cadence, Cadence::Every(Duration::from_secs(21_600)));
    assert_eq!(b.for_stream("tickets").cadence, Cadence::Every(Duration::from_secs(900)));
    assert_eq!(config.connections[2].schedule, None);
    assert_eq!(config.connections[2].options, Options::new());

    // Nothing said: every hour, 4 at a time, 1 per connection, 3 retries.
    let plain = load("", &[]).unwrap();
    assert_eq!(plain.scheduler, SchedulerConfig::default());
    assert_eq!(plain.scheduler.default_schedule.cadence, Cadence::Every(Duration::from_secs(3_600)));
}

#[test]
fn schedule_errors_point_at_the_key() {
    assert_eq!(
        errors(
            r#"[scheduler]
every = "often"
lease_ttl = "10ms"
metrics_address = "localhost"
cron = "* * * * *"

[[connection]]
name = "a"
kind = "reviews"
schedule = { cron = "0 25 * * *", timezone = "Mars/Olympus" }

[[connection]]
name = "b"
kind = "reviews"
schedule = { jitter = "1m", every = "15m", timezone = "UTC", streams = { users = { evry = "1h" }, t = 3 } }

[[connection]]
name = "c"
kind = "reviews"
schedule = "15m"
"#,
            &[]
        ),
        "engage.toml:3:13: scheduler.lease_ttl: must be at least 100ms\n\
         engage.toml:4:19: scheduler.metrics_address: expected IP:PORT, e.g. `127.0.0.1:9464`\n\
         engage.toml:5:8: scheduler.cron: set either `every` or `cron`, not both\n\
         engage.toml:10:46: connection[0].schedule.timezone: unknown time zone `Mars/Olympus` (use an IANA name such as `Europe/Paris`)\n\
         engage.toml:15:55: connection[1].schedule.timezone: `timezone` applies to `cron` only; `every` counts in UTC\n\
         engage.toml:15:82: connection[1].schedule.streams.users: a schedule needs `every` (e.g. \"15m\") or `cron` (e.g. \"0 */6 * * *\")\n\
         engage.toml:15:84: connection[1].schedule.streams.users.evry: unknown key `evry`; did you mean `every`?\n\
         engage.toml:15:103: connection[1].schedule.streams.t: expected a table, found an integer\n\
         engage.toml:20:12: connection[2].schedule: expected a table, found a string"
    );
}

#[test]
fn server_section() {
    let config = load(
        "[server]\nlisten = \"127.0.0.1:8181\"\napi_token = \"${TOKEN}\"\n",
        &[("TOKEN", "0123456789abcdef-token")],
    )
    .unwrap();
    assert_eq!(config.server.listen, Some("127.0.0.1:8181".parse().unwrap()));
    assert_eq!(config.server.api_token.as_ref().map(|t| t.expose()), Some("0123456789abcdef-token"));
    assert!(!format!("{config:?}").contains("0123456789abcdef-token"), "the token stays out of Debug");
    assert_eq!(load("", &[]).unwrap().server, ServerConfig::default());
    assert_eq!(
        errors("[server]\nlisten = \"everywhere\"\napi_token = \"\"\nport = 80\n", &[]),
        "engage.toml:2:10: server.listen: expected IP:PORT, e.g. `127.0.0.1:8080`\n\
         engage.toml:3:13: server.api_token: must not be empty\n\
         engage.toml:4:1: server.port: unknown key `port`; expected one of `listen`, `api_token`, `api_token_file`"
    );
}

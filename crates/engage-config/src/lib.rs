#![doc = r##"
`engage.toml`: typed configuration for Engage, validated as a whole with
`FILE:LINE:COL: key.path: message` errors, and secrets that never leak.

```toml
[store]
url = "sqlite://engage.db"      # the default; or postgres://...

[[connection]]
name = "support"
kind = "zendesk"
api_token = "${ZENDESK_API_TOKEN}"   # or api_token_file = "/run/secrets/token"
```

* [`load_file`] / [`load_str`] parse the file keeping every key's position,
  substitute `${ENV_VAR}` inside string values (`$${` is a literal `${`), and
  validate everything against [`Schema`]s: the fixed sections
  ([`Config::schema`]) and, for each connection, its kind's schema from
  [`Kinds`]. Every problem is reported at once in [`ConfigErrors`]; exit with
  [`EXIT_CONFIG`] on failure.
* [`Secret`] prints as `[redacted]`; error messages never contain values of
  secrets.
* [`STARTER_CONFIG`] is the commented file `engage init` writes.

```
use std::collections::HashMap;
use engage_config::{Field, FieldType, Kinds, Schema, load_str};

let kinds = Kinds::new().with(
    "zendesk",
    Schema::new(vec![Field::required("api_token", FieldType::Secret, "API token.")]),
);
let env = HashMap::from([("ZD_TOKEN".to_owned(), "t0ken".to_owned())]);

let text = "[[connection]]\nname = \"support\"\nkind = \"zendesk\"\napi_token = \"${ZD_TOKEN}\"\n";
let config = load_str(text, "engage.toml", &kinds, &env).unwrap();
let options = &config.connections[0].options;
assert_eq!(format!("{options:?}"), r#"{"api_token": Secret([redacted])}"#);
assert_eq!(options.to_json()["api_token"], "t0ken");

let text = "[[connection]]\nname = \"support\"\nkind = \"zendesk\"\napi_tokn = \"${ZD_TOKEN}\"\n";
let errors = load_str(text, "engage.toml", &kinds, &env).unwrap_err();
assert_eq!(
    errors.to_string(),
    "engage.toml:1:1: connection[0].api_token: missing required key `api_token` (or `api_token_file`)\n\
     engage.toml:4:1: connection[0].api_tokn: unknown key `api_tokn`; did you mean `api_token`?"
);
```
"##]

mod config;
mod env;
mod error;
mod options;
mod schedule;
mod schema;
mod secret;
mod starter;
mod walk;

#[cfg(test)]
mod tests;

pub use config::{Config, ConnectionConfig, SchedulerConfig, ServerConfig, StoreConfig, load_file, load_str};
pub use env::{Env, ProcessEnv};
pub use error::{ConfigError, ConfigErrors, EXIT_CONFIG};
pub use options::{OptionValue, Options};
pub use schedule::{Cadence, Cron, Schedule, format_duration, parse_duration};
pub use schema::{Field, FieldType, Kinds, Schema};
pub use secret::Secret;
pub use starter::STARTER_CONFIG;

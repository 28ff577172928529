//! The commented `engage.toml` that `engage init` writes.

/// A commented starter `engage.toml`: SQLite store, PostgreSQL alternative
/// and an example connection, both commented out. Loads without errors with
/// no kinds and an empty environment.
pub const STARTER_CONFIG: &str = r#"# engage.toml: configuration for Engage.
#
# Any quoted value may use environment variables: "${NAME}" is replaced by
# the variable's value (an unset variable is an error), and "$${" stands for
# a literal "${". Substitution happens only inside values, never in comments
# or keys.
#
# Secrets (API tokens, passwords) never belong in this file. Give them as
#     api_token = "${ZENDESK_API_TOKEN}"
# or read them from a file (trailing newlines are trimmed):
#     api_token_file = "/run/secrets/zendesk_api_token"
# but not both.

# Where synced data is stored.
[store]
# A SQLite database file, created if missing. This is also the default
# when [store] is left out.
url = "sqlite://engage.db"

# PostgreSQL instead; keep the password out of the file:
# url = "postgres://engage:${ENGAGE_DB_PASSWORD}@127.0.0.1:5432/engage"
# or keep the whole URL in a file:
# url_file = "/run/secrets/engage_store_url"

# One [[connection]] block per vendor account to sync from. `name` must be
# unique (1 to 64 of a-z, 0-9, _ and -) and `kind` names the connector; each
# kind adds options of its own.
#
# [[connection]]
# name = "support"
# kind = "zendesk"
# base_url = "https://example.zendesk.com"    # optional, http(s) only
# max_requests_per_minute = 600               # optional, 1 to 100000
# enabled = true                              # optional, default true
# email = "ops@example.com"
# api_token = "${ZENDESK_API_TOKEN}"
#
# [[connection]]
# name = "reviews"
# kind = "trustpilot"
# api_key_file = "/run/secrets/trustpilot_api_key"
"#;

//! The Shopify connector (`kind = "shopify"`), on the Admin REST API pinned to [`API_VERSION`].
//!
//! Streams:
//! - `orders`: `GET /admin/api/{version}/orders.json?status=any&order=updated_at asc&updated_at_min=…&limit=…`,
//!   then the `Link` header's `rel="next"` URL as given (it carries `page_info`, and Shopify
//!   refuses any filter next to `page_info`). Each order becomes an
//!   [`Order`](engage_model::Order) (exact decimal money, guest checkouts, refunds, cancellation)
//!   and an [`Interaction`](engage_model::Interaction) of kind `order` under the same source id.
//!   The checkpoint is the newest `updated_at` seen; `updated_at_min` is inclusive, so the
//!   boundary order is read again and upserted.
//! - `customers`: `GET /admin/api/{version}/customers.json`, the same way → identities.
//!
//! Shopify serves a retired or unknown version from the oldest supported one without saying so,
//! except in `X-Shopify-API-Version`: every response's version is compared with the pinned one,
//! and a difference is noted on the run (`version_mismatch = "warn"`, the default) or fails the
//! sync (`"fail"`). The leaky bucket (`X-Shopify-Shop-Api-Call-Limit: used/40`) and 429s with
//! `Retry-After: 2.0` are handled by the HTTP toolkit.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use engage_connect::http::{Auth, HttpClient, Pagination, Paginator, RequestSpec};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, Field, FieldType, PageStream, Schema, Secret,
    Step, StreamSpec, SyncMode, paged,
};
use engage_model::EntityKind;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;

pub mod map;

/// The Admin API version every request pins.
pub const API_VERSION: &str = "2025-01";

/// Kind-specific options of a Shopify connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopifyConfig {
    /// The shop's subdomain (`example-shop` of `example-shop.myshopify.com`).
    pub shop: Option<String>,
    /// An Admin API access token (`shpat_…`) with `read_orders` and `read_customers`.
    pub access_token: Secret,
    /// The API version to pin instead of [`API_VERSION`] (`YYYY-MM`).
    pub api_version: Option<String>,
    /// `warn` (default) or `fail` when Shopify serves another version than the pinned one.
    pub version_mismatch: Option<String>,
    /// Earliest `updated_at` on the first sync (`YYYY-MM-DD`); everything when absent.
    pub start_date: Option<String>,
    /// Records per page (`limit`, 1–250, default 250).
    pub page_size: Option<i64>,
}

/// The Shopify connector.
pub struct Shopify {
    http: HttpClient,
    version: String,
    fail_on_mismatch: bool,
    start: Option<DateTime<Utc>>,
    page_size: i64,
}

/// Shopify's form of a filter time: ISO 8601 with an offset.
fn filter_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

fn checkpoint_time(checkpoint: Option<&Checkpoint>) -> Option<DateTime<Utc>> {
    checkpoint?.get("updated_at")?.as_str().and_then(engage_connect::time::parse_timestamp)
}

#[async_trait]
impl Connector for Shopify {
    type Config = ShopifyConfig;
    const KIND: &'static str = "shopify";

    fn options() -> Schema {
        Schema::new(vec![
            Field::optional("shop", FieldType::String, "Shop subdomain: `NAME` of NAME.myshopify.com."),
            Field::required(
                "access_token",
                FieldType::Secret,
                "Admin API access token (`shpat_…`) with read_orders and read_customers.",
            ),
            Field::optional("api_version", FieldType::String, "API version to pin (`YYYY-MM`)."),
            Field::optional(
                "version_mismatch",
                FieldType::String,
                "`warn` (default) or `fail` when Shopify serves another API version.",
            ),
            Field::optional("start_date", FieldType::String, "Earliest `updated_at` on the first sync."),
            Field::optional(
                "page_size",
                FieldType::Integer { min: 1, max: 250 },
                "Records per page (default 250).",
            ),
        ])
    }

    fn new(config: ShopifyConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let start = match &config.start_date {
            Some(date) => Some(engage_connect::time::parse_timestamp(date).ok_or_else(|| {
                ConnectorError::needs_human(format!("start_date `{date}` is not a date (YYYY-MM-DD)"))
            })?),
            None => None,
        };
        let version = config.api_version.unwrap_or_else(|| API_VERSION.to_owned());
        if chrono::NaiveDate::parse_from_str(&format!("{version}-01"), "%Y-%m-%d").is_err() {
            return Err(ConnectorError::needs_human(format!("api_version `{version}` is not YYYY-MM")));
        }
        let fail_on_mismatch = match config.version_mismatch.as_deref() {
            None | Some("warn") => false,
            Some("fail") => true,
            Some(other) => {
                return Err(ConnectorError::needs_human(format!(
                    "version_mismatch `{other}`: expected `warn` or `fail`"
                )));
            }
        };
        let default_base = match (&config.shop, &ctx.base_url) {
            (Some(shop), _) => {
                if shop.is_empty() || !shop.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    return Err(ConnectorError::needs_human(format!(
                        "shop `{shop}`: expected the subdomain of NAME.myshopify.com"
                    )));
                }
                format!("https://{shop}.myshopify.com")
            }
            (None, Some(_)) => "https://invalid.myshopify.com".to_owned(),
            (None, None) => {
                return Err(ConnectorError::needs_human("shopify needs `shop` (or `base_url`)"));
            }
        };
        let auth = Auth::Header { name: "X-Shopify-Access-Token".to_owned(), value: config.access_token };
        let http = ctx.http(&default_base, auth, |b| b.default_header("Accept", "application/json"))?;
        Ok(Shopify {
            http,
            version,
            fail_on_mismatch,
            start,
            page_size: config.page_size.unwrap_or(250).clamp(1, 250),
        })
    }

    fn streams(&self) -> Vec<StreamSpec> {
        vec![
            StreamSpec {
                name: "orders",
                entity: EntityKind::Order,
                primary_key: &["id"],
                cursor_field: Some("updated_at"),
                modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
            },
            StreamSpec {
                name: "customers",
                entity: EntityKind::Identity,
                primary_key: &["id"],
                cursor_field: Some("updated_at"),
                modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
            },
        ]
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        let path = format!("/admin/api/{}/orders.json", self.version);
        let response = self.http.get(&path).query(&[("limit", "1"), ("status", "any")]).send().await?;
        self.version_note(response.header("x-shopify-api-version")).map(|_| ())
    }

    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        match stream {
            "orders" | "customers" => self.list(stream, checkpoint),
            other => {
                let error = ConnectorError::needs_human(format!("shopify has no stream `{other}`"));
                futures::stream::once(async move { Err(error) }).boxed()
            }
        }
    }
}

impl Shopify {
    /// The pinned version compared with the one that served a response: a note on a mismatch,
    /// or an error when mismatches fail.
    fn version_note(&self, served: Option<&str>) -> Result<Option<String>, ConnectorError> {
        match served {
            Some(served) if served != self.version => {
                let message = format!(
                    "Shopify served API version {served} instead of the pinned {} (a retired or unknown version falls forward to the oldest supported one): check api_version",
                    self.version
                );
                if self.fail_on_mismatch {
                    Err(ConnectorError::needs_human(message))
                } else {
                    Ok(Some(message))
                }
            }
            _ => Ok(None),
        }
    }

    fn list(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        let orders = stream == "orders";
        let since = checkpoint_time(checkpoint.as_ref()).or(self.start);
        let mut spec = RequestSpec::new(format!("/admin/api/{}/{stream}.json", self.version));
        if orders {
            spec = spec.query("status", "any");
        }
        spec = spec.query("order", "updated_at asc").query("limit", self.page_size.to_string());
        if let Some(since) = since {
            spec = spec.query("updated_at_min", filter_time(since));
        }
        let pointer = format!("/{stream}");
        let paginator =
            Box::new(Paginator::new(self.http.clone(), spec, Pagination::LinkHeader, Some(pointer)));
        // (paginator, newest updated_at so far, whether the version was already noted)
        paged(
            (paginator, since, false),
            move |(mut paginator, newest, noted): (Box<Paginator>, Option<DateTime<Utc>>, bool)| async move {
                let fetched = paginator.next_page().await?;
                let Some(fetched) = fetched else {
                    return Ok(Step::Done);
                };
                let mut page =
                    if orders { map::orders(&fetched.records) } else { map::customers(&fetched.records) };
                let mut noted = noted;
                if let Some(note) = self.version_note(fetched.response.header("x-shopify-api-version"))? {
                    if !noted {
                        page.notes.push(note);
                    }
                    noted = true;
                }
                let newest = newest.max(map::newest_updated(&fetched.records));
                page.checkpoint = json!({ "updated_at": newest.map(filter_time) });
                Ok(if paginator.is_done() {
                    Step::Last(page)
                } else {
                    Step::Page(page, (paginator, newest, noted))
                })
            },
        )
    }
}

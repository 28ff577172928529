//! The Shopify Admin REST simulator: `GET /admin/api/{version}/orders.json` and
//! `GET /admin/api/{version}/customers.json` with `X-Shopify-Access-Token`, `Link` header
//! `page_info` paging, the leaky bucket of `X-Shopify-Shop-Api-Call-Limit`, and the version the
//! call was served in echoed as `X-Shopify-API-Version` (reviews-email.md §10).
//!
//! Routes: `orders`, `customers`; ground truth has the streams [`ORDERS`] and [`CUSTOMERS`], raw
//! payloads being the objects as served.
//!
//! Behaviour worth knowing:
//! - The version is in the path. A version the shop does not support (retired, or not released)
//!   silently falls forward to the oldest supported one; `X-Shopify-API-Version` says which
//!   version served the call.
//! - `status` defaults to `open` (orders neither closed nor cancelled); `status=any` lists all.
//!   `updated_at_min`/`updated_at_max` (inclusive, ISO 8601 with an offset), `limit` (default 50,
//!   at most 250), `order=updated_at asc|desc` or `created_at asc|desc` (default `created_at
//!   desc`, then id).
//! - `Link: <…?limit=N&page_info=…>; rel="next"` (and `rel="previous"` after the first page);
//!   no `Link` header at all when everything fits in one page. Only `limit` and `fields` may
//!   accompany `page_info`: any other parameter is a 400 naming it, in the official body's
//!   shape ([`ERROR_400_PAGE_INFO`]).
//! - A bucket of 40 calls leaking 2 per second per shop: every response carries
//!   `X-Shopify-Shop-Api-Call-Limit: used/40`; a full bucket answers 429 with `Retry-After: 2.0`
//!   and the official body ([`ERROR_429`]). A bad token gets the official 401 ([`ERROR_401`]).
//! - Money is decimal strings (`"598.94"`); times carry the shop's offset (`-05:00`).
//! - The official orders example ([`ORDERS_DOCS_EXAMPLE`], order 450789469, partially refunded,
//!   customer 207119551) is the first order of every dataset, verbatim; its customer is the
//!   first customer.
//! - Guest checkouts have no `customer`. A [`Mutation`]'s updates refund an order (first update)
//!   or cancel it with a full refund (later updates), bumping `updated_at`; customers are
//!   updated (new last name) and created. Nothing is deleted.
//! - Malformed records (see [`Faults::malformed_rate`]): an order whose `total_price` is not a
//!   decimal (`"12,34"`) or whose `created_at` is `"not a date"`; a customer whose `updated_at`
//!   is `"not a date"`.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use serde_json::{Value, json};

use crate::faults::Faults;
use crate::rng;
use crate::sim::{Control, MUTATION_STEP, Sim, SimConfig, SimState, Simulator};
use crate::text;
use crate::timeline::{Mutation, Pos, Start, Timeline, Version};
use crate::truth::{GroundTruth, TruthRecord};

/// A running Shopify simulator.
pub type ShopifySim = Sim<Shopify>;

/// Route and ground-truth stream of orders.
pub const ORDERS: &str = "orders";
/// Route and ground-truth stream of customers.
pub const CUSTOMERS: &str = "customers";

/// The official 'Retrieve a list of orders' example (API 2024-01, trimmed).
pub const ORDERS_DOCS_EXAMPLE: &str =
    include_str!("../../fixtures/shopify/orders_list_status_any_2024-01_docs_example.json");
/// The 400 for a filter passed with `page_info`.
pub const ERROR_400_PAGE_INFO: &str =
    include_str!("../../fixtures/shopify/error_400_filter_with_page_info.json");
/// The 401 for a bad access token.
pub const ERROR_401: &str = include_str!("../../fixtures/shopify/error_401_invalid_token.json");
/// The 429 of a full bucket.
pub const ERROR_429: &str = include_str!("../../fixtures/shopify/error_429_rate_limited.json");

/// The shop's UTC offset in seconds (Eastern Standard Time, as in the official example).
pub const SHOP_OFFSET: i64 = -5 * 3_600;

/// Shopify simulator options.
#[derive(Clone, Debug, PartialEq)]
pub struct ShopifyOptions {
    /// Seed, clock, faults; `records` is the number of generated orders.
    pub sim: SimConfig,
    /// The Admin API access token accepted (`X-Shopify-Access-Token`).
    pub access_token: String,
    /// Supported API versions, oldest first; others fall forward to the first.
    pub versions: Vec<String>,
    /// Bucket size (0 = no limit).
    pub bucket_size: u64,
    /// Calls leaked per second.
    pub leak_per_second: f64,
}

impl Default for ShopifyOptions {
    fn default() -> Self {
        ShopifyOptions {
            sim: SimConfig::default(),
            access_token: "shpat_sandbox_0123456789abcdef0123456789ab".to_owned(),
            versions: ["2024-01", "2024-04", "2024-07", "2024-10", "2025-01", "2025-04", "2025-07"]
                .map(str::to_owned)
                .to_vec(),
            bucket_size: 40,
            leak_per_second: 2.0,
        }
    }
}

impl ShopifyOptions {
    /// Default options with this seed and number of generated orders.
    pub fn new(seed: u64, orders: usize) -> Self {
        let mut o = ShopifyOptions::default();
        o.sim.seed = seed;
        o.sim.records = orders;
        o
    }

    /// No rate limit (for benchmarks).
    pub fn unlimited() -> Self {
        ShopifyOptions { bucket_size: 0, ..ShopifyOptions::default() }
    }
}

/// Unix seconds as the shop writes them: `2008-01-10T11:00:00-05:00`.
pub fn shop_time(unix: i64) -> String {
    let mut text = crate::time::Ts(unix + SHOP_OFFSET).to_rfc3339();
    text.pop();
    let (sign, off) = if SHOP_OFFSET < 0 { ('-', -SHOP_OFFSET) } else { ('+', SHOP_OFFSET) };
    text.push_str(&format!("{sign}{:02}:{:02}", off / 3_600, off / 60 % 60));
    text
}

/// Cents as a decimal string (`59894` → `"598.94"`).
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

fn money_set(cents: i64) -> Value {
    let m = json!({ "amount": money(cents), "currency_code": "USD" });
    json!({ "shop_money": m, "presentment_money": m })
}

struct Data {
    orders: Timeline,
    customers: Timeline,
}

/// The leaky bucket of one shop.
#[derive(Debug)]
struct Bucket {
    level: f64,
    at: Instant,
}

/// The Shopify simulator's state (use it through [`ShopifySim`]).
pub struct Shopify {
    seed: u64,
    token: String,
    versions: Vec<String>,
    bucket_size: u64,
    leak: f64,
    bucket: Mutex<Bucket>,
    fixed_order: Value,
    fixed_customer: Value,
    data: RwLock<Data>,
}

impl std::fmt::Debug for Shopify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shopify").finish_non_exhaustive()
    }
}

const PRODUCTS: [(&str, i64); 8] = [
    ("Linen shirt", 4_950),
    ("Ceramic mug", 1_800),
    ("Trail shoes", 12_900),
    ("Wool scarf", 3_500),
    ("Notebook", 799),
    ("Espresso beans 1 kg", 2_650),
    ("Desk lamp", 7_995),
    ("Gift card", 2_500),
];

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"))], body)
        .into_response()
}

fn errors(status: StatusCode, message: &str) -> Response {
    json_response(status, json!({ "errors": message }).to_string())
}

/// The 400 for `param` passed with `page_info`, in the official body's shape.
pub fn page_info_error(param: &str) -> String {
    let body = json!({ "errors": { param: format!("{param} cannot be passed when page_info is present.") } });
    serde_json::to_string_pretty(&body).unwrap_or_default() + "\n"
}

/// Where a list continues: the query's order and bounds and the last record served.
#[derive(Clone, Debug, PartialEq)]
struct Cursor {
    status: String,
    order: String,
    min: Option<i64>,
    max: Option<i64>,
    /// The record the page starts after (next) or ends before (previous).
    last: Pos,
    /// Whether the cursor reads forward (`rel="next"`) or backward (`rel="previous"`).
    next: bool,
}

fn encode(c: &Cursor) -> String {
    let text = format!(
        "{}|{}|{}|{}|{}|{}|{}",
        c.status,
        c.order,
        c.min.map(|t| t.to_string()).unwrap_or_default(),
        c.max.map(|t| t.to_string()).unwrap_or_default(),
        c.last.time,
        c.last.index,
        if c.next { "n" } else { "p" }
    );
    URL_SAFE_NO_PAD.encode(text)
}

fn decode(text: &str) -> Option<Cursor> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text.trim()).ok()?).ok()?;
    let parts: Vec<&str> = raw.split('|').collect();
    let [status, order, min, max, time, index, dir] = parts.as_slice() else { return None };
    let opt = |s: &str| if s.is_empty() { Ok(None) } else { s.parse().map(Some) };
    Some(Cursor {
        status: (*status).to_owned(),
        order: (*order).to_owned(),
        min: opt(min).ok()?,
        max: opt(max).ok()?,
        last: Pos { time: time.parse().ok()?, index: index.parse().ok()? },
        next: match *dir {
            "n" => true,
            "p" => false,
            _ => return None,
        },
    })
}

fn parse_time(text: &str) -> Option<i64> {
    // A `+` left unencoded in a query arrives as a space.
    let text = text.trim();
    let fixed = match text.len().checked_sub(6) {
        Some(i) if text.as_bytes().get(i) == Some(&b' ') => format!("{}+{}", &text[..i], &text[i + 1..]),
        _ => text.to_owned(),
    };
    chrono::DateTime::parse_from_rfc3339(&fixed).ok().map(|t| t.timestamp())
}

impl Shopify {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Data> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The version that serves a request for `asked`.
    pub fn served_version(&self, asked: &str) -> String {
        if self.versions.iter().any(|v| v == asked) {
            asked.to_owned()
        } else {
            self.versions.first().cloned().unwrap_or_else(|| asked.to_owned())
        }
    }

    fn malformation(&self, control: &Control, stream: &str, index: u64) -> Option<u8> {
        if index == 0 { None } else { control.faults(stream).malformation(control.seed(), stream, index) }
    }

    /// Customer `index` as a small embedded object (in orders) or in full (customers list).
    fn customer(&self, data: &Data, index: u64, full: Option<(&Version, bool)>) -> Value {
        if index == 0 {
            return self.fixed_customer.clone();
        }
        let h = rng::hash(self.seed, &[rng::tag(CUSTOMERS), index]);
        let lang = text::pick_lang(h);
        let (name, handle) = lang.names[(h >> 8) as usize % lang.names.len().max(1)];
        let (first, last) = name.split_once(' ').unwrap_or((name, ""));
        let id = 7_000_000_000u64 + index;
        let born = data.customers.version(index).map_or(0, |v| v.born);
        let (revision, updated) = match full {
            Some((v, malformed)) => {
                (v.revision, if malformed { "not a date".to_owned() } else { shop_time(v.time) })
            }
            None => (0, shop_time(born)),
        };
        let last = if revision > 0 { format!("{last}-{revision}") } else { last.to_owned() };
        let mut c = json!({
            "id": id,
            "email": format!("{handle}.{index}@example.{}", lang.tld),
            "created_at": shop_time(born),
            "updated_at": updated,
            "first_name": first,
            "last_name": last,
            "state": if h.is_multiple_of(3) { "enabled" } else { "disabled" },
            "note": null,
            "verified_email": true,
            "tax_exempt": false,
            "phone": if h.is_multiple_of(4) { Value::Null } else { json!(format!("{} {:03} {:03}", lang.phone_prefix, (h >> 20) % 1000, (h >> 30) % 1000)) },
            "currency": "USD",
            "tags": "",
            "admin_graphql_api_id": format!("gid://shopify/Customer/{id}")
        });
        if full.is_some() {
            c["locale"] = json!(lang.locale);
            c["orders_count"] = json!((h >> 12) % 6);
        }
        c
    }

    /// Order `index` at version `v` as served.
    fn order(&self, data: &Data, index: u64, v: &Version, malformation: Option<u8>) -> Value {
        if index == 0 {
            return self.fixed_order.clone();
        }
        let h = rng::hash(self.seed, &[rng::tag(ORDERS), index]);
        let mut r = rng::rng(self.seed, &[rng::tag("order_items"), index]);
        let lang = text::pick_lang(h >> 4);
        let id = 5_000_000_000u64 + index;
        let number = 1_000 + index;
        // The timeline's time is `updated_at`; a base order was created up to three days before.
        let created = if index < data.orders.fixed_len() + data.orders.generated_len() {
            v.born - (h >> 40) as i64 % (3 * 86_400)
        } else {
            v.born
        };
        let mut items = Vec::new();
        let mut subtotal = 0i64;
        for k in 0..r.random_range(1..=4u64) {
            let (title, price) = PRODUCTS[r.random_range(0..PRODUCTS.len())];
            let quantity = r.random_range(1..=3i64);
            subtotal += price * quantity;
            items.push(json!({
                "id": id * 10 + k,
                "admin_graphql_api_id": format!("gid://shopify/LineItem/{}", id * 10 + k),
                "title": title,
                "name": title,
                "quantity": quantity,
                "price": money(price),
                "price_set": money_set(price),
                "sku": format!("SKU-{:04}", price % 10_000),
                "requires_shipping": title != "Gift card",
                "taxable": true,
                "fulfillable_quantity": quantity
            }));
        }
        let discount = if h.is_multiple_of(4) { subtotal / 10 } else { 0 };
        let shipping = if subtotal >= 5_000 { 0 } else { 500 };
        let tax = (subtotal - discount) * 8 / 100;
        let total = subtotal - discount + shipping + tax;
        // History: base orders may already be refunded or cancelled; updates refund, then cancel.
        let base_state = match h % 13 {
            0 => 2,
            1 | 2 => 1,
            _ => 0,
        };
        let state = if v.revision == 0 { base_state } else { (base_state.max(v.revision as u64)).min(2) };
        let first_price = items
            .first()
            .and_then(|i| i["price"].as_str())
            .and_then(|p| p.replace('.', "").parse::<i64>().ok())
            .unwrap_or(0);
        let refund = |amount: i64, k: u64| {
            json!({
                "id": id * 100 + k,
                "admin_graphql_api_id": format!("gid://shopify/Refund/{}", id * 100 + k),
                "created_at": shop_time(v.time),
                "note": if k == 1 { lang.complaints.first().copied().unwrap_or("") } else { "order cancelled" },
                "order_id": id,
                "processed_at": shop_time(v.time),
                "restock": true,
                "transactions": [{
                    "id": id * 1_000 + k,
                    "amount": money(amount),
                    "currency": "USD",
                    "gateway": "shopify_payments",
                    "kind": "refund",
                    "status": "success",
                    "order_id": id,
                    "processed_at": shop_time(v.time)
                }]
            })
        };
        let (refunds, refunded) = match state {
            1 => (vec![refund(first_price, 1)], first_price),
            2 => (vec![refund(total, 2)], total),
            _ => (Vec::new(), 0),
        };
        let guest = h.is_multiple_of(5);
        let customer_index = data
            .customers
            .generated_at_or_before(created)
            .map(|k| data.customers.fixed_len() + (h >> 16) % (k + 1))
            .unwrap_or(0)
            .min(data.customers.len().saturating_sub(1));
        let customer = (!guest).then(|| self.customer(data, customer_index, None));
        let email = match &customer {
            Some(c) => c["email"].clone(),
            None => json!(format!("guest.{index}@example.{}", lang.tld)),
        };
        let cancelled = state == 2;
        let mut note = String::new();
        text::paragraph(&mut r, lang, 40, &mut note);
        let mut order = json!({
            "id": id,
            "admin_graphql_api_id": format!("gid://shopify/Order/{id}"),
            "name": format!("#{number}"),
            "number": number - 1_000 + 1,
            "order_number": number,
            "email": email,
            "contact_email": email,
            "created_at": if malformation == Some(0) { "not a date".to_owned() } else { shop_time(created) },
            "updated_at": shop_time(v.time),
            "processed_at": shop_time(created),
            "cancelled_at": if cancelled { json!(shop_time(v.time)) } else { Value::Null },
            "cancel_reason": if cancelled { json!("customer") } else { Value::Null },
            "closed_at": if cancelled { json!(shop_time(v.time)) } else { Value::Null },
            "currency": "USD",
            "presentment_currency": "USD",
            "customer_locale": lang.locale,
            "financial_status": match state { 1 => "partially_refunded", 2 => "refunded", _ if h.is_multiple_of(9) => "pending", _ => "paid" },
            "fulfillment_status": if cancelled || h.is_multiple_of(3) { Value::Null } else { json!("fulfilled") },
            "source_name": (["web", "pos", "shopify_draft_order", "web"][(h >> 24) as usize % 4]),
            "note": note,
            "subtotal_price": money(subtotal - discount),
            "subtotal_price_set": money_set(subtotal - discount),
            "total_discounts": money(discount),
            "total_discounts_set": money_set(discount),
            "total_line_items_price": money(subtotal),
            "total_tax": money(tax),
            "total_tax_set": money_set(tax),
            "total_price": if malformation == Some(1) { "12,34".to_owned() } else { money(total) },
            "total_price_set": money_set(total),
            "current_total_price": money(total - refunded),
            "total_shipping_price_set": money_set(shipping),
            "test": false,
            "line_items": items,
            "refunds": refunds
        });
        if let (Some(c), Some(map)) = (customer, order.as_object_mut()) {
            map.insert("customer".to_owned(), c);
        }
        order
    }

    /// Refills the bucket and takes one call: `Ok(used)` or `Err(())` when it is full.
    fn take(&self) -> Result<u64, ()> {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        b.level = (b.level - now.duration_since(b.at).as_secs_f64() * self.leak).max(0.0);
        b.at = now;
        if b.level + 1.0 > self.bucket_size as f64 {
            return Err(());
        }
        b.level += 1.0;
        Ok(b.level.ceil() as u64)
    }

    fn call_limit(&self, used: u64) -> (HeaderName, HeaderValue) {
        let size = if self.bucket_size == 0 { 40 } else { self.bucket_size };
        let value = format!("{used}/{size}");
        (
            HeaderName::from_static("x-shopify-shop-api-call-limit"),
            HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("1/40")),
        )
    }
}

/// Which stream a list request reads.
#[derive(Clone, Copy)]
enum List {
    Orders,
    Customers,
}

async fn list(
    state: Arc<SimState<Shopify>>,
    which: List,
    version: String,
    q: Vec<(String, String)>,
) -> Response {
    let s = &state.sim;
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let limit = match get("limit").map(str::parse::<usize>) {
        None => 50,
        Some(Ok(n)) if (1..=250).contains(&n) => n,
        Some(_) => return errors(StatusCode::BAD_REQUEST, "limit must be between 1 and 250"),
    };
    let (name, route) = match which {
        List::Orders => ("orders", ORDERS),
        List::Customers => ("customers", CUSTOMERS),
    };
    let cursor = match get("page_info") {
        Some(text) => {
            if let Some((param, _)) =
                q.iter().find(|(k, _)| !matches!(k.as_str(), "page_info" | "limit" | "fields"))
            {
                return json_response(StatusCode::BAD_REQUEST, page_info_error(param));
            }
            match decode(text) {
                Some(c) => Some(c),
                None => return errors(StatusCode::BAD_REQUEST, "Invalid value for page_info"),
            }
        }
        None => None,
    };
    let (status, order, min, max) = match &cursor {
        Some(c) => (c.status.clone(), c.order.clone(), c.min, c.max),
        None => {
            let bound = |k: &str| match get(k) {
                None => Ok(None),
                Some(t) => parse_time(t).map(Some).ok_or(k.to_owned()),
            };
            let (min, max) = match (bound("updated_at_min"), bound("updated_at_max")) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(k), _) | (_, Err(k)) => {
                    return json_response(
                        StatusCode::BAD_REQUEST,
                        json!({ "errors": { k.clone(): format!("{k} is not a valid date") } }).to_string(),
                    );
                }
            };
            let status = get("status").unwrap_or("open").to_owned();
            if !matches!(status.as_str(), "open" | "closed" | "cancelled" | "any") {
                return errors(StatusCode::BAD_REQUEST, "status is invalid");
            }
            let order = get("order").unwrap_or("created_at desc").replace('+', " ");
            if !matches!(
                order.as_str(),
                "updated_at asc" | "updated_at desc" | "created_at asc" | "created_at desc"
            ) {
                return errors(StatusCode::BAD_REQUEST, "order is invalid");
            }
            (status, order, min, max)
        }
    };
    let data = s.read();
    let timeline = match which {
        List::Orders => &data.orders,
        List::Customers => &data.customers,
    };
    let keep = |index: u64, v: &Version| -> bool {
        if !matches!(which, List::Orders) || status == "any" {
            return true;
        }
        let o = s.order(&data, index, v, None);
        let cancelled = !o["cancelled_at"].is_null();
        let closed = !o["closed_at"].is_null();
        match status.as_str() {
            "open" => !closed && !cancelled,
            "closed" => closed,
            _ => cancelled,
        }
    };
    let forward = cursor.as_ref().is_none_or(|c| c.next);
    let anchor = cursor.as_ref().map(|c| c.last);
    // (records, more after the page, more before it)
    let (items, after, before): (Vec<(Pos, Version)>, bool, bool) = if order == "updated_at asc" && forward {
        // The common incremental read walks the timeline without sorting.
        let from = match anchor {
            Some(p) => Start::After(p),
            None => Start::Time(min.unwrap_or(i64::MIN)),
        };
        let scan = timeline.scan(from, max, limit, keep);
        let items = scan.items.iter().map(|(i, v)| (Pos { time: v.time, index: *i }, *v)).collect();
        (items, scan.more, anchor.is_some())
    } else {
        let mut all: Vec<(Pos, Version)> = timeline
            .iter()
            .filter(|(_, v)| min.is_none_or(|m| v.time >= m) && max.is_none_or(|m| v.time <= m))
            .filter(|(i, v)| keep(*i, v))
            .map(|(i, v)| {
                let time = if order.starts_with("created_at") {
                    s.order(&data, i, &v, None)["created_at"].as_str().and_then(parse_time).unwrap_or(v.born)
                } else {
                    v.time
                };
                (Pos { time, index: i }, v)
            })
            .collect();
        all.sort_by_key(|(p, _)| *p);
        if order.ends_with("desc") {
            all.reverse();
        }
        let at = |p: Pos| all.iter().position(|(q, _)| *q == p);
        if forward {
            let from = anchor.map_or(0, |p| at(p).map_or(all.len(), |n| n + 1));
            let end = (from + limit).min(all.len());
            (all[from..end].to_vec(), end < all.len(), from > 0)
        } else {
            let to = anchor.and_then(at).unwrap_or(0);
            let from = to.saturating_sub(limit);
            (all[from..to].to_vec(), true, from > 0)
        }
    };
    let body: Vec<Value> = items
        .iter()
        .map(|(p, v)| {
            let bad = s.malformation(&state.control, route, p.index);
            match which {
                List::Orders => s.order(&data, p.index, v, bad),
                List::Customers => s.customer(&data, p.index, Some((v, bad.is_some()))),
            }
        })
        .collect();
    drop(data);
    let link = |last: Pos, next: bool, rel: &str| {
        let c = Cursor { status: status.clone(), order: order.clone(), min, max, last, next };
        format!(
            "<{}/admin/api/{version}/{name}.json?limit={limit}&page_info={}>; rel=\"{rel}\"",
            state.base_url,
            encode(&c)
        )
    };
    let mut links = Vec::new();
    if let (true, Some((first, _))) = (before, items.first()) {
        links.push(link(*first, false, "previous"));
    }
    if let (true, Some((last, _))) = (after, items.last()) {
        links.push(link(*last, true, "next"));
    }
    let mut resp = json_response(StatusCode::OK, json!({ name: body }).to_string());
    if !links.is_empty()
        && let Ok(value) = HeaderValue::from_str(&links.join(", "))
    {
        resp.headers_mut().insert(header::LINK, value);
    }
    let served_version = s.served_version(&version);
    if let Ok(value) = HeaderValue::from_str(&served_version) {
        resp.headers_mut().insert(HeaderName::from_static("x-shopify-api-version"), value);
    }
    resp
}

async fn orders(
    State(state): State<Arc<SimState<Shopify>>>,
    Path(version): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    list(state, List::Orders, version, q).await
}

async fn customers(
    State(state): State<Arc<SimState<Shopify>>>,
    Path(version): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    list(state, List::Customers, version, q).await
}

async fn not_found() -> Response {
    errors(StatusCode::NOT_FOUND, "Not Found")
}

fn version_of(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/admin/api/")?;
    rest.split_once('/')
}

impl Simulator for Shopify {
    type Options = ShopifyOptions;
    const NAME: &'static str = "shopify";
    const ROUTES: &'static [&'static str] = &[ORDERS, CUSTOMERS];

    fn config(options: &ShopifyOptions) -> &SimConfig {
        &options.sim
    }

    fn build(o: ShopifyOptions, control: &Control) -> Self {
        let now = control.now();
        let fixed_order = match serde_json::from_str::<Value>(ORDERS_DOCS_EXAMPLE) {
            Ok(mut v) => v["orders"][0].take(),
            Err(_) => Value::Null,
        };
        let fixed_customer = fixed_order.get("customer").cloned().unwrap_or(Value::Null);
        let at = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).and_then(parse_time).unwrap_or(0);
        let orders = o.sim.records as u64;
        let data = Data {
            orders: Timeline::new(
                vec![at(&fixed_order, "updated_at")],
                orders,
                now - 365 * 86_400,
                now - 3_600,
            ),
            customers: Timeline::new(
                vec![at(&fixed_customer, "updated_at")],
                orders / 3 + 5,
                now - 400 * 86_400,
                now - 3_600,
            ),
        };
        Shopify {
            seed: o.sim.seed,
            token: o.access_token,
            versions: o.versions,
            bucket_size: o.bucket_size,
            leak: o.leak_per_second,
            bucket: Mutex::new(Bucket { level: 0.0, at: Instant::now() }),
            fixed_order,
            fixed_customer,
            data: RwLock::new(data),
        }
    }

    fn route_of(path: &str) -> Option<&'static str> {
        match version_of(path)?.1 {
            "orders.json" => Some(ORDERS),
            "customers.json" => Some(CUSTOMERS),
            _ => None,
        }
    }

    fn router(state: Arc<SimState<Self>>) -> Router {
        Router::new()
            .route("/admin/api/{version}/orders.json", get(orders))
            .route("/admin/api/{version}/customers.json", get(customers))
            .fallback(not_found)
            .with_state(state)
    }

    fn authenticate(&self, parts: &Parts) -> Result<String, Box<Response>> {
        match parts.headers.get("x-shopify-access-token").and_then(|v| v.to_str().ok()) {
            Some(t) if t.trim() == self.token => Ok("shop".to_owned()),
            _ => Err(Box::new(self.error_response(StatusCode::UNAUTHORIZED))),
        }
    }

    fn admit(
        &self,
        _route: &'static str,
        _account: &str,
        faults: &Faults,
    ) -> Result<HeaderMap, Box<Response>> {
        let mut headers = HeaderMap::new();
        if self.bucket_size == 0 {
            return Ok(headers);
        }
        match self.take() {
            Ok(used) => {
                let (k, v) = self.call_limit(used);
                headers.insert(k, v);
                Ok(headers)
            }
            Err(()) => Err(Box::new(self.throttle_response(faults.throttle_retry_after))),
        }
    }

    fn rate_headers(&self) -> HeaderMap {
        HeaderMap::new()
    }

    fn error_response(&self, status: StatusCode) -> Response {
        match status.as_u16() {
            401 => json_response(status, ERROR_401.to_owned()),
            403 => errors(status, "[API] This action requires merchant approval for read_orders scope."),
            404 => errors(status, "Not Found"),
            _ => errors(status, "Internal Server Error"),
        }
    }

    fn throttle_response(&self, retry_after: Option<u64>) -> Response {
        let mut resp = json_response(StatusCode::TOO_MANY_REQUESTS, ERROR_429.to_owned());
        let (k, v) = self.call_limit(if self.bucket_size == 0 { 40 } else { self.bucket_size });
        resp.headers_mut().insert(k, v);
        if retry_after.is_some() {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("2.0"));
        }
        resp
    }

    fn ground_truth(&self, control: &Control) -> GroundTruth {
        let mut truth = GroundTruth::default();
        let data = self.read();
        for (index, v) in data.orders.iter() {
            let bad = self.malformation(control, ORDERS, index);
            let raw = self.order(&data, index, &v, bad);
            let id = raw["id"].to_string();
            truth.insert(ORDERS, id, TruthRecord { raw, deleted: false }, bad.is_some());
        }
        for (index, v) in data.customers.iter() {
            let bad = self.malformation(control, CUSTOMERS, index);
            let raw = self.customer(&data, index, Some((&v, bad.is_some())));
            let id = raw["id"].to_string();
            truth.insert(CUSTOMERS, id, TruthRecord { raw, deleted: false }, bad.is_some());
        }
        truth
    }

    fn mutate(&self, control: &Control, m: Mutation) {
        let (old, new) = control.advance(MUTATION_STEP);
        let (t0, t1) = (old + 1, new - 120);
        let seed = control.seed();
        let mut data = self.data.write().unwrap_or_else(|e| e.into_inner());
        data.orders.apply(seed, rng::tag(ORDERS), &m, t0, t1, false);
        let people = Mutation { updates: m.updates / 2 + 1, deletions: 0, creations: m.creations / 3 + 1 };
        data.customers.apply(seed, rng::tag(CUSTOMERS), &people, t0, t1, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_cursors() {
        assert_eq!(shop_time(1_199_980_800), "2008-01-10T11:00:00-05:00");
        assert_eq!(parse_time("2008-01-10T11:00:00-05:00"), Some(1_199_980_800));
        assert_eq!(parse_time("2008-01-10T16:00:00 00:00"), Some(1_199_980_800));
        assert_eq!(money(59_894), "598.94");
        assert_eq!(money(5), "0.05");
        let c = Cursor {
            status: "any".into(),
            order: "updated_at asc".into(),
            min: Some(5),
            max: None,
            last: Pos { time: 9, index: 3 },
            next: false,
        };
        assert_eq!(decode(&encode(&c)), Some(c));
        assert_eq!(page_info_error("created_at_min"), ERROR_400_PAGE_INFO);
    }

    #[test]
    fn truth_has_the_official_order_and_guests() {
        let o = ShopifyOptions::new(3, 200);
        let control = Control::new(&o.sim);
        let s = Shopify::build(o, &control);
        let truth = s.ground_truth(&control);
        let orders = truth.stream(ORDERS);
        assert_eq!(orders.len(), 201);
        assert_eq!(orders["450789469"].raw["total_price"], "598.94");
        assert!(orders.values().any(|r| r.raw.get("customer").is_none()), "guest checkouts");
        assert!(orders.values().any(|r| !r.raw["cancelled_at"].is_null()), "cancellations");
        assert!(orders.values().any(|r| r.raw["financial_status"] == "partially_refunded"), "refunds");
        assert_eq!(truth.stream(CUSTOMERS)["207119551"].raw["email"], "bob.norman@mail.example.com");
        assert_eq!(s.served_version("2023-04"), "2024-01");
        assert_eq!(s.served_version("2024-10"), "2024-10");
    }
}

//! The JSON endpoints, and the reads they share with the dashboard.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, SecondsFormat, Utc};
use engage_metrics::engine::{self, Path as ComputePath, Report, Request};
use engage_metrics::score::ScoreConfig;
use engage_metrics::view::{self, CustomerView};
use engage_metrics::{METRICS, OVERVIEW, find};
use engage_store::{StoredCustomer, StreamStatus};
use serde::Serialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::query::{MetricQuery, Query, metric_query};

/// A request that failed: its status and a message for the caller.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What to tell the caller (never a secret, never an internal detail).
    pub message: String,
}

impl ApiError {
    /// 400 with `message`.
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    /// 404 with `message`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, message: message.into() }
    }

    /// 500: the detail goes to the log, the caller gets a generic message.
    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::warn!(error = %error, "request failed");
        ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, message: "the store could not be read".into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "error": self.message }))).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok(value: impl Serialize) -> ApiResult {
    Ok(axum::Json(value).into_response())
}

/// The JSON routes, `/openapi.json`, `/healthz` and `/metrics`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(prometheus))
        .route("/api/metrics", get(list))
        .route("/api/metrics/overview", get(overview_json))
        .route("/api/metrics/{name}", get(metric_json))
        .route("/api/customers", get(customers_json))
        .route("/api/customers/{email}", get(customer_json))
        .route("/api/status", get(status_json))
        .route("/api/status/runs", get(runs_json))
}

/// Anything else: 404 in JSON.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint: /openapi.json lists them")
}

async fn healthz(State(s): State<AppState>) -> Response {
    match s.store.count_rows("sync_runs").await {
        Ok(_) => axum::Json(json!({ "status": "ok" })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: the store failed");
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({ "status": "store unreachable" })))
                .into_response()
        }
    }
}

async fn openapi(State(s): State<AppState>) -> Response {
    axum::Json(crate::openapi(s.prometheus.is_some(), s.secured)).into_response()
}

async fn prometheus(State(s): State<AppState>) -> ApiResult {
    match &s.prometheus {
        Some(render) => {
            Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], render())
                .into_response())
        }
        None => Err(ApiError::not_found("/metrics is served by `engage run --serve`, not `engage serve`")),
    }
}

/// The catalogue, as `engage metrics list --format json`.
pub fn catalogue() -> Vec<Value> {
    METRICS
        .iter()
        .map(|m| {
            json!({
                "metric": m.name,
                "group": m.group,
                "title": m.title,
                "unit": m.unit,
                "formula": m.formula,
                "edge_cases": m.edge_cases,
                "variant": m.variant,
            })
        })
        .collect()
}

async fn list() -> ApiResult {
    ok(catalogue())
}

fn request(metric: &'static engage_metrics::Metric, q: &MetricQuery, compare: bool) -> Request {
    Request {
        metric,
        window: q.window,
        grain: q.grain,
        filters: q.filters.clone(),
        params: q.params.clone(),
        compare,
        path: if q.reference { ComputePath::Reference } else { ComputePath::Auto },
    }
}

/// One metric, as `engage metrics NAME --format json`.
pub async fn metric(s: &AppState, name: &str, q: &MetricQuery) -> Result<Report, ApiError> {
    let metric = find(name)
        .ok_or_else(|| ApiError::not_found(format!("unknown metric `{name}`: /api/metrics lists them")))?;
    engine::compute(&s.store, &request(metric, q, q.compare)).await.map_err(ApiError::internal)
}

/// The overview, as `engage metrics overview --format json`: the headline metrics in catalogue
/// order, each with its previous period, side by side on the store's read pool.
pub async fn overview(s: &AppState, q: &MetricQuery) -> Result<Vec<Report>, ApiError> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, name) in OVERVIEW.iter().enumerate() {
        let Some(metric) = find(name) else { continue };
        let req = request(metric, q, true);
        let store = s.store.clone();
        tasks.spawn(async move { (i, engine::compute(&store, &req).await) });
    }
    let mut computed = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (i, report) = done.map_err(ApiError::internal)?;
        computed.push((i, report.map_err(ApiError::internal)?));
    }
    computed.sort_by_key(|(i, _)| *i);
    Ok(computed.into_iter().map(|(_, r)| r).collect())
}

async fn metric_json(
    State(s): State<AppState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = metric_query(&Query::parse(raw.as_deref()), 30, None)?;
    ok(metric(&s, &name, &q).await?)
}

async fn overview_json(State(s): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = metric_query(&Query::parse(raw.as_deref()), 30, None)?;
    ok(overview(&s, &q).await?)
}

/// A page of customers.
#[derive(Debug, Serialize)]
pub struct CustomerPage {
    /// Customers matching the search.
    pub total: usize,
    /// Skipped.
    pub offset: usize,
    /// Page size.
    pub limit: usize,
    /// The page.
    pub customers: Vec<CustomerItem>,
}

/// One customer of the list.
#[derive(Debug, Serialize)]
pub struct CustomerItem {
    /// Id in the store.
    pub customer_id: i64,
    /// Email (the key of `/api/customers/{email}`).
    pub email: Option<String>,
    /// Name.
    pub name: Option<String>,
}

/// Customers in id order, those whose email or name contains `q` (case-insensitive) when given.
pub async fn customers(s: &AppState, query: &Query) -> Result<CustomerPage, ApiError> {
    let limit = query.number("limit", 50, 1, 500)? as usize;
    let offset = query.number("offset", 0, 0, i64::from(u32::MAX))? as usize;
    let needle = query.one("q").map(str::to_lowercase);
    let all = s.store.customers().await.map_err(ApiError::internal)?;
    let matching: Vec<StoredCustomer> = all
        .into_iter()
        .filter(|c| {
            needle.as_deref().is_none_or(|n| {
                [&c.email, &c.name].iter().any(|f| f.as_deref().is_some_and(|f| f.to_lowercase().contains(n)))
            })
        })
        .collect();
    let total = matching.len();
    let customers = matching
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|c| CustomerItem { customer_id: c.customer_id, email: c.email, name: c.name })
        .collect();
    Ok(CustomerPage { total, offset, limit, customers })
}

async fn customers_json(State(s): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult {
    ok(customers(&s, &Query::parse(raw.as_deref())).await?)
}

/// One customer, as `engage customers show EMAIL --format json`.
pub async fn customer(s: &AppState, email: &str, query: &Query) -> Result<CustomerView, ApiError> {
    let tz = engage_metrics::parse_tz(query.one("tz").unwrap_or("UTC")).map_err(ApiError::bad)?;
    view::customer(&s.store, email, &ScoreConfig::default(), Utc::now(), tz)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("no customer is known by this email"))
}

async fn customer_json(
    State(s): State<AppState>,
    Path(email): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    ok(customer(&s, &email, &Query::parse(raw.as_deref())).await?)
}

fn time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| json!(t.to_rfc3339_opts(SecondsFormat::Secs, true)))
}

/// Per connection and stream, as `engage status --format json`. Only the store's run records:
/// nothing of the connections' configured options.
pub fn status_rows(streams: &[StreamStatus]) -> Vec<Value> {
    streams
        .iter()
        .map(|s| {
            let run = s.last_run.as_ref();
            let schedule = s.schedule.as_ref();
            json!({
                "connection": s.connection,
                "stream": s.stream,
                "status": run.map(|r| r.status.as_str()),
                "finished_at": time(run.and_then(|r| r.finished_at)),
                "pages": run.map(|r| r.pages),
                "records": run.map(|r| r.records),
                "error": run.and_then(|r| r.error.clone()),
                "last_success_at": time(s.last_success_at),
                "last_failure_at": time(s.last_failure_at),
                "last_failure_error": s.last_error,
                "stored_records": s.stored_records,
                "schedule": schedule.map(|r| r.cadence.clone()),
                "next_due_at": time(schedule.map(|r| r.next_due_at)),
                "holder": schedule.and_then(|r| r.holder.clone()),
                "lease_expires_at": time(schedule.and_then(|r| r.lease_expires_at)),
                "waiting": schedule.and_then(|r| r.waiting_reason.clone()),
            })
        })
        .collect()
}

/// The status rows of the store.
pub async fn status(s: &AppState) -> Result<Vec<Value>, ApiError> {
    Ok(status_rows(&s.store.stream_status().await.map_err(ApiError::internal)?))
}

async fn status_json(State(s): State<AppState>) -> ApiResult {
    ok(status(&s).await?)
}

async fn runs_json(State(s): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult {
    let limit = Query::parse(raw.as_deref()).number("limit", 20, 1, 1_000)?;
    let runs = s.store.recent_runs(limit).await.map_err(ApiError::internal)?;
    let rows: Vec<Value> = runs
        .iter()
        .map(|r| {
            json!({
                "run_id": r.run_id,
                "connection": r.connection,
                "stream": r.stream,
                "status": r.status.as_str(),
                "started_at": time(Some(r.started_at)),
                "finished_at": time(r.finished_at),
                "pages": r.pages,
                "records": r.records,
                "quarantined": r.quarantined,
                "error": r.error,
            })
        })
        .collect();
    ok(rows)
}

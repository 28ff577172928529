//! Computing a metric over the store: a window in a time zone, optional day/week/month buckets,
//! filters, the previous period for comparison, and the choice between the SQL path and the
//! reference path.

use engage_model::EntityKind;
use engage_store::{AggregateQuery, Measure, ReadFilter, Store, StoreError};
use serde::Serialize;

use crate::catalog::{Metric, Unit};
use crate::data::{Filters, Rows};
use crate::reference::{Ctx, Outcome, Params};
use crate::sql;
use crate::window::{Bucket, Grain, Period, Window};

/// Errors computing metrics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No metric has this name.
    #[error("unknown metric `{0}`: `engage metrics list` names them all")]
    UnknownMetric(String),
}

/// Which implementation computes the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Path {
    /// SQL where the metric has a SQL path, else the reference.
    Auto,
    /// Always the plain-Rust reference over rows read from the store.
    Reference,
}

/// What to compute.
#[derive(Debug, Clone)]
pub struct Request {
    /// The metric.
    pub metric: &'static Metric,
    /// The window and its time zone.
    pub window: Window,
    /// Buckets, or `None` for the whole window only.
    pub grain: Option<Grain>,
    /// Filters.
    pub filters: Filters,
    /// Variants.
    pub params: Params,
    /// Also compute the previous period of the same length.
    pub compare: bool,
    /// Implementation choice.
    pub path: Path,
}

/// A metric's value over one bucket (or the whole window).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// Bucket label.
    pub bucket: String,
    /// The bucket's instants.
    pub period: Period,
    /// The result.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A computed metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Metric name.
    pub metric: &'static str,
    /// Unit.
    pub unit: Unit,
    /// Variant computed.
    pub variant: &'static str,
    /// Time zone of the window.
    pub tz: String,
    /// `sql` or `reference`.
    pub computed_by: &'static str,
    /// The whole window.
    pub total: Point,
    /// Buckets, when grouped.
    pub buckets: Vec<Point>,
    /// The previous period of the same length, when asked.
    pub previous: Option<Point>,
    /// total − previous, when both have a value.
    pub change: Option<f64>,
}

/// Computes a metric over the store.
pub async fn compute(store: &Store, req: &Request) -> Result<Report, MetricsError> {
    let window_bucket = req.window.buckets(None).remove(0);
    let buckets = match req.grain {
        Some(g) => req.window.buckets(Some(g)),
        None => Vec::new(),
    };
    let prev_bucket = req.compare.then(|| req.window.previous().buckets(None).remove(0));
    let sql_path = match req.path {
        Path::Auto => sql::path(req.metric.name, &req.params, &req.filters),
        Path::Reference => None,
    };
    let (computed_by, total, points, previous) = if let Some(path) = sql_path {
        let total = sql_points(store, &path, &req.filters, std::slice::from_ref(&window_bucket)).await?;
        let points = if buckets.is_empty() {
            Vec::new()
        } else {
            sql_points(store, &path, &req.filters, &buckets).await?
        };
        let previous = match &prev_bucket {
            Some(b) => sql_points(store, &path, &req.filters, std::slice::from_ref(b)).await?.pop(),
            None => None,
        };
        ("sql", total.into_iter().next(), points, previous)
    } else {
        let earliest = prev_bucket.as_ref().map_or(window_bucket.period.from, |b| b.period.from);
        let rows = load(store, req.metric, &req.filters, earliest, window_bucket.period.to).await?;
        let ctx = |p: Period| Ctx { period: p, tz: req.window.tz, params: &req.params };
        let point = |b: &Bucket| Point {
            bucket: b.label.clone(),
            period: b.period,
            outcome: (req.metric.compute)(&rows, ctx(b.period)),
        };
        let total = point(&window_bucket);
        let points = buckets.iter().map(point).collect();
        let previous = prev_bucket.as_ref().map(point);
        ("reference", Some(total), points, previous)
    };
    let total = total.unwrap_or_else(|| Point {
        bucket: window_bucket.label.clone(),
        period: window_bucket.period,
        outcome: Outcome { value: None, n: 0, details: Vec::new() },
    });
    let change = previous.as_ref().and_then(|p| Some(total.outcome.value? - p.outcome.value?));
    Ok(Report {
        metric: req.metric.name,
        unit: req.metric.unit,
        variant: req.metric.variant,
        tz: req.window.tz.name().to_owned(),
        computed_by,
        total,
        buckets: points,
        previous,
        change,
    })
}

/// Reads the rows a metric needs: its tables, filtered, up to `to`; from `from` on unless the
/// metric looks at history or attributes tickets by their solve time.
pub async fn load(
    store: &Store,
    metric: &Metric,
    filters: &Filters,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> Result<Rows, MetricsError> {
    let mut rows = Rows::default();
    for kind in metric.reads {
        let unbounded = metric.history || *kind == EntityKind::Ticket;
        let filter = ReadFilter {
            from: (!unbounded).then_some(from),
            to: Some(to),
            connections: filters.connections.clone(),
            ..ReadFilter::default()
        };
        rows.extend(store.read_entities(*kind, &filter).await?);
    }
    Ok(rows.filtered(filters))
}

async fn sql_points(
    store: &Store,
    path: &sql::SqlPath,
    filters: &Filters,
    buckets: &[Bucket],
) -> Result<Vec<Point>, MetricsError> {
    let mut bounds: Vec<_> = buckets.iter().map(|b| b.period.from).collect();
    if let Some(last) = buckets.last() {
        bounds.push(last.period.to);
    }
    let q = AggregateQuery {
        kind: path.kind,
        filter: ReadFilter {
            from: bounds.first().copied(),
            to: bounds.last().copied(),
            time_column: Some(path.time_column),
            connections: filters.connections.clone(),
            ..ReadFilter::default()
        },
        conditions: path.conditions.clone(),
        buckets: if bounds.len() > 2 { bounds } else { Vec::new() },
        measures: path.measures.clone(),
    };
    let rows = store.aggregate(&q).await?;
    let empty: Vec<Option<f64>> =
        path.measures.iter().map(|m| if matches!(m, Measure::Sum(..)) { None } else { Some(0.0) }).collect();
    Ok(buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let values = rows.iter().find(|r| r.bucket == i).map_or(&empty, |r| &r.values);
            Point { bucket: b.label.clone(), period: b.period, outcome: (path.finish)(values, b.period) }
        })
        .collect())
}

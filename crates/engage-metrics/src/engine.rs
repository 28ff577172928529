//! Computing a metric over the store: a window in a time zone, optional day/week/month buckets,
//! filters, the previous period for comparison, and the choice between the SQL path and the
//! reference path.

use chrono::{DateTime, Utc};
use engage_model::EntityKind;
use engage_store::{AggregateQuery, Cond, CustomerQuery, Measure, ReadFilter, Store, StoreError};
use serde::Serialize;

use crate::catalog::{Metric, Unit};
use crate::data::{Filters, Rows};
use crate::reference::{Ctx, Outcome, Params, local_days};
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
    // Every period asked for: the window, its buckets, then the previous period.
    let mut periods: Vec<&Bucket> = vec![&window_bucket];
    periods.extend(&buckets);
    periods.extend(&prev_bucket);
    let auto = req.path == Path::Auto;
    let sql_path = auto.then(|| sql::path(req.metric.name, &req.params, &req.filters)).flatten();
    let customer_path =
        auto.then(|| sql::customer_path(req.metric.name, &req.params, &req.filters)).flatten();
    let (computed_by, mut outcomes) = if let Some(path) = sql_path {
        ("sql", sql_outcomes(store, &path, &req.filters, &periods).await?)
    } else if let Some(path) = customer_path {
        ("sql", customer_outcomes(store, &path, req, &periods).await?)
    } else {
        let earliest = prev_bucket.as_ref().map_or(window_bucket.period.from, |b| b.period.from);
        let rows = load(store, req.metric, &req.filters, earliest, window_bucket.period.to).await?;
        let ctx = |p: Period| Ctx { period: p, tz: req.window.tz, params: &req.params };
        ("reference", periods.iter().map(|b| (req.metric.compute)(&rows, ctx(b.period))).collect())
    };
    let mut points: Vec<Point> = periods
        .iter()
        .zip(outcomes.drain(..))
        .map(|(b, outcome)| Point { bucket: b.label.clone(), period: b.period, outcome })
        .collect();
    let previous = if prev_bucket.is_some() { points.pop() } else { None };
    let total = points.remove(0);
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

/// The sorted distinct boundaries of `periods` (slice i is `[b[i], b[i + 1])`), and each
/// period as a range of slices.
fn slices(periods: &[&Bucket], extra: &[DateTime<Utc>]) -> (Vec<DateTime<Utc>>, Vec<(usize, usize)>) {
    let mut bounds: Vec<DateTime<Utc>> =
        periods.iter().flat_map(|b| [b.period.from, b.period.to]).chain(extra.iter().copied()).collect();
    bounds.sort();
    bounds.dedup();
    let index = |t: DateTime<Utc>| bounds.binary_search(&t).unwrap_or(0);
    let ranges = periods.iter().map(|b| (index(b.period.from), index(b.period.to))).collect();
    (bounds, ranges)
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

/// A SQL path's outcome for each period. Counts and sums add up, so one query over the
/// slices between all the periods' boundaries serves every period (the window, its buckets
/// and the previous period, which adjoins it); a path with a distinct count queries each period.
async fn sql_outcomes(
    store: &Store,
    path: &sql::SqlPath,
    filters: &Filters,
    periods: &[&Bucket],
) -> Result<Vec<Outcome>, MetricsError> {
    let additive = path.measures.iter().all(|m| matches!(m, Measure::Count(_) | Measure::Sum(..)));
    if !additive {
        let mut out = Vec::new();
        for b in periods {
            let (bounds, ranges) = slices(std::slice::from_ref(b), &[]);
            let values = sql_slices(store, path, filters, &bounds).await?;
            out.extend(ranges.iter().map(|r| (path.finish)(&sum_slices(path, &values, *r), b.period)));
        }
        return Ok(out);
    }
    let (bounds, ranges) = slices(periods, &[]);
    let values = sql_slices(store, path, filters, &bounds).await?;
    Ok(periods
        .iter()
        .zip(ranges)
        .map(|(b, r)| (path.finish)(&sum_slices(path, &values, r), b.period))
        .collect())
}

/// The measures of each slice between `bounds` (`None` for a slice without rows).
async fn sql_slices(
    store: &Store,
    path: &sql::SqlPath,
    filters: &Filters,
    bounds: &[DateTime<Utc>],
) -> Result<Vec<Option<Vec<Option<f64>>>>, MetricsError> {
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
        buckets: if bounds.len() > 2 { bounds.to_vec() } else { Vec::new() },
        measures: path.measures.clone(),
    };
    let mut out = vec![None; bounds.len().saturating_sub(1)];
    for row in store.aggregate(&q).await? {
        if let Some(slot) = out.get_mut(row.bucket) {
            *slot = Some(row.values);
        }
    }
    Ok(out)
}

/// The measures over slices `a..b`: counts add (0 over no rows), sums add (`None` over no
/// values).
fn sum_slices(
    path: &sql::SqlPath,
    values: &[Option<Vec<Option<f64>>>],
    (a, b): (usize, usize),
) -> Vec<Option<f64>> {
    let mut total: Vec<Option<f64>> =
        path.measures.iter().map(|m| if matches!(m, Measure::Sum(..)) { None } else { Some(0.0) }).collect();
    for row in values.get(a..b).unwrap_or_default().iter().flatten() {
        for (t, v) in total.iter_mut().zip(row) {
            if let Some(v) = v {
                *t = Some(t.unwrap_or(0.0) + v);
            }
        }
    }
    total
}

/// A customer path's outcome for each period: one count over the slices (local days when the
/// metric needs them), plus one order count when it reads orders.
async fn customer_outcomes(
    store: &Store,
    path: &sql::CustomerPath,
    req: &Request,
    periods: &[&Bucket],
) -> Result<Vec<Outcome>, MetricsError> {
    let tz = req.window.tz;
    let days: Vec<DateTime<Utc>> = if path.daily {
        let first = if req.compare { req.window.previous().from } else { req.window.from };
        Window { from: first, to: req.window.to, tz }
            .buckets(Some(Grain::Day))
            .iter()
            .map(|b| b.period.from)
            .collect()
    } else {
        Vec::new()
    };
    let (bounds, ranges) = slices(periods, &days);
    let q = CustomerQuery {
        filter: ReadFilter { connections: req.filters.connections.clone(), ..ReadFilter::default() },
        conditions: path.conditions.clone(),
        marked: path.marked.clone(),
        slices: bounds.clone(),
        periods: ranges.clone(),
    };
    let counts = store.count_customers(&q).await?;
    let orders = if path.orders {
        let count_orders = sql::SqlPath {
            kind: EntityKind::Order,
            time_column: "created_at",
            conditions: vec![Cond::IsNull("cancelled_at")],
            measures: vec![Measure::Count(None)],
            finish: |_, _| Outcome { value: None, n: 0, details: Vec::new() },
        };
        let values = sql_slices(store, &count_orders, &req.filters, &bounds).await?;
        ranges.iter().map(|r| sum_slices(&count_orders, &values, *r)[0].unwrap_or(0.0) as u64).collect()
    } else {
        vec![0; periods.len()]
    };
    Ok(periods
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let (a, z) = ranges[i];
            let figures = sql::CustomerFigures {
                customers: counts.per_period[i],
                marked: counts.marked_per_period[i],
                daily_customers: counts.per_slice[a..z].iter().sum(),
                days: local_days(b.period, tz),
                orders: orders[i],
            };
            (path.finish)(&figures)
        })
        .collect())
}

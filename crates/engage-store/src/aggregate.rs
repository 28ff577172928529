//! Aggregation in the database: counts and sums of an entity table over time buckets, built
//! from a small typed vocabulary so the same query runs on SQLite and PostgreSQL. Metrics
//! compose their SQL paths from it.

use engage_model::{EntityKind, Timestamp};
use futures::TryStreamExt;
use sqlx::Row;

use crate::read::{
    Bind, ReadFilter, Ty, bind_postgres, bind_sqlite, columns_of, default_time_column, number_placeholders,
    where_clause,
};
use crate::{Pool, Result, Store, StoreError};

/// A literal compared with a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    /// Text (bound as a parameter).
    Text(String),
    /// A number.
    Num(f64),
}

/// A row condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `column = literal`.
    Eq(&'static str, Lit),
    /// `column IN (literals)`; false when empty.
    In(&'static str, Vec<Lit>),
    /// `column >= number`.
    Ge(&'static str, f64),
    /// `column <= number`.
    Le(&'static str, f64),
    /// `column IS NULL`.
    IsNull(&'static str),
    /// `column IS NOT NULL`.
    NotNull(&'static str),
    /// A text column holds something other than blanks.
    NotBlank(&'static str),
    /// A boolean column is true.
    True(&'static str),
    /// A boolean column is false.
    False(&'static str),
    /// The number in `column` is a whole number.
    Whole(&'static str),
    /// The number in `column` is finite (not NULL, NaN or infinite).
    Finite(&'static str),
    /// `column_a >= column_b` (both non-NULL).
    ColumnGe(&'static str, &'static str),
    /// All of these.
    And(Vec<Cond>),
    /// Any of these.
    Or(Vec<Cond>),
}

/// A number computed per row.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A numeric column (money included, as a double).
    Col(&'static str),
    /// `a − b`.
    Minus(&'static str, &'static str),
}

/// An aggregate over the rows of a bucket.
#[derive(Debug, Clone, PartialEq)]
pub enum Measure {
    /// Rows (meeting the condition).
    Count(Option<Cond>),
    /// Σ expr over rows meeting the condition where expr is not NULL; `None` when there are none.
    Sum(Expr, Option<Cond>),
    /// Distinct non-NULL values of a text column over rows meeting the condition.
    CountDistinct(&'static str, Option<Cond>),
}

/// An aggregation over one entity table.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateQuery {
    /// The table.
    pub kind: EntityKind,
    /// Connections, deleted rows, and the time column (its `from`/`to` apply when `buckets` is
    /// empty).
    pub filter: ReadFilter,
    /// Further conditions every row must meet.
    pub conditions: Vec<Cond>,
    /// Bucket boundaries b₀ < b₁ < … < bₙ on the time column: bucket i is [bᵢ, bᵢ₊₁). Empty:
    /// one bucket, the filter's range.
    pub buckets: Vec<Timestamp>,
    /// What to compute per bucket.
    pub measures: Vec<Measure>,
}

/// One bucket's results, in the order of the measures. Buckets without rows are absent.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateRow {
    /// Bucket index (0 when there are no bucket boundaries).
    pub bucket: usize,
    /// Measure values; counts are whole numbers.
    pub values: Vec<Option<f64>>,
}

struct Sql<'a> {
    kind: EntityKind,
    postgres: bool,
    binds: &'a mut Vec<Bind>,
}

impl Sql<'_> {
    fn column(&self, name: &'static str) -> Result<(&'static str, Ty)> {
        columns_of(self.kind)
            .iter()
            .find(|(c, _)| *c == name)
            .copied()
            .or(match name {
                "connection" | "stream" | "source_id" => Some((name, Ty::Text)),
                _ => None,
            })
            .ok_or_else(|| StoreError::Record(format!("`{name}` is not a column of {}", self.kind.table())))
    }

    fn number(&self, name: &'static str) -> Result<String> {
        let (c, ty) = self.column(name)?;
        Ok(match (ty, self.postgres) {
            (Ty::Decimal, true) => format!("CAST({c} AS DOUBLE PRECISION)"),
            (Ty::Decimal, false) => format!("CAST({c} AS REAL)"),
            (Ty::Int | Ty::Real, _) => c.to_owned(),
            _ => return Err(StoreError::Record(format!("`{c}` is not numeric"))),
        })
    }

    fn lit(&mut self, lit: &Lit) -> String {
        match lit {
            Lit::Text(t) => {
                self.binds.push(Bind::Text(t.clone()));
                "?".to_owned()
            }
            Lit::Num(n) => format!("{n:?}"),
        }
    }

    fn cond(&mut self, cond: &Cond) -> Result<String> {
        Ok(match cond {
            Cond::Eq(c, lit) => {
                let (c, _) = self.column(c)?;
                format!("{c} = {}", self.lit(lit))
            }
            Cond::In(c, lits) => {
                let (c, _) = self.column(c)?;
                if lits.is_empty() {
                    return Ok("1 = 0".to_owned());
                }
                let items: Vec<String> = lits.iter().map(|l| self.lit(l)).collect();
                format!("{c} IN ({})", items.join(", "))
            }
            Cond::Ge(c, n) => format!("{} >= {n:?}", self.number(c)?),
            Cond::Le(c, n) => format!("{} <= {n:?}", self.number(c)?),
            Cond::IsNull(c) => format!("{} IS NULL", self.column(c)?.0),
            Cond::NotNull(c) => format!("{} IS NOT NULL", self.column(c)?.0),
            Cond::NotBlank(c) => {
                let (c, _) = self.column(c)?;
                format!("{c} IS NOT NULL AND TRIM({c}) <> ''")
            }
            Cond::True(c) => self.column(c)?.0.to_owned(),
            Cond::False(c) => format!("NOT {}", self.column(c)?.0),
            Cond::Whole(c) => {
                let n = self.number(c)?;
                format!("{n} = ROUND({n})")
            }
            Cond::Finite(c) => {
                let n = self.number(c)?;
                format!("{n} >= {:?} AND {n} <= {:?}", f64::MIN, f64::MAX)
            }
            Cond::ColumnGe(a, b) => {
                let (a, _) = self.column(a)?;
                let (b, _) = self.column(b)?;
                format!("{a} >= {b}")
            }
            Cond::And(items) | Cond::Or(items) => {
                if items.is_empty() {
                    return Ok(if matches!(cond, Cond::And(_)) { "1 = 1" } else { "1 = 0" }.to_owned());
                }
                let joiner = if matches!(cond, Cond::And(_)) { " AND " } else { " OR " };
                let parts = items
                    .iter()
                    .map(|c| self.cond(c).map(|s| format!("({s})")))
                    .collect::<Result<Vec<_>>>()?;
                parts.join(joiner)
            }
        })
    }

    fn expr(&self, e: &Expr) -> Result<String> {
        Ok(match e {
            Expr::Col(c) => self.number(c)?,
            Expr::Minus(a, b) => format!("({} - {})", self.number(a)?, self.number(b)?),
        })
    }

    fn measure(&mut self, m: &Measure) -> Result<String> {
        let when = |s: &mut Self, c: &Option<Cond>| c.as_ref().map(|c| s.cond(c)).transpose();
        let to_real = if self.postgres { "DOUBLE PRECISION" } else { "REAL" };
        Ok(match m {
            Measure::Count(None) => format!("CAST(COUNT(*) AS {to_real})"),
            Measure::Count(Some(c)) => {
                let c = self.cond(c)?;
                format!("CAST(COALESCE(SUM(CASE WHEN {c} THEN 1 ELSE 0 END), 0) AS {to_real})")
            }
            Measure::Sum(e, c) => {
                let e = self.expr(e)?;
                match when(self, c)? {
                    Some(c) => format!("CAST(SUM(CASE WHEN {c} THEN {e} END) AS {to_real})"),
                    None => format!("CAST(SUM({e}) AS {to_real})"),
                }
            }
            Measure::CountDistinct(col, c) => {
                let (col, _) = self.column(col)?;
                match when(self, c)? {
                    Some(c) => format!("CAST(COUNT(DISTINCT CASE WHEN {c} THEN {col} END) AS {to_real})"),
                    None => format!("CAST(COUNT(DISTINCT {col}) AS {to_real})"),
                }
            }
        })
    }
}

/// Builds the statement (with `?` placeholders) and its binds.
fn build(q: &AggregateQuery, postgres: bool) -> Result<(String, Vec<Bind>)> {
    let mut filter = q.filter.clone();
    if let (Some(first), Some(last)) = (q.buckets.first(), q.buckets.last()) {
        filter.from = Some(*first);
        filter.to = Some(*last);
    }
    let time = filter.time_column.unwrap_or(default_time_column(q.kind));
    // Measures come first in the SELECT list, so their binds precede the WHERE clause's.
    let mut binds = Vec::new();
    let mut select = Vec::new();
    let bucket_expr = if q.buckets.len() > 2 {
        let mut case = String::from("CASE");
        for (i, b) in q.buckets.iter().enumerate().skip(1).take(q.buckets.len() - 2) {
            binds.push(Bind::Time(*b));
            case.push_str(&format!(" WHEN {time} < ? THEN {}", i - 1));
        }
        case.push_str(&format!(" ELSE {} END", q.buckets.len() - 2));
        case
    } else {
        "0".to_owned()
    };
    select.push(format!("{bucket_expr} AS bucket"));
    let mut conds = Vec::new();
    {
        let mut sql = Sql { kind: q.kind, postgres, binds: &mut binds };
        for m in &q.measures {
            select.push(sql.measure(m)?);
        }
        for c in &q.conditions {
            conds.push(sql.cond(c)?);
        }
    }
    let (where_sql, where_binds) = where_clause(q.kind, &filter)?;
    // Condition binds were pushed after the measure binds; the WHERE clause's own binds come
    // before the extra conditions in the text, so order them the same way.
    let cond_binds = binds.split_off(binds.len() - count_binds(&q.conditions));
    binds.extend(where_binds);
    binds.extend(cond_binds);
    let mut where_all = where_sql;
    for c in conds {
        where_all.push_str(if where_all.is_empty() { " WHERE " } else { " AND " });
        where_all.push_str(&format!("({c})"));
    }
    let group = if q.buckets.len() > 2 { " GROUP BY 1" } else { "" };
    let sql = format!("SELECT {} FROM {}{where_all}{group}", select.join(", "), q.kind.table());
    Ok((sql, binds))
}

fn count_binds(conds: &[Cond]) -> usize {
    fn one(c: &Cond) -> usize {
        match c {
            Cond::Eq(_, Lit::Text(_)) => 1,
            Cond::In(_, lits) => lits.iter().filter(|l| matches!(l, Lit::Text(_))).count(),
            Cond::And(items) | Cond::Or(items) => items.iter().map(one).sum(),
            _ => 0,
        }
    }
    conds.iter().map(one).sum()
}

impl Store {
    /// Runs an aggregation in the database; one row per bucket that has rows. With no bucket
    /// boundaries there is exactly one row (COUNT is 0 and SUM is `None` over no rows).
    pub async fn aggregate(&self, q: &AggregateQuery) -> Result<Vec<AggregateRow>> {
        let n = q.measures.len();
        let rows: Vec<(usize, Vec<Option<f64>>)> = match &self.pool {
            Pool::Sqlite(pool) => {
                let (sql, binds) = build(q, false)?;
                let rows = bind_sqlite(sqlx::query(&sql), &binds).fetch_all(pool).await?;
                rows.iter()
                    .map(|r| {
                        use sqlx::Row;
                        let bucket: i64 = r.try_get(0)?;
                        let values =
                            (1..=n).map(|i| r.try_get::<Option<f64>, _>(i)).collect::<Result<_, _>>()?;
                        Ok((bucket as usize, values))
                    })
                    .collect::<Result<_>>()?
            }
            Pool::Postgres(pool) => {
                let (sql, binds) = build(q, true)?;
                let sql = number_placeholders(&sql);
                let rows = bind_postgres(sqlx::query(&sql), &binds).fetch_all(pool).await?;
                rows.iter()
                    .map(|r| {
                        use sqlx::Row;
                        let bucket: i32 = r.try_get(0)?;
                        let values =
                            (1..=n).map(|i| r.try_get::<Option<f64>, _>(i)).collect::<Result<_, _>>()?;
                        Ok((bucket as usize, values))
                    })
                    .collect::<Result<_>>()?
            }
        };
        let mut out: Vec<AggregateRow> =
            rows.into_iter().map(|(bucket, values)| AggregateRow { bucket, values }).collect();
        out.sort_by_key(|r| r.bucket);
        Ok(out)
    }
}

/// Distinct customers of interactions over periods, counted in the database.
///
/// A customer is keyed as the metrics' reference keys one: the connection and its customer id,
/// else the normalised email (`customer_email_normalized`); interactions with neither are left
/// out. The time column is `occurred_at`. Periods are made of whole slices, so one pass over
/// the slices' rows counts every period (and each slice on its own, e.g. each day).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerQuery {
    /// Connections and deleted rows; its time range is ignored (the slices give it).
    pub filter: ReadFilter,
    /// Conditions every interaction must meet.
    pub conditions: Vec<Cond>,
    /// Customers with an interaction meeting this are also counted apart (`marked`).
    pub marked: Option<Cond>,
    /// Slice boundaries s₀ < s₁ < … < sₙ on `occurred_at`: slice i is [sᵢ, sᵢ₊₁).
    pub slices: Vec<Timestamp>,
    /// Periods as slice index ranges `[a, b)`.
    pub periods: Vec<(usize, usize)>,
}

/// What a [`CustomerQuery`] counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerCounts {
    /// Distinct customers in each slice.
    pub per_slice: Vec<u64>,
    /// Distinct customers in each period.
    pub per_period: Vec<u64>,
    /// Distinct customers in each period with an interaction meeting `marked` there.
    pub marked_per_period: Vec<u64>,
}

/// The customer key of an interaction, exactly as `engage-metrics` builds it in Rust.
const CUSTOMER_KEY: &str =
    "COALESCE(connection || '/' || customer_source_id, 'email/' || customer_email_normalized)";

/// The parts of a customer count: the slices' `VALUES` rows, the marked condition and the
/// WHERE clause over `interactions` within slice `s`, with their binds.
struct CustomerParts {
    slices: String,
    /// The marked condition alone, when there is one.
    marked_cond: Option<String>,
    where_all: String,
    /// In text order: the slices', the marked condition's, then the WHERE clause's.
    binds: Vec<Bind>,
    slice_binds: usize,
    marked_binds: usize,
}

fn customer_parts(q: &CustomerQuery, postgres: bool) -> Result<CustomerParts> {
    let kind = EntityKind::Interaction;
    if q.slices.len() < 2 || q.slices.windows(2).any(|w| w[0] >= w[1]) {
        return Err(StoreError::Record("slice boundaries must be at least two, increasing".into()));
    }
    let n = q.slices.len() - 1;
    if q.periods.iter().any(|&(a, b)| a >= b || b > n) {
        return Err(StoreError::Record("a period is not a range of slices".into()));
    }
    let mut binds = Vec::new();
    let slices = (0..n)
        .map(|i| {
            binds.push(Bind::Time(q.slices[i]));
            binds.push(Bind::Time(q.slices[i + 1]));
            format!("({i}, ?, ?)")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut sql = Sql { kind, postgres, binds: &mut binds };
    let marked_cond = q.marked.as_ref().map(|c| sql.cond(c)).transpose()?;
    let marked_binds = sql.binds.len() - 2 * n;
    let conds = q.conditions.iter().map(|c| sql.cond(c)).collect::<Result<Vec<_>>>()?;
    let filter = ReadFilter { from: None, to: None, time_column: None, ..q.filter.clone() };
    let (where_sql, where_binds) = where_clause(kind, &filter)?;
    // The WHERE clause's binds precede the extra conditions' in the text.
    let cond_binds = binds.split_off(binds.len() - count_binds(&q.conditions));
    binds.extend(where_binds);
    binds.extend(cond_binds);
    let mut where_all = if where_sql.is_empty() { " WHERE 1 = 1".to_owned() } else { where_sql };
    where_all.push_str(" AND occurred_at >= s.lo AND occurred_at < s.hi");
    where_all.push_str(&format!(" AND {CUSTOMER_KEY} IS NOT NULL"));
    for c in conds {
        where_all.push_str(&format!(" AND ({c})"));
    }
    Ok(CustomerParts { slices, marked_cond, where_all, binds, slice_binds: 2 * n, marked_binds })
}

/// One row per slice: its index, the customer keys of its interactions as a JSON array, and the
/// keys of those meeting the marked condition (one index range per slice, no sorting).
fn build_customer_rows(q: &CustomerQuery, postgres: bool) -> Result<(String, Vec<Bind>)> {
    let CustomerParts { slices, marked_cond, where_all, binds, slice_binds, marked_binds, .. } =
        customer_parts(q, postgres)?;
    let array = if postgres {
        format!("COALESCE(json_agg({CUSTOMER_KEY})::text, '[]')")
    } else {
        format!("json_group_array({CUSTOMER_KEY})")
    };
    let keys = format!("SELECT {array} FROM interactions{where_all}");
    let (slice, rest) = binds.split_at(slice_binds);
    let (marked, filter) = rest.split_at(marked_binds);
    let mut ordered: Vec<Bind> = slice.iter().chain(filter).cloned().collect();
    let marked_keys = match marked_cond {
        Some(c) => {
            ordered.extend(filter.iter().cloned());
            ordered.extend(marked.iter().cloned());
            format!("({keys} AND ({c}))")
        }
        None => "'[]'".to_owned(),
    };
    let sql = format!("WITH s(i, lo, hi) AS (VALUES {slices}) SELECT s.i, ({keys}), {marked_keys} FROM s");
    Ok((sql, ordered))
}

/// Distinct customers per slice and per period from (slice, key, marked) rows, keys interned
/// to integers: a slice's distinct customers by sorting its ids, a period's by marking each id
/// with the last period that counted it.
#[derive(Default)]
struct CustomerFold {
    ids: std::collections::HashMap<String, u32>,
    per_slice: Vec<Vec<u32>>,
    marked_per_slice: Vec<Vec<u32>>,
}

impl CustomerFold {
    fn new(slices: usize) -> Self {
        CustomerFold {
            per_slice: vec![Vec::new(); slices],
            marked_per_slice: vec![Vec::new(); slices],
            ..Self::default()
        }
    }

    /// Adds a slice's row: its keys and its marked keys, as JSON arrays.
    fn add_row(&mut self, slice: i32, keys: &str, marked: &str) -> Result<()> {
        let parse = |text: &str| -> Result<Vec<std::borrow::Cow<'_, str>>> {
            serde_json::from_str(text).map_err(|e| StoreError::Record(format!("customer keys: {e}")))
        };
        for key in parse(keys)? {
            self.add(i64::from(slice), &key, false);
        }
        for key in parse(marked)? {
            self.add(i64::from(slice), &key, true);
        }
        Ok(())
    }

    /// Adds a customer of `slice`, or (`marked`) one of its customers meeting the marked condition.
    fn add(&mut self, slice: i64, key: &str, marked: bool) {
        let Some(slot) = usize::try_from(slice).ok().filter(|&i| i < self.per_slice.len()) else { return };
        let next = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        let id = match self.ids.get(key) {
            Some(&id) => id,
            None => *self.ids.entry(key.to_owned()).or_insert(next),
        };
        if marked {
            self.marked_per_slice[slot].push(id);
        } else {
            self.per_slice[slot].push(id);
        }
    }

    fn finish(mut self, periods: &[(usize, usize)]) -> CustomerCounts {
        for ids in self.per_slice.iter_mut().chain(self.marked_per_slice.iter_mut()) {
            ids.sort_unstable();
            ids.dedup();
        }
        let count = |by_slice: &[Vec<u32>], seen: &mut [u32], period: u32, (a, b): (usize, usize)| {
            let mut n = 0;
            for ids in &by_slice[a..b] {
                for &id in ids {
                    if seen[id as usize] != period {
                        seen[id as usize] = period;
                        n += 1;
                    }
                }
            }
            n
        };
        let mut seen = vec![u32::MAX; self.ids.len()];
        let mut seen_marked = vec![u32::MAX; self.ids.len()];
        let mut out = CustomerCounts {
            per_slice: self.per_slice.iter().map(|ids| ids.len() as u64).collect(),
            ..CustomerCounts::default()
        };
        for (p, &range) in periods.iter().enumerate() {
            let p = u32::try_from(p).unwrap_or(u32::MAX - 1);
            out.per_period.push(count(&self.per_slice, &mut seen, p, range));
            out.marked_per_period.push(count(&self.marked_per_slice, &mut seen_marked, p, range));
        }
        out
    }
}

impl Store {
    /// Counts distinct customers of interactions per slice and per period in one pass.
    pub async fn count_customers(&self, q: &CustomerQuery) -> Result<CustomerCounts> {
        // DISTINCT over text keys sorts or hashes every (slice, key) pair again for each period;
        // reading each slice's keys as one JSON array and counting with interned integer keys is
        // several times faster on both backends.
        let slices = q.slices.len().saturating_sub(1);
        let fold = match &self.pool {
            Pool::Sqlite(pool) => {
                let (sql, binds) = build_customer_rows(q, false)?;
                let mut rows = bind_sqlite(sqlx::query(&sql), &binds).fetch(pool);
                let mut fold = CustomerFold::new(slices);
                while let Some(row) = rows.try_next().await? {
                    fold.add_row(row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)?;
                }
                fold
            }
            Pool::Postgres(pool) => {
                let (sql, binds) = build_customer_rows(q, true)?;
                let sql = number_placeholders(&sql);
                let mut rows = bind_postgres(sqlx::query(&sql), &binds).fetch(pool);
                let mut fold = CustomerFold::new(slices);
                while let Some(row) = rows.try_next().await? {
                    fold.add_row(row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)?;
                }
                fold
            }
        };
        Ok(fold.finish(&q.periods))
    }
}

//! The PostgreSQL write path: one `INSERT ... SELECT FROM UNNEST(arrays)` upsert per entity kind
//! per page, inside one transaction.

use chrono::{DateTime, Utc};
use engage_model::{EntityKind, Record};
use rust_decimal::Decimal;
use sqlx::PgPool;
use sqlx::postgres::Postgres;
use sqlx::types::Json;

use crate::columns::{Value, entity_columns};
use crate::{CommitStats, PageWrite, Result, fingerprint};

/// One column of a page, as a typed array.
enum Column {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Real(Vec<Option<f64>>),
    Bool(Vec<bool>),
    Time(Vec<Option<DateTime<Utc>>>),
    Decimal(Vec<Decimal>),
}

impl Column {
    fn for_value(value: &Value, capacity: usize) -> Column {
        match value {
            Value::Text(_) => Column::Text(Vec::with_capacity(capacity)),
            Value::Int(_) => Column::Int(Vec::with_capacity(capacity)),
            Value::Real(_) => Column::Real(Vec::with_capacity(capacity)),
            Value::Bool(_) => Column::Bool(Vec::with_capacity(capacity)),
            Value::Time(_) => Column::Time(Vec::with_capacity(capacity)),
            Value::Decimal(_) => Column::Decimal(Vec::with_capacity(capacity)),
        }
    }

    fn push(&mut self, value: Value) {
        match (self, value) {
            (Column::Text(c), Value::Text(v)) => c.push(v.map(|t| without_nul(t.into_owned()))),
            (Column::Int(c), Value::Int(v)) => c.push(v),
            (Column::Real(c), Value::Real(v)) => c.push(v),
            (Column::Bool(c), Value::Bool(v)) => c.push(v),
            (Column::Time(c), Value::Time(v)) => c.push(v),
            (Column::Decimal(c), Value::Decimal(v)) => c.push(v),
            _ => unreachable!("entity_columns yields the same types for every record of a kind"),
        }
    }

    fn sql_type(&self) -> &'static str {
        match self {
            Column::Text(_) => "text[]",
            Column::Int(_) => "bigint[]",
            Column::Real(_) => "float8[]",
            Column::Bool(_) => "bool[]",
            Column::Time(_) => "timestamptz[]",
            Column::Decimal(_) => "numeric[]",
        }
    }
}

/// PostgreSQL text cannot hold NUL characters; they become U+FFFD (the raw payload keeps the
/// original as a JSON escape).
fn without_nul(text: String) -> String {
    if text.contains('\0') { text.replace('\0', "\u{FFFD}") } else { text }
}

/// `jsonb` rejects the `\u0000` escape; it becomes `\ufffd`.
fn jsonb_safe(raw: &str) -> String {
    if raw.contains("\\u0000") { raw.replace("\\u0000", "\\ufffd") } else { raw.to_owned() }
}

pub(crate) async fn commit_page(
    pool: &PgPool,
    connection: &str,
    stream: &str,
    groups: &[(EntityKind, Vec<&Record>)],
    page: &PageWrite<'_>,
    now: DateTime<Utc>,
) -> Result<CommitStats> {
    let mut stats = CommitStats::default();
    let mut tx = pool.begin().await?;
    for (kind, records) in groups {
        let mut upserts: Vec<&Record> = Vec::with_capacity(records.len());
        for record in records {
            if !record.tombstone {
                upserts.push(record);
                continue;
            }
            // A deletion without content: mark the stored row, keep what it says.
            let table = kind.table();
            let key = "connection = $1 AND stream = $2 AND source_id = $3";
            let source_id = without_nul(record.source_id.clone());
            let marked = sqlx::query(&format!(
                "UPDATE {table} SET deleted_at = $4, last_seen_at = $5 WHERE {key} AND deleted_at IS NULL"
            ))
            .bind(connection)
            .bind(stream)
            .bind(&source_id)
            .bind(record.deleted_at)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            stats.written += marked;
            let stored: Option<i32> = sqlx::query_scalar(&format!("SELECT 1 FROM {table} WHERE {key}"))
                .bind(connection)
                .bind(stream)
                .bind(&source_id)
                .fetch_optional(&mut *tx)
                .await?;
            if stored.is_none() {
                upserts.push(record);
            }
        }
        let records = &upserts;
        if records.is_empty() {
            continue;
        }
        let n = records.len();
        let mut names: Vec<&'static str> = Vec::new();
        let mut columns: Vec<Column> = Vec::new();
        let mut source_ids = Vec::with_capacity(n);
        let mut raws = Vec::with_capacity(n);
        let mut deleted = Vec::with_capacity(n);
        for record in records {
            let values = entity_columns(&record.entity);
            if columns.is_empty() {
                names = values.iter().map(|(name, _)| *name).collect();
                columns = values.iter().map(|(_, v)| Column::for_value(v, n)).collect();
            }
            for (column, (_, value)) in columns.iter_mut().zip(values) {
                column.push(value);
            }
            source_ids.push(without_nul(record.source_id.clone()));
            raws.push(jsonb_safe(record.raw.get()));
            deleted.push(record.deleted_at);
        }
        let sql = upsert_sql(kind.table(), &names, &columns);
        let mut query =
            sqlx::query::<Postgres>(&sql).bind(connection).bind(stream).bind(now).bind(source_ids);
        for column in columns {
            query = match column {
                Column::Text(v) => query.bind(v),
                Column::Int(v) => query.bind(v),
                Column::Real(v) => query.bind(v),
                Column::Bool(v) => query.bind(v),
                Column::Time(v) => query.bind(v),
                Column::Decimal(v) => query.bind(v),
            };
        }
        query = query.bind(raws).bind(deleted);
        stats.written += query.execute(&mut *tx).await?.rows_affected();
    }
    crate::customers::write_refs_postgres(&mut tx, connection, groups, now).await?;
    for q in page.quarantined {
        sqlx::query(
            "INSERT INTO quarantine (connection, stream, fingerprint, source_id, raw, reason, run_id, quarantined_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (connection, stream, fingerprint) DO UPDATE SET raw = excluded.raw, \
             reason = excluded.reason, run_id = excluded.run_id, quarantined_at = excluded.quarantined_at",
        )
        .bind(connection)
        .bind(stream)
        .bind(fingerprint(q))
        .bind(q.source_id.clone().map(without_nul))
        .bind(without_nul(q.raw.clone()))
        .bind(without_nul(q.reason.clone()))
        .bind(page.run_id.map(|r| r.0))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        stats.quarantined += 1;
    }
    if let Some(checkpoint) = page.checkpoint {
        sqlx::query(
            "INSERT INTO checkpoints (connection, stream, checkpoint, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (connection, stream) DO UPDATE SET checkpoint = excluded.checkpoint, updated_at = excluded.updated_at",
        )
        .bind(connection)
        .bind(stream)
        .bind(Json(checkpoint))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(stats)
}

/// `INSERT ... SELECT ... FROM UNNEST($5::text[], ...) ON CONFLICT DO UPDATE ... WHERE <differs>`.
/// Parameters: $1 connection, $2 stream, $3 now, $4 source ids, then one array per column, then
/// raw payloads and deletion times.
fn upsert_sql(table: &str, names: &[&str], columns: &[Column]) -> String {
    let mut arrays = vec!["$4::text[]".to_owned()];
    let mut param = 5;
    for column in columns {
        arrays.push(format!("${param}::{}", column.sql_type()));
        param += 1;
    }
    arrays.push(format!("${param}::text[]"));
    arrays.push(format!("${}::timestamptz[]", param + 1));
    let aliases: Vec<&str> =
        ["source_id"].into_iter().chain(names.iter().copied()).chain(["raw", "deleted_at"]).collect();
    let selected: Vec<String> = names.iter().map(|n| format!("u.{n}")).collect();
    let compared: Vec<&str> = names.iter().copied().chain(["raw", "deleted_at"]).collect();
    let set: Vec<String> =
        compared.iter().chain(&["last_seen_at"]).map(|c| format!("{c} = excluded.{c}")).collect();
    let old: Vec<String> = compared.iter().map(|c| format!("{table}.{c}")).collect();
    let new: Vec<String> = compared.iter().map(|c| format!("excluded.{c}")).collect();
    format!(
        "INSERT INTO {table} (connection, stream, source_id, {names}, raw, first_seen_at, last_seen_at, deleted_at) \
         SELECT $1, $2, u.source_id, {selected}, u.raw::jsonb, $3, $3, u.deleted_at \
         FROM UNNEST({arrays}) AS u({aliases}) \
         ON CONFLICT (connection, stream, source_id) DO UPDATE SET {set} \
         WHERE ({old}) IS DISTINCT FROM ({new})",
        names = names.join(", "),
        selected = selected.join(", "),
        arrays = arrays.join(", "),
        aliases = aliases.join(", "),
        set = set.join(", "),
        old = old.join(", "),
        new = new.join(", "),
    )
}

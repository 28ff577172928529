//! The SQLite write path: multi-row upserts inside one transaction.

use chrono::{DateTime, Utc};
use engage_model::{EntityKind, Record};
use sqlx::SqlitePool;
use sqlx::sqlite::Sqlite;

use crate::columns::{Value, entity_columns, sqlite_time};
use crate::{CommitStats, PageWrite, Result, fingerprint};

/// SQLite allows at most 32,766 bound parameters per statement.
const MAX_PARAMS: usize = 32_000;

pub(crate) async fn commit_page(
    pool: &SqlitePool,
    connection: &str,
    stream: &str,
    groups: &[(EntityKind, Vec<&Record>)],
    page: &PageWrite<'_>,
    now: DateTime<Utc>,
) -> Result<CommitStats> {
    let now_text = sqlite_time(&now);
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
            let key = "connection = ? AND stream = ? AND source_id = ?";
            let marked = sqlx::query(&format!(
                "UPDATE {table} SET deleted_at = ?, last_seen_at = ? WHERE {key} AND deleted_at IS NULL"
            ))
            .bind(record.deleted_at.as_ref().map(sqlite_time))
            .bind(now_text.as_str())
            .bind(connection)
            .bind(stream)
            .bind(record.source_id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            stats.written += marked;
            let stored: Option<i64> = sqlx::query_scalar(&format!("SELECT 1 FROM {table} WHERE {key}"))
                .bind(connection)
                .bind(stream)
                .bind(record.source_id.as_str())
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
        let rows: Vec<Vec<(&'static str, Value)>> =
            records.iter().map(|r| entity_columns(&r.entity)).collect();
        let names: Vec<&str> = rows[0].iter().map(|(name, _)| *name).collect();
        let per_row = names.len() + 7;
        let chunk_rows = (MAX_PARAMS / per_row).max(1);
        for (chunk_index, chunk) in rows.chunks(chunk_rows).enumerate() {
            let start = chunk_index * chunk_rows;
            let sql = upsert_sql(kind.table(), &names, chunk.len());
            let mut query = sqlx::query::<Sqlite>(&sql);
            for (offset, values) in chunk.iter().enumerate() {
                let record = records[start + offset];
                query = query.bind(connection).bind(stream).bind(record.source_id.as_str());
                for (_, value) in values {
                    query = match value {
                        Value::Text(v) => query.bind(v.as_deref()),
                        Value::Int(v) => query.bind(*v),
                        Value::Real(v) => query.bind(*v),
                        Value::Bool(v) => query.bind(*v),
                        Value::Time(v) => query.bind(v.as_ref().map(sqlite_time)),
                        Value::Decimal(v) => query.bind(v.to_string()),
                    };
                }
                query = query
                    .bind(record.raw.get())
                    .bind(now_text.as_str())
                    .bind(now_text.as_str())
                    .bind(record.deleted_at.as_ref().map(sqlite_time));
            }
            stats.written += query.execute(&mut *tx).await?.rows_affected();
        }
    }
    crate::customers::write_refs_sqlite(&mut tx, connection, groups, &now_text).await?;
    for q in page.quarantined {
        sqlx::query(
            "INSERT INTO quarantine (connection, stream, fingerprint, source_id, raw, reason, run_id, quarantined_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (connection, stream, fingerprint) DO UPDATE SET raw = excluded.raw, \
             reason = excluded.reason, run_id = excluded.run_id, quarantined_at = excluded.quarantined_at",
        )
        .bind(connection)
        .bind(stream)
        .bind(fingerprint(q))
        .bind(q.source_id.as_deref())
        .bind(q.raw.as_str())
        .bind(q.reason.as_str())
        .bind(page.run_id.map(|r| r.0))
        .bind(now_text.as_str())
        .execute(&mut *tx)
        .await?;
        stats.quarantined += 1;
    }
    if let Some(checkpoint) = page.checkpoint {
        sqlx::query(
            "INSERT INTO checkpoints (connection, stream, checkpoint, updated_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (connection, stream) DO UPDATE SET checkpoint = excluded.checkpoint, updated_at = excluded.updated_at",
        )
        .bind(connection)
        .bind(stream)
        .bind(checkpoint.to_string())
        .bind(now_text.as_str())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(stats)
}

/// `INSERT ... VALUES (...), (...) ON CONFLICT DO UPDATE ... WHERE <something differs>`.
fn upsert_sql(table: &str, names: &[&str], rows: usize) -> String {
    let mut all = vec!["connection", "stream", "source_id"];
    all.extend_from_slice(names);
    all.extend_from_slice(&["raw", "first_seen_at", "last_seen_at", "deleted_at"]);
    let placeholders = format!("({})", vec!["?"; all.len()].join(", "));
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", all.join(", "));
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&placeholders);
    }
    let compared: Vec<&str> = names.iter().copied().chain(["raw", "deleted_at"]).collect();
    let set: Vec<String> =
        compared.iter().chain(&["last_seen_at"]).map(|c| format!("{c} = excluded.{c}")).collect();
    let differs: Vec<String> = compared.iter().map(|c| format!("{table}.{c} IS NOT excluded.{c}")).collect();
    sql.push_str(&format!(
        " ON CONFLICT (connection, stream, source_id) DO UPDATE SET {} WHERE {}",
        set.join(", "),
        differs.join(" OR ")
    ));
    sql
}

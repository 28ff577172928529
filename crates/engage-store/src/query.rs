//! `engage query`: user SQL on a read-only connection.
//!
//! SQLite is opened read-only with `query_only` on; PostgreSQL runs the statement alone (the
//! extended protocol refuses several statements) inside a `READ ONLY` transaction that is rolled
//! back. Either way the database itself refuses any write, whatever the statement looks like.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value as Json;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{Column, Connection, Executor, Row, TypeInfo, ValueRef};

use crate::columns::sqlite_time;
use crate::{Backend, Result, StoreError, redact_url};

/// Rows returned by a read-only query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryResult {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Rows of JSON values (numbers, text, booleans, null; timestamps as RFC 3339 text).
    pub rows: Vec<Vec<Json>>,
}

/// Runs one user statement against the store at `url` without any possibility of writing.
pub async fn query_read_only(url: &str, sql: &str) -> Result<QueryResult> {
    let open_err = |source| StoreError::Open { url: redact_url(url), source };
    match Backend::of_url(url)? {
        Backend::Sqlite => {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(open_err)?
                .read_only(true)
                .create_if_missing(false)
                .pragma("query_only", "ON");
            let mut conn = SqliteConnection::connect_with(&options).await.map_err(open_err)?;
            let rows = sqlx::query(sql).fetch_all(&mut conn).await.map_err(refusal)?;
            let columns = match rows.first() {
                Some(row) => row.columns().iter().map(|c| c.name().to_owned()).collect(),
                None => describe_columns(&mut conn, sql).await?,
            };
            let rows = rows.iter().map(sqlite_row).collect::<Result<_>>()?;
            conn.close().await.ok();
            Ok(QueryResult { columns, rows })
        }
        Backend::Postgres => {
            let options = PgConnectOptions::from_str(url).map_err(open_err)?;
            let mut conn = PgConnection::connect_with(&options).await.map_err(open_err)?;
            let mut tx = conn.begin().await?;
            sqlx::query("SET TRANSACTION READ ONLY").execute(&mut *tx).await?;
            sqlx::query("SELECT 1").execute(&mut *tx).await?;
            let rows = sqlx::query(sql).fetch_all(&mut *tx).await.map_err(refusal)?;
            let columns = match rows.first() {
                Some(row) => row.columns().iter().map(|c| c.name().to_owned()).collect(),
                None => {
                    let described = (&mut *tx).describe(sql).await.map_err(refusal)?;
                    described.columns().iter().map(|c| c.name().to_owned()).collect()
                }
            };
            let rows = rows.iter().map(pg_row).collect::<Result<_>>()?;
            tx.rollback().await?;
            Ok(QueryResult { columns, rows })
        }
    }
}

async fn describe_columns(conn: &mut SqliteConnection, sql: &str) -> Result<Vec<String>> {
    let described = conn.describe(sql).await.map_err(refusal)?;
    Ok(described.columns().iter().map(|c| c.name().to_owned()).collect())
}

/// Turns the database's "read-only" refusals into [`StoreError::WriteRefused`].
fn refusal(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error {
        let code = db.code().unwrap_or_default();
        let message = db.message().to_owned();
        let sqlite_readonly = code == "8" || message.contains("readonly") || message.contains("query_only");
        if code == "25006" || sqlite_readonly {
            return StoreError::WriteRefused(message);
        }
    }
    StoreError::Database(error)
}

fn sqlite_row(row: &SqliteRow) -> Result<Vec<Json>> {
    (0..row.columns().len())
        .map(|i| {
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                return Ok(Json::Null);
            }
            let type_name = raw.type_info().name().to_owned();
            Ok(match type_name.as_str() {
                "INTEGER" | "BOOLEAN" | "INT8" => Json::from(row.try_get_unchecked::<i64, _>(i)?),
                "REAL" | "NUMERIC" => json_f64(row.try_get_unchecked::<f64, _>(i)?),
                "BLOB" => Json::from(hex(&row.try_get_unchecked::<Vec<u8>, _>(i)?)),
                _ => Json::from(row.try_get_unchecked::<String, _>(i)?),
            })
        })
        .collect()
}

fn pg_row(row: &PgRow) -> Result<Vec<Json>> {
    row.columns()
        .iter()
        .enumerate()
        .map(|(i, column)| {
            if row.try_get_raw(i)?.is_null() {
                return Ok(Json::Null);
            }
            let type_name = column.type_info().name();
            Ok(match type_name {
                "BOOL" => Json::from(row.try_get::<bool, _>(i)?),
                "INT2" => Json::from(row.try_get::<i16, _>(i)?),
                "INT4" => Json::from(row.try_get::<i32, _>(i)?),
                "INT8" => Json::from(row.try_get::<i64, _>(i)?),
                "FLOAT4" => json_f64(f64::from(row.try_get::<f32, _>(i)?)),
                "FLOAT8" => json_f64(row.try_get::<f64, _>(i)?),
                "NUMERIC" => decimal_json(row.try_get::<Decimal, _>(i)?),
                "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "UNKNOWN" => {
                    Json::from(row.try_get::<String, _>(i)?)
                }
                "JSON" | "JSONB" => row.try_get::<sqlx::types::Json<Json>, _>(i)?.0,
                "TIMESTAMPTZ" => Json::from(sqlite_time(&row.try_get::<DateTime<Utc>, _>(i)?)),
                "TIMESTAMP" => Json::from(
                    row.try_get::<NaiveDateTime, _>(i)?.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
                ),
                "DATE" => Json::from(row.try_get::<NaiveDate, _>(i)?.to_string()),
                "TEXT[]" | "VARCHAR[]" => Json::from(row.try_get::<Vec<Option<String>>, _>(i)?),
                "INT8[]" => Json::from(row.try_get::<Vec<Option<i64>>, _>(i)?),
                other => {
                    return Err(StoreError::UnsupportedColumn {
                        column: column.name().to_owned(),
                        type_name: other.to_owned(),
                    });
                }
            })
        })
        .collect()
}

fn json_f64(value: f64) -> Json {
    serde_json::Number::from_f64(value).map_or(Json::Null, Json::Number)
}

fn decimal_json(value: Decimal) -> Json {
    let text = value.normalize().to_string();
    serde_json::Number::from_str(&text).map_or(Json::String(text), Json::Number)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

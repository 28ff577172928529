//! Embedded migrations, one folder per backend. A migration is never edited once it has landed.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::{Pool, Result};

const SQLITE: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/sqlite/0001_initial.sql")),
    (2, "scheduler", include_str!("../migrations/sqlite/0002_scheduler.sql")),
    (3, "interaction_keys", include_str!("../migrations/sqlite/0003_interaction_keys.sql")),
    (4, "customer_links", include_str!("../migrations/sqlite/0004_customer_links.sql")),
];
const POSTGRES: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/postgres/0001_initial.sql")),
    (2, "scheduler", include_str!("../migrations/postgres/0002_scheduler.sql")),
    (3, "interaction_keys", include_str!("../migrations/postgres/0003_interaction_keys.sql")),
    (4, "customer_links", include_str!("../migrations/postgres/0004_customer_links.sql")),
];

fn migrator(list: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = list
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator { migrations: Cow::Owned(migrations), ignore_missing: false, locking: true, no_tx: false }
}

/// Applies the pending migrations of the pool's backend; returns the versions applied.
pub(crate) async fn apply(pool: &Pool) -> Result<Vec<i64>> {
    let (list, applied): (_, Vec<i64>) = match pool {
        Pool::Sqlite(p) => (SQLITE, applied_versions_sqlite(p).await?),
        Pool::Postgres(p) => (POSTGRES, applied_versions_postgres(p).await?),
    };
    let migrator = migrator(list);
    match pool {
        Pool::Sqlite(p) => migrator.run(p).await?,
        Pool::Postgres(p) => migrator.run(p).await?,
    }
    let now_applied: Vec<i64> = list.iter().map(|m| m.0).filter(|v| !applied.contains(v)).collect();
    if now_applied.contains(&3) {
        fill_interaction_emails(pool).await?;
    }
    if now_applied.contains(&4) {
        crate::customers::fill_customer_refs(pool).await?;
    }
    Ok(now_applied)
}

/// After migration 3: the normalised email of the interactions written before it (the
/// normalisation is Rust's, so SQL cannot compute it).
async fn fill_interaction_emails(pool: &Pool) -> Result<()> {
    const SELECT: &str = "SELECT DISTINCT customer_email FROM interactions WHERE customer_email IS NOT NULL";
    match pool {
        Pool::Sqlite(p) => {
            let emails: Vec<String> = sqlx::query_scalar(SELECT).fetch_all(p).await?;
            let mut tx = p.begin().await?;
            for email in emails {
                if let Some(normalized) = engage_model::normalize_email(&email) {
                    sqlx::query(
                        "UPDATE interactions SET customer_email_normalized = ? WHERE customer_email = ?",
                    )
                    .bind(normalized)
                    .bind(&email)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
        }
        Pool::Postgres(p) => {
            let emails: Vec<String> = sqlx::query_scalar(SELECT).fetch_all(p).await?;
            let mut tx = p.begin().await?;
            for email in emails {
                if let Some(normalized) = engage_model::normalize_email(&email) {
                    sqlx::query(
                        "UPDATE interactions SET customer_email_normalized = $1 WHERE customer_email = $2",
                    )
                    .bind(normalized)
                    .bind(&email)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
        }
    }
    Ok(())
}

async fn applied_versions_sqlite(pool: &sqlx::SqlitePool) -> Result<Vec<i64>> {
    let exists: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(pool)
    .await?;
    if exists == 0 {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(pool).await?)
}

async fn applied_versions_postgres(pool: &sqlx::PgPool) -> Result<Vec<i64>> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(pool).await?;
    if !exists {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(pool).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrations_3_and_4_fill_in_the_emails_and_references_of_earlier_records() {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        migrator(&SQLITE[..2]).run(&pool).await.unwrap();
        for (id, email) in [("1", Some(" Ana@Example.COM")), ("2", Some("not an address")), ("3", None)] {
            sqlx::query(
                "INSERT INTO interactions (connection, stream, source_id, customer_email, channel, kind, raw, \
                 first_seen_at, last_seen_at) VALUES ('c', 's', ?, ?, 'web', 'visit', '{}', 'x', 'x')",
            )
            .bind(id)
            .bind(email)
            .execute(&pool)
            .await
            .unwrap();
        }
        let pool = Pool::Sqlite(pool);
        assert_eq!(apply(&pool).await.unwrap(), vec![3, 4]);
        let Pool::Sqlite(p) = &pool else { unreachable!() };
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT source_id, customer_email_normalized FROM interactions ORDER BY source_id",
        )
        .fetch_all(p)
        .await
        .unwrap();
        assert_eq!(
            rows,
            [("1".into(), Some("ana@example.com".into())), ("2".into(), None), ("3".into(), None)]
        );
        let refs: Vec<(String, String, String)> =
            sqlx::query_as("SELECT connection, source_id, email FROM customer_refs")
                .fetch_all(p)
                .await
                .unwrap();
        assert_eq!(refs, [("c".into(), String::new(), "ana@example.com".into())]);
    }
}

//! Embedded migrations, one folder per backend. A migration is never edited once it has landed.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::{Pool, Result};

const SQLITE: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/sqlite/0001_initial.sql")),
    (2, "scheduler", include_str!("../migrations/sqlite/0002_scheduler.sql")),
];
const POSTGRES: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/postgres/0001_initial.sql")),
    (2, "scheduler", include_str!("../migrations/postgres/0002_scheduler.sql")),
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
    Ok(list.iter().map(|m| m.0).filter(|v| !applied.contains(v)).collect())
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

//! Background WAL checkpoints for SQLite.
//!
//! SQLite's automatic checkpoint runs on the committing connection and fsyncs the WAL and the
//! database before the commit returns, so a bulk sync spends much of its time waiting for the
//! disk. Engage turns automatic checkpoints off and checkpoints from a background task instead:
//! a `PASSIVE` checkpoint every quarter second copies committed frames into the database without
//! blocking the writer, and a `RESTART` checkpoint rewinds the WAL once it grows past
//! [`WAL_LIMIT_FRAMES`], so the file stays bounded during long syncs. Durability is unchanged:
//! commits are as safe as with `synchronous=NORMAL` in WAL mode, and the checkpoint still syncs
//! the WAL before it overwrites database pages.

use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use tokio::sync::oneshot;

/// WAL frames (16 KiB pages) past which the checkpointer rewinds the WAL: 256 MiB.
const WAL_LIMIT_FRAMES: i64 = 16_384;

const INTERVAL: Duration = Duration::from_millis(250);

/// Runs checkpoints until dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    stop: Option<oneshot::Sender<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database of `options` in the background, on a connection of its
    /// own: no memory map and a small page cache, since a checkpoint only copies WAL frames.
    pub(crate) fn start(options: &SqliteConnectOptions) -> Self {
        let options = options.clone().pragma("mmap_size", "0").pragma("cache_size", "-256");
        let (stop, mut stopped) = oneshot::channel();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut connection: Option<SqliteConnection> = None;
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = ticks.tick() => {}
                }
                let conn = match &mut connection {
                    Some(conn) => conn,
                    None => match options.connect().await {
                        Ok(conn) => connection.insert(conn),
                        Err(error) => {
                            tracing::debug!(%error, "checkpoint connection deferred");
                            continue;
                        }
                    },
                };
                let passive: Result<(i64, i64, i64), sqlx::Error> =
                    sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&mut *conn).await;
                match passive {
                    Ok((_, frames, _)) if frames > WAL_LIMIT_FRAMES => {
                        if let Err(error) =
                            sqlx::query("PRAGMA wal_checkpoint(RESTART)").execute(&mut *conn).await
                        {
                            tracing::debug!(%error, "WAL restart checkpoint deferred");
                        }
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::debug!(%error, "WAL checkpoint deferred");
                        connection = None;
                    }
                }
            }
            // Copy what is left into the database so the WAL does not outlive the store.
            if let Some(mut conn) = connection {
                let _ = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut conn).await;
                let _ = conn.close().await;
            }
        });
        Checkpointer { stop: Some(stop) }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

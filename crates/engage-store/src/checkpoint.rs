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

use sqlx::SqlitePool;
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
    /// Starts checkpointing `pool`'s database in the background.
    pub(crate) fn start(pool: SqlitePool) -> Self {
        let (stop, mut stopped) = oneshot::channel();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = ticks.tick() => {}
                }
                if pool.is_closed() {
                    break;
                }
                let passive: Result<(i64, i64, i64), sqlx::Error> =
                    sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&pool).await;
                match passive {
                    Ok((_, frames, _)) if frames > WAL_LIMIT_FRAMES => {
                        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(RESTART)").execute(&pool).await
                        {
                            tracing::debug!(%error, "WAL restart checkpoint deferred");
                        }
                    }
                    Ok(_) => {}
                    Err(error) if pool.is_closed() => {
                        tracing::trace!(%error, "store closed");
                        break;
                    }
                    Err(error) => tracing::debug!(%error, "WAL checkpoint deferred"),
                }
            }
            // Copy what is left into the database so the WAL does not outlive the store.
            if !pool.is_closed() {
                let _ = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await;
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

-- Engage store: the scheduler's state (sqlite). Column meanings: docs/STORE.md.

-- One row per scheduled (connection, stream): the due time to serve next and the lease of the
-- runner serving it.
CREATE TABLE sync_schedule (
    connection TEXT NOT NULL,
    stream TEXT NOT NULL,
    cadence TEXT NOT NULL,
    next_due_at TEXT NOT NULL,
    start_after TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    holder TEXT,
    lease_expires_at TEXT,
    waiting_reason TEXT,
    failing INTEGER NOT NULL,
    last_due_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (connection, stream)
);
CREATE INDEX sync_schedule_start_after ON sync_schedule (start_after);

ALTER TABLE sync_runs ADD COLUMN due_at TEXT;
ALTER TABLE sync_runs ADD COLUMN runner TEXT;
CREATE INDEX sync_runs_due ON sync_runs (connection, stream, due_at);

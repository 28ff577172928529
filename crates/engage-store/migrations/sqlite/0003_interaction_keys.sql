-- Engage store: customers of interactions counted in the database (sqlite). docs/STORE.md.

-- The email as engage_model::normalize_email returns it (NULL when it is not an address), so
-- that SQL can key customers exactly as the metrics' reference does: the connection's customer
-- id, else the normalised email. Rows written before this migration are filled in by the store
-- right after it runs.
ALTER TABLE interactions ADD COLUMN customer_email_normalized TEXT;

-- One channel's live interactions in time order, with every column the interaction metrics
-- read, so that they aggregate from the index alone.
CREATE INDEX interactions_channel_time ON interactions
    (channel, occurred_at, kind, value, connection, customer_source_id, customer_email_normalized)
    WHERE deleted_at IS NULL;

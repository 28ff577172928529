-- Engage store: incremental customer linking (sqlite). docs/STORE.md.

-- Every (connection, customer source id, normalised email) a record has ever named, written
-- with the record's page. A record that names an email links that email to the source's id of
-- the person; these links are what linking reads besides the identities. `source_id` is ''
-- when the record names an email only. Rows written before this migration are filled in by
-- the store right after it runs.
CREATE TABLE customer_refs (
    connection TEXT NOT NULL,
    source_id TEXT NOT NULL,
    email TEXT NOT NULL,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (connection, source_id, email)
);
CREATE INDEX customer_refs_email ON customer_refs (email);
CREATE INDEX customer_refs_seen_at ON customer_refs (seen_at);

-- Which customer each linking key belongs to: kind 'source' (scope = connection, value = the
-- source's id), 'email' or 'phone' (scope = ''). Kept by linking, so that a later pass starts
-- from the keys that changed and the customers that own them.
CREATE TABLE customer_keys (
    kind TEXT NOT NULL,
    scope TEXT NOT NULL,
    value TEXT NOT NULL,
    customer_id INTEGER NOT NULL,
    PRIMARY KEY (kind, scope, value)
);
CREATE INDEX customer_keys_customer_id ON customer_keys (customer_id);

-- Identities change rarely; their last change time is what an incremental pass reads from.
CREATE INDEX identities_last_seen_at ON identities (last_seen_at);

-- The start time of the last completed linking pass (one row).
CREATE TABLE customer_link_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    linked_through TEXT NOT NULL
);

-- Engage store, initial schema (sqlite). Column meanings: docs/STORE.md.

CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT,
    name TEXT,
    phone TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX customers_email ON customers (email);

CREATE TABLE identities (
    connection TEXT NOT NULL,
    stream TEXT NOT NULL,
    source_id TEXT NOT NULL,
    email TEXT,
    email_normalized TEXT,
    phone TEXT,
    name TEXT,
    created_at TEXT,
    updated_at TEXT,
    customer_id INTEGER REFERENCES customers (customer_id),
    raw TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    deleted_at TEXT,
    PRIMARY KEY (connection, stream, source_id)
);
CREATE INDEX identities_email_normalized ON identities (email_normalized);
CREATE INDEX identities_customer_id ON identities (customer_id);

CREATE TABLE tickets (
    connection TEXT NOT NULL,
    stream TEXT NOT NULL,
    source_id TEXT NOT NULL,
    customer_source_id TEXT,
    customer_email TEXT,
    subject TEXT,
    channel TEXT,
    status TEXT,
    priority TEXT,
    created_at TEXT,
    updated_at TEXT,
    first_reply_at TEXT,
    solved_at TEXT,
    first_reply_minutes REAL,
    first_resolution_minutes REAL,
    full_resolution_minutes REAL,
    reopens INTEGER,
    replies INTEGER,
    satisfaction TEXT,
    raw TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    deleted_at TEXT,
    PRIMARY KEY (connection, stream, source_id)
);
CREATE INDEX tickets_created_at ON tickets (created_at);

CREATE TABLE reviews (
    connection TEXT NOT NULL,
    stream TEXT NOT NULL,
    source_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    location TEXT,
    rating REAL,
    source_rating TEXT,
    source_scale TEXT,
    title TEXT,
    body TEXT,
    language TEXT,
    author TEXT,
    customer_source_id TEXT,
    created_at TEXT,
    updated_at TEXT,
    reply_body TEXT,
    reply_at TEXT,
    url TEXT,
    raw TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    deleted_at TEXT,
    PRIMARY KEY (connection, stream, source_id)
);
CREATE INDEX reviews_created_at ON reviews (created_at);

CREATE TABLE email_campaigns (
    connection TEXT NOT NULL,
    stream TEXT NOT NULL,
    source_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    name TEXT,
    subject TEXT,
    sent_at TEXT,
    recipients INTEGER,
    hard_bounces INTEGER,
    soft_bounces INTEGER,
    unique_opens INTEGER,
    unique_opens_human INTEGER,
    total_opens INTEGER,
    unique_clickers INTEGER,
    unique_clicks INTEGER,
    total_clicks INTEGER,
    unsubscribes INTEGER,
    spam_reports INTEGER,
    raw TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    deleted_at TEXT,
    PRIMARY KEY (connection, stream, source_id)
);
CREATE INDEX email_campaigns_sent_at ON email_campaigns (sent_at);

CREATE TABLE email_events (
    connection TEXT NOT NULL,
    stream TEXT NOT NULL,
    source_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    campaign_source_id TEXT,
    email TEXT,
    customer_source_id TEXT,
    kind TEXT NOT NULL,
    occurred_at TEXT,
    machine_open INTEGER NOT NULL DEFAULT 0,
    url TEXT,
    bounce_type TEXT,
    raw TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    deleted_at TEXT,
    PRIMARY KEY (connection, stream, source_id)
);
CREATE INDEX email_events_occurred_at ON email_events (occurred_at);

CREATE TABLE survey_responses (
    connection TEXT NOT NULL,
    stream TEXT NOT NULL,
    source_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    survey_id TEXT,
    question TEXT,
    kind TEXT NOT NULL,
    score REAL,
    scale_min REAL,
    scale_max REAL,
    comment TEXT,
    customer_source_id TEXT,
    customer_email TEXT,
    answered_at TEXT,
    raw TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    deleted_at TEXT,
    PRIMARY KEY (connection, stream, source_id)
);
CREATE INDEX survey_responses_answered_at ON survey_responses (answered_at);

CREATE TABLE orders (
    connection TEXT NOT NULL,
    stream TEXT NOT NULL,
    source_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    customer_source_id TEXT,
    customer_email TEXT,
    created_at TEXT,
    updated_at TEXT,
    currency TEXT,
    total NUMERIC NOT NULL DEFAULT 0,
    refunded NUMERIC NOT NULL DEFAULT 0,
    item_count INTEGER,
    guest INTEGER NOT NULL DEFAULT 0,
    cancelled_at TEXT,
    financial_status TEXT,
    raw TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    deleted_at TEXT,
    PRIMARY KEY (connection, stream, source_id)
);
CREATE INDEX orders_created_at ON orders (created_at);

CREATE TABLE interactions (
    connection TEXT NOT NULL,
    stream TEXT NOT NULL,
    source_id TEXT NOT NULL,
    customer_source_id TEXT,
    customer_email TEXT,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    occurred_at TEXT,
    value REAL,
    raw TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    deleted_at TEXT,
    PRIMARY KEY (connection, stream, source_id)
);
CREATE INDEX interactions_occurred_at ON interactions (occurred_at);

CREATE TABLE checkpoints (
    connection TEXT NOT NULL,
    stream TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (connection, stream)
);

CREATE TABLE sync_runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    connection TEXT NOT NULL,
    stream TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    pages INTEGER NOT NULL DEFAULT 0,
    records INTEGER NOT NULL DEFAULT 0,
    quarantined INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    details TEXT
);
CREATE INDEX sync_runs_stream ON sync_runs (connection, stream, started_at);

CREATE TABLE quarantine (
    connection TEXT NOT NULL,
    stream TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    source_id TEXT,
    raw TEXT NOT NULL,
    reason TEXT NOT NULL,
    run_id INTEGER,
    quarantined_at TEXT NOT NULL,
    PRIMARY KEY (connection, stream, fingerprint)
);

-- Engage store, initial schema (postgres). Column meanings: docs/STORE.md.

CREATE TABLE customers (
    customer_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email TEXT,
    name TEXT,
    phone TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
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
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ,
    customer_id BIGINT REFERENCES customers (customer_id),
    raw JSONB COMPRESSION lz4 NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ,
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
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ,
    first_reply_at TIMESTAMPTZ,
    solved_at TIMESTAMPTZ,
    first_reply_minutes DOUBLE PRECISION,
    first_resolution_minutes DOUBLE PRECISION,
    full_resolution_minutes DOUBLE PRECISION,
    reopens BIGINT,
    replies BIGINT,
    satisfaction TEXT,
    raw JSONB COMPRESSION lz4 NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ,
    PRIMARY KEY (connection, stream, source_id)
);
CREATE INDEX tickets_created_at ON tickets (created_at);

CREATE TABLE reviews (
    connection TEXT NOT NULL,
    stream TEXT NOT NULL,
    source_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    location TEXT,
    rating DOUBLE PRECISION,
    source_rating TEXT,
    source_scale TEXT,
    title TEXT,
    body TEXT,
    language TEXT,
    author TEXT,
    customer_source_id TEXT,
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ,
    reply_body TEXT,
    reply_at TIMESTAMPTZ,
    url TEXT,
    raw JSONB COMPRESSION lz4 NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ,
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
    sent_at TIMESTAMPTZ,
    recipients BIGINT,
    hard_bounces BIGINT,
    soft_bounces BIGINT,
    unique_opens BIGINT,
    unique_opens_human BIGINT,
    total_opens BIGINT,
    unique_clickers BIGINT,
    unique_clicks BIGINT,
    total_clicks BIGINT,
    unsubscribes BIGINT,
    spam_reports BIGINT,
    raw JSONB COMPRESSION lz4 NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ,
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
    occurred_at TIMESTAMPTZ,
    machine_open BOOLEAN NOT NULL DEFAULT FALSE,
    url TEXT,
    bounce_type TEXT,
    raw JSONB COMPRESSION lz4 NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ,
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
    score DOUBLE PRECISION,
    scale_min DOUBLE PRECISION,
    scale_max DOUBLE PRECISION,
    comment TEXT,
    customer_source_id TEXT,
    customer_email TEXT,
    answered_at TIMESTAMPTZ,
    raw JSONB COMPRESSION lz4 NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ,
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
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ,
    currency TEXT,
    total NUMERIC NOT NULL DEFAULT 0,
    refunded NUMERIC NOT NULL DEFAULT 0,
    item_count BIGINT,
    guest BOOLEAN NOT NULL DEFAULT FALSE,
    cancelled_at TIMESTAMPTZ,
    financial_status TEXT,
    raw JSONB COMPRESSION lz4 NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ,
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
    occurred_at TIMESTAMPTZ,
    value DOUBLE PRECISION,
    raw JSONB COMPRESSION lz4 NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ,
    PRIMARY KEY (connection, stream, source_id)
);
CREATE INDEX interactions_occurred_at ON interactions (occurred_at);

CREATE TABLE checkpoints (
    connection TEXT NOT NULL,
    stream TEXT NOT NULL,
    checkpoint JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (connection, stream)
);

CREATE TABLE sync_runs (
    run_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection TEXT NOT NULL,
    stream TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status TEXT NOT NULL,
    pages BIGINT NOT NULL DEFAULT 0,
    records BIGINT NOT NULL DEFAULT 0,
    quarantined BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    details JSONB
);
CREATE INDEX sync_runs_stream ON sync_runs (connection, stream, started_at);

CREATE TABLE quarantine (
    connection TEXT NOT NULL,
    stream TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    source_id TEXT,
    raw TEXT NOT NULL,
    reason TEXT NOT NULL,
    run_id BIGINT,
    quarantined_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (connection, stream, fingerprint)
);

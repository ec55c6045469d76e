-- The hub's store. One set of migrations for SQLite and PostgreSQL: portable types only (TEXT, BIGINT).
-- The hub never holds a row-level value: node answers are aggregate cells, archived with their signed
-- envelopes so anyone can re-verify and recombine them.

CREATE TABLE researchers (
    name         TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL
);

CREATE TABLE nodes (
    peer_id    TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    connected  BIGINT NOT NULL,
    summary    TEXT NOT NULL
);

CREATE TABLE queries (
    query_id     TEXT PRIMARY KEY,
    researcher   TEXT NOT NULL,
    purpose      TEXT,
    query        TEXT NOT NULL,
    request      TEXT NOT NULL,
    submitted_at BIGINT NOT NULL,
    deadline_at  BIGINT NOT NULL,
    status       TEXT NOT NULL
);
CREATE INDEX queries_by_researcher ON queries (researcher, submitted_at);

CREATE TABLE node_answers (
    query_id   TEXT NOT NULL,
    peer_id    TEXT NOT NULL,
    node_name  TEXT NOT NULL,
    state      TEXT NOT NULL,
    detail     TEXT NOT NULL,
    envelope   TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (query_id, peer_id)
);

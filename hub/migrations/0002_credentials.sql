-- Credentials replace researcher API tokens. The hub records every credential it issues (never the
-- credential's claims beyond a display name), with its index in the kind's Bitstring Status List;
-- revoking sets revoked_at, and the published list is rebuilt from these rows.

CREATE TABLE credentials (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    subject      TEXT NOT NULL,
    name         TEXT NOT NULL,
    status_index BIGINT NOT NULL,
    issued_at    BIGINT NOT NULL,
    valid_until  BIGINT,
    revoked_at   BIGINT,
    UNIQUE (kind, status_index)
);

-- Researcher sessions, opened by presenting a ResearcherCredential; only the token's hash is kept.
CREATE TABLE sessions (
    token_sha256  TEXT PRIMARY KEY,
    researcher    TEXT NOT NULL,
    name          TEXT NOT NULL,
    purposes      TEXT NOT NULL,
    credential_id TEXT NOT NULL,
    expires_at    BIGINT NOT NULL
);

-- One-time challenges for opening a session.
CREATE TABLE auth_challenges (
    challenge  TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

DROP TABLE researchers;

-- The node's analytic store, shaped after the OMOP CDM v5.4 (person, measurement, observation,
-- condition_occurrence, drug_exposure, visit_occurrence, procedure_occurrence), simplified to what
-- federated queries read. Codes are kept as (system, code) pairs of their source vocabulary instead of
-- OMOP concept ids: there is no vocabulary table on a node.
--
-- Invariant: no analytic table holds a name, address, telecom, identifier or full birth date. A patient is
-- keyed by `person.pseudonym`, an HMAC of the source id under a node-local salt. The FHIR ids rows came
-- from live only in `source_record` (provenance), which is never read by the query engine and never leaves
-- the node.

CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS source_record (
    source_id     INTEGER PRIMARY KEY,
    resource_type TEXT NOT NULL,
    fhir_id       TEXT NOT NULL,
    job_id        TEXT NOT NULL,
    UNIQUE (resource_type, fhir_id)
);

CREATE TABLE IF NOT EXISTS person (
    person_id      INTEGER PRIMARY KEY,
    pseudonym      TEXT NOT NULL UNIQUE,
    sex            TEXT NOT NULL CHECK (sex IN ('female', 'male', 'other', 'unknown')),
    year_of_birth  INTEGER,
    month_of_birth INTEGER CHECK (month_of_birth BETWEEN 1 AND 12),
    deceased       INTEGER NOT NULL DEFAULT 0,
    source_id      INTEGER NOT NULL REFERENCES source_record (source_id)
);

-- Quantitative results, one row per value; a panel's components (systolic, diastolic) are rows of their
-- own under their own codes. value_e3 is the value in thousandths of `unit`, the variable's canonical unit.
CREATE TABLE IF NOT EXISTS measurement (
    measurement_id INTEGER PRIMARY KEY,
    person_id      INTEGER NOT NULL REFERENCES person (person_id),
    system         TEXT NOT NULL,
    code           TEXT NOT NULL,
    measured_at    INTEGER NOT NULL,            -- Unix seconds, UTC
    value_e3       INTEGER NOT NULL,
    unit           TEXT NOT NULL,
    implausible    INTEGER NOT NULL DEFAULT 0,  -- 1: outside the variable's plausible range; kept, not aggregated
    source_id      INTEGER NOT NULL REFERENCES source_record (source_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS measurement_dedup ON measurement (person_id, system, code, measured_at, value_e3, unit);
-- Covering for the query engine: a measure is read from this index alone, by seeks per person or a scan.
CREATE INDEX IF NOT EXISTS measurement_by_code ON measurement (system, code, person_id, measured_at, implausible, value_e3);

-- Coded, non-quantitative facts: allergies, diagnostic reports, coded observations.
CREATE TABLE IF NOT EXISTS observation (
    observation_id INTEGER PRIMARY KEY,
    person_id      INTEGER NOT NULL REFERENCES person (person_id),
    domain         TEXT NOT NULL,               -- 'allergy', 'diagnostic_report', 'observation'
    system         TEXT NOT NULL,
    code           TEXT NOT NULL,
    observed_at    INTEGER,
    value_system   TEXT,
    value_code     TEXT,
    source_id      INTEGER NOT NULL REFERENCES source_record (source_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS observation_dedup ON observation (person_id, domain, system, code, observed_at, value_system, value_code);

CREATE TABLE IF NOT EXISTS condition_occurrence (
    condition_id INTEGER PRIMARY KEY,
    person_id    INTEGER NOT NULL REFERENCES person (person_id),
    system       TEXT NOT NULL,
    code         TEXT NOT NULL,
    start_at     INTEGER,
    source_id    INTEGER NOT NULL REFERENCES source_record (source_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS condition_dedup ON condition_occurrence (person_id, system, code, start_at);
CREATE INDEX IF NOT EXISTS condition_by_code ON condition_occurrence (system, code, person_id);

-- Medications (requested or stated) and immunizations.
CREATE TABLE IF NOT EXISTS drug_exposure (
    drug_exposure_id INTEGER PRIMARY KEY,
    person_id        INTEGER NOT NULL REFERENCES person (person_id),
    kind             TEXT NOT NULL CHECK (kind IN ('request', 'statement', 'immunization')),
    system           TEXT NOT NULL,
    code             TEXT NOT NULL,
    start_at         INTEGER,
    source_id        INTEGER NOT NULL REFERENCES source_record (source_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS drug_dedup ON drug_exposure (person_id, kind, system, code, start_at);
CREATE INDEX IF NOT EXISTS drug_by_code ON drug_exposure (system, code, person_id);

CREATE TABLE IF NOT EXISTS visit_occurrence (
    visit_id   INTEGER PRIMARY KEY,
    person_id  INTEGER NOT NULL REFERENCES person (person_id),
    class      TEXT,
    start_at   INTEGER,
    end_at     INTEGER,
    source_id  INTEGER NOT NULL REFERENCES source_record (source_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS visit_dedup ON visit_occurrence (person_id, class, start_at, end_at);

CREATE TABLE IF NOT EXISTS procedure_occurrence (
    procedure_id INTEGER PRIMARY KEY,
    person_id    INTEGER NOT NULL REFERENCES person (person_id),
    system       TEXT NOT NULL,
    code         TEXT NOT NULL,
    performed_at INTEGER,
    source_id    INTEGER NOT NULL REFERENCES source_record (source_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS procedure_dedup ON procedure_occurrence (person_id, system, code, performed_at);

-- Ingest jobs: state is 'queued' (accepted by the HTTP API), 'running', 'done', 'failed' or 'interrupted'
-- (found 'running' while no process holds the ingest lock).
CREATE TABLE IF NOT EXISTS ingest_job (
    job_id      TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    sources     TEXT NOT NULL,                  -- JSON array of file names
    counts      TEXT NOT NULL DEFAULT '{}'      -- JSON of the job's counters, updated at every commit
);

-- Per-resource problems of a job: file, line, resource type and id, field, message. Stays on the node.
CREATE TABLE IF NOT EXISTS ingest_error (
    job_id        TEXT NOT NULL REFERENCES ingest_job (job_id),
    file          TEXT NOT NULL,
    line          INTEGER NOT NULL,
    resource_type TEXT,
    resource_id   TEXT,
    field         TEXT,
    kind          TEXT NOT NULL,                -- 'error', 'warning', 'unresolved'
    message       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ingest_error_by_job ON ingest_error (job_id);

-- Federation state.
CREATE TABLE IF NOT EXISTS seen_nonce (
    nonce      TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS query_log (
    query_id    TEXT PRIMARY KEY,
    researcher  TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    state       TEXT NOT NULL,                  -- 'answered', 'held', 'rejected', 'approved', 'denied'
    reason      TEXT,
    request     TEXT NOT NULL,                  -- the signed request envelope, JSON (aggregate query, no patient data)
    release     INTEGER NOT NULL DEFAULT 0      -- 1: the steward approved or denied it; to be delivered to the hub once
);
CREATE INDEX IF NOT EXISTS query_log_by_researcher ON query_log (researcher, received_at);

-- Credentials this node issued to patients' wallets (ConsentCredential, DiagnosisCredential). The
-- credential names no patient: this table is the only link from a credential id to a person, and it
-- never leaves the node. `holder` is the wallet's DID; `status_index` the entry in the node's revocation
-- list.
CREATE TABLE IF NOT EXISTS patient_credential (
    credential_id TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('consent', 'diagnosis')),
    person_id     INTEGER NOT NULL REFERENCES person (person_id),
    holder        TEXT NOT NULL,
    purpose       TEXT,
    status_index  INTEGER NOT NULL UNIQUE,
    issued_at     INTEGER NOT NULL,
    valid_until   INTEGER,
    revoked_at    INTEGER
);

-- Consent a patient granted by presenting their ConsentCredential; queries whose purpose needs consent
-- count only persons with an active row here.
CREATE TABLE IF NOT EXISTS consent (
    credential_id TEXT PRIMARY KEY REFERENCES patient_credential (credential_id),
    person_id     INTEGER NOT NULL REFERENCES person (person_id),
    purpose       TEXT NOT NULL,
    granted_at    INTEGER NOT NULL,
    valid_until   INTEGER,
    revoked_at    INTEGER
);
CREATE INDEX IF NOT EXISTS consent_by_purpose ON consent (purpose, person_id);

-- One-time challenges wallets answer when they present.
CREATE TABLE IF NOT EXISTS wallet_challenge (
    challenge  TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);

-- Messages the node sends its hub on its own (steward-released answers, proof messages), from the
-- moment they are signed until the hub takes or refuses them, so that a restart or an unreachable hub
-- loses none (`crate::outbox`). Signed aggregates, proofs and reasons only: what goes on the wire.
CREATE TABLE IF NOT EXISTS outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('delivery', 'proof')),
    message    BLOB NOT NULL,                  -- the WireRequest, JSON
    attempts   INTEGER NOT NULL DEFAULT 0,     -- failed sends
    created_at INTEGER NOT NULL
);

-- Answers whose proof is being made: a node stopped before it kept every proof message of one sends
-- the hub a signed reason instead when it starts again (the answer would otherwise stay "proof
-- pending"). The query id only.
CREATE TABLE IF NOT EXISTS proof_owed (
    query_id TEXT PRIMARY KEY,
    since    INTEGER NOT NULL
);

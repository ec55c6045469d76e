-- Proven answers: the proof state of each node's answer, with the node's signed proof message kept for
-- audit, and the dataset commitments nodes registered (in their hellos and verified proof messages),
-- with the millisecond they were first seen.

ALTER TABLE node_answers ADD COLUMN proof TEXT;
ALTER TABLE node_answers ADD COLUMN proof_envelope TEXT;
-- When the hub recorded the query, in milliseconds: a commitment counts as registered before the query
-- only if it was first seen strictly earlier.
ALTER TABLE queries ADD COLUMN submitted_ms BIGINT;

CREATE TABLE node_commitments (
    peer_id      TEXT NOT NULL,
    root         TEXT NOT NULL,
    version      BIGINT NOT NULL,
    trace_length BIGINT NOT NULL,
    data_version BIGINT NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    PRIMARY KEY (peer_id, root)
);

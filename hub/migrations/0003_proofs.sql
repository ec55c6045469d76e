-- Proven answers: the proof state of each node's answer, with the node's signed proof message kept for
-- audit, and the dataset commitments nodes registered (in their hellos and proof messages).

ALTER TABLE node_answers ADD COLUMN proof TEXT;
ALTER TABLE node_answers ADD COLUMN proof_envelope TEXT;

CREATE TABLE node_commitments (
    peer_id      TEXT NOT NULL,
    root         TEXT NOT NULL,
    version      BIGINT NOT NULL,
    trace_length BIGINT NOT NULL,
    data_version BIGINT NOT NULL,
    first_seen   BIGINT NOT NULL,
    PRIMARY KEY (peer_id, root)
);

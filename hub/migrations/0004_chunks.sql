-- Datasets committed in chunks: a node's commitment lists its chunks (JSON, in order; NULL for a
-- commitment of one snapshot), and the proof of an answer over chunks arrives a cell at a time: each
-- verified cell's signed message is kept until every cell of the answer has verified.

ALTER TABLE node_commitments ADD COLUMN chunks TEXT;

CREATE TABLE proof_cells (
    query_id  TEXT NOT NULL,
    peer_id   TEXT NOT NULL,
    cell      BIGINT NOT NULL,
    root      TEXT NOT NULL,
    envelope  TEXT NOT NULL,
    PRIMARY KEY (query_id, peer_id, cell)
);

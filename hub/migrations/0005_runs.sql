-- A cell's proof over chunks may arrive in several messages, each a run of its parts (a node sends at
-- most ten parts a message): each run's signed message is kept once its parts' proofs have verified,
-- and the cell is proven once its runs cover the dataset's chunks and the parts link and add up. A
-- proven cell keeps its message in `proven_cells` when it came whole from a hub before runs (`envelope`),
-- else (NULL) its runs' messages are in `proof_runs`.

CREATE TABLE proof_runs (
    query_id    TEXT NOT NULL,
    peer_id     TEXT NOT NULL,
    cell        BIGINT NOT NULL,
    first_part  BIGINT NOT NULL,
    parts       BIGINT NOT NULL,
    root        TEXT NOT NULL,
    envelope    TEXT NOT NULL,
    PRIMARY KEY (query_id, peer_id, cell, first_part)
);

CREATE TABLE proven_cells (
    query_id  TEXT NOT NULL,
    peer_id   TEXT NOT NULL,
    cell      BIGINT NOT NULL,
    root      TEXT NOT NULL,
    envelope  TEXT,
    PRIMARY KEY (query_id, peer_id, cell)
);

INSERT INTO proven_cells (query_id, peer_id, cell, root, envelope)
    SELECT query_id, peer_id, cell, root, envelope FROM proof_cells;

DROP TABLE proof_cells;

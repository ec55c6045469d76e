//! The node's side of an answer over a dataset committed in chunks, as agora-node proves it: shared by
//! `tests/proofs.rs` and `benches/check_run.rs` (each includes this file as a module of its own).

use agora_protocol::answer::NodeAnswer;
use agora_protocol::proof::{plan, query_digest, ChunkLinks, ChunkProof, ChunkedCell, Expected, Target};
use agora_protocol::Query;
use agora_zk::prove::{Snapshot, Statement};
use agora_zk::verify::ChunkPart;
use base64::Engine;
use uuid::Uuid;

/// The statement a node proves for one cell of its answer.
pub(crate) fn statement(t: &Target) -> Statement {
    Statement {
        criteria: t.criteria.iter().map(agora_hub::coordinator::criterion).collect(),
        measure: t.measure,
        squares: matches!(t.cell, Expected::Moments { sum_sq: Some(_), .. }),
        measure_range: t.measure_range.map(|(min, max)| agora_zk::air::Range { min, max }),
        threshold: 10,
    }
}

/// agora-zk's parts of a cell as a node sends them (their proofs in base64).
pub(crate) fn wire_parts(parts: &[ChunkPart]) -> Vec<ChunkProof> {
    parts
        .iter()
        .map(|p| ChunkProof {
            count: p.claim.count,
            sum: p.claim.sum,
            link: ChunkLinks {
                prev: p.link.prev,
                next: p.link.next,
                total: p.link.total,
                squares: p.link.squares,
                squares_total: p.link.squares_total,
            },
            proof: base64::engine::general_purpose::STANDARD.encode(&p.proof),
        })
        .collect()
}

/// The cells of the plan of `q` for `answer`, each proven over every chunk.
pub(crate) fn prove_chunks(chunks: &[Snapshot], query_id: Uuid, q: &Query, answer: &NodeAnswer) -> Vec<ChunkedCell> {
    let chunks: Vec<&Snapshot> = chunks.iter().collect();
    plan(q)
        .unwrap()
        .targets(answer)
        .into_iter()
        .map(|t| {
            let (_, parts) =
                agora_zk::prove::prove_chunked(&chunks, query_digest(query_id, q), &statement(&t)).unwrap();
            ChunkedCell { part: t.part, group: t.group, first: 0, parts: wire_parts(&parts) }
        })
        .collect()
}

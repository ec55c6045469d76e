//! The hub's check of one run of a cell's parts over a dataset committed in chunks
//! (`coordinator::check_chunked_run`: the parts' base64 decoded, the hub's claim built from the query and
//! the answer, the proofs verified on both of the hub's verification permits), beside agora-zk's
//! `verify_chunked` of the same proofs (what an auditor runs) and the base64 decoding alone.
//!
//! `cargo bench -p agora-hub --bench check_run -- --log-rows 20 --chunks 8` (one run of at most ten
//! parts, as one proof message carries; a chunk of `2^L` trace rows holds the format's capacity of data
//! rows in patients of four rows).

#[path = "../tests/common/chunked.rs"]
#[allow(dead_code)] // its `prove_chunks` is the tests'
mod chunked;

use agora_hub::coordinator::{check_chunked_run, Population};
use agora_protocol::answer::{AnswerRow, Cell, GroupKey, NodeAnswer};
use agora_protocol::proof::{
    plan, query_digest, row_code, ChunkCommitment, ChunkedCell, DatasetCommitment, ProofState,
};
use agora_protocol::{Aggregate, CodeMatch, CodeSystem, Cohort, GroupBy, Query};
use agora_zk::prove::{Row, Snapshot};
use base64::Engine;
use std::time::Instant;
use uuid::Uuid;

/// `f` run `times` times: its p50 and p90 in milliseconds.
fn p50_p90(times: usize, f: &mut dyn FnMut()) -> (f64, f64) {
    let mut ms: Vec<f64> = (0..times)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    (ms[times / 2], ms[times * 9 / 10])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: usize| {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map_or(default, |v| v.parse().unwrap())
    };
    let (log, k) = (arg("--log-rows", 16), arg("--chunks", 8));
    assert!((1..=10).contains(&k), "one run: 1 to 10 parts");
    let blocks_per_chunk = agora_zk::format::capacity(1 << log) / 4;
    // Every third patient has E11.9, the others I10: the count is counted here, from the generator.
    let diabetic = |p: usize| p.is_multiple_of(3);
    let block = |p: usize| {
        let sex = if p.is_multiple_of(2) { "female" } else { "male" };
        let condition = if diabetic(p) { "E11.9" } else { "I10" };
        vec![
            Row::attribute(row_code(&["person"])),
            Row::attribute(row_code(&["sex", sex])),
            Row::attribute(row_code(&["condition", "icd10cm", condition])),
            Row { code: row_code(&["latest", "loinc", "2345-7"]), value: (1 << 31) + (p % 40_000) as u32 },
        ]
    };
    let t = Instant::now();
    let snapshots: Vec<Snapshot> = (0..k)
        .map(|c| {
            let blocks = (c * blocks_per_chunk..(c + 1) * blocks_per_chunk).map(block).collect();
            Snapshot::build(blocks, [c as u8 + 1; 32]).unwrap()
        })
        .collect();
    let commit_s = t.elapsed().as_secs_f64();
    let list = snapshots
        .iter()
        .map(|s| ChunkCommitment { trace_length: s.commitment().trace_length, root: s.commitment().root.clone() })
        .collect();
    let commitment = DatasetCommitment::chunked(snapshots[0].commitment().version, list, 1).unwrap();

    let q = Query {
        version: 1,
        cohort: Cohort::Condition {
            code: CodeMatch { system: CodeSystem::Icd10Cm, code: "E11.9".into(), prefix: false },
        },
        measure: None,
        aggregates: vec![Aggregate::Count],
        group_by: GroupBy::default(),
        reference_date: time::macros::date!(2026 - 01 - 01),
    };
    let id = Uuid::new_v4();
    let count = (0..k * blocks_per_chunk).filter(|&p| diabetic(p)).count() as u64;
    let answer = NodeAnswer {
        query_id: id,
        threshold: 10,
        unit: None,
        data_version: 1,
        rows: vec![AnswerRow { group: GroupKey::TOTAL, patients: Cell::Value(count), moments: None, histogram: None }],
        exec_micros: 1,
        consented: None,
    };
    let target = plan(&q).unwrap().targets(&answer).remove(0);
    let chunks: Vec<&Snapshot> = snapshots.iter().collect();
    let t = Instant::now();
    let (total, parts) =
        agora_zk::prove::prove_chunked(&chunks, query_digest(id, &q), &chunked::statement(&target)).unwrap();
    let prove_s = t.elapsed().as_secs_f64();
    let run = ChunkedCell { part: target.part, group: target.group, first: 0, parts: chunked::wire_parts(&parts) };
    let bytes: usize = parts.iter().map(|p| p.proof.len()).sum();
    println!(
        "{k} chunks of 2^{log} rows ({} patients, {count} counted): commit {commit_s:.1} s, prove {prove_s:.1} s, \
         {:.0} KB of proofs",
        k * blocks_per_chunk,
        bytes as f64 / 1024.0
    );

    let check = || check_chunked_run(id, &q, &answer, &commitment, (0, 1), &run, Ok(Population::Everyone));
    assert!(matches!(check(), ProofState::Proven { .. }), "the honest run is proven: {:?}", check());
    let commitments: Vec<_> = snapshots.iter().map(|s| s.commitment().clone()).collect();
    agora_zk::verify_chunked(&total, &commitments, &parts).unwrap();
    let times = 50;
    let hub = p50_p90(times, &mut || {
        std::hint::black_box(check());
    });
    let auditor = p50_p90(times, &mut || agora_zk::verify_chunked(&total, &commitments, &parts).unwrap());
    let decode = p50_p90(times, &mut || {
        for p in &run.parts {
            std::hint::black_box(base64::engine::general_purpose::STANDARD.decode(&p.proof).unwrap());
        }
    });
    println!(
        "{times} times each (p50 / p90): the hub's check_chunked_run {:.2} / {:.2} ms; verify_chunked {:.2} / {:.2} \
         ms; the parts' base64 decoded {:.2} / {:.2} ms",
        hub.0, hub.1, auditor.0, auditor.1, decode.0, decode.1
    );
}

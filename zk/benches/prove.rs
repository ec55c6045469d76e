//! Proving and verifying a count + sum over a committed snapshot, at one trace size per run (peak memory
//! is per process):
//!
//! `cargo bench -p agora-zk --bench prove -- --log-rows 16`
//!
//! The snapshot is full (the format's capacity for that trace length); a quarter of its rows match.

#![allow(missing_docs)]

use agora_zk::format::{capacity, proof_options};
use agora_zk::prove::{Row, Snapshot};
use agora_zk::verify_count_sum;
use std::time::Instant;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let log =
        args.iter().position(|a| a == "--log-rows").and_then(|i| args.get(i + 1)).map_or(16, |v| v.parse().unwrap());
    let n = 1usize << log;
    let rows: Vec<Row> = (0..capacity(n) as u64)
        .map(|i| {
            let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16;
            // Five rows of code 9: a cell below the threshold.
            Row { code: if i < 5 { 9 } else { x % 4 }, value: (x % 40_000) as u32 }
        })
        .collect();
    let t = Instant::now();
    let snapshot = Snapshot::build(rows, [7; 32]).unwrap();
    let commit_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (claim, proof) = snapshot.prove_count_sum([1; 32], 2).unwrap();
    let prove_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (small, small_proof) = snapshot.prove_cell([1; 32], 9, 10).unwrap();
    let suppressed_s = t.elapsed().as_secs_f64();
    assert_eq!(small.suppressed_below, Some(10));
    verify_count_sum(snapshot.commitment(), &small, &small_proof).unwrap();
    let mut verify_ms = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        verify_count_sum(snapshot.commitment(), &claim, &proof).unwrap();
        verify_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    verify_ms.sort_by(f64::total_cmp);
    let parsed = winter_air::proof::Proof::from_bytes(&proof).unwrap();
    let security = parsed.conjectured_security::<agora_zk::verify::Hash>();
    let proven = parsed.proven_security::<agora_zk::verify::Hash>();
    let data_rows = snapshot.rows().len();
    println!(
        "2^{log} trace rows ({data_rows} data rows): commit {commit_s:.2} s, prove {prove_s:.2} s = {:.0} data rows/s, \
         suppressed cell {suppressed_s:.2} s ({:.1} KB), \
         verify p50 {:.2} ms, proof {:.1} KB, peak RSS {:.0} MB, conjectured {} bits, proven {} bits (list decoding; unique decoding {}), options {:?}",
        data_rows as f64 / prove_s,
        small_proof.len() as f64 / 1024.0,
        verify_ms[verify_ms.len() / 2],
        proof.len() as f64 / 1024.0,
        peak_rss_mb(),
        security.bits(),
        proven.ldr_bits(),
        proven.udr_bits(),
        proof_options(),
    );
}

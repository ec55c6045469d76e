//! Honest proofs verify; every kind of dishonest or damaged answer is refused with its reason.

use agora_zk::format::{capacity, Commitment};
use agora_zk::prove::{Row, Snapshot};
use agora_zk::{verify_count_sum, Claim, ZkError};
use proptest::prelude::*;

fn rows(n: usize, seed: u64) -> Vec<Row> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Row { code: x % 5, value: ((x >> 8) % 100_000) as u32 }
        })
        .collect()
}

/// Count and sum computed here, not by the crate.
fn expected(rows: &[Row], code: u64) -> (u64, u64) {
    let mut count = 0;
    let mut sum = 0;
    for r in rows {
        if r.code == code {
            count += 1;
            sum += r.value as u64;
        }
    }
    (count, sum)
}

#[test]
fn honest_answers_verify_and_equal_an_independent_count() {
    let data = rows(200, 42);
    let snapshot = Snapshot::build(data.clone(), [9; 32]).unwrap();
    assert_eq!(snapshot.commitment().trace_length, 2048);
    for code in [0, 3, 77] {
        let (claim, proof) = snapshot.prove_count_sum([code as u8; 32], code).unwrap();
        assert_eq!((claim.count, claim.sum), expected(&data, code));
        verify_count_sum(snapshot.commitment(), &claim, &proof).unwrap();
    }
}

#[test]
fn the_commitment_is_fixed_by_data_and_seed() {
    let data = rows(100, 1);
    let a = Snapshot::build(data.clone(), [1; 32]).unwrap();
    let b = Snapshot::build(data.clone(), [1; 32]).unwrap();
    let c = Snapshot::build(data.clone(), [2; 32]).unwrap();
    let mut other = data.clone();
    other[50].value += 1;
    let d = Snapshot::build(other, [1; 32]).unwrap();
    assert_eq!(a.commitment(), b.commitment());
    assert_ne!(a.commitment().root, c.commitment().root, "the random rows mask the commitment");
    assert_ne!(a.commitment().root, d.commitment().root);
    // Two proofs of the same answer differ (fresh randomness in the per-query segment) and both verify.
    let (claim, p1) = a.prove_count_sum([5; 32], 1).unwrap();
    let (_, p2) = a.prove_count_sum([5; 32], 1).unwrap();
    assert_ne!(p1, p2);
    verify_count_sum(a.commitment(), &claim, &p2).unwrap();
}

#[test]
fn dishonest_and_damaged_answers_are_refused_with_their_reason() {
    let data = rows(300, 7);
    let snapshot = Snapshot::build(data.clone(), [3; 32]).unwrap();
    let commitment = snapshot.commitment().clone();
    let (claim, proof) = snapshot.prove_count_sum([1; 32], 2).unwrap();
    verify_count_sum(&commitment, &claim, &proof).unwrap();

    let rejected = |c: &Claim, com: &Commitment, p: &[u8]| verify_count_sum(com, c, p).unwrap_err();

    // A tampered count or sum.
    let e = rejected(&Claim { count: claim.count + 1, ..claim.clone() }, &commitment, &proof);
    assert!(matches!(e, ZkError::Rejected(_)), "{e}");
    let e = rejected(&Claim { sum: claim.sum - 1, ..claim.clone() }, &commitment, &proof);
    assert!(matches!(e, ZkError::Rejected(_)), "{e}");
    // A count shifted by the field's modulus (the same field element) is refused before the STARK.
    let p = 0xFFFF_FFFF_0000_0001u64;
    let e = rejected(&Claim { count: claim.count + p, ..claim.clone() }, &commitment, &proof);
    assert!(e.to_string().contains("exceeds"), "{e}");
    // The proof of another query, or of another code.
    let e = rejected(&Claim { query: [2; 32], ..claim.clone() }, &commitment, &proof);
    assert!(matches!(e, ZkError::Rejected(_)), "{e}");
    let (other, _) = snapshot.prove_count_sum([1; 32], 4).unwrap();
    let e = rejected(&Claim { code: 4, ..claim.clone() }, &commitment, &proof);
    assert!(matches!(e, ZkError::Rejected(_)), "{e} ({other:?})");

    // A stale commitment (the node's data before one more row) and a foreign one.
    let mut before = data.clone();
    before.pop();
    let stale = Snapshot::build(before, [3; 32]).unwrap();
    let e = rejected(&claim, stale.commitment(), &proof);
    assert!(matches!(e, ZkError::ForeignCommitment { .. }), "{e}");
    let foreign = Snapshot::build(rows(300, 8), [3; 32]).unwrap();
    let e = rejected(&claim, foreign.commitment(), &proof);
    assert!(e.to_string().contains("not the committed"), "{e}");
    // The padding rows' code, or any code above the format's.
    let pad = Claim { code: agora_zk::format::PAD_CODE, ..claim.clone() };
    let e = rejected(&pad, &commitment, &proof);
    assert!(e.to_string().contains("above the format"), "{e}");
    // A commitment of another size or version.
    let larger = Snapshot::build(rows(1100, 1), [3; 32]).unwrap();
    let e = rejected(&claim, larger.commitment(), &proof);
    assert!(matches!(e, ZkError::Shape { .. }), "{e}");
    let e = rejected(&claim, &Commitment { version: 3, ..commitment.clone() }, &proof);
    assert!(e.to_string().contains("version 3"), "{e}");

    // Truncated and bit-flipped proofs.
    for cut in [0, 1, 100, proof.len() / 2, proof.len() - 1] {
        let e = rejected(&claim, &commitment, &proof[..cut]);
        assert!(matches!(e, ZkError::Malformed(_)), "cut {cut}: {e}");
    }
    for at in (0..proof.len()).step_by(proof.len() / 40) {
        let mut flipped = proof.clone();
        flipped[at] ^= 0x10;
        assert!(verify_count_sum(&commitment, &claim, &flipped).is_err(), "flip at {at} verified");
    }
    // A header winterfell's own deserializer panics on (a trace length of 2^255; found by the fuzzer).
    let e = rejected(&claim, &commitment, &[0x01, 0x40, 0x0a, 0xff]);
    assert!(matches!(e, ZkError::Malformed(_)), "{e}");
    let mut long = proof.clone();
    long[3] = 0xff;
    let e = rejected(&claim, &commitment, &long);
    assert!(e.to_string().contains("trace header"), "{e}");
    // Any other byte of the fixed context (field, options, number of constraints) altered.
    let mut options = proof.clone();
    options[8] ^= 0x01;
    let e = rejected(&claim, &commitment, &options);
    assert!(e.to_string().contains("proof context"), "{e}");
    // An oversized one.
    let e = rejected(&claim, &commitment, &vec![0u8; 2 << 20]);
    assert!(e.to_string().contains("at most"), "{e}");
}

#[test]
fn a_full_snapshot_and_an_empty_one() {
    let full = rows(capacity(2048), 11);
    let snapshot = Snapshot::build(full.clone(), [0; 32]).unwrap();
    assert_eq!(snapshot.commitment().trace_length, 2048);
    let (claim, proof) = snapshot.prove_count_sum([0; 32], 1).unwrap();
    assert_eq!((claim.count, claim.sum), expected(&full, 1));
    verify_count_sum(snapshot.commitment(), &claim, &proof).unwrap();
    let empty = Snapshot::build(Vec::new(), [0; 32]).unwrap();
    let (claim, proof) = empty.prove_count_sum([0; 32], 1).unwrap();
    assert_eq!((claim.count, claim.sum), (0, 0));
    verify_count_sum(empty.commitment(), &claim, &proof).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    #[test]
    fn honest_proofs_verify_and_dishonest_outputs_never_do(
        data in prop::collection::vec((0u32..4, any::<u32>()), 0..150),
        code in 0u64..5,
        delta_count in 1u64..1000,
        delta_sum in 1u64..u32::MAX as u64,
    ) {
        let data: Vec<Row> = data.into_iter().map(|(code, value)| Row { code: code.into(), value }).collect();
        let snapshot = Snapshot::build(data.clone(), [1; 32]).unwrap();
        let (claim, proof) = snapshot.prove_count_sum([8; 32], code).unwrap();
        prop_assert_eq!((claim.count, claim.sum), expected(&data, code));
        prop_assert!(verify_count_sum(snapshot.commitment(), &claim, &proof).is_ok());
        let more = Claim { count: claim.count + delta_count, ..claim.clone() };
        prop_assert!(verify_count_sum(snapshot.commitment(), &more, &proof).is_err());
        let less = Claim { count: claim.count.saturating_sub(delta_count), ..claim.clone() };
        if less.count != claim.count {
            prop_assert!(verify_count_sum(snapshot.commitment(), &less, &proof).is_err());
        }
        let other_sum = Claim { sum: claim.sum + delta_sum, ..claim.clone() };
        prop_assert!(verify_count_sum(snapshot.commitment(), &other_sum, &proof).is_err());
    }
}

#[test]
fn archived_answers_verify_offline_with_the_cli() {
    use agora_zk::archive::ArchivedAnswer;
    let data = rows(120, 5);
    let snapshot = Snapshot::build(data.clone(), [4; 32]).unwrap();
    let (claim, proof) = snapshot.prove_count_sum([6; 32], 3).unwrap();
    let good = ArchivedAnswer::new(snapshot.commitment().clone(), &claim, &proof);
    let (count, sum) = expected(&data, 3);
    let mut forged = good.clone();
    forged.sum += 1;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, a: &ArchivedAnswer| {
        let p = dir.path().join(name);
        std::fs::write(&p, serde_json::to_string_pretty(a).unwrap()).unwrap();
        p
    };
    let good_path = write("good.json", &good);
    let forged_path = write("forged.json", &forged);
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{\"format\": 1}").unwrap();
    let run = |args: &[&std::path::Path]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_agora-zk")).arg("verify").args(args).output().unwrap()
    };
    let ok = run(&[&good_path]);
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{out}");
    assert!(out.contains(&format!("verified: count {count} and sum {sum} of code 3")), "{out}");
    let bad = run(&[&good_path, &forged_path, &garbage]);
    let out = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{out}");
    assert!(out.contains("forged.json: REFUSED: proof does not verify"), "{out}");
    assert!(out.contains("garbage.json: REFUSED: not an archived answer"), "{out}");
    // An array (as the hub's proofs endpoint gives): each element is checked and named.
    let array = dir.path().join("array.json");
    std::fs::write(&array, serde_json::to_string(&[&good, &forged]).unwrap()).unwrap();
    let both = run(&[&array]);
    let out = String::from_utf8_lossy(&both.stdout);
    assert_eq!(both.status.code(), Some(1), "{out}");
    assert!(out.contains("array.json[0]: verified") && out.contains("array.json[1]: REFUSED"), "{out}");
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "[]").unwrap();
    assert_eq!(run(&[&empty]).status.code(), Some(1));
}

#[test]
fn a_suppressed_cell_is_proven_below_the_threshold_and_discloses_nothing_else() {
    // Code 9 appears exactly 4 times, code 8 exactly 10 times, among 200 other rows.
    let mut data = rows(200, 21);
    for (i, r) in data.iter_mut().enumerate() {
        r.code = match i {
            0..=3 => 9,
            4..=13 => 8,
            _ => r.code,
        };
    }
    let snapshot = Snapshot::build(data.clone(), [2; 32]).unwrap();
    let commitment = snapshot.commitment();
    // 4 < 10: suppressed; the claim carries neither count nor sum.
    let (claim, proof) = snapshot.prove_cell([1; 32], 9, 10).unwrap();
    assert_eq!(claim.suppressed_below, Some(10));
    assert_eq!((claim.count, claim.sum), (0, 0));
    verify_count_sum(commitment, &claim, &proof).unwrap();
    // Exactly at the threshold: disclosed.
    let (shown, shown_proof) = snapshot.prove_cell([1; 32], 8, 10).unwrap();
    assert_eq!(shown.suppressed_below, None);
    assert_eq!((shown.count, shown.sum), expected(&data, 8));
    verify_count_sum(commitment, &shown, &shown_proof).unwrap();
    // The suppressed proof does not pass for a lower threshold (4 is not below 4), nor as a disclosed
    // answer, nor with a count attached.
    for t in [1, 4] {
        let lower = Claim { suppressed_below: Some(t), ..claim.clone() };
        assert!(verify_count_sum(commitment, &lower, &proof).is_err(), "threshold {t}");
    }
    let as_zero = Claim { suppressed_below: None, ..claim.clone() };
    assert!(verify_count_sum(commitment, &as_zero, &proof).is_err());
    let with_count = Claim { count: 4, ..claim.clone() };
    let e = verify_count_sum(commitment, &with_count, &proof).unwrap_err();
    assert!(e.to_string().contains("carries no count"), "{e}");
    // A disclosed count cannot be passed off as suppressed.
    let hide = Claim { count: 0, sum: 0, suppressed_below: Some(64), ..shown.clone() };
    assert!(verify_count_sum(commitment, &hide, &shown_proof).is_err());
    // A zero count is suppressed too.
    let (none, none_proof) = snapshot.prove_cell([1; 32], 77, 10).unwrap();
    assert_eq!(none.suppressed_below, Some(10));
    verify_count_sum(commitment, &none, &none_proof).unwrap();
}

#[test]
fn a_snapshot_serves_its_budget_of_proofs_then_asks_to_be_recommitted() {
    let data = rows(50, 3);
    let snapshot = Snapshot::build(data.clone(), [5; 32]).unwrap();
    let budget = agora_zk::format::proof_budget(snapshot.commitment().trace_length);
    assert_eq!(budget, 256 / 44);
    for i in 0..budget {
        snapshot.prove_count_sum([i as u8; 32], 1).unwrap();
    }
    assert_eq!(snapshot.prove_count_sum([0; 32], 1).unwrap_err(), ZkError::BudgetExhausted(budget));
    // Re-committed with a fresh seed: a new commitment, proofs again.
    let fresh = Snapshot::build(data, [6; 32]).unwrap();
    assert_ne!(fresh.commitment().root, snapshot.commitment().root);
    let (claim, proof) = fresh.prove_count_sum([0; 32], 1).unwrap();
    verify_count_sum(fresh.commitment(), &claim, &proof).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prover_pool_never_blocks_and_bounds_its_queue() {
    use agora_zk::pool::ProverPool;
    use std::sync::Arc;
    let data = rows(3000, 13);
    let cancel = tokio_util::sync::CancellationToken::new();
    let (pool, task) = ProverPool::start(1, 2, cancel.clone());
    // Enough snapshots that no budget runs out; each submission returns at once.
    let snapshots: Vec<Arc<Snapshot>> =
        (0..8u8).map(|i| Arc::new(Snapshot::build(data.clone(), [i; 32]).unwrap())).collect();
    let mut accepted = Vec::new();
    let mut busy = 0;
    for (i, s) in snapshots.iter().enumerate() {
        match pool.try_submit(s.clone(), [i as u8; 32], 2, 10) {
            Ok(rx) => accepted.push((s.clone(), rx)),
            Err(ZkError::Busy) => busy += 1,
            Err(e) => panic!("{e}"),
        }
    }
    // Two queued, and up to two more the dispatcher took (one proving, one waiting for the permit),
    // depending on how far it got while we submitted: the rest are refused at once, none waits.
    assert!((2..=4).contains(&accepted.len()), "{} accepted, {busy} busy", accepted.len());
    assert_eq!(accepted.len() + busy, 8);
    let (count, sum) = expected(&data, 2);
    for (s, rx) in accepted {
        let (claim, proof) = rx.await.unwrap().unwrap();
        assert_eq!((claim.count, claim.sum), (count, sum));
        verify_count_sum(s.commitment(), &claim, &proof).unwrap();
    }
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(pool.try_submit(snapshots[0].clone(), [0; 32], 2, 10).unwrap_err(), ZkError::Stopped);
}

/// Found by `cargo fuzz run stark_proof`: a proof with the exact format context for 2^11 rows whose first
/// vector claims an enormous length; winterfell's own reader would try to allocate it and abort the
/// process.
#[test]
fn a_proof_claiming_an_enormous_vector_is_refused_without_allocating_it() {
    let proof = hex::decode("2304010b00000801000000ffffffff2a041002081f000001015df200000000000000000000000000000000000000000000000000000000000000000000f2f2f27200").unwrap();
    let commitment = Commitment { version: 2, trace_length: 2048, root: hex::encode([0xf2; 32]) };
    let claim = Claim { query: [0xf2; 32], code: 242, count: 242, sum: 242 << 8, suppressed_below: None };
    let e = verify_count_sum(&commitment, &claim, &proof).unwrap_err();
    assert!(matches!(e, ZkError::Malformed(_)) && e.to_string().contains("bytes left"), "{e}");
}

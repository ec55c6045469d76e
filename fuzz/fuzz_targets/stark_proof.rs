//! Fuzzes the STARK answer verifier with arbitrary proof bytes and claims, as the hub and `agora-zk verify`
//! receive them: it must return an error, never panic (winterfell's `Air::new` panics on some hostile
//! trace shapes, which the shape checks must catch first) or hang.
//!
//! `cargo fuzz run stark_proof` (in `fuzz/`; cargo-fuzz needs a nightly compiler or RUSTC_BOOTSTRAP=1).

#![no_main]

use agora_zk::{verify_claim, Claim, Commitment, Criterion, FORMAT_VERSION};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 11 {
        return;
    }
    let (head, proof) = data.split_at(11);
    // The current format version and its trace lengths, so that the bytes reach the proof checks.
    let commitment = Commitment {
        version: FORMAT_VERSION,
        trace_length: agora_zk::format::MIN_TRACE_LENGTH << (head[0] % 4),
        root: hex::encode([head[1]; 32]),
    };
    // 1 to 8 criteria, some negated, some joining the previous one's clause, some ranged, with or
    // without a measure and its squares: every layout the verifier accepts.
    let criteria = (0..=(head[9] % 8))
        .map(|i| {
            let bound = |shift: u32| (head[7] >> i & 1 == 1).then_some(u32::from(head[4]) << (shift + u32::from(i)));
            Criterion {
                code: u64::from(head[3] >> 2) + u64::from(i),
                negated: head[5] >> i & 1 == 1,
                or_previous: i > 0 && head[8] >> i & 1 == 1,
                min: bound(3),
                max: if head[10] >> i & 1 == 1 { bound(12) } else { None },
            }
        })
        .collect();
    let measure = (head[6] & 2 == 2).then_some(u64::from(head[5]));
    // A range on the measure (a histogram bin of every value): its values counted, no sum.
    let measure_range = (measure.is_some() && head[8] & 1 == 1).then(|| agora_zk::air::Range {
        min: (head[8] & 2 == 2).then_some(u32::from(head[4]) << 20),
        max: (head[8] & 4 == 4).then_some(u32::from(head[7]) << 24),
    });
    let claim = Claim {
        query: [head[2]; 32],
        criteria,
        measure,
        count: u64::from(head[4]),
        sum: if measure.is_some() && measure_range.is_none() { u64::from(head[5]) << 8 } else { 0 },
        sum_sq: (measure.is_some() && measure_range.is_none() && head[6] & 4 == 4).then_some(u128::from(head[5]) << 16),
        measure_range,
        suppressed_below: (head[6] % 2 == 1).then_some(u32::from(head[7] % 70)),
    };
    let _ = verify_claim(&commitment, &claim, proof);
    // And the archive form the CLI reads.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(answer) = serde_json::from_str::<agora_zk::archive::ArchivedAnswer>(text) {
            let _ = answer.verify();
        }
    }
});

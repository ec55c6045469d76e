//! Fuzzes the STARK answer verifier with arbitrary proof bytes and claims, as the hub and `agora-zk verify`
//! receive them: it must return an error, never panic (winterfell's `Air::new` panics on some hostile
//! trace shapes, which the shape checks must catch first) or hang.
//!
//! `cargo fuzz run stark_proof` (in `fuzz/`; cargo-fuzz needs a nightly compiler or RUSTC_BOOTSTRAP=1).

#![no_main]

use agora_zk::{verify_count_sum, Claim, Commitment};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (head, proof) = data.split_at(8);
    let commitment = Commitment {
        version: 1,
        trace_length: 512 << (head[0] % 4),
        root: hex::encode([head[1]; 32]),
    };
    let claim = Claim {
        query: [head[2]; 32],
        code: u64::from(head[3]),
        count: u64::from(head[4]),
        sum: u64::from(head[5]) << 8,
        suppressed_below: (head[6] % 2 == 1).then_some(u32::from(head[7] % 70)),
    };
    let _ = verify_count_sum(&commitment, &claim, proof);
    // And the archive form the CLI reads.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(answer) = serde_json::from_str::<agora_zk::archive::ArchivedAnswer>(text) {
            let _ = answer.verify();
        }
    }
});

//! BLAKE3 of many trace rows at once: the leaves of a Merkle tree over an extension's rows.
//!
//! A row of at most 1,024 bytes (128 base-field values) is one BLAKE3 chunk, whose blocks are
//! compressed one after another. `blake3::hash` compresses one row's blocks with one SIMD lane; here
//! the blocks before each row's last are compressed for up to eight rows at a time
//! (`Platform::hash_many`, which BLAKE3 itself uses for the chunks of a long input), and each row's last
//! block is then compressed alone with the flags that end a chunk and make it the root. The digests are
//! `blake3::hash`'s, bit for bit (the tests compare them for every row length up to a chunk), about
//! twice as fast on a CPU with AVX2.
//!
//! `blake3::platform` is public but hidden from the crate's docs: `zk/Cargo.toml` pins the version
//! whose interface this module was written against, and rows longer than a chunk (never a trace row of
//! format v3) go through `blake3::hash`.

use blake3::platform::Platform;

/// The flags of BLAKE3's compression function (the BLAKE3 specification, section 2.2).
const CHUNK_START: u8 = 1;
const CHUNK_END: u8 = 2;
const ROOT: u8 = 8;
/// BLAKE3's initial chaining value (the specification's IV, as SHA-256's).
const IV: [u32; 8] =
    [0x6A09_E667, 0xBB67_AE85, 0x3C6E_F372, 0xA54F_F53A, 0x510E_527F, 0x9B05_688C, 0x1F83_D9AB, 0x5BE0_CD19];
const BLOCK: usize = 64;

/// The BLAKE3 hashes of the rows of `bytes`, each `row_len` bytes long, into `out` (one per row).
pub(crate) fn hash_rows(bytes: &[u8], row_len: usize, out: &mut [[u8; 32]]) {
    assert_eq!(bytes.len(), row_len * out.len(), "whole rows, one digest each");
    if row_len == 0 {
        return out.fill(*blake3::hash(&[]).as_bytes());
    }
    if row_len > blake3::CHUNK_LEN {
        for (row, digest) in bytes.chunks_exact(row_len).zip(out.iter_mut()) {
            *digest = *blake3::hash(row).as_bytes();
        }
        return;
    }
    let platform = Platform::detect();
    // The blocks before each row's last, compressed for many rows at once.
    let before_last = (row_len - 1) / BLOCK;
    let mut cvs = vec![0u8; 32 * out.len()];
    macro_rules! many {
        ($($k:literal)*) => {
            match before_last {
                0 => {}
                $($k => leading::<{ $k * BLOCK }>(&platform, bytes, row_len, &mut cvs),)*
                _ => unreachable!("a chunk has 16 blocks"),
            }
        };
    }
    many!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
    let last_len = row_len - before_last * BLOCK;
    let flags = CHUNK_END | ROOT | if before_last == 0 { CHUNK_START } else { 0 };
    for ((row, cv), digest) in bytes.chunks_exact(row_len).zip(cvs.chunks_exact(32)).zip(out.iter_mut()) {
        let mut words = if before_last == 0 {
            IV
        } else {
            std::array::from_fn(|w| u32::from_le_bytes(cv[4 * w..4 * w + 4].try_into().expect("four bytes")))
        };
        let mut block = [0u8; BLOCK];
        block[..last_len].copy_from_slice(&row[before_last * BLOCK..]);
        platform.compress_in_place(&mut words, &block, last_len as u8, 0, flags);
        for (w, word) in words.iter().enumerate() {
            digest[4 * w..4 * w + 4].copy_from_slice(&word.to_le_bytes());
        }
    }
}

/// The chaining value after the first `N` bytes (whole blocks) of each row, into `cvs` (32 bytes a row).
fn leading<const N: usize>(platform: &Platform, bytes: &[u8], row_len: usize, cvs: &mut [u8]) {
    let inputs: Vec<&[u8; N]> =
        bytes.chunks_exact(row_len).map(|row| row[..N].try_into().expect("the row's leading blocks")).collect();
    platform.hash_many(&inputs, &IV, 0, blake3::IncrementCounter::No, 0, CHUNK_START, 0, cvs);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row length up to a chunk and past it, in batches of one to seventeen rows (across the
    /// SIMD degrees): the digests are `blake3::hash`'s.
    #[test]
    fn the_digests_are_blake3s() {
        let bytes: Vec<u8> = (0..17 * 1100u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for row_len in (0..=1100).filter(|l| *l <= 130 || l % 8 == 0 || l % 64 <= 1 || *l > 1020) {
            for rows in [1, 2, 3, 8, 9, 16, 17] {
                let bytes = &bytes[..row_len * rows];
                let mut out = vec![[0u8; 32]; rows];
                hash_rows(bytes, row_len, &mut out);
                for (r, digest) in out.iter().enumerate() {
                    let row = &bytes[r * row_len..(r + 1) * row_len];
                    assert_eq!(digest, blake3::hash(row).as_bytes(), "row {r} of {rows}, {row_len} bytes");
                }
            }
        }
    }
}

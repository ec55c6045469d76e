//! BLAKE3 of many trace rows at once: the leaves of a Merkle tree over an extension's rows.
//!
//! A row of at most 1,024 bytes (a main row; an auxiliary row of up to 64 values, each hashed as an
//! extension element of 16 bytes) is one BLAKE3 chunk, whose blocks are compressed one after another;
//! a row of up to 2,048 bytes (up to 128 auxiliary values, the format's most) is two chunks and their
//! parent. `blake3::hash` compresses one row's blocks with one SIMD lane; here the blocks before each
//! chunk's last are compressed for up to eight rows at a time (sixteen with AVX-512; `Platform::hash_many`, which BLAKE3
//! itself uses for the chunks of a long input), and each chunk's last block is then compressed alone
//! with the flags that end a chunk (and make it the root, for one chunk), and the parent of two with the
//! root's. The digests are `blake3::hash`'s, bit for bit (the tests compare them for row lengths up to
//! two chunks and past them, on the portable code, the detected instruction set and, on x86, SSE2,
//! SSE4.1 and AVX2 where the CPU has them), about twice as fast with AVX2.
//!
//! `blake3::platform` is public but hidden from the crate's docs: `zk/Cargo.toml` pins the version
//! whose interface this module was written against (a new blake3 release, a security one included,
//! is taken by bumping that pin and running these tests), and longer rows go through `blake3::hash`.

use blake3::platform::Platform;

/// The flags of BLAKE3's compression function (the BLAKE3 specification, section 2.2).
const CHUNK_START: u8 = 1;
const CHUNK_END: u8 = 2;
const PARENT: u8 = 4;
const ROOT: u8 = 8;
/// BLAKE3's initial chaining value (the specification's IV, as SHA-256's).
const IV: [u32; 8] =
    [0x6A09_E667, 0xBB67_AE85, 0x3C6E_F372, 0xA54F_F53A, 0x510E_527F, 0x9B05_688C, 0x1F83_D9AB, 0x5BE0_CD19];
const BLOCK: usize = 64;
const CHUNK: usize = blake3::CHUNK_LEN;

/// The BLAKE3 hashes of the rows of `bytes`, each `row_len` bytes long, into `out` (one per row).
pub(crate) fn hash_rows(bytes: &[u8], row_len: usize, out: &mut [[u8; 32]]) {
    hash_rows_on(&Platform::detect(), bytes, row_len, out)
}

/// [`hash_rows`] with `platform`'s instructions.
fn hash_rows_on(platform: &Platform, bytes: &[u8], row_len: usize, out: &mut [[u8; 32]]) {
    assert_eq!(bytes.len(), row_len * out.len(), "whole rows, one digest each");
    let mut words = vec![[0u32; 8]; out.len()];
    if row_len == 0 {
        return out.fill(*blake3::hash(&[]).as_bytes());
    } else if row_len <= CHUNK {
        // One chunk, the root.
        chunk_cvs(platform, bytes, row_len, (0, row_len), CHUNK_END | ROOT, &mut words);
    } else if row_len <= 2 * CHUNK {
        // Two chunks (an auxiliary row of more than 64 values, each hashed as an extension element of
        // 16 bytes), and their parent, the root.
        let mut right = vec![[0u32; 8]; out.len()];
        chunk_cvs(platform, bytes, row_len, (0, CHUNK), CHUNK_END, &mut words);
        chunk_cvs(platform, bytes, row_len, (CHUNK, row_len - CHUNK), CHUNK_END, &mut right);
        for (left, right) in words.iter_mut().zip(&right) {
            let mut block = [0u8; BLOCK];
            for (w, word) in left.iter().chain(right).enumerate() {
                block[4 * w..4 * w + 4].copy_from_slice(&word.to_le_bytes());
            }
            *left = IV;
            platform.compress_in_place(left, &block, BLOCK as u8, 0, PARENT | ROOT);
        }
    } else {
        for (row, digest) in bytes.chunks_exact(row_len).zip(out.iter_mut()) {
            *digest = *blake3::hash(row).as_bytes();
        }
        return;
    }
    for (digest, words) in out.iter_mut().zip(&words) {
        for (w, word) in words.iter().enumerate() {
            digest[4 * w..4 * w + 4].copy_from_slice(&word.to_le_bytes());
        }
    }
}

/// The chaining value of chunk `from / 1024` of each row (its `len` bytes from byte `from`, at most a
/// chunk), into `out`, its last block compressed with `last_flags` (`CHUNK_END`, and `ROOT` for the
/// only chunk): the blocks before the last for many rows at once, the last alone.
fn chunk_cvs(
    platform: &Platform,
    bytes: &[u8],
    row_len: usize,
    (from, len): (usize, usize),
    last_flags: u8,
    out: &mut [[u32; 8]],
) {
    debug_assert!(len > 0 && len <= CHUNK && from.is_multiple_of(CHUNK));
    let counter = (from / CHUNK) as u64;
    let before_last = (len - 1) / BLOCK;
    if before_last == 0 {
        out.fill(IV);
    } else {
        let mut cvs = vec![0u8; 32 * out.len()];
        macro_rules! many {
            ($($k:literal)*) => {
                match before_last {
                    $($k => leading::<{ $k * BLOCK }>(platform, bytes, row_len, from, counter, &mut cvs),)*
                    _ => unreachable!("a chunk has 16 blocks"),
                }
            };
        }
        many!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
        for (words, cv) in out.iter_mut().zip(cvs.chunks_exact(32)) {
            *words = std::array::from_fn(|w| u32::from_le_bytes(cv[4 * w..4 * w + 4].try_into().expect("four bytes")));
        }
    }
    let last_len = len - before_last * BLOCK;
    let flags = last_flags | if before_last == 0 { CHUNK_START } else { 0 };
    for (row, words) in bytes.chunks_exact(row_len).zip(out.iter_mut()) {
        let mut block = [0u8; BLOCK];
        block[..last_len].copy_from_slice(&row[from + before_last * BLOCK..from + len]);
        platform.compress_in_place(words, &block, last_len as u8, counter, flags);
    }
}

/// The chaining value after the `N` bytes (whole blocks) from byte `from` of each row, at chunk
/// `counter`, into `cvs` (32 bytes a row).
fn leading<const N: usize>(
    platform: &Platform,
    bytes: &[u8],
    row_len: usize,
    from: usize,
    counter: u64,
    cvs: &mut [u8],
) {
    let inputs: Vec<&[u8; N]> = bytes
        .chunks_exact(row_len)
        .map(|row| row[from..from + N].try_into().expect("the chunk's leading blocks"))
        .collect();
    platform.hash_many(&inputs, &IV, counter, blake3::IncrementCounter::No, 0, CHUNK_START, 0, cvs);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row length up to two chunks and past them, in batches of one to seventeen rows (across
    /// the SIMD degrees): the digests are `blake3::hash`'s.
    #[test]
    fn the_digests_are_blake3s() {
        let bytes: Vec<u8> = (0..17 * 2200u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let lengths = (0..=2200).filter(|l| *l <= 130 || l % 8 == 0 || l % 64 <= 1 || (1020..=1090).contains(l));
        for row_len in lengths {
            for rows in [1, 2, 3, 8, 9, 16, 17] {
                let bytes = &bytes[..row_len * rows];
                // The portable code, the one `hash_rows` detects (AVX-512 or NEON where the CPU has
                // them), and on x86 every older instruction set the CPU has.
                #[allow(unused_mut)]
                let mut platforms = vec![Platform::portable(), Platform::detect()];
                #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                platforms.extend([Platform::sse2(), Platform::sse41(), Platform::avx2()].into_iter().flatten());
                for platform in &platforms {
                    let mut out = vec![[0u8; 32]; rows];
                    hash_rows_on(platform, bytes, row_len, &mut out);
                    for (r, digest) in out.iter().enumerate() {
                        let row = &bytes[r * row_len..(r + 1) * row_len];
                        let expected = blake3::hash(row);
                        assert_eq!(digest, expected.as_bytes(), "row {r} of {rows}, {row_len} bytes, {platform:?}");
                    }
                }
            }
        }
    }
}

//! The prover's scratch files. A proof's files (its auxiliary and quotient extensions' rows, its
//! segment's polynomials) are kept for the next proof instead of deleted: their pages stay in the
//! kernel's page cache, and a proof that overwrites them does not take fresh pages. On the 2-vCPU
//! machine of BENCHMARKS.md a gigabyte written into fresh pages took 2.8–3.1 s (memory the machine
//! had not touched for ten seconds is cold), over a kept file's 0.13–0.29 s.
//!
//! A snapshot's files, and a file that is read before it is written ([`Scratch::fresh`]), are never
//! kept: they are deleted with their owner, as before. A kept file is unnamed (it vanishes with the
//! process), stays in its directory (the node's `<data dir>/prover-scratch`) and holds what the proof
//! that last used it wrote there (per-query values over the node's rows) until the next proof
//! overwrites it: each user writes every byte it reads and then cuts the file to what it wrote
//! ([`Scratch::cut`]), so nothing older stays past its end. The pool keeps at most [`POOLED_BYTES`] of
//! files (scratch disk, or memory where the directory is a tmpfs): the largest that fit, so a file
//! given back may push smaller ones out (they are deleted), and every kept file is deleted once a
//! write to the scratch disk fails ([`release`]). In the
//! tests a kept file is scribbled over before it is handed out.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The most bytes of files the pool keeps (the scratch disk they hold while no proof runs).
const POOLED_BYTES: u64 = 4 << 30;

/// Files given back, with their directory and length.
static POOL: Mutex<Vec<(PathBuf, File, u64)>> = Mutex::new(Vec::new());

/// Whose a scratch file is: a proof's goes back to the pool when dropped, a snapshot's is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    Proof,
    Snapshot,
}

/// A scratch file in a directory.
pub(crate) struct Scratch {
    file: Option<File>,
    dir: PathBuf,
    /// Whether it goes back to the pool when dropped (a proof's, but not [`Scratch::fresh`]).
    pooled: bool,
}

impl Scratch {
    /// A kept file of `dir` for about `bytes` (the smallest of at least that many, else the largest),
    /// or a new unnamed one. Its content is what was written there before: the caller writes every
    /// byte it reads, then [`Scratch::cut`]s it.
    pub(crate) fn take(dir: &Path, bytes: u64, owner: Owner) -> std::io::Result<Scratch> {
        let kept = {
            let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
            let ours = (0..pool.len()).filter(|&i| pool[i].0 == dir);
            let fits = ours.clone().filter(|&i| pool[i].2 >= bytes).min_by_key(|&i| pool[i].2);
            fits.or_else(|| ours.max_by_key(|&i| pool[i].2)).map(|i| pool.swap_remove(i).1)
        };
        let file = match kept {
            Some(file) => {
                // In the tests every kept file comes back scribbled over, so a reader of a byte its
                // user did not write reads garbage, whichever proof wrote the file before.
                #[cfg(test)]
                scribble(&file);
                file
            }
            None => tempfile::tempfile_in(dir)?,
        };
        Ok(Scratch { file: Some(file), dir: dir.to_path_buf(), pooled: owner == Owner::Proof })
    }

    /// A new unnamed file in `dir` (empty: for a caller that reads what it has not written, as zeros),
    /// deleted when dropped.
    pub(crate) fn fresh(dir: &Path) -> std::io::Result<Scratch> {
        Ok(Scratch { file: Some(tempfile::tempfile_in(dir)?), dir: dir.to_path_buf(), pooled: false })
    }

    /// Cuts the file to its first `bytes` (what its user wrote), if it is longer.
    pub(crate) fn cut(&self, bytes: u64) -> std::io::Result<()> {
        if self.metadata()?.len() > bytes {
            self.set_len(bytes)?;
        }
        Ok(())
    }
}

impl std::ops::Deref for Scratch {
    type Target = File;

    fn deref(&self) -> &File {
        self.file.as_ref().expect("a scratch file until dropped")
    }
}

/// Deletes every kept file (a write to the scratch disk failed: their space goes back to it).
pub(crate) fn release() {
    POOL.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // A file whose proof panicked (a scratch file that could not be read, say) is not kept.
        let keep = self.pooled && !std::thread::panicking();
        let Some(file) = self.file.take().filter(|_| keep) else { return };
        let Ok(len) = file.metadata().map(|m| m.len()) else { return };
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        pool.push((std::mem::take(&mut self.dir), file, len));
        let deleted = keep_largest(&mut pool, |(_, _, len)| *len, POOLED_BYTES);
        // Closed once the pool is free again: deleting a file of gigabytes frees its pages on the way.
        drop(pool);
        drop(deleted);
    }
}

/// Keeps the largest of `files` that fit within `bound` bytes together (largest first) and returns the
/// others (an unnamed file is deleted when dropped). A proof's largest file (a wide segment's
/// extension) is the one that costs most to take fresh, and it is given back last, after its smaller
/// files: kept first come, first served, it was the one deleted.
fn keep_largest<T>(files: &mut Vec<T>, len: impl Fn(&T) -> u64, bound: u64) -> Vec<T> {
    files.sort_by_key(|f| std::cmp::Reverse(len(f)));
    let mut held = 0;
    let mut others = Vec::new();
    for f in std::mem::take(files) {
        if held + len(&f) <= bound {
            held += len(&f);
            files.push(f);
        } else {
            others.push(f);
        }
    }
    others
}

/// Overwrites `file` with bytes that are not zero.
#[cfg(test)]
fn scribble(file: &File) {
    use std::os::unix::fs::FileExt;
    let len = file.metadata().map_or(0, |m| m.len());
    let block: Vec<u8> = (0..1u64 << 16).map(|i| (i.wrapping_mul(0x9E37_79B9) >> 7) as u8 | 1).collect();
    let mut at = 0;
    while at < len {
        let n = (len - at).min(block.len() as u64) as usize;
        file.write_all_at(&block[..n], at).expect("scribbling over a kept file");
        at += n as u64;
    }
}

/// Gives `dir`'s pool files of these lengths, filled with bytes that are not zero (so that a reader
/// of bytes its user did not write reads garbage, in the tests that reuse them).
#[cfg(test)]
pub(crate) fn fill_pool(dir: &Path, lengths: &[u64]) {
    for &len in lengths {
        let file = tempfile::tempfile_in(dir).unwrap();
        file.set_len(len).unwrap();
        scribble(&file);
        drop(Scratch { file: Some(file), dir: dir.to_path_buf(), pooled: true });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    /// A proof's file given back is the next one taken in its directory (the smallest that fits, and,
    /// in the tests, scribbled over), not one of another directory's; a snapshot's is not given back, nor one
    /// past the pool's bytes; a file cut keeps only what was written.
    #[test]
    fn a_proofs_file_given_back_is_taken_again_in_its_directory() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = Scratch::take(a.path(), 4, Owner::Proof).unwrap();
        first.write_all_at(b"rows", 0).unwrap();
        drop(first);
        let large = Scratch::take(a.path(), 4, Owner::Proof).unwrap();
        assert_eq!(large.metadata().unwrap().len(), 4, "the file given back");
        large.write_all_at(&[7; 100], 0).unwrap();
        let small = Scratch::take(a.path(), 4, Owner::Proof).unwrap();
        small.write_all_at(b"rows", 0).unwrap();
        drop((large, small));
        let other = Scratch::take(b.path(), 0, Owner::Proof).unwrap();
        assert_eq!(other.metadata().unwrap().len(), 0, "another directory's file");
        // The smallest that fits, else the largest; in the tests, scribbled over.
        let fits = Scratch::take(a.path(), 3, Owner::Proof).unwrap();
        let mut read = [0u8; 4];
        fits.read_exact_at(&mut read, 0).unwrap();
        assert_eq!(fits.metadata().unwrap().len(), 4);
        assert!(read != *b"rows" && !read.contains(&0), "{read:?}");
        let largest = Scratch::take(a.path(), 1_000, Owner::Snapshot).unwrap();
        assert_eq!(largest.metadata().unwrap().len(), 100);
        largest.cut(10).unwrap();
        assert_eq!(largest.metadata().unwrap().len(), 10);
        // A snapshot's file is deleted when dropped, and so is one past the pool's bound (sparse).
        drop(largest);
        fits.set_len(POOLED_BYTES + 1).unwrap();
        drop(fits);
        assert_eq!(Scratch::take(a.path(), 0, Owner::Proof).unwrap().metadata().unwrap().len(), 0);
    }

    /// Files given back past the pool's bound: the largest that fit stay, whichever came back first (a
    /// wide proof gives its segment's extension back after its polynomials' and its quotient's files).
    #[test]
    fn the_pool_keeps_the_largest_files_that_fit() {
        let keep = |given_back: &[u64], bound: u64| {
            let mut files = given_back.to_vec();
            let others = keep_largest(&mut files, |len| *len, bound);
            let mut all = [files.clone(), others].concat();
            all.sort();
            let mut expected = given_back.to_vec();
            expected.sort();
            assert_eq!(all, expected, "every file kept or given back to be deleted");
            files
        };
        assert_eq!(keep(&[16, 5, 70], 100), [70, 16, 5]);
        assert_eq!(keep(&[25, 5, 75], 100), [75, 25], "the small one pushed out");
        assert_eq!(keep(&[30, 5, 70], 100), [70, 30]);
        assert_eq!(keep(&[40, 5, 70], 100), [70, 5], "the medium one pushed out, the small one fits");
        assert_eq!(keep(&[101, 5], 100), [5], "a file past the bound alone");
        assert_eq!(keep(&[], 100), [] as [u64; 0]);
    }
}

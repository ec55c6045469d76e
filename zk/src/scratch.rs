//! The prover's scratch files that a proof writes in full before it reads them (an extension's rows,
//! a segment's polynomials), kept for the next proof instead of deleted: their pages stay in the
//! kernel's page cache, and a proof that overwrites them does not take fresh pages. On the 2-vCPU
//! machine of BENCHMARKS.md a gigabyte written into fresh pages took 2.8–3.1 s (memory the machine
//! had not touched for ten seconds is cold), into a kept file's 0.13–0.29 s.
//!
//! A file is unnamed (it vanishes with the process), stays in its directory (the node's
//! `<data dir>/prover-scratch`), and holds what the proof that last used it wrote there, until the
//! next overwrites it. The pool keeps at most [`POOLED_BYTES`] of files; a larger one is deleted as
//! before.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The most bytes of files the pool keeps (the scratch disk they hold while no proof runs).
const POOLED_BYTES: u64 = 4 << 30;

/// Files given back, with their directory and length.
static POOL: Mutex<Vec<(PathBuf, File, u64)>> = Mutex::new(Vec::new());

/// A scratch file in a directory, given back to the pool when dropped.
pub(crate) struct Scratch {
    file: Option<File>,
    dir: PathBuf,
}

impl Scratch {
    /// A kept file of `dir` (the largest), or a new unnamed one. Its content is what was written there
    /// before: the caller writes every byte it reads.
    pub(crate) fn take(dir: &Path) -> std::io::Result<Scratch> {
        let kept = {
            let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
            let largest = (0..pool.len()).filter(|&i| pool[i].0 == dir).max_by_key(|&i| pool[i].2);
            largest.map(|i| pool.swap_remove(i).1)
        };
        let file = match kept {
            Some(file) => file,
            None => tempfile::tempfile_in(dir)?,
        };
        Ok(Scratch { file: Some(file), dir: dir.to_path_buf() })
    }
}

impl Scratch {
    /// A new unnamed file in `dir` (empty: for a caller that reads what it has not written, as zeros),
    /// given back to the pool when dropped.
    pub(crate) fn fresh(dir: &Path) -> std::io::Result<Scratch> {
        Ok(Scratch { file: Some(tempfile::tempfile_in(dir)?), dir: dir.to_path_buf() })
    }
}

impl std::ops::Deref for Scratch {
    type Target = File;

    fn deref(&self) -> &File {
        self.file.as_ref().expect("a scratch file until dropped")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let Some(file) = self.file.take() else { return };
        let Ok(len) = file.metadata().map(|m| m.len()) else { return };
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let held: u64 = pool.iter().map(|(_, _, len)| len).sum();
        if held + len <= POOLED_BYTES {
            pool.push((std::mem::take(&mut self.dir), file, len));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    /// A file given back is the next one taken in its directory (with what was written in it), not
    /// one of another directory's; beyond the pool's bytes, a file is not kept.
    #[test]
    fn a_file_given_back_is_taken_again_in_its_directory() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = Scratch::take(a.path()).unwrap();
        first.write_all_at(b"rows", 0).unwrap();
        drop(first);
        let other = Scratch::take(b.path()).unwrap();
        assert_eq!(other.metadata().unwrap().len(), 0, "another directory's file");
        let again = Scratch::take(a.path()).unwrap();
        let mut read = [0u8; 4];
        again.read_exact_at(&mut read, 0).unwrap();
        assert_eq!(&read, b"rows");
        // A file past the pool's bound (a sparse one) is deleted when dropped.
        again.set_len(POOLED_BYTES + 1).unwrap();
        drop(again);
        assert_eq!(Scratch::take(a.path()).unwrap().metadata().unwrap().len(), 0);
    }
}

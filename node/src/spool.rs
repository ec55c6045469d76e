//! A spool of patient blocks: the dataset the node commits to, read from the store in one read
//! transaction and kept here while its chunks are committed, so that the transaction ends before the
//! first commit (an open read transaction keeps SQLite from checkpointing its WAL past it, and a
//! commit of ten chunks takes minutes while ingests go on). The blocks wait in an unnamed scratch
//! file in the node's scratch directory (gone with the spool; 12 bytes a row and 4 a block) or, where
//! none can be written, in memory.

use agora_zk::prove::{Block, Row};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::Path;

/// Blocks being written to a spool, in order.
pub enum SpoolWriter {
    /// In a scratch file.
    File(BufWriter<File>),
    /// In memory (no scratch file could be made).
    Memory(Vec<Block>),
}

/// Blocks spooled, to be read back once, in the order they were written.
pub enum Spool {
    /// In a scratch file, from its start.
    File(File),
    /// In memory.
    Memory(Vec<Block>),
}

impl SpoolWriter {
    /// A spool in an unnamed scratch file in `dir` (the node's own scratch directory: rows are never
    /// written anywhere else), or in memory without a directory or when it takes no file (the error
    /// says why).
    pub fn new(dir: Option<&Path>) -> (SpoolWriter, Option<std::io::Error>) {
        let Some(dir) = dir else { return (SpoolWriter::Memory(Vec::new()), None) };
        match tempfile::tempfile_in(dir) {
            Ok(file) => (SpoolWriter::File(BufWriter::with_capacity(1 << 20, file)), None),
            Err(e) => (SpoolWriter::Memory(Vec::new()), Some(e)),
        }
    }

    /// Appends a block.
    pub fn push(&mut self, block: Block) -> std::io::Result<()> {
        match self {
            SpoolWriter::Memory(blocks) => blocks.push(block),
            SpoolWriter::File(out) => {
                let len = u32::try_from(block.len()).map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "a block of 2^32 rows or more")
                })?;
                out.write_all(&len.to_le_bytes())?;
                for row in &block {
                    out.write_all(&row.code.to_le_bytes())?;
                    out.write_all(&row.value.to_le_bytes())?;
                }
            }
        }
        Ok(())
    }

    /// The spool, to be read from its first block.
    pub fn finish(self) -> std::io::Result<Spool> {
        match self {
            SpoolWriter::Memory(blocks) => Ok(Spool::Memory(blocks)),
            SpoolWriter::File(out) => {
                let mut file = out.into_inner().map_err(|e| e.into_error())?;
                file.rewind()?;
                Ok(Spool::File(file))
            }
        }
    }
}

impl Spool {
    /// Hands every block to `each`, in the order written; stops at `each`'s first error, or at a read
    /// that fails.
    pub fn for_each<E: From<std::io::Error>>(self, mut each: impl FnMut(Block) -> Result<(), E>) -> Result<(), E> {
        match self {
            Spool::Memory(blocks) => blocks.into_iter().try_for_each(each),
            Spool::File(file) => {
                let mut input = BufReader::with_capacity(1 << 20, file);
                let mut len = [0u8; 4];
                loop {
                    match input.read_exact(&mut len) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                        Err(e) => return Err(e.into()),
                    }
                    let n = u32::from_le_bytes(len) as usize;
                    // A damaged length fails at the file's end, not by allocating for it.
                    let mut block = Vec::with_capacity(n.min(1 << 16));
                    let mut row = [0u8; 12];
                    for _ in 0..n {
                        input.read_exact(&mut row)?;
                        block.push(Row {
                            code: u64::from_le_bytes(row[..8].try_into().expect("eight bytes")),
                            value: u32::from_le_bytes(row[8..].try_into().expect("four bytes")),
                        });
                    }
                    each(block)?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks() -> Vec<Block> {
        vec![
            vec![Row::attribute(1), Row { code: u64::MAX >> 2, value: u32::MAX }],
            Vec::new(),
            (0..1000).map(|i| Row { code: i, value: (i * 7) as u32 }).collect(),
        ]
    }

    fn round_trip(mut w: SpoolWriter) -> Vec<Block> {
        for b in blocks() {
            w.push(b).unwrap();
        }
        let mut back = Vec::new();
        w.finish()
            .unwrap()
            .for_each(|b| {
                back.push(b);
                Ok::<(), std::io::Error>(())
            })
            .unwrap();
        back
    }

    #[test]
    fn blocks_come_back_as_written_from_a_file_or_memory() {
        let dir = tempfile::tempdir().unwrap();
        let (file, e) = SpoolWriter::new(Some(dir.path()));
        assert!(e.is_none() && matches!(file, SpoolWriter::File(_)));
        assert_eq!(round_trip(file), blocks());
        assert_eq!(round_trip(SpoolWriter::Memory(Vec::new())), blocks());
        // The file is unnamed: nothing is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_directory_that_takes_no_file_spools_in_memory_and_says_why() {
        let (w, e) = SpoolWriter::new(Some(Path::new("/nonexistent/agora-spool")));
        assert!(matches!(w, SpoolWriter::Memory(_)));
        assert!(e.is_some());
        // Without the node's scratch directory, in memory: never the system's temporary directory.
        let (w, e) = SpoolWriter::new(None);
        assert!(matches!(w, SpoolWriter::Memory(_)) && e.is_none());
    }

    #[test]
    fn a_cut_short_spool_is_an_error_not_fewer_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _) = SpoolWriter::new(Some(dir.path()));
        for b in blocks() {
            w.push(b).unwrap();
        }
        let Spool::File(file) = w.finish().unwrap() else { panic!("a file spool") };
        let len = file.metadata().unwrap().len();
        file.set_len(len - 5).unwrap();
        let mut seen = 0;
        let read = Spool::File(file).for_each(|_| {
            seen += 1;
            Ok::<(), std::io::Error>(())
        });
        assert_eq!(read.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(seen, 2, "the blocks before the cut, then the error");
    }
}

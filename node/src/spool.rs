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
    /// In a scratch file, and the most rows a block written has.
    File(BufWriter<File>, usize),
    /// In memory (no scratch file could be made).
    Memory(Vec<Block>),
}

/// Blocks spooled, to be read back once, in the order they were written.
pub enum Spool {
    /// In a scratch file, from its start, and the most rows a block in it has (a length read back
    /// above it is damage, refused before any of its rows is read).
    File(File, usize),
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
            Ok(file) => (SpoolWriter::File(BufWriter::with_capacity(1 << 20, file), 0), None),
            Err(e) => (SpoolWriter::Memory(Vec::new()), Some(e)),
        }
    }

    /// Appends a block.
    pub fn push(&mut self, block: Block) -> std::io::Result<()> {
        match self {
            SpoolWriter::Memory(blocks) => blocks.push(block),
            SpoolWriter::File(out, largest) => {
                *largest = (*largest).max(block.len());
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
            SpoolWriter::File(out, largest) => {
                let mut file = out.into_inner().map_err(|e| e.into_error())?;
                file.rewind()?;
                Ok(Spool::File(file, largest))
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
            Spool::File(file, largest) => {
                let mut input = BufReader::with_capacity(1 << 20, file);
                let mut len = [0u8; 4];
                loop {
                    match input.read_exact(&mut len) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                        Err(e) => return Err(e.into()),
                    }
                    let n = u32::from_le_bytes(len) as usize;
                    if n > largest {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("a spooled block of {n} rows, more than any written ({largest})"),
                        )
                        .into());
                    }
                    let mut block = Vec::with_capacity(n);
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
        assert!(e.is_none() && matches!(file, SpoolWriter::File(..)));
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
        let Spool::File(mut file, largest) = w.finish().unwrap() else { panic!("a file spool") };
        assert_eq!(largest, 1000);
        // A damaged length is refused before its rows are read.
        use std::io::SeekFrom;
        file.write_all(&u32::MAX.to_le_bytes()).unwrap();
        file.rewind().unwrap();
        let mut seen = 0;
        let read = Spool::File(file.try_clone().unwrap(), largest).for_each(|_| {
            seen += 1;
            Ok::<(), std::io::Error>(())
        });
        assert_eq!(read.unwrap_err().kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(seen, 0);
        file.seek(SeekFrom::Start(0)).unwrap();
        file.write_all(&2u32.to_le_bytes()).unwrap();
        file.rewind().unwrap();
        // Cut short within a row: the blocks before the cut, then an error.
        let len = file.metadata().unwrap().len();
        file.set_len(len - 5).unwrap();
        let mut seen = 0;
        let read = Spool::File(file, largest).for_each(|_| {
            seen += 1;
            Ok::<(), std::io::Error>(())
        });
        assert_eq!(read.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(seen, 2, "the blocks before the cut, then the error");
    }
}

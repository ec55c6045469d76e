//! Where a proof's auxiliary values are written as they are computed: columns in memory, or, for a
//! segment too wide to hold ([`crate::lde::trace_in_memory`]), a scratch file written through a
//! window of rows ([`Windowed`]).

use crate::lde::PolyFile;
use winter_math::fields::f64::BaseElement;
use winter_math::FieldElement;

/// Columns of cells, all zero at first.
pub(crate) trait Cells {
    /// Sets column `c`'s cell on row `i`.
    fn set(&mut self, c: usize, i: usize, value: BaseElement);
}

impl Cells for Vec<Vec<BaseElement>> {
    fn set(&mut self, c: usize, i: usize, value: BaseElement) {
        self[c][i] = value;
    }
}

/// Rows in a window: 256 KiB per column (64 in the unit tests, so that their traces cross windows).
const WINDOW: usize = if cfg!(test) { 64 } else { 1 << 15 };

/// The columns of a [`PolyFile`], set through a window of [`WINDOW`] rows: the first cell set in a
/// column of the window reads that column's rows of the window from the file, and the column's rows are
/// written back when the window moves (to the rows of the cell being set) or at [`Windowed::finish`].
/// Any order of cells is right; cells set row after row, as the prover does, read and write each
/// column of the file about once. A failed read or write is kept and reported by `finish` (the
/// cells set after it are dropped).
pub(crate) struct Windowed {
    file: PolyFile,
    rows: usize,
    /// The window's cells, `WINDOW` per column.
    window: Vec<Vec<BaseElement>>,
    /// Its first row.
    start: usize,
    /// The columns read into the window since it last moved.
    loaded: Vec<bool>,
    error: Option<std::io::Error>,
}

impl Windowed {
    /// The columns of `file` (all zero).
    pub(crate) fn new(file: PolyFile) -> Windowed {
        let (cols, rows) = (file.num_cols(), winter_prover::PolyStore::num_rows(&file));
        Windowed {
            file,
            rows,
            window: vec![vec![BaseElement::ZERO; WINDOW.min(rows)]; cols],
            start: 0,
            loaded: vec![false; cols],
            error: None,
        }
    }

    /// The window's rows of the file (fewer in the last window).
    fn span(&self) -> usize {
        WINDOW.min(self.rows - self.start)
    }

    /// Writes back the columns read into the window.
    fn write_back(&mut self) {
        let span = self.span();
        for (c, loaded) in self.loaded.iter_mut().enumerate() {
            if std::mem::take(loaded) && self.error.is_none() {
                if let Err(e) = self.file.write_at(c, self.start, &self.window[c][..span]) {
                    self.error = Some(e);
                }
            }
        }
    }

    /// The file, every cell set written, or the first error.
    pub(crate) fn finish(mut self) -> std::io::Result<PolyFile> {
        self.write_back();
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.file),
        }
    }
}

impl Cells for Windowed {
    fn set(&mut self, c: usize, i: usize, value: BaseElement) {
        assert!(i < self.rows, "a row of the file");
        if i < self.start || i >= self.start + WINDOW {
            self.write_back();
            self.start = i - i % WINDOW;
        }
        if !self.loaded[c] {
            let span = self.span();
            if let Err(e) = self.file.read_at(c, self.start, &mut self.window[c][..span]) {
                self.error.get_or_insert(e);
            }
            self.loaded[c] = true;
        }
        self.window[c][i - self.start] = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use winter_prover::PolyStore;

    /// Cells set in any order (rows forwards and backwards, columns interleaved, windows revisited,
    /// a cell set twice) read back from the file as they read from columns in memory.
    #[test]
    fn cells_set_through_the_window_are_the_cells_in_memory() {
        let (cols, rows) = (5, 3 * WINDOW + 17);
        let mut order: Vec<(usize, usize)> = Vec::new();
        // Row after row, two columns at a time, as the prover's first pass.
        order.extend((0..rows).flat_map(|i| [(0, i), (1, i)]));
        // Another column row after row, then one backwards over the windows, then every seventh row of
        // the last, and a cell of the first column set again.
        order.extend((0..rows).map(|i| (2, i)));
        order.extend((0..rows).rev().map(|i| (3, i)));
        order.extend((0..rows).step_by(7).map(|i| (4, i)));
        order.push((0, WINDOW + 3));
        let mut memory = vec![vec![BaseElement::ZERO; rows]; cols];
        let dir = tempfile::tempdir().unwrap();
        let mut windowed = Windowed::new(PolyFile::zeros(dir.path(), cols, rows).unwrap());
        for (k, &(c, i)) in order.iter().enumerate() {
            let value = BaseElement::new(k as u64 * 0x9E37_79B9 + 1);
            memory.set(c, i, value);
            windowed.set(c, i, value);
        }
        let file = windowed.finish().unwrap();
        for (c, expected) in memory.iter().enumerate() {
            let mut column = vec![BaseElement::ONE; rows];
            file.read_column(c, &mut column);
            assert!(column == *expected, "column {c} differs");
        }
    }
}

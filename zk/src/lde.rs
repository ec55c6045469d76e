//! The committed main segment's low-degree extension, computed once per snapshot and shared by every
//! proof over it (winterfell's default recomputes it for each proof), and how every extension and
//! commitment of a proof is held: as column segments never transposed ([`Extension`]), under Merkle
//! trees kept from 32 rows up (a snapshot's, which it keeps, from 256: [`RowTree`], also for the
//! quotient: [`QuotientCommitment`]), in unnamed
//! scratch files with the polynomials ([`PolyFile`]) but for a proof's auxiliary even rows while they
//! fit ([`Budget`]); the same roots, openings and proofs as winterfell's own (zk/README.md, "Memory").

use crate::scratch::{Owner, Scratch};
use crate::verify::Hash;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use winter_air::proof::Queries;
use winter_air::{EvaluationFrame, PartitionOptions, TraceInfo};
use winter_crypto::{Hasher, MerkleTree};
use winter_math::fields::f64::BaseElement;
use winter_math::{FieldElement, StarkField};
use winter_prover::matrix::{get_evaluation_offsets, ColMatrix, Segment};
use winter_prover::{CompositionPoly, ConstraintCommitment, PolyColumns, PolyStore, StarkDomain, TraceLde};

type Vc = MerkleTree<Hash>;
/// winterfell's segment width for 64-bit fields.
const SEGMENT_WIDTH: usize = 8;

/// Base-field columns evaluated over the LDE domain, held as winterfell's segments of eight columns
/// (row-major within a segment) and read row by row from them. winterfell's `RowMatrix` transposes the
/// segments into one row-major matrix and holds both while it does: twice the extension's memory at
/// its peak, the largest allocation of a proof. A last group of at most four columns is held four wide
/// (winterfell pads it to eight: the main segment's 36 columns would take 40), and every group of an
/// extension of more than 2^22 rows (a trace of more than 2^20) is ([`WIDE_HALF`]).
///
/// With a scratch directory, every row is written to an unnamed scratch file (rows stay in memory if
/// no directory is given, or if the file cannot be written). The constraint evaluation domain is every
/// other row of the LDE domain (blowup 4, constraint blowup 2), so constraints read the even rows only,
/// each evaluation thread a chunk of them at a time in order ([`Extension::read_even_row`]); the odd
/// rows are read only to build the Merkle tree and to open the queried rows. Each half is computed
/// directly as the evaluations over its own coset of half the domain, so the whole extension of a
/// group is never held, and each half is written while the next is computed.
pub(crate) struct Extension {
    segments: Vec<Group<SEGMENT_WIDTH>>,
    /// The columns after the segments, in groups of [`NARROW_WIDTH`] (the last padded): a last
    /// group of at most four, or every column of an extension whose wide halves would be too large
    /// ([`WIDE_HALF`]).
    narrow: Vec<Group<NARROW_WIDTH>>,
    width: usize,
    rows: usize,
    spill: Option<Scratch>,
    /// Never reused: names this extension's rows in each thread's [`chunks`] cache.
    id: u64,
}

const NARROW_WIDTH: usize = 4;

/// The most bytes a half of an eight-column group may take (128 MiB: a trace of 2^20 rows). Beyond
/// it the extension is held in groups of four columns: each group's two halves in flight while it is
/// computed and written take 256 MiB at 2^21 rows instead of 512, and 512 MiB at 2^22.
const WIDE_HALF: usize = 128 << 20;

#[cfg(test)]
thread_local! {
    /// [`WIDE_HALF`] on a unit test's thread, which it may lower to build small extensions in four-wide
    /// groups (an extension's layout is chosen on the thread that builds it).
    pub(crate) static WIDE_HALF_IN_TEST: std::cell::Cell<usize> = const { std::cell::Cell::new(WIDE_HALF) };
}

/// The width of an extension's groups of columns (but a narrow last one) for `rows` rows.
fn group_width(rows: usize) -> usize {
    #[cfg(test)]
    let wide_half = WIDE_HALF_IN_TEST.get();
    #[cfg(not(test))]
    let wide_half = WIDE_HALF;
    if rows / 2 * SEGMENT_WIDTH * 8 > wide_half {
        NARROW_WIDTH
    } else {
        SEGMENT_WIDTH
    }
}

/// The most bytes a proof may hold, by the model below ([`Budget`]): its snapshot's share, and its
/// auxiliary segment while it is extended, or the quotient's while it is. What the model leaves out
/// (the allocator's retained memory, trees, caches, the DEEP and FRI steps) kept every measured peak
/// within 1.5 GB with it (BENCHMARKS.md).
pub(crate) const AUX_MEMORY: usize = 1_200 << 20;

/// The bytes per trace row counted for the snapshot while its proofs run: the three main columns a
/// proof reads (17), its patient blocks (about 22 with four rows per patient), its Merkle tree (1,
/// kept from 256 rows up; 8 when it was kept from 32), and a margin.
const SNAPSHOT_PER_ROW: usize = 64;

/// The quotient's columns: three randomized segments and the DEEP randomizer (zk/README.md), of the
/// quadratic extension field (asserted by `prove::tests::hidden_quotient_segments_recombine_to_the_composition_polynomial`).
pub(crate) const QUOTIENT_COLUMNS: usize = 4;

/// What a proof of `cols` auxiliary columns over a trace of `n` rows holds in memory, by phase, with an
/// extension `blowup` times larger, against the budget [`AUX_MEMORY`] (a test may set another).
///
/// - The segment is built and interpolated in memory when its values (then its polynomials) and the
///   two halves of a group in flight fit beside the snapshot's share ([`Budget::trace_in_memory`]);
///   beyond, it is built in a scratch file ([`PolyFile`]) and interpolated and extended a group of
///   columns at a time ([`Extension::interpolating`]): at 2^20 rows, statements wider than 110
///   columns; at 2^21 wider than 51; at 2^22 wider than 13.
/// - Its even rows stay in memory when, beside the snapshot's share, they fit with either phase that
///   follows their extension: the segment's (its polynomials and two halves in flight) and the
///   quotient's (its columns and two halves in flight) ([`Budget::keep_even_rows`]). Beyond, they go
///   to its scratch file with the odd rows, and constraint evaluation reads them back a chunk at a
///   time. Held, they spare the proof writing them (the kernel throttles writers to the disk's speed
///   once a gigabyte or two is dirty); spilled, they bound its memory. At 2^20 rows statements of up
///   to 36 columns keep them, at 2^21 up to 17, at 2^22 none (the narrowest statement has four).
pub(crate) struct Budget {
    pub(crate) cols: usize,
    pub(crate) n: usize,
    pub(crate) blowup: usize,
    pub(crate) budget: usize,
}

impl Budget {
    /// The bytes the segment takes built in memory, with the snapshot's share.
    pub(crate) fn trace_bytes(&self) -> usize {
        self.n * SNAPSHOT_PER_ROW + (self.cols * self.n + 2 * in_flight(self.n * self.blowup)) * 8
    }

    pub(crate) fn trace_in_memory(&self) -> bool {
        self.trace_bytes() <= self.budget
    }

    /// Whether the even rows of the segment's extension (with the quotient's of `degree`) stay in
    /// memory.
    fn keep_even_rows(&self, degree: usize) -> bool {
        let (n, rows) = (self.n, self.n * self.blowup);
        let even = self.cols * rows / 2;
        let segment = self.cols * n + 2 * in_flight(rows);
        let quotient = QUOTIENT_COLUMNS * degree * n + 2 * in_flight(rows);
        n * SNAPSHOT_PER_ROW + (even + segment.max(quotient)) * 8 <= self.budget
    }
}

/// The values of a half of a group of an extension of `rows` rows, two of which are in flight while
/// it is computed.
fn in_flight(rows: usize) -> usize {
    group_width(rows) * rows / 2
}

/// The polynomials of `values`' columns over the trace domain: what `ColMatrix::interpolate_columns_into`
/// computes, the same butterflies in the same order (winter-math's serial `interpolate_poly`), but each
/// column on one thread, the columns in parallel. winter-math sends each column of 1,024 values or
/// more through its concurrent split-radix FFT instead, whose two transposes run on one thread: nested
/// in the columns' parallel loop, the widest statement's 102 columns of 2^20 values took 5.5-5.7 s
/// that way against 3.5-4.0 s this way, on two cores (BENCHMARKS.md, "Columns interpolated one per
/// thread").
pub(crate) fn interpolate_columns<E: FieldElement<BaseField = BaseElement>>(values: ColMatrix<E>) -> ColMatrix<E> {
    if values.num_cols() < rayon::current_num_threads() {
        // Fewer columns than threads: winter-math's concurrent FFT keeps every thread busy.
        return values.interpolate_columns_into();
    }
    interpolate_each_on_one_thread(values)
}

/// [`interpolate_columns`]' way for as many columns as threads or more: winter-math's serial
/// `interpolate_poly` steps on each column, the columns in parallel.
fn interpolate_each_on_one_thread<E: FieldElement<BaseField = BaseElement>>(values: ColMatrix<E>) -> ColMatrix<E> {
    use rayon::prelude::*;
    use winter_math::fft::fft_inputs::FftInputs;
    let n = values.num_rows();
    let inv_twiddles = winter_math::fft::get_inv_twiddles::<BaseElement>(n);
    let inv_length = BaseElement::inv((n as u32).into());
    let mut columns = values.into_columns();
    columns.par_iter_mut().for_each(|column| {
        let column = column.as_mut_slice();
        column.fft_in_place(&inv_twiddles);
        column.shift_by(inv_length);
        column.permute();
    });
    ColMatrix::new(columns)
}

/// One group of columns: where its even rows are, and where its odd rows are.
struct Group<const W: usize> {
    even: Half<W>,
    odd: Half<W>,
}

/// Half the rows of a group.
enum Half<const W: usize> {
    Memory(Vec<[BaseElement; W]>),
    /// In the extension's scratch file, from this byte.
    File(u64),
}

impl<const W: usize> Half<W> {
    /// `rows` written at byte `at` of `spill` if they can be (their buffer is then given back, for the
    /// next half), else kept in memory.
    fn stored(
        rows: Vec<[BaseElement; W]>,
        spill: Option<&std::fs::File>,
        at: u64,
    ) -> (Half<W>, Option<Vec<[BaseElement; W]>>) {
        match spill.map(|file| spill::write_rows(file, &rows, at)) {
            Some(Ok(())) => (Half::File(at), Some(rows)),
            Some(Err(_)) => {
                // A full disk: the kept scratch files' space goes back to it.
                crate::scratch::release();
                (Half::Memory(rows), None)
            }
            None => (Half::Memory(rows), None),
        }
    }

    /// Rows `from..from + count` of this half.
    fn rows(&self, spill: Option<&std::fs::File>, from: usize, count: usize) -> Cow<'_, [[BaseElement; W]]> {
        match self {
            Half::Memory(rows) => Cow::Borrowed(&rows[from..from + count]),
            Half::File(at) => Cow::Owned(
                spill::read_rows(spill.expect("an extension with spilled rows keeps its file"), *at, from, count)
                    .unwrap_or_else(|e| panic!("reading the prover's scratch file: {e}")),
            ),
        }
    }
}

impl<const W: usize> Group<W> {
    /// The groups of base columns `first..first + W` of `polys` (zeros past the last) for each
    /// `first`, every half (but the even ones if `keep_even`) written in `spill` if there is one and
    /// it can be, from byte `*written` on (moved past them). Each half is written while the next one
    /// is computed (the writing thread blocked in the kernel, the other does the FFT; it takes its
    /// share once the write is done), so at most two halves are in memory at a time besides those
    /// kept. When every half goes to the file, a half's buffer, once written, is reused for the half
    /// after the next: a fresh one would be new pages of memory (the allocator returns freed ones to
    /// the system), each faulted in and cleared by the kernel (about a tenth of a wide statement's
    /// proof at 2^20 rows, in a profile).
    ///
    /// `polys(first, W)` gives the polynomials of columns `first..first + W` (fewer past the last) as a
    /// matrix and the column in it where they start, once per group, before its even half.
    fn all_of<'p, E: FieldElement<BaseField = BaseElement> + 'p>(
        polys: &mut (impl FnMut(usize, usize) -> (Cow<'p, ColMatrix<E>>, usize) + Send),
        firsts: impl Iterator<Item = usize>,
        cosets: &Halves<'_>,
        spill: Option<&std::fs::File>,
        written: &mut u64,
        keep_even: bool,
    ) -> Vec<Group<W>> {
        let mut done = Vec::new();
        let mut pending: Option<(Vec<[BaseElement; W]>, Option<u64>)> = None;
        let store = |(rows, at): (Vec<[BaseElement; W]>, Option<u64>)| match at {
            Some(at) => Half::stored(rows, spill, at),
            None => (Half::Memory(rows), None),
        };
        let mut group: Option<(Cow<'p, ColMatrix<E>>, usize)> = None;
        let mut spare: Option<Vec<[BaseElement; W]>> = None;
        for (first, odd) in firsts.flat_map(|f| [(f, false), (f, true)]) {
            let offsets = if odd { &cosets.odd } else { &cosets.even };
            let buffer = spare.take();
            let (stored, rows) = rayon::join(
                || pending.take().map(store),
                || {
                    if !odd {
                        // The group before is dropped before the next is loaded.
                        drop(group.take());
                        group = Some(polys(first, W));
                    }
                    let (polys, column) = group.as_ref().expect("loaded with the even half");
                    match buffer {
                        Some(mut buffer) if buffer.len() == offsets.len() => {
                            // Columns past the last polynomial are left as they are: zero them.
                            if polys.num_base_cols() - column < W {
                                buffer.fill([BaseElement::ZERO; W]);
                            }
                            Segment::<BaseElement, W>::new_with_buffer(buffer, polys, *column, offsets, cosets.twiddles)
                                .into_data()
                        }
                        _ => Segment::<BaseElement, W>::new(polys, *column, offsets, cosets.twiddles).into_data(),
                    }
                },
            );
            if let Some((half, freed)) = stored {
                done.push(half);
                // Not while even halves are kept: the odd half's buffer would wait idle, in memory,
                // while the next even half is computed.
                spare = freed.filter(|_| !keep_even);
            }
            let at = (spill.is_some() && (odd || !keep_even)).then_some(*written);
            if at.is_some() {
                *written += (rows.len() * W * 8) as u64;
            }
            pending = Some((rows, at));
        }
        done.extend(pending.map(|p| store(p).0));
        let mut halves = done.into_iter();
        std::iter::from_fn(|| Some(Group { even: halves.next()?, odd: halves.next()? })).collect()
    }

    /// Row `i`.
    fn row(&self, spill: Option<&std::fs::File>, i: usize) -> Cow<'_, [BaseElement; W]> {
        let half = if i.is_multiple_of(2) { &self.even } else { &self.odd };
        match half.rows(spill, i / 2, 1) {
            Cow::Borrowed(rows) => Cow::Borrowed(&rows[0]),
            Cow::Owned(rows) => Cow::Owned(rows[0]),
        }
    }

    /// Rows `2·from..2·(from + count)`, as their even and odd halves.
    fn halves(&self, spill: Option<&std::fs::File>, from: usize, count: usize) -> [Cow<'_, [[BaseElement; W]]>; 2] {
        [self.even.rows(spill, from, count), self.odd.rows(spill, from, count)]
    }

    fn spilled(&self) -> bool {
        matches!((&self.even, &self.odd), (Half::File(_), Half::File(_)))
    }
}

/// The evaluation offsets of the two halves of an LDE domain: its even rows are the coset of half the
/// domain at the domain's offset, its odd rows the coset at the offset times the domain's generator.
struct Halves<'a> {
    even: Vec<BaseElement>,
    odd: Vec<BaseElement>,
    twiddles: &'a [BaseElement],
}

impl Extension {
    /// The evaluations of `polys` over `domain`'s LDE domain (what `RowMatrix::evaluate_polys_over`
    /// computes, in the same order), in a scratch file in `scratch` if given. Columns of an extension
    /// field `E` are held as their base-field coordinates, so a row's hash is the hash of the `E` row.
    pub(crate) fn of<E: FieldElement<BaseField = BaseElement>>(
        polys: &ColMatrix<E>,
        domain: &StarkDomain<BaseElement>,
        scratch: Option<&Path>,
        keep_even: bool,
        owner: Owner,
    ) -> Extension {
        let _span = tracing::info_span!("extend", columns = polys.num_base_cols()).entered();
        let mut all = |first, _| (Cow::Borrowed(polys), first);
        Extension::of_groups(polys.num_base_cols(), polys.num_rows(), domain, (scratch, owner), keep_even, &mut all)
    }

    /// The extension of a segment's values held in `store`, a group of columns at a time: each group
    /// is read, interpolated, written back over its values (the store then holds the polynomials)
    /// and extended, so only one group's polynomials are in memory besides the two halves in flight.
    /// Every row goes to a scratch file in `scratch` if given (rows stay in memory otherwise). A
    /// polynomial that cannot be written back (a full disk) is an error: the store then holds values
    /// and polynomials mixed, and the caller starts over from the values.
    pub(crate) fn interpolating(
        store: &dyn PolyStore<BaseElement>,
        domain: &StarkDomain<BaseElement>,
        scratch: Option<&Path>,
        owner: Owner,
    ) -> Result<Extension, String> {
        let (width, n) = (store.num_cols(), store.num_rows());
        let _span = tracing::info_span!("interpolate_and_extend", columns = width).entered();
        let mut failed = None;
        let mut load = |first: usize, count: usize| {
            let columns = (first..(first + count).min(width))
                .map(|c| {
                    let mut values = vec![BaseElement::ZERO; n];
                    store.read_column(c, &mut values);
                    values
                })
                .collect();
            let polys = interpolate_columns(ColMatrix::new(columns));
            for (j, poly) in polys.columns().enumerate() {
                if failed.is_none() {
                    failed = store.write_column(first + j, poly).err();
                }
            }
            (Cow::Owned(polys), 0)
        };
        let lde = Extension::of_groups(width, n, domain, (scratch, owner), false, &mut load);
        match failed {
            None => Ok(lde),
            Some(e) => Err(format!("writing the prover's scratch file: {e}")),
        }
    }

    /// The extension of `width` base columns of polynomials of `n` coefficients, each group's given
    /// by `polys` ([`Group::all_of`]), in a scratch file of `scratch`'s directory if given (a kept one
    /// for a proof's: `crate::scratch`).
    fn of_groups<'p, E: FieldElement<BaseField = BaseElement> + 'p>(
        width: usize,
        n: usize,
        domain: &StarkDomain<BaseElement>,
        (scratch, owner): (Option<&Path>, Owner),
        keep_even: bool,
        polys: &mut (impl FnMut(usize, usize) -> (Cow<'p, ColMatrix<E>>, usize) + Send),
    ) -> Extension {
        let blowup = domain.trace_to_lde_blowup();
        // Each half is a domain larger than the trace (winterfell's `Segment` asserts it).
        assert!(blowup >= 4, "an LDE domain whose halves are larger than the trace");
        let rows = n * blowup;
        let generator = BaseElement::get_root_of_unity(rows.ilog2());
        let cosets = Halves {
            even: get_evaluation_offsets::<BaseElement>(n, blowup / 2, domain.offset()),
            odd: get_evaluation_offsets::<BaseElement>(n, blowup / 2, domain.offset() * generator),
            twiddles: domain.trace_twiddles(),
        };
        let mut written = 0;
        let (full, rest) = (width / SEGMENT_WIDTH, width % SEGMENT_WIDTH);
        let wide = if group_width(rows) == NARROW_WIDTH { 0 } else { full + usize::from(rest > NARROW_WIDTH) };
        // The bytes the file will hold: every group's columns (the last padded), half the rows when the
        // even ones stay in memory.
        let columns =
            wide * SEGMENT_WIDTH + width.saturating_sub(wide * SEGMENT_WIDTH).div_ceil(NARROW_WIDTH) * NARROW_WIDTH;
        let bytes = (columns * rows * 8 / if keep_even { 2 } else { 1 }) as u64;
        let spill = scratch.and_then(|dir| Scratch::take(dir, bytes, owner).ok());
        let firsts = (0..wide).map(|s| s * SEGMENT_WIDTH);
        let segments = Group::all_of(polys, firsts, &cosets, spill.as_deref(), &mut written, keep_even);
        let firsts = (wide * SEGMENT_WIDTH..width).step_by(NARROW_WIDTH);
        let narrow = Group::all_of(polys, firsts, &cosets, spill.as_deref(), &mut written, keep_even);
        // A kept file longer than what was written: nothing older stays past its end.
        if let Some(file) = &spill {
            debug_assert!(written <= bytes, "the file holds what was counted for it");
            let _ = file.cut(written);
        }
        static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Extension { segments, narrow, width, rows, spill, id }
    }

    pub(crate) fn num_rows(&self) -> usize {
        self.rows
    }

    /// The values held in memory (not in the scratch file).
    #[cfg(test)]
    fn values_in_memory(&self) -> usize {
        fn held<const W: usize>(half: &Half<W>) -> usize {
            match half {
                Half::Memory(rows) => rows.len() * W,
                Half::File(_) => 0,
            }
        }
        let wide: usize = self.segments.iter().map(|g| held(&g.even) + held(&g.odd)).sum();
        wide + self.narrow.iter().map(|g| held(&g.even) + held(&g.odd)).sum::<usize>()
    }

    /// Writes the scratch file's pages back to disk (an error leaves them dirty in memory).
    fn write_back(&self) {
        if let Some(file) = &self.spill {
            let _ = file.sync_data();
        }
    }

    /// Whether every row is in the scratch file.
    pub(crate) fn spilled(&self) -> bool {
        self.segments.iter().all(Group::spilled) && self.narrow.iter().all(Group::spilled)
    }

    /// Row `i` into `out` (`width` elements), each lifted to `F`, from memory or the scratch file.
    fn read_row<F: FieldElement<BaseField = BaseElement>>(&self, i: usize, out: &mut [F]) {
        debug_assert_eq!(out.len(), self.width, "a whole row");
        let spill = self.spill.as_deref();
        let (wide, rest) = out.split_at_mut((self.segments.len() * SEGMENT_WIDTH).min(self.width));
        for (group, part) in self.segments.iter().zip(wide.chunks_mut(SEGMENT_WIDTH)) {
            lift_row(&*group.row(spill, i), part);
        }
        for (group, part) in self.narrow.iter().zip(rest.chunks_mut(NARROW_WIDTH)) {
            lift_row(&*group.row(spill, i), part);
        }
    }

    /// An even row, as constraint evaluation reads them (an odd one panics: the chunks hold none):
    /// from memory, or from this thread's chunk of this extension's even rows, read from the scratch
    /// file when row `i` is not in it ([`chunks`]).
    fn read_even_row<F: FieldElement<BaseField = BaseElement>>(&self, i: usize, out: &mut [F]) {
        assert_eq!(i % 2, 0, "constraint evaluation reads the even rows only");
        let wide_in_file = self.segments.iter().any(|g| matches!(g.even, Half::File(_)));
        let narrow_in_file = self.narrow.iter().any(|g| matches!(g.even, Half::File(_)));
        if !wide_in_file && !narrow_in_file {
            return self.read_row(i, out);
        }
        let even_rows = self.rows / 2;
        chunks::read(self.id, i / 2, self.width, out, |from, count, rows| {
            self.even_rows_into(from, count.min(even_rows - from), rows)
        });
    }

    /// Even rows `from..from + count` (indices among the even rows), `width` values each, into `rows`.
    fn even_rows_into(&self, from: usize, count: usize, rows: &mut Vec<BaseElement>) {
        let spill = self.spill.as_deref();
        rows.clear();
        rows.resize(count * self.width, BaseElement::ZERO);
        for (g, group) in self.segments.iter().enumerate() {
            let part = group.even.rows(spill, from, count);
            let columns = SEGMENT_WIDTH.min(self.width - g * SEGMENT_WIDTH);
            for (row, values) in rows.chunks_exact_mut(self.width).zip(part.iter()) {
                row[g * SEGMENT_WIDTH..][..columns].copy_from_slice(&values[..columns]);
            }
        }
        for (g, group) in self.narrow.iter().enumerate() {
            let part = group.even.rows(spill, from, count);
            let first = self.segments.len() * SEGMENT_WIDTH + g * NARROW_WIDTH;
            let columns = NARROW_WIDTH.min(self.width - first);
            for (row, values) in rows.chunks_exact_mut(self.width).zip(part.iter()) {
                row[first..][..columns].copy_from_slice(&values[..columns]);
            }
        }
    }

    fn row<F: FieldElement<BaseField = BaseElement>>(&self, i: usize) -> Vec<F> {
        let mut out = vec![F::ZERO; self.width];
        self.read_row(i, &mut out);
        out
    }

    /// The Merkle tree over the rows read as elements of `F` (winterfell hashes a row as the bytes of
    /// its elements; partitions are not used by format v3's options), kept from `2^low` rows up.
    fn commit_rows<F: FieldElement<BaseField = BaseElement>>(&self, low: usize) -> RowTree {
        let _span = tracing::info_span!("hash_rows").entered();
        RowTree::build(self.num_rows(), low, |start, out| self.hash_rows::<F>(start, out))
    }

    /// The hashes of rows `start..start + out.len()` (`start` and the length even), read as elements of
    /// `F`: each half of each group in one read.
    fn hash_rows<F: FieldElement<BaseField = BaseElement>>(&self, start: usize, out: &mut [Digest]) {
        debug_assert!(start.is_multiple_of(2) && out.len().is_multiple_of(2), "whole pairs of rows");
        let spill = self.spill.as_deref();
        let (from, count) = (start / 2, out.len() / 2);
        let wide: Vec<_> = self.segments.iter().map(|g| g.halves(spill, from, count)).collect();
        let narrow: Vec<_> = self.narrow.iter().map(|g| g.halves(spill, from, count)).collect();
        // The bytes winterfell's `Blake3_256::hash_elements` hashes for a row of `F`: each coordinate's
        // canonical value, little-endian (a base value lifted to `F` is followed by zero
        // coordinates), hashed in one call where winterfell feeds BLAKE3 an element at a time.
        // The rows are laid out one after another and hashed together (`crate::leaves`).
        let step = F::EXTENSION_DEGREE * 8;
        let row_len = self.width * step;
        let mut rows = vec![0u8; out.len() * row_len];
        for (j, row) in rows.chunks_exact_mut(row_len).enumerate() {
            for (g, group) in wide.iter().enumerate() {
                let first = g * SEGMENT_WIDTH;
                put_row(&group[j % 2][j / 2][..SEGMENT_WIDTH.min(self.width - first)], &mut row[first * step..], step);
            }
            for (g, group) in narrow.iter().enumerate() {
                let first = self.segments.len() * SEGMENT_WIDTH + g * NARROW_WIDTH;
                put_row(&group[j % 2][j / 2][..NARROW_WIDTH.min(self.width - first)], &mut row[first * step..], step);
            }
        }
        let mut digests = vec![[0u8; 32]; out.len()];
        crate::leaves::hash_rows(&rows, row_len, &mut digests);
        for (hash, digest) in out.iter_mut().zip(digests) {
            *hash = Digest::new(digest);
        }
    }
}

/// Each thread's last chunks of even rows read from extensions' scratch files. Constraint
/// evaluation walks its fragment of the domain in order, reading at each step two rows of the main
/// extension and two of the auxiliary one (the current and the next, two even rows further), so a
/// chunk holds the rows of 256 KiB and the two after them, and each extension's file is read once per
/// chunk.
mod chunks {
    use super::lift_row;
    use std::cell::RefCell;
    use winter_math::fields::f64::BaseElement;
    use winter_math::FieldElement;

    /// The bytes of even rows read at a time (at least [`MIN_ROWS`] rows): 910 rows of the main
    /// segment's 36 columns, 256 of 128 auxiliary columns. Each thread keeps [`KEPT`] chunks after a
    /// proof, so this bounds what the cache holds: 1 MiB per thread. The unit tests read small chunks,
    /// so that every extension they build crosses chunks.
    const BYTES: usize = if cfg!(test) { 4 << 10 } else { 256 << 10 };
    const MIN_ROWS: usize = 16;
    /// Chunks a thread keeps (of the extensions it read last: a proof's main and auxiliary ones).
    const KEPT: usize = 4;

    struct Chunk {
        extension: u64,
        from: usize,
        count: usize,
        rows: Vec<BaseElement>,
    }

    thread_local! {
        static CACHE: RefCell<Vec<Chunk>> = const { RefCell::new(Vec::new()) };
    }

    /// Even row `r` of extension `extension` (`width` values) into `out`, lifted to `F`; on a miss,
    /// `load(from, count, rows)` reads the chunk's rows, in place of this thread's oldest chunk.
    pub(super) fn read<F: FieldElement<BaseField = BaseElement>>(
        extension: u64,
        r: usize,
        width: usize,
        out: &mut [F],
        load: impl FnOnce(usize, usize, &mut Vec<BaseElement>),
    ) {
        CACHE.with_borrow_mut(|cache| {
            let hit = cache.iter().position(|c| c.extension == extension && (c.from..c.from + c.count).contains(&r));
            let at = hit.unwrap_or_else(|| {
                let mut chunk = if cache.len() < KEPT {
                    Chunk { extension, from: 0, count: 0, rows: Vec::new() }
                } else {
                    cache.remove(0)
                };
                chunk.extension = extension;
                let rows = (BYTES / (width * 8)).max(MIN_ROWS);
                chunk.from = r / rows * rows;
                // And the two rows after the chunk (its last steps' next rows).
                load(chunk.from, rows + 2, &mut chunk.rows);
                chunk.count = chunk.rows.len() / width;
                cache.push(chunk);
                cache.len() - 1
            });
            let chunk = &cache[at];
            lift_row(&chunk.rows[(r - chunk.from) * width..][..width], out);
        });
    }
}

/// The canonical little-endian bytes of each of `values` at every `step` bytes of `to`.
fn put_row(values: &[BaseElement], to: &mut [u8], step: usize) {
    for (v, at) in values.iter().zip(to.chunks_mut(step)) {
        at[..8].copy_from_slice(&v.as_int().to_le_bytes());
    }
}

/// `from`'s first `to.len()` values into `to`, lifted to `F`.
fn lift_row<F: FieldElement<BaseField = BaseElement>>(from: &[BaseElement], to: &mut [F]) {
    for (to, from) in to.iter_mut().zip(from) {
        *to = F::from(*from);
    }
}

/// Rows of base-field elements in a scratch file: each element as the eight little-endian bytes of its
/// internal (Montgomery) form, so they are read back exactly, with no conversion.
mod spill {
    use winter_math::fields::f64::BaseElement;
    use winter_math::FieldElement;

    /// Elements written at a time.
    const BATCH: usize = 1 << 16;

    /// Writes `rows` at byte `at` (elsewhere than on unix, refuses: the rows stay in memory).
    pub(super) fn write_rows<const W: usize>(
        file: &std::fs::File,
        rows: &[[BaseElement; W]],
        at: u64,
    ) -> std::io::Result<()> {
        write_elements(file, rows.as_flattened(), at)
    }

    /// Rows `from..from + count` of those written at byte `at`.
    pub(super) fn read_rows<const W: usize>(
        file: &std::fs::File,
        at: u64,
        from: usize,
        count: usize,
    ) -> std::io::Result<Vec<[BaseElement; W]>> {
        let mut rows = vec![[BaseElement::ZERO; W]; count];
        read_elements(file, at + (from * W * 8) as u64, rows.as_flattened_mut())?;
        Ok(rows)
    }

    /// Writes `elements` at byte `at`, each as the eight little-endian bytes of its internal form.
    pub(super) fn write_elements(file: &std::fs::File, elements: &[BaseElement], at: u64) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileExt;
            let mut bytes = Vec::with_capacity(BATCH.min(elements.len()) * 8);
            for (b, batch) in elements.chunks(BATCH).enumerate() {
                bytes.clear();
                bytes.extend(batch.iter().flat_map(|e| e.inner().to_le_bytes()));
                file.write_all_at(&bytes, at + (b * BATCH * 8) as u64)?;
            }
            Ok(())
        }
        #[cfg(not(unix))]
        {
            let _ = (file, elements, at);
            Err(std::io::ErrorKind::Unsupported.into())
        }
    }

    /// Reads `out.len()` elements written at byte `at`.
    pub(super) fn read_elements(file: &std::fs::File, at: u64, out: &mut [BaseElement]) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileExt;
            let mut bytes = vec![0u8; BATCH.min(out.len()) * 8];
            for (b, batch) in out.chunks_mut(BATCH).enumerate() {
                let bytes = &mut bytes[..batch.len() * 8];
                file.read_exact_at(bytes, at + (b * BATCH * 8) as u64)?;
                for (e, le) in batch.iter_mut().zip(bytes.chunks_exact(8)) {
                    *e = BaseElement::from_mont(u64::from_le_bytes(le.try_into().expect("eight bytes")));
                }
            }
            Ok(())
        }
        #[cfg(not(unix))]
        {
            let _ = (file, at, out);
            Err(std::io::ErrorKind::Unsupported.into())
        }
    }
}

/// A segment's polynomials in an unnamed scratch file, one column after another, read a column at a
/// time by the out-of-domain evaluation and the DEEP composition (winterfell's `PolyStore`, a patch);
/// or, first, the values of a proof's auxiliary segment too wide to hold ([`Budget`]), which
/// [`Extension::interpolating`] replaces by their polynomials.
pub(crate) struct PolyFile {
    file: Scratch,
    cols: usize,
    rows: usize,
}

impl PolyFile {
    /// `polys` in a scratch file in `scratch` if given and writable (a kept one for a proof's; a
    /// snapshot's is written back to disk: see [`MainLde::build`]); else in memory.
    fn columns(polys: ColMatrix<BaseElement>, scratch: Option<&Path>, owner: Owner) -> PolyColumns<BaseElement> {
        let _span = tracing::info_span!("write_polys").entered();
        let (cols, rows) = (polys.num_cols(), polys.num_rows());
        // Every column is written: a kept scratch file will do (`crate::scratch`).
        let bytes = (cols * rows * 8) as u64;
        let kept = |dir| Scratch::take(dir, bytes, owner).ok();
        let Some(file) = scratch.and_then(kept).map(|file| PolyFile { file, cols, rows }) else {
            return PolyColumns::Memory(Arc::new(polys));
        };
        let written = polys.columns().enumerate().try_for_each(|(i, c)| file.write_at(i, 0, c));
        if written.is_err() {
            crate::scratch::release();
        }
        let _ = file.file.cut(bytes);
        if owner == Owner::Snapshot && written.is_ok() {
            let _ = file.file.sync_data();
        }
        match written {
            Ok(()) => PolyColumns::Stored(Arc::new(file)),
            Err(_) => PolyColumns::Memory(Arc::new(polys)),
        }
    }

    /// A scratch file in `dir` of `cols` columns of `rows` zeros (a sparse file: nothing is written).
    pub(crate) fn zeros(dir: &Path, cols: usize, rows: usize) -> std::io::Result<PolyFile> {
        let file = Scratch::fresh(dir)?;
        file.set_len((cols * rows * 8) as u64)?;
        Ok(PolyFile { file, cols, rows })
    }

    /// Writes `values` into column `c` from row `row` on.
    pub(crate) fn write_at(&self, c: usize, row: usize, values: &[BaseElement]) -> std::io::Result<()> {
        assert!(c < self.cols && row + values.len() <= self.rows, "within the file's columns");
        spill::write_elements(&self.file, values, ((c * self.rows + row) * 8) as u64)
    }

    /// Reads column `c`'s values from row `row` on into `out`.
    pub(crate) fn read_at(&self, c: usize, row: usize, out: &mut [BaseElement]) -> std::io::Result<()> {
        assert!(c < self.cols && row + out.len() <= self.rows, "within the file's columns");
        spill::read_elements(&self.file, ((c * self.rows + row) * 8) as u64, out)
    }

    pub(crate) fn num_cols(&self) -> usize {
        self.cols
    }
}

impl PolyStore<BaseElement> for PolyFile {
    fn num_cols(&self) -> usize {
        self.cols
    }

    fn num_rows(&self) -> usize {
        self.rows
    }

    fn read_column(&self, index: usize, out: &mut [BaseElement]) {
        assert_eq!(out.len(), self.rows, "a whole column of the file");
        self.read_at(index, 0, out).unwrap_or_else(|e| panic!("reading the prover's scratch file: {e}"));
    }

    fn write_column(&self, index: usize, values: &[BaseElement]) -> Result<(), String> {
        assert_eq!(values.len(), self.rows, "a whole column of the file");
        self.write_at(index, 0, values).map_err(|e| e.to_string())
    }
}

/// The columns of `polys`, read into memory (lifted to `E`).
fn read_columns<E: FieldElement<BaseField = BaseElement>>(polys: &PolyColumns<BaseElement>) -> ColMatrix<E> {
    let mut columns = Vec::with_capacity(polys.num_cols());
    polys.for_each_column(|c| columns.push(c.iter().map(|v| E::from(*v)).collect()));
    ColMatrix::new(columns)
}

type Digest = <Hash as Hasher>::Digest;

/// Rows under one stored node of a proof's [`RowTree`] (its auxiliary segment's and its quotient's):
/// `2^LOW_LEVELS`.
const LOW_LEVELS: usize = 5;

/// Rows under one stored node of a snapshot's own [`RowTree`], which it keeps as long as it lives (a
/// node keeps one per chunk of a dataset): 2^8, so the tree is 4 MB at 2^22 trace rows instead of 32,
/// and each of a proof's 42 openings of the snapshot hashes 256 of its extension's rows again (a few
/// milliseconds, and 72 KB read, per opening).
const MAIN_LOW_LEVELS: usize = 8;

/// winterfell's Merkle tree over an extension's rows (the same root and the same batch openings), kept
/// from `2^low` rows up: an opening hashes again the `2^low` rows under the stored node above it. A
/// full tree holds two digests per row, 256 MB for 2^22 rows of the LDE domain (a 2^20-row trace); this
/// one 8 MB from 32 rows up ([`LOW_LEVELS`], a proof's trees), for about 1,300 row hashes per tree and
/// proof (42 openings of 32 rows; a proof opens three trees), and 1 MB from 256 rows up
/// ([`MAIN_LOW_LEVELS`], a snapshot's).
///
/// A snapshot's tree may be parked ([`RowTree::park`]): its stored leaves go to an unnamed scratch file
/// and each opening reads them back and builds the stored levels again (2^16 leaves at 2^22 trace rows:
/// 2 MB read and a few milliseconds of hashing per proof), so a parked chunk of a dataset keeps none
/// of its tree in memory.
pub(crate) struct RowTree {
    upper: std::sync::Mutex<Upper>,
    root: Digest,
    /// Stored leaves (a power of two).
    leaves: usize,
    /// Levels below the stored leaves.
    low: usize,
}

/// A [`RowTree`]'s stored levels: held, or their leaves in a scratch file.
enum Upper {
    Held(Arc<Vc>),
    Parked(Arc<std::fs::File>),
}

impl RowTree {
    /// The tree over `rows` rows (a power of two, at least 4), kept from `2^low` rows up (at most a
    /// quarter of them), `hash_rows(start, out)` writing the hashes of rows `start..` into `out`.
    fn build(rows: usize, low: usize, hash_rows: impl Fn(usize, &mut [Digest]) + Sync) -> RowTree {
        use rayon::prelude::*;
        // At least two stored leaves (winterfell's tree needs two), whatever the rows.
        let low = low.min(rows.trailing_zeros() as usize - 1);
        let block = 1 << low;
        // Rows hashed per call: 2,048, or a block (one read of the spilled rows per group).
        let chunk = (1usize << 11).max(block).min(rows);
        let mut roots = vec![Digest::default(); rows / block];
        roots.par_chunks_mut(chunk / block).enumerate().for_each(|(c, roots)| {
            let mut leaves = vec![Digest::default(); chunk];
            hash_rows(c * chunk, &mut leaves);
            for (root, leaves) in roots.iter_mut().zip(leaves.chunks(block)) {
                let mut level = leaves.to_vec();
                while level.len() > 1 {
                    level = level.chunks(2).map(|pair| Hash::merge(&[pair[0], pair[1]])).collect();
                }
                *root = level[0];
            }
        });
        let upper = Vc::new(roots).expect("a power-of-two number of blocks, at least two");
        let (root, leaves) = (*upper.root(), upper.leaves().len());
        RowTree { upper: std::sync::Mutex::new(Upper::Held(Arc::new(upper))), root, leaves, low }
    }

    pub(crate) fn root(&self) -> Digest {
        self.root
    }

    /// Writes the stored leaves to an unnamed scratch file in `dir` and lets the stored levels go
    /// (nothing changes if the file cannot be written, or if they are parked already).
    pub(crate) fn park(&self, dir: &Path) -> std::io::Result<()> {
        use std::io::{Seek, Write};
        let mut upper = self.upper.lock().expect("tree lock");
        let Upper::Held(tree) = &*upper else { return Ok(()) };
        let mut out = std::io::BufWriter::new(tempfile::tempfile_in(dir)?);
        for leaf in tree.leaves() {
            out.write_all(&winter_crypto::Digest::as_bytes(leaf))?;
        }
        let mut file = out.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        *upper = Upper::Parked(Arc::new(file));
        Ok(())
    }

    /// Whether the stored levels are parked in a scratch file.
    #[cfg(test)]
    pub(crate) fn parked(&self) -> bool {
        matches!(*self.upper.lock().expect("tree lock"), Upper::Parked(_))
    }

    /// The stored levels: held, or built again from the parked leaves (for the caller's time only).
    fn upper(&self) -> Arc<Vc> {
        use std::os::unix::fs::FileExt;
        // Read without the lock (positioned reads): proofs over one snapshot do not wait for each other.
        let file = match &*self.upper.lock().expect("tree lock") {
            Upper::Held(tree) => return tree.clone(),
            Upper::Parked(file) => file.clone(),
        };
        let mut bytes = vec![0u8; self.leaves * 32];
        file.read_exact_at(&mut bytes, 0).expect("the tree's parked leaves read back from their scratch file");
        let leaves = bytes.chunks_exact(32).map(|b| Digest::new(b.try_into().expect("32 bytes"))).collect();
        let tree = Vc::new(leaves).expect("as many leaves as when the tree was built");
        assert_eq!(*tree.root(), self.root, "the tree's parked leaves give its root again");
        Arc::new(tree)
    }

    /// winterfell's `MerkleTree::prove_batch` over the full tree: each position's leaf and path (the
    /// lower part recomputed from the rows, hashed as when the tree was built), compressed as
    /// winterfell compresses them. The positions are distinct (winterfell's prover sorts and
    /// deduplicates its queries; `prove_batch` refuses a repeated one, `from_single_proofs` would drop
    /// it).
    fn open_many(
        &self,
        positions: &[usize],
        hash_rows: impl Fn(usize, &mut [Digest]),
    ) -> winter_crypto::BatchMerkleProof<Hash> {
        debug_assert!(
            positions.iter().collect::<std::collections::BTreeSet<_>>().len() == positions.len(),
            "distinct positions"
        );
        let block = 1 << self.low;
        let upper = self.upper();
        let openings: Vec<(Digest, Vec<Digest>)> = positions
            .iter()
            .map(|&p| {
                let mut level = vec![Digest::default(); block];
                hash_rows(p / block * block, &mut level);
                let leaf = level[p % block];
                let mut path = Vec::with_capacity(self.low + upper.depth());
                let mut index = p % block;
                while level.len() > 1 {
                    path.push(level[index ^ 1]);
                    level = level.chunks(2).map(|pair| Hash::merge(&[pair[0], pair[1]])).collect();
                    index /= 2;
                }
                let (_, above) = upper.prove(p / block).expect("a position within the LDE domain");
                path.extend(above);
                (leaf, path)
            })
            .collect();
        winter_crypto::BatchMerkleProof::from_single_proofs(&openings, positions)
    }
}

/// The constraint composition columns' commitment (winterfell's `DefaultConstraintCommitment`, the same
/// root and openings), its Merkle tree kept from `2^LOW_LEVELS` rows up as a [`RowTree`]. Its
/// extension is read only to build the tree and to open the queried rows, so with a scratch directory
/// every row of it is in the scratch file (half of it in memory at a time while it is computed).
pub(crate) struct QuotientCommitment<E: FieldElement<BaseField = BaseElement>> {
    evaluations: Extension,
    tree: RowTree,
    _extension: std::marker::PhantomData<E>,
}

impl<E: FieldElement<BaseField = BaseElement>> QuotientCommitment<E> {
    pub(crate) fn new(
        poly: CompositionPoly<E>,
        columns: usize,
        domain: &StarkDomain<BaseElement>,
        scratch: Option<&Path>,
    ) -> (Self, CompositionPoly<E>) {
        // winterfell's `DefaultConstraintCommitment` checks.
        assert_eq!(poly.num_columns(), columns);
        assert_eq!(poly.column_degree(), domain.trace_length() - 1);
        let evaluations = Extension::of(poly.data(), domain, scratch, false, Owner::Proof);
        assert_eq!(evaluations.width, columns * E::EXTENSION_DEGREE);
        assert_eq!(evaluations.num_rows(), domain.lde_domain_size());
        // A row of `E` hashes as the row of its base-field coordinates (winterfell serializes both
        // alike), so the tree is over the base-field rows.
        let tree = evaluations.commit_rows::<BaseElement>(LOW_LEVELS);
        (QuotientCommitment { evaluations, tree, _extension: std::marker::PhantomData }, poly)
    }
}

impl<E: FieldElement<BaseField = BaseElement>> ConstraintCommitment<E> for QuotientCommitment<E> {
    type HashFn = Hash;
    type VC = Vc;

    fn commitment(&self) -> Digest {
        self.tree.root()
    }

    fn query(self, positions: &[usize]) -> Queries {
        let lde = &self.evaluations;
        let proof = self.tree.open_many(positions, |start, out| lde.hash_rows::<BaseElement>(start, out));
        let rows =
            positions.iter().map(|&p| E::slice_from_base_elements(&lde.row::<BaseElement>(p)).to_vec()).collect();
        Queries::new::<Hash, E, Vc>(proof, rows)
    }
}

/// The main segment: its polynomials, their evaluations over the LDE domain, and the Merkle tree whose
/// root is the dataset commitment; and where each proof's extensions keep what they do not hold.
pub(crate) struct MainLde {
    /// In a scratch file if there is one: read only for a proof's out-of-domain frame and DEEP
    /// composition.
    pub(crate) polys: PolyColumns<BaseElement>,
    lde: Extension,
    tree: RowTree,
    blowup: usize,
    scratch: Option<PathBuf>,
}

impl MainLde {
    /// Interpolates `main` in place and extends it, every row written in `scratch` if given.
    pub(crate) fn build(
        main: ColMatrix<BaseElement>,
        domain: &StarkDomain<BaseElement>,
        partition: PartitionOptions,
        scratch: Option<&Path>,
    ) -> MainLde {
        assert_eq!(partition, PartitionOptions::default(), "format v3 hashes whole rows");
        let polys = interpolate_columns(main);
        let lde = Extension::of(&polys, domain, scratch, false, Owner::Snapshot);
        // The polynomials are written while the rows are hashed.
        let (polys, tree) = rayon::join(
            || PolyFile::columns(polys, scratch, Owner::Snapshot),
            || lde.commit_rows::<BaseElement>(MAIN_LOW_LEVELS),
        );
        // Written back now, the snapshot's pages are clean: the kernel may drop them (and read them
        // again) under memory pressure, and they no longer count towards the dirty pages beyond
        // which it throttles the writes of every proof (measured: 45,000 rows/s proving an age band
        // at 2^20 rows right after the commit without this, 53,000 with it). A failed write-back
        // leaves them in memory, readable.
        lde.write_back();
        MainLde { polys, lde, tree, blowup: domain.trace_to_lde_blowup(), scratch: scratch.map(Path::to_path_buf) }
    }

    /// As [`MainLde::build`], from the segment's values in `values`, interpolated and extended a group
    /// of columns at a time ([`Extension::interpolating`]); the file then holds the polynomials (or,
    /// on an error, values and polynomials mixed).
    pub(crate) fn interpolating(
        values: PolyFile,
        domain: &StarkDomain<BaseElement>,
        partition: PartitionOptions,
        scratch: Option<&Path>,
    ) -> Result<MainLde, String> {
        assert_eq!(partition, PartitionOptions::default(), "format v3 hashes whole rows");
        let lde = Extension::interpolating(&values, domain, scratch, Owner::Snapshot)?;
        let tree = lde.commit_rows::<BaseElement>(MAIN_LOW_LEVELS);
        // Written back, as `build` does.
        let _ = values.file.sync_data();
        lde.write_back();
        let polys = PolyColumns::Stored(Arc::new(values));
        Ok(MainLde { polys, lde, tree, blowup: domain.trace_to_lde_blowup(), scratch: scratch.map(Path::to_path_buf) })
    }

    pub(crate) fn root(&self) -> <Hash as Hasher>::Digest {
        self.tree.root()
    }

    /// Parks the segment's Merkle tree in a scratch file in `dir` ([`RowTree::park`]).
    pub(crate) fn park_tree(&self, dir: &Path) -> std::io::Result<()> {
        self.tree.park(dir)
    }

    /// Whether the segment's Merkle tree is parked.
    #[cfg(test)]
    pub(crate) fn tree_parked(&self) -> bool {
        self.tree.parked()
    }

    /// Whether the extension's rows and the polynomials are in scratch files.
    pub(crate) fn spilled(&self) -> bool {
        self.lde.spilled() && matches!(self.polys, PolyColumns::Stored(_))
    }

    /// Where each proof's extensions keep what they do not hold in memory.
    pub(crate) fn scratch(&self) -> Option<&Path> {
        self.scratch.as_deref()
    }
}

/// One proof's view: the shared main segment and this proof's own auxiliary segment.
///
/// Every auxiliary value is a base-field element (the statement's columns are, and the prover masks
/// them with base-field random rows), so the auxiliary segment is extended over the base field and
/// kept there: half the work and half the memory of extending it in the extension field. Its rows are
/// hashed, opened and read as extension-field elements, exactly as winterfell's own extension would
/// give them.
pub(crate) struct CachedTraceLde<E: FieldElement<BaseField = BaseElement>> {
    main: Arc<MainLde>,
    aux: Option<(Extension, RowTree)>,
    _extension: std::marker::PhantomData<E>,
    info: TraceInfo,
    partition: PartitionOptions,
    aux_memory: usize,
}

impl<E: FieldElement<BaseField = BaseElement>> CachedTraceLde<E> {
    /// The proof's view of `main`, holding its auxiliary segment's even rows in memory with a scratch
    /// directory only if the proof then holds at most `aux_memory` bytes ([`Budget`]).
    pub(crate) fn new(main: Arc<MainLde>, info: TraceInfo, partition: PartitionOptions, aux_memory: usize) -> Self {
        CachedTraceLde { main, aux: None, info, partition, aux_memory, _extension: std::marker::PhantomData }
    }

    /// Whether the auxiliary segment's extension, once set, holds every row in the scratch file.
    #[cfg(test)]
    pub(crate) fn aux_spilled(&self) -> Option<bool> {
        self.aux.as_ref().map(|(lde, _)| lde.spilled())
    }
}

/// The opened rows of a base-field extension, as elements of `F` (the main segment's `F` is the base
/// field; the auxiliary segment's is the proof's extension field).
fn queries<F: FieldElement<BaseField = BaseElement>>(lde: &Extension, tree: &RowTree, positions: &[usize]) -> Queries {
    let states = positions.iter().map(|&p| lde.row::<F>(p)).collect::<Vec<Vec<F>>>();
    let proof = tree.open_many(positions, |start, out| lde.hash_rows::<F>(start, out));
    Queries::new::<Hash, F, Vc>(proof, states)
}

/// The base-field parts of columns of base-field values held as `E`.
fn base_columns<E: FieldElement<BaseField = BaseElement>>(columns: &ColMatrix<E>) -> ColMatrix<BaseElement> {
    ColMatrix::new(
        (0..columns.num_cols())
            .map(|c| {
                columns
                    .get_column(c)
                    .iter()
                    .map(|v| {
                        assert!(
                            (1..E::EXTENSION_DEGREE).all(|i| v.base_element(i) == BaseElement::ZERO),
                            "an auxiliary value outside the base field"
                        );
                        v.base_element(0)
                    })
                    .collect()
            })
            .collect(),
    )
}

impl<E: FieldElement<BaseField = BaseElement>> TraceLde<E> for CachedTraceLde<E> {
    type HashFn = Hash;
    type VC = Vc;

    fn get_main_trace_commitment(&self) -> <Hash as Hasher>::Digest {
        self.main.root()
    }

    fn set_aux_trace(
        &mut self,
        aux_trace: &ColMatrix<E>,
        domain: &StarkDomain<BaseElement>,
    ) -> (ColMatrix<E>, <Hash as Hasher>::Digest) {
        let (polys, root) = self.set_aux_trace_base(PolyColumns::Memory(Arc::new(base_columns(aux_trace))), domain);
        (read_columns(&polys), root)
    }

    fn set_aux_trace_base(
        &mut self,
        aux_trace: PolyColumns<BaseElement>,
        domain: &StarkDomain<BaseElement>,
    ) -> (PolyColumns<BaseElement>, <Hash as Hasher>::Digest) {
        assert!(self.aux.is_none(), "the auxiliary trace has already been added");
        assert_eq!(self.partition, PartitionOptions::default(), "format v3 hashes whole rows");
        let scratch = self.main.scratch.as_deref();
        let (lde, polys, tree) = match aux_trace {
            PolyColumns::Memory(values) => {
                let values = Arc::try_unwrap(values).unwrap_or_else(|shared| (*shared).clone());
                let polys = tracing::info_span!("interpolate").in_scope(|| interpolate_columns(values));
                let (cols, n) = (polys.num_cols(), polys.num_rows());
                let blowup = domain.trace_to_lde_blowup();
                let keep_even = Budget { cols, n, blowup, budget: self.aux_memory }.keep_even_rows(E::EXTENSION_DEGREE);
                let lde = Extension::of(&polys, domain, scratch, keep_even, Owner::Proof);
                // The polynomials are written while the rows are hashed.
                let (polys, tree) = rayon::join(
                    || PolyFile::columns(polys, scratch, Owner::Proof),
                    || lde.commit_rows::<E>(LOW_LEVELS),
                );
                (lde, polys, tree)
            }
            PolyColumns::Stored(store) => {
                // A full disk fails the proof (the pool reports it), not the snapshot.
                let lde =
                    Extension::interpolating(&*store, domain, scratch, Owner::Proof).unwrap_or_else(|e| panic!("{e}"));
                let tree = lde.commit_rows::<E>(LOW_LEVELS);
                (lde, PolyColumns::Stored(store), tree)
            }
        };
        assert_eq!(lde.num_rows(), self.main.lde.num_rows());
        let root = tree.root();
        self.aux = Some((lde, tree));
        (polys, root)
    }

    fn read_main_trace_frame_into(&self, lde_step: usize, frame: &mut EvaluationFrame<BaseElement>) {
        let next = (lde_step + self.main.blowup) % self.main.lde.num_rows();
        self.main.lde.read_even_row(lde_step, frame.current_mut());
        self.main.lde.read_even_row(next, frame.next_mut());
    }

    fn read_aux_trace_frame_into(&self, lde_step: usize, frame: &mut EvaluationFrame<E>) {
        let (lde, _) = self.aux.as_ref().expect("auxiliary segment set");
        let next = (lde_step + self.main.blowup) % lde.num_rows();
        lde.read_even_row(lde_step, frame.current_mut());
        lde.read_even_row(next, frame.next_mut());
    }

    /// The rows as they are held, in the base field, for constraints evaluated there (the patched
    /// `DefaultConstraintEvaluator::new_base_aux`). Only a segment set by `set_aux_trace_base` has
    /// them: one set in `E` holds each value's coordinates, a row as wide as the frame times `E`'s degree.
    fn read_aux_trace_frame_base_into(&self, lde_step: usize, frame: &mut EvaluationFrame<BaseElement>) {
        let (lde, _) = self.aux.as_ref().expect("auxiliary segment set");
        assert_eq!(lde.width, frame.current().len(), "a base-field auxiliary segment");
        let next = (lde_step + self.main.blowup) % lde.num_rows();
        lde.read_even_row(lde_step, frame.current_mut());
        lde.read_even_row(next, frame.next_mut());
    }

    fn query(&self, positions: &[usize]) -> Vec<Queries> {
        let mut out = vec![queries::<BaseElement>(&self.main.lde, &self.main.tree, positions)];
        if let Some((lde, tree)) = &self.aux {
            out.push(queries::<E>(lde, tree, positions));
        }
        out
    }

    fn trace_len(&self) -> usize {
        self.main.lde.num_rows()
    }

    fn blowup(&self) -> usize {
        self.main.blowup
    }

    fn trace_info(&self) -> &TraceInfo {
        &self.info
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use winter_crypto::VectorCommitment;
    use winter_math::{fft, StarkField};
    use winter_prover::matrix::RowMatrix;
    use winter_prover::CompositionPolyTrace;

    /// The segment-held extension is winterfell's row-major one, row for row, and so are its Merkle
    /// root and batch openings (main rows hashed in the base field, auxiliary rows lifted to the
    /// extension field), though the tree keeps only its upper levels.
    #[test]
    fn the_extension_and_its_root_are_winterfells() {
        // Every remainder of eight (a four-wide last group or a padded segment), and a domain large enough for
        // winterfell's concurrent FFT (1,024 rows and more), as every real one is; each with its rows in
        // memory, in a scratch file, and its even rows in memory and its odd rows in the file; and
        // built in a file, interpolated and extended a group at a time.
        for (width, n) in [(13, 64), (12, 64), (4, 64), (8, 64), (36, 64), (1, 64), (3, 64), (6, 64), (9, 64), (15, 64)]
        {
            an_extension_of(width, n);
        }
        // Four-wide groups only (as beyond `WIDE_HALF`), every remainder of four.
        WIDE_HALF_IN_TEST.set(32 << 10);
        for width in [11, 36, 1, 4, 6] {
            an_extension_of(width, 512);
        }
        WIDE_HALF_IN_TEST.set(WIDE_HALF);
        // Trees hashed in more than one call (2,048 rows a call), in wide and in narrow groups.
        an_extension_of(5, 2_048);
        an_extension_of(13, 2_048);
        WIDE_HALF_IN_TEST.set(32 << 10);
        an_extension_of(13, 2_048);
    }

    /// The columns' polynomials are winterfell's (`ColMatrix::interpolate_columns_into`), below and at
    /// the sizes its concurrent FFT takes (1,024 values and more), in the base field and the extension:
    /// each column on one thread whatever the machine's threads, and as `interpolate_columns` chooses.
    #[test]
    fn columns_interpolate_as_winterfells() {
        use winter_math::fields::QuadExtension;
        let value = |c: usize, i: usize| {
            BaseElement::new((i as u64 + 3).pow(3) ^ (c as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        };
        for (width, n) in [(1, 2), (3, 8), (5, 256), (4, 1_024), (9, 4_096)] {
            let base: Vec<Vec<BaseElement>> = (0..width).map(|c| (0..n).map(|i| value(c, i)).collect()).collect();
            let expected = ColMatrix::new(base.clone()).interpolate_columns_into();
            let got = interpolate_each_on_one_thread(ColMatrix::new(base.clone()));
            assert!(got.columns().eq(expected.columns()), "{width} columns of {n}");
            assert!(interpolate_columns(ColMatrix::new(base)).columns().eq(expected.columns()));
            let lifted: Vec<Vec<QuadExtension<BaseElement>>> = (0..width)
                .map(|c| (0..n).map(|i| QuadExtension::new(value(c, i), value(c + width, i))).collect())
                .collect();
            let expected = ColMatrix::new(lifted.clone()).interpolate_columns_into();
            let got = interpolate_each_on_one_thread(ColMatrix::new(lifted.clone()));
            assert!(got.columns().eq(expected.columns()), "{width} extension columns of {n}");
            assert!(interpolate_columns(ColMatrix::new(lifted)).columns().eq(expected.columns()));
        }
    }

    /// The patched prover's out-of-domain values (`eval_poly`, interleaved Horner chains) are winter-math's
    /// (`polynom::eval`, one chain), for polynomials of every length up to 40 (a tail past the chains
    /// or not) and of 2^12, at points of the base field and of the extension.
    #[test]
    fn polynomials_evaluate_as_winterfells() {
        use winter_math::fields::QuadExtension;
        use winter_math::polynom;
        use winter_prover::matrix::eval_poly;
        let coeff = |i: usize| BaseElement::new((i as u64 + 11).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 3);
        let points = [BaseElement::new(3), BaseElement::new(0xffff_ffff_0000_0000), BaseElement::ZERO];
        for len in (0..=40).chain([1 << 12]) {
            let p: Vec<BaseElement> = (0..len).map(coeff).collect();
            for x in points {
                assert_eq!(eval_poly(&p, x), polynom::eval(&p, x), "{len} coefficients at {x}");
                let z = QuadExtension::new(x + BaseElement::ONE, coeff(len));
                assert_eq!(eval_poly(&p, z), polynom::eval(&p, z), "{len} coefficients at {z}");
            }
            let q: Vec<QuadExtension<BaseElement>> =
                (0..len).map(|i| QuadExtension::new(coeff(i), coeff(i + len))).collect();
            let z = QuadExtension::new(coeff(7), coeff(8));
            assert_eq!(eval_poly(&q, z), polynom::eval(&q, z), "{len} extension coefficients");
        }
    }

    /// The widths the docs quote (zk/README.md, [`Budget`]): the most columns whose trace is built in
    /// memory, and whose even rows stay in memory, at 2^20, 2^21 and 2^22 rows.
    #[test]
    fn the_budget_keeps_what_the_docs_say() {
        let most = |n: usize, fits: &dyn Fn(&Budget) -> bool| {
            (0..=300).filter(|&cols| fits(&Budget { cols, n, blowup: 4, budget: AUX_MEMORY })).max()
        };
        let widths: Vec<_> = [1 << 20, 1 << 21, 1 << 22]
            .into_iter()
            .map(|n| (most(n, &|b| b.trace_in_memory()), most(n, &|b| b.keep_even_rows(2))))
            .collect();
        assert_eq!(widths, [(Some(110), Some(36)), (Some(51), Some(17)), (Some(13), Some(2))]);
    }

    fn an_extension_of(width: usize, n: usize) {
        use winter_math::fields::QuadExtension;
        let columns: Vec<Vec<BaseElement>> = (0..width)
            .map(|c| (0..n).map(|i| BaseElement::new((i as u64 + 1) * 7_919 + c as u64 * 1_000_003)).collect())
            .collect();
        let polys = ColMatrix::new(columns.clone()).interpolate_columns_into();
        let domain = StarkDomain::from_twiddles(fft::get_twiddles::<BaseElement>(n), 4, BaseElement::GENERATOR);
        // Rows in memory, in a scratch file, and the even ones in memory and the odd ones in the file.
        let dir = tempfile::tempdir().unwrap();
        let mut held = Vec::new();
        // Kept files of stale bytes, longer than an extension: whatever of them it reads must be its own.
        let stale = (8 * n * width * 8) as u64;
        for (scratch, keep_even) in [(None, false), (Some(dir.path()), false), (Some(dir.path()), true)] {
            crate::scratch::fill_pool(dir.path(), &[stale]);
            let ours = Extension::of(&polys, &domain, scratch, keep_even, Owner::Proof);
            assert_eq!(ours.spilled(), scratch.is_some() && !keep_even && cfg!(unix));
            extension_matches(&ours, &polys, &domain);
            held.push(ours.values_in_memory());
        }
        // With a scratch file, no row in memory, or the even rows only.
        assert!(held[0] >= 4 * n * width && (!cfg!(unix) || (held[1] == 0 && held[2] * 2 == held[0])), "{held:?}");
        // The values in a file, interpolated and extended a group at a time: the same rows, and the
        // file then holds the polynomials.
        let values = ColMatrix::new(columns);
        let file = PolyFile::zeros(dir.path(), width, n).unwrap();
        for (c, column) in values.columns().enumerate() {
            file.write_at(c, 0, column).unwrap();
        }
        // A store whose polynomials cannot be written back: an error, and its values untouched.
        struct ReadOnly<'a>(&'a PolyFile);
        impl PolyStore<BaseElement> for ReadOnly<'_> {
            fn num_cols(&self) -> usize {
                self.0.num_cols()
            }
            fn num_rows(&self) -> usize {
                PolyStore::num_rows(self.0)
            }
            fn read_column(&self, index: usize, out: &mut [BaseElement]) {
                self.0.read_column(index, out)
            }
        }
        let refused = Extension::interpolating(&ReadOnly(&file), &domain, None, Owner::Proof).err().expect("an error");
        assert!(refused.contains("scratch file") && refused.contains("read-only"), "{refused}");
        let mut column = vec![BaseElement::ZERO; n];
        for (c, values) in values.columns().enumerate() {
            file.read_column(c, &mut column);
            assert_eq!(column, values, "column {c}: its values kept");
        }
        for scratch in [None, Some(dir.path())] {
            crate::scratch::fill_pool(dir.path(), &[stale]);
            let ours = Extension::interpolating(&file, &domain, scratch, Owner::Proof).unwrap();
            assert_eq!(ours.spilled(), scratch.is_some() && cfg!(unix));
            extension_matches(&ours, &polys, &domain);
            let mut column = vec![BaseElement::ZERO; n];
            for c in 0..width {
                file.read_column(c, &mut column);
                assert_eq!(column, polys.get_column(c), "column {c}: its polynomial in the file");
            }
            // Interpolated again, the polynomials become others: start over from the values.
            for (c, column) in values.columns().enumerate() {
                file.write_at(c, 0, column).unwrap();
            }
        }
        type E = QuadExtension<BaseElement>;
        let positions = [0, 1, 2, 33, 63, 64, 100, 101, 170, 4 * n - 1, 17, 31, 32];
        // The quotient's commitment: rows of extension-field elements, as winterfell commits them (in
        // memory, and in a scratch file).
        let trace = || {
            CompositionPolyTrace::new(
                (0..2 * n).map(|i| E::new(BaseElement::new(i as u64 * 31 + 5), BaseElement::new(i as u64))).collect(),
            )
        };
        let (theirs, _) = winter_prover::DefaultConstraintCommitment::<E, Hash, Vc>::new(
            trace(),
            2,
            &domain,
            PartitionOptions::default(),
        );
        use winter_prover::Serializable;
        let (root, opened) = (theirs.commitment(), theirs.query(&positions).to_bytes());
        for scratch in [None, Some(dir.path())] {
            let (ours, _) = QuotientCommitment::new(CompositionPoly::new(trace(), &domain, 2), 2, &domain, scratch);
            assert_eq!(ours.evaluations.values_in_memory() == 0, scratch.is_some() && cfg!(unix));
            assert_eq!(ours.commitment(), root);
            assert_eq!(ours.query(&positions).to_bytes(), opened);
        }
    }

    /// `ours` is winterfell's extension of `polys` over `domain`: every row, the Merkle root and batch
    /// openings over rows read in the base field and lifted to the extension field.
    fn extension_matches(ours: &Extension, polys: &ColMatrix<BaseElement>, domain: &StarkDomain<BaseElement>) {
        use winter_math::fields::QuadExtension;
        let (width, n) = (polys.num_cols(), polys.num_rows());
        let theirs = RowMatrix::evaluate_polys_over::<SEGMENT_WIDTH>(polys, domain);
        assert_eq!(ours.num_rows(), theirs.num_rows());
        for i in 0..theirs.num_rows() {
            assert_eq!(ours.row::<BaseElement>(i), theirs.row(i), "row {i}");
        }
        // The even rows as constraint evaluation reads them (from a thread's chunks when they are in
        // the file): in order, then backwards across the chunks, then as two threads' fragments.
        let mut row = vec![BaseElement::ZERO; width];
        for i in (0..theirs.num_rows()).step_by(2).chain((0..theirs.num_rows()).step_by(2).rev()) {
            ours.read_even_row(i, &mut row);
            assert_eq!(row, theirs.row(i), "even row {i}");
        }
        std::thread::scope(|s| {
            for half in 0..2 {
                let theirs = &theirs;
                s.spawn(move || {
                    let mut row = vec![BaseElement::ZERO; width];
                    let rows = theirs.num_rows() / 2;
                    for i in (half * rows..(half + 1) * rows).step_by(2) {
                        for r in [i, (i + 4) % theirs.num_rows()] {
                            ours.read_even_row(r, &mut row);
                            assert_eq!(row, theirs.row(r), "even row {r}");
                        }
                    }
                });
            }
        });
        let positions = [0, 1, 2, 33, 63, 64, 100, 101, 170, 4 * n - 1, 17, 31, 32];
        let full = theirs.commit_to_rows::<Hash, Vc>(PartitionOptions::default());
        // A proof's trees and a snapshot's, each stored from its own level up.
        // Parked, a tree opens the same (its stored levels built again from the leaves read back).
        let dir = tempfile::tempdir().unwrap();
        for low in [LOW_LEVELS, MAIN_LOW_LEVELS] {
            let tree = ours.commit_rows::<BaseElement>(low);
            assert_eq!(tree.root(), full.commitment());
            let opened = tree.open_many(&positions, |start, out| ours.hash_rows::<BaseElement>(start, out));
            assert_eq!(opened, full.open_many(&positions).unwrap().1);
            tree.park(dir.path()).unwrap();
            assert!(tree.parked());
            assert_eq!(tree.root(), full.commitment());
            let opened = tree.open_many(&positions, |start, out| ours.hash_rows::<BaseElement>(start, out));
            assert_eq!(opened, full.open_many(&positions).unwrap().1);
        }
        // Lifted rows hash as winterfell's extension of the same values in the extension field.
        type E = QuadExtension<BaseElement>;
        let lifted = ColMatrix::new(
            (0..width).map(|c| polys.get_column(c).iter().map(|v| E::from(*v)).collect()).collect::<Vec<Vec<E>>>(),
        );
        let theirs = RowMatrix::evaluate_polys_over::<SEGMENT_WIDTH>(&lifted, domain);
        let full = theirs.commit_to_rows::<Hash, Vc>(PartitionOptions::default());
        let tree = ours.commit_rows::<E>(LOW_LEVELS);
        assert_eq!(tree.root(), full.commitment());
        let opened = tree.open_many(&positions, |start, out| ours.hash_rows::<E>(start, out));
        assert_eq!(opened, full.open_many(&positions).unwrap().1);
    }
}

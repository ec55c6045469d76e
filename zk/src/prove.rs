//! Snapshots, their commitments, and proofs (the node's side; feature `prover`).

use crate::air::{
    boundary_state, check_criteria, digest_of, squares_segments, squares_weight, squares_window_bit, AuxLayout,
    ChunkLink, CohortAir, Criterion, PublicInputs, BOUNDARY, MASKS, PERMUTATION_PERIOD,
};
use crate::columns::{Cells, Windowed};
use crate::format::{
    proof_budget, proof_options, random_rows, trace_length_for, Commitment, CHUNK_WINDOW, FIRST, FORMAT_VERSION,
    MAIN_WIDTH, MAX_AUX_WIDTH, MAX_CODE, MAX_CRITERIA, MAX_THRESHOLD, MAX_TRACE_LENGTH, PAD_CODE, SELECTOR,
    SQUARES_WINDOW, VALUE_BITS, Y_LO_BITS, ZK_QUOTIENT_SLACK,
};
use crate::lde::{Budget, CachedTraceLde, MainLde, PolyFile, QuotientCommitment};
use crate::rescue;
use crate::verify::{ChunkPart, Claim, Hash};
use crate::ZkError;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::path::Path;
use std::sync::Arc;
use winter_air::{AuxRandElements, ConstraintCompositionCoefficients, PartitionOptions, ProofOptions, TraceInfo};
use winter_crypto::{DefaultRandomCoin, Digest, MerkleTree};
use winter_math::fields::f64::BaseElement;
use winter_math::{fft, FieldElement};
use winter_prover::matrix::ColMatrix;
use winter_prover::{
    CompositionPoly, CompositionPolyTrace, DefaultConstraintEvaluator, EvaluationFrame, PolyColumns, PolyStore, Prover,
    StarkDomain, Trace, TracePolyTable,
};

type Vc = MerkleTree<Hash>;

/// One committed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// The attribute a criterion tests, or a measure's code.
    pub code: u64,
    /// The value summed (0 on attribute rows).
    pub value: u32,
}

impl Row {
    /// An attribute row.
    pub fn attribute(code: u64) -> Row {
        Row { code, value: 0 }
    }
}

/// One patient's rows: attribute rows (each code once) before measure rows.
pub type Block = Vec<Row>;

/// What one proof states: the cohort's criteria, the measure summed if any, and the node's disclosure
/// threshold (0 for none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The criteria ([`crate::air::check_criteria`]): at most [`crate::format::MAX_CRITERIA`], in clauses, one of them not negated.
    pub criteria: Vec<Criterion>,
    /// The measure's row code.
    pub measure: Option<u64>,
    /// Whether the sum of the measure's squares is proven too (for a standard deviation).
    pub squares: bool,
    /// With a measure: only its values within this range are counted, and their sum is not stated (a
    /// histogram bin of every value).
    pub measure_range: Option<crate::air::Range>,
    /// A count below it is suppressed, and proven below it.
    pub threshold: u32,
}

impl Statement {
    /// Checks that every proof of this statement, disclosed or suppressed, fits the prover's
    /// [`MAX_AUX_WIDTH`]: for a node to refuse a whole answer before proving any of its cells.
    pub fn check_width(&self) -> Result<(), ZkError> {
        crate::air::check_cell_width(&self.criteria, self.measure.is_some(), self.squares, self.measure_range)
            .map_err(ZkError::Prover)
    }

    /// Whether the statement can be proven over a dataset in chunks ([`prove_chunked`]), whatever the
    /// data: every part's layout fits the format (the last part of a suppressed answer has the gap's
    /// columns too, and the last of one with a sum of squares its recombination's). A node checks every
    /// cell of an answer so before any proof spends a chunk's budget.
    pub fn check_chunked(&self) -> Result<(), ZkError> {
        for (hidden, last) in [(false, false), (false, true), (true, true)] {
            let layout = AuxLayout::new(&self.criteria, self.measure.is_some(), self.squares && !hidden, hidden)
                .with_measure_range(self.measure_range)
                .with_chunk(true)
                .with_recombined(last);
            crate::air::check_width(layout, MAX_AUX_WIDTH).map_err(ZkError::Prover)?;
        }
        Ok(())
    }
}

/// What a statement counts over a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outputs {
    /// Blocks meeting the criteria, or with a measure its rows in them.
    pub count: u64,
    /// The sum of those rows' values.
    pub sum: u64,
    /// The sum of their squares.
    pub sum_sq: u128,
}

/// The committed main segment, shared by every proof over one snapshot.
#[derive(Clone)]
pub struct SnapshotTrace {
    info: TraceInfo,
    rows: Arc<MainRows>,
}

/// A snapshot's [`MainRows`]: in memory, or parked in a scratch file ([`Snapshot::park`]) with the mask's
/// seed to lay the columns out again.
enum Held {
    Loaded(Arc<MainRows>),
    Parked { file: Arc<std::fs::File>, seed: [u8; 32] },
}

/// Patient blocks as [`Snapshot::park`] writes them: their number (8 bytes), then per block its rows'
/// number (4 bytes) and each row's code (8) and value (4), little-endian.
fn read_blocks(file: &std::fs::File) -> std::io::Result<Vec<Block>> {
    use std::io::Read;
    use std::os::unix::fs::FileExt;
    // Positioned reads from the start: concurrent proofs over one snapshot share the file.
    struct At<'a>(&'a std::fs::File, u64);
    impl Read for At<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read_at(buf, self.1)?;
            self.1 += n as u64;
            Ok(n)
        }
    }
    let mut input = std::io::BufReader::with_capacity(1 << 20, At(file, 0));
    let mut word = [0u8; 8];
    input.read_exact(&mut word)?;
    let blocks = u64::from_le_bytes(word) as usize;
    let mut out = Vec::with_capacity(blocks);
    let mut len = [0u8; 4];
    for _ in 0..blocks {
        input.read_exact(&mut len)?;
        let rows = u32::from_le_bytes(len) as usize;
        let mut block = Vec::with_capacity(rows);
        for _ in 0..rows {
            input.read_exact(&mut word)?;
            input.read_exact(&mut len)?;
            block.push(Row { code: u64::from_le_bytes(word), value: u32::from_le_bytes(len) });
        }
        out.push(block);
    }
    Ok(out)
}

/// Keeps the main columns a proof reads (code, value and the block-start flag) of the rows before the
/// mask, as [`main_cells`] lays them out.
struct ReadColumns {
    code: Vec<BaseElement>,
    value: Vec<BaseElement>,
    first: Vec<bool>,
}

impl Cells for ReadColumns {
    fn set(&mut self, c: usize, i: usize, value: BaseElement) {
        if i < self.code.len() {
            match c {
                0 => self.code[i] = value,
                1 => self.value[i] = value,
                FIRST => self.first[i] = value == BaseElement::ONE,
                _ => {}
            }
        }
    }
}

/// What a proof reads of the main segment beyond its extension: the columns the auxiliary segment is
/// built from, over the rows before the mask. The segment's extension and polynomials are computed once
/// per snapshot (`lde::MainLde`), so its 36 columns are not kept (302 MB at 2^20 rows); winterfell's
/// debug-build validation, which alone reads them, gets them laid out again from the blocks and the
/// mask's seed.
struct MainRows {
    code: Vec<BaseElement>,
    value: Vec<BaseElement>,
    first: Vec<bool>,
    blocks: Arc<Vec<Block>>,
    seed: [u8; 32],
    full: std::sync::OnceLock<ColMatrix<BaseElement>>,
}

impl Trace for SnapshotTrace {
    type BaseField = BaseElement;

    fn info(&self) -> &TraceInfo {
        &self.info
    }

    fn main_segment(&self) -> &ColMatrix<BaseElement> {
        let rows = &self.rows;
        rows.full.get_or_init(|| main_columns(&rows.blocks, self.info.length(), rows.seed))
    }

    fn read_main_frame(&self, row_idx: usize, frame: &mut EvaluationFrame<BaseElement>) {
        let next = (row_idx + 1) % self.info.length();
        self.main_segment().read_row_into(row_idx, frame.current_mut());
        self.main_segment().read_row_into(next, frame.next_mut());
    }
}

/// Format v3's main segment for `blocks` (non-empty) in `n` rows, masked by random rows from `seed`.
fn main_columns(blocks: &[Block], n: usize, seed: [u8; 32]) -> ColMatrix<BaseElement> {
    let mut columns = vec![vec![BaseElement::ZERO; n]; MAIN_WIDTH];
    main_cells(blocks, n, seed, &mut columns);
    ColMatrix::new(columns)
}

/// Sets the cells of [`main_columns`] (all zero before).
fn main_cells(blocks: &[Block], n: usize, seed: [u8; 32], cells: &mut impl Cells) {
    let k = random_rows(n);
    let mut rng = ChaCha20Rng::from_seed(seed);
    cells.set(0, 0, BaseElement::new(PAD_CODE));
    cells.set(FIRST, 0, BaseElement::ONE);
    let mut i = 1;
    for block in blocks {
        cells.set(FIRST, i, BaseElement::ONE);
        for row in block {
            cells.set(0, i, BaseElement::new(row.code));
            cells.set(1, i, BaseElement::from(row.value));
            for j in 0..VALUE_BITS {
                cells.set(2 + j, i, BaseElement::from((row.value >> j) & 1));
            }
            i += 1;
        }
    }
    for row in i..n - k {
        cells.set(0, row, BaseElement::new(PAD_CODE));
        cells.set(FIRST, row, BaseElement::ONE);
    }
    for row in 0..n - k - 1 {
        cells.set(SELECTOR, row, BaseElement::ONE);
    }
    for c in (0..MAIN_WIDTH).filter(|c| *c != SELECTOR) {
        for row in n - k..n {
            cells.set(c, row, random_element::<BaseElement>(&mut rng));
        }
    }
}

/// A versioned snapshot of a node's patient blocks with its commitment.
pub struct Snapshot {
    /// The main segment's shape.
    info: TraceInfo,
    /// The rows a proof reads beyond the extension, in memory or parked in a scratch file.
    rows: std::sync::Mutex<Held>,
    lde: Arc<MainLde>,
    commitment: Commitment,
    proofs: std::sync::atomic::AtomicUsize,
}

impl Snapshot {
    /// Lays out `blocks` per format v3 (empty blocks are dropped), masks the trace with random rows drawn
    /// from `seed` (a secret the node keeps with the snapshot, never reused: a rebuilt snapshot takes a
    /// fresh seed, so its budget starts over on a fresh mask), and computes the commitment. The
    /// extensions' rows (but a proof's auxiliary even rows while they fit: zk/README.md, "Memory") and
    /// the polynomials, the snapshot's and each proof's, are kept in unnamed scratch files in the
    /// system's temporary directory ([`Snapshot::build_in`] names another; where that directory is a
    /// tmpfs, the files are memory too).
    pub fn build(blocks: Vec<Block>, seed: [u8; 32]) -> Result<Snapshot, ZkError> {
        Snapshot::build_in(blocks, seed, Some(&std::env::temp_dir()))
    }

    /// As [`Snapshot::build`], with the scratch files in `scratch`, or none (every row in memory). The
    /// files have no name and are gone when the snapshot (or the proof) is; where one cannot be
    /// written, its rows stay in memory ([`Snapshot::spilled`] tells).
    pub fn build_in(mut blocks: Vec<Block>, seed: [u8; 32], scratch: Option<&Path>) -> Result<Snapshot, ZkError> {
        blocks.retain(|b| !b.is_empty());
        let rows: usize = blocks.iter().map(Vec::len).sum();
        let n =
            trace_length_for(rows).ok_or(ZkError::TooLarge { rows, max: crate::format::capacity(MAX_TRACE_LENGTH) })?;
        if let Some(row) = blocks.iter().flatten().find(|r| r.code > MAX_CODE) {
            return Err(ZkError::Prover(format!("code {} above the format's {MAX_CODE}", row.code)));
        }
        let info = TraceInfo::new_multi_segment(MAIN_WIDTH, plain_layout().width(), 1, n, vec![]);
        let counted = n - random_rows(n);
        let rows_of = |column: &dyn Fn(usize) -> Vec<BaseElement>| MainRows {
            code: column(0)[..counted].to_vec(),
            value: column(1)[..counted].to_vec(),
            first: column(FIRST)[..counted].iter().map(|f| *f == BaseElement::ONE).collect(),
            blocks: Default::default(),
            seed,
            full: Default::default(),
        };
        // The segment is laid out in a scratch file (else in memory) and interpolated in place: its
        // columns are not kept (`MainRows`).
        let domain = main_domain(&info);
        let partition = proof_options().partition_options();
        let file = scratch.and_then(|dir| PolyFile::zeros(dir, MAIN_WIDTH, n).ok()).and_then(|file| {
            let mut cells = Windowed::new(file);
            main_cells(&blocks, n, seed, &mut cells);
            cells.finish().ok()
        });
        let (rows, lde) = match file {
            Some(file) => {
                let rows = rows_of(&|c| {
                    let mut column = vec![BaseElement::ZERO; n];
                    file.read_column(c, &mut column);
                    column
                });
                // A full disk: the segment is laid out again in memory.
                let lde = MainLde::interpolating(file, &domain, partition, scratch)
                    .unwrap_or_else(|_| MainLde::build(main_columns(&blocks, n, seed), &domain, partition, scratch));
                (rows, lde)
            }
            None => {
                let main = main_columns(&blocks, n, seed);
                (rows_of(&|c| main.get_column(c).to_vec()), MainLde::build(main, &domain, partition, scratch))
            }
        };
        let rows = MainRows { blocks: Arc::new(blocks), ..rows };
        let lde = Arc::new(lde);
        let commitment =
            Commitment { version: FORMAT_VERSION, trace_length: n, root: hex::encode(lde.root().as_bytes()) };
        Ok(Snapshot {
            info,
            rows: std::sync::Mutex::new(Held::Loaded(Arc::new(rows))),
            lde,
            commitment,
            proofs: Default::default(),
        })
    }

    /// Parks the snapshot's patient blocks in an unnamed scratch file in `dir` and lets go of them and
    /// of the main columns a proof reads (about 40 bytes per trace row, 160 MB at 2^22): each proof or
    /// evaluation then reads the blocks back and lays the columns out again for its own time (a
    /// sequential read and a pass over the rows, about a second at 2^22 rows). A node holding a dataset
    /// in chunks parks them, so that only the chunk being proven holds its rows (its extension and
    /// polynomials are in scratch files already: [`Snapshot::spilled`]). Its Merkle tree's stored levels
    /// go too (4 MB at 2^22: their leaves to another scratch file, read back and built again by each
    /// proof, `lde::RowTree::park`), so a parked snapshot holds next to nothing. Proofs and commitment
    /// are unchanged. Idempotent; an error (a file cannot be written) leaves the rows in memory.
    pub fn park(&self, dir: &Path) -> Result<(), ZkError> {
        let mut held = self.rows.lock().expect("rows lock");
        let Held::Loaded(rows) = &*held else { return Ok(()) };
        let write = || -> std::io::Result<std::fs::File> {
            use std::io::{Seek, Write};
            let mut out = std::io::BufWriter::new(tempfile::tempfile_in(dir)?);
            out.write_all(&(rows.blocks.len() as u64).to_le_bytes())?;
            for block in rows.blocks.iter() {
                out.write_all(&(block.len() as u32).to_le_bytes())?;
                for row in block {
                    out.write_all(&row.code.to_le_bytes())?;
                    out.write_all(&row.value.to_le_bytes())?;
                }
            }
            let mut file = out.into_inner().map_err(|e| e.into_error())?;
            file.rewind()?;
            Ok(file)
        };
        let file = write().map_err(|e| ZkError::Prover(format!("parking the snapshot's rows: {e}")))?;
        self.lde.park_tree(dir).map_err(|e| ZkError::Prover(format!("parking the snapshot's Merkle tree: {e}")))?;
        *held = Held::Parked { file: Arc::new(file), seed: rows.seed };
        Ok(())
    }

    /// Whether the snapshot's rows are parked in a scratch file ([`Snapshot::park`]).
    pub fn parked(&self) -> bool {
        matches!(*self.rows.lock().expect("rows lock"), Held::Parked { .. })
    }

    /// The rows a proof reads: held, or read back from their file (then for the caller's time only).
    fn rows(&self) -> Arc<MainRows> {
        // The file is read without the lock (positioned reads), so proofs over one snapshot do not wait
        // for each other, and a failed read (a panic the prover pool reports) leaves the lock whole.
        let (file, seed) = match &*self.rows.lock().expect("rows lock") {
            Held::Loaded(rows) => return rows.clone(),
            Held::Parked { file, seed } => (file.clone(), *seed),
        };
        let blocks = read_blocks(&file).expect("the snapshot's parked rows read back from their scratch file");
        let n = self.info.length();
        let counted = n - random_rows(n);
        let mut columns = ReadColumns {
            code: vec![BaseElement::ZERO; counted],
            value: vec![BaseElement::ZERO; counted],
            first: vec![false; counted],
        };
        main_cells(&blocks, n, seed, &mut columns);
        Arc::new(MainRows {
            code: columns.code,
            value: columns.value,
            first: columns.first,
            blocks: Arc::new(blocks),
            seed,
            full: Default::default(),
        })
    }

    /// The main segment as the prover reads it, with `aux_width` auxiliary columns.
    fn trace(&self, aux_width: usize) -> SnapshotTrace {
        let info = TraceInfo::new_multi_segment(MAIN_WIDTH, aux_width, 1, self.info.length(), vec![]);
        SnapshotTrace { info, rows: self.rows() }
    }

    /// Whether the snapshot's extension keeps its rows, and its polynomials, in scratch files (else in
    /// memory). A proof's own files, in the same directory, fall back to memory silently.
    pub fn spilled(&self) -> bool {
        self.lde.spilled()
    }

    /// What the node publishes.
    pub fn commitment(&self) -> &Commitment {
        &self.commitment
    }

    /// Proofs this snapshot may still serve before its mask is used up.
    pub fn remaining_proofs(&self) -> usize {
        proof_budget(self.commitment.trace_length).saturating_sub(self.proofs.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// The patient blocks (read back from their file when parked).
    pub fn blocks(&self) -> Arc<Vec<Block>> {
        let file = match &*self.rows.lock().expect("rows lock") {
            Held::Loaded(rows) => return rows.blocks.clone(),
            Held::Parked { file, .. } => file.clone(),
        };
        Arc::new(read_blocks(&file).expect("the snapshot's parked rows read back from their scratch file"))
    }

    /// What `statement` counts over this snapshot, as the proof computes it: the blocks meeting every
    /// criterion (or, with a measure, the measure rows of such blocks) and the sum of those rows'
    /// values. Blocks the statement cannot be made over are refused: an unranged criterion's code twice
    /// in one block (the format holds each attribute once per patient; a block may hold many rows of the
    /// measure, or of a ranged criterion's code, in any order).
    pub fn evaluate(&self, criteria: &[Criterion], measure: Option<u64>) -> Result<Outputs, ZkError> {
        self.evaluate_within(criteria, measure, None)
    }

    /// As [`Snapshot::evaluate`], counting only the measure's values within `range` (when given).
    pub fn evaluate_within(
        &self,
        criteria: &[Criterion],
        measure: Option<u64>,
        range: Option<crate::air::Range>,
    ) -> Result<Outputs, ZkError> {
        let mut out = Outputs::default();
        for block in self.blocks().iter() {
            let mut has = vec![0u32; criteria.len()];
            for row in block {
                for (h, c) in has.iter_mut().zip(criteria) {
                    if c.range().is_some() {
                        // Any row of the code within the range.
                        *h |= u32::from(row.code == c.code && c.admits(row.value));
                    } else {
                        *h += u32::from(row.code == c.code);
                    }
                    if *h > 1 {
                        return Err(ZkError::Prover(format!("code {} appears twice in one patient's block", c.code)));
                    }
                }
            }
            // The block's verdict, over all its rows.
            if !crate::air::meets(criteria, |k| has[k] == 1) {
                continue;
            }
            let Some(measure) = measure else {
                out.count += 1;
                continue;
            };
            for row in block.iter().filter(|r| r.code == measure && range.is_none_or(|g| g.admits(r.value))) {
                out.count += 1;
                out.sum += u64::from(row.value);
                out.sum_sq += u128::from(row.value) * u128::from(row.value);
            }
        }
        Ok(out)
    }

    /// Counts (and sums) what `statement` selects, and proves it for the query digest `query`. A count
    /// below the statement's threshold (≤ [`MAX_THRESHOLD`]; 0 for none) is disclosed neither with its
    /// sum, and the proof shows only that it is below the threshold.
    pub fn prove(&self, query: [u8; 32], statement: &Statement) -> Result<(Claim, Vec<u8>), ZkError> {
        check_statement(statement)?;
        let outputs = self.evaluate_within(&statement.criteria, statement.measure, statement.measure_range)?;
        self.prove_outputs(query, statement, outputs)
    }

    /// As [`Snapshot::prove`], with the outputs given instead of evaluated: for tests that a dishonest
    /// prover's trace is refused by the constraints themselves (winterfell's debug build checks every
    /// constraint before proving and panics on the first that fails).
    #[doc(hidden)]
    pub fn prove_outputs(
        &self,
        query: [u8; 32],
        statement: &Statement,
        outputs: Outputs,
    ) -> Result<(Claim, Vec<u8>), ZkError> {
        self.prove_part(query, statement, outputs, None).map(|(claim, _, proof)| (claim, proof))
    }

    /// Proves `outputs`, or with `chunk` (the secrets of the boundaries before and after this chunk)
    /// this chunk's outputs masked by them: `output + next mask - previous mask`, in the field.
    fn prove_part(
        &self,
        query: [u8; 32],
        statement: &Statement,
        outputs: Outputs,
        chunk: Option<ChunkSecrets>,
    ) -> Result<(Claim, Option<ChunkLink>, Vec<u8>), ZkError> {
        let Statement { criteria, measure, squares, measure_range, threshold } = statement;
        let Outputs { count, sum, sum_sq } = outputs;
        // A chunk's part is suppressed when the whole dataset's count is (its last part says so).
        let suppressed = match &chunk {
            Some(c) => c.suppressed.is_some(),
            None => count < u64::from(*threshold),
        };
        let mut claim = Claim {
            query,
            criteria: criteria.clone(),
            measure: *measure,
            count: if suppressed { 0 } else { count },
            // A measure's range counts values only.
            sum: if suppressed || measure_range.is_some() { 0 } else { sum },
            sum_sq: (*squares && !suppressed).then_some(sum_sq),
            measure_range: *measure_range,
            suppressed_below: suppressed.then_some(*threshold),
        };
        let mut gap = if suppressed { u64::from(*threshold) - 1 - count } else { 0 };
        let mut link = None;
        if let Some(secrets) = &chunk {
            let [prev, next] = &secrets.boundaries;
            let masked = |t: usize, value: u64| (BaseElement::new(value) + next[t] - prev[t]).as_int();
            claim.count = masked(0, count);
            let totals = claim.layout().with_chunk(true).totals();
            if totals >= 2 {
                claim.sum = masked(1, sum);
            }
            // Every part states the whole answer's sum of squares; its own is masked in its link, as its
            // canonical split `ℓ + 2^32·η`.
            claim.sum_sq = claim.sum_sq.and(secrets.sum_sq);
            gap = secrets.suppressed.map_or(0, |(_, total_gap)| total_gap);
            link = Some(ChunkLink {
                prev: digest_of(prev),
                next: digest_of(next),
                total: secrets.suppressed.map(|(total, _)| total.as_int()),
                squares: claim
                    .sum_sq
                    .map(|_| [masked(2, (sum_sq & 0xffff_ffff) as u64), masked(3, (sum_sq >> 32) as u64)]),
                squares_total: secrets.recombine.filter(|_| claim.sum_sq.is_some()).map(|(t, _)| t.map(|e| e.as_int())),
            });
        }
        let layout = |claim: &Claim| {
            claim.layout().with_chunk(link.is_some()).with_recombined(link.is_some_and(|l| l.squares_total.is_some()))
        };
        // The proof's own layout, checked before any of the snapshot's budget is spent.
        crate::air::check_width(layout(&claim), MAX_AUX_WIDTH).map_err(ZkError::Prover)?;
        let budget = proof_budget(self.commitment.trace_length);
        if self.proofs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= budget {
            return Err(ZkError::BudgetExhausted(budget));
        }
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        let (prover, trace) = self.prover(&claim, gap, seed, chunk, link);
        let proof = prover.prove(trace).map_err(|e| ZkError::Prover(e.to_string()))?;
        Ok((claim, link, crate::openings::compact(proof)?))
    }

    /// The prover of `claim` over this snapshot (with `gap`, `bound - 1 - count`, and the seed of its
    /// random rows; a chunk's with its secrets and public `link`), and the trace it proves.
    fn prover(
        &self,
        claim: &Claim,
        gap: u64,
        seed: [u8; 32],
        chunk: Option<ChunkSecrets>,
        link: Option<ChunkLink>,
    ) -> (CohortProver, SnapshotTrace) {
        let Claim { query, criteria, measure, .. } = claim;
        let inputs = PublicInputs {
            commitment: self.root(),
            query: *query,
            criteria: criteria.clone(),
            measure: *measure,
            count: claim.count,
            sum: claim.sum,
            sum_sq: claim.sum_sq,
            measure_range: claim.measure_range,
            suppressed_below: claim.suppressed_below.unwrap_or(0),
            chunk: link,
        };
        let layout = inputs.layout();
        let prover = CohortProver {
            lde: self.lde.clone(),
            options: proof_options(),
            inputs,
            gap,
            seed,
            chunk,
            aux_in_extension: false,
            aux_memory: crate::lde::AUX_MEMORY,
            #[cfg(test)]
            inverse_outside_base_field: false,
        };
        (prover, self.trace(layout.width()))
    }

    fn root(&self) -> [u8; 32] {
        self.commitment.root_bytes().expect("built by this crate")
    }
}

/// Refuses a statement no proof can make: squares without a measure, a measure's range without a
/// measure (or with squares), a threshold above [`MAX_THRESHOLD`], criteria out of shape, a code above
/// the format's.
fn check_statement(statement: &Statement) -> Result<(), ZkError> {
    let Statement { criteria, measure, squares, measure_range, threshold } = statement;
    if *squares && measure.is_none() {
        return Err(ZkError::Prover("a sum of squares needs a measure".into()));
    }
    if measure_range.is_some() && (measure.is_none() || *squares) {
        return Err(ZkError::Prover("a measure's range needs a measure, and proves no squares".into()));
    }
    if *threshold > MAX_THRESHOLD {
        return Err(ZkError::Prover(format!("threshold {threshold} above {MAX_THRESHOLD}")));
    }
    check_criteria(criteria).map_err(ZkError::Prover)?;
    if let Some(code) = criteria.iter().map(|c| c.code).chain(*measure).find(|c| *c > MAX_CODE) {
        return Err(ZkError::Prover(format!("code {code} above the format's {MAX_CODE}")));
    }
    Ok(())
}

/// The layout of the simplest statement (one criterion, disclosed), for what does not depend on it.
fn plain_layout() -> AuxLayout {
    AuxLayout::new(&[Criterion::has(0)], false, false, false)
}

/// The domain winterfell's prover uses for this trace length.
fn main_domain(info: &TraceInfo) -> StarkDomain<BaseElement> {
    let inputs = PublicInputs::of_layout(plain_layout());
    let air = <CohortAir as winter_air::Air>::new(info.clone(), inputs, proof_options());
    StarkDomain::new(&air)
}

impl CohortProver {
    /// The snapshot's extension, computed when it was committed, of the trace being proven.
    fn cached_lde<E: FieldElement<BaseField = BaseElement>>(
        &self,
        info: &TraceInfo,
        partition: PartitionOptions,
    ) -> (CachedTraceLde<E>, TracePolyTable<E>) {
        let polys = TracePolyTable::new_columns(self.lde.polys.clone());
        (CachedTraceLde::new(self.lde.clone(), info.clone(), partition, self.aux_memory), polys)
    }
}

struct CohortProver {
    lde: Arc<MainLde>,
    options: ProofOptions,
    inputs: PublicInputs,
    /// `bound - 1 - count`, proven to fit in [`GAP_BITS`] bits.
    gap: u64,
    seed: [u8; 32],
    /// A chunk's boundaries and, on the last part of a suppressed answer, its hidden total's.
    chunk: Option<ChunkSecrets>,
    /// Build the auxiliary segment in the extension field, as unpatched winterfell does (a test
    /// compares the two proofs).
    aux_in_extension: bool,
    /// With `aux_in_extension`: the first criterion's inverse, on a row of its code (where it is free:
    /// `(code - c)·inv` is zero whatever it is), set outside the base field. Every constraint still
    /// holds; a test checks the verifier refuses the proof for it.
    #[cfg(test)]
    inverse_outside_base_field: bool,
    /// The most bytes the proof may hold by the memory model ([`Budget`]: whether its auxiliary trace
    /// is built in memory, and its even rows stay there, with a scratch directory).
    aux_memory: usize,
}

/// What one chunk's proof keeps secret (and what of the whole answer it states).
#[derive(Debug, Clone, Copy, Default)]
struct ChunkSecrets {
    /// The masks and salt shared with the previous chunk, and with the next.
    boundaries: [[BaseElement; BOUNDARY]; 2],
    /// On the last part of a suppressed answer: the parts' masked counts added (public), and the gap
    /// `T - 1 - total` of the hidden total.
    suppressed: Option<(BaseElement, u64)>,
    /// With a sum of squares: the whole answer's, which every part states.
    sum_sq: Option<u128>,
    /// On the last part of an answer with a sum of squares: the parts' masked low words added and their
    /// masked rests added (public), and the carry out of the low words added.
    recombine: Option<([BaseElement; 2], u64)>,
}

fn random_element<E: FieldElement>(rng: &mut ChaCha20Rng) -> E {
    let mut bytes = vec![0u8; E::VALUE_SIZE];
    loop {
        rng.fill_bytes(&mut bytes);
        if let Some(e) = E::from_random_bytes(&bytes) {
            return e;
        }
    }
}

/// The zero-knowledge layout of the constraint composition polynomial `H` (zk/README.md, the patched
/// `AirContext::set_zk_quotient_slack`): `H`'s coefficients cut into `segments` chunks of
/// `m = n - ZK_QUOTIENT_SLACK`, segment `j` becoming `H_j - r_j + X^m r_{j+1}` for uniformly random
/// `r_1 .. r_{segments-1}` of degree below the slack (`r_0 = r_segments = 0`: the sum
/// `Σ X^(j m) H_j` is still `H`), then one uniformly random column of degree below `n`, the DEEP
/// randomizer. Returned as the `columns` columns' coefficients (`n` each), for the patched
/// `CompositionPoly::from_columns`.
fn hide_quotient<E: FieldElement<BaseField = BaseElement>>(
    trace: CompositionPolyTrace<E>,
    columns: usize,
    domain: &StarkDomain<BaseElement>,
    rng: &mut ChaCha20Rng,
) -> Vec<Vec<E>> {
    let n = domain.trace_length();
    let slack = ZK_QUOTIENT_SLACK;
    let stride = n - slack;
    let segments = columns - 1;
    let mut h = trace.into_inner();
    let inv_twiddles = fft::get_inv_twiddles::<BaseElement>(h.len());
    fft::interpolate_poly_with_offset(&mut h, &inv_twiddles, domain.offset());
    assert!(winter_math::polynom::degree_of(&h) < segments * stride, "composition polynomial above its degree");
    let r: Vec<Vec<E>> = (0..=segments)
        .map(|j| {
            if j == 0 || j == segments {
                vec![E::ZERO; slack]
            } else {
                (0..slack).map(|_| random_element(rng)).collect()
            }
        })
        .collect();
    let mut out: Vec<Vec<E>> = (0..segments)
        .map(|j| {
            let mut column = vec![E::ZERO; n];
            for (i, c) in h.iter().skip(j * stride).take(stride).enumerate() {
                column[i] = *c;
            }
            for i in 0..slack {
                column[i] -= r[j][i];
                column[stride + i] += r[j + 1][i];
            }
            column
        })
        .collect();
    drop(h);
    out.push((0..n).map(|_| random_element(rng)).collect());
    out
}

impl CohortProver {
    /// Fills the bits and accumulators of a statement with squares: the window ending on row `last`
    /// holds the range-checked witnesses that split `Σ lo² + 2^17·Σ lo·hi + 2^32·Σ hi²` into its low
    /// word and the rest; every other row of those columns (up to `last`) is zero.
    /// A chunk's window holds its low word `ℓ = (Σ lo² + 2^17·y_lo) mod 2^32` too, and the last part's
    /// the carry out of the parts' low words added.
    fn squares_window(&self, cells: &mut impl Cells, last: usize, [x, y, _]: [u64; 3]) {
        let l = self.inputs.layout();
        let bit = l.squares_columns()[5];
        let y_lo = y & ((1 << Y_LO_BITS) - 1);
        let low = x + (y_lo << 17);
        let witnesses = [
            y_lo,
            y >> Y_LO_BITS,
            low >> 32,
            low & 0xffff_ffff,
            self.chunk.and_then(|c| c.recombine).map_or(0, |(_, carry)| carry),
        ];
        let segments = squares_segments(&l);
        let accumulators = l.accumulators();
        let start = last + 1 - SQUARES_WINDOW;
        let mut acc = vec![0u64; accumulators.len()];
        for pos in 0..SQUARES_WINDOW {
            let b = squares_window_bit(segments, pos, &witnesses);
            cells.set(bit, start + pos, BaseElement::new(b));
            for ((c, a), segment) in accumulators.iter().zip(&mut acc).zip(segments) {
                *a += b * squares_weight(*segment, pos);
                cells.set(*c, start + pos, BaseElement::new(*a));
            }
        }
    }
}

/// Writes a chunk's window (the aligned block of [`CHUNK_WINDOW`] rows ending on `last`): its flag, the
/// kinds' selectors, each boundary's permutation in its half, and the carries of the masks.
fn chunk_window(l: &AuxLayout, [prev, next]: &[[BaseElement; BOUNDARY]; 2], last: usize, cells: &mut impl Cells) {
    let start = last + 1 - CHUNK_WINDOW;
    for i in start..=last {
        cells.set(l.window(), i, BaseElement::ONE);
        let selectors = rescue::selectors((i - start) % PERMUTATION_PERIOD);
        for (j, s) in selectors.iter().take(5).enumerate() {
            cells.set(l.kind(j), i, *s);
        }
    }
    for (half, boundary) in [prev, next].into_iter().enumerate() {
        for (r, row) in rescue::fill(boundary_state(boundary)).iter().enumerate() {
            for (c, value) in row.iter().enumerate() {
                cells.set(l.hash() + c, start + half * PERMUTATION_PERIOD + r, *value);
            }
        }
    }
    for t in 0..l.totals() {
        for i in start..=last {
            let carried = if i < start + PERMUTATION_PERIOD { -prev[t] } else { next[t] - prev[t] };
            cells.set(l.carry(t), i, carried);
        }
    }
}

/// Proves `statement` over a dataset committed in `chunks` (snapshots of whole patient blocks, in the
/// order the node published their commitments): one proof per chunk, in order, and the claim of the
/// whole dataset, whose count and sum are the chunks' added. No chunk's own count or sum is disclosed:
/// each part claims its outputs plus a mask it shares with the next chunk minus the one it shares with
/// the previous (uniform field elements, drawn here, 0 before the first and after the last), and proves
/// that its masks open the public digests of its [`ChunkLink`] (`crate::air`, "Chunks"). The parts'
/// claims add up to the whole's, as `crate::verify::verify_chunked` checks. A count below the statement's
/// threshold stays hidden too: the last boundary is then drawn like the others, and the last part shows
/// the total below the threshold from the parts' masked counts added ([`ChunkLink::total`]). A sum of
/// squares is masked as its canonical split per chunk (`ℓ + 2^32·η`, [`ChunkLink::squares`]): every
/// part states the whole's, and the last, whose next boundary masks the low words and rests, recombines
/// the parts' masked ones added ([`ChunkLink::squares_total`]) into it.
pub fn prove_chunked(
    chunks: &[&Snapshot],
    query: [u8; 32],
    statement: &Statement,
) -> Result<(Claim, Vec<ChunkPart>), ZkError> {
    check_statement(statement)?;
    statement.check_chunked()?;
    if chunks.is_empty() || chunks.len() > crate::verify::MAX_CHUNKS {
        return Err(ZkError::Prover(format!(
            "{} chunks (a dataset in chunks has 1 to {})",
            chunks.len(),
            crate::verify::MAX_CHUNKS
        )));
    }
    let mut outputs = Vec::with_capacity(chunks.len());
    let mut total = Outputs::default();
    for chunk in chunks {
        let o = chunk.evaluate_within(&statement.criteria, statement.measure, statement.measure_range)?;
        total.count += o.count;
        total.sum += o.sum;
        total.sum_sq += o.sum_sq;
        outputs.push(o);
    }
    let suppressed = total.count < u64::from(statement.threshold);
    let squares = statement.squares && !suppressed;
    // The boundaries: none before the first chunk and (unless the total or a sum of squares' carry is
    // hidden) after the last, fresh masks and salt between. The last boundary of a sum of squares masks
    // its low word and rest only: its count and sum masks are 0 (its proof shows it), so the count and
    // sum add up as ever.
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let mut rng = ChaCha20Rng::from_seed(seed);
    let mut boundaries = vec![[BaseElement::ZERO; BOUNDARY]; chunks.len() + 1];
    let drawn = if suppressed || squares { chunks.len() + 1 } else { chunks.len() };
    // The outputs of the parts before the last (never suppressed: a suppressed answer's earlier parts
    // mask their count and sum like any other).
    let totals = AuxLayout::new(&statement.criteria, statement.measure.is_some(), squares, false)
        .with_measure_range(statement.measure_range)
        .totals();
    for (b, boundary) in boundaries.iter_mut().enumerate().take(drawn).skip(1) {
        for (i, e) in boundary.iter_mut().enumerate() {
            // The masks of outputs the statement has not stay 0.
            let used = i >= MASKS || (i < totals && (b < chunks.len() || suppressed || i >= 2));
            if used {
                *e = random_element(&mut rng);
            }
        }
    }
    // Suppressed: the parts' masked counts add up to the total plus the last boundary's count mask.
    let hidden = suppressed.then(|| {
        let masked = BaseElement::new(total.count) + boundaries[chunks.len()][0];
        (masked, u64::from(statement.threshold) - 1 - total.count)
    });
    // With squares: the parts' masked low words (and rests) add up to the low words (rests) added plus
    // the last boundary's masks; the low words added are the claim's low word and a carry.
    let recombine = squares.then(|| {
        let lows: u64 = outputs.iter().map(|o| (o.sum_sq & 0xffff_ffff) as u64).sum();
        let rests: u64 = outputs.iter().map(|o| (o.sum_sq >> 32) as u64).sum();
        let mask = boundaries[chunks.len()];
        ([BaseElement::new(lows) + mask[2], BaseElement::new(rests) + mask[3]], lows >> 32)
    });
    let last = chunks.len() - 1;
    let mut parts = Vec::with_capacity(chunks.len());
    for (i, (chunk, o)) in chunks.iter().zip(outputs).enumerate() {
        let secrets = ChunkSecrets {
            boundaries: [boundaries[i], boundaries[i + 1]],
            suppressed: hidden.filter(|_| i == last),
            sum_sq: squares.then_some(total.sum_sq),
            recombine: recombine.filter(|_| i == last),
        };
        let (claim, link, proof) = chunk.prove_part(query, statement, o, Some(secrets))?;
        parts.push(ChunkPart { commitment: chunk.commitment().clone(), claim, link: link.expect("a chunk"), proof });
    }
    let claim = Claim {
        query,
        criteria: statement.criteria.clone(),
        measure: statement.measure,
        count: if suppressed { 0 } else { total.count },
        sum: if suppressed || statement.measure_range.is_some() { 0 } else { total.sum },
        sum_sq: squares.then_some(total.sum_sq),
        measure_range: statement.measure_range,
        suppressed_below: suppressed.then_some(statement.threshold),
    };
    Ok((claim, parts))
}

/// Writes range slot `k`'s columns on row `i` for the row's `value` (the match, and a criterion's `t`,
/// are the caller's); returns whether the value is within the range.
fn range_columns(
    l: &AuxLayout,
    k: usize,
    range: &crate::air::Range,
    value: u32,
    cells: &mut impl Cells,
    i: usize,
) -> bool {
    let matched = l.match_column(k);
    let mut col = matched + 1 + usize::from(range.both());
    let mut chain = [BaseElement::ZERO; 40];
    let mut bound = |gadget: crate::range::AtMost| {
        let width = gadget.width();
        let verdict = gadget.fill(value, &mut chain[..width]);
        for (j, cell) in chain[..width].iter().enumerate() {
            cells.set(col + j, i, *cell);
        }
        col += width;
        verdict
    };
    let above = range.lower().is_none_or(|g| !bound(g));
    let below = range.upper().is_none_or(&mut bound);
    if range.both() {
        cells.set(matched + 1, i, BaseElement::from(u32::from(above && below)));
    }
    above && below
}

impl Prover for CohortProver {
    type BaseField = BaseElement;
    type Air = CohortAir;
    type Trace = SnapshotTrace;
    type HashFn = Hash;
    type VC = Vc;
    type RandomCoin = DefaultRandomCoin<Hash>;
    type TraceLde<E: FieldElement<BaseField = BaseElement>> = CachedTraceLde<E>;
    type ConstraintCommitment<E: FieldElement<BaseField = BaseElement>> = QuotientCommitment<E>;
    type ConstraintEvaluator<'a, E: FieldElement<BaseField = BaseElement>> =
        DefaultConstraintEvaluator<'a, CohortAir, E>;

    fn get_pub_inputs(&self, _trace: &SnapshotTrace) -> PublicInputs {
        self.inputs.clone()
    }

    fn options(&self) -> &ProofOptions {
        &self.options
    }

    fn new_trace_lde<E: FieldElement<BaseField = BaseElement>>(
        &self,
        trace_info: &TraceInfo,
        _main_trace: &ColMatrix<BaseElement>,
        _domain: &StarkDomain<BaseElement>,
        partition_option: PartitionOptions,
    ) -> (Self::TraceLde<E>, TracePolyTable<E>) {
        self.cached_lde(trace_info, partition_option)
    }

    /// The snapshot's extension, without reading the trace's main segment (not kept: `MainRows`).
    fn main_trace_lde<E: FieldElement<BaseField = BaseElement>>(
        &self,
        trace: &SnapshotTrace,
        _domain: &StarkDomain<BaseElement>,
        partition_options: PartitionOptions,
    ) -> (Self::TraceLde<E>, TracePolyTable<E>) {
        self.cached_lde(trace.info(), partition_options)
    }

    fn build_constraint_commitment<E: FieldElement<BaseField = BaseElement>>(
        &self,
        composition_poly_trace: CompositionPolyTrace<E>,
        num_constraint_composition_columns: usize,
        domain: &StarkDomain<BaseElement>,
        partition_options: PartitionOptions,
    ) -> (Self::ConstraintCommitment<E>, CompositionPoly<E>) {
        let mut rng = ChaCha20Rng::from_seed(self.seed);
        rng.set_stream(1);
        let hidden = hide_quotient(composition_poly_trace, num_constraint_composition_columns, domain, &mut rng);
        assert_eq!(partition_options, PartitionOptions::default(), "format v3 hashes whole rows");
        let poly = CompositionPoly::from_columns(hidden);
        QuotientCommitment::new(poly, num_constraint_composition_columns, domain, self.lde.scratch())
    }

    fn new_evaluator<'a, E: FieldElement<BaseField = BaseElement>>(
        &self,
        air: &'a CohortAir,
        aux_rand_elements: Option<AuxRandElements<E>>,
        composition_coefficients: ConstraintCompositionCoefficients<E>,
    ) -> Self::ConstraintEvaluator<'a, E> {
        // The statement's auxiliary constraints read no random elements, and its segment is in the base
        // field (unless a test builds it in `E`): they are evaluated there, a third of the extension's
        // multiplications (the patched winter-prover, zk/vendor/README.md).
        if self.aux_in_extension {
            DefaultConstraintEvaluator::new(air, aux_rand_elements, composition_coefficients)
        } else {
            DefaultConstraintEvaluator::new_base_aux(air, aux_rand_elements, composition_coefficients)
        }
    }

    /// Every auxiliary value is in the base field: the segment is built, extended and kept there
    /// (the patched winter-prover, zk/vendor/README.md), half the memory of building it in `E`. A
    /// segment too wide to hold while it is extended ([`Budget`]) is built in a
    /// scratch file instead, and interpolated and extended a group of columns at a time.
    fn build_aux_trace_base<E: FieldElement<BaseField = BaseElement>>(
        &self,
        main_trace: &SnapshotTrace,
        _aux_rand_elements: &AuxRandElements<E>,
    ) -> Option<PolyColumns<BaseElement>> {
        if self.aux_in_extension {
            return None;
        }
        let (width, n) = (self.inputs.layout().width(), main_trace.info.length());
        let scratch = self.lde.scratch().filter(|_| {
            !Budget { cols: width, n, blowup: self.options.blowup_factor(), budget: self.aux_memory }.trace_in_memory()
        });
        // A scratch file that cannot be created or written: the segment is built in memory.
        if let Some(file) = scratch.and_then(|dir| PolyFile::zeros(dir, width, n).ok()) {
            let mut cells = Windowed::new(file);
            self.fill_aux(main_trace, &mut cells);
            if let Ok(file) = cells.finish() {
                return Some(PolyColumns::Stored(Arc::new(file)));
            }
        }
        let mut columns = vec![vec![BaseElement::ZERO; n]; width];
        self.fill_aux(main_trace, &mut columns);
        Some(PolyColumns::Memory(Arc::new(ColMatrix::new(columns))))
    }

    /// The segment in `E`, as unpatched winterfell builds it (a test compares the two proofs).
    fn build_aux_trace<E: FieldElement<BaseField = BaseElement>>(
        &self,
        main_trace: &SnapshotTrace,
        _aux_rand_elements: &AuxRandElements<E>,
    ) -> ColMatrix<E> {
        let mut columns = vec![vec![BaseElement::ZERO; main_trace.info.length()]; self.inputs.layout().width()];
        self.fill_aux(main_trace, &mut columns);
        #[allow(unused_mut)]
        let mut columns: Vec<Vec<E>> = columns.into_iter().map(|c| c.into_iter().map(E::from).collect()).collect();
        #[cfg(test)]
        if self.inverse_outside_base_field {
            let code = BaseElement::new(self.inputs.criteria[0].code);
            let row =
                main_trace.rows.code.iter().position(|c| *c == code).expect("a row of the first criterion's code");
            let mut bytes = vec![0u8; E::ELEMENT_BYTES];
            bytes[0] = 5;
            bytes[E::ELEMENT_BYTES / 2] = 3;
            let outside = E::from_random_bytes(&bytes).expect("an element");
            assert!(E::EXTENSION_DEGREE > 1 && outside.base_element(1) != BaseElement::ZERO);
            columns[self.inputs.layout().inv(0)][row] = outside;
        }
        ColMatrix::new(columns)
    }
}

impl CohortProver {
    /// Sets the auxiliary segment's cells (all zero before), row after row in each pass.
    fn fill_aux(&self, main_trace: &SnapshotTrace, cells: &mut impl Cells) {
        let _span = tracing::info_span!("build_aux_trace").entered();
        let n = main_trace.info.length();
        let last = n - random_rows(n) - 1;
        let l = self.inputs.layout();
        let main = &main_trace.rows;
        let criteria: Vec<(BaseElement, bool, bool)> =
            self.inputs.criteria.iter().map(|c| (BaseElement::new(c.code), c.negated, c.or_previous)).collect();
        let measure = BaseElement::new(self.inputs.measure.unwrap_or(0));
        let is_zero = |d: BaseElement| if d == BaseElement::ZERO { BaseElement::ONE } else { BaseElement::ZERO };
        // The inverses of code - c (0 where the code matches), one batch inversion per tested code.
        let inverses = |c: BaseElement| {
            let d: Vec<BaseElement> = main.code[..=last].iter().map(|code| *code - c).collect();
            winter_math::batch_inversion(&d)
        };
        let inv_criteria: Vec<Vec<BaseElement>> = criteria.iter().map(|(c, ..)| inverses(*c)).collect();
        let inv_measure = if l.measure { inverses(measure) } else { Vec::new() };
        let mut has = vec![BaseElement::ZERO; criteria.len()];
        // The running verdict `p` of every row.
        let mut products = vec![BaseElement::ZERO; last + 1];
        for i in 0..=last {
            let code = main.code[i];
            let first = main.first[i];
            // As the AIR's `p_j`: a clause's literals or-ed, the clauses and-ed.
            let (mut product, mut before) = (BaseElement::ONE, BaseElement::ONE);
            for (k, (c, negated, joins)) in criteria.iter().enumerate() {
                let d = code - *c;
                let eq = is_zero(d);
                if let Some(range) = l.ranges[k] {
                    // `t`: the flag before this row (0 on a block's first); the match; or-ed in.
                    let t = if first { BaseElement::ZERO } else { has[k] };
                    let inside = range_columns(&l, k, &range, main.value[i].as_int() as u32, cells, i);
                    let matched = eq * BaseElement::from(u32::from(inside));
                    cells.set(l.range_columns(k), i, t);
                    cells.set(l.range_columns(k) + 1, i, matched);
                    has[k] = t + matched - t * matched;
                } else {
                    // Row 0 is padding: c_k[0] = 0 (asserted); each block starts over.
                    has[k] = if first { eq } else { has[k] + eq };
                }
                cells.set(l.inv(k), i, inv_criteria[k][i]);
                cells.set(l.eq(k), i, eq);
                cells.set(l.has(k), i, has[k]);
                let literal = if *negated { BaseElement::ONE - has[k] } else { has[k] };
                if *joins {
                    product += (before - product) * literal;
                } else {
                    before = product;
                    product *= literal;
                }
                if k >= 1 {
                    cells.set(l.product(k), i, product);
                }
            }
            products[i] = product;
        }
        // `v`: each block's verdict (`p` on its last row, the next row starting a block) on all its rows.
        let mut verdicts = products.clone();
        for i in (0..last).rev() {
            if !main.first[i + 1] {
                verdicts[i] = verdicts[i + 1];
            }
        }
        let (mut cnt, mut count, mut sum) = (BaseElement::ZERO, BaseElement::ZERO, BaseElement::ZERO);
        // Σ w·lo², Σ w·lo·hi, Σ w·hi² over the 16-bit halves of the values (each below 2^54).
        let mut squares = [0u64; 3];
        for i in 0..=last {
            let code = main.code[i];
            if l.measure {
                let [inv, eq_col, w_col, n_col, sum_col, v_col] = l.measure_columns();
                let d = code - measure;
                let eq = is_zero(d);
                // With a range, only the measure's rows within it count.
                let counted = match l.measure_range() {
                    Some(range) => {
                        let inside = range_columns(&l, MAX_CRITERIA, &range, main.value[i].as_int() as u32, cells, i);
                        let matched = eq * BaseElement::from(u32::from(inside));
                        cells.set(l.match_column(MAX_CRITERIA), i, matched);
                        matched
                    }
                    None => eq,
                };
                let w = counted * verdicts[i];
                cells.set(v_col, i, verdicts[i]);
                cells.set(inv, i, inv_measure[i]);
                cells.set(eq_col, i, eq);
                cells.set(w_col, i, w);
                cells.set(n_col, i, count);
                cells.set(sum_col, i, sum);
                count += w;
                sum += w * main.value[i];
                if l.squares {
                    let [u_lo, u_hi, s_ll, s_lh, s_hh, ..] = l.squares_columns();
                    let value = main.value[i].as_int();
                    let counted = u64::from(w == BaseElement::ONE);
                    let (lo, hi) = (counted * (value & 0xffff), counted * (value >> 16));
                    cells.set(u_lo, i, BaseElement::new(lo));
                    cells.set(u_hi, i, BaseElement::new(hi));
                    for (c, s) in [s_ll, s_lh, s_hh].into_iter().zip(&squares) {
                        cells.set(c, i, BaseElement::new(*s));
                    }
                    squares[0] += lo * (value & 0xffff);
                    squares[1] += lo * (value >> 16);
                    squares[2] += hi * (value >> 16);
                }
            } else {
                // cnt[i] counts the blocks that ended before row i: a block ends on row i - 1 when row i
                // starts another.
                cells.set(l.cnt(), i, cnt);
                if i < last && main.first[i + 1] {
                    cnt += products[i];
                }
            }
        }
        if l.squares {
            self.squares_window(cells, last, squares);
        }
        if let Some(chunk) = &self.chunk {
            chunk_window(&l, &chunk.boundaries, last, cells);
        }
        // The masking rows are uniform base-field elements, as the main segment's: every auxiliary value
        // is then in the base field, which the auxiliary segment's extension relies on (`crate::lde`).
        let mut rng = ChaCha20Rng::from_seed(self.seed);
        let mut random = || random_element::<BaseElement>(&mut rng);
        for c in 0..l.gap() {
            for i in last + 1..n {
                cells.set(c, i, random());
            }
        }
        // A chunk's hash and carries are masked as every column; its window's flag and the kinds'
        // selectors are public, 0 outside the window.
        if l.chunked {
            for c in l.hash()..l.width() {
                for i in last + 1..n {
                    cells.set(c, i, random());
                }
            }
        }
        // The gap bits matter on row last-1 only (a chunk's: on the window's rows of kind 0); every other
        // row of those columns is random.
        let start = last + 1 - CHUNK_WINDOW;
        let holds_gap = |i: usize| {
            if l.chunked {
                i >= start && i <= last && rescue::selectors((i - start) % PERMUTATION_PERIOD)[0] == BaseElement::ONE
            } else {
                i + 1 == last
            }
        };
        for c in l.gap()..l.window() {
            for i in 0..n {
                let j = c - l.gap();
                cells.set(c, i, if holds_gap(i) { BaseElement::from(((self.gap >> j) & 1) as u32) } else { random() });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{CARRY_BITS, LOWS_CARRY_BITS};
    use winter_air::Air;
    use winter_math::fields::QuadExtension;
    use winter_math::polynom;
    use winter_math::StarkField;
    use winter_prover::TraceLde;

    type E = QuadExtension<BaseElement>;

    /// The auxiliary transition constraints a trace breaks, as `(row, constraint)`: evaluated from the
    /// AIR on every step `row → row + 1`, independently of winterfell's prover.
    fn broken(air: &CohortAir, main: &ColMatrix<BaseElement>, aux: &ColMatrix<BaseElement>) -> Vec<(usize, usize)> {
        let n = main.num_rows();
        let periodic = air.get_periodic_column_values();
        let rand = AuxRandElements::new(vec![BaseElement::ZERO]);
        let mut result = vec![BaseElement::ZERO; air.context().num_aux_transition_constraints()];
        let mut out = Vec::new();
        let row = |m: &ColMatrix<BaseElement>, i: usize| (0..m.num_cols()).map(|c| m.get(c, i)).collect::<Vec<_>>();
        for i in 0..n - 1 {
            let main_frame = EvaluationFrame::from_rows(row(main, i), row(main, i + 1));
            let aux_frame = EvaluationFrame::from_rows(row(aux, i), row(aux, i + 1));
            let values: Vec<BaseElement> = periodic.iter().map(|c| c[i % c.len()]).collect();
            air.evaluate_aux_transition(&main_frame, &aux_frame, &values, &rand, &mut result);
            out.extend(result.iter().enumerate().filter(|(_, r)| **r != BaseElement::ZERO).map(|(j, _)| (i, j)));
        }
        out
    }

    /// The AIR, main segment and auxiliary segment of `inputs` over `snapshot`, the latter as an honest
    /// prover builds it (for the statement's true values, whatever `inputs` claim).
    fn traces(
        snapshot: &Snapshot,
        inputs: PublicInputs,
    ) -> (CohortAir, ColMatrix<BaseElement>, ColMatrix<BaseElement>) {
        traces_with(snapshot, inputs, 0, None)
    }

    /// As [`traces`], with the gap bits' value and a chunk's secrets.
    fn traces_with(
        snapshot: &Snapshot,
        inputs: PublicInputs,
        gap: u64,
        chunk: Option<ChunkSecrets>,
    ) -> (CohortAir, ColMatrix<BaseElement>, ColMatrix<BaseElement>) {
        let trace = snapshot.trace(inputs.layout().width());
        let air = CohortAir::new(trace.info.clone(), inputs.clone(), proof_options());
        let prover = CohortProver {
            lde: snapshot.lde.clone(),
            options: proof_options(),
            inputs,
            gap,
            seed: [1; 32],
            chunk,
            aux_in_extension: false,
            aux_memory: crate::lde::AUX_MEMORY,
            #[cfg(test)]
            inverse_outside_base_field: false,
        };
        let aux = prover.build_aux_trace::<BaseElement>(&trace, &AuxRandElements::new(vec![BaseElement::ZERO]));
        (air, trace.main_segment().clone(), aux)
    }

    fn inputs(
        snapshot: &Snapshot,
        criteria: Vec<Criterion>,
        measure: Option<u64>,
        o: Outputs,
        squares: bool,
    ) -> PublicInputs {
        PublicInputs {
            commitment: snapshot.root(),
            query: [0; 32],
            criteria,
            measure,
            count: o.count,
            sum: o.sum,
            sum_sq: squares.then_some(o.sum_sq),
            measure_range: None,
            suppressed_below: 0,
            chunk: None,
        }
    }

    /// The range checks are what stop a sum of squares forged by a multiple of the modulus: the three
    /// links only fix `L + 2^32·H` modulo `p`, so a claim `S + p` satisfies every constraint but the
    /// carry's range check, with the carry the links then require (a field element far above 2^23).
    #[test]
    fn a_sum_of_squares_forged_by_the_modulus_breaks_only_the_range_check() {
        let blocks: Vec<Block> =
            (0..3u32).map(|i| vec![Row::attribute(1), Row { code: 2, value: (1 << 31) + 977 * i }]).collect();
        let snapshot = Snapshot::build(blocks, [3; 32]).unwrap();
        let honest = snapshot.evaluate(&[Criterion::has(1)], Some(2)).unwrap();
        let expected: u128 = (0..3u128).map(|i| ((1u128 << 31) + 977 * i).pow(2)).sum();
        assert_eq!(honest.sum_sq, expected);
        let (air, main, aux) = traces(&snapshot, inputs(&snapshot, vec![Criterion::has(1)], Some(2), honest, true));
        assert_eq!(broken(&air, &main, &aux), vec![], "the honest trace meets every constraint");

        let p = u128::from(BaseElement::MODULUS);
        let forged = Outputs { sum_sq: honest.sum_sq + p, ..honest };
        assert!(forged.sum_sq <= 3 * u128::from(u32::MAX).pow(2), "within the verifier's bound");
        let (air, main, mut aux) = traces(&snapshot, inputs(&snapshot, vec![Criterion::has(1)], Some(2), forged, true));
        let n = main.num_rows();
        let last = n - random_rows(n) - 1;
        let l = air.layout;
        let [_, _, s_ll, s_lh, _, bit, a_ylo, _, a_c] = l.squares_columns();
        let links = air.context().num_aux_transition_constraints() - 3;
        // With the honest witnesses, the low word's and the high word's links fail.
        assert_eq!(broken(&air, &main, &aux), vec![(last - 1, links + 1), (last - 1, links + 2)]);
        // The carry that satisfies it is a field element, not a 23-bit number: only the carry's
        // accumulator breaks (the step into the window's last row).
        let (low, _) = crate::air::split_squares(forged.sum_sq);
        let x = aux.get(s_ll, last);
        let y_lo = aux.get(a_ylo, last);
        assert_eq!(y_lo.as_int(), aux.get(s_lh, last).as_int() % (1 << Y_LO_BITS));
        let carry = (x + BaseElement::new(1 << 17) * y_lo - low) / BaseElement::new(1 << 32);
        assert!(carry.as_int() >= 1 << CARRY_BITS);
        // Written as the carry's accumulator value, it breaks that accumulator's step.
        let mut set_carry = aux.clone();
        set_carry.set(a_c, last, carry);
        assert_eq!(broken(&air, &main, &set_carry), vec![(last - 1, links - 1)]);
        // Written as bits in the window, as many as the range check has, the accumulators are consistent
        // but hold only the carry's low bits: the links break again. (With the range wide enough for
        // any field element, this forgery would meet every constraint.)
        let y_hi = aux.get(a_ylo + 1, last);
        let start = last + 1 - SQUARES_WINDOW;
        let mut acc = [0u64; 3];
        for pos in 0..SQUARES_WINDOW {
            let segments = squares_segments(&l);
            let b = squares_window_bit(segments, pos, &[y_lo.as_int(), y_hi.as_int(), carry.as_int()]);
            aux.set(bit, start + pos, BaseElement::new(b));
            for (j, a) in acc.iter_mut().enumerate() {
                *a += b * squares_weight(segments[j], pos);
                aux.set(a_ylo + j, start + pos, BaseElement::new(*a));
            }
        }
        assert_eq!(aux.get(a_c, last).as_int(), carry.as_int() % (1 << CARRY_BITS));
        assert_eq!(broken(&air, &main, &aux), vec![(last - 1, links + 1), (last - 1, links + 2)]);
    }

    /// A prover undercounting an `any of` cohort must break the join constraint of `p_j`: lowering the
    /// block's verdict and every count after it leaves that constraint, and only it, broken.
    #[test]
    fn an_any_of_verdict_lowered_breaks_its_join_constraint() {
        // Patients with code 5, 6, both, neither; the cohort is 5 or 6.
        let blocks: Vec<Block> = [vec![5], vec![6], vec![5, 6], vec![]]
            .into_iter()
            .map(|codes| std::iter::once(Row::attribute(1)).chain(codes.into_iter().map(Row::attribute)).collect())
            .collect();
        let snapshot = Snapshot::build(blocks, [4; 32]).unwrap();
        let criteria = vec![Criterion::has(5), Criterion::has(6).or_previous()];
        let honest = snapshot.evaluate(&criteria, None).unwrap();
        assert_eq!(honest.count, 3);
        let (air, main, aux) = traces(&snapshot, inputs(&snapshot, criteria.clone(), None, honest, false));
        assert_eq!(broken(&air, &main, &aux), vec![]);

        let lower = Outputs { count: 2, ..honest };
        let (air, main, mut aux) = traces(&snapshot, inputs(&snapshot, criteria, None, lower, false));
        let l = air.layout;
        // The second patient (rows 3 and 4: the person row, code 6) meets the cohort on its last row.
        assert_eq!(aux.get(l.product(1), 4), BaseElement::ONE);
        aux.set(l.product(1), 4, BaseElement::ZERO);
        let n = main.num_rows();
        for i in 5..n - random_rows(n) {
            aux.set(l.cnt(), i, aux.get(l.cnt(), i) - BaseElement::ONE);
        }
        let join = 4 * l.criteria; // after each criterion's four constraints
        assert_eq!(broken(&air, &main, &aux), vec![(4, join)]);
    }

    /// A measure row reads its block's verdict `v`, held constant over the block and equal to `p` on
    /// its last row: a prover counting the value of a patient whose failing criterion's row comes after
    /// the value must break one of `v`'s two constraints, wherever its forgery stops.
    #[test]
    fn a_measure_row_before_a_failing_criterion_cannot_be_counted() {
        // One patient: the person (1), a value (code 2, 9), then code 5; the cohort lacks 5.
        let blocks: Vec<Block> = vec![vec![Row::attribute(1), Row { code: 2, value: 9 }, Row::attribute(5)]];
        let snapshot = Snapshot::build(blocks, [5; 32]).unwrap();
        let criteria = vec![Criterion::has(1), Criterion::lacks(5)];
        let honest = snapshot.evaluate(&criteria, Some(2)).unwrap();
        assert_eq!((honest.count, honest.sum), (0, 0));
        let (air, main, aux) = traces(&snapshot, inputs(&snapshot, criteria.clone(), Some(2), honest, false));
        assert_eq!(broken(&air, &main, &aux), vec![]);

        let forged = Outputs { count: 1, sum: 9, sum_sq: 0 };
        let (air, main, mut aux) = traces(&snapshot, inputs(&snapshot, criteria, Some(2), forged, false));
        let l = air.layout;
        let [_, _, w, n_col, sum_col, v] = l.measure_columns();
        // Rows 1, 2, 3 hold the block; at row 2 (the value) `p` is still 1, the block's verdict is 0.
        assert_eq!(aux.get(l.product(1), 2), BaseElement::ONE);
        assert_eq!(aux.get(v, 2), BaseElement::ZERO);
        aux.set(w, 2, BaseElement::ONE);
        let n = main.num_rows();
        for i in 3..n - random_rows(n) {
            aux.set(n_col, i, BaseElement::ONE);
            aux.set(sum_col, i, BaseElement::new(9));
        }
        // Constraints: four per criterion, `p_1`, then the measure's `inv`, `eq`, `w`, `n`, `sum` and
        // `v`'s two (constant over the block, the verdict on its last row).
        let (constant, verdict) = (4 * 2 + 1 + 5, 4 * 2 + 1 + 6);
        // Raised on the value's row alone, `v` breaks its constancy on both sides of it.
        aux.set(v, 2, BaseElement::ONE);
        assert_eq!(broken(&air, &main, &aux), vec![(1, constant), (2, constant)]);
        // Raised from the block's first row to the value's: the step to the criterion's row.
        aux.set(v, 1, BaseElement::ONE);
        assert_eq!(broken(&air, &main, &aux), vec![(2, constant)]);
        // Over the whole block: its last row, where `v` must be the verdict `p` (0).
        aux.set(v, 3, BaseElement::ONE);
        assert_eq!(broken(&air, &main, &aux), vec![(3, verdict)]);
    }

    /// A prover counting a patient whose value is outside a ranged criterion's range must break a
    /// constraint on that row: the match (when the range's verdict is honest), or the bound's gadget
    /// (when its verdict is forged too).
    #[test]
    fn a_value_outside_the_range_counted_breaks_the_range_constraints() {
        // Birth values 60 and 100; the range is [50, 99].
        let blocks: Vec<Block> =
            [60, 100].into_iter().map(|value| vec![Row::attribute(1), Row { code: 7, value }]).collect();
        let snapshot = Snapshot::build(blocks, [6; 32]).unwrap();
        let criteria = vec![Criterion::has(7).within(Some(50), Some(99))];
        let honest = snapshot.evaluate(&criteria, None).unwrap();
        assert_eq!(honest.count, 1);
        let (air, main, aux) = traces(&snapshot, inputs(&snapshot, criteria.clone(), None, honest, false));
        assert_eq!(broken(&air, &main, &aux), vec![]);

        let more = Outputs { count: 2, ..honest };
        let (air, main, honest_aux) = traces(&snapshot, inputs(&snapshot, criteria, None, more, false));
        let l = air.layout;
        let range = l.ranges[0].unwrap();
        let (lower, upper) = (range.lower().unwrap().width(), range.upper().unwrap().width());
        let base = l.range_columns(0);
        let (mt, r, verdict) = (base + 1, base + 2, base + 3 + lower + upper - 1);
        // The second patient's value row is row 4; count it (its flag, and the count after its block).
        let n = main.num_rows();
        let count_it = |aux: &mut ColMatrix<BaseElement>| {
            aux.set(mt, 4, BaseElement::ONE);
            aux.set(l.has(0), 4, BaseElement::ONE);
            for i in 5..n - random_rows(n) {
                aux.set(l.cnt(), i, aux.get(l.cnt(), i) + BaseElement::ONE);
            }
        };
        assert_eq!(honest_aux.get(verdict, 4), BaseElement::ZERO);
        // Constraints: four of the criterion, the count, then the match, the range's verdict, the
        // lower bound's gadget and the upper's (its verdict last).
        let match_constraint = 5;
        let mut aux = honest_aux.clone();
        count_it(&mut aux);
        assert_eq!(broken(&air, &main, &aux), vec![(4, match_constraint)]);
        aux.set(r, 4, BaseElement::ONE);
        assert_eq!(broken(&air, &main, &aux), vec![(4, match_constraint + 1)]);
        aux.set(verdict, 4, BaseElement::ONE);
        assert_eq!(broken(&air, &main, &aux), vec![(4, match_constraint + 1 + lower + upper)]);
    }

    /// A chunk's statement over `snapshot` with the boundaries `chunk`: the AIR and an honest prover's
    /// auxiliary segment, for the chunk's true outputs masked as the prover masks them.
    fn chunk_traces(
        snapshot: &Snapshot,
        criteria: Vec<Criterion>,
        chunk: ChunkSecrets,
        threshold: u32,
    ) -> (PublicInputs, CohortAir, ColMatrix<BaseElement>, ColMatrix<BaseElement>) {
        let o = snapshot.evaluate(&criteria, None).unwrap();
        let [prev, next] = chunk.boundaries;
        let masked = Outputs { count: (BaseElement::new(o.count) + next[0] - prev[0]).as_int(), ..o };
        let link = ChunkLink {
            prev: digest_of(&prev),
            next: digest_of(&next),
            total: chunk.suppressed.map(|(total, _)| total.as_int()),
            ..ChunkLink::default()
        };
        let inputs = PublicInputs {
            chunk: Some(link),
            suppressed_below: if chunk.suppressed.is_some() { threshold } else { 0 },
            ..inputs(snapshot, criteria, None, masked, false)
        };
        let gap = chunk.suppressed.map_or(0, |(_, gap)| gap);
        let (air, main, aux) = traces_with(snapshot, inputs.clone(), gap, Some(chunk));
        (inputs, air, main, aux)
    }

    /// The auxiliary assertions `aux` breaks, by column.
    fn assertions_broken(air: &CohortAir, aux: &ColMatrix<BaseElement>) -> Vec<usize> {
        let rand = AuxRandElements::new(vec![BaseElement::ZERO]);
        let mut out = Vec::new();
        for a in air.get_aux_assertions::<BaseElement>(&rand) {
            a.apply(aux.num_rows(), |step, value| {
                if aux.get(a.column(), step) != value {
                    out.push(a.column());
                }
            });
        }
        out
    }

    /// Writes `column` of `aux` from row `from` with `values`.
    fn overwrite(aux: &mut ColMatrix<BaseElement>, column: usize, from: usize, values: &[BaseElement]) {
        for (i, v) in values.iter().enumerate() {
            aux.set(column, from + i, *v);
        }
    }

    /// The chunk's window, column by column: an honest segment meets every constraint and assertion; a
    /// mask changed with its permutation done again (and the carry to match) meets every constraint but
    /// the digest's, on the permutation's last row (the hash binds it); a mask changed alone, a join that adds no
    /// mask, a kind's selector cleared, or the window moved to another block each break a constraint.
    #[test]
    fn a_chunks_masks_are_bound_by_the_hash_and_carried_into_its_output() {
        let snapshot = Snapshot::build(vec![vec![Row::attribute(1)], vec![Row::attribute(2)]], [3; 32]).unwrap();
        let boundary = |x: u64| -> [BaseElement; BOUNDARY] { std::array::from_fn(|i| BaseElement::new(x + i as u64)) };
        let chunk = [boundary(1000), boundary(2000)];
        let criteria = vec![Criterion::has(1)];
        let secrets = ChunkSecrets { boundaries: chunk, ..ChunkSecrets::default() };
        let (inputs, air, main, aux) = chunk_traces(&snapshot, criteria, secrets, 0);
        assert_eq!(broken(&air, &main, &aux), vec![]);
        assert_eq!(assertions_broken(&air, &aux), Vec::<usize>::new());
        let l = air.layout;
        let n = main.num_rows();
        let last = n - random_rows(n) - 1;
        let start = last + 1 - CHUNK_WINDOW;
        let mask = l.hash() + 4;

        // A different first mask, its permutation done again and carried, for the claim it makes (the
        // masked count one less): only the digest differs.
        let claimed = PublicInputs { count: inputs.count - 1, ..inputs.clone() };
        let forged_air = CohortAir::new(air.trace_info().clone(), claimed, proof_options());
        let mut forged = aux.clone();
        let mut other = chunk[0];
        other[0] += BaseElement::ONE;
        for (r, row) in rescue::fill(boundary_state(&other)).iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                forged.set(l.hash() + c, start + r, *v);
            }
        }
        for i in start..=last {
            forged.set(l.carry(0), i, forged.get(l.carry(0), i) - BaseElement::ONE);
        }
        assert_eq!(assertions_broken(&forged_air, &forged), Vec::<usize>::new());
        let why = broken(&forged_air, &main, &forged);
        assert!(!why.is_empty() && why.iter().all(|(row, _)| *row == start + rescue::ROWS - 1), "{why:?}");

        // The mask alone changed (the permutation's rows kept).
        let mut forged = aux.clone();
        forged.set(mask, start, forged.get(mask, start) + BaseElement::ONE);
        assert!(!broken(&air, &main, &forged).is_empty());

        // The second mask not added into the carry.
        let mut forged = aux.clone();
        for i in start + PERMUTATION_PERIOD..=last {
            forged.set(l.carry(0), i, forged.get(l.carry(0), start));
        }
        assert!(!broken(&air, &main, &forged).is_empty());

        // A kind's selector cleared on one row of the window.
        let mut forged = aux.clone();
        forged.set(l.kind(2), start + 2, BaseElement::ZERO);
        assert!(!broken(&air, &main, &forged).is_empty());

        // The window moved a block earlier (flag, kinds, hash and carry): `win` is pinned to the block
        // where the selector falls.
        let mut forged = aux.clone();
        for c in l.window()..l.width() {
            let column: Vec<BaseElement> = (start..=last).map(|i| aux.get(c, i)).collect();
            overwrite(&mut forged, c, start - CHUNK_WINDOW, &column);
            overwrite(&mut forged, c, start, &vec![BaseElement::ZERO; CHUNK_WINDOW]);
        }
        let moved = broken(&air, &main, &forged);
        assert!(!moved.is_empty(), "moving the window breaks a transition, not only an assertion");
    }

    /// The last part of a sum of squares over chunks recombines the parts' masked low words and rests:
    /// `S_l - m_l = L + 2^32·c` and `H = S_e - m_e + c` fix `L + 2^32·H` only modulo `p`, so a claim
    /// moved by the modulus meets both with the carry `c + (H' - H)`, above 2^8: only the carry's range
    /// check stops it (the carry written whole breaks its accumulator's step; written as the bits there
    /// are, the equations break again). Its next boundary's count mask not zero breaks the constraint
    /// that keeps it zero (else the parts' counts would no longer add up to the claim's).
    #[test]
    fn a_recombined_sum_of_squares_forged_by_the_modulus_breaks_only_the_carrys_range_check() {
        let blocks: Vec<Block> =
            (0..3u32).map(|i| vec![Row::attribute(1), Row { code: 2, value: (1 << 31) + 977 * i }]).collect();
        let snapshot = Snapshot::build(blocks, [3; 32]).unwrap();
        let criteria = vec![Criterion::has(1)];
        let own = snapshot.evaluate(&criteria, Some(2)).unwrap();
        // What the parts before this last one add: low words that carry, and rests.
        let (lows_before, rests_before) = ((1u64 << 32) - 5, 1u64 << 40);
        let (low, rest) = ((own.sum_sq & 0xffff_ffff) as u64, (own.sum_sq >> 32) as u64);
        let carry = (lows_before + low) >> 32;
        assert_eq!(carry, 1, "the low words added carry");
        let total = own.sum_sq + u128::from(lows_before) + (u128::from(rests_before) << 32);
        let boundary = |x: u64| -> [BaseElement; BOUNDARY] { std::array::from_fn(|i| BaseElement::new(x + i as u64)) };
        let prev = boundary(1000);
        let part = |next: [BaseElement; BOUNDARY], claimed: u128| {
            let masked = |t: usize, v: u64| (BaseElement::new(v) + next[t] - prev[t]).as_int();
            let sums = [BaseElement::new(lows_before + low) + next[2], BaseElement::new(rests_before + rest) + next[3]];
            let inputs = PublicInputs {
                count: masked(0, own.count),
                sum: masked(1, own.sum),
                chunk: Some(ChunkLink {
                    prev: digest_of(&prev),
                    next: digest_of(&next),
                    total: None,
                    squares: Some([masked(2, low), masked(3, rest)]),
                    squares_total: Some(sums.map(|e| e.as_int())),
                }),
                ..inputs(&snapshot, criteria.clone(), Some(2), Outputs { sum_sq: claimed, ..own }, true)
            };
            let secrets = ChunkSecrets {
                boundaries: [prev, next],
                suppressed: None,
                sum_sq: Some(claimed),
                recombine: Some((sums, carry)),
            };
            traces_with(&snapshot, inputs, 0, Some(secrets))
        };
        let mut next = boundary(2000);
        next[0] = BaseElement::ZERO;
        next[1] = BaseElement::ZERO;
        let (air, main, aux) = part(next, total);
        assert_eq!(broken(&air, &main, &aux), vec![], "the honest last part meets every constraint");
        assert_eq!(assertions_broken(&air, &aux), Vec::<usize>::new());
        let l = air.layout;
        assert!(l.recombined);
        let n = main.num_rows();
        let start = n - random_rows(n) - CHUNK_WINDOW;
        let middle = start + PERMUTATION_PERIOD - 1;
        let equations = air.context().num_aux_transition_constraints() - 4;
        // The carry's accumulator: after the criterion's 4 constraints, the measure's 7, the squares' 6
        // and their four other accumulators.
        let accumulator = 4 + 7 + 6 + 4;

        let p = u128::from(BaseElement::MODULUS);
        let (forged_air, _, mut forged) = part(next, total + p);
        assert_eq!(broken(&forged_air, &main, &forged), vec![(middle, equations), (middle, equations + 1)]);
        let (_, high) = crate::air::split_squares(total);
        let (_, forged_high) = crate::air::split_squares(total + p);
        let needed = BaseElement::new(carry) + forged_high - high;
        assert!(needed.as_int() >= 1 << LOWS_CARRY_BITS);
        let mut whole = forged.clone();
        overwrite(&mut whole, l.lows_carry(), start, &vec![needed; CHUNK_WINDOW]);
        assert_eq!(broken(&forged_air, &main, &whole), vec![(start - 1, accumulator)]);
        let bit = l.squares_columns()[5];
        let mut acc = 0;
        for pos in 0..CHUNK_WINDOW {
            if pos < LOWS_CARRY_BITS {
                let b = (needed.as_int() >> pos) & 1;
                forged.set(bit, start + pos, BaseElement::new(b));
                acc += b << pos;
            }
            forged.set(l.lows_carry(), start + pos, BaseElement::new(acc));
        }
        assert_eq!(acc, needed.as_int() % (1 << LOWS_CARRY_BITS));
        assert_eq!(broken(&forged_air, &main, &forged), vec![(middle, equations), (middle, equations + 1)]);

        // The claim one off: the low words' equation breaks, and only it.
        let (one_off, _, _) = part(next, total + 1);
        assert_eq!(broken(&one_off, &main, &aux), vec![(middle, equations)]);

        // A part's low word beyond 32 bits (`ℓ + 2^32`, its carry one less: the part's low-word link
        // still holds, and its total `ℓ + 2^32·η` is the same) cannot be accumulated from its bits:
        // the accumulators' steps break where the forged values begin.
        let [.., a_c] = l.squares_columns();
        let (low_at, carry_at) = (CHUNK_WINDOW - 12, CHUNK_WINDOW - 44);
        let mut forged = aux.clone();
        let low_word = forged.get(l.low_word(), start + CHUNK_WINDOW - 1) + BaseElement::new(1 << 32);
        let less = forged.get(a_c, start + CHUNK_WINDOW - 1) - BaseElement::ONE;
        overwrite(&mut forged, l.low_word(), start + low_at, &vec![low_word; CHUNK_WINDOW - low_at]);
        overwrite(&mut forged, a_c, start + carry_at, &vec![less; CHUNK_WINDOW - carry_at]);
        let why = broken(&air, &main, &forged);
        let (low_link, low_step, carry_step) = (4 + 7 + 6 + 5 + 1, 4 + 7 + 6 + 3, 4 + 7 + 6 + 2);
        assert!(why.contains(&(start + low_at - 1, low_step)) && why.contains(&(start + carry_at - 1, carry_step)));
        assert!(!why.iter().any(|(_, c)| *c == low_link), "the link holds with the forged pair: {why:?}");

        // A count mask in the last boundary: only the constraint keeping it zero breaks.
        next[0] = BaseElement::new(5);
        let (air, main, aux) = part(next, total);
        assert_eq!(broken(&air, &main, &aux), vec![(start + PERMUTATION_PERIOD, equations + 2)]);
    }

    /// The last part of a suppressed answer over chunks: the gap of a hidden total below the threshold
    /// meets the constraints; a total at the threshold (its gap `-1`) fails them whatever the six gap
    /// bits, and so does a stated sum of the masked counts one off.
    #[test]
    fn a_hidden_total_at_the_threshold_has_no_gap_to_show() {
        // Three patients hold code 1 in this chunk; the whole dataset's total is `total`.
        let snapshot = Snapshot::build((0..3).map(|_| vec![Row::attribute(1)]).collect(), [5; 32]).unwrap();
        let boundary = |x: u64| -> [BaseElement; BOUNDARY] { std::array::from_fn(|i| BaseElement::new(x + i as u64)) };
        let boundaries = [boundary(10), boundary(5000)];
        let threshold = 10;
        let secrets = |total: u64, gap: u64, off: u64| ChunkSecrets {
            boundaries,
            suppressed: Some((BaseElement::new(total + off) + boundaries[1][0], gap)),
            ..ChunkSecrets::default()
        };
        let criteria = vec![Criterion::has(1)];
        let (_, air, main, aux) = chunk_traces(&snapshot, criteria.clone(), secrets(7, 2, 0), threshold);
        assert_eq!(broken(&air, &main, &aux), vec![]);
        assert_eq!(assertions_broken(&air, &aux), Vec::<usize>::new());
        let (_, air, main, aux) = chunk_traces(&snapshot, criteria.clone(), secrets(7, 2, 1), threshold);
        assert!(!broken(&air, &main, &aux).is_empty(), "a stated total one off");
        for gap in 0..64 {
            let (_, air, main, aux) = chunk_traces(&snapshot, criteria.clone(), secrets(10, gap, 0), threshold);
            assert!(!broken(&air, &main, &aux).is_empty(), "a total at the threshold shown with gap {gap}");
        }
        // Bits that are not bits: `-1` as the first "bit" makes the gap's equation hold for a total at
        // the threshold, and only the booleanity on the rows of kind 0 refuses it.
        let (_, air, main, mut aux) = chunk_traces(&snapshot, criteria, secrets(10, 0, 0), threshold);
        let l = air.layout;
        let n = main.num_rows();
        let start = n - random_rows(n) - CHUNK_WINDOW;
        let kind0: Vec<usize> =
            (start..start + CHUNK_WINDOW).filter(|i| aux.get(l.kind(0), *i) == BaseElement::ONE).collect();
        assert_eq!(kind0.len(), 2 * rescue::ROUNDS);
        for &i in &kind0 {
            aux.set(l.gap(), i, -BaseElement::ONE);
        }
        let why = broken(&air, &main, &aux);
        assert!(!why.is_empty() && why.iter().all(|(row, _)| kind0.contains(row)), "{why:?}");
    }

    /// A measure's range: counting a value outside it breaks the count's weight (`w = mm·p`), then the
    /// match, then the bound's gadget, as the prover forges each in turn.
    #[test]
    fn a_measure_value_outside_its_range_counted_breaks_the_range_constraints() {
        let blocks: Vec<Block> =
            [60, 100].into_iter().map(|value| vec![Row::attribute(1), Row { code: 2, value }]).collect();
        let snapshot = Snapshot::build(blocks, [7; 32]).unwrap();
        let range = crate::air::Range { min: Some(50), max: Some(99) };
        let honest = snapshot.evaluate_within(&[Criterion::has(1)], Some(2), Some(range)).unwrap();
        assert_eq!(honest.count, 1);
        let inputs = |o: Outputs| PublicInputs {
            measure_range: Some(range),
            sum: 0,
            ..inputs(&snapshot, vec![Criterion::has(1)], Some(2), o, false)
        };
        let (air, main, aux) = traces(&snapshot, inputs(honest));
        assert_eq!(broken(&air, &main, &aux), vec![]);

        let (air, main, mut aux) = traces(&snapshot, inputs(Outputs { count: 2, ..honest }));
        let l = air.layout;
        let [_, _, w, n_col, sum_col, _] = l.measure_columns();
        let matched = l.match_column(MAX_CRITERIA);
        let upper = range.upper().unwrap();
        let verdict = matched + 2 + range.lower().unwrap().width() + upper.width() - 1;
        // Row 4 holds the second patient's value (100); count it.
        aux.set(w, 4, BaseElement::ONE);
        let n = main.num_rows();
        for i in 5..n - random_rows(n) {
            aux.set(n_col, i, aux.get(n_col, i) + BaseElement::ONE);
            aux.set(sum_col, i, aux.get(sum_col, i) + BaseElement::new(100));
        }
        // Constraints: four of the criterion, seven of the measure (with `v`'s two), then the range's.
        let weight = 4 + 2;
        let range_start = 4 + 6 + 1;
        assert_eq!(broken(&air, &main, &aux), vec![(4, weight)]);
        aux.set(matched, 4, BaseElement::ONE);
        assert_eq!(broken(&air, &main, &aux), vec![(4, range_start)]);
        aux.set(matched + 1, 4, BaseElement::ONE);
        aux.set(verdict, 4, BaseElement::ONE);
        let last = range_start + 1 + range.lower().unwrap().width() + upper.width();
        assert_eq!(broken(&air, &main, &aux), vec![(4, last)]);
    }

    /// The snapshot keeps only the columns its proofs read; the main segment laid out again for
    /// winterfell's debug validation is the committed one (the same commitment root), and the kept
    /// columns are its own.
    #[test]
    fn the_main_segment_laid_out_again_is_the_committed_one() {
        let blocks: Vec<Block> =
            (0..300u32).map(|i| vec![Row::attribute(100), Row { code: 200, value: i * 1_000_003 }]).collect();
        let snapshot = Snapshot::build(blocks.clone(), [12; 32]).unwrap();
        let trace = snapshot.trace(plain_layout().width());
        let main = trace.main_segment();
        let domain = main_domain(&snapshot.info);
        let partition = proof_options().partition_options();
        assert_eq!(MainLde::build(main.clone(), &domain, partition, None).root(), snapshot.lde.root());
        let rows = snapshot.rows();
        assert_eq!(rows.code, main.get_column(0)[..rows.code.len()]);
        assert_eq!(rows.value, main.get_column(1)[..rows.value.len()]);
        assert!(rows.first.iter().zip(main.get_column(FIRST)).all(|(f, c)| *f == (*c == BaseElement::ONE)));
        assert_eq!(rows.code.len(), main.num_rows() - random_rows(main.num_rows()));
        // Parked, the rows read back and laid out again are the same, each time.
        let dir = tempfile::tempdir().unwrap();
        assert!(!snapshot.parked());
        assert!(!snapshot.lde.tree_parked());
        snapshot.park(dir.path()).unwrap();
        snapshot.park(dir.path()).unwrap();
        assert!(snapshot.parked() && snapshot.lde.tree_parked());
        assert_eq!(MainLde::build(main.clone(), &domain, partition, None).root(), snapshot.lde.root());
        for _ in 0..2 {
            let back = snapshot.rows();
            assert_eq!((&back.code, &back.value, &back.first), (&rows.code, &rows.value, &rows.first));
            assert_eq!(*back.blocks, blocks);
        }
        assert_eq!(*snapshot.blocks(), blocks);
    }

    /// The prover as unpatched winterfell runs this AIR: its own trace extension (the main segment
    /// extended again, the auxiliary one in the extension field, whatever its values), the same quotient.
    struct StockProver(CohortProver);

    impl Prover for StockProver {
        type BaseField = BaseElement;
        type Air = CohortAir;
        type Trace = SnapshotTrace;
        type HashFn = Hash;
        type VC = Vc;
        type RandomCoin = DefaultRandomCoin<Hash>;
        type TraceLde<E: FieldElement<BaseField = BaseElement>> = winter_prover::DefaultTraceLde<E, Hash, Vc>;
        type ConstraintCommitment<E: FieldElement<BaseField = BaseElement>> = QuotientCommitment<E>;
        type ConstraintEvaluator<'a, E: FieldElement<BaseField = BaseElement>> =
            DefaultConstraintEvaluator<'a, CohortAir, E>;

        fn get_pub_inputs(&self, trace: &SnapshotTrace) -> PublicInputs {
            self.0.get_pub_inputs(trace)
        }

        fn options(&self) -> &ProofOptions {
            self.0.options()
        }

        fn new_trace_lde<E: FieldElement<BaseField = BaseElement>>(
            &self,
            trace_info: &TraceInfo,
            main_trace: &ColMatrix<BaseElement>,
            domain: &StarkDomain<BaseElement>,
            partition_option: PartitionOptions,
        ) -> (Self::TraceLde<E>, TracePolyTable<E>) {
            winter_prover::DefaultTraceLde::new(trace_info, main_trace, domain, partition_option)
        }

        fn build_constraint_commitment<E: FieldElement<BaseField = BaseElement>>(
            &self,
            composition_poly_trace: CompositionPolyTrace<E>,
            num_constraint_composition_columns: usize,
            domain: &StarkDomain<BaseElement>,
            partition_options: PartitionOptions,
        ) -> (Self::ConstraintCommitment<E>, CompositionPoly<E>) {
            self.0.build_constraint_commitment(
                composition_poly_trace,
                num_constraint_composition_columns,
                domain,
                partition_options,
            )
        }

        fn new_evaluator<'a, E: FieldElement<BaseField = BaseElement>>(
            &self,
            air: &'a CohortAir,
            aux_rand_elements: Option<AuxRandElements<E>>,
            composition_coefficients: ConstraintCompositionCoefficients<E>,
        ) -> Self::ConstraintEvaluator<'a, E> {
            DefaultConstraintEvaluator::new(air, aux_rand_elements, composition_coefficients)
        }

        fn build_aux_trace<E: FieldElement<BaseField = BaseElement>>(
            &self,
            main_trace: &SnapshotTrace,
            aux_rand_elements: &AuxRandElements<E>,
        ) -> ColMatrix<E> {
            self.0.build_aux_trace(main_trace, aux_rand_elements)
        }
    }

    /// A proof whose auxiliary segment holds a value outside the base field, every constraint still met
    /// (the first criterion's inverse where it is free), made by the stock extension-field path and
    /// carried in winterfell's own opening form (16 bytes a value): refused for that value. Accepted
    /// before the check, and dangerous for a chunk's masks: the in-proof hash's `x^7` is not one-to-one
    /// in the extension (`openings::lift`).
    #[test]
    fn an_auxiliary_value_outside_the_base_field_is_refused() {
        let blocks: Vec<Block> = (0..300u32)
            .map(|i| vec![Row::attribute(100), Row::attribute(101 + u64::from(i % 2)), Row::attribute(7)])
            .collect();
        let snapshot = Snapshot::build(blocks, [13; 32]).unwrap();
        let statement = Statement {
            criteria: vec![Criterion::has(101)],
            measure: None,
            squares: false,
            measure_range: None,
            threshold: 0,
        };
        let (claim, honest) = snapshot.prove([9; 32], &statement).unwrap();
        assert_eq!(claim.count, 150);
        let (mut prover, trace) = snapshot.prover(&claim, 0, [4; 32], None, None);
        (prover.aux_in_extension, prover.inverse_outside_base_field) = (true, true);
        let proof = StockProver(prover).prove(trace).unwrap();
        let bytes = proof.to_bytes();
        let e = crate::verify_claim(snapshot.commitment(), &claim, &bytes).unwrap_err();
        assert!(matches!(&e, ZkError::Malformed(why) if why.contains("outside the base field")), "{e}");
        assert!(crate::openings::compact(proof).is_err(), "the compact form cannot carry it");
        crate::verify_claim(snapshot.commitment(), &claim, &honest).unwrap();
    }

    /// The patched prover's base-field auxiliary segment gives, byte for byte, the proof winterfell's own
    /// path gives for the same segment built in the extension field (OOD frame, DEEP composition,
    /// commitments and openings alike), for a statement with a range, a measure and its squares; and so
    /// does a snapshot whose extensions keep their rows in memory instead of a scratch file, a proof
    /// whose auxiliary even rows go to the scratch file too, and one whose auxiliary segment is built
    /// in a scratch file and extended a group of columns at a time.
    #[test]
    fn a_base_field_auxiliary_segment_gives_the_proof_of_the_lifted_one() {
        let blocks: Vec<Block> = (0..600u32)
            .map(|i| {
                let mut b = vec![Row::attribute(100), Row::attribute(101 + u64::from(i % 2))];
                b.push(Row { code: 7, value: 20_000 + (i * 37) % 9_000 });
                b.push(Row { code: 200, value: (i * 7_919) % 40_000 });
                b
            })
            .collect();
        let snapshot = Snapshot::build(blocks.clone(), [11; 32]).unwrap();
        // Kept scratch files of stale bytes in the directory the proofs use: a proof that reads what it
        // did not write gives another proof.
        crate::scratch::fill_pool(&std::env::temp_dir(), &[64 << 20, 64 << 20, 64 << 20]);
        let statement = Statement {
            criteria: vec![Criterion::has(101), Criterion::has(7).within(Some(21_000), Some(26_000))],
            measure: Some(200),
            squares: true,
            measure_range: None,
            threshold: 1,
        };
        let (claim, _) = snapshot.prove([9; 32], &statement).unwrap();
        let (base, trace) = snapshot.prover(&claim, 0, [4; 32], None, None);
        let (mut lifted, same_trace) = snapshot.prover(&claim, 0, [4; 32], None, None);
        lifted.aux_in_extension = true;
        let base = base.prove(trace).unwrap().to_bytes();
        let lifted = lifted.prove(same_trace).unwrap().to_bytes();
        assert!(base == lifted, "the two paths give different proofs");
        crate::verify_claim(snapshot.commitment(), &claim, &base).unwrap();
        // A scratch directory that cannot be written in: every row stays in memory, same proof.
        let in_memory = Snapshot::build_in(blocks, [11; 32], Some(Path::new("/nonexistent/agora-scratch"))).unwrap();
        assert!(!in_memory.spilled());
        assert_eq!(snapshot.spilled(), cfg!(unix), "the temporary directory takes the scratch files");
        assert_eq!(in_memory.commitment().root, snapshot.commitment().root);
        let (memory, trace) = in_memory.prover(&claim, 0, [4; 32], None, None);
        assert!(memory.prove(trace).unwrap().to_bytes() == base, "rows in memory give another proof");
        // The auxiliary even rows in the scratch file too (as a wide statement's at 2^20 rows), read
        // back a chunk at a time by constraint evaluation: same proof.
        let (mut spilled, trace) = snapshot.prover(&claim, 0, [4; 32], None, None);
        let (width, n) = (claim.layout().width(), trace.info.length());
        let blowup = spilled.options.blowup_factor();
        // The least budget for the segment in memory; its even rows need more.
        spilled.aux_memory = Budget { cols: width, n, blowup, budget: 0 }.trace_bytes();
        assert!(Budget { cols: width, n, blowup, budget: spilled.aux_memory }.trace_in_memory());
        assert!(!Budget { cols: width, n, blowup, budget: spilled.aux_memory - 1 }.trace_in_memory());
        // The prover's own extension at that budget: every row in the file; with room, the even rows
        // in memory.
        let no_elements = AuxRandElements::<E>::new(Vec::new());
        for (budget, in_file) in [(spilled.aux_memory, cfg!(unix)), (usize::MAX, false)] {
            let (mut prover, trace) = snapshot.prover(&claim, 0, [4; 32], None, None);
            prover.aux_memory = budget;
            let segment = prover.build_aux_trace_base(&trace, &no_elements).unwrap();
            assert!(matches!(segment, PolyColumns::Memory(_)), "the segment itself fits");
            let (mut lde, _) = prover.cached_lde::<E>(&trace.info, PartitionOptions::default());
            lde.set_aux_trace_base(segment, &main_domain(&trace.info));
            assert_eq!(lde.aux_spilled(), Some(in_file), "budget {budget}");
        }
        assert!(spilled.prove(trace).unwrap().to_bytes() == base, "spilled even rows give another proof");
        // And the segment built in the scratch file, then interpolated and extended a group of
        // columns at a time, in four-wide groups (as the widest statements' at 2^21 rows): same proof.
        crate::lde::WIDE_HALF_IN_TEST.set(0);
        let (mut streamed, trace) = snapshot.prover(&claim, 0, [4; 32], None, None);
        streamed.aux_memory = 0;
        let built = streamed.build_aux_trace_base(&trace, &no_elements).unwrap();
        assert_eq!(matches!(built, PolyColumns::Stored(_)), cfg!(unix), "built in the scratch file");
        assert!(streamed.prove(trace).unwrap().to_bytes() == base, "a segment built in a file gives another proof");
        // Without a scratch directory the budget cannot be kept: the segment is built in memory.
        let (mut held, trace) = in_memory.prover(&claim, 0, [4; 32], None, None);
        held.aux_memory = 0;
        assert!(matches!(held.build_aux_trace_base(&trace, &no_elements), Some(PolyColumns::Memory(_))));
        assert!(held.prove(trace).unwrap().to_bytes() == base, "rows in memory give another proof");
    }

    /// The hidden segments still recombine to `H` with the patched verifier's step, each stays below
    /// the trace length in degree, none equals the plain split, and the extra column is random.
    #[test]
    fn hidden_quotient_segments_recombine_to_the_composition_polynomial() {
        let n = 4096;
        let info = TraceInfo::new_multi_segment(MAIN_WIDTH, plain_layout().width(), 1, n, vec![]);
        let inputs = PublicInputs::of_layout(plain_layout());
        let air = CohortAir::new(info, inputs, proof_options());
        let columns = air.context().num_constraint_composition_columns();
        assert_eq!(columns, 4, "three segments of n - slack coefficients and the DEEP randomizer");
        assert_eq!(columns, crate::lde::QUOTIENT_COLUMNS, "the memory budget's quotient");
        assert_eq!(air.context().quotient_segment_stride(), n - ZK_QUOTIENT_SLACK);
        let domain = StarkDomain::new(&air);

        // A composition polynomial of the AIR's degree, 2n - 2, given as the prover has it: its
        // evaluations over the constraint-evaluation domain (2n points, shifted by the domain offset).
        let mut rng = ChaCha20Rng::from_seed([5; 32]);
        let mut h: Vec<E> = (0..2 * n - 1).map(|_| random_element(&mut rng)).collect();
        h.push(E::ZERO);
        let evaluations = fft::evaluate_poly_with_offset(&h, &fft::get_twiddles(2 * n), domain.offset(), 1);

        let hidden = hide_quotient(CompositionPolyTrace::new(evaluations), columns, &domain, &mut rng);
        let segments: Vec<&[E]> = hidden.iter().map(Vec::as_slice).collect();
        assert_eq!(segments.len(), columns);
        assert!(segments.iter().all(|s| s.len() == n));

        // Σ X^(j m) H'_j, computed coefficient by coefficient, is H.
        let stride = n - ZK_QUOTIENT_SLACK;
        let mut sum = vec![E::ZERO; 3 * n];
        for (j, segment) in segments[..3].iter().enumerate() {
            for (i, c) in segment.iter().enumerate() {
                sum[j * stride + i] += *c;
            }
        }
        assert_eq!(&sum[..h.len()], &h[..]);
        assert!(sum[h.len()..].iter().all(|c| *c == E::ZERO));
        // Randomized: no segment is the plain chunk of H, and the last column is not zero.
        for (j, segment) in segments[..3].iter().enumerate() {
            let mut plain: Vec<E> = h.iter().skip(j * stride).take(stride).copied().collect();
            plain.resize(n, E::ZERO);
            assert!(*segment != &plain[..], "segment {j} is not randomized");
        }
        assert!(polynom::degree_of(segments[3]) > n - 10);
        // A second hiding of the same H differs everywhere it may.
        let evaluations = fft::evaluate_poly_with_offset(&h, &fft::get_twiddles(2 * n), domain.offset(), 1);
        let again = hide_quotient(CompositionPolyTrace::new(evaluations), columns, &domain, &mut rng);
        assert!(again.iter().zip(&hidden).all(|(a, b)| a != b), "two hidings of H are equal in a column");
    }
}

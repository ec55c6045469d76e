//! Snapshots, their commitments, and proofs (the node's side; feature `prover`).

use crate::air::{CountSumAir, PublicInputs, CNT, FLAG, GAP, INV, SUM};
use crate::format::{
    aux_width, proof_budget, proof_options, random_rows, trace_length_for, Commitment, FORMAT_VERSION, MAIN_WIDTH,
    MAX_THRESHOLD, MAX_TRACE_LENGTH, PAD_CODE, SELECTOR, VALUE_BITS,
};
use crate::lde::{CachedTraceLde, MainLde};
use crate::verify::{Claim, Hash};
use crate::ZkError;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::sync::Arc;
use winter_air::{AuxRandElements, ConstraintCompositionCoefficients, PartitionOptions, ProofOptions, TraceInfo};
use winter_crypto::{DefaultRandomCoin, Digest, MerkleTree};
use winter_math::fields::f64::BaseElement;
use winter_math::FieldElement;
use winter_prover::matrix::ColMatrix;
use winter_prover::{
    CompositionPoly, CompositionPolyTrace, DefaultConstraintCommitment, DefaultConstraintEvaluator, EvaluationFrame,
    Prover, StarkDomain, Trace, TracePolyTable,
};

type Vc = MerkleTree<Hash>;

/// One committed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// The attribute the predicate tests.
    pub code: u32,
    /// The value summed.
    pub value: u32,
}

/// The committed main segment, shared by every proof over one snapshot.
#[derive(Clone)]
pub struct SnapshotTrace {
    info: TraceInfo,
    main: Arc<ColMatrix<BaseElement>>,
}

impl Trace for SnapshotTrace {
    type BaseField = BaseElement;

    fn info(&self) -> &TraceInfo {
        &self.info
    }

    fn main_segment(&self) -> &ColMatrix<BaseElement> {
        &self.main
    }

    fn read_main_frame(&self, row_idx: usize, frame: &mut EvaluationFrame<BaseElement>) {
        let next = (row_idx + 1) % self.info.length();
        self.main.read_row_into(row_idx, frame.current_mut());
        self.main.read_row_into(next, frame.next_mut());
    }
}

/// A versioned snapshot of a node's rows with its commitment.
pub struct Snapshot {
    rows: Vec<Row>,
    trace: SnapshotTrace,
    lde: Arc<MainLde>,
    commitment: Commitment,
    proofs: std::sync::atomic::AtomicUsize,
}

impl Snapshot {
    /// Lays out `rows` per format v1, masks the trace with random rows drawn from `seed` (a secret the
    /// node keeps with the snapshot, so the commitment can be rebuilt), and computes the commitment.
    pub fn build(rows: Vec<Row>, seed: [u8; 32]) -> Result<Snapshot, ZkError> {
        let n = trace_length_for(rows.len())
            .ok_or(ZkError::TooLarge { rows: rows.len(), max: crate::format::capacity(MAX_TRACE_LENGTH) })?;
        let k = random_rows(n);
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut columns = vec![vec![BaseElement::ZERO; n]; MAIN_WIDTH];
        for (i, row) in rows.iter().enumerate() {
            columns[0][i] = BaseElement::from(row.code);
            columns[1][i] = BaseElement::from(row.value);
            for j in 0..VALUE_BITS {
                columns[2 + j][i] = BaseElement::from((row.value >> j) & 1);
            }
        }
        for cell in &mut columns[0][rows.len()..n - k] {
            *cell = BaseElement::new(PAD_CODE);
        }
        for cell in &mut columns[SELECTOR][..n - k - 1] {
            *cell = BaseElement::ONE;
        }
        for (c, column) in columns.iter_mut().enumerate() {
            if c == SELECTOR {
                continue;
            }
            for cell in &mut column[n - k..] {
                *cell = BaseElement::new(rng.next_u64());
            }
        }
        let info = TraceInfo::new_multi_segment(MAIN_WIDTH, aux_width(false), 1, n, vec![]);
        let main = ColMatrix::new(columns);
        let lde = Arc::new(main_lde(&info, &main));
        let commitment =
            Commitment { version: FORMAT_VERSION, trace_length: n, root: hex::encode(lde.root().as_bytes()) };
        Ok(Snapshot {
            rows,
            trace: SnapshotTrace { info, main: Arc::new(main) },
            lde,
            commitment,
            proofs: Default::default(),
        })
    }

    /// What the node publishes.
    pub fn commitment(&self) -> &Commitment {
        &self.commitment
    }

    /// The rows (data rows only).
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Counts and sums the rows whose code is `code`, and proves it for the query digest `query`.
    pub fn prove_count_sum(&self, query: [u8; 32], code: u32) -> Result<(Claim, Vec<u8>), ZkError> {
        self.prove_cell(query, code, 0)
    }

    /// As [`Snapshot::prove_count_sum`], under the node's disclosure threshold: a count below
    /// `threshold` (≤ [`MAX_THRESHOLD`]; 0 for none) is neither disclosed nor its sum, and the proof shows
    /// only that it is below the threshold.
    pub fn prove_cell(&self, query: [u8; 32], code: u32, threshold: u32) -> Result<(Claim, Vec<u8>), ZkError> {
        if threshold > MAX_THRESHOLD {
            return Err(ZkError::Prover(format!("threshold {threshold} above {MAX_THRESHOLD}")));
        }
        let budget = proof_budget(self.commitment.trace_length);
        if self.proofs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= budget {
            return Err(ZkError::BudgetExhausted(budget));
        }
        let selected = self.rows.iter().filter(|r| r.code == code);
        let count = selected.clone().count() as u64;
        let sum = selected.map(|r| u64::from(r.value)).sum();
        let (claim, bound) = if count < u64::from(threshold) {
            (Claim { query, code, count: 0, sum: 0, suppressed_below: Some(threshold) }, u64::from(threshold))
        } else {
            (Claim { query, code, count, sum, suppressed_below: None }, count + 1)
        };
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        let prover = CountSumProver {
            lde: self.lde.clone(),
            options: proof_options(),
            inputs: PublicInputs {
                commitment: self.root(),
                query,
                code,
                count: claim.count,
                sum: claim.sum,
                suppressed_below: claim.suppressed_below.unwrap_or(0),
            },
            gap: bound - 1 - count,
            seed,
        };
        let suppressed = claim.suppressed_below.is_some();
        let trace = SnapshotTrace {
            info: TraceInfo::new_multi_segment(MAIN_WIDTH, aux_width(suppressed), 1, self.trace.info.length(), vec![]),
            main: self.trace.main.clone(),
        };
        let proof = prover.prove(trace).map_err(|e| ZkError::Prover(e.to_string()))?;
        Ok((claim, proof.to_bytes()))
    }

    fn root(&self) -> [u8; 32] {
        self.commitment.root_bytes().expect("built by this crate")
    }
}

/// The main segment's extension over the domain winterfell's prover uses for this trace length.
fn main_lde(info: &TraceInfo, main: &ColMatrix<BaseElement>) -> MainLde {
    let inputs = PublicInputs { commitment: [0; 32], query: [0; 32], code: 0, count: 0, sum: 0, suppressed_below: 0 };
    let air = <CountSumAir as winter_air::Air>::new(info.clone(), inputs, proof_options());
    let domain = StarkDomain::new(&air);
    MainLde::build(main, &domain, proof_options().partition_options())
}

struct CountSumProver {
    lde: Arc<MainLde>,
    options: ProofOptions,
    inputs: PublicInputs,
    /// `bound - 1 - count`, proven to fit in [`GAP_BITS`] bits.
    gap: u64,
    seed: [u8; 32],
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

impl Prover for CountSumProver {
    type BaseField = BaseElement;
    type Air = CountSumAir;
    type Trace = SnapshotTrace;
    type HashFn = Hash;
    type VC = Vc;
    type RandomCoin = DefaultRandomCoin<Hash>;
    type TraceLde<E: FieldElement<BaseField = BaseElement>> = CachedTraceLde<E>;
    type ConstraintCommitment<E: FieldElement<BaseField = BaseElement>> = DefaultConstraintCommitment<E, Hash, Vc>;
    type ConstraintEvaluator<'a, E: FieldElement<BaseField = BaseElement>> =
        DefaultConstraintEvaluator<'a, CountSumAir, E>;

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
        // The snapshot's extension, computed when it was committed, of this same trace.
        let polys = TracePolyTable::new(self.lde.polys.clone());
        (CachedTraceLde::new(self.lde.clone(), trace_info.clone(), partition_option), polys)
    }

    fn build_constraint_commitment<E: FieldElement<BaseField = BaseElement>>(
        &self,
        composition_poly_trace: CompositionPolyTrace<E>,
        num_constraint_composition_columns: usize,
        domain: &StarkDomain<BaseElement>,
        partition_options: PartitionOptions,
    ) -> (Self::ConstraintCommitment<E>, CompositionPoly<E>) {
        DefaultConstraintCommitment::new(
            composition_poly_trace,
            num_constraint_composition_columns,
            domain,
            partition_options,
        )
    }

    fn new_evaluator<'a, E: FieldElement<BaseField = BaseElement>>(
        &self,
        air: &'a CountSumAir,
        aux_rand_elements: Option<AuxRandElements<E>>,
        composition_coefficients: ConstraintCompositionCoefficients<E>,
    ) -> Self::ConstraintEvaluator<'a, E> {
        DefaultConstraintEvaluator::new(air, aux_rand_elements, composition_coefficients)
    }

    #[allow(clippy::needless_range_loop)] // four columns filled row by row
    fn build_aux_trace<E: FieldElement<BaseField = BaseElement>>(
        &self,
        main_trace: &SnapshotTrace,
        _aux_rand_elements: &AuxRandElements<E>,
    ) -> ColMatrix<E> {
        let n = main_trace.info.length();
        let k = random_rows(n);
        let last = n - k - 1;
        let code = BaseElement::from(self.inputs.code);
        let main = &main_trace.main;
        let mut columns = vec![vec![E::ZERO; n]; main_trace.info.aux_segment_width()];
        let (mut cnt, mut sum) = (E::ZERO, E::ZERO);
        for i in 0..=last {
            columns[CNT][i] = cnt;
            columns[SUM][i] = sum;
            let d = main.get(0, i) - code;
            let f = if d == BaseElement::ZERO { E::ONE } else { E::ZERO };
            columns[INV][i] = E::from(d.inv());
            columns[FLAG][i] = f;
            cnt += f;
            sum += f * E::from(main.get(1, i));
        }
        let mut rng = ChaCha20Rng::from_seed(self.seed);
        for column in &mut columns[..GAP] {
            for cell in &mut column[last + 1..] {
                *cell = random_element(&mut rng);
            }
        }
        // The gap bits matter on row last-1 only; every other row of those columns is random.
        for (j, column) in columns[GAP..].iter_mut().enumerate() {
            for (i, cell) in column.iter_mut().enumerate() {
                *cell = if i + 1 == last { E::from(((self.gap >> j) & 1) as u32) } else { random_element(&mut rng) };
            }
        }
        ColMatrix::new(columns)
    }
}

//! Snapshots, their commitments, and proofs (the node's side; feature `prover`).

use crate::air::{CountSumAir, PublicInputs, CNT, FLAG, GAP, INV, SUM};
use crate::format::{
    aux_width, proof_budget, proof_options, random_rows, trace_length_for, Commitment, FORMAT_VERSION, MAIN_WIDTH,
    MAX_CODE, MAX_THRESHOLD, MAX_TRACE_LENGTH, PAD_CODE, SELECTOR, VALUE_BITS, ZK_QUOTIENT_SLACK,
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
use winter_math::{fft, FieldElement};
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
    pub code: u64,
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
    /// Lays out `rows` per format v2, masks the trace with random rows drawn from `seed` (a secret the
    /// node keeps with the snapshot, never reused: a rebuilt snapshot takes a fresh seed, so its budget
    /// starts over on a fresh mask), and computes the commitment.
    pub fn build(rows: Vec<Row>, seed: [u8; 32]) -> Result<Snapshot, ZkError> {
        let n = trace_length_for(rows.len())
            .ok_or(ZkError::TooLarge { rows: rows.len(), max: crate::format::capacity(MAX_TRACE_LENGTH) })?;
        let k = random_rows(n);
        if let Some(row) = rows.iter().find(|r| r.code > MAX_CODE) {
            return Err(ZkError::Prover(format!("code {} above the format's {MAX_CODE}", row.code)));
        }
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut columns = vec![vec![BaseElement::ZERO; n]; MAIN_WIDTH];
        for (i, row) in rows.iter().enumerate() {
            columns[0][i] = BaseElement::new(row.code);
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
                *cell = random_element::<BaseElement>(&mut rng);
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
    pub fn prove_count_sum(&self, query: [u8; 32], code: u64) -> Result<(Claim, Vec<u8>), ZkError> {
        self.prove_cell(query, code, 0)
    }

    /// As [`Snapshot::prove_count_sum`], under the node's disclosure threshold: a count below
    /// `threshold` (≤ [`MAX_THRESHOLD`]; 0 for none) is neither disclosed nor its sum, and the proof shows
    /// only that it is below the threshold.
    pub fn prove_cell(&self, query: [u8; 32], code: u64, threshold: u32) -> Result<(Claim, Vec<u8>), ZkError> {
        if threshold > MAX_THRESHOLD {
            return Err(ZkError::Prover(format!("threshold {threshold} above {MAX_THRESHOLD}")));
        }
        if code > MAX_CODE {
            return Err(ZkError::Prover(format!("code {code} above the format's {MAX_CODE}")));
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

/// The zero-knowledge layout of the constraint composition polynomial `H` (zk/README.md, the patched
/// `AirContext::set_zk_quotient_slack`): `H`'s coefficients cut into `segments` chunks of
/// `m = n - ZK_QUOTIENT_SLACK`, segment `j` becoming `H_j - r_j + X^m r_{j+1}` for uniformly random
/// `r_1 .. r_{segments-1}` of degree below the slack (`r_0 = r_segments = 0`: the sum
/// `Σ X^(j m) H_j` is still `H`), then one uniformly random column of degree below `n`, the DEEP
/// randomizer. winterfell's `CompositionPoly` is built only from evaluations, so the columns are
/// returned as the evaluations, over a domain of `columns * n` points, of the polynomial whose
/// coefficient chunks of `n` are those columns.
fn hide_quotient<E: FieldElement<BaseField = BaseElement>>(
    trace: CompositionPolyTrace<E>,
    columns: usize,
    domain: &StarkDomain<BaseElement>,
    rng: &mut ChaCha20Rng,
) -> CompositionPolyTrace<E> {
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
    let size = (columns * n).next_power_of_two();
    let mut out = vec![E::ZERO; size];
    for j in 0..segments {
        let column = &mut out[j * n..(j + 1) * n];
        for (i, c) in h.iter().skip(j * stride).take(stride).enumerate() {
            column[i] = *c;
        }
        for i in 0..slack {
            column[i] -= r[j][i];
            column[stride + i] += r[j + 1][i];
        }
    }
    for c in &mut out[segments * n..columns * n] {
        *c = random_element(rng);
    }
    let twiddles = fft::get_twiddles::<BaseElement>(size);
    CompositionPolyTrace::new(fft::evaluate_poly_with_offset(&out, &twiddles, domain.offset(), 1))
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
        let mut rng = ChaCha20Rng::from_seed(self.seed);
        rng.set_stream(1);
        let hidden = hide_quotient(composition_poly_trace, num_constraint_composition_columns, domain, &mut rng);
        DefaultConstraintCommitment::new(hidden, num_constraint_composition_columns, domain, partition_options)
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
        let code = BaseElement::new(self.inputs.code);
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

#[cfg(test)]
mod tests {
    use super::*;
    use winter_air::Air;
    use winter_math::fields::QuadExtension;
    use winter_math::polynom;

    type E = QuadExtension<BaseElement>;

    /// The hidden segments still recombine to `H` with the patched verifier's step, each stays below
    /// the trace length in degree, none equals the plain split, and the extra column is random.
    #[test]
    fn hidden_quotient_segments_recombine_to_the_composition_polynomial() {
        let n = 2048;
        let info = TraceInfo::new_multi_segment(MAIN_WIDTH, aux_width(false), 1, n, vec![]);
        let inputs =
            PublicInputs { commitment: [0; 32], query: [0; 32], code: 0, count: 0, sum: 0, suppressed_below: 0 };
        let air = CountSumAir::new(info, inputs, proof_options());
        let columns = air.context().num_constraint_composition_columns();
        assert_eq!(columns, 4, "three segments of n - slack coefficients and the DEEP randomizer");
        assert_eq!(air.context().quotient_segment_stride(), n - ZK_QUOTIENT_SLACK);
        let domain = StarkDomain::new(&air);

        // A composition polynomial of the AIR's degree, 2n - 2, given as the prover has it: its
        // evaluations over the constraint-evaluation domain (2n points, shifted by the domain offset).
        let mut rng = ChaCha20Rng::from_seed([5; 32]);
        let mut h: Vec<E> = (0..2 * n - 1).map(|_| random_element(&mut rng)).collect();
        h.push(E::ZERO);
        let evaluations = fft::evaluate_poly_with_offset(&h, &fft::get_twiddles(2 * n), domain.offset(), 1);

        let hidden = hide_quotient(CompositionPolyTrace::new(evaluations), columns, &domain, &mut rng);
        let mut coefficients = hidden.into_inner();
        let inv_twiddles = fft::get_inv_twiddles::<BaseElement>(coefficients.len());
        fft::interpolate_poly_with_offset(&mut coefficients, &inv_twiddles, domain.offset());
        let segments: Vec<&[E]> = coefficients.chunks(n).collect();
        assert_eq!(segments.len(), columns);

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
        let again = hide_quotient(CompositionPolyTrace::new(evaluations), columns, &domain, &mut rng).into_inner();
        let original = fft::evaluate_poly_with_offset(&coefficients, &fft::get_twiddles(4 * n), domain.offset(), 1);
        assert!(again != original, "two hidings of H are equal");
    }
}

//! The committed main segment's low-degree extension, computed once per snapshot and shared by every
//! proof over it (winterfell's default recomputes it for each proof), and how every extension and
//! commitment of a proof is held: as column segments never transposed ([`Extension`]), under Merkle
//! trees kept from 32 rows up ([`RowTree`], also for the quotient: [`QuotientCommitment`]), with the
//! same roots and openings as winterfell's own (zk/README.md, "Memory").

use crate::verify::Hash;
use std::sync::Arc;
use winter_air::proof::Queries;
use winter_air::{EvaluationFrame, PartitionOptions, TraceInfo};
use winter_crypto::{Hasher, MerkleTree};
use winter_math::fields::f64::BaseElement;
use winter_math::FieldElement;
use winter_prover::matrix::{get_evaluation_offsets, ColMatrix, RowMatrix, Segment};
use winter_prover::{CompositionPoly, CompositionPolyTrace, ConstraintCommitment, StarkDomain, TraceLde};

type Vc = MerkleTree<Hash>;
/// winterfell's segment width for 64-bit fields.
const SEGMENT_WIDTH: usize = 8;

/// Base-field columns evaluated over the LDE domain, held as winterfell's segments of eight columns
/// (row-major within a segment) and read row by row from them. winterfell's `RowMatrix` transposes the
/// segments into one row-major matrix and holds both while it does: twice the extension's memory at
/// its peak, the largest allocation of a proof. A last group of at most four columns is held four wide
/// (winterfell pads it to eight: the main segment's 36 columns would take 40).
pub(crate) struct Extension {
    segments: Vec<Segment<BaseElement, SEGMENT_WIDTH>>,
    tail: Option<Segment<BaseElement, TAIL_WIDTH>>,
    width: usize,
}

const TAIL_WIDTH: usize = 4;

impl Extension {
    /// The evaluations of `polys` over `domain`'s LDE domain (what `RowMatrix::evaluate_polys_over`
    /// computes, in the same order).
    pub(crate) fn of(polys: &ColMatrix<BaseElement>, domain: &StarkDomain<BaseElement>) -> Extension {
        let offsets =
            get_evaluation_offsets::<BaseElement>(polys.num_rows(), domain.trace_to_lde_blowup(), domain.offset());
        let width = polys.num_cols();
        let twiddles = domain.trace_twiddles();
        let (full, rest) = (width / SEGMENT_WIDTH, width % SEGMENT_WIDTH);
        let wide = full + usize::from(rest > TAIL_WIDTH);
        let segments = (0..wide).map(|s| Segment::new(polys, s * SEGMENT_WIDTH, &offsets, twiddles)).collect();
        let tail =
            (rest > 0 && rest <= TAIL_WIDTH).then(|| Segment::new(polys, full * SEGMENT_WIDTH, &offsets, twiddles));
        Extension { segments, tail, width }
    }

    pub(crate) fn num_rows(&self) -> usize {
        self.segments.first().map_or_else(|| self.tail.as_ref().map_or(0, |t| t.num_rows()), |s| s.num_rows())
    }

    /// Row `i` into `out` (`width` elements), each lifted to `F`.
    fn read_row<F: FieldElement<BaseField = BaseElement>>(&self, i: usize, out: &mut [F]) {
        debug_assert_eq!(out.len(), self.width, "a whole row");
        let (wide, rest) = out.split_at_mut((self.segments.len() * SEGMENT_WIDTH).min(self.width));
        for (segment, part) in self.segments.iter().zip(wide.chunks_mut(SEGMENT_WIDTH)) {
            for (to, from) in part.iter_mut().zip(&segment[i]) {
                *to = F::from(*from);
            }
        }
        if let Some(tail) = &self.tail {
            for (to, from) in rest.iter_mut().zip(&tail[i]) {
                *to = F::from(*from);
            }
        }
    }

    fn row<F: FieldElement<BaseField = BaseElement>>(&self, i: usize) -> Vec<F> {
        let mut out = vec![F::ZERO; self.width];
        self.read_row(i, &mut out);
        out
    }

    /// The Merkle tree over the rows read as elements of `F` (winterfell hashes a row as the bytes of
    /// its elements; partitions are not used by format v3's options).
    fn commit_rows<F: FieldElement<BaseField = BaseElement>>(&self) -> RowTree {
        RowTree::build(self.num_rows(), |start, out| self.hash_rows::<F>(start, out))
    }

    /// The hashes of rows `start..start + out.len()`, read as elements of `F`.
    fn hash_rows<F: FieldElement<BaseField = BaseElement>>(&self, start: usize, out: &mut [Digest]) {
        let mut row = vec![F::ZERO; self.width];
        for (j, hash) in out.iter_mut().enumerate() {
            self.read_row(start + j, &mut row);
            *hash = <Hash as winter_crypto::ElementHasher>::hash_elements(&row);
        }
    }
}

type Digest = <Hash as Hasher>::Digest;

/// Rows under one stored node of a [`RowTree`]: `2^LOW_LEVELS`.
const LOW_LEVELS: usize = 5;

/// winterfell's Merkle tree over an extension's rows (the same root and the same batch openings), kept
/// from `2^LOW_LEVELS` rows up: an opening hashes again the 32 rows under the stored node above it. A
/// full tree holds two digests per row, 256 MB for 2^22 rows of the LDE domain (a 2^20-row trace); this
/// one 8 MB, for about 1,300 row hashes per tree and proof (42 openings of 32 rows; a proof opens three
/// trees).
pub(crate) struct RowTree {
    upper: Vc,
}

impl RowTree {
    /// The tree over `rows` rows, `hash_rows(start, out)` writing the hashes of rows `start..` into
    /// `out`.
    fn build(rows: usize, hash_rows: impl Fn(usize, &mut [Digest]) + Sync) -> RowTree {
        use rayon::prelude::*;
        let block = 1 << LOW_LEVELS;
        let mut roots = vec![Digest::default(); rows / block];
        roots.par_iter_mut().enumerate().for_each(|(b, root)| {
            let mut level = vec![Digest::default(); block];
            hash_rows(b * block, &mut level);
            while level.len() > 1 {
                level = level.chunks(2).map(|pair| Hash::merge(&[pair[0], pair[1]])).collect();
            }
            *root = level[0];
        });
        RowTree { upper: Vc::new(roots).expect("a power-of-two number of blocks, at least two") }
    }

    pub(crate) fn root(&self) -> Digest {
        *self.upper.root()
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
        let block = 1 << LOW_LEVELS;
        let openings: Vec<(Digest, Vec<Digest>)> = positions
            .iter()
            .map(|&p| {
                let mut level = vec![Digest::default(); block];
                hash_rows(p / block * block, &mut level);
                let leaf = level[p % block];
                let mut path = Vec::with_capacity(LOW_LEVELS + self.upper.depth());
                let mut index = p % block;
                while level.len() > 1 {
                    path.push(level[index ^ 1]);
                    level = level.chunks(2).map(|pair| Hash::merge(&[pair[0], pair[1]])).collect();
                    index /= 2;
                }
                let (_, upper) = self.upper.prove(p / block).expect("a position within the LDE domain");
                path.extend(upper);
                (leaf, path)
            })
            .collect();
        winter_crypto::BatchMerkleProof::from_single_proofs(&openings, positions)
    }
}

/// The constraint composition columns' commitment (winterfell's `DefaultConstraintCommitment`, the same
/// root and openings), its Merkle tree kept from `2^LOW_LEVELS` rows up as a [`RowTree`].
pub(crate) struct QuotientCommitment<E: FieldElement<BaseField = BaseElement>> {
    evaluations: RowMatrix<E>,
    tree: RowTree,
}

impl<E: FieldElement<BaseField = BaseElement>> QuotientCommitment<E> {
    pub(crate) fn new(
        trace: CompositionPolyTrace<E>,
        columns: usize,
        domain: &StarkDomain<BaseElement>,
    ) -> (Self, CompositionPoly<E>) {
        let poly = CompositionPoly::new(trace, domain, columns);
        // winterfell's `DefaultConstraintCommitment` checks.
        assert_eq!(poly.num_columns(), columns);
        assert_eq!(poly.column_degree(), domain.trace_length() - 1);
        let evaluations = RowMatrix::evaluate_polys_over::<SEGMENT_WIDTH>(poly.data(), domain);
        assert_eq!(evaluations.num_cols(), columns);
        assert_eq!(evaluations.num_rows(), domain.lde_domain_size());
        let tree = RowTree::build(evaluations.num_rows(), |start, out| hash_matrix_rows(&evaluations, start, out));
        (QuotientCommitment { evaluations, tree }, poly)
    }
}

fn hash_matrix_rows<E: FieldElement<BaseField = BaseElement>>(m: &RowMatrix<E>, start: usize, out: &mut [Digest]) {
    for (j, hash) in out.iter_mut().enumerate() {
        *hash = <Hash as winter_crypto::ElementHasher>::hash_elements(m.row(start + j));
    }
}

impl<E: FieldElement<BaseField = BaseElement>> ConstraintCommitment<E> for QuotientCommitment<E> {
    type HashFn = Hash;
    type VC = Vc;

    fn commitment(&self) -> Digest {
        self.tree.root()
    }

    fn query(self, positions: &[usize]) -> Queries {
        let proof = self.tree.open_many(positions, |start, out| hash_matrix_rows(&self.evaluations, start, out));
        let rows = positions.iter().map(|&p| self.evaluations.row(p).to_vec()).collect();
        Queries::new::<Hash, E, Vc>(proof, rows)
    }
}

/// The main segment: its polynomials, their evaluations over the LDE domain, and the Merkle tree whose
/// root is the dataset commitment.
pub(crate) struct MainLde {
    pub(crate) polys: Arc<ColMatrix<BaseElement>>,
    lde: Extension,
    tree: RowTree,
    blowup: usize,
}

impl MainLde {
    pub(crate) fn build(
        main: &ColMatrix<BaseElement>,
        domain: &StarkDomain<BaseElement>,
        partition: PartitionOptions,
    ) -> MainLde {
        assert_eq!(partition, PartitionOptions::default(), "format v3 hashes whole rows");
        let polys = main.interpolate_columns();
        let lde = Extension::of(&polys, domain);
        let tree = lde.commit_rows::<BaseElement>();
        MainLde { polys: Arc::new(polys), lde, tree, blowup: domain.trace_to_lde_blowup() }
    }

    pub(crate) fn root(&self) -> <Hash as Hasher>::Digest {
        self.tree.root()
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
}

impl<E: FieldElement<BaseField = BaseElement>> CachedTraceLde<E> {
    pub(crate) fn new(main: Arc<MainLde>, info: TraceInfo, partition: PartitionOptions) -> Self {
        CachedTraceLde { main, aux: None, info, partition, _extension: std::marker::PhantomData }
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
        let (polys, root) = self.set_aux_trace_base(base_columns(aux_trace), domain);
        let polys = (0..polys.num_cols()).map(|c| polys.get_column(c).iter().map(|v| E::from(*v)).collect()).collect();
        (ColMatrix::new(polys), root)
    }

    fn set_aux_trace_base(
        &mut self,
        aux_trace: ColMatrix<BaseElement>,
        domain: &StarkDomain<BaseElement>,
    ) -> (ColMatrix<BaseElement>, <Hash as Hasher>::Digest) {
        assert!(self.aux.is_none(), "the auxiliary trace has already been added");
        assert_eq!(self.partition, PartitionOptions::default(), "format v3 hashes whole rows");
        let polys = aux_trace.interpolate_columns_into();
        let lde = Extension::of(&polys, domain);
        assert_eq!(lde.num_rows(), self.main.lde.num_rows());
        let tree = lde.commit_rows::<E>();
        let root = tree.root();
        self.aux = Some((lde, tree));
        (polys, root)
    }

    fn read_main_trace_frame_into(&self, lde_step: usize, frame: &mut EvaluationFrame<BaseElement>) {
        let next = (lde_step + self.main.blowup) % self.main.lde.num_rows();
        self.main.lde.read_row(lde_step, frame.current_mut());
        self.main.lde.read_row(next, frame.next_mut());
    }

    fn read_aux_trace_frame_into(&self, lde_step: usize, frame: &mut EvaluationFrame<E>) {
        let (lde, _) = self.aux.as_ref().expect("auxiliary segment set");
        let next = (lde_step + self.main.blowup) % lde.num_rows();
        lde.read_row(lde_step, frame.current_mut());
        lde.read_row(next, frame.next_mut());
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

    /// The segment-held extension is winterfell's row-major one, row for row, and so are its Merkle
    /// root and batch openings (main rows hashed in the base field, auxiliary rows lifted to the
    /// extension field), though the tree keeps only its upper levels.
    #[test]
    fn the_extension_and_its_root_are_winterfells() {
        // Every remainder of eight (a four-wide tail or a padded segment), and a domain large enough for
        // winterfell's concurrent FFT (1,024 rows and more), as every real one is.
        for (width, n) in [(13, 64), (12, 64), (4, 64), (8, 64), (36, 64), (1, 64), (3, 64), (6, 64), (9, 64), (15, 64)]
        {
            an_extension_of(width, n);
        }
        an_extension_of(11, 512);
    }

    fn an_extension_of(width: usize, n: usize) {
        use winter_math::fields::QuadExtension;
        let columns: Vec<Vec<BaseElement>> = (0..width)
            .map(|c| (0..n).map(|i| BaseElement::new((i as u64 + 1) * 7_919 + c as u64 * 1_000_003)).collect())
            .collect();
        let polys = ColMatrix::new(columns).interpolate_columns_into();
        let domain = StarkDomain::from_twiddles(fft::get_twiddles::<BaseElement>(n), 4, BaseElement::GENERATOR);
        let ours = Extension::of(&polys, &domain);
        let theirs = RowMatrix::evaluate_polys_over::<SEGMENT_WIDTH>(&polys, &domain);
        assert_eq!(ours.num_rows(), theirs.num_rows());
        for i in 0..theirs.num_rows() {
            assert_eq!(ours.row::<BaseElement>(i), theirs.row(i), "row {i}");
        }
        let positions = [0, 1, 2, 33, 63, 64, 100, 101, 170, 4 * n - 1, 17, 31, 32];
        let full = theirs.commit_to_rows::<Hash, Vc>(PartitionOptions::default());
        let tree = ours.commit_rows::<BaseElement>();
        assert_eq!(tree.root(), full.commitment());
        let opened = tree.open_many(&positions, |start, out| ours.hash_rows::<BaseElement>(start, out));
        assert_eq!(opened, full.open_many(&positions).unwrap().1);
        // Lifted rows hash as winterfell's extension of the same values in the extension field.
        type E = QuadExtension<BaseElement>;
        let lifted = ColMatrix::new(
            (0..width).map(|c| polys.get_column(c).iter().map(|v| E::from(*v)).collect()).collect::<Vec<Vec<E>>>(),
        );
        let theirs = RowMatrix::evaluate_polys_over::<SEGMENT_WIDTH>(&lifted, &domain);
        let full = theirs.commit_to_rows::<Hash, Vc>(PartitionOptions::default());
        let tree = ours.commit_rows::<E>();
        assert_eq!(tree.root(), full.commitment());
        let opened = tree.open_many(&positions, |start, out| ours.hash_rows::<E>(start, out));
        assert_eq!(opened, full.open_many(&positions).unwrap().1);
        // The quotient's commitment: rows of extension-field elements, as winterfell commits them.
        let (ours, _) = QuotientCommitment::new(
            CompositionPolyTrace::new(
                (0..2 * n).map(|i| E::new(BaseElement::new(i as u64 * 31 + 5), BaseElement::new(i as u64))).collect(),
            ),
            2,
            &domain,
        );
        let (theirs, _) = winter_prover::DefaultConstraintCommitment::<E, Hash, Vc>::new(
            CompositionPolyTrace::new(
                (0..2 * n).map(|i| E::new(BaseElement::new(i as u64 * 31 + 5), BaseElement::new(i as u64))).collect(),
            ),
            2,
            &domain,
            PartitionOptions::default(),
        );
        assert_eq!(ours.commitment(), theirs.commitment());
        use winter_prover::Serializable;
        let (ours, theirs) = (ours.query(&positions), theirs.query(&positions));
        assert_eq!(ours.to_bytes(), theirs.to_bytes());
    }
}

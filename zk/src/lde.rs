//! The committed main segment's low-degree extension, computed once per snapshot and shared by every
//! proof over it (winterfell's default recomputes it for each proof).

use crate::verify::Hash;
use std::sync::Arc;
use winter_air::proof::Queries;
use winter_air::{EvaluationFrame, PartitionOptions, TraceInfo};
use winter_crypto::{Hasher, MerkleTree, VectorCommitment};
use winter_math::fields::f64::BaseElement;
use winter_math::FieldElement;
use winter_prover::matrix::{ColMatrix, RowMatrix};
use winter_prover::{StarkDomain, TraceLde};

type Vc = MerkleTree<Hash>;
/// winterfell's segment width for 64-bit fields.
const SEGMENT_WIDTH: usize = 8;

/// The main segment: its polynomials, their evaluations over the LDE domain, and the Merkle tree whose
/// root is the dataset commitment.
pub(crate) struct MainLde {
    pub(crate) polys: ColMatrix<BaseElement>,
    lde: RowMatrix<BaseElement>,
    tree: Vc,
    blowup: usize,
}

impl MainLde {
    pub(crate) fn build(
        main: &ColMatrix<BaseElement>,
        domain: &StarkDomain<BaseElement>,
        partition: PartitionOptions,
    ) -> MainLde {
        let polys = main.interpolate_columns();
        let lde = RowMatrix::evaluate_polys_over::<SEGMENT_WIDTH>(&polys, domain);
        let tree = lde.commit_to_rows::<Hash, Vc>(partition);
        MainLde { polys, lde, tree, blowup: domain.trace_to_lde_blowup() }
    }

    pub(crate) fn root(&self) -> <Hash as Hasher>::Digest {
        self.tree.commitment()
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
    aux: Option<(RowMatrix<BaseElement>, Vc)>,
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
fn queries<F: FieldElement<BaseField = BaseElement>>(
    lde: &RowMatrix<BaseElement>,
    tree: &Vc,
    positions: &[usize],
) -> Queries {
    let states = positions.iter().map(|&p| lde.row(p).iter().map(|v| F::from(*v)).collect()).collect::<Vec<Vec<F>>>();
    let (_, proof) = tree.open_many(positions).expect("positions within the LDE domain");
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

/// The Merkle tree over the rows of `lde` read as elements of `E` (winterfell hashes a row as the
/// bytes of its elements; partitions are not used by format v3's options).
fn commit_rows<E: FieldElement<BaseField = BaseElement>>(lde: &RowMatrix<BaseElement>) -> Vc {
    use rayon::prelude::*;
    const CHUNK: usize = 1024;
    let mut hashes = vec![<Hash as Hasher>::Digest::default(); lde.num_rows()];
    hashes.par_chunks_mut(CHUNK).enumerate().for_each(|(i, part)| {
        let mut row = Vec::with_capacity(lde.num_cols());
        for (j, hash) in part.iter_mut().enumerate() {
            row.clear();
            row.extend(lde.row(i * CHUNK + j).iter().map(|v| E::from(*v)));
            *hash = <Hash as winter_crypto::ElementHasher>::hash_elements(&row);
        }
    });
    Vc::new(hashes).expect("a power-of-two number of rows")
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
        assert!(self.aux.is_none(), "the auxiliary trace has already been added");
        assert_eq!(self.partition, PartitionOptions::default(), "format v3 hashes whole rows");
        let polys = base_columns(aux_trace).interpolate_columns();
        let lde = RowMatrix::evaluate_polys_over::<SEGMENT_WIDTH>(&polys, domain);
        assert_eq!(lde.num_rows(), self.main.lde.num_rows());
        let tree = commit_rows::<E>(&lde);
        let root = tree.commitment();
        self.aux = Some((lde, tree));
        let polys = (0..polys.num_cols()).map(|c| polys.get_column(c).iter().map(|v| E::from(*v)).collect()).collect();
        (ColMatrix::new(polys), root)
    }

    fn read_main_trace_frame_into(&self, lde_step: usize, frame: &mut EvaluationFrame<BaseElement>) {
        let next = (lde_step + self.main.blowup) % self.main.lde.num_rows();
        frame.current_mut().copy_from_slice(self.main.lde.row(lde_step));
        frame.next_mut().copy_from_slice(self.main.lde.row(next));
    }

    fn read_aux_trace_frame_into(&self, lde_step: usize, frame: &mut EvaluationFrame<E>) {
        let (lde, _) = self.aux.as_ref().expect("auxiliary segment set");
        let next = (lde_step + self.main.blowup) % lde.num_rows();
        for (to, from) in frame.current_mut().iter_mut().zip(lde.row(lde_step)) {
            *to = E::from(*from);
        }
        for (to, from) in frame.next_mut().iter_mut().zip(lde.row(next)) {
            *to = E::from(*from);
        }
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

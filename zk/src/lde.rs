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
pub(crate) struct CachedTraceLde<E: FieldElement<BaseField = BaseElement>> {
    main: Arc<MainLde>,
    aux: Option<(RowMatrix<E>, Vc)>,
    info: TraceInfo,
    partition: PartitionOptions,
}

impl<E: FieldElement<BaseField = BaseElement>> CachedTraceLde<E> {
    pub(crate) fn new(main: Arc<MainLde>, info: TraceInfo, partition: PartitionOptions) -> Self {
        CachedTraceLde { main, aux: None, info, partition }
    }
}

fn queries<F: FieldElement<BaseField = BaseElement>>(lde: &RowMatrix<F>, tree: &Vc, positions: &[usize]) -> Queries {
    let states = positions.iter().map(|&p| lde.row(p).to_vec()).collect::<Vec<_>>();
    let (_, proof) = tree.open_many(positions).expect("positions within the LDE domain");
    Queries::new::<Hash, F, Vc>(proof, states)
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
        let polys = aux_trace.interpolate_columns();
        let lde = RowMatrix::evaluate_polys_over::<SEGMENT_WIDTH>(&polys, domain);
        assert_eq!(lde.num_rows(), self.main.lde.num_rows());
        let tree = lde.commit_to_rows::<Hash, Vc>(self.partition);
        let root = tree.commitment();
        self.aux = Some((lde, tree));
        (polys, root)
    }

    fn read_main_trace_frame_into(&self, lde_step: usize, frame: &mut EvaluationFrame<BaseElement>) {
        let next = (lde_step + self.main.blowup) % self.main.lde.num_rows();
        frame.current_mut().copy_from_slice(self.main.lde.row(lde_step));
        frame.next_mut().copy_from_slice(self.main.lde.row(next));
    }

    fn read_aux_trace_frame_into(&self, lde_step: usize, frame: &mut EvaluationFrame<E>) {
        let (lde, _) = self.aux.as_ref().expect("auxiliary segment set");
        let next = (lde_step + self.main.blowup) % lde.num_rows();
        frame.current_mut().copy_from_slice(lde.row(lde_step));
        frame.next_mut().copy_from_slice(lde.row(next));
    }

    fn query(&self, positions: &[usize]) -> Vec<Queries> {
        let mut out = vec![queries(&self.main.lde, &self.main.tree, positions)];
        if let Some((lde, tree)) = &self.aux {
            out.push(queries(lde, tree, positions));
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

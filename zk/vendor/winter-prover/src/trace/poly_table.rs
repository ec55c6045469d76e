// Copyright (c) Facebook, Inc. and its affiliates.
//
// This source code is licensed under the MIT license found in the
// LICENSE file in the root directory of this source tree.

use alloc::{sync::Arc, vec, vec::Vec};

use air::proof::TraceOodFrame;
use math::{FieldElement, StarkField};

use crate::{matrix::ColumnIter, ColMatrix};

// AGORA PATCH: POLYNOMIALS OUTSIDE MEMORY
// ================================================================================================

/// Agora patch: a segment's polynomials (or its values) held outside memory (a file), read a
/// column at a time.
pub trait PolyStore<B: StarkField>: Send + Sync + core::panic::RefUnwindSafe + core::panic::UnwindSafe {
    /// The number of polynomials.
    fn num_cols(&self) -> usize;
    /// The number of coefficients of each.
    fn num_rows(&self) -> usize;
    /// Reads the coefficients of polynomial `index` into `out` (`num_rows` of them).
    fn read_column(&self, index: usize, out: &mut [B]);
    /// Replaces column `index` by `values` (`num_rows` of them): a trace's values by their
    /// polynomial's coefficients, in place. The default store is read-only.
    fn write_column(&self, index: usize, values: &[B]) -> Result<(), alloc::string::String> {
        let _ = (index, values);
        Err("a read-only store".into())
    }
}

/// Agora patch: a segment's polynomials (or its values), in memory (possibly shared) or in a
/// [`PolyStore`].
#[derive(Clone)]
pub enum PolyColumns<B: StarkField> {
    /// Held in memory.
    Memory(Arc<ColMatrix<B>>),
    /// Read a column at a time.
    Stored(Arc<dyn PolyStore<B>>),
}

impl<B: StarkField> PolyColumns<B> {
    /// The number of polynomials.
    pub fn num_cols(&self) -> usize {
        match self {
            PolyColumns::Memory(m) => m.num_cols(),
            PolyColumns::Stored(s) => s.num_cols(),
        }
    }

    /// The number of coefficients of each polynomial.
    pub fn num_rows(&self) -> usize {
        match self {
            PolyColumns::Memory(m) => m.num_rows(),
            PolyColumns::Stored(s) => s.num_rows(),
        }
    }

    /// Calls `f` with each polynomial's coefficients, in order (a stored one read into one buffer
    /// reused for every column).
    pub fn for_each_column(&self, mut f: impl FnMut(&[B])) {
        match self {
            PolyColumns::Memory(m) => m.columns().for_each(f),
            PolyColumns::Stored(s) => {
                let mut column = vec![B::ZERO; s.num_rows()];
                for i in 0..s.num_cols() {
                    s.read_column(i, &mut column);
                    f(&column);
                }
            },
        }
    }

    /// Every polynomial evaluated at `x`.
    fn evaluate_at<E: FieldElement<BaseField = B>>(&self, x: E) -> Vec<E> {
        match self {
            PolyColumns::Memory(m) => m.evaluate_columns_at(x),
            PolyColumns::Stored(_) => {
                let mut at_x = Vec::new();
                self.for_each_column(|poly| at_x.push(crate::matrix::eval_poly(poly, x)));
                at_x
            },
        }
    }

    /// Every polynomial evaluated at `x` and at `y` (a stored column is read once for both).
    fn evaluate_at_two<E: FieldElement<BaseField = B>>(&self, x: E, y: E) -> (Vec<E>, Vec<E>) {
        match self {
            PolyColumns::Memory(m) => (m.evaluate_columns_at(x), m.evaluate_columns_at(y)),
            PolyColumns::Stored(_) => {
                let (mut at_x, mut at_y) = (Vec::new(), Vec::new());
                self.for_each_column(|poly| {
                    #[cfg(feature = "concurrent")]
                    let (u, v) = utils::rayon::join(
                        || crate::matrix::eval_poly(poly, x),
                        || crate::matrix::eval_poly(poly, y),
                    );
                    #[cfg(not(feature = "concurrent"))]
                    let (u, v) = (crate::matrix::eval_poly(poly, x), crate::matrix::eval_poly(poly, y));
                    at_x.push(u);
                    at_y.push(v);
                });
                (at_x, at_y)
            },
        }
    }
}

// TRACE POLYNOMIAL TABLE
// ================================================================================================

/// Trace polynomials in coefficient from for all segments of the execution trace.
///
/// Coefficients of the polynomials for the main trace segment are always in the base field.
/// However, coefficients of the polynomials for the auxiliary trace segment may be either in
/// the base field, or in the extension field, depending on whether extension field is being used.
pub struct TracePolyTable<E: FieldElement> {
    // Agora patch: the main segment's polynomials may be shared with the caller (a committed
    // segment reused by many proofs) or stored outside memory, and the auxiliary segment's may be
    // held in the base field (in memory or stored).
    main_trace_polys: PolyColumns<E::BaseField>,
    aux_trace_polys: Option<ColMatrix<E>>,
    aux_trace_polys_base: Option<PolyColumns<E::BaseField>>,
}

impl<E: FieldElement> TracePolyTable<E> {
    // CONSTRUCTOR
    // --------------------------------------------------------------------------------------------
    /// Creates a new table of trace polynomials from the provided main trace segment polynomials.
    pub fn new(main_trace_polys: ColMatrix<E::BaseField>) -> Self {
        Self::new_shared(Arc::new(main_trace_polys))
    }

    /// Agora patch: a table over main segment polynomials shared with the caller (not copied).
    pub fn new_shared(main_trace_polys: Arc<ColMatrix<E::BaseField>>) -> Self {
        Self::new_columns(PolyColumns::Memory(main_trace_polys))
    }

    /// Agora patch: a table over main segment polynomials in memory or stored.
    pub fn new_columns(main_trace_polys: PolyColumns<E::BaseField>) -> Self {
        Self {
            main_trace_polys,
            aux_trace_polys: None,
            aux_trace_polys_base: None,
        }
    }

    // STATE MUTATORS
    // --------------------------------------------------------------------------------------------

    /// Adds the provided auxiliary segment polynomials to this polynomial table.
    pub fn add_aux_segment(&mut self, aux_trace_polys: ColMatrix<E>) {
        assert!(self.aux_trace_polys.is_none() && self.aux_trace_polys_base.is_none());
        assert_eq!(
            self.main_trace_polys.num_rows(),
            aux_trace_polys.num_rows(),
            "polynomials in auxiliary segment must be of the same size as in the main segment"
        );

        self.aux_trace_polys = Some(aux_trace_polys);
    }

    /// Agora patch: adds auxiliary segment polynomials whose coefficients are all in the base
    /// field (an auxiliary segment of base-field values), kept there: half the memory of lifting
    /// them, and cheaper to evaluate and to combine into the DEEP composition polynomial.
    pub fn add_aux_segment_base(&mut self, aux_trace_polys: PolyColumns<E::BaseField>) {
        assert!(self.aux_trace_polys.is_none() && self.aux_trace_polys_base.is_none());
        assert_eq!(
            self.main_trace_polys.num_rows(),
            aux_trace_polys.num_rows(),
            "polynomials in auxiliary segment must be of the same size as in the main segment"
        );

        self.aux_trace_polys_base = Some(aux_trace_polys);
    }

    // PUBLIC ACCESSORS
    // --------------------------------------------------------------------------------------------

    /// Returns the size of each polynomial - i.e. size of a vector needed to hold a polynomial.
    pub fn poly_size(&self) -> usize {
        self.main_trace_polys.num_rows()
    }

    /// Evaluates all trace polynomials (across all trace segments) at the specified point `x`.
    pub fn evaluate_at(&self, x: E) -> Vec<E> {
        let mut result = self.main_trace_polys.evaluate_at(x);
        for aux_polys in self.aux_trace_polys.iter() {
            result.append(&mut aux_polys.evaluate_columns_at(x));
        }
        for aux_polys in self.aux_trace_polys_base.iter() {
            result.append(&mut aux_polys.evaluate_at(x));
        }
        result
    }

    /// Agora patch: all trace polynomials evaluated at `x` and at `y`, in one pass over each
    /// stored segment.
    fn evaluate_at_two(&self, x: E, y: E) -> (Vec<E>, Vec<E>) {
        let (mut at_x, mut at_y) = self.main_trace_polys.evaluate_at_two(x, y);
        for aux_polys in self.aux_trace_polys.iter() {
            at_x.append(&mut aux_polys.evaluate_columns_at(x));
            at_y.append(&mut aux_polys.evaluate_columns_at(y));
        }
        for aux_polys in self.aux_trace_polys_base.iter() {
            let (mut u, mut v) = aux_polys.evaluate_at_two(x, y);
            at_x.append(&mut u);
            at_y.append(&mut v);
        }
        (at_x, at_y)
    }

    /// Returns an out-of-domain evaluation frame constructed by evaluating trace polynomials for
    /// all columns at points z and z * g, where g is the generator of the trace domain.
    pub fn get_ood_frame(&self, z: E) -> TraceOodFrame<E> {
        let log_trace_len = self.poly_size().ilog2();
        let g = E::from(E::BaseField::get_root_of_unity(log_trace_len));
        let (current_row, next_row) = self.evaluate_at_two(z, z * g);
        let main_trace_width = self.main_trace_polys.num_cols();

        TraceOodFrame::new(current_row, next_row, main_trace_width)
    }

    /// Agora patch: calls `f` with each polynomial of the main trace segment, in order.
    pub fn for_each_main_trace_poly(&self, f: impl FnMut(&[E::BaseField])) {
        self.main_trace_polys.for_each_column(f)
    }

    /// Returns an iterator over the polynomials of the auxiliary trace segment.
    pub fn aux_trace_polys(&self) -> impl Iterator<Item = &[E]> {
        match self.aux_trace_polys {
            Some(ref aux_segment_polys) => aux_segment_polys.columns(),
            None => ColumnIter::empty(),
        }
    }

    /// Agora patch: calls `f` with each polynomial of an auxiliary segment held in the base field
    /// (none when it is held in the extension field).
    pub fn for_each_aux_trace_poly_base(&self, f: impl FnMut(&[E::BaseField])) {
        if let Some(aux_segment_polys) = &self.aux_trace_polys_base {
            aux_segment_polys.for_each_column(f)
        }
    }

    // TEST HELPERS
    // --------------------------------------------------------------------------------------------

    /// Returns the number of polynomials in the main segment of the trace.
    #[cfg(test)]
    pub fn num_main_trace_polys(&self) -> usize {
        self.main_trace_polys.num_cols()
    }

    /// Returns a polynomial from the main segment of the trace at the specified index.
    #[cfg(test)]
    pub fn get_main_trace_poly(&self, idx: usize) -> &[E::BaseField] {
        match &self.main_trace_polys {
            PolyColumns::Memory(m) => m.get_column(idx),
            PolyColumns::Stored(_) => unimplemented!("a stored polynomial is read, not borrowed"),
        }
    }
}

//! The statement: over the committed patient blocks, `count` blocks satisfy a conjunction of criteria
//! (each: the block holds a row of code `c`, or holds none); or, with a measure, the blocks satisfying
//! it hold `count` rows of the measure's code whose values sum to `sum`.
//!
//! Main segment (the committed data, [`crate::format`]): every value's 32 bits are boolean and
//! recompose the value, `first` is boolean, and the selector is pinned. Auxiliary segment (built per
//! query, after the data are committed), with `K` criteria and `'` the next row:
//!
//! | columns | constraint on rows `0 ..= n-k-2` (each multiplied by the selector) |
//! |---|---|
//! | `inv_k`, `eq_k` | `(code - c_k)·inv_k + eq_k - 1 = 0`, `(code - c_k)·eq_k = 0`: `eq_k = [code = c_k]` |
//! | `c_k` | `c_k' = (1 - first')·c_k + eq_k'` and `c_k·(c_k - 1) = 0`: the block so far holds `c_k` |
//! | `p_1 .. p_{K-1}` | `p_j = p_{j-1}·l_j` with `p_0 = l_0`, `l_k = c_k` or `1 - c_k` (a negated criterion) |
//! | `cnt` | `cnt' = cnt + first'·p`: a block is counted on its last row, if it satisfies every criterion |
//! | (measure) `inv_m`, `eq_m` | as for a criterion, with the measure's code `m` |
//! | (measure) `w`, `n`, `sum` | `w = eq_m·p`, `n' = n + w`, `sum' = sum + w·value` |
//! | (measure) `c_m` | `c_m' = (1 - first')·c_m + eq_m'`, `c_m·(c_m - 1) = 0`, and `c_m·eq_k = 0` for every `k` |
//! | `gap_0..5` (suppressed) | on row n-k-2 only: boolean, and `T - 1 - q' = Σ gap_j·2^j` |
//!
//! `p` is the running product of the literals, and `c_m` makes the layout that reading it at the measure
//! row needs part of the statement: a block holds at most one row of the measure, and no criterion row
//! after it, so `p` there is the block's final verdict. `q` is `cnt`, or `n` with a measure. A disclosed answer
//! asserts `q` (and `sum`) at row n-k-1; a suppressed one proves `q ≤ T - 1` for the node's threshold
//! `T ≤ 64` and discloses neither. Row 0 is padding (asserted), so `c_k[0] = 0` is asserted too.
//!
//! The predicate is computed from the committed codes inside the proof; nothing query-dependent is
//! committed with the data. `count ≤ 2^22` and `value < 2^32` keep `sum < 2^54`, below the field's
//! modulus: sums are exact.

use crate::format::{random_rows, FIRST, GAP_BITS, MAIN_WIDTH, PAD_CODE, SELECTOR, VALUE_BITS, ZK_QUOTIENT_SLACK};
use winter_air::{
    Air, AirContext, Assertion, AuxRandElements, EvaluationFrame, ProofOptions, TraceInfo, TransitionConstraintDegree,
};
use winter_math::fields::f64::BaseElement;
use winter_math::{ExtensionOf, FieldElement, ToElements};

/// One criterion of a cohort: the patient's block holds a row of `code` (or, `negated`, holds none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Criterion {
    /// The row code.
    pub code: u64,
    /// Whether the block must hold no such row.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub negated: bool,
}

impl Criterion {
    /// The block holds a row of `code`.
    pub fn has(code: u64) -> Criterion {
        Criterion { code, negated: false }
    }

    /// The block holds no row of `code`.
    pub fn lacks(code: u64) -> Criterion {
        Criterion { code, negated: true }
    }
}

/// Where each auxiliary column sits, for `criteria` criteria, with or without a measure, disclosed or
/// suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuxLayout {
    /// Criteria (`K ≥ 1`).
    pub criteria: usize,
    /// Whether a measure is summed.
    pub measure: bool,
    /// Whether the answer is suppressed (gap bits).
    pub suppressed: bool,
}

impl AuxLayout {
    /// `inv_k`.
    pub fn inv(&self, k: usize) -> usize {
        3 * k
    }
    /// `eq_k`.
    pub fn eq(&self, k: usize) -> usize {
        3 * k + 1
    }
    /// `c_k`.
    pub fn has(&self, k: usize) -> usize {
        3 * k + 2
    }
    /// `p_j`, `1 ≤ j < K`.
    pub fn product(&self, j: usize) -> usize {
        3 * self.criteria + j - 1
    }
    fn after_products(&self) -> usize {
        4 * self.criteria - 1
    }
    /// `cnt` (no measure).
    pub fn cnt(&self) -> usize {
        self.after_products()
    }
    /// `inv_m`, `eq_m`, `w`, `n`, `sum`, `c_m` (with a measure).
    pub fn measure_columns(&self) -> [usize; 6] {
        let b = self.after_products();
        [b, b + 1, b + 2, b + 3, b + 4, b + 5]
    }
    /// The column the count is read from: `cnt`, or `n` with a measure.
    pub fn counted(&self) -> usize {
        if self.measure {
            self.measure_columns()[3]
        } else {
            self.cnt()
        }
    }
    /// The first gap bit (suppressed).
    pub fn gap(&self) -> usize {
        self.after_products() + if self.measure { 6 } else { 1 }
    }
    /// Columns in all.
    pub fn width(&self) -> usize {
        self.gap() + if self.suppressed { GAP_BITS } else { 0 }
    }
}

/// The public inputs: what the answer claims, and what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicInputs {
    /// The dataset commitment's root.
    pub commitment: [u8; 32],
    /// A digest of the query (binds the proof to one query).
    pub query: [u8; 32],
    /// The cohort's criteria (at least one, at least one not negated).
    pub criteria: Vec<Criterion>,
    /// The measure's row code, when values are summed.
    pub measure: Option<u64>,
    /// Blocks counted, or measure rows with one (0 when suppressed).
    pub count: u64,
    /// Sum of the measure rows' values (0 without a measure or when suppressed).
    pub sum: u64,
    /// 0 for a disclosed count and sum; else the threshold the hidden count is below.
    pub suppressed_below: u32,
}

impl PublicInputs {
    /// Inputs of `layout` with zero codes and outputs: for what depends on the proof's shape only.
    pub fn of_layout(layout: AuxLayout) -> PublicInputs {
        PublicInputs {
            commitment: [0; 32],
            query: [0; 32],
            criteria: vec![Criterion::has(0); layout.criteria],
            measure: layout.measure.then_some(0),
            count: 0,
            sum: 0,
            suppressed_below: u32::from(layout.suppressed),
        }
    }

    /// The auxiliary layout these inputs imply.
    pub fn layout(&self) -> AuxLayout {
        AuxLayout {
            criteria: self.criteria.len(),
            measure: self.measure.is_some(),
            suppressed: self.suppressed_below != 0,
        }
    }
}

fn words(bytes: &[u8; 32]) -> impl Iterator<Item = BaseElement> + '_ {
    bytes.chunks(4).map(|c| BaseElement::from(u32::from_le_bytes(c.try_into().expect("4 bytes"))))
}

impl ToElements<BaseElement> for PublicInputs {
    fn to_elements(&self) -> Vec<BaseElement> {
        let mut out: Vec<BaseElement> = words(&self.commitment).chain(words(&self.query)).collect();
        out.push(BaseElement::new(self.criteria.len() as u64));
        for c in &self.criteria {
            out.push(BaseElement::new(c.code));
            out.push(BaseElement::from(u32::from(c.negated)));
        }
        out.push(BaseElement::from(u32::from(self.measure.is_some())));
        out.push(BaseElement::new(self.measure.unwrap_or(0)));
        // Both below the modulus whenever the statement can hold; a larger claim maps to another element
        // and simply fails.
        out.push(BaseElement::new(self.count));
        out.push(BaseElement::new(self.sum));
        out.push(BaseElement::from(self.suppressed_below));
        out
    }
}

/// The AIR of a cohort count (or a measure's count and sum over a cohort).
pub struct CohortAir {
    context: AirContext<BaseElement>,
    layout: AuxLayout,
    criteria: Vec<(BaseElement, bool)>,
    measure: BaseElement,
    count: BaseElement,
    sum: BaseElement,
    /// `T`: a suppressed count is at most `T - 1`.
    bound: BaseElement,
    last: usize,
}

impl Air for CohortAir {
    type BaseField = BaseElement;
    type PublicInputs = PublicInputs;

    fn new(trace_info: TraceInfo, pub_inputs: PublicInputs, options: ProofOptions) -> Self {
        let n = trace_info.length();
        let k = random_rows(n);
        let layout = pub_inputs.layout();
        assert!(layout.criteria >= 1, "a statement has at least one criterion");
        // Every constraint is multiplied by the selector column, which one more constraint and two
        // assertions pin to 1 on rows 0 ..= n-k-2 and 0 after: this replaces k transition exemptions,
        // whose divisor would cost O(k) at every point of the evaluation domain.
        let d = TransitionConstraintDegree::new;
        let mut main = vec![d(3); VALUE_BITS];
        main.extend([d(2), d(2), d(2), d(3)]);
        let mut aux = vec![d(3); 4 * layout.criteria + layout.criteria - 1];
        if layout.measure {
            aux.extend([d(3), d(3), d(3), d(2), d(3), d(3), d(3)]);
            aux.extend(vec![d(3); layout.criteria]);
        } else {
            aux.push(d(3));
        }
        if layout.suppressed {
            aux.push(d(2));
            aux.extend(vec![d(3); GAP_BITS]);
        }
        let starts = layout.criteria + if layout.measure { 3 } else { 1 };
        let aux_assertions = starts
            + if layout.suppressed {
                0
            } else if layout.measure {
                2
            } else {
                1
            };
        let context = AirContext::new_multi_segment(trace_info, main, aux, 5, aux_assertions, options)
            .set_zk_quotient_slack(ZK_QUOTIENT_SLACK);
        CohortAir {
            context,
            layout,
            criteria: pub_inputs.criteria.iter().map(|c| (BaseElement::new(c.code), c.negated)).collect(),
            measure: BaseElement::new(pub_inputs.measure.unwrap_or(0)),
            count: BaseElement::new(pub_inputs.count),
            sum: BaseElement::new(pub_inputs.sum),
            bound: BaseElement::from(pub_inputs.suppressed_below),
            last: n - k - 1,
        }
    }

    fn context(&self) -> &AirContext<BaseElement> {
        &self.context
    }

    fn evaluate_transition<E: FieldElement<BaseField = BaseElement>>(
        &self,
        frame: &EvaluationFrame<E>,
        _periodic_values: &[E],
        result: &mut [E],
    ) {
        let row = frame.current();
        let s = row[SELECTOR];
        let s_next = frame.next()[SELECTOR];
        let mut recomposed = E::ZERO;
        let mut power = E::ONE;
        for j in 0..VALUE_BITS {
            let b = row[2 + j];
            result[j] = s * b * (b - E::ONE);
            recomposed += b * power;
            power = power.double();
        }
        result[VALUE_BITS] = s * (row[1] - recomposed);
        // The selector is boolean and never rises again once it fell.
        result[VALUE_BITS + 1] = s * (s - E::ONE);
        result[VALUE_BITS + 2] = s_next * (E::ONE - s);
        let first = row[FIRST];
        result[VALUE_BITS + 3] = s * first * (first - E::ONE);
    }

    fn get_assertions(&self) -> Vec<Assertion<BaseElement>> {
        debug_assert_eq!(self.context.trace_info().main_trace_width(), MAIN_WIDTH);
        vec![
            Assertion::single(0, 0, BaseElement::new(PAD_CODE)),
            Assertion::single(0, self.last, BaseElement::new(PAD_CODE)),
            Assertion::single(FIRST, self.last, BaseElement::ONE),
            Assertion::single(SELECTOR, self.last - 1, BaseElement::ONE),
            Assertion::single(SELECTOR, self.last, BaseElement::ZERO),
        ]
    }

    fn evaluate_aux_transition<F, E>(
        &self,
        main_frame: &EvaluationFrame<F>,
        aux_frame: &EvaluationFrame<E>,
        _periodic_values: &[F],
        _aux_rand_elements: &AuxRandElements<E>,
        result: &mut [E],
    ) where
        F: FieldElement<BaseField = BaseElement>,
        E: FieldElement<BaseField = BaseElement> + ExtensionOf<F>,
    {
        let m = main_frame.current();
        let a = aux_frame.current();
        let next = aux_frame.next();
        let l = &self.layout;
        let s: E = m[SELECTOR].into();
        let first_next: E = main_frame.next()[FIRST].into();
        let mut r = 0;
        let literal = |k: usize| if self.criteria[k].1 { E::ONE - a[l.has(k)] } else { a[l.has(k)] };
        for (k, (code, _)) in self.criteria.iter().enumerate() {
            let d: E = (m[0] - F::from(*code)).into();
            let c = a[l.has(k)];
            result[r] = s * (d * a[l.inv(k)] + a[l.eq(k)] - E::ONE);
            result[r + 1] = s * d * a[l.eq(k)];
            result[r + 2] = s * (next[l.has(k)] - (E::ONE - first_next) * c - next[l.eq(k)]);
            result[r + 3] = s * c * (c - E::ONE);
            r += 4;
        }
        let mut product = literal(0);
        for j in 1..l.criteria {
            result[r] = s * (a[l.product(j)] - product * literal(j));
            product = a[l.product(j)];
            r += 1;
        }
        if l.measure {
            let [inv, eq, w, n, sum, has_m] = l.measure_columns();
            let d: E = (m[0] - F::from(self.measure)).into();
            let value: E = m[1].into();
            result[r] = s * (d * a[inv] + a[eq] - E::ONE);
            result[r + 1] = s * d * a[eq];
            result[r + 2] = s * (a[w] - a[eq] * product);
            result[r + 3] = s * (next[n] - a[n] - a[w]);
            result[r + 4] = s * (next[sum] - a[sum] - a[w] * value);
            // At most one measure row per block, and no criterion row after it.
            result[r + 5] = s * (next[has_m] - (E::ONE - first_next) * a[has_m] - next[eq]);
            result[r + 6] = s * a[has_m] * (a[has_m] - E::ONE);
            r += 7;
            for k in 0..l.criteria {
                result[r] = s * a[has_m] * a[l.eq(k)];
                r += 1;
            }
        } else {
            result[r] = s * (next[l.cnt()] - a[l.cnt()] - first_next * product);
            r += 1;
        }
        if !l.suppressed {
            return;
        }
        // On the last counted row only: the final count is at most bound - 1.
        let at_end: E = (m[SELECTOR] - main_frame.next()[SELECTOR]).into();
        let mut gap = E::ZERO;
        let mut power = E::ONE;
        for j in 0..GAP_BITS {
            let g = a[l.gap() + j];
            result[r + 1 + j] = at_end * g * (g - E::ONE);
            gap += g * power;
            power = power.double();
        }
        result[r] = at_end * (E::from(self.bound) - E::ONE - next[l.counted()] - gap);
    }

    fn get_aux_assertions<E: FieldElement<BaseField = BaseElement>>(
        &self,
        _aux_rand_elements: &AuxRandElements<E>,
    ) -> Vec<Assertion<E>> {
        let l = &self.layout;
        let mut out: Vec<Assertion<E>> = (0..l.criteria).map(|k| Assertion::single(l.has(k), 0, E::ZERO)).collect();
        if l.measure {
            let [_, _, _, n, sum, has_m] = l.measure_columns();
            out.push(Assertion::single(has_m, 0, E::ZERO));
            out.push(Assertion::single(n, 0, E::ZERO));
            out.push(Assertion::single(sum, 0, E::ZERO));
            if !l.suppressed {
                out.push(Assertion::single(n, self.last, E::from(self.count)));
                out.push(Assertion::single(sum, self.last, E::from(self.sum)));
            }
        } else {
            out.push(Assertion::single(l.cnt(), 0, E::ZERO));
            if !l.suppressed {
                out.push(Assertion::single(l.cnt(), self.last, E::from(self.count)));
            }
        }
        out
    }
}

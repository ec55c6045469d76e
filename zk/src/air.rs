//! The statement: over the committed rows, `count` rows have `code == c` and their values sum to `sum`.
//!
//! Main segment (the committed data, [`crate::format`]): every value's 32 bits are boolean and recompose
//! the value. Auxiliary segment (built per query, after the data are committed):
//!
//! | column | constraint on rows `0 ..= n-k-2` |
//! |---|---|
//! | `inv` | `(code - c)·inv + f - 1 = 0` |
//! | `f` | `(code - c)·f = 0` (with the first: `f = 1` exactly when `code == c`) |
//! | `cnt` | `cnt' = cnt + f`, `cnt[0] = 0`, `cnt[n-k-1] = count` |
//! | `sum` | `sum' = sum + f·value`, `sum[0] = 0`, `sum[n-k-1] = sum` |
//! | `gap_0..5` | on row n-k-2 only (where `s - s' = 1`): boolean, and `T - 1 - cnt' = Σ gap_j·2^j` |
//!
//! A revealed answer asserts `cnt` and `sum` at row n-k-1 and has no gap columns. A suppressed one (its
//! auxiliary segment 10 columns wide) asserts neither and proves `count ≤ T - 1` for the node's threshold
//! `T ≤ 64`: its count and sum are not public inputs at all.
//!
//! The flag is computed from the committed code inside the proof; nothing query-dependent is committed
//! with the data. The last `k` rows of both segments are random; every constraint is multiplied by the
//! committed selector column, pinned (boolean, never rising, 1 at row n-k-2 and 0 at n-k-1) to be 1
//! exactly on rows `0 ..= n-k-2`, so the random rows are free.
//! `count ≤ 2^22` and `value < 2^32` keep `sum < 2^54`, below the field's modulus: sums are exact.

use crate::format::{random_rows, GAP_BITS, MAIN_WIDTH, PAD_CODE, SELECTOR, VALUE_BITS, ZK_QUOTIENT_SLACK};
use winter_air::{
    Air, AirContext, Assertion, AuxRandElements, EvaluationFrame, ProofOptions, TraceInfo, TransitionConstraintDegree,
};
use winter_math::fields::f64::BaseElement;
use winter_math::{ExtensionOf, FieldElement, ToElements};

/// Auxiliary columns.
pub const INV: usize = 0;
/// The predicate's flag.
pub const FLAG: usize = 1;
/// The running count.
pub const CNT: usize = 2;
/// The running sum.
pub const SUM: usize = 3;
/// The first bit of the suppression gap.
pub const GAP: usize = 4;

/// The public inputs: what the answer claims, and what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicInputs {
    /// The dataset commitment's root.
    pub commitment: [u8; 32],
    /// A digest of the query (binds the proof to one query).
    pub query: [u8; 32],
    /// The code the predicate selects.
    pub code: u64,
    /// Rows selected (0 when suppressed).
    pub count: u64,
    /// Sum of their values (0 when suppressed).
    pub sum: u64,
    /// 0 for a revealed count and sum; else the threshold the hidden count is below.
    pub suppressed_below: u32,
}

fn words(bytes: &[u8; 32]) -> impl Iterator<Item = BaseElement> + '_ {
    bytes.chunks(4).map(|c| BaseElement::from(u32::from_le_bytes(c.try_into().expect("4 bytes"))))
}

impl ToElements<BaseElement> for PublicInputs {
    fn to_elements(&self) -> Vec<BaseElement> {
        let mut out: Vec<BaseElement> = words(&self.commitment).chain(words(&self.query)).collect();
        out.push(BaseElement::new(self.code));
        // Both below the modulus whenever the statement can hold; a larger claim maps to another element
        // and simply fails.
        out.push(BaseElement::new(self.count));
        out.push(BaseElement::new(self.sum));
        out.push(BaseElement::from(self.suppressed_below));
        out
    }
}

/// The AIR of a count and sum under an equality predicate.
pub struct CountSumAir {
    context: AirContext<BaseElement>,
    code: BaseElement,
    count: BaseElement,
    sum: BaseElement,
    /// `T`: a suppressed count is at most `T - 1`.
    bound: BaseElement,
    revealed: bool,
    last: usize,
}

impl Air for CountSumAir {
    type BaseField = BaseElement;
    type PublicInputs = PublicInputs;

    fn new(trace_info: TraceInfo, pub_inputs: PublicInputs, options: ProofOptions) -> Self {
        let n = trace_info.length();
        let k = random_rows(n);
        // Every constraint is multiplied by the selector column, which one more constraint and two
        // assertions pin to 1 on rows 0 ..= n-k-2 and 0 after: this replaces k transition exemptions,
        // whose divisor would cost O(k) at every point of the evaluation domain.
        let mut main = vec![TransitionConstraintDegree::new(3); VALUE_BITS];
        main.push(TransitionConstraintDegree::new(2));
        main.push(TransitionConstraintDegree::new(2));
        main.push(TransitionConstraintDegree::new(2));
        let revealed = pub_inputs.suppressed_below == 0;
        let mut aux = vec![
            TransitionConstraintDegree::new(3),
            TransitionConstraintDegree::new(3),
            TransitionConstraintDegree::new(2),
            TransitionConstraintDegree::new(3),
        ];
        if !revealed {
            aux.push(TransitionConstraintDegree::new(2));
            aux.extend(vec![TransitionConstraintDegree::new(3); GAP_BITS]);
        }
        let aux_assertions = if revealed { 4 } else { 2 };
        let context = AirContext::new_multi_segment(trace_info, main, aux, 3, aux_assertions, options)
            .set_zk_quotient_slack(ZK_QUOTIENT_SLACK);
        let bound = BaseElement::from(pub_inputs.suppressed_below);
        CountSumAir {
            context,
            code: BaseElement::new(pub_inputs.code),
            count: BaseElement::new(pub_inputs.count),
            sum: BaseElement::new(pub_inputs.sum),
            bound,
            revealed,
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
    }

    fn get_assertions(&self) -> Vec<Assertion<BaseElement>> {
        debug_assert_eq!(self.context.trace_info().main_trace_width(), MAIN_WIDTH);
        vec![
            Assertion::single(0, self.last, BaseElement::new(PAD_CODE)),
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
        let s: E = m[SELECTOR].into();
        let d: E = (m[0] - F::from(self.code)).into();
        let value: E = m[1].into();
        result[0] = s * (d * a[INV] + a[FLAG] - E::ONE);
        result[1] = s * d * a[FLAG];
        result[2] = s * (next[CNT] - a[CNT] - a[FLAG]);
        result[3] = s * (next[SUM] - a[SUM] - a[FLAG] * value);
        if self.revealed {
            return;
        }
        // On the last counted row only: the final count is at most bound - 1.
        let at_end: E = (m[SELECTOR] - main_frame.next()[SELECTOR]).into();
        let mut gap = E::ZERO;
        let mut power = E::ONE;
        for j in 0..GAP_BITS {
            let g = a[GAP + j];
            result[5 + j] = at_end * g * (g - E::ONE);
            gap += g * power;
            power = power.double();
        }
        result[4] = at_end * (E::from(self.bound) - E::ONE - next[CNT] - gap);
    }

    fn get_aux_assertions<E: FieldElement<BaseField = BaseElement>>(
        &self,
        _aux_rand_elements: &AuxRandElements<E>,
    ) -> Vec<Assertion<E>> {
        let mut out = vec![Assertion::single(CNT, 0, E::ZERO), Assertion::single(SUM, 0, E::ZERO)];
        if self.revealed {
            out.push(Assertion::single(CNT, self.last, E::from(self.count)));
            out.push(Assertion::single(SUM, self.last, E::from(self.sum)));
        }
        out
    }
}

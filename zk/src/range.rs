//! Comparing a committed value with a public bound inside the proof: the gadget that decides
//! `[value ≤ w]` from the value's 32 committed bits, for ranged criteria (a row of a code whose value is
//! within `[min, max]`: a birth month for an age, a measure's value for an observation).
//!
//! With `M` the bit length of `w`'s low 31 bits (so `w`'s bits `M ..= 30` are 0), `value ≤ w` when
//! the value's top bits `M ..= 31` are below `w`'s (`w` has bit 31 set and the value has not), or equal
//! to them (a sum of `[bit ≠ w's bit]`, below 33, is zero) and the low `M` bits are at most `w`'s. The
//! low part is a chain from the least significant bit up: `le_{j+1} = [v mod 2^(j+1) ≤ w mod 2^(j+1)]`
//! is `1 - v_j + v_j·le_j` where `w`'s bit `j` is 1 and `(1 - v_j)·le_j` where it is 0. It starts after
//! `w`'s trailing ones (where it is 1) and its first step is linear in the bits, so a bound costs
//! `M - t - 1` chain columns (`t` trailing ones), an inverse and a flag for the top's is-zero, and the
//! verdict: every constraint has degree at most 2 before the selector. A birth month (`12·year +
//! month`, 15 bits) costs at most 17 columns; a measure's bound (offset by `2^31`) at `2^31 + x` for
//! `x ≥ 0`, about `bits(x) + 2`; a bound below `2^31` (a negative value), up to 33.

use winter_math::fields::f64::BaseElement;
use winter_math::FieldElement;

/// The gadget deciding `[value ≤ w]`, for the public `w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtMost {
    w: u32,
}

impl AtMost {
    /// The gadget for `value ≤ w`.
    pub fn new(w: u32) -> AtMost {
        AtMost { w }
    }

    /// `M`: the bit length of `w`'s low 31 bits (its bits `M ..= 30` are 0).
    fn top(&self) -> usize {
        32 - (self.w & 0x7fff_ffff).leading_zeros() as usize
    }

    /// `t`: the trailing ones of `w`'s low `M` bits (the chain is 1 through them).
    fn start(&self) -> usize {
        (self.w.trailing_ones() as usize).min(self.top())
    }

    fn bit(&self, j: usize) -> bool {
        (self.w >> j) & 1 == 1
    }

    /// Chain columns: `le_{t+2} ..= le_M`.
    fn chain(&self) -> usize {
        self.top().saturating_sub(self.start() + 1)
    }

    /// Columns in all: the chain, the top's inverse and flag, and the verdict (last).
    pub fn width(&self) -> usize {
        self.chain() + 3
    }

    /// The degree (before the selector) of each of its [`AtMost::width`] constraints.
    pub fn degrees(&self) -> Vec<usize> {
        let mut out = vec![2; self.chain() + 2];
        // The verdict `W_31·(1 - v_31) + z·le_M` is linear when the low part is all ones.
        out.push(if self.top() == self.start() { 1 } else { 2 });
        out
    }

    /// `le_M` over the low bits, from the bits `v` and the gadget's columns `cols`.
    fn low<E: FieldElement>(&self, v: &[E], cols: &[E]) -> E {
        let (m, t) = (self.top(), self.start());
        if m == t {
            E::ONE
        } else if m == t + 1 {
            E::ONE - v[t]
        } else {
            cols[self.chain() - 1]
        }
    }

    /// `Σ_{i ≥ M} [v_i ≠ w_i]`: zero exactly when the value's top bits are `w`'s.
    fn top_difference<E: FieldElement>(&self, v: &[E]) -> E {
        (self.top()..32).fold(E::ZERO, |acc, i| acc + if self.bit(i) { E::ONE - v[i] } else { v[i] })
    }

    /// Writes the gadget's constraints (each before the selector) into `out` (`width` of them), for
    /// the bits `v` (least significant first) and the gadget's columns `cols` on the same row.
    pub fn evaluate<E: FieldElement>(&self, v: &[E], cols: &[E], out: &mut [E]) {
        let t = self.start();
        let mut previous = E::ONE - v[t];
        for c in 0..self.chain() {
            let j = t + 1 + c;
            let step = if self.bit(j) { E::ONE - v[j] + v[j] * previous } else { (E::ONE - v[j]) * previous };
            out[c] = cols[c] - step;
            previous = cols[c];
        }
        let c = self.chain();
        let (inv, flag, verdict) = (cols[c], cols[c + 1], cols[c + 2]);
        let difference = self.top_difference(v);
        out[c] = difference * inv + flag - E::ONE;
        out[c + 1] = difference * flag;
        let below = if self.bit(31) { E::ONE - v[31] } else { E::ZERO };
        out[c + 2] = verdict - below - flag * self.low(v, cols);
    }

    /// The gadget's columns for `value` (what an honest prover writes), into `cols`; returns the verdict.
    pub fn fill(&self, value: u32, cols: &mut [BaseElement]) -> bool {
        let v: [BaseElement; 32] = std::array::from_fn(|j| BaseElement::from((value >> j) & 1));
        let t = self.start();
        let mut previous = BaseElement::ONE - v[t];
        for (c, cell) in cols[..self.chain()].iter_mut().enumerate() {
            let j = t + 1 + c;
            let step = if self.bit(j) {
                BaseElement::ONE - v[j] + v[j] * previous
            } else {
                (BaseElement::ONE - v[j]) * previous
            };
            *cell = step;
            previous = step;
        }
        let c = self.chain();
        let difference = self.top_difference(&v);
        cols[c] = difference.inv(); // 0 for 0
        cols[c + 1] = if difference == BaseElement::ZERO { BaseElement::ONE } else { BaseElement::ZERO };
        let below = if self.bit(31) { BaseElement::ONE - v[31] } else { BaseElement::ZERO };
        cols[c + 2] = below + cols[c + 1] * self.low(&v, cols);
        cols[c + 2] == BaseElement::ONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decide(w: u32, value: u32) -> (bool, bool) {
        let g = AtMost::new(w);
        let mut cols = vec![BaseElement::ZERO; g.width()];
        let verdict = g.fill(value, &mut cols);
        let v: Vec<BaseElement> = (0..32).map(|j| BaseElement::from((value >> j) & 1)).collect();
        let mut out = vec![BaseElement::ONE; g.width()];
        g.evaluate(&v, &cols, &mut out);
        (verdict, out.iter().all(|e| *e == BaseElement::ZERO))
    }

    #[test]
    fn edges_of_the_bit_patterns() {
        let ws = [0, 1, 2, 3, 0x7fff_ffff, 0x8000_0000, 0x8000_0001, 0xffff_fffe, u32::MAX, 24_311, 1 << 31 | 7000];
        for w in ws {
            for value in [0, 1, 2, 3, w.wrapping_sub(1), w, w.wrapping_add(1), 1 << 31, u32::MAX, 0x7fff_ffff] {
                let (verdict, holds) = decide(w, value);
                assert_eq!(verdict, value <= w, "{value} ≤ {w}");
                assert!(holds, "constraints of {value} ≤ {w}");
            }
        }
        // A birth month bound costs at most 17 columns; a measure's bound just above 2^31 a few.
        assert!(AtMost::new(2026 * 12).width() <= 17);
        assert_eq!(AtMost::new(1 << 31 | 7000).width(), 12 + 3);
    }

    #[test]
    fn a_wrong_verdict_breaks_the_constraints() {
        for (w, value) in [(100, 101), (100, 99), (1 << 31, 5), (5, 1 << 31), (24_311, 24_311)] {
            let g = AtMost::new(w);
            let mut cols = vec![BaseElement::ZERO; g.width()];
            let verdict = g.fill(value, &mut cols);
            let last = g.width() - 1;
            cols[last] = if verdict { BaseElement::ZERO } else { BaseElement::ONE };
            let v: Vec<BaseElement> = (0..32).map(|j| BaseElement::from((value >> j) & 1)).collect();
            let mut out = vec![BaseElement::ZERO; g.width()];
            g.evaluate(&v, &cols, &mut out);
            assert!(out.iter().any(|e| *e != BaseElement::ZERO), "{value} ≤ {w} flipped");
        }
    }

    proptest! {
        #[test]
        fn agrees_with_integer_comparison(w in any::<u32>(), value in any::<u32>(), near in -3i64..3) {
            let close = u32::try_from(i64::from(w) + near).unwrap_or(value);
            for value in [value, close] {
                let (verdict, holds) = decide(w, value);
                prop_assert_eq!(verdict, value <= w);
                prop_assert!(holds);
            }
        }
    }
}

//! The Rescue-Prime permutation of winterfell's `Rp64_256` hash, laid out as trace rows whose
//! constraints all have degree at most 2 (3 with the selector that switches them on): the gadget by
//! which a proof opens a salted hash of secret field elements inside the AIR. It is the first part of
//! the chunked statement designed in zk/README.md ("Beyond 2^22 rows"), where each chunk's proof shows
//! that the masks it adds to its totals open public hashes shared with its neighbours (`crate::air`,
//! "Chunks").
//!
//! One round of `Rp64_256` maps the state `s` (12 elements) to `MDS·w + ARK2[r]`, where `w` is the
//! seventh root of `t = MDS·s^7 + ARK1[r]` (each power elementwise). Two groups of 12 columns, `X` and
//! `Y`, hold it over six rows, where `X` carries the state and `Y` builds its powers:
//!
//! | row | `X` | `Y` | constraints to the next row (`'`) |
//! |---|---|---|---|
//! | 0 | `s` | `s²` | `Y = X·X`, `X' = X`, `Y' = Y·X` |
//! | 1 | `s` | `s³` | `X' = X`, `Y' = Y·Y` |
//! | 2 | `s` | `s⁶` | `Y'·X' = MDS·(X·Y) + ARK1[r]` (`X'` is `w`, a witness) |
//! | 3 | `w` | `t/w` | `X' = X`, `Y'·Y' = Y` |
//! | 4 | `w` | `w³` | `X' = X`, `Y = Y'·X'`, `Y' = X'·X'` |
//! | 5 | `w` | `w²` | `X' = MDS·X + ARK2[r]` |
//!
//! Row 5 makes `Y₅ = w²`, row 4 `Y₄ = w³` and `Y₃ = w⁶`, and row 2 `w·w⁶ = t`: `w⁷ = t`, and the
//! seventh power is a permutation of the base field (7 does not divide `p - 1`), so `w` is the one root.
//! Not of its quadratic extension (7 divides `p + 1`): the verifier refuses auxiliary openings outside
//! the base field for that (`crate::openings::lift`).
//! The next row starts the next round; after seven rounds, row 42 holds the output in `X`. A
//! permutation takes 43 rows and 24 columns.
//!
//! Each row's equations are switched on by the selector of its kind ([`KINDS`] of them: a column that is
//! 1 on rows of that kind and 0 elsewhere, of degree 1), and the round constants enter through
//! [`constants`]: `ARK1[r]` on a row of kind 2, `ARK2[r]` on one of kind 5, zero elsewhere (periodic
//! columns: they only ever multiply a selector). The kinds share [`CONSTRAINTS`] constraint slots,
//! three per state element, `Σ_kind selector·equation`: at most one selector is 1 on a row.

use winter_crypto::hashers::Rp64_256;
use winter_math::fields::f64::BaseElement;
use winter_math::FieldElement;

/// Elements of the permutation's state.
pub const STATE: usize = 12;
/// Rounds of `Rp64_256`.
pub const ROUNDS: usize = 7;
/// Rows per round.
pub const ROWS_PER_ROUND: usize = 6;
/// Rows of one permutation: six per round and the output's.
pub const ROWS: usize = ROUNDS * ROWS_PER_ROUND + 1;
/// Columns: `X` (0..12) and `Y` (12..24).
pub const COLUMNS: usize = 2 * STATE;
/// Kinds of rows, each with its own selector.
pub const KINDS: usize = ROWS_PER_ROUND;
/// Constraint slots: three per state element.
pub const CONSTRAINTS: usize = 3 * STATE;

/// The kind (`0..KINDS`) and round of row `row` of a permutation; `None` for the output row and beyond.
pub fn kind(row: usize) -> Option<(usize, usize)> {
    (row < ROUNDS * ROWS_PER_ROUND).then_some((row % ROWS_PER_ROUND, row / ROWS_PER_ROUND))
}

/// The round constants on row `row` of a permutation: `ARK1[r]` on kind 2, `ARK2[r]` on kind 5, else 0.
pub fn constants(row: usize) -> [BaseElement; STATE] {
    match kind(row) {
        Some((2, r)) => Rp64_256::ARK1[r],
        Some((5, r)) => Rp64_256::ARK2[r],
        _ => [BaseElement::ZERO; STATE],
    }
}

/// The selectors on row `row` of a permutation: 1 for its kind, 0 for the others.
pub fn selectors(row: usize) -> [BaseElement; KINDS] {
    let mut out = [BaseElement::ZERO; KINDS];
    if let Some((k, _)) = kind(row) {
        out[k] = BaseElement::ONE;
    }
    out
}

fn mds<E: FieldElement<BaseField = BaseElement>>(v: &[E]) -> [E; STATE] {
    std::array::from_fn(|i| Rp64_256::MDS[i].iter().zip(v).fold(E::ZERO, |acc, (m, x)| acc + x.mul_base(*m)))
}

/// The [`ROWS`] rows (each [`COLUMNS`] wide: `X` then `Y`) of the permutation of `input`; the output is
/// `X` on the last row.
pub fn fill(input: [BaseElement; STATE]) -> Vec<[BaseElement; COLUMNS]> {
    let row = |x: [BaseElement; STATE], y: [BaseElement; STATE]| -> [BaseElement; COLUMNS] {
        std::array::from_fn(|c| if c < STATE { x[c] } else { y[c - STATE] })
    };
    let map = |v: [BaseElement; STATE], f: &dyn Fn(usize, BaseElement) -> BaseElement| -> [BaseElement; STATE] {
        std::array::from_fn(|i| f(i, v[i]))
    };
    let mut rows = Vec::with_capacity(ROWS);
    let mut s = input;
    for r in 0..ROUNDS {
        let s2 = map(s, &|_, x| x.square());
        let s3 = map(s2, &|i, x| x * s[i]);
        let s6 = map(s3, &|_, x| x.square());
        let s7: [BaseElement; STATE] = std::array::from_fn(|i| s6[i] * s[i]);
        let mut t = mds(&s7);
        t.iter_mut().zip(Rp64_256::ARK1[r]).for_each(|(t, k)| *t += k);
        // The seventh root: x^(1/7) = x^e with e = 7^-1 mod (p - 1).
        let w = map(t, &|_, x| x.exp(INV_SEVEN));
        let w2 = map(w, &|_, x| x.square());
        let w3 = map(w2, &|i, x| x * w[i]);
        let w6 = map(w3, &|_, x| x.square());
        rows.extend([row(s, s2), row(s, s3), row(s, s6), row(w, w6), row(w, w3), row(w, w2)]);
        let mut next = mds(&w);
        next.iter_mut().zip(Rp64_256::ARK2[r]).for_each(|(s, k)| *s += k);
        s = next;
    }
    rows.push(row(s, map(s, &|_, x| x.square())));
    rows
}

/// `7^-1 mod (p - 1)`: the exponent of the inverse S-box (`Rp64_256`'s `apply_inv_sbox` computes the
/// same power by an addition chain).
const INV_SEVEN: u64 = 10_540_996_611_094_048_183;

/// Writes the [`CONSTRAINTS`] constraints (degree ≤ 3: a selector times an equation of degree ≤ 2) of
/// the rows `current` and `next` (each [`COLUMNS`] wide) into `out`, for the row's `selectors`
/// ([`KINDS`]) and round `constants` ([`STATE`]); all zero on an honest permutation's rows.
pub fn evaluate<E: FieldElement<BaseField = BaseElement>>(
    current: &[E],
    next: &[E],
    selectors: &[E],
    constants: &[E],
    out: &mut [E],
) {
    let (x, y) = current.split_at(STATE);
    let (xn, yn) = next.split_at(STATE);
    let products: [E; STATE] = std::array::from_fn(|i| x[i] * y[i]);
    let t = mds(&products);
    let u = mds(x);
    let s = selectors;
    for i in 0..STATE {
        let carry = xn[i] - x[i];
        out[i] = s[0] * (y[i] - x[i] * x[i])
            + (s[1] + s[3] + s[4]) * carry
            + s[2] * (yn[i] * xn[i] - t[i] - constants[i])
            + s[5] * (xn[i] - u[i] - constants[i]);
        out[STATE + i] =
            s[0] * carry + s[1] * (yn[i] - y[i] * y[i]) + s[3] * (yn[i] * yn[i] - y[i]) + s[4] * (y[i] - yn[i] * xn[i]);
        out[2 * STATE + i] = s[0] * (yn[i] - y[i] * x[i]) + s[4] * (yn[i] - xn[i] * xn[i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use winter_crypto::ElementHasher;

    fn state(seed: u64) -> [BaseElement; STATE] {
        std::array::from_fn(|i| {
            BaseElement::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(i as u32 * 5) ^ i as u64)
        })
    }

    /// Every row pair's constraints over `rows`, and whether any is nonzero.
    fn broken(rows: &[[BaseElement; COLUMNS]]) -> Vec<(usize, usize)> {
        let mut out = vec![BaseElement::ZERO; CONSTRAINTS];
        let mut bad = Vec::new();
        for r in 0..rows.len() - 1 {
            let k: Vec<BaseElement> = constants(r).to_vec();
            evaluate(&rows[r], &rows[r + 1], &selectors(r), &k, &mut out);
            bad.extend(out.iter().enumerate().filter(|(_, e)| **e != BaseElement::ZERO).map(|(c, _)| (r, c)));
        }
        bad
    }

    #[test]
    fn the_rows_end_in_winterfells_permutation_and_meet_every_constraint() {
        for seed in [0, 1, 7, u64::MAX] {
            let input = state(seed);
            let rows = fill(input);
            assert_eq!(rows.len(), ROWS);
            let mut expected = input;
            Rp64_256::apply_permutation(&mut expected);
            assert_eq!(rows[ROWS - 1][..STATE], expected[..], "seed {seed}");
            assert!(broken(&rows).is_empty(), "seed {seed}");
        }
        // The all-zero state too (its S-box outputs are 0 until the constants come in).
        assert!(broken(&fill([BaseElement::ZERO; STATE])).is_empty());
    }

    #[test]
    fn the_inverse_exponent_undoes_the_seventh_power() {
        for seed in 1..20u64 {
            let x = BaseElement::new(seed * 0x1234_5678_9abc);
            assert_eq!(x.exp7().exp(INV_SEVEN), x);
        }
    }

    #[test]
    fn a_salted_hash_is_one_permutation_of_its_eight_elements() {
        // The layout a chunk's proof opens: eight elements (masks and salt) in the rate, their count in
        // the capacity, one permutation; the digest is the first four of the rate.
        let elements: [BaseElement; 8] = std::array::from_fn(|i| BaseElement::new(1000 + i as u64));
        let mut input = [BaseElement::ZERO; STATE];
        input[Rp64_256::CAPACITY_RANGE.start] = BaseElement::new(8);
        input[Rp64_256::RATE_RANGE].copy_from_slice(&elements);
        let rows = fill(input);
        let digest = Rp64_256::hash_elements(&elements);
        let expected: Vec<BaseElement> = digest.as_elements().to_vec();
        assert_eq!(rows[ROWS - 1][Rp64_256::DIGEST_RANGE], expected[..]);
    }

    proptest! {
        /// Any cell changed (but the output row's `Y`, which no constraint reads) breaks a constraint.
        #[test]
        fn a_changed_cell_breaks_a_constraint(seed in any::<u64>(), row in 0..ROWS, column in 0..COLUMNS, delta in 1..u64::MAX) {
            prop_assume!(!(row == ROWS - 1 && column >= STATE));
            let mut rows = fill(state(seed));
            rows[row][column] += BaseElement::new(delta);
            prop_assert!(!broken(&rows).is_empty());
        }

        /// A different `w` on any round (the witness row 2 does not pin by itself) breaks a constraint.
        #[test]
        fn another_root_breaks_the_round(seed in any::<u64>(), round in 0..ROUNDS, factor in 2..u64::MAX) {
            let mut rows = fill(state(seed));
            let r = round * ROWS_PER_ROUND + 3;
            for row in &mut rows[r..r + 3] {
                row[..STATE].iter_mut().for_each(|x| *x *= BaseElement::new(factor));
            }
            prop_assert!(!broken(&rows).is_empty());
        }
    }
}

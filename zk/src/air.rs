//! The statement: over the committed patient blocks, `count` blocks satisfy the criteria (each: the
//! block holds a row of code `c`, or with a range one whose value is within it, or holds none; in clauses, every clause needing one criterion met); or, with a measure, the blocks satisfying
//! it hold `count` rows of the measure's code whose values sum to `sum` (and, with squares, whose
//! squares sum to `sum_sq`; with a range on the measure, `count` of its rows within it, no sum).
//!
//! Main segment (the committed data, [`crate::format`]): every value's 32 bits are boolean and
//! recompose the value, `first` is boolean, and the selector is pinned. Auxiliary segment (built per
//! query, after the data are committed), with `K` criteria and `'` the next row:
//!
//! | columns | constraint on rows `0 ..= n-k-2` (each multiplied by the selector) |
//! |---|---|
//! | `inv_k`, `eq_k` | `(code - c_k)·inv_k + eq_k - 1 = 0`, `(code - c_k)·eq_k = 0`: `eq_k = [code = c_k]` |
//! | `c_k` | `c_k' = (1 - first')·c_k + eq_k'` and `c_k·(c_k - 1) = 0`: the block so far holds `c_k` (a ranged criterion: `t_k' = (1 - first')·c_k` and `c_k' = t_k' + mt_k' - t_k'·mt_k'`, the or of its matches) |
//! | `p_1 .. p_{K-1}` | `p_j = p_{j-1}·l_j` (criterion j starts a clause) or `p_j = p_{j-1} + (b_j - p_{j-1})·l_j` (it joins the previous one's clause, `b_j` the `p` before that clause began, or 1), with `p_0 = l_0`, `l_k = c_k` or `1 - c_k` (a negated criterion) |
//! | `cnt` | `cnt' = cnt + first'·p`: a block is counted on its last row, if it meets the criteria |
//! | (measure) `inv_m`, `eq_m` | as for a criterion, with the measure's code `m` |
//! | (measure) `w`, `n`, `sum` | `w = eq_m·v` (with a range on the measure, `w = mm·v`), `n' = n + w`, `sum' = sum + w·value` |
//! | (measure) `v` | `(1 - first')·(v' - v) = 0` and `first'·(v - p) = 0`: the block's verdict on every row of it |
//! | (squares) `u_lo`, `u_hi` | `u_lo = w·lo`, `u_hi = w·hi`, for the value's 16-bit halves `lo`, `hi` (from its bits) |
//! | (squares) `s_ll`, `s_lh`, `s_hh` | `s_ll' = s_ll + u_lo·lo`, `s_lh' = s_lh + u_lo·hi`, `s_hh' = s_hh + u_hi·hi` |
//! | (squares) `bit` | `bit'·(bit' - 1) = 0` |
//! | (squares) `a_ylo`, `a_yhi`, `a_c` | `a' = (1 - start')·a + bit'·weight'` (periodic, every 128 rows) |
//! | (squares) links | on row n-k-2 only: `s_lh' = a_ylo' + 2^15·a_yhi'`, `s_ll' + 2^17·a_ylo' = L + 2^32·a_c'`, `a_c' + a_yhi' + s_hh' = H` |
//! | (per range: a ranged criterion's, then the measure's) `t_k` (criteria only), `mt`, `r`, bounds | `mt = eq·r` (`mm` for the measure), `r = (1 - le_lo)·le_hi` with two bounds (else the one bound's, or 1), and each bound's [`AtMost`] columns and constraints (`crate::range`) |
//! | `gap_0..5` (suppressed) | on row n-k-2 only: boolean, and `T - 1 - q' = Σ gap_j·2^j` |
//!
//! `p` is the running verdict of the criteria (`p_{K-1}`, or `l_0` for one criterion): on a block's
//! last row (the next row starts a block) it is the block's verdict. `v` holds that verdict on every
//! row of the block, so a measure row counts by its block's verdict wherever it sits in the block,
//! before or after the criteria's rows (a block may hold many values of a measure: each patient's
//! latest, or every value, and a criterion may test the measure's own code). `q` is `cnt`, or `n` with
//! a measure. A disclosed answer
//! asserts `q` (and `sum`, unless the measure has a range) at row n-k-1; a suppressed one proves `q ≤ T - 1` for the node's threshold
//! `T ≤ 64` and discloses neither. Row 0 is padding (asserted), so `c_k[0] = 0` is asserted too.
//!
//! A sum of squares `Σ v²` (up to `2^86`) does not fit the field. With `v = lo + 2^16·hi` it is
//! `X + 2^17·Y + 2^32·Z` for the three limb sums (each below `2^54`), and the statement discloses only its
//! low word `L` and the rest `H`, which the verifier computes from the claimed integer (bounded below
//! `2^86` first): the split is canonical, so it discloses nothing beyond `Σ v²`. The
//! witnesses `y_lo < 2^15`, `y_hi < 2^39` and the carry `c < 2^23` are range-checked by their bits, laid
//! out in the last window of 128 counted rows (periodic columns give each bit's weight; `n - k` is a
//! multiple of 128). Every quantity in the three links is then below `2^56`, so each link holds over the
//! integers, and `Σ v² = L + 2^32·H` exactly.
//!
//! **Chunks.** A dataset too large for one trace is committed as several snapshots (chunks) of whole
//! blocks, and an answer is one proof per chunk (`crate::prove::prove_chunked`). No chunk's own count or
//! sum is disclosed: between chunks `i` and `i + 1` the prover draws a boundary of [`MASKS`] uniform
//! masks and a salt of four field elements, and publishes its digest (`Rp64_256` of the eight, one
//! permutation); chunk `i` claims `o = q + m_next - m_prev` for each output (`q` its count, and its sum)
//! with the digests of both its boundaries as public inputs ([`ChunkLink`]; none before the first chunk
//! and after the last: [`ChunkLink::end`], the digest of zeros). The verifier checks that consecutive
//! parts name the same digest and adds the `o`s: the masks telescope. Its columns (after the gap bits):
//!
//! | columns | constraints |
//! |---|---|
//! | `win` | boolean, constant over each aligned block of 128 rows, `win·s = 0` on a block's last row and `win·(1 - s) = 0` on its first, 1 on row `n-k-1` (asserted): 1 on exactly the window, the block of rows `n-k-128 ..= n-k-1` where the selector `s` falls |
//! | `kind_0..4` | `kind_j = win·per_j` (`per_j` periodic, period 64: the rows of a permutation's kind `j`, `crate::rescue`) |
//! | `X`, `Y` (24) | the permutation of `crate::rescue` (36 constraints, each a kind's selector, or `win·per_5`, times an equation of degree ≤ 2), in each half of the window: the boundary before the chunk from the window's first row, the one after from its 65th; each permutation's capacity is `[8, 0, 0, 0]` on its first row and its digest the link's on its last (`win` times a periodic marker of those rows: constraints, not assertions, since each assertion's row is one more divisor winterfell evaluates over the whole domain, 128 MB at 2^22 rows) |
//! | `R_t` per output | `R = -X_m` on the window's first row (`X_m` the output's mask in the rate), `R' = R` but into the second half, where `R' = R + X'_m`, and `q + R = o` on the window's last row |
//!
//! The statement's own columns and constraints are unchanged (the window's rows are ordinary rows:
//! padding or data); its assertion of the count (and sum) at row `n-k-1` is replaced by `q + R = o`
//! there. Sound: the masks a proof adds and takes away are the preimages of the public digests (the
//! hash's collision resistance binds them), so the same mask is added by one chunk and taken away by the
//! next and `Σ o = Σ q`. Zero-knowledge: any `k - 1` of the `k` outputs `o` are uniform and
//! independent (the `k - 1` fresh masks enter them through an invertible map), the last is fixed by the
//! total, the digests hide their salted masks, and the new columns are masked by the random rows like
//! every other (`win` and the kinds, public, excepted).
//!
//! A suppressed cell over chunks keeps the total hidden: the last boundary is a real one (its masks
//! uniform), so the parts' masked counts add up to the total plus its count mask `m`, and the last part
//! (suppressed, with that sum `S` as a public input, [`ChunkLink::total`]) proves `T - 1 - (S - m)` is
//! its six gap bits: the equation on the window's 64th row (reading `m` in the next row's rate and the
//! bits on that row), the bits boolean on every row of a permutation's first kind (`kind_0`, a column of
//! degree 1: the window's flag times a periodic column would make the constraint of degree 4).
//!
//! A sum of squares over chunks: the parts' canonical splits added would disclose more than the total
//! (the carry out of their low words depends on how the rows fall into chunks), so each part masks its
//! own split `Q_i = ℓ_i + 2^32·η_i` as two more outputs ([`ChunkLink::squares`]): its low word `ℓ_i`
//! is range-checked by [`LOW_BITS`] more bits in its squares window (accumulated in `a_l`, which the
//! low word's link now equals instead of the public `L`), and its rest is `η_i = a_c + a_yhi + s_hh`
//! (below `2^55`, by the witnesses' ranges). Every part states the whole claim's `(L, H)`. The last
//! part's next boundary is a real one whose count and sum masks are zero (constrained on its second
//! permutation's input) and whose masks `m_l`, `m_e` hide the low words and rests added: it states
//! their masked sums `S_l`, `S_e` ([`ChunkLink::squares_total`], which the verifier checks against the
//! parts' outputs added) and proves, on the first half's last row (reading the masks in the next row's
//! rate), `S_l - m_l = L + 2^32·c` and `H = S_e - m_e + c`, with the carry `c` range-checked by
//! [`LOWS_CARRY_BITS`] bits on the window's first rows (its accumulator, one more column). Both sides
//! of the first equation are integers below `2^41` (at most [`crate::verify::MAX_CHUNKS`] low words below
//! `2^32`), so it holds over the integers, and then `Σ Q_i = L + 2^32·H` exactly; without the carry's
//! range check, a claim moved by the modulus would meet both equations.
//!
//! The predicate is computed from the committed codes inside the proof; nothing query-dependent is
//! committed with the data. `count ≤ 2^22` and `value < 2^32` keep `sum < 2^54`, below the field's
//! modulus: sums are exact.

use crate::format::{
    random_rows, CARRY_BITS, CHUNK_WINDOW, FIRST, GAP_BITS, LOWS_CARRY_BITS, LOW_BITS, MAIN_WIDTH, MAX_CRITERIA,
    PAD_CODE, SELECTOR, SQUARES_WINDOW, VALUE_BITS, Y_HI_BITS, Y_LO_BITS, ZK_QUOTIENT_SLACK,
};
use crate::range::AtMost;
use crate::rescue;
use winter_air::{
    Air, AirContext, Assertion, AuxRandElements, EvaluationFrame, ProofOptions, TraceInfo, TransitionConstraintDegree,
};
use winter_crypto::hashers::Rp64_256;
use winter_math::fields::f64::BaseElement;
use winter_math::{ExtensionOf, FieldElement, ToElements};

/// One criterion of a cohort: the patient's block holds a row of `code` (or, `negated`, holds none).
///
/// A statement's criteria form *clauses*: a criterion with `or_previous` joins the clause of the one
/// before it, any other starts a clause. A block meets the cohort when it meets at least one
/// criterion of every clause (a conjunction of disjunctions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    /// The row code.
    pub code: u64,
    /// Whether the block must hold no such row.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub negated: bool,
    /// Whether it joins the previous criterion's clause (or), instead of starting a clause (and).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub or_previous: bool,
    /// With `min` or `max`, a *ranged* criterion: only rows of `code` whose value is at least `min`
    /// (inclusive) count, and a block may hold many rows of `code` (it meets the criterion when one of
    /// them is within the range).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    /// The highest value counted (inclusive), for a ranged criterion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

impl Criterion {
    /// The block holds a row of `code`.
    pub fn has(code: u64) -> Criterion {
        Criterion { code, negated: false, or_previous: false, min: None, max: None }
    }

    /// The block holds no row of `code`.
    pub fn lacks(code: u64) -> Criterion {
        Criterion { code, negated: true, or_previous: false, min: None, max: None }
    }

    /// The same criterion, counting only rows whose value is within `[min, max]` (inclusive; `None`
    /// for no bound on that side).
    pub fn within(self, min: Option<u32>, max: Option<u32>) -> Criterion {
        Criterion { min, max, ..self }
    }

    /// The value range, for a ranged criterion.
    pub fn range(&self) -> Option<Range> {
        (self.min.is_some() || self.max.is_some()).then_some(Range { min: self.min, max: self.max })
    }

    /// Whether a row of this criterion's code with `value` counts for it.
    pub fn admits(&self, value: u32) -> bool {
        self.range().is_none_or(|r| r.admits(value))
    }

    /// The same criterion, joining the previous criterion's clause.
    pub fn or_previous(self) -> Criterion {
        Criterion { or_previous: true, ..self }
    }

    /// The same criterion, negated.
    pub fn negated(self) -> Criterion {
        Criterion { negated: !self.negated, ..self }
    }
}

/// The value range of a ranged criterion or of the measure, and the columns that decide it inside the
/// proof: a bound
/// `value ≥ min` is the negation of [`AtMost`]`(min - 1)` (none for `min = 0`), `value ≤ max` is
/// `AtMost(max)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// The lowest value (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    /// The highest value (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

impl Range {
    /// Whether `value` is within the range.
    pub fn admits(&self, value: u32) -> bool {
        self.min.is_none_or(|m| value >= m) && self.max.is_none_or(|m| value <= m)
    }

    /// The gadget of the lower bound (`value ≤ min - 1`, negated), when it can fail.
    pub fn lower(&self) -> Option<AtMost> {
        self.min.filter(|m| *m > 0).map(|m| AtMost::new(m - 1))
    }

    /// The gadget of the upper bound.
    pub fn upper(&self) -> Option<AtMost> {
        self.max.map(AtMost::new)
    }

    /// Whether both bounds have a gadget (their verdicts then multiply into a column).
    pub fn both(&self) -> bool {
        self.lower().is_some() && self.upper().is_some()
    }

    /// Auxiliary columns: the match `mt`, the range verdict `r` (both bounds), then the bounds' (a
    /// criterion's flag before the row, `t`, comes first and is not counted here).
    pub fn width(&self) -> usize {
        1 + usize::from(self.both()) + self.lower().map_or(0, |g| g.width()) + self.upper().map_or(0, |g| g.width())
    }
}

/// Whether a block meets `criteria` (clauses as [`Criterion`] says), given which of them it meets
/// one by one (by index).
pub fn meets(criteria: &[Criterion], holds: impl Fn(usize) -> bool) -> bool {
    let mut all = true;
    let mut clause = false;
    for (i, c) in criteria.iter().enumerate() {
        if i > 0 && !c.or_previous {
            all &= clause;
            clause = false;
        }
        clause |= holds(i) != c.negated;
    }
    all && clause
}

/// Checks what a statement's criteria must be: 1 to [`MAX_CRITERIA`], the first starting a clause, and
/// some clause of criteria that are all not negated (a block meets it only by rows it holds: padding,
/// which holds none, never counts).
pub fn check_criteria(criteria: &[Criterion]) -> Result<(), String> {
    if criteria.is_empty() || criteria.len() > MAX_CRITERIA {
        return Err(format!("{} criteria (1 to {MAX_CRITERIA})", criteria.len()));
    }
    if criteria[0].or_previous {
        return Err("the first criterion joins no previous clause".into());
    }
    let mut positive = false;
    let mut clause_positive = true;
    for (i, c) in criteria.iter().enumerate() {
        if i > 0 && !c.or_previous {
            positive |= clause_positive;
            clause_positive = true;
        }
        clause_positive &= !c.negated;
    }
    if positive || clause_positive {
        Ok(())
    } else {
        Err("every clause has a negated criterion: a cohort needs a clause met only by rows a patient holds".into())
    }
}

/// Checks that a statement's auxiliary segment is at most `most` columns: the prover's
/// [`crate::format::MAX_AUX_WIDTH`], or the verifier's [`crate::format::READABLE_AUX_WIDTH`].
pub fn check_width(layout: AuxLayout, most: usize) -> Result<(), String> {
    let width = layout.width();
    if width > most {
        return Err(format!(
            "the statement needs {width} auxiliary columns, at most {most} (fewer or narrower value ranges)"
        ));
    }
    Ok(())
}

/// Checks that every proof of a cell's statement, disclosed or suppressed, fits the prover's
/// [`crate::format::MAX_AUX_WIDTH`] (a suppressed cell proves no sum of squares and has the gap's
/// columns): a node refuses a whole answer any cell of which does not, before proving any, and a hub
/// can tell so from the plan without waiting for the node.
pub fn check_cell_width(
    criteria: &[Criterion],
    measure: bool,
    squares: bool,
    measure_range: Option<Range>,
) -> Result<(), String> {
    for suppressed in [false, true] {
        let layout =
            AuxLayout::new(criteria, measure, squares && !suppressed, suppressed).with_measure_range(measure_range);
        check_width(layout, crate::format::MAX_AUX_WIDTH)?;
    }
    Ok(())
}

/// Where each auxiliary column sits, for `criteria` criteria, with or without a measure, disclosed or
/// suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuxLayout {
    /// Criteria (`K ≥ 1`).
    pub criteria: usize,
    /// Whether a measure is summed.
    pub measure: bool,
    /// Whether the measure's sum of squares is proven too (with a measure, disclosed only).
    pub squares: bool,
    /// Whether the answer is suppressed (gap bits).
    pub suppressed: bool,
    /// Each criterion's value range, for ranged criteria, then ([`MAX_CRITERIA`]) the measure's: only
    /// its rows within it are counted, and their sum is not disclosed (a histogram bin of every value).
    pub ranges: [Option<Range>; MAX_CRITERIA + 1],
    /// Whether the statement is one chunk's of a dataset committed in chunks: its outputs are masked,
    /// and the masks open the hashes it shares with its neighbours ("Chunks" below).
    pub chunked: bool,
    /// Whether the statement is the last part of a sum of squares over chunks, which recombines the
    /// parts' masked low words and rests into the claim's (a column more: the carry's accumulator).
    pub recombined: bool,
}

impl AuxLayout {
    /// The layout of a statement over `criteria` (at most [`MAX_CRITERIA`]).
    pub fn new(criteria: &[Criterion], measure: bool, squares: bool, suppressed: bool) -> AuxLayout {
        let mut ranges = [None; MAX_CRITERIA + 1];
        for (r, c) in ranges.iter_mut().zip(criteria) {
            *r = c.range();
        }
        AuxLayout { criteria: criteria.len(), measure, squares, suppressed, ranges, chunked: false, recombined: false }
    }

    /// The same layout with the measure's rows counted only within `range` (with a measure).
    pub fn with_measure_range(mut self, range: Option<Range>) -> AuxLayout {
        self.ranges[MAX_CRITERIA] = range;
        self
    }

    /// The same layout, as one chunk's (or not).
    pub fn with_chunk(mut self, chunked: bool) -> AuxLayout {
        self.chunked = chunked;
        self
    }

    /// The same layout, as the last part of a sum of squares over chunks (or not; with squares and a
    /// chunk only).
    pub fn with_recombined(mut self, recombined: bool) -> AuxLayout {
        self.recombined = recombined && self.squares && self.chunked;
        self
    }

    /// The measure's range, when only its rows within it are counted.
    pub fn measure_range(&self) -> Option<Range> {
        self.ranges[MAX_CRITERIA]
    }

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
    /// `inv_m`, `eq_m`, `w`, `n`, `sum`, `v` (with a measure).
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
    /// `u_lo`, `u_hi`, `s_ll`, `s_lh`, `s_hh`, `bit`, `a_ylo`, `a_yhi`, `a_c` (with squares).
    pub fn squares_columns(&self) -> [usize; 9] {
        let b = self.after_products() + 6;
        std::array::from_fn(|i| b + i)
    }
    /// A chunk's low word `ℓ` of its own sum of squares, its bits' accumulator (with squares, chunked).
    pub fn low_word(&self) -> usize {
        self.after_products() + 6 + 9
    }
    /// The accumulators of the squares window's bits: `a_ylo`, `a_yhi`, `a_c`, then a chunk's `a_l` and
    /// the last part's carry of the low words added ([`AuxLayout::lows_carry`]), in the order of
    /// [`squares_segments`].
    pub fn accumulators(&self) -> Vec<usize> {
        let [.., a_ylo, a_yhi, a_c] = self.squares_columns();
        let mut out = vec![a_ylo, a_yhi, a_c];
        if self.chunked {
            out.push(self.low_word());
        }
        if self.recombined {
            out.push(self.lows_carry());
        }
        out
    }
    fn after_squares(&self) -> usize {
        self.after_products()
            + if self.measure { 6 } else { 1 }
            + if self.squares { 9 + usize::from(self.chunked) } else { 0 }
    }
    /// Columns of range slot `k` (a criterion's: `t` and [`Range::width`]; the measure's, `k =
    /// MAX_CRITERIA`: no `t`).
    fn slot_width(&self, k: usize) -> usize {
        self.ranges[k].map_or(0, |r| r.width() + usize::from(k < MAX_CRITERIA))
    }
    /// The first of range slot `k`'s columns (a criterion's `t`, or the measure's match).
    pub fn range_columns(&self, k: usize) -> usize {
        self.after_squares() + (0..k).map(|j| self.slot_width(j)).sum::<usize>()
    }
    /// The match column of range slot `k` (`mt = eq·r`), then `r` (with two bounds), then the bounds'.
    pub fn match_column(&self, k: usize) -> usize {
        self.range_columns(k) + usize::from(k < MAX_CRITERIA)
    }
    /// The first gap bit (suppressed).
    pub fn gap(&self) -> usize {
        self.range_columns(MAX_CRITERIA + 1)
    }
    /// The first column of a chunk's (after the gap bits): the window's flag `win`.
    pub fn window(&self) -> usize {
        self.gap() + if self.suppressed { GAP_BITS } else { 0 }
    }
    /// The selector of the hash's rows of kind `j < 5` (`win` times a periodic column; the sixth kind's
    /// equation is linear, so it takes that product itself).
    pub fn kind(&self, j: usize) -> usize {
        self.window() + 1 + j
    }
    /// The first of the hash's 24 columns (`X`, then `Y`: `crate::rescue`).
    pub fn hash(&self) -> usize {
        self.window() + 6
    }
    /// Outputs a chunk masks: the count (`cnt` or `n`), with a measure summed and disclosed the sum, and
    /// with squares the low word `ℓ` and the rest `η` of the chunk's own sum of squares.
    pub fn totals(&self) -> usize {
        1 + usize::from(self.measure && self.measure_range().is_none() && !self.suppressed)
            + 2 * usize::from(self.squares)
    }
    /// The column of output `t < 3` ([`AuxLayout::totals`]; the rest `η` is a sum of three columns).
    pub fn total(&self, t: usize) -> usize {
        match t {
            0 => self.counted(),
            1 => self.measure_columns()[4],
            _ => self.low_word(),
        }
    }
    /// The column carrying output `t`'s masks through the window.
    pub fn carry(&self, t: usize) -> usize {
        self.hash() + rescue::COLUMNS + t
    }
    /// The last part's accumulator of the carry out of the parts' low words added (recombined).
    pub fn lows_carry(&self) -> usize {
        self.carry(self.totals())
    }
    /// Columns in all.
    pub fn width(&self) -> usize {
        self.window()
            + if self.chunked { 6 + rescue::COLUMNS + self.totals() + usize::from(self.recombined) } else { 0 }
    }
}

/// A chunk's links to its neighbours: the digests (`Rp64_256`, four field elements each) of the masks it
/// shares with the chunk before it and with the chunk after it. The first chunk's `prev` is
/// [`ChunkLink::end`], the digest of zero masks with a zero salt, and so is the last's `next` unless that
/// boundary hides a suppressed total or the carry of a sum of squares' low words added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkLink {
    /// The digest of the masks shared with the previous chunk.
    pub prev: [u64; 4],
    /// The digest of the masks shared with the next chunk.
    pub next: [u64; 4],
    /// On the last part of a suppressed answer: the sum of every part's masked count (a field element),
    /// which its proof shows to be the hidden count plus its next mask, and that count below the
    /// threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// With a sum of squares: this part's masked low word and rest of its own sum of squares (field
    /// elements, `ℓ + m_next - m_prev` and `η + m_next - m_prev` for `Σ v² = ℓ + 2^32·η`, `ℓ < 2^32`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub squares: Option<[u64; 2]>,
    /// On the last part of an answer with a sum of squares: every part's masked low words added, and
    /// their masked rests added, which its proof recombines, with its next boundary's masks, into the
    /// claim's sum of squares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub squares_total: Option<[u64; 2]>,
}

impl ChunkLink {
    /// The digest of a boundary without masks (before the first chunk, after the last).
    pub fn end() -> [u64; 4] {
        digest_of(&[BaseElement::ZERO; BOUNDARY])
    }
}

/// The field's modulus: a digest element or a masked output is canonical below it.
pub fn digest_modulus() -> u64 {
    use winter_math::StarkField;
    BaseElement::MODULUS
}

/// Field elements a chunk boundary hashes: [`MASKS`] masks, then a salt of four.
pub const BOUNDARY: usize = 8;
/// Masks per boundary (one per output; the unused ones are zero).
pub const MASKS: usize = 4;

/// The digest of a boundary's masks and salt, as the proof computes it: `Rp64_256::hash_elements`, one
/// permutation with the number of elements in the capacity.
pub fn digest_of(boundary: &[BaseElement; BOUNDARY]) -> [u64; 4] {
    use winter_crypto::ElementHasher;
    let digest = Rp64_256::hash_elements(boundary);
    let elements = digest.as_elements();
    std::array::from_fn(|i| elements[i].as_int())
}

/// The state a boundary's permutation starts from: the count of elements in the capacity, then the
/// masks and the salt in the rate.
pub fn boundary_state(boundary: &[BaseElement; BOUNDARY]) -> [BaseElement; rescue::STATE] {
    let mut state = [BaseElement::ZERO; rescue::STATE];
    state[Rp64_256::CAPACITY_RANGE.start] = BaseElement::new(BOUNDARY as u64);
    state[Rp64_256::RATE_RANGE].copy_from_slice(boundary);
    state
}

/// The public inputs: what the answer claims, and what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicInputs {
    /// The dataset commitment's root.
    pub commitment: [u8; 32],
    /// A digest of the query (binds the proof to one query).
    pub query: [u8; 32],
    /// The cohort's criteria ([`check_criteria`]: 1 to [`MAX_CRITERIA`], in clauses, one clause without negations).
    pub criteria: Vec<Criterion>,
    /// The measure's row code, when values are summed.
    pub measure: Option<u64>,
    /// Blocks counted, or measure rows with one (0 when suppressed).
    pub count: u64,
    /// Sum of the measure rows' values (0 without a measure, with a range on it, or when suppressed).
    pub sum: u64,
    /// Sum of the squares of the measure rows' values, when proven.
    pub sum_sq: Option<u128>,
    /// With a measure: only its rows within this range are counted, and their sum is not stated (0).
    pub measure_range: Option<Range>,
    /// 0 for a disclosed count and sum; else the threshold the hidden count is below.
    pub suppressed_below: u32,
    /// For one chunk of a dataset committed in chunks: its links (its `count` and `sum` are then masked).
    pub chunk: Option<ChunkLink>,
}

impl PublicInputs {
    /// Inputs of `layout` with zero codes and outputs: for what depends on the proof's shape only.
    pub fn of_layout(layout: AuxLayout) -> PublicInputs {
        PublicInputs {
            commitment: [0; 32],
            query: [0; 32],
            criteria: (0..layout.criteria)
                .map(|k| {
                    let range = layout.ranges[k];
                    Criterion::has(0).within(range.and_then(|r| r.min), range.and_then(|r| r.max))
                })
                .collect(),
            measure: layout.measure.then_some(0),
            count: 0,
            sum: 0,
            sum_sq: layout.squares.then_some(0),
            measure_range: layout.measure_range(),
            suppressed_below: u32::from(layout.suppressed),
            chunk: layout.chunked.then(|| ChunkLink {
                squares: layout.squares.then_some([0; 2]),
                squares_total: layout.recombined.then_some([0; 2]),
                ..ChunkLink::default()
            }),
        }
    }

    /// The auxiliary layout these inputs imply.
    pub fn layout(&self) -> AuxLayout {
        AuxLayout::new(&self.criteria, self.measure.is_some(), self.sum_sq.is_some(), self.suppressed_below != 0)
            .with_measure_range(self.measure_range)
            .with_chunk(self.chunk.is_some())
            .with_recombined(self.chunk.is_some_and(|c| c.squares_total.is_some()))
    }
}

/// A sum of squares as the AIR states it: its low 32 bits and the rest (`sum_sq = low + 2^32·high`). The
/// verifier bounds `sum_sq` by `count·(2^32 - 1)^2` first ([`crate::Claim`]): below `2^86` for one
/// snapshot, so `high` is below `2^54`, and below `2^94` over chunks, `high` below `2^62`.
pub fn split_squares(sum_sq: u128) -> (BaseElement, BaseElement) {
    let high = u64::try_from(sum_sq >> 32).unwrap_or(u64::MAX);
    (BaseElement::new((sum_sq & 0xffff_ffff) as u64), BaseElement::new(high))
}

/// Where the window of range-checked bits sits in each period of [`SQUARES_WINDOW`] rows: the low
/// [`Y_LO_BITS`] bits of the cross sum `Σ lo·hi`, its high [`Y_HI_BITS`] bits, then the
/// [`CARRY_BITS`] bits of the carry out of the low word.
const SQUARE_SEGMENTS: [(usize, usize); 3] =
    [(0, Y_LO_BITS), (Y_LO_BITS, Y_HI_BITS), (Y_LO_BITS + Y_HI_BITS, CARRY_BITS)];

/// A chunk's segments: the same three after [`LOWS_CARRY_BITS`] rows, then its low word `ℓ`
/// ([`LOW_BITS`]), then (the last part only) the carry out of the parts' low words added, on the
/// window's first rows: the last part's equation reads its accumulator on the first half's last row.
const CHUNK_SQUARE_SEGMENTS: [(usize, usize); 5] = [
    (LOWS_CARRY_BITS, Y_LO_BITS),
    (LOWS_CARRY_BITS + Y_LO_BITS, Y_HI_BITS),
    (LOWS_CARRY_BITS + Y_LO_BITS + Y_HI_BITS, CARRY_BITS),
    (LOWS_CARRY_BITS + Y_LO_BITS + Y_HI_BITS + CARRY_BITS, LOW_BITS),
    (0, LOWS_CARRY_BITS),
];

/// Where each witness's bits sit in a window of `layout`'s (`(first position, bits)`), in the order of
/// [`AuxLayout::accumulators`].
pub fn squares_segments(layout: &AuxLayout) -> &'static [(usize, usize)] {
    if layout.chunked {
        &CHUNK_SQUARE_SEGMENTS[..4 + usize::from(layout.recombined)]
    } else {
        &SQUARE_SEGMENTS
    }
}

/// The periodic columns of a statement with squares, each read on the row before the one it describes
/// (a transition constraint reads the periodic value of its current row): whether the next row starts
/// a window, and for each segment the weight of the next row's bit in it (`2^j` for its `j`-th bit, 0
/// outside it).
fn squares_periodic_columns(segments: &[(usize, usize)]) -> Vec<Vec<BaseElement>> {
    let next = |pos: usize| (pos + 1) % SQUARES_WINDOW;
    let mut out = vec![(0..SQUARES_WINDOW).map(|p| BaseElement::from(u32::from(next(p) == 0))).collect::<Vec<_>>()];
    for segment in segments {
        out.push((0..SQUARES_WINDOW).map(|p| BaseElement::new(squares_weight(*segment, next(p)))).collect());
    }
    out
}

/// The weight of a window's bit at `pos` in a segment's witness: `2^j` for its `j`-th bit, 0 outside.
pub(crate) fn squares_weight((start, bits): (usize, usize), pos: usize) -> u64 {
    match pos.checked_sub(start) {
        Some(j) if j < bits => 1 << j,
        _ => 0,
    }
}

/// The bit at position `pos` of a squares window with `segments`, for their witnesses (`y_lo`, `y_hi`,
/// `carry`, and a chunk's `ℓ` and the last part's carry of the low words added).
#[cfg(feature = "prover")]
pub(crate) fn squares_window_bit(segments: &[(usize, usize)], pos: usize, witnesses: &[u64]) -> u64 {
    segments
        .iter()
        .zip(witnesses)
        .find_map(|((start, bits), w)| pos.checked_sub(*start).filter(|j| j < bits).map(|j| (w >> j) & 1))
        .unwrap_or(0)
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
            // A criterion without a range encodes as before ranges existed.
            let flags = u32::from(c.negated)
                + 2 * u32::from(c.or_previous)
                + 4 * u32::from(c.min.is_some())
                + 8 * u32::from(c.max.is_some());
            out.push(BaseElement::from(flags));
            out.extend(c.min.into_iter().chain(c.max).map(BaseElement::from));
        }
        // A measure without a range encodes as before ranges existed.
        let (min, max) = self.measure_range.map_or((None, None), |r| (r.min, r.max));
        let flags = u32::from(self.measure.is_some()) + 2 * u32::from(min.is_some()) + 4 * u32::from(max.is_some());
        out.push(BaseElement::from(flags));
        out.push(BaseElement::new(self.measure.unwrap_or(0)));
        out.extend(min.into_iter().chain(max).map(BaseElement::from));
        // Both below the modulus whenever the statement can hold; a larger claim maps to another element
        // and simply fails.
        out.push(BaseElement::new(self.count));
        out.push(BaseElement::new(self.sum));
        let (low, high) = split_squares(self.sum_sq.unwrap_or(0));
        out.push(BaseElement::from(u32::from(self.sum_sq.is_some())));
        out.push(low);
        out.push(high);
        out.push(BaseElement::from(self.suppressed_below));
        // A statement over the whole dataset encodes as before chunks existed.
        if let Some(link) = &self.chunk {
            out.push(BaseElement::ONE);
            out.extend(link.prev.iter().chain(&link.next).map(|e| BaseElement::new(*e)));
            out.extend(link.total.map(BaseElement::new));
            // A chunk without squares encodes as before they were proven over chunks.
            out.extend(link.squares.iter().chain(&link.squares_total).flatten().map(|e| BaseElement::new(*e)));
        }
        out
    }
}

/// The AIR of a cohort count (or a measure's count and sum over a cohort).
pub struct CohortAir {
    context: AirContext<BaseElement>,
    pub(crate) layout: AuxLayout,
    criteria: Vec<(BaseElement, bool)>,
    /// Whether each criterion joins the previous one's clause.
    joins: Vec<bool>,
    measure: BaseElement,
    count: BaseElement,
    sum: BaseElement,
    /// The sum of squares' low 32 bits and the rest.
    squares: (BaseElement, BaseElement),
    /// `T`: a suppressed count is at most `T - 1`.
    bound: BaseElement,
    last: usize,
    /// A chunk's links: the digests its two boundaries' permutations must end in.
    link: Option<ChunkLink>,
}

impl Air for CohortAir {
    type BaseField = BaseElement;
    type PublicInputs = PublicInputs;

    fn new(trace_info: TraceInfo, pub_inputs: PublicInputs, options: ProofOptions) -> Self {
        let n = trace_info.length();
        let k = random_rows(n);
        let layout = pub_inputs.layout();
        assert!(layout.criteria >= 1, "a statement has at least one criterion");
        // The squares window is the last whole period of the counted rows, never row 0 (free there).
        assert!(
            (n - k).is_multiple_of(SQUARES_WINDOW) && n - k > SQUARES_WINDOW,
            "the squares window fits the counted rows"
        );
        // Every constraint is multiplied by the selector column, which one more constraint and two
        // assertions pin to 1 on rows 0 ..= n-k-2 and 0 after: this replaces k transition exemptions,
        // whose divisor would cost O(k) at every point of the evaluation domain.
        let d = TransitionConstraintDegree::new;
        let mut main = vec![d(3); VALUE_BITS];
        main.extend([d(2), d(2), d(2), d(3)]);
        let mut aux = vec![d(3); 4 * layout.criteria + layout.criteria - 1];
        if layout.measure {
            aux.extend([d(3), d(3), d(3), d(2), d(3), d(3), d(3)]);
        } else {
            aux.push(d(3));
        }
        if layout.squares {
            // u_lo, u_hi, three running sums, the window's bits, the accumulators, three links (a chunk's:
            // two, its rest `η` is an output).
            aux.extend(vec![d(3); 6]);
            aux.extend(vec![
                TransitionConstraintDegree::with_cycles(2, vec![SQUARES_WINDOW]);
                layout.accumulators().len()
            ]);
            aux.extend(vec![d(2); if layout.chunked { 2 } else { 3 }]);
        }
        for range in layout.ranges.iter().flatten() {
            // The match `mt = eq·r` (`r = 1` without a bound), the verdict of two bounds, the bounds'.
            let bounded = range.lower().is_some() || range.upper().is_some();
            aux.push(d(if bounded { 3 } else { 2 }));
            if range.both() {
                aux.push(d(3));
            }
            for gadget in range.lower().iter().chain(&range.upper()) {
                aux.extend(gadget.degrees().into_iter().map(|g| d(g + 1)));
            }
        }
        if layout.suppressed && layout.chunked {
            // The hidden total's gap, on the row before the second half's first; its bits boolean on every row of
            // a permutation's first kind.
            aux.push(TransitionConstraintDegree::with_cycles(2, vec![CHUNK_WINDOW]));
            aux.extend(vec![d(3); GAP_BITS]);
        } else if layout.suppressed {
            aux.push(d(2));
            aux.extend(vec![d(3); GAP_BITS]);
        }
        if layout.chunked {
            let window = |base| TransitionConstraintDegree::with_cycles(base, vec![CHUNK_WINDOW]);
            // `win`: boolean, constant over each aligned block, and 1 only on the block where the selector
            // falls (1 on its first row, 0 on its last).
            aux.extend([d(2), window(1), window(2), window(2)]);
            // The kinds' selectors, `win` times their periodic columns.
            aux.extend(vec![TransitionConstraintDegree::with_cycles(1, vec![PERMUTATION_PERIOD]); 5]);
            aux.extend(vec![d(3); rescue::CONSTRAINTS]);
            // Per output: the first mask enters, the second joins, and the masked output is the public one.
            for _ in 0..layout.totals() {
                aux.extend([window(2), window(2), window(2)]);
            }
            // Each permutation's capacity in and digest out (constraints on the window's fixed rows, not
            // assertions: each assertion's row is a divisor winterfell evaluates over the whole domain).
            // (Both markers of each add up to a column of period 64: their halves' rows are 64 apart.)
            aux.extend(vec![TransitionConstraintDegree::with_cycles(2, vec![PERMUTATION_PERIOD]); 2 * 4]);
            if layout.recombined {
                // The low words' and the rests' equations on the first half's last row, and the next
                // boundary's count and sum masks zero.
                aux.extend(vec![window(2); 4]);
            }
        }
        let starts = layout.criteria + if layout.measure { 2 } else { 1 } + if layout.squares { 3 } else { 0 };
        let aux_assertions = starts
            + if layout.chunked {
                // `win` on the window's last row (the row of the count's assertion without chunks).
                1
            } else if layout.suppressed {
                0
            } else if layout.measure {
                1 + usize::from(layout.measure_range().is_none())
            } else {
                1
            };
        let context = AirContext::new_multi_segment(trace_info, main, aux, 5, aux_assertions, options)
            .set_zk_quotient_slack(ZK_QUOTIENT_SLACK);
        CohortAir {
            context,
            layout,
            criteria: pub_inputs.criteria.iter().map(|c| (BaseElement::new(c.code), c.negated)).collect(),
            joins: pub_inputs.criteria.iter().map(|c| c.or_previous).collect(),
            measure: BaseElement::new(pub_inputs.measure.unwrap_or(0)),
            count: BaseElement::new(pub_inputs.count),
            sum: BaseElement::new(pub_inputs.sum),
            squares: split_squares(pub_inputs.sum_sq.unwrap_or(0)),
            bound: BaseElement::from(pub_inputs.suppressed_below),
            last: n - k - 1,
            link: pub_inputs.chunk,
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

    fn get_periodic_column_values(&self) -> Vec<Vec<BaseElement>> {
        let mut out =
            if self.layout.squares { squares_periodic_columns(squares_segments(&self.layout)) } else { Vec::new() };
        if self.layout.chunked {
            out.extend(chunk_periodic_columns());
        }
        out
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
        periodic_values: &[F],
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
            if l.ranges[k].is_some() {
                // A ranged criterion's flag ors its matches over the block (`t` is the flag before the
                // row, 0 on a block's first): `c' = t' + mt' - t'·mt'`, boolean by construction.
                let (t, mt) = (l.range_columns(k), l.range_columns(k) + 1);
                result[r + 2] = s * (next[t] - (E::ONE - first_next) * c);
                result[r + 3] = s * (next[l.has(k)] - next[t] - next[mt] + next[t] * next[mt]);
            } else {
                result[r + 2] = s * (next[l.has(k)] - (E::ONE - first_next) * c - next[l.eq(k)]);
                result[r + 3] = s * c * (c - E::ONE);
            }
            r += 4;
        }
        // `p_j`: the clauses before criterion j's, and its clause so far. A criterion that starts a
        // clause multiplies; one that joins it adds its literal where the clause is still unmet:
        // `p_j = p_{j-1} + (b - p_{j-1})·l_j`, `b` the clauses before (1 for the first clause).
        let mut product = literal(0);
        let mut before = E::ONE;
        for j in 1..l.criteria {
            let p = a[l.product(j)];
            result[r] = if self.joins[j] {
                s * (p - product - (before - product) * literal(j))
            } else {
                before = product;
                s * (p - product * literal(j))
            };
            product = p;
            r += 1;
        }
        if l.measure {
            let [inv, eq, w, n, sum, v] = l.measure_columns();
            let d: E = (m[0] - F::from(self.measure)).into();
            let value: E = m[1].into();
            result[r] = s * (d * a[inv] + a[eq] - E::ONE);
            result[r + 1] = s * d * a[eq];
            // With a range, only the measure rows within it: `w = mm·v`, `mm = eq_m·r`.
            let counted = if l.measure_range().is_some() { a[l.match_column(MAX_CRITERIA)] } else { a[eq] };
            result[r + 2] = s * (a[w] - counted * a[v]);
            result[r + 3] = s * (next[n] - a[n] - a[w]);
            result[r + 4] = s * (next[sum] - a[sum] - a[w] * value);
            // `v` is constant over a block and, on its last row, its verdict: every measure row of the
            // block reads the verdict of all its rows, whatever their order.
            result[r + 5] = s * (E::ONE - first_next) * (next[v] - a[v]);
            result[r + 6] = s * first_next * (a[v] - product);
            r += 7;
        } else {
            result[r] = s * (next[l.cnt()] - a[l.cnt()] - first_next * product);
            r += 1;
        }
        // The last counted row (n-k-2): the selector falls after it.
        let at_end: E = (m[SELECTOR] - main_frame.next()[SELECTOR]).into();
        if l.squares {
            let [u_lo, u_hi, s_ll, s_lh, s_hh, bit, a_ylo, a_yhi, a_c] = l.squares_columns();
            let w = a[l.measure_columns()[2]];
            // The value's 16-bit halves, from its committed bits.
            let half = |from: usize| {
                let mut out = F::ZERO;
                for j in (0..16).rev() {
                    out = out.double() + m[2 + from + j];
                }
                E::from(out)
            };
            let (lo, hi) = (half(0), half(16));
            result[r] = s * (a[u_lo] - w * lo);
            result[r + 1] = s * (a[u_hi] - w * hi);
            result[r + 2] = s * (next[s_ll] - a[s_ll] - a[u_lo] * lo);
            result[r + 3] = s * (next[s_lh] - a[s_lh] - a[u_lo] * hi);
            result[r + 4] = s * (next[s_hh] - a[s_hh] - a[u_hi] * hi);
            result[r + 5] = s * next[bit] * (next[bit] - E::ONE);
            // Each accumulator starts over with every window and adds its segment's bits.
            let starts: E = periodic_values[0].into();
            let accumulators = l.accumulators();
            for (j, acc) in accumulators.iter().enumerate() {
                let weight: E = periodic_values[1 + j].into();
                result[r + 6 + j] = s * (next[*acc] - (E::ONE - starts) * a[*acc] - next[bit] * weight);
            }
            r += 6 + accumulators.len();
            // On the last window's last row (n-k-1): the cross sum splits at bit 15, the low word and
            // its carry, and the high word. A chunk's low word `ℓ` is its range-checked accumulator,
            // and its rest `η = a_c + a_yhi + s_hh` is masked as an output (`evaluate_chunk`).
            let (low, high) = self.squares;
            let two = |e: u32| E::from(BaseElement::new(1u64 << e));
            let low = if l.chunked { next[l.low_word()] } else { E::from(low) };
            result[r] = at_end * (next[s_lh] - next[a_ylo] - two(15) * next[a_yhi]);
            result[r + 1] = at_end * (next[s_ll] + two(17) * next[a_ylo] - two(32) * next[a_c] - low);
            if !l.chunked {
                result[r + 2] = at_end * (next[a_c] + next[a_yhi] + next[s_hh] - E::from(high));
            }
            r += if l.chunked { 2 } else { 3 };
        }
        if l.ranges.iter().any(Option::is_some) {
            let bits: [E; VALUE_BITS] = std::array::from_fn(|j| m[2 + j].into());
            for (k, range) in l.ranges.iter().enumerate() {
                let Some(range) = range else { continue };
                let matched = l.match_column(k);
                let both = usize::from(range.both());
                let (mut col, mut at) = (matched + 1 + both, r + 1 + both);
                // Each bound's gadget constraints, and its verdict.
                let mut bound = |gadget: AtMost| -> E {
                    let width = gadget.width();
                    let out = &mut result[at..at + width];
                    gadget.evaluate(&bits, &a[col..col + width], out);
                    for o in out.iter_mut() {
                        *o *= s;
                    }
                    at += width;
                    col += width;
                    a[col - 1]
                };
                let above = range.lower().map(|g| E::ONE - bound(g));
                let below = range.upper().map(&mut bound);
                let inside = match (above, below) {
                    (Some(x), Some(y)) => {
                        result[r + 1] = s * (a[matched + 1] - x * y);
                        a[matched + 1]
                    }
                    (x, y) => x.or(y).unwrap_or(E::ONE),
                };
                let eq = if k < MAX_CRITERIA { a[l.eq(k)] } else { a[l.measure_columns()[1]] };
                result[r] = s * (a[matched] - eq * inside);
                r = at;
            }
        }
        let chunk_periodic = &periodic_values[if l.squares { 1 + squares_segments(l).len() } else { 0 }..];
        if l.suppressed && l.chunked {
            // The total is hidden: on the window's 64th row, `T - 1 - (S - m)` is the gap's bits on
            // the next row, for `S` the parts' masked counts added and `m` the next boundary's count
            // mask (the total plus it is `S`); the bits are boolean on every row of kind 0.
            let (win, middle): (E, E) = (a[l.window()], chunk_periodic[rescue::KINDS + rescue::STATE + 1].into());
            let total = E::from(BaseElement::new(self.link.and_then(|k| k.total).unwrap_or(0)));
            let mut gap = E::ZERO;
            let mut power = E::ONE;
            for j in 0..GAP_BITS {
                let g = a[l.gap() + j];
                result[r + 1 + j] = a[l.kind(0)] * g * (g - E::ONE);
                gap += next[l.gap() + j] * power;
                power = power.double();
            }
            let mask = next[l.hash() + Rp64_256::RATE_RANGE.start];
            result[r] = win * middle * (E::from(self.bound) - E::ONE - total + mask - gap);
            r += 1 + GAP_BITS;
        } else if l.suppressed {
            // On the last counted row only: the final count is at most bound - 1.
            let mut gap = E::ZERO;
            let mut power = E::ONE;
            for j in 0..GAP_BITS {
                let g = a[l.gap() + j];
                result[r + 1 + j] = at_end * g * (g - E::ONE);
                gap += g * power;
                power = power.double();
            }
            result[r] = at_end * (E::from(self.bound) - E::ONE - next[l.counted()] - gap);
            r += 1 + GAP_BITS;
        }
        if l.chunked {
            self.evaluate_chunk(s, a, next, chunk_periodic, &mut result[r..]);
        }
    }

    fn get_aux_assertions<E: FieldElement<BaseField = BaseElement>>(
        &self,
        _aux_rand_elements: &AuxRandElements<E>,
    ) -> Vec<Assertion<E>> {
        let l = &self.layout;
        let mut out: Vec<Assertion<E>> = (0..l.criteria).map(|k| Assertion::single(l.has(k), 0, E::ZERO)).collect();
        if l.measure {
            let [_, _, _, n, sum, _] = l.measure_columns();
            out.push(Assertion::single(n, 0, E::ZERO));
            out.push(Assertion::single(sum, 0, E::ZERO));
            if l.squares {
                let [_, _, s_ll, s_lh, s_hh, ..] = l.squares_columns();
                out.extend([s_ll, s_lh, s_hh].map(|c| Assertion::single(c, 0, E::ZERO)));
            }
        } else {
            out.push(Assertion::single(l.cnt(), 0, E::ZERO));
        }
        if self.link.is_none() {
            if !l.suppressed {
                out.push(Assertion::single(l.counted(), self.last, E::from(self.count)));
                if l.measure && l.measure_range().is_none() {
                    out.push(Assertion::single(l.measure_columns()[4], self.last, E::from(self.sum)));
                }
            }
            return out;
        }
        // A chunk: the window's flag on its last row (its permutations' ends are constraints).
        out.push(Assertion::single(l.window(), self.last, E::ONE));
        out
    }
}

/// Rows of each permutation's half of a chunk's window.
pub const PERMUTATION_PERIOD: usize = CHUNK_WINDOW / 2;

/// The periodic columns of a chunk's statement: the six kinds' selectors and the twelve round constants
/// of a permutation (period 64, `crate::rescue`), then the window's edges (period 128): its first row,
/// the last of its first half, its last, and the rows where the first permutation ends, the second
/// starts and the second ends.
fn chunk_periodic_columns() -> Vec<Vec<BaseElement>> {
    let mut out: Vec<Vec<BaseElement>> =
        (0..rescue::KINDS).map(|j| (0..PERMUTATION_PERIOD).map(|row| rescue::selectors(row)[j]).collect()).collect();
    out.extend((0..rescue::STATE).map(|i| (0..PERMUTATION_PERIOD).map(|row| rescue::constants(row)[i]).collect()));
    let ends = [rescue::ROWS - 1, PERMUTATION_PERIOD, PERMUTATION_PERIOD + rescue::ROWS - 1];
    for edge in [0, PERMUTATION_PERIOD - 1, CHUNK_WINDOW - 1].into_iter().chain(ends) {
        out.push((0..CHUNK_WINDOW).map(|row| BaseElement::from(u32::from(row == edge))).collect());
    }
    out
}

impl CohortAir {
    /// A chunk's constraints (`result` from its first), with `s` the selector and `periodic` the chunk's
    /// periodic columns ([`chunk_periodic_columns`]).
    ///
    /// The window is the aligned block of [`CHUNK_WINDOW`] rows ending on row `n-k-1`, where the selector
    /// is 0 (it is 1 on every row before). `win` is 1 exactly there: boolean, constant over each aligned
    /// block, 0 on a block whose last row has the selector 1 (every earlier block) and on one whose first
    /// row has it 0 (every block of random rows), and 1 on the window's last row (asserted). Its first
    /// half holds the permutation of the boundary before the chunk, its second the one after (each
    /// [`rescue::ROWS`] rows from the half's start, its capacity and digest constrained on those rows). A carry column per
    /// output starts at minus the first boundary's mask (`R = -X_m` on the window's first row), keeps its
    /// value, adds the second boundary's mask into the second half, and on the window's last row the
    /// output's running total plus it is the public (masked) output.
    fn evaluate_chunk<F, E>(&self, s: E, a: &[E], next: &[E], periodic: &[F], result: &mut [E])
    where
        F: FieldElement<BaseField = BaseElement>,
        E: FieldElement<BaseField = BaseElement> + ExtensionOf<F>,
    {
        let l = &self.layout;
        let (kinds, rest) = periodic.split_at(rescue::KINDS);
        let (constants, edges) = rest.split_at(rescue::STATE);
        let (first, middle, end): (E, E, E) = (edges[0].into(), edges[1].into(), edges[2].into());
        let (first_out, second_in, second_out): (E, E, E) = (edges[3].into(), edges[4].into(), edges[5].into());
        let win = a[l.window()];
        result[0] = win * (win - E::ONE);
        result[1] = (next[l.window()] - win) * (E::ONE - end);
        result[2] = win * s * end;
        result[3] = win * (E::ONE - s) * first;
        let mut selectors = [E::ZERO; rescue::KINDS];
        for j in 0..rescue::KINDS {
            let product = win * E::from(kinds[j]);
            if j < 5 {
                result[4 + j] = a[l.kind(j)] - product;
                selectors[j] = a[l.kind(j)];
            } else {
                selectors[j] = product;
            }
        }
        let constants: [E; rescue::STATE] = std::array::from_fn(|i| constants[i].into());
        let (h, width) = (l.hash(), rescue::COLUMNS);
        let r = 9 + rescue::CONSTRAINTS;
        rescue::evaluate(&a[h..h + width], &next[h..h + width], &selectors, &constants, &mut result[9..r]);
        let link = self.link.unwrap_or_default();
        let [low, rest] = link.squares.unwrap_or_default();
        let outputs = [self.count, self.sum, BaseElement::new(low), BaseElement::new(rest)].map(E::from);
        for t in 0..l.totals() {
            let (carry, mask) = (l.carry(t), h + Rp64_256::RATE_RANGE.start + t);
            let at = r + 3 * t;
            let value = if t == 3 {
                // The chunk's rest `η = a_c + a_yhi + s_hh` (`crate::air`, the squares' links).
                let [.., s_hh, _, _, a_yhi, a_c] = l.squares_columns();
                a[a_c] + a[a_yhi] + a[s_hh]
            } else {
                a[l.total(t)]
            };
            result[at] = win * first * (a[carry] + a[mask]);
            result[at + 1] = win * ((E::ONE - end) * (next[carry] - a[carry]) - middle * next[mask]);
            result[at + 2] = win * end * (value + a[carry] - outputs[t]);
        }
        // Each permutation starts from the capacity of a boundary's eight elements and ends in its
        // link's digest.
        let at = r + 3 * l.totals();
        let capacity = boundary_state(&[BaseElement::ZERO; BOUNDARY]);
        for i in 0..4 {
            let c = E::from(capacity[Rp64_256::CAPACITY_RANGE.start + i]);
            result[at + i] = win * (first + second_in) * (a[h + Rp64_256::CAPACITY_RANGE.start + i] - c);
            let x = a[h + Rp64_256::DIGEST_RANGE.start + i];
            let (prev, next) = (E::from(BaseElement::new(link.prev[i])), E::from(BaseElement::new(link.next[i])));
            result[at + 4 + i] = win * (first_out * (x - prev) + second_out * (x - next));
        }
        if l.recombined {
            // The last part of a sum of squares: its next boundary is a real one, whose low word's and
            // rest's masks (`m_l`, `m_e`, in the rate on the second half's first row) the parts' masked
            // low words and rests added (`S_l`, `S_e`, public) carry. On the first half's last row:
            // `S_l - m_l = L + 2^32·c` (the parts' low words added, each below 2^32, and `c` below
            // 2^8 by its bits: both sides are integers below the modulus) and `H = S_e - m_e + c`, for the
            // claim's `L` and `H`. Its count and sum masks are zero, so those outputs add up as ever.
            let at = at + 8;
            let [sl, se] = link.squares_total.unwrap_or_default().map(|e| E::from(BaseElement::new(e)));
            let (low, high) = (E::from(self.squares.0), E::from(self.squares.1));
            let rate = h + Rp64_256::RATE_RANGE.start;
            let carry = a[l.lows_carry()];
            let shift = E::from(BaseElement::new(1u64 << 32));
            result[at] = win * middle * (sl - next[rate + 2] - low - shift * carry);
            result[at + 1] = win * middle * (high - se + next[rate + 3] - carry);
            result[at + 2] = win * second_in * a[rate];
            result[at + 3] = win * second_in * a[rate + 1];
        }
    }
}

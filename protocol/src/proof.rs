//! Proven answers: what a node commits to, which answers can carry a STARK proof, and the message that
//! carries the proofs after the answer.
//!
//! A node commits to a *snapshot* of its store (agora-zk's format v3): one block of rows per patient,
//! holding a person row (code [`row_code`]`("person")`), the patient's sex, their birth month
//! ([`birth_month_code`], when the year of birth is known), one row per distinct
//! condition and medication code and per distinct prefix of those codes ([`committed_prefixes`]), one per
//! unrevoked consent ([`consent_code`], valued by its end: an answer over consenting patients only is
//! proven with [`Plan::consented`]), and every value of each measure and the patient's latest value of it. A proof counts the blocks that meet clauses of
//! [`Literal`]s (the block has, or lacks, a row of a code, or of a code with a value in a range; every
//! clause has a literal met), evaluated
//! inside the proof, or the number, sum and sum of squares of a measure's values in them. [`plan`] says
//! whether a query is of that kind (conjunctions of sexes, condition and medication codes and code
//! prefixes, ages, observation values, their negations, and `any of` them; counts, sums, means and standard
//! deviations of latest values or of every value, histograms of either) and how its cells are
//! proven: the whole cohort, and with a grouping by sex, age band or both each released group (the
//! cohort's literals, the group's sex and its age band's), and each released histogram bin. The hub computes the same plan itself and never
//! takes the criteria from the node.
//!
//! The proof follows the answer ([`ProofMessage`], signed by the node); until it arrives the hub shows
//! the answer as *proof pending*. An answer whose proof fails is excluded from the combination, with
//! the reason.

use crate::answer::{GroupKey, NodeAnswer};
use crate::envelope::{Header, Payload};
use crate::query::{Aggregate, Cohort, Query};
use crate::Cell;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The highest code a committed row may carry (agora-zk format v3: `2^62 - 1`).
pub const MAX_ROW_CODE: u64 = (1 << 62) - 1;

/// The code of a committed row: SHA-256 of the kind and its parts, joined by NUL bytes, first eight
/// bytes big-endian, top two bits cleared (a field element below `2^62`). Public: anyone can recompute
/// the code a query counts over.
pub fn row_code(parts: &[&str]) -> u64 {
    let mut h = Sha256::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update([0u8]);
        }
        h.update(p.as_bytes());
    }
    let d = h.finalize();
    u64::from_be_bytes(d[..8].try_into().expect("8 bytes")) & MAX_ROW_CODE
}

/// The digest a proof's public inputs bind: SHA-256 over a domain tag, the query id and the query's
/// canonical JSON. A proof for one query fails for any other.
pub fn query_digest(query_id: Uuid, query: &Query) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"agora.proof.query.v1\0");
    h.update(query_id.as_bytes());
    h.update(serde_json::to_vec(query).expect("a query serialises"));
    h.finalize().into()
}

/// A cell of an answer a proof covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProvenPart {
    /// A row's patient count.
    Patients,
    /// A row's moments of the measure: the number of values, their sum, and when the query asks for a
    /// standard deviation, their sum of squares.
    Moments,
    /// A row's released histogram bin (its index, underflow first): the patients whose latest value
    /// falls in it, or (a histogram of every value) the values in it.
    Bin(u16),
}

/// Committed measure values are offset by this (thousandths of the canonical unit) into agora-zk's
/// unsigned 32-bit values: a value `v` is committed as `v + 2^31`, so values in `[-2^31, 2^31)`
/// thousandths (±2,147,483.647 units) can be committed; a measure with any plausible value outside is
/// not (its answers say why).
pub const MEASURE_OFFSET: i64 = 1 << 31;

/// The committed value of a measure value in thousandths, if it is in range.
pub fn committed_value(value_e3: i64) -> Option<u32> {
    u32::try_from(value_e3.checked_add(MEASURE_OFFSET)?).ok()
}

/// One criterion of a proven cohort: the patient's committed rows include (or, `negated`, lack) a row
/// of `code`. Literals form clauses: one with `or_previous` joins the clause of the literal before it
/// (an `any of`), any other starts a clause; a patient is in the cohort when every clause has a literal
/// the patient meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Literal {
    /// The row code.
    pub code: u64,
    /// Whether the patient must have no such row.
    pub negated: bool,
    /// Whether it joins the previous literal's clause (or) instead of starting one (and).
    #[serde(default)]
    pub or_previous: bool,
    /// With `min` or `max`, a *ranged* literal: the patient has a row of `code` whose value is at least
    /// `min` (inclusive) and at most `max` (an age: the birth month's row, [`birth_month`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    /// The highest value of a ranged literal (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

impl Literal {
    fn has(code: u64) -> Literal {
        Literal { code, negated: false, or_previous: false, min: None, max: None }
    }
}

/// The row code of a patient's birth month, whose value is [`birth_month`]; a patient without a year
/// of birth has none (no age: never in an age criterion or band).
pub fn birth_month_code() -> u64 {
    row_code(&["birth-month"])
}

/// The row code of a patient's consent to `purpose` (one row per unrevoked consent, whose value is
/// [`consent_until`]): an answer over consenting patients only is proven with the literal "a consent
/// to the purpose ending on a later UTC day than the one the node ran the query on"
/// ([`Plan::consented`]).
pub fn consent_code(purpose: &str) -> u64 {
    row_code(&["consent", purpose])
}

/// Seconds in a day: consents are committed, and compared with a query's time, by the UTC day.
pub const DAY_SECS: i64 = 86_400;

/// The committed value of a consent's end: the UTC day its `valid_until` (Unix seconds) falls on (days
/// since 1970-01-01, within `0 ..= u32::MAX`), `u32::MAX` for a consent without an end. Days, not
/// seconds: a proof compares a value with a bound bit by bit, and a day's 15 bits take half the
/// auxiliary columns of a second's 31 (`agora_zk::range`), which made a consenting population's proofs
/// 17–36% faster in the runs of BENCHMARKS.md.
pub fn consent_until(valid_until: Option<i64>) -> u32 {
    valid_until.map_or(u32::MAX, |t| u32::try_from(t.div_euclid(DAY_SECS).max(0)).unwrap_or(u32::MAX))
}

/// The moment (Unix seconds) a consent must last until to count for a query run at `at`: the end of
/// `at`'s UTC day. A consent counts when it has no end or `valid_until >= consent_cutoff(at)`, so it is
/// active through the whole day the query ran; one that ends later that same day is not counted (on the
/// safe side: never a patient whose consent has ended). Saturates at `i64::MAX` on the last day `i64`
/// holds, which [`Plan::consented`] refuses.
pub fn consent_cutoff(at: i64) -> i64 {
    at.div_euclid(DAY_SECS).saturating_add(1).saturating_mul(DAY_SECS)
}

/// The committed value of a birth month: `12·year + month - 1`, the month January when unknown (as the
/// engine takes it); `None` for a month outside 1 to 12 or a year outside what a value holds.
pub fn birth_month(year: i64, month: Option<i64>) -> Option<u32> {
    let month = month.unwrap_or(1);
    if !(1..=12).contains(&month) {
        return None;
    }
    u32::try_from(year.checked_mul(12)?.checked_add(month - 1)?).ok()
}

/// The literal of ages `[min, max]` in completed years at `reference`, the birthday taken as the 1st of
/// the birth month: with `R = 12·year + month - 1` of the reference date and `b` the birth month's value,
/// the age is `⌊(R - b) / 12⌋` when `b ≤ R` (and none after), so `age ≥ a` exactly when `b ≤ R - 12·a` and
/// `age ≤ c` exactly when `b ≥ R - 12·c - 11`.
fn age_literal(reference: time::Date, min: Option<u32>, max: Option<u32>) -> Literal {
    let r = 12 * i64::from(reference.year()) + i64::from(u8::from(reference.month())) - 1;
    let highest = r - 12 * i64::from(min.unwrap_or(0));
    let lowest = max.map(|c| r - 12 * i64::from(c) - 11);
    let (min, max) = match u32::try_from(highest) {
        // A lower bound at or below 0 bounds nothing.
        Ok(h) => (lowest.filter(|l| *l > 0).map(|l| u32::try_from(l).unwrap_or(u32::MAX)), Some(h)),
        // Born before year 0: no one.
        Err(_) => (Some(1), Some(0)),
    };
    Literal { min, max, ..Literal::has(birth_month_code()) }
}

/// Whether some clause of `literals` has no negated literal (a patient meets it only by rows the
/// patient holds); padding never does, so a proof needs one.
fn has_positive_clause(literals: &[Literal]) -> bool {
    let mut clause_positive = false;
    for (i, l) in literals.iter().enumerate() {
        if i > 0 && !l.or_previous && clause_positive {
            return true;
        }
        if i == 0 || !l.or_previous {
            clause_positive = true;
        }
        clause_positive &= !l.negated;
    }
    clause_positive
}

/// The most proofs one answer may need: what the smallest snapshot serves (agora-zk: 11 at 4,096 rows).
/// Enough for the patients and the moments of the whole cohort and of each sex (8), or of four age
/// bands (10); a plan that could need more is refused.
pub const MAX_PROOFS_PER_ANSWER: usize = 11;

/// The most literals one proof tests (agora-zk's `MAX_CRITERIA`), a group's sex and age band and the
/// consent criterion included.
pub const MAX_LITERALS: usize = 8;

/// How a query's answer is proven: the cohort as clauses of literals, the measure's row code when
/// moments are proven, and whether its sex groups are proven too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The cohort's literals (none for everyone).
    pub cohort: Vec<Literal>,
    /// The row code of the measure's committed values (each patient's latest, or every value), when the
    /// answer has moments.
    pub measure: Option<u64>,
    /// Whether the moments' sums of squares are proven (the query asks for a standard deviation).
    pub squares: bool,
    /// Whether the answer is grouped by sex (each released group cell is proven).
    pub by_sex: bool,
    /// The age bands the answer is grouped by (none when it is not), each with its literal at the
    /// query's reference date.
    pub age_bands: Vec<(crate::AgeBand, Literal)>,
    /// The histogram's bins (underflow first), each the literal "the latest value of the measure is in
    /// the bin", or with `every_value_bins` the range of the measure's every-value rows counted (none
    /// without a histogram).
    pub bins: Vec<Literal>,
    /// Whether the histogram is of every value: each bin counts the measure's every-value rows within
    /// its range (a range on the measure, not a literal of the cohort).
    pub every_value_bins: bool,
}

/// The literal "a row of `code` whose value, in thousandths, is within `[lo, hi]`" (either side open),
/// over committed (offset) values: a bound beyond what a committed value holds bounds nothing, or leaves
/// the range empty. Always ranged (a block may hold many rows of `code`).
fn value_range(code: u64, lo: Option<i64>, hi: Option<i64>) -> Literal {
    let committed = |v: i64| v.saturating_add(MEASURE_OFFSET);
    let empty = Literal { min: Some(1), max: Some(0), ..Literal::has(code) };
    let min = match lo.map(committed) {
        Some(l) if l > i64::from(u32::MAX) => return empty,
        Some(l) if l > 0 => Some(l as u32),
        _ => None,
    };
    let max = match hi.map(committed) {
        Some(h) if h < 0 => return empty,
        Some(h) if h < i64::from(u32::MAX) => Some(h as u32),
        _ => None,
    };
    Literal { min: min.or(max.is_none().then_some(0)), max, ..Literal::has(code) }
}

/// One proof target of an answer: which cell of which row, counted over which literals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The cell.
    pub part: ProvenPart,
    /// The answer's row.
    pub group: GroupKey,
    /// The literals a patient of the cell meets.
    pub criteria: Vec<Literal>,
    /// The measure's row code (moments, and bins of every value).
    pub measure: Option<u64>,
    /// The range of the measure's values counted, as `(min, max)` over committed values (a bin of every
    /// value: its values are counted, and no sum is proven).
    pub measure_range: Option<(Option<u32>, Option<u32>)>,
    /// The cell as the answer gives it.
    pub cell: Expected,
}

/// What the answer states for a target's cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// A released patient count.
    Count(u64),
    /// Released moments: the number of values, their sum in thousandths, and the sum of their squares
    /// in millionths when it is proven.
    Moments {
        /// Values.
        n: u64,
        /// Their sum, in thousandths of the unit.
        sum: i64,
        /// The sum of their squares, in millionths of the unit squared (proven with a standard deviation).
        sum_sq: Option<i128>,
    },
    /// Suppressed (proven below the node's threshold).
    Suppressed,
}

/// What a proof of a released cell states, over committed (offset) values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outputs {
    /// Patients, or values of the measure.
    pub count: u64,
    /// The sum of the committed values `v + 2^31` (0 for a patient count).
    pub sum: u64,
    /// The sum of their squares, when proven.
    pub sum_sq: Option<u128>,
}

impl Target {
    /// The outputs a proof of this cell states: `None` when suppressed, else the count, the sum of
    /// committed (offset) values and, when proven, the sum of their squares
    /// (`Σ(v + 2^31)² = Σv² + 2^32·Σv + 2^62·n`); an error when no committed data could give them.
    pub fn outputs(&self) -> Result<Option<Outputs>, String> {
        match self.cell {
            Expected::Suppressed => Ok(None),
            Expected::Count(n) => Ok(Some(Outputs { count: n, sum: 0, sum_sq: None })),
            Expected::Moments { n, sum, sum_sq } => {
                let offset = i128::from(sum) + i128::from(n) * i128::from(MEASURE_OFFSET);
                let sum = u64::try_from(offset)
                    .ok()
                    .filter(|o| u128::from(*o) <= u128::from(n) * u128::from(u32::MAX))
                    .ok_or_else(|| {
                        format!("a sum of {sum} over {n} values is outside what committed values can give")
                    })?;
                let squares = sum_sq
                    .map(|sq| {
                        let most = u128::from(n) * u128::from(u32::MAX) * u128::from(u32::MAX);
                        sq.checked_add(offset.checked_mul(1 << 32)?)
                            .and_then(|s| s.checked_sub(i128::from(n) * (1 << 62)))
                            .and_then(|s| u128::try_from(s).ok())
                            .filter(|s| *s <= most)
                    })
                    .map(|s| {
                        s.ok_or_else(|| {
                            format!(
                                "a sum of squares of {} over {n} values is outside what committed values can give",
                                sum_sq.unwrap_or(0)
                            )
                        })
                    })
                    .transpose()?;
                Ok(Some(Outputs { count: n, sum, sum_sq: squares }))
            }
        }
    }
}

/// How every reason a query's kind is not provable yet begins ([`plan_or_reason`]).
pub const NOT_PROVABLE: &str = "not provable yet: ";

/// The sex row code.
fn sex_code(sex: crate::codes::Sex) -> u64 {
    row_code(&["sex", sex.as_str()])
}

/// The shortest code prefix a proof can test (`E11*`: 3 characters); nodes commit every prefix of at
/// least this many characters of each of a patient's codes.
pub const MIN_PREFIX_CHARS: usize = 3;

/// The row code of "the patient has a `kind` (condition, medication) code starting with `prefix`".
pub fn prefix_code(kind: &str, system: &str, prefix: &str) -> u64 {
    row_code(&[&format!("{kind}-prefix"), system, prefix])
}

/// The prefixes of `code` a node commits: those of [`MIN_PREFIX_CHARS`] characters up to the whole code.
pub fn committed_prefixes(code: &str) -> impl Iterator<Item = &str> {
    code.char_indices().map(|(i, c)| &code[..i + c.len_utf8()]).skip(MIN_PREFIX_CHARS - 1)
}

/// The row code of a patient's latest value of a measure (system short name and code).
pub fn latest_code(system: &str, code: &str) -> u64 {
    row_code(&["latest", system, code])
}

/// The row code of every value of a measure (one row per plausible value of the patient's).
pub fn value_code(system: &str, code: &str) -> u64 {
    row_code(&["value", system, code])
}

/// A cohort in conjunctive normal form: clauses of literals (`or_previous` not yet set), every clause
/// needing one literal met. No clauses is everyone; an empty clause is no one.
type Cnf = Vec<Vec<Literal>>;

/// Literals past which normalising stops (the result must fit [`MAX_LITERALS`] anyway).
const CNF_LIMIT: usize = 64;

const TOO_MANY: &str = "more than eight criteria (a sex group and an age band count as one each)";

/// The literal of a leaf criterion at the reference date, or what in it is not provable.
fn leaf(c: &Cohort, reference: time::Date) -> Result<Literal, &'static str> {
    if let Cohort::Age { min, max } = c {
        return Ok(age_literal(reference, *min, *max));
    }
    Ok(Literal::has(match c {
        Cohort::Sex { sex } => sex_code(*sex),
        Cohort::Condition { code } if !code.prefix => row_code(&["condition", code.system.short(), &code.code]),
        Cohort::Medication { code } if !code.prefix => row_code(&["medication", code.system.short(), &code.code]),
        Cohort::Condition { code } if code.code.chars().count() >= MIN_PREFIX_CHARS => {
            prefix_code("condition", code.system.short(), &code.code)
        }
        Cohort::Medication { code } if code.code.chars().count() >= MIN_PREFIX_CHARS => {
            prefix_code("medication", code.system.short(), &code.code)
        }
        Cohort::Condition { .. } | Cohort::Medication { .. } => return Err("code prefixes under 3 characters"),
        Cohort::Observation { code, min, max } if code.system == crate::codes::CodeSystem::Loinc => {
            let code = value_code(code.system.short(), &code.code);
            return Ok(value_range(code, min.map(crate::query::lower_e3), max.map(crate::query::upper_e3)));
        }
        Cohort::Observation { .. } => return Err("observation value criteria outside LOINC"),
        Cohort::Age { .. } | Cohort::Everyone | Cohort::All { .. } | Cohort::Any { .. } | Cohort::Not { .. } => {
            unreachable!("not a leaf")
        }
    }))
}

/// `cohort` (negated when `negate`) in conjunctive normal form: negations pushed to the leaves (De
/// Morgan), `any of` distributed over `all of`.
fn cnf(cohort: &Cohort, negate: bool, reference: time::Date) -> Result<Cnf, &'static str> {
    let size = |f: &Cnf| f.iter().map(Vec::len).sum::<usize>();
    // The conjunction, or (negated) the disjunction, of the parts.
    let and = |parts: &[Cohort], negate: bool| -> Result<Cnf, &'static str> {
        let mut out = Cnf::new();
        for p in parts {
            out.extend(cnf(p, negate, reference)?);
            if size(&out) > CNF_LIMIT {
                return Err(TOO_MANY);
            }
        }
        Ok(out)
    };
    let or = |parts: &[Cohort], negate: bool| -> Result<Cnf, &'static str> {
        let mut out: Cnf = vec![vec![]]; // no one
        for p in parts {
            let part = cnf(p, negate, reference)?;
            if part.is_empty() || out.is_empty() {
                out = Cnf::new(); // everyone
                continue;
            }
            out = out.iter().flat_map(|a| part.iter().map(move |b| [a.as_slice(), b].concat())).collect();
            if size(&out) > CNF_LIMIT {
                return Err(TOO_MANY);
            }
        }
        Ok(out)
    };
    match cohort {
        Cohort::Everyone if negate => Ok(vec![vec![]]),
        Cohort::Everyone => Ok(Cnf::new()),
        Cohort::Not { of } => cnf(of, !negate, reference),
        Cohort::All { of } if negate => or(of, true),
        Cohort::All { of } => and(of, false),
        Cohort::Any { of } if negate => and(of, true),
        Cohort::Any { of } => or(of, false),
        leaf => Ok(vec![vec![Literal { negated: negate, ..self::leaf(leaf, reference)? }]]),
    }
}

/// The literals of a cohort of provable criteria combined by `all of`, `any of` and `not` (in
/// conjunctive normal form: one clause after another, each clause's literals after its first joining
/// it), appended to `out`; or what in it is not provable.
fn literals(cohort: &Cohort, reference: time::Date, out: &mut Vec<Literal>) -> Result<(), &'static str> {
    for clause in cnf(cohort, false, reference)? {
        if clause.is_empty() {
            return Err("a cohort no patient can meet (an empty `any of` or not everyone)");
        }
        for (i, literal) in clause.into_iter().enumerate() {
            out.push(Literal { or_previous: i > 0, ..literal });
        }
    }
    if out.len() > MAX_LITERALS {
        return Err(TOO_MANY);
    }
    Ok(())
}

/// The proof plan of a query, or `None` when its kind is not provable yet ([`plan_or_reason`] says why).
pub fn plan(query: &Query) -> Option<Plan> {
    plan_or_reason(query).ok()
}

/// The proof plan of a query, or why its kind is not provable yet: a reason that starts with
/// [`NOT_PROVABLE`] and names what is not provable, e.g. "not provable yet: age bands by sex with more
/// cells than one snapshot proves".
pub fn plan_or_reason(query: &Query) -> Result<Plan, String> {
    planned(query).map_err(|what| format!("{NOT_PROVABLE}{what}"))
}

fn planned(query: &Query) -> Result<Plan, &'static str> {
    if query.aggregates.is_empty() {
        return Err("a query without aggregates");
    }

    let measure = match &query.measure {
        Some(m) if query.wants_moments() => Some(match m.selection {
            crate::query::Selection::Latest => latest_code(m.code.system.short(), &m.code.code),
            crate::query::Selection::All => value_code(m.code.system.short(), &m.code.code),
        }),
        None if query.wants_moments() => return Err("a sum, mean or standard deviation without a measure"),
        _ => None,
    };
    let mut cohort = Vec::new();
    literals(&query.cohort, query.reference_date, &mut cohort)?;
    let every_value = query.measure.as_ref().is_some_and(|m| m.selection == crate::query::Selection::All);
    let bins = match (query.histogram_edges(), &query.measure) {
        (Some(edges), Some(m)) => {
            let code = if every_value {
                value_code(m.code.system.short(), &m.code.code)
            } else {
                latest_code(m.code.system.short(), &m.code.code)
            };
            let edges: Vec<i64> = edges.iter().map(|e| crate::query::lower_e3(*e)).collect();
            // Bin i holds the values v with edges[i-1] <= v < edges[i] (thousandths).
            (0..=edges.len())
                .map(|i| {
                    let lo = i.checked_sub(1).map(|j| edges[j]);
                    // An edge at i64::MIN (saturated) leaves bin i empty.
                    value_range(code, lo, edges.get(i).map(|e| e.saturating_sub(1)))
                })
                .collect()
        }
        _ => Vec::new(),
    };
    let squares = query.aggregates.contains(&Aggregate::StdDev);
    let age_bands: Vec<_> = query
        .group_by
        .age_bands
        .as_deref()
        .map(crate::AgeBand::from_edges)
        .unwrap_or_default()
        .into_iter()
        .map(|b| (b, age_literal(query.reference_date, Some(b.lo), b.hi.map(|h| h - 1))))
        .collect();
    let every_value_bins = every_value && !bins.is_empty();
    let plan = Plan { cohort, measure, squares, by_sex: query.group_by.sex, age_bands, bins, every_value_bins };
    plan.check_limits()?;
    Ok(plan)
}

impl Plan {
    /// Checks that every proof of the plan fits what one proof tests ([`MAX_LITERALS`]) and that its
    /// cells fit what one snapshot proves ([`MAX_PROOFS_PER_ANSWER`]).
    fn check_limits(&self) -> Result<(), &'static str> {
        let group = GroupKey {
            sex: self.by_sex.then_some(crate::codes::Sex::Female),
            age_band: self.age_bands.first().map(|(b, _)| *b),
        };
        let bin = self.bins.first().filter(|_| !self.every_value_bins).copied();
        let widest = [GroupKey::TOTAL, group]
            .iter()
            .flat_map(|g| [self.criteria(g).len(), self.criteria_and(g, bin).len()])
            .max()
            .unwrap_or(0);
        if widest > MAX_LITERALS {
            return Err(TOO_MANY);
        }
        // Every released cell is proven over one snapshot: the whole cohort's and each group's.
        let sexes = if self.by_sex { crate::codes::Sex::ALL.len() } else { 1 };
        let groups = if self.grouped() { sexes * self.age_bands.len().max(1) } else { 0 };
        if (1 + groups) * (1 + usize::from(self.measure.is_some()) + self.bins.len()) > MAX_PROOFS_PER_ANSWER {
            return Err("more cells than one snapshot proves (at most 11 proofs per answer: fewer groups)");
        }
        Ok(())
    }

    /// The plan of an answer that counts only the patients whose consent to `purpose` is active through
    /// the UTC day of `at` (Unix seconds: when the node ran the query, which the answer states:
    /// [`crate::Consented`]; [`consent_cutoff`]): the cohort gains a clause, a consent row of the
    /// purpose whose end falls on a later day ([`consent_code`], [`consent_until`]). Refused, with the
    /// reason, when a proof would then test more than [`MAX_LITERALS`] literals, or for a time before 1970
    /// or whose next day is past `u32::MAX` (a committed consent's end is a 32-bit day from 1970 on).
    pub fn consented(mut self, purpose: &str, at: i64) -> Result<Plan, String> {
        let after = u32::try_from(at.div_euclid(DAY_SECS) + 1)
            .ok()
            .filter(|_| at >= 0)
            .ok_or_else(|| format!("{NOT_PROVABLE}consent at {at} (Unix seconds from 1970, whose day fits 32 bits)"))?;
        self.cohort.push(Literal { min: Some(after), ..Literal::has(consent_code(purpose)) });
        self.check_limits().map_err(|what| format!("{NOT_PROVABLE}{what}, with the consent criterion"))?;
        Ok(self)
    }

    /// Every row code the plan's proofs read: the cohort's literals, the bins' and the measure.
    pub fn codes(&self) -> impl Iterator<Item = u64> + '_ {
        self.cohort.iter().chain(&self.bins).map(|l| l.code).chain(self.measure)
    }

    /// Whether the cohort tests observation values (every value of a measure, under its value code).
    pub fn reads_every_value(&self) -> bool {
        self.cohort.iter().any(|l| (l.min.is_some() || l.max.is_some()) && l.code != birth_month_code())
    }

    /// Whether the answer has group rows (by sex, age band or both).
    pub fn grouped(&self) -> bool {
        self.by_sex || !self.age_bands.is_empty()
    }

    /// The literals of one row of the answer: the cohort's and the group's sex, after the person when
    /// none of them is one the patient must have (a proof counts patient blocks that hold at least one
    /// required row; every patient's block holds the person row).
    pub fn criteria(&self, group: &GroupKey) -> Vec<Literal> {
        self.criteria_and(group, None)
    }

    /// As [`Plan::criteria`], with one more literal (a histogram bin of latest values) before the
    /// person is added where needed.
    fn criteria_and(&self, group: &GroupKey, extra: Option<Literal>) -> Vec<Literal> {
        let mut out = self.cohort.clone();
        out.extend(group.sex.map(|s| Literal::has(sex_code(s))));
        let band = group.age_band.and_then(|b| self.age_bands.iter().find(|(x, _)| *x == b));
        out.extend(band.map(|(_, literal)| *literal));
        out.extend(extra);
        if !has_positive_clause(&out) {
            out.insert(0, Literal::has(row_code(&["person"])));
        }
        out
    }

    /// What an answer's proofs must cover, in order, row by row: the whole cohort's patients and
    /// moments (released, or proven below the threshold when suppressed), then each group row's
    /// released patient count and released moments. A suppressed group cell carries no proof: whether
    /// it was suppressed for being small or to protect another cell is not disclosed.
    pub fn targets(&self, answer: &NodeAnswer) -> Vec<Target> {
        let mut out = Vec::new();
        for row in &answer.rows {
            let total = row.group.is_total();
            if !total && !self.grouped() {
                continue;
            }
            let criteria = self.criteria(&row.group);
            let patients = match row.patients {
                Cell::Value(n) => Some(Expected::Count(n)),
                Cell::Suppressed => total.then_some(Expected::Suppressed),
            };
            if let Some(cell) = patients {
                let (group, criteria) = (row.group, criteria.clone());
                out.push(Target {
                    part: ProvenPart::Patients,
                    group,
                    criteria,
                    measure: None,
                    measure_range: None,
                    cell,
                });
            }
            // Each released bin: the row's patients whose latest value is in it, or its values in it (a
            // suppressed bin carries no proof, as a suppressed group).
            let bins = row.histogram.iter().flatten().zip(&self.bins).enumerate();
            for (i, (cell, bin)) in bins {
                let Cell::Value(n) = cell else { continue };
                let mut target = Target {
                    part: ProvenPart::Bin(i as u16),
                    group: row.group,
                    criteria: criteria.clone(),
                    measure: None,
                    measure_range: None,
                    cell: Expected::Count(*n),
                };
                if self.every_value_bins {
                    (target.measure, target.measure_range) = (Some(bin.code), Some((bin.min, bin.max)));
                } else {
                    target.criteria = self.criteria_and(&row.group, Some(*bin));
                }
                out.push(target);
            }
            let Some(measure) = self.measure else { continue };
            let moments = match row.moments {
                Some(crate::Moments::Released { n, sum, sum_sq }) => {
                    Some(Expected::Moments { n, sum, sum_sq: self.squares.then_some(sum_sq) })
                }
                Some(crate::Moments::Suppressed) | None => total.then_some(Expected::Suppressed),
            };
            if let Some(cell) = moments {
                out.push(Target {
                    part: ProvenPart::Moments,
                    group: row.group,
                    criteria,
                    measure: Some(measure),
                    measure_range: None,
                    cell,
                });
            }
        }
        out
    }
}

/// A node's published dataset commitment (agora-zk's `Commitment`, with the data version it covers).
///
/// A dataset too large for one proof is committed in *chunks* (agora-zk's "Chunks": snapshots of whole
/// patient blocks, each with its own commitment): `chunks` lists them in order, `root` is then
/// [`DatasetCommitment::chunks_root`] of the list (the dataset's one name, as a single snapshot's root
/// is) and `trace_length` the chunks' traces added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DatasetCommitment {
    /// agora-zk's commitment format version.
    pub version: u32,
    /// Rows of the committed trace (a power of two; in chunks, their traces' rows added).
    pub trace_length: usize,
    /// The commitment root (hex).
    pub root: String,
    /// The node's data version the snapshot was taken at.
    pub data_version: u64,
    /// The chunks, in order, when the dataset is committed in chunks (else empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<ChunkCommitment>,
}

/// One chunk of a dataset committed in chunks: an ordinary snapshot's commitment (of the dataset's
/// format version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChunkCommitment {
    /// Rows of the chunk's trace (a power of two).
    pub trace_length: usize,
    /// The chunk's commitment root (hex).
    pub root: String,
}

/// The most chunks a node commits a dataset in: agora-zk's `MAX_CHUNKS` (every count and sum added
/// over them stays below the field's modulus). A cell's parts travel in messages of at most
/// [`MAX_PARTS_PER_MESSAGE`] ([`ProofOutcome::Chunked`]).
pub const MAX_CHUNKS_PER_DATASET: usize = 256;

/// The most parts of a cell over chunks one proof message carries: ten proofs of at most 250 KB
/// (agora-zk's ceiling at every trace length), a third larger in base64, with a commitment of
/// [`MAX_CHUNKS_PER_DATASET`] chunks, stay below the hub's 3,648 KiB proof message limit.
pub const MAX_PARTS_PER_MESSAGE: usize = 10;

impl DatasetCommitment {
    /// The commitment of a dataset in `chunks` (at least two): its root is [`Self::chunks_root`].
    pub fn chunked(version: u32, chunks: Vec<ChunkCommitment>, data_version: u64) -> Result<DatasetCommitment, String> {
        let root = Self::chunks_root(version, &chunks)?;
        let trace_length = Self::chunks_length(&chunks)?;
        Ok(DatasetCommitment { version, trace_length, root, data_version, chunks })
    }

    /// The chunks' trace lengths added (refused if they overflow).
    fn chunks_length(chunks: &[ChunkCommitment]) -> Result<usize, String> {
        chunks
            .iter()
            .try_fold(0usize, |n, c| n.checked_add(c.trace_length))
            .ok_or_else(|| "the chunks' trace lengths overflow".to_string())
    }

    /// The root naming a dataset in chunks: SHA-256 of `agora/chunked-dataset/1`, the format version
    /// (4 bytes, little-endian) and, per chunk in order, its trace length (8 bytes, little-endian) and
    /// its 32-byte root; in hex. Two to [`MAX_CHUNKS_PER_DATASET`] chunks, each root 64 hex digits.
    pub fn chunks_root(version: u32, chunks: &[ChunkCommitment]) -> Result<String, String> {
        if !(2..=MAX_CHUNKS_PER_DATASET).contains(&chunks.len()) {
            return Err(format!("{} chunks: a dataset in chunks has 2 to {MAX_CHUNKS_PER_DATASET}", chunks.len()));
        }
        let mut h = Sha256::new();
        h.update(b"agora/chunked-dataset/1");
        h.update(version.to_le_bytes());
        for (i, c) in chunks.iter().enumerate() {
            let root: [u8; 32] = hex::decode(&c.root)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("chunk {i}'s root is not 64 hex digits"))?;
            h.update((c.trace_length as u64).to_le_bytes());
            h.update(root);
        }
        Ok(hex::encode(h.finalize()))
    }

    /// Checks a commitment in chunks: its root names its chunk list and its trace length adds theirs
    /// (a commitment of one snapshot has nothing to check here).
    pub fn check_chunks(&self) -> Result<(), String> {
        if self.chunks.is_empty() {
            return Ok(());
        }
        if Self::chunks_root(self.version, &self.chunks)? != self.root {
            return Err("the dataset's root does not name its chunk list".into());
        }
        if Self::chunks_length(&self.chunks)? != self.trace_length {
            return Err("the dataset's trace length is not its chunks' added".into());
        }
        Ok(())
    }
}

/// One proven cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProvenCell {
    /// Which cell of the answer.
    pub part: ProvenPart,
    /// Which row of the answer (absent: the whole cohort).
    #[serde(default, skip_serializing_if = "GroupKey::is_total")]
    pub group: GroupKey,
    /// The winterfell proof (base64).
    pub proof: String,
}

/// One proven cell over a dataset in chunks, or a run of its parts: one part per chunk, in the
/// dataset's order, from the chunk `first` on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChunkedCell {
    /// Which cell of the answer.
    pub part: ProvenPart,
    /// Which row of the answer (absent: the whole cohort).
    #[serde(default, skip_serializing_if = "GroupKey::is_total")]
    pub group: GroupKey,
    /// The place of the first part among the dataset's chunks (0 from nodes that send a cell whole).
    #[serde(default)]
    pub first: usize,
    /// One part per chunk, of the chunks `first..first + parts.len()`: at most
    /// [`MAX_PARTS_PER_MESSAGE`].
    pub parts: Vec<ChunkProof>,
}

/// One chunk's part of a cell's proof (agora-zk's archived part, the same JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChunkProof {
    /// The masked count (a field element, not a count).
    pub count: u64,
    /// The masked sum (a field element; 0 without one).
    pub sum: u64,
    /// The digests of the masks shared with the chunks before and after.
    pub link: ChunkLinks,
    /// The STARK proof (base64).
    pub proof: String,
}

/// A chunk's part's links (agora-zk's `ChunkLink`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChunkLinks {
    /// The digest (four field elements) of the masks shared with the previous chunk.
    pub prev: [u64; 4],
    /// The digest of the masks shared with the next chunk.
    pub next: [u64; 4],
    /// On the last part of a suppressed cell: the parts' masked counts added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// With a sum of squares (a standard deviation): this part's masked low word and rest of its own
    /// (field elements).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub squares: Option<[u64; 2]>,
    /// On the last part of a cell with a sum of squares: the parts' masked low words added and their
    /// masked rests added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub squares_total: Option<[u64; 2]>,
}

/// What a node says about the proof of one of its answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ProofOutcome {
    /// The proofs, over the snapshot `commitment` names.
    Proven {
        /// The snapshot the proofs are over.
        commitment: DatasetCommitment,
        /// One proof per target of the query's plan ([`Plan::targets`]; with the consent criterion,
        /// [`Plan::consented`], when the answer counts consenting patients only), in order.
        cells: Vec<ProvenCell>,
        /// The statement the proofs are of, as the node's prover names it (`agora-zk`'s archive
        /// format, such as `agora-zk/cohort/5`): a hub checks only its own, and says so of others.
        /// Empty from nodes older than the field.
        #[serde(default)]
        statement: String,
    },
    /// A run of one cell's proof over a dataset committed in chunks (agora-zk's `prove_chunked`: a part
    /// per chunk, each with masked outputs, so no chunk's own count is disclosed): a message per run of
    /// at most [`MAX_PARTS_PER_MESSAGE`] parts, since a cell's parts may exceed one message. A cell is
    /// proven when every part has verified and the parts link and add up; the answer, when every cell is.
    Chunked {
        /// The dataset the proofs are over, with its chunks.
        commitment: DatasetCommitment,
        /// The cell's place among the plan's targets ([`Plan::targets`], as for `Proven`).
        index: usize,
        /// How many cells the answer has to prove.
        cells: usize,
        /// The cell and its parts.
        cell: ChunkedCell,
        /// The statement the proofs are of, as in `Proven`.
        statement: String,
    },
    /// The node cannot prove this answer (busy, not provable over its population, ...).
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// A node's signed proof of an answer it sent earlier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProofMessage {
    /// The query's id, with the node's window and nonce.
    pub header: Header,
    /// The proofs, or why there are none.
    pub outcome: ProofOutcome,
}

impl Payload for ProofMessage {
    const KIND: &'static str = "agora.proof.v1";
}

/// Where the proof of one node's answer stands, as the hub reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ProofState {
    /// The answer is of a provable kind and its proof has not arrived.
    Pending,
    /// Every cell of the plan verified against the node's commitment.
    Proven {
        /// The commitment root the proof is over.
        root: String,
        /// The data version the node committed.
        data_version: u64,
        /// Whether the node had registered this commitment (in a hello or an earlier proof) before
        /// the query was submitted; if not, the snapshot could have been made for this query.
        #[serde(default)]
        committed_before_query: bool,
        /// Set when the answer, and its proof, count only the patients consenting to this purpose.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        consented_to: Option<String>,
    },
    /// A proof failed verification: the answer is excluded from the combination.
    Failed {
        /// Why.
        reason: String,
    },
    /// No proof: the query's kind is not provable yet, or the node could not prove it.
    Unproven {
        /// Why.
        reason: String,
    },
}

impl ProofState {
    /// A short label for tables.
    pub fn label(&self) -> String {
        match self {
            ProofState::Pending => "proof pending".into(),
            ProofState::Proven { root, committed_before_query, consented_to, .. } => format!(
                "proven over {}…{}{}",
                &root[..root.len().min(12)],
                consented_to.as_ref().map_or(String::new(), |p| format!(", patients consenting to {p}")),
                if *committed_before_query { "" } else { " (commitment first seen after the query)" }
            ),
            ProofState::Failed { reason } => format!("PROOF FAILED ({reason}): excluded"),
            ProofState::Unproven { reason } => format!("no proof ({reason})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{CodeMatch, CodeSystem, Sex};
    use crate::query::GroupBy;
    use crate::AgeBand;

    fn query(cohort: Cohort, aggregates: Vec<Aggregate>) -> Query {
        Query {
            version: crate::QUERY_VERSION,
            cohort,
            measure: None,
            aggregates,
            group_by: GroupBy::default(),
            reference_date: time::macros::date!(2026 - 01 - 01),
        }
    }

    #[test]
    fn a_dataset_in_chunks_is_named_by_its_chunk_list() {
        let chunk = |trace_length, root: &str| ChunkCommitment { trace_length, root: root.repeat(32) };
        let list = vec![chunk(4096, "01"), chunk(8192, "ab")];
        // Computed with Python's hashlib: sha256(b"agora/chunked-dataset/1" + pack("<I", 3) +
        // pack("<Q", 4096) + bytes.fromhex("01" * 32) + pack("<Q", 8192) + bytes.fromhex("ab" * 32)).
        let c = DatasetCommitment::chunked(3, list.clone(), 9).unwrap();
        assert_eq!(c.root, "109bedc98ccb54d47f862231ef7aa252f832c1f9f7328022cef6cc53a0a862cb");
        assert_eq!((c.trace_length, c.data_version), (12_288, 9));
        c.check_chunks().unwrap();
        // Another order, version or length is another dataset; a root or length that does not match its
        // list is refused, and so are one chunk, too many, or a root that is not 32 bytes of hex.
        let swapped = DatasetCommitment::chunked(3, vec![list[1].clone(), list[0].clone()], 9).unwrap();
        assert_ne!(swapped.root, c.root);
        assert_ne!(DatasetCommitment::chunked(4, list.clone(), 9).unwrap().root, c.root);
        let e = DatasetCommitment { root: swapped.root.clone(), ..c.clone() }.check_chunks().unwrap_err();
        assert!(e.contains("does not name its chunk list"), "{e}");
        let e = DatasetCommitment { trace_length: 4096, ..c.clone() }.check_chunks().unwrap_err();
        assert!(e.contains("trace length"), "{e}");
        assert!(DatasetCommitment::chunked(3, vec![list[0].clone()], 9).unwrap_err().contains("1 chunks"));
        let many = vec![list[0].clone(); MAX_CHUNKS_PER_DATASET + 1];
        assert!(DatasetCommitment::chunked(3, many, 9).unwrap_err().contains("2 to 256"));
        let e = DatasetCommitment::chunked(3, vec![list[0].clone(), chunk(4096, "0g")], 9).unwrap_err();
        assert!(e.contains("chunk 1's root"), "{e}");
        let e = DatasetCommitment::chunked(3, vec![list[0].clone(), chunk(usize::MAX, "02")], 9).unwrap_err();
        assert!(e.contains("overflow"), "{e}");
        let wrapped = DatasetCommitment { trace_length: 4095, ..c.clone() };
        let huge = vec![chunk(4096, "01"), ChunkCommitment { trace_length: usize::MAX, ..list[1].clone() }];
        let e = DatasetCommitment { root: DatasetCommitment::chunks_root(3, &huge).unwrap(), chunks: huge, ..wrapped }
            .check_chunks()
            .unwrap_err();
        assert!(e.contains("overflow"), "{e}");
        // A commitment of one snapshot has no chunk list and keeps its JSON.
        let one = DatasetCommitment {
            version: 3,
            trace_length: 4096,
            root: "cd".repeat(32),
            data_version: 1,
            chunks: vec![],
        };
        one.check_chunks().unwrap();
        let json = serde_json::to_string(&one).unwrap();
        assert!(!json.contains("chunks"), "{json}");
        assert_eq!(serde_json::from_str::<DatasetCommitment>(&json).unwrap(), one);
        assert_eq!(serde_json::from_str::<DatasetCommitment>(&serde_json::to_string(&c).unwrap()).unwrap(), c);
    }

    #[test]
    fn row_codes_are_sha256_prefixes_below_2_62() {
        // SHA-256("person") = 38a81e87e79631e6...: computed with `printf person | sha256sum`.
        let expected = 0x38a8_1e87_e796_31e6_u64 & MAX_ROW_CODE;
        assert_eq!(row_code(&["person"]), expected);
        assert!(row_code(&["condition", "icd10cm", "E11.9"]) <= MAX_ROW_CODE);
        assert_ne!(row_code(&["condition", "icd10cm", "E11.9"]), row_code(&["condition", "icd10cm", "E11.8"]));
        // The separator keeps ("ab", "c") apart from ("a", "bc").
        assert_ne!(row_code(&["ab", "c"]), row_code(&["a", "bc"]));
    }

    #[test]
    fn conjunctions_of_exact_criteria_are_provable_ungrouped_or_by_sex() {
        let e11 = CodeMatch { system: CodeSystem::Icd10Cm, code: "E11.9".into(), prefix: false };
        let person = Literal::has(row_code(&["person"]));
        let diabetes = row_code(&["condition", "icd10cm", "E11.9"]);
        let female = row_code(&["sex", "female"]);
        let p = plan(&query(Cohort::Condition { code: e11.clone() }, vec![Aggregate::Count])).unwrap();
        assert_eq!(
            p,
            Plan {
                cohort: vec![Literal::has(diabetes)],
                measure: None,
                squares: false,
                by_sex: false,
                age_bands: vec![],
                bins: vec![],
                every_value_bins: false
            }
        );
        assert_eq!(p.criteria(&GroupKey::TOTAL), vec![Literal::has(diabetes)]);
        let p = plan(&query(Cohort::Sex { sex: Sex::Female }, vec![Aggregate::Count])).unwrap();
        assert_eq!(p.cohort[0].code, female);
        // Everyone, or only negations: the person row is required.
        let p = plan(&query(Cohort::Everyone, vec![Aggregate::Count])).unwrap();
        assert_eq!(p.criteria(&GroupKey::TOTAL), vec![person]);
        let not_female = Cohort::Not { of: Box::new(Cohort::Sex { sex: Sex::Female }) };
        let p = plan(&query(not_female, vec![Aggregate::Count])).unwrap();
        assert_eq!(
            p.criteria(&GroupKey::TOTAL),
            vec![person, Literal { code: female, negated: true, or_previous: false, min: None, max: None }]
        );
        // All of, with negations and nested conjunctions; Everyone adds nothing.
        let cohort = Cohort::All {
            of: vec![
                Cohort::Everyone,
                Cohort::Condition { code: e11.clone() },
                Cohort::All { of: vec![Cohort::Not { of: Box::new(Cohort::Sex { sex: Sex::Female }) }] },
            ],
        };
        let p = plan(&query(cohort.clone(), vec![Aggregate::Count])).unwrap();
        assert_eq!(
            p.cohort,
            vec![
                Literal::has(diabetes),
                Literal { code: female, negated: true, or_previous: false, min: None, max: None }
            ]
        );
        // Grouped by sex: each group's literals add its sex; at most eight literals in all.
        let mut grouped = query(cohort, vec![Aggregate::Count]);
        grouped.group_by.sex = true;
        let p = plan(&grouped).unwrap();
        let male = GroupKey { sex: Some(Sex::Male), age_band: None };
        assert_eq!(p.criteria(&male).last(), Some(&Literal::has(row_code(&["sex", "male"]))));
        assert_eq!(p.criteria(&GroupKey::TOTAL).len(), 2);
        let not = |code: &str| Cohort::Not {
            of: Box::new(Cohort::Condition {
                code: CodeMatch { system: CodeSystem::Icd10Cm, code: code.into(), prefix: false },
            }),
        };
        // Seven negations need the person (eight literals); a sex group has its sex instead.
        let codes = ["I10", "J45", "N18.3", "A00", "A01", "A02", "A03", "A04"];
        let negations = |n: usize| codes[..n].iter().map(|c| not(c)).collect::<Vec<_>>();
        let mut grouped = query(Cohort::All { of: negations(7) }, vec![Aggregate::Count]);
        grouped.group_by.sex = true;
        let p = plan(&grouped).unwrap();
        assert_eq!(p.criteria(&GroupKey::TOTAL)[0], person);
        assert_eq!(p.criteria(&GroupKey::TOTAL).len(), 8);
        assert_eq!(p.criteria(&male).len(), 8);
        // Eight negations with the person, or eight literals and a sex group: too many.
        let why = plan_or_reason(&query(Cohort::All { of: negations(8) }, vec![Aggregate::Count])).unwrap_err();
        assert_eq!(why, format!("{NOT_PROVABLE}{TOO_MANY}"));
        let mut eight = negations(7);
        eight.push(e11_cohort(&e11));
        let mut eight = query(Cohort::All { of: eight }, vec![Aggregate::Count]);
        assert!(plan(&eight).is_some());
        eight.group_by.sex = true;
        assert!(plan(&eight).is_none());

        // A code prefix of at least three characters is its own committed row; a shorter one is not.
        let prefix = CodeMatch { prefix: true, code: "E11".into(), ..e11.clone() };
        let p = plan(&query(Cohort::Condition { code: prefix.clone() }, vec![Aggregate::Count])).unwrap();
        assert_eq!(p.cohort, vec![Literal::has(row_code(&["condition-prefix", "icd10cm", "E11"]))]);
        let short = CodeMatch { code: "E1".into(), ..prefix };
        assert!(plan(&query(Cohort::Condition { code: short }, vec![Aggregate::Count])).is_none());
        assert_eq!(committed_prefixes("E11.9").collect::<Vec<_>>(), ["E11", "E11.", "E11.9"]);
        assert_eq!(committed_prefixes("I1").count(), 0);
        assert_eq!(committed_prefixes("Ä1é2").collect::<Vec<_>>(), ["Ä1é", "Ä1é2"]);
        assert!(plan(&query(Cohort::Everyone, vec![Aggregate::Mean])).is_none());
        assert!(plan(&query(Cohort::Everyone, vec![])).is_none());
        // `any of` everyone is everyone (the person); not everyone is no one, which no proof states.
        let anyone = plan(&query(Cohort::Any { of: vec![Cohort::Everyone] }, vec![Aggregate::Count])).unwrap();
        assert_eq!(anyone.criteria(&GroupKey::TOTAL), vec![Literal::has(row_code(&["person"]))]);
        let no_one = Cohort::Not { of: Box::new(Cohort::Everyone) };
        assert!(plan(&query(no_one, vec![Aggregate::Count])).is_none());
        // Each refusal names what is not provable.
        let why = |q: &Query| plan_or_reason(q).unwrap_err();
        assert_eq!(
            why(&query(Cohort::Everyone, vec![Aggregate::StdDev])),
            "not provable yet: a sum, mean or standard deviation without a measure"
        );
        let empty = Cohort::Any { of: vec![] };
        assert_eq!(
            why(&query(empty, vec![Aggregate::Count])),
            "not provable yet: a cohort no patient can meet (an empty `any of` or not everyone)"
        );
        let snomed = crate::codes::Code { system: CodeSystem::SnomedCt, code: "271649006".into() };
        let valued = Cohort::Observation { code: snomed, min: Some(5.0), max: None };
        assert_eq!(
            why(&query(valued, vec![Aggregate::Count])),
            "not provable yet: observation value criteria outside LOINC"
        );
    }

    /// Histogram bins of latest values and observation criteria are ranged literals over committed
    /// (offset) values, the bounds worked out here by hand from the edges in thousandths.
    #[test]
    fn histogram_bins_and_observation_criteria_are_ranges_of_committed_values() {
        use crate::query::{Measure, Selection};
        use crate::AnswerRow;
        let glucose =
            Measure { code: crate::codes::Code::new(CodeSystem::Loinc, "2345-7"), selection: Selection::Latest };
        let mut q = query(Cohort::Everyone, vec![Aggregate::Count, Aggregate::Histogram { edges: vec![70.0, 100.5] }]);
        q.measure = Some(glucose.clone());
        let p = plan(&q).unwrap();
        let latest = row_code(&["latest", "loinc", "2345-7"]);
        let offset = 1u32 << 31;
        let range = |min, max| Literal { min, max, ..Literal::has(latest) };
        // (-inf, 70.000), [70.000, 100.500), [100.500, inf): 70,000 and 100,500 thousandths.
        assert_eq!(
            p.bins,
            vec![
                range(None, Some(offset + 69_999)),
                range(Some(offset + 70_000), Some(offset + 100_499)),
                range(Some(offset + 100_500), None)
            ]
        );
        assert_eq!(p.measure, None, "counts and bins only");
        // Targets: the patients, then each released bin with its literal; a suppressed bin has none.
        let row = AnswerRow {
            group: GroupKey::TOTAL,
            patients: Cell::Value(40),
            moments: None,
            histogram: Some(vec![Cell::Value(12), Cell::Suppressed, Cell::Value(21)]),
        };
        let answer = NodeAnswer {
            query_id: Uuid::nil(),
            threshold: 10,
            unit: None,
            data_version: 1,
            rows: vec![row],
            exec_micros: 0,
            consented: None,
        };
        let t = p.targets(&answer);
        let parts: Vec<(ProvenPart, Expected)> = t.iter().map(|t| (t.part, t.cell)).collect();
        assert_eq!(
            parts,
            [
                (ProvenPart::Patients, Expected::Count(40)),
                (ProvenPart::Bin(0), Expected::Count(12)),
                (ProvenPart::Bin(2), Expected::Count(21))
            ]
        );
        // The bin is met only by a row held: no person row needed.
        assert_eq!(t[2].criteria, vec![p.bins[2]]);
        // An edge below what a committed value holds leaves its underflow bin empty; the rest unbounded below.
        q.aggregates = vec![Aggregate::Histogram { edges: vec![-3_000_000.0] }];
        let p = plan(&q).unwrap();
        assert_eq!(p.bins, vec![range(Some(1), Some(0)), range(Some(0), None)]);
        // Ten bins and the patients: 11 proofs; by sex, too many.
        let edges: Vec<f64> = (1..10).map(|e| f64::from(e) * 10.0).collect();
        q.aggregates = vec![Aggregate::Count, Aggregate::Histogram { edges }];
        assert!(plan(&q).is_some());
        q.group_by.sex = true;
        assert!(plan_or_reason(&q).unwrap_err().contains("at most 11 proofs"));

        // Some value of HbA1c at or above 6.5 %: every value's code, [6,500 thousandths, inf).
        let hba1c = crate::codes::Code::new(CodeSystem::Loinc, "4548-4");
        let high = Cohort::Observation { code: hba1c.clone(), min: Some(6.5), max: None };
        let p = plan(&query(high.clone(), vec![Aggregate::Count])).unwrap();
        let every = row_code(&["value", "loinc", "4548-4"]);
        assert_eq!(p.cohort, vec![Literal { min: Some(offset + 6_500), max: None, ..Literal::has(every) }]);
        assert!(p.reads_every_value());
        let between = Cohort::Observation { code: hba1c, min: Some(5.7), max: Some(6.4) };
        let p = plan(&query(between, vec![Aggregate::Count])).unwrap();
        assert_eq!((p.cohort[0].min, p.cohort[0].max), (Some(offset + 5_700), Some(offset + 6_400)));
        // Beside moments of latest values, of every value, and a histogram of every value (a measure
        // row counts by its whole block's verdict, wherever the criterion's rows are).
        let mut mean = query(high, vec![Aggregate::Mean]);
        mean.measure = Some(glucose.clone());
        assert_eq!(plan(&mean).unwrap().measure, Some(latest));
        mean.measure = Some(Measure { selection: Selection::All, ..glucose });
        let glucose_every = row_code(&["value", "loinc", "2345-7"]);
        assert_eq!(plan(&mean).unwrap().measure, Some(glucose_every));
        assert_eq!(plan(&mean).unwrap().cohort[0].code, every);
        mean.aggregates = vec![Aggregate::Count, Aggregate::Histogram { edges: vec![100.0] }];
        let binned = plan(&mean).unwrap();
        assert!(binned.every_value_bins);
        assert_eq!(binned.bins.iter().map(|b| b.code).collect::<Vec<_>>(), vec![glucose_every; 2]);
    }

    /// A consent literal admits exactly the consents the engine counts: those without an end, or whose
    /// end falls on a later UTC day than the query's run (dates computed here by the `time` crate), for
    /// ends and run times around every edge: the start and the end of a day, and the extremes.
    #[test]
    fn a_consent_literal_admits_exactly_the_consents_active_through_the_day_the_query_ran() {
        let q = query(Cohort::Everyone, vec![Aggregate::Count]);
        // 1,780,000,000 is 20:26:40 UTC; 1,779,926,400 the day's first second. The last day a committed
        // end can name starts at `u32::MAX · 86,400`; `i64`'s last (partial) day at `last_i64_day`.
        let last_day = i64::from(u32::MAX) * 86_400;
        let last_i64_day = i64::MAX / 86_400 * 86_400;
        let edges = [i64::MIN, -86_400, -1, 0, 1, 86_399, 86_400, 1_779_926_400, 1_780_000_000, 1_780_012_799];
        let edges = edges.into_iter().chain([1_780_012_800, i64::from(u32::MAX), 1 << 33, 1 << 45, last_day, i64::MAX]);
        // The day of `t`: its UTC date from the `time` crate within ±9999 years, else its whole days from
        // 1970 counted here, ranked before (the far past) or after (the far future) every date.
        let day = |t: i64| match time::OffsetDateTime::from_unix_timestamp(t) {
            Ok(d) => (0, i64::from(d.date().to_julian_day())),
            Err(_) => (t.signum(), t.div_euclid(86_400)),
        };
        for at in edges.clone() {
            let plan = plan(&q).unwrap().consented("study-7", at);
            assert_eq!(
                plan.is_ok(),
                (0..last_day).contains(&at),
                "refused only before 1970 or from 32-bit days on: {at}"
            );
            for until in edges.clone().flat_map(|e| [e.saturating_sub(1), e, e.saturating_add(1)]) {
                let later_day = day(until) > day(at);
                // The engine's rule, for every run time but in `i64`'s last day (the cutoff saturates).
                if at < last_i64_day {
                    assert_eq!(until >= consent_cutoff(at), later_day, "the engine's cutoff: until {until}, at {at}");
                }
                let Ok(p) = &plan else { continue };
                let literal = *p.cohort.last().unwrap();
                assert_eq!(
                    (literal.code, literal.negated, literal.or_previous),
                    (consent_code("study-7"), false, false)
                );
                let admits = |v: u32| literal.min.is_none_or(|m| v >= m) && literal.max.is_none_or(|m| v <= m);
                assert_eq!(admits(consent_until(Some(until))), later_day, "until {until}, at {at}");
                assert!(admits(consent_until(None)), "no end: always active");
            }
        }
        // The newest run time a consent can be compared at, and the first it cannot.
        assert!(plan(&q).unwrap().consented("s", last_day - 1).is_ok());
        assert!(plan(&q).unwrap().consented("s", last_day).is_err());
        // Another purpose is another code; the consent clause counts as a literal.
        assert_ne!(consent_code("study-7"), consent_code("study-8"));
        let condition = |code: &str| Cohort::Condition {
            code: CodeMatch { system: CodeSystem::Icd10Cm, code: code.into(), prefix: false },
        };
        let codes = ["E11.9", "I10", "J45", "N18.3", "A00", "A01", "A02"];
        let mut seven = query(Cohort::All { of: codes.map(condition).to_vec() }, vec![Aggregate::Count]);
        let p = plan(&seven).unwrap();
        assert_eq!(p.clone().consented("s", 0).unwrap().cohort.len(), 8);
        seven.group_by.sex = true;
        let why = plan(&seven).unwrap().consented("s", 0).unwrap_err();
        assert_eq!(why, format!("{NOT_PROVABLE}{TOO_MANY}, with the consent criterion"));
    }

    /// Ages from birth months, computed here by the engine's rule (`year - birth year`, less one
    /// before the birth month), for every birth month of 130 years around a reference date.
    #[test]
    fn age_literals_select_exactly_the_birth_months_of_their_ages() {
        let reference = time::macros::date!(2026 - 03 - 15);
        let age = |year: i64, month: i64| {
            let a = 2026 - year - i64::from(3 < month);
            (a >= 0).then_some(a as u32)
        };
        for (min, max) in [(None, None), (Some(40), None), (None, Some(17)), (Some(18), Some(64)), (Some(0), Some(0))] {
            let l = age_literal(reference, min, max);
            assert_eq!(l.code, birth_month_code());
            for year in 1900..2030 {
                for month in 1..=12 {
                    let b = birth_month(year, Some(month)).unwrap();
                    let inside = l.min.is_none_or(|m| b >= m) && l.max.is_none_or(|m| b <= m);
                    let expected =
                        age(year, month).is_some_and(|a| min.is_none_or(|m| a >= m) && max.is_none_or(|m| a <= m));
                    assert_eq!(inside, expected, "born {year}-{month}, ages {min:?} to {max:?}");
                }
            }
        }
        assert_eq!(birth_month(1970, None), Some(1970 * 12));
        assert_eq!(birth_month(1970, Some(13)), None);
        assert_eq!(birth_month(-1, Some(1)), None);

        // An age criterion is a ranged literal; age bands add their band's to each group row.
        let e11 = CodeMatch { system: CodeSystem::Icd10Cm, code: "E11.9".into(), prefix: false };
        let aged = Cohort::All { of: vec![e11_cohort(&e11), Cohort::Age { min: Some(40), max: None }] };
        let mut q = query(aged, vec![Aggregate::Count]);
        q.reference_date = reference;
        let p = plan(&q).unwrap();
        assert_eq!(p.cohort[1], age_literal(reference, Some(40), None));
        assert_eq!(p.cohort[1].max, Some(12 * 1986 + 2));
        q.group_by.age_bands = Some(vec![50, 65]);
        let p = plan(&q).unwrap();
        let bands: Vec<AgeBand> = p.age_bands.iter().map(|(b, _)| *b).collect();
        assert_eq!(bands, AgeBand::from_edges(&[50, 65]));
        let band = GroupKey { sex: None, age_band: Some(AgeBand { lo: 50, hi: Some(65) }) };
        assert_eq!(p.criteria(&band).last(), Some(&age_literal(reference, Some(50), Some(64))));
        assert_eq!(p.criteria(&GroupKey::TOTAL).len(), 2);
        // By sex and three bands, with moments: 2 × (1 + 9) proofs, more than a snapshot serves.
        q.group_by.sex = true;
        let hba1c = crate::codes::Code { system: CodeSystem::Loinc, code: "4548-4".into() };
        q.measure = Some(crate::query::Measure { code: hba1c, selection: crate::query::Selection::Latest });
        q.aggregates = vec![Aggregate::Mean];
        assert_eq!(
            plan_or_reason(&q).unwrap_err(),
            "not provable yet: more cells than one snapshot proves (at most 11 proofs per answer: fewer groups)"
        );
    }

    #[test]
    fn any_of_cohorts_are_clauses_of_literals() {
        let code = |c: &str| Cohort::Condition {
            code: CodeMatch { system: CodeSystem::Icd10Cm, code: c.into(), prefix: false },
        };
        let lit = |c: &str, negated, or_previous| Literal {
            code: row_code(&["condition", "icd10cm", c]),
            negated,
            or_previous,
            min: None,
            max: None,
        };
        let not = |c: &str| Cohort::Not { of: Box::new(code(c)) };
        // (I10 or not E11.9 or J45) and N18.3: one clause of three, one of one; nested `any of`s flatten.
        let cohort = Cohort::All {
            of: vec![
                Cohort::Any { of: vec![code("I10"), Cohort::Any { of: vec![not("E11.9"), code("J45")] }] },
                code("N18.3"),
            ],
        };
        let p = plan(&query(cohort, vec![Aggregate::Count])).unwrap();
        let expected = vec![
            lit("I10", false, false),
            lit("E11.9", true, true),
            lit("J45", false, true),
            lit("N18.3", false, false),
        ];
        assert_eq!(p.cohort, expected);
        assert_eq!(p.criteria(&GroupKey::TOTAL), expected, "N18.3 is met only by a row held: no person needed");
        // A clause with a negation only: the person joins as a clause of its own, first.
        let p = plan(&query(Cohort::Any { of: vec![not("I10"), code("J45")] }, vec![Aggregate::Count])).unwrap();
        let person = Literal::has(row_code(&["person"]));
        assert_eq!(p.criteria(&GroupKey::TOTAL), vec![person, lit("I10", true, false), lit("J45", false, true)]);
        // With a sex group, the sex is that clause.
        let mut by_sex = query(Cohort::Any { of: vec![not("I10"), code("J45")] }, vec![Aggregate::Count]);
        by_sex.group_by.sex = true;
        let p = plan(&by_sex).unwrap();
        let female = GroupKey { sex: Some(Sex::Female), age_band: None };
        assert_eq!(p.criteria(&female)[2], Literal::has(row_code(&["sex", "female"])));
        assert_eq!(p.criteria(&female).len(), 3);
        // All positive: (I10 or J45) needs no person.
        let p = plan(&query(Cohort::Any { of: vec![code("I10"), code("J45")] }, vec![Aggregate::Count])).unwrap();
        assert_eq!(p.criteria(&GroupKey::TOTAL), vec![lit("I10", false, false), lit("J45", false, true)]);
        // Negations move to the leaves, and `any of` distributes over `all of`: not (I10 and not J45) is
        // (not I10 or J45); (I10 and J45) or N18.3 is (I10 or N18.3) and (J45 or N18.3).
        let not_both = Cohort::Not { of: Box::new(Cohort::All { of: vec![code("I10"), not("J45")] }) };
        let p = plan(&query(not_both, vec![Aggregate::Count])).unwrap();
        assert_eq!(p.cohort, vec![lit("I10", true, false), lit("J45", false, true)]);
        let either = Cohort::Any { of: vec![Cohort::All { of: vec![code("I10"), code("J45")] }, code("N18.3")] };
        let p = plan(&query(either, vec![Aggregate::Count])).unwrap();
        let expected = vec![
            lit("I10", false, false),
            lit("N18.3", false, true),
            lit("J45", false, false),
            lit("N18.3", false, true),
        ];
        assert_eq!(p.cohort, expected);
        // not (I10 or J45) is (not I10) and (not J45), after the person.
        let neither = Cohort::Not { of: Box::new(Cohort::Any { of: vec![code("I10"), code("J45")] }) };
        let p = plan(&query(neither, vec![Aggregate::Count])).unwrap();
        assert_eq!(p.criteria(&GroupKey::TOTAL)[1..], [lit("I10", true, false), lit("J45", true, false)]);
        // Distributing may need more literals than a proof tests: (a and b) or (c and d) needs four
        // clauses of two (eight literals, provable); (a and b and c) or (d and e and f) nine clauses of two.
        let pairs = Cohort::Any {
            of: vec![
                Cohort::All { of: vec![code("A00"), code("A01")] },
                Cohort::All { of: vec![code("A02"), code("A03")] },
            ],
        };
        assert_eq!(plan(&query(pairs, vec![Aggregate::Count])).unwrap().cohort.len(), 8);
        let triples = Cohort::Any {
            of: vec![
                Cohort::All { of: vec![code("A00"), code("A01"), code("A02")] },
                Cohort::All { of: vec![code("A03"), code("A04"), code("A05")] },
            ],
        };
        assert!(plan_or_reason(&query(triples, vec![Aggregate::Count])).unwrap_err().contains("more than eight"));
        // Nine literals are too many.
        let nine =
            Cohort::Any { of: ["A00", "A01", "A02", "A03", "A04", "A05", "A06", "A07", "A08"].map(code).to_vec() };
        assert!(plan_or_reason(&query(nine, vec![Aggregate::Count])).unwrap_err().contains("more than eight"));
    }

    fn e11_cohort(code: &CodeMatch) -> Cohort {
        Cohort::Condition { code: code.clone() }
    }

    #[test]
    fn targets_are_the_whole_cohort_and_each_released_group() {
        let mut q = query(Cohort::Everyone, vec![Aggregate::Count]);
        q.group_by.sex = true;
        let p = plan(&q).unwrap();
        let row = |sex: Option<Sex>, patients| crate::AnswerRow {
            group: GroupKey { sex, age_band: None },
            patients,
            moments: None,
            histogram: None,
        };
        let answer = NodeAnswer {
            query_id: Uuid::nil(),
            threshold: 10,
            unit: None,
            data_version: 1,
            rows: vec![
                row(None, Cell::Value(40)),
                row(Some(Sex::Female), Cell::Value(22)),
                row(Some(Sex::Male), Cell::Value(18)),
                row(Some(Sex::Other), Cell::Suppressed),
                row(Some(Sex::Unknown), Cell::Suppressed),
            ],
            exec_micros: 0,
            consented: None,
        };
        let t = p.targets(&answer);
        assert_eq!(t.len(), 3);
        assert_eq!((t[0].group, t[0].cell, t[0].criteria.len()), (GroupKey::TOTAL, Expected::Count(40), 1));
        assert_eq!((t[1].group.sex, t[1].cell), (Some(Sex::Female), Expected::Count(22)));
        // A sex group of everyone needs no person row: its sex is required.
        assert_eq!(t[2].criteria, vec![Literal::has(row_code(&["sex", "male"]))]);
        // A suppressed whole cohort is still a target (proven below the threshold).
        let mut small = answer.clone();
        small.rows[0].patients = Cell::Suppressed;
        assert_eq!(p.targets(&small)[0].cell, Expected::Suppressed);
    }

    #[test]
    fn sums_and_means_of_latest_values_are_provable_and_their_moments_are_targets() {
        use crate::query::{Measure, Selection};
        let glucose = Measure { code: crate::Code::new(CodeSystem::Loinc, "2345-7"), selection: Selection::Latest };
        let mut q = query(Cohort::Sex { sex: Sex::Female }, vec![Aggregate::Count, Aggregate::Mean]);
        q.measure = Some(glucose.clone());
        let p = plan(&q).unwrap();
        assert_eq!(p.measure, Some(row_code(&["latest", "loinc", "2345-7"])));
        assert!(!p.squares);
        // Every value: the rows committed per value, under their own code; a histogram of them: not yet.
        let mut all = q.clone();
        all.measure = Some(Measure { selection: Selection::All, ..glucose.clone() });
        assert_eq!(plan(&all).unwrap().measure, Some(row_code(&["value", "loinc", "2345-7"])));
        // A histogram of every value: each bin a range of the every-value rows, counted as the measure's.
        let histogram = Aggregate::Histogram { edges: vec![5.0] };
        let p = plan(&Query { aggregates: vec![Aggregate::Mean, histogram], ..all.clone() }).unwrap();
        let every = row_code(&["value", "loinc", "2345-7"]);
        let offset = 1u32 << 31;
        assert!(p.every_value_bins);
        assert_eq!(p.bins[0], Literal { min: None, max: Some(offset + 4_999), ..Literal::has(every) });
        assert_eq!(p.bins[1], Literal { min: Some(offset + 5_000), max: None, ..Literal::has(every) });
        // A measure with counts only proves counts.
        assert_eq!(plan(&Query { aggregates: vec![Aggregate::Count], ..q.clone() }).unwrap().measure, None);

        let answer = |moments| NodeAnswer {
            query_id: Uuid::nil(),
            threshold: 10,
            unit: Some("mg/dL".into()),
            data_version: 1,
            rows: vec![crate::AnswerRow {
                group: GroupKey::TOTAL,
                patients: Cell::Value(30),
                moments: Some(moments),
                histogram: None,
            }],
            exec_micros: 0,
            consented: None,
        };
        let t = p.targets(&answer(crate::Moments::Released { n: 25, sum: -4_000, sum_sq: 1 }));
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[1].part, t[1].measure, t[1].cell),
            (ProvenPart::Moments, p.measure, Expected::Moments { n: 25, sum: -4_000, sum_sq: None })
        );
        // The committed values are offset by 2^31 thousandths: 25 values summing to -4.000 units.
        let outputs = Outputs { count: 25, sum: 25 * (1u64 << 31) - 4_000, sum_sq: None };
        assert_eq!(t[1].outputs(), Ok(Some(outputs)));
        let t = p.targets(&answer(crate::Moments::Suppressed));
        assert_eq!(t[1].outputs(), Ok(None));
        // A sum no committed values could give.
        let t = p.targets(&answer(crate::Moments::Released { n: 2, sum: -(1 << 40), sum_sq: 1 }));
        assert!(t[1].outputs().unwrap_err().contains("outside"));
        assert_eq!(committed_value(-(1 << 31)), Some(0));
        assert_eq!(committed_value((1 << 31) - 1), Some(u32::MAX));
        assert_eq!(committed_value(1 << 31), None);
    }

    #[test]
    fn standard_deviations_prove_the_sum_of_squares_of_the_committed_values() {
        use crate::query::{Measure, Selection};
        let glucose = Measure { code: crate::Code::new(CodeSystem::Loinc, "2345-7"), selection: Selection::Latest };
        let mut q = query(Cohort::Everyone, vec![Aggregate::Mean, Aggregate::StdDev]);
        q.measure = Some(glucose);
        let p = plan(&q).unwrap();
        assert!(p.squares);
        // Three values in thousandths, and the squares of their committed forms summed here directly.
        let values: [i64; 3] = [-1_500, 0, 2_147_483_647];
        let committed: Vec<u128> = values.iter().map(|v| u128::from(committed_value(*v).unwrap())).collect();
        let moments = crate::Moments::Released {
            n: 3,
            sum: values.iter().sum(),
            sum_sq: values.iter().map(|v| i128::from(*v) * i128::from(*v)).sum(),
        };
        let answer = NodeAnswer {
            query_id: Uuid::nil(),
            threshold: 2,
            unit: None,
            data_version: 1,
            rows: vec![crate::AnswerRow {
                group: GroupKey::TOTAL,
                patients: Cell::Value(3),
                moments: Some(moments),
                histogram: None,
            }],
            exec_micros: 0,
            consented: None,
        };
        let t = p.targets(&answer);
        let expected = Outputs {
            count: 3,
            sum: committed.iter().sum::<u128>() as u64,
            sum_sq: Some(committed.iter().map(|v| v * v).sum()),
        };
        assert_eq!(t[1].outputs(), Ok(Some(expected)));
        // Sums of squares no committed values could give: below zero, and above n·(2^32 - 1)².
        let mut odd = t[1].clone();
        odd.cell = Expected::Moments { n: 1, sum: -(1 << 31), sum_sq: Some(-1) };
        assert!(odd.outputs().unwrap_err().contains("sum of squares"));
        odd.cell = Expected::Moments { n: 1, sum: 0, sum_sq: Some(1 << 70) };
        assert!(odd.outputs().unwrap_err().contains("sum of squares"));
    }

    #[test]
    fn the_query_digest_binds_the_id_and_the_query() {
        let q = query(Cohort::Everyone, vec![Aggregate::Count]);
        let id = Uuid::from_u128(7);
        assert_eq!(query_digest(id, &q), query_digest(id, &q.clone()));
        assert_ne!(query_digest(id, &q), query_digest(Uuid::from_u128(8), &q));
        let other = query(Cohort::Sex { sex: Sex::Male }, vec![Aggregate::Count]);
        assert_ne!(query_digest(id, &q), query_digest(id, &other));
    }

    /// A proof message from a node older than the `statement` field still parses (naming none, which
    /// the hub reports), and the field round-trips.
    #[test]
    fn a_proven_outcome_names_its_statement_or_none() {
        let old = r#"{"outcome":"proven","commitment":{"version":3,"trace_length":4096,"root":"ab","data_version":2},"cells":[]}"#;
        let parsed: ProofOutcome = serde_json::from_str(old).unwrap();
        assert!(matches!(&parsed, ProofOutcome::Proven { statement, .. } if statement.is_empty()), "{parsed:?}");
        let ProofOutcome::Proven { commitment, cells, .. } = parsed else { unreachable!() };
        let new = ProofOutcome::Proven { commitment, cells, statement: "agora-zk/cohort/4".into() };
        let json = serde_json::to_string(&new).unwrap();
        assert!(json.contains(r#""statement":"agora-zk/cohort/4""#), "{json}");
        assert_eq!(serde_json::from_str::<ProofOutcome>(&json).unwrap(), new);
    }
}

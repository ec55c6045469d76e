//! Statistical disclosure control: the only way an exact query result becomes releasable
//! [`AnswerRow`]s. The query engine produces an [`ExactAnswer`] (raw counts, never serialised, never
//! leaving the node); [`protect`] turns it into rows in which every released count is at least the node's
//! threshold and no suppressed count can be recomputed from the released ones by subtraction.
//!
//! # Primary suppression
//! A count below the threshold — a group's patient count, a histogram bin, or the number of values `n`
//! behind a group's moments — is [`Cell::Suppressed`], and so is a count of values that come from fewer
//! patients than the threshold (every value of a measure: one patient's many values would otherwise
//! release that patient's mean, spread or distribution). Zero is below every threshold of at least 1 and is
//! suppressed too: an empty cell is as telling as a cell of one. When `n` is suppressed the moments are
//! [`Moments::Suppressed`] as a whole, so neither the sum nor the sum of squares is released.
//!
//! # Complementary suppression
//! Some released numbers are exact sums of others. Each such relation is a *family*: a marginal and the
//! cells that add up to it.
//!
//! - (a) the groups' patient counts add up to the whole cohort's;
//! - (b) the groups' value counts `n` add up to the whole cohort's `n` (and so do their sums and sums of
//!   squares, which are released or suppressed together with `n`);
//! - (c) a row's histogram bins add up to that row's `n` (the underflow and overflow bins make the sum
//!   exact) when the moments are asked for; without them, bins of each patient's one value add up to the
//!   row's patient count less the patients with no value (the family's residual, below), and bins of
//!   every value to a number of values that is not released (no family);
//! - (d) for each bin, the groups' counts in that bin add up to the whole cohort's count in that bin.
//!
//! If exactly one member of a family (marginal included) is suppressed, it is the released marginal minus
//! the released cells, so the smallest released cell of the family is suppressed too; a suppressed marginal
//! with every cell released is handled the same way. A suppression made for one family can leave another
//! with a lone suppressed cell (a group's `n` is a cell of (b) and the marginal of (c); a bin is a cell of
//! (c) and of (d)), so the rule is applied until nothing changes. It terminates: every round suppresses one
//! more cell of a finite answer.
//!
//! # Margins another query releases, and the groups' residual
//! Grouped by sex and age band, the group cells form a sex × band table. This answer releases no per-sex
//! or per-band margin, but the same cohort asked by sex alone, or by age band alone, does: so each sex's
//! cells and each band's cells are families too (in patients, `n` and each bin), with a marginal taken as
//! released (it is another answer's) that is never suppressed here. Without them a lone suppressed cell
//! of a sex was that sex's count from the other query minus its released cells.
//!
//! Persons with no age on the reference date (no birth date, or born after it) fall in no age band, so
//! with age bands the groups may add up to less than the total. That residual is itself a count the
//! reader gets by subtraction: it is a member of families (a), (b) and (d) that is never released, and is
//! suppressed by the primary rule like any count (a residual of one person below the threshold, with the
//! total and every band released, was that person's value). It is never chosen as a complement: it is
//! not published to be withheld. A residual per sex (persons of one sex with no age) is not counted
//! here: with age bands, a by-sex answer minus this one's released cells of that sex may still give it.
//!
//! # What this does not do
//! The rule guarantees that no family has a lone suppressed cell; it does not solve the full linear system
//! of the families together, and it does not hide the interval a suppressed cell lies in (between 0 and the
//! threshold, and at most the marginal minus the released cells). Those are the usual limits of cell
//! suppression; the answers of different queries over the same data are also not cross-checked here.

use agora_protocol::{AnswerRow, Cell, GroupKey, Moments};

/// The exact moments of a measure in one group. Node-internal: never serialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExactMoments {
    /// Number of values.
    pub n: u64,
    /// Sum of the values, in thousandths of the canonical unit.
    pub sum: i64,
    /// Sum of the squared values, in millionths of the unit squared.
    pub sum_sq: i128,
    /// Patients the values come from (every value of a measure: fewer than `n`).
    pub patients: u64,
}

/// One row of an exact result. Node-internal: never serialised, never logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactRow {
    /// The group.
    pub group: GroupKey,
    /// Patients of the cohort in the group.
    pub patients: u64,
    /// Moments of the measure, when asked for.
    pub moments: Option<ExactMoments>,
    /// Histogram bins (underflow, one per interval, overflow), when asked for.
    pub histogram: Option<Vec<u64>>,
    /// Patients with a value in each bin.
    pub bin_patients: Option<Vec<u64>>,
}

/// The exact result of a query: the whole-cohort row first, then one row per group. Node-internal: the only
/// way out of the node is [`protect`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExactAnswer {
    /// The rows.
    pub rows: Vec<ExactRow>,
}

/// A marginal and the cells that add up to it, as indexes into the flat list of counts.
#[derive(Debug)]
struct Family {
    marginal: usize,
    members: Vec<usize>,
}

/// What a count of the flat list is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Released in the answer, or suppressed.
    Shown,
    /// The groups' residual (persons in no age band): never released, suppressed by the primary rule,
    /// never chosen as a complement.
    Residual,
    /// A margin another answer releases (a sex's, a band's): never suppressed, never chosen.
    Elsewhere,
}

/// Where each row's counts sit in the flat list.
struct Layout {
    values: Vec<u64>,
    /// Per count, the patients behind it (a count of values may come from fewer patients).
    contributors: Vec<u64>,
    kinds: Vec<Kind>,
    /// Each row's group.
    groups: Vec<GroupKey>,
    patients: Vec<usize>,
    n: Vec<Option<usize>>,
    bins: Vec<Option<Vec<usize>>>,
    /// Per row, whether its bins count patients (one value each: the latest value), not values.
    bins_of_patients: Vec<bool>,
}

impl Layout {
    fn of(exact: &ExactAnswer) -> Layout {
        let mut layout = Layout {
            values: Vec::new(),
            contributors: Vec::new(),
            kinds: Vec::new(),
            groups: exact.rows.iter().map(|r| r.group).collect(),
            patients: Vec::new(),
            n: Vec::new(),
            bins: Vec::new(),
            bins_of_patients: exact
                .rows
                .iter()
                .map(|r| {
                    r.histogram.is_some() && r.bin_patients.as_ref().is_none_or(|p| Some(p) == r.histogram.as_ref())
                })
                .collect(),
        };
        for row in &exact.rows {
            let idx = layout.push(row.patients, row.patients);
            layout.patients.push(idx);
            let n = row.moments.map(|m| layout.push(m.n, m.patients));
            layout.n.push(n);
            let bins = row.histogram.as_ref().map(|h| {
                let patients = row.bin_patients.as_deref().unwrap_or(h);
                h.iter().zip(patients).map(|(&b, &p)| layout.push(b, p)).collect()
            });
            layout.bins.push(bins);
        }
        layout
    }

    fn push(&mut self, value: u64, contributors: u64) -> usize {
        self.push_kind(value, contributors, Kind::Shown)
    }

    fn push_kind(&mut self, value: u64, contributors: u64, kind: Kind) -> usize {
        self.values.push(value);
        self.contributors.push(contributors);
        self.kinds.push(kind);
        self.values.len() - 1
    }

    /// The family of `marginal` over `members`, with the members' residual as one more member when they
    /// add up to less than the marginal.
    fn with_residual(&mut self, marginal: usize, mut members: Vec<usize>) -> Family {
        let sum: u64 = members.iter().map(|&i| self.values[i]).sum();
        if let Some(residual) = self.values[marginal].checked_sub(sum).filter(|r| *r > 0) {
            let behind: u64 = members.iter().map(|&i| self.contributors[i]).sum();
            let contributors = self.contributors[marginal].saturating_sub(behind).min(residual);
            members.push(self.push_kind(residual, contributors, Kind::Residual));
        }
        Family { marginal, members }
    }

    /// The family of cells `members` under a margin another answer releases.
    fn elsewhere(&mut self, members: Vec<usize>) -> Family {
        let sum = members.iter().map(|&i| self.values[i]).sum();
        let marginal = self.push_kind(sum, sum, Kind::Elsewhere);
        Family { marginal, members }
    }

    /// The families (a)–(d) of the module documentation, with the groups' residual, and the sex and band
    /// margins of a sex × band table.
    fn families(&mut self) -> Vec<Family> {
        let mut families = Vec::new();
        let rows = self.patients.len();
        let groups: Vec<usize> = (1..rows).collect();
        if !groups.is_empty() {
            families.push(self.family_of(0, &groups, |l, r| Some(l.patients[r])));
            if self.n[0].is_some() {
                families.push(self.family_of(0, &groups, |l, r| l.n[r]));
            }
            for bin_idx in 0..self.bins[0].as_ref().map_or(0, Vec::len) {
                families.push(self.family_of(0, &groups, |l, r| l.bins[r].as_ref().map(|b| b[bin_idx])));
            }
        }
        // A sex × band table: each sex's cells, and each band's.
        let keys: Vec<_> = self.groups.clone();
        let two_way = keys[1..].iter().all(|k| k.sex.is_some() && k.age_band.is_some());
        if two_way && rows > 1 {
            let mut margins: Vec<Vec<usize>> = Vec::new();
            for r in 1..rows {
                let by_sex = (1..rows).filter(|&o| keys[o].sex == keys[r].sex).collect();
                let by_band = (1..rows).filter(|&o| keys[o].age_band == keys[r].age_band).collect();
                for m in [by_sex, by_band] {
                    if !margins.contains(&m) {
                        margins.push(m);
                    }
                }
            }
            for rows in margins.into_iter().filter(|m: &Vec<usize>| m.len() > 1) {
                let cells = |pick: &dyn Fn(&Layout, usize) -> Option<usize>, l: &Layout| {
                    rows.iter().filter_map(|&r| pick(l, r)).collect::<Vec<_>>()
                };
                let patients = cells(&|l, r| Some(l.patients[r]), self);
                families.push(self.elsewhere(patients));
                let n = cells(&|l, r| l.n[r], self);
                families.push(self.elsewhere(n));
                for bin_idx in 0..self.bins[0].as_ref().map_or(0, Vec::len) {
                    let bins = cells(&|l, r| l.bins[r].as_ref().map(|b| b[bin_idx]), self);
                    families.push(self.elsewhere(bins));
                }
            }
        }
        for r in 0..rows {
            match (self.n[r], self.bins[r].clone()) {
                (Some(n), Some(bins)) => families.push(Family { marginal: n, members: bins }),
                // Without moments, bins of patients (one value each) add up to the row's patient
                // count less the patients without a value (their residual). Bins of every value count
                // values, whose number is not released: no relation.
                (None, Some(bins)) if self.bins_of_patients[r] => {
                    let patients = self.patients[r];
                    families.push(self.with_residual(patients, bins));
                }
                _ => {}
            }
        }
        families.retain(|f| !f.members.is_empty());
        families
    }

    /// The family of row `total`'s count `pick` over the same count of `rows`, with their residual.
    fn family_of(&mut self, total: usize, rows: &[usize], pick: impl Fn(&Layout, usize) -> Option<usize>) -> Family {
        let marginal = pick(self, total).expect("the total row has the count its groups have");
        let members = rows.iter().filter_map(|&r| pick(self, r)).collect();
        self.with_residual(marginal, members)
    }
}

/// Applies primary and complementary suppression at `threshold` and returns the releasable rows, in the
/// order of `exact.rows`.
pub fn protect(exact: &ExactAnswer, threshold: u32) -> Vec<AnswerRow> {
    let mut layout = Layout::of(exact);
    let families = layout.families();
    let suppressed = suppress(&layout.values, &layout.contributors, &layout.kinds, &families, threshold);
    let cell = |idx: usize| if suppressed[idx] { Cell::Suppressed } else { Cell::Value(layout.values[idx]) };
    exact
        .rows
        .iter()
        .enumerate()
        .map(|(row_idx, row)| AnswerRow {
            group: row.group,
            patients: cell(layout.patients[row_idx]),
            moments: row.moments.map(|m| match layout.n[row_idx] {
                Some(idx) if !suppressed[idx] => Moments::Released { n: m.n, sum: m.sum, sum_sq: m.sum_sq },
                _ => Moments::Suppressed,
            }),
            histogram: layout.bins[row_idx].as_ref().map(|bins| bins.iter().map(|&idx| cell(idx)).collect()),
        })
        .collect()
}

/// Which counts to suppress: those below the threshold or from fewer patients than it, then complements
/// until no family has exactly one suppressed member.
fn suppress(values: &[u64], contributors: &[u64], kinds: &[Kind], families: &[Family], threshold: u32) -> Vec<bool> {
    let t = u64::from(threshold);
    let mut suppressed: Vec<bool> = values
        .iter()
        .zip(contributors)
        .zip(kinds)
        .map(|((&v, &p), &kind)| kind != Kind::Elsewhere && (v < t || p < t))
        .collect();
    loop {
        let mut changed = false;
        for family in families {
            let n_suppressed =
                usize::from(suppressed[family.marginal]) + family.members.iter().filter(|&&i| suppressed[i]).count();
            if n_suppressed != 1 {
                continue;
            }
            // The smallest released cell of the answer's own; else its marginal, if it is the answer's.
            let shown = |i: &usize| kinds[*i] == Kind::Shown && !suppressed[*i];
            let smallest = family.members.iter().copied().filter(shown).min_by_key(|&i| (values[i], i));
            let Some(complement) = smallest.or(Some(family.marginal).filter(shown)) else {
                continue;
            };
            suppressed[complement] = true;
            changed = true;
        }
        if !changed {
            return suppressed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_protocol::{AgeBand, Sex};
    use proptest::prelude::*;

    fn group(i: usize) -> GroupKey {
        GroupKey { sex: Some(Sex::ALL[i % 4]), age_band: Some(AgeBand { lo: i as u32, hi: Some(i as u32 + 1) }) }
    }

    /// An answer of patient counts only: the total, then the groups.
    fn counts(total: u64, groups: &[u64]) -> ExactAnswer {
        let row = |group, patients| ExactRow { group, patients, moments: None, histogram: None, bin_patients: None };
        let mut rows = vec![row(GroupKey::TOTAL, total)];
        rows.extend(groups.iter().enumerate().map(|(i, &p)| row(group(i), p)));
        ExactAnswer { rows }
    }

    fn shown(rows: &[AnswerRow]) -> Vec<Option<u64>> {
        rows.iter().map(|r| r.patients.value()).collect()
    }

    fn check(exact: ExactAnswer, threshold: u32, expect: &[Option<u64>]) {
        assert_eq!(shown(&protect(&exact, threshold)), expect);
    }

    #[test]
    fn patient_counts() {
        // Nothing below the threshold: everything released.
        check(counts(60, &[10, 20, 30]), 10, &[Some(60), Some(10), Some(20), Some(30)]);
        // 9 is below 10, 10 is not.
        check(counts(9, &[]), 10, &[None]);
        check(counts(10, &[]), 10, &[Some(10)]);
        // A lone small group takes the smallest other group with it.
        check(counts(67, &[12, 5, 20, 30]), 10, &[Some(67), None, None, Some(20), Some(30)]);
        // Two small groups already protect each other.
        check(counts(50, &[3, 4, 43]), 10, &[Some(50), None, None, Some(43)]);
        // An empty group is suppressed, and complemented, even at threshold 1.
        check(counts(30, &[0, 10, 20]), 1, &[Some(30), None, None, Some(20)]);
        // A small total: every group is smaller still.
        check(counts(8, &[3, 5]), 10, &[None, None, None]);
        // Threshold 0 suppresses nothing.
        check(counts(8, &[0, 8]), 0, &[Some(8), Some(0), Some(8)]);
    }

    /// A row of `patients` with the latest value's moments (one value each) and bins, if given.
    fn row(group: GroupKey, patients: u64, n: Option<u64>, bins: Option<Vec<u64>>) -> ExactRow {
        ExactRow {
            group,
            patients,
            moments: n.map(|n| ExactMoments { n, sum: 7 * n as i64, sum_sq: 49 * i128::from(n), patients: n }),
            bin_patients: bins.clone(),
            histogram: bins,
        }
    }

    fn band(lo: u32, hi: Option<u32>) -> AgeBand {
        AgeBand { lo, hi }
    }

    /// One person in no age band (born after the reference date): the total and the one band, both
    /// released, gave that person's value by subtraction. The residual is a count like any other.
    #[test]
    fn the_residual_of_persons_in_no_band_is_protected() {
        let everyone = GroupKey { sex: None, age_band: Some(band(0, None)) };
        let exact =
            ExactAnswer { rows: vec![row(GroupKey::TOTAL, 41, Some(41), None), row(everyone, 40, Some(40), None)] };
        let rows = protect(&exact, 10);
        assert_eq!(shown(&rows), [Some(41), None]);
        assert_eq!(rows[0].moments, Some(Moments::Released { n: 41, sum: 287, sum_sq: 2009 }));
        assert_eq!(rows[1].moments, Some(Moments::Suppressed));
        // A residual at the threshold is no secret; none is no residual.
        let young = GroupKey { sex: None, age_band: Some(band(0, Some(40))) };
        let old = GroupKey { sex: None, age_band: Some(band(40, None)) };
        let rows = |total, a, b| {
            vec![row(GroupKey::TOTAL, total, None, None), row(young, a, None, None), row(old, b, None, None)]
        };
        assert_eq!(shown(&protect(&ExactAnswer { rows: rows(60, 20, 30) }, 10)), [Some(60), Some(20), Some(30)]);
        assert_eq!(shown(&protect(&ExactAnswer { rows: rows(50, 20, 30) }, 10)), [Some(50), Some(20), Some(30)]);
        assert_eq!(shown(&protect(&ExactAnswer { rows: rows(51, 20, 30) }, 10)), [Some(51), None, Some(30)]);
    }

    /// Sex × band: women under 40 are 3 (suppressed), the other sexes' cells are empty (suppressed, so
    /// the groups' family needs nothing more). The women's count by sex alone is another answer's: their
    /// bands are a family under it, and a second of their cells goes.
    #[test]
    fn each_sex_and_each_band_is_a_family_under_the_margin_another_answer_gives() {
        let bands = [band(0, Some(40)), band(40, Some(65)), band(65, None)];
        let counts = [[3, 25, 30], [20, 21, 22], [0, 0, 0], [0, 0, 0]];
        let mut rows = vec![row(GroupKey::TOTAL, 121, None, None)];
        for (sex, cells) in Sex::ALL.iter().zip(counts) {
            for (b, p) in bands.iter().zip(cells) {
                rows.push(row(GroupKey { sex: Some(*sex), age_band: Some(*b) }, p, None, None));
            }
        }
        let released = shown(&protect(&ExactAnswer { rows }, 10));
        assert_eq!(released[0], Some(121));
        let of = |s: usize| released[1 + 3 * s..4 + 3 * s].to_vec();
        assert_eq!(of(0), [None, None, Some(30)], "the women's smallest released band goes with the 3");
        // The band under 40: the women's 3, and so the men's 20 (its other released cell) too.
        // The bands' families each hold the two empty cells of the other sexes (suppressed, as every
        // zero is): the women's two are not alone there, and the men's cells stay.
        assert_eq!(of(1), [Some(20), Some(21), Some(22)]);
        assert_eq!((of(2), of(3)), (vec![None; 3], vec![None; 3]));
    }

    /// Bins without moments: every patient of the row has a value, so the bins add up to its released
    /// patient count, and one small bin alone was that count minus the others.
    #[test]
    fn bins_without_moments_add_up_to_the_patient_count() {
        let exact = ExactAnswer { rows: vec![row(GroupKey::TOTAL, 45, None, Some(vec![20, 22, 3]))] };
        let rows = protect(&exact, 10);
        assert_eq!(rows[0].patients, Cell::Value(45));
        assert_eq!(rows[0].histogram, Some(vec![Cell::Suppressed, Cell::Value(22), Cell::Suppressed]));
        // Patients without a value: their residual (10, at the threshold) hides nothing.
        let exact = ExactAnswer { rows: vec![row(GroupKey::TOTAL, 55, None, Some(vec![20, 22, 13]))] };
        let bins = protect(&exact, 10)[0].histogram.clone().unwrap();
        assert_eq!(bins, [Cell::Value(20), Cell::Value(22), Cell::Value(13)]);
        // Bins of every value count values, whose number is not released: only the bin of few patients
        // goes.
        let mut every = row(GroupKey::TOTAL, 30, None, Some(vec![150, 12, 300]));
        every.bin_patients = Some(vec![28, 4, 30]);
        let bins = protect(&ExactAnswer { rows: vec![every] }, 10)[0].histogram.clone().unwrap();
        assert_eq!(bins, [Cell::Value(150), Cell::Suppressed, Cell::Value(300)]);
    }

    #[test]
    fn moments_follow_their_count() {
        let row = |group, n, sum| ExactRow {
            group,
            patients: n,
            moments: Some(ExactMoments { n, sum, sum_sq: i128::from(sum) * 7, patients: n }),
            histogram: None,
            bin_patients: None,
        };
        let exact =
            ExactAnswer { rows: vec![row(GroupKey::TOTAL, 40, 4000), row(group(0), 4, 400), row(group(1), 36, 3600)] };
        let rows = protect(&exact, 5);
        assert_eq!(rows[0].moments, Some(Moments::Released { n: 40, sum: 4000, sum_sq: 28000 }));
        // n = 4 is below 5; the other group would give it away by subtraction.
        assert_eq!(rows[1].moments, Some(Moments::Suppressed));
        assert_eq!(rows[2].moments, Some(Moments::Suppressed));
    }

    /// Every value of a measure: one patient's twelve values are as telling as one value, so their moments
    /// and the bins they fill are suppressed (and complemented), though the counts of values reach the
    /// threshold.
    #[test]
    fn counts_of_values_from_few_patients_are_suppressed() {
        let row = |group, patients: u64, n: u64, bins: Vec<u64>, bin_patients: Vec<u64>| ExactRow {
            group,
            patients,
            moments: Some(ExactMoments { n, sum: 7 * n as i64, sum_sq: 49 * i128::from(n), patients }),
            histogram: Some(bins),
            bin_patients: Some(bin_patients),
        };
        let exact = ExactAnswer {
            rows: vec![
                row(GroupKey::TOTAL, 31, 72, vec![40, 32], vec![20, 15]),
                row(group(0), 1, 12, vec![0, 12], vec![0, 1]),
                row(group(1), 30, 60, vec![40, 20], vec![20, 14]),
            ],
        };
        let rows = protect(&exact, 10);
        // Group 0: one patient's twelve values; its n, and group 1's n that would give it back.
        assert_eq!(rows[1].patients, Cell::Suppressed);
        assert_eq!(rows[1].moments, Some(Moments::Suppressed));
        assert_eq!(rows[2].moments, Some(Moments::Suppressed));
        assert_eq!(rows[0].moments, Some(Moments::Released { n: 72, sum: 504, sum_sq: 3528 }));
        // Its bin of twelve values from one patient is suppressed, and so is every bin that would
        // give it back.
        let bins = rows[1].histogram.as_ref().unwrap();
        assert_eq!(bins[1], Cell::Suppressed);
        assert!(rows[2].histogram.as_ref().unwrap().contains(&Cell::Suppressed));
    }

    #[test]
    fn a_complemented_count_is_protected_in_its_other_families() {
        // Group 1's n is suppressed to complement group 0's; its histogram would give it back (bins add up to
        // n), so one of its bins goes, and then the same bin of another group (family d).
        let row = |group, bins: Vec<u64>| {
            let n: u64 = bins.iter().sum();
            let moments = Some(ExactMoments { n, sum: 0, sum_sq: 0, patients: n });
            ExactRow { group, patients: n, moments, bin_patients: Some(bins.clone()), histogram: Some(bins) }
        };
        let exact = ExactAnswer {
            rows: vec![
                row(GroupKey::TOTAL, vec![52, 45, 62]),
                row(group(0), vec![1, 2, 3]),
                row(group(1), vec![11, 12, 13]),
                row(group(2), vec![40, 31, 46]),
            ],
        };
        let rows = protect(&exact, 10);
        assert_eq!(rows[1].moments, Some(Moments::Suppressed));
        assert_eq!(rows[2].moments, Some(Moments::Suppressed));
        assert_eq!(rows[1].histogram, Some(vec![Cell::Suppressed; 3]));
        assert_families_safe(&exact, &rows, 10);
    }

    /// Recomputes the families from the rows (not from the layout) and checks none has a lone suppressed
    /// member.
    fn assert_families_safe(exact: &ExactAnswer, rows: &[AnswerRow], threshold: u32) {
        let t = u64::from(threshold);
        // A family whose released cells add up to less than its marginal has a hidden residual: a
        // suppressed cell when it is below the threshold (but not zero), a known one otherwise.
        let lone = |marginal: Cell, cells: Vec<Cell>, exact_marginal: u64, exact_cells: u64| {
            let residual = exact_marginal.saturating_sub(exact_cells);
            let hidden = usize::from(residual > 0 && residual < t);
            let n = usize::from(marginal == Cell::Suppressed)
                + cells.iter().filter(|c| **c == Cell::Suppressed).count()
                + hidden;
            n == 1
        };
        let ex = &exact.rows;
        if rows.len() > 1 {
            let groups = &rows[1..];
            let sum = |f: &dyn Fn(&ExactRow) -> u64| ex[1..].iter().map(f).sum::<u64>();
            let cells = groups.iter().map(|r| r.patients).collect();
            assert!(!lone(rows[0].patients, cells, ex[0].patients, sum(&|r| r.patients)), "patients family");
            if let Some(m) = rows[0].moments {
                let cells = groups.iter().map(|r| r.moments.unwrap().n()).collect();
                let n = |r: &ExactRow| r.moments.unwrap().n;
                assert!(!lone(m.n(), cells, n(&ex[0]), sum(&n)), "n family");
            }
            if let Some(total) = &rows[0].histogram {
                for (bin_idx, marginal) in total.iter().enumerate() {
                    let cells = groups.iter().map(|r| r.histogram.as_ref().unwrap()[bin_idx]).collect();
                    let bin = |r: &ExactRow| r.histogram.as_ref().unwrap()[bin_idx];
                    assert!(!lone(*marginal, cells, bin(&ex[0]), sum(&bin)), "bin {bin_idx} family");
                }
            }
            // Each sex's cells under its count by sex alone (another answer's, released there).
            for sex in Sex::ALL {
                let of: Vec<usize> = (1..rows.len()).filter(|&r| ex[r].group.sex == Some(sex)).collect();
                if of.len() > 1 {
                    let cells = of.iter().map(|&r| rows[r].patients).collect();
                    assert!(!lone(Cell::Value(0), cells, 0, 0), "{sex}'s cells");
                }
            }
        }
        for (row, exact_row) in rows.iter().zip(ex) {
            match (row.moments, &row.histogram) {
                (Some(m), Some(bins)) => assert!(!lone(m.n(), bins.clone(), 0, 0), "histogram of {}", exact_row.group),
                (None, Some(bins)) if exact_row.bin_patients.as_ref() == exact_row.histogram.as_ref() => {
                    let in_bins = exact_row.histogram.as_ref().unwrap().iter().sum();
                    let safe = !lone(row.patients, bins.clone(), exact_row.patients, in_bins);
                    assert!(safe, "histogram of {} under its patients", exact_row.group);
                }
                _ => {}
            }
        }
    }

    /// Random answers shaped like the engine's: groups whose counts add up to the total (plus a residual of
    /// patients in no group), bins that add up to n.
    fn answers() -> impl Strategy<Value = (ExactAnswer, u32)> {
        let group_cells = (prop::collection::vec(0u64..25, 3..6), 0u64..15, -50i64..50);
        (
            prop::collection::vec(group_cells, 0..9),
            any::<bool>(),
            any::<bool>(),
            0u64..5,
            1u32..16,
            prop::collection::vec(0u64..25, 3..6),
        )
            .prop_map(|(groups, with_moments, with_hist, residual, threshold, lone_bins)| {
                // Every group gets the same number of bins as the first (or the lone total row's).
                let n_bins = groups.first().map_or(lone_bins.len(), |g| g.0.len());
                let make = |key, bins: Vec<u64>, extra: u64, mean: i64| {
                    let mut bins = bins;
                    bins.resize(n_bins, 0);
                    let n: u64 = bins.iter().sum();
                    ExactRow {
                        group: key,
                        patients: n + extra,
                        moments: with_moments.then_some(ExactMoments {
                            n,
                            sum: mean * n as i64,
                            sum_sq: i128::from(mean * mean) * i128::from(n),
                            patients: n,
                        }),
                        bin_patients: with_hist.then(|| bins.clone()),
                        histogram: with_hist.then_some(bins),
                    }
                };
                let mut rows: Vec<ExactRow> = groups
                    .iter()
                    .enumerate()
                    .map(|(i, (bins, extra, mean))| make(group(i), bins.clone(), *extra, *mean))
                    .collect();
                let mut total_bins = if rows.is_empty() { lone_bins } else { vec![0; n_bins] };
                for (bins, _, _) in &groups {
                    for (t, b) in total_bins.iter_mut().zip(bins) {
                        *t += b;
                    }
                }
                let extra: u64 = groups.iter().map(|g| g.1).sum::<u64>() + residual;
                let mut total = make(GroupKey::TOTAL, total_bins, extra, 0);
                if let Some(m) = &mut total.moments {
                    m.sum = rows.iter().filter_map(|r| r.moments).map(|m| m.sum).sum();
                    m.sum_sq = rows.iter().filter_map(|r| r.moments).map(|m| m.sum_sq).sum();
                }
                rows.insert(0, total);
                (ExactAnswer { rows }, threshold)
            })
    }

    proptest! {
        #[test]
        fn released_counts_are_exact_and_at_least_the_threshold((exact, threshold) in answers()) {
            let rows = protect(&exact, threshold);
            prop_assert_eq!(rows.len(), exact.rows.len());
            let t = u64::from(threshold);
            for (row, ex) in rows.iter().zip(&exact.rows) {
                prop_assert_eq!(row.group, ex.group);
                match row.patients {
                    Cell::Value(v) => prop_assert!(v == ex.patients && v >= t),
                    Cell::Suppressed => {}
                }
                if ex.patients < t {
                    prop_assert_eq!(row.patients, Cell::Suppressed);
                }
                match (row.moments, ex.moments) {
                    (Some(Moments::Released { n, sum, sum_sq }), Some(m)) => {
                        prop_assert!(n >= t);
                        prop_assert_eq!((n, sum, sum_sq), (m.n, m.sum, m.sum_sq));
                    }
                    (Some(Moments::Suppressed), Some(_)) => {}
                    (None, None) => {}
                    other => prop_assert!(false, "moments shape {:?}", other),
                }
                prop_assert_eq!(row.histogram.as_ref().map(Vec::len), ex.histogram.as_ref().map(Vec::len));
                if let (Some(cells), Some(bins)) = (&row.histogram, &ex.histogram) {
                    for (cell, &bin) in cells.iter().zip(bins) {
                        match cell {
                            Cell::Value(v) => prop_assert!(*v == bin && *v >= t),
                            Cell::Suppressed => {}
                        }
                        if bin < t {
                            prop_assert_eq!(*cell, Cell::Suppressed);
                        }
                    }
                }
            }
            assert_families_safe(&exact, &rows, threshold);
        }

        #[test]
        fn nothing_is_suppressed_without_cause((exact, _) in answers()) {
            // With every count at or above the threshold, the answer is the exact one.
            let rows = protect(&exact, 0);
            for (row, ex) in rows.iter().zip(&exact.rows) {
                prop_assert_eq!(row.patients, Cell::Value(ex.patients));
                if let Some(bins) = &ex.histogram {
                    prop_assert_eq!(row.histogram.clone().unwrap(), bins.iter().map(|&b| Cell::Value(b)).collect::<Vec<_>>());
                }
            }
        }
    }
}

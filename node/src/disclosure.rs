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
//!   exact) — a family only when the moments are released, otherwise the marginal is never known;
//! - (d) for each bin, the groups' counts in that bin add up to the whole cohort's count in that bin.
//!
//! If exactly one member of a family (marginal included) is suppressed, it is the released marginal minus
//! the released cells, so the smallest released cell of the family is suppressed too; a suppressed marginal
//! with every cell released is handled the same way. A suppression made for one family can leave another
//! with a lone suppressed cell (a group's `n` is a cell of (b) and the marginal of (c); a bin is a cell of
//! (c) and of (d)), so the rule is applied until nothing changes. It terminates: every round suppresses one
//! more cell of a finite answer.
//!
//! # Why one family over all groups is enough
//! Grouped by sex and age band, the group cells form a sex × band table, and in a published table each row
//! and column margin would be a family of its own. The node releases no per-sex or per-band margin: it
//! releases the whole-cohort row and the individual groups only. The one relation a reader can use is then
//! "groups add up to the total", which is family (a) (and (b), (d) for the measure). Persons without a year
//! of birth fall in no age band, so with age bands the groups may add up to less than the total; the
//! families are still treated as exact, which assumes the reader knows that residual and is the cautious
//! choice.
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

/// Where each row's counts sit in the flat list.
struct Layout {
    values: Vec<u64>,
    /// Per count, the patients behind it (a count of values may come from fewer patients).
    contributors: Vec<u64>,
    patients: Vec<usize>,
    n: Vec<Option<usize>>,
    bins: Vec<Option<Vec<usize>>>,
}

impl Layout {
    fn of(exact: &ExactAnswer) -> Layout {
        let mut layout = Layout {
            values: Vec::new(),
            contributors: Vec::new(),
            patients: Vec::new(),
            n: Vec::new(),
            bins: Vec::new(),
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
        self.values.push(value);
        self.contributors.push(contributors);
        self.values.len() - 1
    }

    /// The families (a)–(d) of the module documentation.
    fn families(&self) -> Vec<Family> {
        let mut families = Vec::new();
        let groups = 1..self.patients.len();
        if !groups.is_empty() {
            families.push(Family {
                marginal: self.patients[0],
                members: groups.clone().map(|r| self.patients[r]).collect(),
            });
            if let Some(total_n) = self.n[0] {
                let members: Vec<usize> = groups.clone().filter_map(|r| self.n[r]).collect();
                families.push(Family { marginal: total_n, members });
            }
            if let Some(total_bins) = &self.bins[0] {
                for (bin_idx, &marginal) in total_bins.iter().enumerate() {
                    let members = groups.clone().filter_map(|r| self.bins[r].as_ref().map(|b| b[bin_idx])).collect();
                    families.push(Family { marginal, members });
                }
            }
        }
        for (n, bins) in self.n.iter().zip(&self.bins) {
            if let (Some(n), Some(bins)) = (n, bins) {
                families.push(Family { marginal: *n, members: bins.clone() });
            }
        }
        families.retain(|f| !f.members.is_empty());
        families
    }
}

/// Applies primary and complementary suppression at `threshold` and returns the releasable rows, in the
/// order of `exact.rows`.
pub fn protect(exact: &ExactAnswer, threshold: u32) -> Vec<AnswerRow> {
    let layout = Layout::of(exact);
    let suppressed = suppress(&layout.values, &layout.contributors, &layout.families(), threshold);
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
fn suppress(values: &[u64], contributors: &[u64], families: &[Family], threshold: u32) -> Vec<bool> {
    let t = u64::from(threshold);
    let mut suppressed: Vec<bool> = values.iter().zip(contributors).map(|(&v, &p)| v < t || p < t).collect();
    loop {
        let mut changed = false;
        for family in families {
            let n_suppressed =
                usize::from(suppressed[family.marginal]) + family.members.iter().filter(|&&i| suppressed[i]).count();
            if n_suppressed != 1 {
                continue;
            }
            let smallest = family.members.iter().copied().filter(|&i| !suppressed[i]).min_by_key(|&i| (values[i], i));
            suppressed[smallest.unwrap_or(family.marginal)] = true;
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
        assert_families_safe(&exact, &rows);
    }

    /// Recomputes the families from the rows (not from the layout) and checks none has a lone suppressed
    /// member.
    fn assert_families_safe(exact: &ExactAnswer, rows: &[AnswerRow]) {
        let lone = |marginal: Cell, cells: Vec<Cell>| {
            let n =
                usize::from(marginal == Cell::Suppressed) + cells.iter().filter(|c| **c == Cell::Suppressed).count();
            n == 1
        };
        if rows.len() > 1 {
            let groups = &rows[1..];
            assert!(!lone(rows[0].patients, groups.iter().map(|r| r.patients).collect()), "patients family");
            if let Some(m) = rows[0].moments {
                assert!(!lone(m.n(), groups.iter().map(|r| r.moments.unwrap().n()).collect()), "n family");
            }
            if let Some(total) = &rows[0].histogram {
                for (bin_idx, marginal) in total.iter().enumerate() {
                    let cells = groups.iter().map(|r| r.histogram.as_ref().unwrap()[bin_idx]).collect();
                    assert!(!lone(*marginal, cells), "bin {bin_idx} family");
                }
            }
        }
        for (row, exact_row) in rows.iter().zip(&exact.rows) {
            if let (Some(m), Some(bins)) = (row.moments, &row.histogram) {
                assert!(!lone(m.n(), bins.clone()), "histogram of {}", exact_row.group);
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
            assert_families_safe(&exact, &rows);
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

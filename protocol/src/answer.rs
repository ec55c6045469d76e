//! What a node returns for a query: aggregate cells only. A count below the node's threshold is
//! [`Cell::Suppressed`], which has no value to leak; the moments behind a mean are released only
//! together with a released count.

use crate::codes::Sex;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// A count that is either released or suppressed by the node's disclosure policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cell {
    /// A released count, at or above the node's threshold.
    Value(u64),
    /// A count below the node's threshold (shown as `<threshold`).
    Suppressed,
}

impl Cell {
    /// The released value, if any.
    pub fn value(self) -> Option<u64> {
        match self {
            Cell::Value(v) => Some(v),
            Cell::Suppressed => None,
        }
    }

    /// Renders the cell, a suppressed one as `<threshold`.
    pub fn display(self, threshold: u32) -> String {
        match self {
            Cell::Value(v) => v.to_string(),
            Cell::Suppressed => format!("<{threshold}"),
        }
    }
}

/// The sufficient statistics of a measure in one group: enough to pool means and variances across nodes.
/// Values are in thousandths of the canonical unit ([`crate::VALUE_SCALE`]), so sums are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Moments {
    /// Released: the count of values behind them was at or above the threshold.
    Released {
        /// Number of values.
        n: u64,
        /// Sum of values, in thousandths of the unit.
        sum: i64,
        /// Sum of squared values, in millionths of the unit squared (a decimal string: it may exceed 2^63).
        #[serde(with = "i128_string")]
        #[schema(value_type = String)]
        sum_sq: i128,
    },
    /// Suppressed together with the count behind them.
    Suppressed,
}

impl Moments {
    /// The count behind the moments, as a cell.
    pub fn n(&self) -> Cell {
        match self {
            Moments::Released { n, .. } => Cell::Value(*n),
            Moments::Suppressed => Cell::Suppressed,
        }
    }
}

mod i128_string {
    use serde::{Deserialize, Deserializer, Serializer};
    pub(crate) fn serialize<S: Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An age band `[lo, hi)` in completed years; `hi = None` is open-ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgeBand {
    /// Lowest age in the band.
    pub lo: u32,
    /// First age past the band, if bounded.
    pub hi: Option<u32>,
}

impl AgeBand {
    /// The bands the edges define: `[0, e0)`, `[e0, e1)`, ..., `[en, ∞)`.
    pub fn from_edges(edges: &[u32]) -> Vec<AgeBand> {
        let mut bands = Vec::with_capacity(edges.len() + 1);
        let mut lo = 0;
        for &e in edges {
            if e > lo {
                bands.push(AgeBand { lo, hi: Some(e) });
            }
            lo = e;
        }
        bands.push(AgeBand { lo, hi: None });
        bands
    }

    /// Whether an age falls in the band.
    pub fn contains(&self, age: u32) -> bool {
        age >= self.lo && self.hi.is_none_or(|h| age < h)
    }
}

impl fmt::Display for AgeBand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.hi {
            Some(h) => write!(f, "{}-{}", self.lo, h - 1),
            None => write!(f, "{}+", self.lo),
        }
    }
}

/// The group a row of an answer belongs to; both `None` is the whole cohort.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
pub struct GroupKey {
    /// The sex of the group, when grouped by sex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    /// The age band of the group, when grouped by age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_band: Option<AgeBand>,
}

impl GroupKey {
    /// The key of the whole cohort.
    pub const TOTAL: GroupKey = GroupKey { sex: None, age_band: None };

    /// Whether this is the whole-cohort row.
    pub fn is_total(&self) -> bool {
        self.sex.is_none() && self.age_band.is_none()
    }
}

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.sex, self.age_band) {
            (None, None) => f.write_str("all"),
            (Some(s), None) => write!(f, "{s}"),
            (None, Some(b)) => write!(f, "age {b}"),
            (Some(s), Some(b)) => write!(f, "{s}, age {b}"),
        }
    }
}

/// One row of an answer: one group's aggregates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AnswerRow {
    /// The group.
    pub group: GroupKey,
    /// Patients of the cohort in the group.
    pub patients: Cell,
    /// Moments of the measure, when sum, mean or sd were asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moments: Option<Moments>,
    /// Histogram bins (underflow, one per interval between edges, overflow), when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<Vec<Cell>>,
}

/// A node's answer to one query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeAnswer {
    /// The query answered.
    pub query_id: Uuid,
    /// The node's disclosure threshold: every released count is at least this.
    pub threshold: u32,
    /// The canonical unit of the measure, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The version of the node's data the answer was computed over.
    pub data_version: u64,
    /// The rows: the whole cohort first, then one per group.
    pub rows: Vec<AnswerRow>,
    /// Time the node spent executing the query, in microseconds.
    pub exec_micros: u64,
    /// Set when the answer counts only the patients consenting to the query's purpose (the node's
    /// policy for that purpose), and when: its proof states the same population.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consented: Option<Consented>,
}

/// The population of an answer over consenting patients only: those whose consent to `purpose` is
/// active (not revoked, not ended) through the UTC day of `at` (`crate::proof::consent_cutoff`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Consented {
    /// The query's purpose.
    pub purpose: String,
    /// When the node ran the query (Unix seconds): a consent counts when it ends on a later UTC day.
    pub at: i64,
}

impl NodeAnswer {
    /// The whole-cohort row.
    pub fn total(&self) -> Option<&AnswerRow> {
        self.rows.iter().find(|r| r.group.is_total())
    }

    /// Checks that the answer has the shape `query` asks for: the whole-cohort row first and only once,
    /// group rows only when grouped and only of the query's grouping, each group once, and moments and
    /// histograms (of the right number of bins) exactly when asked for. The hub refuses any other
    /// answer, so that nothing it combines lies outside what a proof or a reader checks.
    pub fn check_shape(&self, query: &crate::Query) -> Result<(), String> {
        match self.rows.first() {
            Some(r) if r.group.is_total() => {}
            _ => return Err("the first row is not the whole cohort".into()),
        }
        let mut seen = std::collections::BTreeSet::new();
        for row in &self.rows {
            if !seen.insert(row.group) {
                return Err(format!("group `{}` appears twice", row.group));
            }
            if !row.group.is_total() {
                let g = &query.group_by;
                if !g.is_grouped() {
                    return Err(format!("group `{}` in an answer to an ungrouped query", row.group));
                }
                if row.group.sex.is_some() != g.sex || row.group.age_band.is_some() != g.age_bands.is_some() {
                    return Err(format!("group `{}` is not of the query's grouping", row.group));
                }
            }
            if row.moments.is_some() != query.wants_moments() {
                return Err(format!("group `{}`: moments given exactly when the query asks for them", row.group));
            }
            match (&row.histogram, query.histogram_edges()) {
                (None, None) => {}
                (Some(bins), Some(edges)) if bins.len() == edges.len() + 1 => {}
                _ => return Err(format!("group `{}`: histogram bins do not match the query's edges", row.group)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_bands_cover_every_age_once() {
        let bands = AgeBand::from_edges(&[18, 40, 65]);
        assert_eq!(bands.len(), 4);
        for age in 0..120 {
            assert_eq!(bands.iter().filter(|b| b.contains(age)).count(), 1, "age {age}");
        }
        assert_eq!(bands[1].to_string(), "18-39");
        assert_eq!(bands[3].to_string(), "65+");
    }

    #[test]
    fn answers_of_another_shape_than_the_query_are_refused() {
        let q = crate::Query {
            version: 1,
            cohort: crate::Cohort::Everyone,
            measure: None,
            aggregates: vec![crate::Aggregate::Count],
            group_by: crate::GroupBy::default(),
            reference_date: time::macros::date!(2026 - 01 - 01),
        };
        let row =
            |group, patients| AnswerRow { group, patients: Cell::Value(patients), moments: None, histogram: None };
        let answer = |rows| NodeAnswer {
            query_id: Uuid::nil(),
            threshold: 10,
            unit: None,
            data_version: 1,
            rows,
            exec_micros: 0,
            consented: None,
        };
        assert!(answer(vec![row(GroupKey::TOTAL, 717)]).check_shape(&q).is_ok());
        // A second whole-cohort row would be added into the combination beside the proven one.
        let e = answer(vec![row(GroupKey::TOTAL, 717), row(GroupKey::TOTAL, 100_000)]).check_shape(&q).unwrap_err();
        assert!(e.contains("appears twice"), "{e}");
        let female = GroupKey { sex: Some(Sex::Female), age_band: None };
        let e = answer(vec![row(GroupKey::TOTAL, 717), row(female, 400)]).check_shape(&q).unwrap_err();
        assert!(e.contains("ungrouped"), "{e}");
        assert!(answer(vec![]).check_shape(&q).is_err());
        assert!(answer(vec![row(female, 400), row(GroupKey::TOTAL, 717)]).check_shape(&q).is_err());
        let mut by_sex = q.clone();
        by_sex.group_by.sex = true;
        assert!(answer(vec![row(GroupKey::TOTAL, 717), row(female, 400)]).check_shape(&by_sex).is_ok());
        let band = GroupKey { sex: None, age_band: Some(AgeBand { lo: 0, hi: Some(40) }) };
        assert!(answer(vec![row(GroupKey::TOTAL, 717), row(band, 400)]).check_shape(&by_sex).is_err());
        let mut moments = row(GroupKey::TOTAL, 717);
        moments.moments = Some(Moments::Released { n: 1, sum: 1, sum_sq: 1 });
        assert!(answer(vec![moments]).check_shape(&q).is_err());
    }

    #[test]
    fn suppressed_cells_serialise_without_a_value() {
        let json = serde_json::to_string(&Cell::Suppressed).unwrap();
        assert_eq!(json, "\"suppressed\"");
        let m = Moments::Released { n: 12, sum: 5, sum_sq: i128::MAX };
        let back: Moments = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }
}

//! The typed, versioned federated query: a cohort, an optional measure, the aggregates wanted and an
//! optional grouping. [`Query::validate`] is the one place a query's shape is checked; a node runs only
//! validated queries. `Display` gives the readable form a data steward approves.

use crate::codes::{Code, CodeMatch, CodeSystem, Sex};
use serde::{Deserialize, Serialize};
use std::fmt;
use time::Date;

/// Limits that keep a query cheap to check and to run.
pub const MAX_COHORT_NODES: usize = 64;
/// The most histogram edges a query may ask for.
pub const MAX_HISTOGRAM_EDGES: usize = 64;
/// The most age-band edges a query may ask for.
pub const MAX_AGE_BANDS: usize = 16;

/// A federated query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Query {
    /// Format version; see [`crate::QUERY_VERSION`].
    pub version: u32,
    /// Which patients are counted.
    pub cohort: Cohort,
    /// The variable summarised over the cohort, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure: Option<Measure>,
    /// The aggregates wanted.
    pub aggregates: Vec<Aggregate>,
    /// Optional grouping of every aggregate.
    #[serde(default)]
    pub group_by: GroupBy,
    /// The date ages are computed at.
    #[schema(value_type = String, format = Date)]
    #[serde(with = "iso_date")]
    pub reference_date: Date,
}

/// A cohort definition: a tree of criteria.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cohort {
    /// Every patient of the node.
    Everyone,
    /// Patients meeting every criterion.
    All {
        /// The criteria.
        #[schema(no_recursion)]
        of: Vec<Cohort>,
    },
    /// Patients meeting at least one criterion.
    Any {
        /// The criteria.
        #[schema(no_recursion)]
        of: Vec<Cohort>,
    },
    /// Patients not meeting the criterion.
    Not {
        /// The criterion.
        #[schema(no_recursion)]
        of: Box<Cohort>,
    },
    /// Patients with a condition coded so (any time).
    Condition {
        /// The code or code prefix.
        code: CodeMatch,
    },
    /// Patients with a medication (requested or stated) coded so.
    Medication {
        /// The code or code prefix.
        code: CodeMatch,
    },
    /// Patients of one sex.
    Sex {
        /// The sex.
        sex: Sex,
    },
    /// Patients whose age in completed years at the reference date is in `[min, max]`.
    Age {
        /// Lowest age, inclusive.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<u32>,
        /// Highest age, inclusive.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<u32>,
    },
    /// Patients with at least one value of an observation in `[min, max]`, in its canonical unit.
    Observation {
        /// The observation (LOINC).
        code: Code,
        /// Lowest value, inclusive.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::number::opt_f64")]
        min: Option<f64>,
        /// Highest value, inclusive.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::number::opt_f64")]
        max: Option<f64>,
    },
}

/// The largest histogram edge, in either direction: a bound on what a query may carry, far beyond any
/// value (values are committed in thousandths within 32 bits, about ±2.1 million units, so an edge
/// beyond that makes a bin nothing falls in, as does any edge past every value the node holds).
pub const MAX_EDGE: f64 = 1e9;

/// How far a scaled bound may be from an integer and still be taken as that integer.
pub const SCALE_TOLERANCE: f64 = 1e-6;

/// A lower bound (or histogram edge) in thousandths: the least `value_e3` that is at or above it.
pub fn lower_e3(value: f64) -> i64 {
    to_e3(value, f64::ceil)
}

/// An upper bound in thousandths: the greatest `value_e3` that is at or below it.
pub fn upper_e3(value: f64) -> i64 {
    to_e3(value, f64::floor)
}

/// `value` in thousandths: the nearest integer when within [`SCALE_TOLERANCE`] of one, else `round`ed.
fn to_e3(value: f64, round: fn(f64) -> f64) -> i64 {
    let scaled = value * crate::VALUE_SCALE as f64;
    let nearest = scaled.round();
    if (scaled - nearest).abs() <= SCALE_TOLERANCE {
        nearest as i64
    } else {
        round(scaled) as i64
    }
}

/// The variable summarised over the cohort.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Measure {
    /// The observation code (LOINC); a panel component (e.g. systolic pressure 8480-6) is named by its own code.
    pub code: Code,
    /// Which of a patient's values count.
    #[serde(default)]
    pub selection: Selection,
}

/// Which of a patient's values of the measure count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// The patient's most recent value (one per patient).
    #[default]
    Latest,
    /// Every value; counts then count values, not patients.
    All,
}

/// An aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Aggregate {
    /// Number of patients in the cohort.
    Count,
    /// Sum of the measure.
    Sum,
    /// Mean of the measure.
    Mean,
    /// Sample standard deviation of the measure.
    StdDev,
    /// Histogram of the measure with the given strictly increasing edges; values below the first edge and at
    /// or above the last fall in an underflow and an overflow bin.
    Histogram {
        /// Bin edges, in the measure's canonical unit.
        #[serde(deserialize_with = "crate::number::vec_f64")]
        edges: Vec<f64>,
    },
}

impl Aggregate {
    /// Whether this aggregate needs a measure.
    pub fn needs_measure(&self) -> bool {
        !matches!(self, Aggregate::Count)
    }

    /// The short name used in policies and the readable form.
    pub fn kind(&self) -> &'static str {
        match self {
            Aggregate::Count => "count",
            Aggregate::Sum => "sum",
            Aggregate::Mean => "mean",
            Aggregate::StdDev => "sd",
            Aggregate::Histogram { .. } => "histogram",
        }
    }
}

/// Optional grouping of the answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupBy {
    /// Group by sex.
    #[serde(default)]
    pub sex: bool,
    /// Group by age band: strictly increasing edges in years; `[40, 65]` gives `<40`, `40-64`, `>=65`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_bands: Option<Vec<u32>>,
}

impl GroupBy {
    /// Whether the answer is grouped at all.
    pub fn is_grouped(&self) -> bool {
        self.sex || self.age_bands.is_some()
    }
}

/// Why a query is not well formed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// Unknown format version.
    #[error("query format version {0} is not supported (this node speaks version {QUERY_VERSION})", QUERY_VERSION = crate::QUERY_VERSION)]
    Version(u32),
    /// No aggregate asked for.
    #[error("the query asks for no aggregate: add count, sum, mean, sd or histogram")]
    NoAggregate,
    /// An aggregate that needs a measure without one.
    #[error("aggregate `{0}` needs a measure (an observation code)")]
    MissingMeasure(&'static str),
    /// Measure not a LOINC code.
    #[error("the measure must be a LOINC code, not {0}")]
    MeasureSystem(CodeSystem),
    /// Bad histogram edges.
    #[error(
        "histogram edges must be 1 to {MAX_HISTOGRAM_EDGES} finite numbers, strictly increasing in thousandths of \
         the unit (the resolution values are counted at) and within ±{MAX_EDGE}"
    )]
    HistogramEdges,
    /// Bad age bands.
    #[error("age bands must be 1 to {MAX_AGE_BANDS} strictly increasing ages")]
    AgeBands,
    /// Cohort too large or too deep.
    #[error("the cohort has more than {MAX_COHORT_NODES} criteria")]
    CohortTooLarge,
    /// An empty all/any.
    #[error("an `all` or `any` cohort needs at least one criterion")]
    EmptyCombination,
    /// Bad range.
    #[error("range {0} is empty or not a number")]
    Range(String),
    /// Bad code.
    #[error("code `{0}` is empty or too long")]
    Code(String),
}

/// The challenge a researcher's presentation answers for a query: `hex(SHA-256(JSON of [query,
/// purpose]))`. The researcher, the hub and every node compute it alone, so a presentation made for one
/// query and purpose authorises no other.
pub fn query_challenge(query: &Query, purpose: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    let bytes = serde_json::to_vec(&(query, purpose)).expect("a query serialises");
    hex::encode(Sha256::digest(&bytes))
}

impl Query {
    /// Checks everything about the query's shape that does not depend on a node's data.
    pub fn validate(&self) -> Result<(), QueryError> {
        if self.version != crate::QUERY_VERSION {
            return Err(QueryError::Version(self.version));
        }
        if self.aggregates.is_empty() {
            return Err(QueryError::NoAggregate);
        }
        for a in &self.aggregates {
            if a.needs_measure() && self.measure.is_none() {
                return Err(QueryError::MissingMeasure(a.kind()));
            }
            if let Aggregate::Histogram { edges } = a {
                if edges.is_empty()
                    || edges.len() > MAX_HISTOGRAM_EDGES
                    || edges.iter().any(|e| !e.is_finite() || e.abs() > MAX_EDGE)
                    || edges.windows(2).any(|w| lower_e3(w[0]) >= lower_e3(w[1]))
                {
                    return Err(QueryError::HistogramEdges);
                }
            }
        }
        if let Some(m) = &self.measure {
            if m.code.system != CodeSystem::Loinc {
                return Err(QueryError::MeasureSystem(m.code.system));
            }
            check_code(&m.code.code)?;
        }
        if let Some(bands) = &self.group_by.age_bands {
            if bands.is_empty() || bands.len() > MAX_AGE_BANDS || bands.windows(2).any(|w| w[0] >= w[1]) {
                return Err(QueryError::AgeBands);
            }
        }
        let mut n = 0;
        self.cohort.validate(&mut n)
    }

    /// The histogram edges asked for, if any.
    pub fn histogram_edges(&self) -> Option<&[f64]> {
        self.aggregates.iter().find_map(|a| match a {
            Aggregate::Histogram { edges } => Some(edges.as_slice()),
            _ => None,
        })
    }

    /// Whether moments (n, sum, sum of squares) are wanted.
    pub fn wants_moments(&self) -> bool {
        self.aggregates.iter().any(|a| matches!(a, Aggregate::Sum | Aggregate::Mean | Aggregate::StdDev))
    }
}

mod iso_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::BorrowedFormatItem;
    use time::Date;

    const FORMAT: &[BorrowedFormatItem<'static>] = time::macros::format_description!("[year]-[month]-[day]");

    pub(super) fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.format(FORMAT).map_err(serde::ser::Error::custom)?)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        Date::parse(&s, FORMAT).map_err(|_| serde::de::Error::custom(format!("date `{s}` is not a YYYY-MM-DD date")))
    }
}

fn check_code(code: &str) -> Result<(), QueryError> {
    if code.is_empty() || code.len() > 64 {
        return Err(QueryError::Code(code.chars().take(64).collect()));
    }
    Ok(())
}

impl Cohort {
    fn validate(&self, n: &mut usize) -> Result<(), QueryError> {
        *n += 1;
        if *n > MAX_COHORT_NODES {
            return Err(QueryError::CohortTooLarge);
        }
        match self {
            Cohort::Everyone | Cohort::Sex { .. } => Ok(()),
            Cohort::All { of } | Cohort::Any { of } => {
                if of.is_empty() {
                    return Err(QueryError::EmptyCombination);
                }
                of.iter().try_for_each(|c| c.validate(n))
            }
            Cohort::Not { of } => of.validate(n),
            Cohort::Condition { code } | Cohort::Medication { code } => check_code(&code.code),
            Cohort::Age { min, max } => match (min, max) {
                (Some(a), Some(b)) if a > b => Err(QueryError::Range(format!("age {a}-{b}"))),
                _ => Ok(()),
            },
            Cohort::Observation { code, min, max } => {
                check_code(&code.code)?;
                let bad = |v: &Option<f64>| v.is_some_and(|x| !x.is_finite());
                if bad(min) || bad(max) || matches!((min, max), (Some(a), Some(b)) if a > b) {
                    return Err(QueryError::Range(format!("{code} {min:?}..{max:?}")));
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Cohort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, name: &str, of: &[Cohort]| {
            write!(f, "{name}(")?;
            for (i, c) in of.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str(")")
        };
        match self {
            Cohort::Everyone => f.write_str("everyone"),
            Cohort::All { of } => list(f, "all", of),
            Cohort::Any { of } => list(f, "any", of),
            Cohort::Not { of } => write!(f, "not({of})"),
            Cohort::Condition { code } => write!(f, "condition {code}"),
            Cohort::Medication { code } => write!(f, "medication {code}"),
            Cohort::Sex { sex } => write!(f, "sex {sex}"),
            Cohort::Age { min, max } => write!(f, "age {}", range(min, max)),
            Cohort::Observation { code, min, max } => write!(f, "observation {code} in {}", range(min, max)),
        }
    }
}

fn range<T: fmt::Display>(min: &Option<T>, max: &Option<T>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("{a}..{b}"),
        (Some(a), None) => format!(">={a}"),
        (None, Some(b)) => format!("<={b}"),
        (None, None) => "any".into(),
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: Vec<String> = self
            .aggregates
            .iter()
            .map(|a| match a {
                Aggregate::Histogram { edges } => {
                    format!("histogram[{}]", edges.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(","))
                }
                other => other.kind().to_string(),
            })
            .collect();
        write!(f, "{}", kinds.join(", "))?;
        if let Some(m) = &self.measure {
            let sel = match m.selection {
                Selection::Latest => "latest",
                Selection::All => "all values",
            };
            write!(f, " of {} ({sel})", m.code)?;
        }
        write!(f, " where {} at {}", self.cohort, self.reference_date)?;
        let mut by = Vec::new();
        if self.group_by.sex {
            by.push("sex".to_string());
        }
        if let Some(b) = &self.group_by.age_bands {
            by.push(format!("age bands {b:?}"));
        }
        if !by.is_empty() {
            write!(f, " by {}", by.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn base() -> Query {
        Query {
            version: 1,
            cohort: Cohort::Everyone,
            measure: None,
            aggregates: vec![Aggregate::Count],
            group_by: GroupBy::default(),
            reference_date: date!(2026 - 01 - 01),
        }
    }

    fn check(q: Query, expect: Result<(), QueryError>) {
        assert_eq!(q.validate(), expect, "{q}");
    }

    #[test]
    fn validation_names_what_is_wrong() {
        check(base(), Ok(()));
        check(Query { version: 2, ..base() }, Err(QueryError::Version(2)));
        check(Query { aggregates: vec![], ..base() }, Err(QueryError::NoAggregate));
        check(Query { aggregates: vec![Aggregate::Mean], ..base() }, Err(QueryError::MissingMeasure("mean")));
        let measure = Some(Measure { code: Code::new(CodeSystem::Loinc, "2345-7"), selection: Selection::Latest });
        check(
            Query {
                measure: measure.clone(),
                aggregates: vec![Aggregate::Histogram { edges: vec![2.0, 1.0] }],
                ..base()
            },
            Err(QueryError::HistogramEdges),
        );
        check(
            Query {
                measure: measure.clone(),
                aggregates: vec![Aggregate::Histogram { edges: vec![f64::NAN] }],
                ..base()
            },
            Err(QueryError::HistogramEdges),
        );
        // Edges that meet at the thousandths values are counted in (a bin nothing can fall in), or beyond
        // any committable value; and edges a thousandth apart, which are fine.
        for (edges, ok) in [
            (vec![1.0001, 1.0002], false),
            (vec![1e300, 2e300], false),
            (vec![-2e9, 0.0], false),
            (vec![1.0, 1.001], true),
            (vec![-1e9, 1e9], true),
        ] {
            let q = Query { measure: measure.clone(), aggregates: vec![Aggregate::Histogram { edges }], ..base() };
            check(q, if ok { Ok(()) } else { Err(QueryError::HistogramEdges) });
        }
        check(Query { cohort: Cohort::All { of: vec![] }, ..base() }, Err(QueryError::EmptyCombination));
        check(
            Query { cohort: Cohort::Age { min: Some(70), max: Some(20) }, ..base() },
            Err(QueryError::Range("age 70-20".into())),
        );
        let deep = (0..70).fold(Cohort::Everyone, |c, _| Cohort::Not { of: Box::new(c) });
        check(Query { cohort: deep, ..base() }, Err(QueryError::CohortTooLarge));
    }

    #[test]
    fn dates_travel_as_iso_strings() {
        let json = serde_json::to_value(base()).unwrap();
        assert_eq!(json["reference_date"], "2026-01-01");
        let back: Query = serde_json::from_value(json).unwrap();
        assert_eq!(back, base());
        let mut bad = serde_json::to_value(base()).unwrap();
        bad["reference_date"] = "2026-13-01".into();
        let err = serde_json::from_value::<Query>(bad).unwrap_err().to_string();
        assert!(err.contains("is not a YYYY-MM-DD date"), "{err}");
    }

    #[test]
    fn readable_form() {
        let q = Query {
            cohort: Cohort::All {
                of: vec![
                    Cohort::Condition { code: "icd10cm:E11*".parse().unwrap() },
                    Cohort::Age { min: Some(40), max: None },
                ],
            },
            measure: Some(Measure { code: Code::new(CodeSystem::Loinc, "2345-7"), selection: Selection::Latest }),
            aggregates: vec![Aggregate::Count, Aggregate::Mean],
            group_by: GroupBy { sex: true, age_bands: None },
            ..base()
        };
        assert_eq!(
            q.to_string(),
            "count, mean of loinc:2345-7 (latest) where all(condition icd10cm:E11*, age >=40) at 2026-01-01 by sex"
        );
    }
}

//! The hub's combination of node answers, as a pure function so that anyone can recompute it from the
//! archived node answers. Counts add; means and variances pool from each node's sufficient statistics
//! (n, Σx, Σx²); histograms add bin by bin. A part a node suppressed is never filled in: the combined
//! cell carries the sum of the released parts and says how many parts were suppressed.

use crate::answer::{Cell, GroupKey, Moments, NodeAnswer};
use crate::proof::ProofState;
use crate::query::Query;
use crate::wire::Rejection;
use crate::VALUE_SCALE;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use uuid::Uuid;

/// A combined count: the sum of the parts nodes released, and how many parts were suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CombinedCell {
    /// Sum of the released parts.
    pub released: u64,
    /// Number of nodes whose part was below their threshold (their values are not known to anyone here).
    pub suppressed_parts: u32,
}

impl CombinedCell {
    fn add(&mut self, cell: Cell) {
        match cell {
            Cell::Value(v) => self.released += v,
            Cell::Suppressed => self.suppressed_parts += 1,
        }
    }
}

impl fmt::Display for CombinedCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.released, self.suppressed_parts) {
            (_, 0) => write!(f, "{}", self.released),
            (0, n) => write!(f, "suppressed ({n} node{})", if n == 1 { "" } else { "s" }),
            (v, n) => write!(f, "{v} + {n} suppressed"),
        }
    }
}

/// One combined row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CombinedRow {
    /// The group.
    pub group: GroupKey,
    /// Patients in the cohort.
    pub patients: CombinedCell,
    /// Values behind the moments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<CombinedCell>,
    /// Sum of the released values, in the canonical unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
    /// Pooled mean of the released values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Pooled sample standard deviation of the released values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sd: Option<f64>,
    /// Summed histogram bins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<Vec<CombinedCell>>,
}

/// Exact pooled moments.
#[derive(Default, Clone, Copy)]
struct Pool {
    n: u64,
    sum: i128,
    sum_sq: i128,
}

impl Pool {
    fn stats(self) -> (Option<f64>, Option<f64>, Option<f64>) {
        if self.n == 0 {
            return (None, None, None);
        }
        let scale = VALUE_SCALE as f64;
        let sum = self.sum as f64 / scale;
        let mean = sum / self.n as f64;
        let sd = (self.n > 1).then(|| {
            // n Σx² − (Σx)², exact in integers, then scaled.
            let n = self.n as i128;
            let num = n * self.sum_sq - self.sum * self.sum;
            ((num.max(0) as f64) / (scale * scale) / (self.n as f64 * (self.n - 1) as f64)).sqrt()
        });
        (Some(sum), Some(mean), sd)
    }
}

/// Combines node answers to one query into rows, in the order of the first answer's rows.
pub fn combine(answers: &[&NodeAnswer]) -> Vec<CombinedRow> {
    let mut order: Vec<GroupKey> = Vec::new();
    let mut rows: BTreeMap<GroupKey, (CombinedRow, Pool)> = BTreeMap::new();
    for answer in answers {
        for row in &answer.rows {
            let (c, pool) = rows.entry(row.group).or_insert_with(|| {
                order.push(row.group);
                (
                    CombinedRow {
                        group: row.group,
                        patients: CombinedCell::default(),
                        n: None,
                        sum: None,
                        mean: None,
                        sd: None,
                        histogram: None,
                    },
                    Pool::default(),
                )
            });
            c.patients.add(row.patients);
            if let Some(m) = row.moments {
                c.n.get_or_insert_with(CombinedCell::default).add(m.n());
                if let Moments::Released { n, sum, sum_sq } = m {
                    pool.n += n;
                    pool.sum += sum as i128;
                    pool.sum_sq += sum_sq;
                }
            }
            if let Some(bins) = &row.histogram {
                let h = c.histogram.get_or_insert_with(|| vec![CombinedCell::default(); bins.len()]);
                if h.len() == bins.len() {
                    for (acc, b) in h.iter_mut().zip(bins) {
                        acc.add(*b);
                    }
                }
            }
        }
    }
    order
        .into_iter()
        .map(|k| {
            let (mut row, pool) = rows.remove(&k).expect("every ordered key has a row");
            if row.n.is_some() {
                (row.sum, row.mean, row.sd) = pool.stats();
            }
            row
        })
        .collect()
}

/// Where a query stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResultStatus {
    /// Waiting for nodes, before the deadline.
    Running,
    /// Every node asked has answered or refused.
    Complete,
    /// The deadline passed with nodes missing, or some answers are held for a data steward.
    Partial,
}

/// What one node did with the query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum NodeState {
    /// Asked; nothing back yet.
    Waiting,
    /// Answered.
    Answered {
        /// The node's answer.
        answer: NodeAnswer,
    },
    /// Held for the node's data steward.
    Held,
    /// Refused, with its reason.
    Rejected {
        /// Why.
        rejection: Rejection,
    },
    /// No answer: the node was unreachable, disconnected or missed the deadline.
    NoAnswer {
        /// What happened.
        reason: String,
    },
}

/// One node's part in a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeReport {
    /// The node's peer id.
    pub node: String,
    /// The node's name.
    pub name: String,
    /// What it did.
    #[serde(flatten)]
    pub state: NodeState,
    /// Where the proof of its answer stands (answered nodes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<ProofState>,
}

/// How many of the answers were proven, are waiting for their proof, failed (and were excluded), or
/// carry none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProofSummary {
    /// Answers whose every cell's proof verified against the node's commitment.
    pub proven: u32,
    /// Answers whose proof has not arrived.
    pub pending: u32,
    /// Answers whose proof failed: excluded from the combination.
    pub failed: u32,
    /// Answers without a proof (kind not provable yet, or the node could not prove it).
    pub unproven: u32,
}

impl ProofSummary {
    /// Counts the proof states of the node reports.
    pub fn of(nodes: &[NodeReport]) -> ProofSummary {
        let mut s = ProofSummary::default();
        for p in nodes.iter().filter_map(|n| n.proof.as_ref()) {
            match p {
                ProofState::Proven { .. } => s.proven += 1,
                ProofState::Pending => s.pending += 1,
                ProofState::Failed { .. } => s.failed += 1,
                ProofState::Unproven { .. } => s.unproven += 1,
            }
        }
        s
    }
}

/// Everything the hub knows about a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CombinedResult {
    /// The query's id.
    pub query_id: Uuid,
    /// The query.
    pub query: Query,
    /// Who asked.
    pub researcher: String,
    /// Where it stands.
    pub status: ResultStatus,
    /// The canonical unit of the measure, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The combined rows.
    pub rows: Vec<CombinedRow>,
    /// Each node's part.
    pub nodes: Vec<NodeReport>,
    /// Which answers were proven; the combined rows hold only answers whose proof did not fail.
    #[serde(default)]
    pub proofs: ProofSummary,
    /// The rows combine only answers whose proof verified (the researcher asked for `proven_only`).
    #[serde(default)]
    pub proven_only: bool,
}

impl CombinedResult {
    /// Renders the combined table and the per-node lines for a terminal.
    pub fn to_table(&self) -> String {
        use fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "query {}  [{:?}]{}",
            self.query_id,
            self.status,
            if self.proven_only { "  (combining proven answers only)" } else { "" }
        );
        let _ = writeln!(out, "  {}", self.query);
        let unit = self.unit.as_deref().unwrap_or("");
        let f = |v: Option<f64>| v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into());
        let _ =
            writeln!(out, "  {:<22} {:>18} {:>18} {:>12} {:>10}  histogram", "group", "patients", "n", "mean", "sd");
        for r in &self.rows {
            let hist = r
                .histogram
                .as_ref()
                .map(|h| h.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" | "))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<22} {:>18} {:>18} {:>12} {:>10}  {}",
                r.group.to_string(),
                r.patients.to_string(),
                r.n.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
                f(r.mean),
                f(r.sd),
                hist
            );
        }
        if !unit.is_empty() {
            let _ = writeln!(out, "  (values in {unit})");
        }
        for n in &self.nodes {
            let state = match &n.state {
                NodeState::Waiting => "waiting".to_string(),
                NodeState::Answered { answer } => format!(
                    "answered: {} patients{}, threshold {}, {} µs",
                    answer.total().map(|t| t.patients.display(answer.threshold)).unwrap_or_default(),
                    answer.consented.as_ref().map_or(String::new(), |c| format!(
                        " (only those consenting to {} at {})",
                        c.purpose,
                        time::OffsetDateTime::from_unix_timestamp(c.at)
                            .ok()
                            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                            .unwrap_or_else(|| c.at.to_string())
                    )),
                    answer.threshold,
                    answer.exec_micros
                ),
                NodeState::Held => "held for the data steward".into(),
                NodeState::Rejected { rejection } => format!("rejected: {rejection}"),
                NodeState::NoAnswer { reason } => format!("no answer: {reason}"),
            };
            let proof = n.proof.as_ref().map(|p| format!("; {}", p.label())).unwrap_or_default();
            let _ = writeln!(out, "  node {:<16} {state}{proof}", n.name);
        }
        let consenting = |n: &&NodeReport| match &n.state {
            NodeState::Answered { answer } => Some(answer.consented.is_some()),
            _ => None,
        };
        let populations: Vec<bool> = self.nodes.iter().filter_map(|n| consenting(&n)).collect();
        if populations.iter().any(|c| *c) && populations.iter().any(|c| !*c) {
            let _ = writeln!(
                out,
                "  note: some nodes counted only consenting patients, others every patient (their policies differ)"
            );
        }
        let p = self.proofs;
        if p.proven + p.pending + p.failed + p.unproven > 0 {
            let _ = writeln!(
                out,
                "  proofs: {} proven, {} pending, {} failed (excluded), {} without proof",
                p.proven, p.pending, p.failed, p.unproven
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::AnswerRow;

    fn answer(rows: Vec<AnswerRow>) -> NodeAnswer {
        NodeAnswer {
            query_id: Uuid::nil(),
            threshold: 10,
            unit: None,
            data_version: 1,
            rows,
            exec_micros: 0,
            consented: None,
        }
    }

    fn moments(values: &[i64]) -> Moments {
        Moments::Released {
            n: values.len() as u64,
            sum: values.iter().sum(),
            sum_sq: values.iter().map(|v| (*v as i128) * (*v as i128)).sum(),
        }
    }

    #[test]
    fn pooled_moments_equal_moments_of_the_union() {
        let a: Vec<i64> = (0..15).map(|i| 1000 * i + 250).collect();
        let b: Vec<i64> = (0..12).map(|i| 700 * i - 3000).collect();
        let row = |v: &[i64]| AnswerRow {
            group: GroupKey::TOTAL,
            patients: Cell::Value(v.len() as u64),
            moments: Some(moments(v)),
            histogram: None,
        };
        let (na, nb) = (answer(vec![row(&a)]), answer(vec![row(&b)]));
        let out = combine(&[&na, &nb]);
        let all: Vec<f64> = a.iter().chain(&b).map(|v| *v as f64 / 1000.0).collect();
        let mean = all.iter().sum::<f64>() / all.len() as f64;
        let var = all.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (all.len() - 1) as f64;
        assert_eq!(out[0].patients, CombinedCell { released: 27, suppressed_parts: 0 });
        assert!((out[0].mean.unwrap() - mean).abs() < 1e-9);
        assert!((out[0].sd.unwrap() - var.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn suppressed_parts_stay_suppressed() {
        let released = answer(vec![AnswerRow {
            group: GroupKey::TOTAL,
            patients: Cell::Value(40),
            moments: Some(moments(&[1000; 40])),
            histogram: Some(vec![Cell::Value(30), Cell::Value(10)]),
        }]);
        let small = answer(vec![AnswerRow {
            group: GroupKey::TOTAL,
            patients: Cell::Suppressed,
            moments: Some(Moments::Suppressed),
            histogram: Some(vec![Cell::Suppressed, Cell::Suppressed]),
        }]);
        let out = combine(&[&released, &small]);
        assert_eq!(out[0].patients, CombinedCell { released: 40, suppressed_parts: 1 });
        assert_eq!(out[0].n, Some(CombinedCell { released: 40, suppressed_parts: 1 }));
        assert_eq!(out[0].mean, Some(1.0));
        assert_eq!(out[0].patients.to_string(), "40 + 1 suppressed");
    }
}

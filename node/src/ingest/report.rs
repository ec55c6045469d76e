//! What an ingest job reports: its counters (kept in `ingest_job.counts`), the per-resource issues (kept in
//! `ingest_error`), and the one-line summary. Issues name the file, line, resource type and id and the
//! field; they never carry a name, a birth date or a clinical value.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// How many issues a report or a job status carries (the `ingest_error` table keeps more).
pub const MAX_ISSUES_IN_REPORT: usize = 1000;

/// The counters of a job. Every resource read ends in exactly one of `stored`, `unchanged`, `duplicates`,
/// `skipped_unsupported`, `not_done`, `entered_in_error`, `no_value`, `errors` or `unresolved`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    /// Files processed.
    pub files: u64,
    /// Resources read (bundle entries count one each; a Bundle itself does not count).
    pub resources: u64,
    /// Resources whose rows were stored.
    pub stored: u64,
    /// Resources already in the store from an earlier job (same type and id): left as they are.
    pub unchanged: u64,
    /// Resources seen twice in this job (same type and id), or whose every row duplicates one already stored.
    pub duplicates: u64,
    /// Resources of a FHIR type the store does not map (Practitioner, Organization, Claim, ...).
    pub skipped_unsupported: u64,
    /// Immunizations not given, procedures not done, medications not taken.
    pub not_done: u64,
    /// Resources entered in error, cancelled or refuted.
    pub entered_in_error: u64,
    /// Observations without a value the store can hold.
    pub no_value: u64,
    /// Resources refused, each with an issue of kind `error`.
    pub errors: u64,
    /// Values outside their variable's plausible range: stored with `implausible = 1`.
    pub implausible: u64,
    /// Resources whose Patient was neither in the store nor in the job.
    pub unresolved: u64,
    /// Resources that waited for their Patient until the end of the job (resolved or not).
    pub deferred: u64,
    /// Rows inserted per table.
    pub rows: BTreeMap<String, u64>,
    /// Rows not inserted because an identical row was already stored.
    pub duplicate_rows: u64,
    /// Per resource type.
    pub by_type: BTreeMap<String, TypeCounts>,
}

/// Per resource type counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TypeCounts {
    /// Read.
    pub read: u64,
    /// Stored.
    pub stored: u64,
    /// Already in the store.
    pub unchanged: u64,
    /// Duplicates.
    pub duplicates: u64,
    /// Skipped (unsupported type, not done, entered in error, no value).
    pub skipped: u64,
    /// Errors.
    pub errors: u64,
    /// Unresolved patient reference.
    pub unresolved: u64,
}

impl Counts {
    /// Resources skipped for a reason other than their type.
    pub fn skipped_other(&self) -> u64 {
        self.not_done + self.entered_in_error + self.no_value
    }

    /// The number of outcomes accounted for; equals `resources` once a job is done.
    pub fn accounted(&self) -> u64 {
        self.stored
            + self.unchanged
            + self.duplicates
            + self.skipped_unsupported
            + self.skipped_other()
            + self.errors
            + self.unresolved
    }
}

/// The kind of an issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueKind {
    /// The resource was refused.
    Error,
    /// The resource was stored, with a remark (an implausible value).
    Warning,
    /// The resource's Patient was not found by the end of the job.
    Unresolved,
}

impl IssueKind {
    /// The name stored in `ingest_error.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueKind::Error => "error",
            IssueKind::Warning => "warning",
            IssueKind::Unresolved => "unresolved",
        }
    }

    pub(crate) fn from_str(s: &str) -> IssueKind {
        match s {
            "warning" => IssueKind::Warning,
            "unresolved" => IssueKind::Unresolved,
            _ => IssueKind::Error,
        }
    }
}

/// One problem with one resource. `line` is 1-based; for a resource inside a Bundle it is the line where
/// the bundle entry starts, and the message begins with `bundle entry N` (0-based index in `entry`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestIssue {
    /// The file name.
    pub file: String,
    /// The line.
    pub line: u64,
    /// The resource type, if it could be read.
    pub resource_type: Option<String>,
    /// The resource's FHIR id (local provenance; never leaves the node).
    pub resource_id: Option<String>,
    /// The offending field (a JSON path such as `component[1].valueQuantity.code`), when known.
    pub field: Option<String>,
    /// Error, warning or unresolved.
    pub kind: IssueKind,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for IngestIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.kind.as_str())?;
        if let Some(t) = &self.resource_type {
            write!(f, " {t}")?;
            if let Some(id) = &self.resource_id {
                write!(f, "/{id}")?;
            }
        }
        if let Some(field) = &self.field {
            write!(f, " field {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The result of [`super::run_job`].
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    /// The job.
    pub job_id: String,
    /// Counters.
    pub counts: Counts,
    /// The first [`MAX_ISSUES_IN_REPORT`] issues.
    pub issues: Vec<IngestIssue>,
    /// Issues in all (the `ingest_error` table has them, up to its own cap).
    pub n_issues: u64,
    /// Wall-clock duration.
    pub seconds: f64,
    /// The store's data version after the job.
    pub data_version: u64,
}

impl fmt::Display for IngestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        write!(
            f,
            "ingested {} resources from {} file{} in {:.2} s: {} stored, {} unchanged, {} skipped (unsupported type), \
             {} skipped (not done, entered in error or no value), {} duplicates, {} errors, {} implausible, {} unresolved",
            thousands(c.resources),
            thousands(c.files),
            if c.files == 1 { "" } else { "s" },
            self.seconds,
            thousands(c.stored),
            thousands(c.unchanged),
            thousands(c.skipped_unsupported),
            thousands(c.skipped_other()),
            thousands(c.duplicates),
            thousands(c.errors),
            thousands(c.implausible),
            thousands(c.unresolved),
        )
    }
}

/// `9058` → `9,058`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(n: u64, expect: &str) {
        assert_eq!(thousands(n), expect);
    }

    #[test]
    fn groups_thousands() {
        check(0, "0");
        check(999, "999");
        check(1000, "1,000");
        check(9058, "9,058");
        check(1_234_567, "1,234,567");
    }

    #[test]
    fn summary_is_one_line() {
        let mut counts =
            Counts { files: 8, resources: 9058, stored: 8580, skipped_unsupported: 200, ..Counts::default() };
        counts.duplicates = 12;
        let r =
            IngestReport { job_id: "j".into(), counts, issues: vec![], n_issues: 0, seconds: 0.411, data_version: 1 };
        let s = r.to_string();
        assert!(s.starts_with("ingested 9,058 resources from 8 files in 0.41 s: 8,580 stored, 0 unchanged, 200 skipped (unsupported type)"), "{s}");
        assert!(!s.contains('\n'));
    }
}

//! FHIR R4 ingest: streams Bulk Data NDJSON and Bundles into the node's OMOP-shaped store.
//!
//! The format is detected from content. NDJSON is read line by line and a Bundle (per patient) is parsed
//! whole, so memory stays flat whatever the file size. Each resource is validated into rows ([`records`]):
//! values are brought to their variable's canonical unit ([`crate::units`]), codes keep their system, and a
//! patient becomes a `person` row keyed by `hex(HMAC-SHA256(node key, "Patient/" + id))` with only sex,
//! year and month of birth. Problems are reported per resource with file, line, type, id and field.
//!
//! Invariants: no name, address, telecom, identifier or full birth date reaches an analytic table; the
//! FHIR ids live only in `source_record`. Logs carry counts only. A resource and all its rows are
//! committed together, with the job's counters, in batches of [`IngestOptions::batch_size`] resources; a
//! job found `running` at start-up is marked `interrupted` ([`mark_interrupted`]) and re-running the same
//! files completes it (ingest is idempotent per resource type and id).

mod fhir;
mod job;
mod records;
mod report;
mod source;

pub use report::{Counts, IngestIssue, IngestReport, IssueKind, TypeCounts, MAX_ISSUES_IN_REPORT};

use crate::store::{Store, StoreError};
use hmac::{Hmac, Mac};
use job::Job;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use sha2::Sha256;
use std::fmt;
use std::path::PathBuf;
use std::time::Instant;

/// The node's secret key for patient pseudonyms. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct PseudonymKey([u8; 32]);

impl PseudonymKey {
    /// A key from 32 secret bytes.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        PseudonymKey(b)
    }

    /// The pseudonym of a FHIR Patient id: `hex(HMAC-SHA256(key, "Patient/" + id))`.
    pub fn pseudonym(&self, patient_id: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(b"Patient/");
        mac.update(patient_id.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PseudonymKey(<redacted>)")
    }
}

/// Options of an ingest job.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Resources per transaction.
    pub batch_size: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions { batch_size: 50_000 }
    }
}

/// Progress of a running job, reported after every commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Bytes of the source files read so far.
    pub bytes_done: u64,
    /// Total bytes of the source files.
    pub bytes_total: u64,
    /// Resources read so far.
    pub resources: u64,
}

/// Errors that stop a job. Problems with single resources are not errors: they are reported in the job's
/// issues and the job goes on.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A source file cannot be read.
    #[error("cannot read {path}: {source}: check the path and that agora-node may read it")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Reading failed.
    #[error("reading a source file failed: {0}")]
    Io(#[from] std::io::Error),
    /// A JSON document too large to parse whole.
    #[error("{file} is one JSON document of {size} bytes, more than ingest reads whole: export it as NDJSON")]
    DocumentTooLarge {
        /// The file name.
        file: String,
        /// Its size.
        size: u64,
    },
    /// No sources.
    #[error("no source files given: name at least one NDJSON or Bundle file")]
    NoSources,
    /// A job id that cannot be used.
    #[error("job id must be 1 to 128 characters of letters, digits, `-`, `_` or `.`")]
    BadJobId,
    /// `create_job` with an id already used.
    #[error("ingest job `{0}` already exists: choose another job id")]
    JobExists(String),
    /// The store failed.
    #[error("node store: {0}: check disk space and that the store file is writable")]
    Sqlite(#[from] rusqlite::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The state and results of a job, for the node's operator (local HTTP API). It names files, lines, FHIR
/// ids and fields, never a name or a value.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    /// The job.
    pub job_id: String,
    /// `queued`, `running`, `done`, `failed` or `interrupted`.
    pub state: String,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds, once finished.
    pub finished_at: Option<i64>,
    /// The source file names.
    pub sources: Vec<String>,
    /// Counters as of the last commit.
    pub counts: Counts,
    /// Issues recorded for the job.
    pub n_issues: u64,
    /// The first [`MAX_ISSUES_IN_REPORT`] issues.
    pub errors: Vec<IngestIssue>,
}

pub(crate) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn check_job_id(job_id: &str) -> Result<(), IngestError> {
    let ok = !job_id.is_empty()
        && job_id.len() <= 128
        && job_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(IngestError::BadJobId)
    }
}

/// Creates the job row (state `queued`) so that its status can be served before [`run_job`] starts.
pub fn create_job(store: &Store, job_id: &str, sources: &[String]) -> Result<(), IngestError> {
    check_job_id(job_id)?;
    let sources = serde_json::to_string(sources).expect("strings serialise");
    let inserted = store.conn().execute(
        "INSERT OR IGNORE INTO ingest_job (job_id, state, started_at, sources) VALUES (?1, 'queued', ?2, ?3)",
        params![job_id, now(), sources],
    )?;
    if inserted == 0 {
        return Err(IngestError::JobExists(job_id.to_string()));
    }
    Ok(())
}

/// The data directory's ingest lock (`ingest.lock`, an OS file lock): one ingest at a time per store,
/// across processes. The OS drops the lock when its holder dies, so a job still `running` while nobody
/// holds the lock was cut off (kill -9, power loss): [`mark_interrupted`] needs the lock to say so.
#[derive(Debug)]
pub struct IngestLock {
    _file: std::fs::File,
}

impl IngestLock {
    fn open(data_dir: &std::path::Path) -> Result<std::fs::File, IngestError> {
        let path = data_dir.join("ingest.lock");
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| IngestError::Read { path: path.display().to_string(), source })
    }

    /// Takes the lock if no one holds it.
    pub fn try_acquire(data_dir: &std::path::Path) -> Result<Option<IngestLock>, IngestError> {
        let file = Self::open(data_dir)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(IngestLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(IngestError::Io(e)),
        }
    }

    /// Waits for the lock.
    pub fn acquire(data_dir: &std::path::Path) -> Result<IngestLock, IngestError> {
        let file = Self::open(data_dir)?;
        file.lock()?;
        Ok(IngestLock { _file: file })
    }
}

/// Marks every job still `running` as `interrupted`: holding the ingest lock proves no job is running.
/// With `queued_too`, jobs accepted by the HTTP API but never started are marked as well (for the node's
/// `run`, which is the only process that queues jobs, at start-up). Returns how many.
pub fn mark_interrupted(store: &Store, _lock: &IngestLock, queued_too: bool) -> Result<usize, IngestError> {
    let states = if queued_too { "('running', 'queued')" } else { "('running')" };
    Ok(store.conn().execute(
        &format!("UPDATE ingest_job SET state = 'interrupted', finished_at = ?1 WHERE state IN {states}"),
        [now()],
    )?)
}

/// The state of a job, if it exists.
pub fn job_status(store: &Store, job_id: &str) -> Result<Option<JobStatus>, IngestError> {
    let conn = store.conn();
    let row = conn
        .query_row(
            "SELECT state, started_at, finished_at, sources, counts FROM ingest_job WHERE job_id = ?1",
            [job_id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((state, started_at, finished_at, sources, counts)) = row else {
        return Ok(None);
    };
    let n_issues: i64 =
        conn.query_row("SELECT COUNT(*) FROM ingest_error WHERE job_id = ?1", [job_id], |r| r.get(0))?;
    let errors = conn
        .prepare(
            "SELECT file, line, resource_type, resource_id, field, kind, message FROM ingest_error
             WHERE job_id = ?1 ORDER BY rowid LIMIT ?2",
        )?
        .query_map(params![job_id, MAX_ISSUES_IN_REPORT as i64], |r| {
            Ok(IngestIssue {
                file: r.get(0)?,
                line: r.get::<_, i64>(1)?.max(0) as u64,
                resource_type: r.get(2)?,
                resource_id: r.get(3)?,
                field: r.get(4)?,
                kind: IssueKind::from_str(&r.get::<_, String>(5)?),
                message: r.get(6)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(JobStatus {
        job_id: job_id.to_string(),
        state,
        started_at,
        finished_at,
        sources: serde_json::from_str(&sources).unwrap_or_default(),
        counts: serde_json::from_str(&counts).unwrap_or_default(),
        n_issues: n_issues as u64,
        errors,
    }))
}

/// Runs an ingest job over `sources` (hold the [`IngestLock`] while it runs): creates (or reuses) the job row, ingests every file, retries the
/// resources whose Patient came later, and marks the job `done` (or `failed`, with the reason recorded as
/// an issue, when an error stops it).
///
/// Files are processed in the order given, except that NDJSON files whose first resource is a Patient go
/// first, so that the usual one-file-per-type Bulk export does not defer every other resource.
pub fn run_job(
    store: &mut Store,
    key: &PseudonymKey,
    job_id: &str,
    sources: &[PathBuf],
    opts: &IngestOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<IngestReport, IngestError> {
    check_job_id(job_id)?;
    if sources.is_empty() {
        return Err(IngestError::NoSources);
    }
    let started = Instant::now();
    let names: Vec<String> = sources
        .iter()
        .map(|p| p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned()))
        .collect();
    start_job(store, job_id, &names)?;
    let result = run_files(store, key, job_id, sources, opts, progress);
    let conn = store.conn();
    match result {
        Ok((counts, issues, n_issues)) => {
            let data_version = store.data_version()?;
            tracing::info!(
                target: "node::ingest",
                job_id,
                resources = counts.resources,
                stored = counts.stored,
                unchanged = counts.unchanged,
                duplicates = counts.duplicates,
                errors = counts.errors,
                unresolved = counts.unresolved,
                "ingest job done"
            );
            Ok(IngestReport {
                job_id: job_id.to_string(),
                counts,
                issues,
                n_issues,
                seconds: started.elapsed().as_secs_f64(),
                data_version,
            })
        }
        Err(failure) => {
            let (err, committed) = *failure;
            let counts = serde_json::to_string(&committed).expect("counts serialise");
            conn.execute(
                "UPDATE ingest_job SET state = 'failed', finished_at = ?1, counts = ?2 WHERE job_id = ?3",
                params![now(), counts, job_id],
            )?;
            conn.execute(
                "INSERT INTO ingest_error (job_id, file, line, kind, message) VALUES (?1, '', 0, 'error', ?2)",
                params![job_id, format!("job failed: {err}")],
            )?;
            tracing::warn!(target: "node::ingest", job_id, resources = committed.resources, "ingest job failed");
            Err(err)
        }
    }
}

/// Creates the job row, or resets an existing one (a re-run after an interruption) to `running`.
fn start_job(store: &Store, job_id: &str, names: &[String]) -> Result<(), IngestError> {
    let conn = store.conn();
    let exists: Option<String> =
        conn.query_row("SELECT state FROM ingest_job WHERE job_id = ?1", [job_id], |r| r.get(0)).optional()?;
    if exists.is_none() {
        create_job(store, job_id, names)?;
    }
    conn.execute(
        "UPDATE ingest_job SET state = 'running', started_at = ?1, finished_at = NULL, counts = '{}' WHERE job_id = ?2",
        params![now(), job_id],
    )?;
    conn.execute("DELETE FROM ingest_error WHERE job_id = ?1", [job_id])?;
    Ok(())
}

type JobOutput = (Counts, Vec<IngestIssue>, u64);

fn run_files(
    store: &mut Store,
    key: &PseudonymKey,
    job_id: &str,
    sources: &[PathBuf],
    opts: &IngestOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<JobOutput, Box<(IngestError, Counts)>> {
    let fail = |e: IngestError| Box::new((e, Counts::default()));
    // Check every file before reading any, and put the Patient files first.
    let mut plan = Vec::with_capacity(sources.len());
    let mut bytes_total = 0;
    for path in sources {
        let read_err = |source| IngestError::Read { path: path.display().to_string(), source };
        bytes_total += std::fs::metadata(path).map_err(read_err).map_err(fail)?.len();
        let (format, first_type) = source::detect(path).map_err(read_err).map_err(fail)?;
        plan.push((path, format, first_type.as_deref() == Some("Patient")));
    }
    plan.sort_by_key(|(_, _, patients)| !patients);
    let conn = store.conn();
    // Bulk-load settings for this connection: a 64 MiB page cache, and checkpoints every ~200 MB of WAL
    // instead of every 4 MB, so hot index pages are not copied back to the database thousands of times.
    // Measured in BENCHMARKS.md; both are bounded whatever the input size.
    conn.pragma_update(None, "cache_size", -65_536).map_err(|e| fail(e.into()))?;
    conn.pragma_update(None, "wal_autocheckpoint", 50_000).map_err(|e| fail(e.into()))?;
    // Writes gain nothing from the read mapping, which would only swell the process's resident set.
    conn.pragma_update(None, "mmap_size", 0).map_err(|e| fail(e.into()))?;
    let mut job = Job::new(conn, key, job_id, opts, bytes_total, progress).map_err(fail)?;
    let mut run = || -> Result<(), IngestError> {
        for (path, format, _) in &plan {
            job.file(path, *format)?;
        }
        job.retry_deferred()?;
        job.commit(Some("done"))
    };
    let out = match run() {
        Ok(()) => Ok((job.counts.clone(), std::mem::take(&mut job.issues), job.n_issues)),
        Err(e) => {
            job.rollback();
            Err(Box::new((e, job.committed().clone())))
        }
    };
    drop(job);
    // Back to SQLite's defaults, and fold the WAL into the database (best effort: a reader may hold it).
    let _ = conn.pragma_update(None, "wal_autocheckpoint", 1000);
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    if out.is_ok() {
        let _ = Store::optimize(conn);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonym_key_is_redacted_and_pseudonyms_are_keyed() {
        let key = PseudonymKey::from_bytes([7; 32]);
        assert_eq!(format!("{key:?}"), "PseudonymKey(<redacted>)");
        let other = PseudonymKey::from_bytes([8; 32]);
        assert_eq!(key.pseudonym("p1").len(), 64);
        assert_ne!(key.pseudonym("p1"), other.pseudonym("p1"));
        assert_ne!(key.pseudonym("p1"), key.pseudonym("p2"));
    }

    #[test]
    fn job_ids_are_checked() {
        assert!(check_job_id("job-2026_01.a").is_ok());
        assert!(check_job_id("").is_err());
        assert!(check_job_id("a/b").is_err());
        assert!(check_job_id(&"x".repeat(129)).is_err());
    }
}

//! The ingest engine: reads the files of a job, turns each resource into rows and writes them in batched
//! transactions. A resource and all its rows are always in one transaction, and every commit carries the
//! job's counters, so a crash loses at most the uncommitted batch and never leaves half a resource.
//!
//! Resources whose Patient is not known yet wait in a temporary table (on disk, not in memory) and are
//! retried once every file has been read; those still without a Patient are reported `unresolved`.

use super::fhir::{self, Head, Resource};
use super::records::{self, Outcome, PersonRecord, Problem, Row, Skip, UnitCache};
use super::report::{Counts, IngestIssue, IssueKind, TypeCounts, MAX_ISSUES_IN_REPORT};
use super::source::{self, Bundle, Entry, Format, LineCounter};
use super::{now, IngestError, IngestOptions, Progress, PseudonymKey};
use crate::store::Store;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// Rows of `ingest_error` kept per job; further issues are only counted.
const MAX_ISSUE_ROWS: u64 = 100_000;
/// Entries of the FHIR id → person id cache.
const PERSON_CACHE: usize = 50_000;
/// Deferred resources retried per page.
const RETRY_PAGE: i64 = 500;

/// Where a resource was read.
#[derive(Clone)]
pub(crate) struct Loc {
    pub(crate) file: String,
    pub(crate) line: u64,
    /// Index in the Bundle's `entry` array.
    pub(crate) entry: Option<u64>,
}

/// A deferred resource read back: (seq, file, line, bundle entry, resource id, patient id, JSON).
type DeferredRow = (i64, String, i64, Option<i64>, String, String, String);

/// Bundle-local references: `fullUrl` → (resource type, id).
type FullUrls<'a> = HashMap<Cow<'a, str>, (&'static str, String)>;

/// How a resource's Patient is found.
enum Subject<'b, 'a> {
    /// From its reference, with the Bundle's fullUrls when it came from one.
    Reference(Option<&'b FullUrls<'a>>),
    /// Retrying a deferred resource: the Patient id found the first time round.
    Retry(&'b str),
}

enum Seen {
    New(i64),
    InThisJob,
    Earlier,
}

pub(crate) struct Job<'c, 'p> {
    conn: &'c Connection,
    tx: Option<Transaction<'c>>,
    key: &'p PseudonymKey,
    job_id: String,
    batch_size: usize,
    progress: &'p mut dyn FnMut(&Progress),
    pub(crate) counts: Counts,
    committed: Counts,
    pub(crate) issues: Vec<IngestIssue>,
    pub(crate) n_issues: u64,
    in_batch: usize,
    batch_changed: bool,
    persons: HashMap<Box<str>, i64>,
    units: UnitCache,
    bytes_done: u64,
    bytes_total: u64,
    retrying: bool,
}

impl<'c, 'p> Job<'c, 'p> {
    pub(crate) fn new(
        conn: &'c Connection,
        key: &'p PseudonymKey,
        job_id: &str,
        opts: &IngestOptions,
        bytes_total: u64,
        progress: &'p mut dyn FnMut(&Progress),
    ) -> Result<Self, IngestError> {
        conn.set_prepared_statement_cache_capacity(32);
        conn.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS ingest_deferred (
                 seq INTEGER PRIMARY KEY, file TEXT NOT NULL, line INTEGER NOT NULL, entry INTEGER,
                 resource_id TEXT, patient TEXT NOT NULL, json TEXT NOT NULL);
             DELETE FROM temp.ingest_deferred;",
        )?;
        Ok(Job {
            conn,
            tx: None,
            key,
            job_id: job_id.to_string(),
            batch_size: opts.batch_size.max(1),
            progress,
            counts: Counts::default(),
            committed: Counts::default(),
            issues: Vec::new(),
            n_issues: 0,
            in_batch: 0,
            batch_changed: false,
            persons: HashMap::new(),
            units: UnitCache::default(),
            bytes_done: 0,
            bytes_total,
            retrying: false,
        })
    }

    /// The counters as of the last commit (what the store holds).
    pub(crate) fn committed(&self) -> &Counts {
        &self.committed
    }

    fn begin(&mut self) -> Result<(), IngestError> {
        if self.tx.is_none() {
            self.tx = Some(Transaction::new_unchecked(self.conn, TransactionBehavior::Immediate)?);
        }
        Ok(())
    }

    /// Commits the open batch with the job's counters (and `finish_state`, at the end of the job).
    pub(crate) fn commit(&mut self, finish_state: Option<&str>) -> Result<(), IngestError> {
        self.begin()?;
        let tx = self.tx.take().expect("begun above");
        if self.batch_changed {
            Store::bump_data_version(&tx)?;
        }
        let counts = serde_json::to_string(&self.counts).expect("counts serialise");
        match finish_state {
            None => tx.execute("UPDATE ingest_job SET counts = ?1 WHERE job_id = ?2", params![counts, self.job_id])?,
            Some(state) => tx.execute(
                "UPDATE ingest_job SET counts = ?1, state = ?2, finished_at = ?3 WHERE job_id = ?4",
                params![counts, state, now(), self.job_id],
            )?,
        };
        tx.commit()?;
        self.committed = self.counts.clone();
        self.in_batch = 0;
        self.batch_changed = false;
        (self.progress)(&Progress {
            bytes_done: self.bytes_done,
            bytes_total: self.bytes_total,
            resources: self.counts.resources,
        });
        Ok(())
    }

    /// Drops the open batch (on a fatal error).
    pub(crate) fn rollback(&mut self) {
        self.tx = None;
    }

    fn resource_done(&mut self) -> Result<(), IngestError> {
        self.in_batch += 1;
        if self.in_batch >= self.batch_size {
            self.commit(None)?;
        }
        Ok(())
    }

    // ---- files ------------------------------------------------------------------------------------------

    pub(crate) fn file(&mut self, path: &Path, format: Format) -> Result<(), IngestError> {
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let read_err = |source| IngestError::Read { path: path.display().to_string(), source };
        let file = File::open(path).map_err(read_err)?;
        self.counts.files += 1;
        match format {
            Format::Ndjson => self.ndjson(&name, file).map_err(|e| match e {
                IngestError::Io(source) => read_err(source),
                e => e,
            }),
            Format::Document => self.document(&name, path, file),
        }
    }

    fn ndjson(&mut self, name: &str, file: File) -> Result<(), IngestError> {
        let mut reader = BufReader::with_capacity(1 << 18, file);
        let mut buf = Vec::with_capacity(1 << 12);
        let mut line_no = 0u64;
        loop {
            buf.clear();
            let n = source::read_line(&mut reader, &mut buf)?;
            if n == 0 {
                return Ok(());
            }
            self.bytes_done += n;
            line_no += 1;
            let loc = Loc { file: name.to_string(), line: line_no, entry: None };
            if source::is_cut(&buf) {
                self.refuse(&loc, None, None, Problem { field: None, message: "line longer than 64 MiB".into() })?;
                continue;
            }
            let line = source::trim(&buf);
            if line.is_empty() {
                continue;
            }
            match std::str::from_utf8(line) {
                Ok(text) => self.json(text, &loc)?,
                Err(_) => {
                    self.refuse(&loc, None, None, Problem { field: None, message: "line is not UTF-8".into() })?
                }
            }
        }
    }

    fn document(&mut self, name: &str, path: &Path, file: File) -> Result<(), IngestError> {
        let read_err = |source| IngestError::Read { path: path.display().to_string(), source };
        let size = file.metadata().map_err(read_err)?.len();
        if size > source::MAX_DOCUMENT {
            return Err(IngestError::DocumentTooLarge { file: name.to_string(), size });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(source::MAX_DOCUMENT).read_to_end(&mut bytes).map_err(read_err)?;
        self.bytes_done += bytes.len() as u64;
        let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(0);
        let first_line = 1 + bytes[..start].iter().filter(|&&b| b == b'\n').count() as u64;
        let loc = Loc { file: name.to_string(), line: first_line, entry: None };
        let Ok(text) = std::str::from_utf8(source::trim(&bytes)) else {
            return self.refuse(&loc, None, None, Problem { field: None, message: "file is not UTF-8".into() });
        };
        self.json(text, &loc)
    }

    /// One JSON text holding a resource or a Bundle, starting at `loc`.
    fn json(&mut self, text: &str, loc: &Loc) -> Result<(), IngestError> {
        match serde_json::from_str::<Resource<'_>>(text) {
            Ok(r) if r.resource_type.as_deref() == Some("Bundle") => self.bundle(text, loc),
            Ok(r) => {
                self.resource(&r, text, loc, None, Subject::Reference(None))?;
                self.resource_done()
            }
            Err(e) => {
                self.counts.resources += 1;
                self.parse_failure(text, loc, &e)?;
                self.resource_done()
            }
        }
    }

    /// Reports a resource that does not parse, naming the JSON path of the offending field when it can.
    fn parse_failure(&mut self, text: &str, loc: &Loc, err: &serde_json::Error) -> Result<(), IngestError> {
        let head = serde_json::from_str::<Head<'_>>(text).ok();
        let ty = head.as_ref().and_then(|h| h.resource_type.as_deref()).map(records::truncate);
        let id = head.as_ref().and_then(|h| h.id.as_deref()).map(records::truncate);
        let line = loc.line + u64::try_from(err.line()).unwrap_or(1).saturating_sub(1);
        let loc = Loc { line, ..loc.clone() };
        let problem = match err.classify() {
            serde_json::error::Category::Syntax => {
                Problem { field: None, message: format!("malformed JSON at column {}: fix or remove it", err.column()) }
            }
            serde_json::error::Category::Eof => {
                Problem { field: None, message: "JSON ends early: the resource is truncated".into() }
            }
            _ => {
                let mut de = serde_json::Deserializer::from_str(text);
                let field = match serde_path_to_error::deserialize::<_, Resource<'_>>(&mut de) {
                    Err(e) => Some(e.path().to_string()),
                    Ok(_) => None,
                };
                Problem { field, message: "a field has the wrong JSON type for FHIR R4".into() }
            }
        };
        self.by_type(ty.and_then(fhir::r4_type)).errors += 1;
        self.counts.errors += 1;
        self.issue(IssueKind::Error, &loc, ty, id, problem)
    }

    fn bundle(&mut self, text: &str, loc: &Loc) -> Result<(), IngestError> {
        let bundle = match serde_json::from_str::<Bundle<'_>>(text) {
            Ok(b) => b,
            Err(_) => {
                self.counts.resources += 1;
                self.counts.errors += 1;
                let p = Problem::new("entry", "Bundle.entry must be an array of entries");
                self.issue(IssueKind::Error, loc, Some("Bundle"), None, p)?;
                return self.resource_done();
            }
        };
        let entries = bundle.entry.unwrap_or_default();
        // Parse every entry first: the fullUrl map must be complete before any reference is resolved.
        let mut lines = LineCounter::new(text, loc.line);
        let mut parsed = Vec::with_capacity(entries.len());
        let mut full_urls: FullUrls<'_> = HashMap::new();
        for (idx, raw) in entries.iter().enumerate() {
            let entry_line = lines.line_of(raw.get());
            let Ok(Entry { full_url, resource: Some(resource_raw) }) = serde_json::from_str::<Entry<'_>>(raw.get())
            else {
                continue; // no resource (e.g. a DELETE request): nothing to store
            };
            let entry_loc = Loc { file: loc.file.clone(), line: entry_line, entry: Some(idx as u64) };
            let resource = serde_json::from_str::<Resource<'_>>(resource_raw.get());
            let fallback_id = full_url.as_deref().and_then(|u| match u.strip_prefix("urn:uuid:") {
                Some(uuid) => Some(uuid.to_string()),
                None => fhir::reference_target(u).map(|(_, id)| id.to_string()),
            });
            if let (Ok(r), Some(url)) = (&resource, full_url.filter(|u| !u.is_empty())) {
                let ty = r.resource_type.as_deref().and_then(fhir::r4_type);
                let id = r.id.as_deref().map(str::to_string).or_else(|| fallback_id.clone());
                if let (Some(ty), Some(id)) = (ty, id) {
                    full_urls.insert(url, (ty, id));
                }
            }
            parsed.push((entry_loc, resource_raw.get(), resource, fallback_id));
        }
        // Patients first, so the bundle's other resources find theirs.
        let is_patient = |r: &Result<Resource<'_>, serde_json::Error>| {
            r.as_ref().is_ok_and(|r| r.resource_type.as_deref() == Some("Patient"))
        };
        let order = parsed.iter().filter(|p| is_patient(&p.2)).chain(parsed.iter().filter(|p| !is_patient(&p.2)));
        for (entry_loc, raw, resource, fallback_id) in order {
            match resource {
                Ok(r) if r.resource_type.as_deref() == Some("Bundle") => {
                    self.counts.resources += 1;
                    self.counts.skipped_unsupported += 1;
                    self.by_type(Some("Bundle")).skipped += 1;
                }
                Ok(r) => {
                    let subject = Subject::Reference(Some(&full_urls));
                    self.resource(r, raw, entry_loc, fallback_id.as_deref(), subject)?;
                }
                Err(e) => {
                    self.counts.resources += 1;
                    self.parse_failure(raw, entry_loc, e)?;
                }
            }
            self.resource_done()?;
        }
        Ok(())
    }

    // ---- resources --------------------------------------------------------------------------------------

    fn by_type(&mut self, ty: Option<&'static str>) -> &mut TypeCounts {
        self.counts.by_type.entry(ty.unwrap_or("(invalid)").to_string()).or_default()
    }

    /// One parsed resource. `fallback_id` is used when the resource has no id (a Bundle entry's fullUrl).
    fn resource(
        &mut self,
        r: &Resource<'_>,
        raw: &str,
        loc: &Loc,
        fallback_id: Option<&str>,
        subject: Subject<'_, '_>,
    ) -> Result<(), IngestError> {
        if !self.retrying {
            self.counts.resources += 1;
        }
        let id = r.id.as_deref().filter(|s| !s.is_empty()).or(fallback_id);
        let Some(type_name) = r.resource_type.as_deref() else {
            let p = Problem::new("resourceType", "missing resourceType");
            return self.refuse(loc, None, id, p);
        };
        let Some(ty) = fhir::r4_type(type_name) else {
            let p = Problem::new(
                "resourceType",
                format!("`{}` is not a FHIR R4 resource type", records::truncate(type_name)),
            );
            return self.refuse(loc, Some(type_name), id, p);
        };
        if !self.retrying {
            self.by_type(Some(ty)).read += 1;
        }
        let outcome = match records::build(ty, r, &mut self.units) {
            Ok(Some(o)) => o,
            Ok(None) => {
                self.counts.skipped_unsupported += 1;
                self.by_type(Some(ty)).skipped += 1;
                return Ok(());
            }
            Err(p) => return self.refuse(loc, Some(ty), id, p),
        };
        let skip = match &outcome {
            Outcome::Skipped(s) => Some(*s),
            _ => None,
        };
        if let Some(skip) = skip {
            match skip {
                Skip::NotDone => self.counts.not_done += 1,
                Skip::EnteredInError => self.counts.entered_in_error += 1,
                Skip::NoValue => self.counts.no_value += 1,
            }
            self.by_type(Some(ty)).skipped += 1;
            return Ok(());
        }
        let Some(id) = id else {
            let p = Problem::new("id", "missing id: every resource needs an id (or a fullUrl in a Bundle)");
            return self.refuse(loc, Some(ty), None, p);
        };
        match outcome {
            Outcome::Person(person) => self.write_person(id, &person),
            Outcome::Clinical { subject: reference, subject_field, rows, warnings } => {
                let patient = match subject {
                    Subject::Retry(patient) => patient.to_string(),
                    Subject::Reference(full_urls) => match patient_id(&reference, full_urls) {
                        Ok(p) => p,
                        Err(Unresolvable::NotAPatient(other)) => {
                            let p = Problem::new(
                                subject_field,
                                format!(
                                    "{subject_field} must reference a Patient, not a {}",
                                    records::truncate(&other)
                                ),
                            );
                            return self.refuse(loc, Some(ty), Some(id), p);
                        }
                        Err(Unresolvable::Malformed) => {
                            let p = Problem::new(
                                subject_field,
                                format!("{subject_field}.reference must be Patient/<id> or a fullUrl of this Bundle"),
                            );
                            return self.refuse(loc, Some(ty), Some(id), p);
                        }
                        Err(Unresolvable::NotInBundle) => {
                            let p = Problem::new(
                                subject_field,
                                format!("{subject_field}.reference is a urn:uuid that no entry of this Bundle has"),
                            );
                            return self.unresolved(loc, ty, id, p);
                        }
                    },
                };
                match self.person_id(&patient)? {
                    Some(person_id) => self.write_rows(ty, id, person_id, &rows, warnings, loc),
                    None if self.retrying => {
                        let p = Problem::new(
                            subject_field,
                            format!(
                                "{subject_field} Patient/{} is neither in the store nor in this job",
                                records::truncate(&patient)
                            ),
                        );
                        self.unresolved(loc, ty, id, p)
                    }
                    None => self.defer(loc, id, &patient, raw),
                }
            }
            Outcome::Skipped(_) => unreachable!("handled above"),
        }
    }

    fn refuse(&mut self, loc: &Loc, ty: Option<&str>, id: Option<&str>, p: Problem) -> Result<(), IngestError> {
        let interned = ty.and_then(fhir::r4_type);
        self.counts.errors += 1;
        self.by_type(interned).errors += 1;
        let ty = ty.map(records::truncate);
        self.issue(IssueKind::Error, loc, ty, id.map(records::truncate), p)
    }

    fn unresolved(&mut self, loc: &Loc, ty: &'static str, id: &str, p: Problem) -> Result<(), IngestError> {
        self.counts.unresolved += 1;
        self.by_type(Some(ty)).unresolved += 1;
        self.issue(IssueKind::Unresolved, loc, Some(ty), Some(records::truncate(id)), p)
    }

    fn issue(
        &mut self,
        kind: IssueKind,
        loc: &Loc,
        ty: Option<&str>,
        id: Option<&str>,
        p: Problem,
    ) -> Result<(), IngestError> {
        let message = match loc.entry {
            Some(i) => format!("bundle entry {i}: {}", p.message),
            None => p.message,
        };
        let issue = IngestIssue {
            file: loc.file.clone(),
            line: loc.line,
            resource_type: ty.map(str::to_string),
            resource_id: id.map(str::to_string),
            field: p.field,
            kind,
            message,
        };
        if self.n_issues < MAX_ISSUE_ROWS {
            self.begin()?;
            self.conn
                .prepare_cached(
                    "INSERT INTO ingest_error (job_id, file, line, resource_type, resource_id, field, kind, message)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![
                    self.job_id,
                    issue.file,
                    issue.line as i64,
                    issue.resource_type,
                    issue.resource_id,
                    issue.field,
                    kind.as_str(),
                    issue.message
                ])?;
        }
        self.n_issues += 1;
        if self.issues.len() < MAX_ISSUES_IN_REPORT {
            self.issues.push(issue);
        }
        Ok(())
    }

    // ---- writing ----------------------------------------------------------------------------------------

    /// Records the resource's provenance; tells whether it is new.
    fn source_record(&mut self, ty: &str, id: &str) -> Result<Seen, IngestError> {
        self.begin()?;
        let inserted = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO source_record (resource_type, fhir_id, job_id) VALUES (?1, ?2, ?3)")?
            .execute(params![ty, id, self.job_id])?;
        if inserted == 1 {
            return Ok(Seen::New(self.conn.last_insert_rowid()));
        }
        let job: String = self
            .conn
            .prepare_cached("SELECT job_id FROM source_record WHERE resource_type = ?1 AND fhir_id = ?2")?
            .query_row(params![ty, id], |r| r.get(0))?;
        Ok(if job == self.job_id { Seen::InThisJob } else { Seen::Earlier })
    }

    fn seen_again(&mut self, ty: &'static str, seen: &Seen) {
        match seen {
            Seen::InThisJob => {
                self.counts.duplicates += 1;
                self.by_type(Some(ty)).duplicates += 1;
            }
            Seen::Earlier => {
                self.counts.unchanged += 1;
                self.by_type(Some(ty)).unchanged += 1;
            }
            Seen::New(_) => {}
        }
    }

    fn write_person(&mut self, id: &str, p: &PersonRecord) -> Result<(), IngestError> {
        let source_id = match self.source_record("Patient", id)? {
            Seen::New(source_id) => source_id,
            seen => {
                self.seen_again("Patient", &seen);
                return Ok(());
            }
        };
        let pseudonym = self.key.pseudonym(id);
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO person (pseudonym, sex, year_of_birth, month_of_birth, deceased, source_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![pseudonym, p.sex.as_str(), p.year_of_birth, p.month_of_birth, p.deceased, source_id])?;
        if inserted == 0 {
            self.counts.duplicates += 1;
            self.counts.duplicate_rows += 1;
            self.by_type(Some("Patient")).duplicates += 1;
            return Ok(());
        }
        let person_id = self.conn.last_insert_rowid();
        self.cache_person(id, person_id);
        self.batch_changed = true;
        self.counts.stored += 1;
        *self.counts.rows.entry("person".into()).or_default() += 1;
        self.by_type(Some("Patient")).stored += 1;
        Ok(())
    }

    fn cache_person(&mut self, id: &str, person_id: i64) {
        if self.persons.len() >= PERSON_CACHE {
            self.persons.clear();
        }
        self.persons.insert(id.into(), person_id);
    }

    fn person_id(&mut self, patient: &str) -> Result<Option<i64>, IngestError> {
        if let Some(&p) = self.persons.get(patient) {
            return Ok(Some(p));
        }
        let pseudonym = self.key.pseudonym(patient);
        let found: Option<i64> = self
            .conn
            .prepare_cached("SELECT person_id FROM person WHERE pseudonym = ?1")?
            .query_row([pseudonym], |r| r.get(0))
            .optional()?;
        if let Some(p) = found {
            self.cache_person(patient, p);
        }
        Ok(found)
    }

    fn write_rows(
        &mut self,
        ty: &'static str,
        id: &str,
        person_id: i64,
        rows: &[Row<'_>],
        warnings: Vec<Problem>,
        loc: &Loc,
    ) -> Result<(), IngestError> {
        let source_id = match self.source_record(ty, id)? {
            Seen::New(source_id) => source_id,
            seen => {
                self.seen_again(ty, &seen);
                return Ok(());
            }
        };
        let mut n_new = 0;
        for row in rows {
            let (table, changed) = self.insert_row(person_id, source_id, row)?;
            if changed == 1 {
                n_new += 1;
                *self.counts.rows.entry(table.into()).or_default() += 1;
            } else {
                self.counts.duplicate_rows += 1;
            }
        }
        if n_new == 0 {
            self.counts.duplicates += 1;
            self.by_type(Some(ty)).duplicates += 1;
            return Ok(());
        }
        self.batch_changed = true;
        self.counts.stored += 1;
        self.by_type(Some(ty)).stored += 1;
        self.counts.implausible += warnings.len() as u64;
        for w in warnings {
            self.issue(IssueKind::Warning, loc, Some(ty), Some(records::truncate(id)), w)?;
        }
        Ok(())
    }

    fn insert_row(&mut self, person: i64, source: i64, row: &Row<'_>) -> Result<(&'static str, usize), IngestError> {
        let c = self.conn;
        Ok(match row {
            Row::Measurement { system, code, at, value_e3, unit, implausible } => (
                "measurement",
                c.prepare_cached(
                    "INSERT OR IGNORE INTO measurement
                     (person_id, system, code, measured_at, value_e3, unit, implausible, source_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![person, system, code, at, value_e3, unit, implausible, source])?,
            ),
            Row::Observation { domain, system, code, at, value } => (
                "observation",
                c.prepare_cached(
                    "INSERT OR IGNORE INTO observation
                     (person_id, domain, system, code, observed_at, value_system, value_code, source_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![
                    person,
                    domain,
                    system,
                    code,
                    at,
                    value.as_ref().map(|v| &v.0),
                    value.as_ref().map(|v| &v.1),
                    source
                ])?,
            ),
            Row::Condition { system, code, start } => (
                "condition_occurrence",
                c.prepare_cached(
                    "INSERT OR IGNORE INTO condition_occurrence (person_id, system, code, start_at, source_id)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![person, system, code, start, source])?,
            ),
            Row::Drug { kind, system, code, start } => (
                "drug_exposure",
                c.prepare_cached(
                    "INSERT OR IGNORE INTO drug_exposure (person_id, kind, system, code, start_at, source_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![person, kind, system, code, start, source])?,
            ),
            Row::Visit { class, start, end } => (
                "visit_occurrence",
                c.prepare_cached(
                    "INSERT OR IGNORE INTO visit_occurrence (person_id, class, start_at, end_at, source_id)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![person, class, start, end, source])?,
            ),
            Row::Procedure { system, code, at } => (
                "procedure_occurrence",
                c.prepare_cached(
                    "INSERT OR IGNORE INTO procedure_occurrence (person_id, system, code, performed_at, source_id)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![person, system, code, at, source])?,
            ),
        })
    }

    // ---- deferred resources -----------------------------------------------------------------------------

    fn defer(&mut self, loc: &Loc, id: &str, patient: &str, raw: &str) -> Result<(), IngestError> {
        self.begin()?;
        self.conn
            .prepare_cached(
                "INSERT INTO temp.ingest_deferred (file, line, entry, resource_id, patient, json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![loc.file, loc.line as i64, loc.entry.map(|e| e as i64), id, patient, raw])?;
        self.counts.deferred += 1;
        Ok(())
    }

    /// Retries the deferred resources, now that every file has been read.
    pub(crate) fn retry_deferred(&mut self) -> Result<(), IngestError> {
        self.retrying = true;
        let mut after = 0i64;
        loop {
            let page: Vec<DeferredRow> = self
                .conn
                .prepare_cached(
                    "SELECT seq, file, line, entry, resource_id, patient, json FROM temp.ingest_deferred
                     WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )?
                .query_map(params![after, RETRY_PAGE], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
                })?
                .collect::<Result<_, _>>()?;
            let Some(last) = page.last() else { break };
            after = last.0;
            for (_, file, line, entry, id, patient, json) in &page {
                let loc = Loc { file: file.clone(), line: *line as u64, entry: entry.map(|e| e as u64) };
                // It parsed the first time round; the id may have come from the Bundle's fullUrl.
                let r: Resource<'_> = serde_json::from_str(json).unwrap_or_default();
                self.resource(&r, json, &loc, Some(id), Subject::Retry(patient))?;
                self.resource_done()?;
            }
        }
        self.begin()?;
        self.conn.execute("DELETE FROM temp.ingest_deferred", [])?;
        self.retrying = false;
        Ok(())
    }
}

enum Unresolvable {
    NotAPatient(String),
    Malformed,
    NotInBundle,
}

/// The Patient id a subject reference points to.
fn patient_id(reference: &str, full_urls: Option<&FullUrls<'_>>) -> Result<String, Unresolvable> {
    if let Some((ty, id)) = full_urls.and_then(|m| m.get(reference)) {
        return if *ty == "Patient" { Ok(id.clone()) } else { Err(Unresolvable::NotAPatient(ty.to_string())) };
    }
    if reference.starts_with("urn:uuid:") {
        return Err(Unresolvable::NotInBundle);
    }
    match fhir::reference_target(reference) {
        Some(("Patient", id)) => Ok(id.to_string()),
        Some((other, _)) => Err(Unresolvable::NotAPatient(other.to_string())),
        None => Err(Unresolvable::Malformed),
    }
}

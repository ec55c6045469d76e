//! Proofs of the node's answers (agora-zk): the snapshot of the store the node commits to, and the
//! proving that follows an answer of a provable kind ([`agora_protocol::proof::plan`]).
//!
//! The snapshot holds one block per person: a person row, the person's sex, their birth month, a row
//! per distinct condition and medication code of the person and per distinct prefix of those codes, a
//! row per unrevoked consent ([`consent_code`], valued by the UTC day it ends), then the
//! person's latest value of each LOINC measure and every plausible value of it ([`value_code`]; left
//! out when only they would take the snapshot above `prover_max_rows`), each coded by [`row_code`];
//! nothing of it leaves the
//! node but its commitment. It is rebuilt (with a fresh secret seed) when the data version moves or when its
//! masking budget is spent. Proving runs on agora-zk's bounded [`ProverPool`], never on the answering
//! path: the answer goes out first, and its [`ProofMessage`] follows.

use crate::spool::{Spool, SpoolWriter};
use crate::store::{Store, StoreError};
use agora_protocol::codes::Sex;
use agora_protocol::envelope::{Header, Signed};
use agora_protocol::proof::{
    birth_month, birth_month_code, committed_prefixes, committed_value, consent_code, consent_until, latest_code,
    plan_or_reason, prefix_code, query_digest, row_code, value_code, ChunkCommitment, ChunkLinks, ChunkProof,
    ChunkedCell, DatasetCommitment, Expected, Literal, Outputs, ProofMessage, ProofOutcome, ProvenCell,
    MAX_PARTS_PER_MESSAGE,
};
use agora_protocol::NodeAnswer;
use agora_zk::pool::ProverPool;
use agora_zk::prove::{Block, Row, Snapshot, Statement};
use agora_zk::{Criterion, ZkError};
use base64::Engine;
use libp2p::identity::Keypair;
use rand::RngCore;
use rusqlite::OptionalExtension;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uuid::Uuid;

/// How long a proof message stays valid, in seconds.
const PROOF_TTL_SECS: i64 = 24 * 3600;

/// Signs what the node says about the proof of its answer to `query_id`.
pub fn proof_message(key: &Keypair, query_id: Uuid, outcome: ProofOutcome) -> Signed<ProofMessage> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Signed::sign(&ProofMessage { header: Header::new(query_id, now, PROOF_TTL_SECS), outcome }, key)
}

/// What the node commits to: the patient blocks, the data version they were read at, and the measures
/// left out because a plausible value lies outside the committable range.
pub struct SnapshotData {
    /// The data version.
    pub data_version: u64,
    /// One block per person.
    pub blocks: Vec<Block>,
    /// Row codes of measures not committed.
    pub uncommitted_measures: BTreeSet<u64>,
    /// Row codes of every-value rows ([`value_code`]): left out together when the snapshot with them
    /// would exceed the node's `prover_max_rows` and without them would not.
    pub value_codes: BTreeSet<u64>,
}

/// The patient blocks of the snapshot, in one read transaction: per person (in person id order) the
/// person row, the sex (as the query engine reads it: anything but a FHIR gender code is `unknown`),
/// the birth month (when the year of birth is known), each distinct condition and medication code and
/// code prefix, each unrevoked consent (under its purpose's [`consent_code`], valued by the UTC day it ends,
/// [`consent_until`]), then every plausible value of each LOINC measure (in time order, under the measure's
/// [`value_code`]; offset into an unsigned value by [`committed_value`]), then the person's latest
/// plausible value of each (latest by time, ties by the greatest measurement id, as the query engine
/// takes it), under its [`latest_code`]. All in memory: the node itself reads them a block at a time
/// ([`BlockReader`]).
pub fn snapshot_blocks(store: &mut Store) -> Result<SnapshotData, StoreError> {
    let reader = BlockReader::open(store)?;
    let mut blocks = Vec::new();
    reader.for_each(|block| {
        blocks.push(block);
        Ok::<(), StoreError>(())
    })?;
    Ok(SnapshotData {
        data_version: reader.data_version,
        blocks,
        uncommitted_measures: reader.uncommitted.clone(),
        value_codes: reader.value_codes.clone(),
    })
}

/// The dataset as read for a commitment ([`read_dataset`]): it borrows no store, so the read
/// transaction it was read in has ended.
pub struct DatasetRead {
    /// The store's data version.
    pub data_version: u64,
    /// Row codes of measures not committed.
    pub uncommitted: BTreeSet<u64>,
    /// Row codes of every-value rows.
    pub value_codes: BTreeSet<u64>,
    /// Each block's rows, and how many of them are every-value rows, in person id order.
    pub sizes: Vec<(usize, usize)>,
    /// The blocks, in the same order.
    pub spool: Spool,
}

/// Why the dataset could not be read, or committed (the reason travels to the hub).
#[derive(Debug)]
pub enum ReadError {
    /// The store or the scratch disk failed: reading again later may succeed.
    Passing(String),
    /// The dataset at `data_version` is beyond what the node commits, or its commitment failed: not
    /// tried again until the data changes.
    Refused {
        /// Why.
        reason: String,
        /// The data version read.
        data_version: u64,
    },
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> ReadError {
        ReadError::Passing(format!("cannot read the dataset's rows back from their spool: {e}"))
    }
}

impl From<StoreError> for ReadError {
    fn from(e: StoreError) -> ReadError {
        ReadError::Passing(e.to_string())
    }
}

/// Reads the store's patient blocks ([`snapshot_blocks`]'s layout) once, a block at a time in one read
/// transaction, into a spool in `dir` (the node's scratch directory; in memory without one, or where it
/// takes no file, with a warning), with each block's sizes. The transaction ends when this returns.
/// It stops at the first block that shows the dataset beyond what the node commits in chunks of at
/// most `max_rows` rows, `max_chunks` of them, even without every value of the measures (a patient's
/// rows beyond `max_rows`, or more rows than all the chunks hold), so the spool holds no more than
/// chunks could (every value of the measures included, which the commitment may leave out).
pub fn read_dataset(
    store: &mut Store,
    dir: Option<&std::path::Path>,
    max_rows: usize,
    max_chunks: usize,
) -> Result<DatasetRead, ReadError> {
    let reader = BlockReader::open(store)?;
    let (mut spool, no_file) = SpoolWriter::new(dir);
    if let SpoolWriter::Memory(_) = spool {
        let error = no_file.map(|e| e.to_string()).unwrap_or_else(|| "no scratch directory".into());
        warn!(target: "node::proof", %error, "no scratch file for the dataset's rows: they are read into memory");
    }
    let (most, data_version) = (max_rows.saturating_mul(max_chunks), reader.data_version);
    let (mut sizes, mut without_values) = (Vec::new(), 0usize);
    let value_codes = &reader.value_codes;
    reader.for_each(|block| {
        let values = block.iter().filter(|r| value_codes.contains(&r.code)).count();
        let without = block.len() - values;
        if without > max_rows {
            // The block's size stays in the node's log: the reason travels to the hub.
            warn!(target: "node::proof", rows = without, max_rows, "a patient's block exceeds prover_max_rows");
            return Err(ReadError::Refused {
                reason: format!(
                    "a patient's rows exceed this node's prover_max_rows ({max_rows}): a patient is never split \
                     across chunks, proving is off for this data"
                ),
                data_version,
            });
        }
        without_values += without;
        if without_values > most {
            return Err(ReadError::Refused {
                reason: format!(
                    "the snapshot would hold more than {most} rows even without every value of the measures, \
                     more than chunks of at most this node's prover_max_rows ({max_rows}) hold within its \
                     prover_max_chunks ({max_chunks}): proving is off for this data (memory and time; see \
                     BENCHMARKS.md)"
                ),
                data_version,
            });
        }
        sizes.push((block.len(), values));
        spool.push(block).map_err(|e| ReadError::Passing(format!("cannot spool the dataset's rows: {e}")))
    })?;
    let spool = spool.finish().map_err(|e| ReadError::Passing(format!("cannot spool the dataset's rows: {e}")))?;
    Ok(DatasetRead {
        data_version: reader.data_version,
        uncommitted: reader.uncommitted,
        value_codes: reader.value_codes,
        sizes,
        spool,
    })
}

/// The store's patient blocks as [`snapshot_blocks`] lays them out, read in one read transaction a
/// block at a time, in person id order ([`BlockReader::for_each`]), as many times as needed: memory
/// holds one block and SQLite's sorters (which spill to temporary files), whatever the store's size.
pub struct BlockReader<'s> {
    tx: rusqlite::Transaction<'s>,
    /// The store's data version.
    pub data_version: u64,
    /// Row codes of measures not committed (a plausible value outside the committable range).
    pub uncommitted: BTreeSet<u64>,
    /// Row codes of every-value rows.
    pub value_codes: BTreeSet<u64>,
}

/// The latest plausible LOINC value of each measure per person (ties by the greatest measurement id).
const LATEST_VALUES: &str = "SELECT person_id, code, value_e3 FROM (
         SELECT person_id, code, value_e3, ROW_NUMBER() OVER (
             PARTITION BY person_id, code ORDER BY measured_at DESC, measurement_id DESC) AS latest
         FROM measurement WHERE system = 'loinc' AND implausible = 0)
     WHERE latest = 1 ORDER BY person_id, code";

/// Each LOINC measure's least and greatest plausible value (read from the `measurement_by_code` index,
/// in its order: no sort).
const VALUE_RANGES: &str = "SELECT code, MIN(value_e3), MAX(value_e3) FROM measurement
     WHERE system = 'loinc' AND implausible = 0 GROUP BY code";

/// Each person's latest plausible value of one LOINC measure (`?1`), as [`LATEST_VALUES`] picks it.
const LATEST_OF: &str = "SELECT value_e3 FROM (
         SELECT value_e3, ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY measured_at DESC, measurement_id DESC) AS latest
         FROM measurement WHERE system = 'loinc' AND code = ?1 AND implausible = 0)
     WHERE latest = 1";

/// Every plausible LOINC value, in time order per person and measure.
const EVERY_VALUE: &str = "SELECT person_id, code, value_e3 FROM measurement WHERE system = 'loinc' AND implausible = 0
     ORDER BY person_id, code, measured_at, measurement_id";

impl<'s> BlockReader<'s> {
    /// Opens the read transaction, and finds the data version and the measures that are not committed:
    /// one pass over the measurements index for each measure's least and greatest plausible value
    /// (the committable values are one range, [`committed_value`]), then, for a measure with a value
    /// outside it, whether a patient's latest value is.
    pub fn open(store: &'s mut Store) -> Result<BlockReader<'s>, StoreError> {
        let tx = store.conn_mut().transaction()?;
        let version: Option<String> =
            tx.query_row("SELECT value FROM meta WHERE key = 'data_version'", [], |r| r.get(0)).optional()?;
        let data_version = version.and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut uncommitted = BTreeSet::new();
        let mut value_codes = BTreeSet::new();
        let mut outside = Vec::new();
        {
            let mut stmt = tx.prepare(VALUE_RANGES)?;
            let mut it = stmt.query([])?;
            while let Some(r) = it.next()? {
                let (code, least, greatest): (String, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
                let every = value_code("loinc", &code);
                value_codes.insert(every);
                if committed_value(least).is_none() || committed_value(greatest).is_none() {
                    uncommitted.insert(every);
                    outside.push(code);
                }
            }
        }
        if !outside.is_empty() {
            let mut latest = tx.prepare(LATEST_OF)?;
            for code in outside {
                let mut it = latest.query([&code])?;
                while let Some(r) = it.next()? {
                    if committed_value(r.get(0)?).is_none() {
                        uncommitted.insert(latest_code("loinc", &code));
                        break;
                    }
                }
            }
        }
        Ok(BlockReader { tx, data_version, uncommitted, value_codes })
    }

    /// Hands every person's block to `each`, in person id order; stops at `each`'s first error.
    pub fn for_each<E: From<StoreError>>(&self, mut each: impl FnMut(Block) -> Result<(), E>) -> Result<(), E> {
        let q = |sql: &str| self.tx.prepare(sql).map_err(StoreError::from);
        let (mut persons, mut conditions, mut medications, mut consents, mut values, mut latest) = (
            q("SELECT person_id, sex, year_of_birth, month_of_birth FROM person ORDER BY person_id")?,
            q("SELECT DISTINCT person_id, system, code FROM condition_occurrence ORDER BY person_id, system, code")?,
            q("SELECT DISTINCT person_id, system, code FROM drug_exposure WHERE kind IN ('request', 'statement')
               ORDER BY person_id, system, code")?,
            // Unrevoked consents, expired ones too: whether a consent is active depends on when a query
            // runs, which the proof's consent criterion compares with the consent's end.
            q("SELECT person_id, purpose, valid_until FROM consent WHERE revoked_at IS NULL
               ORDER BY person_id, purpose, credential_id")?,
            q(EVERY_VALUE)?,
            q(LATEST_VALUES)?,
        );
        let codes = |r: &rusqlite::Row<'_>| Ok((r.get::<_, i64>(0)?, (r.get::<_, String>(1)?, r.get::<_, String>(2)?)));
        let mut conditions = Cursor::new(conditions.query_map([], codes).map_err(StoreError::from)?)?;
        let mut medications = Cursor::new(medications.query_map([], codes).map_err(StoreError::from)?)?;
        let consent = |r: &rusqlite::Row<'_>| Ok((r.get::<_, i64>(0)?, (r.get::<_, String>(1)?, r.get(2)?)));
        let mut consents = Cursor::new(consents.query_map([], consent).map_err(StoreError::from)?)?;
        let measure = |r: &rusqlite::Row<'_>| Ok((r.get::<_, i64>(0)?, (r.get::<_, String>(1)?, r.get::<_, i64>(2)?)));
        let mut values = Cursor::new(values.query_map([], measure).map_err(StoreError::from)?)?;
        let mut latest = Cursor::new(latest.query_map([], measure).map_err(StoreError::from)?)?;
        let (person, birth) = (row_code(&["person"]), birth_month_code());
        let mut it = persons.query([]).map_err(StoreError::from)?;
        while let Some(r) = it.next().map_err(StoreError::from)? {
            let (id, sex): (i64, String) = (r.get(0).map_err(StoreError::from)?, r.get(1).map_err(StoreError::from)?);
            let sex = Sex::from_fhir(&sex).unwrap_or(Sex::Unknown);
            let mut block = vec![Row::attribute(person), Row::attribute(row_code(&["sex", sex.as_str()]))];
            // The birth month (an age criterion's row), when the year of birth is known.
            let (year, month): (Option<i64>, Option<i64>) =
                (r.get(2).map_err(StoreError::from)?, r.get(3).map_err(StoreError::from)?);
            if let Some(value) = year.and_then(|y| birth_month(y, month)) {
                block.push(Row { code: birth, value });
            }
            for (kind, cursor) in [("condition", &mut conditions), ("medication", &mut medications)] {
                // Each code, then each prefix once per patient, whichever of their codes it starts.
                let mut prefixes = BTreeSet::new();
                for (system, code) in cursor.take(id)? {
                    block.push(Row::attribute(row_code(&[kind, &system, &code])));
                    prefixes.extend(committed_prefixes(&code).map(|p| prefix_code(kind, &system, p)));
                }
                block.extend(prefixes.into_iter().map(Row::attribute));
            }
            for (purpose, until) in consents.take(id)? {
                block.push(Row { code: consent_code(&purpose), value: consent_until(until) });
            }
            // Measure rows last, every value before the latest (a proof counts a value by its whole
            // block's verdict, so the order is the node's choice, not the statement's).
            for (cursor, code_of) in [(&mut values, value_code as fn(&str, &str) -> u64), (&mut latest, latest_code)] {
                for (code, value) in cursor.take(id)? {
                    let code = code_of("loinc", &code);
                    if let (false, Some(v)) = (self.uncommitted.contains(&code), committed_value(value)) {
                        block.push(Row { code, value: v });
                    }
                }
            }
            each(block)?;
        }
        Ok(())
    }
}

/// Rows of one query in person id order, taken a person at a time (rows of persons the person table
/// does not hold are passed over).
struct Cursor<T, I: Iterator<Item = rusqlite::Result<(i64, T)>>> {
    rows: I,
    next: Option<(i64, T)>,
}

impl<T, I: Iterator<Item = rusqlite::Result<(i64, T)>>> Cursor<T, I> {
    fn new(mut rows: I) -> Result<Self, StoreError> {
        let next = rows.next().transpose()?;
        Ok(Cursor { rows, next })
    }

    /// The rows of person `id` (the cursor moved past them).
    fn take(&mut self, id: i64) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        while let Some((person, _)) = &self.next {
            if *person > id {
                break;
            }
            let (person, row) = self.next.take().expect("peeked");
            if person == id {
                out.push(row);
            }
            self.next = self.rows.next().transpose()?;
        }
        Ok(out)
    }
}

/// The statement a node proves for one target of its answer.
fn statement(target: &agora_protocol::proof::Target, threshold: u32) -> Statement {
    Statement {
        criteria: target.criteria.iter().map(criterion).collect(),
        measure: target.measure,
        squares: matches!(target.cell, Expected::Moments { sum_sq: Some(_), .. }),
        measure_range: target.measure_range.map(|(min, max)| agora_zk::air::Range { min, max }),
        threshold,
    }
}

/// The proof criterion of a plan's literal.
pub fn criterion(l: &Literal) -> Criterion {
    Criterion { code: l.code, negated: l.negated, or_previous: l.or_previous, min: l.min, max: l.max }
}

#[derive(Clone)]
struct Committed {
    /// The snapshot, or the dataset's chunks in order.
    snapshots: Vec<Arc<Snapshot>>,
    commitment: DatasetCommitment,
    uncommitted_measures: Arc<BTreeSet<u64>>,
    /// The rows the snapshot would have held with every value of the measures, when they were left out.
    values_left_out: Option<usize>,
}

impl Committed {
    /// Proofs every snapshot (or chunk) may still serve.
    fn remaining_proofs(&self) -> usize {
        self.snapshots.iter().map(|s| s.remaining_proofs()).min().unwrap_or(0)
    }
}

/// Splits patient blocks of the given sizes into chunks of at most `max_rows` rows, in order, each
/// chunk as full as the next block allows: the index one past each chunk's last block. `Err` holds the
/// size of a block larger than `max_rows` (a patient is never split across chunks).
pub fn chunk_ends(sizes: impl IntoIterator<Item = usize>, max_rows: usize) -> Result<Vec<usize>, usize> {
    let mut ends = Vec::new();
    let mut rows = 0;
    let mut index = 0;
    for (i, size) in sizes.into_iter().enumerate() {
        if size > max_rows {
            return Err(size);
        }
        if rows + size > max_rows {
            ends.push(i);
            rows = 0;
        }
        rows += size;
        index = i + 1;
    }
    if rows > 0 || ends.is_empty() {
        ends.push(index);
    }
    Ok(ends)
}

/// How a node proves.
#[derive(Debug, Clone, Copy)]
pub struct ProverSettings {
    /// The node's disclosure threshold (a suppressed cell is proven below it; at most 64).
    pub threshold: u32,
    /// Proofs computed at once.
    pub workers: usize,
    /// Proofs waiting for a worker; beyond, answers go unproven ("busy").
    pub queue: usize,
    /// The most snapshot rows the node commits to: memory grows with the trace (BENCHMARKS.md); above
    /// it the node commits in chunks of at most this many rows.
    pub max_rows: usize,
    /// The most chunks the node commits in (1: never in chunks); above the node proves nothing and
    /// says why.
    pub max_chunks: usize,
    /// Whether every plausible value of each measure is committed (else each patient's latest only).
    pub every_value: bool,
}

/// The node's prover: its current snapshot and the proving pool.
pub struct Prover {
    store_path: PathBuf,
    key: Keypair,
    threshold: u32,
    max_rows: usize,
    max_chunks: usize,
    every_value: bool,
    pool: ProverPool,
    current: Mutex<Option<Committed>>,
    failed: Mutex<Option<(u64, String)>>,
    building: tokio::sync::Mutex<()>,
    commits: watch::Sender<u64>,
}

impl std::fmt::Debug for Prover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prover").field("threshold", &self.threshold).finish_non_exhaustive()
    }
}

impl Prover {
    /// Starts the proving pool until `cancel`.
    pub fn start(
        store_path: PathBuf,
        key: Keypair,
        settings: ProverSettings,
        cancel: CancellationToken,
    ) -> Arc<Prover> {
        let (pool, _task) = ProverPool::start(settings.workers, settings.queue, cancel);
        Arc::new(Prover {
            store_path,
            key,
            threshold: settings.threshold,
            max_rows: settings.max_rows,
            max_chunks: settings.max_chunks.clamp(1, agora_protocol::proof::MAX_CHUNKS_PER_DATASET),
            every_value: settings.every_value,
            pool,
            current: Mutex::new(None),
            failed: Mutex::new(None),
            building: tokio::sync::Mutex::new(()),
            commits: watch::Sender::new(0),
        })
    }

    /// The current commitment, if a snapshot has been built.
    pub fn commitment(&self) -> Option<DatasetCommitment> {
        self.current.lock().expect("snapshot lock").as_ref().map(|c| c.commitment.clone())
    }

    /// Changes whenever a new snapshot is committed (the node then says hello again, registering it).
    pub fn commits(&self) -> watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// Commits to the store as it is now, unless the current snapshot already covers its data version.
    pub async fn commit_current(&self) -> Result<DatasetCommitment, String> {
        self.snapshot_at(None, None).await.map(|c| c.commitment)
    }

    /// The snapshot an answer at `data_version` (`None`: the store's current version) is proven over:
    /// the current snapshot if it is at that version and not `spent` (the root of a snapshot whose
    /// masking budget ran out), else a new one, built only if the store is still at that version. A
    /// failed build is remembered for its data version, so a store too large to prove is not re-read
    /// for every answer.
    async fn snapshot_at(&self, data_version: Option<u64>, spent: Option<&str>) -> Result<Committed, String> {
        let usable =
            |c: &Committed, v: u64| c.commitment.data_version == v && spent != Some(c.commitment.root.as_str());
        let _one_build = self.building.lock().await;
        if let (Some(v), Some(c)) = (data_version, self.current.lock().expect("snapshot lock").as_ref()) {
            if usable(c, v) {
                return Ok(c.clone());
            }
        }
        let path = self.store_path.clone();
        let store_version = tokio::task::spawn_blocking(move || Store::open(&path)?.data_version())
            .await
            .map_err(|e| format!("store task failed: {e}"))?
            .map_err(|e| e.to_string())?;
        if let Some(v) = data_version.filter(|v| *v != store_version) {
            return Err(format!(
                "the data changed after the answer (answered at data version {v}, the store is at {store_version})"
            ));
        }
        if let Some(c) = self.current.lock().expect("snapshot lock").as_ref() {
            if usable(c, store_version) {
                return Ok(c.clone());
            }
        }
        if let Some((v, reason)) = self.failed.lock().expect("failure lock").clone() {
            if v == store_version {
                return Err(reason);
            }
        }
        let path = self.store_path.clone();
        let (max_rows, max_chunks) = (self.max_rows, self.max_chunks);
        let every_value = self.every_value;
        // The store is read once, a block at a time in one read transaction, into a spool (the
        // dataset's rows, then the snapshot's extension and polynomials and most of each proof's, go to
        // unnamed scratch files beside the store: memory, BENCHMARKS.md; or stay in memory where none
        // can be written); the transaction has ended before the first chunk is committed.
        let read = tokio::task::spawn_blocking(move || -> Result<(DatasetRead, Option<PathBuf>), ReadError> {
            let scratch = path.with_file_name("prover-scratch");
            let scratch = match std::fs::create_dir_all(&scratch) {
                Ok(()) => Some(scratch),
                Err(e) => {
                    warn!(target: "node::proof", dir = %scratch.display(), error = %e, "no prover scratch directory");
                    None
                }
            };
            let mut store = Store::open(&path).map_err(|e| ReadError::Passing(e.to_string()))?;
            Ok((read_dataset(&mut store, scratch.as_deref(), max_rows, max_chunks)?, scratch))
        })
        .await
        .map_err(|e| format!("snapshot task failed: {e}"))?;
        // A store or disk that failed is read again at the next build; a dataset beyond the node's limits
        // (or whose commitment failed) is not, until its data version changes.
        let refused = |e: ReadError| -> String {
            match e {
                ReadError::Passing(reason) => reason,
                ReadError::Refused { reason, data_version: read } => {
                    *self.failed.lock().expect("failure lock") = Some((read, reason.clone()));
                    match data_version.filter(|v| *v != read) {
                        Some(v) => format!(
                            "the data changed after the answer (answered at data version {v}, the store is at {read})"
                        ),
                        None => reason,
                    }
                }
            }
        };
        let (read, scratch) = read.map_err(refused)?;
        let built = tokio::task::spawn_blocking(move || -> Result<Committed, ReadError> {
            let DatasetRead { data_version: version, uncommitted, value_codes, sizes, spool } = read;
            let value_codes = &value_codes;
            let mut uncommitted_measures = uncommitted;
            let n: usize = sizes.iter().map(|s| s.0).sum();
            let values: usize = sizes.iter().map(|s| s.1).sum();
            // The chunks the blocks take, with or without every value of the measures.
            let fits = |ends: &Result<Vec<usize>, usize>| ends.as_ref().is_ok_and(|e| e.len() <= max_chunks);
            let with_values = chunk_ends(sizes.iter().map(|s| s.0), max_rows);
            let without = chunk_ends(sizes.iter().map(|s| s.0 - s.1), max_rows);
            let mut values_left_out = None;
            let leave_out = !every_value || (!fits(&with_values) && fits(&without));
            let mut ends = with_values;
            if leave_out {
                // Not wanted, or every value of the measures does not fit and each patient's latest does.
                if every_value {
                    warn!(target: "node::proof", rows = n, max_rows, max_chunks, "every-value rows left out of the snapshot");
                }
                values_left_out = Some(n);
                uncommitted_measures.extend(value_codes.iter().copied());
                ends = without;
            }
            let rows = n - values_left_out.map_or(0, |_| values);
            let ends = match ends {
                Ok(ends) if ends.len() <= max_chunks => ends,
                Ok(ends) => {
                    let reason = format!(
                        "the snapshot would hold {rows} rows ({} without every value of the measures), {} chunks \
                         of at most this node's prover_max_rows ({max_rows}), above its prover_max_chunks \
                         ({max_chunks}): proving is off for this data (memory and time; see BENCHMARKS.md)",
                        n - values,
                        ends.len()
                    );
                    return Err(ReadError::Refused { reason, data_version: version });
                }
                Err(size) => {
                    // The block's size stays in the node's log: the reason travels to the hub.
                    warn!(target: "node::proof", rows = size, max_rows, "a patient's block exceeds prover_max_rows");
                    let reason = format!(
                        "a patient's rows exceed this node's prover_max_rows ({max_rows}): a patient is never \
                         split across chunks, proving is off for this data"
                    );
                    return Err(ReadError::Refused { reason, data_version: version });
                }
            };
            let started = std::time::Instant::now();
            // One snapshot, or one per chunk of whole blocks, each with its own secret seed. In chunks,
            // each chunk's rows then wait in a scratch file while another is built or proven, so that
            // memory holds one chunk's (`Snapshot::park`).
            let chunked = ends.len() > 1;
            let mut snapshots: Vec<Arc<Snapshot>> = Vec::with_capacity(ends.len());
            let mut chunk: Vec<Block> = Vec::new();
            let mut read = 0;
            let commit = |chunk: Vec<Block>| -> Result<Arc<Snapshot>, ReadError> {
                let mut seed = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut seed);
                let snapshot = Snapshot::build_in(chunk, seed, scratch.as_deref()).map_err(|e| ReadError::Refused { reason: e.to_string(), data_version: version })?;
                if !snapshot.spilled() {
                    warn!(target: "node::proof", "the snapshot's extension or polynomials are held in memory (no scratch file)");
                }
                if let (true, Some(dir)) = (chunked, scratch.as_deref()) {
                    if let Err(e) = snapshot.park(dir) {
                        warn!(target: "node::proof", error = %e, "a chunk's rows are held in memory");
                    }
                }
                Ok(Arc::new(snapshot))
            };
            spool
                .for_each(|mut block| {
                    if sizes.get(read).is_none_or(|s| s.0 != block.len()) {
                        return Err(ReadError::Passing(format!(
                            "the spool's block {read} is not the one read from the store"
                        )));
                    }
                    if leave_out {
                        block.retain(|r| !value_codes.contains(&r.code));
                    }
                    chunk.push(block);
                    read += 1;
                    if ends.contains(&read) {
                        snapshots.push(commit(std::mem::take(&mut chunk))?);
                    }
                    Ok(())
                })?;
            if sizes.is_empty() {
                // An empty store is one empty snapshot.
                snapshots.push(commit(Vec::new())?);
            }
            if read != sizes.len() {
                let why = format!("the spool gave back {read} of the {} blocks read from the store", sizes.len());
                return Err(ReadError::Passing(why));
            }
            if snapshots.len() != ends.len() {
                let why = format!("{} chunks committed of the {} planned", snapshots.len(), ends.len());
                return Err(ReadError::Passing(why));
            }
            let first = snapshots[0].commitment();
            let commitment = if let [one] = &snapshots[..] {
                let c = one.commitment();
                DatasetCommitment {
                    version: c.version,
                    trace_length: c.trace_length,
                    root: c.root.clone(),
                    data_version: version,
                    chunks: Vec::new(),
                }
            } else {
                let chunks = snapshots
                    .iter()
                    .map(|s| ChunkCommitment { trace_length: s.commitment().trace_length, root: s.commitment().root.clone() })
                    .collect();
                DatasetCommitment::chunked(first.version, chunks, version)
                    .map_err(|e| ReadError::Refused { reason: e.to_string(), data_version: version })?
            };
            info!(target: "node::proof", rows, chunks = snapshots.len(), data_version = version, root = %commitment.root,
                  millis = started.elapsed().as_millis() as u64, "snapshot committed");
            Ok(Committed {
                snapshots,
                commitment,
                uncommitted_measures: Arc::new(uncommitted_measures),
                values_left_out,
            })
        })
        .await
        .map_err(|e| format!("snapshot task failed: {e}"))?;
        let built = built.map_err(refused)?;
        *self.current.lock().expect("snapshot lock") = Some(built.clone());
        self.commits.send_modify(|n| *n += 1);
        if let Some(v) = data_version.filter(|v| *v != built.commitment.data_version) {
            return Err(format!(
                "the data changed after the answer (answered at data version {v}, the store is at {})",
                built.commitment.data_version
            ));
        }
        Ok(built)
    }

    /// Proves an answer to `query` sent earlier, or says why not; over the population the answer states
    /// (every patient, or those consenting to the query's purpose when it ran: [`NodeAnswer::consented`]).
    /// The messages [`Prover::prove_each`] sends, collected.
    pub async fn prove(
        &self,
        query_id: Uuid,
        query: &agora_protocol::Query,
        answer: &NodeAnswer,
    ) -> Vec<Signed<ProofMessage>> {
        let (tx, mut rx) = mpsc::channel(1);
        let proving = async move { self.prove_each(query_id, query, answer, &tx, |msg| msg).await };
        let mut out = Vec::new();
        let collecting = async {
            while let Some(msg) = rx.recv().await {
                out.push(msg);
            }
        };
        tokio::join!(proving, collecting);
        out
    }

    /// Proves an answer as [`Prover::prove`] does, sending each message on `out` (as `wrap` makes it) as
    /// soon as it is signed: one message with every cell, or over a dataset in chunks a message per run
    /// of at most [`MAX_PARTS_PER_MESSAGE`] parts of a cell ([`ProofOutcome::Chunked`]), sent once its
    /// cell is proven and checked, so the node holds one cell's parts besides the few messages on their
    /// way out (the messages waiting are in the store's outbox: [`crate::outbox`]). A reason follows
    /// (`Unavailable`) when a later cell cannot be proven. A closed `out` stops it.
    pub async fn prove_each<T>(
        &self,
        query_id: Uuid,
        query: &agora_protocol::Query,
        answer: &NodeAnswer,
        out: &mpsc::Sender<T>,
        wrap: impl Fn(Signed<ProofMessage>) -> T,
    ) {
        let (tx, rx) = mpsc::channel::<ProofOutcome>(1);
        let proving = async move { self.proofs(query_id, query, answer, &tx).await };
        // Stopping drops `rx`, so the proving side sees it closed instead of waiting.
        let forwarding = async {
            let mut rx = rx;
            while let Some(outcome) = rx.recv().await {
                if out.send(wrap(proof_message(&self.key, query_id, outcome))).await.is_err() {
                    break;
                }
            }
        };
        let (last, ()) = tokio::join!(proving, forwarding);
        let last = last.unwrap_or_else(|reason| {
            info!(target: "node::proof", %query_id, %reason, "answer not proven");
            Some(ProofOutcome::Unavailable { reason })
        });
        if let Some(outcome) = last {
            let _ = out.send(wrap(proof_message(&self.key, query_id, outcome))).await;
        }
    }

    /// The proofs of an answer: the cells over one snapshot as the outcome returned, or over a dataset in
    /// chunks each cell's runs sent on `runs` as the cell is proven (nothing returned).
    async fn proofs(
        &self,
        query_id: Uuid,
        query: &agora_protocol::Query,
        answer: &NodeAnswer,
        runs: &mpsc::Sender<ProofOutcome>,
    ) -> Result<Option<ProofOutcome>, String> {
        let mut plan = plan_or_reason(query)?;
        if let Some(c) = &answer.consented {
            plan = plan.consented(&c.purpose, c.at)?;
        }
        let targets = plan.targets(answer);
        if targets.first().is_none_or(|t| !t.group.is_total()) {
            return Err("the answer has no whole-cohort row".into());
        }
        let digest = query_digest(query_id, query);
        // Every cell of one answer goes over one snapshot, with enough of its masking budget left; a
        // snapshot spent by concurrent proofs midway is replaced once and the answer proven again (over
        // chunks only while no cell's runs have gone out: after, the answer goes unproven, saying why).
        let mut committed = self.snapshot_at(Some(answer.data_version), None).await?;
        if plan.codes().any(|c| committed.uncommitted_measures.contains(&c)) {
            let every = plan.reads_every_value()
                || query.measure.as_ref().is_some_and(|m| m.selection == agora_protocol::query::Selection::All);
            if let Some(rows) = committed.values_left_out.filter(|_| every) {
                if !self.every_value {
                    return Err(
                        "this node commits each patient's latest value only (prover_every_value = false)".into()
                    );
                }
                return Err(format!(
                    "every value of the measures would take the snapshot to {rows} rows, above this node's \
                     prover_max_rows ({}): only each patient's latest value is committed",
                    self.max_rows
                ));
            }
            return Err("the measure has values outside the committable range (±2^31 thousandths of its unit)".into());
        }
        for _ in 0..2 {
            if committed.remaining_proofs() < targets.len() {
                let spent = committed.commitment.root.clone();
                committed = self.snapshot_at(Some(answer.data_version), Some(&spent)).await?;
            }
            let mut sent = 0;
            match self.prove_targets(query_id, digest, &targets, &committed, runs, &mut sent).await {
                Ok(cells) if cells.is_empty() => return Ok(None),
                Ok(cells) => {
                    let statement = agora_zk::archive::ARCHIVE_FORMAT.to_string();
                    return Ok(Some(ProofOutcome::Proven {
                        commitment: committed.commitment.clone(),
                        cells,
                        statement,
                    }));
                }
                // Cells sent over this dataset are not proven again over another.
                Err(ZkError::BudgetExhausted(_)) if sent > 0 => {
                    return Err("the dataset's proof budget ran out while proving this answer".into())
                }
                Err(ZkError::BudgetExhausted(_)) => continue,
                Err(ZkError::Busy) => return Err("the node's prover is busy".into()),
                Err(ZkError::Prover(reason)) => return Err(reason),
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("the snapshot's proof budget ran out twice while proving this answer".into())
    }

    /// Proves each target over one snapshot (or the dataset's chunks), checking each proven cell
    /// against the answer's.
    /// Over one snapshot the proven cells are returned; over chunks each cell's runs go out on `runs`
    /// once the cell is checked (`sent` counts them) and none is returned.
    async fn prove_targets(
        &self,
        query_id: Uuid,
        digest: [u8; 32],
        targets: &[agora_protocol::proof::Target],
        committed: &Committed,
        runs: &mpsc::Sender<ProofOutcome>,
        sent: &mut usize,
    ) -> Result<Vec<ProvenCell>, ZkError> {
        let statements: Vec<Statement> = targets.iter().map(|t| statement(t, self.threshold)).collect();
        let chunked = committed.snapshots.len() > 1;
        // Every cell's statement fits the format (as a chunk's part, over chunks) before any proof spends
        // a snapshot's budget.
        for s in &statements {
            s.check_width()?;
            if chunked {
                s.check_chunked()?;
            }
        }
        let b64 = |proof: &[u8]| base64::engine::general_purpose::STANDARD.encode(proof);
        let mut cells = Vec::with_capacity(targets.len());
        for (index, (target, statement)) in targets.iter().zip(statements).enumerate() {
            let (claim, proof) = if chunked {
                let rx = self.pool.try_submit_chunked(committed.snapshots.clone(), digest, statement)?;
                let (claim, parts) = rx.await.map_err(|_| ZkError::Stopped)??;
                let parts = parts
                    .into_iter()
                    .map(|p| ChunkProof {
                        count: p.claim.count,
                        sum: p.claim.sum,
                        link: ChunkLinks {
                            prev: p.link.prev,
                            next: p.link.next,
                            total: p.link.total,
                            squares: p.link.squares,
                            squares_total: p.link.squares_total,
                        },
                        proof: b64(&p.proof),
                    })
                    .collect();
                (claim, CellProof::Chunked(parts))
            } else {
                let rx = self.pool.try_submit(committed.snapshots[0].clone(), digest, statement)?;
                let (claim, proof) = rx.await.map_err(|_| ZkError::Stopped)??;
                (claim, CellProof::One(b64(&proof)))
            };
            let proven = claim.suppressed_below.is_none().then_some(Outputs {
                count: claim.count,
                sum: claim.sum,
                sum_sq: claim.sum_sq,
            });
            let cell = format!("{:?} ({})", target.part, target.group).to_lowercase();
            match target.outputs() {
                Ok(expected) if expected == proven => {}
                Ok(_) => {
                    warn!(target: "node::proof", %query_id, %cell, "the proven cell differs from the answer's; not sent");
                    return Err(ZkError::Prover(format!(
                        "{cell}: the proven value differs from the answer (suppressed to protect another cell, or its values come from fewer patients than the threshold)"
                    )));
                }
                Err(e) => return Err(ZkError::Prover(format!("{cell}: {e}"))),
            }
            match proof {
                CellProof::One(proof) => cells.push(ProvenCell { part: target.part, group: target.group, proof }),
                CellProof::Chunked(parts) => {
                    let cell = (index, targets.len());
                    for run in chunked_runs(&committed.commitment, cell, target, parts) {
                        runs.send(run).await.map_err(|_| ZkError::Stopped)?;
                        *sent += 1;
                    }
                }
            }
        }
        Ok(cells)
    }
}

/// A cell's proof: over one snapshot, or a part per chunk.
enum CellProof {
    One(String),
    Chunked(Vec<ChunkProof>),
}

/// What the node says of cell `index` (of `cells`) over the chunks of `commitment`: its parts in runs
/// of at most [`MAX_PARTS_PER_MESSAGE`], a message each.
fn chunked_runs(
    commitment: &DatasetCommitment,
    (index, cells): (usize, usize),
    target: &agora_protocol::proof::Target,
    mut parts: Vec<ChunkProof>,
) -> Vec<ProofOutcome> {
    let mut runs = Vec::new();
    let mut first = 0;
    while !parts.is_empty() {
        let rest = parts.split_off(parts.len().min(MAX_PARTS_PER_MESSAGE));
        let run = std::mem::replace(&mut parts, rest);
        let n = run.len();
        runs.push(ProofOutcome::Chunked {
            commitment: commitment.clone(),
            index,
            cells,
            cell: ChunkedCell { part: target.part, group: target.group, first, parts: run },
            statement: agora_zk::archive::ARCHIVE_FORMAT.to_string(),
        });
        first += n;
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_row_cap_is_the_formats_largest_trace() {
        assert_eq!(crate::config::Config::default().prover_max_rows, 3_932_158);
        assert_eq!(agora_zk::format::capacity(1 << 22), 3_932_158, "2^22 rows less the mask's and two");
    }

    #[test]
    fn blocks_fill_chunks_in_order_and_are_never_split() {
        assert_eq!(chunk_ends([3, 3, 3, 3], 6), Ok(vec![2, 4]));
        assert_eq!(chunk_ends([3, 4, 2, 5, 1], 6), Ok(vec![1, 3, 5]));
        assert_eq!(chunk_ends([6], 6), Ok(vec![1]));
        assert_eq!(chunk_ends([], 6), Ok(vec![0]), "an empty store is one empty snapshot");
        assert_eq!(chunk_ends([2, 7, 1], 6), Err(7));
        // Every chunk within the cap, the blocks in order, as few chunks as the order allows.
        let sizes = [5, 1, 1, 4, 2, 6, 3, 3];
        let ends = chunk_ends(sizes, 6).unwrap();
        let mut from = 0;
        for end in &ends {
            assert!(sizes[from..*end].iter().sum::<usize>() <= 6);
            from = *end;
        }
        assert_eq!((ends, from), (vec![2, 4, 5, 6, 8], sizes.len()));
    }

    #[test]
    fn a_dataset_has_as_many_chunks_as_agora_zk_adds_up_exactly() {
        assert_eq!(agora_protocol::proof::MAX_CHUNKS_PER_DATASET, agora_zk::MAX_CHUNKS);
    }

    #[test]
    fn a_cells_parts_go_in_runs_of_at_most_ten_in_order() {
        let commitment =
            DatasetCommitment { version: 3, trace_length: 0, root: "ab".into(), data_version: 1, chunks: vec![] };
        let target = agora_protocol::proof::Target {
            part: agora_protocol::proof::ProvenPart::Moments,
            group: agora_protocol::GroupKey {
                sex: Some(agora_protocol::Sex::Female),
                ..agora_protocol::GroupKey::TOTAL
            },
            criteria: vec![],
            measure: None,
            measure_range: None,
            cell: Expected::Count(0),
        };
        let part = |i: u64| ChunkProof {
            count: i,
            sum: 0,
            link: ChunkLinks { prev: [0; 4], next: [0; 4], total: None, squares: None, squares_total: None },
            proof: format!("proof {i}"),
        };
        for (n, expected) in [(1, vec![(0, 1)]), (10, vec![(0, 10)]), (23, vec![(0, 10), (10, 10), (20, 3)])] {
            let runs = chunked_runs(&commitment, (2, 5), &target, (0..n).map(part).collect());
            let mut seen = Vec::new();
            let mut shape = Vec::new();
            for run in runs {
                let ProofOutcome::Chunked { commitment: c, index, cells, cell, statement } = run else { panic!() };
                assert_eq!(
                    (c.root.as_str(), index, cells, statement.as_str()),
                    ("ab", 2, 5, agora_zk::archive::ARCHIVE_FORMAT)
                );
                assert_eq!((cell.part, &cell.group), (target.part, &target.group));
                shape.push((cell.first, cell.parts.len()));
                seen.extend(cell.parts.iter().map(|p| p.count));
            }
            assert_eq!(shape, expected);
            assert_eq!(seen, (0..n).collect::<Vec<u64>>());
        }
    }

    #[test]
    fn the_smallest_snapshot_serves_a_whole_answer() {
        let smallest = agora_zk::format::MIN_TRACE_LENGTH;
        assert!(agora_zk::format::proof_budget(smallest) >= agora_protocol::proof::MAX_PROOFS_PER_ANSWER);
    }

    #[test]
    fn row_codes_fit_the_commitment_format() {
        assert_eq!(agora_protocol::proof::MAX_ROW_CODE, agora_zk::format::MAX_CODE);
        assert_eq!(agora_protocol::proof::MAX_LITERALS, agora_zk::format::MAX_CRITERIA);
    }

    #[test]
    fn the_dataset_is_read_once_and_its_read_transaction_ends_before_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut store = Store::open(&path).unwrap();
        store
            .conn()
            .execute_batch(
                "INSERT INTO source_record (source_id, resource_type, fhir_id, job_id) VALUES (1, 'Bundle', 't', 't');
                 INSERT INTO person (person_id, pseudonym, sex, year_of_birth, month_of_birth, source_id) VALUES
                     (1, 'a', 'female', 1970, 1, 1), (2, 'b', 'male', 1980, 2, 1), (3, 'c', 'other', NULL, NULL, 1);
                 INSERT INTO condition_occurrence (person_id, system, code, start_at, source_id) VALUES
                     (1, 'icd10cm', 'E11.9', 1600000000, 1), (3, 'icd10cm', 'I10', 1600000000, 1);
                 INSERT INTO measurement (person_id, system, code, measured_at, value_e3, unit, implausible, source_id) VALUES
                     (1, 'loinc', '2345-7', 100, 90000, 'mg/dL', 0, 1), (1, 'loinc', '2345-7', 200, 95000, 'mg/dL', 0, 1),
                     (2, 'loinc', '2345-7', 100, 80000, 'mg/dL', 0, 1);",
            )
            .unwrap();
        let expected = snapshot_blocks(&mut store).unwrap();
        // Another connection writes and then checkpoints the whole WAL, without waiting for readers.
        let writer = Store::open(&path).unwrap();
        writer.conn().busy_timeout(std::time::Duration::ZERO).unwrap();
        let mut next = 100;
        let mut write_and_checkpoint = || -> i64 {
            next += 1;
            writer
                .conn()
                .execute(
                    "INSERT INTO person (person_id, pseudonym, sex, source_id) VALUES (?1, ?2, 'female', 1)",
                    rusqlite::params![next, format!("p{next}")],
                )
                .unwrap();
            writer.conn().query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0)).unwrap()
        };
        // The check can fail: while blocks are read in the read transaction, the checkpoint is blocked.
        let reader = BlockReader::open(&mut store).unwrap();
        let mut busy = Vec::new();
        reader
            .for_each(|_| {
                busy.push(write_and_checkpoint());
                Ok::<(), StoreError>(())
            })
            .unwrap();
        drop(reader);
        assert!(busy.iter().all(|b| *b == 1), "a checkpoint under an open read transaction is busy: {busy:?}");
        // Read for a commit: the same blocks, in a spool; while they are read back (as chunks are
        // committed) nothing holds the WAL.
        let (before, after) = (expected.blocks.len(), expected.blocks.len() + busy.len());
        let scratch = tempfile::tempdir().unwrap();
        let read = read_dataset(&mut store, Some(scratch.path()), usize::MAX, 1).unwrap();
        assert!(matches!(read.spool, Spool::File(..)));
        assert_eq!(read.sizes.len(), after, "the persons written above are read too");
        assert_eq!(read.data_version, store.data_version().unwrap());
        let mut back = Vec::new();
        read.spool
            .for_each(|block| {
                assert_eq!(write_and_checkpoint(), 0, "the checkpoint completes while the blocks are read back");
                back.push(block);
                Ok::<(), std::io::Error>(())
            })
            .unwrap();
        assert_eq!(back[..before], expected.blocks[..]);
        assert_eq!(back.len(), after);
        let sizes: Vec<(usize, usize)> =
            back.iter().map(|b| (b.len(), b.iter().filter(|r| read.value_codes.contains(&r.code)).count())).collect();
        assert_eq!(read.sizes, sizes);
        assert_eq!(read.value_codes, expected.value_codes);
        assert_eq!(sizes[0].1, 2, "person 1's two glucose values");

        // A dataset beyond the node's limits is refused as soon as a block shows it, every value of the
        // measures aside: a patient beyond a chunk, or more rows than the chunks hold.
        // (The store as it is now, with the persons written while the spool was read back.)
        let now = snapshot_blocks(&mut store).unwrap();
        let sizes: Vec<(usize, usize)> = now
            .blocks
            .iter()
            .map(|b| (b.len(), b.iter().filter(|r| now.value_codes.contains(&r.code)).count()))
            .collect();
        let largest = sizes.iter().map(|s| s.0 - s.1).max().unwrap();
        let without: usize = sizes.iter().map(|s| s.0 - s.1).sum();
        let mut refused = |max_rows, max_chunks| match read_dataset(&mut store, None, max_rows, max_chunks) {
            Err(ReadError::Refused { reason, .. }) => reason,
            Err(ReadError::Passing(e)) => panic!("refused for good, not {e}"),
            Ok(_) => panic!("refused"),
        };
        assert!(refused(largest - 1, 100).contains("a patient's rows exceed this node's prover_max_rows"));
        assert!(refused(largest, (without - 1) / largest).contains("more than"));
        let fits = read_dataset(&mut store, None, largest, without.div_ceil(largest)).unwrap();
        assert!(matches!(fits.spool, Spool::Memory(_)), "no directory: in memory");
        assert_eq!(fits.sizes, sizes);
    }

    #[test]
    fn snapshot_blocks_follow_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let conn = store.conn();
        conn.execute_batch(
            "INSERT INTO source_record (source_id, resource_type, fhir_id, job_id) VALUES (1, 'Bundle', 't', 't');
             INSERT INTO person (person_id, pseudonym, sex, year_of_birth, month_of_birth, source_id) VALUES
                 (1, 'a', 'female', 1970, 1, 1), (2, 'b', 'male', 1980, 2, 1), (3, 'c', 'female', NULL, 3, 1);
             INSERT INTO condition_occurrence (person_id, system, code, start_at, source_id) VALUES
                 (1, 'icd10cm', 'E11.9', 1600000000, 1), (1, 'icd10cm', 'E11.9', 1600000001, 1),
                 (2, 'icd10cm', 'E11.9', 1600000000, 1), (2, 'icd10cm', 'I10', 1600000000, 1);",
        )
        .unwrap();
        let SnapshotData { blocks, .. } = snapshot_blocks(&mut store).unwrap();
        let codes = |b: &Block| b.iter().map(|r| r.code).collect::<Vec<_>>();
        let (person, e11, i10) = (
            row_code(&["person"]),
            row_code(&["condition", "icd10cm", "E11.9"]),
            row_code(&["condition", "icd10cm", "I10"]),
        );
        let (female, male) = (row_code(&["sex", "female"]), row_code(&["sex", "male"]));
        let prefix = |p: &str| row_code(&["condition-prefix", "icd10cm", p]);
        // Person 1 has E11.9 twice: one row, and one row per prefix of at least three characters.
        // Blocks in person order, attributes each once; the birth month (12·year + month - 1) after
        // the sex, for a person with a year of birth.
        let birth = row_code(&["birth-month"]);
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[0][2], Row { code: birth, value: 23_640 });
        assert_eq!(blocks[1][2], Row { code: birth, value: 23_761 });
        let mut first = codes(&blocks[0]);
        first[4..].sort_unstable();
        let mut prefixes = [prefix("E11"), prefix("E11."), prefix("E11.9")];
        prefixes.sort_unstable();
        assert_eq!(first[..4], [person, female, birth, e11]);
        assert_eq!(first[4..], prefixes);
        // Person 2: E11.9 and I10 (its prefix I10 is the whole code).
        let mut second = codes(&blocks[1]);
        second[3..].sort_unstable();
        let mut expected = [e11, i10, prefix("E11"), prefix("E11."), prefix("E11.9"), prefix("I10")];
        expected.sort_unstable();
        assert_eq!(second[..3], [person, male, birth]);
        assert_eq!(second[3..], expected[..]);
        // Person 3 has no year of birth: no age, no birth month row.
        assert_eq!(codes(&blocks[2]), vec![person, female]);
        // Each person's latest plausible value of each LOINC measure, after the attributes, offset by 2^31;
        // a measure with a value outside the committable range is left out whole (both forms), but its
        // latest values when every patient's latest is within it (cholesterol: an older value outside).
        store
            .conn()
            .execute_batch(
                "INSERT INTO measurement (person_id, system, code, measured_at, value_e3, unit, implausible, source_id) VALUES
                     (1, 'loinc', '2345-7', 100, 90000, 'mg/dL', 0, 1), (1, 'loinc', '2345-7', 200, 95000, 'mg/dL', 0, 1),
                     (1, 'loinc', '2345-7', 300, 999000, 'mg/dL', 1, 1), (2, 'loinc', '2345-7', 100, -5, 'mg/dL', 0, 1),
                     (3, 'loinc', '8480-6', 100, 120000, 'mm[Hg]', 0, 1), (3, 'loinc', '8480-6', 200, 3000000000, 'mm[Hg]', 0, 1),
                     (2, 'loinc', '2093-3', 100, -2147483649, 'mg/dL', 0, 1), (2, 'loinc', '2093-3', 200, 180000, 'mg/dL', 0, 1),
                     (2, 'loinc', '2093-3', 300, 4000000000, 'mg/dL', 1, 1);",
            )
            .unwrap();
        let SnapshotData { blocks, uncommitted_measures, value_codes, .. } = snapshot_blocks(&mut store).unwrap();
        let (glucose, every_glucose) = (latest_code("loinc", "2345-7"), value_code("loinc", "2345-7"));
        // Every plausible value, in time order, under the measure's value code, before the latest.
        let offset = |v: i64| u32::try_from(v + (1 << 31)).unwrap();
        let tail = |b: &Block, k: usize| b[b.len() - k..].to_vec();
        assert_eq!(
            tail(&blocks[0], 3),
            [
                Row { code: every_glucose, value: offset(90_000) },
                Row { code: every_glucose, value: offset(95_000) },
                Row { code: glucose, value: offset(95_000) }
            ]
        );
        let (cholesterol, every_cholesterol) = (latest_code("loinc", "2093-3"), value_code("loinc", "2093-3"));
        assert_eq!(
            tail(&blocks[1], 3),
            [
                Row { code: every_glucose, value: offset(-5) },
                Row { code: cholesterol, value: offset(180_000) },
                Row { code: glucose, value: offset(-5) }
            ]
        );
        assert_eq!(codes(&blocks[2]), vec![person, female]);
        let blood_pressure = [latest_code("loinc", "8480-6"), value_code("loinc", "8480-6")];
        let mut expected = BTreeSet::from(blood_pressure);
        expected.insert(every_cholesterol);
        assert_eq!(uncommitted_measures, expected);
        assert_eq!(value_codes, BTreeSet::from([every_glucose, blood_pressure[1], every_cholesterol]));
    }
}

//! Proofs of the node's answers (agora-zk): the snapshot of the store the node commits to, and the
//! proving that follows an answer of a provable kind ([`agora_protocol::proof::plan`]).
//!
//! The snapshot holds one row per person, per person's sex, per distinct (person, condition code) and
//! per distinct (person, medication code), each coded by [`row_code`]; nothing of it leaves the node but
//! its commitment. It is rebuilt (with a fresh secret seed) when the data version moves or when its
//! masking budget is spent. Proving runs on agora-zk's bounded [`ProverPool`], never on the answering
//! path: the answer goes out first, and its [`ProofMessage`] follows.

use crate::store::{Store, StoreError};
use agora_protocol::envelope::{Header, Signed};
use agora_protocol::proof::{
    plan, query_digest, row_code, DatasetCommitment, ProofMessage, ProofOutcome, ProvenCell, ProvenPart,
};
use agora_protocol::{Cell, NodeAnswer};
use agora_zk::pool::ProverPool;
use agora_zk::prove::{Row, Snapshot};
use agora_zk::ZkError;
use base64::Engine;
use libp2p::identity::Keypair;
use rand::RngCore;
use rusqlite::OptionalExtension;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
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

/// The rows of the snapshot and the data version they were read at, in one read transaction.
pub fn snapshot_rows(store: &mut Store) -> Result<(u64, Vec<Row>), StoreError> {
    let tx = store.conn_mut().transaction()?;
    let version: Option<String> =
        tx.query_row("SELECT value FROM meta WHERE key = 'data_version'", [], |r| r.get(0)).optional()?;
    let data_version = version.and_then(|v| v.parse().ok()).unwrap_or(0);
    let person = row_code(&["person"]);
    let mut rows = Vec::new();
    {
        let mut stmt = tx.prepare("SELECT sex FROM person")?;
        let mut it = stmt.query([])?;
        while let Some(r) = it.next()? {
            let sex: String = r.get(0)?;
            rows.push(Row { code: person, value: 0 });
            rows.push(Row { code: row_code(&["sex", &sex]), value: 0 });
        }
        for (kind, sql) in [
            ("condition", "SELECT DISTINCT person_id, system, code FROM condition_occurrence"),
            (
                "medication",
                "SELECT DISTINCT person_id, system, code FROM drug_exposure WHERE kind IN ('request', 'statement')",
            ),
        ] {
            let mut stmt = tx.prepare(sql)?;
            let mut it = stmt.query([])?;
            while let Some(r) = it.next()? {
                let (system, code): (String, String) = (r.get(1)?, r.get(2)?);
                rows.push(Row { code: row_code(&[kind, &system, &code]), value: 0 });
            }
        }
    }
    tx.commit()?;
    Ok((data_version, rows))
}

#[derive(Clone)]
struct Committed {
    snapshot: Arc<Snapshot>,
    commitment: DatasetCommitment,
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
    /// The most snapshot rows the node commits to: memory grows with the trace (BENCHMARKS.md: about
    /// 1.1 GB at 245,759 rows, 4.3 GB at 983,039); above it the node proves nothing and says why.
    pub max_rows: usize,
}

/// The node's prover: its current snapshot and the proving pool.
pub struct Prover {
    store_path: PathBuf,
    key: Keypair,
    threshold: u32,
    max_rows: usize,
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
        let max_rows = self.max_rows;
        let built = tokio::task::spawn_blocking(move || -> Result<Committed, String> {
            let mut store = Store::open(&path).map_err(|e| e.to_string())?;
            let (version, rows) = snapshot_rows(&mut store).map_err(|e| e.to_string())?;
            let n = rows.len();
            if n > max_rows {
                return Err(format!(
                    "the snapshot would hold {n} rows, above this node's prover_max_rows ({max_rows}): \
                     proving is off for this data (memory; see BENCHMARKS.md)"
                ));
            }
            let mut seed = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut seed);
            let started = std::time::Instant::now();
            let snapshot = Snapshot::build(rows, seed).map_err(|e| e.to_string())?;
            let c = snapshot.commitment();
            let commitment = DatasetCommitment {
                version: c.version,
                trace_length: c.trace_length,
                root: c.root.clone(),
                data_version: version,
            };
            info!(target: "node::proof", rows = n, data_version = version, root = %commitment.root,
                  millis = started.elapsed().as_millis() as u64, "snapshot committed");
            Ok(Committed { snapshot: Arc::new(snapshot), commitment })
        })
        .await
        .map_err(|e| format!("snapshot task failed: {e}"))?;
        let built = match built {
            Ok(built) => built,
            Err(reason) => {
                *self.failed.lock().expect("failure lock") = Some((store_version, reason.clone()));
                return Err(reason);
            }
        };
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

    /// Proves an answer to `query` sent earlier, or says why not. `everyone`: the answer counted every
    /// patient (no consent restriction), as the snapshot does.
    pub async fn prove(
        &self,
        query_id: Uuid,
        query: &agora_protocol::Query,
        answer: &NodeAnswer,
        everyone: bool,
    ) -> Signed<ProofMessage> {
        let outcome = match self.proofs(query_id, query, answer, everyone).await {
            Ok(outcome) => outcome,
            Err(reason) => {
                info!(target: "node::proof", %query_id, %reason, "answer not proven");
                ProofOutcome::Unavailable { reason }
            }
        };
        proof_message(&self.key, query_id, outcome)
    }

    async fn proofs(
        &self,
        query_id: Uuid,
        query: &agora_protocol::Query,
        answer: &NodeAnswer,
        everyone: bool,
    ) -> Result<ProofOutcome, String> {
        let targets = plan(query).ok_or(agora_protocol::proof::UNPROVABLE_KIND)?;
        if !everyone {
            return Err("the answer counts consenting patients only; the committed snapshot holds everyone".into());
        }
        let digest = query_digest(query_id, query);
        let mut committed = self.snapshot_at(Some(answer.data_version), None).await?;
        let mut cells = Vec::with_capacity(targets.len());
        for target in targets {
            let ProvenPart::Patients = target.part;
            let cell = answer.total().map(|r| r.patients).ok_or("the answer has no whole-cohort row")?;
            let mut attempt = 0;
            let (claim, proof) = loop {
                let rx = self.pool.try_submit(committed.snapshot.clone(), digest, target.code, self.threshold);
                let rx = rx.map_err(|e| match e {
                    ZkError::Busy => "the node's prover is busy".to_string(),
                    e => e.to_string(),
                })?;
                match rx.await.map_err(|_| "the prover stopped".to_string())? {
                    Ok(done) => break done,
                    Err(ZkError::BudgetExhausted(_)) if attempt == 0 => {
                        attempt += 1;
                        let spent = committed.commitment.root.clone();
                        committed = self.snapshot_at(Some(answer.data_version), Some(&spent)).await?;
                    }
                    Err(e) => return Err(e.to_string()),
                }
            };
            let agrees = match cell {
                Cell::Value(v) => claim.suppressed_below.is_none() && claim.count == v,
                Cell::Suppressed => claim.suppressed_below.is_some(),
            };
            if !agrees {
                warn!(target: "node::proof", %query_id, "the proven cell differs from the answer's; not sent");
                return Err("the proven count differs from the answer (suppression of a larger cell)".into());
            }
            cells
                .push(ProvenCell { part: target.part, proof: base64::engine::general_purpose::STANDARD.encode(proof) });
        }
        Ok(ProofOutcome::Proven { commitment: committed.commitment, cells })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_row_cap_is_a_full_2_18_trace() {
        assert_eq!(crate::config::Config::default().prover_max_rows, agora_zk::format::capacity(1 << 18));
    }

    #[test]
    fn row_codes_fit_the_commitment_format() {
        assert_eq!(agora_protocol::proof::MAX_ROW_CODE, agora_zk::format::MAX_CODE);
    }

    #[test]
    fn snapshot_rows_follow_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let conn = store.conn();
        conn.execute_batch(
            "INSERT INTO source_record (source_id, resource_type, fhir_id, job_id) VALUES (1, 'Bundle', 't', 't');
             INSERT INTO person (person_id, pseudonym, sex, year_of_birth, month_of_birth, source_id) VALUES
                 (1, 'a', 'female', 1970, 1, 1), (2, 'b', 'male', 1980, 2, 1), (3, 'c', 'female', 1990, 3, 1);
             INSERT INTO condition_occurrence (person_id, system, code, start_at, source_id) VALUES
                 (1, 'icd10cm', 'E11.9', 1600000000, 1), (1, 'icd10cm', 'E11.9', 1600000001, 1),
                 (2, 'icd10cm', 'E11.9', 1600000000, 1), (2, 'icd10cm', 'I10', 1600000000, 1);",
        )
        .unwrap();
        let (_, rows) = snapshot_rows(&mut store).unwrap();
        let count = |code: u64| rows.iter().filter(|r| r.code == code).count();
        assert_eq!(count(row_code(&["person"])), 3);
        assert_eq!(count(row_code(&["sex", "female"])), 2);
        assert_eq!(count(row_code(&["sex", "male"])), 1);
        // Two persons with E11.9 (one of them twice): two rows.
        assert_eq!(count(row_code(&["condition", "icd10cm", "E11.9"])), 2);
        assert_eq!(count(row_code(&["condition", "icd10cm", "I10"])), 1);
        assert_eq!(rows.len(), 3 + 3 + 3);
    }
}

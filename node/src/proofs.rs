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
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uuid::Uuid;

/// How long a proof message stays valid, in seconds.
const PROOF_TTL_SECS: i64 = 24 * 3600;

/// The rows of the snapshot and the data version they were read at, in one read transaction.
pub fn snapshot_rows(store: &mut Store) -> Result<(u64, Vec<Row>), StoreError> {
    let tx = store.conn_mut().transaction()?;
    let version: Option<String> =
        tx.query_row("SELECT value FROM meta WHERE key = 'data_version'", [], |r| r.get(0)).ok();
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

/// The node's prover: its current snapshot and the proving pool.
pub struct Prover {
    store_path: PathBuf,
    key: Keypair,
    threshold: u32,
    pool: ProverPool,
    current: Mutex<Option<Committed>>,
    building: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Prover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prover").field("threshold", &self.threshold).finish_non_exhaustive()
    }
}

impl Prover {
    /// Starts the proving pool (`workers` at once, `queue` waiting) until `cancel`.
    pub fn start(
        store_path: PathBuf,
        key: Keypair,
        threshold: u32,
        workers: usize,
        queue: usize,
        cancel: CancellationToken,
    ) -> Arc<Prover> {
        let (pool, _task) = ProverPool::start(workers, queue, cancel);
        Arc::new(Prover {
            store_path,
            key,
            threshold,
            pool,
            current: Mutex::new(None),
            building: tokio::sync::Mutex::new(()),
        })
    }

    /// The current commitment, if a snapshot has been built.
    pub fn commitment(&self) -> Option<DatasetCommitment> {
        self.current.lock().expect("snapshot lock").as_ref().map(|c| c.commitment.clone())
    }

    /// The snapshot at `data_version`: the current one, or a new one built now (`fresh`: even if the
    /// current one is at that version, because its budget is spent). Fails if the store has moved past
    /// `data_version`.
    pub async fn committed(&self, data_version: Option<u64>, fresh: bool) -> Result<DatasetCommitment, String> {
        self.snapshot_at(data_version, fresh).await.map(|c| c.commitment)
    }

    async fn snapshot_at(&self, data_version: Option<u64>, fresh: bool) -> Result<Committed, String> {
        let stale = |c: &Option<Committed>| match c {
            Some(c) => fresh || data_version.is_some_and(|v| v != c.commitment.data_version),
            None => true,
        };
        let _one_build = self.building.lock().await;
        {
            let current = self.current.lock().expect("snapshot lock");
            if !stale(&current) {
                return Ok(current.clone().expect("not stale"));
            }
        }
        let path = self.store_path.clone();
        let built = tokio::task::spawn_blocking(move || -> Result<Committed, String> {
            let mut store = Store::open(&path).map_err(|e| e.to_string())?;
            let (version, rows) = snapshot_rows(&mut store).map_err(|e| e.to_string())?;
            let n = rows.len();
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
        .map_err(|e| format!("snapshot task failed: {e}"))??;
        *self.current.lock().expect("snapshot lock") = Some(built.clone());
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
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Signed::sign(&ProofMessage { header: Header::new(query_id, now, PROOF_TTL_SECS), outcome }, &self.key)
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
        let mut committed = self.snapshot_at(Some(answer.data_version), false).await?;
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
                        committed = self.snapshot_at(Some(answer.data_version), true).await?;
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

//! The hub store against both backends: SQLite always, and the real PostgreSQL that `scripts/test`
//! starts (`AGORA_TEST_POSTGRES_URL`), each test on a fresh database.

use agora_hub::store::{CredentialRecord, HubStore, Session, StoreError};
use agora_protocol::answer::{AnswerRow, Cell, GroupKey, NodeAnswer};
use agora_protocol::combined::{NodeState, ResultStatus};
use agora_protocol::proof::{DatasetCommitment, ProofState};
use agora_protocol::wire::{DataSummary, Rejection, RejectionCode};
use agora_protocol::{Cohort, GroupBy, Query};
use common::fresh_postgres;
use uuid::Uuid;

mod common;

fn query() -> Query {
    Query {
        version: 1,
        cohort: Cohort::Everyone,
        measure: None,
        aggregates: vec![agora_protocol::Aggregate::Count],
        group_by: GroupBy::default(),
        reference_date: time::macros::date!(2026 - 01 - 01),
    }
}

async fn exercise(store: HubStore) {
    // Credentials: indexes per kind, from 0; a duplicate id is refused and damages nothing; revocation.
    let cred = |id: &str, kind: &str| CredentialRecord {
        id: id.into(),
        kind: kind.into(),
        subject: "did:key:z6Mk".into(),
        name: "ada".into(),
        issued_at: 100,
        valid_until: Some(200),
        revoked_at: None,
    };
    assert_eq!(store.insert_credential(&cred("urn:a", "researchers")).await.unwrap(), 0);
    assert_eq!(store.insert_credential(&cred("urn:b", "researchers")).await.unwrap(), 1);
    assert_eq!(store.insert_credential(&cred("urn:c", "nodes")).await.unwrap(), 0);
    assert!(store.insert_credential(&cred("urn:a", "researchers")).await.is_err());
    assert_eq!(store.credentials().await.unwrap().len(), 3);
    assert_eq!(store.revoke_credential("urn:b", 150).await.unwrap(), ("researchers".to_string(), 1));
    assert_eq!(store.revoked_indexes("researchers").await.unwrap(), vec![1]);
    assert!(store.revoked_indexes("nodes").await.unwrap().is_empty());
    assert!(matches!(store.revoke_credential("urn:none", 150).await, Err(StoreError::NoCredential(_))));

    // Challenges are used once, and not after they expire.
    store.add_challenge("c1", 1000).await.unwrap();
    store.add_challenge("c2", 1000).await.unwrap();
    assert!(store.take_challenge("c1", 999).await.unwrap());
    assert!(!store.take_challenge("c1", 999).await.unwrap());
    assert!(!store.take_challenge("c2", 1001).await.unwrap());

    // Sessions: the token is shown once, stored hashed, and ends.
    let session = Session {
        researcher: "did:key:z6MkAda".into(),
        name: "Ada".into(),
        purposes: vec!["study-7".into()],
        credential_id: "urn:a".into(),
        expires_at: 500,
    };
    let token = store.create_session(&session).await.unwrap();
    assert_eq!(store.session(&token, 400).await.unwrap(), Some(session.clone()));
    assert_eq!(store.session(&token, 500).await.unwrap(), None);
    assert_eq!(store.session("agora_forged", 400).await.unwrap(), None);

    // Registry.
    let summary = DataSummary { data_version: 3, patients: 120, measurements: 4000, conditions: 300 };
    store.upsert_node("peer-a", "hospital-a", &summary, 10).await.unwrap();
    store.upsert_node("peer-a", "hospital-a2", &summary, 20).await.unwrap();
    store.mark_disconnected(Some("peer-a"), 30).await.unwrap();
    let nodes = store.nodes().await.unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(
        (nodes[0].name.as_str(), nodes[0].first_seen, nodes[0].last_seen, nodes[0].connected),
        ("hospital-a2", 10, 30, false)
    );
    assert_eq!(nodes[0].summary, summary);

    // Queries and node parts.
    let id = Uuid::new_v4();
    let record = agora_hub::store::QueryRecord {
        query_id: id,
        researcher: "ada".into(),
        purpose: Some("study-1".into()),
        query: query(),
        submitted_at: 1000,
        deadline_at: 1010,
        status: ResultStatus::Running,
    };
    let parts =
        vec![("peer-a".to_string(), "hospital-a".to_string()), ("peer-b".to_string(), "hospital-b".to_string())];
    store.insert_query(&record, "{}", &parts).await.unwrap();
    let answer = NodeAnswer {
        query_id: id,
        threshold: 10,
        unit: None,
        data_version: 3,
        rows: vec![AnswerRow { group: GroupKey::TOTAL, patients: Cell::Value(42), moments: None, histogram: None }],
        exec_micros: 5,
        consented: None,
    };
    store
        .set_node_state(id, "peer-a", &NodeState::Answered { answer: answer.clone() }, Some("{\"signed\":1}"), 1001)
        .await
        .unwrap();
    let rejected = NodeState::Rejected { rejection: Rejection::new(RejectionCode::RateLimited, "10 per minute") };
    assert!(store.set_node_state(id, "peer-b", &rejected, None, 1002).await.unwrap());
    // A part settled first (by a delivery) is not overwritten by the fan-out's late record.
    assert!(!store.set_node_state(id, "peer-b", &NodeState::Held, None, 1003).await.unwrap());
    // A query's status moves forward only: a writer that read the parts before the last one settled
    // (partial) cannot set back what a later one wrote (complete).
    assert!(store.advance_status(id, ResultStatus::Partial).await.unwrap());
    assert_eq!(store.query(id).await.unwrap().unwrap().status, ResultStatus::Partial);
    assert!(store.advance_status(id, ResultStatus::Complete).await.unwrap());
    assert!(!store.advance_status(id, ResultStatus::Partial).await.unwrap(), "a stale status is not written");
    assert!(!store.advance_status(id, ResultStatus::Running).await.unwrap());
    assert!(!store.advance_status(id, ResultStatus::Complete).await.unwrap(), "nothing moves twice");
    let got = store.parts(id).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].state, NodeState::Answered { answer });
    assert_eq!(got[1].state, rejected);
    assert_eq!(store.envelope(id, "peer-a").await.unwrap().as_deref(), Some("{\"signed\":1}"));
    let back = store.query(id).await.unwrap().unwrap();
    assert_eq!((back.status, back.query, back.purpose.as_deref()), (ResultStatus::Complete, query(), Some("study-1")));
    assert_eq!(store.queries_of("ada", 10).await.unwrap().len(), 1);
    assert_eq!(store.queries_of("eve", 10).await.unwrap().len(), 0);
    assert!(store.query(Uuid::new_v4()).await.unwrap().is_none());

    // Proof states and commitments; the hub keeps the millisecond it recorded the query.
    let ms = store.submitted_ms(id).await.unwrap().unwrap();
    assert!(ms > 1_700_000_000_000, "{ms}");
    assert_eq!(store.submitted_ms(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(got[0].proof, None);
    let commitment = DatasetCommitment {
        version: 2,
        trace_length: 2048,
        root: "ab".repeat(32),
        data_version: 3,
        chunks: Vec::new(),
    };
    store.record_commitment("peer-a", &commitment, 1003).await.unwrap();
    let later = DatasetCommitment { data_version: 4, ..commitment.clone() };
    store.record_commitment("peer-a", &later, 1004).await.unwrap();
    assert_eq!(store.commitments("peer-a").await.unwrap(), vec![(commitment.clone(), 1003)]);
    assert_eq!(store.nodes().await.unwrap()[0].commitment.as_ref(), Some(&commitment));
    let newer = DatasetCommitment { root: "cd".repeat(32), data_version: 4, ..commitment.clone() };
    store.record_commitment("peer-a", &newer, 1005).await.unwrap();
    assert_eq!(store.nodes().await.unwrap()[0].commitment.as_ref(), Some(&newer), "the registry shows the last one");
    assert!(store.commitments("peer-b").await.unwrap().is_empty());
    // A dataset in chunks keeps its chunk list.
    let chunk = |r: &str| agora_protocol::proof::ChunkCommitment { trace_length: 4096, root: r.repeat(32) };
    let chunked = DatasetCommitment::chunked(3, vec![chunk("01"), chunk("02")], 5).unwrap();
    store.record_commitment("peer-c", &chunked, 1006).await.unwrap();
    assert_eq!(store.commitments("peer-c").await.unwrap(), vec![(chunked, 1006)]);
    let proven = ProofState::Proven {
        root: commitment.root.clone(),
        data_version: 3,
        committed_before_query: true,
        consented_to: None,
    };
    assert!(store.set_proof(id, "peer-a", &proven, Some("{\"proof\":1}")).await.unwrap());
    let got = store.parts(id).await.unwrap();
    assert_eq!((got[0].proof.as_ref(), got[1].proof.as_ref()), (Some(&proven), None));
    assert_eq!(store.proof_envelope(id, "peer-a").await.unwrap().as_deref(), Some("{\"proof\":1}"));
    // Settled once: a later proof message cannot change it (and its envelope is not kept).
    let failed = ProofState::Failed { reason: "forged".into() };
    assert!(!store.set_proof(id, "peer-a", &failed, Some("{\"late\":1}")).await.unwrap());
    assert_eq!(store.parts(id).await.unwrap()[0].proof.as_ref(), Some(&proven));
    assert_eq!(store.proof_envelope(id, "peer-a").await.unwrap().as_deref(), Some("{\"proof\":1}"));
    // Runs of a cell's parts over chunks, each kept once (by its first part), read back in order; a
    // proven cell kept once, by cell.
    assert!(store.add_proof_run(id, "peer-b", (1, 10, 5), "root", "{\"run\":10}").await.unwrap());
    assert!(store.add_proof_run(id, "peer-b", (1, 0, 10), "root", "{\"run\":0}").await.unwrap());
    assert!(store.add_proof_run(id, "peer-b", (0, 0, 15), "root", "{\"cell\":0}").await.unwrap());
    assert!(!store.add_proof_run(id, "peer-b", (1, 10, 2), "other", "{\"again\":10}").await.unwrap());
    let runs = store.proof_runs(id, "peer-b", 1).await.unwrap();
    assert_eq!(runs, vec![(0, 10, "root".to_string()), (10, 5, "root".to_string())]);
    assert_eq!(store.proof_run(id, "peer-b", 1, 10).await.unwrap().as_deref(), Some("{\"run\":10}"));
    assert_eq!(store.proof_run(id, "peer-b", 1, 5).await.unwrap(), None);
    assert!(store.proof_runs(id, "peer-a", 1).await.unwrap().is_empty());
    assert!(store.add_proven_cell(id, "peer-b", 1, "root").await.unwrap());
    assert!(store.add_proven_cell(id, "peer-b", 0, "root").await.unwrap());
    assert!(!store.add_proven_cell(id, "peer-b", 1, "other").await.unwrap());
    let cells = store.proven_cells(id, "peer-b").await.unwrap();
    assert_eq!(cells, vec![(0, "root".to_string()), (1, "root".to_string())]);
    assert_eq!(store.proven_cell(id, "peer-b", 1).await.unwrap(), Some(None), "held by its runs");
    assert_eq!(store.proven_cell(id, "peer-b", 2).await.unwrap(), None, "not proven");
    assert!(store.proven_cells(id, "peer-a").await.unwrap().is_empty());

    // A duplicate query id is refused and leaves the original intact.
    assert!(store.insert_query(&record, "{}", &parts).await.is_err());
    assert_eq!(store.parts(id).await.unwrap().len(), 2);
    assert_eq!(store.query(id).await.unwrap().unwrap().status, ResultStatus::Complete);
}

#[tokio::test]
async fn sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("hub.db").display());
    exercise(HubStore::connect(&url).await.unwrap()).await;
    // Reopening applies no migration twice.
    HubStore::connect(&url).await.unwrap();
}

#[tokio::test]
async fn postgres_store() {
    let Some(url) = fresh_postgres().await else { return };
    exercise(HubStore::connect(&url).await.unwrap()).await;
    HubStore::connect(&url).await.unwrap();
}

#[tokio::test]
async fn bad_url_is_refused() {
    assert!(matches!(HubStore::connect("mysql://x").await, Err(StoreError::Url)));
}

/// A store kept by a hub before runs of parts (migrations up to 0004: a proven cell's whole message in
/// `proof_cells`) keeps its proven cells, each with its message, once this release opens it.
async fn cells_kept_before_runs_survive_the_migration(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.as_str() < "0005" {
            std::fs::copy(&path, dir.path().join(name)).unwrap();
        }
    }
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(url).await.unwrap();
    let before = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    assert_eq!(before.iter().count(), 4);
    before.run(&pool).await.unwrap();
    let id = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO proof_cells (query_id, peer_id, cell, root, envelope) VALUES ($1, 'peer', 1, 'root', $2)")
        .bind(id.to_string())
        .bind("{\"cell\":1}")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let store = HubStore::connect(url).await.unwrap();
    let cells = store.proven_cells(id, "peer").await.unwrap();
    assert_eq!(cells, vec![(1, "root".to_string())]);
    assert_eq!(store.proven_cell(id, "peer", 1).await.unwrap(), Some(Some("{\"cell\":1}".to_string())));
    assert!(store.proof_runs(id, "peer", 1).await.unwrap().is_empty());
}

#[tokio::test]
async fn sqlite_cells_kept_before_runs_survive_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    cells_kept_before_runs_survive_the_migration(&format!("sqlite://{}?mode=rwc", dir.path().join("hub.db").display()))
        .await;
}

#[tokio::test]
async fn postgres_cells_kept_before_runs_survive_the_migration() {
    let Some(url) = fresh_postgres().await else { return };
    cells_kept_before_runs_survive_the_migration(&url).await;
}

//! The hub's store through sqlx: an SQLite file by default, PostgreSQL for a `postgres://` URL, one set of
//! migrations (`hub/migrations`) for both. It holds the credentials the hub issued (id, kind, subject DID,
//! status index, revocation), researcher sessions (hashed tokens) and login challenges, the node registry,
//! queries with who asked them, and each node's signed answer. Only aggregate data is ever stored here.

use agora_protocol::combined::{NodeState, ResultStatus};
use agora_protocol::wire::DataSummary;
use sha2::{Digest, Sha256};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use uuid::Uuid;

/// Errors of the hub store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("hub store: {0}")]
    Db(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("hub store migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored JSON column did not parse (the store was edited by hand or by a newer hub).
    #[error("hub store holds a malformed {what}: {detail}")]
    Corrupt {
        /// Which column.
        what: &'static str,
        /// The parser's message.
        detail: String,
    },
    /// No such credential.
    #[error("no credential `{0}` was issued by this hub")]
    NoCredential(String),
    /// Unsupported URL.
    #[error("database URL must start with sqlite:// or postgres://")]
    Url,
}

/// A credential the hub issued.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CredentialRecord {
    /// Its `id` (`urn:uuid:…`).
    pub id: String,
    /// `node` or `researcher`.
    pub kind: String,
    /// The subject's DID.
    pub subject: String,
    /// A display name (the node's or the researcher's).
    pub name: String,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds.
    pub valid_until: Option<i64>,
    /// Unix seconds, once revoked.
    pub revoked_at: Option<i64>,
}

/// A researcher's session, opened by presenting a ResearcherCredential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The researcher's DID.
    pub researcher: String,
    /// Their name, from the credential.
    pub name: String,
    /// The purposes the credential approves.
    pub purposes: Vec<String>,
    /// The credential presented.
    pub credential_id: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A node in the registry.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct NodeRecord {
    /// libp2p peer id (derived from the node's Ed25519 key).
    pub peer_id: String,
    /// Display name.
    pub name: String,
    /// First hello, Unix seconds.
    pub first_seen: i64,
    /// Last hello or disconnect, Unix seconds.
    pub last_seen: i64,
    /// Connected now.
    pub connected: bool,
    /// Aggregate facts the node reported.
    pub summary: DataSummary,
    /// The dataset commitment the node registered last (its proofs are over this or an earlier one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commitment: Option<agora_protocol::proof::DatasetCommitment>,
}

/// A stored query.
#[derive(Debug, Clone)]
pub struct QueryRecord {
    /// Id.
    pub query_id: Uuid,
    /// Who asked.
    pub researcher: String,
    /// Stated purpose.
    pub purpose: Option<String>,
    /// The query, JSON.
    pub query: agora_protocol::Query,
    /// When submitted.
    pub submitted_at: i64,
    /// When the hub stops waiting.
    pub deadline_at: i64,
    /// Where it stands.
    pub status: ResultStatus,
}

/// One node's part of a query, as stored.
#[derive(Debug, Clone)]
pub struct NodePart {
    /// Peer id.
    pub peer_id: String,
    /// Name at the time.
    pub node_name: String,
    /// State.
    pub state: NodeState,
    /// The proof state, once a proof message settled it (`None`: not yet; the researcher's view shows
    /// pending or unproven by the query's kind, `coordinator::assemble_with`).
    pub proof: Option<agora_protocol::proof::ProofState>,
}

/// The current time in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// The hub's store.
#[derive(Debug, Clone)]
pub struct HubStore {
    pool: AnyPool,
}

fn status_str(s: ResultStatus) -> &'static str {
    match s {
        ResultStatus::Running => "running",
        ResultStatus::Complete => "complete",
        ResultStatus::Partial => "partial",
    }
}

/// A status's place in the order a query's status moves through ([`HubStore::advance_status`]).
fn status_rank(s: ResultStatus) -> i64 {
    match s {
        ResultStatus::Running => 0,
        ResultStatus::Partial => 1,
        ResultStatus::Complete => 2,
    }
}

fn parse_status(s: &str) -> ResultStatus {
    match s {
        "complete" => ResultStatus::Complete,
        "partial" => ResultStatus::Partial,
        _ => ResultStatus::Running,
    }
}

fn state_name(s: &NodeState) -> &'static str {
    match s {
        NodeState::Waiting => "waiting",
        NodeState::Answered { .. } => "answered",
        NodeState::Held => "held",
        NodeState::Rejected { .. } => "rejected",
        NodeState::NoAnswer { .. } => "no_answer",
    }
}

/// SHA-256 of a researcher token, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn json<T: serde::de::DeserializeOwned>(what: &'static str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt { what, detail: e.to_string() })
}

impl HubStore {
    /// Connects and applies the migrations.
    pub async fn connect(url: &str) -> Result<HubStore, StoreError> {
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::Url);
        }
        sqlx::any::install_default_drivers();
        let pool =
            AnyPoolOptions::new().max_connections(if url.starts_with("sqlite:") { 4 } else { 8 }).connect(url).await?;
        if url.starts_with("sqlite:") {
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
            sqlx::query("PRAGMA busy_timeout = 10000").execute(&pool).await?;
        }
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(HubStore { pool })
    }

    /// Records an issued credential and gives it the next index of its kind's status list.
    pub async fn insert_credential(&self, c: &CredentialRecord) -> Result<u64, StoreError> {
        for _ in 0..8 {
            let next: i64 = sqlx::query("SELECT COALESCE(MAX(status_index), -1) + 1 FROM credentials WHERE kind = $1")
                .bind(&c.kind)
                .fetch_one(&self.pool)
                .await?
                .get(0);
            let res = sqlx::query(
                "INSERT INTO credentials (id, kind, subject, name, status_index, issued_at, valid_until)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&c.id)
            .bind(&c.kind)
            .bind(&c.subject)
            .bind(&c.name)
            .bind(next)
            .bind(c.issued_at)
            .bind(c.valid_until)
            .execute(&self.pool)
            .await;
            match res {
                Ok(_) => return Ok(next as u64),
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Corrupt { what: "credential index", detail: "could not allocate a status index".into() })
    }

    /// Revokes a credential; returns its kind and status index.
    pub async fn revoke_credential(&self, id: &str, now: i64) -> Result<(String, u64), StoreError> {
        sqlx::query("UPDATE credentials SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        let row = sqlx::query("SELECT kind, status_index FROM credentials WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NoCredential(id.to_string()))?;
        Ok((row.get(0), row.get::<i64, _>(1) as u64))
    }

    /// The status indexes of the revoked credentials of a kind.
    pub async fn revoked_indexes(&self, kind: &str) -> Result<Vec<u64>, StoreError> {
        let rows = sqlx::query("SELECT status_index FROM credentials WHERE kind = $1 AND revoked_at IS NOT NULL")
            .bind(kind)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| r.get::<i64, _>(0) as u64).collect())
    }

    /// Every credential issued, newest first.
    pub async fn credentials(&self) -> Result<Vec<CredentialRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, subject, name, issued_at, valid_until, revoked_at FROM credentials ORDER BY issued_at DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| CredentialRecord {
                id: r.get(0),
                kind: r.get(1),
                subject: r.get(2),
                name: r.get(3),
                issued_at: r.get(4),
                valid_until: r.get(5),
                revoked_at: r.get(6),
            })
            .collect())
    }

    /// Records a login challenge.
    pub async fn add_challenge(&self, challenge: &str, expires_at: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM auth_challenges WHERE expires_at < $1")
            .bind(expires_at - 3600)
            .execute(&self.pool)
            .await?;
        sqlx::query("INSERT INTO auth_challenges (challenge, expires_at) VALUES ($1, $2)")
            .bind(challenge)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Uses up a challenge: true if it was outstanding and unexpired.
    pub async fn take_challenge(&self, challenge: &str, now: i64) -> Result<bool, StoreError> {
        let res = sqlx::query("DELETE FROM auth_challenges WHERE challenge = $1 AND expires_at >= $2")
            .bind(challenge)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Opens a session and returns its token (shown once; only its hash is stored).
    pub async fn create_session(&self, s: &Session) -> Result<String, StoreError> {
        let token = format!("agora_{}", hex::encode(rand::random::<[u8; 24]>()));
        sqlx::query(
            "INSERT INTO sessions (token_sha256, researcher, name, purposes, credential_id, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash(&token))
        .bind(&s.researcher)
        .bind(&s.name)
        .bind(serde_json::to_string(&s.purposes).expect("strings serialise"))
        .bind(&s.credential_id)
        .bind(s.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    /// The unexpired session a token opens.
    pub async fn session(&self, token: &str, now: i64) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(
            "SELECT researcher, name, purposes, credential_id, expires_at FROM sessions
             WHERE token_sha256 = $1 AND expires_at > $2",
        )
        .bind(token_hash(token))
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Session {
                researcher: r.get(0),
                name: r.get(1),
                purposes: json("session purposes", &r.get::<String, _>(2))?,
                credential_id: r.get(3),
                expires_at: r.get(4),
            })
        })
        .transpose()
    }

    /// Records a node's hello.
    pub async fn upsert_node(
        &self,
        peer_id: &str,
        name: &str,
        summary: &DataSummary,
        now: i64,
    ) -> Result<(), StoreError> {
        let summary = serde_json::to_string(summary).expect("summary serialises");
        sqlx::query(
            "INSERT INTO nodes (peer_id, name, first_seen, last_seen, connected, summary) VALUES ($1, $2, $3, $4, 1, $5)
             ON CONFLICT (peer_id) DO UPDATE SET name = excluded.name, last_seen = excluded.last_seen,
             connected = 1, summary = excluded.summary",
        )
        .bind(peer_id)
        .bind(name)
        .bind(now)
        .bind(now)
        .bind(summary)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a dataset commitment a node signed (in a hello or a verified proof message) at `now_ms`
    /// (milliseconds); the first sighting is kept.
    pub async fn record_commitment(
        &self,
        peer_id: &str,
        c: &agora_protocol::proof::DatasetCommitment,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO node_commitments (peer_id, root, version, trace_length, data_version, first_seen_ms, chunks)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (peer_id, root) DO NOTHING",
        )
        .bind(peer_id)
        .bind(&c.root)
        .bind(i64::from(c.version))
        .bind(c.trace_length as i64)
        .bind(c.data_version as i64)
        .bind(now_ms)
        .bind((!c.chunks.is_empty()).then(|| serde_json::to_string(&c.chunks).expect("chunks serialise")))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The commitments a node registered, oldest first: `(commitment, first seen in milliseconds)`.
    pub async fn commitments(
        &self,
        peer_id: &str,
    ) -> Result<Vec<(agora_protocol::proof::DatasetCommitment, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT root, version, trace_length, data_version, first_seen_ms, chunks FROM node_commitments
             WHERE peer_id = $1 ORDER BY first_seen_ms, root",
        )
        .bind(peer_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let c = agora_protocol::proof::DatasetCommitment {
                    root: r.get(0),
                    version: r.get::<i64, _>(1) as u32,
                    trace_length: r.get::<i64, _>(2) as usize,
                    data_version: r.get::<i64, _>(3) as u64,
                    chunks: r
                        .get::<Option<String>, _>(5)
                        .and_then(|json| serde_json::from_str(&json).ok())
                        .unwrap_or_default(),
                };
                (c, r.get::<i64, _>(4))
            })
            .collect())
    }

    /// Settles the proof state of one node's answer, keeping the node's signed proof message for audit.
    /// Only once: `false` if it was already settled (a settled state never changes).
    pub async fn set_proof(
        &self,
        query_id: Uuid,
        peer_id: &str,
        state: &agora_protocol::proof::ProofState,
        envelope: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE node_answers SET proof = $1, proof_envelope = $2
             WHERE query_id = $3 AND peer_id = $4 AND proof IS NULL",
        )
        .bind(serde_json::to_string(state).expect("state serialises"))
        .bind(envelope.map(str::to_string))
        .bind(query_id.to_string())
        .bind(peer_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Keeps a run of one cell's parts (an answer over a dataset in chunks), whose proofs verified: the
    /// parts `first..first + parts` of the dataset `root`, and the node's signed message. `false` if a
    /// run from `first` was kept already.
    pub async fn add_proof_run(
        &self,
        query_id: Uuid,
        peer_id: &str,
        (cell, first, parts): (usize, usize, usize),
        root: &str,
        envelope: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO proof_runs (query_id, peer_id, cell, first_part, parts, root, envelope)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (query_id, peer_id, cell, first_part) DO NOTHING",
        )
        .bind(query_id.to_string())
        .bind(peer_id)
        .bind(cell as i64)
        .bind(first as i64)
        .bind(parts as i64)
        .bind(root)
        .bind(envelope)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The runs kept of one cell of a node's answer: `(first part, parts, dataset root)` by first part.
    pub async fn proof_runs(
        &self,
        query_id: Uuid,
        peer_id: &str,
        cell: usize,
    ) -> Result<Vec<(usize, usize, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT first_part, parts, root FROM proof_runs
             WHERE query_id = $1 AND peer_id = $2 AND cell = $3 ORDER BY first_part",
        )
        .bind(query_id.to_string())
        .bind(peer_id)
        .bind(cell as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get::<i64, _>(0) as usize, r.get::<i64, _>(1) as usize, r.get(2))).collect())
    }

    /// The signed message of one kept run (a cell's, from its `first` part).
    pub async fn proof_run(
        &self,
        query_id: Uuid,
        peer_id: &str,
        cell: usize,
        first: usize,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT envelope FROM proof_runs WHERE query_id = $1 AND peer_id = $2 AND cell = $3 AND first_part = $4",
        )
        .bind(query_id.to_string())
        .bind(peer_id)
        .bind(cell as i64)
        .bind(first as i64)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Records one cell of an answer over a dataset in chunks as proven (every part verified, the parts
    /// linked and added up), over the dataset `root`: `false` if it was already. Its runs stay in
    /// `proof_runs`.
    pub async fn add_proven_cell(
        &self,
        query_id: Uuid,
        peer_id: &str,
        cell: usize,
        root: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO proven_cells (query_id, peer_id, cell, root) VALUES ($1, $2, $3, $4)
             ON CONFLICT (query_id, peer_id, cell) DO NOTHING",
        )
        .bind(query_id.to_string())
        .bind(peer_id)
        .bind(cell as i64)
        .bind(root)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A node's proven cells over chunks, `(cell, root)` by cell (a cell's message, when one held it
    /// whole: [`HubStore::proven_cell`]).
    pub async fn proven_cells(&self, query_id: Uuid, peer_id: &str) -> Result<Vec<(usize, String)>, StoreError> {
        let rows =
            sqlx::query("SELECT cell, root FROM proven_cells WHERE query_id = $1 AND peer_id = $2 ORDER BY cell")
                .bind(query_id.to_string())
                .bind(peer_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.iter().map(|r| (r.get::<i64, _>(0) as usize, r.get(1))).collect())
    }

    /// One proven cell over chunks: `None` when it is not proven, `Some(None)` when its runs hold it,
    /// `Some(Some(message))` when one message held it whole.
    pub async fn proven_cell(
        &self,
        query_id: Uuid,
        peer_id: &str,
        cell: usize,
    ) -> Result<Option<Option<String>>, StoreError> {
        let row = sqlx::query("SELECT envelope FROM proven_cells WHERE query_id = $1 AND peer_id = $2 AND cell = $3")
            .bind(query_id.to_string())
            .bind(peer_id)
            .bind(cell as i64)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get::<Option<String>, _>(0)))
    }

    /// When the hub recorded a query, in milliseconds.
    pub async fn submitted_ms(&self, query_id: Uuid) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT submitted_ms FROM queries WHERE query_id = $1")
            .bind(query_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|r| r.get::<Option<i64>, _>(0)))
    }

    /// Whether the hub keeps a signed proof message for a node's answer ([`Store::proof_envelope`]).
    pub async fn has_proof_envelope(&self, query_id: Uuid, peer_id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 FROM node_answers WHERE query_id = $1 AND peer_id = $2 AND proof_envelope IS NOT NULL",
        )
        .bind(query_id.to_string())
        .bind(peer_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// The signed proof message a node sent for its answer, for audit.
    pub async fn proof_envelope(&self, query_id: Uuid, peer_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT proof_envelope FROM node_answers WHERE query_id = $1 AND peer_id = $2")
            .bind(query_id.to_string())
            .bind(peer_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|r| r.get::<Option<String>, _>(0)))
    }

    /// Marks a node disconnected (or every node, at start-up, with `None`).
    pub async fn mark_disconnected(&self, peer_id: Option<&str>, now: i64) -> Result<(), StoreError> {
        match peer_id {
            Some(p) => {
                sqlx::query("UPDATE nodes SET connected = 0, last_seen = $1 WHERE peer_id = $2")
                    .bind(now)
                    .bind(p)
                    .execute(&self.pool)
                    .await?
            }
            None => sqlx::query("UPDATE nodes SET connected = 0").execute(&self.pool).await?,
        };
        Ok(())
    }

    /// The node registry.
    pub async fn nodes(&self) -> Result<Vec<NodeRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT peer_id, name, first_seen, last_seen, connected, summary FROM nodes ORDER BY name, peer_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut nodes = rows
            .iter()
            .map(|r: &AnyRow| {
                Ok(NodeRecord {
                    peer_id: r.get(0),
                    name: r.get(1),
                    first_seen: r.get(2),
                    last_seen: r.get(3),
                    connected: r.get::<i64, _>(4) != 0,
                    summary: json("node summary", &r.get::<String, _>(5))?,
                    commitment: None,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        for node in &mut nodes {
            node.commitment = self.commitments(&node.peer_id).await?.pop().map(|(c, _)| c);
        }
        Ok(nodes)
    }

    /// Records a new query and the nodes it goes to, in one transaction.
    pub async fn insert_query(
        &self,
        q: &QueryRecord,
        request: &str,
        nodes: &[(String, String)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO queries (query_id, researcher, purpose, query, request, submitted_at, deadline_at, status,
             submitted_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(q.query_id.to_string())
        .bind(&q.researcher)
        .bind(q.purpose.clone())
        .bind(serde_json::to_string(&q.query).expect("query serialises"))
        .bind(request)
        .bind(q.submitted_at)
        .bind(q.deadline_at)
        .bind(status_str(q.status))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        for (peer, name) in nodes {
            sqlx::query(
                "INSERT INTO node_answers (query_id, peer_id, node_name, state, detail, envelope, updated_at)
                 VALUES ($1, $2, $3, $4, $5, NULL, $6)",
            )
            .bind(q.query_id.to_string())
            .bind(peer)
            .bind(name)
            .bind(state_name(&NodeState::Waiting))
            .bind(serde_json::to_string(&NodeState::Waiting).expect("state serialises"))
            .bind(q.submitted_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Sets one node's part that is still waiting (the fan-out's record of the node's response), keeping
    /// its signed envelope for audit; false when the part was settled first (a steward's delivery can
    /// arrive before the fan-out records the node's `held`), which it leaves as it is.
    pub async fn set_node_state(
        &self,
        query_id: Uuid,
        peer_id: &str,
        state: &NodeState,
        envelope: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE node_answers SET state = $1, detail = $2, envelope = $3, updated_at = $4
             WHERE query_id = $5 AND peer_id = $6 AND state = 'waiting'",
        )
        .bind(state_name(state))
        .bind(serde_json::to_string(state).expect("state serialises"))
        .bind(envelope.map(str::to_string))
        .bind(now)
        .bind(query_id.to_string())
        .bind(peer_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Settles a node's part that is still waiting or held with a delivered answer (as
    /// [`HubStore::set_node_state`]); false when another copy settled it first.
    pub async fn deliver_node_state(
        &self,
        query_id: Uuid,
        peer_id: &str,
        state: &NodeState,
        envelope: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE node_answers SET state = $1, detail = $2, envelope = $3, updated_at = $4
             WHERE query_id = $5 AND peer_id = $6 AND state IN ('waiting', 'held')",
        )
        .bind(state_name(state))
        .bind(serde_json::to_string(state).expect("state serialises"))
        .bind(envelope)
        .bind(now)
        .bind(query_id.to_string())
        .bind(peer_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves a query's status forward to `status` (running, then partial, then complete); a status
    /// behind the stored one changes nothing, and the result says whether it moved. A query's status only
    /// ever moves forward (its parts settle and never unsettle), so a writer that computed it from the
    /// parts before a concurrent delivery settled another part cannot set it back: the condition is one
    /// row's, checked atomically by SQLite and PostgreSQL alike.
    pub async fn advance_status(&self, query_id: Uuid, status: ResultStatus) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE queries SET status = $1 WHERE query_id = $2
             AND (CASE status WHEN 'running' THEN 0 WHEN 'partial' THEN 1 ELSE 2 END) < $3",
        )
        .bind(status_str(status))
        .bind(query_id.to_string())
        .bind(status_rank(status))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    fn record(r: &AnyRow) -> Result<QueryRecord, StoreError> {
        let id: String = r.get(0);
        Ok(QueryRecord {
            query_id: id.parse().map_err(|_| StoreError::Corrupt { what: "query id", detail: id.clone() })?,
            researcher: r.get(1),
            purpose: r.get(2),
            query: json("query", &r.get::<String, _>(3))?,
            submitted_at: r.get(4),
            deadline_at: r.get(5),
            status: parse_status(&r.get::<String, _>(6)),
        })
    }

    /// A query.
    pub async fn query(&self, query_id: Uuid) -> Result<Option<QueryRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT query_id, researcher, purpose, query, submitted_at, deadline_at, status FROM queries WHERE query_id = $1",
        )
        .bind(query_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::record).transpose()
    }

    /// A researcher's queries, newest first.
    pub async fn queries_of(&self, researcher: &str, limit: i64) -> Result<Vec<QueryRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT query_id, researcher, purpose, query, submitted_at, deadline_at, status FROM queries
             WHERE researcher = $1 ORDER BY submitted_at DESC, query_id LIMIT $2",
        )
        .bind(researcher)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::record).collect()
    }

    /// Every node's part of a query.
    pub async fn parts(&self, query_id: Uuid) -> Result<Vec<NodePart>, StoreError> {
        let rows = sqlx::query(
            "SELECT peer_id, node_name, detail, proof FROM node_answers WHERE query_id = $1 ORDER BY node_name, peer_id",
        )
        .bind(query_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(NodePart {
                    peer_id: r.get(0),
                    node_name: r.get(1),
                    state: json("node answer", &r.get::<String, _>(2))?,
                    proof: r.get::<Option<String>, _>(3).map(|p| json("proof state", &p)).transpose()?,
                })
            })
            .collect()
    }

    /// The signed envelope a node answered with, for audit.
    pub async fn envelope(&self, query_id: Uuid, peer_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT envelope FROM node_answers WHERE query_id = $1 AND peer_id = $2")
            .bind(query_id.to_string())
            .bind(peer_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|r| r.get::<Option<String>, _>(0)))
    }
}

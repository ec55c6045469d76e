//! The node's outbox: the messages it sends its hub on its own (steward-released answers and proof
//! messages), kept in the store from the moment they are signed until the hub takes or refuses them.
//! A message whose request failed (the hub was unreachable, did not respond in time, or had no room)
//! waits here and is sent again; one the node was still holding when it stopped is sent after it starts
//! again ([`crate::net`] does the sending).
//!
//! Bounds: a delivery (an answer that has left `query_log`'s release mark) is kept until the hub
//! responds, however long that takes; a proof message is given up after [`MAX_ATTEMPTS`] failed sends,
//! or once kept [`MAX_PROOF_AGE_SECS`] while the hub asks for it later, and proof messages together take
//! at most [`MAX_PROOF_BYTES`]: beyond, the oldest are dropped (their answers then stay "proof pending"
//! at the hub), each with a warning. A message read back to be sent again after its signature's window
//! has (nearly) passed is signed again with a fresh header by the node ([`replace`]). The table holds only what goes on
//! the wire anyway: signed aggregates, proofs and reasons, never a row.

use agora_protocol::wire::WireRequest;
use rusqlite::{params, Connection, OptionalExtension};
use tracing::warn;

/// A message's place in the outbox.
pub type MessageId = i64;

/// How many failed sends of a proof message the node makes before it gives up on it.
pub const MAX_ATTEMPTS: u32 = 5;
/// The most bytes of proof messages waiting (about a hundred runs of ten 2^22-row proofs).
pub const MAX_PROOF_BYTES: i64 = 1 << 30;
/// How long a proof message the hub keeps asking for later (busy, or its answer not arrived) is kept.
pub const MAX_PROOF_AGE_SECS: i64 = 7 * 24 * 3600;

/// Errors of the outbox.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// SQLite failed.
    #[error("node outbox: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A kept message no longer parses (written by another release of the node, or damaged).
    #[error("node outbox: message {id} cannot be read back: {detail}")]
    Corrupt {
        /// The message.
        id: MessageId,
        /// Why.
        detail: String,
    },
    /// Only deliveries and proof messages are kept.
    #[error("node outbox: a {0} is not kept (only deliveries and proof messages are)")]
    NotKept(&'static str),
    /// A message larger than the whole outbox's bound for proofs.
    #[error("node outbox: a proof message of {0} bytes is larger than all the outbox keeps for proofs")]
    TooLarge(usize),
}

/// What a kept message is: deliveries take their turn before proof messages ([`crate::net`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A steward's released answer or refusal.
    Delivery,
    /// A proof message.
    Proof,
}

impl Kind {
    /// The kind of a message that is kept; hellos and queries are not.
    pub fn of(req: &WireRequest) -> Result<Kind, OutboxError> {
        match req {
            WireRequest::Deliver(_) => Ok(Kind::Delivery),
            WireRequest::Proof(_) => Ok(Kind::Proof),
            WireRequest::Hello(_) | WireRequest::Query(_) => Err(OutboxError::NotKept(req.kind())),
        }
    }

    /// The name it is stored under (the outbox table's, kept as it is whatever the logs call it).
    fn name(self) -> &'static str {
        match self {
            Kind::Delivery => "delivery",
            Kind::Proof => "proof",
        }
    }
}

/// The kind a kept message is stored under.
fn kind(req: &WireRequest) -> Result<&'static str, OutboxError> {
    Kind::of(req).map(Kind::name)
}

/// Keeps `req` (a delivery or a proof message) until [`taken`]; returns its id. A proof message that
/// would take the proof messages past [`MAX_PROOF_BYTES`] first drops the oldest ones. Runs in the
/// caller's transaction when `conn` is one.
pub fn put(conn: &Connection, req: &WireRequest, now: i64) -> Result<MessageId, OutboxError> {
    put_within(conn, req, now, MAX_PROOF_BYTES)
}

/// [`put`] with proof messages bounded by `bound` bytes.
fn put_within(conn: &Connection, req: &WireRequest, now: i64, bound: i64) -> Result<MessageId, OutboxError> {
    // Drops and the insert together, or none of them (within the caller's transaction, if any).
    conn.execute_batch("SAVEPOINT outbox_put")?;
    let put = put_dropping(conn, req, now, bound);
    match put {
        Ok(_) => conn.execute_batch("RELEASE outbox_put")?,
        Err(_) => conn.execute_batch("ROLLBACK TO outbox_put; RELEASE outbox_put")?,
    }
    put
}

fn put_dropping(conn: &Connection, req: &WireRequest, now: i64, bound: i64) -> Result<MessageId, OutboxError> {
    let kind = kind(req)?;
    let message = serde_json::to_vec(req).map_err(|e| OutboxError::Corrupt { id: 0, detail: e.to_string() })?;
    if kind == "proof" {
        let size = i64::try_from(message.len()).unwrap_or(i64::MAX);
        if size > bound {
            return Err(OutboxError::TooLarge(message.len()));
        }
        let kept: Vec<(MessageId, i64)> = {
            let mut stmt = conn.prepare("SELECT id, length(message) FROM outbox WHERE kind = 'proof' ORDER BY id")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut total: i64 = kept.iter().map(|(_, n)| n).sum::<i64>() + size;
        for (id, n) in kept {
            if total <= bound {
                break;
            }
            conn.execute("DELETE FROM outbox WHERE id = ?1", [id])?;
            total -= n;
            warn!(target: "node::net", message = id, "outbox full: dropped the oldest waiting proof message");
        }
    }
    conn.execute(
        "INSERT INTO outbox (kind, message, attempts, created_at) VALUES (?1, ?2, 0, ?3)",
        params![kind, message, now],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The message kept as `id`, if it still is.
pub fn get(conn: &Connection, id: MessageId) -> Result<Option<WireRequest>, OutboxError> {
    let message: Option<Vec<u8>> =
        conn.query_row("SELECT message FROM outbox WHERE id = ?1", [id], |r| r.get(0)).optional()?;
    message
        .map(|m| serde_json::from_slice(&m).map_err(|e| OutboxError::Corrupt { id, detail: e.to_string() }))
        .transpose()
}

/// The hub took the message, or refused it for good: it is not kept any longer.
pub fn taken(conn: &Connection, id: MessageId) -> Result<(), OutboxError> {
    conn.execute("DELETE FROM outbox WHERE id = ?1", [id])?;
    Ok(())
}

/// Drops `id` if it is a proof message (one that cannot be read back); a delivery is left in place.
pub fn drop_proof(conn: &Connection, id: MessageId) -> Result<(), OutboxError> {
    conn.execute("DELETE FROM outbox WHERE id = ?1 AND kind = 'proof'", [id])?;
    Ok(())
}

/// A send of `id` failed: counts the attempt. Returns whether the message is still kept (to be sent
/// again): a proof message is given up after [`MAX_ATTEMPTS`], a delivery never.
pub fn failed(conn: &Connection, id: MessageId) -> Result<bool, OutboxError> {
    let row: Option<(String, u32)> = conn
        .query_row("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?1 RETURNING kind, attempts", [id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    match row {
        None => Ok(false),
        Some((kind, attempts)) if kind == "proof" && attempts >= MAX_ATTEMPTS => {
            taken(conn, id)?;
            warn!(target: "node::net", message = id, attempts, "giving up on a proof message the hub never took");
            Ok(false)
        }
        Some(_) => Ok(true),
    }
}

/// The hub asked for the message later (it was busy, or a proof came before its answer): no attempt is
/// counted, but a proof message kept longer than [`MAX_PROOF_AGE_SECS`] is given up. Returns whether
/// the message is still kept.
pub fn deferred(conn: &Connection, id: MessageId, now: i64) -> Result<bool, OutboxError> {
    let row: Option<(String, i64)> = conn
        .query_row("SELECT kind, created_at FROM outbox WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match row {
        None => Ok(false),
        Some((kind, created)) if kind == "proof" && now - created > MAX_PROOF_AGE_SECS => {
            taken(conn, id)?;
            warn!(target: "node::net", message = id, "giving up on a proof message the hub kept asking for later");
            Ok(false)
        }
        Some(_) => Ok(true),
    }
}

/// Puts `req` in the place of the message kept as `id` (the same statement signed again); false when it
/// is no longer kept.
pub fn replace(conn: &Connection, id: MessageId, req: &WireRequest) -> Result<bool, OutboxError> {
    let message = serde_json::to_vec(req).map_err(|e| OutboxError::Corrupt { id, detail: e.to_string() })?;
    let changed =
        conn.execute("UPDATE outbox SET message = ?2 WHERE id = ?1 AND kind = ?3", params![id, message, kind(req)?])?;
    Ok(changed == 1)
}

/// Records that the proof of `query_id`'s answer is being made (until [`paid`]).
pub fn owe(conn: &Connection, query_id: uuid::Uuid, now: i64) -> Result<(), OutboxError> {
    conn.execute(
        "INSERT OR REPLACE INTO proof_owed (query_id, since) VALUES (?1, ?2)",
        params![query_id.to_string(), now],
    )?;
    Ok(())
}

/// Every message of `query_id`'s proof is kept: nothing is owed any longer.
pub fn paid(conn: &Connection, query_id: uuid::Uuid) -> Result<(), OutboxError> {
    conn.execute("DELETE FROM proof_owed WHERE query_id = ?1", [query_id.to_string()])?;
    Ok(())
}

/// The answers whose proof was being made when the node stopped, oldest first.
pub fn owed(conn: &Connection) -> Result<Vec<uuid::Uuid>, OutboxError> {
    let mut stmt = conn.prepare("SELECT query_id FROM proof_owed ORDER BY since, query_id")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.map(|id| {
        let id = id?;
        id.parse().map_err(|e: uuid::Error| OutboxError::Corrupt { id: 0, detail: format!("owed proof {id}: {e}") })
    })
    .collect()
}

/// Every message kept, oldest first, with its kind.
pub fn waiting(conn: &Connection) -> Result<Vec<(MessageId, Kind)>, OutboxError> {
    let mut stmt = conn.prepare("SELECT id, kind FROM outbox ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        let kind = if r.get_ref(1)?.as_str()? == Kind::Delivery.name() { Kind::Delivery } else { Kind::Proof };
        Ok((r.get(0)?, kind))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use agora_protocol::envelope::{Header, Signed};
    use agora_protocol::proof::{ProofMessage, ProofOutcome};
    use agora_protocol::wire::{AnswerMessage, Outcome};
    use libp2p::identity::Keypair;
    use uuid::Uuid;

    /// The ids of the messages kept, oldest first.
    fn kept(store: &Store) -> Vec<MessageId> {
        waiting(store.conn()).unwrap().into_iter().map(|(id, _)| id).collect()
    }

    /// A new store in a temporary directory, and a node key.
    fn fresh() -> (tempfile::TempDir, Store, Keypair) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("node.sqlite")).unwrap();
        (dir, store, Keypair::generate_ed25519())
    }

    fn proof(key: &Keypair, reason: String) -> WireRequest {
        let outcome = ProofOutcome::Unavailable { reason };
        let msg = ProofMessage { header: Header::new(Uuid::new_v4(), 1_800_000_000, 3600), outcome };
        WireRequest::Proof(Signed::sign(&msg, key))
    }

    fn delivery(key: &Keypair) -> WireRequest {
        let msg = AnswerMessage {
            header: Header::new(Uuid::new_v4(), 1_800_000_000, 3600),
            outcome: Outcome::Rejected {
                rejection: agora_protocol::wire::Rejection::new(
                    agora_protocol::wire::RejectionCode::DeniedBySteward,
                    "not now",
                ),
            },
        };
        WireRequest::Deliver(Signed::sign(&msg, key))
    }

    #[test]
    fn kept_messages_survive_reopening_the_store_until_taken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.sqlite");
        let key = Keypair::generate_ed25519();
        let (d, p) = (delivery(&key), proof(&key, "no snapshot yet".into()));
        let ids = {
            let store = Store::open(&path).unwrap();
            [put(store.conn(), &d, 1).unwrap(), put(store.conn(), &p, 2).unwrap()]
        };
        let store = Store::open(&path).unwrap();
        assert_eq!(kept(&store), ids.to_vec(), "oldest first");
        assert_eq!(get(store.conn(), ids[0]).unwrap(), Some(d), "the same signed message");
        assert_eq!(get(store.conn(), ids[1]).unwrap(), Some(p));
        taken(store.conn(), ids[0]).unwrap();
        assert_eq!(get(store.conn(), ids[0]).unwrap(), None);
        assert_eq!(kept(&store), vec![ids[1]]);
    }

    #[test]
    fn proofs_are_given_up_after_their_attempts_and_deliveries_never() {
        let (_dir, store, key) = fresh();
        let d = put(store.conn(), &delivery(&key), 1).unwrap();
        let p = put(store.conn(), &proof(&key, "x".into()), 1).unwrap();
        for attempt in 1..=MAX_ATTEMPTS {
            assert_eq!(failed(store.conn(), p).unwrap(), attempt < MAX_ATTEMPTS, "attempt {attempt}");
        }
        assert_eq!(get(store.conn(), p).unwrap(), None);
        for _ in 0..3 * MAX_ATTEMPTS {
            assert!(failed(store.conn(), d).unwrap());
        }
        assert!(get(store.conn(), d).unwrap().is_some());
        assert!(!failed(store.conn(), p).unwrap(), "a message no longer kept is not sent again");
    }

    #[test]
    fn proofs_asked_for_later_are_kept_a_week_and_deliveries_always() {
        let (_dir, store, key) = fresh();
        let t = 1_800_000_000;
        let d = put(store.conn(), &delivery(&key), t).unwrap();
        let p = put(store.conn(), &proof(&key, "x".into()), t).unwrap();
        for _ in 0..3 * MAX_ATTEMPTS {
            assert!(deferred(store.conn(), p, t + 60).unwrap(), "a deferral is not a failed attempt");
        }
        assert!(deferred(store.conn(), p, t + 7 * 86_400).unwrap());
        assert!(!deferred(store.conn(), p, t + 7 * 86_400 + 1).unwrap(), "a week and a second");
        assert_eq!(get(store.conn(), p).unwrap(), None);
        assert!(deferred(store.conn(), d, t + 365 * 86_400).unwrap());
        assert!(!deferred(store.conn(), p, t).unwrap(), "no longer kept");
    }

    #[test]
    fn a_message_signed_again_takes_its_place() {
        let (_dir, store, key) = fresh();
        let id = put(store.conn(), &delivery(&key), 1).unwrap();
        let again = delivery(&key);
        assert!(replace(store.conn(), id, &again).unwrap());
        assert_eq!(get(store.conn(), id).unwrap(), Some(again));
        assert!(!replace(store.conn(), id, &proof(&key, "x".into())).unwrap(), "not in place of another kind");
        taken(store.conn(), id).unwrap();
        assert!(!replace(store.conn(), id, &delivery(&key)).unwrap());
    }

    #[test]
    fn an_unreadable_proof_is_dropped_and_a_delivery_left() {
        let (_dir, store, key) = fresh();
        let (d, p) =
            (put(store.conn(), &delivery(&key), 1).unwrap(), put(store.conn(), &proof(&key, "x".into()), 1).unwrap());
        store.conn().execute("UPDATE outbox SET message = x'7b'", []).unwrap();
        for id in [d, p] {
            assert!(matches!(get(store.conn(), id), Err(OutboxError::Corrupt { .. })));
            drop_proof(store.conn(), id).unwrap();
        }
        assert_eq!(kept(&store), vec![d], "the delivery stays for an operator to read");
    }

    #[test]
    fn hellos_and_queries_are_not_kept() {
        let (_dir, store, key) = fresh();
        let req = agora_protocol::wire::QueryRequest {
            header: Header::new(Uuid::new_v4(), 1_800_000_000, 60),
            researcher: "ada".into(),
            purpose: None,
            query: agora_protocol::Query {
                version: 1,
                cohort: agora_protocol::Cohort::Everyone,
                measure: None,
                aggregates: vec![agora_protocol::Aggregate::Count],
                group_by: agora_protocol::GroupBy::default(),
                reference_date: time::Date::from_calendar_date(2026, time::Month::January, 1).unwrap(),
            },
            presentation: None,
        };
        let err = put(store.conn(), &WireRequest::Query(Signed::sign(&req, &key)), 1).unwrap_err();
        assert_eq!(err.to_string(), "node outbox: a query is not kept (only deliveries and proof messages are)");
        assert!(kept(&store).is_empty());
    }

    #[test]
    fn the_oldest_proofs_are_dropped_past_the_bound_and_deliveries_kept() {
        let (_dir, store, key) = fresh();
        // Proof messages of 30,000 bytes under a bound of 100,000 (their sizes measured apart from
        // the outbox): three fit, the fourth drops the first, and a delivery is never dropped.
        let bound = 100_000;
        let big = |c: char| {
            let mut req = proof(&key, String::new());
            let overhead = serde_json::to_vec(&req).unwrap().len();
            req = proof(&key, c.to_string().repeat(30_000 - overhead));
            assert_eq!(serde_json::to_vec(&req).unwrap().len(), 30_000);
            req
        };
        let d = put_within(store.conn(), &delivery(&key), 1, bound).unwrap();
        let ids: Vec<_> = ['a', 'b', 'c'].map(|c| put_within(store.conn(), &big(c), 2, bound).unwrap()).to_vec();
        assert_eq!(waiting(store.conn()).unwrap()[0], (d, Kind::Delivery), "a delivery is kept as one");
        assert!(waiting(store.conn()).unwrap()[1..].iter().all(|(_, k)| *k == Kind::Proof));
        assert_eq!(kept(&store), [vec![d], ids.clone()].concat());
        let fourth = put_within(store.conn(), &big('d'), 3, bound).unwrap();
        assert_eq!(kept(&store), vec![d, ids[1], ids[2], fourth]);
        let total: i64 = store
            .conn()
            .query_row("SELECT SUM(length(message)) FROM outbox WHERE kind = 'proof'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(total, 90_000);
        let err = put_within(store.conn(), &big('e'), 4, 20_000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "node outbox: a proof message of 30000 bytes is larger than all the outbox keeps for proofs"
        );
        assert_eq!(kept(&store), vec![d, ids[1], ids[2], fourth], "nothing dropped for it");
    }
}

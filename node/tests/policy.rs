//! The gate every query passes: signatures, the trusted hub, freshness, replay (also across a restart),
//! validity, the allow-lists, rate limits, manual approval, and the `query_log` / `seen_nonce` state each
//! leaves behind.

use agora_node::policy::{
    self, approve, mark_answered, pending, rejection_counts, Approval, Decision, Gate, PolicyConfig, PolicyError,
};
use agora_node::store::Store;
use agora_protocol::envelope::Header;
use agora_protocol::wire::{QueryRequest, RejectionCode};
use agora_protocol::{Aggregate, Cohort, EnvelopeError, GroupBy, Measure, Query, Signed};
use libp2p::identity::Keypair;
use std::path::PathBuf;
use tempfile::TempDir;
use uuid::Uuid;

const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

struct Node {
    dir: TempDir,
    store: Store,
    hub: Keypair,
}

impl Node {
    fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("node.db")).unwrap();
        Node { dir, store, hub: Keypair::generate_ed25519() }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("node.db")
    }

    fn gate(&self, config: PolicyConfig) -> Gate {
        Gate::new(config, [self.hub.public().to_peer_id()]).unwrap()
    }

    fn sign(&self, request: &QueryRequest) -> Signed<QueryRequest> {
        Signed::sign(request, &self.hub)
    }

    /// (query_id, state, reason) of every logged query, in id order.
    fn log(&self) -> Vec<(String, String, Option<String>)> {
        let mut stmt =
            self.store.conn().prepare("SELECT query_id, state, reason FROM query_log ORDER BY query_id").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
    }

    fn state(&self, query_id: Uuid) -> Option<String> {
        self.store
            .conn()
            .query_row("SELECT state FROM query_log WHERE query_id = ?1", [query_id.to_string()], |r| r.get(0))
            .ok()
    }

    /// The node's query service over this store, signing with `key`.
    fn service(&self, key: &Keypair, policy: PolicyConfig) -> agora_node::service::QueryService {
        let hub = self.hub.public().to_peer_id();
        agora_node::service::QueryService::new(
            "n".into(),
            self.path(),
            key.clone(),
            policy,
            hub,
            "did:key:z6Mkhub".into(),
            None,
        )
        .unwrap()
    }

    fn nonces(&self) -> u64 {
        self.store.conn().query_row("SELECT COUNT(*) FROM seen_nonce", [], |r| r.get(0)).unwrap()
    }
}

fn count_query() -> Query {
    Query {
        version: agora_protocol::QUERY_VERSION,
        cohort: Cohort::Condition { code: "icd10cm:E11*".parse().unwrap() },
        measure: None,
        aggregates: vec![Aggregate::Count],
        group_by: GroupBy::default(),
        reference_date: time::macros::date!(2026 - 01 - 01),
    }
}

fn request(researcher: &str, issued_at: i64) -> QueryRequest {
    QueryRequest {
        header: Header::new(Uuid::new_v4(), issued_at, 600),
        researcher: researcher.to_string(),
        purpose: Some("HbA1c in type 2 diabetes".to_string()),
        query: count_query(),
        presentation: None,
    }
}

/// Admits a request expecting a refusal with `code`; returns the message.
fn refused(gate: &Gate, node: &Node, signed: &Signed<QueryRequest>, now: i64, code: RejectionCode) -> String {
    match gate.admit(&node.store, signed, now) {
        Ok(admitted) => panic!("admitted {:?}, expected {code:?}", admitted.decision),
        Err(rejection) => {
            assert_eq!(rejection.code, code, "{rejection}");
            rejection.message
        }
    }
}

#[test]
fn a_valid_query_is_admitted_and_logged() {
    let node = Node::new();
    let gate = node.gate(PolicyConfig::default());
    let req = request("alice", NOW);
    let admitted = gate.admit(&node.store, &node.sign(&req), NOW).unwrap();
    assert_eq!(admitted.decision, Decision::Run);
    assert_eq!(admitted.request, req);
    assert_eq!(node.state(req.header.query_id).as_deref(), Some("approved"));
    assert_eq!(node.nonces(), 1);
    mark_answered(&node.store, req.header.query_id).unwrap();
    assert_eq!(node.state(req.header.query_id).as_deref(), Some("answered"));
    // Marking it again changes nothing (an approved query runs again when the node stopped before its
    // delivery was kept); a query never logged cannot be marked.
    mark_answered(&node.store, req.header.query_id).unwrap();
    assert_eq!(node.state(req.header.query_id).as_deref(), Some("answered"));
    assert!(matches!(mark_answered(&node.store, Uuid::new_v4()), Err(PolicyError::UnknownQuery(_))));
    let request_json: String = node
        .store
        .conn()
        .query_row("SELECT request FROM query_log WHERE query_id = ?1", [req.header.query_id.to_string()], |r| r.get(0))
        .unwrap();
    let logged: Signed<QueryRequest> = serde_json::from_str(&request_json).unwrap();
    assert_eq!(logged.verify().unwrap().payload, req);
}

#[test]
fn bad_envelopes_are_refused() {
    let node = Node::new();
    let gate = node.gate(PolicyConfig::default());

    let mut unsigned = node.sign(&request("alice", NOW));
    unsigned.signature.clear();
    let message = refused(&gate, &node, &unsigned, NOW, RejectionCode::BadSignature);
    assert_eq!(message, EnvelopeError::Unsigned.to_string());

    let mut forged = node.sign(&request("alice", NOW));
    forged.body = forged.body.replace("alice", "mallory");
    let message = refused(&gate, &node, &forged, NOW, RejectionCode::BadSignature);
    assert_eq!(message, EnvelopeError::BadSignature.to_string());

    let other_key = Keypair::generate_ed25519();
    let by_other = Signed::sign(&request("alice", NOW), &other_key);
    let message = refused(&gate, &node, &by_other, NOW, RejectionCode::UnknownHub);
    assert!(message.contains(&other_key.public().to_peer_id().to_string()), "{message}");

    // None used a nonce; each left a rejected row under a fresh id, never its claimed one.
    assert_eq!(node.nonces(), 0);
    let log = node.log();
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|(_, state, _)| state == "rejected"));
    let claimed =
        [&unsigned, &forged, &by_other].map(|s| serde_json::from_str::<QueryRequest>(&s.body).unwrap().header.query_id);
    assert!(log.iter().all(|(id, _, _)| !claimed.iter().any(|c| c.to_string() == *id)));
    let counts = rejection_counts(&node.store).unwrap();
    assert_eq!(counts.get("bad_signature"), Some(&2));
    assert_eq!(counts.get("unknown_hub"), Some(&1));

    // A forged request cannot squat on the id of a genuine one.
    let genuine = request("alice", NOW);
    let mut squatter = node.sign(&genuine);
    squatter.body = squatter.body.replace("alice", "mallory");
    refused(&gate, &node, &squatter, NOW, RejectionCode::BadSignature);
    gate.admit(&node.store, &node.sign(&genuine), NOW).unwrap();
    assert_eq!(node.state(genuine.header.query_id).as_deref(), Some("approved"));
}

#[test]
fn stale_requests_are_refused() {
    let node = Node::new();
    let gate = node.gate(PolicyConfig { max_query_age_secs: 300, ..PolicyConfig::default() });
    let check = |issued_at: i64, ttl: i64, expect: EnvelopeError| {
        let req = QueryRequest { header: Header::new(Uuid::new_v4(), issued_at, ttl), ..request("alice", issued_at) };
        let message = refused(&gate, &node, &node.sign(&req), NOW, RejectionCode::Stale);
        assert_eq!(message, expect.to_string());
        // Signed by the hub, so logged under its own id.
        assert_eq!(node.state(req.header.query_id).as_deref(), Some("rejected"));
    };
    check(NOW - 700, 600, EnvelopeError::Expired(100));
    check(NOW - 400, 3600, EnvelopeError::TooOld { age: 400, max: 300 });
    check(NOW + 100, 600, EnvelopeError::FromFuture(100));
    assert_eq!(node.nonces(), 0);
    assert_eq!(rejection_counts(&node.store).unwrap().get("stale"), Some(&3));
}

#[test]
fn replays_are_refused_also_after_a_restart() {
    let node = Node::new();
    let gate = node.gate(PolicyConfig::default());
    let req = request("alice", NOW);
    let signed = node.sign(&req);
    gate.admit(&node.store, &signed, NOW).unwrap();
    mark_answered(&node.store, req.header.query_id).unwrap();

    let message = refused(&gate, &node, &signed, NOW + 5, RejectionCode::Replayed);
    assert!(message.contains("nonce"), "{message}");
    // The same query id with a fresh nonce is a duplicate too.
    let again = QueryRequest { header: Header { nonce: "ab".repeat(16), ..req.header.clone() }, ..req.clone() };
    let message = refused(&gate, &node, &node.sign(&again), NOW + 5, RejectionCode::Replayed);
    assert!(message.contains("already received"), "{message}");
    // The original row is untouched; each refusal has a row of its own.
    assert_eq!(node.state(req.header.query_id).as_deref(), Some("answered"));
    assert_eq!(node.log().len(), 3);
    assert_eq!(node.nonces(), 2);

    // Restart: a new store connection and a new gate still remember the nonce.
    let path = node.path();
    let Node { dir, store, hub } = node;
    drop(store);
    let node = Node { store: Store::open(&path).unwrap(), dir, hub };
    let gate = node.gate(PolicyConfig::default());
    refused(&gate, &node, &signed, NOW + 10, RejectionCode::Replayed);
    assert_eq!(node.state(req.header.query_id).as_deref(), Some("answered"));

    // Expired nonces are purged once nothing could replay them.
    let later = request("alice", NOW + 3600);
    gate.admit(&node.store, &node.sign(&later), NOW + 3600).unwrap();
    assert_eq!(node.nonces(), 1);
}

#[test]
fn queries_outside_the_policy_are_refused() {
    let node = Node::new();

    let invalid = QueryRequest { query: Query { aggregates: vec![], ..count_query() }, ..request("alice", NOW) };
    let gate = node.gate(PolicyConfig::default());
    let message = refused(&gate, &node, &node.sign(&invalid), NOW, RejectionCode::InvalidQuery);
    assert!(message.contains("no aggregate"), "{message}");

    let gate = node.gate(PolicyConfig { allowed_aggregates: vec!["count".into()], ..PolicyConfig::default() });
    let mean = QueryRequest {
        query: Query {
            measure: Some(Measure { code: "loinc:4548-4".parse().unwrap(), selection: Default::default() }),
            aggregates: vec![Aggregate::Count, Aggregate::Mean],
            ..count_query()
        },
        ..request("alice", NOW)
    };
    let message = refused(&gate, &node, &node.sign(&mean), NOW, RejectionCode::NotAllowed);
    assert!(message.contains("`mean`"), "{message}");

    let gate = node.gate(PolicyConfig { allowed_researchers: vec!["bob".into()], ..PolicyConfig::default() });
    let message = refused(&gate, &node, &node.sign(&request("alice", NOW)), NOW, RejectionCode::NotAllowed);
    assert!(message.contains("alice"), "{message}");
    gate.admit(&node.store, &node.sign(&request("bob", NOW)), NOW).unwrap();

    let gate = node.gate(PolicyConfig { allow_grouping: false, ..PolicyConfig::default() });
    let grouped = QueryRequest {
        query: Query { group_by: GroupBy { sex: true, age_bands: None }, ..count_query() },
        ..request("bob", NOW)
    };
    refused(&gate, &node, &node.sign(&grouped), NOW, RejectionCode::NotAllowed);

    let counts = rejection_counts(&node.store).unwrap();
    assert_eq!(counts.get("invalid_query"), Some(&1));
    assert_eq!(counts.get("not_allowed"), Some(&3));
    // Each refusal still used its nonce.
    assert_eq!(node.nonces(), 5);
}

#[test]
fn rate_limits_per_minute_and_per_10_hours() {
    let node = Node::new();
    let gate = node.gate(PolicyConfig::default());
    for i in 0..10 {
        gate.admit(&node.store, &node.sign(&request("alice", NOW + i)), NOW + i).unwrap();
    }
    // The 11th within the minute is refused, saying when to retry; other researchers are not affected.
    let message = refused(&gate, &node, &node.sign(&request("alice", NOW + 10)), NOW + 10, RejectionCode::RateLimited);
    assert!(message.contains("10 queries per minute") && message.contains("retry in 50 s"), "{message}");
    gate.admit(&node.store, &node.sign(&request("bob", NOW + 10)), NOW + 10).unwrap();
    // Refusals do not count: once the oldest query is a minute old, the next one passes, and fills the window.
    gate.admit(&node.store, &node.sign(&request("alice", NOW + 60)), NOW + 60).unwrap();
    let message = refused(&gate, &node, &node.sign(&request("alice", NOW + 60)), NOW + 60, RejectionCode::RateLimited);
    assert!(message.contains("retry in 1 s"), "{message}");

    let node = Node::new();
    let gate = node.gate(PolicyConfig { rate_per_10_hours: 3, ..PolicyConfig::default() });
    for i in 0..3 {
        gate.admit(&node.store, &node.sign(&request("alice", NOW + i * 3600)), NOW + i * 3600).unwrap();
    }
    let at = NOW + 3 * 3600;
    let message = refused(&gate, &node, &node.sign(&request("alice", at)), at, RejectionCode::RateLimited);
    assert!(message.contains("per 10 hours") && message.contains("retry in 25200 s"), "{message}");
    assert_eq!(node.log().iter().filter(|(_, s, _)| s == "approved").count(), 3);
}

#[test]
fn manual_approval_holds_queries_for_the_steward() {
    let node = Node::new();
    let gate = node.gate(PolicyConfig { approval: Approval::Manual, ..PolicyConfig::default() });
    let first = request("alice", NOW);
    let second = request("bob", NOW + 1);
    assert_eq!(gate.admit(&node.store, &node.sign(&first), NOW).unwrap().decision, Decision::Hold);
    assert_eq!(gate.admit(&node.store, &node.sign(&second), NOW + 1).unwrap().decision, Decision::Hold);

    let held = pending(&node.store).unwrap();
    assert_eq!(held.len(), 2);
    assert_eq!(held[0].query_id, first.header.query_id);
    assert_eq!(held[0].researcher, "alice");
    assert_eq!(held[0].received_at, NOW);
    assert_eq!(held[0].query, "count where condition icd10cm:E11* at 2026-01-01");
    assert_eq!(held[0].purpose.as_deref(), Some("HbA1c in type 2 diabetes"));

    assert_eq!(approve(&node.store, first.header.query_id).unwrap(), first);
    assert_eq!(node.state(first.header.query_id).as_deref(), Some("approved"));
    assert!(matches!(approve(&node.store, first.header.query_id), Err(PolicyError::WrongState { .. })));
    policy::reject(&node.store, second.header.query_id, "outside the study's ethics approval").unwrap();
    assert_eq!(node.state(second.header.query_id).as_deref(), Some("denied"));
    assert!(pending(&node.store).unwrap().is_empty());
    assert!(matches!(approve(&node.store, Uuid::new_v4()), Err(PolicyError::UnknownQuery(_))));
    assert!(matches!(
        policy::reject(&node.store, second.header.query_id, "again"),
        Err(PolicyError::WrongState { .. })
    ));
    assert_eq!(rejection_counts(&node.store).unwrap().get("denied_by_steward"), Some(&1));
    // Only an approved query can be marked answered.
    assert!(matches!(mark_answered(&node.store, second.header.query_id), Err(PolicyError::WrongState { .. })));
    mark_answered(&node.store, first.header.query_id).unwrap();
}

/// The statement each steward decision is delivered as, kept in the outbox in the transaction that
/// clears the decision's release mark: delivered once, and kept while the hub has not taken it. A node
/// stopped after running an approved query, before its answer was kept, runs it again when it starts.
#[test]
fn steward_decisions_are_kept_in_the_outbox_once_and_survive_a_stop() {
    use agora_node::outbox;
    use agora_protocol::wire::{AnswerMessage, Outcome, WireRequest};

    let node = Node::new();
    let config = PolicyConfig { approval: Approval::Manual, ..PolicyConfig::default() };
    let gate = node.gate(config.clone());
    let [a, b, c] = [request("alice", NOW), request("bob", NOW + 1), request("carol", NOW + 2)];
    for (i, r) in [&a, &b, &c].into_iter().enumerate() {
        assert_eq!(gate.admit(&node.store, &node.sign(r), NOW + i as i64).unwrap().decision, Decision::Hold);
    }
    let key = Keypair::generate_ed25519();
    let service = node.service(&key, config);
    let outcome = |id: outbox::MessageId| -> (Uuid, Outcome) {
        let Some(WireRequest::Deliver(signed)) = service.with_outbox(|conn| outbox::get(conn, id)).unwrap() else {
            panic!("message {id} is a kept delivery")
        };
        let verified: agora_protocol::Verified<AnswerMessage> = signed.verify().unwrap();
        assert_eq!(verified.signer, key.public().to_peer_id(), "signed by the node");
        (verified.payload.header.query_id, verified.payload.outcome)
    };
    assert!(service.approved_answers().unwrap().is_empty(), "nothing released yet");

    approve(&node.store, a.header.query_id).unwrap();
    policy::reject(&node.store, b.header.query_id, "outside the study's ethics approval").unwrap();
    let released = service.approved_answers().unwrap();
    assert_eq!(released.len(), 2);
    let (first, second) = (outcome(released[0].0), outcome(released[1].0));
    assert_eq!(first.0, a.header.query_id);
    assert!(matches!(first.1, Outcome::Answered { .. }), "{:?}", first.1);
    assert_eq!(released[0].2.as_ref(), Some(&a), "an answer comes with its request, for its proof");
    assert_eq!(second.0, b.header.query_id);
    match &second.1 {
        Outcome::Rejected { rejection } => {
            assert_eq!(rejection.code, RejectionCode::DeniedBySteward);
            assert_eq!(rejection.message, "outside the study's ethics approval");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(node.state(a.header.query_id).as_deref(), Some("answered"));
    assert!(service.approved_answers().unwrap().is_empty(), "each decision is delivered once");

    // Stopped after the run, before the answer was kept: the release mark is still set and the query
    // logged as answered. It runs again and is kept once.
    approve(&node.store, c.header.query_id).unwrap();
    mark_answered(&node.store, c.header.query_id).unwrap();
    let again = service.approved_answers().unwrap();
    assert_eq!(again.len(), 1);
    let third = outcome(again[0].0);
    assert_eq!(third.0, c.header.query_id);
    assert!(matches!(third.1, Outcome::Answered { .. }), "{:?}", third.1);
    assert!(service.approved_answers().unwrap().is_empty());

    // All three wait in the outbox, oldest first, until the hub takes them, also in a store opened again.
    let kept = vec![released[0].0, released[1].0, again[0].0];
    let reopened = Store::open(&node.path()).unwrap();
    assert_eq!(outbox::waiting(reopened.conn()).unwrap().into_iter().map(|(id, _)| id).collect::<Vec<_>>(), kept);
    outbox::taken(reopened.conn(), kept[1]).unwrap();
    assert_eq!(
        outbox::waiting(reopened.conn()).unwrap().into_iter().map(|(id, _)| id).collect::<Vec<_>>(),
        vec![kept[0], kept[2]]
    );
}

#[test]
fn a_gate_needs_a_valid_policy_and_a_hub() {
    let hub = Keypair::generate_ed25519().public().to_peer_id();
    let low = PolicyConfig { threshold: 1, ..PolicyConfig::default() };
    assert!(matches!(Gate::new(low, [hub]), Err(PolicyError::ThresholdTooLow(1))));
    assert!(matches!(Gate::new(PolicyConfig::default(), []), Err(PolicyError::NoHub)));
    assert_eq!(Gate::new(PolicyConfig::default(), [hub]).unwrap().config().threshold, 10);
}

#[test]
fn a_failed_credential_check_refuses_as_unauthorized_after_the_envelope_checks() {
    let node = Node::new();
    let gate = node.gate(PolicyConfig::default());
    let why = Err("researcher presentation: the credential was revoked by its issuer".to_string());
    let req = request("alice", NOW);
    match gate.admit_with(&node.store, &node.sign(&req), NOW, &why) {
        Err(r) => {
            assert_eq!(r.code, RejectionCode::Unauthorized);
            assert!(r.message.contains("revoked"), "{r}");
        }
        Ok(a) => panic!("admitted {:?}", a.decision),
    }
    // The nonce is spent and the refusal logged and counted like any other.
    match gate.admit_with(&node.store, &node.sign(&req), NOW, &Ok(())) {
        Err(r) => assert_eq!(r.code, RejectionCode::Replayed),
        Ok(a) => panic!("admitted {:?}", a.decision),
    }
    assert_eq!(rejection_counts(&node.store).unwrap().get("unauthorized"), Some(&1));
}

/// A node that counts only consenting patients for every purpose refuses a query stating none (it
/// would count nobody, and its answer would name no purpose), saying why; a query with a purpose, or a
/// node without the rule, is admitted.
#[test]
fn a_query_without_a_purpose_is_refused_where_every_purpose_needs_consent() {
    let node = Node::new();
    let gate = node.gate(PolicyConfig { consent_purposes: vec!["*".into()], ..PolicyConfig::default() });
    for purpose in [None, Some(String::new())] {
        let unstated = QueryRequest { purpose, ..request("alice", NOW) };
        let message = refused(&gate, &node, &node.sign(&unstated), NOW, RejectionCode::NotAllowed);
        assert!(message.contains("state the query's purpose"), "{message}");
    }
    gate.admit(&node.store, &node.sign(&request("alice", NOW)), NOW).unwrap();
    let gate = node.gate(PolicyConfig { consent_purposes: vec!["study-7".into()], ..PolicyConfig::default() });
    gate.admit(&node.store, &node.sign(&QueryRequest { purpose: None, ..request("alice", NOW) }), NOW).unwrap();
}

/// A kept message whose signature's window has passed (the hub was unreachable longer than it lasts) is
/// signed again with a fresh header when it is read back to be sent: the same statement, kept so; a
/// fresh one is sent as it was signed.
#[test]
fn a_kept_message_past_its_window_is_signed_again_when_sent() {
    use agora_node::outbox;
    use agora_protocol::wire::{AnswerMessage, Outcome, Rejection, WireRequest};

    let node = Node::new();
    let key = Keypair::generate_ed25519();
    let service = node.service(&key, PolicyConfig::default());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let outcome = Outcome::Rejected { rejection: Rejection::new(RejectionCode::DeniedBySteward, "not in scope") };
    let message = |issued_at: i64| {
        let msg = AnswerMessage { header: Header::new(Uuid::new_v4(), issued_at, 3600), outcome: outcome.clone() };
        WireRequest::Deliver(Signed::sign(&msg, &key))
    };
    let (old, fresh) = (message(now - 2 * 86_400), message(now - 60));
    let ids = [old.clone(), fresh.clone()].map(|m| service.with_outbox(|c| outbox::put(c, &m, now)).unwrap());

    assert_eq!(service.kept_message(ids[1]).unwrap(), Some(fresh), "sent as it was signed");
    let again = service.kept_message(ids[0]).unwrap().unwrap();
    let (WireRequest::Deliver(before), WireRequest::Deliver(after)) = (&old, &again) else { unreachable!() };
    let before: AnswerMessage = before.verify().unwrap().payload;
    let verified = after.verify().unwrap();
    assert_eq!(verified.signer, key.public().to_peer_id());
    let after: AnswerMessage = verified.payload;
    assert_eq!(
        (after.header.query_id, &after.outcome),
        (before.header.query_id, &before.outcome),
        "the same statement"
    );
    after.header.check(now, 3600).expect("a header the hub accepts");
    assert!(before.header.check(now, 24 * 3600).is_err(), "the old one it refuses");
    assert_eq!(service.with_outbox(|c| outbox::get(c, ids[0])).unwrap(), Some(again), "kept so");
    service.with_outbox(|c| outbox::taken(c, ids[0])).unwrap();
    assert_eq!(service.kept_message(ids[0]).unwrap(), None);
}

/// A node stopped while it proved an answer tells the hub why when it starts again: each owed proof
/// becomes a signed reason in the outbox, once.
#[test]
fn proofs_owed_when_the_node_stopped_become_a_signed_reason() {
    use agora_node::outbox;
    use agora_protocol::proof::{ProofMessage, ProofOutcome};
    use agora_protocol::wire::WireRequest;

    let node = Node::new();
    let key = Keypair::generate_ed25519();
    let service = node.service(&key, PolicyConfig::default());
    let (cut, done) = (Uuid::new_v4(), Uuid::new_v4());
    service.with_outbox(|c| outbox::owe(c, cut, 1)).unwrap();
    service.with_outbox(|c| outbox::owe(c, done, 2)).unwrap();
    // `done`'s last proof message is kept in the transaction that clears its debt.
    let last = WireRequest::Proof(service.unproven(done, "no snapshot yet"));
    let last_id = service.keep_message(&last, Some(done)).unwrap();
    assert_eq!(service.with_outbox(outbox::owed).unwrap(), vec![cut]);

    assert_eq!(service.settle_owed_proofs().unwrap(), 1);
    assert!(service.with_outbox(outbox::owed).unwrap().is_empty());
    let kept: Vec<_> = service.with_outbox(outbox::waiting).unwrap().into_iter().map(|(id, _)| id).collect();
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[0], last_id, "the reason comes after what was kept");
    let Some(WireRequest::Proof(signed)) = service.with_outbox(|c| outbox::get(c, kept[1])).unwrap() else {
        panic!("a kept proof message")
    };
    let verified = signed.verify().unwrap();
    assert_eq!(verified.signer, key.public().to_peer_id());
    let msg: ProofMessage = verified.payload;
    assert_eq!(msg.header.query_id, cut);
    assert!(
        matches!(&msg.outcome, ProofOutcome::Unavailable { reason } if reason == "the node stopped before this answer's proof was made"),
        "{:?}",
        msg.outcome
    );
    assert_eq!(service.settle_owed_proofs().unwrap(), 0, "once");
}

//! The federation path end to end: signed-query checks at a real node, federated answers against the
//! union of the nodes' data computed independently, partial results, the data steward's queue, and the
//! hub on PostgreSQL.

use crate::expected;
use crate::fake_hub::{self, FakeHub};
use agora_protocol::combined::{CombinedResult, NodeState, ResultStatus};
use agora_protocol::envelope::Signed;
use agora_protocol::wire::{Outcome, RejectionCode, WireRequest, WireResponse};
use agora_protocol::{
    AgeBand, Aggregate, Cell, Code, CodeSystem, Cohort, GroupBy, Measure, Moments, Query, Selection, Sex,
};
use agora_tests::{NetOptions, TestNet};
use std::time::Duration;
use uuid::Uuid;

#[tokio::test]
async fn nodes_answer_only_fresh_queries_signed_by_their_hub() {
    // Credentials are checked in their own test below.
    let mut hub = FakeHub::start(&[("AGORA_NODE_POLICY__REQUIRE_RESEARCHER_CREDENTIAL", "false")], |_| {}).await;
    let t = fake_hub::now();

    // A valid query is answered; the empty store's count is below the threshold and suppressed.
    let req = fake_hub::request(Uuid::new_v4(), t, 60);
    let signed = Signed::sign(&req, &hub.key);
    let resp = hub.send(WireRequest::Query(signed.clone())).await;
    match hub.outcome(&resp) {
        Outcome::Answered { answer } => {
            assert_eq!(answer.query_id, req.header.query_id);
            assert_eq!(answer.total().unwrap().patients, Cell::Suppressed);
        }
        other => panic!("expected an answer, got {other:?}"),
    }

    // The same signed message again is a replay.
    let resp = hub.send(WireRequest::Query(signed.clone())).await;
    assert_eq!(hub.rejection_code(&resp), RejectionCode::Replayed);

    // Unsigned, forged and foreign-signed requests get a plain error, never an answer.
    let mut unsigned = Signed::sign(&fake_hub::request(Uuid::new_v4(), t, 60), &hub.key);
    unsigned.signature.clear();
    let mut forged = Signed::sign(&fake_hub::request(Uuid::new_v4(), t, 60), &hub.key);
    forged.body = forged.body.replace("\"ada\"", "\"eve\"");
    let stranger = libp2p::identity::Keypair::generate_ed25519();
    let foreign = Signed::sign(&fake_hub::request(Uuid::new_v4(), t, 60), &stranger);
    for (env, expect) in [(unsigned, "unsigned"), (forged, "does not verify"), (foreign, "unknown_hub")] {
        match hub.send(WireRequest::Query(env)).await {
            WireResponse::Error { message } => assert!(message.contains(expect), "{message} should say {expect}"),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    // Expired, too old, from the future, invalid.
    let cases = [
        (fake_hub::request(Uuid::new_v4(), t - 400, 300), RejectionCode::Stale),
        (fake_hub::request(Uuid::new_v4(), t - 400, 3600), RejectionCode::Stale),
        (fake_hub::request(Uuid::new_v4(), t + 600, 60), RejectionCode::Stale),
    ];
    for (req, code) in cases {
        let resp = hub.query(&req).await;
        assert_eq!(hub.rejection_code(&resp), code);
    }
    let mut bad = fake_hub::request(Uuid::new_v4(), t, 60);
    bad.query.version = 9;
    let resp = hub.query(&bad).await;
    assert_eq!(hub.rejection_code(&resp), RejectionCode::InvalidQuery);

    // A node accepts only queries.
    let hello_like = WireRequest::Deliver(Signed::sign(
        &agora_protocol::wire::AnswerMessage {
            header: agora_protocol::Header::new(Uuid::nil(), t, 60),
            outcome: Outcome::Held,
        },
        &hub.key,
    ));
    assert!(matches!(hub.send(hello_like).await, WireResponse::Error { .. }));

    // Rate limit: 10 admitted queries a minute per researcher (one admitted above).
    for i in 0..9 {
        let resp = hub.query(&fake_hub::request(Uuid::new_v4(), t, 60)).await;
        assert!(matches!(hub.outcome(&resp), Outcome::Answered { .. }), "query {i} is within the limit");
    }
    let resp = hub.query(&fake_hub::request(Uuid::new_v4(), t, 60)).await;
    assert_eq!(hub.rejection_code(&resp), RejectionCode::RateLimited);
    assert!(hub.child.try_wait().unwrap().is_none(), "the node is still running");
    let log = hub.log();
    for code in ["replayed", "bad_signature", "unknown_hub", "stale", "invalid_query", "rate_limited"] {
        assert!(log.contains(code), "the node's log counts the `{code}` refusal");
    }
}

#[tokio::test]
async fn nodes_answer_only_researchers_their_hub_credentialed() {
    use agora_did::credential::{CredentialKind, Draft, Issuer};
    use agora_did::{CredentialFormat, Identity};
    let mut hub = FakeHub::start(&[], |_| {}).await;
    let t = fake_hub::now();
    let issuer = Issuer::key(agora_did::identity::identity_of_keypair(&hub.key).unwrap());
    let researcher = Issuer::key(Identity::generate());
    let credential_from = |issuer: Issuer, holder: String| async move {
        let draft = Draft::new(CredentialKind::ResearcherCredential, &holder)
            .claim("name", "Ada")
            .claim("institution", "AEI")
            .claim("purposes", serde_json::json!(["study-7"]));
        issuer.issue(&draft, CredentialFormat::Jose).await.unwrap()
    };
    let credential = credential_from(issuer.clone(), researcher.did().to_string()).await;
    let request = |purpose: &str, vp: Option<serde_json::Value>, who: &str| {
        let mut req = fake_hub::request(Uuid::new_v4(), t, 60);
        req.purpose = Some(purpose.to_string());
        req.researcher = who.to_string();
        req.presentation = vp;
        req
    };
    let present = |holder: &Issuer, vc: &serde_json::Value, purpose: &str, domain: &str| {
        let challenge = agora_protocol::query_challenge(&fake_hub::count_query(), Some(purpose));
        let (holder, vc, domain) = (holder.clone(), vc.clone(), domain.to_string());
        async move {
            agora_did::presentation::present(&holder, &[vc], &challenge, &domain, CredentialFormat::Jose).await.unwrap()
        }
    };
    let hub_did = issuer.did().to_string();
    let ada = researcher.did().to_string();

    // A proper presentation is answered.
    let vp = present(&researcher, &credential, "study-7", &hub_did).await;
    let resp = hub.query(&request("study-7", Some(vp), &ada)).await;
    assert!(matches!(hub.outcome(&resp), Outcome::Answered { .. }), "{resp:?}");

    let unauthorized = |hub: &FakeHub, resp: &WireResponse, expect: &str| match hub.outcome(resp) {
        Outcome::Rejected { rejection } => {
            assert_eq!(rejection.code, RejectionCode::Unauthorized);
            assert!(rejection.message.contains(expect), "`{}` should say `{expect}`", rejection.message);
        }
        other => panic!("expected unauthorized, got {other:?}"),
    };
    let resp = hub.query(&request("study-7", None, &ada)).await;
    unauthorized(&hub, &resp, "carries no presentation");
    // Made for another purpose than the request states.
    let vp = present(&researcher, &credential, "other", &hub_did).await;
    let resp = hub.query(&request("study-7", Some(vp), &ada)).await;
    unauthorized(&hub, &resp, "challenge does not match");
    // A purpose the credential does not approve.
    let vp = present(&researcher, &credential, "marketing", &hub_did).await;
    let resp = hub.query(&request("marketing", Some(vp), &ada)).await;
    unauthorized(&hub, &resp, "does not approve the purpose `marketing`");
    // Addressed to another hub.
    let vp = present(&researcher, &credential, "study-7", "did:web:other-hub.example").await;
    let resp = hub.query(&request("study-7", Some(vp), &ada)).await;
    unauthorized(&hub, &resp, "addressed to");
    // A credential from someone other than the hub.
    let forged = credential_from(Issuer::key(Identity::generate()), ada.clone()).await;
    let vp = present(&researcher, &forged, "study-7", &hub_did).await;
    let resp = hub.query(&request("study-7", Some(vp), &ada)).await;
    unauthorized(&hub, &resp, "not by");
    // The hub names another researcher than the presentation's holder.
    let vp = present(&researcher, &credential, "study-7", &hub_did).await;
    let resp = hub.query(&request("study-7", Some(vp), "did:key:z6MkSomeoneElse")).await;
    unauthorized(&hub, &resp, "not by the researcher the hub names");
    assert!(hub.log().contains("unauthorized"), "refusals are logged and counted");
}

fn query(
    cohort: Cohort,
    measure: Option<&str>,
    selection: Selection,
    aggregates: Vec<Aggregate>,
    by_sex: bool,
) -> Query {
    Query {
        version: 1,
        cohort,
        measure: measure.map(|c| Measure { code: Code::new(CodeSystem::Loinc, c), selection }),
        aggregates,
        group_by: GroupBy { sex: by_sex, age_bands: None },
        reference_date: time::macros::date!(2026 - 01 - 01),
    }
}

async fn run(net: &TestNet, q: Query) -> CombinedResult {
    let client = net.client().await.unwrap();
    let id = client.submit(q, Some("demo".into())).await.unwrap();
    client.wait(id, Duration::from_secs(30)).await.unwrap()
}

fn answers(r: &CombinedResult) -> Vec<(&str, &agora_protocol::NodeAnswer)> {
    r.nodes
        .iter()
        .map(|n| match &n.state {
            NodeState::Answered { answer } => (n.name.as_str(), answer),
            other => panic!("node {} did not answer: {other:?}", n.name),
        })
        .collect()
}

#[tokio::test]
async fn federated_answers_equal_the_union_of_the_nodes_data() {
    let net = TestNet::spawn(NetOptions { nodes: 3, patients_per_node: 200, ..NetOptions::default() }).await.unwrap();
    let per_node: Vec<_> = net.nodes.iter().map(|n| (n.name.clone(), expected::patients(&n.synth_dir))).collect();

    // Count of patients with type 2 diabetes, by sex.
    let q = query(
        Cohort::Condition { code: "icd10cm:E11*".parse().unwrap() },
        None,
        Selection::Latest,
        vec![Aggregate::Count],
        true,
    );
    let r = run(&net, q).await;
    assert_eq!(r.status, ResultStatus::Complete);
    let mut union_total = 0;
    for (name, answer) in answers(&r) {
        let truth = &per_node.iter().find(|(n, _)| n == name).unwrap().1;
        let diabetic: Vec<_> = truth.values().filter(|p| p.has_condition_prefix("E11")).collect();
        union_total += diabetic.len() as u64;
        assert_eq!(answer.total().unwrap().patients, Cell::Value(diabetic.len() as u64), "{name} total");
        for row in answer.rows.iter().filter(|r| !r.group.is_total()) {
            let sex = row.group.sex.unwrap();
            let n = diabetic.iter().filter(|p| Sex::from_fhir(&p.sex).unwrap_or(Sex::Unknown) == sex).count() as u64;
            match row.patients {
                Cell::Value(v) => assert_eq!((v, v >= 10), (n, true), "{name} {sex}"),
                Cell::Suppressed => {} // below 10, or complementary
            }
            if n < 10 {
                assert_eq!(row.patients, Cell::Suppressed, "{name} {sex}: {n} < 10 must be suppressed");
            }
        }
    }
    let total = r.rows.iter().find(|row| row.group.is_total()).unwrap();
    assert_eq!((total.patients.released, total.patients.suppressed_parts), (union_total, 0));
    for row in r.rows.iter().filter(|row| !row.group.is_total()) {
        let parts: Vec<Cell> =
            answers(&r).iter().map(|(_, a)| a.rows.iter().find(|x| x.group == row.group).unwrap().patients).collect();
        let released: u64 = parts.iter().filter_map(|c| c.value()).sum();
        let suppressed = parts.iter().filter(|c| **c == Cell::Suppressed).count() as u32;
        assert_eq!((row.patients.released, row.patients.suppressed_parts), (released, suppressed));
    }

    // Mean and sd of every serum glucose value (mg/dL; mmol/L inputs converted), pooled across nodes.
    let q = query(
        Cohort::Everyone,
        Some("2345-7"),
        Selection::All,
        vec![Aggregate::Count, Aggregate::Mean, Aggregate::StdDev],
        false,
    );
    let r = run(&net, q).await;
    let all: Vec<f64> = per_node.iter().flat_map(|(_, ps)| ps.values().flat_map(|p| p.values_of("2345-7"))).collect();
    let (n, mean, sd) = expected::stats(&all);
    let total = &r.rows[0];
    assert_eq!(r.unit.as_deref(), Some("mg/dL"));
    assert_eq!(total.n.unwrap().released, n as u64);
    assert!((total.mean.unwrap() - mean).abs() < 1e-3, "mean {} vs {mean}", total.mean.unwrap());
    assert!((total.sd.unwrap() - sd).abs() < 1e-3, "sd {} vs {sd}", total.sd.unwrap());
    for (_, a) in answers(&r) {
        assert!(matches!(a.rows[0].moments, Some(Moments::Released { .. })));
    }

    // Histogram of every HbA1c value.
    let edges = vec![5.7, 6.5, 8.0];
    let q = query(
        Cohort::Everyone,
        Some("4548-4"),
        Selection::All,
        vec![Aggregate::Histogram { edges: edges.clone() }],
        false,
    );
    let r = run(&net, q).await;
    let mut bins = [0u64; 4];
    for v in per_node.iter().flat_map(|(_, ps)| ps.values().flat_map(|p| p.values_of("4548-4"))) {
        bins[edges.iter().filter(|e| v >= **e).count()] += 1;
    }
    let got: Vec<u64> = r.rows[0].histogram.as_ref().unwrap().iter().map(|c| c.released).collect();
    let suppressed: u32 = r.rows[0].histogram.as_ref().unwrap().iter().map(|c| c.suppressed_parts).sum();
    if suppressed == 0 {
        assert_eq!(got, bins.to_vec());
    } else {
        for (g, b) in got.iter().zip(bins) {
            assert!(*g <= b, "released parts never exceed the truth");
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success();
    assert!(ok, "kill {sig} {pid}");
}

#[tokio::test]
async fn silent_and_vanishing_nodes_give_a_partial_result() {
    let mut net = TestNet::spawn(NetOptions {
        nodes: 3,
        patients_per_node: 40,
        hub_env: vec![("AGORA_HUB_QUERY_DEADLINE_SECS".into(), "3".into())],
        ..NetOptions::default()
    })
    .await
    .unwrap();
    let count = query(Cohort::Everyone, None, Selection::Latest, vec![Aggregate::Count], false);

    // A node that never answers: the others' answers come back, marked partial.
    let pid = net.nodes[0].child.as_ref().unwrap().id().unwrap();
    signal(pid, "-STOP");
    let r = run(&net, count.clone()).await;
    signal(pid, "-CONT");
    assert_eq!(r.status, ResultStatus::Partial);
    let silent = r.nodes.iter().find(|n| n.name == net.nodes[0].name).unwrap();
    assert!(matches!(&silent.state, NodeState::NoAnswer { reason } if reason.contains("within 3 s")), "{silent:?}");
    assert_eq!(r.nodes.iter().filter(|n| matches!(n.state, NodeState::Answered { .. })).count(), 2);
    assert_eq!(r.rows[0].patients.released, 80, "the two answering nodes' 40 patients each");

    // A node that disconnects mid-query.
    let pid = net.nodes[1].child.as_ref().unwrap().id().unwrap();
    signal(pid, "-STOP");
    let client = net.client().await.unwrap();
    let id = client.submit(count.clone(), Some("demo".into())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    net.kill_node(1).await.unwrap();
    let r = client.wait(id, Duration::from_secs(30)).await.unwrap();
    assert_eq!(r.status, ResultStatus::Partial);
    let gone = r.nodes.iter().find(|n| n.name == net.nodes[1].name).unwrap();
    assert!(matches!(&gone.state, NodeState::NoAnswer { .. }), "{gone:?}");

    // It comes back, reconnects, and the network answers in full again.
    let mut node = std::mem::replace(&mut net.nodes[1], dummy());
    net.start_node(&mut node).await.unwrap();
    net.nodes[1] = node;
    net.wait_for_nodes(3, Duration::from_secs(30)).await.unwrap();
    let r = run(&net, count).await;
    assert_eq!((r.status, r.rows[0].patients.released), (ResultStatus::Complete, 120));
}

fn dummy() -> agora_tests::NodeProc {
    agora_tests::NodeProc::placeholder()
}

#[tokio::test]
async fn held_queries_wait_for_the_data_steward() {
    let net = TestNet::spawn(NetOptions {
        nodes: 1,
        patients_per_node: 30,
        node_env: vec![("AGORA_NODE_POLICY__APPROVAL".into(), "manual".into())],
        ..NetOptions::default()
    })
    .await
    .unwrap();
    let q = query(
        Cohort::Condition { code: "icd10cm:I10".parse().unwrap() },
        None,
        Selection::Latest,
        vec![Aggregate::Count],
        false,
    );
    let client = net.client().await.unwrap();
    let id = client.submit(q, Some("study-7".into())).await.unwrap();
    let r = client.wait(id, Duration::from_secs(30)).await.unwrap();
    assert_eq!(r.status, ResultStatus::Partial);
    assert!(matches!(r.nodes[0].state, NodeState::Held));

    let node = &net.nodes[0];
    let steward = |args: &[&str]| {
        let out = std::process::Command::new(agora_tests::bin("agora-node").unwrap())
            .arg("--data-dir")
            .arg(&node.data_dir)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let pending = steward(&["queries", "pending"]);
    assert!(pending.contains(&id.to_string()), "{pending}");
    assert!(pending.contains("condition icd10cm:I10"), "the steward sees the readable query: {pending}");
    steward(&["queries", "approve", &id.to_string()]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = client.result(id).await.unwrap();
        if r.status == ResultStatus::Complete {
            assert!(matches!(r.nodes[0].state, NodeState::Answered { .. }));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "approved answer never arrived: {r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A rejection reaches the hub too.
    let q = query(Cohort::Everyone, None, Selection::Latest, vec![Aggregate::Count], false);
    let id = client.submit(q, Some("demo".into())).await.unwrap();
    client.wait(id, Duration::from_secs(30)).await.unwrap();
    steward(&["queries", "reject", &id.to_string(), "--reason", "outside the approved study"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = client.result(id).await.unwrap();
        if let NodeState::Rejected { rejection } = &r.nodes[0].state {
            assert_eq!(rejection.code, RejectionCode::DeniedBySteward);
            assert!(rejection.message.contains("outside the approved study"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "rejection never arrived: {r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A new database on the PostgreSQL server at `admin` (scripts/test starts one); its URL.
fn fresh_database(admin: &str) -> String {
    let db = format!("agora_it_{}", Uuid::new_v4().simple());
    let out =
        std::process::Command::new("psql").args([admin, "-qc", &format!("CREATE DATABASE {db}")]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    format!("{}/{db}", admin.rsplit_once('/').unwrap().0)
}

#[tokio::test]
async fn hub_runs_on_postgresql() {
    let Ok(admin) = std::env::var("AGORA_TEST_POSTGRES_URL") else {
        assert!(std::env::var("AGORA_REQUIRE_POSTGRES").is_err(), "run the suite through scripts/test");
        eprintln!("no AGORA_TEST_POSTGRES_URL: skipped (scripts/test provides one)");
        return;
    };
    let url = fresh_database(&admin);
    let net = TestNet::spawn(NetOptions {
        nodes: 2,
        patients_per_node: 30,
        database_url: Some(url.clone()),
        ..NetOptions::default()
    })
    .await
    .unwrap();
    let r = run(&net, query(Cohort::Everyone, None, Selection::Latest, vec![Aggregate::Count], false)).await;
    assert_eq!((r.status, r.rows[0].patients.released), (ResultStatus::Complete, 60));
    let out = std::process::Command::new("psql")
        .args([&url, "-tAc", "SELECT count(*) FROM node_answers WHERE state = 'answered'"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2", "answers are archived in PostgreSQL");
}

/// Polls the hub until no answer of `id` waits for its proof: the query's result then, or after five
/// minutes (a debug-built node proving dozens of chunks beside the suite's other tests on two cores
/// takes minutes; it returns as soon as the proofs settle).
pub(crate) async fn settled_proofs(net: &TestNet, id: Uuid) -> CombinedResult {
    let client = net.client().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let r = client.result(id).await.unwrap();
        if r.proofs.pending == 0 || tokio::time::Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Submits `q`, waits for its answers and their proofs, and checks that both nodes' proofs verified.
async fn run_proven(net: &TestNet, q: Query) -> (Uuid, CombinedResult) {
    let client = net.client().await.unwrap();
    let id = client.submit(q, Some("demo".into())).await.unwrap();
    client.wait(id, Duration::from_secs(30)).await.unwrap();
    let r = settled_proofs(net, id).await;
    assert_eq!((r.proofs.proven, r.proofs.failed), (2, 0), "{}", r.to_table());
    (id, r)
}

/// The next proof message the node sends; hellos on the way are acknowledged.
async fn next_proof(
    hub: &mut FakeHub,
) -> (Signed<agora_protocol::proof::ProofMessage>, libp2p::request_response::ResponseChannel<WireResponse>) {
    use futures::StreamExt;
    use libp2p::request_response::{Event, Message};
    use libp2p::swarm::SwarmEvent;
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let SwarmEvent::Behaviour(agora_protocol::transport::BehaviourEvent::Rr(Event::Message {
                message: Message::Request { request, channel, .. },
                ..
            })) = hub.swarm.select_next_some().await
            {
                match request {
                    WireRequest::Proof(p) => return (p, channel),
                    _ => {
                        let _ = hub.swarm.behaviour_mut().rr.send_response(channel, WireResponse::Ack);
                    }
                }
            }
        }
    })
    .await
    .expect("a proof message within 60 s")
}

/// A proof message the hub never took (the hub dropped the request without responding) is sent again,
/// the same signed message, until the hub responds.
#[tokio::test]
async fn proof_messages_the_hub_did_not_take_are_sent_again() {
    let mut hub = FakeHub::start(&[("AGORA_NODE_POLICY__REQUIRE_RESEARCHER_CREDENTIAL", "false")], |_| {}).await;
    let req = fake_hub::request(Uuid::new_v4(), fake_hub::now(), 60);
    let resp = hub.query(&req).await;
    assert!(matches!(hub.outcome(&resp), Outcome::Answered { .. }));
    let (first, channel) = next_proof(&mut hub).await;
    assert_eq!(first.verify().unwrap().payload.header.query_id, req.header.query_id);
    drop(channel);
    let (second, channel) = next_proof(&mut hub).await;
    assert_eq!(second, first, "the same signed message");
    let _ = hub.swarm.behaviour_mut().rr.send_response(channel, WireResponse::Ack);
    assert!(hub.log().contains("sending messages the hub did not take again"), "{}", hub.log());
}

/// A proof message the node still held when it was killed (the hub had not responded) is sent after it
/// starts again: the same signed message, read back from the store's outbox.
#[tokio::test]
async fn proof_messages_kept_when_the_node_stops_are_sent_after_it_starts_again() {
    let env = [("AGORA_NODE_POLICY__REQUIRE_RESEARCHER_CREDENTIAL", "false")];
    let mut hub = FakeHub::start(&env, |_| {}).await;
    let req = fake_hub::request(Uuid::new_v4(), fake_hub::now(), 60);
    let resp = hub.query(&req).await;
    assert!(matches!(hub.outcome(&resp), Outcome::Answered { .. }));
    let (first, channel) = next_proof(&mut hub).await;
    assert_eq!(first.verify().unwrap().payload.header.query_id, req.header.query_id);
    // Its proof whole in the outbox (no longer owed)...
    let store = hub._dir.path().join("node").join("node.db");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !agora_node::outbox::owed(agora_node::store::Store::open_read_only(&store).unwrap().conn())
        .unwrap()
        .is_empty()
    {
        assert!(std::time::Instant::now() < deadline, "the proof is still owed after 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ...the node is killed before the hub responds: it never learnt whether the hub took it.
    hub.restart(&env).await;
    drop(channel);
    let (second, channel) = next_proof(&mut hub).await;
    assert_eq!(second, first, "the same signed message");
    let _ = hub.swarm.behaviour_mut().rr.send_response(channel, WireResponse::Ack);
    let log = hub.log();
    assert!(log.contains(r#""message":"messages kept from before the start wait for the hub","messages":1"#), "{log}");
    // Taken: it is not sent a third time (the retry tick is 2 s).
    let third = tokio::time::timeout(Duration::from_secs(6), next_proof(&mut hub)).await;
    assert!(third.is_err(), "a message the hub took is not sent again");
}

#[tokio::test]
async fn answers_of_provable_queries_carry_zero_knowledge_proofs_the_hub_verifies() {
    let net = TestNet::spawn(NetOptions { nodes: 2, patients_per_node: 150, ..NetOptions::default() }).await.unwrap();
    let per_node: Vec<_> = net.nodes.iter().map(|n| (n.name.clone(), expected::patients(&n.synth_dir))).collect();

    // The most frequent exact condition code of the first node, found from the FHIR files.
    let mut freq: std::collections::HashMap<(String, String), usize> = Default::default();
    for p in per_node[0].1.values() {
        let mut mine: Vec<_> = p.conditions.clone();
        mine.sort();
        mine.dedup();
        for c in mine {
            *freq.entry(c).or_default() += 1;
        }
    }
    let ((system, code), _) = freq.into_iter().max_by_key(|(c, n)| (*n, c.clone())).unwrap();
    assert_eq!(system, "icd10cm");
    let cohort = Cohort::Condition { code: format!("icd10cm:{code}").parse().unwrap() };
    let q = query(cohort, None, Selection::Latest, vec![Aggregate::Count], false);

    let client = net.client().await.unwrap();
    let id = client.submit(q.clone(), Some("demo".into())).await.unwrap();
    let r = client.wait(id, Duration::from_secs(30)).await.unwrap();
    assert_eq!(r.status, ResultStatus::Complete);
    let r = settled_proofs(&net, id).await;
    assert_eq!((r.proofs.proven, r.proofs.pending, r.proofs.failed), (2, 0, 0), "{}", r.to_table());
    let mut released = 0;
    let mut suppressed = 0;
    for (name, truth) in &per_node {
        let n =
            truth.values().filter(|p| p.conditions.iter().any(|(s, c)| s == "icd10cm" && *c == code)).count() as u64;
        let node = r.nodes.iter().find(|x| &x.name == name).unwrap();
        match &node.state {
            NodeState::Answered { answer } => {
                let expect = if n >= 10 { Cell::Value(n) } else { Cell::Suppressed };
                assert_eq!(answer.total().unwrap().patients, expect, "{name}: {n} patients with {code}");
            }
            other => panic!("{name} did not answer: {other:?}"),
        }
        if n >= 10 {
            released += n;
        } else {
            suppressed += 1;
        }
        // Nodes commit before they connect: the hello registered the commitment before the query.
        assert!(
            matches!(&node.proof, Some(agora_protocol::proof::ProofState::Proven { root, committed_before_query: true, .. }) if root.len() == 64),
            "{name}: {:?}",
            node.proof
        );
    }
    let total = &r.rows[0];
    assert_eq!((total.patients.released, total.patients.suppressed_parts), (released, suppressed));
    assert!(r.to_table().contains("proofs: 2 proven, 0 pending, 0 failed"), "{}", r.to_table());
    // Auditors get every proven answer as an archived answer that verifies offline (agora-zk verify).
    let archived = client.proofs(id).await.unwrap();
    assert_eq!(archived.len(), 2);
    // Each proves one node's count, as computed above from the FHIR files (or that it is below 10).
    let mut proven: Vec<(u64, Option<u32>)> = Vec::new();
    for a in archived {
        assert!(matches!(a, agora_zk::archive::Archived::One(_)), "{a:?}");
        let claim = a.verify().unwrap();
        assert_eq!(hex::encode(claim.query), hex::encode(agora_protocol::proof::query_digest(id, &q)));
        proven.push((claim.count, claim.suppressed_below));
    }
    let mut truth: Vec<(u64, Option<u32>)> = per_node
        .iter()
        .map(|(_, t)| {
            t.values().filter(|p| p.conditions.iter().any(|(s, c)| s == "icd10cm" && *c == code)).count() as u64
        })
        .map(|n| if n >= 10 { (n, None) } else { (0, Some(10)) })
        .collect();
    proven.sort();
    truth.sort();
    assert_eq!(proven, truth);

    // Everyone without that condition, grouped by sex, is provable too: the whole cohort and each
    // released sex group of each node (a conjunction with a negation, evaluated inside the proofs).
    let without = Cohort::Not { of: Box::new(Cohort::Condition { code: format!("icd10cm:{code}").parse().unwrap() }) };
    let by_sex = query(
        Cohort::All { of: vec![Cohort::Everyone, without] },
        None,
        Selection::Latest,
        vec![Aggregate::Count],
        true,
    );
    let (id, r) = run_proven(&net, by_sex.clone()).await;
    let lacks = |p: &expected::Patient| !p.conditions.iter().any(|(s, c)| s == "icd10cm" && *c == code);
    let count = |sex: Option<&str>| -> u64 {
        per_node
            .iter()
            .map(|(_, t)| t.values().filter(|p| lacks(p) && sex.is_none_or(|s| p.sex == s)).count() as u64)
            .sum()
    };
    assert_eq!(r.rows[0].patients.released, count(None), "{}", r.to_table());
    for sex in [Sex::Female, Sex::Male] {
        let row = r.rows.iter().find(|x| x.group.sex == Some(sex)).unwrap();
        assert_eq!(row.patients.released, count(Some(sex.as_str())), "{sex}: {}", r.to_table());
    }
    // The same snapshot serves this query too.
    for n in &r.nodes {
        assert!(
            matches!(n.proof, Some(agora_protocol::proof::ProofState::Proven { committed_before_query: true, .. })),
            "{}: {:?}",
            n.name,
            n.proof
        );
    }
    // Three proven cells per node (the cohort, female, male; other and unknown are empty), each of which
    // verifies offline.
    let archived = client.proofs(id).await.unwrap();
    assert_eq!(archived.len(), 6);
    for a in archived {
        let claim = a.verify().unwrap();
        assert!(claim.criteria.iter().any(|c| c.negated), "the negated condition is in every claim");
    }
    let only = client.result_proven_only(id).await.unwrap();
    assert_eq!(only.rows[0].patients.released, r.rows[0].patients.released, "every answer is proven");
    // The mean of each patient's latest serum glucose is proven too (the number of values and their
    // sum, per node); it agrees with the latest values in the FHIR files.
    let latest =
        query(Cohort::Everyone, Some("2345-7"), Selection::Latest, vec![Aggregate::Count, Aggregate::Mean], false);
    let (id, r) = run_proven(&net, latest).await;
    let values: Vec<f64> = per_node
        .iter()
        .flat_map(|(_, t)| t.values())
        .filter_map(|p| {
            p.values.iter().filter(|(c, _, _)| c == "2345-7").max_by(|a, b| a.1.cmp(&b.1)).map(|(_, _, v)| *v)
        })
        .collect();
    let (n, mean, _) = expected::stats(&values);
    assert_eq!(r.rows[0].n.unwrap().released, n as u64, "{}", r.to_table());
    assert!((r.rows[0].mean.unwrap() - mean).abs() < 1e-3, "mean {} vs {mean}", r.rows[0].mean.unwrap());
    let archived = client.proofs(id).await.unwrap();
    assert_eq!(archived.len(), 4, "patients and moments of each node");
    for a in archived {
        a.verify().unwrap();
    }

    // Every value of a measure, with its standard deviation, is proven too (the number of values, their
    // sum and their sum of squares) and agrees with every glucose value in the FHIR files.
    let every =
        query(Cohort::Everyone, Some("2345-7"), Selection::All, vec![Aggregate::Mean, Aggregate::StdDev], false);
    let (id, r) = run_proven(&net, every).await;
    let all: Vec<f64> = per_node.iter().flat_map(|(_, ps)| ps.values().flat_map(|p| p.values_of("2345-7"))).collect();
    let (n, mean, sd) = expected::stats(&all);
    assert_eq!(r.rows[0].n.unwrap().released, n as u64, "{}", r.to_table());
    assert!((r.rows[0].mean.unwrap() - mean).abs() < 1e-3, "mean {} vs {mean}", r.rows[0].mean.unwrap());
    assert!((r.rows[0].sd.unwrap() - sd).abs() < 1e-3, "sd {} vs {sd}", r.rows[0].sd.unwrap());
    // Auditors get its proofs too: the sums of squares of committed (offset) values are far above 2^64,
    // beyond what a JSON value of serde's holds, and still verify offline.
    let archived = client.proofs(id).await.unwrap();
    assert_eq!(archived.len(), 4, "patients and moments of each node");
    let claims: Vec<agora_zk::Claim> = archived.iter().map(|a| a.verify().unwrap()).collect();
    let squares: Vec<u128> = claims.iter().filter_map(|c| c.sum_sq).collect();
    assert_eq!(squares.len(), 2, "{claims:?}");
    assert!(squares.iter().all(|q| *q > u128::from(u64::MAX)), "{squares:?}");
    let text = serde_json::to_string(&archived).unwrap();
    assert!(agora_zk::archive::Archived::all_from_json(&text).iter().all(|a| a.as_ref().unwrap().verify().is_ok()));

    // Ages: patients aged 40 and over by age band (40-64, 65+), computed from the FHIR birth dates
    // and proven over each node's committed birth months.
    let mut aged =
        query(Cohort::Age { min: Some(40), max: None }, None, Selection::Latest, vec![Aggregate::Count], false);
    aged.group_by.age_bands = Some(vec![65]);
    let (_, r) = run_proven(&net, aged).await;
    for (band, lo, hi) in [
        (None, 40, u32::MAX),
        (Some(AgeBand { lo: 0, hi: Some(65) }), 40, 65),
        (Some(AgeBand { lo: 65, hi: None }), 65, u32::MAX),
    ] {
        let per: Vec<u64> = per_node
            .iter()
            .map(|(_, t)| {
                t.values().filter(|p| p.age_on_new_year_2026().is_some_and(|a| a >= lo && a < hi)).count() as u64
            })
            .collect();
        assert!(per.iter().all(|n| *n >= 10), "every cell released: {per:?}");
        let row = r.rows.iter().find(|x| x.group.age_band == band && x.group.sex.is_none()).unwrap();
        assert_eq!(row.patients.released, per.iter().sum::<u64>(), "{band:?}: {}", r.to_table());
    }

    // A histogram of each patient's latest glucose is proven bin by bin and agrees with the FHIR files
    // (every node's bins above its threshold here).
    let edges = vec![Aggregate::Count, Aggregate::Histogram { edges: vec![100.0] }];
    let (_, r) = run_proven(&net, query(Cohort::Everyone, Some("2345-7"), Selection::Latest, edges, false)).await;
    let latest_of = |p: &expected::Patient| {
        p.values.iter().filter(|(c, _, _)| c == "2345-7").max_by(|a, b| a.1.cmp(&b.1)).map(|(_, _, v)| *v)
    };
    let bins = r.rows[0].histogram.clone().unwrap();
    for (i, (lo, hi)) in [(f64::NEG_INFINITY, 100.0), (100.0, f64::INFINITY)].into_iter().enumerate() {
        let per: Vec<u64> = per_node
            .iter()
            .map(|(_, t)| t.values().filter(|p| latest_of(p).is_some_and(|v| v >= lo && v < hi)).count() as u64)
            .collect();
        assert!(per.iter().all(|n| *n >= 10), "bin {i}: {per:?}");
        assert_eq!(bins[i].released, per.iter().sum::<u64>(), "bin {i}: {}", r.to_table());
    }

    // A histogram of every value is proven too (each bin counts the values in it).
    let edges = vec![Aggregate::Count, Aggregate::Histogram { edges: vec![100.0] }];
    let (_, r) = run_proven(&net, query(Cohort::Everyone, Some("2345-7"), Selection::All, edges, false)).await;
    let below = all.iter().filter(|v| **v < 100.0).count() as u64;
    let bins = r.rows[0].histogram.clone().unwrap();
    assert_eq!((bins[0].released, bins[1].released), (below, all.len() as u64 - below), "{}", r.to_table());

    // An observation criterion outside LOINC is not provable yet, and says so without a pending proof.
    let snomed = Cohort::Observation { code: Code::new(CodeSystem::SnomedCt, "271649006"), min: Some(1.0), max: None };
    let r = run(&net, query(snomed, None, Selection::Latest, vec![Aggregate::Count], false)).await;
    assert_eq!((r.proofs.unproven, r.proofs.pending), (2, 0), "{}", r.to_table());
    // Asking for proven answers only leaves nothing to combine here.
    let only = client.result_proven_only(r.query_id).await.unwrap();
    assert_eq!(only.rows.len(), 0, "{}", only.to_table());
}

/// A node whose data exceed its `prover_max_rows` commits them in chunks of whole patients (its hello
/// registers the chunk list; more than ten chunks here, `prover_max_chunks` raised) and proves each cell
/// over every chunk, its parts sent in runs of at most ten, a message each; the hub verifies each run as
/// it arrives, keeping it in its store, links each cell once its runs are in, and shows the answer
/// proven once every cell is; auditors get each cell whole as an archived answer over the chunks that
/// verifies offline. Counts come from the FHIR files.
#[tokio::test]
async fn a_node_above_its_row_cap_proves_over_chunks_and_the_hub_verifies_each_cell() {
    let net = TestNet::spawn(NetOptions {
        nodes: 1,
        patients_per_node: 80,
        node_env: vec![
            ("AGORA_NODE_PROVER_MAX_ROWS".into(), "300".into()),
            ("AGORA_NODE_PROVER_MAX_CHUNKS".into(), "64".into()),
        ],
        // The hub's PostgreSQL store where the suite provides one (scripts/test), else its SQLite.
        database_url: std::env::var("AGORA_TEST_POSTGRES_URL").ok().map(|admin| fresh_database(&admin)),
        ..NetOptions::default()
    })
    .await
    .unwrap();
    let truth = expected::patients(&net.nodes[0].synth_dir);
    let client = net.client().await.unwrap();
    // The commitment the hello registered names its chunks.
    let nodes = client.nodes().await.unwrap();
    let node = nodes.as_array().and_then(|n| n.first()).cloned().unwrap_or_default();
    let chunks = node["commitment"]["chunks"].as_array().map_or(0, Vec::len);
    assert!((11..=64).contains(&chunks), "{chunks} chunks: {nodes}");

    // Everyone and each sex, counted over the chunks.
    let q = query(Cohort::Everyone, None, Selection::Latest, vec![Aggregate::Count], true);
    let (id, r) = {
        let id = client.submit(q.clone(), Some("demo".into())).await.unwrap();
        client.wait(id, Duration::from_secs(30)).await.unwrap();
        (id, settled_proofs(&net, id).await)
    };
    assert_eq!((r.proofs.proven, r.proofs.pending, r.proofs.failed), (1, 0, 0), "{}", r.to_table());
    assert!(
        matches!(&r.nodes[0].proof, Some(agora_protocol::proof::ProofState::Proven { committed_before_query: true, root, .. }) if *root == node["commitment"]["root"]),
        "{:?}",
        r.nodes[0].proof
    );
    assert_eq!(r.rows[0].patients.released, truth.len() as u64, "{}", r.to_table());
    let by_sex = |sex: &str| truth.values().filter(|p| p.sex == sex).count() as u64;
    let mut released = vec![(None, truth.len() as u64)];
    for sex in [Sex::Female, Sex::Male] {
        if by_sex(sex.as_str()) >= 10 {
            released.push((Some(sex), by_sex(sex.as_str())));
            let row = r.rows.iter().find(|x| x.group.sex == Some(sex)).unwrap();
            assert_eq!(row.patients.released, by_sex(sex.as_str()), "{}", r.to_table());
        }
    }
    // Auditors: one archived answer over the chunks per proven cell, each verifying offline with the
    // count computed here.
    let archived = client.proofs(id).await.unwrap();
    assert_eq!(archived.len(), released.len(), "{archived:?}");
    let mut proven: Vec<u64> = Vec::new();
    for a in archived {
        let agora_zk::archive::Archived::Chunked(chunked) = &a else { panic!("not over chunks: {a:?}") };
        assert_eq!(chunked.dataset.len(), chunks);
        let claim = a.verify().unwrap();
        assert_eq!(claim.query, agora_protocol::proof::query_digest(id, &q));
        proven.push(claim.count);
    }
    let mut expected: Vec<u64> = released.iter().map(|(_, n)| *n).collect();
    proven.sort_unstable();
    expected.sort_unstable();
    assert_eq!(proven, expected);

    // The mean and standard deviation of every glucose value, over the chunks: the sum of squares too
    // (each part's masked, the last part recombining them), agreeing with the FHIR files, and its
    // archive (a sum of squares far above 2^64) verifying offline.
    let every =
        query(Cohort::Everyone, Some("2345-7"), Selection::All, vec![Aggregate::Mean, Aggregate::StdDev], false);
    let id = client.submit(every, Some("demo".into())).await.unwrap();
    client.wait(id, Duration::from_secs(30)).await.unwrap();
    let r = settled_proofs(&net, id).await;
    assert_eq!((r.proofs.proven, r.proofs.pending, r.proofs.failed), (1, 0, 0), "{}", r.to_table());
    let all: Vec<f64> = truth.values().flat_map(|p| p.values_of("2345-7")).collect();
    let (n, mean, sd) = expected::stats(&all);
    assert_eq!(r.rows[0].n.unwrap().released, n as u64, "{}", r.to_table());
    assert!((r.rows[0].mean.unwrap() - mean).abs() < 1e-3, "mean {} vs {mean}", r.rows[0].mean.unwrap());
    assert!((r.rows[0].sd.unwrap() - sd).abs() < 1e-3, "sd {} vs {sd}", r.rows[0].sd.unwrap());
    let archived = client.proofs(id).await.unwrap();
    assert_eq!(archived.len(), 2, "patients and moments");
    let squares: Vec<u128> = archived.iter().filter_map(|a| a.verify().unwrap().sum_sq).collect();
    assert!(squares.len() == 1 && squares[0] > u128::from(u64::MAX), "{squares:?}");
}

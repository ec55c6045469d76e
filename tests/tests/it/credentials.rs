//! Credentials across real processes: patients grant and revoke consent from a wallet (`agora-wallet`)
//! and the counts a researcher sees change; diagnosis credentials; nodes without a valid NodeCredential
//! are not admitted; a hub that issues as a did:web, resolved by the nodes over HTTP.

use agora_protocol::combined::ResultStatus;
use agora_protocol::proof::ProofState;
use agora_protocol::{Aggregate, Cell, Cohort, GroupBy, Query};
use agora_tests::{bin, NetOptions, TestNet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn count() -> Query {
    Query {
        version: 1,
        cohort: Cohort::Everyone,
        measure: None,
        aggregates: vec![Aggregate::Count],
        group_by: GroupBy::default(),
        reference_date: time::macros::date!(2026 - 01 - 01),
    }
}

async fn total(net: &TestNet, purpose: &str) -> Cell {
    total_and_proof(net, purpose).await.0
}

/// The node's count for `purpose`, and its proof once settled.
async fn total_and_proof(net: &TestNet, purpose: &str) -> (Cell, Option<ProofState>) {
    let client = net.client().await.unwrap();
    let id = client.submit(count(), Some(purpose.into())).await.unwrap();
    let r = client.wait(id, Duration::from_secs(30)).await.unwrap();
    assert_eq!(r.status, ResultStatus::Complete, "{r:?}");
    let cell = match &r.nodes[0].state {
        agora_protocol::combined::NodeState::Answered { answer } => answer.total().unwrap().patients,
        other => panic!("{other:?}"),
    };
    (cell, crate::federation::settled_proofs(net, id).await.nodes[0].proof.clone())
}

fn wallet(args: &[&str]) -> std::process::Output {
    Command::new(bin("agora-wallet").unwrap()).args(args).output().unwrap()
}

fn ok(out: std::process::Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn patient_ids(synth: &Path) -> Vec<String> {
    std::fs::read_to_string(synth.join("Patient.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn consent_from_wallets_changes_what_researchers_can_count() {
    let net = TestNet::spawn(NetOptions {
        nodes: 1,
        patients_per_node: 30,
        node_env: vec![("AGORA_NODE_POLICY__CONSENT_PURPOSES".into(), "[\"study-7\"]".into())],
        ..NetOptions::default()
    })
    .await
    .unwrap();
    let node = &net.nodes[0];
    // Without consent, a consent-bound purpose counts no one (suppressed); another purpose counts everyone.
    assert_eq!(total(&net, "study-7").await, Cell::Suppressed);
    assert_eq!(total(&net, "demo").await, Cell::Value(30));

    // Twelve patients get a ConsentCredential in their wallets and grant it.
    let dir = net.root.join("wallets");
    std::fs::create_dir_all(&dir).unwrap();
    let mut wallets = Vec::new();
    for (i, patient) in patient_ids(&node.synth_dir).iter().take(12).enumerate() {
        let key = dir.join(format!("patient-{i}.key"));
        let did = ok(wallet(&["keygen", "--out", key.to_str().unwrap()]));
        let vc = dir.join(format!("patient-{i}.consent.json"));
        let format = if i % 2 == 0 { "di" } else { "jwt" };
        let out = vc.display().to_string();
        let args = [
            "issue",
            "consent",
            "--patient",
            patient,
            "--holder",
            &did,
            "--purpose",
            "study-7",
            "--format",
            format,
            "--out",
            &out,
        ];
        net.node_cli(node, &args).await.unwrap();
        let granted = ok(wallet(&[
            "grant",
            "--node",
            &node.http,
            "--key",
            key.to_str().unwrap(),
            "--credential",
            vc.to_str().unwrap(),
        ]));
        let granted: serde_json::Value = serde_json::from_str(&granted).unwrap();
        assert_eq!((granted["status"].as_str(), granted["purpose"].as_str()), (Some("granted"), Some("study-7")));
        wallets.push((key, vc));
    }
    // Proven over the consenting patients: the node commits each consent with its end, and the hub
    // checks the count against the consent criterion at the time the answer states (the query's run).
    let (cell, proof) = total_and_proof(&net, "study-7").await;
    assert_eq!(cell, Cell::Value(12));
    let proven = matches!(&proof, Some(ProofState::Proven { consented_to: Some(p), .. }) if p == "study-7");
    assert!(proven, "{proof:?}");
    let (cell, proof) = total_and_proof(&net, "demo").await;
    assert_eq!(cell, Cell::Value(30));
    assert!(matches!(&proof, Some(ProofState::Proven { consented_to: None, .. })), "{proof:?}");

    // Three revoke: 9 is below the threshold of 10, so the count is suppressed again.
    for (key, vc) in &wallets[..3] {
        let out = ok(wallet(&[
            "revoke",
            "--node",
            &node.http,
            "--key",
            key.to_str().unwrap(),
            "--credential",
            vc.to_str().unwrap(),
        ]));
        assert!(out.contains("\"revoked\""), "{out}");
    }
    // The revocations made a new data version: the suppressed count is proven below the threshold over
    // a snapshot without the revoked consents (with them, 12 would not be below 10).
    let (cell, proof) = total_and_proof(&net, "study-7").await;
    assert_eq!(cell, Cell::Suppressed);
    let proven = matches!(&proof, Some(ProofState::Proven { consented_to: Some(p), .. }) if p == "study-7");
    assert!(proven, "{proof:?}");

    // A revoked credential cannot grant again; another wallet cannot present someone's credential.
    let (key, vc) = &wallets[0];
    let out =
        wallet(&["grant", "--node", &node.http, "--key", key.to_str().unwrap(), "--credential", vc.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("revoked"), "{}", String::from_utf8_lossy(&out.stderr));
    let (other_key, _) = &wallets[5];
    let out = wallet(&[
        "grant",
        "--node",
        &node.http,
        "--key",
        other_key.to_str().unwrap(),
        "--credential",
        wallets[6].1.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only its subject may present it"));

    // A presentation cannot be replayed: its challenge is used up.
    let http = reqwest::Client::new();
    let challenge: serde_json::Value =
        http.post(format!("{}/v1/consent/challenge", node.http)).send().await.unwrap().json().await.unwrap();
    let vp = ok(wallet(&[
        "present",
        "--key",
        wallets[4].0.to_str().unwrap(),
        "--credential",
        wallets[4].1.to_str().unwrap(),
        "--challenge",
        challenge["challenge"].as_str().unwrap(),
        "--domain",
        challenge["domain"].as_str().unwrap(),
    ]));
    let body = serde_json::json!({ "presentation": vp });
    let first = http.post(format!("{}/v1/consent", node.http)).json(&body).send().await.unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let again = http.post(format!("{}/v1/consent", node.http)).json(&body).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 403);
    let why: serde_json::Value = again.json().await.unwrap();
    assert!(why["error"].as_str().unwrap().contains("challenge"), "{why}");
    // Malformed bodies get a clear 400.
    let bad = http.post(format!("{}/v1/consent", node.http)).body("{not json").send().await.unwrap();
    assert_eq!(bad.status().as_u16(), 400);

    // The node's published revocation list verifies and shows exactly the three revocations.
    let list: serde_json::Value =
        http.get(format!("{}/v1/status/consent", node.http)).send().await.unwrap().json().await.unwrap();
    let verified = agora_did::credential::Verifier::default().credential(&list).await.unwrap();
    let bits = agora_did::StatusList::decode(verified.claim_str("encodedList").unwrap()).unwrap();
    let revoked: Vec<u64> = (0..20).filter(|i| bits.is_revoked(*i)).collect();
    assert_eq!(revoked, vec![0, 1, 2]);

    // A DiagnosisCredential is issued only for a condition on the record.
    let (patient, code) = recorded_condition(&node.synth_dir);
    let did = ok(wallet(&["keygen", "--out", dir.join("dx.key").to_str().unwrap()]));
    let dx = net
        .node_cli(node, &["issue", "diagnosis", "--patient", &patient, "--holder", &did, "--condition", &code])
        .await
        .unwrap();
    let vc_file = dir.join("dx.json");
    std::fs::write(&vc_file, &dx).unwrap();
    let shown: serde_json::Value = serde_json::from_str(&ok(wallet(&["verify", vc_file.to_str().unwrap()]))).unwrap();
    assert_eq!(shown["kind"], "DiagnosisCredential");
    assert_eq!(shown["claims"]["condition"], code);
    let err = net
        .node_cli(
            node,
            &["issue", "diagnosis", "--patient", &patient, "--holder", &did, "--condition", "icd10cm:Z99.89"],
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no recorded condition"), "{err}");
    let err = net
        .node_cli(node, &["issue", "consent", "--patient", "no-such-patient", "--holder", &did, "--purpose", "x"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no patient with that FHIR id"), "{err}");
    // A consent narrower than all of the patient's data is a promise the query engine does not keep.
    let err = net
        .node_cli(
            node,
            &["issue", "consent", "--patient", &patient, "--holder", &did, "--purpose", "x", "--scope", "conditions"],
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("a scope without measurements is not kept"), "{err}");
}

/// A patient of a synthetic directory and one of their ICD-10-CM conditions (read straight from the files).
fn recorded_condition(synth: &Path) -> (String, String) {
    let text = std::fs::read_to_string(synth.join("Condition.ndjson")).unwrap();
    let c: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let patient = c["subject"]["reference"].as_str().unwrap().trim_start_matches("Patient/").to_string();
    let code = c["code"]["coding"][0]["code"].as_str().unwrap();
    (patient, format!("icd10cm:{code}"))
}

#[tokio::test]
async fn nodes_without_a_valid_node_credential_are_not_admitted() {
    let net = TestNet::spawn(NetOptions { nodes: 1, patients_per_node: 0, ..NetOptions::default() }).await.unwrap();
    // A second node with no credential dials in and is refused.
    let bare = net
        .add_node(1, &NetOptions { patients_per_node: 0, node_credentials: false, ..NetOptions::default() })
        .await
        .unwrap();
    // A third installs the first node's credential by hand (the CLI would refuse it) and is refused too.
    let stolen = std::fs::read(net.nodes[0].data_dir.join("node-credential.json")).unwrap();
    let mut third = net
        .add_node(2, &NetOptions { patients_per_node: 0, node_credentials: false, ..NetOptions::default() })
        .await
        .unwrap();
    let copy = net.root.join("stolen.vc.json");
    std::fs::write(&copy, &stolen).unwrap();
    let err = net.node_cli(&third, &["credential", "install", copy.to_str().unwrap()]).await.unwrap_err();
    assert!(err.to_string().contains("not this node"), "{err}");
    std::fs::write(third.data_dir.join("node-credential.json"), &stolen).unwrap();
    net.kill_node_proc(&mut third).await.unwrap();
    net.start_node(&mut third).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let health: serde_json::Value =
        reqwest::get(format!("{}/v1/health", net.hub_url())).await.unwrap().json().await.unwrap();
    assert_eq!(health["nodes"], 1, "only the credentialed node is admitted");
    let logs = net.logs().unwrap();
    assert!(logs.contains("presented no NodeCredential"), "the hub says why");
    assert!(logs.contains("only its subject may present it"), "the hub says why");
    drop(bare);
}

#[tokio::test]
async fn a_did_web_hub_is_resolved_by_its_nodes() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let did = format!("did:web:127.0.0.1%3A{port}");
    let net = TestNet::spawn(NetOptions {
        nodes: 2,
        patients_per_node: 15,
        hub_env: vec![
            ("AGORA_HUB_HTTP_LISTEN".into(), format!("127.0.0.1:{port}")),
            ("AGORA_HUB_DID_WEB".into(), did.clone()),
        ],
        node_env: vec![("AGORA_NODE_HUB_DID".into(), did.clone())],
        ..NetOptions::default()
    })
    .await
    .unwrap();
    assert_eq!(net.ready.did, did);
    let doc: serde_json::Value =
        reqwest::get(format!("{}/.well-known/did.json", net.hub_url())).await.unwrap().json().await.unwrap();
    assert_eq!(doc["id"], did);
    // The nodes verify the researcher's credential, issued by the did:web, resolving it over HTTP.
    let client = net.client().await.unwrap();
    let id = client.submit(count(), Some("demo".into())).await.unwrap();
    let r = client.wait(id, Duration::from_secs(30)).await.unwrap();
    assert_eq!((r.status, r.rows[0].patients.released), (ResultStatus::Complete, 30), "{r:?}");
}

//! No identifying field of the input (names, full birth dates, identifiers) appears in any log line of
//! any process, in any message a node sent (the hub archives every one), or in what researchers see.

use agora_protocol::{Aggregate, Cohort, GroupBy, Measure, Query, Selection};
use agora_tests::{NetOptions, TestNet};
use std::time::Duration;

fn identifying_strings(synth: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let text = std::fs::read_to_string(synth.join("Patient.ndjson")).unwrap();
    for line in text.lines() {
        let p: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(b) = p["birthDate"].as_str() {
            out.push(b.to_string());
        }
        for n in p["name"].as_array().into_iter().flatten() {
            if let Some(f) = n["family"].as_str() {
                out.push(f.to_string());
            }
            for g in n["given"].as_array().into_iter().flatten() {
                out.push(g.as_str().unwrap().to_string());
            }
        }
        for i in p["identifier"].as_array().into_iter().flatten() {
            out.push(i["value"].as_str().unwrap().to_string());
        }
    }
    out.retain(|s| s.len() >= 4);
    assert!(out.len() > 50, "the synthetic patients carry names, birth dates and identifiers");
    out
}

#[tokio::test]
async fn no_identifying_data_in_logs_or_on_the_wire() {
    let net = TestNet::spawn(NetOptions {
        nodes: 2,
        patients_per_node: 60,
        node_env: vec![("AGORA_LOG".into(), "debug".into())],
        hub_env: vec![("AGORA_LOG".into(), "debug".into())],
        ..NetOptions::default()
    })
    .await
    .unwrap();
    let client = net.client().await.unwrap();
    let mut seen = String::new();
    for q in [
        Query {
            version: 1,
            cohort: Cohort::Everyone,
            measure: Some(Measure {
                code: agora_protocol::Code::new(agora_protocol::CodeSystem::Loinc, "2345-7"),
                selection: Selection::All,
            }),
            aggregates: vec![
                Aggregate::Count,
                Aggregate::Mean,
                Aggregate::StdDev,
                Aggregate::Histogram { edges: vec![100.0, 126.0] },
            ],
            group_by: GroupBy { sex: true, age_bands: Some(vec![40, 65]) },
            reference_date: time::macros::date!(2026 - 01 - 01),
        },
        Query {
            version: 1,
            cohort: Cohort::Condition { code: "icd10cm:E11*".parse().unwrap() },
            measure: None,
            aggregates: vec![Aggregate::Count],
            group_by: GroupBy::default(),
            reference_date: time::macros::date!(2026 - 01 - 01),
        },
    ] {
        let id = client.submit(q, Some("demo".into())).await.unwrap();
        let r = client.wait(id, Duration::from_secs(30)).await.unwrap();
        seen.push_str(&serde_json::to_string(&r).unwrap());
    }
    let mut haystacks = vec![("logs", net.logs().unwrap()), ("results", seen)];
    // Everything the nodes sent (hellos, answers) is archived in the hub's store: read its files raw.
    let mut hub_db = Vec::new();
    for e in std::fs::read_dir(net.root.join("hub")).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("hub.db") {
            hub_db.extend(std::fs::read(&p).unwrap());
        }
    }
    haystacks.push(("hub store", String::from_utf8_lossy(&hub_db).into_owned()));
    assert!(haystacks[0].1.contains("query answered"), "the logs were captured");
    for node in &net.nodes {
        for needle in identifying_strings(&node.synth_dir) {
            for (what, hay) in &haystacks {
                assert!(!hay.contains(&needle), "identifying string `{needle}` found in {what}");
            }
        }
    }
}

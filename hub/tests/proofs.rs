//! The hub's check of node proofs and its combination around them: honest proofs are proven, every
//! forged or mismatched one fails with its reason and its answer leaves the combination. The proofs are
//! real (agora-zk's prover over a snapshot this test lays out); expected counts are counted here.

use agora_hub::authority::Authority;
use agora_hub::coordinator::{
    assemble, assemble_with, check_chunked_links, check_chunked_run, check_proofs, statement_mismatch,
    with_statement_hint, Coordinator, CoordinatorConfig, Population,
};
use agora_hub::store::HubStore;
use agora_hub::store::{NodePart, QueryRecord};
use agora_protocol::answer::{AnswerRow, Cell, GroupKey, Moments, NodeAnswer};
use agora_protocol::combined::{NodeState, ResultStatus};
use agora_protocol::envelope::{Header, Signed};
use agora_protocol::proof::{
    consent_code, consent_until, plan, query_digest, row_code, ChunkCommitment, ChunkProof, ChunkedCell,
    DatasetCommitment, Plan, ProofMessage, ProofOutcome, ProofState, ProvenCell,
};
use agora_protocol::{Aggregate, CodeMatch, CodeSystem, Cohort, Consented, GroupBy, Query, Sex};
use agora_zk::prove::{Row, Snapshot, Statement};
use base64::Engine;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[path = "common/chunked.rs"]
mod chunked;
mod common;
use chunked::prove_chunks;

fn query(cohort: Cohort) -> Query {
    Query {
        version: 1,
        cohort,
        measure: None,
        aggregates: vec![Aggregate::Count],
        group_by: GroupBy::default(),
        reference_date: time::macros::date!(2026 - 01 - 01),
    }
}

fn e11() -> Cohort {
    Cohort::Condition { code: CodeMatch { system: CodeSystem::Icd10Cm, code: "E11.9".into(), prefix: false } }
}

/// 40 persons, even ones female (20), odd ones male (20); persons 0..23 have E11.9 (23: 12 female, 11
/// male), persons 30..35 have I10 (5).
fn snapshot(data_version: u64, seed: u8) -> (Snapshot, DatasetCommitment) {
    let s = Snapshot::build(blocks(), [seed; 32]).unwrap();
    let c = s.commitment();
    let commitment = DatasetCommitment {
        version: c.version,
        trace_length: c.trace_length,
        root: c.root.clone(),
        data_version,
        chunks: Vec::new(),
    };
    (s, commitment)
}

/// The blocks of [`snapshot`].
fn blocks() -> Vec<Vec<Row>> {
    let mut blocks = Vec::new();
    for p in 0..40 {
        let sex = if p % 2 == 0 { "female" } else { "male" };
        let mut block = vec![Row::attribute(row_code(&["person"])), Row::attribute(row_code(&["sex", sex]))];
        if p < 23 {
            block.push(Row::attribute(row_code(&["condition", "icd10cm", "E11.9"])));
        }
        if (30..35).contains(&p) {
            block.push(Row::attribute(row_code(&["condition", "icd10cm", "I10"])));
        }
        // Even persons below 23 consent to purpose "s" until 2,000,000,000 (Unix seconds); person 1's
        // consent ended at 100.
        if p % 2 == 0 && p < 23 {
            block.push(Row { code: consent_code("s"), value: consent_until(Some(2_000_000_000)) });
        }
        if p == 1 {
            block.push(Row { code: consent_code("s"), value: consent_until(Some(100)) });
        }
        // Every even person has a latest glucose of (p - 10) mg/dL, in thousandths, offset by 2^31.
        if p % 2 == 0 {
            let value = u32::try_from((p - 10) * 1000 + (1i64 << 31)).unwrap();
            block.push(Row { code: row_code(&["latest", "loinc", "2345-7"]), value });
        }
        blocks.push(block);
    }
    blocks
}

fn answer(query_id: Uuid, patients: Cell) -> NodeAnswer {
    NodeAnswer {
        query_id,
        threshold: 10,
        unit: None,
        data_version: 7,
        rows: vec![AnswerRow { group: GroupKey::TOTAL, patients, moments: None, histogram: None }],
        exec_micros: 1,
        consented: None,
    }
}

/// The node's side: one proof per target of the plan, as agora-node makes them.
fn prove(s: &Snapshot, query_id: Uuid, q: &Query, answer: &NodeAnswer) -> Vec<ProvenCell> {
    prove_plan(s, query_id, q, answer, plan(q).unwrap())
}

/// As [`prove`], for the targets of `plan`.
fn prove_plan(s: &Snapshot, query_id: Uuid, q: &Query, answer: &NodeAnswer, plan: Plan) -> Vec<ProvenCell> {
    plan.targets(answer)
        .into_iter()
        .map(|t| {
            let criteria = t.criteria.iter().map(agora_hub::coordinator::criterion).collect();
            let statement = Statement {
                criteria,
                measure: t.measure,
                squares: false,
                measure_range: t.measure_range.map(|(min, max)| agora_zk::air::Range { min, max }),
                threshold: 10,
            };
            let (_, proof) = s.prove(query_digest(query_id, q), &statement).unwrap();
            ProvenCell { part: t.part, group: t.group, proof: base64::engine::general_purpose::STANDARD.encode(proof) }
        })
        .collect()
}

fn failed(state: ProofState, expect: &str) {
    match state {
        ProofState::Failed { reason } => assert!(reason.contains(expect), "`{reason}` should say `{expect}`"),
        other => panic!("expected a failure saying `{expect}`, got {other:?}"),
    }
}

#[test]
fn honest_proofs_are_proven_and_forged_ones_fail_with_their_reason() {
    let (s, commitment) = snapshot(7, 1);
    let id = Uuid::new_v4();
    let q = query(e11());
    // Honest: 23 patients with E11.9, counted above.
    let honest = answer(id, Cell::Value(23));
    let cells = prove(&s, id, &q, &honest);

    let state = check_proofs(id, &q, &honest, &commitment, &cells, Ok(Population::Everyone));
    assert_eq!(
        state,
        ProofState::Proven {
            root: commitment.root.clone(),
            data_version: 7,
            committed_before_query: false,
            consented_to: None
        }
    );

    // The answer claims another count than the proof shows.
    failed(
        check_proofs(id, &q, &answer(id, Cell::Value(24)), &commitment, &cells, Ok(Population::Everyone)),
        "patients (all):",
    );
    failed(
        check_proofs(id, &q, &answer(id, Cell::Suppressed), &commitment, &cells, Ok(Population::Everyone)),
        "patients (all):",
    );
    // The proof was made for another query (id or cohort).
    let other = Uuid::new_v4();
    failed(
        check_proofs(other, &q, &answer(other, Cell::Value(23)), &commitment, &cells, Ok(Population::Everyone)),
        "patients (all):",
    );
    let everyone = query(Cohort::Everyone);
    failed(
        check_proofs(id, &everyone, &answer(id, Cell::Value(23)), &commitment, &cells, Ok(Population::Everyone)),
        "patients (all):",
    );
    // Against another snapshot's commitment (a fresh seed over the same rows), or stale data.
    let (_, foreign) = snapshot(7, 2);
    failed(check_proofs(id, &q, &honest, &foreign, &cells, Ok(Population::Everyone)), "not the committed");
    let stale = DatasetCommitment { data_version: 6, ..commitment.clone() };
    failed(check_proofs(id, &q, &honest, &stale, &cells, Ok(Population::Everyone)), "data version 6");
    // Damaged or misshapen.
    let mut cut = cells.clone();
    let half = (cut[0].proof.len() / 2) & !3;
    cut[0].proof.truncate(half);
    failed(check_proofs(id, &q, &honest, &commitment, &cut, Ok(Population::Everyone)), "patients (all):");
    let mut garbled = cells.clone();
    garbled[0].proof.insert(5, '!');
    failed(check_proofs(id, &q, &honest, &commitment, &garbled, Ok(Population::Everyone)), "not base64");
    let doubled = [cells.clone(), cells.clone()].concat();
    failed(
        check_proofs(id, &q, &honest, &commitment, &doubled, Ok(Population::Everyone)),
        "2 proofs for an answer with 1 cells",
    );
    failed(check_proofs(id, &q, &honest, &commitment, &[], Ok(Population::Everyone)), "0 proofs");
}

/// An answer over the patients consenting to the query's purpose is checked against the consent
/// criterion at the time the answer states (between the query's sending and the answer's signing), and
/// only for the query's own purpose.
#[test]
fn consented_answers_are_checked_over_the_consenting_patients() {
    let (s, commitment) = snapshot(7, 4);
    let id = Uuid::new_v4();
    let q = query(e11());
    let at = 1_900_000_000;
    let consented = || plan(&q).unwrap().consented("s", at).unwrap();
    // Even persons below 23 have E11.9 and an active consent: 12; person 1's consent has ended.
    let honest = answer(id, Cell::Value(12));
    let cells = prove_plan(&s, id, &q, &honest, consented());
    let population = || Ok(Population::ConsentedTo { purpose: "s".into(), at });
    let state = check_proofs(id, &q, &honest, &commitment, &cells, population());
    assert!(matches!(&state, ProofState::Proven { consented_to: Some(p), .. } if p == "s"), "{state:?}");
    assert!(state.label().contains("patients consenting to s"), "{}", state.label());
    // Another count, everyone, a later time (the consents have ended) or another purpose: refused.
    failed(check_proofs(id, &q, &answer(id, Cell::Value(13)), &commitment, &cells, population()), "patients (all):");
    failed(check_proofs(id, &q, &honest, &commitment, &cells, Ok(Population::Everyone)), "shape");
    let later = Ok(Population::ConsentedTo { purpose: "s".into(), at: 2_000_000_000 });
    failed(check_proofs(id, &q, &honest, &commitment, &cells, later), "patients (all):");
    let other = Ok(Population::ConsentedTo { purpose: "t".into(), at });
    failed(check_proofs(id, &q, &honest, &commitment, &cells, other), "patients (all):");
    // The population the answer states must be the query's purpose, at a time between the query's
    // submission and the check.
    let record = QueryRecord {
        query_id: id,
        researcher: "ada".into(),
        purpose: Some("s".into()),
        query: q.clone(),
        submitted_at: at - 10,
        deadline_at: at + 60,
        status: ResultStatus::Complete,
    };
    let stating = |purpose: &str, when: i64| NodeAnswer {
        consented: Some(Consented { purpose: purpose.into(), at: when }),
        ..honest.clone()
    };
    assert_eq!(Population::of(&record, &stating("s", at), at + 5), population());
    assert_eq!(Population::of(&record, &honest, at + 5), Ok(Population::Everyone));
    let before = Population::of(&record, &stating("s", at - 100), at + 5);
    assert!(before.as_ref().unwrap_err().contains("outside the query's time"), "{before:?}");
    let after = Population::of(&record, &stating("s", at + 100), at + 5);
    assert!(after.as_ref().unwrap_err().contains("outside the query's time"), "{after:?}");
    let foreign = Population::of(&record, &stating("t", at), at + 5);
    failed(check_proofs(id, &q, &honest, &commitment, &cells, foreign), "another purpose than the query's");
    // The window's edges, each within the allowed clock difference (30 s) of the query's sending
    // (at - 10) and of the answer's signing (here at + 5).
    let skew = agora_protocol::envelope::CLOCK_SKEW_SECS;
    assert_eq!(skew, 30);
    let stated = |when: i64| Population::stated(Some("s"), at - 10, &stating("s", when), at + 5);
    assert!(stated(at - 40).is_ok() && stated(at + 35).is_ok());
    assert!(stated(at - 41).is_err() && stated(at + 36).is_err());
    assert!(Population::stated(None, at - 10, &stating("s", at), at + 5).is_err(), "a query without a purpose");

    // The researcher's table says whom each node counted, and notes a mix.
    let part = |name: &str, answer: NodeAnswer| NodePart {
        peer_id: format!("peer-{name}"),
        node_name: name.into(),
        state: NodeState::Answered { answer },
        proof: None,
    };
    let table = assemble(record, vec![part("a", stating("s", at)), part("b", honest.clone())]).to_table();
    assert!(table.contains("12 patients (only those consenting to s at 2030-03-17T17:46:40Z)"), "{table}");
    assert!(table.contains("note: some nodes counted only consenting patients, others every patient"), "{table}");
}

#[test]
fn a_suppressed_cell_is_proven_below_the_threshold() {
    let (s, commitment) = snapshot(7, 3);
    let id = Uuid::new_v4();
    let i10 =
        query(Cohort::Condition { code: CodeMatch { system: CodeSystem::Icd10Cm, code: "I10".into(), prefix: false } });
    let cells = prove(&s, id, &i10, &answer(id, Cell::Suppressed));
    let state = check_proofs(id, &i10, &answer(id, Cell::Suppressed), &commitment, &cells, Ok(Population::Everyone));
    assert!(matches!(state, ProofState::Proven { .. }), "{state:?}");
    // Claiming the (true) count 5 as released does not verify against a suppressed proof.
    failed(
        check_proofs(id, &i10, &answer(id, Cell::Value(5)), &commitment, &cells, Ok(Population::Everyone)),
        "patients (all):",
    );
}

/// A cohort of two criteria grouped by sex: the whole cohort and each released sex group are proven;
/// suppressed groups carry no proof; a forged, missing or misplaced group proof fails, naming the group.
#[test]
fn conjunctions_and_sex_groups_are_proven_cell_by_cell() {
    let (s, commitment) = snapshot(7, 4);
    let id = Uuid::new_v4();
    let i10 = Cohort::Condition { code: CodeMatch { system: CodeSystem::Icd10Cm, code: "I10".into(), prefix: false } };
    let mut q = query(Cohort::All { of: vec![e11(), Cohort::Not { of: Box::new(i10) }] });
    q.group_by.sex = true;
    let row = |sex: Option<Sex>, patients| AnswerRow {
        group: GroupKey { sex, age_band: None },
        patients,
        moments: None,
        histogram: None,
    };
    // E11.9 without I10 (persons 0..23; none of 30..35): 23, of them 12 female and 11 male.
    let mut honest = answer(id, Cell::Value(23));
    honest.rows.extend([
        row(Some(Sex::Female), Cell::Value(12)),
        row(Some(Sex::Male), Cell::Value(11)),
        row(Some(Sex::Other), Cell::Suppressed),
        row(Some(Sex::Unknown), Cell::Suppressed),
    ]);
    let cells = prove(&s, id, &q, &honest);
    assert_eq!(cells.len(), 3, "the whole cohort and two released groups");
    assert!(matches!(
        check_proofs(id, &q, &honest, &commitment, &cells, Ok(Population::Everyone)),
        ProofState::Proven { .. }
    ));

    let mut forged = honest.clone();
    forged.rows[1].patients = Cell::Value(13);
    failed(check_proofs(id, &q, &forged, &commitment, &cells, Ok(Population::Everyone)), "patients (female)");
    let swapped = vec![cells[0].clone(), cells[2].clone(), cells[1].clone()];
    failed(
        check_proofs(id, &q, &honest, &commitment, &swapped, Ok(Population::Everyone)),
        "proofs for an answer with 3 cells",
    );
    let mut relabelled = swapped.clone();
    relabelled[1].group = cells[1].group;
    relabelled[2].group = cells[2].group;
    failed(check_proofs(id, &q, &honest, &commitment, &relabelled, Ok(Population::Everyone)), "patients (female)");
    failed(
        check_proofs(id, &q, &honest, &commitment, &cells[..2], Ok(Population::Everyone)),
        "2 proofs for an answer with 3 cells",
    );
    // A released group the node would rather not prove cannot be passed off as suppressed: the cell
    // then is not combined (and a suppressed group needs no proof).
    let mut hidden = honest.clone();
    hidden.rows[2].patients = Cell::Suppressed;
    failed(check_proofs(id, &q, &hidden, &commitment, &cells, Ok(Population::Everyone)), "2 cells");
}

/// The mean of a measure over a cohort: its number of values and their sum are proven; a forged sum,
/// or one no committed values could give, fails and names the moments.
/// The count and mean of the latest glucose over E11.9, and the values [`blocks`] writes for it: persons
/// 0..23 with E11.9, the even ones with a value of p - 10 mg/dL (0, 2, ..., 22: 12 values).
fn e11_glucose_mean() -> (Query, Vec<i64>) {
    let mut q = query(e11());
    q.aggregates = vec![Aggregate::Count, Aggregate::Mean];
    q.measure = Some(agora_protocol::Measure {
        code: agora_protocol::Code::new(CodeSystem::Loinc, "2345-7"),
        selection: agora_protocol::Selection::Latest,
    });
    (q, (0..23).filter(|p| p % 2 == 0).map(|p| (p - 10) * 1000).collect())
}

#[test]
fn the_moments_behind_a_mean_are_proven() {
    let (s, commitment) = snapshot(7, 5);
    let id = Uuid::new_v4();
    let (q, values) = e11_glucose_mean();
    let moments = |n: u64, sum: i64| Moments::Released { n, sum, sum_sq: 0 };
    let mut honest = answer(id, Cell::Value(23));
    honest.rows[0].moments = Some(moments(values.len() as u64, values.iter().sum()));
    let cells = prove(&s, id, &q, &honest);
    assert_eq!(cells.len(), 2);
    let state = check_proofs(id, &q, &honest, &commitment, &cells, Ok(Population::Everyone));
    assert!(matches!(state, ProofState::Proven { .. }), "{state:?}");
    let mut forged = honest.clone();
    forged.rows[0].moments = Some(moments(values.len() as u64, values.iter().sum::<i64>() + 1));
    failed(
        check_proofs(id, &q, &forged, &commitment, &cells, Ok(Population::Everyone)),
        "moments (all): proof does not verify",
    );
    forged.rows[0].moments = Some(moments(values.len() as u64, i64::MIN));
    failed(
        check_proofs(id, &q, &forged, &commitment, &cells, Ok(Population::Everyone)),
        "outside what committed values can give",
    );
}

#[test]
fn answers_whose_proof_failed_leave_the_combination() {
    let id = Uuid::new_v4();
    let record = QueryRecord {
        query_id: id,
        researcher: "ada".into(),
        purpose: None,
        query: query(e11()),
        submitted_at: 0,
        deadline_at: 1,
        status: ResultStatus::Complete,
    };
    let part = |name: &str, count: u64, proof: Option<ProofState>| NodePart {
        peer_id: format!("peer-{name}"),
        node_name: name.into(),
        state: NodeState::Answered { answer: answer(id, Cell::Value(count)) },
        proof,
    };
    let proven = || {
        Some(ProofState::Proven {
            root: "ab".into(),
            data_version: 7,
            committed_before_query: true,
            consented_to: None,
        })
    };
    let parts = vec![
        part("a", 23, proven()),
        part("b", 1000, Some(ProofState::Failed { reason: "patients: the count does not verify".into() })),
        part("c", 12, None),
    ];
    let result = assemble(record.clone(), parts);
    assert_eq!(result.rows[0].patients.released, 23 + 12, "the failed answer is left out");
    assert_eq!((result.proofs.proven, result.proofs.failed, result.proofs.pending), (1, 1, 1));
    assert_eq!(result.nodes[2].proof, Some(ProofState::Pending));
    let table = result.to_table();
    assert!(table.contains("PROOF FAILED (patients: the count does not verify): excluded"), "{table}");
    assert!(table.contains("proof pending"), "{table}");

    // Proven answers only: the pending one is listed but not added.
    let only = assemble_with(record.clone(), vec![part("a", 23, proven()), part("c", 12, None)], true);
    assert_eq!(only.rows[0].patients.released, 23);
    assert!(only.proven_only && only.to_table().contains("combining proven answers only"));

    // A query of a kind not provable yet: every answer counts and says why it has no proof.
    let snomed = agora_protocol::Code::new(agora_protocol::CodeSystem::SnomedCt, "271649006");
    let mean = Query {
        cohort: agora_protocol::Cohort::Observation { code: snomed, min: Some(1.0), max: None },
        ..record.query.clone()
    };
    let result = assemble(QueryRecord { query: mean, ..record }, vec![part("a", 23, None)]);
    assert_eq!(result.proofs.unproven, 1);
    assert!(
        matches!(&result.nodes[0].proof, Some(ProofState::Unproven { reason }) if reason == "not provable yet: observation value criteria outside LOINC")
    );
}

/// A proof message with every proof an answer can need, each at the format's 250 KB target in base64,
/// fits the hub's limit, which fits the wire's frame.
#[test]
fn the_largest_proof_message_fits_the_limits() {
    use agora_hub::coordinator::MAX_PROOF_MESSAGE;
    let base64_proof = 250_000usize.div_ceil(3) * 4;
    let needed = agora_protocol::proof::MAX_PROOFS_PER_ANSWER * (base64_proof + 64) + 4096;
    assert!(needed <= MAX_PROOF_MESSAGE, "{needed} > {MAX_PROOF_MESSAGE}");
    // A run of a cell's parts over the most chunks: a part per chunk, at most MAX_PARTS_PER_MESSAGE
    // (its proof, masked outputs and links as JSON numbers: about 200 bytes), and the commitment's
    // chunk list (about 100 bytes a chunk).
    let (parts, chunks) = (agora_protocol::proof::MAX_PARTS_PER_MESSAGE, agora_protocol::proof::MAX_CHUNKS_PER_DATASET);
    let needed = parts * (base64_proof + 64 + 200) + chunks * 100 + 4096;
    assert!(needed <= MAX_PROOF_MESSAGE, "{needed} > {MAX_PROOF_MESSAGE}");
    // The signed envelope wraps the body (a JSON string: quotes escaped) with a signature and a key.
    assert!((MAX_PROOF_MESSAGE as u64) * 11 / 10 + 4096 <= agora_protocol::transport::MAX_REQUEST_BYTES);
}

/// A node of another release proves another statement (or names none): the hub says so and leaves the
/// answer unproven, instead of reporting the proofs as forged; its own statement passes.
#[test]
fn proofs_of_another_statement_are_named_not_failed() {
    let ours = agora_zk::archive::ARCHIVE_FORMAT;
    assert_eq!(statement_mismatch(ours), None);
    let older = statement_mismatch("agora-zk/cohort/3").unwrap();
    assert!(older.contains("agora-zk/cohort/3") && older.contains(ours), "{older}");
    // An older node names none: its proofs are checked as before, and only a failure gets the hint.
    assert_eq!(statement_mismatch(""), None);
    let proven =
        ProofState::Proven { root: "ab".into(), data_version: 1, committed_before_query: true, consented_to: None };
    assert_eq!(with_statement_hint("", proven.clone()), proven);
    let failed = ProofState::Failed { reason: "proof 1: out-of-domain mismatch".into() };
    let ProofState::Failed { reason } = with_statement_hint("", failed.clone()) else { panic!("still failed") };
    assert!(reason.starts_with("proof 1: out-of-domain mismatch;") && reason.contains(ours), "{reason}");
    assert_eq!(with_statement_hint(ours, failed.clone()), failed);
    // A hostile name is cut short and loses its control characters before it reaches the table.
    let hostile = statement_mismatch(&format!("evil\n\u{1b}[2J{}", "x".repeat(1_000))).unwrap();
    assert!(!hostile.chars().any(char::is_control) && hostile.len() < 200, "{hostile}");
}

/// A cell too wide for the format (two observation ranges with negative bounds: each bound below 2^31
/// once offset takes a long comparison chain) is unproven at once, with the node's reason, instead of
/// pending until the node's message says so; a narrow one stays pending.
#[test]
fn a_cell_too_wide_to_prove_is_unproven_before_the_node_says_so() {
    let id = Uuid::new_v4();
    let observation = |code: &str| Cohort::Observation {
        code: agora_protocol::Code::new(CodeSystem::Loinc, code),
        min: Some(-5.0),
        max: Some(-1.0),
    };
    let wide = query(Cohort::All { of: vec![observation("2345-7"), observation("8480-6")] });
    let record = |query: Query| QueryRecord {
        query_id: id,
        researcher: "ada".into(),
        purpose: None,
        query,
        submitted_at: 0,
        deadline_at: 1,
        status: ResultStatus::Complete,
    };
    let part = NodePart {
        peer_id: "peer-a".into(),
        node_name: "a".into(),
        state: NodeState::Answered { answer: answer(id, Cell::Value(12)) },
        proof: None,
    };
    // The widths the zk crate gives these statements, independently of the hub.
    let plan = agora_protocol::proof::plan(&wide).unwrap();
    let targets = plan.targets(&answer(id, Cell::Value(12)));
    let criteria: Vec<agora_zk::Criterion> = targets[0]
        .criteria
        .iter()
        .map(|l| agora_zk::Criterion {
            code: l.code,
            negated: l.negated,
            or_previous: l.or_previous,
            min: l.min,
            max: l.max,
        })
        .collect();
    let width = agora_zk::air::AuxLayout::new(&criteria, false, false, false).width();
    assert!(width > agora_zk::format::MAX_AUX_WIDTH, "{width}");
    let result = assemble(record(wide), vec![part.clone()]);
    assert_eq!(result.proofs.unproven, 1);
    match &result.nodes[0].proof {
        Some(ProofState::Unproven { reason }) => {
            assert!(reason.contains(&format!("needs {width} auxiliary columns, at most 128")), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let narrow = query(Cohort::All { of: vec![observation("2345-7")] });
    let result = assemble(record(narrow), vec![part]);
    assert_eq!(result.nodes[0].proof, Some(ProofState::Pending));
}

/// The 40 persons of [`blocks`] in three chunks (14, 14 and 12 persons), as a node above its row cap
/// commits them: each chunk an ordinary snapshot, the dataset named by its chunk list.
fn chunks(data_version: u64, seed: u8) -> (Vec<Snapshot>, DatasetCommitment) {
    let mut all = blocks();
    let rest = all.split_off(14);
    let (second, third) = (rest[..14].to_vec(), rest[14..].to_vec());
    let snapshots: Vec<Snapshot> = [all, second, third]
        .into_iter()
        .enumerate()
        .map(|(i, b)| Snapshot::build(b, [i as u8 + seed; 32]).unwrap())
        .collect();
    let list = snapshots
        .iter()
        .map(|s| ChunkCommitment { trace_length: s.commitment().trace_length, root: s.commitment().root.clone() })
        .collect();
    let commitment = DatasetCommitment::chunked(snapshots[0].commitment().version, list, data_version).unwrap();
    (snapshots, commitment)
}

/// A whole cell over chunks checked as the hub checks it: its parts in runs of at most `per`, in order
/// (each run's proofs, `check_chunked_run`), then the whole cell's links and sums without its proofs
/// (`check_chunked_links`).
fn check_cell(
    id: Uuid,
    q: &Query,
    answer: &NodeAnswer,
    c: &DatasetCommitment,
    at: (usize, usize),
    cell: &ChunkedCell,
    per: usize,
) -> ProofState {
    for (k, run) in cell.parts.chunks(per).enumerate() {
        let run = ChunkedCell { first: k * per, parts: run.to_vec(), ..cell.clone() };
        let state = check_chunked_run(id, q, answer, c, at, &run, Ok(Population::Everyone));
        if !matches!(state, ProofState::Proven { .. }) {
            return state;
        }
    }
    check_chunked_links(id, q, answer, c, at, &without_proofs(cell), Ok(Population::Everyone))
}

/// The cell without its parts' proofs, as the hub reads its kept runs back to link them.
fn without_proofs(cell: &ChunkedCell) -> ChunkedCell {
    let parts = cell.parts.iter().map(|p| ChunkProof { proof: String::new(), ..p.clone() }).collect();
    ChunkedCell { parts, ..cell.clone() }
}

/// A cell proven over chunks is checked on its own, against the hub's plan and the answer's cell; each
/// forgery fails with its reason: another count, a part's masked count changed, parts swapped, a cell
/// out of place, a commitment whose root does not name its chunks or whose chunks are reordered, and
/// chunked commitments are not taken in one message.
#[test]
fn cells_over_chunks_are_checked_one_by_one_and_forged_ones_fail() {
    let (snapshots, commitment) = chunks(7, 9);
    let everyone = || Ok(Population::Everyone);
    let id = Uuid::new_v4();
    let q = query(e11());
    let honest = answer(id, Cell::Value(23));
    let cells = prove_chunks(&snapshots, id, &q, &honest);
    assert_eq!((cells.len(), cells[0].parts.len()), (1, 3));
    // In runs of two parts and one, and whole.
    let check = |answer: &NodeAnswer, c: &DatasetCommitment, at: (usize, usize), cell: &ChunkedCell| {
        let state = check_cell(id, &q, answer, c, at, cell, 2);
        assert_eq!(state, check_cell(id, &q, answer, c, at, cell, 3));
        state
    };
    assert_eq!(
        check(&honest, &commitment, (0, 1), &cells[0]),
        ProofState::Proven {
            root: commitment.root.clone(),
            data_version: 7,
            committed_before_query: false,
            consented_to: None
        }
    );
    // The answer claims another count, or a part's masked count is moved (the total too: a part's own).
    failed(check(&answer(id, Cell::Value(24)), &commitment, (0, 1), &cells[0]), "patients (all):");
    let mut moved = cells[0].clone();
    moved.parts[0].count += 1;
    moved.parts[1].count -= 1;
    failed(check(&honest, &commitment, (0, 1), &moved), "patients (all):");
    let mut swapped = cells[0].clone();
    swapped.parts.swap(0, 1);
    failed(check(&honest, &commitment, (0, 1), &swapped), "patients (all):");
    let mut dropped = cells[0].clone();
    dropped.parts.pop();
    failed(check(&honest, &commitment, (0, 1), &dropped), "2 parts for a dataset of 3 chunks");
    // Out of place: a cell the plan has not, or another number of cells.
    failed(check(&honest, &commitment, (1, 1), &cells[0]), "cell 1 of an answer with 1 cells");
    failed(check(&honest, &commitment, (0, 2), &cells[0]), "2 cells stated for an answer with 1");
    // The commitment: its root must name its chunks; reordered chunks (root recomputed) are another
    // dataset, which these parts are not over; stale data.
    let renamed = DatasetCommitment { root: "ab".repeat(32), ..commitment.clone() };
    failed(check(&honest, &renamed, (0, 1), &cells[0]), "does not name its chunk list");
    let mut list = commitment.chunks.clone();
    list.swap(0, 2);
    let reordered = DatasetCommitment::chunked(commitment.version, list, 7).unwrap();
    failed(check(&honest, &reordered, (0, 1), &cells[0]), "part 0: proof is over dataset");
    // A run's place: within the dataset's chunks, one to ten parts, and its parts over the chunks they
    // name (a run moved one place on is over other chunks).
    let run = |first: usize, parts: &[ChunkProof]| ChunkedCell { first, parts: parts.to_vec(), ..cells[0].clone() };
    let run_check = |r: &ChunkedCell| check_chunked_run(id, &q, &honest, &commitment, (0, 1), r, everyone());
    assert!(matches!(run_check(&run(1, &cells[0].parts[1..])), ProofState::Proven { .. }));
    failed(run_check(&run(2, &cells[0].parts[1..])), "a run of 2 parts from part 2, for a dataset of 3 chunks");
    failed(run_check(&run(usize::MAX, &cells[0].parts[2..])), "a run of 1 parts from part 18446744073709551615");
    failed(run_check(&run(0, &[])), "a run of 0 parts from part 0");
    failed(run_check(&run(0, &vec![cells[0].parts[0].clone(); 11])), "a run of 11 parts");
    failed(run_check(&run(1, &cells[0].parts[..1])), "patients (all): part 1: proof is over dataset");
    // A run's parts are verified together (on both cores): the first that fails, in order, is reported,
    // whether its proof does not verify or it cannot be read at all.
    let mut damaged = cells[0].parts.clone();
    damaged[1].count += 1;
    damaged[2].count += 1;
    failed(run_check(&run(0, &damaged)), "patients (all): part 1: proof does not verify");
    damaged[2].proof = "not base64!".into();
    failed(run_check(&run(0, &damaged)), "patients (all): part 1: proof does not verify");
    damaged[0].proof = "not base64!".into();
    failed(run_check(&run(0, &damaged)), "patients (all): part 0: malformed proof: proof is not base64");
    let mut unread = cells[0].parts.clone();
    unread[1].proof = "not base64!".into();
    failed(run_check(&run(0, &unread)), "patients (all): part 1: malformed proof: proof is not base64");
    // The links: a cell whole, from its first part, and its parts' proofs are not read there.
    let links = |c: &ChunkedCell| check_chunked_links(id, &q, &honest, &commitment, (0, 1), c, everyone());
    assert!(matches!(links(&without_proofs(&cells[0])), ProofState::Proven { .. }));
    failed(links(&run(0, &cells[0].parts[1..])), "2 parts for a dataset of 3 chunks");
    failed(links(&ChunkedCell { first: 1, ..cells[0].clone() }), "start at part 0, not 1");
    let stale = DatasetCommitment::chunked(commitment.version, commitment.chunks.clone(), 6).unwrap();
    failed(check(&honest, &stale, (0, 1), &cells[0]), "data version 6");
    let (_, single) = snapshot(7, 1);
    failed(check(&honest, &single, (0, 1), &cells[0]), "a dataset without chunks");
    // The whole answer in one message over chunks is not taken.
    let one = prove(&snapshots[0], id, &q, &honest);
    failed(check_proofs(id, &q, &honest, &commitment, &one, everyone()), "in runs of a cell's parts");

    // A rare cohort (I10: 5 patients, below 10) is proven suppressed over the chunks, its count hidden.
    let q =
        query(Cohort::Condition { code: CodeMatch { system: CodeSystem::Icd10Cm, code: "I10".into(), prefix: false } });
    let rare = answer(id, Cell::Suppressed);
    let cells = prove_chunks(&snapshots, id, &q, &rare);
    assert!(cells[0].parts[2].link.total.is_some(), "the last part states the masked counts added");
    assert!(matches!(check_cell(id, &q, &rare, &commitment, (0, 1), &cells[0], 2), ProofState::Proven { .. }));
    failed(check_cell(id, &q, &answer(id, Cell::Value(5)), &commitment, (0, 1), &cells[0], 2), "patients (all):");

    // A mean over the chunks is proven (the number of values and their sum), and a standard deviation
    // (their sum of squares too, recombined by the last part).
    let (mut q, values) = e11_glucose_mean();
    let squares: i128 = values.iter().map(|v| i128::from(*v) * i128::from(*v)).sum();
    let mut mean = answer(id, Cell::Value(23));
    mean.rows[0].moments = Some(Moments::Released { n: 12, sum: values.iter().sum(), sum_sq: squares });
    let cells = prove_chunks(&snapshots, id, &q, &mean);
    assert_eq!(cells.len(), 2, "patients and moments");
    for (i, cell) in cells.iter().enumerate() {
        let state = check_cell(id, &q, &mean, &commitment, (i, 2), cell, 2);
        assert!(matches!(state, ProofState::Proven { .. }), "{state:?}");
    }
    q.aggregates.push(Aggregate::StdDev);
    // The mean's parts state no sum of squares: they do not prove the standard deviation's.
    failed(
        check_cell(id, &q, &mean, &commitment, (1, 2), &cells[1], 2),
        "moments (all): part 0: proof does not verify for this query and these outputs: a chunk's part masks its own sum of squares exactly when it states the answer's",
    );
    failed(
        check_chunked_links(id, &q, &mean, &commitment, (1, 2), &without_proofs(&cells[1]), everyone()),
        "moments (all): proof does not verify for this query and these outputs: the last part of a sum of squares ends at no boundary",
    );
    let cells = prove_chunks(&snapshots, id, &q, &mean);
    assert!(cells[1].parts.iter().all(|p| p.link.squares.is_some()));
    assert!(cells[1].parts[2].link.squares_total.is_some(), "the last part adds up the masked ones");
    for (i, cell) in cells.iter().enumerate() {
        let state = check_cell(id, &q, &mean, &commitment, (i, 2), cell, 2);
        assert!(matches!(state, ProofState::Proven { .. }), "{state:?}");
    }
    // Another sum of squares in the answer, or a part's masked low word moved: the cell fails.
    let mut other = mean.clone();
    other.rows[0].moments = Some(Moments::Released { n: 12, sum: values.iter().sum(), sum_sq: squares + 1 });
    failed(
        check_cell(id, &q, &other, &commitment, (1, 2), &cells[1], 2),
        "moments (all): part 0: proof does not verify",
    );
    // A part's masked low word moved: its proof fails, and its links alone do not add up; with the stated
    // sums moved too they do, and its proof still fails.
    let mut moved = cells[1].clone();
    moved.parts[1].link.squares.as_mut().unwrap()[0] += 1;
    failed(check_cell(id, &q, &mean, &commitment, (1, 2), &moved, 2), "part 1: proof does not verify");
    failed(check_chunked_links(id, &q, &mean, &commitment, (1, 2), &moved, everyone()), "add up to");
    moved.parts[2].link.squares_total.as_mut().unwrap()[0] += 1;
    assert!(matches!(
        check_chunked_links(id, &q, &mean, &commitment, (1, 2), &moved, everyone()),
        ProofState::Proven { .. }
    ));
    failed(check_cell(id, &q, &mean, &commitment, (1, 2), &moved, 2), "part 1: proof does not verify");
}

/// A hub on `url` (SQLite, or a PostgreSQL database) with a query of `q` sent to one node, whose
/// answer `answer` has arrived; the node's key.
async fn hub_with_answer(url: &str, q: &Query, answer: &NodeAnswer) -> (Coordinator, libp2p::identity::Keypair) {
    let store = HubStore::connect(url).await.unwrap();
    let key = libp2p::identity::Keypair::generate_ed25519();
    let identity = agora_did::identity::identity_of_keypair(&key).unwrap();
    let authority = Authority::new(identity, None, "https://hub.agora.test", store.clone(), false).unwrap();
    let (_task, net, _inbound, _addr) =
        agora_hub::net::listen(key.clone(), "/ip4/127.0.0.1/tcp/0", std::time::Duration::from_secs(5)).await.unwrap();
    let cfg = CoordinatorConfig {
        deadline: std::time::Duration::from_secs(2),
        ttl_secs: 60,
        allowed_nodes: Default::default(),
        max_inflight: 8,
        proof_handlers: agora_hub::coordinator::PROOF_HANDLERS,
    };
    let coordinator = Coordinator::new(store.clone(), net, key, authority, cfg, CancellationToken::new());
    let node = libp2p::identity::Keypair::generate_ed25519();
    let peer = node.public().to_peer_id().to_string();
    let record = QueryRecord {
        query_id: answer.query_id,
        researcher: "ada".into(),
        purpose: None,
        query: q.clone(),
        submitted_at: now(),
        deadline_at: now() + 60,
        status: ResultStatus::Running,
    };
    store.insert_query(&record, "{}", &[(peer.clone(), "node".into())]).await.unwrap();
    let answered = NodeState::Answered { answer: answer.clone() };
    store.set_node_state(answer.query_id, &peer, &answered, None, now()).await.unwrap();
    (coordinator, node)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The node's signed message of cell `index` of `cells` over `commitment`.
fn cell_message(
    node: &libp2p::identity::Keypair,
    query_id: Uuid,
    commitment: &DatasetCommitment,
    (index, cells): (usize, usize),
    cell: &ChunkedCell,
) -> Signed<ProofMessage> {
    let outcome = ProofOutcome::Chunked {
        commitment: commitment.clone(),
        index,
        cells,
        cell: cell.clone(),
        statement: agora_zk::archive::ARCHIVE_FORMAT.into(),
    };
    Signed::sign(&ProofMessage { header: Header::new(query_id, now(), 3600), outcome }, node)
}

/// The proof state the hub's store holds for the node's answer.
async fn stored_proof(hub: &Coordinator, query_id: Uuid) -> Option<ProofState> {
    hub.store().parts(query_id).await.unwrap().remove(0).proof
}

/// What [`cells_over_chunks_through_the_hub`] sends, proven once for both stores: E11.9 by sex over
/// [`chunks`], for six queries (ids; a seventh is never proven), the fifth's twice, and the third's and
/// sixth's cells over the same rows under other seeds.
struct ThroughTheHub {
    q: Query,
    ids: [Uuid; 7],
    commitment: DatasetCommitment,
    /// The cells of the first six queries.
    cells: Vec<Vec<ChunkedCell>>,
    /// The fifth query's cells proven again (other masks).
    again: Vec<ChunkedCell>,
    /// The sixth query's cells over the same rows under other seeds.
    elsewhere_too: Vec<ChunkedCell>,
    other_commitment: DatasetCommitment,
    elsewhere: Vec<ChunkedCell>,
}

/// 23 with E11.9: 12 female, 11 male (persons 0..23, even ones female), as [`blocks`] writes them.
fn e11_by_sex(id: Uuid) -> NodeAnswer {
    let mut a = answer(id, Cell::Value(23));
    for (sex, n) in [(Sex::Female, 12), (Sex::Male, 11)] {
        a.rows.push(AnswerRow {
            group: GroupKey { sex: Some(sex), ..GroupKey::TOTAL },
            patients: Cell::Value(n),
            moments: None,
            histogram: None,
        });
    }
    a
}

fn through_the_hub() -> &'static ThroughTheHub {
    static FIXTURE: std::sync::OnceLock<ThroughTheHub> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| {
        let (snapshots, commitment) = chunks(7, 9);
        let (other_snapshots, other_commitment) = chunks(7, 20);
        let mut q = query(e11());
        q.group_by.sex = true;
        let ids = [(); 7].map(|_| Uuid::new_v4());
        // The same dataset built again for the fourth to sixth queries, and once more for the fifth's
        // second proving: a snapshot serves eleven proofs.
        let (more, again_snapshots) = (chunks(7, 9).0, chunks(7, 9).0);
        let cells = (ids[..6].iter().enumerate())
            .map(|(i, id)| prove_chunks(if i < 3 { &snapshots } else { &more }, *id, &q, &e11_by_sex(*id)))
            .collect();
        let again = prove_chunks(&again_snapshots, ids[4], &q, &e11_by_sex(ids[4]));
        let elsewhere = prove_chunks(&other_snapshots, ids[2], &q, &e11_by_sex(ids[2]));
        let elsewhere_too = prove_chunks(&other_snapshots, ids[5], &q, &e11_by_sex(ids[5]));
        ThroughTheHub { q, ids, commitment, cells, again, elsewhere_too, other_commitment, elsewhere }
    })
}

/// The hub takes an answer's cells over chunks one message at a time, in its store: the answer stays
/// pending until every cell has verified, then is proven (its commitment registered before the query
/// counts as such) and each cell is an archived answer over the chunks that verifies offline. A cell's
/// message again, re-signed, replayed as it was or forged, is refused before it is verified and changes
/// nothing; a forged cell fails the answer, and later cells are refused; cells over two datasets fail it
/// too.
async fn cells_over_chunks_through_the_hub(url: &str) {
    let ThroughTheHub { q, ids, commitment, cells: proven, again, elsewhere_too, other_commitment, elsewhere } =
        through_the_hub();
    let (q, commitment) = (q.clone(), commitment.clone());

    // Honest, a cell at a time.
    let id = ids[0];
    let honest = e11_by_sex(id);
    let (hub, node) = hub_with_answer(url, &q, &honest).await;
    let peer = node.public().to_peer_id();
    hub.store().record_commitment(&peer.to_string(), &commitment, agora_hub::store::now_ms() - 60_000).await.unwrap();
    let cells = &proven[0];
    assert_eq!(cells.len(), 3, "the cohort, the women, the men");
    let first = cell_message(&node, id, &commitment, (0, 3), &cells[0]);
    hub.proof(peer, first.clone()).await.unwrap();
    assert_eq!(stored_proof(&hub, id).await, None, "pending until every cell has verified");
    let e = hub.proof(peer, first).await.unwrap_err();
    assert!(e.contains("already received"), "{e}");
    let e = hub.proof(peer, cell_message(&node, id, &commitment, (0, 3), &cells[0])).await.unwrap_err();
    assert!(e.contains("already received"), "{e}");
    // A copy of a kept cell is refused before it is verified: a forged one too, with nothing changed.
    let mut forged = cells[0].clone();
    forged.parts[1].count += 1;
    let e = hub.proof(peer, cell_message(&node, id, &commitment, (0, 3), &forged)).await.unwrap_err();
    assert!(e.contains("already received"), "{e}");
    assert_eq!(stored_proof(&hub, id).await, None);
    // Signed by another key than the connection's: refused.
    let stranger = libp2p::identity::Keypair::generate_ed25519();
    let e = hub.proof(peer, cell_message(&stranger, id, &commitment, (1, 3), &cells[1])).await.unwrap_err();
    assert!(e.contains("another than the connection's") || e.contains("other than the connection's"), "{e}");
    hub.proof(peer, cell_message(&node, id, &commitment, (2, 3), &cells[2])).await.unwrap();
    assert_eq!(stored_proof(&hub, id).await, None);
    hub.proof(peer, cell_message(&node, id, &commitment, (1, 3), &cells[1])).await.unwrap();
    assert_eq!(
        stored_proof(&hub, id).await,
        Some(ProofState::Proven {
            root: commitment.root.clone(),
            data_version: 7,
            committed_before_query: true,
            consented_to: None
        })
    );
    let e = hub.proof(peer, cell_message(&node, id, &commitment, (1, 3), &cells[1])).await.unwrap_err();
    assert!(e.contains("already settled"), "{e}");
    // Auditors: the three cells, each over the three chunks, with the counts written above.
    let archived = hub.archived_proofs(id, "ada").await.unwrap();
    let mut counts: Vec<u64> = archived
        .into_iter()
        .map(|a| {
            assert!(matches!(&a, agora_zk::archive::Archived::Chunked(c) if c.dataset.len() == 3));
            a.verify().unwrap().count
        })
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, [11, 12, 23]);

    // A forged cell fails the answer; a later honest cell is refused and the failure stays.
    let id = ids[1];
    let (hub, node) = hub_with_answer(url, &q, &e11_by_sex(id)).await;
    let peer = node.public().to_peer_id();
    let cells = &proven[1];
    hub.proof(peer, cell_message(&node, id, &commitment, (0, 3), &cells[0])).await.unwrap();
    let mut forged = cells[1].clone();
    forged.parts[0].count += 1;
    forged.parts[2].count -= 1;
    hub.proof(peer, cell_message(&node, id, &commitment, (1, 3), &forged)).await.unwrap();
    let failed_state = stored_proof(&hub, id).await;
    assert!(
        matches!(&failed_state, Some(ProofState::Failed { reason }) if reason.contains("patients (")),
        "{failed_state:?}"
    );
    let e = hub.proof(peer, cell_message(&node, id, &commitment, (2, 3), &cells[2])).await.unwrap_err();
    assert!(e.contains("already settled"), "{e}");
    assert_eq!(stored_proof(&hub, id).await, failed_state);
    assert!(hub.archived_proofs(id, "ada").await.unwrap().is_empty());

    // Cells over two datasets (each verifying over its own): the answer fails.
    let id = ids[2];
    let (hub, node) = hub_with_answer(url, &q, &e11_by_sex(id)).await;
    let peer = node.public().to_peer_id();
    hub.proof(peer, cell_message(&node, id, &commitment, (0, 3), &proven[2][0])).await.unwrap();
    hub.proof(peer, cell_message(&node, id, other_commitment, (1, 3), &elsewhere[1])).await.unwrap();
    assert!(
        matches!(stored_proof(&hub, id).await, Some(ProofState::Failed { reason }) if reason.contains("different datasets"))
    );

    // Cells in runs of parts, as a node sends a cell over more chunks than a message holds: a cell is
    // proven once its runs cover the chunks, in any order; a run overlapping one kept is refused with
    // nothing changed; the archives hold each cell whole.
    let id = ids[3];
    let (hub, node) = hub_with_answer(url, &q, &e11_by_sex(id)).await;
    let peer = node.public().to_peer_id();
    let cells = &proven[3];
    let run = |cell: &ChunkedCell, first: usize, end: usize| ChunkedCell {
        first,
        parts: cell.parts[first..end].to_vec(),
        ..cell.clone()
    };
    let send =
        |index: usize, cell: ChunkedCell| hub.proof(peer, cell_message(&node, id, &commitment, (index, 3), &cell));
    send(0, run(&cells[0], 0, 2)).await.unwrap();
    assert_eq!(stored_proof(&hub, id).await, None, "pending until every part has verified");
    for (first, end) in [(1, 3), (0, 1)] {
        let e = send(0, run(&cells[0], first, end)).await.unwrap_err();
        let why =
            format!("a run of {} parts from part {first} of cell 0 overlaps parts 0..2 already received", end - first);
        assert!(e.contains(&why), "{e}");
    }
    let e = send(0, run(&cells[0], 0, 2)).await.unwrap_err();
    assert!(e.contains("parts 0..2 of cell 0 of this answer are already received"), "{e}");
    send(0, run(&cells[0], 2, 3)).await.unwrap();
    let e = send(0, run(&cells[0], 2, 3)).await.unwrap_err();
    assert!(e.contains("the proof of cell 0 of this answer is already received"), "{e}");
    // Cell 1's last run kept but its cell never checked (as when the hub stops in between): the node
    // sending that run again completes it.
    send(1, run(&cells[1], 2, 3)).await.unwrap();
    let last = cell_message(&node, id, &commitment, (1, 3), &run(&cells[1], 0, 2));
    let envelope = serde_json::to_string(&last).unwrap();
    assert!(hub.store().add_proof_run(id, &peer.to_string(), (1, 0, 2), &commitment.root, &envelope).await.unwrap());
    assert_eq!(hub.store().proven_cells(id, &peer.to_string()).await.unwrap().len(), 1, "cell 0 only");
    hub.proof(peer, last).await.unwrap();
    assert_eq!(hub.store().proven_cells(id, &peer.to_string()).await.unwrap().len(), 2, "cells 0 and 1");
    assert_eq!(stored_proof(&hub, id).await, None);
    // Cell 2 kept whole, its run and the cell stored, but the answer not settled (as when the hub's
    // store fails right after): the node sending the run again settles the answer, and is told the cell
    // is in.
    let last = cell_message(&node, id, &commitment, (2, 3), &cells[2]);
    let envelope = serde_json::to_string(&last).unwrap();
    assert!(hub.store().add_proof_run(id, &peer.to_string(), (2, 0, 3), &commitment.root, &envelope).await.unwrap());
    assert!(hub.store().add_proven_cell(id, &peer.to_string(), 2, &commitment.root).await.unwrap());
    assert_eq!(stored_proof(&hub, id).await, None, "cut short before the answer");
    let e = hub.proof(peer, last).await.unwrap_err();
    assert!(e.contains("the proof of cell 2 of this answer is already received"), "{e}");
    assert!(matches!(stored_proof(&hub, id).await, Some(ProofState::Proven { .. })));
    let archived_counts = || async {
        let archived = hub.archived_proofs(id, "ada").await.unwrap();
        let mut counts: Vec<u64> = archived
            .into_iter()
            .map(|a| {
                assert!(matches!(&a, agora_zk::archive::Archived::Chunked(c) if c.parts.len() == 3));
                a.verify().unwrap().count
            })
            .collect();
        counts.sort_unstable();
        counts
    };
    assert_eq!(archived_counts().await, [11, 12, 23]);
    // A run overlapping cell 0's kept runs, stored after the cell was proven (as when two of the node's
    // messages for the cell are verified at once, each checking the kept runs before the other is
    // stored): the archives still hold each cell as it was proven, three parts linking.
    let late = cell_message(&node, id, &commitment, (0, 3), &run(&cells[0], 1, 3));
    let envelope = serde_json::to_string(&late).unwrap();
    assert!(hub.store().add_proof_run(id, &peer.to_string(), (0, 1, 2), &commitment.root, &envelope).await.unwrap());
    assert_eq!(hub.store().proof_runs(id, &peer.to_string(), 0).await.unwrap().len(), 3);
    assert_eq!(archived_counts().await, [11, 12, 23]);
    assert!(matches!(stored_proof(&hub, id).await, Some(ProofState::Proven { .. })));

    // Runs whose parts each verify but come from two provings of the cell (other masks): they do not
    // link, and the answer fails once the cell is whole.
    let id = ids[4];
    let (hub, node) = hub_with_answer(url, &q, &e11_by_sex(id)).await;
    let peer = node.public().to_peer_id();
    let send = |cell: ChunkedCell| hub.proof(peer, cell_message(&node, id, &commitment, (0, 3), &cell));
    send(run(&proven[4][0], 0, 2)).await.unwrap();
    send(run(&again[0], 2, 3)).await.unwrap();
    let state = stored_proof(&hub, id).await;
    assert!(
        matches!(&state, Some(ProofState::Failed { reason }) if reason.starts_with("patients (all): ") && reason.ends_with("part 1 does not link to part 2")),
        "{state:?}"
    );

    // A cell's runs over two datasets (each run verifying over its own): the answer fails.
    let id = ids[5];
    let (hub, node) = hub_with_answer(url, &q, &e11_by_sex(id)).await;
    let peer = node.public().to_peer_id();
    hub.proof(peer, cell_message(&node, id, &commitment, (0, 3), &run(&proven[5][0], 0, 2))).await.unwrap();
    hub.proof(peer, cell_message(&node, id, other_commitment, (0, 3), &run(&elsewhere_too[0], 2, 3))).await.unwrap();
    let state = stored_proof(&hub, id).await;
    assert!(
        matches!(&state, Some(ProofState::Failed { reason }) if reason == "cell 0's parts are proven over different datasets"),
        "{state:?}"
    );

    // Overlapping runs kept (two sent at once can both pass the check before either is kept; laid
    // out here in the store): the cell's completion fails the answer instead of linking them.
    let id = ids[6];
    let (hub, node) = hub_with_answer(url, &q, &e11_by_sex(id)).await;
    let peer = node.public().to_peer_id();
    let node_id = peer.to_string();
    for (first, parts) in [(0, 2), (1, 2)] {
        assert!(hub.store().add_proof_run(id, &node_id, (0, first, parts), &commitment.root, "{}").await.unwrap());
    }
    hub.proof(peer, cell_message(&node, id, &commitment, (0, 3), &run(&proven[3][0], 0, 2))).await.unwrap();
    let state = stored_proof(&hub, id).await;
    assert!(
        matches!(&state, Some(ProofState::Failed { reason }) if reason == "cell 0's runs of parts overlap (parts 1..3 and ..2)"),
        "{state:?}"
    );
}

#[tokio::test]
async fn cells_over_chunks_through_the_hubs_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    cells_over_chunks_through_the_hub(&format!("sqlite://{}?mode=rwc", dir.path().join("hub.db").display())).await;
}

#[tokio::test]
async fn cells_over_chunks_through_the_hubs_postgresql_store() {
    if let Some(url) = common::fresh_postgres().await {
        cells_over_chunks_through_the_hub(&url).await;
    }
}

//! The node's prover over a real store: its proofs agree with the query engine's answers and verify
//! against its commitment (answers over consenting patients only with the consent criterion); a spent
//! masking budget makes a new commitment; answers over data that has changed are not proven and say
//! why. Expected counts are counted here from the rows this test writes.

use agora_node::proofs::{Prover, ProverSettings};
use agora_node::query;
use agora_node::store::Store;
use agora_protocol::proof::{plan, query_digest, ChunkedCell, DatasetCommitment, Plan, ProofMessage, ProofOutcome};
use agora_protocol::{
    Aggregate, Cell, Code, CodeMatch, CodeSystem, Cohort, Consented, GroupBy, Measure, Moments, NodeAnswer, Query,
    Selection, Sex,
};
use base64::Engine;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const CODES: [&str; 4] = ["E11.9", "I10", "J45", "N18.3"];

/// One person as written: female or not, which of [`CODES`] they have, their latest plausible glucose
/// value (thousandths), if any, every plausible glucose value, and their age at 2026-01-01 (none
/// without a year of birth).
type Person = (bool, [bool; 4], Option<i64>, Vec<i64>, Option<u32>);

/// Writes `persons` persons with random sexes and conditions; returns, per condition code and per sex,
/// the number of distinct persons, and each person (the truth the proofs must agree with).
fn write(store: &mut Store, persons: i64, seed: u64) -> (Vec<u64>, [u64; 2], Vec<Person>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let tx = store.conn_mut().transaction().unwrap();
    tx.execute("INSERT INTO source_record (source_id, resource_type, fhir_id, job_id) VALUES (1, 'B', 't', 't')", [])
        .unwrap();
    let mut by_code = vec![0u64; CODES.len()];
    let mut by_sex = [0u64; 2];
    let mut people = Vec::new();
    // Births from their own generator: one in twenty without a year, one in ten without a month.
    let mut births = rand::rngs::StdRng::seed_from_u64(seed + 1);
    for p in 1..=persons {
        let female = rng.gen_bool(0.5);
        by_sex[usize::from(!female)] += 1;
        let mut has = [false; 4];
        let year = (!births.gen_bool(0.05)).then(|| births.gen_range(1930i64..2016));
        let month = (!births.gen_bool(0.1)).then(|| births.gen_range(1i64..=12));
        // Completed years at 2026-01-01, the birthday on the 1st of the month (January when unknown).
        let age = year.map(|y| 2026 - y - i64::from(month.unwrap_or(1) > 1)).and_then(|a| u32::try_from(a).ok());
        tx.execute(
            "INSERT INTO person (person_id, pseudonym, sex, year_of_birth, month_of_birth, source_id)
             VALUES (?1, ?2, ?3, ?4, ?5, 1)",
            rusqlite::params![p, format!("p{p}"), if female { "female" } else { "male" }, year, month],
        )
        .unwrap();
        for (i, code) in CODES.iter().enumerate() {
            if rng.gen_bool(0.3) {
                by_code[i] += 1;
                has[i] = true;
                // Sometimes twice: a person still counts once.
                for at in 0..rng.gen_range(1..3) {
                    tx.execute(
                        "INSERT OR IGNORE INTO condition_occurrence (person_id, system, code, start_at, source_id)
                         VALUES (?1, 'icd10cm', ?2, ?3, 1)",
                        rusqlite::params![p, code, 1_600_000_000 + at],
                    )
                    .unwrap();
                }
            }
        }
        // 0 to 3 glucose values at distinct times, some implausible (never aggregated); values may be
        // negative (a test of the committed offset).
        let mut latest: Option<(i64, i64)> = None;
        let mut values = Vec::new();
        for _ in 0..rng.gen_range(0..4) {
            let at = rng.gen_range(1_600_000_000i64..1_700_000_000);
            let value = rng.gen_range(-50_000i64..400_000);
            let implausible = rng.gen_bool(0.2);
            let inserted = tx
                .execute(
                    "INSERT OR IGNORE INTO measurement (person_id, system, code, measured_at, value_e3, unit, implausible, source_id)
                     VALUES (?1, 'loinc', '2345-7', ?2, ?3, 'mg/dL', ?4, 1)",
                    rusqlite::params![p, at, value, implausible],
                )
                .unwrap();
            if inserted == 1 && !implausible {
                values.push(value);
                if latest.is_none_or(|(t, _)| at > t) {
                    latest = Some((at, value));
                }
            }
        }
        people.push((female, has, latest.map(|(_, v)| v), values, age));
    }
    Store::bump_data_version(&tx).unwrap();
    tx.commit().unwrap();
    (by_code, by_sex, people)
}

/// The patients among `members`, and the number, sum and sum of squares of their latest glucose values,
/// counted here from the persons as written.
fn latest_moments<'a>(members: impl Iterator<Item = &'a Person>) -> (u64, u64, i64, i128) {
    let (mut patients, mut values, mut sum, mut squares) = (0, 0, 0, 0);
    for p in members {
        patients += 1;
        if let Some(v) = p.2 {
            (values, sum, squares) = (values + 1, sum + v, squares + i128::from(v) * i128::from(v));
        }
    }
    (patients, values, sum, squares)
}

/// The one message of an answer proven over one snapshot.
fn single(
    mut messages: Vec<agora_protocol::envelope::Signed<ProofMessage>>,
) -> agora_protocol::envelope::Signed<ProofMessage> {
    assert_eq!(messages.len(), 1, "one proof message over one snapshot");
    messages.remove(0)
}

fn count(cohort: Cohort) -> Query {
    Query {
        version: 1,
        cohort,
        measure: None,
        aggregates: vec![Aggregate::Count],
        group_by: GroupBy::default(),
        reference_date: time::macros::date!(2026 - 01 - 01),
    }
}

fn condition(code: &str) -> Cohort {
    Cohort::Condition { code: CodeMatch { system: CodeSystem::Icd10Cm, code: code.into(), prefix: false } }
}

/// Checks a proof message as the hub does: one proof per target of the plan, each against the
/// plan's criteria and the answer's own cell.
fn verify(msg: &ProofMessage, id: Uuid, q: &Query, answer: &NodeAnswer) -> Result<String, String> {
    verify_plan(msg, id, q, answer, plan(q).unwrap())
}

/// As [`verify`], against the targets of `plan`.
fn verify_plan(msg: &ProofMessage, id: Uuid, q: &Query, answer: &NodeAnswer, plan: Plan) -> Result<String, String> {
    let ProofOutcome::Proven { commitment, cells, statement } = &msg.outcome else {
        return Err("not proven".into());
    };
    if statement != agora_zk::archive::ARCHIVE_FORMAT {
        return Err(format!("proofs of statement {statement:?}"));
    }
    let targets = plan.targets(answer);
    if targets.len() != cells.len() {
        return Err(format!("{} proofs for {} targets", cells.len(), targets.len()));
    }
    let zk = agora_zk::Commitment {
        version: commitment.version,
        trace_length: commitment.trace_length,
        root: commitment.root.clone(),
    };
    for (target, cell) in targets.iter().zip(cells) {
        assert_eq!(target.group, cell.group);
        let claim = claim_of(target, id, q, answer)?;
        let proof = base64::engine::general_purpose::STANDARD.decode(&cell.proof).unwrap();
        agora_zk::verify_claim(&zk, &claim, &proof).map_err(|e| e.to_string())?;
    }
    Ok(commitment.root.clone())
}

/// The claim an auditor makes for `target` of the answer, from the plan and the answer's cell.
fn claim_of(
    target: &agora_protocol::proof::Target,
    id: Uuid,
    q: &Query,
    answer: &NodeAnswer,
) -> Result<agora_zk::Claim, String> {
    let outputs = target.outputs()?;
    Ok(agora_zk::Claim {
        query: query_digest(id, q),
        criteria: target.criteria.iter().map(agora_node::proofs::criterion).collect(),
        measure: target.measure,
        count: outputs.map_or(0, |o| o.count),
        sum: outputs.map_or(0, |o| o.sum),
        sum_sq: outputs.and_then(|o| o.sum_sq),
        measure_range: target.measure_range.map(|(min, max)| agora_zk::air::Range { min, max }),
        suppressed_below: outputs.is_none().then_some(answer.threshold),
    })
}

/// Consents to purpose `study-a`, granted as the consent service does (a new data version): person `p`
/// (1-based) gets, by `p mod 6`, none, one without an end, two that end before the query's day is over
/// (one before the query at `T`, one after it but that day), one ending at the next day's first second,
/// one revoked, or one ending that day and one the next; the answers count, at `T`, those with a
/// consent active through `T`'s UTC day (by the rule written here), and are proven with the consent
/// criterion.
async fn consented_answers_are_proven(store: &mut Store, prover: &Prover, people: &[Person]) {
    // 2026-05-28 20:26:40 UTC, and the first second of the next day.
    const T: i64 = 1_780_000_000;
    const NEXT_DAY: i64 = 1_780_012_800;
    let tx = store.conn_mut().transaction().unwrap();
    let mut n = 0;
    let mut grant = |p: usize, until: Option<i64>, revoked: bool| {
        n += 1;
        let id = format!("urn:consent:{n}");
        tx.execute(
            "INSERT INTO patient_credential (credential_id, kind, person_id, holder, purpose, status_index, issued_at, valid_until)
             VALUES (?1, 'consent', ?2, 'did:key:z', 'study-a', ?3, 0, ?4)",
            rusqlite::params![id, p as i64, n, until],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO consent (credential_id, person_id, purpose, granted_at, valid_until, revoked_at) VALUES (?1, ?2, 'study-a', 0, ?3, ?4)",
            rusqlite::params![id, p as i64, until, revoked.then_some(T - 5)],
        )
        .unwrap();
    };
    let mut active = vec![false; people.len()];
    for p in 1..=people.len() {
        match p % 6 {
            1 => grant(p, None, false),
            2 => {
                grant(p, Some(T - 1), false);
                grant(p, Some(NEXT_DAY - 1), false);
            }
            3 => grant(p, Some(NEXT_DAY), false),
            4 => grant(p, None, true),
            5 => {
                grant(p, Some(T + 3600), false);
                grant(p, Some(NEXT_DAY + 3600), false);
            }
            _ => continue,
        }
        active[p - 1] = matches!(p % 6, 1 | 3 | 5);
    }
    Store::bump_data_version(&tx).unwrap();
    tx.commit().unwrap();
    let consenting: Vec<&Person> = people.iter().zip(&active).filter(|(_, a)| **a).map(|(p, _)| p).collect();
    let population = query::Population::ConsentedTo { purpose: "study-a", at: T };

    // Consenting women, consenting patients with J45 by sex (three literals with the consent's), and
    // with J45 without I10 by sex (seven).
    let mut by_sex = count(condition("J45"));
    by_sex.group_by.sex = true;
    // Seven literals: J45, without I10 and without three codes nobody has, a sex group and the consent.
    let not = |c: &str| Cohort::Not { of: Box::new(condition(c)) };
    let mut wide = count(Cohort::All { of: vec![condition("J45"), not("I10"), not("Z00"), not("Z01"), not("Z02")] });
    wide.group_by.sex = true;
    for (q, truth) in [
        (count(Cohort::Sex { sex: Sex::Female }), consenting.iter().filter(|p| p.0).count() as u64),
        (by_sex, consenting.iter().filter(|p| p.1[2]).count() as u64),
        (wide, consenting.iter().filter(|p| p.1[2] && !p.1[1]).count() as u64),
    ] {
        let id = Uuid::new_v4();
        let answer = query::execute_within(store, &q, id, 10, population).unwrap();
        assert_eq!(answer.rows[0].patients, Cell::Value(truth), "{q}");
        assert_eq!(answer.consented, Some(Consented { purpose: "study-a".into(), at: T }), "the answer says so");
        let everyone = query::execute(store, &q, id, 10).unwrap();
        assert_ne!(everyone.rows[0].patients, answer.rows[0].patients, "the population matters");
        let msg = single(prover.prove(id, &q, &answer).await).verify().unwrap().payload;
        assert!(matches!(msg.outcome, ProofOutcome::Proven { .. }), "{q}: {:?}", msg.outcome);
        let consented = |at| plan(&q).unwrap().consented("study-a", at).unwrap();
        verify_plan(&msg, id, &q, &answer, consented(T)).unwrap_or_else(|e| panic!("{q}: {e}"));
        // Claimed over everyone, or on a later day (persons 6k+3's consents end between): refused; at
        // another time of the same day, the same claim. Four days later the literal's bound is 20,606
        // against 20,602, and the proof's gadget compares with one less (20,605 and 20,601: each ends in
        // one 1 bit), so the shape is the same and it is the count that fails; the next day's gadget
        // (20,602) is another width, and another shape.
        let e = verify_plan(&msg, id, &q, &answer, plan(&q).unwrap()).unwrap_err();
        assert!(e.contains("shape"), "{e}");
        let e = verify_plan(&msg, id, &q, &answer, consented(NEXT_DAY + 3 * 86_400)).unwrap_err();
        assert!(e.contains("does not verify"), "{e}");
        let e = verify_plan(&msg, id, &q, &answer, consented(NEXT_DAY)).unwrap_err();
        assert!(e.contains("shape"), "{e}");
        verify_plan(&msg, id, &q, &answer, consented(NEXT_DAY - 1)).unwrap();
        // The answer over everyone, stated as over consenting patients: its proof does not verify.
        let stated = NodeAnswer { consented: answer.consented.clone(), ..everyone.clone() };
        let msg = single(prover.prove(id, &q, &stated).await).verify().unwrap().payload;
        assert!(verify_plan(&msg, id, &q, &stated, consented(T)).is_err(), "{q}: {:?}", msg.outcome);
    }
    // Too many literals with the consent's: not proven, and the node says why.
    let seven = ["J45", "I10", "E11.9", "N18.3", "Z00", "Z01", "Z02"];
    let mut too_wide = count(Cohort::All { of: seven.map(condition).to_vec() });
    too_wide.group_by.sex = true;
    let id = Uuid::new_v4();
    let answer = query::execute_within(store, &too_wide, id, 10, population).unwrap();
    let msg = single(prover.prove(id, &too_wide, &answer).await).verify().unwrap().payload;
    let why = "more than eight criteria (a sex group and an age band count as one each), with the consent criterion";
    assert!(matches!(&msg.outcome, ProofOutcome::Unavailable { reason } if reason.contains(why)), "{:?}", msg.outcome);
}

#[tokio::test]
async fn proofs_agree_with_the_engine_and_a_spent_budget_makes_a_new_commitment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.db");
    let mut store = Store::open(&path).unwrap();
    let (by_code, by_sex, people) = write(&mut store, 300, 7);
    assert!(people.iter().any(|p| p.2.is_some_and(|v| v < 0)), "some latest values are negative");
    let key = libp2p::identity::Keypair::generate_ed25519();
    let settings =
        ProverSettings { threshold: 10, workers: 1, queue: 4, max_rows: 10_000, max_chunks: 1, every_value: true };
    let prover = Prover::start(path.clone(), key.clone(), settings, CancellationToken::new());

    let mut roots = Vec::new();
    let mut queries: Vec<(Query, u64)> = CODES.iter().zip(&by_code).map(|(c, n)| (count(condition(c)), *n)).collect();
    queries.push((count(Cohort::Sex { sex: Sex::Female }), by_sex[0]));
    queries.push((count(Cohort::Sex { sex: Sex::Male }), by_sex[1]));
    queries.push((count(Cohort::Everyone), 300));
    // A code nobody has: 0 patients, suppressed, proven below the threshold.
    queries.push((count(condition("Z99.9")), 0));
    // Code prefixes: E11* is E11.9 here, N18* is N18.3.
    let prefix = |code: &str| Cohort::Condition { code: format!("icd10cm:{code}*").parse().unwrap() };
    queries.push((count(prefix("E11")), by_code[0]));
    queries.push((count(prefix("N18")), by_code[3]));
    // Patients without each code: a negated criterion (and the person row).
    for (c, n) in CODES.iter().zip(&by_code) {
        queries.push((count(Cohort::Not { of: Box::new(condition(c)) }), 300 - n));
    }
    assert!(queries.len() > agora_zk::format::proof_budget(4096), "enough proofs to spend one snapshot's budget");
    for (q, truth) in &queries {
        let id = Uuid::new_v4();
        let answer = query::execute(&store, q, id, 10).unwrap();
        let cell = answer.total().unwrap().patients;
        assert_eq!(cell, if *truth >= 10 { Cell::Value(*truth) } else { Cell::Suppressed }, "{q}");
        let signed = single(prover.prove(id, q, &answer).await);
        let msg = signed.verify().unwrap().payload;
        roots.push(verify(&msg, id, q, &answer).unwrap_or_else(|e| panic!("{q}: {e}")));
        // The proof is for this query only.
        assert!(verify(&msg, Uuid::new_v4(), q, &answer).is_err());
    }
    roots.dedup();
    assert_eq!(roots.len(), 2, "the twelfth proof needed a fresh snapshot: a new commitment over the same data");

    // The store moves on after an answer: the snapshot at the answer's version still proves it...
    let q = count(Cohort::Everyone);
    let id = Uuid::new_v4();
    let old = query::execute(&store, &q, id, 10).unwrap();
    let tx = store.conn_mut().transaction().unwrap();
    Store::bump_data_version(&tx).unwrap();
    tx.commit().unwrap();
    let msg = single(prover.prove(id, &q, &old).await).verify().unwrap().payload;
    verify(&msg, id, &q, &old).unwrap();
    // ...until an answer over the new version makes the node commit to it.
    let id2 = Uuid::new_v4();
    let new = query::execute(&store, &q, id2, 10).unwrap();
    assert_eq!(new.data_version, old.data_version + 1);
    let msg = single(prover.prove(id2, &q, &new).await).verify().unwrap().payload;
    let root = verify(&msg, id2, &q, &new).unwrap();
    assert!(!roots.contains(&root), "a new commitment for the new data version");
    let msg = single(prover.prove(id, &q, &old).await).verify().unwrap().payload;
    match msg.outcome {
        ProofOutcome::Unavailable { reason } => assert!(reason.contains("data changed"), "{reason}"),
        _ => panic!("an answer over replaced data was proven"),
    }
    let answer = new;
    // A node whose snapshot would exceed its prover_max_rows proves nothing, and says why.
    let small = ProverSettings { max_rows: 100, ..settings };
    let capped = Prover::start(path.clone(), key.clone(), small, CancellationToken::new());
    let msg = single(capped.prove(id2, &q, &answer).await).verify().unwrap().payload;
    assert!(matches!(&msg.outcome, ProofOutcome::Unavailable { reason } if reason.contains("prover_max_rows (100)")));
    assert!(capped.commitment().is_none());
    let mean = Query { aggregates: vec![Aggregate::Mean], ..q.clone() };
    let msg = single(prover.prove(id, &mean, &answer).await).verify().unwrap().payload;
    assert!(
        matches!(msg.outcome, ProofOutcome::Unavailable { reason } if reason == "not provable yet: a sum, mean or standard deviation without a measure")
    );

    // Answers over consenting patients only (a purpose that needs consent).
    consented_answers_are_proven(&mut store, &prover, &people).await;

    // A conjunction with a negation, grouped by sex: the whole cohort and each released sex group are
    // proven, and agree with the persons as written.
    let e11_not_i10 = Cohort::All { of: vec![condition("E11.9"), Cohort::Not { of: Box::new(condition("I10")) }] };
    let mut grouped = count(e11_not_i10);
    grouped.group_by.sex = true;
    let truth = |female: Option<bool>| {
        people.iter().filter(|(f, has, ..)| has[0] && !has[1] && female.is_none_or(|w| w == *f)).count() as u64
    };
    let id = Uuid::new_v4();
    let answer = query::execute(&store, &grouped, id, 10).unwrap();
    let released = |n: u64| if n >= 10 { Cell::Value(n) } else { Cell::Suppressed };
    assert_eq!(answer.rows[0].patients, released(truth(None)));
    let female = answer.rows.iter().find(|r| r.group.sex == Some(Sex::Female)).unwrap();
    assert_eq!(female.patients, released(truth(Some(true))));
    assert!(truth(Some(true)) >= 10 && truth(Some(false)) >= 10, "both sex groups released");
    let msg = single(prover.prove(id, &grouped, &answer).await).verify().unwrap().payload;
    verify(&msg, id, &grouped, &answer).unwrap();
    let ProofOutcome::Proven { cells, .. } = &msg.outcome else { unreachable!() };
    assert_eq!(cells.len(), 3, "whole cohort, female, male (other and unknown are empty, suppressed)");
    // A forged group count fails.
    let mut forged = answer.clone();
    let at = forged.rows.iter().position(|r| r.group.sex == Some(Sex::Male)).unwrap();
    forged.rows[at].patients = Cell::Value(truth(Some(false)) + 1);
    assert!(verify(&msg, id, &grouped, &forged).is_err());

    // The mean and standard deviation of each patient's latest plausible glucose over a cohort, by sex:
    // the number of values, their sum and their sum of squares are proven per released row, and agree
    // with the values as written.
    let mut mean = count(Cohort::Not { of: Box::new(condition("J45")) });
    mean.aggregates = vec![Aggregate::Count, Aggregate::Mean, Aggregate::StdDev];
    mean.measure = Some(Measure { code: Code::new(CodeSystem::Loinc, "2345-7"), selection: Selection::Latest });
    mean.group_by.sex = true;
    let moments = |female: Option<bool>| {
        let values: Vec<i64> = people
            .iter()
            .filter(|(f, has, ..)| !has[2] && female.is_none_or(|w| w == *f))
            .filter_map(|(_, _, v, ..)| *v)
            .collect();
        let squares = values.iter().map(|v| i128::from(*v) * i128::from(*v)).sum::<i128>();
        (values.len() as u64, values.iter().sum::<i64>(), squares)
    };
    let id = Uuid::new_v4();
    let answer = query::execute(&store, &mean, id, 10).unwrap();
    for (row, female) in [(0, None), (1, Some(true)), (2, Some(false))] {
        match answer.rows[row].moments {
            Some(Moments::Released { n, sum, sum_sq }) => {
                assert_eq!((n, sum, sum_sq), moments(female), "{}", answer.rows[row].group)
            }
            other => panic!("{}: {other:?}", answer.rows[row].group),
        }
    }
    let msg = single(prover.prove(id, &mean, &answer).await).verify().unwrap().payload;
    verify(&msg, id, &mean, &answer).unwrap_or_else(|e| panic!("{e}: {:?}", msg.outcome));
    let ProofOutcome::Proven { cells, .. } = &msg.outcome else { unreachable!() };
    assert_eq!(cells.len(), 6, "patients and moments of the cohort, the women and the men");
    // A forged sum fails.
    let mut forged = answer.clone();
    if let Some(Moments::Released { sum, .. }) = &mut forged.rows[1].moments {
        *sum += 1;
    }
    let e = verify(&msg, id, &mean, &forged).unwrap_err();
    assert!(e.contains("does not verify"), "{e}");
    // So does a forged sum of squares (a standard deviation the data do not give).
    let mut forged = answer.clone();
    if let Some(Moments::Released { sum_sq, .. }) = &mut forged.rows[2].moments {
        *sum_sq += 1_000_000;
    }
    let e = verify(&msg, id, &mean, &forged).unwrap_err();
    assert!(e.contains("does not verify"), "{e}");

    // `any of`: (J45 or not N18.3) and I10, by sex, with the mean and sd of glucose: the clause is
    // evaluated inside the proof and agrees with the persons as written.
    let any = Cohort::All {
        of: vec![
            Cohort::Any { of: vec![condition("J45"), Cohort::Not { of: Box::new(condition("N18.3")) }] },
            condition("I10"),
        ],
    };
    let mut either = count(any);
    either.aggregates = vec![Aggregate::Count, Aggregate::Mean, Aggregate::StdDev];
    either.measure = Some(Measure { code: Code::new(CodeSystem::Loinc, "2345-7"), selection: Selection::Latest });
    either.group_by.sex = true;
    let member = |has: &[bool; 4]| (has[2] || !has[3]) && has[1];
    let truth = |female: Option<bool>| {
        latest_moments(people.iter().filter(|(f, has, ..)| member(has) && female.is_none_or(|w| w == *f)))
    };
    let id = Uuid::new_v4();
    let answer = query::execute(&store, &either, id, 10).unwrap();
    for (row, female) in [(0, None), (1, Some(true)), (2, Some(false))] {
        let (patients, n, sum, squares) = truth(female);
        assert!(patients >= 10 && n >= 10, "released: {patients} patients, {n} values");
        assert_eq!(answer.rows[row].patients, Cell::Value(patients), "{}", answer.rows[row].group);
        assert_eq!(answer.rows[row].moments, Some(Moments::Released { n, sum, sum_sq: squares }));
    }
    let msg = single(prover.prove(id, &either, &answer).await).verify().unwrap().payload;
    verify(&msg, id, &either, &answer).unwrap_or_else(|e| panic!("{e}: {:?}", msg.outcome));
    let ProofOutcome::Proven { cells, .. } = &msg.outcome else { unreachable!() };
    assert_eq!(cells.len(), 6, "patients and moments of the cohort, the women and the men");
    // A forged group count fails.
    let mut forged = answer.clone();
    forged.rows[1].patients = Cell::Value(truth(Some(true)).0 - 1);
    assert!(verify(&msg, id, &either, &forged).is_err());

    // Every plausible value, not each patient's latest: the mean and sd of all glucose values of
    // patients without J45, proven over the committed value rows.
    let every = Query {
        measure: Some(Measure { code: Code::new(CodeSystem::Loinc, "2345-7"), selection: Selection::All }),
        group_by: GroupBy::default(),
        ..mean.clone()
    };
    let values: Vec<i64> = people.iter().filter(|(_, has, ..)| !has[2]).flat_map(|p| p.3.clone()).collect();
    assert!(values.len() > people.iter().filter(|(_, has, v, ..)| !has[2] && v.is_some()).count());
    let id = Uuid::new_v4();
    let answer = query::execute(&store, &every, id, 10).unwrap();
    let squares = values.iter().map(|v| i128::from(*v) * i128::from(*v)).sum::<i128>();
    let expected = Moments::Released { n: values.len() as u64, sum: values.iter().sum(), sum_sq: squares };
    assert_eq!(answer.rows[0].moments, Some(expected));
    let msg = single(prover.prove(id, &every, &answer).await).verify().unwrap().payload;
    verify(&msg, id, &every, &answer).unwrap_or_else(|e| panic!("{e}: {:?}", msg.outcome));
    let mut forged = answer.clone();
    if let Some(Moments::Released { n, .. }) = &mut forged.rows[0].moments {
        *n -= 1;
    }
    assert!(verify(&msg, id, &every, &forged).is_err());
    // A node whose prover_max_rows fits its snapshot only without every value: each patient's latest
    // value is still proven, and an every-value answer says why it is not.
    let data = agora_node::proofs::snapshot_blocks(&mut store).unwrap();
    let with: usize = data.blocks.iter().map(Vec::len).sum();
    let without = with - data.blocks.iter().flatten().filter(|r| data.value_codes.contains(&r.code)).count();
    assert!(without < with);
    let capped = ProverSettings { max_rows: without, ..settings };
    let latest_only = Prover::start(path.clone(), key.clone(), capped, CancellationToken::new());
    let msg = single(latest_only.prove(id, &every, &answer).await).verify().unwrap().payload;
    let why = format!("every value of the measures would take the snapshot to {with} rows");
    assert!(matches!(&msg.outcome, ProofOutcome::Unavailable { reason } if reason.contains(&why)), "{:?}", msg.outcome);
    let latest = Query {
        measure: Some(Measure { code: Code::new(CodeSystem::Loinc, "2345-7"), selection: Selection::Latest }),
        ..every.clone()
    };
    let id = Uuid::new_v4();
    let answer = query::execute(&store, &latest, id, 10).unwrap();
    let msg = single(latest_only.prove(id, &latest, &answer).await).verify().unwrap().payload;
    verify(&msg, id, &latest, &answer).unwrap_or_else(|e| panic!("{e}: {:?}", msg.outcome));
    // A node that does not commit every value says so.
    let off = ProverSettings { every_value: false, ..settings };
    let latest_only = Prover::start(path.clone(), key.clone(), off, CancellationToken::new());
    let every_id = Uuid::new_v4();
    let every_answer = query::execute(&store, &every, every_id, 10).unwrap();
    let msg = single(latest_only.prove(every_id, &every, &every_answer).await).verify().unwrap().payload;
    let why = "latest value only (prover_every_value = false)";
    assert!(matches!(&msg.outcome, ProofOutcome::Unavailable { reason } if reason.contains(why)), "{:?}", msg.outcome);
    let msg = single(latest_only.prove(id, &latest, &answer).await).verify().unwrap().payload;
    verify(&msg, id, &latest, &answer).unwrap_or_else(|e| panic!("{e}: {:?}", msg.outcome));

    // A conjunction inside an `any of`: (J45 and I10) or E11.9, proven as (J45 or E11.9) and (I10 or
    // E11.9).
    let mixed =
        Cohort::Any { of: vec![Cohort::All { of: vec![condition("J45"), condition("I10")] }, condition("E11.9")] };
    let q = count(mixed);
    let truth = people.iter().filter(|(_, has, ..)| (has[2] && has[1]) || has[0]).count() as u64;
    let id = Uuid::new_v4();
    let answer = query::execute(&store, &q, id, 10).unwrap();
    assert_eq!(answer.rows[0].patients, Cell::Value(truth));
    let msg = single(prover.prove(id, &q, &answer).await).verify().unwrap().payload;
    verify(&msg, id, &q, &answer).unwrap_or_else(|e| panic!("{e}: {:?}", msg.outcome));

    // Ages: patients aged 30 and over, by age band (30-49, 50-64, 65+), with the mean and sd of their
    // latest glucose; each band's cells are proven over the committed birth months.
    let mut aged = count(Cohort::Age { min: Some(30), max: None });
    aged.aggregates = vec![Aggregate::Count, Aggregate::Mean, Aggregate::StdDev];
    aged.measure = Some(Measure { code: Code::new(CodeSystem::Loinc, "2345-7"), selection: Selection::Latest });
    aged.group_by.age_bands = Some(vec![50, 65]);
    let band_truth =
        |lo: u32, hi: u32| latest_moments(people.iter().filter(|p| p.4.is_some_and(|a| a >= lo && a < hi)));
    let id = Uuid::new_v4();
    let answer = query::execute(&store, &aged, id, 10).unwrap();
    assert_eq!(answer.rows.len(), 4, "the whole cohort and three bands (0-49 holds the 30-49s)");
    for (row, (lo, hi)) in [(30, u32::MAX), (30, 50), (50, 65), (65, u32::MAX)].into_iter().enumerate() {
        let (patients, n, sum, squares) = band_truth(lo, hi);
        assert!(patients >= 10 && n >= 10, "released: {patients} patients, {n} values");
        assert_eq!(answer.rows[row].patients, Cell::Value(patients), "{}", answer.rows[row].group);
        assert_eq!(answer.rows[row].moments, Some(Moments::Released { n, sum, sum_sq: squares }));
    }
    let msg = single(prover.prove(id, &aged, &answer).await).verify().unwrap().payload;
    verify(&msg, id, &aged, &answer).unwrap_or_else(|e| panic!("{e}: {:?}", msg.outcome));
    let ProofOutcome::Proven { cells, .. } = &msg.outcome else { unreachable!() };
    assert_eq!(cells.len(), 8, "patients and moments of the cohort and of each band");
    // A patient moved between bands is refused.
    let mut forged = answer.clone();
    forged.rows[1].patients = Cell::Value(band_truth(30, 50).0 + 1);
    forged.rows[2].patients = Cell::Value(band_truth(50, 65).0 - 1);
    assert!(verify(&msg, id, &aged, &forged).unwrap_err().contains("does not verify"));

    // A histogram of each patient's latest glucose (edges 50, 150, 250 mg/dL): each released bin is
    // proven as the patients whose committed latest value is in it.
    let mut histogram = count(Cohort::Everyone);
    histogram.aggregates = vec![Aggregate::Count, Aggregate::Histogram { edges: vec![50.0, 150.0, 250.0] }];
    histogram.measure = Some(Measure { code: Code::new(CodeSystem::Loinc, "2345-7"), selection: Selection::Latest });
    let edges = [i64::MIN, 50_000, 150_000, 250_000, i64::MAX];
    let bins: Vec<u64> = edges
        .windows(2)
        .map(|w| people.iter().filter(|p| p.2.is_some_and(|v| v >= w[0] && v < w[1])).count() as u64)
        .collect();
    assert!(bins.iter().all(|n| *n >= 10), "{bins:?}");
    let id = Uuid::new_v4();
    let answer = query::execute(&store, &histogram, id, 10).unwrap();
    assert_eq!(answer.rows[0].histogram, Some(bins.iter().map(|n| Cell::Value(*n)).collect()));
    let msg = single(prover.prove(id, &histogram, &answer).await).verify().unwrap().payload;
    verify(&msg, id, &histogram, &answer).unwrap_or_else(|e| panic!("{e}: {:?}", msg.outcome));
    let ProofOutcome::Proven { cells, .. } = &msg.outcome else { unreachable!() };
    assert_eq!(cells.len(), 5, "the patients and four bins");
    // A value moved between bins is refused.
    let mut forged = answer.clone();
    forged.rows[0].histogram =
        Some(vec![Cell::Value(bins[0] + 1), Cell::Value(bins[1] - 1), Cell::Value(bins[2]), Cell::Value(bins[3])]);
    assert!(verify(&msg, id, &histogram, &forged).unwrap_err().contains("does not verify"));

    // A histogram of every glucose value (edges 100, 250 mg/dL): each bin counts the values in it,
    // proven as a range of the measure's every-value rows with no sum stated.
    let mut every_bins = histogram.clone();
    every_bins.aggregates = vec![Aggregate::Count, Aggregate::Histogram { edges: vec![100.0, 250.0] }];
    every_bins.measure = Some(Measure { code: Code::new(CodeSystem::Loinc, "2345-7"), selection: Selection::All });
    let edges = [i64::MIN, 100_000, 250_000, i64::MAX];
    let bins: Vec<u64> = edges
        .windows(2)
        .map(|w| people.iter().flat_map(|p| p.3.iter()).filter(|v| **v >= w[0] && **v < w[1]).count() as u64)
        .collect();
    let id = Uuid::new_v4();
    let answer = query::execute(&store, &every_bins, id, 10).unwrap();
    assert_eq!(answer.rows[0].histogram, Some(bins.iter().map(|n| Cell::Value(*n)).collect()));
    let msg = single(prover.prove(id, &every_bins, &answer).await).verify().unwrap().payload;
    verify(&msg, id, &every_bins, &answer).unwrap_or_else(|e| panic!("{e}: {:?}", msg.outcome));
    let mut forged = answer.clone();
    forged.rows[0].histogram = Some(vec![Cell::Value(bins[0] - 1), Cell::Value(bins[1] + 1), Cell::Value(bins[2])]);
    assert!(verify(&msg, id, &every_bins, &forged).unwrap_err().contains("does not verify"));

    // Observation criteria: some plausible glucose value at or above 300 mg/dL; none in [0, 100]; some
    // below -10 (every value of the measure, committed under its own code).
    let glucose = Code::new(CodeSystem::Loinc, "2345-7");
    let observed = |min: Option<f64>, max: Option<f64>| Cohort::Observation { code: glucose.clone(), min, max };
    let some = |lo: i64, hi: i64| people.iter().filter(|p| p.3.iter().any(|v| (lo..=hi).contains(v))).count() as u64;
    for (cohort, truth) in [
        (observed(Some(300.0), None), some(300_000, i64::MAX)),
        (Cohort::Not { of: Box::new(observed(Some(0.0), Some(100.0))) }, 300 - some(0, 100_000)),
        (observed(None, Some(-10.0)), some(i64::MIN, -10_000)),
    ] {
        let q = count(cohort);
        let id = Uuid::new_v4();
        let answer = query::execute(&store, &q, id, 10).unwrap();
        assert_eq!(answer.rows[0].patients, Cell::Value(truth), "{q}");
        let msg = single(prover.prove(id, &q, &answer).await).verify().unwrap().payload;
        verify(&msg, id, &q, &answer).unwrap_or_else(|e| panic!("{q}: {e}: {:?}", msg.outcome));
    }

    // An observation criterion beside every value of the same measure: the patients with some glucose
    // at or above 200 mg/dL, the mean, sd and a histogram (edge 300) of all their values. Each value
    // counts by its patient's whole block, whichever of their rows meets the criterion.
    let mut beside = count(observed(Some(200.0), None));
    beside.aggregates =
        vec![Aggregate::Count, Aggregate::Mean, Aggregate::StdDev, Aggregate::Histogram { edges: vec![300.0] }];
    beside.measure = Some(Measure { code: glucose.clone(), selection: Selection::All });
    let members: Vec<&Person> = people.iter().filter(|p| p.3.iter().any(|v| *v >= 200_000)).collect();
    let values: Vec<i64> = members.iter().flat_map(|p| p.3.iter().copied()).collect();
    let (n, sum) = (values.len() as u64, values.iter().sum::<i64>());
    let squares: i128 = values.iter().map(|v| i128::from(*v) * i128::from(*v)).sum();
    let below = values.iter().filter(|v| **v < 300_000).count() as u64;
    assert!(below >= 10 && n - below >= 10 && values.iter().any(|v| *v < 200_000), "{n} values, {below} below 300");
    let id = Uuid::new_v4();
    let answer = query::execute(&store, &beside, id, 10).unwrap();
    assert_eq!(answer.rows[0].patients, Cell::Value(members.len() as u64));
    assert_eq!(answer.rows[0].moments, Some(Moments::Released { n, sum, sum_sq: squares }));
    assert_eq!(answer.rows[0].histogram, Some(vec![Cell::Value(below), Cell::Value(n - below)]));
    let msg = single(prover.prove(id, &beside, &answer).await).verify().unwrap().payload;
    verify(&msg, id, &beside, &answer).unwrap_or_else(|e| panic!("{e}: {:?}", msg.outcome));
    let ProofOutcome::Proven { cells, .. } = &msg.outcome else { unreachable!() };
    assert_eq!(cells.len(), 4, "the patients, the moments and two bins");
    // One more value (of 150 mg/dL) claimed is refused.
    let mut forged = answer.clone();
    forged.rows[0].moments =
        Some(Moments::Released { n: n + 1, sum: sum + 150_000, sum_sq: squares + 150_000i128.pow(2) });
    assert!(verify(&msg, id, &beside, &forged).unwrap_err().contains("does not verify"));

    // Not aged 18 to 64: those outside, and those without an age (the negation holds for them).
    let q = count(Cohort::Not { of: Box::new(Cohort::Age { min: Some(18), max: Some(64) }) });
    let truth = people.iter().filter(|p| !p.4.is_some_and(|a| (18..=64).contains(&a))).count() as u64;
    assert!(people.iter().any(|p| p.4.is_none()), "some persons have no age");
    let id = Uuid::new_v4();
    let answer = query::execute(&store, &q, id, 10).unwrap();
    assert_eq!(answer.rows[0].patients, Cell::Value(truth));
    let msg = single(prover.prove(id, &q, &answer).await).verify().unwrap().payload;
    verify(&msg, id, &q, &answer).unwrap_or_else(|e| panic!("{e}: {:?}", msg.outcome));
}

/// A store in more chunks than one message holds parts of (eleven or more, `prover_max_chunks` raised):
/// each cell's parts go in runs of at most ten, a message each, in order, and together prove the count
/// counted here from the persons as written.
#[tokio::test]
async fn a_store_in_more_chunks_than_a_message_holds_is_proven_in_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.db");
    let mut store = Store::open(&path).unwrap();
    let (by_code, _, _) = write(&mut store, 150, 29);
    let key = libp2p::identity::Keypair::generate_ed25519();
    let blocks = agora_node::proofs::snapshot_blocks(&mut store).unwrap().blocks;
    let rows: usize = blocks.iter().map(Vec::len).sum();
    let largest = blocks.iter().map(Vec::len).max().unwrap();
    let max_rows = (rows / 12).max(largest);
    let settings = ProverSettings { threshold: 10, workers: 1, queue: 4, max_rows, max_chunks: 24, every_value: true };
    let prover = Prover::start(path.clone(), key, settings, CancellationToken::new());
    let commitment = prover.commit_current().await.unwrap();
    let chunks = commitment.chunks.len();
    assert!((11..=24).contains(&chunks), "{chunks} chunks: {rows} rows in chunks of at most {max_rows}");

    let q = count(condition("J45"));
    let id = Uuid::new_v4();
    let answer = query::execute(&store, &q, id, 10).unwrap();
    assert_eq!(answer.rows[0].patients, Cell::Value(by_code[2]));
    let msgs: Vec<ProofMessage> =
        prover.prove(id, &q, &answer).await.into_iter().map(|m| m.verify().unwrap().payload).collect();
    let runs: Vec<(usize, usize, usize)> = msgs
        .iter()
        .map(|m| match &m.outcome {
            ProofOutcome::Chunked { index, cell, .. } => (*index, cell.first, cell.parts.len()),
            other => panic!("not a run of parts: {other:?}"),
        })
        .collect();
    let expected: Vec<(usize, usize, usize)> = (0..chunks).step_by(10).map(|f| (0, f, (chunks - f).min(10))).collect();
    assert_eq!(runs, expected);
    assert_eq!(verify_chunks(&msgs, id, &q, &answer).unwrap(), commitment.root);
    let mut forged = answer.clone();
    forged.rows[0].patients = Cell::Value(by_code[2] + 1);
    assert!(verify_chunks(&msgs, id, &q, &forged).unwrap_err().contains("does not"));
}

/// Checks the messages of an answer proven over a dataset in chunks as an auditor would: for each target
/// of the plan, in order, its runs of parts (at most ten a message, each starting where the one before
/// ends), each over the same commitment (which names its chunk list), whose parts together prove, with
/// agora-zk's own verifier, the claim made here from the plan and the answer's cell.
fn verify_chunks(msgs: &[ProofMessage], id: Uuid, q: &Query, answer: &NodeAnswer) -> Result<String, String> {
    let targets = plan(q).unwrap().targets(answer);
    let mut cells: Vec<(DatasetCommitment, ChunkedCell)> = Vec::new();
    for (i, msg) in msgs.iter().enumerate() {
        let ProofOutcome::Chunked { commitment, index, cells: n, cell: run, statement } = &msg.outcome else {
            return Err(format!("message {i} is not a cell over chunks: {:?}", msg.outcome));
        };
        if (*n, statement.as_str()) != (targets.len(), agora_zk::archive::ARCHIVE_FORMAT) {
            return Err(format!("message {i} says {n} cells, statement {statement}"));
        }
        if run.parts.len() > agora_protocol::proof::MAX_PARTS_PER_MESSAGE {
            return Err(format!("message {i} holds {} parts", run.parts.len()));
        }
        let held = cells.len();
        match cells.last_mut() {
            Some((c, whole)) if *index + 1 == held => {
                if (c != commitment)
                    || run.first != whole.parts.len()
                    || (run.part, &run.group) != (whole.part, &whole.group)
                {
                    return Err(format!("message {i}: a run of cell {index} that does not follow the one before"));
                }
                whole.parts.extend(run.parts.iter().cloned());
            }
            _ if *index == held && run.first == 0 => cells.push((commitment.clone(), run.clone())),
            _ => return Err(format!("message {i}: cell {index} from part {} out of order", run.first)),
        }
    }
    if cells.len() != targets.len() {
        return Err(format!("{} cells for {} targets", cells.len(), targets.len()));
    }
    let mut root = None;
    for (i, ((commitment, cell), target)) in cells.iter().zip(&targets).enumerate() {
        commitment.check_chunks()?;
        if *root.get_or_insert(commitment.root.clone()) != commitment.root {
            return Err("cells over different datasets".into());
        }
        assert_eq!((cell.part, cell.group), (target.part, target.group));
        let claim = claim_of(target, id, q, answer)?;
        let archived = agora_zk::archive::ArchivedChunkedAnswer {
            format: agora_zk::archive::CHUNKED_FORMAT.into(),
            dataset: commitment
                .chunks
                .iter()
                .map(|c| agora_zk::Commitment {
                    version: commitment.version,
                    trace_length: c.trace_length,
                    root: c.root.clone(),
                })
                .collect(),
            claim: agora_zk::archive::ArchivedClaim::of(&claim),
            parts: cell
                .parts
                .iter()
                .map(|p| serde_json::from_value(serde_json::to_value(p).unwrap()).unwrap())
                .collect(),
        };
        let proven = archived.verify().map_err(|e| format!("cell {i}: {e}"))?;
        assert_eq!(proven, claim);
    }
    Ok(root.unwrap_or_default())
}

/// A store above `prover_max_rows` is committed in chunks of whole patients and its answers are proven
/// a cell per message, each cell's parts adding up (masked) to the count or sum counted here from the
/// persons as written; no part states its chunk's own count. A standard deviation's sum of squares is
/// proven over the chunks too. A store needing more chunks than allowed is refused with the reason.
#[tokio::test]
async fn a_store_above_the_row_cap_is_proven_in_chunks_a_cell_per_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.db");
    let mut store = Store::open(&path).unwrap();
    let (by_code, _, people) = write(&mut store, 200, 23);
    let key = libp2p::identity::Keypair::generate_ed25519();
    let rows: usize = agora_node::proofs::snapshot_blocks(&mut store).unwrap().blocks.iter().map(Vec::len).sum();
    // Three chunks: each at most a third of the rows and a few patients more.
    let max_rows = rows / 3 + 40;
    let settings = ProverSettings { threshold: 10, workers: 1, queue: 4, max_rows, max_chunks: 10, every_value: true };
    let prover = Prover::start(path.clone(), key.clone(), settings, CancellationToken::new());
    let commitment = prover.commit_current().await.unwrap();
    assert_eq!(commitment.chunks.len(), 3, "{rows} rows in chunks of at most {max_rows}");
    assert_eq!(
        commitment.root,
        agora_protocol::proof::DatasetCommitment::chunks_root(commitment.version, &commitment.chunks).unwrap()
    );

    // J45 by sex: the cohort and each sex group, released, a cell per message.
    let mut by_sex = count(condition("J45"));
    by_sex.group_by.sex = true;
    let id = Uuid::new_v4();
    let answer = query::execute(&store, &by_sex, id, 10).unwrap();
    assert_eq!(answer.rows[0].patients, Cell::Value(by_code[2]));
    let msgs: Vec<ProofMessage> =
        prover.prove(id, &by_sex, &answer).await.into_iter().map(|m| m.verify().unwrap().payload).collect();
    assert_eq!(msgs.len(), plan(&by_sex).unwrap().targets(&answer).len());
    assert_eq!(verify_chunks(&msgs, id, &by_sex, &answer).unwrap(), commitment.root);
    // No part claims its chunk's own count (at most 200 here): every part's count is masked by a
    // uniform field element (below 2^32 with probability about 2^-32 each).
    for msg in &msgs {
        let ProofOutcome::Chunked { cell, .. } = &msg.outcome else { unreachable!() };
        assert_eq!(cell.parts.len(), 3);
        assert!(cell.parts.iter().all(|p| p.count > u64::from(u32::MAX)), "{:?}", cell.parts);
    }
    // A forged count fails.
    let mut forged = answer.clone();
    forged.rows[0].patients = Cell::Value(by_code[2] + 1);
    assert!(verify_chunks(&msgs, id, &by_sex, &forged).unwrap_err().contains("does not"));

    // A code nobody has: suppressed, proven below the threshold over the chunks without its count.
    let q = count(condition("Z99.9"));
    let id = Uuid::new_v4();
    let answer = query::execute(&store, &q, id, 10).unwrap();
    assert_eq!(answer.rows[0].patients, Cell::Suppressed);
    let msgs: Vec<ProofMessage> =
        prover.prove(id, &q, &answer).await.into_iter().map(|m| m.verify().unwrap().payload).collect();
    verify_chunks(&msgs, id, &q, &answer).unwrap();

    // The mean of each patient's latest glucose: the number of values and their sum, over the chunks.
    let mut mean = count(Cohort::Everyone);
    mean.aggregates = vec![Aggregate::Count, Aggregate::Mean];
    mean.measure = Some(Measure { code: Code::new(CodeSystem::Loinc, "2345-7"), selection: Selection::Latest });
    let id = Uuid::new_v4();
    let answer = query::execute(&store, &mean, id, 10).unwrap();
    let (patients, n, sum, squares) = latest_moments(people.iter());
    assert_eq!(answer.rows[0].patients, Cell::Value(patients));
    assert!(matches!(answer.rows[0].moments, Some(Moments::Released { n: a, sum: b, .. }) if (a, b) == (n, sum)));
    let msgs: Vec<ProofMessage> =
        prover.prove(id, &mean, &answer).await.into_iter().map(|m| m.verify().unwrap().payload).collect();
    assert_eq!(msgs.len(), 2, "patients and moments");
    verify_chunks(&msgs, id, &mean, &answer).unwrap();
    let mut forged = answer.clone();
    if let Some(Moments::Released { sum, .. }) = &mut forged.rows[0].moments {
        *sum += 1;
    }
    assert!(verify_chunks(&msgs, id, &mean, &forged).is_err());

    // A standard deviation: the sum of squares too, each part's masked and the last part recombining
    // them, equal to the one computed here from the values written.
    mean.aggregates.push(Aggregate::StdDev);
    let id = Uuid::new_v4();
    let answer = query::execute(&store, &mean, id, 10).unwrap();
    assert_eq!(answer.rows[0].moments, Some(Moments::Released { n, sum, sum_sq: squares }));
    let msgs: Vec<ProofMessage> =
        prover.prove(id, &mean, &answer).await.into_iter().map(|m| m.verify().unwrap().payload).collect();
    assert_eq!(msgs.len(), 2, "patients and moments");
    verify_chunks(&msgs, id, &mean, &answer).unwrap();
    let ProofOutcome::Chunked { cell, .. } = &msgs[1].outcome else { unreachable!() };
    assert!(cell.parts.iter().all(|p| p.link.squares.is_some()) && cell.parts[2].link.squares_total.is_some());
    let mut forged = answer.clone();
    if let Some(Moments::Released { sum_sq, .. }) = &mut forged.rows[0].moments {
        *sum_sq += 1;
    }
    let why = verify_chunks(&msgs, id, &mean, &forged).unwrap_err();
    assert!(why.contains("cell 1: proof does not verify") && why.contains("part 0: proof does not verify"), "{why}");

    // At most two chunks: the store needs three, so nothing is proven, and the node says why (as soon as
    // its read shows more rows than two chunks hold, or once it has counted the chunks).
    let two = ProverSettings { max_chunks: 2, ..settings };
    let capped = Prover::start(path.clone(), key, two, CancellationToken::new());
    let id = Uuid::new_v4();
    let answer = query::execute(&store, &by_sex, id, 10).unwrap();
    let msg = single(capped.prove(id, &by_sex, &answer).await).verify().unwrap().payload;
    assert!(
        matches!(&msg.outcome, ProofOutcome::Unavailable { reason } if (reason.contains("3 chunks") || reason.contains(&format!("more than {} rows", 2 * settings.max_rows))) && reason.contains("prover_max_chunks (2)")),
        "{:?}",
        msg.outcome
    );
}

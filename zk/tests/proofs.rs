//! Honest proofs verify; every kind of dishonest or damaged answer is refused with its reason.

use agora_zk::format::{capacity, Commitment};
use agora_zk::prove::{Block, Outputs, Row, Snapshot, Statement};
use agora_zk::{verify_claim, Claim, Criterion, ZkError};
use proptest::prelude::*;

mod common;
use common::*;

fn count_of(criteria: Vec<Criterion>) -> Statement {
    Statement { criteria, measure: None, squares: false, measure_range: None, threshold: 0 }
}

/// The count and sum of the measure's values over a cohort.
fn mean_of(criteria: Vec<Criterion>) -> Statement {
    Statement { criteria, measure: Some(MEASURE), squares: false, measure_range: None, threshold: 0 }
}

fn with(code: u64) -> Statement {
    count_of(vec![Criterion::has(PERSON), Criterion::has(code)])
}

#[test]
fn honest_answers_verify_and_equal_an_independent_count() {
    let data = patients(60, 42);
    let snapshot = Snapshot::build(data.clone(), [9; 32]).unwrap();
    assert_eq!(snapshot.commitment().trace_length, 4096);
    let statements = [
        count_of(vec![Criterion::has(PERSON)]),
        with(3),
        with(77),
        count_of(vec![Criterion::has(PERSON), Criterion::has(FEMALE), Criterion::has(1)]),
        count_of(vec![Criterion::has(PERSON), Criterion::has(MALE), Criterion::lacks(1), Criterion::has(4)]),
        count_of(vec![Criterion::lacks(2), Criterion::has(PERSON)]),
        // Disjunctions: 1 or 2; female and (1 or not 2); (not 1 or 3) and the person.
        count_of(vec![Criterion::has(1), Criterion::has(2).or_previous()]),
        count_of(vec![Criterion::has(FEMALE), Criterion::has(1), Criterion::lacks(2).or_previous()]),
        count_of(vec![Criterion::lacks(1), Criterion::has(3).or_previous(), Criterion::has(PERSON)]),
        mean_of(vec![Criterion::has(PERSON)]),
        mean_of(vec![Criterion::has(PERSON), Criterion::has(FEMALE), Criterion::lacks(0)]),
        // Eight criteria, the format's most: (female or 0) and not 1 and (2 or not 3) and 4 and the person.
        mean_of(vec![
            Criterion::has(FEMALE),
            Criterion::has(0).or_previous(),
            Criterion::lacks(1),
            Criterion::has(2),
            Criterion::lacks(3).or_previous(),
            Criterion::has(4),
            Criterion::lacks(5).or_previous(),
            Criterion::has(PERSON),
        ]),
    ];
    // Five proofs over one commitment, the rest over a second commitment of the same data.
    let again = Snapshot::build(data.clone(), [10; 32]).unwrap();
    for (i, statement) in statements.iter().enumerate() {
        let snapshot = if i < 5 { &snapshot } else { &again };
        let (claim, proof) = snapshot.prove([i as u8; 32], statement).unwrap();
        assert_eq!((claim.count, claim.sum), expected(&data, &statement.criteria, statement.measure), "{statement:?}");
        verify_claim(snapshot.commitment(), &claim, &proof).unwrap();
    }
}

#[test]
fn the_commitment_is_fixed_by_data_and_seed() {
    let data = patients(30, 1);
    let a = Snapshot::build(data.clone(), [1; 32]).unwrap();
    let b = Snapshot::build(data.clone(), [1; 32]).unwrap();
    let c = Snapshot::build(data.clone(), [2; 32]).unwrap();
    let mut other = data.clone();
    other[10].push(Row { code: MEASURE, value: 1 });
    let d = Snapshot::build(other, [1; 32]).unwrap();
    // The same rows cut into other blocks are other data.
    let mut merged = data.clone();
    let tail = merged.remove(11);
    merged[10].extend(tail);
    let e = Snapshot::build(merged, [1; 32]).unwrap();
    assert_eq!(a.commitment(), b.commitment());
    assert_ne!(a.commitment().root, c.commitment().root, "the random rows mask the commitment");
    assert_ne!(a.commitment().root, d.commitment().root);
    assert_ne!(a.commitment().root, e.commitment().root);
    // Two proofs of the same answer differ (fresh randomness in the per-query segment) and both verify.
    let (claim, p1) = a.prove([5; 32], &with(1)).unwrap();
    let (_, p2) = a.prove([5; 32], &with(1)).unwrap();
    assert_ne!(p1, p2);
    verify_claim(a.commitment(), &claim, &p2).unwrap();
}

/// A measure row counts by its block's verdict over all the block's rows, whatever their order: a
/// criterion's row after the measure's still decides (read at the measure row alone, a negated
/// criterion would count a patient who fails it), and a criterion may test the measure's own code
/// (the values of patients who have some value in a range).
#[test]
fn a_measure_row_counts_by_its_whole_block() {
    let mut data = patients(20, 9);
    // Patient 0: female, a value of the measure, then condition 5 after it; patient 1 the same without 5.
    data[0] = vec![Row::attribute(PERSON), Row::attribute(FEMALE), Row { code: MEASURE, value: 7 }, Row::attribute(5)];
    data[1] = vec![Row::attribute(PERSON), Row::attribute(FEMALE), Row { code: MEASURE, value: 11 }];
    let snapshot = Snapshot::build(data.clone(), [3; 32]).unwrap();
    let statement = mean_of(vec![Criterion::has(FEMALE), Criterion::lacks(5)]);
    let (claim, proof) = snapshot.prove([0; 32], &statement).unwrap();
    let honest = expected(&data, &statement.criteria, Some(MEASURE));
    assert_eq!((claim.count, claim.sum), honest);
    verify_claim(snapshot.commitment(), &claim, &proof).unwrap();
    // Patient 0 counted as its measure row alone would see it: winterfell's debug check panics on the
    // broken verdict, or the proof does not verify.
    let outputs = Outputs { count: honest.0 + 1, sum: honest.1 + 7, sum_sq: 0 };
    let forced = std::panic::catch_unwind(|| snapshot.prove_outputs([0; 32], &statement, outputs));
    match forced {
        Err(_) => {} // winterfell's debug build found the broken constraint
        Ok(Ok((claim, proof))) => assert!(verify_claim(snapshot.commitment(), &claim, &proof).is_err()),
        Ok(Err(e)) => panic!("refused for another reason: {e}"),
    }
    // Many values of the measure in one block, a criterion's row between them: each counted.
    let mut many = data.clone();
    many[2] = vec![
        Row::attribute(FEMALE),
        Row { code: MEASURE, value: 1 },
        Row::attribute(3),
        Row { code: MEASURE, value: 2 },
        Row::attribute(PERSON),
    ];
    let snapshot = Snapshot::build(many.clone(), [3; 32]).unwrap();
    for criteria in [vec![Criterion::has(FEMALE), Criterion::has(3)], vec![Criterion::has(PERSON), Criterion::lacks(3)]]
    {
        let statement = mean_of(criteria);
        let (claim, proof) = snapshot.prove([1; 32], &statement).unwrap();
        assert_eq!((claim.count, claim.sum), expected(&many, &statement.criteria, Some(MEASURE)));
        verify_claim(snapshot.commitment(), &claim, &proof).unwrap();
    }
    // The measure's own code as a ranged criterion: every value of the patients with some value ≥ 5,
    // and the values of those with none in [5, 10].
    for criterion in
        [Criterion::has(MEASURE).within(Some(5), None), Criterion::lacks(MEASURE).within(Some(5), Some(10))]
    {
        let statement = mean_of(vec![Criterion::has(PERSON), criterion]);
        let (claim, proof) = snapshot.prove([2; 32], &statement).unwrap();
        let want = expected(&many, &statement.criteria, Some(MEASURE));
        assert_eq!((claim.count, claim.sum), want, "{criterion:?}");
        verify_claim(snapshot.commitment(), &claim, &proof).unwrap();
    }
    // Unranged, the measure's code appears twice in a block: refused with the reason.
    let e = snapshot.prove([0; 32], &mean_of(vec![Criterion::has(MEASURE)])).unwrap_err();
    assert!(e.to_string().contains("appears twice"), "{e}");
}

/// A mean's statement with the sum of squares proven too (a standard deviation).
fn squares_of(criteria: Vec<Criterion>) -> Statement {
    Statement { squares: true, ..mean_of(criteria) }
}

/// Sums of squares (for standard deviations) are exact far beyond the field's modulus: values near
/// 2^32 over a thousand patients square-sum to about 2^70 and more, and every limb and carry of the split is
/// exercised. A claim off by one, by 2^32 (the low word) or by 2^49 (what a split of the cross sum that
/// is not range-checked could forge) is refused, as is one without the squares or a suppressed one
/// with them.
#[test]
fn sums_of_squares_are_exact_and_bound_to_the_proof() {
    let mut data = patients(1_000, 11);
    let mut x = 99u64;
    for block in &mut data {
        for row in block.iter_mut().filter(|r| r.code == MEASURE) {
            row.value = match xorshift(&mut x) % 4 {
                0 => u32::MAX - (xorshift(&mut x) % 1_000) as u32,
                1 => (xorshift(&mut x) % 70_000) as u32,
                _ => xorshift(&mut x) as u32,
            };
        }
    }
    let snapshot = Snapshot::build(data.clone(), [6; 32]).unwrap();
    let commitment = snapshot.commitment().clone();
    let cohorts = [vec![Criterion::has(PERSON)], vec![Criterion::has(FEMALE), Criterion::lacks(1)]];
    let mut proven = Vec::new();
    for criteria in cohorts {
        let statement = squares_of(criteria);
        let (claim, proof) = snapshot.prove([3; 32], &statement).unwrap();
        let (count, sum) = expected(&data, &statement.criteria, Some(MEASURE));
        let squares = expected_squares(&data, &statement.criteria);
        assert_eq!((claim.count, claim.sum, claim.sum_sq), (count, sum, Some(squares)));
        assert!(squares > 1 << 68, "the test reaches far beyond the modulus: {squares}");
        verify_claim(&commitment, &claim, &proof).unwrap();
        proven.push((claim, proof));
    }
    let (claim, proof) = &proven[0];
    let squares = claim.sum_sq.unwrap();
    for forged in [squares + 1, squares - 1, squares + (1 << 32), squares - (1 << 49), squares + (1 << 64)] {
        let e = verify_claim(&commitment, &Claim { sum_sq: Some(forged), ..claim.clone() }, proof).unwrap_err();
        assert!(matches!(e, ZkError::Rejected(_)), "{forged}: {e}");
    }
    let e = verify_claim(&commitment, &Claim { sum_sq: None, ..claim.clone() }, proof).unwrap_err();
    assert!(matches!(e, ZkError::Shape { .. }), "{e}");
    let e = verify_claim(&commitment, &Claim { sum_sq: Some(u128::MAX), ..claim.clone() }, proof).unwrap_err();
    assert!(e.to_string().contains("exceeds count"), "{e}");
    let suppressed = Claim { count: 0, sum: 0, suppressed_below: Some(10), ..claim.clone() };
    let e = verify_claim(&commitment, &suppressed, proof).unwrap_err();
    assert!(e.to_string().contains("disclosed measure only"), "{e}");
    // The squares of one cohort are not another's.
    let e = verify_claim(&commitment, &Claim { sum_sq: proven[1].0.sum_sq, ..claim.clone() }, proof).unwrap_err();
    assert!(matches!(e, ZkError::Rejected(_)), "{e}");
    // A prover stating a wrong sum of squares cannot make a proof that verifies.
    let honest = snapshot.evaluate(&claim.criteria, Some(MEASURE)).unwrap();
    let wrong = Outputs { sum_sq: honest.sum_sq + (1 << 32), ..honest };
    let statement = squares_of(claim.criteria.clone());
    match std::panic::catch_unwind(|| snapshot.prove_outputs([3; 32], &statement, wrong)) {
        Err(_) => {} // winterfell's debug build found the broken constraint
        Ok(Ok((claim, proof))) => assert!(verify_claim(&commitment, &claim, &proof).is_err()),
        Ok(Err(e)) => panic!("refused for another reason: {e}"),
    }
    // Squares need a measure.
    let e = snapshot.prove([0; 32], &Statement { measure: None, ..squares_of(vec![Criterion::has(PERSON)]) });
    assert!(e.unwrap_err().to_string().contains("needs a measure"));
}

#[test]
fn a_criterion_twice_in_one_block_is_refused_before_proving() {
    let mut data = patients(10, 3);
    data[4].insert(1, Row::attribute(PERSON));
    let snapshot = Snapshot::build(data, [1; 32]).unwrap();
    let e = snapshot.prove([0; 32], &with(2)).unwrap_err();
    assert!(e.to_string().contains("twice in one patient's block"), "{e}");
    // Statements the format cannot make.
    let only_negated_clause = vec![Criterion::lacks(1), Criterion::has(2).or_previous()];
    let or_first = vec![Criterion::has(PERSON).or_previous()];
    for criteria in
        [vec![], vec![Criterion::lacks(PERSON)], vec![Criterion::has(PERSON); 5], only_negated_clause, or_first]
    {
        assert!(snapshot.prove([0; 32], &count_of(criteria)).is_err());
    }
}

#[test]
fn dishonest_and_damaged_answers_are_refused_with_their_reason() {
    let data = patients(80, 7);
    let snapshot = Snapshot::build(data.clone(), [3; 32]).unwrap();
    let commitment = snapshot.commitment().clone();
    let statement = mean_of(vec![Criterion::has(PERSON), Criterion::has(2)]);
    let (claim, proof) = snapshot.prove([1; 32], &statement).unwrap();
    assert!(claim.count > 0 && claim.sum > 0);
    verify_claim(&commitment, &claim, &proof).unwrap();

    let rejected = |c: &Claim, com: &Commitment, p: &[u8]| verify_claim(com, c, p).unwrap_err();

    // A tampered count or sum.
    let e = rejected(&Claim { count: claim.count + 1, ..claim.clone() }, &commitment, &proof);
    assert!(matches!(e, ZkError::Rejected(_)), "{e}");
    let e = rejected(&Claim { sum: claim.sum - 1, ..claim.clone() }, &commitment, &proof);
    assert!(matches!(e, ZkError::Rejected(_)), "{e}");
    // A count shifted by the field's modulus (the same field element) is refused before the STARK.
    let p = 0xFFFF_FFFF_0000_0001u64;
    let e = rejected(&Claim { count: claim.count + p, ..claim.clone() }, &commitment, &proof);
    assert!(e.to_string().contains("exceeds"), "{e}");
    // The proof of another query, another cohort, or without the measure.
    let e = rejected(&Claim { query: [2; 32], ..claim.clone() }, &commitment, &proof);
    assert!(matches!(e, ZkError::Rejected(_)), "{e}");
    let e = rejected(
        &Claim { criteria: vec![Criterion::has(PERSON), Criterion::has(4)], ..claim.clone() },
        &commitment,
        &proof,
    );
    assert!(matches!(e, ZkError::Rejected(_)), "{e}");
    let e = rejected(
        &Claim { criteria: vec![Criterion::has(PERSON), Criterion::lacks(2)], ..claim.clone() },
        &commitment,
        &proof,
    );
    assert!(matches!(e, ZkError::Rejected(_)), "{e}");
    let e = rejected(&Claim { criteria: vec![Criterion::has(PERSON)], ..claim.clone() }, &commitment, &proof);
    assert!(matches!(e, ZkError::Shape { .. }), "{e}");
    let e = rejected(&Claim { measure: Some(MEASURE + 1), ..claim.clone() }, &commitment, &proof);
    assert!(matches!(e, ZkError::Rejected(_)), "{e}");
    let e = rejected(&Claim { measure: None, sum: 0, ..claim.clone() }, &commitment, &proof);
    assert!(matches!(e, ZkError::Shape { .. }), "{e}");
    let e = rejected(&Claim { measure: None, ..claim.clone() }, &commitment, &proof);
    assert!(e.to_string().contains("a sum without a measure"), "{e}");
    // Cohorts the format cannot state.
    let e = rejected(
        &Claim { criteria: vec![Criterion::lacks(PERSON), Criterion::lacks(2)], ..claim.clone() },
        &commitment,
        &proof,
    );
    assert!(e.to_string().contains("every clause has a negated criterion"), "{e}");
    let e = rejected(&Claim { criteria: vec![Criterion::has(PERSON); 9], ..claim.clone() }, &commitment, &proof);
    assert!(e.to_string().contains("9 criteria (1 to 8)"), "{e}");

    // A stale commitment (the node's data before one more patient) and a foreign one.
    let mut before = data.clone();
    before.pop();
    let stale = Snapshot::build(before, [3; 32]).unwrap();
    let e = rejected(&claim, stale.commitment(), &proof);
    assert!(matches!(e, ZkError::ForeignCommitment { .. }), "{e}");
    let foreign = Snapshot::build(patients(80, 8), [3; 32]).unwrap();
    let e = rejected(&claim, foreign.commitment(), &proof);
    assert!(e.to_string().contains("not the committed"), "{e}");
    // The padding rows' code, or any code above the format's.
    let pad = Claim { criteria: vec![Criterion::has(agora_zk::format::PAD_CODE), Criterion::has(2)], ..claim.clone() };
    let e = rejected(&pad, &commitment, &proof);
    assert!(e.to_string().contains("above the format"), "{e}");
    // A commitment of another size or version.
    let larger = Snapshot::build(patients(700, 1), [3; 32]).unwrap();
    assert!(larger.commitment().trace_length > commitment.trace_length);
    let e = rejected(&claim, larger.commitment(), &proof);
    assert!(matches!(e, ZkError::Shape { .. }), "{e}");
    let e = rejected(&claim, &Commitment { version: 2, ..commitment.clone() }, &proof);
    assert!(e.to_string().contains("version 2"), "{e}");

    // Truncated and bit-flipped proofs.
    for cut in [0, 1, 100, proof.len() / 2, proof.len() - 1] {
        let e = rejected(&claim, &commitment, &proof[..cut]);
        assert!(matches!(e, ZkError::Malformed(_)), "cut {cut}: {e}");
    }
    for at in (0..proof.len()).step_by(proof.len() / 40) {
        let mut flipped = proof.clone();
        flipped[at] ^= 0x10;
        assert!(verify_claim(&commitment, &claim, &flipped).is_err(), "flip at {at} verified");
    }
    // Merkle openings claiming billions of nodes: winterfell's verifier, reading them with its own
    // reader, would reserve the memory and abort the process (a random bit flip once did).
    for which in [Opening::Trace, Opening::Quotient, Opening::Fri] {
        let e = rejected(&claim, &commitment, &with_huge_opening(&proof, which));
        assert!(matches!(e, ZkError::Malformed(_)) && e.to_string().contains("openings"), "{which:?}: {e}");
    }
    // A FRI layer opening one row more than its folded positions (the rows it opens verify; winterfell's
    // Merkle check reads only those it asked for): refused at that layer, not ignored (zk/vendor/README.md).
    let e = rejected(&claim, &commitment, &with_extra_fri_row(&proof));
    assert!(matches!(e, ZkError::Rejected(_)) && e.to_string().contains("not consistent at layer 0"), "{e}");
    // A header winterfell's own deserializer panics on (a trace length of 2^255; found by the fuzzer).
    let e = rejected(&claim, &commitment, &[0x01, 0x40, 0x0a, 0xff]);
    assert!(matches!(e, ZkError::Malformed(_)), "{e}");
    let mut long = proof.clone();
    long[3] = 0xff;
    let e = rejected(&claim, &commitment, &long);
    assert!(e.to_string().contains("trace header"), "{e}");
    // Any other byte of the fixed context (field, options, number of constraints) altered.
    let mut options = proof.clone();
    options[8] ^= 0x01;
    let e = rejected(&claim, &commitment, &options);
    assert!(e.to_string().contains("proof context"), "{e}");
    // FRI partitions other than the one every proof has (the prover's to state, outside the transcript:
    // each would be another map from the query positions to the leaves), 2^64 too (winterfell's
    // `num_partitions` overflows there).
    for log2 in [1u8, 64, 255] {
        use winter_verifier::{Deserializable, Serializable};
        let mut parsed = winter_air::proof::Proof::read_from_bytes(&proof).unwrap();
        let mut fri = parsed.fri_proof.to_bytes();
        *fri.last_mut().unwrap() = log2;
        parsed.fri_proof = winter_fri::FriProof::read_from_bytes(&fri).unwrap();
        let e = rejected(&claim, &commitment, &parsed.to_bytes());
        let said = format!("2^{log2} FRI partitions");
        assert!(matches!(&e, ZkError::Shape { .. }) && e.to_string().contains(&said), "{e}");
    }
    // An oversized one.
    let e = rejected(&claim, &commitment, &vec![0u8; 2 << 20]);
    assert!(e.to_string().contains("at most"), "{e}");
}

/// A query set's values and its Merkle opening, as winterfell writes them (the vendored winter-air's
/// accessors: zk/vendor/README.md).
fn query_parts(queries: &winter_air::proof::Queries) -> (Vec<u8>, Vec<u8>) {
    (queries.value_bytes().to_vec(), queries.opening_bytes().to_vec())
}

/// A proof carries the auxiliary segment's openings as base-field elements (`agora_zk::openings`); the
/// same proof with them as extension elements, as releases before `agora-zk/cohort/5` wrote it, verifies
/// too; a nonzero second coefficient fails the Merkle check, and openings of any other length are refused
/// saying the two lengths they could have.
#[test]
fn auxiliary_openings_are_base_field_and_the_older_form_still_verifies() {
    use winter_air::proof::Proof;
    use winter_verifier::Deserializable;
    let data = patients(60, 8);
    let snapshot = Snapshot::build(data.clone(), [12; 32]).unwrap();
    let commitment = snapshot.commitment().clone();
    let statement = squares_of(vec![Criterion::has(PERSON), Criterion::has(FEMALE), Criterion::lacks(2)]);
    let (claim, proof) = snapshot.prove([3; 32], &statement).unwrap();
    verify_claim(&commitment, &claim, &proof).unwrap();
    let parsed = Proof::read_from_bytes(&proof).unwrap();
    let (rows, width) = (usize::from(parsed.num_unique_queries), parsed.trace_info().aux_segment_width());
    assert!(rows > 30 && width > 10, "{rows} opened rows of {width} columns");
    let (values, opening) = query_parts(&parsed.trace_queries[1]);
    assert_eq!(values.len(), rows * width * 8, "one base-field element per opened value");
    // The older form, built here: each value followed by its zero second coefficient.
    let extension = |high: u8| -> Vec<u8> {
        let mut older = parsed.clone();
        let lifted = values.chunks(8).flat_map(|low| [low, &[high, 0, 0, 0, 0, 0, 0, 0]].concat()).collect();
        older.trace_queries[1] = winter_air::proof::Queries::from_parts(lifted, opening.clone());
        older.to_bytes()
    };
    let older = extension(0);
    assert!(older.len() >= proof.len() + rows * width * 8, "{} against {}", older.len(), proof.len());
    verify_claim(&commitment, &claim, &older).unwrap();
    let forged = Claim { count: claim.count + 1, ..claim.clone() };
    let e = verify_claim(&commitment, &forged, &older).unwrap_err();
    assert!(matches!(e, ZkError::Rejected(_)), "{e}");
    // A value outside the base field in the older form: refused as such, before any Merkle check
    // (`prove::tests::an_auxiliary_value_outside_the_base_field_is_refused` has one its tree commits).
    let e = verify_claim(&commitment, &claim, &extension(1)).unwrap_err();
    assert!(
        matches!(&e, ZkError::Malformed(why) if why.contains("auxiliary opening 0 (row 0, column 0) is outside the base field")),
        "{e}"
    );
    // One value short, and one too many.
    for values in [values[8..].to_vec(), [values.as_slice(), &[0; 8]].concat()] {
        let mut odd = parsed.clone();
        odd.trace_queries[1] = winter_air::proof::Queries::from_parts(values, opening.clone());
        let e = verify_claim(&commitment, &claim, &odd.to_bytes()).unwrap_err();
        let base = rows * width * 8;
        let said = format!("are {base} bytes as base-field elements or {} as extension elements", 2 * base);
        assert!(matches!(&e, ZkError::Malformed(why) if why.contains(&said)), "{e}");
    }
    // The committed data are untouched by all of it: the honest proof still verifies.
    verify_claim(&commitment, &claim, &proof).unwrap();
    assert_eq!((claim.count, claim.sum), expected(&data, &statement.criteria, Some(MEASURE)));
}

/// Answers archived by the release before the compact openings (a5e7269, format `agora-zk/cohort/4`: the
/// auxiliary openings as extension elements) verify with this build: a standard deviation's moments
/// over three criteria, an age band's count and a cell suppressed below 10, over `patients(200, 77)`
/// (zk/tests/fixtures/README.md). Their claims are checked against this file's own count of those
/// patients, and a claim changed by one is refused.
#[test]
fn answers_archived_by_the_previous_release_still_verify() {
    use agora_zk::archive::ArchivedAnswer;
    let answers: Vec<ArchivedAnswer> = serde_json::from_str(include_str!("fixtures/cohort-4.json")).unwrap();
    let data = patients(200, 77);
    let sd = [Criterion::has(PERSON), Criterion::has(FEMALE), Criterion::lacks(2)];
    let (count, sum) = expected(&data, &sd, Some(MEASURE));
    let band = [Criterion::has(PERSON), Criterion::has(1).within(Some(0), None)];
    let rare: Vec<Criterion> = [PERSON, 1, 2, 3, 4, 5].into_iter().map(Criterion::has).collect();
    assert!(expected(&data, &rare, None).0 < 10, "the rare cell is below the threshold");
    let claims: Vec<Claim> = answers.iter().map(|a| a.verify().unwrap()).collect();
    assert!(answers.iter().all(|a| a.format == "agora-zk/cohort/4"));
    // Each proof is in the older form: 16 bytes per opened auxiliary value.
    for answer in &answers {
        use base64::Engine;
        use winter_verifier::Deserializable;
        let bytes = base64::engine::general_purpose::STANDARD.decode(&answer.proof).unwrap();
        let proof = winter_air::proof::Proof::read_from_bytes(&bytes).unwrap();
        let (rows, width) = (usize::from(proof.num_unique_queries), proof.trace_info().aux_segment_width());
        assert_eq!(query_parts(&proof.trace_queries[1]).0.len(), rows * width * 16);
    }
    assert_eq!((claims[0].criteria.as_slice(), claims[0].count, claims[0].sum), (&sd[..], count, sum));
    assert_eq!(claims[0].sum_sq, Some(expected_squares(&data, &sd)));
    assert_eq!((claims[1].criteria.as_slice(), claims[1].count), (&band[..], expected(&data, &band, None).0));
    assert_eq!((claims[2].criteria.as_slice(), claims[2].suppressed_below), (&rare[..], Some(10)));
    for answer in &answers {
        let mut changed = answer.clone();
        if changed.suppressed_below.is_some() {
            changed.suppressed_below = Some(9);
        } else {
            changed.count += 1;
        }
        let e = changed.verify().unwrap_err();
        assert!(matches!(e, ZkError::Rejected(_)), "{e}");
    }
}

#[test]
fn a_full_snapshot_and_an_empty_one() {
    // Blocks of 6 rows up to the format's capacity at 4,096 rows.
    let full: Vec<Block> = (0..capacity(4096) / 6)
        .map(|i| {
            let mut b: Block = [PERSON, FEMALE, 0, 1, 2].iter().map(|c| Row::attribute(*c)).collect();
            b.push(Row { code: MEASURE, value: u32::MAX - i as u32 });
            b
        })
        .collect();
    let snapshot = Snapshot::build(full.clone(), [0; 32]).unwrap();
    assert_eq!(snapshot.commitment().trace_length, 4096);
    let statement = mean_of(vec![Criterion::has(PERSON)]);
    let (claim, proof) = snapshot.prove([0; 32], &statement).unwrap();
    assert_eq!((claim.count, claim.sum), expected(&full, &statement.criteria, Some(MEASURE)));
    verify_claim(snapshot.commitment(), &claim, &proof).unwrap();
    let empty = Snapshot::build(Vec::new(), [0; 32]).unwrap();
    let (claim, proof) = empty.prove([0; 32], &with(1)).unwrap();
    assert_eq!((claim.count, claim.sum), (0, 0));
    verify_claim(empty.commitment(), &claim, &proof).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    #[test]
    fn honest_proofs_verify_and_dishonest_outputs_never_do(
        data in prop::collection::vec(
            (any::<bool>(), prop::collection::btree_set(0u64..4, 0..4), prop::collection::vec(any::<u32>(), 0..3)),
            0..40,
        ),
        // Up to eight criteria with the person (the format's most).
        criteria in prop::collection::vec((0u64..5, any::<bool>(), any::<bool>()), 0..8),
        measure in any::<bool>(),
        delta_count in 1u64..1000,
        delta_sum in 1u64..u32::MAX as u64,
    ) {
        let data: Vec<Block> = data
            .into_iter()
            .map(|(female, conditions, values)| {
                let mut b = vec![Row::attribute(PERSON), Row::attribute(if female { FEMALE } else { MALE })];
                b.extend(conditions.into_iter().map(Row::attribute));
                b.extend(values.into_iter().map(|value| Row { code: MEASURE, value }));
                b
            })
            .collect();
        let mut all = vec![Criterion::has(PERSON)];
        all.extend(
            criteria.into_iter().map(|(code, negated, or_previous)| Criterion { negated, or_previous, ..Criterion::has(code) }),
        );
        // The person joined by a negated criterion in an or leaves no clause met only by rows held.
        prop_assume!(agora_zk::air::check_criteria(&all).is_ok());
        // A criterion's code twice in one statement is fine; twice in a block is not (no such data here).
        let statement = Statement { measure_range: None, criteria: all, measure: measure.then_some(MEASURE), squares: false, threshold: 0 };
        let snapshot = Snapshot::build(data.clone(), [1; 32]).unwrap();
        let (claim, proof) = snapshot.prove([8; 32], &statement).unwrap();
        prop_assert_eq!((claim.count, claim.sum), expected(&data, &statement.criteria, statement.measure));
        prop_assert!(verify_claim(snapshot.commitment(), &claim, &proof).is_ok());
        let more = Claim { count: claim.count + delta_count, ..claim.clone() };
        prop_assert!(verify_claim(snapshot.commitment(), &more, &proof).is_err());
        let less = Claim { count: claim.count.saturating_sub(delta_count), ..claim.clone() };
        if less.count != claim.count {
            prop_assert!(verify_claim(snapshot.commitment(), &less, &proof).is_err());
        }
        if measure {
            let other_sum = Claim { sum: claim.sum + delta_sum, ..claim.clone() };
            prop_assert!(verify_claim(snapshot.commitment(), &other_sum, &proof).is_err());
        }
        // The same claim with one criterion's polarity flipped, or its clause (and for or), when that is
        // still a statement the format can make (same layout: only the criterion differs).
        if claim.criteria.len() > 1 {
            let last = claim.criteria.len() - 1;
            for flip in [|c: &mut Criterion| c.negated ^= true, |c: &mut Criterion| c.or_previous ^= true] {
                let mut flipped = claim.clone();
                flip(&mut flipped.criteria[last]);
                if agora_zk::air::check_criteria(&flipped.criteria).is_ok() {
                    let e = verify_claim(snapshot.commitment(), &flipped, &proof).unwrap_err();
                    prop_assert!(matches!(e, ZkError::Rejected(_)), "{}", e);
                }
            }
        }
    }
}

const BIRTH: u64 = 300;
const OBSERVED: u64 = 301;

/// Patients with a birth month (`12·year + month - 1`, nine in ten), a sex, conditions among 0..3, and
/// up to three values of an observation (any 32-bit value, or near a bound), then measure values.
fn dated_patients(n: usize, seed: u64) -> Vec<Block> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            let mut block = vec![Row::attribute(PERSON)];
            if !xorshift(&mut x).is_multiple_of(10) {
                block.push(Row { code: BIRTH, value: 12 * 1900 + (xorshift(&mut x) % (12 * 126)) as u32 });
            }
            block.push(Row::attribute(if xorshift(&mut x).is_multiple_of(2) { FEMALE } else { MALE }));
            let conditions = xorshift(&mut x);
            block.extend((0..3).filter(|c| conditions >> c & 1 == 1).map(Row::attribute));
            for _ in 0..xorshift(&mut x) % 4 {
                let value = match xorshift(&mut x) % 3 {
                    0 => xorshift(&mut x) as u32,
                    1 => (1 << 31) + (xorshift(&mut x) % 20_000) as u32,
                    _ => (1 << 31) - (xorshift(&mut x) % 20_000) as u32,
                };
                block.push(Row { code: OBSERVED, value });
            }
            for _ in 0..xorshift(&mut x) % 3 {
                block.push(Row { code: MEASURE, value: (1 << 31) + (xorshift(&mut x) % 10_000) as u32 });
            }
            block
        })
        .collect()
}

/// The birth months of ages `[min, max]` at a reference month `r` (`12·year + month - 1`): an age in
/// completed years, the birthday taken as the 1st of the birth month.
fn ages(r: u32, min: Option<u32>, max: Option<u32>) -> Criterion {
    Criterion::has(BIRTH).within(max.map(|a| r - 12 * a - 11), Some(r - 12 * min.unwrap_or(0)))
}

#[test]
fn ranged_criteria_count_rows_within_their_range() {
    let data = dated_patients(300, 7);
    let snapshot = Snapshot::build(data.clone(), [4; 32]).unwrap();
    let r = 12 * 2026;
    let statements = [
        // Aged 40 to 64; 65 and over; under 18 (no birth month: no age, never counted).
        count_of(vec![ages(r, Some(40), Some(64))]),
        count_of(vec![ages(r, Some(65), None)]),
        count_of(vec![ages(r, None, Some(17)), Criterion::has(FEMALE)]),
        // Not aged 40 to 64, among everyone; with condition 1 or aged 80 and over.
        count_of(vec![Criterion::has(PERSON), ages(r, Some(40), Some(64)).negated()]),
        count_of(vec![Criterion::has(1), ages(r, Some(80), None).or_previous()]),
        // Some value of the observation in [2^31 - 5000, 2^31 + 5000] (many rows per patient), or above
        // 2^31 + 15,000; none at or above 2^31.
        count_of(vec![Criterion::has(OBSERVED).within(Some((1 << 31) - 5000), Some((1 << 31) + 5000))]),
        count_of(vec![Criterion::has(OBSERVED).within(Some((1 << 31) + 15_000), None), Criterion::has(MALE)]),
        count_of(vec![Criterion::has(PERSON), Criterion::has(OBSERVED).within(Some(1 << 31), None).negated()]),
        // The mean of the measure by age band, and an empty range.
        mean_of(vec![ages(r, Some(18), Some(39)), Criterion::has(OBSERVED).within(None, Some(1 << 31))]),
        count_of(vec![Criterion::has(BIRTH).within(Some(5), Some(4))]),
    ];
    let mut nonzero = 0;
    for (i, statement) in statements.iter().enumerate() {
        let (claim, proof) = snapshot.prove([i as u8; 32], statement).unwrap();
        assert_eq!((claim.count, claim.sum), expected(&data, &statement.criteria, statement.measure), "{statement:?}");
        nonzero += usize::from(claim.count > 0);
        verify_claim(snapshot.commitment(), &claim, &proof).unwrap();
        // One more or one less, or the range moved by one where that changes the count: refused.
        for count in [claim.count + 1, claim.count.wrapping_sub(1)] {
            let forged = Claim { count, ..claim.clone() };
            assert!(verify_claim(snapshot.commitment(), &forged, &proof).is_err(), "{forged:?}");
        }
        for k in 0..claim.criteria.len() {
            for shift in [-1i64, 1] {
                let mut moved = claim.clone();
                let c = &mut moved.criteria[k];
                let Some(max) = c.max else { continue };
                c.max = u32::try_from(i64::from(max) + shift).ok();
                if expected(&data, &moved.criteria, moved.measure) != (claim.count, claim.sum) {
                    assert!(verify_claim(snapshot.commitment(), &moved, &proof).is_err(), "{moved:?}");
                }
            }
        }
    }
    assert!(nonzero >= 8, "the statements select patients");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, .. ProptestConfig::default() })]

    #[test]
    fn ranged_proofs_verify_and_dishonest_ranges_never_do(
        seed in any::<u64>(),
        patients in 0usize..60,
        ranged in prop::collection::vec(
            (any::<bool>(), prop::option::of(bound()), prop::option::of(bound()), any::<bool>(), any::<bool>()),
            1..3,
        ),
        measure in any::<bool>(),
    ) {
        let data = dated_patients(patients, seed);
        let mut all = vec![Criterion::has(PERSON)];
        for (birth, min, max, negated, or_previous) in ranged {
            let code = if birth { BIRTH } else { OBSERVED };
            // Ranged (a block holds many observation rows): no bound at all is `min = 0`.
            let min = min.or(max.is_none().then_some(0));
            all.push(Criterion { negated, or_previous, ..Criterion::has(code).within(min, max) });
        }
        prop_assume!(agora_zk::air::check_criteria(&all).is_ok());
        let statement = Statement { measure_range: None, criteria: all, measure: measure.then_some(MEASURE), squares: false, threshold: 0 };
        // Two long two-sided ranges and a measure may exceed the format's columns: refused before
        // proving (`a_statement_too_wide_for_the_format_is_refused_with_its_reason`), not drawn here.
        prop_assume!(statement.check_width().is_ok());
        let snapshot = Snapshot::build(data.clone(), [2; 32]).unwrap();
        let (claim, proof) = snapshot.prove([3; 32], &statement).unwrap();
        prop_assert_eq!((claim.count, claim.sum), expected(&data, &statement.criteria, statement.measure));
        prop_assert!(verify_claim(snapshot.commitment(), &claim, &proof).is_ok());
        let more = Claim { count: claim.count + 1, ..claim.clone() };
        prop_assert!(verify_claim(snapshot.commitment(), &more, &proof).is_err());
        // Any other range on the last criterion that selects other rows is refused.
        let last = claim.criteria.len() - 1;
        for (min, max) in [(None, None), (Some(12 * 1950), None), (None, Some(1 << 31)), (Some(0), Some(u32::MAX))] {
            let mut other = claim.clone();
            other.criteria[last] = other.criteria[last].within(min, max);
            if expected(&data, &other.criteria, other.measure) != (claim.count, claim.sum) {
                prop_assert!(verify_claim(snapshot.commitment(), &other, &proof).is_err());
            }
        }
    }
}

/// A histogram bin of every value: the measure's values within a range are counted (with any
/// number per patient), their sum is not stated, and a claim of another count, of a sum, or of another
/// range is refused.
#[test]
fn a_measure_range_counts_values_within_it_without_their_sum() {
    let data = dated_patients(200, 11);
    let snapshot = Snapshot::build(data.clone(), [5; 32]).unwrap();
    let bins = [
        (None, Some((1 << 31) + 2_999)),
        (Some((1 << 31) + 3_000), Some((1 << 31) + 6_999)),
        (Some((1 << 31) + 7_000), None),
    ];
    let mut total = 0;
    for (i, (min, max)) in bins.into_iter().enumerate() {
        let range = agora_zk::air::Range { min, max };
        let statement = Statement {
            criteria: vec![Criterion::has(PERSON), Criterion::lacks(1)],
            measure: Some(MEASURE),
            squares: false,
            measure_range: Some(range),
            threshold: 0,
        };
        // Counted here from the rows: values of the measure within the range, of patients without 1.
        let truth = data
            .iter()
            .filter(|b| !b.iter().any(|r| r.code == 1))
            .flat_map(|b| b.iter().filter(|r| r.code == MEASURE && range.admits(r.value)))
            .count() as u64;
        total += truth;
        let (claim, proof) = snapshot.prove([i as u8; 32], &statement).unwrap();
        assert_eq!((claim.count, claim.sum, claim.measure_range), (truth, 0, Some(range)));
        assert!(truth >= 10, "bin {i}: {truth}");
        verify_claim(snapshot.commitment(), &claim, &proof).unwrap();
        for forged in [
            Claim { count: truth + 1, ..claim.clone() },
            Claim { count: truth - 1, ..claim.clone() },
            // Another range (its bounds are public inputs), with the same count or not.
            Claim {
                measure_range: Some(agora_zk::air::Range { min: min.map(|m| m + 1), max: max.map(|m| m - 1) }),
                ..claim.clone()
            },
        ] {
            assert!(verify_claim(snapshot.commitment(), &forged, &proof).is_err(), "{forged:?}");
        }
        let summed = Claim { sum: 5, ..claim.clone() };
        let e = verify_claim(snapshot.commitment(), &summed, &proof).unwrap_err();
        assert!(e.to_string().contains("claims no sum"), "{e}");
    }
    let (all, _) = expected(&data, &[Criterion::has(PERSON), Criterion::lacks(1)], Some(MEASURE));
    assert_eq!(total, all, "the bins partition the values");
}

/// A statement wider than the format's traces (ranges whose bounds need long comparison chains) is
/// refused before any proof is spent, and a claim of one is refused before any proof is read.
#[test]
fn a_statement_too_wide_for_the_format_is_refused_with_its_reason() {
    let snapshot = Snapshot::build(dated_patients(20, 3), [8; 32]).unwrap();
    let wide = Criterion::has(OBSERVED).within(Some(0x7fff_fff0), Some(0x7fff_fffa));
    let statement = count_of(vec![wide; 4]);
    assert!(statement.check_width().is_err() && count_of(vec![wide]).check_width().is_ok());
    let budget = snapshot.remaining_proofs();
    let e = snapshot.prove([1; 32], &statement).unwrap_err();
    assert!(e.to_string().contains("auxiliary columns, at most 128"), "{e}");
    assert_eq!(snapshot.remaining_proofs(), budget, "nothing spent");
    let (claim, proof) = snapshot.prove([1; 32], &count_of(vec![wide])).unwrap();
    verify_claim(snapshot.commitment(), &claim, &proof).unwrap();
    let claim = Claim { criteria: vec![wide; 4], ..claim };
    let e = verify_claim(snapshot.commitment(), &claim, &proof).unwrap_err();
    assert!(matches!(&e, ZkError::Rejected(why) if why.contains("auxiliary columns")), "{e}");
}

/// A bound near the data: a birth month, a value near `2^31`, or any.
fn bound() -> impl Strategy<Value = u32> {
    prop_oneof![12 * 1900..12 * 2027u32, (1u32 << 31) - 25_000..(1 << 31) + 25_000, any::<u32>()]
}

#[test]
fn archived_answers_verify_offline_with_the_cli() {
    use agora_zk::archive::ArchivedAnswer;
    let data = patients(40, 5);
    let snapshot = Snapshot::build(data.clone(), [4; 32]).unwrap();
    let statement = mean_of(vec![Criterion::has(PERSON), Criterion::has(3)]);
    let (claim, proof) = snapshot.prove([6; 32], &statement).unwrap();
    let good = ArchivedAnswer::new(snapshot.commitment().clone(), &claim, &proof);
    let (count, sum) = expected(&data, &statement.criteria, Some(MEASURE));
    let mut forged = good.clone();
    forged.sum += 1;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, a: &ArchivedAnswer| {
        let p = dir.path().join(name);
        std::fs::write(&p, serde_json::to_string_pretty(a).unwrap()).unwrap();
        p
    };
    let good_path = write("good.json", &good);
    let forged_path = write("forged.json", &forged);
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{\"format\": 1}").unwrap();
    let run = |args: &[&std::path::Path]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_agora-zk")).arg("verify").args(args).output().unwrap()
    };
    let ok = run(&[&good_path]);
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{out}");
    let said = format!("verified: {count} values of {MEASURE} of the patients with {PERSON} and 3, summing to {sum}");
    assert!(out.contains(&said), "{out}");
    let bad = run(&[&good_path, &forged_path, &garbage]);
    let out = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{out}");
    assert!(out.contains("forged.json: REFUSED: proof does not verify"), "{out}");
    assert!(out.contains("garbage.json: REFUSED: not an archived answer"), "{out}");
    // An array (as the hub's proofs endpoint gives): each element is checked and named.
    let array = dir.path().join("array.json");
    std::fs::write(&array, serde_json::to_string(&[&good, &forged]).unwrap()).unwrap();
    let both = run(&[&array]);
    let out = String::from_utf8_lossy(&both.stdout);
    assert_eq!(both.status.code(), Some(1), "{out}");
    assert!(out.contains("array.json[0]: verified") && out.contains("array.json[1]: REFUSED"), "{out}");
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "[]").unwrap();
    assert_eq!(run(&[&empty]).status.code(), Some(1));
    // A histogram bin of every value (a range on the measure) over a ranged cohort: the archive keeps
    // both ranges, and the CLI says what was counted, with no sum.
    let binned = Statement {
        criteria: vec![Criterion::has(PERSON).within(Some(0), None)],
        measure: Some(MEASURE),
        squares: false,
        measure_range: Some(agora_zk::air::Range { min: Some(10_000), max: Some(59_999) }),
        threshold: 0,
    };
    let (claim, proof) = snapshot.prove([7; 32], &binned).unwrap();
    let archived = ArchivedAnswer::new(snapshot.commitment().clone(), &claim, &proof);
    let text = serde_json::to_string(&archived).unwrap();
    assert!(text.contains(r#""measure_range":{"min":10000,"max":59999}"#), "{text}");
    let path = write("bin.json", &serde_json::from_str(&text).unwrap());
    let ok = run(&[&path]);
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{out}");
    let said = format!(
        "verified: {} values of {MEASURE} within [10000, 59999] of the patients with {PERSON} within [0, -]",
        claim.count
    );
    assert!(out.contains(&said) && !out.contains("summing"), "{out}");
    // A standard deviation's sum of squares above 2^64 (values near 2^32), in an array: read from the
    // file's own text (a JSON value of serde's cannot hold it), verified and stated.
    let mut wide = data.clone();
    for (i, row) in wide.iter_mut().flatten().filter(|r| r.code == MEASURE).enumerate() {
        row.value = u32::MAX - 7 * i as u32;
    }
    let wide_snapshot = Snapshot::build(wide.clone(), [5; 32]).unwrap();
    let deviation = squares_of(vec![Criterion::has(PERSON)]);
    let (claim, proof) = wide_snapshot.prove([9; 32], &deviation).unwrap();
    let squares = expected_squares(&wide, &deviation.criteria);
    assert!(claim.sum_sq == Some(squares) && squares > u128::from(u64::MAX), "{squares}");
    let archived = ArchivedAnswer::new(wide_snapshot.commitment().clone(), &claim, &proof);
    let array = dir.path().join("deviation.json");
    std::fs::write(&array, serde_json::to_string(&[&archived, &good]).unwrap()).unwrap();
    let ok = run(&[&array]);
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{out}");
    assert!(
        out.contains(&format!("their squares to {squares}")) && out.contains("deviation.json[1]: verified"),
        "{out}"
    );
    // The previous format: a count without a measure is the same statement and verifies; one with a
    // measure was proven over the earlier statement and is refused by name.
    let (claim, proof) = snapshot.prove([8; 32], &with(3)).unwrap();
    let mut count_only = ArchivedAnswer::new(snapshot.commitment().clone(), &claim, &proof);
    count_only.format = "agora-zk/cohort/3".into();
    let mut measured = good.clone();
    measured.format = "agora-zk/cohort/3".into();
    let mut unknown = good.clone();
    unknown.format = "agora-zk/cohort/9".into();
    let (a, b, c) = (write("v3.json", &count_only), write("v3m.json", &measured), write("v9.json", &unknown));
    let out = run(&[&a, &b, &c]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("v3.json: verified"), "{text}");
    assert!(
        text.contains("v3m.json: REFUSED") && text.contains("with a measure: its proof is of the earlier"),
        "{text}"
    );
    assert!(text.contains("v9.json: REFUSED") && text.contains("expected agora-zk/cohort/5"), "{text}");
}

#[test]
fn a_suppressed_cell_is_proven_below_the_threshold_and_discloses_nothing_else() {
    // Condition 9: exactly 4 patients; condition 8: exactly 10, among 100.
    let mut data = patients(100, 21);
    for (i, block) in data.iter_mut().enumerate() {
        match i {
            0..=3 => block.insert(2, Row::attribute(9)),
            4..=13 => block.insert(2, Row::attribute(8)),
            _ => {}
        }
    }
    let snapshot = Snapshot::build(data.clone(), [2; 32]).unwrap();
    let commitment = snapshot.commitment();
    let under = |code, threshold| Statement { threshold, ..with(code) };
    // 4 < 10: suppressed; the claim carries neither count nor sum.
    let (claim, proof) = snapshot.prove([1; 32], &under(9, 10)).unwrap();
    assert_eq!(claim.suppressed_below, Some(10));
    assert_eq!((claim.count, claim.sum), (0, 0));
    verify_claim(commitment, &claim, &proof).unwrap();
    // Exactly at the threshold: disclosed.
    let (shown, shown_proof) = snapshot.prove([1; 32], &under(8, 10)).unwrap();
    assert_eq!(shown.suppressed_below, None);
    assert_eq!(shown.count, 10);
    verify_claim(commitment, &shown, &shown_proof).unwrap();
    // The suppressed proof does not pass for a lower threshold (4 is not below 4), nor as a disclosed
    // answer, nor with a count attached.
    for t in [1, 4] {
        let lower = Claim { suppressed_below: Some(t), ..claim.clone() };
        assert!(verify_claim(commitment, &lower, &proof).is_err(), "threshold {t}");
    }
    let as_zero = Claim { suppressed_below: None, ..claim.clone() };
    assert!(verify_claim(commitment, &as_zero, &proof).is_err());
    let with_count = Claim { count: 4, ..claim.clone() };
    let e = verify_claim(commitment, &with_count, &proof).unwrap_err();
    assert!(e.to_string().contains("carries no count"), "{e}");
    // A disclosed count cannot be passed off as suppressed.
    let hide = Claim { count: 0, sum: 0, suppressed_below: Some(64), ..shown.clone() };
    assert!(verify_claim(commitment, &hide, &shown_proof).is_err());
    // A zero count is suppressed too.
    let (none, none_proof) = snapshot.prove([1; 32], &under(77, 10)).unwrap();
    assert_eq!(none.suppressed_below, Some(10));
    verify_claim(commitment, &none, &none_proof).unwrap();
    // A measure's values under the threshold: neither their number nor their sum is disclosed.
    let few = Statement { threshold: 10, ..mean_of(vec![Criterion::has(PERSON), Criterion::has(9)]) };
    let (hidden, hidden_proof) = snapshot.prove([1; 32], &few).unwrap();
    assert_eq!((hidden.count, hidden.sum, hidden.suppressed_below), (0, 0, Some(10)));
    verify_claim(commitment, &hidden, &hidden_proof).unwrap();
}

#[test]
fn a_snapshot_serves_its_budget_of_proofs_then_asks_to_be_recommitted() {
    let data = patients(20, 3);
    let snapshot = Snapshot::build(data.clone(), [5; 32]).unwrap();
    let budget = agora_zk::format::proof_budget(snapshot.commitment().trace_length);
    assert_eq!(budget, 2048 / 174);
    for i in 0..budget {
        snapshot.prove([i as u8; 32], &with(1)).unwrap();
    }
    assert_eq!(snapshot.prove([0; 32], &with(1)).unwrap_err(), ZkError::BudgetExhausted(budget));
    // Re-committed with a fresh seed: a new commitment, proofs again.
    let fresh = Snapshot::build(data, [6; 32]).unwrap();
    assert_ne!(fresh.commitment().root, snapshot.commitment().root);
    let (claim, proof) = fresh.prove([0; 32], &with(1)).unwrap();
    verify_claim(fresh.commitment(), &claim, &proof).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prover_pool_never_blocks_and_bounds_its_queue() {
    use agora_zk::pool::ProverPool;
    use std::sync::Arc;
    let data = patients(600, 13);
    let cancel = tokio_util::sync::CancellationToken::new();
    let (pool, task) = ProverPool::start(1, 2, cancel.clone());
    // Enough snapshots that no budget runs out; each submission returns at once.
    let snapshots: Vec<Arc<Snapshot>> =
        (0..8u8).map(|i| Arc::new(Snapshot::build(data.clone(), [i; 32]).unwrap())).collect();
    let mut accepted = Vec::new();
    let mut busy = 0;
    let statement = Statement { threshold: 10, ..with(2) };
    for (i, s) in snapshots.iter().enumerate() {
        match pool.try_submit(s.clone(), [i as u8; 32], statement.clone()) {
            Ok(rx) => accepted.push((s.clone(), rx)),
            Err(ZkError::Busy) => busy += 1,
            Err(e) => panic!("{e}"),
        }
    }
    // Two queued, and up to two more the dispatcher took (one proving, one waiting for the permit),
    // depending on how far it got while we submitted: the rest are refused at once, none waits.
    assert!((2..=4).contains(&accepted.len()), "{} accepted, {busy} busy", accepted.len());
    assert_eq!(accepted.len() + busy, 8);
    let (count, _) = expected(&data, &statement.criteria, None);
    for (s, rx) in accepted {
        let (claim, proof) = rx.await.unwrap().unwrap();
        assert_eq!(claim.count, count);
        verify_claim(s.commitment(), &claim, &proof).unwrap();
    }
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(pool.try_submit(snapshots[0].clone(), [0; 32], statement).unwrap_err(), ZkError::Stopped);
}

/// Found by `cargo fuzz run stark_proof` (on format v2): a proof with the exact format context whose
/// first vector claims an enormous length; winterfell's own reader would try to allocate it and abort
/// the process. Here the v2 context is replaced by v3's, taken from an honest proof.
#[test]
fn a_proof_claiming_an_enormous_vector_is_refused_without_allocating_it() {
    let found = hex::decode("2304010b00000801000000ffffffff2a041002081f000001015df200000000000000000000000000000000000000000000000000000000000000000000f2f2f27200").unwrap();
    let snapshot = Snapshot::build(patients(5, 1), [0; 32]).unwrap();
    let (claim, honest) = snapshot.prove([0xf2; 32], &with(1)).unwrap();
    let context = {
        use winter_verifier::Serializable;
        winter_air::proof::Proof::from_bytes(&honest).unwrap().context.to_bytes().len()
    };
    // The v2 context had as many bytes (the same fields; only values differ).
    let mut proof = honest[..context].to_vec();
    proof.extend_from_slice(&found[context..]);
    let claim = Claim { count: 242, ..claim };
    let e = verify_claim(snapshot.commitment(), &claim, &proof).unwrap_err();
    assert!(matches!(e, ZkError::Malformed(_)) && e.to_string().contains("bytes left"), "{e}");
}

#[derive(Debug, Clone, Copy)]
enum Opening {
    Trace,
    Quotient,
    Fri,
}

/// `proof` with its first FRI layer's values and opening as `edit` leaves them. The proof ends with its
/// FRI proof and an 8-byte nonce; the FRI proof opens with its number of layers, then each layer's
/// values and opening, each after a u32 length.
fn with_first_fri_layer(proof: &[u8], edit: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>)) -> Vec<u8> {
    use winter_air::proof::Proof;
    use winter_verifier::{ByteReader, ByteWriter, Serializable, SliceReader};
    let p = Proof::from_bytes(proof).unwrap();
    let (all, fri) = (p.to_bytes(), p.fri_proof.to_bytes());
    let at = all.len() - 8 - fri.len();
    assert_eq!(all[at..all.len() - 8], fri[..]);
    let mut reader = SliceReader::new(&fri);
    let layers = reader.read_u8().unwrap();
    let len = reader.read_u32().unwrap() as usize;
    let mut values = reader.read_slice(len).unwrap().to_vec();
    let len = reader.read_u32().unwrap() as usize;
    let mut opening = reader.read_slice(len).unwrap().to_vec();
    let rest = reader.read_slice(fri.len() - 1 - 8 - values.len() - len).unwrap().to_vec();
    edit(&mut values, &mut opening);
    let mut out = all[..at].to_vec();
    out.write_u8(layers);
    out.write_u32(values.len() as u32);
    out.write_bytes(&values);
    out.write_u32(opening.len() as u32);
    out.write_bytes(&opening);
    out.write_bytes(&rest);
    out.write_bytes(&all[all.len() - 8..]);
    out
}

/// `proof` with its first FRI layer's values followed by a copy of their first row (the layer's folding
/// factor of 8 values, each an element of the quadratic extension), its opening unchanged.
fn with_extra_fri_row(proof: &[u8]) -> Vec<u8> {
    with_first_fri_layer(proof, |values, _| {
        let row = 8 * 16;
        assert_eq!(values.len() % row, 0, "whole rows of eight extension elements");
        values.extend_from_within(..row);
    })
}

/// `proof` with one Merkle opening (the main trace's, the quotient's or the first FRI layer's) replaced by
/// one claiming 2^32 vectors of nodes.
fn with_huge_opening(proof: &[u8], which: Opening) -> Vec<u8> {
    use winter_air::proof::{Proof, Queries};
    use winter_verifier::ByteWriter;
    let mut huge = Vec::new();
    huge.write_u8(12); // the tree's depth
    huge.write_usize(1 << 32);
    let mut p = Proof::from_bytes(proof).unwrap();
    let forged = |q: &Queries| Queries::from_parts(q.value_bytes().to_vec(), huge.clone());
    match which {
        Opening::Trace => p.trace_queries[0] = forged(&p.trace_queries[0]),
        Opening::Quotient => p.constraint_queries = forged(&p.constraint_queries),
        Opening::Fri => return with_first_fri_layer(proof, |_, opening| *opening = huge),
    }
    p.to_bytes()
}

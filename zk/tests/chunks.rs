//! A dataset committed in chunks: each chunk's proof states its outputs masked by the masks it shares
//! with its neighbours, and the parts add up to the whole. Honest answers (over chunks held or parked)
//! verify and equal a count made here from the rows; a part changed, moved, dropped, relinked or taken from another query is refused.

mod common;
use common::*;

use agora_zk::air::ChunkLink;
use agora_zk::archive::{ArchivedChunkedAnswer, ArchivedPart};
use agora_zk::format::Commitment;
use agora_zk::prove::{prove_chunked, Block, Snapshot, Statement};
use agora_zk::verify::{check_linked, verify_chunk};
use agora_zk::{verify_chunked, ChunkPart, Claim, Criterion, ZkError};

/// Three chunks of patients, each a snapshot of its own.
fn chunks() -> (Vec<Block>, Vec<Snapshot>) {
    let parts: Vec<Vec<Block>> = (0..3).map(|i| patients(70 + 10 * i, 900 + i as u64)).collect();
    let snapshots = parts.iter().enumerate().map(|(i, p)| Snapshot::build(p.clone(), [i as u8 + 1; 32]).unwrap());
    let snapshots = snapshots.collect();
    (parts.concat(), snapshots)
}

fn count_of(criteria: Vec<Criterion>) -> Statement {
    Statement { criteria, measure: None, squares: false, measure_range: None, threshold: 0 }
}

fn mean_of(criteria: Vec<Criterion>) -> Statement {
    Statement { criteria, measure: Some(MEASURE), squares: false, measure_range: None, threshold: 0 }
}

/// The commitments the parts are over, in order (what the node published, for an honest answer).
fn of(parts: &[ChunkPart]) -> Vec<Commitment> {
    parts.iter().map(|p| p.commitment.clone()).collect()
}

fn commitments(snapshots: &[Snapshot]) -> Vec<Commitment> {
    snapshots.iter().map(|s| s.commitment().clone()).collect()
}

/// Why `verify_chunked` refuses `parts` as an answer over the dataset of `chunks`.
/// Checked apart too, it is refused as well: each part's proof alone (`verify_chunk`), then the parts
/// linked without their proofs (`check_linked`). And its archived form (what travels: each part's
/// masked outputs, links and proof, the claim the verifier's own) is judged the same checked whole
/// (`ArchivedChunkedAnswer::verify`) and as a hub receiving a cell's parts in several messages checks
/// it: each part rebuilt with the claim (`ArchivedPart::part`) and its proof verified alone, then all
/// linked without their proofs. (A forgery of a part's own claim, which the archived form does not
/// carry, is undone by it.)
fn refusal_over(chunks: &[Commitment], claim: &Claim, parts: &[ChunkPart]) -> String {
    let apart =
        check_linked(claim, chunks, &without_proofs(parts)).is_err() || parts.iter().any(|p| verify_chunk(p).is_err());
    assert!(apart, "checked part by part, a forged answer over chunks passed");
    let whole = ArchivedChunkedAnswer::new(chunks.to_vec(), claim, parts);
    let proven = |(i, p): (usize, &ArchivedPart)| p.part(claim, chunks, i, true).and_then(|p| verify_chunk(&p));
    let linked = (whole.parts.iter().enumerate())
        .map(|(i, p)| p.part(claim, chunks, i, false))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|bare| check_linked(claim, chunks, &bare));
    let as_hub = whole.parts.iter().enumerate().any(|part| proven(part).is_err()) || linked.is_err();
    assert_eq!(
        as_hub,
        whole.verify().is_err(),
        "checked as a hub checks runs of parts, the archived answer is judged otherwise"
    );
    match verify_chunked(claim, chunks, parts) {
        Ok(()) => panic!("a forged answer over chunks verified"),
        Err(e) => e.to_string(),
    }
}

/// The parts without their proofs, as `check_linked` reads them.
fn without_proofs(parts: &[ChunkPart]) -> Vec<ChunkPart> {
    parts.iter().map(|p| ChunkPart { proof: Vec::new(), ..p.clone() }).collect()
}

/// Why `verify_chunked` refuses `parts` as an answer over the chunks they name.
fn refusal(claim: &Claim, parts: &[ChunkPart]) -> String {
    refusal_over(&of(parts), claim, parts)
}

#[test]
fn the_parts_add_up_to_an_independent_count_and_no_part_discloses_its_own() {
    let (all, snapshots) = chunks();
    // Two chunks parked, as a node keeps them (`Snapshot::park`): their rows are read back to prove.
    let dir = tempfile::tempdir().unwrap();
    snapshots[0].park(dir.path()).unwrap();
    snapshots[2].park(dir.path()).unwrap();
    let refs: Vec<&Snapshot> = snapshots.iter().collect();
    let criteria = vec![Criterion::has(FEMALE), Criterion::lacks(2), Criterion::has(3).or_previous()];
    for statement in [count_of(criteria.clone()), mean_of(criteria.clone())] {
        let (claim, parts) = prove_chunked(&refs, [7; 32], &statement).unwrap();
        let (count, sum) = expected(&all, &criteria, statement.measure);
        assert!(count > 10, "a cohort worth counting: {count}");
        assert_eq!((claim.count, claim.sum), (count, sum));
        verify_chunked(&claim, &commitments(&snapshots), &parts).expect("an honest answer over chunks verifies");
        check_linked(&claim, &commitments(&snapshots), &without_proofs(&parts)).expect("and checked part by part");
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].link.prev, ChunkLink::end());
        assert_eq!(parts[2].link.next, ChunkLink::end());
        for (part, snapshot) in parts.iter().zip(&snapshots) {
            // Each part claims a masked count, not the chunk's own (a uniform field element: it equals it
            // with probability 2^-64).
            let own = expected(&snapshot.blocks(), &criteria, statement.measure);
            assert_ne!(part.claim.count, own.0);
            if statement.measure.is_some() {
                assert_ne!(part.claim.sum, own.1);
            }
            verify_chunk(part).expect("each part verifies alone");
            // A part is not a proof of the chunk's own count and sum.
            let unmasked =
                ChunkPart { claim: Claim { count: own.0, sum: own.1, ..part.claim.clone() }, ..part.clone() };
            let why = verify_chunk(&unmasked).unwrap_err().to_string();
            assert!(why.contains("proof does not verify"), "{why}");
        }
    }
}

#[test]
fn one_chunk_is_its_own_answer() {
    let data = patients(50, 5);
    let snapshot = Snapshot::build(data.clone(), [9; 32]).unwrap();
    let criteria = vec![Criterion::has(MALE)];
    let (claim, parts) = prove_chunked(&[&snapshot], [1; 32], &count_of(criteria.clone())).unwrap();
    assert_eq!(claim.count, expected(&data, &criteria, None).0);
    // Nothing to mask with one chunk: its part claims the count itself.
    assert_eq!(parts[0].claim.count, claim.count);
    verify_chunked(&claim, &[snapshot.commitment().clone()], &parts).unwrap();
}

#[test]
fn a_part_changed_moved_dropped_relinked_or_from_another_query_is_refused() {
    let (_, snapshots) = chunks();
    let refs: Vec<&Snapshot> = snapshots.iter().collect();
    let statement = mean_of(vec![Criterion::has(PERSON), Criterion::has(1)]);
    let (claim, parts) = prove_chunked(&refs, [3; 32], &statement).unwrap();
    let dataset = commitments(&snapshots);
    verify_chunked(&claim, &dataset, &parts).unwrap();

    // The total changed: the parts no longer add up to it.
    let more = Claim { count: claim.count + 1, ..claim.clone() };
    assert!(refusal(&more, &parts).contains("add up"), "{}", refusal(&more, &parts));
    let richer = Claim { sum: claim.sum + 1, ..claim.clone() };
    assert!(refusal(&richer, &parts).contains("add up"));

    // A part's masked count (or sum) changed with the total to match: its proof fails.
    for which in 0..2 {
        let mut forged = parts.clone();
        let mut total = claim.clone();
        if which == 0 {
            forged[1].claim.count += 1;
            total.count += 1;
        } else {
            forged[1].claim.sum += 1;
            total.sum += 1;
        }
        let why = refusal(&total, &forged);
        assert!(why.starts_with("proof rejected: part 1:") || why.contains("part 1"), "{why}");
    }

    // Parts out of the dataset's order, or one dropped: the dataset's list refuses them, and so would
    // the links (checked here over the parts' own order).
    let mut swapped = parts.clone();
    swapped.swap(0, 1);
    assert!(refusal_over(&dataset, &claim, &swapped).contains("part 0 is over another commitment"));
    assert!(refusal(&claim, &swapped).contains("links to a chunk before it"));
    let mut swapped = parts.clone();
    swapped.swap(1, 2);
    assert!(refusal(&claim, &swapped).contains("links to a chunk after it"));
    let dropped = [parts[0].clone(), parts[2].clone()];
    assert!(refusal_over(&dataset, &claim, &dropped).contains("2 parts for a dataset of 3 chunks"));
    assert!(refusal(&claim, &dropped).contains("does not link"));
    assert!(refusal(&claim, &[]).contains("at least one part"));
    // An honest answer over two of the three chunks, with its own masks: it verifies as an answer
    // over those two, and is refused as one over the dataset.
    let (partial, two) = prove_chunked(&[refs[0], refs[2]], [3; 32], &statement).unwrap();
    verify_chunked(&partial, &of(&two), &two).unwrap();
    assert!(refusal_over(&dataset, &partial, &two).contains("2 parts for a dataset of 3 chunks"));
    let reversed = [dataset[2].clone(), dataset[0].clone()];
    assert!(refusal_over(&reversed, &partial, &two).contains("part 0 is over another commitment"));

    // A middle link replaced on both sides (another boundary's digest): the proofs open other masks.
    let mut relinked = parts.clone();
    let other = relinked[0].link.prev;
    relinked[0].link.next = other;
    relinked[1].link.prev = other;
    assert!(refusal(&claim, &relinked).contains("part 0"));

    // A part from another query's answer over the same chunks.
    let (_, others) = prove_chunked(&refs, [4; 32], &statement).unwrap();
    let mut mixed = parts.clone();
    mixed[1] = others[1].clone();
    assert!(refusal(&claim, &mixed).contains("another query"));
    // Or relabelled as this query's: its links are another answer's, and its proof is bound to the
    // other query.
    mixed[1].claim.query = claim.query;
    assert!(refusal(&claim, &mixed).contains("does not link"));
    assert!(verify_chunk(&mixed[1]).unwrap_err().to_string().contains("proof does not verify"));

    // A part's proof against another chunk's commitment.
    let mut foreign = parts.clone();
    foreign[1].commitment = parts[0].commitment.clone();
    assert!(matches!(verify_chunk(&foreign[1]), Err(ZkError::ForeignCommitment { .. })));

    // A digest element or a masked output outside the field.
    let mut wide = parts[1].clone();
    wide.link.next[0] = u64::MAX;
    assert!(verify_chunk(&wide).unwrap_err().to_string().contains("canonical"));
    let mut wide = parts[1].clone();
    wide.claim.count = u64::MAX;
    assert!(verify_chunk(&wide).unwrap_err().to_string().contains("canonical"));

    // A disclosed part stating a total, and a count's part with a sum.
    let mut stating = parts[1].clone();
    stating.link.total = Some(5);
    assert!(verify_chunk(&stating).unwrap_err().to_string().contains("exactly when it is suppressed"));
    let (_, counted) = prove_chunked(&refs, [3; 32], &count_of(vec![Criterion::has(PERSON)])).unwrap();
    let mut summed = counted[1].clone();
    summed.claim.sum = 5;
    assert!(verify_chunk(&summed).unwrap_err().to_string().contains("a sum only with a measure"));
    // A dataset naming one chunk twice (each part over it, with its own masks).
    let (twice, again) = prove_chunked(&[refs[0], refs[0]], [3; 32], &statement).unwrap();
    assert!(
        refusal(&twice, &again).contains("the dataset's chunk 1 repeats its chunk 0"),
        "{}",
        refusal(&twice, &again)
    );
    // More chunks than a dataset may have.
    let many = vec![dataset[0].clone(); agora_zk::MAX_CHUNKS + 1];
    assert!(refusal_over(&many, &claim, &parts).contains("at most 256"));
}

#[test]
fn a_rare_cohort_over_chunks_is_proven_below_the_threshold_and_its_count_stays_hidden() {
    let (all, snapshots) = chunks();
    let refs: Vec<&Snapshot> = snapshots.iter().collect();
    // Patients with all six conditions: a handful of 240 (one in 2^6 has them all).
    let criteria: Vec<Criterion> = (0..6).map(Criterion::has).collect();
    let (count, _) = expected(&all, &criteria, None);
    assert!(count < 10, "a rare cohort: {count}");
    for statement in [
        Statement { threshold: 10, ..count_of(criteria.clone()) },
        Statement { threshold: 10, ..mean_of(criteria.clone()) },
    ] {
        let (claim, parts) = prove_chunked(&refs, [8; 32], &statement).unwrap();
        assert_eq!((claim.count, claim.sum, claim.suppressed_below), (0, 0, Some(10)));
        verify_chunked(&claim, &commitments(&snapshots), &parts).expect("a suppressed answer over chunks verifies");
        let last = &parts[2];
        // The last boundary is a real one: its mask hides the total from the masked counts added.
        assert_ne!(last.link.next, ChunkLink::end());
        let total = last.link.total.expect("the last part states the masked counts added");
        assert_ne!(total, count);
        assert!(parts[..2].iter().all(|p| p.claim.suppressed_below.is_none() && p.link.total.is_none()));
        // No earlier part states its chunk's own count or sum either (each masked by a uniform element).
        for (part, snapshot) in parts[..2].iter().zip(&snapshots) {
            let (own_count, own_sum) = expected(&snapshot.blocks(), &criteria, statement.measure);
            assert_ne!(part.claim.count, own_count);
            if statement.measure.is_some() {
                assert_ne!(part.claim.sum, own_sum, "a suppressed mean's part discloses its chunk's sum");
            }
        }

        // The stated total moved by one: the last part's proof, of which it is a public input, fails;
        // and so does a middle part's whose masked count is moved with it to match.
        let mut forged = parts.clone();
        forged[2].link.total = Some(total + 1);
        assert!(refusal(&claim, &forged).contains("part 2: proof does not verify"), "{}", refusal(&claim, &forged));
        forged[1].claim.count += 1;
        assert!(refusal(&claim, &forged).contains("part 1: proof does not verify"), "{}", refusal(&claim, &forged));
        // Another threshold, or the answer disclosed, or a middle part suppressed.
        let lower = Claim { suppressed_below: Some(5), ..claim.clone() };
        assert!(refusal(&lower, &parts).contains("suppressed below 10, the answer suppressed below 5"));
        let disclosed = Claim { count, suppressed_below: None, ..claim.clone() };
        assert!(refusal(&disclosed, &parts).contains("links to a chunk after it"));
        let mut middle = parts.clone();
        middle[1].claim.suppressed_below = Some(10);
        assert!(refusal(&claim, &middle).contains("only the last part"));
        // The last part ending at no boundary (its total would be the hidden count).
        let mut ended = parts.clone();
        ended[2].link.next = ChunkLink::end();
        assert!(refusal(&claim, &ended).contains("would disclose its total"));
    }
    // The same cohort over a lower threshold is disclosed, and ends at no boundary.
    let statement = Statement { threshold: count.min(1) as u32, ..count_of(criteria.clone()) };
    let (claim, parts) = prove_chunked(&refs, [8; 32], &statement).unwrap();
    assert_eq!((claim.count, claim.suppressed_below), (count, None));
    assert_eq!(parts[2].link.next, ChunkLink::end());
    verify_chunked(&claim, &commitments(&snapshots), &parts).unwrap();
}

/// Three chunks whose measure values reach up to 2^32, so that each chunk's sum of squares is far
/// beyond the field's modulus and their low words added carry.
fn wide_chunks() -> (Vec<Block>, Vec<Snapshot>) {
    let mut x = 41u64;
    let parts: Vec<Vec<Block>> = (0..3)
        .map(|i| {
            let mut blocks = patients(60 + 10 * i, 700 + i as u64);
            for row in blocks.iter_mut().flatten().filter(|r| r.code == MEASURE) {
                row.value = match xorshift(&mut x) % 3 {
                    0 => u32::MAX - (xorshift(&mut x) % 1_000) as u32,
                    1 => (xorshift(&mut x) % 70_000) as u32,
                    _ => xorshift(&mut x) as u32,
                };
            }
            blocks
        })
        .collect();
    let snapshots = parts.iter().enumerate().map(|(i, p)| Snapshot::build(p.clone(), [i as u8 + 20; 32]).unwrap());
    let snapshots = snapshots.collect();
    (parts.concat(), snapshots)
}

/// A sum of squares over chunks (a standard deviation): each part masks its own as its low word and
/// rest, and the last part recombines the parts' masked ones added into the claim's. The total equals
/// one computed here from the rows, far beyond the modulus, and no part discloses its own.
#[test]
fn sums_of_squares_over_chunks_add_up_exactly_and_no_part_discloses_its_own() {
    use agora_zk::archive::{Archived, ArchivedChunkedAnswer};
    let (all, snapshots) = wide_chunks();
    let dir = tempfile::tempdir().unwrap();
    snapshots[1].park(dir.path()).unwrap();
    let refs: Vec<&Snapshot> = snapshots.iter().collect();
    let dataset = commitments(&snapshots);
    let criteria = vec![Criterion::has(PERSON), Criterion::lacks(2)];
    let statement = Statement { squares: true, ..mean_of(criteria.clone()) };
    let (claim, parts) = prove_chunked(&refs, [6; 32], &statement).unwrap();
    let (count, sum) = expected(&all, &criteria, Some(MEASURE));
    let squares = expected_squares(&all, &criteria);
    assert_eq!((claim.count, claim.sum, claim.sum_sq), (count, sum, Some(squares)));
    assert!(squares > 1 << 68, "far beyond the modulus: {squares}");
    // Each chunk's low word below 2^32: added, they carry (the last part's carry is not zero).
    let own: Vec<u128> = snapshots.iter().map(|s| expected_squares(&s.blocks(), &criteria)).collect();
    assert_eq!(own.iter().sum::<u128>(), squares);
    let lows: u128 = own.iter().map(|q| q % (1 << 32)).sum();
    assert!(lows >> 32 >= 1, "the low words added carry: {lows}");
    verify_chunked(&claim, &dataset, &parts).expect("an honest sum of squares over chunks verifies");
    let last = &parts[2];
    // The last boundary is a real one (its masks hide the low words added); the count and sum still
    // add up unmasked.
    assert_ne!(last.link.next, ChunkLink::end());
    let stated = last.link.squares_total.expect("the last part adds up the masked ones");
    assert_ne!(stated, [(lows % (1 << 64)) as u64, own.iter().map(|q| (q >> 32) as u64).sum::<u64>()]);
    for (part, q) in parts.iter().zip(&own) {
        assert_eq!(part.claim.sum_sq, Some(squares), "every part states the answer's");
        let masked = part.link.squares.expect("each part masks its own");
        assert_ne!(masked, [(q % (1 << 32)) as u64, (q >> 32) as u64], "a part discloses its own");
        verify_chunk(part).expect("each part verifies alone");
    }
    assert!(parts[..2].iter().all(|p| p.link.squares_total.is_none()));

    // Through the archive an auditor reads: the claim's sum of squares moved is refused by the proofs
    // (every part states it; the last proves it), whatever the move (one, a word, the modulus).
    let good = ArchivedChunkedAnswer::new(dataset.clone(), &claim, &parts);
    assert_eq!(Archived::Chunked(good.clone()).verify().unwrap(), claim);
    let file = dir.path().join("squares.json");
    std::fs::write(&file, serde_json::to_string(&good).unwrap()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agora-zk")).arg("verify").arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains(&format!("summing to {sum}, their squares to {squares}")), "{text}");
    let p = u128::from(agora_zk::air::digest_modulus());
    for forged in [squares + 1, squares - 1, squares + (1 << 32), squares - (1 << 40), squares + p, squares - p] {
        let mut archived = good.clone();
        archived.claim.sum_sq = Some(forged);
        let why = Archived::Chunked(archived).verify().unwrap_err().to_string();
        assert!(why.contains("part 0: proof does not verify"), "{forged}: {why}");
    }
    let mut dropped = good.clone();
    dropped.claim.sum_sq = None;
    assert!(Archived::Chunked(dropped).verify().is_err());

    // The stated sums moved: refused as not adding up; with a part's masked low word (or rest) moved to
    // match, that part's proof fails.
    for word in 0..2 {
        let mut forged = parts.clone();
        forged[2].link.squares_total.as_mut().unwrap()[word] += 1;
        assert!(refusal(&claim, &forged).contains("add up to"), "{}", refusal(&claim, &forged));
        forged[0].link.squares.as_mut().unwrap()[word] += 1;
        assert!(refusal(&claim, &forged).contains("part 0: proof does not verify"), "{}", refusal(&claim, &forged));
    }
    // Every part stating another sum of squares: the proofs fail.
    let mut restated = parts.clone();
    let other = Claim { sum_sq: Some(squares + (1 << 32)), ..claim.clone() };
    for part in &mut restated {
        part.claim.sum_sq = other.sum_sq;
    }
    assert!(refusal(&other, &restated).contains("proof does not verify"), "{}", refusal(&other, &restated));
    // One part stating another: it is of another statement.
    let mut one = parts.clone();
    one[1].claim.sum_sq = other.sum_sq;
    assert!(refusal(&claim, &one).contains("part 1 is of another query or statement"));
    // The last part ending at no boundary, the sums added stated by a middle part or by none.
    let mut ended = parts.clone();
    ended[2].link.next = ChunkLink::end();
    assert!(refusal(&claim, &ended).contains("would disclose"), "{}", refusal(&claim, &ended));
    let mut moved = parts.clone();
    moved[1].link.squares_total = moved[2].link.squares_total.take();
    assert!(refusal(&claim, &moved).contains("part 1: only the last part"), "{}", refusal(&claim, &moved));
    let mut unstated = parts.clone();
    unstated[2].link.squares_total = None;
    assert!(refusal(&claim, &unstated).contains("part 2: only the last part"));
    // A part without its own masked sum of squares, or with one outside the field.
    let mut bare = parts[1].clone();
    bare.link.squares = None;
    assert!(verify_chunk(&bare).unwrap_err().to_string().contains("exactly when it states"));
    let mut wide = parts[1].clone();
    wide.link.squares = Some([u64::MAX, 0]);
    assert!(verify_chunk(&wide).unwrap_err().to_string().contains("canonical"));
    // The count and sum of an answer with squares are checked as ever.
    let more = Claim { count: claim.count + 1, ..claim.clone() };
    assert!(refusal(&more, &parts).contains("add up to count"), "{}", refusal(&more, &parts));

    // A rare cohort with squares asked: suppressed, it states none, and hides its total as before.
    let rare: Vec<Criterion> = (0..6).map(Criterion::has).collect();
    let statement = Statement { threshold: 10, squares: true, ..mean_of(rare) };
    let (hidden, parts) = prove_chunked(&refs, [6; 32], &statement).unwrap();
    assert_eq!((hidden.count, hidden.sum_sq, hidden.suppressed_below), (0, None, Some(10)));
    assert!(parts.iter().all(|p| p.link.squares.is_none()));
    for (part, snapshot) in parts[..2].iter().zip(&snapshots) {
        let (own_count, own_sum) = expected(&snapshot.blocks(), &statement.criteria, Some(MEASURE));
        assert!(part.claim.count != own_count && part.claim.sum != own_sum, "a part discloses its own");
    }
    verify_chunked(&hidden, &dataset, &parts).unwrap();
}

#[test]
fn what_chunks_cannot_prove_is_refused_before_any_proof() {
    let (_, snapshots) = chunks();
    let refs: Vec<&Snapshot> = snapshots.iter().collect();
    let before: Vec<usize> = snapshots.iter().map(Snapshot::remaining_proofs).collect();
    assert!(prove_chunked(&[], [0; 32], &count_of(vec![Criterion::has(PERSON)])).is_err());
    // A statement that fits one snapshot's proof but not a chunk's (31 columns more): refused by its
    // width, whatever its count, before any proof.
    let wide = Statement {
        criteria: vec![
            Criterion::has(MEASURE).within(Some(0x7fff_fff0), Some(0x7fff_fffa)),
            Criterion::has(MEASURE).within(Some(12_000), Some(23_999)).or_previous(),
            Criterion::has(FEMALE),
        ],
        ..count_of(vec![])
    };
    assert!(wide.check_width().is_ok(), "the statement fits one snapshot");
    let why = prove_chunked(&refs, [0; 32], &wide).unwrap_err().to_string();
    assert!(why.contains("auxiliary columns, at most 128"), "{why}");
    // Refused before any chunk's budget was spent.
    let after: Vec<usize> = snapshots.iter().map(Snapshot::remaining_proofs).collect();
    assert_eq!(after, before);
}

#[test]
fn answers_over_chunks_are_archived_and_verified_offline_with_the_cli() {
    use agora_zk::archive::{Archived, ArchivedChunkedAnswer};
    let (all, snapshots) = chunks();
    let refs: Vec<&Snapshot> = snapshots.iter().collect();
    let dataset = commitments(&snapshots);
    let criteria = vec![Criterion::has(PERSON), Criterion::has(3)];
    let (claim, parts) = prove_chunked(&refs, [5; 32], &mean_of(criteria.clone())).unwrap();
    let good = ArchivedChunkedAnswer::new(dataset.clone(), &claim, &parts);
    let json = serde_json::to_value(&good).unwrap();
    let read = Archived::from_json(&json.to_string()).unwrap();
    assert_eq!(read.verify().unwrap(), claim);
    let (count, sum) = expected(&all, &criteria, Some(MEASURE));
    assert_eq!((claim.count, claim.sum), (count, sum));
    // A suppressed answer archives its hidden total's part too.
    let rare = Statement { threshold: 10, ..count_of((0..6).map(Criterion::has).collect()) };
    let (hidden, hidden_parts) = prove_chunked(&refs, [5; 32], &rare).unwrap();
    let suppressed = ArchivedChunkedAnswer::new(dataset.clone(), &hidden, &hidden_parts);
    assert_eq!(Archived::Chunked(suppressed.clone()).verify().unwrap(), hidden);

    let why = |a: &ArchivedChunkedAnswer| Archived::Chunked(a.clone()).verify().unwrap_err().to_string();
    let mut more = good.clone();
    more.claim.count += 1;
    assert!(why(&more).contains("add up"), "{}", why(&more));
    let mut fewer = good.clone();
    fewer.parts.pop();
    assert!(why(&fewer).contains("2 parts for a dataset of 3 chunks"));
    // The dataset's chunks in another order: each part is checked against the commitment at its place.
    let mut other = good.clone();
    other.dataset.swap(0, 1);
    assert!(why(&other).contains("part 0: proof is over dataset"), "{}", why(&other));
    // Another version of the chunked format is read as one and refused by name.
    let mut renamed = serde_json::to_value(&good).unwrap();
    renamed["format"] = "agora-zk/chunked/9".into();
    let refused = Archived::from_json(&renamed.to_string()).unwrap().verify().unwrap_err().to_string();
    assert!(refused.contains("expected agora-zk/chunked/1"), "{refused}");

    // The CLI: an answer over chunks verifies and says over which chunks; a forged one is refused.
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, a: &ArchivedChunkedAnswer| {
        let p = dir.path().join(name);
        std::fs::write(&p, serde_json::to_string_pretty(a).unwrap()).unwrap();
        p
    };
    let (good_path, forged_path, hidden_path) =
        (write("good.json", &good), write("forged.json", &more), write("hidden.json", &suppressed));
    let run = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_agora-zk")).args(args).output().unwrap()
    };
    let out = run(&["verify".as_ref(), good_path.as_os_str(), forged_path.as_os_str(), hidden_path.as_os_str()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let said = format!(
        "good.json: verified: {count} values of {MEASURE} of the patients with {PERSON} and 3, summing to {sum}"
    );
    assert!(text.contains(&said) && text.contains("over the dataset in 3 chunks"), "{text}");
    assert!(text.contains("forged.json: REFUSED") && text.contains("add up"), "{text}");
    assert!(text.contains("hidden.json: verified: the number of patients with 0 and 1"), "{text}");
    // `agora-zk example --chunks 3` writes one that verifies.
    let example = dir.path().join("example.json");
    let made = run(&[
        "example".as_ref(),
        "--patients".as_ref(),
        "600".as_ref(),
        "--chunks".as_ref(),
        "3".as_ref(),
        "--out".as_ref(),
        example.as_os_str(),
    ]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let out = run(&["verify".as_ref(), example.as_os_str()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("over the dataset in 3 chunks"), "{text}");
}

//! Checking an answer's proof against a published commitment. Links no prover code.

use crate::air::{check_criteria, check_width, AuxLayout, ChunkLink, CohortAir, Criterion, PublicInputs};
use crate::format::{
    capacity, proof_options, Commitment, FORMAT_VERSION, MAIN_WIDTH, MAX_CODE, MAX_THRESHOLD, MIN_TRACE_LENGTH,
    READABLE_AUX_WIDTH,
};
use crate::ZkError;
use winter_air::proof::{Context, Proof};
use winter_air::{Air, TraceInfo};
use winter_crypto::hashers::Blake3_256;
use winter_crypto::{DefaultRandomCoin, Digest, MerkleTree};
use winter_math::fields::f64::BaseElement;
use winter_math::FieldElement as _;
use winter_verifier::AcceptableOptions;
use winter_verifier::{ByteReader as _, Deserializable as _, DeserializationError, Serializable as _};

/// The hash of format v3's commitments.
pub type Hash = Blake3_256<BaseElement>;

/// The largest proof accepted (a v3 proof is well under 250 KB).
pub const MAX_PROOF_BYTES: usize = 1 << 20;

/// What an answer claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The digest of the query answered.
    pub query: [u8; 32],
    /// The cohort: a counted patient block meets a criterion of every clause.
    pub criteria: Vec<Criterion>,
    /// The measure's row code, when its values are counted and summed over the cohort.
    pub measure: Option<u64>,
    /// Patients of the cohort, or with a measure its values (0 when suppressed: not disclosed).
    pub count: u64,
    /// Sum of the measure's values (0 without a measure, with a range on it, or when suppressed: not
    /// disclosed).
    pub sum: u64,
    /// Sum of the squares of the measure's values, when the statement proves it (disclosed cells of a
    /// measure only).
    pub sum_sq: Option<u128>,
    /// With a measure: only its values within this range are counted, and no sum is claimed (0).
    pub measure_range: Option<crate::air::Range>,
    /// `Some(T)`: the count is suppressed, and proven below the node's threshold `T`.
    pub suppressed_below: Option<u32>,
}

impl Claim {
    /// The auxiliary layout of this claim's proof.
    pub fn layout(&self) -> AuxLayout {
        AuxLayout::new(&self.criteria, self.measure.is_some(), self.sum_sq.is_some(), self.suppressed_below.is_some())
            .with_measure_range(self.measure_range)
    }

    /// Checks what the format can state before any proof is read.
    fn check(&self, max_rows: u64) -> Result<(), ZkError> {
        self.check_statement(false)?;
        self.check_outputs(max_rows)
    }

    /// Checks the statement (criteria, codes, width; for a chunk's, `chunked`, with its columns).
    fn check_statement(&self, chunked: bool) -> Result<(), ZkError> {
        check_criteria(&self.criteria).map_err(ZkError::Rejected)?;
        check_width(self.layout().with_chunk(chunked), READABLE_AUX_WIDTH).map_err(ZkError::Rejected)?;
        if let Some(code) = self.criteria.iter().map(|c| c.code).chain(self.measure).find(|c| *c > MAX_CODE) {
            return Err(ZkError::Rejected(format!("code {code} is above the format's {MAX_CODE}")));
        }
        if chunked
            && self.sum_sq.is_some()
            && (self.measure.is_none() || self.measure_range.is_some() || self.suppressed_below.is_some())
        {
            return Err(ZkError::Rejected(
                "a sum of squares belongs to a disclosed measure only, without a range on it".into(),
            ));
        }
        if chunked && self.suppressed_below.is_some_and(|t| !(1..=MAX_THRESHOLD).contains(&t)) {
            return Err(ZkError::Rejected(format!("a suppressed claim's threshold is in 1..={MAX_THRESHOLD}")));
        }
        if chunked && self.measure_range.is_some() && self.measure.is_none() {
            return Err(ZkError::Rejected("a measure's range needs a measure".into()));
        }
        if chunked && self.measure_range.is_some_and(|r| r.min.is_none() && r.max.is_none()) {
            return Err(ZkError::Rejected("a measure's range bounds nothing (give min 0 for every value)".into()));
        }
        if chunked && self.layout().with_chunk(true).totals() == 1 && self.sum != 0 {
            return Err(ZkError::Rejected("a chunk's claim has a sum only with a measure summed and disclosed".into()));
        }
        Ok(())
    }

    /// Checks the outputs against what `max_rows` data rows can hold.
    fn check_outputs(&self, max_rows: u64) -> Result<(), ZkError> {
        let refuse = |why: String| Err(ZkError::Rejected(why));
        if self.count > max_rows {
            return refuse(format!("count {} exceeds the snapshot's {max_rows} rows", self.count));
        }
        if self.measure.is_none() && self.sum != 0 {
            return refuse("a sum without a measure".into());
        }
        if self.measure_range.is_some() && (self.measure.is_none() || self.sum != 0 || self.sum_sq.is_some()) {
            return refuse("a measure's range needs a measure and claims no sum or sum of squares".into());
        }
        if self.measure_range.is_some_and(|r| r.min.is_none() && r.max.is_none()) {
            return refuse("a measure's range bounds nothing (give min 0 for every value)".into());
        }
        if self.sum > self.count * u64::from(u32::MAX) {
            return refuse(format!("sum {} exceeds count × 2^32", self.sum));
        }
        if let Some(sum_sq) = self.sum_sq {
            if self.measure.is_none() || self.suppressed_below.is_some() {
                return refuse("a sum of squares belongs to a disclosed measure only".into());
            }
            // Below 2^86 for one snapshot (count ≤ 2^22), 2^94 over chunks (count ≤ 256·2^22): the
            // AIR's split of it, `L < 2^32` and `H < 2^62`, stays below the field's modulus.
            let most = u128::from(self.count) * u128::from(u32::MAX) * u128::from(u32::MAX);
            if sum_sq > most {
                return refuse(format!("sum of squares {sum_sq} exceeds count × (2^32 - 1)^2"));
            }
        }
        match self.suppressed_below {
            None => Ok(()),
            Some(t) if (1..=MAX_THRESHOLD).contains(&t) && self.count == 0 && self.sum == 0 => Ok(()),
            Some(t) => refuse(format!(
                "a suppressed claim carries no count or sum and a threshold in 1..={MAX_THRESHOLD} (got {t})"
            )),
        }
    }
}

fn shape(detail: impl Into<String>) -> ZkError {
    ZkError::Shape { version: FORMAT_VERSION, detail: detail.into() }
}

/// Parses a proof and checks that its shape and parameters are those of the commitment's format, before
/// anything of winterfell's verifier (which panics on some hostile shapes) sees it.
pub fn parse_proof(commitment: &Commitment, layout: AuxLayout, bytes: &[u8]) -> Result<Proof, ZkError> {
    check_width(layout, READABLE_AUX_WIDTH).map_err(shape)?;
    let aux = layout.width();
    if !commitment.trace_length.is_power_of_two() || commitment.trace_length < MIN_TRACE_LENGTH {
        return Err(shape(format!("commitment trace length {}", commitment.trace_length)));
    }
    if bytes.len() > MAX_PROOF_BYTES {
        return Err(ZkError::Malformed(format!("{} bytes, at most {MAX_PROOF_BYTES}", bytes.len())));
    }
    // winterfell's deserializer asserts on many hostile headers (found by `cargo fuzz run stark_proof`:
    // a trace length of 2^255 overflows `usize::pow`, out-of-range proof options fail an assert). Format
    // v3 fixes the whole proof context for a claim's layout (trace shape, field, options, number of
    // constraints), so compare the proof's opening bytes with it before deserializing anything.
    let expected = expected_context(commitment.trace_length, layout);
    match bytes.get(..expected.len()) {
        None => return Err(ZkError::Malformed("shorter than a proof header".into())),
        Some(header) if header[..4] != expected[..4] => {
            return Err(shape(format!(
                "trace header {:?} (expected main width, auxiliary width, random elements and log2 length {:?})",
                &header[..4],
                &expected[..4]
            )))
        }
        Some(header) if header != expected.as_slice() => {
            return Err(shape("proof context (field, options or constraints) differs from the format's"))
        }
        Some(_) => {}
    }
    // Lengths bounded by the input (crate::reader); anything else that panics in the deserializer is a
    // refusal too (it is pure).
    let mut proof = std::panic::catch_unwind(|| {
        let mut reader = crate::reader::BoundedReader::new(bytes);
        let proof = Proof::read_from(&mut reader)?;
        if reader.has_more_bytes() {
            return Err(DeserializationError::UnconsumedBytes);
        }
        Ok(proof)
    })
    .map_err(|_| ZkError::Malformed("the proof's structure is out of range".into()))?
    .map_err(|e: DeserializationError| ZkError::Malformed(e.to_string()))?;
    let info = proof.trace_info();
    if info.main_trace_width() != MAIN_WIDTH {
        return Err(shape(format!("main trace width {} (expected {MAIN_WIDTH})", info.main_trace_width())));
    }
    if !info.is_multi_segment() || info.aux_segment_width() != aux || info.get_num_aux_segment_rand_elements() != 1 {
        return Err(shape(format!("auxiliary segment width {} (expected {aux})", info.aux_segment_width())));
    }
    if info.length() != commitment.trace_length {
        return Err(shape(format!("trace length {} (committed {})", info.length(), commitment.trace_length)));
    }
    if proof.options() != &proof_options() {
        return Err(shape("proof options differ from the format's"));
    }
    // winterfell's FRI partitions are the prover's to state and not in the transcript: a prover could
    // pick them after the query positions are drawn (another map from positions to leaves for each).
    // Every agora-zk proof has one.
    if proof.fri_proof.log2_num_partitions() != 0 {
        return Err(shape(format!(
            "2^{} FRI partitions (the format's proofs have one)",
            proof.fri_proof.log2_num_partitions()
        )));
    }
    check_openings(&proof)?;
    crate::openings::lift(&mut proof, aux)?;
    Ok(proof)
}

/// Reads every Merkle opening in `proof` (the trace's and the quotient's queries, each FRI layer's) with
/// the bounded reader. winterfell's verifier parses them again with its own `SliceReader`, which trusts
/// their length prefixes: a flipped bit in one made it reserve 96 GB and abort the process (the
/// bit-flip test in zk/tests/proofs.rs hit it), past any `catch_unwind`.
fn check_openings(proof: &Proof) -> Result<(), ZkError> {
    use crate::reader::BoundedReader;
    use winter_crypto::BatchMerkleProof;
    let malformed = |what: &str, e: DeserializationError| ZkError::Malformed(format!("{what}: {e}"));
    let opening = |what: &str, bytes: &[u8]| -> Result<(), ZkError> {
        let mut reader = BoundedReader::new(bytes);
        BatchMerkleProof::<Hash>::read_from(&mut reader).map_err(|e| malformed(what, e))?;
        if reader.has_more_bytes() {
            return Err(malformed(what, DeserializationError::UnconsumedBytes));
        }
        Ok(())
    };
    let queries = proof
        .trace_queries
        .iter()
        .map(|q| ("trace openings", q))
        .chain([("quotient openings", &proof.constraint_queries)]);
    for (what, q) in queries {
        let (_values, paths) = crate::openings::split(q);
        opening(what, paths)?;
    }
    // FRI: the number of layers, then per layer its values and its opening, each after a u32 length.
    let bytes = proof.fri_proof.to_bytes();
    let mut reader = BoundedReader::new(&bytes);
    let layers = reader.read_u8().map_err(|e| malformed("FRI layers", e))?;
    for _ in 0..layers {
        let len = reader.read_u32().map_err(|e| malformed("FRI layer values", e))?;
        reader.read_slice(len as usize).map_err(|e| malformed("FRI layer values", e))?;
        let len = reader.read_u32().map_err(|e| malformed("FRI layer openings", e))?;
        let paths = reader.read_slice(len as usize).map_err(|e| malformed("FRI layer openings", e))?;
        opening("FRI layer openings", paths)?;
    }
    Ok(())
}

/// The Merkle root of the main trace a proof opens.
pub fn opened_root(proof: &Proof) -> Result<[u8; 32], ZkError> {
    let options = proof.options();
    let lde_domain_size = proof.trace_info().length() * options.blowup_factor();
    let fri_layers = options.to_fri_options().num_fri_layers(lde_domain_size);
    let (trace_roots, _, _) = proof
        .commitments
        .clone()
        .parse::<Hash>(2, fri_layers)
        .map_err(|e| ZkError::Malformed(format!("commitments: {e}")))?;
    Ok(trace_roots[0].as_bytes())
}

/// The serialized proof context every format v3 proof of this layout opens with.
fn expected_context(trace_length: usize, layout: AuxLayout) -> Vec<u8> {
    let info = TraceInfo::new_multi_segment(MAIN_WIDTH, layout.width(), 1, trace_length, vec![]);
    let air = CohortAir::new(info.clone(), PublicInputs::of_layout(layout), proof_options());
    let num_constraints = air.context().num_assertions() + air.context().num_transition_constraints();
    Context::new::<BaseElement>(info, proof_options(), num_constraints).to_bytes()
}

/// Verifies that `proof` shows `claim` over the dataset `commitment` names.
pub fn verify_claim(commitment: &Commitment, claim: &Claim, proof: &[u8]) -> Result<(), ZkError> {
    // The commitment's shape first: a trace length below the format's has no capacity.
    commitment.root_bytes()?;
    claim.check(capacity(commitment.trace_length) as u64)?;
    verify_statement(commitment, claim, None, proof)
}

/// The most chunks a dataset may be committed in: 256 chunks of at most 2^22 rows keep every count and
/// sum added over them below the field's modulus (a chunk's sum is below 2^54), so the parts' field sum
/// is the integer one.
pub const MAX_CHUNKS: usize = 256;
// The last part of a sum of squares proves the carry out of the parts' low words added in
// `LOWS_CARRY_BITS` bits, and their rests added (each below 2^55) stay below the modulus.
const _: () = assert!(MAX_CHUNKS <= 1 << crate::format::LOWS_CARRY_BITS);
const _: () = assert!((MAX_CHUNKS as u128) << 55 < (1u128 << 64) - (1 << 32));

/// One chunk's part of an answer over a dataset committed in chunks (`crate::air`, "Chunks"): the
/// chunk's commitment, its claim (its count and sum masked), its links to its neighbours, its proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkPart {
    /// The chunk's commitment (one of those the node published for the dataset, in order).
    pub commitment: Commitment,
    /// The statement and its masked outputs (`count` and `sum` are field elements, not counts).
    pub claim: Claim,
    /// The digests of the masks shared with the previous and the next chunk.
    pub link: ChunkLink,
    /// The proof.
    pub proof: Vec<u8>,
}

/// Verifies one chunk's part: its proof shows the masked outputs over the chunk's commitment, with masks
/// that open its link's digests. It says nothing of the whole dataset: [`verify_chunked`] does.
pub fn verify_chunk(part: &ChunkPart) -> Result<(), ZkError> {
    check_part(part)?;
    verify_statement(&part.commitment, &part.claim, Some(part.link), &part.proof)
}

/// A chunk's part's own checks before its proof is read: canonical field elements, its outputs and
/// links of the shape its statement has.
fn check_part(part: &ChunkPart) -> Result<(), ZkError> {
    let p = crate::air::digest_modulus();
    if part.link.prev.iter().chain(&part.link.next).any(|e| *e >= p) {
        return Err(ZkError::Rejected("a link's digest element is not a canonical field element".into()));
    }
    if part.claim.count >= p || part.claim.sum >= p || part.link.total.is_some_and(|t| t >= p) {
        return Err(ZkError::Rejected("a chunk's masked output is not a canonical field element".into()));
    }
    if part.claim.suppressed_below.is_some() != part.link.total.is_some() {
        return Err(ZkError::Rejected(
            "a chunk's part states the parts' masked counts added exactly when it is suppressed".into(),
        ));
    }
    let squares = part.link.squares.iter().chain(&part.link.squares_total).flatten();
    if squares.clone().any(|e| *e >= p) {
        return Err(ZkError::Rejected("a chunk's masked sum of squares is not a canonical field element".into()));
    }
    if part.claim.sum_sq.is_some() != part.link.squares.is_some() {
        return Err(ZkError::Rejected(
            "a chunk's part masks its own sum of squares exactly when it states the answer's".into(),
        ));
    }
    if part.link.squares_total.is_some() && part.link.squares.is_none() {
        return Err(ZkError::Rejected("a chunk's part adds up masked sums of squares without one of its own".into()));
    }
    part.claim.check_statement(true)
}

/// Verifies an answer over the dataset a node committed in the chunks `commitments` (in the order it
/// published them): one part per chunk, over that chunk's commitment, in order (at most [`MAX_CHUNKS`]),
/// every part is of `claim`'s statement and query, the first links to no previous chunk and the last to no next one (unless its total or a sum of squares' carry is hidden, below), each part's
/// next digest is the following part's previous one, every proof verifies ([`verify_chunk`]), and the
/// masked outputs add up, in the field, to `claim`'s count and sum (the masks telescope: each is added
/// by one chunk and taken away by the next). `claim` is then checked against the chunks' rows together.
/// A suppressed `claim` (its count hidden, below its threshold): only the last part is suppressed, with
/// that threshold, the last boundary is a real one (its mask hides the total), and the parts' masked
/// counts add up to the total the last part states, which its proof shows is the hidden count plus its
/// last mask (a real one: an end boundary there would disclose the total), and that count below the
/// threshold. A `claim` with a sum of squares: every part states it and masks its own split (low word
/// and rest, [`ChunkLink::squares`]), the last boundary is a real one, and the parts' masked splits add
/// up to the sums the last part states ([`ChunkLink::squares_total`]), which its proof recombines with
/// that boundary's masks into the claim's.
pub fn verify_chunked(claim: &Claim, commitments: &[Commitment], parts: &[ChunkPart]) -> Result<(), ZkError> {
    chunked(claim, commitments, parts, true)
}

/// Checks everything [`verify_chunked`] does except the parts' proofs, which the caller has verified
/// with [`verify_chunk`] or [`verify_chunks`] (a run of them at a time), each with the claim [`ChunkPart`]s get from the archive form
/// (`crate::archive::ArchivedPart::part`): for a verifier that receives a cell's parts apart, in several
/// messages, and keeps only what each proof showed. A part's `proof` is not read (it may be empty).
pub fn check_linked(claim: &Claim, commitments: &[Commitment], parts: &[ChunkPart]) -> Result<(), ZkError> {
    chunked(claim, commitments, parts, false)
}

/// The checks of an answer over the chunks `commitments` that read no part, before any proof is: at
/// most [`MAX_CHUNKS`] chunks, no chunk repeated, every root 32 bytes of hex, and `claim` possible over
/// the chunks' rows together. Part of [`verify_chunked`] and [`check_linked`]; a verifier receiving
/// parts apart runs it on each arrival, before their proofs.
pub fn check_dataset(claim: &Claim, commitments: &[Commitment]) -> Result<(), ZkError> {
    let refuse = |why: String| Err(ZkError::Rejected(why));
    if commitments.len() > MAX_CHUNKS {
        return refuse(format!("{} chunks, at most {MAX_CHUNKS}", commitments.len()));
    }
    for (i, c) in commitments.iter().enumerate() {
        if let Some(j) = commitments[..i].iter().position(|d| d.root == c.root) {
            return refuse(format!("the dataset's chunk {i} repeats its chunk {j}"));
        }
    }
    let mut rows = 0u64;
    for c in commitments {
        c.root_bytes()?;
        rows += capacity(c.trace_length) as u64;
    }
    claim.check(rows)
}

/// Verifies each part's proof ([`verify_chunk`]) on as many threads as the machine has, at most one
/// per part; an error names the first part (in order) whose proof fails, as verifying them in turn
/// would. A part's proof is independent of the others', so their order does not matter.
fn verify_parts(parts: &[ChunkPart]) -> Result<(), ZkError> {
    verify_chunks(parts, verifying_threads(parts.len())).map_err(|(i, e)| ZkError::Rejected(format!("part {i}: {e}")))
}

/// Verifies each of `parts` ([`verify_chunk`]) on `threads` threads (at most one per part), and returns
/// the first part that fails, by its index in `parts`, with its reason: the same answer as verifying
/// them one after another, in about half the time on two threads. For a verifier that receives a
/// cell's parts apart, a run at a time (the hub).
pub fn verify_chunks(parts: &[ChunkPart], threads: usize) -> Result<(), (usize, ZkError)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = threads.min(parts.len());
    if threads <= 1 {
        for (i, part) in parts.iter().enumerate() {
            verify_chunk(part).map_err(|e| (i, e))?;
        }
        return Ok(());
    }
    let next = AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(part) = parts.get(i) else { break };
                if let Err(e) = verify_chunk(part) {
                    failures.lock().expect("failures lock").push((i, e));
                }
            });
        }
    });
    let first = failures.into_inner().expect("failures lock").into_iter().min_by_key(|(i, _)| *i);
    first.map_or(Ok(()), Err)
}

/// The threads to verify `parts` parts on ([`verify_chunks`]): the machine's cores, at most one per part.
pub fn verifying_threads(parts: usize) -> usize {
    // The machine's parallelism, read once (`available_parallelism` reads the cgroup's files: 2% of a
    // single part's verification when asked each time).
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    cores.min(parts)
}

/// [`verify_chunked`], its parts' proofs verified here (`proofs`) or by the caller.
fn chunked(claim: &Claim, commitments: &[Commitment], parts: &[ChunkPart], proofs: bool) -> Result<(), ZkError> {
    let refuse = |why: String| Err(ZkError::Rejected(why));
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return refuse("an answer over chunks has at least one part".into());
    };
    check_dataset(claim, commitments)?;
    if parts.len() != commitments.len() {
        return refuse(format!("{} parts for a dataset of {} chunks", parts.len(), commitments.len()));
    }
    if let Some(i) = parts.iter().zip(commitments).position(|(part, c)| &part.commitment != c) {
        return refuse(format!("part {i} is over another commitment than the dataset's chunk {i}"));
    }
    let same = |c: &Claim| {
        c.query == claim.query
            && c.criteria == claim.criteria
            && c.measure == claim.measure
            && c.measure_range == claim.measure_range
            && c.sum_sq == claim.sum_sq
    };
    if let Some(i) = parts.iter().position(|part| !same(&part.claim)) {
        return refuse(format!("part {i} is of another query or statement"));
    }
    if first.link.prev != ChunkLink::end() {
        return refuse("the first part links to a chunk before it".into());
    }
    let hidden = claim.suppressed_below;
    let squares = claim.sum_sq.is_some();
    if hidden.is_none() && !squares && last.link.next != ChunkLink::end() {
        return refuse("the last part links to a chunk after it".into());
    }
    if squares && last.link.next == ChunkLink::end() {
        return refuse(
            "the last part of a sum of squares ends at no boundary, which would disclose its parts' low words added"
                .into(),
        );
    }
    let at_last = |i: usize| i + 1 == parts.len();
    if let Some(i) = (0..parts.len()).position(|i| parts[i].link.squares_total.is_some() != (squares && at_last(i))) {
        return refuse(format!(
            "part {i}: only the last part of an answer with a sum of squares adds up the parts' masked ones"
        ));
    }
    if hidden.is_some() && last.link.next == ChunkLink::end() {
        return refuse("a suppressed answer's last part ends at no boundary, which would disclose its total".into());
    }
    if let Some(i) = parts[..parts.len() - 1].iter().position(|part| part.claim.suppressed_below.is_some()) {
        return refuse(format!("part {i} is suppressed, and only the last part of an answer may be"));
    }
    if last.claim.suppressed_below != hidden {
        let state = |t: Option<u32>| t.map_or("disclosed".to_string(), |t| format!("suppressed below {t}"));
        return refuse(format!(
            "the last part is {}, the answer {}",
            state(last.claim.suppressed_below),
            state(hidden)
        ));
    }
    if let Some(i) = parts.windows(2).position(|w| w[0].link.next != w[1].link.prev) {
        return refuse(format!("part {} does not link to part {}", i, i + 1));
    }
    if let Some(i) = parts.iter().position(|part| part.link.squares.is_some() != squares) {
        return refuse(format!(
            "part {i}: a chunk's part masks its own sum of squares exactly when the answer states one"
        ));
    }
    // The parts' masked sums of squares add up to what the last part states (before any proof is read).
    if let Some(stated) = last.link.squares_total {
        let mut added = [BaseElement::ZERO; 2];
        for part in parts {
            for (s, e) in added.iter_mut().zip(part.link.squares.unwrap_or_default()) {
                *s += BaseElement::new(e);
            }
        }
        let added = added.map(|e| e.as_int());
        if added != stated {
            return refuse(format!(
                "the parts' masked low words and rests of their sums of squares add up to {added:?}, not the \
                 {stated:?} the last part states"
            ));
        }
    }
    if proofs {
        verify_parts(parts)?;
    }
    let (mut count, mut sum) = (BaseElement::ZERO, BaseElement::ZERO);
    for (i, part) in parts.iter().enumerate() {
        if !proofs {
            check_part(part).map_err(|e| ZkError::Rejected(format!("part {i}: {e}")))?;
        }
        count += BaseElement::new(part.claim.count);
        sum += BaseElement::new(part.claim.sum);
    }
    if let Some(total) = last.link.total {
        if count.as_int() != total {
            return refuse(format!(
                "the parts' masked counts add up to {}, not the {total} the last part states",
                count.as_int()
            ));
        }
        return Ok(());
    }
    if count.as_int() != claim.count || sum.as_int() != claim.sum {
        return refuse(format!(
            "the parts add up to count {} and sum {}, not the claimed {} and {}",
            count.as_int(),
            sum.as_int(),
            claim.count,
            claim.sum
        ));
    }
    Ok(())
}

/// Verifies `proof` of `claim`'s statement over `commitment` (a chunk's with `link`), its outputs checked
/// by the caller.
fn verify_statement(
    commitment: &Commitment,
    claim: &Claim,
    link: Option<ChunkLink>,
    proof: &[u8],
) -> Result<(), ZkError> {
    let root = commitment.root_bytes()?;
    let inputs = PublicInputs {
        commitment: root,
        query: claim.query,
        criteria: claim.criteria.clone(),
        measure: claim.measure,
        count: claim.count,
        sum: claim.sum,
        sum_sq: claim.sum_sq,
        measure_range: claim.measure_range,
        suppressed_below: claim.suppressed_below.unwrap_or(0),
        chunk: link,
    };
    let proof = parse_proof(commitment, inputs.layout(), proof)?;
    let opened = opened_root(&proof)?;
    if opened != root {
        return Err(ZkError::ForeignCommitment { expected: hex::encode(root), found: hex::encode(opened) });
    }
    let acceptable = AcceptableOptions::OptionSet(vec![proof_options()]);
    let outcome = std::panic::catch_unwind(move || {
        winter_verifier::verify::<CohortAir, Hash, DefaultRandomCoin<Hash>, MerkleTree<Hash>>(
            proof,
            inputs,
            &acceptable,
        )
    });
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ZkError::Rejected(e.to_string())),
        Err(_) => Err(ZkError::Rejected("the verifier refused the proof's structure".into())),
    }
}

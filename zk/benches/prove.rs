//! Proving and verifying answers over a committed snapshot, at one trace size per run (peak memory is
//! per process):
//!
//! `cargo bench -p agora-zk --bench prove -- --log-rows 16` (`--widest`: near the widest statement, then one at the format's cap, with `--twice` the widest twice; `--band`: the age band alone; `--phases`: the time and memory of each phase of a proof;
//! `--verify`: verification alone, 300 times each; `--eight`: the most criteria, with and without a consent-like ranged one (`--consent`: seven and a consent only, twice); `--chunk`: a count and a mean as
//! one chunk's proofs, beside the same over the whole snapshot; `--dataset K [--held] [--only count,mean,sd]`: a
//! count, a mean and a standard deviation over K full chunks, parked as a node keeps them, or held in memory)
//!
//! The snapshot is full (the format's capacity for that trace length): patient blocks of four rows (a
//! person row, a sex, one of eight condition codes, a measure's value). Timed: the count of a
//! one-criterion cohort (a condition: the common case), of a three-criterion cohort (a sex, a condition,
//! and not another), the measure's count and sum over a two-criterion cohort, the same with the sum of squares, a
//! suppressed cell, and last (its peak memory reported apart) an age-band-like cohort: a sex, a condition and a
//! value within a two-sided range of 15-bit bounds (as a birth month's), decided inside the proof.

#![allow(missing_docs)]

use agora_zk::air::AuxLayout;
use agora_zk::format::{capacity, proof_options};
use agora_zk::prove::{Block, Row, Snapshot, Statement};
use agora_zk::{verify_claim, Criterion};
use std::time::Instant;

/// A memory figure of this process, in MB (`VmHWM:` its peak resident set, `VmRSS:` the current one).
fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn peak_rss_mb() -> f64 {
    status_mb("VmHWM:")
}

fn rss_mb() -> f64 {
    status_mb("VmRSS:")
}

/// A dataset of `k` full chunks of 2^`log` rows, as a node holds it: each chunk committed and (unless
/// `held`) parked in a scratch file right after, then a count, a mean and a standard deviation (those
/// named in `only`, if given) proven over all of them.
fn dataset(log: usize, k: usize, blocks: Vec<Block>, held: bool, only: Option<&str>) {
    let n = 1usize << log;
    let scratch = std::env::temp_dir();
    let t = Instant::now();
    let chunks: Vec<Snapshot> = (0..k)
        .map(|i| {
            let chunk = Snapshot::build_in(blocks.clone(), [i as u8 + 1; 32], Some(&scratch)).unwrap();
            if !held {
                chunk.park(&scratch).unwrap();
            }
            chunk
        })
        .collect();
    drop(blocks);
    println!(
        "2^{log} x {k} chunks ({}): commit {:.1} s, RSS after {:.0} MB, peak RSS {:.0} MB",
        if held { "held" } else { "parked" },
        t.elapsed().as_secs_f64(),
        rss_mb(),
        peak_rss_mb()
    );
    let refs: Vec<&Snapshot> = chunks.iter().collect();
    let commitments: Vec<_> = chunks.iter().map(|c| c.commitment().clone()).collect();
    for (name, measure, squares) in [("count", None, false), ("mean", Some(200), false), ("sd", Some(200), true)] {
        if only.is_some_and(|o| !o.split(',').any(|n| n == name)) {
            continue;
        }
        let statement =
            Statement { criteria: vec![Criterion::has(101)], measure, squares, measure_range: None, threshold: 0 };
        let t = Instant::now();
        let (claim, parts) = agora_zk::prove::prove_chunked(&refs, [13; 32], &statement).unwrap();
        let prove_s = t.elapsed().as_secs_f64();
        // The median of eleven verifications: the parts on the machine's threads (`verify_chunked`), and
        // one after another (each part's `verify_chunk`, then `check_linked`, as the hub checked a run before
        // it verified a run's parts on both cores too).
        let median = |f: &dyn Fn()| sorted_ms(11, f)[5];
        let threads = median(&|| agora_zk::verify_chunked(&claim, &commitments, &parts).unwrap());
        let in_turn = median(&|| {
            parts.iter().for_each(|p| agora_zk::verify::verify_chunk(p).unwrap());
            agora_zk::verify::check_linked(&claim, &commitments, &parts).unwrap();
        });
        println!(
            "2^{log} x {k} {name}: prove {prove_s:.1} s ({:.0} rows/s), verify {threads:.1} ms ({in_turn:.1} ms one part after another), proofs {:.1} KB, RSS after {:.0} MB, peak RSS {:.0} MB",
            (k * capacity(n)) as f64 / prove_s,
            parts.iter().map(|p| p.proof.len()).sum::<usize>() as f64 / 1024.0,
            rss_mb(),
            peak_rss_mb()
        );
    }
}

/// An age-band-like cohort: a sex, a condition and a value within a two-sided range of 15-bit bounds
/// (as a birth month's), decided inside the proof.
fn banded() -> Statement {
    Statement {
        measure_range: None,
        criteria: vec![Criterion::has(101), Criterion::has(2), Criterion::has(200).within(Some(12_000), Some(23_999))],
        measure: None,
        squares: false,
        threshold: 10,
    }
}

/// With `--phases`: each of winterfell's prover phases (its tracing spans) as it ends, with its wall
/// time, the resident memory then and the process's peak so far.
struct Phases;

struct Opened(Instant);

impl<S> tracing_subscriber::Layer<S> for Phases
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        _: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Opened(Instant::now()));
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            let took = span.extensions().get::<Opened>().map_or(f64::NAN, |o| o.0.elapsed().as_secs_f64());
            println!("  {:<36} {took:7.2} s  RSS {:6.0} MB  peak {:6.0} MB", span.name(), rss_mb(), peak_rss_mb());
        }
    }
}

/// `f`'s wall time in milliseconds over `runs` runs, in increasing order.
fn sorted_ms(runs: usize, f: &dyn Fn()) -> Vec<f64> {
    let mut ms: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    ms
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--phases") {
        use tracing_subscriber::layer::SubscriberExt;
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Phases)).unwrap();
    }
    let log =
        args.iter().position(|a| a == "--log-rows").and_then(|i| args.get(i + 1)).map_or(16, |v| v.parse().unwrap());
    let n = 1usize << log;
    let blocks: Vec<Block> = (0..capacity(n) as u64 / 4)
        .map(|i| {
            let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16;
            // Five patients with condition 9: a cell below the threshold.
            let condition = if i < 5 { 9 } else { x % 8 };
            vec![
                Row::attribute(100),
                Row::attribute(101 + x % 2),
                Row::attribute(condition),
                Row { code: 200, value: (x % 40_000) as u32 },
            ]
        })
        .collect();
    if let Some(k) = args.iter().position(|a| a == "--dataset").and_then(|i| args.get(i + 1)) {
        let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1));
        dataset(log, k.parse().unwrap(), blocks, args.iter().any(|a| a == "--held"), only.map(String::as_str));
        return;
    }
    let t = Instant::now();
    let snapshot = Snapshot::build(blocks, [7; 32]).unwrap();
    let commit_s = t.elapsed().as_secs_f64();
    println!("2^{log} commit: {commit_s:.2} s, peak RSS {:.0} MB", peak_rss_mb());
    if args.iter().any(|a| a == "--verify") {
        // Verification alone, many times (for its p50 and a profile): one criterion's proof, then the
        // same count as one chunk's part (as a dataset in chunks answers it), and an age band's.
        let count = Statement {
            criteria: vec![Criterion::has(101)],
            measure: None,
            squares: false,
            measure_range: None,
            threshold: 0,
        };
        let (claim, proof) = snapshot.prove([13; 32], &count).unwrap();
        let (total, parts) = agora_zk::prove::prove_chunked(&[&snapshot], [14; 32], &count).unwrap();
        let (band, band_proof) = snapshot.prove([15; 32], &banded()).unwrap();
        let commitments = [snapshot.commitment().clone()];
        let p50 = |verify: &dyn Fn()| {
            let ms = sorted_ms(300, verify);
            (ms[150], ms[270])
        };
        let whole = p50(&|| verify_claim(snapshot.commitment(), &claim, &proof).unwrap());
        let chunk = p50(&|| agora_zk::verify_chunked(&total, &commitments, &parts).unwrap());
        let ranged = p50(&|| verify_claim(snapshot.commitment(), &band, &band_proof).unwrap());
        println!(
            "2^{log} verify, 300 times each (p50 / p90): one criterion {:.2} / {:.2} ms ({:.1} KB); as a chunk's part \
             {:.2} / {:.2} ms ({:.1} KB); age band {:.2} / {:.2} ms ({:.1} KB)",
            whole.0,
            whole.1,
            proof.len() as f64 / 1024.0,
            chunk.0,
            chunk.1,
            parts[0].proof.len() as f64 / 1024.0,
            ranged.0,
            ranged.1,
            band_proof.len() as f64 / 1024.0,
        );
        return;
    }
    if args.iter().any(|a| a == "--widest") {
        // Near the format's widest statement: a two-sided range of bounds below 2^31 (long chains), an
        // age-band-like range, and a sex.
        let widest = Statement {
            criteria: vec![
                Criterion::has(200).within(Some(0x7fff_fff0), Some(0x7fff_fffa)),
                Criterion::has(200).within(Some(12_000), Some(23_999)).or_previous(),
                Criterion::has(101),
            ],
            measure: None,
            squares: false,
            measure_range: None,
            threshold: 10,
        };
        let prove_wide = |name: &str, statement: &Statement| {
            let t = Instant::now();
            let (claim, proof) = snapshot.prove([9; 32], statement).unwrap();
            let prove_s = t.elapsed().as_secs_f64();
            verify_claim(snapshot.commitment(), &claim, &proof).unwrap();
            println!(
                "2^{log} {name}: {} aux columns, prove {prove_s:.2} s, proof {:.1} KB, peak RSS {:.0} MB",
                claim.layout().width(),
                proof.len() as f64 / 1024.0,
                peak_rss_mb()
            );
        };
        prove_wide("widest statement", &widest);
        if args.iter().any(|a| a == "--twice") {
            // Once more, as a node's next proof: the first one's scratch files (up to the pool's 4 GiB)
            // are overwritten instead of taken fresh.
            prove_wide("widest statement again", &widest);
        }
        // Then the widest a statement may be: the same with conditions lacking and a measure's sum
        // (of squares), as many as the format's cap of per-query columns allows.
        let cap = (0..=5u64)
            .flat_map(|extra| [(extra, None, false), (extra, Some(200), false), (extra, Some(200), true)])
            .map(|(extra, measure, squares)| {
                let mut criteria = widest.criteria.clone();
                criteria.extend((0..extra).map(|k| Criterion::lacks(3 + k)));
                Statement { criteria, measure, squares, ..widest.clone() }
            })
            .filter(|s| s.check_width().is_ok())
            .max_by_key(|s| AuxLayout::new(&s.criteria, s.measure.is_some(), s.squares, false).width())
            .expect("the widest statement fits");
        prove_wide("statement at the cap", &cap);
        return;
    }
    if args.iter().any(|a| a == "--chunk") {
        // One chunk's proof (the window's hash and the masks' carries beside the statement), for a count
        // and a mean, beside the same statements over the snapshot as a whole. Every chunk of a dataset
        // committed in chunks costs the same: the masks change, not the proof's shape.
        for (name, statement) in [
            (
                "count",
                Statement {
                    criteria: vec![Criterion::has(101)],
                    measure: None,
                    squares: false,
                    measure_range: None,
                    threshold: 0,
                },
            ),
            (
                "mean",
                Statement {
                    criteria: vec![Criterion::has(101)],
                    measure: Some(200),
                    squares: false,
                    measure_range: None,
                    threshold: 0,
                },
            ),
            (
                "standard deviation",
                Statement {
                    criteria: vec![Criterion::has(101)],
                    measure: Some(200),
                    squares: true,
                    measure_range: None,
                    threshold: 0,
                },
            ),
            (
                // Five patients with condition 9: a suppressed cell, its total hidden over the chunks.
                "suppressed count",
                Statement {
                    criteria: vec![Criterion::has(9)],
                    measure: None,
                    squares: false,
                    measure_range: None,
                    threshold: 10,
                },
            ),
        ] {
            let t = Instant::now();
            let (claim, proof) = snapshot.prove([11; 32], &statement).unwrap();
            let whole_s = t.elapsed().as_secs_f64();
            verify_claim(snapshot.commitment(), &claim, &proof).unwrap();
            let whole_peak = peak_rss_mb();
            let t = Instant::now();
            let (total, parts) = agora_zk::prove::prove_chunked(&[&snapshot], [12; 32], &statement).unwrap();
            let chunk_s = t.elapsed().as_secs_f64();
            let t = Instant::now();
            agora_zk::verify_chunked(&total, &[snapshot.commitment().clone()], &parts).unwrap();
            let verify_ms = t.elapsed().as_secs_f64() * 1e3;
            println!(
                "2^{log} {name}: whole {} aux columns, prove {whole_s:.2} s ({:.0} rows/s), proof {:.1} KB, peak RSS {whole_peak:.0} MB; as a chunk {} aux columns, prove {chunk_s:.2} s ({:.0} rows/s), verify {verify_ms:.2} ms, proof {:.1} KB, peak RSS {:.0} MB",
                claim.layout().width(),
                capacity(n) as f64 / whole_s,
                proof.len() as f64 / 1024.0,
                claim.layout().with_chunk(true).with_recombined(true).width(),
                capacity(n) as f64 / chunk_s,
                parts[0].proof.len() as f64 / 1024.0,
                peak_rss_mb()
            );
        }
        return;
    }
    if args.iter().any(|a| a == "--band") {
        // The age-band statement alone (as timed last in the default run), for profiles and A/B runs.
        let t = Instant::now();
        let (band, band_proof) = snapshot.prove([6; 32], &banded()).unwrap();
        let band_s = t.elapsed().as_secs_f64();
        verify_claim(snapshot.commitment(), &band, &band_proof).unwrap();
        println!(
            "2^{log} age band: {} aux columns, prove {band_s:.2} s ({:.0} rows/s), peak RSS {:.0} MB",
            band.layout().width(),
            capacity(n) as f64 / band_s,
            peak_rss_mb()
        );
        return;
    }
    let consent_only = args.iter().any(|a| a == "--consent");
    if args.iter().any(|a| a == "--eight") || consent_only {
        // The format's most criteria: eight unranged ones (a sex, an or of two conditions, four
        // conditions lacking, the person), then the same with a consent-like criterion in place of the
        // person: a row whose value is at least a day, as a consent's end on a later day than a query's
        // (`agora_protocol::proof::Plan::consented` for a query run on 2026-05-28, Unix day 20,601),
        // and at least a second (1,780,000,001), as nodes of archive format 4 committed consents.
        let plain: Vec<Criterion> = [
            Criterion::has(101),
            Criterion::has(0),
            Criterion::has(1).or_previous(),
            Criterion::lacks(2),
            Criterion::lacks(3),
            Criterion::lacks(4),
            Criterion::lacks(5),
            Criterion::has(100),
        ]
        .to_vec();
        let mut consent = plain.clone();
        consent[7] = Criterion::has(200).within(Some(20_602), None);
        let mut in_seconds = plain.clone();
        in_seconds[7] = Criterion::has(200).within(Some(1_780_000_001), None);
        for (name, criteria) in [
            ("eight criteria", plain),
            ("seven and a consent criterion", consent),
            ("seven and a consent criterion in seconds", in_seconds),
        ]
        .into_iter()
        .filter(|(name, _)| !consent_only || *name == "seven and a consent criterion")
        // With `--consent`, twice: the first proof of a process, then one as a node's next proofs run
        // (the scratch files of the one before kept, `crate::scratch`).
        .flat_map(|statement| vec![statement; if consent_only { 2 } else { 1 }])
        {
            let statement = Statement { criteria, measure: None, squares: false, measure_range: None, threshold: 0 };
            let t = Instant::now();
            let (claim, proof) = snapshot.prove([10; 32], &statement).unwrap();
            let prove_s = t.elapsed().as_secs_f64();
            let t = Instant::now();
            verify_claim(snapshot.commitment(), &claim, &proof).unwrap();
            let verify_ms = t.elapsed().as_secs_f64() * 1e3;
            println!(
                "2^{log} {name}: {} aux columns, prove {prove_s:.2} s ({:.0} rows/s), verify {verify_ms:.2} ms, proof {:.1} KB, peak RSS {:.0} MB",
                claim.layout().width(),
                capacity(n) as f64 / prove_s,
                proof.len() as f64 / 1024.0,
                peak_rss_mb()
            );
        }
        return;
    }
    let one = Statement {
        measure_range: None,
        criteria: vec![Criterion::has(2)],
        measure: None,
        squares: false,
        threshold: 10,
    };
    let t = Instant::now();
    let (claim, proof) = snapshot.prove([1; 32], &one).unwrap();
    let prove_s = t.elapsed().as_secs_f64();
    // The process's peak after each statement (the statements come in order of width).
    let mut peaks = vec![peak_rss_mb()];
    let three = Statement {
        measure_range: None,
        criteria: vec![Criterion::has(101), Criterion::has(2), Criterion::lacks(3)],
        measure: None,
        squares: false,
        threshold: 10,
    };
    let t = Instant::now();
    let (three_claim, three_proof) = snapshot.prove([4; 32], &three).unwrap();
    let three_s = t.elapsed().as_secs_f64();
    peaks.push(peak_rss_mb());
    verify_claim(snapshot.commitment(), &three_claim, &three_proof).unwrap();
    let measure = Statement {
        measure_range: None,
        criteria: vec![Criterion::has(100), Criterion::lacks(3)],
        measure: Some(200),
        squares: false,
        threshold: 10,
    };
    let t = Instant::now();
    let (sum, sum_proof) = snapshot.prove([2; 32], &measure).unwrap();
    let measure_s = t.elapsed().as_secs_f64();
    peaks.push(peak_rss_mb());
    verify_claim(snapshot.commitment(), &sum, &sum_proof).unwrap();
    let squares = Statement { squares: true, ..measure };
    let t = Instant::now();
    let (sq, sq_proof) = snapshot.prove([5; 32], &squares).unwrap();
    let squares_s = t.elapsed().as_secs_f64();
    peaks.push(peak_rss_mb());
    let t = Instant::now();
    verify_claim(snapshot.commitment(), &sq, &sq_proof).unwrap();
    let squares_verify_ms = t.elapsed().as_secs_f64() * 1e3;
    let rare = Statement {
        measure_range: None,
        criteria: vec![Criterion::has(9)],
        measure: None,
        squares: false,
        threshold: 10,
    };
    let t = Instant::now();
    let (small, small_proof) = snapshot.prove([3; 32], &rare).unwrap();
    let suppressed_s = t.elapsed().as_secs_f64();
    assert_eq!(small.suppressed_below, Some(10));
    verify_claim(snapshot.commitment(), &small, &small_proof).unwrap();
    let mut verify_ms = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        verify_claim(snapshot.commitment(), &claim, &proof).unwrap();
        verify_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    verify_ms.sort_by(f64::total_cmp);
    let peak_before_range = peak_rss_mb();
    let t = Instant::now();
    let (band, band_proof) = snapshot.prove([6; 32], &banded()).unwrap();
    let band_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    verify_claim(snapshot.commitment(), &band, &band_proof).unwrap();
    let band_verify_ms = t.elapsed().as_secs_f64() * 1e3;
    let parsed = winter_air::proof::Proof::from_bytes(&proof).unwrap();
    let security = parsed.conjectured_security::<agora_zk::verify::Hash>();
    let proven = parsed.proven_security::<agora_zk::verify::Hash>();
    let data_rows: usize = snapshot.blocks().iter().map(Vec::len).sum();
    println!(
        "2^{log} peak RSS after 1 criterion {:.0} MB ({} aux columns), 3 criteria {:.0} MB ({}), measure sum {:.0} MB ({}), \
         sum of squares {:.0} MB ({})",
        peaks[0],
        claim.layout().width(),
        peaks[1],
        three_claim.layout().width(),
        peaks[2],
        sum.layout().width(),
        peaks[3],
        sq.layout().width(),
    );
    println!(
        "2^{log} trace rows ({data_rows} data rows): commit {commit_s:.2} s, prove (1 criterion) {prove_s:.2} s = {:.0} data rows/s, \
         3 criteria {three_s:.2} s = {:.0} rows/s ({:.1} KB), measure sum {measure_s:.2} s ({:.1} KB), \
         with sum of squares {squares_s:.2} s ({:.1} KB, verify {squares_verify_ms:.2} ms), suppressed cell {suppressed_s:.2} s ({:.1} KB), \
         verify p50 {:.2} ms, proof {:.1} KB, peak RSS {peak_before_range:.0} MB; ranged (age band) {band_s:.2} s = {:.0} rows/s \
         ({:.1} KB, {} aux columns, verify {band_verify_ms:.2} ms), peak RSS then {:.0} MB; conjectured {} bits, proven {} bits (list decoding; unique decoding {}), options {:?}",
        data_rows as f64 / prove_s,
        data_rows as f64 / three_s,
        three_proof.len() as f64 / 1024.0,
        sum_proof.len() as f64 / 1024.0,
        sq_proof.len() as f64 / 1024.0,
        small_proof.len() as f64 / 1024.0,
        verify_ms[verify_ms.len() / 2],
        proof.len() as f64 / 1024.0,
        data_rows as f64 / band_s,
        band_proof.len() as f64 / 1024.0,
        band.layout().width(),
        peak_rss_mb(),
        security.bits(),
        proven.ldr_bits(),
        proven.udr_bits(),
        proof_options(),
    );
}

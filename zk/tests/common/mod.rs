//! What the proof tests share: synthetic patients, and the cohort and its count computed here, from each
//! block's rows, independently of the crate.
#![allow(dead_code)]

use agora_zk::prove::{Block, Row};
use agora_zk::Criterion;

pub(crate) const PERSON: u64 = 100;
pub(crate) const FEMALE: u64 = 101;
pub(crate) const MALE: u64 = 102;
pub(crate) const MEASURE: u64 = 200;

pub(crate) fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// `n` patients: a person row, a sex, a random set of conditions among 0..6, then (two in three) a
/// value of the measure.
pub(crate) fn patients(n: usize, seed: u64) -> Vec<Block> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            let mut block = vec![
                Row::attribute(PERSON),
                Row::attribute(if xorshift(&mut x).is_multiple_of(2) { FEMALE } else { MALE }),
            ];
            let conditions = xorshift(&mut x);
            block.extend((0..6).filter(|c| conditions >> c & 1 == 1).map(Row::attribute));
            if !xorshift(&mut x).is_multiple_of(3) {
                block.push(Row { code: MEASURE, value: (xorshift(&mut x) % 100_000) as u32 });
            }
            block
        })
        .collect()
}

/// Whether a block's rows meet the criteria: split into clauses (a criterion with `or_previous` joins
/// the clause before it), every clause has a criterion met; a criterion is met when the block has a row
/// of its code (with a range: one whose value is within it), or, negated, has none.
pub(crate) fn in_cohort(block: &[Row], criteria: &[Criterion]) -> bool {
    let mut clauses: Vec<Vec<&Criterion>> = Vec::new();
    for c in criteria {
        match clauses.last_mut() {
            Some(clause) if c.or_previous => clause.push(c),
            _ => clauses.push(vec![c]),
        }
    }
    let has = |c: &Criterion| {
        block
            .iter()
            .any(|r| r.code == c.code && c.min.is_none_or(|m| r.value >= m) && c.max.is_none_or(|m| r.value <= m))
    };
    clauses.iter().all(|clause| clause.iter().any(|c| has(c) != c.negated))
}

/// Patients meeting the criteria, or the count and sum of their measure values: computed here from
/// each block's set of codes, not by the crate.
pub(crate) fn expected(blocks: &[Block], criteria: &[Criterion], measure: Option<u64>) -> (u64, u64) {
    let (mut count, mut sum) = (0, 0);
    for block in blocks {
        if !in_cohort(block, criteria) {
            continue;
        }
        match measure {
            None => count += 1,
            Some(m) => {
                for r in block.iter().filter(|r| r.code == m) {
                    count += 1;
                    sum += u64::from(r.value);
                }
            }
        }
    }
    (count, sum)
}

/// The sum of the squares of the measure's values over the cohort, computed here.
pub(crate) fn expected_squares(blocks: &[Block], criteria: &[Criterion]) -> u128 {
    blocks
        .iter()
        .filter(|b| in_cohort(b, criteria))
        .flatten()
        .filter(|r| r.code == MEASURE)
        .map(|r| u128::from(r.value) * u128::from(r.value))
        .sum()
}

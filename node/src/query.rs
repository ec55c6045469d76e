//! Local execution of a federated query over the node store. [`evaluate`] computes the exact result
//! ([`ExactAnswer`]); [`execute`] passes it through [`crate::disclosure::protect`] and returns the
//! [`NodeAnswer`] that may leave the node. Nothing else in this module produces anything that leaves it.
//!
//! # How a query runs
//! Everything runs inside one read transaction, so the answer and its `data_version` describe one snapshot
//! even while an ingest commits. Persons are numbered by their `person_id` (or, for ids that are negative or
//! very large, by a dense index). Each cohort criterion is one indexed, parameter-bound SQL scan that yields
//! a bitset of persons, and `all`/`any`/`not` combine the bitsets in memory; the person table (sex, age at
//! the reference date) is read only when a criterion, `not`, `everyone` or a grouping needs it. The measure
//! is read with one seek per cohort member on `measurement_by_code` when the cohort is at most a quarter of
//! the node (for `latest` the index order yields the latest value first), otherwise with one scan of the
//! code, and folded into per-group accumulators. No SQL text is ever built from a query's values.
//!
//! # Semantics
//! - Ages are completed years at the reference date, the birthday taken as the 1st of the birth month
//!   (`age = ref.year − year_of_birth − (ref.month < month_of_birth)`); a missing birth month counts as
//!   January. Persons without a year of birth, or born after the reference date, have no age: they never
//!   match an age criterion and fall in no age band (they still count in the whole-cohort row and, grouped by
//!   sex only, in their sex's row).
//! - A code prefix `E11*` matches every code that starts with `E11` (a range scan `code >= 'E11' AND code <
//!   'E12'` on the code index).
//! - Medications are `drug_exposure` rows of kind `request` or `statement` (not immunizations).
//! - Observation ranges, histogram edges and values are compared in thousandths (`value_e3`). A bound given
//!   in the canonical unit is scaled by 1000 and rounded to the nearest integer when it is within 10⁻⁶ of one
//!   (so `6.5` or `1.005` mean what they say despite binary floating point); otherwise a lower bound or edge
//!   rounds up and an upper bound rounds down, which keeps the comparison exact for three-decimal values.
//! - Only plausible measurements (`implausible = 0`) match or are aggregated. `latest` takes a patient's
//!   value with the greatest `measured_at`, ties broken by the greatest `measurement_id`.
//! - A query with several histograms gets the first one's bins.

use crate::disclosure::{self, ExactAnswer, ExactMoments, ExactRow};
use crate::store::{Store, StoreError};
use agora_protocol::query::{lower_e3, upper_e3};
use agora_protocol::{AgeBand, CodeMatch, Cohort, Consented, GroupKey, NodeAnswer, Query, QueryError, Selection, Sex};
use rusqlite::{params, Connection};
use std::cell::OnceCell;
use std::collections::HashMap;
use std::time::Instant;
use time::Date;
use uuid::Uuid;

/// Why a query could not be executed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The query is malformed.
    #[error("invalid query: {0}")]
    Invalid(#[from] QueryError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A sum does not fit the answer's 64-bit field.
    #[error("the sum of the measure's values does not fit in 64 bits: narrow the cohort or the measure")]
    Overflow,
}

impl From<rusqlite::Error> for ExecError {
    fn from(e: rusqlite::Error) -> Self {
        ExecError::Store(StoreError::Sqlite(e))
    }
}

/// The exact, unprotected result of a query. Node-internal: only [`execute`] turns it into an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The exact rows: the whole cohort first, then every group.
    pub exact: ExactAnswer,
    /// The canonical unit stored for the measure, if it has any value in the store.
    pub unit: Option<String>,
    /// The data version the result was computed over.
    pub data_version: u64,
}

/// Runs a query over the store and returns the disclosure-protected answer, with every count below
/// `threshold` suppressed (see [`crate::disclosure`]).
pub fn execute(store: &Store, query: &Query, query_id: Uuid, threshold: u32) -> Result<NodeAnswer, ExecError> {
    execute_within(store, query, query_id, threshold, Population::Everyone)
}

/// Whom a query may count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Population<'a> {
    /// Every patient in the store.
    Everyone,
    /// Only patients whose consent to `purpose` is active through the UTC day of `at` (Unix seconds:
    /// when the node runs the query; the answer states it, [`Consented`], and its proof the same
    /// population; `agora_protocol::proof::consent_cutoff`), see [`crate::consent`].
    ConsentedTo {
        /// The query's purpose.
        purpose: &'a str,
        /// When the query runs.
        at: i64,
    },
}

/// [`execute`] over a restricted population: with [`Population::ConsentedTo`], only patients whose
/// consent for the purpose is active through the given time's UTC day are counted, and the answer says so.
pub fn execute_within(
    store: &Store,
    query: &Query,
    query_id: Uuid,
    threshold: u32,
    population: Population<'_>,
) -> Result<NodeAnswer, ExecError> {
    let started = Instant::now();
    let evaluation = evaluate_within(store, query, population)?;
    let rows = disclosure::protect(&evaluation.exact, threshold);
    Ok(NodeAnswer {
        query_id,
        threshold,
        unit: evaluation.unit,
        data_version: evaluation.data_version,
        rows,
        exec_micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        consented: match population {
            Population::Everyone => None,
            Population::ConsentedTo { purpose, at } => Some(Consented { purpose: purpose.to_string(), at }),
        },
    })
}

/// Validates and runs a query, returning the exact result: the whole cohort row, then one row for every
/// combination of [`Sex::ALL`] and age band (sex-major, bands in ascending order), empty groups included.
pub fn evaluate(store: &Store, query: &Query) -> Result<Evaluation, ExecError> {
    evaluate_within(store, query, Population::Everyone)
}

/// [`evaluate`] over a restricted population.
pub fn evaluate_within(store: &Store, query: &Query, population: Population<'_>) -> Result<Evaluation, ExecError> {
    query.validate()?;
    let conn = store.conn();
    // One snapshot for the whole query; a caller's open transaction already is one.
    let _snapshot = if conn.is_autocommit() { Some(conn.unchecked_transaction()?) } else { None };
    let data_version = store.data_version()?;
    let space = IdSpace::load(conn)?;
    let evaluator = Evaluator { conn, space: &space, reference: query.reference_date, persons: OnceCell::new() };
    let mut cohort = evaluator.cohort(&query.cohort)?;
    if let Population::ConsentedTo { purpose, at } = population {
        let mut stmt = conn.prepare_cached(
            "SELECT person_id FROM consent WHERE purpose = ?1 AND revoked_at IS NULL
             AND (valid_until IS NULL OR valid_until >= ?2)",
        )?;
        let cutoff = agora_protocol::proof::consent_cutoff(at);
        let consented = evaluator.collect(stmt.query(params![purpose, cutoff])?)?;
        cohort.intersect(&consented);
    }
    let groups = if query.group_by.is_grouped() { Groups::new(query, evaluator.persons()?) } else { Groups::none() };
    let mut acc = Accumulators::new(query, groups.keys.len(), space.len());
    let mut n_cohort = 0;
    for idx in cohort.iter() {
        acc.patient(groups.of(idx));
        n_cohort += 1;
    }
    let mut unit = None;
    if let Some(measure) = &query.measure {
        let code = (measure.code.system.short(), measure.code.code.as_str());
        let scan =
            MeasureScan { conn, code, selection: measure.selection, space: &space, cohort: &cohort, groups: &groups };
        // A seek per cohort member reads only their rows; a scan of the code reads everyone's. Seeks win
        // unless the cohort is a large part of the node.
        let n_persons = evaluator.persons.get().map_or(space.estimated_persons(), |p| p.n_persons);
        if n_cohort * SEEK_FRACTION_DENOMINATOR <= n_persons {
            scan.by_seeks(&mut acc)?;
        } else {
            scan.by_scan(&mut acc)?;
        }
        let mut stmt = conn.prepare_cached("SELECT unit FROM measurement WHERE system = ?1 AND code = ?2 LIMIT 1")?;
        let mut rows = stmt.query(params![code.0, code.1])?;
        if let Some(row) = rows.next()? {
            unit = Some(row.get(0)?);
        }
    }
    let exact = acc.finish(&groups.keys)?;
    Ok(Evaluation { exact, unit, data_version })
}

/// The measure is read by per-person seeks when the cohort is at most this fraction (1/n) of the node.
const SEEK_FRACTION_DENOMINATOR: usize = 4;

/// Reads the measure's plausible values of the cohort's members into the accumulators.
struct MeasureScan<'a> {
    conn: &'a Connection,
    /// System short name and code.
    code: (&'a str, &'a str),
    selection: Selection,
    space: &'a IdSpace,
    cohort: &'a PersonSet,
    groups: &'a Groups,
}

impl MeasureScan<'_> {
    /// One index seek per cohort member, in one statement over the cohort's ids (`rarray`): a statement
    /// re-bound per person would be re-planned at every step once the store has STAT4 statistics. For
    /// `latest` the index order gives the latest plausible value first.
    fn by_seeks(&self, acc: &mut Accumulators) -> Result<(), ExecError> {
        let sql = match self.selection {
            Selection::Latest => {
                "SELECT c.value, (SELECT value_e3 FROM measurement
                     WHERE system = ?1 AND code = ?2 AND person_id = c.value AND implausible = 0
                     ORDER BY measured_at DESC, measurement_id DESC LIMIT 1)
                 FROM rarray(?3) AS c"
            }
            Selection::All => {
                "SELECT c.value, m.value_e3 FROM rarray(?3) AS c
                 JOIN measurement AS m ON m.system = ?1 AND m.code = ?2 AND m.person_id = c.value AND m.implausible = 0"
            }
        };
        let ids: Vec<rusqlite::types::Value> =
            self.cohort.iter().map(|idx| rusqlite::types::Value::Integer(self.space.id(idx))).collect();
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params![self.code.0, self.code.1, std::rc::Rc::new(ids)])?;
        while let Some(row) = rows.next()? {
            let (Some(idx), Some(value)) = (self.space.index(row.get(0)?), row.get::<_, Option<i64>>(1)?) else {
                continue;
            };
            acc.value(idx, self.groups.of(idx), value);
        }
        Ok(())
    }

    /// One scan of every plausible value of the code.
    fn by_scan(&self, acc: &mut Accumulators) -> Result<(), ExecError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT person_id, measured_at, measurement_id, value_e3 FROM measurement
             WHERE system = ?1 AND code = ?2 AND implausible = 0",
        )?;
        let mut rows = stmt.query(params![self.code.0, self.code.1])?;
        let member = |person_id: i64| self.space.index(person_id).filter(|&idx| self.cohort.contains(idx));
        match self.selection {
            Selection::All => {
                while let Some(row) = rows.next()? {
                    if let Some(idx) = member(row.get(0)?) {
                        acc.value(idx, self.groups.of(idx), row.get(3)?);
                    }
                }
            }
            Selection::Latest => {
                // Per person: (measured_at, measurement_id, value_e3) of the latest value so far.
                let mut latest: Vec<Option<(i64, i64, i64)>> = vec![None; self.space.len()];
                while let Some(row) = rows.next()? {
                    if let Some(idx) = member(row.get(0)?) {
                        let candidate = (row.get(1)?, row.get(2)?, row.get(3)?);
                        let slot = &mut latest[idx];
                        if slot.is_none_or(|(at, id, _)| (candidate.0, candidate.1) > (at, id)) {
                            *slot = Some(candidate);
                        }
                    }
                }
                for (idx, slot) in latest.iter().enumerate() {
                    if let Some((_, _, value)) = slot {
                        acc.value(idx, self.groups.of(idx), *value);
                    }
                }
            }
        }
        Ok(())
    }
}

/// The numbering of persons the bitsets and arrays use.
enum IdSpace {
    /// Person ids are small non-negative integers and are their own index (the usual case: SQLite assigns
    /// `person_id` from 1 up); `len` is the largest id + 1.
    Direct { len: usize },
    /// Any other ids: a dense index in id order.
    Dense { ids: Vec<i64>, index: HashMap<i64, u32> },
}

/// The largest id space used directly: 64 Mi persons, an 8 MiB bitset.
const MAX_DIRECT_IDS: i64 = 1 << 26;

impl IdSpace {
    fn load(conn: &Connection) -> Result<IdSpace, ExecError> {
        let (min, max): (Option<i64>, Option<i64>) =
            conn.query_row("SELECT MIN(person_id), MAX(person_id) FROM person", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
        match (min, max) {
            (None, _) | (_, None) => Ok(IdSpace::Direct { len: 0 }),
            (Some(min), Some(max)) if min >= 0 && max < MAX_DIRECT_IDS => Ok(IdSpace::Direct { len: max as usize + 1 }),
            _ => {
                let mut stmt = conn.prepare_cached("SELECT person_id FROM person ORDER BY person_id")?;
                let ids = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<i64>, _>>()?;
                let index = ids.iter().enumerate().map(|(idx, &id)| (id, idx as u32)).collect();
                Ok(IdSpace::Dense { ids, index })
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            IdSpace::Direct { len } => *len,
            IdSpace::Dense { ids, .. } => ids.len(),
        }
    }

    /// Persons in the store, as far as known without reading the person table.
    fn estimated_persons(&self) -> usize {
        self.len()
    }

    /// The index of a person id, if it is in the space.
    fn index(&self, person_id: i64) -> Option<usize> {
        match self {
            IdSpace::Direct { len } => usize::try_from(person_id).ok().filter(|&idx| idx < *len),
            IdSpace::Dense { index, .. } => index.get(&person_id).map(|&idx| idx as usize),
        }
    }

    /// The person id at an index.
    fn id(&self, idx: usize) -> i64 {
        match self {
            IdSpace::Direct { .. } => idx as i64,
            IdSpace::Dense { ids, .. } => ids[idx],
        }
    }
}

/// The person table, in memory, at one reference date, indexed like the [`IdSpace`].
struct Persons {
    /// Every person.
    all: PersonSet,
    n_persons: usize,
    /// Index into [`Sex::ALL`].
    sex: Vec<u8>,
    /// Age in completed years at the reference date, when known.
    age: Vec<Option<u32>>,
}

impl Persons {
    fn load(conn: &Connection, space: &IdSpace, reference: Date) -> Result<Persons, ExecError> {
        let len = space.len();
        let mut persons =
            Persons { all: PersonSet::empty(len), n_persons: 0, sex: vec![SEX_UNKNOWN; len], age: vec![None; len] };
        let mut stmt = conn.prepare_cached("SELECT person_id, sex, year_of_birth, month_of_birth FROM person")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let Some(idx) = space.index(row.get(0)?) else { continue };
            let sex = row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
            persons.all.insert(idx);
            persons.n_persons += 1;
            persons.sex[idx] = sex_index(sex);
            persons.age[idx] = age_at(reference, row.get(2)?, row.get(3)?);
        }
        Ok(persons)
    }
}

const SEX_UNKNOWN: u8 = 3;

/// The index in [`Sex::ALL`] of a stored sex.
fn sex_index(stored: &str) -> u8 {
    Sex::ALL.iter().position(|s| s.as_str() == stored).map_or(SEX_UNKNOWN, |i| i as u8)
}

/// Age in completed years at `reference`, the birthday taken as the 1st of the birth month (January when
/// the month is unknown); `None` without a year of birth, for a birth after the reference date, or for a
/// birth month the proofs cannot commit (`agora_protocol::proof::birth_month`: the same persons have no
/// age in the engine and in a node's snapshot).
fn age_at(reference: Date, year_of_birth: Option<i64>, month_of_birth: Option<i64>) -> Option<u32> {
    let year = year_of_birth?;
    agora_protocol::proof::birth_month(year, month_of_birth)?;
    let before_birthday = i64::from(u8::from(reference.month())) < month_of_birth.unwrap_or(1);
    let age = i64::from(reference.year()) - year - i64::from(before_birthday);
    u32::try_from(age).ok()
}

/// A set of persons, as a bitset over the dense person index.
#[derive(Clone)]
struct PersonSet {
    words: Vec<u64>,
    len: usize,
}

impl PersonSet {
    fn empty(len: usize) -> PersonSet {
        PersonSet { words: vec![0; len.div_ceil(64)], len }
    }

    /// Keeps the members for which `pred` holds.
    fn retain(&mut self, pred: impl Fn(usize) -> bool) {
        for (word_idx, word) in self.words.iter_mut().enumerate() {
            let mut rest = *word;
            while rest != 0 {
                let bit = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                if !pred(word_idx * 64 + bit) {
                    *word &= !(1 << bit);
                }
            }
        }
    }

    /// Clears the bits past `len` in the last word.
    fn trim(&mut self) {
        if let (Some(last), rem @ 1..) = (self.words.last_mut(), self.len % 64) {
            *last &= (1u64 << rem) - 1;
        }
    }

    fn insert(&mut self, idx: usize) {
        self.words[idx / 64] |= 1 << (idx % 64);
    }

    fn contains(&self, idx: usize) -> bool {
        self.words[idx / 64] & (1 << (idx % 64)) != 0
    }

    fn intersect(&mut self, other: &PersonSet) {
        self.words.iter_mut().zip(&other.words).for_each(|(a, b)| *a &= b);
    }

    fn unite(&mut self, other: &PersonSet) {
        self.words.iter_mut().zip(&other.words).for_each(|(a, b)| *a |= b);
    }

    fn complement(&mut self) {
        self.words.iter_mut().for_each(|w| *w = !*w);
        self.trim();
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(word_idx, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    word_idx * 64 + bit
                })
            })
        })
    }
}

/// Evaluates cohort criteria to person sets.
struct Evaluator<'a> {
    conn: &'a Connection,
    space: &'a IdSpace,
    reference: Date,
    /// Loaded on first use: queries over codes alone never read the person table.
    persons: OnceCell<Persons>,
}

impl Evaluator<'_> {
    fn cohort(&self, cohort: &Cohort) -> Result<PersonSet, ExecError> {
        Ok(match cohort {
            Cohort::Everyone => self.persons()?.all.clone(),
            Cohort::All { of } => {
                let (first, rest) = of.split_first().ok_or(QueryError::EmptyCombination)?;
                let mut set = self.cohort(first)?;
                for c in rest {
                    set.intersect(&self.cohort(c)?);
                }
                set
            }
            Cohort::Any { of } => {
                let mut set = PersonSet::empty(self.space.len());
                for c in of {
                    set.unite(&self.cohort(c)?);
                }
                set
            }
            Cohort::Not { of } => {
                let mut set = self.cohort(of)?;
                set.complement();
                set.intersect(&self.persons()?.all);
                set
            }
            Cohort::Condition { code } => self.coded(CodedTable::Condition, code)?,
            Cohort::Medication { code } => self.coded(CodedTable::Medication, code)?,
            Cohort::Sex { sex } => {
                let persons = self.persons()?;
                let wanted = sex_index(sex.as_str());
                Self::matching(persons, |idx| persons.sex[idx] == wanted)
            }
            Cohort::Age { min, max } => {
                let persons = self.persons()?;
                Self::matching(persons, |idx| {
                    persons.age[idx].is_some_and(|a| min.is_none_or(|m| a >= m) && max.is_none_or(|m| a <= m))
                })
            }
            Cohort::Observation { code, min, max } => {
                let lo = min.map_or(i64::MIN, lower_e3);
                let hi = max.map_or(i64::MAX, upper_e3);
                let mut stmt = self.conn.prepare_cached(
                    "SELECT person_id FROM measurement
                     WHERE system = ?1 AND code = ?2 AND implausible = 0 AND value_e3 BETWEEN ?3 AND ?4",
                )?;
                let rows = stmt.query(params![code.system.short(), code.code, lo, hi])?;
                self.collect(rows)?
            }
        })
    }

    fn persons(&self) -> Result<&Persons, ExecError> {
        match self.persons.get() {
            Some(persons) => Ok(persons),
            None => {
                let loaded = Persons::load(self.conn, self.space, self.reference)?;
                Ok(self.persons.get_or_init(|| loaded))
            }
        }
    }

    /// The persons for whom `pred` holds.
    fn matching(persons: &Persons, pred: impl Fn(usize) -> bool) -> PersonSet {
        let mut set = persons.all.clone();
        set.retain(pred);
        set
    }

    /// Persons with a row in a coded table matching `code` (exactly, or by prefix).
    fn coded(&self, table: CodedTable, code: &CodeMatch) -> Result<PersonSet, ExecError> {
        let system = code.system.short();
        let upper = if code.prefix { prefix_upper_bound(&code.code) } else { None };
        let sql = match (table, code.prefix, &upper) {
            (CodedTable::Condition, false, _) => {
                "SELECT person_id FROM condition_occurrence WHERE system = ?1 AND code = ?2"
            }
            (CodedTable::Condition, true, Some(_)) => {
                "SELECT person_id FROM condition_occurrence WHERE system = ?1 AND code >= ?2 AND code < ?3"
            }
            (CodedTable::Condition, true, None) => {
                "SELECT person_id FROM condition_occurrence WHERE system = ?1 AND code >= ?2"
            }
            (CodedTable::Medication, false, _) => {
                "SELECT person_id FROM drug_exposure
                 WHERE system = ?1 AND code = ?2 AND kind IN ('request', 'statement')"
            }
            (CodedTable::Medication, true, Some(_)) => {
                "SELECT person_id FROM drug_exposure
                 WHERE system = ?1 AND code >= ?2 AND code < ?3 AND kind IN ('request', 'statement')"
            }
            (CodedTable::Medication, true, None) => {
                "SELECT person_id FROM drug_exposure
                 WHERE system = ?1 AND code >= ?2 AND kind IN ('request', 'statement')"
            }
        };
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = match &upper {
            Some(upper) => stmt.query(params![system, code.code, upper])?,
            None => stmt.query(params![system, code.code])?,
        };
        self.collect(rows)
    }

    /// The set of the `person_id`s in the first column of `rows`.
    fn collect(&self, mut rows: rusqlite::Rows<'_>) -> Result<PersonSet, ExecError> {
        let mut set = PersonSet::empty(self.space.len());
        while let Some(row) = rows.next()? {
            if let Some(idx) = self.space.index(row.get(0)?) {
                set.insert(idx);
            }
        }
        Ok(set)
    }
}

/// The tables a coded criterion reads.
#[derive(Clone, Copy)]
enum CodedTable {
    Condition,
    Medication,
}

/// The least string greater than every string that starts with `prefix`, if there is one: the prefix with
/// its last character incremented (UTF-8 byte order is code point order, which SQLite's BINARY collation
/// compares).
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The grouping of a query: the group keys and the group of each person.
struct Groups {
    keys: Vec<GroupKey>,
    /// Group index per dense person index, [`NO_GROUP`] for none.
    of_person: Vec<u16>,
}

const NO_GROUP: u16 = u16::MAX;

impl Groups {
    /// No grouping: the whole-cohort row only.
    fn none() -> Groups {
        Groups { keys: Vec::new(), of_person: Vec::new() }
    }

    fn new(query: &Query, persons: &Persons) -> Groups {
        let by_sex = query.group_by.sex;
        let bands = query.group_by.age_bands.as_deref().map(AgeBand::from_edges);
        let sexes: Vec<Option<Sex>> = if by_sex { Sex::ALL.iter().copied().map(Some).collect() } else { vec![None] };
        let band_keys: Vec<Option<AgeBand>> = match &bands {
            Some(b) => b.iter().copied().map(Some).collect(),
            None => vec![None],
        };
        let keys: Vec<GroupKey> =
            sexes.iter().flat_map(|&sex| band_keys.iter().map(move |&age_band| GroupKey { sex, age_band })).collect();
        let of_person = (0..persons.sex.len())
            .map(|idx| {
                let sex_idx = if by_sex { usize::from(persons.sex[idx]) } else { 0 };
                let band_idx = match &bands {
                    None => Some(0),
                    Some(b) => persons.age[idx].and_then(|age| b.iter().position(|band| band.contains(age))),
                };
                band_idx.map_or(NO_GROUP, |band_idx| (sex_idx * band_keys.len() + band_idx) as u16)
            })
            .collect();
        Groups { keys, of_person }
    }

    /// The group of a person, if the query is grouped and the person falls in one.
    fn of(&self, idx: usize) -> Option<usize> {
        self.of_person.get(idx).filter(|&&g| g != NO_GROUP).map(|&g| usize::from(g))
    }
}

/// Exact running totals of the whole cohort (index 0) and each group (1 + group index).
struct Accumulators {
    patients: Vec<u64>,
    moments: Option<Vec<(u64, i128, i128)>>,
    /// Histogram edges in thousandths, and the bins of each row.
    histogram: Option<(Vec<i64>, Vec<Vec<u64>>)>,
    /// Per row, the patients with a value, and with a value in each bin: a cell of many values from
    /// few patients is suppressed by them (`disclosure`).
    value_patients: Vec<u64>,
    bin_patients: Vec<Vec<u64>>,
    /// The persons with a value counted already, and (with a histogram) the person-bin pairs.
    seen: Vec<bool>,
    seen_in_bin: std::collections::HashSet<(usize, usize)>,
}

impl Accumulators {
    fn new(query: &Query, n_groups: usize, n_persons: usize) -> Accumulators {
        let n_rows = n_groups + 1;
        let histogram = query.histogram_edges().map(|edges| {
            let edges_e3: Vec<i64> = edges.iter().map(|&e| lower_e3(e)).collect();
            let n_bins = edges_e3.len() + 1;
            (edges_e3, vec![vec![0; n_bins]; n_rows])
        });
        let n_bins = histogram.as_ref().map_or(0, |(edges, _)| edges.len() + 1);
        Accumulators {
            patients: vec![0; n_rows],
            moments: query.wants_moments().then(|| vec![(0, 0, 0); n_rows]),
            histogram,
            value_patients: vec![0; n_rows],
            bin_patients: vec![vec![0; n_bins]; n_rows],
            seen: if query.measure.is_some() { vec![false; n_persons] } else { Vec::new() },
            seen_in_bin: std::collections::HashSet::new(),
        }
    }

    fn patient(&mut self, group: Option<usize>) {
        self.patients[0] += 1;
        if let Some(g) = group {
            self.patients[g + 1] += 1;
        }
    }

    /// A value of person `idx` (in `group`).
    fn value(&mut self, idx: usize, group: Option<usize>, value_e3: i64) {
        let bin = self.histogram.as_ref().map(|(edges, _)| edges.partition_point(|&e| e <= value_e3));
        // A person is in the whole cohort's row and in at most one group's: count them once per row, and
        // once per bin of that row.
        let first_value = !std::mem::replace(&mut self.seen[idx], true);
        let first_in_bin = bin.is_some_and(|b| self.seen_in_bin.insert((idx, b)));
        for row in std::iter::once(0).chain(group.map(|g| g + 1)) {
            self.value_patients[row] += u64::from(first_value);
            if let (Some(b), true) = (bin, first_in_bin) {
                self.bin_patients[row][b] += 1;
            }
            if let Some(moments) = &mut self.moments {
                let m = &mut moments[row];
                m.0 += 1;
                m.1 += i128::from(value_e3);
                m.2 += i128::from(value_e3) * i128::from(value_e3);
            }
            if let (Some((_, bins)), Some(bin)) = (&mut self.histogram, bin) {
                bins[row][bin] += 1;
            }
        }
    }

    fn finish(self, keys: &[GroupKey]) -> Result<ExactAnswer, ExecError> {
        let row_keys = std::iter::once(GroupKey::TOTAL).chain(keys.iter().copied());
        let mut histograms = self.histogram.map(|(_, bins)| bins.into_iter());
        let rows = row_keys
            .enumerate()
            .map(|(row_idx, group)| {
                let moments = match &self.moments {
                    Some(m) => {
                        let (n, sum, sum_sq) = m[row_idx];
                        let sum = i64::try_from(sum).map_err(|_| ExecError::Overflow)?;
                        Some(ExactMoments { n, sum, sum_sq, patients: self.value_patients[row_idx] })
                    }
                    None => None,
                };
                let histogram = histograms.as_mut().and_then(Iterator::next);
                let bin_patients = histogram.is_some().then(|| self.bin_patients[row_idx].clone());
                Ok(ExactRow { group, patients: self.patients[row_idx], moments, histogram, bin_patients })
            })
            .collect::<Result<Vec<_>, ExecError>>()?;
        Ok(ExactAnswer { rows })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn ages_count_completed_years_from_the_first_of_the_birth_month() {
        let check = |reference: Date, yob: Option<i64>, mob: Option<i64>, expect: Option<u32>| {
            assert_eq!(age_at(reference, yob, mob), expect, "{reference} {yob:?} {mob:?}");
        };
        check(date!(2025 - 06 - 15), Some(1980), Some(6), Some(45));
        check(date!(2025 - 06 - 01), Some(1980), Some(6), Some(45));
        check(date!(2025 - 05 - 31), Some(1980), Some(6), Some(44));
        check(date!(2025 - 06 - 15), Some(1980), Some(7), Some(44));
        check(date!(2025 - 06 - 15), Some(1980), None, Some(45));
        check(date!(2025 - 06 - 15), None, Some(3), None);
        check(date!(2025 - 06 - 15), Some(2025), Some(7), None);
        check(date!(2025 - 06 - 15), Some(2025), Some(6), Some(0));
    }

    #[test]
    fn bounds_in_thousandths() {
        let check = |v: f64, lo: i64, hi: i64| assert_eq!((lower_e3(v), upper_e3(v)), (lo, hi), "{v}");
        check(6.5, 6500, 6500);
        check(1.005, 1005, 1005);
        check(0.1, 100, 100);
        check(-2.5, -2500, -2500);
        check(7.0001, 7001, 7000);
        check(-7.0001, -7000, -7001);
        check(1e300, i64::MAX, i64::MAX);
    }

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_upper_bound("E11").as_deref(), Some("E12"));
        assert_eq!(prefix_upper_bound("E1z").as_deref(), Some("E1{"));
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
    }

    #[test]
    fn person_sets() {
        let mut a = PersonSet::empty(130);
        a.complement();
        assert_eq!(a.iter().count(), 130);
        a.retain(|idx| idx % 2 == 0);
        assert_eq!(a.iter().count(), 65);
        a.complement();
        assert_eq!(a.iter().count(), 65);
        a.retain(|_| false);
        assert_eq!(a.iter().count(), 0);
        a.complement();
        assert_eq!(a.iter().count(), 130, "the complement of nothing is everyone, and no bit past len");
        a.retain(|_| false);
        a.insert(0);
        a.insert(64);
        a.insert(129);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![0, 64, 129]);
        let mut b = a.clone();
        b.complement();
        assert_eq!(b.iter().count(), 127);
        b.intersect(&a);
        assert_eq!(b.iter().count(), 0);
        b.unite(&a);
        assert!(b.contains(64) && !b.contains(63));
    }
}

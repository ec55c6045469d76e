//! The hospital's query policy and the gate every incoming query passes before it may run.
//!
//! [`PolicyConfig`] is the `[policy]` section of the node's configuration: the disclosure threshold (the
//! node's alone: no query can lower it), which aggregates, researchers and groupings are allowed, whether a
//! data steward approves each query, rate limits and the oldest request accepted. [`Gate::admit`] checks, in
//! order: the envelope's signature, that the signer is the trusted hub, the header's validity window, that
//! the nonce was never seen (nonces live in the store's `seen_nonce` table, so replay protection survives a
//! restart), the query's shape, the policy's allow-lists, and the researcher's rate limits. Every request,
//! admitted or not, leaves one row in `query_log`; the steward workflow ([`pending`], [`approve`],
//! [`reject`]) and the runner ([`mark_answered`], [`mark_failed`]) move that row through its states:
//!
//! `held` → `approved` | `denied`; `approved` → `answered` | `rejected`; refused at the gate: `rejected`.
//!
//! The gate never runs a query and never reads clinical tables. A request that fails verification is
//! untrusted: its claimed query id is not used as the log key (a forger could otherwise squat on the id of a
//! genuine query), so it is logged under a fresh id; so is a duplicate of an id already logged, which never
//! overwrites the original row.

use crate::store::{Store, StoreError};
use agora_protocol::wire::{QueryRequest, Rejection, RejectionCode};
use agora_protocol::{Aggregate, Signed};
use libp2p::PeerId;
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The lowest disclosure threshold a node accepts.
pub const MIN_THRESHOLD: u32 = 2;

/// The aggregate kinds a policy can allow, as [`Aggregate::kind`] names them.
pub const AGGREGATE_KINDS: [&str; 5] = ["count", "sum", "mean", "sd", "histogram"];

/// The longest request envelope kept in `query_log` for a request refused before it verified.
const MAX_LOGGED_ENVELOPE: usize = 64 * 1024;

/// Whether queries run as soon as they pass the gate or wait for the data steward.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    /// Admitted queries run at once.
    #[default]
    Auto,
    /// Admitted queries are held until the data steward approves them.
    Manual,
}

/// The `[policy]` section of the node's configuration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Counts below this are suppressed in every answer; at least [`MIN_THRESHOLD`].
    pub threshold: u32,
    /// Aggregate kinds researchers may ask for: `count`, `sum`, `mean`, `sd`, `histogram`.
    pub allowed_aggregates: Vec<String>,
    /// Researchers (hub account names) who may query this node; `*` allows everyone.
    pub allowed_researchers: Vec<String>,
    /// Automatic or manual approval.
    pub approval: Approval,
    /// Queries per researcher per minute.
    pub rate_per_minute: u32,
    /// Queries per researcher per 10 hours.
    pub rate_per_10_hours: u32,
    /// The oldest request (by its issue time) accepted, in seconds.
    pub max_query_age_secs: i64,
    /// Whether answers may be grouped by sex or age band.
    pub allow_grouping: bool,
    /// Answer only queries carrying a valid presentation of a ResearcherCredential from the hub that
    /// approves the query's purpose.
    pub require_researcher_credential: bool,
    /// Purposes for which only patients with active consent are counted; `*` means every purpose.
    pub consent_purposes: Vec<String>,
    /// How long a fetched revocation list of the hub is trusted, in seconds.
    pub status_ttl_secs: u64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            threshold: 10,
            allowed_aggregates: AGGREGATE_KINDS.iter().map(|k| k.to_string()).collect(),
            allowed_researchers: vec!["*".to_string()],
            approval: Approval::Auto,
            rate_per_minute: 10,
            rate_per_10_hours: 200,
            max_query_age_secs: 300,
            allow_grouping: true,
            require_researcher_credential: true,
            consent_purposes: Vec::new(),
            status_ttl_secs: 300,
        }
    }
}

impl PolicyConfig {
    /// Checks the policy when the configuration is loaded.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.threshold < MIN_THRESHOLD {
            return Err(PolicyError::ThresholdTooLow(self.threshold));
        }
        if let Some(unknown) = self.allowed_aggregates.iter().find(|a| !AGGREGATE_KINDS.contains(&a.as_str())) {
            return Err(PolicyError::UnknownAggregate(unknown.clone()));
        }
        if self.max_query_age_secs <= 0 {
            return Err(PolicyError::MaxQueryAge(self.max_query_age_secs));
        }
        Ok(())
    }

    fn allows_researcher(&self, researcher: &str) -> bool {
        self.allowed_researchers.iter().any(|r| r == "*" || r == researcher)
    }

    /// Whether a query for `purpose` counts only consenting patients.
    pub fn needs_consent(&self, purpose: Option<&str>) -> bool {
        self.consent_purposes.iter().any(|p| p == "*" || Some(p.as_str()) == purpose)
    }
}

/// Errors of the policy and the steward workflow.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Threshold below the minimum.
    #[error(
        "[policy] threshold {0} is below the minimum of {MIN_THRESHOLD}: set it to {MIN_THRESHOLD} or more (10 is usual)"
    )]
    ThresholdTooLow(u32),
    /// Unknown aggregate name in the allow-list.
    #[error("[policy] allowed_aggregates names unknown aggregate `{0}`: use count, sum, mean, sd or histogram")]
    UnknownAggregate(String),
    /// Non-positive maximum age.
    #[error("[policy] max_query_age_secs must be a positive number of seconds, not {0}")]
    MaxQueryAge(i64),
    /// No hub to trust.
    #[error("no trusted hub: configure the hub's peer id")]
    NoHub,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such query in the log.
    #[error("no query {0} in the query log")]
    UnknownQuery(Uuid),
    /// The query is not in the state the operation needs.
    #[error("query {query_id} is {state}, not {expected}")]
    WrongState {
        /// The query.
        query_id: Uuid,
        /// Its state.
        state: String,
        /// The state the operation needs.
        expected: &'static str,
    },
    /// The logged request cannot be read back.
    #[error("the logged request of query {query_id} is unreadable: {detail}")]
    CorruptLog {
        /// The query.
        query_id: Uuid,
        /// What failed.
        detail: String,
    },
}

impl From<rusqlite::Error> for PolicyError {
    fn from(e: rusqlite::Error) -> Self {
        PolicyError::Store(StoreError::Sqlite(e))
    }
}

/// What the gate decided for an admitted query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Run it now (logged as `approved`; call [`mark_answered`] once answered).
    Run,
    /// Hold it for the data steward (logged as `held`).
    Hold,
}

/// A query that passed the gate.
#[derive(Debug, Clone, PartialEq)]
pub struct Admitted {
    /// The verified request.
    pub request: QueryRequest,
    /// Run now or hold.
    pub decision: Decision,
}

/// A held query, as the data steward sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingQuery {
    /// The query id.
    pub query_id: Uuid,
    /// Who asked.
    pub researcher: String,
    /// When it arrived (Unix seconds).
    pub received_at: i64,
    /// The readable form of the query.
    pub query: String,
    /// The stated purpose, if any.
    pub purpose: Option<String>,
}

/// The gate every incoming query passes.
#[derive(Debug, Clone)]
pub struct Gate {
    config: PolicyConfig,
    hubs: Vec<PeerId>,
}

/// A refusal, and the log key it may use.
struct Refusal {
    rejection: Rejection,
    /// The request's own query id, when it is trusted enough to be the log key.
    query_id: Option<Uuid>,
    researcher: String,
}

impl Gate {
    /// A gate for a validated policy and the hub(s) whose signatures are trusted.
    pub fn new(config: PolicyConfig, hubs: impl IntoIterator<Item = PeerId>) -> Result<Gate, PolicyError> {
        config.validate()?;
        let hubs: Vec<PeerId> = hubs.into_iter().collect();
        if hubs.is_empty() {
            return Err(PolicyError::NoHub);
        }
        Ok(Gate { config, hubs })
    }

    /// The policy.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// Checks an incoming request at time `now` (Unix seconds), records it in `query_log`, and says whether
    /// to run or hold it, or why it is refused.
    pub fn admit(&self, store: &Store, req: &Signed<QueryRequest>, now: i64) -> Result<Admitted, Rejection> {
        self.admit_with(store, req, now, &Ok(()))
    }

    /// [`Gate::admit`] with the outcome of the researcher-credential check ([`crate::service`] verifies
    /// the presentation before the gate runs, as that is asynchronous); a failed check refuses the query
    /// with `unauthorized` once the envelope, freshness, nonce and shape have passed.
    pub fn admit_with(
        &self,
        store: &Store,
        req: &Signed<QueryRequest>,
        now: i64,
        credential: &Result<(), String>,
    ) -> Result<Admitted, Rejection> {
        let internal = |err: PolicyError| {
            tracing::error!(target: "node::policy", %err, "cannot record an incoming query");
            Rejection::new(RejectionCode::Internal, "the node could not record the query; its operator has the details")
        };
        let tx =
            Transaction::new_unchecked(store.conn(), TransactionBehavior::Immediate).map_err(|e| internal(e.into()))?;
        let outcome = self.check(&tx, req, now, credential).map_err(internal)?;
        let result = match outcome {
            Ok(admitted) => {
                let state = match admitted.decision {
                    Decision::Run => "approved",
                    Decision::Hold => "held",
                };
                let request = serde_json::to_string(req).unwrap_or_default();
                tx.execute(
                    "INSERT INTO query_log (query_id, researcher, received_at, state, reason, request)
                     VALUES (?1, ?2, ?3, ?4, NULL, ?5)",
                    params![
                        admitted.request.header.query_id.to_string(),
                        admitted.request.researcher,
                        now,
                        state,
                        request
                    ],
                )
                .map_err(|e| internal(e.into()))?;
                Ok(admitted)
            }
            Err(refusal) => {
                log_rejection(&tx, &refusal, req, now).map_err(internal)?;
                Err(refusal.rejection)
            }
        };
        tx.commit().map_err(|e| internal(e.into()))?;
        if let Err(rejection) = &result {
            tracing::info!(target: "node::policy", code = rejection.code.as_str(), "query refused");
        }
        result
    }

    /// The checks, in order; the outer error is a store failure.
    fn check(
        &self,
        tx: &Transaction<'_>,
        req: &Signed<QueryRequest>,
        now: i64,
        credential: &Result<(), String>,
    ) -> Result<Result<Admitted, Refusal>, PolicyError> {
        let untrusted = |code, message: String| {
            // Only for the log: the researcher the unverified body claims, if it parses.
            let researcher = serde_json::from_str::<QueryRequest>(&req.body)
                .map(|r| r.researcher.chars().take(200).collect())
                .unwrap_or_else(|_| "(unverified)".to_string());
            Err(Refusal { rejection: Rejection::new(code, message), query_id: None, researcher })
        };
        let verified = match req.verify() {
            Ok(v) => v,
            Err(e) => return Ok(untrusted(RejectionCode::BadSignature, e.to_string())),
        };
        if !self.hubs.contains(&verified.signer) {
            return Ok(untrusted(
                RejectionCode::UnknownHub,
                format!("signed by {}, which is not this node's hub", verified.signer),
            ));
        }
        let request = verified.payload;
        let refuse = |code, message: String| {
            Err(Refusal {
                rejection: Rejection::new(code, message),
                query_id: Some(request.header.query_id),
                researcher: request.researcher.clone(),
            })
        };
        let header = &request.header;
        if let Err(e) = header.check(now, self.config.max_query_age_secs) {
            return Ok(refuse(RejectionCode::Stale, e.to_string()));
        }
        // The window check accepted the header, so its expiry is in the future; expired nonces can go.
        tx.execute("DELETE FROM seen_nonce WHERE expires_at < ?1", [now])?;
        let fresh = tx.execute(
            "INSERT INTO seen_nonce (nonce, expires_at) VALUES (?1, ?2) ON CONFLICT (nonce) DO NOTHING",
            params![header.nonce.to_ascii_lowercase(), header.expires_at],
        )?;
        if fresh == 0 {
            return Ok(refuse(RejectionCode::Replayed, "the request's nonce was already used".to_string()));
        }
        let logged: Option<String> = tx
            .query_row("SELECT state FROM query_log WHERE query_id = ?1", [header.query_id.to_string()], |r| r.get(0))
            .optional()?;
        if logged.is_some() {
            return Ok(refuse(RejectionCode::Replayed, format!("query {} was already received", header.query_id)));
        }
        if let Err(e) = request.query.validate() {
            return Ok(refuse(RejectionCode::InvalidQuery, e.to_string()));
        }
        if let Err(why) = credential {
            return Ok(refuse(RejectionCode::Unauthorized, why.clone()));
        }
        if let Some(a) = request.query.aggregates.iter().map(Aggregate::kind).find(|k| !self.allows_aggregate(k)) {
            return Ok(refuse(RejectionCode::NotAllowed, format!("this node does not allow the `{a}` aggregate")));
        }
        if request.query.group_by.is_grouped() && !self.config.allow_grouping {
            return Ok(refuse(RejectionCode::NotAllowed, "this node does not allow grouped answers".to_string()));
        }
        if !self.config.allows_researcher(&request.researcher) {
            return Ok(refuse(
                RejectionCode::NotAllowed,
                format!("researcher `{}` may not query this node", request.researcher),
            ));
        }
        if request.purpose.as_deref().is_none_or(str::is_empty) && self.config.consent_purposes.iter().any(|p| p == "*")
        {
            // It would count the patients consenting to no purpose: nobody.
            return Ok(refuse(
                RejectionCode::NotAllowed,
                "this node counts only patients consenting to a query's purpose, for every purpose \
                 ([policy] consent_purposes = [\"*\"]): state the query's purpose"
                    .to_string(),
            ));
        }
        for (limit, window, name) in
            [(self.config.rate_per_minute, 60, "minute"), (self.config.rate_per_10_hours, 36_000, "10 hours")]
        {
            let (count, oldest): (u64, Option<i64>) = tx.query_row(
                "SELECT COUNT(*), MIN(received_at) FROM query_log
                 WHERE researcher = ?1 AND state != 'rejected' AND received_at > ?2",
                params![request.researcher, now - window],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if count >= u64::from(limit) {
                let retry = oldest.map_or(window, |t| t + window - now).max(1);
                return Ok(refuse(
                    RejectionCode::RateLimited,
                    format!("rate limit of {limit} queries per {name} reached for this researcher: retry in {retry} s"),
                ));
            }
        }
        let decision = match self.config.approval {
            Approval::Auto => Decision::Run,
            Approval::Manual => Decision::Hold,
        };
        Ok(Ok(Admitted { request, decision }))
    }

    fn allows_aggregate(&self, kind: &str) -> bool {
        self.config.allowed_aggregates.iter().any(|a| a == kind)
    }
}

/// Records a refusal under the request's query id when it is trusted and still free, else under a fresh id.
fn log_rejection(
    tx: &Transaction<'_>,
    refusal: &Refusal,
    req: &Signed<QueryRequest>,
    now: i64,
) -> Result<(), PolicyError> {
    let mut request = serde_json::to_string(req).unwrap_or_default();
    if refusal.query_id.is_none() && request.len() > MAX_LOGGED_ENVELOPE {
        request = serde_json::json!({ "omitted_envelope_bytes": request.len() }).to_string();
    }
    let reason = refusal.rejection.to_string();
    let insert = |query_id: Uuid| {
        tx.execute(
            "INSERT INTO query_log (query_id, researcher, received_at, state, reason, request)
             VALUES (?1, ?2, ?3, 'rejected', ?4, ?5) ON CONFLICT (query_id) DO NOTHING",
            params![query_id.to_string(), refusal.researcher, now, reason, request],
        )
    };
    if let Some(query_id) = refusal.query_id {
        if insert(query_id)? == 1 {
            return Ok(());
        }
    }
    insert(Uuid::new_v4())?;
    Ok(())
}

/// The queries held for the data steward, oldest first.
pub fn pending(store: &Store) -> Result<Vec<PendingQuery>, PolicyError> {
    let mut stmt = store.conn().prepare(
        "SELECT query_id, researcher, received_at, request FROM query_log
         WHERE state = 'held' ORDER BY received_at, query_id",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?)))?;
    let mut held = Vec::new();
    for row in rows {
        let (id, researcher, received_at, envelope) = row?;
        let query_id = parse_id(&id)?;
        let request = parse_request(query_id, &envelope)?;
        held.push(PendingQuery {
            query_id,
            researcher,
            received_at,
            query: request.query.to_string(),
            purpose: request.purpose,
        });
    }
    Ok(held)
}

/// Approves a held query and returns it, to be run and delivered.
pub fn approve(store: &Store, query_id: Uuid) -> Result<QueryRequest, PolicyError> {
    let tx = Transaction::new_unchecked(store.conn(), TransactionBehavior::Immediate)?;
    let envelope = transition(&tx, query_id, "held", "approved", None)?;
    let request = parse_request(query_id, &envelope)?;
    tx.execute("UPDATE query_log SET release = 1 WHERE query_id = ?1", [query_id.to_string()])?;
    tx.commit()?;
    Ok(request)
}

/// Denies a held query, with the steward's reason.
pub fn reject(store: &Store, query_id: Uuid, reason: &str) -> Result<(), PolicyError> {
    let tx = Transaction::new_unchecked(store.conn(), TransactionBehavior::Immediate)?;
    let reason = Rejection::new(RejectionCode::DeniedBySteward, reason).to_string();
    transition(&tx, query_id, "held", "denied", Some(&reason))?;
    tx.execute("UPDATE query_log SET release = 1 WHERE query_id = ?1", [query_id.to_string()])?;
    tx.commit()?;
    Ok(())
}

/// A steward's decision waiting to be delivered to the hub.
#[derive(Debug, Clone, PartialEq)]
pub enum Release {
    /// Approved: run it (then [`mark_answered`] or [`mark_failed`]) and deliver the answer.
    Approved(Box<QueryRequest>),
    /// Denied by the steward, or approved and failed when it ran: deliver the rejection.
    Denied {
        /// The query.
        query_id: Uuid,
        /// Why.
        rejection: Rejection,
    },
}

/// The steward decisions not yet delivered, in the order they were received. Nothing is cleared here:
/// [`released`] clears each mark in the transaction that keeps its message in the node's outbox, so a
/// decision is delivered once, and not lost if the node stops in between. A query approved and run but
/// not yet kept for delivery (the node stopped after the run) is approved again and runs again; one whose
/// run failed is delivered as that failure.
pub fn pending_releases(store: &Store) -> Result<Vec<Release>, PolicyError> {
    let rows: Vec<(String, String, String, Option<String>)> = {
        let mut stmt = store.conn().prepare(
            "SELECT query_id, state, request, reason FROM query_log WHERE release = 1 ORDER BY received_at, query_id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut out = Vec::with_capacity(rows.len());
    for (id, state, envelope, reason) in rows {
        let query_id = parse_id(&id)?;
        let detail = || {
            let detail = reason.clone().unwrap_or_default();
            detail.split_once(": ").map_or(detail.as_str(), |(_, d)| d).to_string()
        };
        match state.as_str() {
            "approved" | "answered" => out.push(Release::Approved(Box::new(parse_request(query_id, &envelope)?))),
            "denied" => out.push(Release::Denied {
                query_id,
                rejection: Rejection::new(RejectionCode::DeniedBySteward, detail()),
            }),
            "rejected" => {
                out.push(Release::Denied { query_id, rejection: Rejection::new(RejectionCode::Internal, detail()) })
            }
            // Nothing to deliver (a state only a release mark left behind by another release could reach).
            _ => {
                store.conn().execute("UPDATE query_log SET release = 0 WHERE query_id = ?1", [&id])?;
            }
        }
    }
    Ok(out)
}

/// Clears `query_id`'s release mark in `tx` (the caller keeps its message for delivery in the same
/// transaction); false when it was already cleared, so a decision taken twice concurrently is delivered
/// once.
pub fn released(tx: &Transaction<'_>, query_id: Uuid) -> Result<bool, PolicyError> {
    let changed =
        tx.execute("UPDATE query_log SET release = 0 WHERE query_id = ?1 AND release = 1", [query_id.to_string()])?;
    Ok(changed == 1)
}

/// Records that an approved query was answered (already recorded when it runs again: see
/// [`pending_releases`]).
pub fn mark_answered(store: &Store, query_id: Uuid) -> Result<(), PolicyError> {
    let tx = Transaction::new_unchecked(store.conn(), TransactionBehavior::Immediate)?;
    match transition(&tx, query_id, "approved", "answered", None) {
        Ok(_) => {}
        Err(PolicyError::WrongState { state, .. }) if state == "answered" => {}
        Err(e) => return Err(e),
    }
    tx.commit()?;
    Ok(())
}

/// Records that an approved query could not be run; it is logged as rejected with code `internal`.
pub fn mark_failed(store: &Store, query_id: Uuid, reason: &str) -> Result<(), PolicyError> {
    let tx = Transaction::new_unchecked(store.conn(), TransactionBehavior::Immediate)?;
    let reason = Rejection::new(RejectionCode::Internal, reason).to_string();
    // A query run again (see [`pending_releases`]) may have been recorded as answered the first time.
    match transition(&tx, query_id, "approved", "rejected", Some(&reason)) {
        Ok(_) => {}
        Err(PolicyError::WrongState { state, .. }) if state == "answered" => {
            transition(&tx, query_id, "answered", "rejected", Some(&reason))?;
        }
        Err(e) => return Err(e),
    }
    tx.commit()?;
    Ok(())
}

/// Refused and denied queries, counted by rejection code (`bad_signature`, `denied_by_steward`, ...).
pub fn rejection_counts(store: &Store) -> Result<BTreeMap<String, u64>, PolicyError> {
    let mut stmt = store.conn().prepare(
        "SELECT substr(reason, 1, instr(reason, ':') - 1) AS code, COUNT(*) FROM query_log
         WHERE state IN ('rejected', 'denied') GROUP BY code",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Moves a query from state `from` to `to`, returning its logged envelope.
fn transition(
    tx: &Transaction<'_>,
    query_id: Uuid,
    from: &'static str,
    to: &str,
    reason: Option<&str>,
) -> Result<String, PolicyError> {
    let found: Option<(String, String)> = tx
        .query_row("SELECT state, request FROM query_log WHERE query_id = ?1", [query_id.to_string()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let (state, envelope) = found.ok_or(PolicyError::UnknownQuery(query_id))?;
    if state != from {
        return Err(PolicyError::WrongState { query_id, state, expected: from });
    }
    tx.execute(
        "UPDATE query_log SET state = ?2, reason = COALESCE(?3, reason) WHERE query_id = ?1",
        params![query_id.to_string(), to, reason],
    )?;
    Ok(envelope)
}

fn parse_id(id: &str) -> Result<Uuid, PolicyError> {
    id.parse().map_err(|e: uuid::Error| PolicyError::CorruptLog { query_id: Uuid::nil(), detail: e.to_string() })
}

/// The request inside a logged envelope (verified when it was admitted).
fn parse_request(query_id: Uuid, envelope: &str) -> Result<QueryRequest, PolicyError> {
    let corrupt = |detail: String| PolicyError::CorruptLog { query_id, detail };
    let signed: Signed<QueryRequest> = serde_json::from_str(envelope).map_err(|e| corrupt(e.to_string()))?;
    serde_json::from_str(&signed.body).map_err(|e| corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(toml_text: &str, expect: Result<(), &str>) {
        let config: PolicyConfig = toml::from_str(toml_text).unwrap();
        assert_eq!(config.validate().map_err(|e| e.to_string()), expect.map_err(String::from), "{toml_text}");
    }

    #[test]
    fn config_defaults_and_validation() {
        let config: PolicyConfig = toml::from_str("").unwrap();
        assert_eq!(config, PolicyConfig::default());
        assert_eq!(config.threshold, 10);
        assert_eq!(config.allowed_aggregates, AGGREGATE_KINDS);
        check("threshold = 2\napproval = \"manual\"", Ok(()));
        check(
            "threshold = 1",
            Err("[policy] threshold 1 is below the minimum of 2: set it to 2 or more (10 is usual)"),
        );
        check(
            "allowed_aggregates = [\"count\", \"median\"]",
            Err("[policy] allowed_aggregates names unknown aggregate `median`: use count, sum, mean, sd or histogram"),
        );
        check("max_query_age_secs = 0", Err("[policy] max_query_age_secs must be a positive number of seconds, not 0"));
        assert!(toml::from_str::<PolicyConfig>("treshold = 5").is_err(), "a misspelt key is an error");
        let manual: PolicyConfig = toml::from_str("approval = \"manual\"\nallowed_researchers = [\"alice\"]").unwrap();
        assert_eq!(manual.approval, Approval::Manual);
        assert!(manual.allows_researcher("alice") && !manual.allows_researcher("bob"));
    }
}

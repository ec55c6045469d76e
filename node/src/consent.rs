//! Patients' credentials and consent. The node issues a patient's wallet a ConsentCredential (a purpose,
//! a scope, an expiry) or a DiagnosisCredential (a recorded condition, for trial eligibility); the patient
//! grants consent by presenting the ConsentCredential at the node (bound to a one-time challenge and the
//! node's DID), and revokes it the same way, which also sets its bit in the node's published revocation
//! list. Queries whose purpose needs consent count only persons with active consent for that purpose.
//!
//! Invariant: no credential names or identifies a patient. The link from a credential id to a person is
//! the `patient_credential` table, which never leaves the node; the wallet's DID is the only subject.

use crate::ingest::PseudonymKey;
use crate::store::{Store, StoreError};
use agora_did::credential::{CredentialFormat, CredentialKind, Draft, Issuer, VerifiedCredential, Verifier};
use agora_did::presentation::Expectation;
use agora_did::status::{StatusEntry, StatusList};
use agora_did::{Identity, VcError};
use agora_protocol::CodeMatch;
use rusqlite::{params, OptionalExtension};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// How long a wallet has to answer a challenge.
pub const CHALLENGE_TTL_SECS: i64 = 300;

/// What a consent covers: every kind of clinical data the query engine reads (with the person's sex and
/// birth date, which every query reads); a narrower scope is refused at issue and at grant.
pub const CONSENT_SCOPE: [&str; 3] = ["conditions", "measurements", "medications"];

/// Errors of the patient-credential workflow; the messages are shown to patients' wallets and operators.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    /// The credential or presentation was refused.
    #[error(transparent)]
    Credential(#[from] VcError),
    /// No such patient.
    #[error("no patient with that FHIR id is in this node's store")]
    UnknownPatient,
    /// The diagnosis is not recorded.
    #[error("the patient has no recorded condition matching {0}")]
    NoSuchCondition(String),
    /// A bad argument.
    #[error("{0}")]
    Invalid(String),
    /// The challenge is unknown or used.
    #[error("the challenge is unknown, already used or expired: ask the node for a new one")]
    Challenge,
    /// Not a credential this node issued (or its record is gone).
    #[error("this node did not issue that credential")]
    NotIssuedHere,
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ConsentError {
    fn from(e: rusqlite::Error) -> Self {
        ConsentError::Store(StoreError::Sqlite(e))
    }
}

/// What a wallet's presentation achieved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConsentChange {
    /// `granted` or `revoked`.
    pub status: &'static str,
    /// The purpose.
    pub purpose: String,
    /// The credential.
    pub credential_id: String,
    /// Unix seconds, when the consent ends.
    pub valid_until: Option<i64>,
}

/// The node's issuer and verifier of patient credentials.
#[derive(Clone)]
pub struct PatientCredentials {
    issuer: Issuer,
    verifier: Verifier,
    store_path: PathBuf,
    status_url: String,
    pseudonyms: Arc<PseudonymKey>,
}

impl std::fmt::Debug for PatientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatientCredentials").field("did", &self.issuer.did()).finish_non_exhaustive()
    }
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

impl PatientCredentials {
    /// The node's patient credentials, signed with its key, its revocation list published under
    /// `public_url` (`/v1/status/consent`).
    pub fn new(identity: Identity, store_path: PathBuf, public_url: &str, pseudonyms: Arc<PseudonymKey>) -> Self {
        let issuer = Issuer::key(identity);
        // Patients' credentials are this node's own: no other issuer's DID or status list is fetched.
        let verifier = Verifier::default().trusting(vec![issuer.did().to_string()]);
        PatientCredentials {
            issuer,
            verifier,
            store_path,
            status_url: format!("{}/v1/status/consent", public_url.trim_end_matches('/')),
            pseudonyms,
        }
    }

    /// The node's DID: the issuer of its credentials and the domain of wallets' presentations.
    pub fn did(&self) -> &str {
        self.issuer.did()
    }

    /// Runs `f` on a fresh store connection, never held across an await (a connection is not `Sync`).
    fn with_store<T>(&self, f: impl FnOnce(&Store) -> Result<T, ConsentError>) -> Result<T, ConsentError> {
        let store = Store::open(&self.store_path)?;
        f(&store)
    }

    fn person(&self, patient_fhir_id: &str) -> Result<i64, ConsentError> {
        let pseudonym = self.pseudonyms.pseudonym(patient_fhir_id);
        self.with_store(|store| {
            store
                .conn()
                .query_row("SELECT person_id FROM person WHERE pseudonym = ?1", [pseudonym], |r| r.get(0))
                .optional()?
                .ok_or(ConsentError::UnknownPatient)
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn issue(
        &self,
        person: i64,
        kind: &'static str,
        purpose: Option<&str>,
        draft: Draft,
        valid_days: i64,
        format: CredentialFormat,
    ) -> Result<(String, Value), ConsentError> {
        if valid_days <= 0 {
            return Err(ConsentError::Invalid("--valid-days must be at least 1".into()));
        }
        let issued = now();
        let until = issued + valid_days * 86_400;
        let holder = draft.to_json(self.did())["credentialSubject"]["id"].as_str().unwrap_or_default().to_string();
        // Reserve the status index first, then sign: a failed signature leaves an unused, revoked index.
        let index: i64 = self.with_store(|store| {
            let tx = rusqlite::Transaction::new_unchecked(store.conn(), rusqlite::TransactionBehavior::Immediate)?;
            let index: i64 =
                tx.query_row("SELECT COALESCE(MAX(status_index), -1) + 1 FROM patient_credential", [], |r| r.get(0))?;
            if index as usize >= agora_did::status::LIST_ENTRIES {
                return Err(ConsentError::Invalid("the node's revocation list is full".into()));
            }
            tx.execute(
                "INSERT INTO patient_credential
                 (credential_id, kind, person_id, holder, purpose, status_index, issued_at, valid_until, revoked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7)",
                params![draft.id(), kind, person, holder, purpose, index, issued, until],
            )?;
            tx.commit()?;
            Ok(index)
        })?;
        let draft = draft
            .valid_until(OffsetDateTime::from_unix_timestamp(until).map_err(|e| ConsentError::Invalid(e.to_string()))?)
            .status(StatusEntry { list: self.status_url.clone(), index: index as u64 });
        let vc = self.issuer.issue(&draft, format).await?;
        self.with_store(|store| {
            store
                .conn()
                .execute("UPDATE patient_credential SET revoked_at = NULL WHERE credential_id = ?1", [draft.id()])?;
            Ok(())
        })?;
        Ok((draft.id().to_string(), vc))
    }

    /// Issues a ConsentCredential for a patient (by FHIR id) to their wallet's DID, its scope every kind
    /// of data ([`CONSENT_SCOPE`]: the engine applies a consent to all of a patient's data).
    pub async fn issue_consent(
        &self,
        patient_fhir_id: &str,
        holder_did: &str,
        purpose: &str,
        scope: &[String],
        valid_days: i64,
        format: CredentialFormat,
    ) -> Result<(String, Value), ConsentError> {
        check_holder(holder_did)?;
        if purpose.trim().is_empty() {
            return Err(ConsentError::Invalid("a consent needs a purpose (a study or use)".into()));
        }
        // The query engine counts a consenting patient with all of their data: a consent narrower than
        // that would be a promise it does not keep, so none is issued.
        let covered = |kind: &str| scope.iter().any(|s| s == kind);
        if let Some(missing) = CONSENT_SCOPE.iter().find(|k| !covered(k)) {
            return Err(ConsentError::Invalid(format!(
                "a consent covers all of a patient's data ({}): a scope without {missing} is not kept by the \
                 query engine, so it is not issued",
                CONSENT_SCOPE.join(", ")
            )));
        }
        let person = self.person(patient_fhir_id)?;
        let draft = Draft::new(CredentialKind::ConsentCredential, holder_did)
            .claim("purpose", purpose)
            .claim("scope", scope.to_vec());
        self.issue(person, "consent", Some(purpose), draft, valid_days, format).await
    }

    /// Issues a DiagnosisCredential, if the patient's record holds a condition matching `condition`.
    pub async fn issue_diagnosis(
        &self,
        patient_fhir_id: &str,
        holder_did: &str,
        condition: &str,
        valid_days: i64,
        format: CredentialFormat,
    ) -> Result<(String, Value), ConsentError> {
        check_holder(holder_did)?;
        let code: CodeMatch = condition.parse().map_err(ConsentError::Invalid)?;
        let person = self.person(patient_fhir_id)?;
        let pattern = if code.prefix { format!("{}%", code.code.replace('%', "")) } else { code.code.replace('%', "") };
        let found: Option<(String, Option<i64>)> = self.with_store(|store| {
            Ok(store
                .conn()
                .query_row(
                    "SELECT code, start_at FROM condition_occurrence WHERE person_id = ?1 AND system = ?2 AND code LIKE ?3
                     ORDER BY start_at LIMIT 1",
                    params![person, code.system.short(), pattern],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
        })?;
        let (recorded, start) = found.ok_or_else(|| ConsentError::NoSuchCondition(code.to_string()))?;
        let mut draft = Draft::new(CredentialKind::DiagnosisCredential, holder_did)
            .claim("condition", format!("{}:{recorded}", code.system.short()));
        if let Some(date) = start.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()) {
            draft = draft.claim("diagnosedOn", date.date().to_string());
        }
        self.issue(person, "diagnosis", None, draft, valid_days, format).await
    }

    /// A one-time challenge for a wallet, with the domain its presentation must name.
    pub fn challenge(&self) -> Result<(String, String, i64), ConsentError> {
        let challenge = agora_did::presentation::new_challenge();
        let expires_at = now() + CHALLENGE_TTL_SECS;
        self.with_store(|store| {
            store.conn().execute("DELETE FROM wallet_challenge WHERE expires_at < ?1", [now()])?;
            store.conn().execute(
                "INSERT INTO wallet_challenge (challenge, expires_at) VALUES (?1, ?2)",
                params![challenge, expires_at],
            )?;
            Ok(())
        })?;
        Ok((challenge, self.did().to_string(), expires_at))
    }

    fn revocation_list(&self) -> Result<StatusList, ConsentError> {
        self.with_store(|store| {
            let mut list = StatusList::new();
            let mut stmt =
                store.conn().prepare("SELECT status_index FROM patient_credential WHERE revoked_at IS NOT NULL")?;
            for index in stmt.query_map([], |r| r.get::<_, i64>(0))? {
                list.revoke(index? as u64);
            }
            Ok(list)
        })
    }

    /// The node's revocation list, signed, as published at `/v1/status/consent`.
    pub async fn status_list(&self) -> Result<Value, ConsentError> {
        let list = self.revocation_list()?;
        Ok(list.to_credential(&self.status_url, &self.issuer).await?)
    }

    /// Verifies a wallet's presentation of a ConsentCredential this node issued, answering an outstanding
    /// challenge (used up here); returns the credential and the person it was issued for.
    async fn presented_consent(&self, vp: &Value) -> Result<(VerifiedCredential, i64), ConsentError> {
        let challenge = claimed_challenge(vp).ok_or(VcError::WrongChallenge)?;
        self.verifier.status_lists().put_local(&self.status_url, self.did(), self.revocation_list()?);
        let expect = Expectation {
            challenge: challenge.clone(),
            domain: self.did().to_string(),
            max_age: Duration::from_secs(CHALLENGE_TTL_SECS as u64),
        };
        let verified = self.verifier.presentation(vp, &expect).await?;
        let credential =
            verified.credentials.into_iter().find(|c| c.kind == Some(CredentialKind::ConsentCredential)).ok_or(
                VcError::WrongType { expected: "ConsentCredential", found: "none in the presentation".into() },
            )?;
        credential.expect_issuer(self.did())?;
        let id = credential.id.clone().unwrap_or_default();
        let person = self.with_store(|store| {
            let used = store.conn().execute(
                "DELETE FROM wallet_challenge WHERE challenge = ?1 AND expires_at >= ?2",
                params![challenge, now()],
            )?;
            if used != 1 {
                return Err(ConsentError::Challenge);
            }
            store
                .conn()
                .query_row(
                    "SELECT person_id FROM patient_credential WHERE credential_id = ?1 AND kind = 'consent'",
                    [&id],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or(ConsentError::NotIssuedHere)
        })?;
        Ok((credential, person))
    }

    /// Grants consent: the wallet presented its ConsentCredential.
    pub async fn grant(&self, vp: &Value) -> Result<ConsentChange, ConsentError> {
        let (credential, person) = self.presented_consent(vp).await?;
        // One issued narrower than all of the patient's data (by an earlier release) is not granted: the
        // engine would count all of it.
        let scope = credential.claim_list("scope");
        if let Some(missing) = CONSENT_SCOPE.iter().find(|k| !scope.iter().any(|s| s == *k)) {
            return Err(ConsentError::Invalid(format!(
                "this consent's scope leaves out {missing}, but a consent here covers all of a patient's data \
                 ({}): ask the hospital for a new one",
                CONSENT_SCOPE.join(", ")
            )));
        }
        let purpose = credential.claim_str("purpose").unwrap_or_default().to_string();
        let id = credential.id.clone().unwrap_or_default();
        let until = credential.valid_until.map(|t| t.unix_timestamp());
        self.with_store(|store| {
            let tx = rusqlite::Transaction::new_unchecked(store.conn(), rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO consent (credential_id, person_id, purpose, granted_at, valid_until) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (credential_id) DO UPDATE SET granted_at = excluded.granted_at",
                params![id, person, purpose, now(), until],
            )?;
            // Consents are committed with the data (a proof's consent criterion reads them).
            Store::bump_data_version(&tx)?;
            tx.commit()?;
            Ok(())
        })?;
        tracing::info!(target: "node::consent", "consent granted");
        Ok(ConsentChange { status: "granted", purpose, credential_id: id, valid_until: until })
    }

    /// Revokes consent: the wallet presented its ConsentCredential to withdraw it. The credential is
    /// revoked in the node's list, so it can never be presented again.
    pub async fn revoke(&self, vp: &Value) -> Result<ConsentChange, ConsentError> {
        let (credential, _person) = self.presented_consent(vp).await?;
        let purpose = credential.claim_str("purpose").unwrap_or_default().to_string();
        let id = credential.id.clone().unwrap_or_default();
        let t = now();
        self.with_store(|store| {
            let tx = rusqlite::Transaction::new_unchecked(store.conn(), rusqlite::TransactionBehavior::Immediate)?;
            tx.execute("UPDATE patient_credential SET revoked_at = ?1 WHERE credential_id = ?2", params![t, id])?;
            tx.execute("UPDATE consent SET revoked_at = ?1 WHERE credential_id = ?2", params![t, id])?;
            Store::bump_data_version(&tx)?;
            tx.commit()?;
            Ok(())
        })?;
        tracing::info!(target: "node::consent", "consent revoked");
        Ok(ConsentChange { status: "revoked", purpose, credential_id: id, valid_until: None })
    }
}

fn check_holder(did: &str) -> Result<(), ConsentError> {
    if did.starts_with("did:") {
        Ok(())
    } else {
        Err(ConsentError::Invalid(format!(
            "--holder must be the wallet's DID (did:key:…), not `{}`",
            did.chars().take(80).collect::<String>()
        )))
    }
}

/// The challenge a presentation claims to answer (read before it is verified against it).
fn claimed_challenge(vp: &Value) -> Option<String> {
    match vp {
        Value::String(jws) => agora_did::credential::jose_claim(jws, "nonce"),
        other => other.get("proof").and_then(|p| p.get("challenge")).and_then(Value::as_str).map(str::to_string),
    }
}

//! The network's credentials, their issuance and their verification.
//!
//! Four kinds, all W3C VC Data Model 2.0 with the Agora context ([`crate::contexts::AGORA_V1`]):
//!
//! | kind | issuer | subject | claims |
//! |---|---|---|---|
//! | `NodeCredential` | the hub | a node's `did:key` | `name`, `institution`, `country`, `queryKinds` |
//! | `ResearcherCredential` | the hub | a researcher's DID | `name`, `institution`, `purposes` |
//! | `ConsentCredential` | a node | a patient's wallet DID | `purpose`, `scope` |
//! | `DiagnosisCredential` | a node | a patient's wallet DID | `condition` (`system:code`) |
//!
//! A patient credential names no patient: the node keeps which of its persons a credential id belongs to.
//!
//! Two formats: Data Integrity with cryptosuite `eddsa-rdfc-2022` (a JSON object with a `proof`), and
//! VC-JOSE (a compact JWS whose payload is the credential; a JSON string). [`Verifier::credential`]
//! accepts both, and Data Integrity `Ed25519Signature2020` proofs, and checks, in order: the contexts, the
//! proof type, that the signing key belongs to the issuer, the validity period, the signature, and the
//! revocation status.

use crate::contexts;
use crate::identity::{truncate, Identity};
use crate::resolver::Resolver;
use crate::seen::SeenSignatures;
use crate::ssi::claims::data_integrity::{AnySuite, CryptographicSuite, DataIntegrity, ProofOptions};
use crate::ssi::claims::jws::JwsPayload;
use crate::ssi::claims::vc::v2::syntax::JsonPresentation;
use crate::ssi::claims::vc::v2::JsonCredential;
use crate::ssi::claims::vc_jose_cose::JoseVc;
use crate::ssi::claims::{SignatureEnvironment, VerificationParameters};
use crate::ssi::verification_methods::SingleSecretSigner;
use crate::status::{StatusEntry, StatusLists};
use crate::VcError;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The kinds of credential Agora issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CredentialKind {
    /// The hub admits a node.
    NodeCredential,
    /// The hub admits a researcher.
    ResearcherCredential,
    /// A node records a patient's consent.
    ConsentCredential,
    /// A node attests a patient's diagnosis.
    DiagnosisCredential,
    /// A Bitstring Status List.
    BitstringStatusListCredential,
}

impl CredentialKind {
    /// The type name in the credential.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::NodeCredential => "NodeCredential",
            CredentialKind::ResearcherCredential => "ResearcherCredential",
            CredentialKind::ConsentCredential => "ConsentCredential",
            CredentialKind::DiagnosisCredential => "DiagnosisCredential",
            CredentialKind::BitstringStatusListCredential => "BitstringStatusListCredential",
        }
    }

    fn from_types(types: &[String]) -> Option<CredentialKind> {
        [
            CredentialKind::NodeCredential,
            CredentialKind::ResearcherCredential,
            CredentialKind::ConsentCredential,
            CredentialKind::DiagnosisCredential,
            CredentialKind::BitstringStatusListCredential,
        ]
        .into_iter()
        .find(|k| types.iter().any(|t| t == k.as_str()))
    }
}

/// How a credential or presentation is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialFormat {
    /// Data Integrity, `eddsa-rdfc-2022`.
    #[default]
    DataIntegrity,
    /// VC-JOSE: a compact JWS, EdDSA.
    Jose,
}

impl std::str::FromStr for CredentialFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "di" | "data-integrity" | "ldp" => Ok(CredentialFormat::DataIntegrity),
            "jwt" | "jose" => Ok(CredentialFormat::Jose),
            other => Err(format!("unknown format `{other}`: use `di` (Data Integrity) or `jwt` (VC-JOSE)")),
        }
    }
}

/// An unsigned credential.
#[derive(Debug, Clone)]
pub struct Draft {
    kind: CredentialKind,
    id: String,
    subject: Map<String, Value>,
    valid_from: OffsetDateTime,
    valid_until: Option<OffsetDateTime>,
    status: Option<StatusEntry>,
}

impl Draft {
    /// A credential of `kind` about `subject_did`, valid from now, with a fresh `urn:uuid:` id.
    pub fn new(kind: CredentialKind, subject_did: &str) -> Draft {
        let mut subject = Map::new();
        subject.insert("id".into(), Value::from(subject_did));
        Draft {
            kind,
            id: uuid::Uuid::new_v4().urn().to_string(),
            subject,
            valid_from: now_seconds(),
            valid_until: None,
            status: None,
        }
    }

    /// Adds a claim about the subject.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Draft {
        self.subject.insert(name.to_string(), value.into());
        self
    }

    /// Sets `validFrom`.
    pub fn valid_from(mut self, t: OffsetDateTime) -> Draft {
        self.valid_from = t.replace_nanosecond(0).unwrap_or(t);
        self
    }

    /// Sets `validUntil`.
    pub fn valid_until(mut self, t: OffsetDateTime) -> Draft {
        self.valid_until = Some(t.replace_nanosecond(0).unwrap_or(t));
        self
    }

    /// Adds a revocation entry in a status list.
    pub fn status(mut self, entry: StatusEntry) -> Draft {
        self.status = Some(entry);
        self
    }

    /// The credential id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The unsigned credential as issued by `issuer`.
    pub fn to_json(&self, issuer: &str) -> Value {
        let mut vc = json!({
            "@context": [contexts::CREDENTIALS_V2, contexts::AGORA_V1],
            "id": self.id,
            "type": ["VerifiableCredential", self.kind.as_str()],
            "issuer": issuer,
            "validFrom": rfc3339(self.valid_from),
            "credentialSubject": Value::Object(self.subject.clone()),
        });
        if let Some(until) = self.valid_until {
            vc["validUntil"] = Value::from(rfc3339(until));
        }
        if let Some(status) = &self.status {
            vc["credentialStatus"] = status.to_json();
        }
        vc
    }
}

/// The current time, whole seconds.
pub(crate) fn now_seconds() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("a UTC time formats")
}

/// A party that signs credentials and presentations: an identity, and the DID it signs as (its
/// `did:key`, or a `did:web` whose document names its key as `#key-1`).
#[derive(Clone, Debug)]
pub struct Issuer {
    identity: Identity,
    did: String,
    method: String,
    resolver: Resolver,
}

impl Issuer {
    /// Signs as the identity's `did:key`.
    pub fn key(identity: Identity) -> Issuer {
        Issuer {
            did: identity.did().to_string(),
            method: identity.verification_method(),
            identity,
            resolver: Resolver::new(),
        }
    }

    /// Signs as `did_web`, whose document ([`crate::resolver::did_web_document`]) lists the identity's key.
    pub fn web(identity: Identity, did_web: &str) -> Result<Issuer, VcError> {
        let resolver = Resolver::new();
        resolver.pin(did_web, &crate::resolver::did_web_document(did_web, &identity.public_key()))?;
        Ok(Issuer { method: format!("{did_web}#key-1"), did: did_web.to_string(), identity, resolver })
    }

    /// The DID credentials name as issuer.
    pub fn did(&self) -> &str {
        &self.did
    }

    /// The verification method signatures name.
    pub fn verification_method(&self) -> &str {
        &self.method
    }

    /// The signing identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Signs a draft: a JSON object (Data Integrity) or a JSON string (VC-JOSE).
    pub async fn issue(&self, draft: &Draft, format: CredentialFormat) -> Result<Value, VcError> {
        self.sign_credential(draft.to_json(&self.did), format).await
    }

    /// Signs an unsigned credential (its `issuer` should be this issuer's DID: verifiers check it).
    pub async fn sign_credential(&self, vc: Value, format: CredentialFormat) -> Result<Value, VcError> {
        self.sign_credential_at(vc, format, None).await
    }

    /// [`Issuer::sign_credential`] with the Data Integrity proof's `created` time given.
    pub async fn sign_credential_at(
        &self,
        vc: Value,
        format: CredentialFormat,
        created: Option<OffsetDateTime>,
    ) -> Result<Value, VcError> {
        contexts::check(&vc)?;
        let typed: JsonCredential = serde_json::from_value(vc.clone())
            .map_err(|e| VcError::Malformed { what: "credential", detail: e.to_string() })?;
        match format {
            CredentialFormat::DataIntegrity => {
                let mut options = ProofOptions::from_method(self.method_iri()?);
                if let Some(t) = created {
                    options.created =
                        Some(rfc3339(t).parse().map_err(|_| VcError::Signing("cannot format the proof time".into()))?);
                }
                let signed = self.sign_di_credential(typed, options).await?;
                Ok(serde_json::to_value(&signed).expect("a signed credential serialises"))
            }
            CredentialFormat::Jose => {
                let jwk = self.identity.jwk_with_kid(&self.method);
                let jws = JwsPayload::sign(&JoseVc(typed), &jwk).await.map_err(|e| VcError::Signing(e.to_string()))?;
                Ok(Value::String(jws.into_string()))
            }
        }
    }

    pub(crate) fn method_iri(
        &self,
    ) -> Result<crate::ssi::verification_methods::ReferenceOrOwned<crate::ssi::verification_methods::AnyMethod>, VcError>
    {
        let iri = crate::ssi::json_ld::IriBuf::new(self.method.clone())
            .map_err(|_| VcError::BadDid(format!("`{}` is not an IRI", self.method)))?;
        Ok(iri.into())
    }

    pub(crate) async fn sign_di_credential(
        &self,
        doc: JsonCredential,
        options: DiOptions,
    ) -> Result<DataIntegrity<JsonCredential, AnySuite>, VcError> {
        let env = SignatureEnvironment { json_ld_loader: contexts::loader(), eip712_loader: () };
        let signer = SingleSecretSigner::new(self.identity.jwk().clone()).into_local();
        AnySuite::EdDsaRdfc2022
            .sign_with(env, doc, self.resolver.vm_resolver(), signer, options, Default::default())
            .await
            .map_err(|e| VcError::Signing(e.to_string()))
    }

    pub(crate) async fn sign_di_presentation(
        &self,
        doc: JsonPresentation<Value>,
        options: DiOptions,
    ) -> Result<DataIntegrity<JsonPresentation<Value>, AnySuite>, VcError> {
        let env = SignatureEnvironment { json_ld_loader: contexts::loader(), eip712_loader: () };
        let signer = SingleSecretSigner::new(self.identity.jwk().clone()).into_local();
        AnySuite::EdDsaRdfc2022
            .sign_with(env, doc, self.resolver.vm_resolver(), signer, options, Default::default())
            .await
            .map_err(|e| VcError::Signing(e.to_string()))
    }
}

/// Data Integrity proof options.
pub(crate) type DiOptions =
    ProofOptions<crate::ssi::verification_methods::AnyMethod, crate::ssi::claims::data_integrity::AnyInputSuiteOptions>;

/// A credential that passed every check.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VerifiedCredential {
    /// Its `id`.
    pub id: Option<String>,
    /// Its Agora kind, if it is one.
    pub kind: Option<CredentialKind>,
    /// All its types.
    pub types: Vec<String>,
    /// The issuer's DID.
    pub issuer: String,
    /// The subject's DID (`credentialSubject.id`).
    pub subject: Option<String>,
    /// The `credentialSubject` object.
    pub claims: Value,
    /// `validUntil`, if any.
    #[serde(with = "time::serde::rfc3339::option")]
    pub valid_until: Option<OffsetDateTime>,
    /// The status entry, if any (checked: not revoked).
    pub status: Option<StatusEntry>,
    /// How it was secured.
    pub format: CredentialFormat,
}

impl VerifiedCredential {
    /// A claim of the subject as a string.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A claim of the subject as a list of strings (a single string counts as one).
    pub fn claim_list(&self, name: &str) -> Vec<String> {
        match self.claims.get(name) {
            Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    }

    /// Fails unless the credential is of `kind`.
    pub fn expect_kind(&self, kind: CredentialKind) -> Result<(), VcError> {
        if self.kind == Some(kind) {
            Ok(())
        } else {
            Err(VcError::WrongType { expected: kind.as_str(), found: self.types.join(", ") })
        }
    }

    /// Fails unless the credential was issued by `did`.
    pub fn expect_issuer(&self, did: &str) -> Result<(), VcError> {
        if self.issuer == did {
            Ok(())
        } else {
            Err(VcError::WrongIssuer { expected: did.to_string(), found: self.issuer.clone() })
        }
    }
}

/// Verifies credentials and presentations. Cheap to clone; share one per process.
#[derive(Clone, Debug)]
pub struct Verifier {
    pub(crate) resolver: Resolver,
    pub(crate) statuses: StatusLists,
    /// Fixed time for validity checks (tests); `None` is now.
    pub(crate) at: Option<OffsetDateTime>,
    /// Credential signatures verified recently (the researcher's credential comes with every query).
    pub(crate) seen: SeenSignatures,
    /// The only issuers whose credentials are verified at all (`None`: any), checked before their DID
    /// is resolved or their status list fetched ([`Verifier::trusting`]).
    pub(crate) trusted: Option<std::sync::Arc<Vec<String>>>,
    /// False while verifying a status list fetched for another credential's check: the list must have
    /// no status of its own ([`Verifier::check_status`]).
    pub(crate) for_status_list: bool,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new(Resolver::new())
    }
}

pub(crate) const MAX_INPUT: usize = 256 * 1024;

impl Verifier {
    /// A verifier resolving DIDs with `resolver`, fetching status lists over HTTP(S).
    pub fn new(resolver: Resolver) -> Verifier {
        Verifier {
            statuses: StatusLists::new(resolver.clone()),
            resolver,
            at: None,
            seen: SeenSignatures::default(),
            trusted: None,
            for_status_list: false,
        }
    }

    /// This verifier, for a status list fetched to check another credential's status.
    pub(crate) fn of_status_list(&self) -> Verifier {
        Verifier { for_status_list: true, ..self.clone() }
    }

    /// Verifies credentials of these issuers only, refusing any other's before anything about it is
    /// fetched: its issuer's DID (a did:web is an HTTP request) and its status list (any URL its issuer
    /// wrote), and, in a presentation, the holder's DID until a credential of a trusted issuer names the
    /// holder. Without it, anyone could have a party that only ever trusts its hub make requests to
    /// addresses of their choosing, before it refused them for the issuer.
    pub fn trusting(mut self, issuers: Vec<String>) -> Verifier {
        self.trusted = Some(std::sync::Arc::new(issuers));
        self
    }

    /// Whether `vc` (as a presentation embeds it) names an issuer this verifier verifies: any, without
    /// [`Verifier::trusting`]; a credential it cannot read is left to [`Verifier::credential`] to refuse.
    pub(crate) fn would_verify(&self, vc: &Value) -> bool {
        let Some(trusted) = &self.trusted else { return true };
        let payload = match vc {
            Value::String(jws) => decode_jws(jws, "credential").map(|(_, p)| p),
            Value::Object(map) if is_enveloped(map) => {
                enveloped_jws(map).and_then(|jws| decode_jws(&jws, "credential").map(|(_, p)| p))
            }
            other => Ok(other.clone()),
        };
        match payload.and_then(|p| issuer_of(&p)) {
            Ok(issuer) => trusted.contains(&issuer),
            Err(_) => true,
        }
    }

    /// Refuses `issuer` if this verifier trusts others only.
    pub(crate) fn check_trusted(&self, issuer: &str) -> Result<(), VcError> {
        match &self.trusted {
            Some(trusted) if !trusted.iter().any(|t| t == issuer) => {
                Err(VcError::WrongIssuer { expected: trusted.join(" or "), found: truncate(issuer) })
            }
            _ => Ok(()),
        }
    }

    /// Checks every credential signature every time, remembering none (for measuring the cold path).
    pub fn without_signature_cache(mut self) -> Verifier {
        self.seen = SeenSignatures::disabled();
        self
    }

    /// Checks validity periods as of `t` instead of now.
    pub fn at(mut self, t: OffsetDateTime) -> Verifier {
        self.at = Some(t);
        self
    }

    /// The status lists this verifier consults (register local lists there).
    pub fn status_lists(&self) -> &StatusLists {
        &self.statuses
    }

    /// The resolver.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.at.unwrap_or_else(OffsetDateTime::now_utc)
    }

    pub(crate) fn params(
        &self,
    ) -> VerificationParameters<crate::resolver::VmResolver, crate::ssi::json_ld::ContextLoader> {
        let p =
            VerificationParameters::from_resolver(self.resolver.vm_resolver()).with_json_ld_loader(contexts::loader());
        match self.at.and_then(|t| chrono::DateTime::from_timestamp(t.unix_timestamp(), 0)) {
            Some(t) => p.with_date_time(t),
            None => p,
        }
    }

    /// Parses and verifies a credential given as text: a JSON object (Data Integrity), or a compact JWS
    /// (VC-JOSE), bare or as a JSON string.
    pub async fn credential_text(&self, text: &str) -> Result<VerifiedCredential, VcError> {
        let text = text.trim();
        if text.len() > MAX_INPUT {
            return Err(VcError::Malformed { what: "credential", detail: format!("larger than {MAX_INPUT} bytes") });
        }
        let value = if text.starts_with('{') || text.starts_with('"') {
            serde_json::from_str(text).map_err(|e| VcError::Malformed { what: "credential", detail: e.to_string() })?
        } else {
            Value::String(text.to_string())
        };
        self.credential(&value).await
    }

    /// Verifies a credential: a Data Integrity object, a VC-JOSE compact JWS (a JSON string), or an
    /// `EnvelopedVerifiableCredential` wrapping one.
    pub async fn credential(&self, vc: &Value) -> Result<VerifiedCredential, VcError> {
        match vc {
            Value::String(jws) => self.jose_credential(jws).await,
            Value::Object(map) if is_enveloped(map) => {
                let jws = enveloped_jws(map)?;
                self.jose_credential(&jws).await
            }
            Value::Object(_) => self.di_credential(vc).await,
            _ => Err(VcError::Malformed { what: "credential", detail: "not a JSON object or a JWS".into() }),
        }
    }

    /// Checks only a Data Integrity credential's contexts, proof type and signature, with none of Agora's
    /// rules on issuers, validity or status (for third-party test vectors).
    pub async fn proof_only(&self, vc: &Value) -> Result<(), VcError> {
        contexts::check(vc)?;
        check_proof_type(single_proof(vc, "credential")?)?;
        let typed: DataIntegrity<JsonCredential, AnySuite> = serde_json::from_value(vc.clone())
            .map_err(|e| VcError::Malformed { what: "credential", detail: e.to_string() })?;
        signature_outcome("credential", typed.verify(self.params()).await)
    }

    async fn di_credential(&self, vc: &Value) -> Result<VerifiedCredential, VcError> {
        contexts::check(vc)?;
        let proof = single_proof(vc, "credential")?;
        check_proof_type(proof)?;
        let issuer = issuer_of(vc)?;
        self.check_trusted(&issuer)?;
        let method = proof.get("verificationMethod").and_then(Value::as_str).unwrap_or_default();
        check_signer("credential", method, &issuer)?;
        let mut verified = read_credential(vc, issuer, CredentialFormat::DataIntegrity)?;
        self.check_period(vc)?;
        self.ensure_resolvable(&verified.issuer).await?;
        self.signature_once(&serde_json::to_vec(vc).unwrap_or_default(), async {
            let typed: DataIntegrity<JsonCredential, AnySuite> = serde_json::from_value(vc.clone())
                .map_err(|e| VcError::Malformed { what: "credential", detail: e.to_string() })?;
            signature_outcome("credential", typed.verify(self.params()).await)
        })
        .await?;
        self.check_status(&mut verified).await?;
        Ok(verified)
    }

    async fn jose_credential(&self, jws: &str) -> Result<VerifiedCredential, VcError> {
        let (header, payload) = decode_jws(jws, "credential")?;
        contexts::check(&payload)?;
        let issuer = issuer_of(&payload)?;
        self.check_trusted(&issuer)?;
        check_signer("credential", header.kid.as_deref().unwrap_or_default(), &issuer)?;
        let mut verified = read_credential(&payload, issuer, CredentialFormat::Jose)?;
        self.check_period(&payload)?;
        self.ensure_resolvable(&verified.issuer).await?;
        self.signature_once(jws.as_bytes(), async {
            let slice = crate::ssi::claims::jws::JwsSlice::new(jws.as_bytes())
                .map_err(|_| VcError::Malformed { what: "credential", detail: "not a compact JWS".into() })?;
            let decoded = JoseVc::<JsonCredential>::decode(slice)
                .map_err(|e| VcError::Malformed { what: "credential", detail: e.to_string() })?;
            signature_outcome("credential", decoded.verify(self.params()).await)
        })
        .await?;
        self.check_status(&mut verified).await?;
        Ok(verified)
    }

    /// Runs `check` (a signature verification) unless these exact bytes passed it recently.
    async fn signature_once(
        &self,
        document: &[u8],
        check: impl std::future::Future<Output = Result<(), VcError>>,
    ) -> Result<(), VcError> {
        let key = SeenSignatures::key(document);
        if !self.seen.contains(&key) {
            check.await?;
            self.seen.insert(key);
        }
        Ok(())
    }

    pub(crate) async fn ensure_resolvable(&self, did: &str) -> Result<(), VcError> {
        if did.starts_with("did:key:") {
            crate::identity::public_of_did_key(did).map(|_| ())
        } else {
            self.resolver.resolve(did).await.map(|_| ())
        }
    }

    fn check_period(&self, vc: &Value) -> Result<(), VcError> {
        let now = self.now();
        let date = |field: &str| -> Result<Option<OffsetDateTime>, VcError> {
            match vc.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => {
                    OffsetDateTime::parse(s, &Rfc3339).map(Some).map_err(|_| VcError::Malformed {
                        what: "credential",
                        detail: format!("{field} `{}` is not an RFC 3339 date-time", truncate(s)),
                    })
                }
                Some(_) => Err(VcError::Malformed { what: "credential", detail: format!("{field} is not a string") }),
            }
        };
        if let Some(from) = date("validFrom")? {
            if now < from {
                return Err(VcError::NotYetValid(rfc3339(from)));
            }
        }
        if let Some(until) = date("validUntil")? {
            if now >= until {
                return Err(VcError::Expired(rfc3339(until)));
            }
        }
        Ok(())
    }

    async fn check_status(&self, verified: &mut VerifiedCredential) -> Result<(), VcError> {
        // A status list is not itself revocable here: a document fetched as one and naming a list (its
        // own URL, or another's that names it back) made every check fetch and verify again, without
        // end, until the stack gave out. Whatever its type: the type is read after it is verified.
        if self.for_status_list || verified.kind == Some(CredentialKind::BitstringStatusListCredential) {
            if verified.status.is_some() {
                return Err(VcError::Malformed {
                    what: "credential",
                    detail: "a status list credential has a status of its own".into(),
                });
            }
            return Ok(());
        }
        if let Some(entry) = &verified.status {
            self.statuses.check(entry, &verified.issuer, self).await?;
        }
        Ok(())
    }
}

pub(crate) fn is_enveloped(map: &Map<String, Value>) -> bool {
    match map.get("type") {
        Some(Value::String(t)) => t == "EnvelopedVerifiableCredential",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "EnvelopedVerifiableCredential"),
        _ => false,
    }
}

/// The JWS inside an `EnvelopedVerifiableCredential` (`id: data:application/vc-ld+jwt,<jws>`).
pub(crate) fn enveloped_jws(map: &Map<String, Value>) -> Result<String, VcError> {
    let id = map.get("id").and_then(Value::as_str).unwrap_or_default();
    id.strip_prefix("data:application/vc-ld+jwt,")
        .or_else(|| id.strip_prefix("data:application/vc+jwt,"))
        .map(str::to_string)
        .ok_or_else(|| VcError::Malformed {
            what: "credential",
            detail: "an EnvelopedVerifiableCredential's id must be a data:application/vc-ld+jwt, URL".into(),
        })
}

/// Wraps a VC-JOSE credential for embedding in a presentation.
pub(crate) fn envelope(jws: &str) -> Value {
    json!({
        "@context": contexts::CREDENTIALS_V2,
        "id": format!("data:application/vc-ld+jwt,{jws}"),
        "type": "EnvelopedVerifiableCredential",
    })
}

/// The JOSE header fields Agora reads.
pub(crate) struct JoseHeader {
    pub(crate) kid: Option<String>,
}

/// Decodes a compact JWS without verifying it: its header (EdDSA only) and JSON payload.
pub(crate) fn decode_jws(jws: &str, what: &'static str) -> Result<(JoseHeader, Value), VcError> {
    use base64::Engine;
    let malformed = |detail: &str| VcError::Malformed { what, detail: detail.to_string() };
    let mut parts = jws.split('.');
    let (Some(h), Some(p), Some(_s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(malformed("not a compact JWS (three base64url parts separated by dots)"));
    };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: Value = b64
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| malformed("the JWS header is not base64url JSON"))?;
    match header.get("alg").and_then(Value::as_str) {
        Some("EdDSA") => {}
        Some(other) => return Err(VcError::UnsupportedProof(format!("JWS alg {}", truncate(other)))),
        None => return Err(malformed("the JWS header has no alg")),
    }
    let payload: Value = b64
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| malformed("the JWS payload is not base64url JSON"))?;
    Ok((JoseHeader { kid: header.get("kid").and_then(Value::as_str).map(str::to_string) }, payload))
}

/// A claim of a compact JWS's payload, read without verifying anything (to find which challenge a
/// presentation claims to answer, before verifying it against that challenge).
pub fn jose_claim(jws: &str, name: &str) -> Option<String> {
    decode_jws(jws, "presentation").ok()?.1.get(name)?.as_str().map(str::to_string)
}

/// The one proof of a Data Integrity document.
pub(crate) fn single_proof<'v>(doc: &'v Value, what: &'static str) -> Result<&'v Value, VcError> {
    match doc.get("proof") {
        None | Some(Value::Null) => Err(VcError::NoProof(what)),
        Some(Value::Array(items)) if items.len() == 1 => Ok(&items[0]),
        Some(Value::Array(_)) => Err(VcError::Malformed { what, detail: "Agora accepts exactly one proof".into() }),
        Some(p @ Value::Object(_)) => Ok(p),
        Some(_) => Err(VcError::Malformed { what, detail: "proof is not an object".into() }),
    }
}

/// Accepts `DataIntegrityProof` with `eddsa-rdfc-2022`, and `Ed25519Signature2020`.
pub(crate) fn check_proof_type(proof: &Value) -> Result<(), VcError> {
    let ty = proof.get("type").and_then(Value::as_str).unwrap_or("(none)");
    let suite = proof.get("cryptosuite").and_then(Value::as_str);
    match (ty, suite) {
        ("DataIntegrityProof", Some("eddsa-rdfc-2022")) | ("Ed25519Signature2020", None) => Ok(()),
        ("DataIntegrityProof", Some(s)) => {
            Err(VcError::UnsupportedProof(format!("DataIntegrityProof/{}", truncate(s))))
        }
        (t, _) => Err(VcError::UnsupportedProof(truncate(t))),
    }
}

/// Fails unless a verification method (`did#fragment`) belongs to `did`.
pub(crate) fn check_signer(what: &'static str, method: &str, did: &str) -> Result<(), VcError> {
    let signer = method.split('#').next().unwrap_or_default();
    if signer == did {
        Ok(())
    } else {
        Err(VcError::SignerMismatch { what, signer: truncate(signer), claimed: truncate(did) })
    }
}

fn issuer_of(vc: &Value) -> Result<String, VcError> {
    let issuer = match vc.get("issuer") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o.get("id").and_then(Value::as_str).unwrap_or_default().to_string(),
        _ => String::new(),
    };
    if issuer.starts_with("did:") {
        Ok(issuer)
    } else {
        Err(VcError::Malformed { what: "credential", detail: "issuer must be a DID".into() })
    }
}

fn read_credential(vc: &Value, issuer: String, format: CredentialFormat) -> Result<VerifiedCredential, VcError> {
    let types: Vec<String> = match vc.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts.iter().filter_map(|t| t.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    };
    if !types.iter().any(|t| t == "VerifiableCredential") {
        return Err(VcError::Malformed { what: "credential", detail: "type must include VerifiableCredential".into() });
    }
    let claims = match vc.get("credentialSubject") {
        Some(Value::Array(items)) if items.len() == 1 => items[0].clone(),
        Some(s @ Value::Object(_)) => s.clone(),
        _ => {
            return Err(VcError::Malformed {
                what: "credential",
                detail: "credentialSubject must be one object".into(),
            })
        }
    };
    let valid_until =
        vc.get("validUntil").and_then(Value::as_str).and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok());
    let status = match vc.get("credentialStatus") {
        None | Some(Value::Null) => None,
        Some(s) => Some(StatusEntry::from_json(s)?),
    };
    Ok(VerifiedCredential {
        id: vc.get("id").and_then(Value::as_str).map(str::to_string),
        kind: CredentialKind::from_types(&types),
        types,
        issuer,
        subject: claims.get("id").and_then(Value::as_str).map(str::to_string),
        claims,
        valid_until,
        status,
        format,
    })
}

/// Maps `ssi`'s verification outcome to ours.
pub(crate) fn signature_outcome<E: std::fmt::Display, I: std::fmt::Display>(
    what: &'static str,
    outcome: Result<Result<(), I>, E>,
) -> Result<(), VcError> {
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(invalid)) => Err(VcError::BadSignature { what, detail: invalid.to_string() }),
        Err(e) => {
            let detail = e.to_string();
            if detail.contains("unknown context") || detail.contains("UnknownContext") {
                Err(VcError::UnknownContext(detail))
            } else {
                Err(VcError::BadSignature { what, detail })
            }
        }
    }
}

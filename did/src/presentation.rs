//! Verifiable Presentations: a holder (a researcher, a patient's wallet) wraps credentials about itself
//! and signs them for one verifier (`domain`) and one request (`challenge`), so that a presentation
//! captured on its way cannot be replayed elsewhere. [`present`] makes one; [`Verifier::presentation`]
//! checks it against an [`Expectation`]: the proof (purpose `authentication`, challenge, domain, age), that
//! the signing key is the holder's, and each credential in it, which must be about the holder.
//!
//! Data Integrity presentations carry challenge and domain in their proof; VC-JOSE presentations carry
//! them as the JWT claims `nonce` and `aud`, with `iat` for their age.

use crate::contexts;
use crate::credential::{
    check_proof_type, check_signer, decode_jws, envelope, is_enveloped, now_seconds, signature_outcome, single_proof,
    CredentialFormat, Issuer, VerifiedCredential, Verifier,
};
use crate::identity::truncate;
use crate::ssi::claims::data_integrity::{DataIntegrity, ProofOptions};
use crate::ssi::claims::jws::JwsPayload;
use crate::ssi::claims::vc::v2::syntax::JsonPresentation;
use crate::ssi::claims::vc_jose_cose::JoseVp;
use crate::ssi::verification_methods::ProofPurpose;
use crate::VcError;
use serde_json::{json, Value};
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// What a verifier expects of a presentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// The challenge the verifier gave (or the digest of the request it authorises).
    pub challenge: String,
    /// The verifier's identifier (its DID).
    pub domain: String,
    /// The oldest presentation accepted.
    pub max_age: Duration,
}

/// How far a presentation's time may be ahead of the verifier's clock.
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// A presentation that passed every check.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VerifiedPresentation {
    /// The holder's DID (the key that signed it).
    pub holder: String,
    /// The credentials in it, each verified and about the holder.
    pub credentials: Vec<VerifiedCredential>,
    /// How it was secured.
    pub format: CredentialFormat,
}

/// Makes a presentation of `credentials` (as issued: Data Integrity objects or VC-JOSE strings), signed by
/// `holder` for `challenge` and `domain`.
pub async fn present(
    holder: &Issuer,
    credentials: &[Value],
    challenge: &str,
    domain: &str,
    format: CredentialFormat,
) -> Result<Value, VcError> {
    let embedded: Vec<Value> = credentials
        .iter()
        .map(|c| match c {
            Value::String(jws) => envelope(jws),
            other => other.clone(),
        })
        .collect();
    let mut vp = json!({
        "@context": [contexts::CREDENTIALS_V2],
        "type": ["VerifiablePresentation"],
        "holder": holder.did(),
        "verifiableCredential": embedded,
    });
    match format {
        CredentialFormat::DataIntegrity => {
            let typed: JsonPresentation<Value> = serde_json::from_value(vp)
                .map_err(|e| VcError::Malformed { what: "presentation", detail: e.to_string() })?;
            let mut options = ProofOptions::from_method(holder.method_iri()?);
            options.proof_purpose = ProofPurpose::Authentication;
            options.challenge = Some(challenge.to_string());
            options.domains = vec![domain.to_string()];
            let signed = holder.sign_di_presentation(typed, options).await?;
            Ok(serde_json::to_value(&signed).expect("a signed presentation serialises"))
        }
        CredentialFormat::Jose => {
            vp["nonce"] = Value::from(challenge);
            vp["aud"] = Value::from(domain);
            vp["iat"] = Value::from(OffsetDateTime::now_utc().unix_timestamp());
            let jwk = holder.identity().jwk_with_kid(holder.verification_method());
            let jws = JwsPayload::sign(&JoseVp(vp), &jwk).await.map_err(|e| VcError::Signing(e.to_string()))?;
            Ok(Value::String(jws.into_string()))
        }
    }
}

const MAX_INPUT: usize = 512 * 1024;

impl Verifier {
    /// Parses and verifies a presentation given as text (a JSON object, or a compact JWS bare or quoted).
    pub async fn presentation_text(&self, text: &str, expect: &Expectation) -> Result<VerifiedPresentation, VcError> {
        let value = parse_presentation(text)?;
        self.presentation(&value, expect).await
    }

    /// Verifies a presentation: a Data Integrity object or a VC-JOSE compact JWS (a JSON string).
    pub async fn presentation(&self, vp: &Value, expect: &Expectation) -> Result<VerifiedPresentation, VcError> {
        let (holder, credentials, format) = match vp {
            Value::String(jws) => self.jose_presentation(jws, expect).await?,
            Value::Object(_) => self.di_presentation(vp, expect).await?,
            _ => return Err(VcError::Malformed { what: "presentation", detail: "not a JSON object or a JWS".into() }),
        };
        let mut verified = Vec::with_capacity(credentials.len());
        // With trusted issuers, another issuer's credential beside theirs is passed over, not verified
        // (nothing of it is fetched) nor returned.
        for c in credentials.iter().filter(|c| self.would_verify(c)) {
            let vc = self.credential(c).await?;
            match &vc.subject {
                Some(subject) if *subject == holder => verified.push(vc),
                other => {
                    return Err(VcError::HolderMismatch {
                        holder,
                        subject: other.clone().unwrap_or_else(|| "(no subject id)".into()),
                    })
                }
            }
        }
        Ok(VerifiedPresentation { holder, credentials: verified, format })
    }

    async fn di_presentation(
        &self,
        vp: &Value,
        expect: &Expectation,
    ) -> Result<(String, Vec<Value>, CredentialFormat), VcError> {
        contexts::check(vp)?;
        let proof = single_proof(vp, "presentation")?;
        check_proof_type(proof)?;
        if proof.get("proofPurpose").and_then(Value::as_str) != Some("authentication") {
            return Err(VcError::Malformed {
                what: "presentation",
                detail: "its proof's purpose must be authentication".into(),
            });
        }
        if proof.get("challenge").and_then(Value::as_str) != Some(expect.challenge.as_str()) {
            return Err(VcError::WrongChallenge);
        }
        let domains: Vec<&str> = match proof.get("domain") {
            Some(Value::String(d)) => vec![d.as_str()],
            Some(Value::Array(ds)) => ds.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !domains.contains(&expect.domain.as_str()) {
            return Err(VcError::WrongDomain { expected: expect.domain.clone(), found: truncate(&domains.join(", ")) });
        }
        let created =
            proof.get("created").and_then(Value::as_str).and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok());
        self.check_age(created, expect)?;
        let method = proof.get("verificationMethod").and_then(Value::as_str).unwrap_or_default();
        let holder = holder_of(vp).unwrap_or_else(|| method.split('#').next().unwrap_or_default().to_string());
        check_signer("presentation", method, &holder)?;
        self.holder_named_by_trusted(&holder, &credentials_of(vp)?).await?;
        self.ensure_resolvable(&holder).await?;
        let typed: DataIntegrity<JsonPresentation<Value>, crate::ssi::claims::data_integrity::AnySuite> =
            serde_json::from_value(vp.clone())
                .map_err(|e| VcError::Malformed { what: "presentation", detail: e.to_string() })?;
        signature_outcome("presentation", typed.verify(self.params()).await)?;
        Ok((holder, credentials_of(vp)?, CredentialFormat::DataIntegrity))
    }

    async fn jose_presentation(
        &self,
        jws: &str,
        expect: &Expectation,
    ) -> Result<(String, Vec<Value>, CredentialFormat), VcError> {
        let (header, payload) = decode_jws(jws, "presentation")?;
        contexts::check(&payload)?;
        if payload.get("nonce").and_then(Value::as_str) != Some(expect.challenge.as_str()) {
            return Err(VcError::WrongChallenge);
        }
        let aud: Vec<&str> = match payload.get("aud") {
            Some(Value::String(d)) => vec![d.as_str()],
            Some(Value::Array(ds)) => ds.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !aud.contains(&expect.domain.as_str()) {
            return Err(VcError::WrongDomain { expected: expect.domain.clone(), found: truncate(&aud.join(", ")) });
        }
        let iat = payload.get("iat").and_then(Value::as_i64).and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
        self.check_age(iat, expect)?;
        let method = header.kid.unwrap_or_default();
        let holder = holder_of(&payload).unwrap_or_else(|| method.split('#').next().unwrap_or_default().to_string());
        check_signer("presentation", &method, &holder)?;
        self.holder_named_by_trusted(&holder, &credentials_of(&payload)?).await?;
        self.ensure_resolvable(&holder).await?;
        let slice = crate::ssi::claims::jws::JwsSlice::new(jws.as_bytes())
            .map_err(|_| VcError::Malformed { what: "presentation", detail: "not a compact JWS".into() })?;
        let decoded = JoseVp::<JsonPresentation<Value>>::decode(slice)
            .map_err(|e| VcError::Malformed { what: "presentation", detail: e.to_string() })?;
        signature_outcome("presentation", decoded.verify(self.params()).await)?;
        Ok((holder, credentials_of(&payload)?, CredentialFormat::Jose))
    }

    /// With trusted issuers ([`Verifier::trusting`]), the holder's DID is resolved only once one of the
    /// presentation's credentials verifies as a trusted issuer's about the holder (verified again, from
    /// the signature cache, with the others after the presentation's own proof).
    async fn holder_named_by_trusted(&self, holder: &str, credentials: &[Value]) -> Result<(), VcError> {
        if self.trusted.is_none() {
            return Ok(());
        }
        let mut about_another = None;
        for c in credentials.iter().filter(|c| self.would_verify(c)) {
            match Box::pin(self.credential(c)).await?.subject {
                Some(subject) if subject == holder => return Ok(()),
                other => about_another = Some(other.unwrap_or_else(|| "(no subject id)".into())),
            }
        }
        if let Some(subject) = about_another {
            return Err(VcError::HolderMismatch { holder: truncate(holder), subject });
        }
        let trusted = self.trusted.as_deref().map(|t| t.join(" or ")).unwrap_or_default();
        Err(VcError::NoTrustedCredential { holder: truncate(holder), trusted })
    }

    fn check_age(&self, made: Option<OffsetDateTime>, expect: &Expectation) -> Result<(), VcError> {
        let Some(made) = made else {
            return Err(VcError::Malformed { what: "presentation", detail: "it does not say when it was made".into() });
        };
        let now = self.now();
        if made > now + CLOCK_SKEW || now - made > expect.max_age {
            return Err(VcError::StalePresentation(crate::credential::rfc3339(made)));
        }
        Ok(())
    }
}

/// Parses presentation text: a JSON object, or a compact JWS bare or as a JSON string.
pub fn parse_presentation(text: &str) -> Result<Value, VcError> {
    let text = text.trim();
    if text.len() > MAX_INPUT {
        return Err(VcError::Malformed { what: "presentation", detail: format!("larger than {MAX_INPUT} bytes") });
    }
    if text.starts_with('{') || text.starts_with('"') {
        serde_json::from_str(text).map_err(|e| VcError::Malformed { what: "presentation", detail: e.to_string() })
    } else {
        Ok(Value::String(text.to_string()))
    }
}

fn holder_of(vp: &Value) -> Option<String> {
    match vp.get("holder") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o.get("id").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

fn credentials_of(vp: &Value) -> Result<Vec<Value>, VcError> {
    let list = match vp.get("verifiableCredential") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(one) => vec![one.clone()],
    };
    if list.is_empty() {
        return Err(VcError::Malformed { what: "presentation", detail: "it holds no credential".into() });
    }
    if list.len() > 16 {
        return Err(VcError::Malformed { what: "presentation", detail: "it holds more than 16 credentials".into() });
    }
    for c in &list {
        if let Value::Object(map) = c {
            if is_enveloped(map) {
                continue;
            }
        }
    }
    Ok(list)
}

/// A nonce for a challenge: 128 random bits, hex.
pub fn new_challenge() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Whole seconds now (for callers building expectations).
pub fn now() -> OffsetDateTime {
    now_seconds()
}

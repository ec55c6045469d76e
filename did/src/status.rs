//! Revocation through W3C Bitstring Status Lists. An issuer keeps a [`StatusList`] (131,072 entries, one
//! bit each: set = revoked), gives each credential an index in it ([`StatusEntry`]), and publishes the list
//! as a signed `BitstringStatusListCredential` at the entry's URL. A verifier fetches that credential,
//! checks that the credential's own issuer signed it, and reads the bit ([`StatusLists`]); fetched lists are
//! kept for [`LIST_TTL`].
//!
//! Bit order follows the specification: index 0 is the most significant bit of the first byte.

use crate::credential::{CredentialFormat, CredentialKind, Issuer, Verifier};
use crate::identity::truncate;
use crate::ssi::status::bitstring_status_list::EncodedList;
use crate::VcError;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entries in a list: the specification's minimum (16 KiB of bits), which also hides how many
/// credentials an issuer has given out.
pub const LIST_ENTRIES: usize = 16 * 1024 * 8;

/// How long a fetched list is used before it is fetched again.
pub const LIST_TTL: Duration = Duration::from_secs(300);

/// A credential's place in a status list (`credentialStatus`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatusEntry {
    /// The URL of the status list credential.
    pub list: String,
    /// The index in it.
    pub index: u64,
}

impl StatusEntry {
    /// The `credentialStatus` object.
    pub fn to_json(&self) -> Value {
        json!({
            "id": format!("{}#{}", self.list, self.index),
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": self.index.to_string(),
            "statusListCredential": self.list,
        })
    }

    /// Reads a `credentialStatus` object: a revocation entry of a Bitstring Status List.
    pub fn from_json(v: &Value) -> Result<StatusEntry, VcError> {
        let bad =
            |detail: &str| VcError::Malformed { what: "credential", detail: format!("credentialStatus: {detail}") };
        let v = match v {
            Value::Array(items) if items.len() == 1 => &items[0],
            other => other,
        };
        if v.get("type").and_then(Value::as_str) != Some("BitstringStatusListEntry") {
            return Err(bad("only BitstringStatusListEntry is supported"));
        }
        if v.get("statusPurpose").and_then(Value::as_str) != Some("revocation") {
            return Err(bad("only the revocation purpose is supported"));
        }
        let index = match v.get("statusListIndex") {
            Some(Value::String(s)) => s.parse::<u64>().map_err(|_| bad("statusListIndex is not a number"))?,
            Some(Value::Number(n)) => n.as_u64().ok_or_else(|| bad("statusListIndex is not a number"))?,
            _ => return Err(bad("statusListIndex is missing")),
        };
        if index >= LIST_ENTRIES as u64 {
            return Err(bad("statusListIndex is beyond the list"));
        }
        let list = v
            .get("statusListCredential")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("statusListCredential is missing"))?;
        if !(list.starts_with("https://") || list.starts_with("http://")) {
            return Err(bad("statusListCredential must be an http(s) URL"));
        }
        Ok(StatusEntry { list: list.to_string(), index })
    }
}

/// An issuer's list.
#[derive(Clone, PartialEq, Eq)]
pub struct StatusList {
    bits: Vec<u8>,
}

impl std::fmt::Debug for StatusList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusList").field("revoked", &self.count_revoked()).finish()
    }
}

impl Default for StatusList {
    fn default() -> Self {
        StatusList { bits: vec![0; LIST_ENTRIES / 8] }
    }
}

impl StatusList {
    /// An empty list.
    pub fn new() -> StatusList {
        StatusList::default()
    }

    /// A list from its stored bytes (shorter input is padded with unrevoked entries).
    pub fn from_bytes(mut bytes: Vec<u8>) -> StatusList {
        bytes.resize(bytes.len().max(LIST_ENTRIES / 8), 0);
        StatusList { bits: bytes }
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bits
    }

    /// Whether entry `index` is revoked.
    pub fn is_revoked(&self, index: u64) -> bool {
        let i = index as usize;
        self.bits.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
    }

    /// Revokes entry `index`.
    pub fn revoke(&mut self, index: u64) {
        let i = index as usize;
        if let Some(b) = self.bits.get_mut(i / 8) {
            *b |= 0x80 >> (i % 8);
        }
    }

    fn count_revoked(&self) -> u32 {
        self.bits.iter().map(|b| b.count_ones()).sum()
    }

    /// The gzip-compressed, multibase base64url `encodedList`.
    pub fn encode(&self) -> String {
        serde_json::to_value(EncodedList::encode(&self.bits))
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// Decodes an `encodedList`.
    pub fn decode(encoded: &str) -> Result<StatusList, VcError> {
        let bytes = EncodedList::new(encoded.to_string())
            .decode(Some(16 * 1024 * 1024))
            .map_err(|e| VcError::Malformed { what: "status list", detail: e.to_string() })?;
        Ok(StatusList::from_bytes(bytes))
    }

    /// The list as a signed `BitstringStatusListCredential` published at `url`.
    pub async fn to_credential(&self, url: &str, issuer: &Issuer) -> Result<Value, VcError> {
        let now = crate::credential::now_seconds();
        let vc = json!({
            "@context": [crate::contexts::CREDENTIALS_V2],
            "id": url,
            "type": ["VerifiableCredential", "BitstringStatusListCredential"],
            "issuer": issuer.did(),
            "validFrom": crate::credential::rfc3339(now),
            "credentialSubject": {
                "id": format!("{url}#list"),
                "type": "BitstringStatusList",
                "statusPurpose": "revocation",
                "encodedList": self.encode(),
            },
        });
        issuer.sign_credential(vc, CredentialFormat::DataIntegrity).await
    }
}

#[derive(Clone)]
struct Cached {
    fetched: Option<Instant>,
    issuer: String,
    list: Arc<StatusList>,
}

/// A verifier's status lists: its own (registered with [`StatusLists::put_local`]) and fetched ones.
#[derive(Clone)]
pub struct StatusLists {
    lists: Arc<Mutex<HashMap<String, Cached>>>,
    http: reqwest::Client,
    ttl: Arc<Mutex<Duration>>,
}

impl std::fmt::Debug for StatusLists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusLists").finish_non_exhaustive()
    }
}

impl StatusLists {
    pub(crate) fn new(_resolver: crate::resolver::Resolver) -> StatusLists {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("an HTTP client");
        StatusLists { lists: Arc::new(Mutex::new(HashMap::new())), http, ttl: Arc::new(Mutex::new(LIST_TTL)) }
    }

    /// Sets how long fetched lists are used ([`LIST_TTL`] by default; zero fetches at every check).
    pub fn set_ttl(&self, ttl: Duration) {
        *self.ttl.lock().expect("ttl lock") = ttl;
    }

    /// Registers (or replaces) a list this party publishes itself: it is never fetched.
    pub fn put_local(&self, url: &str, issuer: &str, list: StatusList) {
        let cached = Cached { fetched: None, issuer: issuer.to_string(), list: Arc::new(list) };
        self.lists.lock().expect("status lock").insert(url.to_string(), cached);
    }

    /// Forgets a fetched list, so the next check fetches it again.
    pub fn forget(&self, url: &str) {
        self.lists.lock().expect("status lock").remove(url);
    }

    pub(crate) async fn check(&self, entry: &StatusEntry, issuer: &str, verifier: &Verifier) -> Result<(), VcError> {
        let cached = self.lists.lock().expect("status lock").get(&entry.list).cloned();
        let cached = match cached {
            Some(c) if c.fetched.is_none_or(|at| at.elapsed() < *self.ttl.lock().expect("ttl lock")) => c,
            _ => {
                let c = self.fetch(&entry.list, verifier).await?;
                self.lists.lock().expect("status lock").insert(entry.list.clone(), c.clone());
                c
            }
        };
        if cached.issuer != issuer {
            return Err(VcError::Status {
                list: truncate(&entry.list),
                detail: format!("the list is published by {}, not by the credential's issuer {issuer}", cached.issuer),
            });
        }
        if cached.list.is_revoked(entry.index) {
            return Err(VcError::Revoked { list: truncate(&entry.list), index: entry.index });
        }
        Ok(())
    }

    async fn fetch(&self, url: &str, verifier: &Verifier) -> Result<Cached, VcError> {
        let failed = |detail: String| VcError::Status { list: truncate(url), detail };
        let mut resp = self.http.get(url).send().await.map_err(|e| failed(format!("cannot fetch it: {e}")))?;
        if !resp.status().is_success() {
            return Err(failed(format!("fetching it returned HTTP {}", resp.status())));
        }
        // At most what a credential may be (the verifier refuses more): a server sending more is not
        // read to its end.
        let most = crate::credential::MAX_INPUT;
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| failed(format!("cannot read it: {e}")))? {
            if bytes.len() + chunk.len() > most {
                return Err(failed(format!("it is larger than {most} bytes")));
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| failed("it is not UTF-8".into()))?;
        let verified =
            Box::pin(verifier.of_status_list().credential_text(text)).await.map_err(|e| failed(e.to_string()))?;
        verified.expect_kind(CredentialKind::BitstringStatusListCredential).map_err(|e| failed(e.to_string()))?;
        if verified.claim_str("statusPurpose") != Some("revocation") {
            return Err(failed("it is not a revocation list".into()));
        }
        let encoded = verified.claim_str("encodedList").ok_or_else(|| failed("it has no encodedList".into()))?;
        let list = StatusList::decode(encoded).map_err(|e| failed(e.to_string()))?;
        Ok(Cached { fetched: Some(Instant::now()), issuer: verified.issuer, list: Arc::new(list) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_most_significant_first_and_round_trip() {
        let mut l = StatusList::new();
        l.revoke(0);
        l.revoke(9);
        l.revoke(LIST_ENTRIES as u64 - 1);
        assert_eq!(l.as_bytes()[0], 0x80);
        assert_eq!(l.as_bytes()[1], 0x40);
        assert!(l.is_revoked(9) && !l.is_revoked(8) && !l.is_revoked(10));
        let back = StatusList::decode(&l.encode()).unwrap();
        assert_eq!(back, l);
        assert!(l.encode().starts_with('u'), "multibase base64url");
    }

    #[test]
    fn entries_are_checked() {
        let e = StatusEntry { list: "https://hub.example/status/1".into(), index: 42 };
        assert_eq!(StatusEntry::from_json(&e.to_json()).unwrap(), e);
        let mut bad = e.to_json();
        bad["statusPurpose"] = "suspension".into();
        assert!(StatusEntry::from_json(&bad).is_err());
        let mut bad = e.to_json();
        bad["statusListIndex"] = "999999999".into();
        assert!(StatusEntry::from_json(&bad).is_err());
    }
}

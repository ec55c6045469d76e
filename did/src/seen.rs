//! A bounded memory of credential signatures already verified.
//!
//! A researcher's credential travels with every query and is verified at the hub and at every node; its
//! Data Integrity signature (RDF canonicalisation, then Ed25519) costs milliseconds each time. The cache
//! holds the SHA-256 of exactly the bytes whose signature passed, for a bounded time. Only the signature
//! check is skipped on a hit: contexts, issuer, validity period and revocation status are checked on every
//! use. The time bound covers a `did:web` issuer rotating its key; a `did:key` cannot change.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a verified signature is trusted without checking it again.
pub const SIGNATURE_TTL: Duration = Duration::from_secs(300);
/// The most signatures remembered; past it the oldest half is forgotten.
pub const CAPACITY: usize = 4096;

/// Signatures that verified recently, keyed by the digest of the signed document as received.
#[derive(Clone, Debug, Default)]
pub struct SeenSignatures {
    inner: Arc<Mutex<HashMap<[u8; 32], Instant>>>,
    disabled: bool,
}

impl SeenSignatures {
    /// A cache that never remembers (every signature checked every time).
    pub fn disabled() -> SeenSignatures {
        SeenSignatures { disabled: true, ..Default::default() }
    }

    /// The key for a document: a JSON value is hashed in serde_json's canonical (sorted-key) form, a
    /// JWS as its text.
    pub fn key(document: &[u8]) -> [u8; 32] {
        Sha256::digest(document).into()
    }

    /// Whether this document's signature verified less than [`SIGNATURE_TTL`] ago.
    pub fn contains(&self, key: &[u8; 32]) -> bool {
        if self.disabled {
            return false;
        }
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).is_some_and(|at| at.elapsed() < SIGNATURE_TTL)
    }

    /// Records that this document's signature verified now.
    pub fn insert(&self, key: [u8; 32]) {
        if self.disabled {
            return;
        }
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CAPACITY {
            map.retain(|_, at| at.elapsed() < SIGNATURE_TTL);
            if map.len() >= CAPACITY {
                let mut ages: Vec<Instant> = map.values().copied().collect();
                ages.sort_unstable();
                let cutoff = ages[ages.len() / 2];
                map.retain(|_, at| *at > cutoff);
            }
        }
        map.insert(key, Instant::now());
    }

    /// How many signatures are remembered.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_what_it_was_told_and_stays_bounded() {
        let seen = SeenSignatures::default();
        let a = SeenSignatures::key(b"a");
        assert!(!seen.contains(&a));
        seen.insert(a);
        assert!(seen.contains(&a));
        assert!(!seen.contains(&SeenSignatures::key(b"b")));
        for i in 0..(CAPACITY * 2) {
            seen.insert(SeenSignatures::key(&i.to_le_bytes()));
        }
        assert!(seen.len() <= CAPACITY, "{} entries", seen.len());
        let off = SeenSignatures::disabled();
        off.insert(a);
        assert!(!off.contains(&a));
    }
}

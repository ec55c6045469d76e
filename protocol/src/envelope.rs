//! The signed envelope every federation message travels in. The signature covers a domain tag, the
//! payload's kind and the exact JSON bytes of the body, so a payload cannot be re-read as another kind and
//! nothing depends on re-serialising JSON the same way twice. [`Header`] gives each request an id, an
//! expiry and a nonce, the inputs of the receiver's replay and age checks.

use libp2p::identity::{self, Keypair, PeerId, PublicKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;
use uuid::Uuid;

const DOMAIN: &[u8] = b"agora-signed-v1\0";

/// Largest body an envelope may carry; a larger one is refused before its signature is checked.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A payload that travels signed.
pub trait Payload: Serialize + DeserializeOwned {
    /// The kind the signature binds the body to.
    const KIND: &'static str;
}

/// A payload, its exact JSON bytes, and the Ed25519 signature of its sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Signed<T> {
    /// The payload kind.
    pub kind: String,
    /// The payload as JSON text: exactly the bytes that were signed.
    pub body: String,
    /// The signer's Ed25519 public key, hex.
    pub signer: String,
    /// The Ed25519 signature, hex.
    pub signature: String,
    #[serde(skip)]
    _payload: PhantomData<fn() -> T>,
}

/// A verified payload and the identity that signed it.
#[derive(Debug, Clone)]
pub struct Verified<T> {
    /// The signer's libp2p peer id (derived from the same Ed25519 key).
    pub signer: PeerId,
    /// The payload.
    pub payload: T,
}

/// Why an envelope or its header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The envelope is of another kind.
    #[error("envelope carries a `{found}` where a `{expected}` was expected")]
    WrongKind {
        /// The kind expected.
        expected: &'static str,
        /// The kind found.
        found: String,
    },
    /// Body too large.
    #[error("envelope body of {0} bytes exceeds the limit of {MAX_BODY_BYTES} bytes")]
    TooLarge(usize),
    /// No usable signature.
    #[error("message is unsigned or its signature is malformed")]
    Unsigned,
    /// The signer key is not an Ed25519 key.
    #[error("signer key is not a valid Ed25519 public key")]
    BadKey,
    /// Signature does not verify.
    #[error("signature does not verify against the signer's key")]
    BadSignature,
    /// Body is not the payload.
    #[error("signed body is not a valid {kind}: {detail}")]
    BadBody {
        /// The kind expected.
        kind: &'static str,
        /// The parser's message.
        detail: String,
    },
    /// The message's expiry is past.
    #[error("message expired {0} s ago")]
    Expired(i64),
    /// Issued too long ago for the receiver's policy.
    #[error("message was issued {age} s ago, more than the {max} s this receiver accepts")]
    TooOld {
        /// Its age.
        age: i64,
        /// The limit.
        max: i64,
    },
    /// Issued in the future.
    #[error("message claims to be issued {0} s in the future: check the sender's clock")]
    FromFuture(i64),
    /// Expiry before issue, or too far out.
    #[error("message validity window is malformed")]
    BadWindow,
    /// Nonce malformed.
    #[error("message nonce must be 32 hex characters")]
    BadNonce,
}

impl<T: Payload> Signed<T> {
    /// Signs a payload with a node's or the hub's key.
    pub fn sign(payload: &T, key: &Keypair) -> Signed<T> {
        let body = serde_json::to_string(payload).expect("protocol payloads always serialise");
        let signature = key.sign(&signing_bytes(T::KIND, &body)).expect("ed25519 signing cannot fail");
        let signer =
            key.public().try_into_ed25519().map(|k| hex::encode(k.to_bytes())).expect("agora keys are ed25519");
        Signed { kind: T::KIND.to_string(), body, signer, signature: hex::encode(signature), _payload: PhantomData }
    }

    /// Verifies the signature and parses the payload. Says nothing of freshness: see [`Header::check`].
    pub fn verify(&self) -> Result<Verified<T>, EnvelopeError> {
        if self.kind != T::KIND {
            return Err(EnvelopeError::WrongKind { expected: T::KIND, found: truncate(&self.kind) });
        }
        if self.body.len() > MAX_BODY_BYTES {
            return Err(EnvelopeError::TooLarge(self.body.len()));
        }
        let sig = hex::decode(&self.signature).map_err(|_| EnvelopeError::Unsigned)?;
        if sig.len() != 64 {
            return Err(EnvelopeError::Unsigned);
        }
        let key = signer_key(&self.signer)?;
        if !key.verify(&signing_bytes(T::KIND, &self.body), &sig) {
            return Err(EnvelopeError::BadSignature);
        }
        let payload = serde_json::from_str(&self.body)
            .map_err(|e| EnvelopeError::BadBody { kind: T::KIND, detail: e.to_string() })?;
        Ok(Verified { signer: key.to_peer_id(), payload })
    }

    /// The peer id of the claimed signer, without checking the signature.
    pub fn claimed_signer(&self) -> Result<PeerId, EnvelopeError> {
        Ok(signer_key(&self.signer)?.to_peer_id())
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

fn signer_key(hex_key: &str) -> Result<PublicKey, EnvelopeError> {
    let bytes = hex::decode(hex_key).map_err(|_| EnvelopeError::BadKey)?;
    let ed = identity::ed25519::PublicKey::try_from_bytes(&bytes).map_err(|_| EnvelopeError::BadKey)?;
    Ok(PublicKey::from(ed))
}

fn signing_bytes(kind: &str, body: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(DOMAIN.len() + kind.len() + 1 + body.len());
    v.extend_from_slice(DOMAIN);
    v.extend_from_slice(kind.as_bytes());
    v.push(0);
    v.extend_from_slice(body.as_bytes());
    v
}

/// Identity, validity window and nonce of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Header {
    /// The query this message is about.
    pub query_id: Uuid,
    /// When the sender issued it (Unix seconds).
    pub issued_at: i64,
    /// When it stops being valid (Unix seconds).
    pub expires_at: i64,
    /// 128 random bits, hex. A node remembers each query's until it expires and refuses a second use
    /// (`seen_nonce`); the hub keeps none, its intake being idempotent instead (a node's answer,
    /// delivery or proof settles its part once, and a copy is refused as already received).
    pub nonce: String,
}

/// Allowed clock difference between sender and receiver, in seconds.
pub const CLOCK_SKEW_SECS: i64 = 30;

/// Longest validity window a message may claim, in seconds.
pub const MAX_WINDOW_SECS: i64 = 24 * 3600;

impl Header {
    /// A fresh header valid for `ttl_secs` from `now`.
    pub fn new(query_id: Uuid, now: i64, ttl_secs: i64) -> Header {
        let nonce: [u8; 16] = rand::random();
        Header { query_id, issued_at: now, expires_at: now + ttl_secs, nonce: hex::encode(nonce) }
    }

    /// Checks the window against the receiver's clock and its maximum message age.
    pub fn check(&self, now: i64, max_age_secs: i64) -> Result<(), EnvelopeError> {
        if self.nonce.len() != 32 || !self.nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(EnvelopeError::BadNonce);
        }
        // The sender's times are any i64: the differences are taken without wrapping (a window from
        // i64::MIN wrapped to a negative one and passed as fresh forever).
        let window = i128::from(self.expires_at) - i128::from(self.issued_at);
        if !(0..=i128::from(MAX_WINDOW_SECS)).contains(&window) {
            return Err(EnvelopeError::BadWindow);
        }
        if self.issued_at > now.saturating_add(CLOCK_SKEW_SECS) {
            return Err(EnvelopeError::FromFuture(self.issued_at.saturating_sub(now)));
        }
        if now > self.expires_at {
            return Err(EnvelopeError::Expired(now.saturating_sub(self.expires_at)));
        }
        let age = now.saturating_sub(self.issued_at);
        if age > max_age_secs {
            return Err(EnvelopeError::TooOld { age, max: max_age_secs });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Ping {
        n: u32,
    }
    impl Payload for Ping {
        const KIND: &'static str = "test.ping";
    }
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Pong {
        n: u32,
    }
    impl Payload for Pong {
        const KIND: &'static str = "test.pong";
    }

    #[test]
    fn signed_round_trip_and_tamper() {
        let key = Keypair::generate_ed25519();
        let s = Signed::sign(&Ping { n: 7 }, &key);
        let v = s.verify().unwrap();
        assert_eq!(v.payload, Ping { n: 7 });
        assert_eq!(v.signer, key.public().to_peer_id());

        let mut forged = s.clone();
        forged.body = r#"{"n":8}"#.into();
        assert_eq!(forged.verify().unwrap_err(), EnvelopeError::BadSignature);

        let mut unsigned = s.clone();
        unsigned.signature.clear();
        assert_eq!(unsigned.verify().unwrap_err(), EnvelopeError::Unsigned);

        let other = Keypair::generate_ed25519();
        let mut swapped = s.clone();
        swapped.signer = hex::encode(other.public().try_into_ed25519().unwrap().to_bytes());
        assert_eq!(swapped.verify().unwrap_err(), EnvelopeError::BadSignature);

        // A ping cannot be read as a pong even with a valid signature.
        let as_pong: Signed<Pong> = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert!(matches!(as_pong.verify().unwrap_err(), EnvelopeError::WrongKind { .. }));
    }

    #[test]
    fn header_window_checks() {
        let h = Header::new(Uuid::nil(), 1000, 60);
        assert_eq!(h.check(1000, 300), Ok(()));
        assert_eq!(h.check(1061, 300), Err(EnvelopeError::Expired(1)));
        assert_eq!(h.check(900, 300), Err(EnvelopeError::FromFuture(100)));
        let long = Header::new(Uuid::nil(), 1000, 3600);
        assert_eq!(long.check(1400, 300), Err(EnvelopeError::TooOld { age: 400, max: 300 }));
        let bad = Header { nonce: "xyz".into(), ..h.clone() };
        assert_eq!(bad.check(1000, 300), Err(EnvelopeError::BadNonce));
        // Times at the ends of i64, which the sender chooses: refused, never wrapped into a fresh
        // window (nor a panic where overflow is checked).
        let at = |issued_at: i64, expires_at: i64| Header { issued_at, expires_at, ..h.clone() }.check(1000, 300);
        assert_eq!(at(i64::MIN, 1 << 62), Err(EnvelopeError::BadWindow));
        assert_eq!(at(i64::MIN, i64::MAX), Err(EnvelopeError::BadWindow));
        assert_eq!(at(i64::MAX, i64::MIN), Err(EnvelopeError::BadWindow));
        assert_eq!(at(i64::MIN, i64::MIN + 10), Err(EnvelopeError::Expired(i64::MAX)));
        assert_eq!(at(i64::MAX - 10, i64::MAX), Err(EnvelopeError::FromFuture(i64::MAX - 10 - 1000)));
        assert_eq!(Header::new(Uuid::nil(), i64::MIN, 60).check(i64::MIN + 30, 300), Ok(()));
    }
}

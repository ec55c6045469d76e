//! A party's identity: one Ed25519 key, seen as a libp2p `PeerId` on the network and as a `did:key` in
//! credentials. [`Identity`] holds the secret and signs; [`did_key`], [`did_of_peer`] and [`peer_of_did`]
//! move between the three public forms without any secret. A peer that connects over libp2p has thereby
//! proven control of the key its `did:key` names.
//!
//! Invariant: the secret never leaves [`Identity`]: its `Debug` is redacted and nothing here prints it.

use crate::ssi::JWK;
use crate::VcError;
use libp2p::identity::{ed25519, Keypair, PublicKey};
use libp2p::PeerId;
use std::fmt;
use std::path::Path;

/// The multicodec prefix of an Ed25519 public key (`ed25519-pub`, 0xed, as an unsigned varint).
const ED25519_PUB: [u8; 2] = [0xed, 0x01];

/// An Ed25519 identity that can sign credentials and presentations.
#[derive(Clone)]
pub struct Identity {
    jwk: JWK,
    public: [u8; 32],
    did: String,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").field("did", &self.did).finish_non_exhaustive()
    }
}

impl Identity {
    /// The identity of a 32-byte Ed25519 secret.
    pub fn from_secret(secret: [u8; 32]) -> Identity {
        let mut bytes = secret;
        let sk = ed25519::SecretKey::try_from_bytes(&mut bytes).expect("any 32 bytes are an Ed25519 secret key");
        let public = ed25519::Keypair::from(sk).public().to_bytes();
        let jwk = JWK::from(crate::ssi::jwk::Params::OKP(crate::ssi::jwk::OctetParams {
            curve: "Ed25519".into(),
            public_key: crate::ssi::jwk::Base64urlUInt(public.to_vec()),
            private_key: Some(crate::ssi::jwk::Base64urlUInt(secret.to_vec())),
        }));
        Identity { jwk, public, did: did_key(&public) }
    }

    /// The identity in a key file (see [`crate::keyfile`]).
    pub fn from_key_file(path: &Path) -> Result<Identity, crate::keyfile::KeyFileError> {
        Ok(Identity::from_secret(crate::keyfile::read_secret(path)?))
    }

    /// A new random identity (for tests and wallets).
    pub fn generate() -> Identity {
        Identity::from_secret(rand::random())
    }

    /// `did:key:z6Mk…`.
    pub fn did(&self) -> &str {
        &self.did
    }

    /// The verification method signatures name: `did:key:z6Mk…#z6Mk…`.
    pub fn verification_method(&self) -> String {
        let fragment = self.did.trim_start_matches("did:key:");
        format!("{}#{fragment}", self.did)
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// The libp2p peer id of the same key.
    pub fn peer_id(&self) -> PeerId {
        peer_of_public(&self.public)
    }

    /// The signing key as a JWK with its `kid` set to `kid` (JOSE headers name the key).
    pub(crate) fn jwk_with_kid(&self, kid: &str) -> JWK {
        let mut jwk = self.jwk.clone();
        jwk.key_id = Some(kid.to_string());
        jwk
    }

    pub(crate) fn jwk(&self) -> &JWK {
        &self.jwk
    }
}

/// The `did:key` of an Ed25519 public key: `did:key:z` + base58btc(0xed 0x01 ‖ key).
pub fn did_key(public: &[u8; 32]) -> String {
    let mut bytes = Vec::with_capacity(34);
    bytes.extend_from_slice(&ED25519_PUB);
    bytes.extend_from_slice(public);
    format!("did:key:z{}", bs58::encode(bytes).into_string())
}

/// The Ed25519 public key a `did:key` (or one of its verification methods) names.
pub fn public_of_did_key(did: &str) -> Result<[u8; 32], VcError> {
    let did = did.split('#').next().unwrap_or(did);
    let bad = || VcError::BadDid(format!("`{}` is not an Ed25519 did:key", truncate(did)));
    let encoded = did.strip_prefix("did:key:z").ok_or_else(bad)?;
    let bytes = bs58::decode(encoded).into_vec().map_err(|_| bad())?;
    match bytes.as_slice() {
        [0xed, 0x01, key @ ..] if key.len() == 32 => Ok(key.try_into().expect("32 bytes")),
        _ => Err(bad()),
    }
}

fn peer_of_public(public: &[u8; 32]) -> PeerId {
    let key = ed25519::PublicKey::try_from_bytes(public).expect("a valid Ed25519 point");
    PublicKey::from(key).to_peer_id()
}

/// The `did:key` of a libp2p peer whose id embeds its Ed25519 key (every Agora peer's does).
pub fn did_of_peer(peer: &PeerId) -> Result<String, VcError> {
    let multihash = peer.as_ref();
    if multihash.code() != 0 {
        return Err(VcError::BadDid(format!("peer {peer} does not embed its public key")));
    }
    let key = PublicKey::try_decode_protobuf(multihash.digest())
        .map_err(|_| VcError::BadDid(format!("peer {peer} does not embed a public key")))?;
    let ed = key.try_into_ed25519().map_err(|_| VcError::BadDid(format!("peer {peer} is not an Ed25519 key")))?;
    Ok(did_key(&ed.to_bytes()))
}

/// The libp2p peer id of an Ed25519 `did:key`.
pub fn peer_of_did(did: &str) -> Result<PeerId, VcError> {
    let public = public_of_did_key(did)?;
    ed25519::PublicKey::try_from_bytes(&public)
        .map(|k| PublicKey::from(k).to_peer_id())
        .map_err(|_| VcError::BadDid(format!("`{}` holds no valid Ed25519 key", truncate(did))))
}

/// The identity of a libp2p keypair (Ed25519 only).
pub fn identity_of_keypair(key: &Keypair) -> Option<Identity> {
    let ed = key.clone().try_into_ed25519().ok()?;
    Some(Identity::from_secret(ed.secret().as_ref().try_into().ok()?))
}

/// Cuts untrusted text for an error message.
pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_key_and_peer_id_name_the_same_key() {
        let id = Identity::from_secret([3; 32]);
        assert!(id.did().starts_with("did:key:z6Mk"));
        assert_eq!(did_of_peer(&id.peer_id()).unwrap(), id.did());
        assert_eq!(peer_of_did(id.did()).unwrap(), id.peer_id());
        assert_eq!(peer_of_did(&id.verification_method()).unwrap(), id.peer_id());
        assert_eq!(format!("{id:?}"), format!("Identity {{ did: {:?}, .. }}", id.did()));
        let kp = libp2p::identity::Keypair::ed25519_from_bytes([3; 32]).unwrap();
        assert_eq!(identity_of_keypair(&kp).unwrap().did(), id.did());
        assert_eq!(kp.public().to_peer_id(), id.peer_id());
        for bad in ["did:web:example.org", "did:key:zzzz", "did:key:z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW"] {
            assert!(matches!(public_of_did_key(bad), Err(VcError::BadDid(_))), "{bad}");
        }
    }
}

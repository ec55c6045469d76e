//! DID resolution for verification: `did:key` is resolved locally (the key is in the DID); `did:web` is
//! fetched over HTTPS (plain HTTP for localhost and private addresses, as `ssi` does), and kept for
//! [`WEB_TTL`]. A party can pin documents it already trusts (a node pins its hub's), so that verifying
//! needs no request at all.

use crate::ssi::dids::resolution::{Error as ResolutionError, Options, Output};
use crate::ssi::dids::{DIDMethod, DIDMethodResolver, DIDResolver, DIDWeb, VerificationMethodDIDResolver};
use crate::ssi::verification_methods::AnyMethod;
use crate::VcError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `did:key` for Ed25519 keys: the document is derived from the DID itself. (Agora derives it rather
/// than use `did-method-key`, which turns on serde_json's `arbitrary_precision` for every crate.)
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyMethod;

impl DIDMethod for KeyMethod {
    const DID_METHOD_NAME: &'static str = "key";
}

impl DIDMethodResolver for KeyMethod {
    async fn resolve_method_representation<'a>(
        &'a self,
        method_specific_id: &'a str,
        options: Options,
    ) -> Result<Output<Vec<u8>>, ResolutionError> {
        let did = format!("did:key:{method_specific_id}");
        crate::identity::public_of_did_key(&did)
            .map_err(|_| ResolutionError::InvalidMethodSpecificId(method_specific_id.to_string()))?;
        let (vm_type, context) = match options.parameters.public_key_format.as_deref() {
            None | Some("Multikey") => ("Multikey", "https://w3id.org/security/multikey/v1"),
            Some("Ed25519VerificationKey2020") => {
                ("Ed25519VerificationKey2020", "https://w3id.org/security/suites/ed25519-2020/v1")
            }
            Some(other) => {
                return Err(ResolutionError::Internal(format!("did:key key format `{other}` is not supported")))
            }
        };
        let vm = format!("{did}#{method_specific_id}");
        let doc = serde_json::json!({
            "@context": ["https://www.w3.org/ns/did/v1", context],
            "id": did,
            "verificationMethod": [{
                "id": vm,
                "type": vm_type,
                "controller": did,
                "publicKeyMultibase": method_specific_id,
            }],
            "authentication": [vm],
            "assertionMethod": [vm],
        });
        Ok(Output::from_content(
            serde_json::to_vec(&doc).expect("JSON serialises"),
            Some("application/did+ld+json".into()),
        ))
    }
}

/// How long a fetched `did:web` document is used before it is fetched again.
pub const WEB_TTL: Duration = Duration::from_secs(300);

/// A fetched document and when it was fetched.
type Fetched = (Instant, Vec<u8>);

/// `did:web` with pinned documents and a cache in front of `ssi`'s HTTP resolver.
#[derive(Clone, Default)]
pub struct WebMethod {
    pinned: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    cache: Arc<Mutex<HashMap<String, Fetched>>>,
}

impl DIDMethod for WebMethod {
    const DID_METHOD_NAME: &'static str = "web";
}

impl DIDMethodResolver for WebMethod {
    async fn resolve_method_representation<'a>(
        &'a self,
        method_specific_id: &'a str,
        options: Options,
    ) -> Result<Output<Vec<u8>>, ResolutionError> {
        let found = |doc: Vec<u8>| Ok(Output::from_content(doc, Some("application/did+json".into())));
        if let Some(doc) = self.pinned.lock().expect("pinned lock").get(method_specific_id) {
            return found(doc.clone());
        }
        if let Some((at, doc)) = self.cache.lock().expect("cache lock").get(method_specific_id) {
            if at.elapsed() < WEB_TTL {
                return found(doc.clone());
            }
        }
        let out = DIDWeb.resolve_method_representation(method_specific_id, options).await?;
        self.cache
            .lock()
            .expect("cache lock")
            .insert(method_specific_id.to_string(), (Instant::now(), out.document.clone()));
        Ok(out)
    }
}

/// The resolver every Agora verifier uses.
#[derive(Clone, Default)]
pub struct Resolver {
    web: WebMethod,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}

/// The `ssi` resolver type behind [`Resolver`].
pub(crate) type VmResolver = VerificationMethodDIDResolver<(KeyMethod, WebMethod), AnyMethod>;

impl Resolver {
    /// A resolver with no pinned documents.
    pub fn new() -> Resolver {
        Resolver::default()
    }

    /// Pins the document of a `did:web` DID: it is used instead of fetching.
    pub fn pin(&self, did: &str, document: &serde_json::Value) -> Result<(), VcError> {
        let id = did
            .strip_prefix("did:web:")
            .ok_or_else(|| VcError::BadDid(format!("only did:web documents are pinned, not `{did}`")))?;
        let bytes = serde_json::to_vec(document).expect("JSON serialises");
        self.web.pinned.lock().expect("pinned lock").insert(id.to_string(), bytes);
        Ok(())
    }

    pub(crate) fn vm_resolver(&self) -> VmResolver {
        VerificationMethodDIDResolver::new((KeyMethod, self.web.clone()))
    }

    /// Resolves a DID to its document, with a clear error when it cannot be.
    pub async fn resolve(&self, did: &str) -> Result<serde_json::Value, VcError> {
        let did = did.split('#').next().unwrap_or(did);
        let unresolvable = |detail: String| VcError::Unresolvable { did: crate::identity::truncate(did), detail };
        let parsed = crate::ssi::dids::DID::new(did)
            .map_err(|_| VcError::BadDid(format!("`{}` is not a DID", crate::identity::truncate(did))))?;
        let methods = (KeyMethod, self.web.clone());
        let out = methods.resolve(parsed).await.map_err(|e| unresolvable(e.to_string()))?;
        serde_json::to_value(out.document.document()).map_err(|e| unresolvable(e.to_string()))
    }
}

/// The `did:web` DID document of a party: its Ed25519 key as a Multikey, for assertions (issuing) and
/// authentication (presenting).
pub fn did_web_document(did: &str, public: &[u8; 32]) -> serde_json::Value {
    let multikey = crate::identity::did_key(public).trim_start_matches("did:key:").to_string();
    let vm = format!("{did}#key-1");
    serde_json::json!({
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "verificationMethod": [{
            "id": vm,
            "type": "Multikey",
            "controller": did,
            "publicKeyMultibase": multikey,
        }],
        "assertionMethod": [vm],
        "authentication": [vm],
    })
}

/// The `did:web` DID of a host (and port): `did:web:127.0.0.1%3A8080`.
pub fn did_web_of_host(host_and_port: &str) -> String {
    format!("did:web:{}", host_and_port.replace(':', "%3A"))
}

// Interop with Digital Bazaar's VC stack: `verify FILE` checks a credential Agora issued;
// `issue OUT HOLDER_DID` issues one (with a fresh did:key) for Agora to verify.
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022CryptoSuite} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {CachedResolver} from '@digitalbazaar/did-io';
import {driver} from '@digitalbazaar/did-method-key';
import {JsonLdDocumentLoader} from 'jsonld-document-loader';
import {contexts as vcContexts} from '@digitalbazaar/credentials-context';
import {contexts as didContexts} from 'did-context';
import fs from 'node:fs';

const AGORA_V1 = 'https://w3id.org/agora/v1';
const MULTIKEY_V1 = 'https://w3id.org/security/multikey/v1';

function loader(agoraContextPath, multikeyContextPath) {
  const didKeyDriver = driver();
  didKeyDriver.use({multibaseMultikeyHeader: 'z6Mk', fromMultibase: Ed25519Multikey.from});
  const resolver = new CachedResolver();
  resolver.use(didKeyDriver);
  const l = new JsonLdDocumentLoader();
  l.addDocuments({documents: [...vcContexts, ...didContexts]});
  l.addStatic(AGORA_V1, JSON.parse(fs.readFileSync(agoraContextPath, 'utf8')));
  l.addStatic(MULTIKEY_V1, JSON.parse(fs.readFileSync(multikeyContextPath, 'utf8')));
  l.setDidResolver(resolver);
  return l.build();
}

const [cmd, file, agoraCtx, multikeyCtx, holder] = process.argv.slice(2);
const documentLoader = loader(agoraCtx, multikeyCtx);
if (cmd === 'verify') {
  const credential = JSON.parse(fs.readFileSync(file, 'utf8'));
  const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022CryptoSuite});
  const result = await vc.verifyCredential({credential, suite, documentLoader, checkStatus: async () => ({verified: true})});
  if (!result.verified) {
    console.error(JSON.stringify(result, (k, v) => v instanceof Error ? {message: v.message, stack: undefined} : v, 2));
    process.exit(1);
  }
  console.log('verified');
} else if (cmd === 'issue') {
  const keyPair = await Ed25519Multikey.generate();
  keyPair.controller = `did:key:${keyPair.publicKeyMultibase}`;
  keyPair.id = `${keyPair.controller}#${keyPair.publicKeyMultibase}`;
  const credential = {
    '@context': ['https://www.w3.org/ns/credentials/v2', AGORA_V1],
    id: 'urn:uuid:0b8a6e86-3f0d-4a0e-9a2b-7f1c3c2d9e11',
    type: ['VerifiableCredential', 'ResearcherCredential'],
    issuer: keyPair.controller,
    validFrom: new Date(Date.now() - 60000).toISOString().replace(/\.\d+Z$/, 'Z'),
    credentialSubject: {id: holder, name: 'Grace Hopper', institution: 'Interop University', purposes: ['study-7']}
  };
  const suite = new DataIntegrityProof({signer: keyPair.signer(), cryptosuite: eddsaRdfc2022CryptoSuite});
  const signed = await vc.issue({credential, suite, documentLoader});
  fs.writeFileSync(file, JSON.stringify(signed, null, 2));
  console.log(keyPair.controller);
} else {
  console.error('usage: interop.mjs verify FILE CTX MKCTX | issue OUT CTX MKCTX HOLDER');
  process.exit(2);
}

#!/usr/bin/env node
// Independent verifier of a DSSE envelope holding an in-toto Statement v1, with @sigstore/verify.
//
//   node tests/attest/verify-sigstore.mjs ENVELOPE.json PUBLIC_KEY.pem [ROOT]
//
// With ROOT, each subject is also matched as in-toto verification does: the file ROOT/NAME must
// exist and have the subject's sha256 (a name that is absolute or has `..` is refused).
// @sigstore/verify verifies Sigstore bundles, so the envelope is wrapped, unchanged, in a v0.3
// bundle whose verification material is a public-key hint (no certificate, no transparency-log
// entry, no timestamp), and the trust material is "public-key trust": one key, the one given,
// registered under its key id, the lowercase hex SHA-256 of its DER SubjectPublicKeyInfo. The
// bundle's hint is the keyid the envelope's signature names, so the library itself looks the key
// up by that id: a signature naming another keyid finds no key and fails.
//
// Exit 0 with one JSON line on stdout when the signature verifies and the verified payload is an
// in-toto Statement v1; exit 1 with one line on stderr when it does not; exit 2 on a usage or
// input error (unreadable file, a PEM that is not an Ed25519 or ECDSA P-256 public key).
// Offline: nothing here reaches the network.
import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { bundleFromJSON } from '@sigstore/bundle';
import { PublicKey, TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';

const STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
const BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';
// The same alphabet and padding rules as securesystemslib's decoder (standard or URL-safe,
// padded): Buffer's own base64 decoder skips characters it does not know, which would let a
// garbled envelope decode to bytes nobody signed.
const BASE64 = /^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}==|[A-Za-z0-9+/_-]{3}=)?$/;

const here = dirname(fileURLToPath(import.meta.url));

function usage(msg) {
  process.stderr.write(`verify-sigstore: ${msg}\n`);
  process.exit(2);
}

function reject(msg) {
  process.stderr.write(`verify-sigstore: not verified: ${msg}\n`);
  process.exit(1);
}

function oneLine(s) {
  return String(s).replace(/\s+/g, ' ').trim();
}

function verifierVersion() {
  const pkg = JSON.parse(readFileSync(join(here, 'node_modules/@sigstore/verify/package.json'), 'utf8'));
  return `@sigstore/verify ${pkg.version}`;
}

function loadKey(path) {
  let pem;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (e) {
    usage(`cannot read public key ${path}: ${oneLine(e.message)}`);
  }
  if (!pem.includes('-----BEGIN PUBLIC KEY-----')) {
    usage(`${path} is not a PEM public key (SubjectPublicKeyInfo, "BEGIN PUBLIC KEY")`);
  }
  let key;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (e) {
    usage(`cannot parse public key ${path}: ${oneLine(e.message)}`);
  }
  let keyDetails;
  if (key.asymmetricKeyType === 'ed25519') {
    keyDetails = 'PKIX_ED25519';
  } else if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    keyDetails = 'PKIX_ECDSA_P256_SHA_256';
  } else {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    usage(`unsupported public key type ${key.asymmetricKeyType}${curve ? ` (${curve})` : ''}: Ed25519 or ECDSA P-256 only`);
  }
  const der = key.export({ type: 'spki', format: 'der' });
  const keyid = createHash('sha256').update(der).digest('hex');
  return { der, keyid, keyDetails };
}

function readEnvelope(path) {
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    usage(`cannot read envelope ${path}: ${oneLine(e.message)}`);
  }
  let env;
  try {
    env = JSON.parse(text);
  } catch (e) {
    reject(`malformed envelope: not JSON (${oneLine(e.message)})`);
  }
  if (env === null || typeof env !== 'object' || Array.isArray(env)) {
    reject('malformed envelope: not a JSON object');
  }
  if (typeof env.payload !== 'string' || !BASE64.test(env.payload)) {
    reject('malformed envelope: payload is not a base64 string');
  }
  if (typeof env.payloadType !== 'string') {
    reject('malformed envelope: payloadType is not a string');
  }
  if (!Array.isArray(env.signatures) || env.signatures.length === 0) {
    reject('malformed envelope: no signatures');
  }
  for (const s of env.signatures) {
    if (s === null || typeof s !== 'object' || typeof s.sig !== 'string' || !BASE64.test(s.sig)) {
      reject('malformed envelope: a signature has no base64 sig');
    }
    if (s.keyid !== undefined && typeof s.keyid !== 'string') {
      reject('malformed envelope: a signature keyid is not a string');
    }
  }
  return env;
}

// Checked only after the signature verified, on the bytes that were verified.
function statementSummary(payloadType, payload) {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    reject(`signature verified, but payloadType is ${JSON.stringify(payloadType)}, not ${IN_TOTO_PAYLOAD_TYPE}`);
  }
  let st;
  try {
    // fatal: invalid UTF-8 is rejected, never replaced by U+FFFD (which could match another name)
    st = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch (e) {
    reject(`signature verified, but the payload is not an in-toto Statement v1: not JSON (${oneLine(e.message)})`);
  }
  const notStatement = (why) => reject(`signature verified, but the payload is not an in-toto Statement v1: ${why}`);
  if (st === null || typeof st !== 'object' || Array.isArray(st)) notStatement('not a JSON object');
  if (st._type !== STATEMENT_V1) notStatement(`_type is ${JSON.stringify(st._type)}`);
  if (typeof st.predicateType !== 'string' || st.predicateType === '') notStatement('no predicateType');
  if (!Array.isArray(st.subject) || st.subject.length === 0) notStatement('no subject');
  for (const s of st.subject) {
    if (s === null || typeof s !== 'object' || Array.isArray(s)) notStatement('a subject is not an object');
    if (s.digest === null || typeof s.digest !== 'object' || Array.isArray(s.digest) || Object.keys(s.digest).length === 0) {
      notStatement('a subject has no digest');
    }
    if (s.name !== undefined && typeof s.name !== 'string') notStatement('a subject name is not a string');
  }
  return { predicateType: st.predicateType, subjects: st.subject };
}

// Each subject's file under ROOT has its sha256.
function matchSubjects(root, subjects) {
  for (const s of subjects) {
    const name = s.name;
    const want = s.digest.sha256;
    const others = Object.keys(s.digest).filter((k) => k !== 'sha256');
    if (others.length > 0) reject(`subject ${name}: digest ${others.join(', ')} is not checked here (sha256 only)`);
    if (typeof name !== 'string' || isAbsolute(name) || name.split('/').includes('..')) {
      reject(`subject ${JSON.stringify(name)}: not a name relative to ${root}`);
    }
    if (typeof want !== 'string') reject(`subject ${name}: no sha256 digest`);
    let got;
    try {
      got = createHash('sha256').update(readFileSync(join(root, name))).digest('hex');
    } catch (e) {
      reject(`subject ${name}: ${oneLine(e.message)}`);
    }
    if (got !== want) reject(`subject ${name}: sha256 is ${got}, the statement says ${want}`);
  }
}

function main() {
  const args = process.argv.slice(2);
  if (args.length < 2 || args.length > 3 || args[0].startsWith('-')) {
    usage('usage: node verify-sigstore.mjs ENVELOPE.json PUBLIC_KEY.pem [ROOT]');
  }
  const [envelopePath, keyPath, root] = args;
  const key = loadKey(keyPath);
  const env = readEnvelope(envelopePath);
  const version = verifierVersion();

  // A DSSE bundle carries exactly one signature (@sigstore/bundle rejects any other count).
  const named = env.signatures.map((s) => s.keyid ?? '');
  const hint = named[0];
  let bundle;
  try {
    bundle = bundleFromJSON({
      mediaType: BUNDLE_V03,
      verificationMaterial: {
        publicKey: { hint },
        tlogEntries: [],
        timestampVerificationData: { rfc3161Timestamps: [] },
      },
      dsseEnvelope: env,
    });
  } catch (e) {
    const fields = Array.isArray(e.fields) ? ` (${e.fields.join(', ')})` : '';
    reject(`the envelope does not make a valid Sigstore bundle: ${oneLine(e.message)}${fields}; ${env.signatures.length} signature(s)`);
  }

  const trustedRoot = TrustedRoot.fromJSON({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  });
  const trusted = PublicKey.fromJSON({
    rawBytes: key.der.toString('base64'),
    keyDetails: key.keyDetails,
    validFor: { start: new Date(0).toISOString() },
  });
  const trustMaterial = toTrustMaterial(trustedRoot, { [key.keyid]: trusted });
  // No transparency log, no certificate transparency, no timestamps: the key alone is trusted.
  const verifier = new Verifier(trustMaterial, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });

  try {
    verifier.verify(toSignedEntity(bundle));
  } catch (e) {
    const lib = `[${version}: ${e.code ? `${e.code}: ` : ''}${oneLine(e.message)}]`;
    if (!named.includes(key.keyid)) {
      reject(`no signature in the envelope has keyid ${key.keyid} (the key's id); the envelope's keyids: ${named.map((k) => JSON.stringify(k)).join(', ')} ${lib}`);
    }
    reject(`the signature with keyid ${key.keyid} does not verify ${lib}`);
  }

  const verified = bundle.content.dsseEnvelope;
  const summary = statementSummary(verified.payloadType, verified.payload);
  if (root !== undefined) matchSubjects(root, summary.subjects);
  process.stdout.write(
    `${JSON.stringify({
      verified: true,
      verifier: version,
      payloadType: verified.payloadType,
      predicateType: summary.predicateType,
      subjects: summary.subjects.map((x) => (x.name === undefined ? null : x.name)),
    })}\n`,
  );
}

main();

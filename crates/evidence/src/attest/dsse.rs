//! DSSE (Dead Simple Signing Envelope, v1): the pre-authentication encoding every signature
//! covers, and sealing and opening an envelope with a key of [`super::keys`].
//! <https://github.com/secure-systems-lab/dsse/blob/master/protocol.md>

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use assay_contracts::attestation::{Envelope, Signature};

use super::keys::{KeyError, SigningKey, VerifyingKey};

/// `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths as ASCII
/// decimal byte counts.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// Signs `payload` of `payload_type` into an envelope with one signature carrying the key's id.
pub fn seal(payload_type: &str, payload: &[u8], key: &SigningKey) -> Result<Envelope, KeyError> {
    let keyid = key.verifying_key().keyid()?;
    let sig = key.sign(&pae(payload_type, payload));
    Ok(Envelope {
        payload: STANDARD.encode(payload),
        payload_type: payload_type.to_string(),
        signatures: vec![Signature {
            keyid,
            sig: STANDARD.encode(sig),
        }],
    })
}

/// Why an envelope does not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("payloadType is {found:?}, expected {expected:?}")]
    PayloadType { found: String, expected: String },
    #[error("payload is not base64: {0}")]
    Payload(String),
    #[error("no signature carries the key id {0} (the given public key's)")]
    NoSignatureForKey(String),
    #[error(
        "the signature with key id {0} does not verify: the payload or its type changed, or another key signed it"
    )]
    BadSignature(String),
    #[error("the given key: {0}")]
    Key(String),
    #[error("more than one signature carries the key id {0}")]
    DuplicateKeyId(String),
}

/// The payload of an envelope whose `payload_type` is `expected` and that carries a valid
/// signature by `key` (a signature with the key's id; signatures of other keys are ignored).
pub fn open(env: &Envelope, expected: &str, key: &VerifyingKey) -> Result<Vec<u8>, OpenError> {
    if env.payload_type != expected {
        return Err(OpenError::PayloadType {
            found: env.payload_type.clone(),
            expected: expected.to_string(),
        });
    }
    let payload = STANDARD
        .decode(env.payload.as_bytes())
        .map_err(|e| OpenError::Payload(e.to_string()))?;
    let keyid = key.keyid().map_err(|e| OpenError::Key(e.to_string()))?;
    let mine: Vec<&Signature> = env.signatures.iter().filter(|s| s.keyid == keyid).collect();
    if mine.is_empty() {
        return Err(OpenError::NoSignatureForKey(keyid));
    }
    if mine.len() > 1 {
        // one signature per key, as securesystemslib holds: never "any of them"
        return Err(OpenError::DuplicateKeyId(keyid));
    }
    let msg = pae(&env.payload_type, &payload);
    let ok = mine.iter().any(|s| {
        STANDARD
            .decode(s.sig.as_bytes())
            .is_ok_and(|sig| key.verify(&msg, &sig))
    });
    if ok {
        Ok(payload)
    } else {
        Err(OpenError::BadSignature(keyid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::keys::tests::ED25519_PEM;

    #[test]
    fn pae_is_the_specs() {
        // The DSSE protocol's example: PAE("http://example.com/HelloWorld", "hello world").
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    #[test]
    fn sealed_opens_and_every_tampering_is_refused() {
        let k = SigningKey::from_pem("k", ED25519_PEM).unwrap();
        let v = k.verifying_key();
        let env = seal("application/x", b"{\"a\":1}", &k).unwrap();
        assert_eq!(open(&env, "application/x", &v).unwrap(), b"{\"a\":1}");

        let mut t = env.clone();
        t.payload = STANDARD.encode(b"{\"a\":2}");
        assert!(matches!(
            open(&t, "application/x", &v),
            Err(OpenError::BadSignature(_))
        ));

        let mut t = env.clone();
        t.payload_type = "application/y".into();
        assert!(matches!(
            open(&t, "application/y", &v),
            Err(OpenError::BadSignature(_))
        ));
        assert!(matches!(
            open(&t, "application/x", &v),
            Err(OpenError::PayloadType { .. })
        ));

        let mut t = env.clone();
        t.signatures[0].keyid = "00".repeat(32);
        assert!(matches!(
            open(&t, "application/x", &v),
            Err(OpenError::NoSignatureForKey(_))
        ));

        let other = p256::SecretKey::from_slice(&[9u8; 32]).unwrap();
        let pem = p256::pkcs8::EncodePrivateKey::to_pkcs8_pem(&other, Default::default()).unwrap();
        let w = VerifyingKey::from_pem("w", &pem).unwrap();
        assert!(matches!(
            open(&env, "application/x", &w),
            Err(OpenError::NoSignatureForKey(_))
        ));
        // two signatures with the key's id: refused, whichever verifies
        let mut t = env.clone();
        t.signatures.insert(
            0,
            Signature {
                keyid: t.signatures[0].keyid.clone(),
                sig: STANDARD.encode([0u8; 64]),
            },
        );
        assert!(matches!(
            open(&t, "application/x", &v),
            Err(OpenError::DuplicateKeyId(_))
        ));
        // a signature claiming the other key's id is still not the other key's signature
        let mut t = env.clone();
        t.signatures[0].keyid = w.keyid().unwrap();
        assert!(matches!(
            open(&t, "application/x", &w),
            Err(OpenError::BadSignature(_))
        ));
    }
}

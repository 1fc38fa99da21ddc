//! Signing and verification keys of attestations: Ed25519 or ECDSA P-256 (SHA-256), read from
//! PEM — a private key as PKCS#8 (`PRIVATE KEY`) or, for P-256, SEC1 (`EC PRIVATE KEY`); a public
//! key as SubjectPublicKeyInfo (`PUBLIC KEY`). A key's id is the lowercase hex SHA-256 of its
//! public key's DER SubjectPublicKeyInfo, so any verifier can compute it from the public key.

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use p256::ecdsa::signature::{Signer, Verifier};
use sha2::{Digest, Sha256};

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "{0}: not a PEM key this tool signs with (expected `-----BEGIN PRIVATE KEY-----` holding Ed25519 or ECDSA P-256 PKCS#8, or `-----BEGIN EC PRIVATE KEY-----` holding P-256)"
    )]
    NotPrivate(String),
    #[error(
        "{0}: not a PEM public key this tool verifies with (expected `-----BEGIN PUBLIC KEY-----` holding an Ed25519 or ECDSA P-256 SubjectPublicKeyInfo, or a private key of those kinds)"
    )]
    NotPublic(String),
    #[error("{0}: cannot encode the public key: {1}")]
    Encode(String, String),
}

/// A private key.
pub enum SigningKey {
    /// Ed25519 (RFC 8032).
    Ed25519(Box<ed25519_dalek::SigningKey>),
    /// ECDSA over NIST P-256 with SHA-256.
    P256(Box<p256::ecdsa::SigningKey>),
}

/// A public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyingKey {
    /// Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// ECDSA P-256 with SHA-256.
    P256(p256::ecdsa::VerifyingKey),
}

impl SigningKey {
    /// Reads a private key from PEM text; `name` names it in errors.
    pub fn from_pem(name: &str, pem: &str) -> Result<SigningKey, KeyError> {
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            return Ok(SigningKey::Ed25519(Box::new(k)));
        }
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            return Ok(SigningKey::P256(Box::new(k)));
        }
        if let Ok(k) = p256::SecretKey::from_sec1_pem(pem) {
            return Ok(SigningKey::P256(Box::new(k.into())));
        }
        Err(KeyError::NotPrivate(name.to_string()))
    }

    /// Its public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        match self {
            SigningKey::Ed25519(k) => VerifyingKey::Ed25519(k.verifying_key()),
            SigningKey::P256(k) => VerifyingKey::P256(*k.verifying_key()),
        }
    }

    /// Signs `msg`: Ed25519's 64 bytes, or an ASN.1 DER ECDSA signature.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            SigningKey::Ed25519(k) => k.sign(msg).to_bytes().to_vec(),
            SigningKey::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(msg);
                sig.to_der().as_bytes().to_vec()
            }
        }
    }
}

impl VerifyingKey {
    /// Reads a public key (or the public half of a private key) from PEM text.
    pub fn from_pem(name: &str, pem: &str) -> Result<VerifyingKey, KeyError> {
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
            return Ok(VerifyingKey::Ed25519(k));
        }
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            return Ok(VerifyingKey::P256(k));
        }
        SigningKey::from_pem(name, pem)
            .map(|k| k.verifying_key())
            .map_err(|_| KeyError::NotPublic(name.to_string()))
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Result<Vec<u8>, KeyError> {
        let der = match self {
            VerifyingKey::Ed25519(k) => k.to_public_key_der(),
            VerifyingKey::P256(k) => k.to_public_key_der(),
        };
        der.map(|d| d.as_bytes().to_vec())
            .map_err(|e| KeyError::Encode(self.kind().to_string(), e.to_string()))
    }

    /// The key id: lowercase hex SHA-256 of [`VerifyingKey::spki_der`].
    pub fn keyid(&self) -> Result<String, KeyError> {
        Ok(hex::encode(Sha256::digest(self.spki_der()?)))
    }

    /// `ed25519` or `ecdsa-p256-sha256`.
    pub fn kind(&self) -> &'static str {
        match self {
            VerifyingKey::Ed25519(_) => "ed25519",
            VerifyingKey::P256(_) => "ecdsa-p256-sha256",
        }
    }

    /// Whether `sig` is this key's signature of `msg` (Ed25519 verified strictly; ECDSA as
    /// ASN.1 DER).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self {
            VerifyingKey::Ed25519(k) => ed25519_dalek::Signature::from_slice(sig)
                .is_ok_and(|s| k.verify_strict(msg, &s).is_ok()),
            VerifyingKey::P256(k) => {
                p256::ecdsa::Signature::from_der(sig).is_ok_and(|s| k.verify(msg, &s).is_ok())
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `openssl genpkey -algorithm ed25519` (a test key, never a real one).
    pub(crate) const ED25519_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIN2Goiwfo6JtCb1FdWLhkVWFqnYfMwmflW34MUXgTkGj\n-----END PRIVATE KEY-----\n";

    #[test]
    fn ed25519_signs_and_verifies_and_names_its_key() {
        let k = SigningKey::from_pem("k.pem", ED25519_PEM).unwrap();
        let v = k.verifying_key();
        let sig = k.sign(b"msg");
        assert!(v.verify(b"msg", &sig));
        assert!(!v.verify(b"msG", &sig));
        assert_eq!(v.keyid().unwrap().len(), 64);
        assert_eq!(v.kind(), "ed25519");
    }

    #[test]
    fn p256_signs_der_and_verifies() {
        let sk = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
        let pem = p256::pkcs8::EncodePrivateKey::to_pkcs8_pem(&sk, Default::default()).unwrap();
        let k = SigningKey::from_pem("p.pem", &pem).unwrap();
        let sig = k.sign(b"msg");
        assert_eq!(sig[0], 0x30, "ASN.1 DER sequence");
        let v = VerifyingKey::from_pem("p.pem", &pem).unwrap();
        assert!(v.verify(b"msg", &sig));
        assert!(!v.verify(b"other", &sig));
        let sec1 = sk.to_sec1_pem(Default::default()).unwrap();
        assert_eq!(
            SigningKey::from_pem("s.pem", &sec1)
                .unwrap()
                .verifying_key(),
            v
        );
    }

    #[test]
    fn other_text_is_refused_with_its_name() {
        let e = SigningKey::from_pem("notes.txt", "hello").err().unwrap();
        assert!(e.to_string().starts_with("notes.txt: not a PEM key"), "{e}");
        let e = VerifyingKey::from_pem(
            "pub.pem",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        )
        .err()
        .unwrap();
        assert!(
            e.to_string().starts_with("pub.pem: not a PEM public key"),
            "{e}"
        );
    }
}

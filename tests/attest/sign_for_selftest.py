"""Test-only DSSE signer for selftest.sh (not a verifier, and not what `assay-runner attest` uses).

    sign_for_selftest.py PRIVATE_KEY.pem PAYLOAD_FILE OUT.json [--payload-type T] [--keyid K]

Signs PAE(payloadType, payload) with a PKCS#8 PEM private key, Ed25519 or ECDSA P-256 (SHA-256,
DER-encoded signature), straight with `cryptography`, and writes the DSSE envelope. The keyid is
the lowercase hex SHA-256 of the public key's DER SubjectPublicKeyInfo unless --keyid is given.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json

from cryptography.hazmat.primitives.asymmetric.ec import ECDSA, SECP256R1, EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key


def pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(t), t, len(payload), payload)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("private_key")
    ap.add_argument("payload")
    ap.add_argument("out")
    ap.add_argument("--payload-type", default="application/vnd.in-toto+json")
    ap.add_argument("--keyid")
    a = ap.parse_args()

    with open(a.private_key, "rb") as f:
        key = load_pem_private_key(f.read(), password=None)
    with open(a.payload, "rb") as f:
        payload = f.read()

    message = pae(a.payload_type, payload)
    if isinstance(key, Ed25519PrivateKey):
        sig = key.sign(message)
    elif isinstance(key, EllipticCurvePrivateKey) and isinstance(key.curve, SECP256R1):
        sig = key.sign(message, ECDSA(SHA256()))
    else:
        raise SystemExit(f"unsupported private key {type(key).__name__}")

    spki = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    keyid = a.keyid if a.keyid is not None else hashlib.sha256(spki).hexdigest()
    envelope = {
        "payload": base64.b64encode(payload).decode("ascii"),
        "payloadType": a.payload_type,
        "signatures": [{"keyid": keyid, "sig": base64.b64encode(sig).decode("ascii")}],
    }
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(envelope, f)
        f.write("\n")


if __name__ == "__main__":
    main()

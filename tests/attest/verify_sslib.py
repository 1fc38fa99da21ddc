"""Independent verifier of a DSSE envelope holding an in-toto Statement v1, with securesystemslib.

    tests/attest/.venv/bin/python tests/attest/verify_sslib.py ENVELOPE.json PUBLIC_KEY.pem [ROOT]

With ROOT, each subject is also matched as in-toto verification does: the file ROOT/NAME must
exist and have the subject's sha256 (a name that is absolute or has `..` is refused).

securesystemslib.dsse.Envelope verifies the envelope (threshold 1) against one SSlibKey: the
public key given, with key id the lowercase hex SHA-256 of its DER SubjectPublicKeyInfo.
securesystemslib only tries a key on a signature whose keyid equals the key's id, so a signature
naming another keyid does not verify. Ed25519 (scheme ed25519) and ECDSA P-256 with SHA-256
(scheme ecdsa-sha2-nistp256, DER-encoded signatures) are accepted.

Exit 0 with one JSON line on stdout when a signature verifies and the verified payload is an
in-toto Statement v1; exit 1 with one line on stderr when it does not; exit 2 on a usage or input
error (unreadable file, a PEM that is not an Ed25519 or ECDSA P-256 public key). Offline.
"""

from __future__ import annotations

import hashlib
import json
import sys
from importlib.metadata import version as dist_version

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


def _one_line(s: object) -> str:
    return " ".join(str(s).split())


def usage(msg: str) -> None:
    print(f"verify_sslib: {msg}", file=sys.stderr)
    sys.exit(2)


def reject(msg: str) -> None:
    print(f"verify_sslib: not verified: {msg}", file=sys.stderr)
    sys.exit(1)


def load_key(path: str):
    from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_public_key,
    )
    from securesystemslib.signer import SSlibKey

    try:
        with open(path, "rb") as f:
            pem = f.read()
    except OSError as e:
        usage(f"cannot read public key {path}: {_one_line(e)}")
    try:
        public_key = load_pem_public_key(pem)
    except (ValueError, TypeError) as e:
        usage(f"{path} is not a PEM public key (SubjectPublicKeyInfo): {_one_line(e)}")

    if isinstance(public_key, Ed25519PublicKey):
        scheme = "ed25519"
    elif isinstance(public_key, EllipticCurvePublicKey) and isinstance(public_key.curve, SECP256R1):
        scheme = "ecdsa-sha2-nistp256"
    else:
        kind = type(public_key).__name__
        if isinstance(public_key, EllipticCurvePublicKey):
            kind += f" ({public_key.curve.name})"
        usage(f"unsupported public key type {kind}: Ed25519 or ECDSA P-256 only")

    der = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    keyid = hashlib.sha256(der).hexdigest()
    return SSlibKey.from_crypto(public_key, keyid=keyid, scheme=scheme), keyid


def read_envelope(path: str):
    from securesystemslib.dsse import Envelope

    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        usage(f"cannot read envelope {path}: {_one_line(e)}")
    try:
        data = json.loads(raw)
    except ValueError as e:
        reject(f"malformed envelope: not JSON ({_one_line(e)})")
    if not isinstance(data, dict):
        reject("malformed envelope: not a JSON object")
    if not isinstance(data.get("payload"), str):
        reject("malformed envelope: payload is not a string")
    if not isinstance(data.get("payloadType"), str):
        reject("malformed envelope: payloadType is not a string")
    sigs = data.get("signatures")
    if not isinstance(sigs, list) or not sigs:
        reject("malformed envelope: no signatures")
    for s in sigs:
        if not isinstance(s, dict) or not isinstance(s.get("sig"), str):
            reject("malformed envelope: a signature has no sig string")
        if not isinstance(s.get("keyid", ""), str):
            reject("malformed envelope: a signature keyid is not a string")
    named = [s.get("keyid", "") for s in sigs]
    try:
        return Envelope.from_dict(data), named
    except Exception as e:  # the library's own parse: base64, signature fields, duplicate keyids
        reject(f"malformed envelope: {type(e).__name__}: {_one_line(e)}")


def statement_summary(payload_type: str, payload: bytes) -> dict:
    """Checked only after the signature verified, on the bytes that were verified."""
    if payload_type != IN_TOTO_PAYLOAD_TYPE:
        reject(
            f"signature verified, but payloadType is {json.dumps(payload_type)}, not {IN_TOTO_PAYLOAD_TYPE}"
        )

    def not_statement(why: str) -> None:
        reject(f"signature verified, but the payload is not an in-toto Statement v1: {why}")

    try:
        st = json.loads(payload.decode("utf-8"))
    except ValueError as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        not_statement(f"not JSON ({_one_line(e)})")
    if not isinstance(st, dict):
        not_statement("not a JSON object")
    if st.get("_type") != STATEMENT_V1:
        not_statement(f"_type is {json.dumps(st.get('_type'))}")
    if not isinstance(st.get("predicateType"), str) or not st["predicateType"]:
        not_statement("no predicateType")
    subjects = st.get("subject")
    if not isinstance(subjects, list) or not subjects:
        not_statement("no subject")
    for s in subjects:
        if not isinstance(s, dict):
            not_statement("a subject is not an object")
        if not isinstance(s.get("digest"), dict) or not s["digest"]:
            not_statement("a subject has no digest")
        if "name" in s and not isinstance(s["name"], str):
            not_statement("a subject name is not a string")
    return {"predicateType": st["predicateType"], "subjects": subjects}


def match_subjects(root: str, subjects: list) -> None:
    """Each subject's file under ROOT has its sha256."""
    import os

    for s in subjects:
        name = s.get("name")
        want = s["digest"].get("sha256")
        others = sorted(k for k in s["digest"] if k != "sha256")
        if others:
            reject(f"subject {name}: digest {', '.join(others)} is not checked here (sha256 only)")
        if not isinstance(name, str) or os.path.isabs(name) or ".." in name.split("/"):
            reject(f"subject {json.dumps(name)}: not a name relative to {root}")
        if not isinstance(want, str):
            reject(f"subject {name}: no sha256 digest")
        try:
            with open(os.path.join(root, name), "rb") as f:
                got = hashlib.sha256(f.read()).hexdigest()
        except OSError as e:
            reject(f"subject {name}: {_one_line(e)}")
        if got != want:
            reject(f"subject {name}: sha256 is {got}, the statement says {want}")


def main(argv: list[str]) -> None:
    if len(argv) not in (2, 3) or argv[0].startswith("-"):
        usage("usage: verify_sslib.py ENVELOPE.json PUBLIC_KEY.pem [ROOT]")
    envelope_path, key_path = argv[:2]
    key, keyid = load_key(key_path)
    envelope, named = read_envelope(envelope_path)
    verifier = f"securesystemslib {dist_version('securesystemslib')}"

    from securesystemslib.exceptions import UnverifiedSignatureError

    try:
        envelope.verify([key], 1)
    except UnverifiedSignatureError as e:  # VerificationError is a subclass in securesystemslib 1.x
        lib = f"[{verifier}: {type(e).__name__}: {_one_line(e)}]"
        if keyid not in named:
            keyids = ", ".join(json.dumps(k) for k in named)
            reject(f"no signature in the envelope has keyid {keyid} (the key's id); the envelope's keyids: {keyids} {lib}")
        reject(f"the signature with keyid {keyid} does not verify {lib}")

    summary = statement_summary(envelope.payload_type, envelope.payload)
    if len(argv) == 3:
        match_subjects(argv[2], summary["subjects"])
    print(
        json.dumps(
            {
                "verified": True,
                "verifier": verifier,
                "payloadType": envelope.payload_type,
                "predicateType": summary["predicateType"],
                "subjects": [s.get("name") for s in summary["subjects"]],
            },
            separators=(",", ":"),
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])

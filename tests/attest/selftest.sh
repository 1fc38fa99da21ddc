#!/usr/bin/env bash
# Self-test of the two independent DSSE verifiers (verify_sslib.py, verify-sigstore.mjs): keys made
# with openssl (Ed25519 and ECDSA P-256), a sample in-toto Statement signed by a small test-only
# signer (sign_for_selftest.py, pyca/cryptography from the venv), then, for each verifier and key
# type, the envelope must verify and every tampered or mis-keyed variant must be rejected for the
# expected reason (the reason is printed). Exits non-zero on any unexpected result.
#
# Needs what scripts/setup installs: tests/attest/.venv and tests/attest/node_modules. Offline.
set -euo pipefail
cd "$(dirname "$0")/../.."

PY=tests/attest/.venv/bin/python
[ -x "$PY" ] || { echo "selftest: $PY is missing (run scripts/setup)" >&2; exit 2; }
[ -d tests/attest/node_modules/@sigstore/verify ] \
  || { echo "selftest: tests/attest/node_modules is missing (run scripts/setup)" >&2; exit 2; }
command -v openssl >/dev/null 2>&1 || { echo "selftest: openssl is not installed" >&2; exit 2; }
command -v node >/dev/null 2>&1 || { echo "selftest: node is not installed" >&2; exit 2; }

T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok    $*"; }
fail() { failed=$((failed + 1)); echo "FAIL  $*"; }

# run VERIFIER ENVELOPE KEY: sets rc, out, err
run() {
  local v="$1"; shift
  rc=0
  case "$v" in
    sslib) "$PY" tests/attest/verify_sslib.py "$@" >"$T/out" 2>"$T/err" || rc=$? ;;
    sigstore) node tests/attest/verify-sigstore.mjs "$@" >"$T/out" 2>"$T/err" || rc=$? ;;
  esac
  out="$(cat "$T/out")"
  err="$(cat "$T/err")"
}

# expect_ok VERIFIER NAME ENVELOPE KEY: exit 0 and the JSON line describes the sample Statement
expect_ok() {
  local v="$1" name="$2"; shift 2
  run "$v" "$@"
  if [ "$rc" -eq 0 ] && [ -z "$err" ] && printf '%s' "$out" | "$PY" -c '
import json, sys
lines = sys.stdin.read().splitlines()
assert len(lines) == 1, lines
r = json.loads(lines[0])
want_verifier = {"sslib": "securesystemslib 1.6.", "sigstore": "@sigstore/verify 4.1."}[sys.argv[1]]
assert r["verified"] is True, r
assert r["verifier"].startswith(want_verifier), r
assert r["payloadType"] == "application/vnd.in-toto+json", r
assert r["predicateType"] == "https://assay-runner.dev/attest/selftest/v1", r
assert r["subjects"] == ["dist/app.tar.gz", "dist/app.sbom.json"], r
' "$v" 2>"$T/check"; then
    pass "$v $name: verified: $out"
  else
    fail "$v $name: expected to verify; exit $rc; stdout: $out; stderr: $err $(cat "$T/check")"
  fi
}

# expect_reject VERIFIER NAME PATTERN ENVELOPE KEY: exit 1, one stderr line matching PATTERN (ERE)
expect_reject() {
  local v="$1" name="$2" pattern="$3"; shift 3
  run "$v" "$@"
  if [ "$rc" -eq 1 ] && [ -z "$out" ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] \
     && printf '%s' "$err" | grep -Eq -- "$pattern"; then
    pass "$v $name: rejected: $err"
  else
    fail "$v $name: expected exit 1 with /$pattern/; exit $rc; stdout: $out; stderr: $err"
  fi
}

# expect_usage VERIFIER NAME ARGS...: exit 2, one stderr line
expect_usage() {
  local v="$1" name="$2"; shift 2
  run "$v" "$@"
  if [ "$rc" -eq 2 ] && [ -z "$out" ] && [ -n "$err" ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ]; then
    pass "$v $name: usage error: $err"
  else
    fail "$v $name: expected exit 2; exit $rc; stdout: $out; stderr: $err"
  fi
}

# Keys: PKCS#8 PEM private keys, SPKI PEM public keys.
genkey() { # genkey NAME openssl-genpkey-args...
  local n="$1"; shift
  openssl genpkey "$@" -out "$T/$n.key" 2>/dev/null
  openssl pkey -in "$T/$n.key" -pubout -out "$T/$n.pub" 2>/dev/null
}
ec=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve)
genkey ed25519 -algorithm ed25519
genkey ed25519-other -algorithm ed25519
genkey p256 "${ec[@]}"
genkey p256-other "${ec[@]}"
genkey p384 -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -pkeyopt ec_param_enc:named_curve
grep -q -- '-----BEGIN PRIVATE KEY-----' "$T/p256.key" || { echo "selftest: openssl did not write PKCS#8" >&2; exit 2; }

keyid_of() { # lowercase hex SHA-256 of the DER SubjectPublicKeyInfo
  openssl pkey -pubin -in "$1" -outform DER | sha256sum | cut -d' ' -f1
}

cat >"$T/statement.json" <<'EOF'
{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"dist/app.tar.gz","digest":{"sha256":"0f343b0931126a20f133d67c2b018a3b5e2ba0b4e0d2a1b3c4d5e6f708192a3b"}},{"name":"dist/app.sbom.json","digest":{"sha256":"9a1c3e5f7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a"}}],"predicateType":"https://assay-runner.dev/attest/selftest/v1","predicate":{"runner":"selftest","note":"caf\u00e9 \u2713"}}
EOF
sed 's#https://in-toto.io/Statement/v1#https://in-toto.io/Statement/v0.1#' "$T/statement.json" >"$T/statement-v01.json"
printf 'not json at all\n' >"$T/not-json.txt"

# Tampering, on the decoded envelope: the base64 is re-encoded canonically, so each variant
# differs from the original in exactly the one thing it names.
cat >"$T/tamper.py" <<'EOF'
import base64, json, sys
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
op, src, dst = sys.argv[1:4]
env = json.load(open(src))
if op == "flip-payload":
    p = bytearray(base64.b64decode(env["payload"]))
    p[len(p) // 2] ^= 0x01
    env["payload"] = base64.b64encode(bytes(p)).decode()
elif op == "payload-type":
    env["payloadType"] = sys.argv[4]
elif op == "keyid":
    env["signatures"][0]["keyid"] = sys.argv[4]
elif op == "p1363":  # ECDSA (r, s) as fixed-width r||s instead of DER
    r, s = decode_dss_signature(base64.b64decode(env["signatures"][0]["sig"]))
    env["signatures"][0]["sig"] = base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()
elif op == "garble-payload":  # a character outside the base64 alphabet
    p = env["payload"]
    env["payload"] = p[: len(p) // 2] + "!" + p[len(p) // 2 :]
elif op == "second-signature":
    env["signatures"].append(dict(env["signatures"][0]))
else:
    sys.exit(f"unknown op {op}")
json.dump(env, open(dst, "w"))
EOF
tamper() { "$PY" "$T/tamper.py" "$@"; }
sign() { "$PY" tests/attest/sign_for_selftest.py "$@"; }

BAD_SIG='does not verify'
NO_KEYID='no signature in the envelope has keyid'

for kt in ed25519 p256; do
  key="$T/$kt.key"; pub="$T/$kt.pub"; other="$T/$kt-other.pub"
  e="$T/$kt"
  sign "$key" "$T/statement.json" "$e.good.json"
  tamper flip-payload "$e.good.json" "$e.flipped.json"
  tamper payload-type "$e.good.json" "$e.ptype.json" application/json
  tamper keyid "$e.good.json" "$e.keyid.json" "$(printf '%064d' 0)"
  tamper keyid "$e.good.json" "$e.keyid-other.json" "$(keyid_of "$other")"
  tamper garble-payload "$e.good.json" "$e.garbled.json"
  sign "$key" "$T/statement.json" "$e.signed-ptype.json" --payload-type application/json
  sign "$key" "$T/statement-v01.json" "$e.v01.json"
  sign "$key" "$T/not-json.txt" "$e.notjson.json"
  [ "$kt" = p256 ] && tamper p1363 "$e.good.json" "$e.p1363.json"
  # the keyid rule is the verifiers' and the signer's alike: check it against openssl's DER
  [ "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["signatures"][0]["keyid"])' "$e.good.json")" = "$(keyid_of "$pub")" ] \
    && pass "signer $kt: keyid is sha256(SPKI DER) as openssl writes it" \
    || fail "signer $kt: keyid differs from sha256 of openssl's SPKI DER"

  for v in sslib sigstore; do
    expect_ok "$v" "$kt good" "$e.good.json" "$pub"
    expect_reject "$v" "$kt flipped payload byte" "$BAD_SIG" "$e.flipped.json" "$pub"
    expect_reject "$v" "$kt wrong public key" "$NO_KEYID" "$e.good.json" "$other"
    expect_reject "$v" "$kt wrong public key, keyid named for it" "$BAD_SIG" "$e.keyid-other.json" "$other"
    expect_reject "$v" "$kt changed payloadType" "$BAD_SIG" "$e.ptype.json" "$pub"
    expect_reject "$v" "$kt signature keyid differs" "$NO_KEYID" "$e.keyid.json" "$pub"
    expect_reject "$v" "$kt non-base64 payload" 'malformed envelope' "$e.garbled.json" "$pub"
    expect_reject "$v" "$kt signed, other payloadType" 'signature verified, but payloadType is "application/json"' \
      "$e.signed-ptype.json" "$pub"
    expect_reject "$v" "$kt signed, Statement v0.1" 'signature verified, but the payload is not an in-toto Statement v1: _type' \
      "$e.v01.json" "$pub"
    expect_reject "$v" "$kt signed, payload not JSON" 'signature verified, but the payload is not an in-toto Statement v1: not JSON' \
      "$e.notjson.json" "$pub"
    if [ "$kt" = p256 ]; then
      expect_reject "$v" "p256 raw r||s signature (not DER)" "$BAD_SIG" "$e.p1363.json" "$pub"
      expect_reject "$v" "p256 envelope, Ed25519 key" "$NO_KEYID" "$e.good.json" "$T/ed25519.pub"
    else
      expect_reject "$v" "ed25519 envelope, P-256 key" "$NO_KEYID" "$e.good.json" "$T/p256.pub"
    fi
  done
done

# Two signatures by the same key: securesystemslib refuses duplicate keyids while parsing; a
# Sigstore DSSE bundle holds exactly one signature.
tamper second-signature "$T/ed25519.good.json" "$T/two-sigs.json"
expect_reject sslib "two signatures, same keyid" 'malformed envelope: ValueError: Multiple signatures' "$T/two-sigs.json" "$T/ed25519.pub"
expect_reject sigstore "two signatures" 'does not make a valid Sigstore bundle' "$T/two-sigs.json" "$T/ed25519.pub"

for v in sslib sigstore; do
  expect_usage "$v" "no arguments"
  expect_usage "$v" "missing envelope file" "$T/absent.json" "$T/ed25519.pub"
  expect_usage "$v" "missing key file" "$T/ed25519.good.json" "$T/absent.pub"
  expect_usage "$v" "private key given as the public key" "$T/ed25519.good.json" "$T/ed25519.key"
  expect_usage "$v" "P-384 key (unsupported)" "$T/ed25519.good.json" "$T/p384.pub"
done

echo "attest selftest: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

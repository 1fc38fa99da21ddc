//! `attest` and `verify --attestation`, driven through the binary, and the same envelopes checked
//! by verifiers nobody on this project wrote: `securesystemslib` (PyPI) and `@sigstore/verify`
//! (npm), installed from pinned lockfiles by `scripts/setup` (tests/attest). Each of a flipped
//! payload byte, a swapped bundle and a wrong key fails in all three.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_assay-runner"))
}

fn harness() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/attest")
}

fn sh(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

fn openssl(args: &[&str]) {
    let out = sh(Command::new("openssl").args(args));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Key pairs made by OpenSSL: `NAME.pem` (private) and `NAME.pub`.
fn keys(dir: &Path) {
    let p = |n: &str| dir.join(n).display().to_string();
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", &p("ed.pem")]);
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &p("ec.pem"),
    ]);
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &p("sec1.pem"),
    ]);
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", &p("other.pem")]);
    for k in ["ed", "ec", "sec1", "other"] {
        openssl(&[
            "pkey",
            "-in",
            &p(&format!("{k}.pem")),
            "-pubout",
            "-out",
            &p(&format!("{k}.pub")),
        ]);
    }
}

/// `sha256:<hex>` of a bundle's `capability-surface.json`, as verify read it.
fn surface_sha256(bundle: &Path) -> String {
    let v = assay_runner::verify::verify_path(
        bundle,
        &assay_runner::verify::Limits::default(),
        assay_runner::verify::Keep::Documents,
    )
    .unwrap();
    let m = v
        .report
        .members
        .iter()
        .find(|m| m.path == "capability-surface.json");
    m.unwrap().sha256.clone()
}

/// A verdict `prove` could have written in `root`, with two proofs and their bundles.
fn tree(root: &Path) {
    // a proof's runs carry its name
    for proof in ["demo", "other"] {
        let d = root.join("out").join(proof);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("run-1.tar.gz"),
            assay_runner::fuzzing::sample_bundle(proof),
        )
        .unwrap();
    }
    let health =
        json!({"kernel_layer": "complete", "cgroup_correlation": "clean", "ringbuf_drops": 0});
    // a pass's golden is its surface: the digest of the bundle's surface member
    let proof = |name: &str, verdict: &str| {
        json!({"name": name, "verdict": verdict, "reasons": [], "runs": 3, "deterministic": true,
            "bundle": format!("out/{name}/run-1.tar.gz"), "golden": format!("goldens/{name}.surface.json"),
            "pending": null, "health": health, "diff": null, "golden_update": null,
            "golden_sha256": surface_sha256(&root.join(format!("out/{name}/run-1.tar.gz")))})
    };
    let v = json!({"schema": "assay.runner.verdict.v4", "run_id": "all", "lane": "kernel-only",
        "verdict": "pass", "proofs": [proof("other", "pass"), proof("demo", "pass")]});
    std::fs::write(
        root.join("out/verdict.json"),
        serde_json::to_vec_pretty(&v).unwrap(),
    )
    .unwrap();
}

/// The subject names of a statement, in order.
fn subject_names(statement: &Value) -> Vec<&str> {
    statement["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect()
}

fn attest(root: &Path, key: &str, out: &str) -> Output {
    sh(bin().current_dir(root).args([
        "attest",
        "--verdict",
        "out/verdict.json",
        "--key",
        key,
        "--out",
        out,
    ]))
}

/// The three verifiers' exit codes for an envelope and a public key: this tool's
/// `verify --attestation`, securesystemslib, @sigstore/verify (the latter two also check each
/// subject's sha256 against the file under `root`, as in-toto verification does).
fn verdicts(root: &Path, env: &str, key: &str) -> [(String, Option<i32>, String); 3] {
    let py = harness().join(".venv/bin/python");
    let run = |name: &str, mut c: Command| {
        let o = sh(c.current_dir(root));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (name.to_string(), o.status.code(), text)
    };
    let mut ours = bin();
    ours.args(["verify", "--attestation", env, "--key", key]);
    let mut sslib = Command::new(&py);
    sslib
        .arg(harness().join("verify_sslib.py"))
        .args([env, key, "."]);
    let mut sigstore = Command::new("node");
    sigstore
        .arg(harness().join("verify-sigstore.mjs"))
        .args([env, key, "."]);
    [
        run("assay-runner", ours),
        run("securesystemslib", sslib),
        run("@sigstore/verify", sigstore),
    ]
}

fn assert_all(root: &Path, env: &str, key: &str, code: i32, why: &str) {
    for (name, got, text) in verdicts(root, env, key) {
        assert_eq!(got, Some(code), "{why}: {name} exited {got:?}:\n{text}");
    }
}

fn require_verifiers() {
    support::require_files(&[
        "tests/attest/.venv/bin/python",
        "tests/attest/node_modules/@sigstore/verify",
    ]);
}

#[test]
fn envelopes_verify_in_three_verifiers_and_every_tampering_fails_in_each() {
    require_verifiers();
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    keys(root);
    tree(root);
    for k in ["ed", "ec", "sec1"] {
        let o = attest(root, &format!("{k}.pem"), &format!("{k}.intoto.json"));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_all(root, &format!("{k}.intoto.json"), &format!("{k}.pub"), 0, k);
    }

    // a flipped byte in the payload
    let env: Value =
        serde_json::from_slice(&std::fs::read(root.join("ed.intoto.json")).unwrap()).unwrap();
    let mut payload = STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
    let at = payload.iter().position(|&b| b == b'p').unwrap();
    payload[at] ^= 0x01;
    let mut flipped = env.clone();
    flipped["payload"] = json!(STANDARD.encode(&payload));
    std::fs::write(
        root.join("flipped.json"),
        serde_json::to_vec(&flipped).unwrap(),
    )
    .unwrap();
    assert_all(root, "flipped.json", "ed.pub", 1, "flipped payload byte");

    // a wrong key
    assert_all(root, "ed.intoto.json", "other.pub", 1, "wrong key");
    assert_all(root, "ed.intoto.json", "ec.pub", 1, "wrong key type");

    // a swapped bundle: another valid bundle where the attested one was
    let demo = root.join("out/demo/run-1.tar.gz");
    let kept = std::fs::read(&demo).unwrap();
    std::fs::write(&demo, assay_runner::fuzzing::sample_bundle("swapped")).unwrap();
    assert_all(root, "ed.intoto.json", "ed.pub", 1, "swapped bundle");
    let ours = &verdicts(root, "ed.intoto.json", "ed.pub")[0].2;
    assert!(
        ours.contains("subject out/demo/run-1.tar.gz: sha256 is "),
        "{ours}"
    );
    std::fs::write(&demo, kept).unwrap();
    assert_all(root, "ed.intoto.json", "ed.pub", 0, "restored");
}

#[test]
fn the_statement_names_every_bundle_and_the_verdict_and_is_deterministic() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    keys(root);
    tree(root);
    let o = sh(bin().current_dir(root).args([
        "attest",
        "--verdict",
        "out/verdict.json",
        "--key",
        "ed.pem",
        "--out",
        "a.json",
        "--statement-out",
        "s.json",
        "--predicate-out",
        "p.json",
        "--checksums-out",
        "c.sha256",
    ]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = attest(root, "ed.pem", "b.json");
    assert!(o.status.success());
    assert_eq!(
        std::fs::read(root.join("a.json")).unwrap(),
        std::fs::read(root.join("b.json")).unwrap()
    );

    let s: Value = serde_json::from_slice(&std::fs::read(root.join("s.json")).unwrap()).unwrap();
    assert_eq!(s["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        s["predicateType"],
        "https://github.com/assay/runner-action/attestation/verdict/v0"
    );
    let names = subject_names(&s);
    assert_eq!(
        names,
        [
            "out/demo/run-1.tar.gz",
            "out/other/run-1.tar.gz",
            "out/verdict.json"
        ]
    );
    let sha = |p: &str| {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(std::fs::read(root.join(p)).unwrap()))
    };
    for x in s["subject"].as_array().unwrap() {
        assert_eq!(x["digest"]["sha256"], sha(x["name"].as_str().unwrap()));
    }
    let p = &s["predicate"];
    assert_eq!(p["schema"], "assay.runner.attestation.v0");
    assert_eq!(p["lane"], "kernel-only");
    let proofs: Vec<&str> = p["proofs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(proofs, ["demo", "other"], "sorted by name");
    assert_eq!(
        format!(
            "sha256:{}",
            p["proofs"][0]["golden"]["digest"]["sha256"]
                .as_str()
                .unwrap()
        ),
        surface_sha256(&root.join("out/demo/run-1.tar.gz"))
    );
    assert_eq!(
        p["proofs"][0]["bundle"]["manifest"]["sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    // the subjects in `sha256sum` form (actions/attest's subject-checksums), checked by sha256sum
    let c = sh(Command::new("sha256sum")
        .current_dir(root)
        .args(["--check", "--strict", "c.sha256"]));
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stdout));
    assert_eq!(String::from_utf8_lossy(&c.stdout).lines().count(), 3);
    let predicate: Value =
        serde_json::from_slice(&std::fs::read(root.join("p.json")).unwrap()).unwrap();
    assert_eq!(&predicate, p);
    // the envelope's payload is the statement written beside it
    let env: Value = serde_json::from_slice(&std::fs::read(root.join("a.json")).unwrap()).unwrap();
    assert_eq!(env["payloadType"], "application/vnd.in-toto+json");
    assert_eq!(
        STANDARD.decode(env["payload"].as_str().unwrap()).unwrap(),
        std::fs::read(root.join("s.json")).unwrap()
    );
    assert_eq!(env["signatures"][0]["keyid"].as_str().unwrap().len(), 64);
}

#[test]
fn bad_inputs_are_refused_with_their_names_and_nothing_is_written() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    keys(root);
    tree(root);
    // a pass whose bundle is not its golden (or whose observation was not clean) is not one
    let verdict = root.join("out/verdict.json");
    let good = std::fs::read_to_string(&verdict).unwrap();
    let other = surface_sha256(&root.join("out/other/run-1.tar.gz"));
    let forged = good.replacen(&other, &format!("sha256:{}", "ab".repeat(32)), 1);
    assert_ne!(forged, good);
    std::fs::write(&verdict, &forged).unwrap();
    let o = attest(root, "ed.pem", "x.json");
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(
            "the verdict says proof other passed, but its bundle out/other/run-1.tar.gz does not: its surface"
        ),
        "{o:?}"
    );
    assert!(!root.join("x.json").exists());
    // another proof's bundle is not this proof's, however clean
    let mut swapped: Value = serde_json::from_str(&good).unwrap();
    swapped["proofs"][1]["bundle"] = json!("out/other/run-1.tar.gz");
    std::fs::write(&verdict, swapped.to_string()).unwrap();
    let o = attest(root, "ed.pem", "x.json");
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(
            "the verdict names out/other/run-1.tar.gz as proof demo's bundle, but that bundle is of run `other`"
        ),
        "{o:?}"
    );
    assert!(!root.join("x.json").exists());
    // an approved change passes by the golden it carries, not the base's it was judged by
    let mut approved: Value = serde_json::from_str(&forged).unwrap();
    approved["proofs"][0]["golden_update"] = json!({"base_sha256": format!("sha256:{}", "ab".repeat(32)),
        "head_sha256": other, "diff": "-a\n+b\n"});
    std::fs::write(&verdict, approved.to_string()).unwrap();
    let o = attest(root, "ed.pem", "x.json");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    std::fs::remove_file(root.join("x.json")).unwrap();
    std::fs::write(&verdict, &good).unwrap();
    // a bundle that does not verify is never attested
    let demo = root.join("out/demo/run-1.tar.gz");
    let mut b = std::fs::read(&demo).unwrap();
    let n = b.len();
    b.truncate(n - 9);
    std::fs::write(&demo, &b).unwrap();
    let o = attest(root, "ed.pem", "x.json");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("out/demo/run-1.tar.gz does not verify"),
        "{err}"
    );
    assert!(!root.join("x.json").exists());
    // a verdict that is not one: file, line and column
    std::fs::write(root.join("out/verdict.json"), "{\n  \"schema\": 3\n}\n").unwrap();
    let o = attest(root, "ed.pem", "x.json");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("out/verdict.json:2:"), "{err}");
    // a verdict whose health is not its bundle's is not this bundle's verdict
    tree(root);
    let v = root.join("out/verdict.json");
    let text = std::fs::read_to_string(&v).unwrap();
    std::fs::write(
        &v,
        text.replacen("\"ringbuf_drops\": 0", "\"ringbuf_drops\": 7", 1),
    )
    .unwrap();
    let o = attest(root, "ed.pem", "x.json");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("the verdict is not this bundle's"),
        "{o:?}"
    );
    // a bundle named outside the root could never be checked
    std::fs::write(
        &v,
        text.replacen("\"out/demo/run-1.tar.gz\"", "\"../demo.tar.gz\"", 1),
    )
    .unwrap();
    let o = attest(root, "ed.pem", "x.json");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not a path under the root"),
        "{o:?}"
    );
    // the verdict's name is relative to --root, however it was given
    tree(root);
    let o = sh(bin()
        .current_dir(root)
        .arg("attest")
        .arg("--verdict")
        .arg(root.join("out/verdict.json"))
        .args(["--root", ".", "--key", "ed.pem", "--out", "abs.json"]));
    assert!(o.status.success(), "{o:?}");
    let ours = &verdicts(root, "abs.json", "ed.pub")[0];
    assert_eq!(ours.1, Some(0), "{}", ours.2);
    std::fs::remove_file(root.join("abs.json")).unwrap();
    // a key that is not one
    let o = attest(root, "ed.pub", "x.json");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("ed.pub: not a PEM key"));
    // an envelope that is not one
    std::fs::write(root.join("junk.json"), "[1]").unwrap();
    let o = sh(bin().current_dir(root).args([
        "verify",
        "--attestation",
        "junk.json",
        "--key",
        "ed.pub",
    ]));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("junk.json: line 1 column"));
    assert!(!root.join("x.json").exists());
}

/// A matrix of proof jobs: each proved one proof into a directory of its own; `report` merges
/// their verdicts (`--verdict-out`) and `attest` signs the merged one, whose subjects are every
/// job's bundle.
#[test]
fn the_merged_verdict_of_a_matrix_is_attested_with_every_jobs_bundle() {
    require_verifiers();
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    keys(root);
    tree(root);
    let all: Value =
        serde_json::from_slice(&std::fs::read(root.join("out/verdict.json")).unwrap()).unwrap();
    for p in all["proofs"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let mut one = all.clone();
        one["proofs"] = json!([p]);
        one["run_id"] = json!(format!("proof:{name}"));
        std::fs::write(
            root.join(format!("out/{name}/verdict.json")),
            serde_json::to_vec_pretty(&one).unwrap(),
        )
        .unwrap();
    }
    let o = sh(bin().current_dir(root).env_remove("GITHUB_ACTIONS").args([
        "report",
        "--verdict-out",
        "out/verdict.merged.json",
        "--",
        "out/demo/verdict.json",
        "out/other/verdict.json",
    ]));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = sh(bin().current_dir(root).args([
        "attest",
        "--verdict",
        "out/verdict.merged.json",
        "--key",
        "ec.pem",
        "--out",
        "m.json",
        "--statement-out",
        "m.statement.json",
    ]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: Value =
        serde_json::from_slice(&std::fs::read(root.join("m.statement.json")).unwrap()).unwrap();
    let names = subject_names(&s);
    assert_eq!(
        names,
        [
            "out/demo/run-1.tar.gz",
            "out/other/run-1.tar.gz",
            "out/verdict.merged.json"
        ]
    );
    assert_eq!(s["predicate"]["proofs"].as_array().unwrap().len(), 2);
    assert_all(root, "m.json", "ec.pub", 0, "merged verdict");
}

//! Builds `bpf/observe.bpf.c` with clang (CO-RE, BTF kept) into `$OUT_DIR/observe.bpf.o`.
//! `bpf/` stays at the repository's top level (`../../bpf` from this crate); clang runs there,
//! so the object is the same whichever crate builds it.
//!
//! Without clang, the committed prebuilt object `bpf/prebuilt/observe.bpf.o` is used, but only if
//! `bpf/prebuilt/observe.bpf.o.source-sha256` matches the hash of the current `bpf/*.c`/`*.h`;
//! otherwise the build fails and says how to refresh it (`scripts/update-prebuilt-bpf`).

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The repository's top level, where `bpf/` is (canonical, as clang's working directory).
fn root() -> PathBuf {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    std::fs::canonicalize(dir.join("../..")).expect("the repository's top level")
}

fn sources(bpf: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(bpf)
        .expect("bpf/ exists")
        .map(|e| e.expect("readable bpf/ entry").path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("c" | "h")))
        .collect();
    v.sort();
    v
}

/// Hash over (file name, contents) of every bpf source, in name order.
fn source_hash(files: &[PathBuf]) -> String {
    let mut h = Sha256::new();
    for f in files {
        h.update(f.file_name().expect("file name").as_encoded_bytes());
        h.update([0]);
        let body = std::fs::read(f).expect("readable bpf source");
        h.update((body.len() as u64).to_le_bytes());
        h.update(&body);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn main() {
    let root = root();
    let files = sources(&root.join("bpf"));
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("bpf/prebuilt").display()
    );
    println!("cargo:rerun-if-env-changed=ASSAY_BPF_CLANG");
    let hash = source_hash(&files);
    println!("cargo:rustc-env=ASSAY_BPF_SOURCE_SHA256={hash}");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("observe.bpf.o");
    let clang = std::env::var("ASSAY_BPF_CLANG").unwrap_or_else(|_| "clang".into());
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86",
        Ok("aarch64") => "arm64",
        _ => "x86",
    };
    let multiarch = format!(
        "/usr/include/{}-linux-gnu",
        std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default()
    );
    let status = Command::new(&clang)
        .args([
            "-g", "-O2", "-target", "bpfel", "-mcpu=v3", "-Wall", "-Werror",
        ])
        .arg(format!("-D__TARGET_ARCH_{arch}"))
        .arg(format!("-I{multiarch}"))
        // Keep build-machine paths out of the object's debug info and BTF line info.
        .arg(format!("-ffile-prefix-map={}=.", root.display()))
        .args(["-c", "bpf/observe.bpf.c", "-o"])
        .arg(&out)
        .current_dir(&root)
        .status();
    match status {
        Ok(s) if s.success() => {
            println!("cargo:rustc-env=ASSAY_BPF_ORIGIN=clang");
        }
        Ok(s) => panic!("clang failed to build bpf/observe.bpf.c ({s}); fix the BPF source"),
        Err(_) => {
            let prebuilt = root.join("bpf/prebuilt/observe.bpf.o");
            let recorded =
                std::fs::read_to_string(root.join("bpf/prebuilt/observe.bpf.o.source-sha256"))
                    .unwrap_or_default();
            if recorded.trim() != hash {
                panic!(
                    "clang not found and bpf/prebuilt/observe.bpf.o was built from different sources \
                     (recorded {}, current {hash}); install clang + libbpf-dev (scripts/setup) \
                     and run scripts/update-prebuilt-bpf",
                    recorded.trim()
                );
            }
            std::fs::copy(prebuilt, &out).expect("copy prebuilt BPF object");
            println!("cargo:rustc-env=ASSAY_BPF_ORIGIN=prebuilt");
            println!(
                "cargo:warning=clang not found: using the prebuilt BPF object (source hash verified)"
            );
        }
    }
}

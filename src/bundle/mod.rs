//! Evidence bundles: a deterministic `.tar.gz` whose first member is `manifest.json`
//! (`assay.runner.archive_manifest.v0`), then every other member sorted by path. Tar headers
//! are fixed (mode 0644, uid/gid 0, empty owner names, mtime 0); gzip has no name and mtime 0.
//! Writing the same members twice gives the same bytes. Files are written atomically.
//! Imports: `crate::contracts::manifest`, `crate::fsutil`.

use std::io::Write as _;
use std::path::Path;

use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};

use crate::contracts::manifest::{self, ArchiveManifest, Member, MemberClass};

/// One member to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub bytes: Vec<u8>,
    pub class: MemberClass,
}

/// Errors writing a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("member path `{0}` is not a plain relative path")]
    BadPath(String),
    #[error("member `{0}` is listed twice")]
    Duplicate(String),
    #[error("cannot write bundle {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// `sha256:<hex>` of bytes.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The manifest for these members.
pub fn manifest_for(run_id: &str, entries: &[Entry]) -> ArchiveManifest {
    let mut members: Vec<Member> = entries
        .iter()
        .map(|e| Member {
            path: e.path.clone(),
            bytes: e.bytes.len() as u64,
            sha256: sha256(&e.bytes),
            class: e.class,
        })
        .collect();
    members.sort_by(|a, b| a.path.cmp(&b.path));
    ArchiveManifest {
        schema: manifest::SCHEMA.into(),
        run_id: run_id.into(),
        members,
    }
}

fn header(path: &str, len: u64) -> Result<tar::Header, BundleError> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)
        .map_err(|_| BundleError::BadPath(path.into()))?;
    h.set_size(len);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_username("")
        .map_err(|_| BundleError::BadPath(path.into()))?;
    h.set_groupname("")
        .map_err(|_| BundleError::BadPath(path.into()))?;
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    Ok(h)
}

/// The bundle bytes: manifest first, then members sorted by path.
pub fn to_bytes(manifest_json: &[u8], entries: &[Entry]) -> Result<Vec<u8>, BundleError> {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    for w in sorted.windows(2) {
        if w[0].path == w[1].path {
            return Err(BundleError::Duplicate(w[0].path.clone()));
        }
    }
    for e in &sorted {
        if e.path.is_empty()
            || e.path.starts_with('/')
            || e.path
                .split('/')
                .any(|s| s == ".." || s == "." || s.is_empty())
            || e.path == "manifest.json"
        {
            return Err(BundleError::BadPath(e.path.clone()));
        }
    }
    let io = |source| BundleError::Io {
        path: "<memory>".into(),
        source,
    };
    let gz = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let h = header("manifest.json", manifest_json.len() as u64)?;
    tar.append(&h, manifest_json).map_err(io)?;
    for e in sorted {
        let h = header(&e.path, e.bytes.len() as u64)?;
        tar.append(&h, e.bytes.as_slice()).map_err(io)?;
    }
    let mut gz = tar.into_inner().map_err(io)?;
    gz.flush().map_err(io)?;
    gz.finish().map_err(io)
}

/// Serializes the manifest and writes the bundle atomically to `out`.
pub fn write(out: &Path, run_id: &str, entries: &[Entry]) -> Result<ArchiveManifest, BundleError> {
    let m = manifest_for(run_id, entries);
    let mut json = serde_json::to_vec_pretty(&m).map_err(|e| BundleError::Io {
        path: out.display().to_string(),
        source: e.into(),
    })?;
    json.push(b'\n');
    let bytes = to_bytes(&json, entries)?;
    crate::fsutil::write_atomic(out, &bytes).map_err(|source| BundleError::Io {
        path: out.display().to_string(),
        source,
    })?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<Entry> {
        vec![
            Entry {
                path: "observation-health.json".into(),
                bytes: b"{}\n".to_vec(),
                class: MemberClass::Canonical,
            },
            Entry {
                path: "events.ndjson".into(),
                bytes: b"{\"a\":1}\n".to_vec(),
                class: MemberClass::Diagnostic,
            },
            Entry {
                path: "layers/kernel.ndjson".into(),
                bytes: Vec::new(),
                class: MemberClass::Canonical,
            },
        ]
    }

    #[test]
    fn same_members_same_bytes_and_manifest_first() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.tar.gz"), dir.path().join("b.tar.gz"));
        write(&a, "r", &entries()).unwrap();
        let mut rev = entries();
        rev.reverse();
        write(&b, "r", &rev).unwrap();
        let (ba, bb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert_eq!(ba, bb, "member order and write time must not matter");
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(ba.as_slice()));
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "manifest.json",
                "events.ndjson",
                "layers/kernel.ndjson",
                "observation-health.json"
            ]
        );
        assert_eq!(&ba[4..8], &[0, 0, 0, 0], "gzip mtime is 0");
    }

    #[test]
    fn rejects_bad_members() {
        let mut e = entries();
        e.push(e[0].clone());
        assert!(matches!(
            to_bytes(b"{}", &e),
            Err(BundleError::Duplicate(_))
        ));
        let bad = vec![Entry {
            path: "../x".into(),
            bytes: vec![],
            class: MemberClass::Canonical,
        }];
        assert!(matches!(
            to_bytes(b"{}", &bad),
            Err(BundleError::BadPath(_))
        ));
    }

    #[test]
    fn manifest_lists_sizes_and_hashes() {
        let m = manifest_for("r", &entries());
        assert_eq!(m.members[0].path, "events.ndjson");
        assert_eq!(m.members[0].bytes, 8);
        assert_eq!(
            m.members[1].sha256,
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}

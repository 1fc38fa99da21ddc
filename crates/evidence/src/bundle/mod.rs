//! Evidence bundles: a deterministic `.tar.gz` whose first member is `manifest.json`
//! (`assay.runner.archive_manifest.v0`), then every other member sorted by path. Tar headers
//! are fixed (mode 0644, uid/gid 0, empty owner names, mtime 0); gzip has no name and mtime 0.
//! Writing the same members twice gives the same bytes. Files are written atomically.
//! Imports: `assay_contracts::manifest`, `crate::fsutil`.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};

use assay_contracts::manifest::{self, ArchiveManifest, Member, MemberClass};

/// One member to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub body: Body,
    pub class: MemberClass,
}

/// A member's content: bytes in memory, or a file written (and hashed) while it was produced,
/// streamed into the archive so a large member is never held in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Bytes(Vec<u8>),
    File(FileBody),
}

/// A member's content in a file: `len` bytes from offset 0, whose hash is `sha256`.
#[derive(Debug, Clone)]
pub struct FileBody {
    pub file: Arc<File>,
    pub len: u64,
    /// `sha256:<hex>`.
    pub sha256: String,
}

impl PartialEq for FileBody {
    fn eq(&self, o: &FileBody) -> bool {
        self.len == o.len && self.sha256 == o.sha256
    }
}
impl Eq for FileBody {}

impl Entry {
    /// A member held in memory.
    pub fn bytes(path: impl Into<String>, bytes: Vec<u8>, class: MemberClass) -> Entry {
        Entry {
            path: path.into(),
            body: Body::Bytes(bytes),
            class,
        }
    }
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::File(f) => f.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `sha256:<hex>` of the content.
    pub fn sha256(&self) -> String {
        match self {
            Body::Bytes(b) => sha256(b),
            Body::File(f) => f.sha256.clone(),
        }
    }

    /// The content in memory (a file body is read back).
    pub fn to_vec(&self) -> std::io::Result<Vec<u8>> {
        let mut v = Vec::with_capacity(self.len() as usize);
        self.reader().read_to_end(&mut v)?;
        Ok(v)
    }

    /// The content as editable bytes; a file body is read into memory first (an unreadable
    /// file becomes empty bytes, which no longer match the recorded hash).
    pub fn bytes_mut(&mut self) -> &mut Vec<u8> {
        if let Body::File(_) = self {
            *self = Body::Bytes(self.to_vec().unwrap_or_default());
        }
        match self {
            Body::Bytes(b) => b,
            Body::File(_) => unreachable!("converted above"),
        }
    }

    fn reader(&self) -> Box<dyn Read + '_> {
        match self {
            Body::Bytes(b) => Box::new(b.as_slice()),
            Body::File(f) => Box::new(At {
                file: &f.file,
                pos: 0,
                end: f.len,
            }),
        }
    }
}

/// Reads `file` from `pos` to `end` with positioned reads; a file shorter than promised is an
/// error (the archive header already holds the length).
struct At<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let room = buf.len().min((self.end - self.pos) as usize);
        if room == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..room], self.pos)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "member file is shorter than its recorded length",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// A writer that hashes and counts what passes through it.
pub struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> Hashing<W> {
    pub fn new(inner: W) -> Hashing<W> {
        Hashing {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// The inner writer, the byte count and `sha256:<hex>` of everything written.
    pub fn finish(self) -> (W, u64, String) {
        let sum = format!("sha256:{}", hex::encode(self.hasher.finalize()));
        (self.inner, self.len, sum)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
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
            bytes: e.body.len(),
            sha256: e.body.sha256(),
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
    let mut out = Vec::new();
    write_to(&mut out, manifest_json, entries)?;
    Ok(out)
}

/// Streams the bundle into `out`: manifest first, then members sorted by path.
pub fn write_to(
    out: &mut dyn Write,
    manifest_json: &[u8],
    entries: &[Entry],
) -> Result<(), BundleError> {
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
        path: "<bundle>".into(),
        source,
    };
    let gz = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(out, Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let h = header("manifest.json", manifest_json.len() as u64)?;
    tar.append(&h, manifest_json).map_err(io)?;
    for e in sorted {
        let h = header(&e.path, e.body.len())?;
        tar.append(&h, e.body.reader()).map_err(io)?;
    }
    let mut gz = tar.into_inner().map_err(io)?;
    gz.flush().map_err(io)?;
    gz.finish().map_err(io)?.flush().map_err(io)
}

/// Serializes the manifest and writes the bundle atomically to `out`.
pub fn write(out: &Path, run_id: &str, entries: &[Entry]) -> Result<ArchiveManifest, BundleError> {
    let m = manifest_for(run_id, entries);
    let mut json = serde_json::to_vec_pretty(&m).map_err(|e| BundleError::Io {
        path: out.display().to_string(),
        source: e.into(),
    })?;
    json.push(b'\n');
    let mut inner = None;
    let written = crate::fsutil::write_atomic_with(out, &mut |w| {
        let mut buf = std::io::BufWriter::with_capacity(1 << 16, w);
        let r = write_to(&mut buf, &json, entries).and_then(|()| {
            buf.flush().map_err(|source| BundleError::Io {
                path: out.display().to_string(),
                source,
            })
        });
        r.map_err(|e| {
            let io = std::io::Error::other(e.to_string());
            inner = Some(e);
            io
        })
    });
    match (written, inner) {
        (Ok(()), _) => Ok(m),
        (Err(_), Some(e)) => Err(e),
        (Err(source), None) => Err(BundleError::Io {
            path: out.display().to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<Entry> {
        vec![
            Entry::bytes(
                "observation-health.json",
                b"{}\n".to_vec(),
                MemberClass::Canonical,
            ),
            Entry::bytes(
                "events.ndjson",
                b"{\"a\":1}\n".to_vec(),
                MemberClass::Diagnostic,
            ),
            Entry::bytes("layers/kernel.ndjson", Vec::new(), MemberClass::Canonical),
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
        let bad = vec![Entry::bytes("../x", vec![], MemberClass::Canonical)];
        assert!(matches!(
            to_bytes(b"{}", &bad),
            Err(BundleError::BadPath(_))
        ));
    }

    /// A member streamed from a file gives the same archive as the same bytes in memory.
    #[test]
    fn file_members_stream_like_bytes() {
        let mut f = tempfile::tempfile().unwrap();
        let mut h = Hashing::new(&mut f);
        h.write_all(b"{\"a\":1}\n").unwrap();
        let (_, len, sum) = h.finish();
        let mut e = entries();
        e[1].body = Body::File(FileBody {
            file: Arc::new(f),
            len,
            sha256: sum,
        });
        let m = serde_json::to_vec(&manifest_for("r", &e)).unwrap();
        assert_eq!(
            m,
            serde_json::to_vec(&manifest_for("r", &entries())).unwrap()
        );
        assert_eq!(to_bytes(&m, &e).unwrap(), to_bytes(&m, &entries()).unwrap());
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

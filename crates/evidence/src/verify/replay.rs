//! A second read of a bundle that verified: its kernel layer, one event at a time, for
//! consumers that aggregate a run of any length in bounded memory (the HTML report). The file
//! is hashed whole on the way; unless it is byte for byte the archive [`super::verify_path`]
//! verified (its `bundle_sha256`), the replay is an error and its events must be discarded: a
//! bundle swapped between the two reads is never drawn from.

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use assay_contracts::kernel_event::KernelEvent;
use sha2::{Digest, Sha256};

const KERNEL: &str = "layers/kernel.ndjson";

/// Why a replay must be discarded.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("{path}: {KERNEL} line {line}: not a kernel event: {source}")]
    Line {
        path: String,
        line: u64,
        source: serde_json::Error,
    },
    #[error("{path} changed after it was verified (sha256 {got}, verified {want})")]
    Changed {
        path: String,
        got: String,
        want: String,
    },
}

struct Hashing<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Feeds each line of `path`'s kernel layer to `f`, then checks the file's sha256 against
/// `verified_sha256` (`sha256:<hex>`, as the verify report names it). The limits verify
/// applied hold here too (a file swapped after verification meets them before its hash is
/// found wrong).
pub fn replay_kernel(
    path: &Path,
    verified_sha256: &str,
    limits: &super::Limits,
    f: &mut dyn FnMut(&KernelEvent),
) -> Result<(), ReplayError> {
    let read = |source| ReplayError::Read {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let mut h = Hashing {
        inner: BufReader::with_capacity(256 << 10, file),
        hash: Sha256::new(),
    };
    {
        let gz = flate2::read::GzDecoder::new(&mut h).take(limits.max_decompressed);
        let mut ar = tar::Archive::new(gz);
        for entry in ar.entries().map_err(read)? {
            let entry = entry.map_err(read)?;
            if entry.path().map_err(read)?.as_os_str() != KERNEL {
                continue;
            }
            let mut r = BufReader::with_capacity(1 << 20, entry);
            let mut line = Vec::new();
            for no in 1u64.. {
                line.clear();
                let n = (&mut r)
                    .take(limits.max_line as u64 + 1)
                    .read_until(b'\n', &mut line)
                    .map_err(read)?;
                if n == 0 {
                    break;
                }
                if line.last() == Some(&b'\n') {
                    line.pop();
                } else if n > limits.max_line {
                    return Err(read(io::Error::other(format!(
                        "{KERNEL} line {no} is longer than {} bytes",
                        limits.max_line
                    ))));
                }
                if line.is_empty() {
                    continue;
                }
                let e = super::kernel_line_fast(&line)
                    .map(Ok)
                    .unwrap_or_else(|| serde_json::from_slice(&line))
                    .map_err(|source| ReplayError::Line {
                        path: path.display().to_string(),
                        line: no,
                        source,
                    })?;
                f(&e);
            }
        }
    }
    io::copy(&mut h, &mut io::sink()).map_err(read)?;
    let got = format!("sha256:{}", hex::encode(h.hash.finalize()));
    if got != verified_sha256 {
        return Err(ReplayError::Changed {
            path: path.display().to_string(),
            got,
            want: verified_sha256.to_string(),
        });
    }
    Ok(())
}

//! Crash-safe file writing: write to a temporary file in the same directory, fsync it, rename it
//! over the target, fsync the directory. A reader sees the old file or the new one, never half.
//! Imports: nothing from this crate.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, &mut |w| w.write_all(bytes))
}

/// Writes whatever `fill` writes to `path` atomically (streamed, never held in memory).
///
/// The temporary file is created next to `path` with a random name and `O_CREAT | O_EXCL`
/// (the `tempfile` crate): an existing file or a planted symlink at that name makes the open
/// fail, so nothing is ever written through a link someone placed there; it is then renamed
/// over `path` (`persist`) and the directory is fsynced.
pub fn write_atomic_with(
    path: &Path,
    fill: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    write_atomic_named(path, fill, 6)
}

/// [`write_atomic_with`] with `rand_bytes` random characters in the temporary name (tests use
/// 0 to make the name predictable and plant a link at it).
fn write_atomic_named(
    path: &Path,
    fill: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
    rand_bytes: usize,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("path has no file name"))?;
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .rand_bytes(rand_bytes)
        .tempfile_in(dir)?;
    fill(tmp.as_file_mut())?;
    tmp.as_file().sync_all()?;
    // on error the temporary file is removed when `tmp` drops
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Reads a file, refusing one larger than `max` bytes.
pub fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut b = Vec::new();
    std::fs::File::open(path)?
        .take(max + 1)
        .read_to_end(&mut b)?;
    if b.len() as u64 > max {
        return Err(std::io::Error::other(format!("larger than {max} bytes")));
    }
    Ok(b)
}

/// Appends `text` to `path` (creating it), as GitHub's `$GITHUB_OUTPUT` files expect.
pub fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// A link planted at the temporary name (here made predictable) is never followed: the
    /// open fails and the link's target is untouched. The same holds for the random names of
    /// `write_atomic`, which open with the same `O_EXCL`.
    #[test]
    fn a_planted_link_at_the_temporary_name_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let target = dir.path().join("out.json");
        std::os::unix::fs::symlink(&victim, dir.path().join(".out.json..tmp")).unwrap();
        let err = write_atomic_named(&target, &mut |w| w.write_all(b"evil"), 0).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert!(!target.exists());
        // the legacy predictable name (`.NAME.tmp.PID`) is no longer used at all
        let legacy = dir
            .path()
            .join(format!(".out.json.tmp.{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &legacy).unwrap();
        write_atomic(&target, b"new").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
    }

    /// A write that fails halfway leaves neither a half-written target nor a temporary file.
    #[test]
    fn a_failed_fill_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        write_atomic(&p, b"old").unwrap();
        let err = write_atomic_with(&p, &mut |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

//! The single streaming pass: gzip framing, raw tar entries, per-member hashing and schema
//! validation. Produces what `checks` needs to judge the bundle as a whole.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;

use sha2::{Digest, Sha256};

use super::{ARCHIVE, Keep, Limits, Problems};
use assay_contracts::health::ObservationHealth;
use assay_contracts::kernel_event::KernelEvent;
use assay_contracts::manifest::ArchiveManifest;
use assay_contracts::pathbytes::escape;
use assay_contracts::policy_event::PolicyEvent;
use assay_contracts::run_event::RunRecord;
use assay_contracts::sdk_event::SdkEvent;
use assay_contracts::surface::CapabilitySurface;
use assay_contracts::{Contract, Shape};

/// The exact gzip header the bundle writer produces: deflate, no flags, mtime 0, no extra
/// flags, OS 255. Its bytes are not covered by the gzip CRC, so anything else is rejected.
pub const CANONICAL_GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// One member as read.
#[derive(Debug, Clone)]
pub(crate) struct MemberInfo {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// The surface entries no kernel-layer line has supported yet, per category. Filled from the
/// surface (which sorts before the kernel layer) when the kernel layer starts; each line
/// removes what it supports, so memory stays bounded by the surface.
#[derive(Debug, Default)]
pub(crate) struct Support {
    pub ready: bool,
    pub paths: HashSet<String>,
    pub writes: HashSet<String>,
    pub endpoints: HashSet<String>,
    pub local: HashSet<String>,
    pub execs: HashSet<String>,
    /// Whether the surface names a destination (`tcp:NAME:PORT`): then the names and the
    /// destinations the kernel layer saw are kept until its end, when the naming rule
    /// (`surface::names`) decides which named entries they support.
    named: bool,
    names: crate::surface::names::Names,
    dests: HashSet<String>,
    paths_pat: Patterns,
    writes_pat: Patterns,
    execs_pat: Patterns,
}

/// The normalized entries of one category (placeholders, `/**` trees), each supported by any
/// kernel-layer path it stands for (`surface::normalize::support_pattern`).
#[derive(Debug, Default)]
struct Patterns {
    entries: Vec<String>,
    set: Option<regex::RegexSet>,
    left: usize,
}

impl Patterns {
    fn new(list: &[String]) -> Patterns {
        let (entries, res): (Vec<String>, Vec<String>) = list
            .iter()
            .filter_map(|e| crate::surface::normalize::support_pattern(e).map(|re| (e.clone(), re)))
            .unzip();
        let set = regex::RegexSet::new(&res).ok();
        Patterns {
            left: if set.is_some() { entries.len() } else { 0 },
            entries,
            set,
        }
    }

    /// Removes from `remaining` every entry `path` supports.
    fn hit(&mut self, path: &str, remaining: &mut HashSet<String>) {
        if self.left == 0 {
            return;
        }
        if let Some(set) = &self.set {
            for i in set.matches(path).iter() {
                if remaining.remove(&self.entries[i]) {
                    self.left -= 1;
                }
            }
        }
    }
}

impl Support {
    fn from_surface(s: &CapabilitySurface) -> Support {
        let set = |v: &[String]| v.iter().cloned().collect();
        Support {
            ready: true,
            paths: set(&s.filesystem_paths),
            writes: set(&s.filesystem_writes),
            endpoints: set(&s.network_endpoints),
            local: set(&s.network_local),
            execs: set(&s.process_execs),
            named: s.network_endpoints.iter().any(|e| is_named(e)),
            names: Default::default(),
            dests: HashSet::new(),
            paths_pat: Patterns::new(&s.filesystem_paths),
            writes_pat: Patterns::new(&s.filesystem_writes),
            execs_pat: Patterns::new(&s.process_execs),
        }
    }

    fn event(&mut self, e: &KernelEvent) {
        use crate::surface::Touch;
        if self.named {
            self.names.event(e);
        }
        for t in crate::surface::touches(e).into_iter().flatten() {
            match t {
                Touch::OpenRead(p) | Touch::LinkSource(p) => {
                    self.paths.remove(p);
                    self.paths_pat.hit(p, &mut self.paths);
                }
                Touch::OpenWrite(p) | Touch::Change(p) => {
                    self.paths.remove(p);
                    self.writes.remove(p);
                    self.paths_pat.hit(p, &mut self.paths);
                    self.writes_pat.hit(p, &mut self.writes);
                }
                Touch::Exec(p) => {
                    self.execs.remove(p);
                    self.execs_pat.hit(p, &mut self.execs);
                }
                Touch::Connect(p) => {
                    self.endpoints.remove(p);
                    if self.named && !self.dests.contains(p) {
                        self.dests.insert(p.to_string());
                    }
                }
                Touch::Local(prefix, ep) => {
                    self.local.remove(&Touch::local_entry(prefix, ep));
                }
            }
        }
    }
}

impl Support {
    /// At the end of the kernel layer: removes the named entries its destinations and names
    /// support.
    pub(crate) fn finish_names(&mut self) {
        if !self.named {
            return;
        }
        for d in &self.dests {
            for entry in self.names.entries(d) {
                self.endpoints.remove(&entry);
            }
        }
    }
}

/// Whether a surface destination is a named one (`tcp:NAME:PORT`, `udp:NAME:PORT`).
fn is_named(ep: &str) -> bool {
    (ep.starts_with("tcp:") || ep.starts_with("udp:"))
        && crate::surface::names::split_endpoint(ep).is_none()
}

/// Everything the pass learned.
#[derive(Debug, Default)]
pub(crate) struct ReadOut {
    pub members: Vec<MemberInfo>,
    pub manifest: Option<ArchiveManifest>,
    pub manifest_first: bool,
    pub health: Option<ObservationHealth>,
    pub surface: Option<CapabilitySurface>,
    /// Whether the kernel layer was read to the end with every line well-formed.
    pub kernel_complete: bool,
    pub support: Support,
    /// `run_id`s found in members, with the member and line that carried each first.
    pub run_ids: Vec<(String, String)>,
    pub kept: BTreeMap<String, Vec<u8>>,
    pub archive_sha256: Option<String>,
    pub compressed_bytes: u64,
    pub decompressed_bytes: u64,
}

/// Hashes and counts what is read through it (the compressed bytes, and each member).
struct HashRead<R> {
    inner: R,
    hash: Sha256,
    n: u64,
}

impl<R: Read> Read for HashRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.hash.update(&buf[..k]);
        self.n += k as u64;
        Ok(k)
    }
}

/// What stopped the decompressed stream, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    TooLarge,
    Gzip(io::ErrorKind),
}

/// Caps decompressed bytes and records why the stream failed.
struct Capped<R> {
    inner: R,
    left: u64,
    n: Rc<Cell<u64>>,
    stop: Rc<Cell<Option<Stop>>>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // Probe for one more byte: end of stream is fine, more data is over the cap.
            let mut one = [0u8; 1];
            return match self.inner.read(&mut one) {
                Ok(0) => Ok(0),
                Ok(_) => {
                    self.stop.set(Some(Stop::TooLarge));
                    Err(io::Error::other("decompressed size limit reached"))
                }
                Err(e) => {
                    self.stop.set(Some(Stop::Gzip(e.kind())));
                    Err(e)
                }
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        match self.inner.read(&mut buf[..want]) {
            Ok(k) => {
                self.left -= k as u64;
                self.n.set(self.n.get() + k as u64);
                Ok(k)
            }
            Err(e) => {
                if self.stop.get().is_none() {
                    self.stop.set(Some(Stop::Gzip(e.kind())));
                }
                Err(e)
            }
        }
    }
}

fn gzip_problem(p: &mut Problems, kind: io::ErrorKind) {
    if kind == io::ErrorKind::UnexpectedEof {
        p.push(
            ARCHIVE,
            "gzip-truncated",
            "the gzip stream ends before its end (truncated download or write?)",
        );
    } else {
        p.push(
            ARCHIVE,
            "gzip-corrupt",
            format!("the gzip stream is corrupt ({kind:?}: bad deflate data, CRC or length)"),
        );
    }
}

/// Reports a stream error once, by cause.
fn stream_error(p: &mut Problems, stop: Option<Stop>, what: &str, e: &io::Error) {
    match stop {
        Some(Stop::TooLarge) => p.push(
            ARCHIVE,
            "too-large",
            "decompressed size exceeds the limit (--max-bytes); refusing to read further",
        ),
        Some(Stop::Gzip(kind)) => gzip_problem(p, kind),
        None => p.push(ARCHIVE, "tar-invalid", format!("{what}: {e}")),
    }
}

/// Compiled schemas by contract name. An embedded schema that does not compile is a bug of
/// this crate (a unit test compiles every one); should it happen anyway, every member of that
/// contract fails validation with that error — never "no validation".
#[derive(Default)]
struct Validators(BTreeMap<&'static str, Result<jsonschema::Validator, String>>);

impl Validators {
    fn get(&mut self, c: &'static Contract) -> Result<&jsonschema::Validator, &str> {
        self.0
            .entry(c.name)
            .or_insert_with(|| compile(c))
            .as_ref()
            .map_err(String::as_str)
    }
}

fn compile(c: &Contract) -> Result<jsonschema::Validator, String> {
    let schema: serde_json::Value = serde_json::from_str(c.published)
        .map_err(|e| format!("the embedded schema of {} is not JSON: {e}", c.id))?;
    jsonschema::draft202012::new(&schema)
        .map_err(|e| format!("the embedded schema of {} does not compile: {e}", c.id))
}

/// First schema error of `v`, if any (a schema that did not compile is an error of every value).
fn schema_error(
    val: Result<&jsonschema::Validator, &str>,
    v: &serde_json::Value,
) -> Option<String> {
    let val = match val {
        Ok(val) => val,
        Err(e) => return Some(e.to_string()),
    };
    if val.is_valid(v) {
        return None;
    }
    val.iter_errors(v).next().map(|e| {
        let at = e.instance_path.to_string();
        format!("at `{}`: {e}", if at.is_empty() { "/" } else { &at })
    })
}

/// The single pass over a bundle's bytes: gzip header, tar entries and members, then the
/// framing after the last one; problems go to `p`, what was learned is returned.
pub(crate) fn read<R: Read>(r: R, limits: &Limits, keep: Keep, p: &mut Problems) -> ReadOut {
    let mut out = ReadOut::default();
    let mut raw = BufReader::with_capacity(
        256 << 10,
        HashRead {
            inner: r,
            hash: Sha256::new(),
            n: 0,
        },
    );
    if !gzip_header(&mut raw, p) {
        return out;
    }
    let n = Rc::new(Cell::new(0u64));
    let stop = Rc::new(Cell::new(None));
    let capped = Capped {
        inner: flate2::bufread::GzDecoder::new(raw),
        left: limits.max_decompressed,
        n: n.clone(),
        stop: stop.clone(),
    };
    let mut ar = tar::Archive::new(capped);
    let framing_ok = match ar.entries() {
        Err(e) => {
            stream_error(p, stop.get(), "cannot read the tar stream", &e);
            false
        }
        Ok(entries) => members(entries, &stop, limits, keep, &mut out, p),
    };
    if framing_ok {
        framing_end(ar.into_inner(), &stop, &mut out, p);
    }
    out.decompressed_bytes = n.get();
    out
}

/// Whether the file starts with the bundle writer's exact gzip header (else reported).
fn gzip_header<B: BufRead>(raw: &mut B, p: &mut Problems) -> bool {
    match raw.fill_buf() {
        Ok(b) if b.len() >= 10 && b[..10] == CANONICAL_GZIP_HEADER => true,
        Ok(b) if b.len() >= 2 && b[..2] == [0x1f, 0x8b] => {
            p.push(
                ARCHIVE,
                "gzip-header",
                "the gzip header is not the bundle writer's (expected no name, no flags, mtime 0, OS 255)",
            );
            false
        }
        Ok([]) => {
            p.push(ARCHIVE, "gzip-truncated", "the file is empty");
            false
        }
        Ok(_) => {
            p.push(
                ARCHIVE,
                "gzip-header",
                "not a gzip file (a bundle is a .tar.gz)",
            );
            false
        }
        Err(e) => {
            p.push(ARCHIVE, "gzip-truncated", format!("cannot read: {e}"));
            false
        }
    }
}

/// Reads every tar entry in order: its header checks, then its content as a member. False when
/// the framing failed (reported) and reading stopped before the tar end marker.
fn members<D: Read>(
    entries: tar::Entries<'_, D>,
    stop: &Cell<Option<Stop>>,
    limits: &Limits,
    keep: Keep,
    out: &mut ReadOut,
    p: &mut Problems,
) -> bool {
    let mut validators = Validators::default();
    let mut seen = BTreeSet::new();
    for (i, entry) in entries.raw(true).enumerate() {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                stream_error(p, stop.get(), "bad tar header", &e);
                return false;
            }
        };
        if i >= limits.max_members {
            p.push(
                ARCHIVE,
                "too-large",
                format!(
                    "more than {} members; refusing to read further",
                    limits.max_members
                ),
            );
            return false;
        }
        let path = escape(&entry.path_bytes());
        if !entry_allowed(&entry, &path, p) {
            // Skip the body (bounded by the decompressed cap).
            if let Err(e) = io::copy(&mut entry, &mut io::sink()) {
                stream_error(p, stop.get(), "cannot read a member", &e);
                return false;
            }
            continue;
        }
        if !seen.insert(path.clone()) {
            p.push(
                &path,
                "duplicate-member",
                "the archive holds this path twice",
            );
        }
        if i == 0 {
            out.manifest_first = path == "manifest.json";
        }
        let mut tee = HashRead {
            inner: &mut entry,
            hash: Sha256::new(),
            n: 0,
        };
        let res = member(&path, &mut tee, limits, keep, &mut validators, out, p);
        if let Err(e) = res.and_then(|()| io::copy(&mut tee, &mut io::sink()).map(|_| ())) {
            stream_error(p, stop.get(), &format!("cannot read member {path}"), &e);
            return false;
        }
        out.members.push(MemberInfo {
            path,
            bytes: tee.n,
            sha256: format!("sha256:{}", hex::encode(tee.hash.finalize())),
        });
    }
    true
}

/// After the tar end marker: only zero padding, then the gzip trailer, then nothing.
fn framing_end<R: Read>(
    mut capped: Capped<flate2::bufread::GzDecoder<BufReader<HashRead<R>>>>,
    stop: &Rc<Cell<Option<Stop>>>,
    out: &mut ReadOut,
    p: &mut Problems,
) {
    let mut rest = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match capped.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => {
                if buf[..k].iter().any(|b| *b != 0) {
                    p.push(
                        ARCHIVE,
                        "tar-invalid",
                        "data after the tar end-of-archive marker",
                    );
                    return;
                }
                rest += k as u64;
            }
            Err(e) => {
                stream_error(p, stop.get(), "cannot read after the last member", &e);
                return;
            }
        }
    }
    if rest < 512 {
        p.push(
            ARCHIVE,
            "tar-invalid",
            "the tar end-of-archive marker (two zero blocks) is incomplete",
        );
    }
    let mut raw = capped.inner.into_inner();
    match raw.fill_buf() {
        Ok([]) => {}
        Ok(_) => {
            p.push(
                ARCHIVE,
                "gzip-trailing-data",
                "bytes follow the end of the gzip stream",
            );
            return;
        }
        Err(e) => {
            p.push(ARCHIVE, "gzip-truncated", format!("cannot read: {e}"));
            return;
        }
    }
    let inner = raw.into_inner();
    out.compressed_bytes = inner.n;
    out.archive_sha256 = Some(format!("sha256:{}", hex::encode(inner.hash.finalize())));
}

/// Entry type and path checks; false when the entry's content must not be looked at.
fn entry_allowed<R: Read>(entry: &tar::Entry<'_, R>, path: &str, p: &mut Problems) -> bool {
    use tar::EntryType as T;
    let h = entry.header();
    let t = h.entry_type();
    let bad = match t {
        T::Regular => None,
        T::Symlink | T::Link => Some(("link", "links are not allowed in a bundle")),
        T::Char | T::Block => Some(("device", "device files are not allowed in a bundle")),
        T::Fifo => Some(("fifo", "FIFOs are not allowed in a bundle")),
        T::Directory => Some(("directory", "directories are not members of a bundle")),
        T::XHeader | T::XGlobalHeader | T::GNULongName | T::GNULongLink => Some((
            "extension-header",
            "PAX/GNU extension headers are not used by bundles",
        )),
        _ => Some(("entry-type", "only regular files are members of a bundle")),
    };
    if let Some((code, msg)) = bad {
        p.push(
            path,
            code,
            format!("{msg} (tar type {:?})", t.as_byte() as char),
        );
        return false;
    }
    if h.as_ustar().is_none() {
        p.push(path, "tar-invalid", "not a ustar header");
        return false;
    }
    let unsafe_path = path.is_empty()
        || path.starts_with('/')
        || path.contains('\\')
        || path
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
    if unsafe_path {
        p.push(
            path,
            "unsafe-path",
            "member paths must be relative, without `.`/`..` or empty components",
        );
        return false;
    }
    true
}

/// Reads one member's content through `r`, validating it by its contract.
fn member<R: Read>(
    path: &str,
    r: &mut R,
    limits: &Limits,
    keep: Keep,
    validators: &mut Validators,
    out: &mut ReadOut,
    p: &mut Problems,
) -> io::Result<()> {
    let contract = if path == "manifest.json" {
        Contract::find("archive_manifest")
    } else {
        Contract::for_member(path)
    };
    let Some(contract) = contract else {
        p.push(
            path,
            "not-listed",
            "not a member of any bundle contract of this version",
        );
        return Ok(());
    };
    match contract.shape {
        Shape::Document => {
            let mut bytes = Vec::new();
            r.take(limits.max_document + 1).read_to_end(&mut bytes)?;
            if bytes.len() as u64 > limits.max_document {
                p.push(
                    path,
                    "too-large",
                    format!("document larger than {} bytes", limits.max_document),
                );
                return Ok(());
            }
            document(path, contract, &bytes, validators, out, p);
            out.kept.insert(path.into(), bytes);
        }
        Shape::Ndjson => {
            let kept = ndjson(path, contract, r, limits, keep, validators, out, p)?;
            if let Some(k) = kept {
                out.kept.insert(path.into(), k);
            }
        }
    }
    Ok(())
}

fn document(
    path: &str,
    contract: &'static Contract,
    bytes: &[u8],
    validators: &mut Validators,
    out: &mut ReadOut,
    p: &mut Problems,
) {
    let v: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            p.push(path, "json-invalid", format!("not JSON: {e}"));
            return;
        }
    };
    if let Some(err) = schema_error(validators.get(contract), &v) {
        p.push(
            path,
            "schema-violation",
            format!("does not match {}: {err}", contract.id),
        );
        return;
    }
    if let Some(id) = v.get("run_id").and_then(|x| x.as_str()) {
        out.run_ids.push((path.into(), id.into()));
    }
    let typed = |p: &mut Problems, e: serde_json::Error| {
        p.push(path, "schema-violation", format!("{}: {e}", contract.id));
    };
    match contract.name {
        "archive_manifest" => match serde_json::from_value(v) {
            Ok(m) if out.manifest.is_none() => out.manifest = Some(m),
            Ok(_) => {}
            Err(e) => typed(p, e),
        },
        "observation_health" => match serde_json::from_value(v) {
            Ok(h) => out.health = Some(h),
            Err(e) => typed(p, e),
        },
        "capability_surface" => match serde_json::from_value(v) {
            Ok(s) => out.surface = Some(s),
            Err(e) => typed(p, e),
        },
        _ => {}
    }
}

/// Line-by-line validation of one NDJSON member, fed arbitrary blocks of its bytes.
struct Lines<'a> {
    path: &'a str,
    contract: &'static Contract,
    max_line: usize,
    validators: &'a mut Validators,
    is_kernel: bool,
    support: Support,
    run_ids: Vec<(String, String)>,
    run_id: Option<String>,
    problems: Problems,
    carry: Vec<u8>,
    skipping: bool,
    no: u64,
    bad: u64,
}

impl<'a> Lines<'a> {
    const SHOWN: usize = 5;

    fn new(
        path: &'a str,
        contract: &'static Contract,
        max_line: usize,
        validators: &'a mut Validators,
        support: Support,
    ) -> Lines<'a> {
        Lines {
            path,
            contract,
            max_line,
            validators,
            is_kernel: contract.name == "kernel_event",
            support,
            run_ids: Vec::new(),
            run_id: None,
            problems: Problems::default(),
            carry: Vec::new(),
            skipping: false,
            no: 0,
            bad: 0,
        }
    }

    fn report(&mut self, code: &'static str, msg: String) {
        self.bad += 1;
        if self.bad as usize <= Self::SHOWN {
            let no = self.no;
            self.problems
                .push(self.path, code, format!("line {no}: {msg}"));
        }
    }

    /// Feeds the next block of the member.
    fn feed(&mut self, mut block: &[u8]) {
        while !block.is_empty() {
            if self.skipping {
                match memchr(block) {
                    Some(i) => {
                        self.skipping = false;
                        block = &block[i + 1..];
                    }
                    None => return,
                }
                continue;
            }
            match memchr(block) {
                Some(i) if self.carry.is_empty() => {
                    self.line_checked(&block[..=i]);
                    block = &block[i + 1..];
                }
                Some(i) => {
                    let mut line = std::mem::take(&mut self.carry);
                    line.extend_from_slice(&block[..=i]);
                    self.line_checked(&line);
                    line.clear();
                    self.carry = line;
                    block = &block[i + 1..];
                }
                None => {
                    self.carry.extend_from_slice(block);
                    if self.carry.len() > self.max_line {
                        self.no += 1;
                        let max = self.max_line;
                        self.report("too-large", format!("longer than {max} bytes"));
                        self.carry.clear();
                        self.skipping = true;
                    }
                    return;
                }
            }
        }
    }

    fn finish(&mut self) {
        if !self.carry.is_empty() {
            self.no += 1;
            self.report("json-invalid", "the last line has no newline".into());
            self.carry.clear();
        }
        if self.bad as usize > Self::SHOWN {
            let bad = self.bad;
            self.problems.push(
                self.path,
                "schema-violation",
                format!(
                    "{bad} bad line(s) in all; the first {} are listed",
                    Self::SHOWN
                ),
            );
        }
    }

    fn line_checked(&mut self, line: &[u8]) {
        self.no += 1;
        if line.len() > self.max_line {
            let max = self.max_line;
            self.report("too-large", format!("longer than {max} bytes"));
            return;
        }
        self.line(line);
    }

    fn seen_run_id(&mut self, id: &str) {
        match &self.run_id {
            None => {
                self.run_ids
                    .push((format!("{} line {}", self.path, self.no), id.into()));
                self.run_id = Some(id.into());
            }
            Some(first) if first != id => {
                let msg = format!("run_id `{id}` differs from line 1's `{first}`");
                self.report("run-id-mismatch", msg);
            }
            Some(_) => {}
        }
    }

    fn seq(&mut self, seq: Option<u64>) {
        let want = self.no - 1;
        if seq != Some(want) {
            self.report(
                "inconsistent",
                format!("`seq` is {seq:?}, expected {want} (gapless from 0)"),
            );
        }
    }

    fn line(&mut self, line: &[u8]) {
        if self.is_kernel
            && let Some(e) = kernel_line_fast(line)
        {
            self.seq(Some(e.seq));
            self.seen_run_id(&e.run_id);
            self.support.event(&e);
            return;
        }
        let v: serde_json::Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                self.report("json-invalid", format!("not JSON: {e}"));
                return;
            }
        };
        if let Some(err) = schema_error(self.validators.get(self.contract), &v) {
            let id = self.contract.id;
            self.report("schema-violation", format!("does not match {id}: {err}"));
            return;
        }
        self.seq(v.get("seq").and_then(|s| s.as_u64()));
        if let Some(id) = v.get("run_id").and_then(|x| x.as_str()) {
            self.seen_run_id(id);
        }
        if self.is_kernel {
            match serde_json::from_value::<KernelEvent>(v) {
                Ok(e) => self.support.event(&e),
                Err(e) => self.report("schema-violation", e.to_string()),
            }
        } else {
            let typed = match self.contract.name {
                "run_event" => serde_json::from_value::<RunRecord>(v).err(),
                "policy_event" => serde_json::from_value::<PolicyEvent>(v).err(),
                "sdk_event" => serde_json::from_value::<SdkEvent>(v).err(),
                _ => None,
            };
            if let Some(e) = typed {
                self.report("schema-violation", e.to_string());
            }
        }
    }
}

fn memchr(b: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', b)
}

/// Validates an NDJSON member line by line; returns its bytes when `keep` asks for them.
///
/// Two threads: this one keeps inflating, untarring and hashing (the caller's reader) and hands
/// blocks to a worker that parses and checks lines, so on two or more cores a bundle is
/// verified at about the speed it can be decompressed.
#[allow(clippy::too_many_arguments)]
fn ndjson<R: Read>(
    path: &str,
    contract: &'static Contract,
    r: &mut R,
    limits: &Limits,
    keep: Keep,
    validators: &mut Validators,
    out: &mut ReadOut,
    p: &mut Problems,
) -> io::Result<Option<Vec<u8>>> {
    const BLOCK: usize = 1 << 20;
    let is_kernel = contract.name == "kernel_event";
    let support = match (&out.surface, is_kernel) {
        (Some(s), true) => Support::from_surface(s),
        _ => Support::default(),
    };
    let mut lines = Lines::new(path, contract, limits.max_line, validators, support);
    // The policy layer is kept always: the whole-bundle checks compare it with the surface and
    // the correlation report (it is small: one line per tool call, bounded like any member).
    let mut kept = (keep == Keep::All || path == POLICY_LAYER || path == SDK_LAYER).then(Vec::new);
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let read_result = std::thread::scope(|sc| {
        let worker = sc.spawn(|| {
            for block in full_rx {
                lines.feed(&block);
                let _ = empty_tx.send(block);
            }
            lines.finish();
        });
        let mut result = Ok(());
        loop {
            let mut buf = empty_rx
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(BLOCK));
            buf.clear();
            match r.take(BLOCK as u64).read_to_end(&mut buf) {
                Ok(0) => break,
                Ok(_) => {
                    if let Some(k) = kept.as_mut() {
                        k.extend_from_slice(&buf);
                    }
                    if full_tx.send(buf).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        drop(full_tx);
        if worker.join().is_err() {
            result = Err(io::Error::other("the line checker panicked"));
        }
        result
    });
    read_result?;
    for pr in lines.problems.list {
        p.push(&pr.member, static_code(&pr.code), pr.message);
    }
    if lines.problems.more > 0 {
        p.more += lines.problems.more;
    }
    out.run_ids.extend(lines.run_ids);
    if is_kernel {
        out.support = lines.support;
        out.support.finish_names();
        out.kernel_complete = lines.bad == 0;
    }
    Ok(kept)
}

/// The canonical policy layer member.
pub(crate) const POLICY_LAYER: &str = "layers/policy.ndjson";
/// The canonical SDK layer member.
pub(crate) const SDK_LAYER: &str = "layers/sdk.ndjson";

/// The `'static` code for a code string of [`assay_contracts::verify_report::PROBLEM_CODES`].
fn static_code(code: &str) -> &'static str {
    assay_contracts::verify_report::PROBLEM_CODES
        .iter()
        .find(|c| **c == code)
        .copied()
        .unwrap_or("inconsistent")
}

/// The fast path for a canonical kernel-layer line: a typed parse plus the constraints the
/// schema adds to the types (schema id, vocabularies, the `result` pattern). `Some` only when
/// the line is valid against `kernel_event.v5`; anything else takes the slow path, which
/// validates against the published schema and says why. `tests/schemas.rs` checks that this
/// never accepts what the schema rejects.
pub fn kernel_line_fast(line: &[u8]) -> Option<KernelEvent> {
    let e: KernelEvent = serde_json::from_slice(line).ok()?;
    if e.schema != assay_contracts::kernel_event::SCHEMA {
        return None;
    }
    if let Some(a) = &e.access
        && !matches!(a.as_str(), "read" | "write" | "read_write")
    {
        return None;
    }
    const FLAGS: [&str; 14] = [
        "append",
        "block_device",
        "char_device",
        "create",
        "directory",
        "excl",
        "fifo",
        "fileless",
        "loader",
        "own_program",
        "script",
        "socket",
        "tmpfile",
        "trunc",
    ];
    for (i, f) in e.flags.iter().enumerate() {
        if !FLAGS.contains(&f.as_str()) || e.flags[..i].contains(f) {
            return None;
        }
    }
    // `name`: dot-separated labels of lowercase letters, digits, `-` and `_` (the schema's pattern).
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    if let Some(n) = &e.name
        && !n.split('.').all(label_ok)
    {
        return None;
    }
    for (i, a) in e.addresses.iter().enumerate() {
        if e.addresses[..i].contains(a) {
            return None;
        }
    }
    let r = e.result.as_bytes();
    let result_ok = r == b"ok"
        || (r.len() >= 2
            && r[0] == b'E'
            && r[1..]
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
    result_ok.then_some(e)
}

#[cfg(test)]
mod tests {

    /// Every embedded schema compiles: a broken one is a bug, caught here, never a silent
    /// "no validation" in `verify`.
    #[test]
    fn every_embedded_schema_compiles() {
        for c in assay_contracts::CONTRACTS {
            if let Err(e) = compile(c) {
                panic!("{e}");
            }
        }
    }

    use super::*;

    fn lines_for<'a>(validators: &'a mut Validators, max_line: usize) -> Lines<'a> {
        let c = Contract::find("kernel_event").unwrap();
        Lines::new(
            "layers/kernel.ndjson",
            c,
            max_line,
            validators,
            Support::default(),
        )
    }

    fn kernel_member() -> Vec<u8> {
        crate::sample::kernel_member("r")
    }

    #[test]
    fn lines_split_across_blocks_anywhere_are_checked_the_same() {
        let member = kernel_member();
        for size in [1, 2, 3, 7, 64, member.len()] {
            let mut v = Validators::default();
            let mut l = lines_for(&mut v, 1 << 20);
            for block in member.chunks(size) {
                l.feed(block);
            }
            l.finish();
            assert!(
                l.problems.list.is_empty(),
                "block size {size}: {:?}",
                l.problems.list
            );
            assert_eq!(l.no, 6);
        }
    }

    #[test]
    fn long_and_unterminated_lines_are_reported_with_their_number() {
        let mut member = kernel_member();
        member.extend_from_slice(&[b'x'; 300]);
        member.extend_from_slice(b"\n{\"seq\":");
        let mut v = Validators::default();
        let mut l = lines_for(&mut v, 256);
        for block in member.chunks(100) {
            l.feed(block);
        }
        l.finish();
        let msgs: Vec<String> = l
            .problems
            .list
            .iter()
            .map(|p| format!("{}: {}", p.code, p.message))
            .collect();
        assert_eq!(
            msgs,
            [
                "too-large: line 7: longer than 256 bytes",
                "json-invalid: line 8: the last line has no newline"
            ]
        );
    }
}

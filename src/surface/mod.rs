//! The capability surface: sorted sets of what a run touched, derived from the canonical kernel
//! layer, with a documented, overridable noise filter whose filtered counts stay visible.
//!
//! Default noise (`DEFAULT_NOISE`): dynamic-loader and locale reads that every process makes.
//! Only *reads* are filtered; a write to any of these paths always stays in the surface.
//! Imports: `crate::contracts`, `crate::layers::kernel` (the sink it implements).

use std::collections::{BTreeMap, BTreeSet};

use globset::{GlobSet, GlobSetBuilder};

use crate::contracts::kernel_event::{KernelEvent, Kind};
use crate::contracts::surface::{self, CapabilitySurface};
use crate::layers::kernel::{KernelSink, Origin};

/// Default noise globs (read-only accesses matching these are left out of the surface).
pub const DEFAULT_NOISE: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.preload",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/proc/filesystems",
    "/dev/null",
    "/dev/tty",
    "/usr/lib/locale/**",
    "/usr/share/locale/**",
    "/usr/lib/*-linux-gnu/gconv/**",
    "/usr/share/zoneinfo/**",
    "/{lib,lib64,usr/lib,usr/lib64}/**/*.so",
    "/{lib,lib64,usr/lib,usr/lib64}/**/*.so.*",
    "unix:/var/run/nscd/socket",
    "unix:/run/nscd/socket",
];

/// Data sinks whose opens carry no capability, filtered for reads *and* writes (counted).
pub const SINK_DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full"];

/// A compiled noise filter.
#[derive(Debug, Clone)]
pub struct NoiseFilter {
    set: GlobSet,
    /// The globs, as given.
    pub globs: Vec<String>,
    /// Whether opens of [`SINK_DEVICES`] are filtered (on unless `--no-noise-filter`).
    pub sinks: bool,
}

/// A bad noise-filter glob.
#[derive(Debug, thiserror::Error)]
#[error("noise filter line {line}: invalid glob `{glob}`: {why}")]
pub struct NoiseError {
    pub line: usize,
    pub glob: String,
    pub why: String,
}

impl NoiseFilter {
    /// Compiles `(line, glob)` pairs (same syntax as lanes; `*` does not cross `/`).
    fn build(items: &[(usize, &str)]) -> Result<NoiseFilter, NoiseError> {
        let mut b = GlobSetBuilder::new();
        for &(line, g) in items {
            let glob = globset::GlobBuilder::new(g)
                .literal_separator(true)
                .build()
                .map_err(|e| NoiseError {
                    line,
                    glob: g.into(),
                    why: e.kind().to_string(),
                })?;
            b.add(glob);
        }
        let set = b.build().map_err(|e| NoiseError {
            line: 0,
            glob: String::new(),
            why: e.to_string(),
        })?;
        Ok(NoiseFilter {
            set,
            globs: items.iter().map(|(_, g)| g.to_string()).collect(),
            sinks: true,
        })
    }

    /// Compiles globs; an error names the 1-based position of the bad glob.
    pub fn new<S: AsRef<str>>(globs: &[S]) -> Result<NoiseFilter, NoiseError> {
        let items: Vec<(usize, &str)> = globs
            .iter()
            .enumerate()
            .map(|(i, g)| (i + 1, g.as_ref()))
            .collect();
        NoiseFilter::build(&items)
    }

    /// The documented default list ([`DEFAULT_NOISE`], checked valid by a unit test).
    pub fn default_filter() -> NoiseFilter {
        NoiseFilter::new(DEFAULT_NOISE).expect("DEFAULT_NOISE holds valid globs")
    }

    /// A filter that filters nothing.
    pub fn none() -> NoiseFilter {
        NoiseFilter {
            set: GlobSet::empty(),
            globs: Vec::new(),
            sinks: false,
        }
    }

    /// Parses a filter file: one glob per line, `#` comments and blank lines ignored.
    pub fn parse(text: &str) -> Result<NoiseFilter, NoiseError> {
        let items: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, t)| !t.is_empty() && !t.starts_with('#'))
            .collect();
        NoiseFilter::build(&items)
    }

    fn is_noise(&self, s: &str) -> bool {
        self.set.is_match(s)
    }
}

/// The surface and how many entries the filter removed per category.
#[derive(Debug, Clone, Default)]
pub struct Derived {
    pub surface: CapabilitySurface,
    pub filtered: BTreeMap<String, u64>,
}

/// What one kernel event contributes to the surface, before noise filtering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touch<'a> {
    /// A successful open for reading: a path (noise filter and sink switch apply).
    OpenRead(&'a str),
    /// A successful open that can change the file: a path and a write (sink switch applies).
    OpenWrite(&'a str),
    /// A successful unlink/rmdir/mkdir/rename/symlink target/link target: a path and a write.
    Change(&'a str),
    /// The source of a successful hard link: a path that was read, not written.
    LinkSource(&'a str),
    /// An executed file.
    Exec(&'a str),
    /// An attempted connect (noise filter applies).
    Connect(&'a str),
}

/// The surface contributions of one event (at most two). The single source of the rules that
/// [`derive`] applies and that `verify` checks a surface against.
pub fn touches(e: &KernelEvent) -> [Option<Touch<'_>>; 2] {
    let ok = e.result == "ok";
    let path = e.path.as_deref();
    let path2 = e.path2.as_deref();
    match e.kind {
        Kind::Exec => [path.map(Touch::Exec), None],
        Kind::Open if ok => {
            let w = matches!(e.access.as_deref(), Some("write" | "read_write"))
                || e.flags.iter().any(|f| f == "create" || f == "trunc");
            [
                path.map(if w { Touch::OpenWrite } else { Touch::OpenRead }),
                None,
            ]
        }
        Kind::Link if ok => [path.map(Touch::LinkSource), path2.map(Touch::Change)],
        Kind::Unlink | Kind::Rmdir | Kind::Mkdir | Kind::Rename if ok => {
            [path.map(Touch::Change), path2.map(Touch::Change)]
        }
        Kind::Symlink if ok => [path2.map(Touch::Change), None],
        Kind::Connect => [e.endpoint.as_deref().map(Touch::Connect), None],
        _ => [None, None],
    }
}

/// Derives the capability surface from canonical kernel events.
pub fn derive(run_id: &str, events: &[KernelEvent], noise: &NoiseFilter) -> Derived {
    let mut d = Deriver::new(noise);
    for e in events {
        d.add(e);
    }
    d.finish(run_id)
}

/// The surface built incrementally, one canonical event at a time: a [`KernelSink`], so the
/// pipeline derives it while the kernel layer streams past. It holds the distinct strings of
/// each set (small next to the events) and the filtered counts.
#[derive(Debug)]
pub struct Deriver<'a> {
    noise: &'a NoiseFilter,
    paths: BTreeSet<String>,
    writes: BTreeSet<String>,
    endpoints: BTreeSet<String>,
    execs: BTreeSet<String>,
    filtered: BTreeMap<String, u64>,
}

impl<'a> Deriver<'a> {
    pub fn new(noise: &'a NoiseFilter) -> Deriver<'a> {
        Deriver {
            noise,
            paths: BTreeSet::new(),
            writes: BTreeSet::new(),
            endpoints: BTreeSet::new(),
            execs: BTreeSet::new(),
            filtered: BTreeMap::new(),
        }
    }

    fn filter(&mut self, cat: &str, s: &str) -> bool {
        if s.is_empty() || self.noise.is_noise(s) {
            match self.filtered.get_mut(cat) {
                Some(n) => *n += 1,
                None => {
                    self.filtered.insert(cat.to_string(), 1);
                }
            }
            true
        } else {
            false
        }
    }

    /// Adds one event's contributions.
    pub fn add(&mut self, e: &KernelEvent) {
        fn insert(set: &mut BTreeSet<String>, s: &str) {
            if !set.contains(s) {
                set.insert(s.to_string());
            }
        }
        for t in touches(e).into_iter().flatten() {
            match t {
                Touch::OpenRead(p) | Touch::OpenWrite(p)
                    if self.noise.sinks && SINK_DEVICES.contains(&p) =>
                {
                    self.filter("sink_devices", "");
                }
                Touch::OpenRead(p) => {
                    if !self.filter("filesystem_paths", p) {
                        insert(&mut self.paths, p);
                    }
                }
                Touch::OpenWrite(p) | Touch::Change(p) => {
                    insert(&mut self.writes, p);
                    insert(&mut self.paths, p);
                }
                Touch::LinkSource(p) => insert(&mut self.paths, p),
                Touch::Exec(p) => insert(&mut self.execs, p),
                Touch::Connect(ep) => {
                    if !self.filter("network_endpoints", ep) {
                        insert(&mut self.endpoints, ep);
                    }
                }
            }
        }
    }

    /// The surface and the filtered counts.
    pub fn finish(self, run_id: &str) -> Derived {
        Derived {
            surface: CapabilitySurface {
                schema: surface::SCHEMA.into(),
                run_id: run_id.into(),
                filesystem_paths: self.paths.into_iter().collect(),
                filesystem_writes: self.writes.into_iter().collect(),
                network_endpoints: self.endpoints.into_iter().collect(),
                process_execs: self.execs.into_iter().collect(),
                mcp_tools: Vec::new(),
                policy_decisions: Vec::new(),
            },
            filtered: self.filtered,
        }
    }
}

impl KernelSink for Deriver<'_> {
    fn event(&mut self, ev: &KernelEvent, _origin: &Origin) {
        self.add(ev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: Kind, path: &str, access: Option<&str>, result: &str) -> KernelEvent {
        KernelEvent {
            path: Some(path.into()),
            access: access.map(String::from),
            result: result.into(),
            ..KernelEvent::new("r", 0, "p0", kind)
        }
    }

    #[test]
    fn reads_writes_noise_and_failures() {
        let mut connect = ev(Kind::Connect, "", None, "ECONNREFUSED");
        connect.path = None;
        connect.endpoint = Some("127.0.0.1:9".into());
        let events = vec![
            ev(Kind::Exec, "/bin/sh", None, "ok"),
            ev(Kind::Open, "<work>/in.txt", Some("read"), "ok"),
            ev(Kind::Open, "<work>/out.txt", Some("write"), "ok"),
            ev(Kind::Open, "<work>/missing", Some("read"), "ENOENT"),
            ev(Kind::Open, "/etc/ld.so.cache", Some("read"), "ok"),
            ev(
                Kind::Open,
                "/lib/x86_64-linux-gnu/libc.so.6",
                Some("read"),
                "ok",
            ),
            ev(
                Kind::Open,
                "/usr/lib/locale/C.utf8/LC_CTYPE",
                Some("write"),
                "ok",
            ),
            ev(Kind::Unlink, "<work>/gone", None, "ok"),
            connect,
        ];
        let d = derive("r", &events, &NoiseFilter::default_filter());
        let s = d.surface;
        assert_eq!(
            s.filesystem_paths,
            [
                "/usr/lib/locale/C.utf8/LC_CTYPE",
                "<work>/gone",
                "<work>/in.txt",
                "<work>/out.txt"
            ]
        );
        assert_eq!(
            s.filesystem_writes,
            [
                "/usr/lib/locale/C.utf8/LC_CTYPE",
                "<work>/gone",
                "<work>/out.txt"
            ]
        );
        assert_eq!(s.network_endpoints, ["127.0.0.1:9"]);
        assert_eq!(s.process_execs, ["/bin/sh"]);
        assert_eq!(d.filtered.get("filesystem_paths"), Some(&2));
        let all = derive("r", &events, &NoiseFilter::none());
        assert_eq!(all.surface.filesystem_paths.len(), 6);
    }

    #[test]
    fn default_noise_compiles_and_sinks_follow_the_switch() {
        assert_eq!(
            NoiseFilter::default_filter().globs.len(),
            DEFAULT_NOISE.len()
        );
        let sink = vec![ev(Kind::Open, "/dev/null", Some("write"), "ok")];
        assert!(
            derive("r", &sink, &NoiseFilter::default_filter())
                .surface
                .filesystem_writes
                .is_empty()
        );
        assert_eq!(
            derive("r", &sink, &NoiseFilter::none())
                .surface
                .filesystem_writes,
            ["/dev/null"]
        );
    }

    #[test]
    fn filter_file_errors_name_the_line() {
        let e = NoiseFilter::parse("# c\n/ok/**\n/bad/{\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(NoiseFilter::parse("/a/**\n\n").unwrap().globs, ["/a/**"]);
    }
}

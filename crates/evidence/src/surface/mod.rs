//! The capability surface: sorted sets of what a run touched, derived from the canonical kernel
//! layer, with a documented, overridable noise filter whose filtered counts stay visible.
//!
//! Default noise (`DEFAULT_NOISE`): dynamic-loader, locale and cgroup-limit reads that every
//! process or runtime makes.
//! Only *reads* are filtered; a write to any of these paths always stays in the surface.
//! After filtering, [`normalize`] maps the exact sets to stable, reviewable entries (transient
//! files, the private temp dir, random names, toolchain and created trees; sensitive paths stay
//! exact), and [`names`] names destinations by the DNS answers the run earned.
//! Imports: `assay_contracts`, `crate::sink` (the [`Deriver`] is a kernel sink).

pub mod names;
pub mod normalize;

use std::collections::{BTreeMap, BTreeSet};

use globset::{GlobSet, GlobSetBuilder};

use crate::sink::{KernelSink, Origin};
use assay_contracts::kernel_event::{KernelEvent, Kind};
use assay_contracts::policy_event::{Decision, PolicyEvent};
use assay_contracts::surface::{self, CapabilitySurface};

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
    // `/usr/share/locale/locale.alias` is a symlink to it (paths are what the kernel resolved)
    "/etc/locale.alias",
    "/usr/lib/*-linux-gnu/gconv/**",
    "/usr/share/zoneinfo/**",
    // Runtimes (node, the JVM, Go) size their heaps from the cgroup's memory limits; the path
    // names the host's container, not anything the command chose.
    "/sys/fs/cgroup/**",
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
    /// A successful unlink/rmdir/mkdir/rename/symlink target/link target, or a metadata or size
    /// change (truncate, chmod, chown, utimes, xattr): a path and a write.
    Change(&'a str),
    /// The source of a successful hard link: a path that was read, not written.
    LinkSource(&'a str),
    /// An executed file.
    Exec(&'a str),
    /// An attempted connect or a datagram's destination (noise filter applies).
    Connect(&'a str),
    /// A local address: `bind:` or `listen:` and the event's endpoint.
    Local(&'static str, &'a str),
}

impl Touch<'_> {
    /// The `network_local` entry of a [`Touch::Local`].
    pub fn local_entry(prefix: &str, endpoint: &str) -> String {
        format!("{prefix}:{endpoint}")
    }
}

/// The surface contributions of one event (at most two). The single source of the rules that
/// [`derive`] applies and that `verify` checks a surface against.
pub fn touches(e: &KernelEvent) -> [Option<Touch<'_>>; 2] {
    let ok = e.result == "ok";
    let path = e.path.as_deref();
    let path2 = e.path2.as_deref();
    match e.kind {
        // What the kernel loaded is executed: a script and the interpreter its `#!` line named
        // (what was loaded), an ELF program and the loader the kernel mapped for it (an exec
        // line of its own, flagged `loader`).
        Kind::Exec => [
            path.map(Touch::Exec),
            path2
                .filter(|_| e.flags.iter().any(|f| f == "script"))
                .map(Touch::Exec),
        ],
        Kind::Open if ok => {
            let w = matches!(e.access.as_deref(), Some("write" | "read_write"))
                || e.flags.iter().any(|f| f == "create" || f == "trunc");
            // Reading the file the kernel executed for the process is part of that exec (its
            // `process_execs` entry): V8 does it on some runs and not on others.
            if !w && e.flags.iter().any(|f| f == "own_program") {
                return [None, None];
            }
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
        Kind::Mknod if ok => [path.map(Touch::Change), None],
        Kind::Truncate | Kind::Chmod | Kind::Chown | Kind::Utimes | Kind::Xattr if ok => {
            [path.map(Touch::Change), None]
        }
        // An INET connect is in the surface through its `net_connect` line, which names the
        // protocol: the cgroup hook's, or for a socket created outside the session cgroup
        // (passed in, or made after an escape), the one the syscall probe adds.
        Kind::Connect => match e.endpoint.as_deref() {
            Some(ep) if ep.starts_with("unix:") => [Some(Touch::Connect(ep)), None],
            _ => [None, None],
        },
        Kind::NetConnect | Kind::Send => [e.endpoint.as_deref().map(Touch::Connect), None],
        // A bind to a UNIX path also creates the socket file (`path`).
        Kind::Bind => [
            e.endpoint.as_deref().map(|ep| Touch::Local("bind", ep)),
            path.map(Touch::Change),
        ],
        Kind::Listen => [
            e.endpoint.as_deref().map(|ep| Touch::Local("listen", ep)),
            None,
        ],
        _ => [None, None],
    }
}

/// The four kernel categories of a surface, built one event at a time with the noise filter
/// applied (never to a sensitive location): what [`derive_with`] uses for a whole run before
/// normalizing, and correlation uses per tool call.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    pub paths: BTreeSet<String>,
    pub writes: BTreeSet<String>,
    pub endpoints: BTreeSet<String>,
    /// `network_local` entries.
    pub local: BTreeSet<String>,
    pub execs: BTreeSet<String>,
    /// Entries removed by the filter, per category (`sink_devices` for data sinks).
    pub filtered: BTreeMap<String, u64>,
}

impl Accumulator {
    /// Adds what one event contributes; the default sensitive locations are never filtered.
    pub fn add(&mut self, e: &KernelEvent, noise: &NoiseFilter) {
        self.add_with(e, noise, normalize::is_sensitive_default);
    }

    /// Adds what one event contributes; `sensitive` entries are never filtered.
    pub fn add_with(
        &mut self,
        e: &KernelEvent,
        noise: &NoiseFilter,
        sensitive: impl Fn(&str) -> bool,
    ) {
        let filter = |filtered: &mut BTreeMap<String, u64>, cat: &str, s: &str| -> bool {
            // A sensitive location is never hidden, whatever the noise filter says.
            if s.is_empty() || (noise.is_noise(s) && !sensitive(s)) {
                *filtered.entry(cat.to_string()).or_default() += 1;
                true
            } else {
                false
            }
        };
        // Insert without allocating when the entry is already there (most events repeat one).
        fn insert(set: &mut BTreeSet<String>, s: &str) {
            if !set.contains(s) {
                set.insert(s.to_string());
            }
        }
        for t in touches(e).into_iter().flatten() {
            match t {
                Touch::OpenRead(p) | Touch::OpenWrite(p)
                    if noise.sinks && SINK_DEVICES.contains(&p) =>
                {
                    filter(&mut self.filtered, "sink_devices", "");
                }
                Touch::OpenRead(p) => {
                    if !filter(&mut self.filtered, "filesystem_paths", p) {
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
                    if !filter(&mut self.filtered, "network_endpoints", ep) {
                        insert(&mut self.endpoints, ep);
                    }
                }
                Touch::Local(prefix, ep) => {
                    self.local.insert(Touch::local_entry(prefix, ep));
                }
            }
        }
    }
}

/// Adds the policy layer's categories: `mcp_tools` (the tools called through a wrapper) and
/// `policy_decisions` (`allow:TOOL` / `deny:TOOL`). Calls refused before a tool name was known
/// add nothing.
pub fn add_policy(s: &mut CapabilitySurface, records: &[PolicyEvent]) {
    let mut tools: BTreeSet<String> = s.mcp_tools.drain(..).collect();
    let mut decisions: BTreeSet<String> = s.policy_decisions.drain(..).collect();
    for r in records.iter().filter(|r| !r.tool.is_empty()) {
        tools.insert(r.tool.clone());
        let d = match r.decision {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        };
        decisions.insert(format!("{d}:{}", r.tool));
    }
    s.mcp_tools = tools.into_iter().collect();
    s.policy_decisions = decisions.into_iter().collect();
}

/// Derives the capability surface from canonical kernel events with the default rules.
pub fn derive(run_id: &str, events: &[KernelEvent], noise: &NoiseFilter) -> Derived {
    derive_with(run_id, events, noise, &normalize::Rules::defaults())
}

/// Derives the capability surface from canonical kernel events, normalized by `rules`.
pub fn derive_with(
    run_id: &str,
    events: &[KernelEvent],
    noise: &NoiseFilter,
    rules: &normalize::Rules,
) -> Derived {
    let mut d = Deriver::new(noise, rules);
    for e in events {
        d.add(e);
    }
    d.finish(run_id)
}

/// The surface built incrementally, one canonical event at a time: a [`KernelSink`], so the
/// pipeline derives it while the kernel layer streams past. It holds the distinct strings of
/// each set and the facts normalization needs (small next to the events).
#[derive(Debug)]
pub struct Deriver<'a> {
    noise: &'a NoiseFilter,
    rules: &'a normalize::Rules,
    facts: normalize::Facts,
    acc: Accumulator,
    names: names::Names,
}

impl<'a> Deriver<'a> {
    pub fn new(noise: &'a NoiseFilter, rules: &'a normalize::Rules) -> Deriver<'a> {
        Deriver {
            noise,
            rules,
            facts: normalize::Facts::default(),
            acc: Accumulator::default(),
            names: names::Names::default(),
        }
    }

    /// Adds one event's contributions.
    pub fn add(&mut self, e: &KernelEvent) {
        self.facts.event(e);
        self.names.event(e);
        let rules = self.rules;
        self.acc.add_with(e, self.noise, |s| rules.is_sensitive(s));
    }

    /// The names the run observed so far (DNS answers, ClientHello server names).
    pub fn names(&self) -> &names::Names {
        &self.names
    }

    /// The normalized surface and the filtered counts.
    pub fn finish(self, run_id: &str) -> Derived {
        let rules = self.rules;
        let facts = self.facts;
        let Accumulator {
            paths,
            writes,
            endpoints,
            local,
            execs,
            filtered,
        } = self.acc;
        let m = normalize::Mapper::new(rules, &facts, writes.iter().map(String::as_str));
        use normalize::Use;
        let paths: BTreeSet<String> = paths
            .iter()
            .map(|p| {
                m.map(
                    p,
                    if writes.contains(p) {
                        Use::Write
                    } else {
                        Use::Read
                    },
                )
            })
            .collect();
        let writes: BTreeSet<String> = writes.iter().map(|p| m.map(p, Use::Write)).collect();
        let execs: BTreeSet<String> = execs.iter().map(|p| m.map(p, Use::Exec)).collect();
        let endpoints = self.names.apply(&endpoints);
        Derived {
            surface: CapabilitySurface {
                schema: surface::SCHEMA.into(),
                run_id: run_id.into(),
                filesystem_paths: paths.into_iter().collect(),
                filesystem_writes: writes.into_iter().collect(),
                network_endpoints: endpoints.into_iter().collect(),
                network_local: local.into_iter().collect(),
                process_execs: execs.into_iter().collect(),
                mcp_tools: Vec::new(),
                policy_decisions: Vec::new(),
            },
            filtered,
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

    fn net(kind: Kind, endpoint: &str, escaped: bool) -> KernelEvent {
        KernelEvent {
            endpoint: Some(endpoint.into()),
            escaped,
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
            net(Kind::NetConnect, "tcp:127.0.0.1:9", false),
            net(Kind::Send, "udp:[::1]:53", false),
            net(Kind::Bind, "udp:0.0.0.0:0", false),
            net(Kind::Listen, "tcp:127.0.0.1:8080", false),
            net(Kind::Connect, "unix:/run/x.sock", false),
            net(Kind::Connect, "10.0.0.1:22", true),
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
        // The syscall's INET connect is in the surface through the `net_connect` line, with
        // its protocol, never as a bare address.
        assert_eq!(
            s.network_endpoints,
            ["tcp:127.0.0.1:9", "udp:[::1]:53", "unix:/run/x.sock"]
        );
        assert_eq!(
            s.network_local,
            ["bind:udp:0.0.0.0:0", "listen:tcp:127.0.0.1:8080"]
        );
        assert_eq!(s.process_execs, ["/bin/sh"]);
        assert_eq!(d.filtered.get("filesystem_paths"), Some(&2));
        let all = derive("r", &events, &NoiseFilter::none());
        assert_eq!(all.surface.filesystem_paths.len(), 6);
        // A noise filter never hides a sensitive location.
        let ssh = vec![ev(Kind::Open, "/root/.ssh/id_rsa", Some("read"), "ok")];
        let broad = NoiseFilter::new(&["/root/**"]).unwrap();
        assert_eq!(
            derive("r", &ssh, &broad).surface.filesystem_paths,
            ["/root/.ssh/id_rsa"]
        );
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

//! Surface normalization: the rules that make a real workload's surface the same on every run and
//! short enough to review, applied to the exact sets [`super::derive`] collected. The kernel
//! layer is never changed: it keeps every real path.
//!
//! Each exact path is mapped once, in this order (the first rule that applies wins):
//! 1. **Sensitive** ([`SENSITIVE`]): kept exactly as observed — never collapsed, redacted or
//!    hidden behind a placeholder.
//! 2. **Transient** (by behaviour, whatever its name): inside the work dir or a temp area
//!    ([`TEMP_AREAS`]), a path the run created (a `mkdir`, an `O_CREAT|O_EXCL` open, a rename,
//!    link or symlink target, or anything in a fresh area: the private temp dir, or the work dir
//!    of a proof outside its seeds) and that no longer exists at the end (every process whose
//!    last create/remove of it was a removal: unlink, rmdir, or renamed away). The path and its
//!    whole subtree become `DIR/<transient>`, with `DIR` the parent of the topmost transient
//!    ancestor (itself mapped by rules 3-6).
//! 3. **Created trees** ([`DEFAULT_WORK_TREES`], plus any directory holding a `pyvenv.cfg` the
//!    run wrote): a tree the run itself created in the work dir becomes one `ROOT/**` entry, for
//!    reads and writes.
//! 4. **Collapse rules** of the proof (`surface.collapse`): `ROOT/**` for reads anywhere, and for
//!    writes inside the work dir and the temp areas.
//! 5. **Toolchain trees** ([`DEFAULT_READ_TREES`]): paths only read (not written) under an
//!    interpreter's or toolchain's own tree become `ROOT/**`.
//! 6. **Temp areas**: the private temp dir (`/tmp` as the command sees it) is shown as `<tmp>`;
//!    inside temp areas the well-known random-name families ([`FAMILIES`]) become `<random>`;
//!    the proof's redactions apply inside the work dir and the temp areas only.
//!
//! Writes outside the work dir and the temp areas stay exact (only rule 1 applies to them), and
//! no placeholder ever stands for a path outside the temp areas: rule 2 keeps the directory,
//! rules 3-5 keep the tree's root, and redactions replace part of one name inside the work dir
//! or a temp area. Executed files get rules 1, 2 and 6 only.
//! Imports: `assay_contracts::kernel_event`.

use std::collections::{BTreeSet, HashMap};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use regex::Regex;

use assay_contracts::kernel_event::{KernelEvent, Kind};

/// Placeholder for a transient path and its subtree.
pub const TRANSIENT: &str = "<transient>";
/// The private temp dir of the run.
pub const TMP: &str = "<tmp>";
/// Placeholder for a random part of a name in a temp area.
pub const RANDOM: &str = "<random>";
/// Where the command sees its private temp dir (also its `TMPDIR`).
pub const PRIVATE_TMP: &str = "/tmp";
/// Temp areas: where transient paths collapse, random-name families and redactions apply.
pub const TEMP_AREAS: &[&str] = &["/tmp", "/var/tmp", "/dev/shm"];
/// Placeholders a redaction may not use.
pub const RESERVED: &[&str] = &["<work>", "<tmp>", "<transient>", "<unresolved>"];

/// Locations that are never collapsed, redacted or hidden (globs; `**/` matches any prefix,
/// including `<work>/`, so every home directory is covered).
pub const SENSITIVE: &[&str] = &[
    "**/.ssh",
    "**/.ssh/**",
    "**/.aws",
    "**/.aws/**",
    "**/.azure/**",
    "**/.config/gcloud",
    "**/.config/gcloud/**",
    "**/.config/gh/hosts.yml",
    "**/.kube",
    "**/.kube/**",
    "**/.docker/config.json",
    "**/.gnupg",
    "**/.gnupg/**",
    "**/.password-store/**",
    "**/.netrc",
    "**/.git-credentials",
    "**/.npmrc",
    "**/.pypirc",
    "**/.cargo/credentials",
    "**/.cargo/credentials.toml",
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d/**",
    "/etc/ssh/ssh_host_*",
    "/proc/*/environ",
    "/proc/*/mem",
    "/proc/kcore",
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/run/secrets/**",
    "/run/secrets/**",
];

/// Roots of interpreter and toolchain trees whose *reads* collapse to `ROOT/**` (globs for the
/// root directory; `*` stays inside one name; the shortest matching prefix is the root).
pub const DEFAULT_READ_TREES: &[&str] = &[
    "/usr/lib/python[23]*",
    "/usr/local/lib/python[23]*",
    "/usr/share/python*",
    "**/.pyenv/versions/*",
    "**/__pycache__",
    "**/.rustup/toolchains/*",
    "/usr/local/rustup/toolchains/*",
    "**/.cargo/registry",
    "/usr/lib/node_modules/*",
    "/usr/local/lib/node_modules/*",
    "/usr/share/nodejs",
    "/usr/include",
    "/usr/local/include",
    "/usr/lib/gcc/*/*",
    "/usr/libexec/gcc/*/*",
    "/usr/share/git-core",
    "/usr/local/share/git-core",
];

/// Roots of trees that collapse to `ROOT/**` (reads and writes) when the run created them.
pub const DEFAULT_WORK_TREES: &[&str] = &[
    "<work>/**/.git",
    "<work>/**/target",
    "<work>/**/node_modules",
    "<work>/**/.venv",
    "<work>/**/venv",
    "<work>/**/__pycache__",
    "<work>/**/.tox",
    "<work>/.cache",
    "<work>/.npm",
];

/// Well-known random-name families, applied to one name inside a temp area: `(regex, what the
/// whole name becomes)`. Each regex matches every name its generator can produce.
pub const FAMILIES: &[(&str, &str)] = &[
    // mktemp(1) default: tmp.XXXXXXXXXX
    (r"^tmp\.[A-Za-z0-9]{10}$", "tmp.<random>"),
    // Python tempfile, default prefix: tmp + 8 of [a-z0-9_], optional suffix
    (r"^tmp[a-z0-9_]{8}(\.[A-Za-z0-9.]+)?$", "tmp<random>$1"),
    // Python tempfile with a prefix ending in - or _ (pip-unpack-, pip-build-tracker-, ...)
    (r"^(.*[-_])[a-z0-9_]{8}$", "$1<random>"),
    // mkstemp/mkdtemp (libc, Node's fs.mkdtemp) with a prefix ending in - _ or .: 6 of [A-Za-z0-9]
    (r"^(.*[-_.])[A-Za-z0-9]{6}$", "$1<random>"),
    // gcc's cc + 6 + suffix, libc tmp + 6
    (r"^(cc|tmp)[A-Za-z0-9]{6}(\.[A-Za-z0-9]+)?$", "$1<random>$2"),
];

/// A user redaction: `pattern` (a regex, applied inside each name) → `placeholder`.
#[derive(Debug, Clone)]
pub struct Redaction {
    pub pattern: Regex,
    pub placeholder: String,
}

/// Why a redaction or collapse rule cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    #[error("redaction pattern `{pattern}`: {why}")]
    Pattern { pattern: String, why: String },
    #[error(
        "placeholder `{0}` must be `<name>` with a name of [a-z0-9_-] (and not <work>, <tmp>, <transient> or <unresolved>)"
    )]
    Placeholder(String),
    #[error("collapse root `{glob}`: {why}")]
    Collapse { glob: String, why: String },
}

impl Redaction {
    /// Checks and compiles a user redaction.
    pub fn new(pattern: &str, placeholder: &str) -> Result<Redaction, RuleError> {
        let bad = |why: &str| RuleError::Pattern {
            pattern: pattern.into(),
            why: why.into(),
        };
        let re = Regex::new(pattern).map_err(|e| {
            // regex's syntax errors span lines (pattern, caret, message): keep the message.
            let text = e.to_string();
            let msg = text
                .lines()
                .find_map(|l| l.strip_prefix("error: "))
                .unwrap_or(text.lines().next().unwrap_or("invalid"))
                .to_string();
            bad(&format!("invalid regex: {msg}"))
        })?;
        if re.is_match("") {
            return Err(bad("matches the empty string"));
        }
        if pattern.contains('/') {
            return Err(bad("applies inside one name and cannot contain `/`"));
        }
        let inner = placeholder
            .strip_prefix('<')
            .and_then(|p| p.strip_suffix('>'));
        let ok = inner.is_some_and(|n| {
            !n.is_empty()
                && n.len() <= 64
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        });
        if !ok || RESERVED.contains(&placeholder) {
            return Err(RuleError::Placeholder(placeholder.into()));
        }
        Ok(Redaction {
            pattern: re,
            placeholder: placeholder.into(),
        })
    }
}

fn globs(list: &[&str]) -> Result<GlobSet, globset::Error> {
    let mut b = GlobSetBuilder::new();
    for g in list {
        b.add(GlobBuilder::new(g).literal_separator(true).build()?);
    }
    b.build()
}

/// A compiled rule set.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Whether the command ran with a private temp dir at [`PRIVATE_TMP`].
    pub private_tmp: bool,
    /// The work dir's contents before the run (`<work>/...`), when it was freshly made.
    pub work_before: Option<BTreeSet<String>>,
    sensitive: GlobSet,
    read_trees: GlobSet,
    work_trees: GlobSet,
    collapse: GlobSet,
    families: Vec<(Regex, &'static str)>,
    redactions: Vec<Redaction>,
    /// Whether rules 2-6 apply at all (`false`: the exact surface).
    pub enabled: bool,
}

impl Rules {
    /// The documented defaults (no private temp dir, work dir not fresh).
    pub fn defaults() -> Rules {
        Rules::with::<&str>(&[], Vec::new()).expect("the default rules compile")
    }

    /// The defaults plus a proof's collapse roots and redactions.
    pub fn with<S: AsRef<str>>(
        collapse: &[S],
        redactions: Vec<Redaction>,
    ) -> Result<Rules, RuleError> {
        let mut b = GlobSetBuilder::new();
        for g in collapse {
            let g = g.as_ref();
            let bad = |why: String| RuleError::Collapse {
                glob: g.into(),
                why,
            };
            if !(g.starts_with('/') || g.starts_with("<work>/") || g.starts_with("<tmp>/")) {
                return Err(bad("must start with `/`, `<work>/` or `<tmp>/`".into()));
            }
            if g.ends_with('/') || g.ends_with("**") {
                return Err(bad(
                    "names the root directory (no trailing `/` or `**`)".into()
                ));
            }
            b.add(
                GlobBuilder::new(g)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| bad(e.kind().to_string()))?,
            );
        }
        let collapse = b.build().map_err(|e| RuleError::Collapse {
            glob: String::new(),
            why: e.to_string(),
        })?;
        let compiled = |l: &[&str]| globs(l).expect("built-in globs compile");
        Ok(Rules {
            private_tmp: false,
            work_before: None,
            sensitive: compiled(SENSITIVE),
            read_trees: compiled(DEFAULT_READ_TREES),
            work_trees: compiled(DEFAULT_WORK_TREES),
            collapse,
            families: FAMILIES
                .iter()
                .map(|(r, to)| (Regex::new(r).expect("built-in families compile"), *to))
                .collect(),
            redactions,
            enabled: true,
        })
    }

    /// No rule at all: the exact surface.
    pub fn exact() -> Rules {
        Rules {
            enabled: false,
            ..Rules::defaults()
        }
    }

    /// Whether `p` is a sensitive location.
    pub fn is_sensitive(&self, p: &str) -> bool {
        self.sensitive.is_match(p)
    }
}

/// Whether `p` is one of the default sensitive locations ([`SENSITIVE`]).
pub fn is_sensitive_default(p: &str) -> bool {
    static DEFAULTS: std::sync::LazyLock<Rules> = std::sync::LazyLock::new(Rules::defaults);
    DEFAULTS.is_sensitive(p)
}

impl Rules {
    fn in_tmp(&self, p: &str) -> bool {
        TEMP_AREAS.iter().any(|a| under(p, a))
    }

    fn fresh(&self, p: &str) -> bool {
        if self.private_tmp && under(p, PRIVATE_TMP) && p != PRIVATE_TMP {
            return true;
        }
        match &self.work_before {
            Some(before) => p.starts_with("<work>/") && !before.contains(p),
            None => false,
        }
    }
}

/// Whether `p` is `area` or below it.
fn under(p: &str, area: &str) -> bool {
    p == area || (p.starts_with(area) && p.as_bytes().get(area.len()) == Some(&b'/'))
}

fn parent(p: &str) -> Option<&str> {
    let i = p.rfind('/')?;
    (i > 0).then(|| &p[..i])
}

/// Prefixes of `p` at name boundaries, shortest first, `p` itself last.
fn prefixes(p: &str) -> impl Iterator<Item = &str> {
    p.char_indices()
        .filter(|&(i, c)| c == '/' && i > 0)
        .map(move |(i, _)| &p[..i])
        .chain(std::iter::once(p))
}

/// What one process did to the existence of one path (positions in its own event order).
#[derive(Debug, Default, Clone)]
struct PerProcess {
    /// The last event that made the path exist: a create, mkdir, rename/link/symlink target, or
    /// an `O_CREAT` open.
    last_create: Option<usize>,
    /// The last removal: unlink, rmdir, or renamed away.
    last_remove: Option<usize>,
    /// Whether this process created the path for certain or removed it (else it only opened it
    /// with `O_CREAT`, as a compiler writes the file its driver made).
    owner: bool,
}

/// What the run did to the existence of one path.
#[derive(Debug, Default, Clone)]
struct Existence {
    certain: bool,
    per: HashMap<String, PerProcess>,
}

/// Create/remove facts gathered from canonical kernel events, one event at a time (each
/// process's events in its own order, as the kernel layer lists them).
#[derive(Debug, Default, Clone)]
pub struct Facts {
    paths: HashMap<String, Existence>,
    /// Events seen per process so far (the position of the next one).
    next: HashMap<String, usize>,
    /// Child label → (parent label, position of the fork in the parent).
    forks: HashMap<String, (String, usize)>,
}

/// How an event changes a path's existence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// mkdir, `O_CREAT|O_EXCL`, rename/link/symlink target: the path did not exist before.
    Created,
    /// An `O_CREAT` open: the path exists afterwards, whether or not it did before.
    Opened,
    Removed,
}

impl Facts {
    /// Records one canonical kernel event.
    pub fn event(&mut self, e: &KernelEvent) {
        let pos = {
            let n = self.next.entry(e.process.clone()).or_default();
            *n += 1;
            *n - 1
        };
        if e.kind == Kind::Fork
            && let Some(c) = &e.child
        {
            self.forks.insert(c.clone(), (e.process.clone(), pos));
        }
        if e.result != "ok" {
            return;
        }
        let path = e.path.as_deref();
        let path2 = e.path2.as_deref();
        let mut put = |p: Option<&str>, c: Change| {
            if let Some(p) = p {
                self.set(&e.process, pos, p, c);
            }
        };
        match e.kind {
            Kind::Open if e.flags.iter().any(|f| f == "create") => {
                let excl = e.flags.iter().any(|f| f == "excl");
                put(
                    path,
                    if excl {
                        Change::Created
                    } else {
                        Change::Opened
                    },
                );
            }
            Kind::Mkdir | Kind::Mknod | Kind::Bind => put(path, Change::Created),
            Kind::Unlink | Kind::Rmdir => put(path, Change::Removed),
            Kind::Rename => {
                put(path, Change::Removed);
                put(path2, Change::Created);
            }
            Kind::Link | Kind::Symlink => put(path2, Change::Created),
            _ => {}
        }
    }

    fn set(&mut self, process: &str, pos: usize, p: &str, c: Change) {
        let x = self.paths.entry(p.to_string()).or_default();
        x.certain |= c == Change::Created;
        let me = x.per.entry(process.to_string()).or_default();
        match c {
            Change::Removed => me.last_remove = Some(pos),
            Change::Created | Change::Opened => me.last_create = Some(pos),
        }
        me.owner |= c != Change::Opened;
    }

    /// Whether event `a` of process `x` happened before event `b` of process `y`, as far as
    /// the process tree proves it: in the same process by order, or `y` descends from a child
    /// `x` forked after `a`. Anything else is not known.
    fn before(&self, x: &str, a: usize, y: &str, b: usize) -> bool {
        if x == y {
            return a < b;
        }
        let Some(rest) = y.strip_prefix(x).and_then(|r| r.strip_prefix('/')) else {
            return false;
        };
        let first = rest.split('/').next().unwrap_or(rest);
        let child = format!("{x}/{first}");
        self.forks
            .get(&child)
            .is_some_and(|(parent, f)| parent == x && a < *f)
    }

    /// Whether the run certainly created `p` (by an event or in a fresh area).
    fn created(&self, rules: &Rules, p: &str) -> bool {
        self.paths.get(p).is_some_and(|x| x.certain) || rules.fresh(p)
    }

    /// Whether `p` is gone at the end: some removal happened after every event that made it
    /// exist, so nothing observed made it exist again. When the path was created for certain,
    /// `O_CREAT` opens by processes that neither created nor removed it count as uses, not
    /// creations (a compiler writing the temp file its driver made and later removes).
    fn gone(&self, p: &str) -> bool {
        let Some(x) = self.paths.get(p) else {
            return false;
        };
        let creators: Vec<(&str, usize)> = x
            .per
            .iter()
            .filter(|(_, pp)| !x.certain || pp.owner)
            .filter_map(|(l, pp)| pp.last_create.map(|c| (l.as_str(), c)))
            .collect();
        x.per.iter().any(|(y, pp)| {
            pp.last_remove
                .is_some_and(|r| creators.iter().all(|&(cx, c)| self.before(cx, c, y, r)))
        })
    }

    fn transient(&self, rules: &Rules, p: &str) -> bool {
        (p.starts_with("<work>/") || rules.in_tmp(p))
            && !TEMP_AREAS.contains(&p)
            && self.gone(p)
            && self.created(rules, p)
    }
}

/// What kind of surface entry a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// In `filesystem_paths` only (read, or a link source).
    Read,
    /// Written (in `filesystem_writes` too).
    Write,
    /// Executed.
    Exec,
}

/// Maps exact surface paths to their normalized entries.
pub struct Mapper<'a> {
    rules: &'a Rules,
    facts: &'a Facts,
    /// Work-dir roots of venvs: directories holding a `pyvenv.cfg` the run wrote.
    venvs: BTreeSet<String>,
}

impl<'a> Mapper<'a> {
    /// `writes`: the exact written paths (venvs are found among them).
    pub fn new<'w>(
        rules: &'a Rules,
        facts: &'a Facts,
        writes: impl IntoIterator<Item = &'w str>,
    ) -> Mapper<'a> {
        let venvs = writes
            .into_iter()
            .filter(|w| w.starts_with("<work>/") && w.ends_with("/pyvenv.cfg"))
            .filter_map(parent)
            .filter(|d| facts.created(rules, d))
            .map(str::to_string)
            .collect();
        Mapper {
            rules,
            facts,
            venvs,
        }
    }

    /// The entry for exact path `p` used as `u`.
    pub fn map(&self, p: &str, u: Use) -> String {
        let r = self.rules;
        if !r.enabled || r.is_sensitive(p) {
            return p.to_string();
        }
        // Rule 2: the topmost transient ancestor (or `p`) collapses with its subtree.
        if let Some(top) = prefixes(p).find(|a| self.facts.transient(r, a))
            && let Some(dir) = parent(top)
        {
            let dir = if u == Use::Exec {
                self.names(dir)
            } else {
                self.map_dir(dir, Use::Write)
            };
            return if dir.ends_with("/**") {
                dir
            } else {
                format!("{dir}/{TRANSIENT}")
            };
        }
        if u == Use::Exec {
            return self.names(p);
        }
        self.map_dir(p, u)
    }

    /// Rules 3-6 for a path that is not transient.
    fn map_dir(&self, p: &str, u: Use) -> String {
        let r = self.rules;
        let inside = p.starts_with("<work>/") || p == "<work>" || r.in_tmp(p);
        // Rule 3: trees the run created in the work dir.
        if p.starts_with("<work>/")
            && let Some(root) = prefixes(p).find(|a| {
                self.venvs.contains(*a) || (r.work_trees.is_match(a) && self.facts.created(r, a))
            })
        {
            return format!("{root}/**");
        }
        // Rule 4: the proof's collapse roots (matched on the displayed form, so `<tmp>/x` works).
        if u == Use::Read || inside {
            let shown = self.tmp_prefix(p);
            if let Some(root) = prefixes(&shown).find(|a| r.collapse.is_match(a)) {
                return format!("{root}/**");
            }
        }
        // Rule 5: toolchain trees, reads only.
        if u == Use::Read
            && let Some(root) = prefixes(p).find(|a| r.read_trees.is_match(a))
        {
            return format!("{root}/**");
        }
        self.names(p)
    }

    fn tmp_prefix(&self, p: &str) -> String {
        if self.rules.private_tmp && under(p, PRIVATE_TMP) {
            format!("{TMP}{}", &p[PRIVATE_TMP.len()..])
        } else {
            p.to_string()
        }
    }

    /// Rule 6: `<tmp>`, random-name families (temp areas) and redactions (work dir, temp areas).
    fn names(&self, p: &str) -> String {
        let r = self.rules;
        let in_tmp = r.in_tmp(p);
        if !(in_tmp || p.starts_with("<work>/")) {
            return p.to_string();
        }
        let area = if in_tmp {
            TEMP_AREAS
                .iter()
                .find(|a| under(p, a))
                .copied()
                .unwrap_or("")
        } else {
            "<work>"
        };
        let (head, rest) = p.split_at(area.len());
        let head = if r.private_tmp && head == PRIVATE_TMP {
            TMP
        } else {
            head
        };
        let mut out = String::from(head);
        for name in rest.split('/').skip(1) {
            out.push('/');
            let mut n = name.to_string();
            if in_tmp && let Some((re, to)) = r.families.iter().find(|(re, _)| re.is_match(&n)) {
                n = re.replace(&n, *to).into_owned();
            }
            for red in &r.redactions {
                n = red
                    .pattern
                    .replace_all(&n, red.placeholder.as_str())
                    .into_owned();
            }
            out.push_str(&n);
        }
        out
    }
}

/// For a normalized entry (one with a placeholder other than `<work>`, or a `/**` tree), the
/// anchored regex of the exact paths it may stand for; `None` for an exact entry. `verify` holds a
/// normalized entry supported when a kernel-layer path of its category matches.
pub fn support_pattern(entry: &str) -> Option<String> {
    let (body, tree) = match entry.strip_suffix("/**") {
        Some(b) => (b, true),
        None => (entry, false),
    };
    let mut re = String::from("^");
    let mut normalized = tree;
    let mut rest = body;
    while !rest.is_empty() {
        let ph = rest
            .find('<')
            .and_then(|i| rest[i..].find('>').map(|j| (i, i + j + 1)));
        let Some((i, j)) = ph else {
            re.push_str(&regex::escape(rest));
            break;
        };
        re.push_str(&regex::escape(&rest[..i]));
        match &rest[i..j] {
            "<work>" => re.push_str(&regex::escape("<work>")),
            TMP => {
                normalized = true;
                re.push_str(&regex::escape(PRIVATE_TMP));
            }
            TRANSIENT => {
                normalized = true;
                re.push_str("[^/]+(/.*)?");
            }
            _ => {
                normalized = true;
                re.push_str("[^/]*");
            }
        }
        rest = &rest[j..];
    }
    if tree {
        re.push_str("(/.*)?");
    }
    re.push('$');
    normalized.then_some(re)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ev(
        process: &str,
        kind: Kind,
        path: &str,
        path2: Option<&str>,
        flags: &[&str],
    ) -> KernelEvent {
        KernelEvent {
            path: Some(path.into()),
            path2: path2.map(String::from),
            flags: flags.iter().map(|f| f.to_string()).collect(),
            ..KernelEvent::new("r", 0, process, kind)
        }
    }

    fn fork(parent: &str, child: &str) -> KernelEvent {
        KernelEvent {
            child: Some(child.into()),
            ..KernelEvent::new("r", 0, parent, Kind::Fork)
        }
    }

    fn facts(events: &[KernelEvent]) -> Facts {
        let mut f = Facts::default();
        events.iter().for_each(|e| f.event(e));
        f
    }

    fn map(rules: &Rules, f: &Facts, p: &str, u: Use) -> String {
        Mapper::new(rules, f, std::iter::empty()).map(p, u)
    }

    #[test]
    fn transient_files_collapse_to_their_directory() {
        let f = facts(&[
            // git: tmp object created exclusively, renamed to its final name
            ev("p0", Kind::Mkdir, "<work>/objs", None, &[]),
            ev(
                "p0",
                Kind::Open,
                "<work>/objs/tmp_obj_Ab12Cd",
                None,
                &["create", "excl"],
            ),
            ev(
                "p0",
                Kind::Rename,
                "<work>/objs/tmp_obj_Ab12Cd",
                Some("<work>/objs/0f"),
                &[],
            ),
            // gcc: the driver makes the temp file, cc1 writes it, the driver removes it
            ev(
                "p0/gcc#1",
                Kind::Open,
                "/tmp/ccX1y2Z3.s",
                None,
                &["create", "excl"],
            ),
            ev(
                "p0/gcc#1/cc1#1",
                Kind::Open,
                "/tmp/ccX1y2Z3.s",
                None,
                &["trunc"],
            ),
            ev("p0/gcc#1", Kind::Unlink, "/tmp/ccX1y2Z3.s", None, &[]),
            // a TemporaryDirectory tree
            ev("p0", Kind::Mkdir, "/tmp/tmpabcd1234", None, &[]),
            ev(
                "p0",
                Kind::Open,
                "/tmp/tmpabcd1234/f",
                None,
                &["create", "trunc"],
            ),
            ev("p0", Kind::Unlink, "/tmp/tmpabcd1234/f", None, &[]),
            ev("p0", Kind::Rmdir, "/tmp/tmpabcd1234", None, &[]),
        ]);
        let mut rules = Rules::defaults();
        rules.private_tmp = true;
        assert_eq!(
            map(&rules, &f, "<work>/objs/tmp_obj_Ab12Cd", Use::Write),
            "<work>/objs/<transient>"
        );
        assert_eq!(
            map(&rules, &f, "<work>/objs/0f", Use::Write),
            "<work>/objs/0f"
        );
        assert_eq!(
            map(&rules, &f, "/tmp/ccX1y2Z3.s", Use::Write),
            "<tmp>/<transient>"
        );
        assert_eq!(
            map(&rules, &f, "/tmp/tmpabcd1234/f", Use::Write),
            "<tmp>/<transient>"
        );
        assert_eq!(
            map(&rules, &f, "/tmp/tmpabcd1234", Use::Write),
            "<tmp>/<transient>"
        );
        // A shell redirect creates, a later child removes: ordered by the fork.
        let f2 = facts(&[
            ev("p0", Kind::Open, "<work>/g.txt", None, &["create", "trunc"]),
            fork("p0", "p0/rm#1"),
            ev("p0/rm#1", Kind::Unlink, "<work>/g.txt", None, &[]),
            // ...but a child's removal does not order its parent's later re-creation
            fork("p0", "p0/rm#2"),
            ev("p0/rm#2", Kind::Unlink, "<work>/h.txt", None, &[]),
            ev("p0", Kind::Open, "<work>/h.txt", None, &["create", "excl"]),
        ]);
        let mut fresh = Rules::defaults();
        fresh.work_before = Some(BTreeSet::new());
        assert_eq!(
            map(&fresh, &f2, "<work>/g.txt", Use::Write),
            "<work>/<transient>"
        );
        assert_eq!(map(&fresh, &f2, "<work>/h.txt", Use::Write), "<work>/h.txt");
        // Without a private tmp, /tmp is still a temp area but not shown as <tmp>.
        let shared = Rules::defaults();
        assert_eq!(
            map(&shared, &f, "/tmp/ccX1y2Z3.s", Use::Write),
            "/tmp/<transient>"
        );
    }

    #[test]
    fn not_transient_when_recreated_preexisting_or_outside() {
        let f = facts(&[
            // removed by one process, recreated by another: the end state is unknown
            ev("p0/mkdir#1", Kind::Mkdir, "<work>/build", None, &[]),
            ev("p0/rm#1", Kind::Rmdir, "<work>/build", None, &[]),
            ev("p0/mkdir#2", Kind::Mkdir, "<work>/build", None, &[]),
            // a file that may have existed before the run, removed
            ev(
                "p0",
                Kind::Open,
                "<work>/old.txt",
                None,
                &["create", "trunc"],
            ),
            ev("p0", Kind::Unlink, "<work>/old.txt", None, &[]),
            // outside the work dir and temp areas: writes stay exact
            ev("p0", Kind::Open, "/etc/passwd+", None, &["create", "excl"]),
            ev("p0", Kind::Rename, "/etc/passwd+", Some("/etc/passwd"), &[]),
            // sensitive, even in the work dir
            ev(
                "p0",
                Kind::Open,
                "<work>/.ssh/tmpkey",
                None,
                &["create", "excl"],
            ),
            ev("p0", Kind::Unlink, "<work>/.ssh/tmpkey", None, &[]),
        ]);
        let rules = Rules::defaults();
        for p in [
            "<work>/build",
            "<work>/old.txt",
            "/etc/passwd+",
            "<work>/.ssh/tmpkey",
        ] {
            assert_eq!(map(&rules, &f, p, Use::Write), p);
        }
        // In a fresh work dir, a path that was not a seed was created by the run.
        let mut fresh = Rules::defaults();
        fresh.work_before = Some(BTreeSet::from(["<work>/seed.txt".to_string()]));
        assert_eq!(
            map(&fresh, &f, "<work>/old.txt", Use::Write),
            "<work>/<transient>"
        );
    }

    #[test]
    fn trees_collapse_reads_and_created_work_trees() {
        let f = facts(&[
            ev("p0", Kind::Mkdir, "<work>/target", None, &[]),
            ev(
                "p0",
                Kind::Open,
                "<work>/v/pyvenv.cfg",
                None,
                &["create", "trunc"],
            ),
            ev("p0", Kind::Mkdir, "<work>/v", None, &[]),
        ]);
        let rules = Rules::defaults();
        let m = Mapper::new(&rules, &f, ["<work>/v/pyvenv.cfg"]);
        assert_eq!(
            m.map("/usr/lib/python3.11/os.py", Use::Read),
            "/usr/lib/python3.11/**"
        );
        assert_eq!(
            m.map(
                "/usr/lib/python3.11/__pycache__/os.cpython-311.pyc",
                Use::Read
            ),
            "/usr/lib/python3.11/**"
        );
        // a write under a toolchain tree stays exact
        assert_eq!(
            m.map("/usr/lib/python3.11/os.py", Use::Write),
            "/usr/lib/python3.11/os.py"
        );
        assert_eq!(
            m.map(
                "/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/lib/x.rlib",
                Use::Read
            ),
            "/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/**"
        );
        assert_eq!(
            m.map("<work>/target/debug/app", Use::Write),
            "<work>/target/**"
        );
        assert_eq!(m.map("<work>/target", Use::Write), "<work>/target/**");
        assert_eq!(
            m.map("<work>/v/lib/python3.11/site-packages/x.py", Use::Write),
            "<work>/v/**"
        );
        // a seeded tree (not created by the run) stays exact
        assert_eq!(
            m.map("<work>/node_modules/a/index.js", Use::Read),
            "<work>/node_modules/a/index.js"
        );
        assert_eq!(
            m.map("/usr/bin/python3.11", Use::Exec),
            "/usr/bin/python3.11"
        );
    }

    #[test]
    fn families_and_redactions_only_in_their_areas() {
        let f = Facts::default();
        let red = vec![Redaction::new("[0-9a-f]{8}$", "<id>").unwrap()];
        let mut rules = Rules::with(&["<tmp>/cache"], red).unwrap();
        rules.private_tmp = true;
        let m = Mapper::new(&rules, &f, std::iter::empty());
        assert_eq!(m.map("/tmp/tmpvxa96i4f", Use::Write), "<tmp>/tmp<random>");
        assert_eq!(
            m.map("/tmp/tmp.AbCdEf1234/x", Use::Write),
            "<tmp>/tmp.<random>/x"
        );
        assert_eq!(
            m.map("/tmp/pip-unpack-ab_d1234", Use::Write),
            "<tmp>/pip-unpack-<random>"
        );
        assert_eq!(m.map("/tmp/node-Ab12Cd", Use::Write), "<tmp>/node-<random>");
        assert_eq!(m.map("/tmp/ccAb12Cd.o", Use::Write), "<tmp>/cc<random>.o");
        assert_eq!(m.map("/tmp/cache/a/b", Use::Write), "<tmp>/cache/**");
        assert_eq!(
            m.map("<work>/build-0123abcd", Use::Write),
            "<work>/build-<id>"
        );
        // outside the work dir and temp areas nothing is redacted
        assert_eq!(
            m.map("/opt/tmp.AbCdEf1234", Use::Write),
            "/opt/tmp.AbCdEf1234"
        );
        assert_eq!(
            m.map("/opt/build-0123abcd", Use::Read),
            "/opt/build-0123abcd"
        );
        assert_eq!(m.map("/tmp/readme.txt", Use::Read), "<tmp>/readme.txt");
    }

    #[test]
    fn support_patterns_match_what_an_entry_stands_for() {
        let ok = |entry: &str, path: &str| {
            let re = Regex::new(&support_pattern(entry).unwrap()).unwrap();
            re.is_match(path)
        };
        assert_eq!(support_pattern("<work>/a.txt"), None);
        assert!(ok("<tmp>/<transient>", "/tmp/tmpab/c"));
        assert!(!ok("<tmp>/<transient>", "/tmpx/a"));
        assert!(ok("/usr/lib/python3.11/**", "/usr/lib/python3.11/os.py"));
        assert!(!ok("/usr/lib/python3.11/**", "/usr/lib/python3.12/os.py"));
        assert!(ok("<work>/target/**", "<work>/target"));
        assert!(ok("<tmp>/pip-unpack-<random>", "/tmp/pip-unpack-abcd1234"));
        assert!(!ok("<tmp>/pip-unpack-<random>", "/tmp/pip-unpack-ab/cd"));
        assert!(ok("<work>/objs/<transient>", "<work>/objs/tmp_obj_x"));
    }

    #[test]
    fn user_rules_are_checked() {
        assert!(Redaction::new("a/b", "<x>").is_err());
        assert!(Redaction::new("a*", "<x>").is_err());
        assert!(Redaction::new("(", "<x>").is_err());
        assert_eq!(
            Redaction::new("ab", "<tmp>").unwrap_err(),
            RuleError::Placeholder("<tmp>".into())
        );
        assert!(Redaction::new("ab", "x").is_err());
        assert!(Rules::with(&["relative"], Vec::new()).is_err());
        assert!(Rules::with(&["/opt/**"], Vec::new()).is_err());
        assert!(Rules::with(&["/opt/{"], Vec::new()).is_err());
    }

    #[test]
    fn sensitive_globs_cover_every_home() {
        let r = Rules::defaults();
        for p in [
            "<work>/.ssh/id_ed25519",
            "/root/.ssh",
            "/home/u/.aws/credentials",
            "/home/u/.config/gcloud/credentials.db",
            "/proc/123/environ",
            "/etc/shadow",
            "/home/u/.kube/config",
            "/root/.docker/config.json",
        ] {
            assert!(r.is_sensitive(p), "{p}");
        }
        assert!(!r.is_sensitive("/etc/passwd"));
    }

    fn arb_path() -> impl Strategy<Value = String> {
        let name = prop_oneof![
            Just(".ssh".to_string()),
            Just(".aws".to_string()),
            Just("tmp".to_string()),
            Just("target".to_string()),
            Just("python3.11".to_string()),
            Just("__pycache__".to_string()),
            "[a-zA-Z0-9._-]{1,12}",
        ];
        let root = prop_oneof![
            Just("<work>".to_string()),
            Just("/tmp".to_string()),
            Just("/usr/lib".to_string()),
            Just("/root".to_string()),
            Just("/etc".to_string()),
            Just("/proc/1".to_string()),
        ];
        (root, proptest::collection::vec(name, 0..5)).prop_map(|(r, names)| {
            std::iter::once(r)
                .chain(names)
                .collect::<Vec<_>>()
                .join("/")
        })
    }

    fn arb_facts() -> impl Strategy<Value = Vec<KernelEvent>> {
        let kind = prop_oneof![
            Just((Kind::Mkdir, vec![])),
            Just((Kind::Open, vec!["create", "excl"])),
            Just((Kind::Open, vec!["create"])),
            Just((Kind::Unlink, vec![])),
            Just((Kind::Rmdir, vec![])),
        ];
        proptest::collection::vec(
            (prop_oneof![Just("p0"), Just("p0/x#1")], kind, arb_path()),
            0..12,
        )
        .prop_map(|v| {
            v.into_iter()
                .map(|(proc_, (k, fl), p)| ev(proc_, k, &p, None, &fl))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn sensitive_paths_are_never_changed(events in arb_facts(), p in arb_path(), w in any::<bool>(), private in any::<bool>()) {
            let f = facts(&events);
            let mut rules = Rules::with(&["/root", "<work>/tmp"], vec![Redaction::new("[a-z]", "<l>").unwrap()]).unwrap();
            rules.private_tmp = private;
            let m = Mapper::new(&rules, &f, std::iter::empty());
            let u = if w { Use::Write } else { Use::Read };
            if rules.is_sensitive(&p) {
                prop_assert_eq!(m.map(&p, u), p.clone());
            }
        }

        #[test]
        fn no_rule_merges_two_non_temp_paths(events in arb_facts(), a in arb_path(), b in arb_path(), wa in any::<bool>(), wb in any::<bool>()) {
            // Without user redactions or collapse roots, two different paths that are neither
            // transient, in a temp area, nor in a tree collapse never map to the same entry.
            let f = facts(&events);
            let rules = Rules::defaults();
            let m = Mapper::new(&rules, &f, std::iter::empty());
            let ua = if wa { Use::Write } else { Use::Read };
            let ub = if wb { Use::Write } else { Use::Read };
            let (ma, mb) = (m.map(&a, ua), m.map(&b, ub));
            let kept = |x: &str, mx: &str| {
                !mx.ends_with("/**") && !mx.contains(TRANSIENT) && !TEMP_AREAS.iter().any(|t| under(x, t))
            };
            if a != b && kept(&a, &ma) && kept(&b, &mb) {
                prop_assert_ne!(ma.clone(), mb.clone());
            }
            // A path outside the work dir and the temp areas is either exact or a tree root
            // that is a prefix of it: never a placeholder.
            for (x, mx) in [(&a, &ma), (&b, &mb)] {
                if !x.starts_with("<work>") && !x.starts_with("/tmp") {
                    let root = mx.strip_suffix("/**").unwrap_or(mx);
                    prop_assert!(x.starts_with(root), "{} -> {}", x, mx);
                    prop_assert!(!mx.contains('<'), "{} -> {}", x, mx);
                }
            }
        }

        #[test]
        fn mapping_never_panics(events in arb_facts(), p in "\\PC{0,40}", w in 0u8..3) {
            let f = facts(&events);
            let mut rules = Rules::defaults();
            rules.private_tmp = true;
            rules.work_before = Some(BTreeSet::new());
            let u = [Use::Read, Use::Write, Use::Exec][w as usize];
            let m = Mapper::new(&rules, &f, [p.as_str()]).map(&p, u);
            // Every entry either is the path or stands for it.
            if m != p {
                let re = support_pattern(&m);
                prop_assert!(re.is_some(), "{} -> {}", p, m);
                let re = re.unwrap_or_default();
                prop_assert!(Regex::new(&re).unwrap().is_match(&p), "{} -> {} ({})", p, m, re);
            }
        }
    }
}

//! The matcher behind classification: every glob of a lanes file, matched once per path, at a
//! cost that does not grow with the globs a path cannot match (design §4 semantics, exactly those
//! of one `globset::GlobSet` over the same globs; property-tested against it).
//!
//! Each glob keeps globset's own translation to a regex. From that regex we take a *key*: a set
//! of literals one of which every matching path must contain (`mod12/` for `mod12/**/*.rs`,
//! `f12_` for `**/f12_*.txt`, `docs3/` for `**/docs3/**`, one of `apps`, `libs` for
//! `{apps,libs}/**`), preferring literals few other globs share. One Aho-Corasick automaton over
//! all keys finds a path's candidate globs; each candidate is confirmed by its own lazy DFA,
//! built from the same regex the first time the glob is a candidate, which computes only the
//! transitions paths use. Globs without a usable key (`**`, `*`, `**/?`) or whose key too many
//! globs share go to one `GlobSet`, as before. Identical globs (e.g. the same `except` in 500
//! rules) are matched once.
//! Imports: nothing from the crate.

use aho_corasick::{AhoCorasick, MatchKind as AcMatchKind};
use globset::{Candidate, Glob, GlobSet, GlobSetBuilder};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use regex_automata::hybrid;
use regex_automata::nfa::thompson;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input};
use regex_syntax::hir::{Hir, HirKind};

/// Shortest literal worth indexing: a one-byte key (`/`, `.`) selects nearly every path.
const MIN_KEY_LEN: usize = 2;
/// Most literals in one key (an alternation like `{a,b,c}` gives one literal per branch).
const MAX_KEY_LITERALS: usize = 16;
/// A key shared by more globs than this would make each hit confirm that many globs one by one;
/// such globs are left to the `GlobSet`.
const MAX_KEY_SHARE: usize = 64;
/// Cache size of one glob's lazy DFA; a glob whose DFA needs more states clears it and goes on.
const DFA_CACHE_CAPACITY: usize = 256 * 1024;

/// Why the globs could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum MatcherError {
    /// globset rejected the fallback set.
    #[error("cannot compile globs: {0}")]
    Set(#[from] globset::Error),
    /// The literal index could not be built.
    #[error("cannot index globs: {0}")]
    Index(#[from] aho_corasick::BuildError),
}

/// How a keyed glob is confirmed once its key was seen in a path.
#[derive(Debug, Clone)]
enum Confirm {
    /// Its own lazy DFA (the common case).
    Dfa(Box<hybrid::dfa::DFA>),
    /// A `GlobSet` of the glob alone, when no lazy DFA could be built for it.
    Set(Box<GlobSet>),
}

/// Gives each index (and each clone) an identity, so scratch caches are never used with the
/// DFAs of another index.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Every glob of a config, compiled for matching many paths.
#[derive(Debug)]
pub struct GlobIndex {
    id: u64,
    /// Glob index → distinct glob id.
    distinct_of: Vec<u32>,
    /// Distinct glob id → the glob indices that share it, ascending.
    members: Vec<Vec<u32>>,
    /// Distinct glob id → the glob.
    globs: Vec<Glob>,
    /// Distinct glob id → globset's regex for it, parsed (keyed globs only), to build the DFA.
    hirs: Vec<Option<Hir>>,
    /// Distinct glob id → whether it is keyed (else the fallback set matches it).
    is_keyed: Vec<bool>,
    /// Distinct glob id → its confirming matcher, built when first needed.
    confirm: Vec<OnceLock<Confirm>>,
    /// Key literals; pattern id → distinct globs keyed by it.
    keys: Option<AhoCorasick>,
    keyed: Vec<Vec<u32>>,
    /// Globs without a usable key, and their distinct ids.
    fallback: GlobSet,
    fallback_ids: Vec<u32>,
}

impl Clone for GlobIndex {
    fn clone(&self) -> GlobIndex {
        GlobIndex {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            distinct_of: self.distinct_of.clone(),
            members: self.members.clone(),
            globs: self.globs.clone(),
            hirs: self.hirs.clone(),
            is_keyed: self.is_keyed.clone(),
            confirm: self.confirm.clone(),
            keys: self.keys.clone(),
            keyed: self.keyed.clone(),
            fallback: self.fallback.clone(),
            fallback_ids: self.fallback_ids.clone(),
        }
    }
}

/// Per-thread scratch space for [`GlobIndex`], so matching allocates nothing per path once
/// warm: marks, hits, and each lazy DFA's cache.
#[derive(Debug, Default)]
pub struct MatchScratch {
    owner: u64,
    caches: Vec<Option<hybrid::dfa::Cache>>,
    seen: Vec<u32>,
    generation: u32,
    set_hits: Vec<usize>,
    /// Distinct glob ids that matched the last path, ascending.
    pub(crate) hits: Vec<u32>,
}

impl MatchScratch {
    /// Starts a new path: returns the generation that marks "seen during this path".
    fn start(&mut self, owner: u64, distinct: usize) -> u32 {
        if self.owner != owner {
            self.owner = owner;
            self.caches.clear();
            self.caches.resize_with(distinct, || None);
            self.seen.clear();
        }
        if self.seen.len() != distinct || self.generation == u32::MAX {
            self.seen.clear();
            self.seen.resize(distinct, 0);
            self.generation = 0;
        }
        self.generation += 1;
        self.hits.clear();
        self.generation
    }
}

/// A set of literals one of which every match contains.
type Key = Vec<Vec<u8>>;

impl GlobIndex {
    /// Compiles `globs` (as built by `config::compile_glob`).
    pub fn new(globs: &[Glob]) -> Result<GlobIndex, MatcherError> {
        let (distinct_of, members, first) = distinct_globs(globs);
        let syntax = syntax::Config::new().utf8(false).dot_matches_new_line(true);
        let parsed: Vec<Option<Hir>> = first
            .iter()
            .map(|g| syntax::parse_with(g.regex(), &syntax).ok())
            .collect();
        let options: Vec<Vec<Key>> = parsed.iter().map(|h| key_options(h.as_ref())).collect();
        let share = literal_share(&options);
        let mut table = KeyTable::default();
        let mut is_keyed = Vec::with_capacity(first.len());
        let mut fallback = GlobSetBuilder::new();
        let mut fallback_ids = Vec::new();
        for (id, (opts, hir)) in options.iter().zip(&parsed).enumerate() {
            match cheapest_key(opts, &share).filter(|_| hir.is_some()) {
                Some(key) => {
                    table.add(key, id as u32);
                    is_keyed.push(true);
                }
                None => {
                    fallback.add(first[id].clone());
                    fallback_ids.push(id as u32);
                    is_keyed.push(false);
                }
            }
        }
        let keys = table.automaton()?;
        Ok(GlobIndex {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            confirm: (0..first.len()).map(|_| OnceLock::new()).collect(),
            distinct_of,
            members,
            globs: first.into_iter().cloned().collect(),
            hirs: parsed
                .into_iter()
                .zip(&is_keyed)
                .map(|(h, &k)| h.filter(|_| k))
                .collect(),
            is_keyed,
            keys,
            keyed: table.keyed,
            fallback: fallback.build()?,
            fallback_ids,
        })
    }

    /// An index over no globs.
    pub fn empty() -> GlobIndex {
        GlobIndex {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            distinct_of: Vec::new(),
            members: Vec::new(),
            globs: Vec::new(),
            hirs: Vec::new(),
            is_keyed: Vec::new(),
            confirm: Vec::new(),
            keys: None,
            keyed: Vec::new(),
            fallback: GlobSet::empty(),
            fallback_ids: Vec::new(),
        }
    }

    /// Number of globs (as passed to [`GlobIndex::new`]).
    pub fn len(&self) -> usize {
        self.distinct_of.len()
    }

    /// True when there are no globs.
    pub fn is_empty(&self) -> bool {
        self.distinct_of.is_empty()
    }

    /// Number of distinct globs.
    pub(crate) fn distinct(&self) -> usize {
        self.members.len()
    }

    /// The distinct id of glob `glob` (an index below [`GlobIndex::len`]).
    pub(crate) fn distinct_of(&self, glob: usize) -> u32 {
        self.distinct_of[glob]
    }

    /// Matches `path`; leaves the distinct ids that matched in `scratch.hits`, ascending.
    pub(crate) fn match_distinct(&self, path: &[u8], scratch: &mut MatchScratch) {
        let generation = scratch.start(self.id, self.members.len());
        let mut candidate: Option<Candidate<'_>> = None;
        if !self.fallback.is_empty() {
            let c = candidate.insert(candidate_of(path));
            self.fallback
                .matches_candidate_into(c, &mut scratch.set_hits);
            for &i in &scratch.set_hits {
                let id = self.fallback_ids[i];
                scratch.seen[id as usize] = generation;
                scratch.hits.push(id);
            }
        }
        if let Some(keys) = &self.keys {
            let odd = without_basename(path);
            for m in keys.find_overlapping_iter(path) {
                for &id in &self.keyed[m.pattern().as_usize()] {
                    let seen = &mut scratch.seen[id as usize];
                    if *seen == generation {
                        continue;
                    }
                    *seen = generation;
                    let hit = if odd {
                        self.globset_alone(id, path, &mut candidate)
                    } else {
                        self.confirm(id, path, &mut scratch.caches, &mut candidate)
                    };
                    if hit {
                        scratch.hits.push(id);
                    }
                }
            }
        }
        scratch.hits.sort_unstable();
    }

    /// Like `GlobSet::matches_into`: the indices of every glob that matches `path`, ascending.
    pub fn matches_into(&self, path: &[u8], scratch: &mut MatchScratch, out: &mut Vec<usize>) {
        out.clear();
        self.match_distinct(path, scratch);
        for &id in &scratch.hits {
            out.extend(self.members[id as usize].iter().map(|&g| g as usize));
        }
        out.sort_unstable();
    }
}

impl GlobIndex {
    /// Confirms keyed glob `id` on `path` (its key was seen in `path`).
    fn confirm<'p>(
        &self,
        id: u32,
        path: &'p [u8],
        caches: &mut [Option<hybrid::dfa::Cache>],
        candidate: &mut Option<Candidate<'p>>,
    ) -> bool {
        let confirm = self.confirm[id as usize]
            .get_or_init(|| confirm_for(&self.globs[id as usize], self.hirs[id as usize].as_ref()));
        match confirm {
            Confirm::Dfa(dfa) => {
                let cache = caches[id as usize].get_or_insert_with(|| dfa.create_cache());
                let input = Input::new(path).anchored(Anchored::Yes).earliest(true);
                match dfa.try_search_fwd(cache, &input) {
                    Ok(m) => m.is_some(),
                    Err(_) => self.globset_alone(id, path, candidate),
                }
            }
            Confirm::Set(set) => {
                set.is_match_candidate(candidate.get_or_insert_with(|| candidate_of(path)))
            }
        }
    }

    /// Matches one glob exactly as a `GlobSet` holding it would. Needed for the paths where
    /// globset's strategies and its regex for a glob disagree (see [`without_basename`]) and
    /// for a DFA search error, which anchored searches of these regexes never raise.
    #[cold]
    fn globset_alone<'p>(
        &self,
        id: u32,
        path: &'p [u8],
        candidate: &mut Option<Candidate<'p>>,
    ) -> bool {
        let c = candidate.get_or_insert_with(|| candidate_of(path));
        GlobSet::new(std::slice::from_ref(&self.globs[id as usize]))
            .is_ok_and(|set| set.is_match_candidate(c))
    }
}

/// Distinct globs, by globset's regex (which encodes every option of the glob): each glob's
/// distinct id, each distinct id's globs (ascending), and each distinct id's first glob.
fn distinct_globs(globs: &[Glob]) -> (Vec<u32>, Vec<Vec<u32>>, Vec<&Glob>) {
    let mut by_regex = std::collections::HashMap::new();
    let mut distinct_of = Vec::with_capacity(globs.len());
    let mut members: Vec<Vec<u32>> = Vec::new();
    let mut first: Vec<&Glob> = Vec::new();
    for (i, g) in globs.iter().enumerate() {
        let id = *by_regex.entry(g.regex()).or_insert_with(|| {
            members.push(Vec::new());
            first.push(g);
            members.len() as u32 - 1
        });
        members[id as usize].push(i as u32);
        distinct_of.push(id);
    }
    (distinct_of, members, first)
}

/// The usable keys of a glob's parsed regex: few enough literals, none too short, each sorted
/// and deduplicated.
fn key_options(hir: Option<&Hir>) -> Vec<Key> {
    let mut out = Vec::new();
    if let Some(h) = hir {
        required(h, &mut out);
    }
    out.retain(|k| k.len() <= MAX_KEY_LITERALS && k.iter().all(|l| l.len() >= MIN_KEY_LEN));
    for k in &mut out {
        k.sort();
        k.dedup();
    }
    out
}

/// How many distinct globs could be keyed by each literal (rare literals are preferred).
fn literal_share(options: &[Vec<Key>]) -> std::collections::HashMap<&[u8], usize> {
    let mut share: std::collections::HashMap<&[u8], usize> = Default::default();
    for opts in options {
        let mut lits: Vec<&[u8]> = opts.iter().flatten().map(Vec::as_slice).collect();
        lits.sort();
        lits.dedup();
        for l in lits {
            *share.entry(l).or_default() += 1;
        }
    }
    share
}

/// The key of `opts` whose literals the fewest globs share (then the one with the longest
/// shortest literal); `None` when even that one is shared by more than [`MAX_KEY_SHARE`].
fn cheapest_key<'k>(
    opts: &'k [Key],
    share: &std::collections::HashMap<&[u8], usize>,
) -> Option<&'k Key> {
    let best = opts
        .iter()
        .map(|k| {
            let cost: usize = k.iter().map(|l| share[l.as_slice()]).sum();
            let shortest = k.iter().map(Vec::len).min().unwrap_or(0);
            (cost, std::cmp::Reverse(shortest), k)
        })
        .min();
    match best {
        Some((cost, _, key)) if cost <= MAX_KEY_SHARE => Some(key),
        _ => None,
    }
}

/// The key literals chosen so far, and the distinct globs each one keys.
#[derive(Default)]
struct KeyTable {
    /// Literal → its pattern id.
    ids: std::collections::HashMap<Vec<u8>, usize>,
    /// Pattern id → literal.
    lits: Vec<Vec<u8>>,
    /// Pattern id → distinct globs keyed by it.
    keyed: Vec<Vec<u32>>,
}

impl KeyTable {
    /// Keys distinct glob `id` by every literal of `key`.
    fn add(&mut self, key: &Key, id: u32) {
        for lit in key {
            let k = *self.ids.entry(lit.clone()).or_insert_with(|| {
                self.lits.push(lit.clone());
                self.keyed.push(Vec::new());
                self.lits.len() - 1
            });
            self.keyed[k].push(id);
        }
    }

    /// One Aho-Corasick automaton over every literal, pattern ids as in the table; `None` when
    /// no glob is keyed.
    fn automaton(&self) -> Result<Option<AhoCorasick>, aho_corasick::BuildError> {
        if self.lits.is_empty() {
            return Ok(None);
        }
        AhoCorasick::builder()
            .match_kind(AcMatchKind::Standard)
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(&self.lits)
            .map(Some)
    }
}

/// True for a path globset gives no base name (empty, or ending in the component `..`): there
/// its basename, extension and required-extension strategies never match, although the glob's
/// regex may (`**/*.` and `a/..`).
fn without_basename(path: &[u8]) -> bool {
    path.is_empty() || path == b".." || path.ends_with(b"/..")
}

fn candidate_of(path: &[u8]) -> Candidate<'_> {
    use std::os::unix::ffi::OsStrExt;
    Candidate::new(std::path::Path::new(std::ffi::OsStr::from_bytes(path)))
}

/// Builds the confirming matcher of one glob from globset's regex for it, parsed with globset's
/// syntax options.
fn confirm_for(glob: &Glob, hir: Option<&Hir>) -> Confirm {
    let dfa = hir
        .and_then(|hir| {
            thompson::Compiler::new()
                .configure(
                    thompson::Config::new()
                        .utf8(false)
                        .which_captures(thompson::WhichCaptures::None),
                )
                .build_from_hir(hir)
                .ok()
        })
        .and_then(|nfa| {
            hybrid::dfa::Builder::new()
                .configure(hybrid::dfa::Config::new().cache_capacity(DFA_CACHE_CAPACITY))
                .build_from_nfa(nfa)
                .ok()
        });
    match dfa {
        Some(dfa) => Confirm::Dfa(Box::new(dfa)),
        // Not expected for a glob's regex; exact, only slower.
        None => Confirm::Set(Box::new(
            GlobSet::new(std::slice::from_ref(glob)).unwrap_or_else(|_| GlobSet::empty()),
        )),
    }
}

/// Collects keys of `h`: each a set of literals one of which every match of `h` contains.
fn required(h: &Hir, out: &mut Vec<Key>) {
    match h.kind() {
        HirKind::Literal(l) => out.push(vec![l.0.to_vec()]),
        HirKind::Capture(c) => required(&c.sub, out),
        HirKind::Repetition(r) if r.min >= 1 => required(&r.sub, out),
        HirKind::Concat(items) => {
            // Adjacent literals of a concatenation are contiguous in every match.
            let mut run: Vec<u8> = Vec::new();
            for it in items {
                if let HirKind::Literal(l) = it.kind() {
                    run.extend_from_slice(&l.0);
                    continue;
                }
                if !run.is_empty() {
                    out.push(vec![std::mem::take(&mut run)]);
                }
                required(it, out);
            }
            if !run.is_empty() {
                out.push(vec![run]);
            }
        }
        HirKind::Alternation(branches) => {
            // Every branch must contribute; the union of each branch's best key is a key.
            let mut union = Vec::new();
            for b in branches {
                let mut keys = Vec::new();
                required(b, &mut keys);
                let best = keys
                    .into_iter()
                    .filter(|k| !k.iter().any(Vec::is_empty))
                    .max_by_key(|k| k.iter().map(Vec::len).min().unwrap_or(0));
                match best {
                    Some(k) => union.extend(k),
                    None => return,
                }
            }
            if !union.is_empty() {
                out.push(union);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::compile_glob;
    use proptest::prelude::*;

    fn index(globs: &[&str]) -> (GlobIndex, GlobSet) {
        let globs: Vec<Glob> = globs.iter().map(|g| compile_glob(g).unwrap()).collect();
        let mut b = GlobSetBuilder::new();
        for g in &globs {
            b.add(g.clone());
        }
        (GlobIndex::new(&globs).unwrap(), b.build().unwrap())
    }

    fn matches(i: &GlobIndex, path: &[u8]) -> Vec<usize> {
        let mut out = Vec::new();
        i.matches_into(path, &mut MatchScratch::default(), &mut out);
        out
    }

    fn keyed(i: &GlobIndex) -> usize {
        i.is_keyed.iter().filter(|&&k| k).count()
    }

    #[test]
    fn monorepo_shapes_are_keyed_not_left_to_the_globset() {
        let (i, _) = index(&[
            "mod12/**/*.rs",
            "**/f12_*.txt",
            "**/skip12/**",
            "pkg7/{src,lib}/**/*.{ts,tsx}",
            "services/s7/**/Dockerfile",
            "**/docs7/**",
            "**/*.test.ts",
            "{apps,packages}/web/**",
        ]);
        assert_eq!(keyed(&i), 8, "{:?}", i.fallback_ids);
        let (i, _) = index(&["**", "*", "**/?", "*/**"]);
        assert_eq!(keyed(&i), 0, "nothing literal to key on");
    }

    #[test]
    fn globs_sharing_their_only_literal_with_many_others_stay_in_the_globset() {
        let texts: Vec<String> = (0..100)
            .map(|i| format!("[!{}]*/**/*.rs", char::from(b'!' + (i % 90) as u8)))
            .chain((0..20).map(|i| format!("src{i}/**/*.rs")))
            .collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let (i, set) = index(&texts);
        assert_eq!(keyed(&i), 20, "only the src{{i}} globs have a rare literal");
        for path in ["a/b.rs", "src3/x/y.rs", "!/b.rs", "src3.rs", "q/src19/a.rs"] {
            let mut want = set.matches(path);
            want.sort_unstable();
            assert_eq!(matches(&i, path.as_bytes()), want, "{path}");
        }
    }

    /// globset's basename strategies never match a path ending in `..`, although the glob's
    /// regex does (`*..` matches `..`); the index must answer as the `GlobSet` does.
    #[test]
    fn paths_ending_in_dot_dot_are_matched_as_the_globset_does() {
        let globs = ["*..", "**/..", "**/*.", "a/*.", "**/a*.", "a/**"];
        let (i, set) = index(&globs);
        for path in [
            "..", "a/..", "x..", "a/x.", "a/b/..", "", "a/", "a.", "a/..",
        ] {
            let mut want = set.matches(path);
            want.sort_unstable();
            assert_eq!(matches(&i, path.as_bytes()), want, "{path}");
        }
        // The case that needs the care: the regex of `*..` matches `..`, the GlobSet does not.
        assert!(
            compile_glob("*..")
                .unwrap()
                .compile_matcher()
                .is_match("..")
        );
        assert_eq!(matches(&i, b".."), Vec::<usize>::new());
        assert_eq!(
            matches(&i, b"a/.."),
            [5],
            "only `a/**`, which globset matches by prefix"
        );
    }

    #[test]
    fn identical_globs_are_matched_once_and_reported_for_each() {
        let (i, _) = index(&["**/*.md", "docs/**", "**/*.md"]);
        assert_eq!(i.distinct(), 2);
        assert_eq!(matches(&i, b"docs/a.md"), [0, 1, 2]);
        assert_eq!(matches(&i, b"a.md"), [0, 2]);
        assert_eq!(matches(&i, b"a.rs"), Vec::<usize>::new());
    }

    #[test]
    fn a_key_is_necessary_not_sufficient() {
        // Every path below contains the key `mod1/` or `f1_`, but only some match.
        let (i, _) = index(&["mod1/**/*.rs", "**/f1_*.txt"]);
        assert_eq!(matches(&i, b"mod1/a/b.rs"), [0]);
        assert_eq!(matches(&i, b"xmod1/a/b.rs"), Vec::<usize>::new());
        assert_eq!(matches(&i, b"mod1/a/b.rsx"), Vec::<usize>::new());
        assert_eq!(matches(&i, b"d/f1_x.txt"), [1]);
        assert_eq!(matches(&i, b"f1_x.txt"), [1]);
        assert_eq!(matches(&i, b"d/xf1_x.txt"), Vec::<usize>::new());
        assert_eq!(matches(&i, b"d/f1_/x.txt"), Vec::<usize>::new());
    }

    #[test]
    fn keys_ignore_literals_inside_classes_alternations_and_escapes() {
        for (glob, path) in [
            ("[ab]cd/**", "bcd/x"),
            ("{ab,cd}ef", "cdef"),
            ("x\\*yz/*", "x*yz/q"),
            ("**/a[!/]bc", "q/axbc"),
            ("{abc,de}/**/z{1,2}", "de/z2"),
        ] {
            let (i, s) = index(&[glob]);
            assert!(s.is_match(path), "{glob} {path}");
            assert_eq!(matches(&i, path.as_bytes()), [0], "{glob} {path}");
        }
    }

    /// One glob component: literals, `*`, `?`, classes, alternations, escapes, `**`.
    fn arb_component() -> impl Strategy<Value = String> {
        let lit = "[ab.x]{1,3}";
        prop_oneof![
            Just("**".to_string()),
            Just("*".to_string()),
            Just("?".to_string()),
            lit.prop_map(|s| s),
            lit.prop_map(|s| format!("{s}*")),
            lit.prop_map(|s| format!("*{s}")),
            (lit, lit).prop_map(|(a, b)| format!("{a}?{b}")),
            (lit, lit).prop_map(|(a, b)| format!("{a}*{b}")),
            lit.prop_map(|s| format!("[ab]{s}")),
            lit.prop_map(|s| format!("[!a]{s}")),
            lit.prop_map(|s| format!("{s}[.-x]")),
            (lit, lit).prop_map(|(a, b)| format!("{{{a},{b}}}")),
            (lit, lit, lit).prop_map(|(a, b, c)| format!("{a}{{{b},{c}}}")),
            (lit, lit).prop_map(|(a, b)| format!("*.{{{a},{b}}}")),
            (lit, lit).prop_map(|(a, b)| format!("{{{a}/**,{b}}}")),
            lit.prop_map(|s| format!("\\*{s}")),
            lit.prop_map(|s| format!("é{s}")),
            lit.prop_map(|s| format!("{s}\\?")),
            Just("\\[ab]".to_string()),
        ]
    }

    pub(crate) fn arb_glob() -> impl Strategy<Value = String> {
        proptest::collection::vec(arb_component(), 1..5).prop_map(|c| c.join("/"))
    }

    /// Paths over the same alphabet plus meta characters as literals and non-UTF-8 bytes.
    pub(crate) fn arb_path() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            8 => proptest::sample::select(b"ab.x".to_vec()),
            1 => proptest::sample::select(b"*?[]{},-\\\n".to_vec()),
            1 => proptest::sample::select(vec![0xff_u8, 0xc3, 0xa9, 0x80]),
        ];
        proptest::collection::vec(proptest::collection::vec(byte, 0..5), 1..6)
            .prop_map(|segs| segs.join(&b'/'))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The index reports exactly the globs one `GlobSet` over the same globs reports.
        #[test]
        fn same_matches_as_one_globset(
            globs in proptest::collection::vec(arb_glob(), 0..24),
            paths in proptest::collection::vec(arb_path(), 1..24),
        ) {
            let globs: Vec<Glob> = globs.iter().filter_map(|g| compile_glob(g).ok()).collect();
            let mut b = GlobSetBuilder::new();
            for g in &globs {
                b.add(g.clone());
            }
            let set = b.build().unwrap();
            let index = GlobIndex::new(&globs).unwrap();
            let mut scratch = MatchScratch::default();
            let (mut got, mut want) = (Vec::new(), Vec::new());
            for p in &paths {
                index.matches_into(p, &mut scratch, &mut got);
                set.matches_candidate_into(&candidate_of(p), &mut want);
                want.sort_unstable();
                prop_assert_eq!(&got, &want, "path {:?}, globs {:?}",
                    String::from_utf8_lossy(p), globs.iter().map(Glob::glob).collect::<Vec<_>>());
            }
        }
    }
}

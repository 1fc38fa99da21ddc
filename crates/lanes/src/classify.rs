//! Lane decisions: a file's lane, a PR's lane, and the full explanation of both (design §4).
//!
//! A file's lane is the highest lane among rules where the path matches any `paths` glob and no
//! `except` glob; with no such rule, the default. A PR's lane is the highest file lane; an empty
//! PR gets the lowest lane. One [`GlobIndex`](super::matcher::GlobIndex) holds every glob of every
//! rule, so a path is matched once against the whole rule set, at a cost that grows with the
//! globs it could match, not with the number of rules.
//! Imports: `crate::{config, changes, matcher}`.

use super::changes::{ChangeKind, ChangedPath};
use super::config::{GlobRole, LanesConfig, Pattern, Rule};
use super::matcher::MatchScratch;

/// The lane of one file and the rules that put it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDecision {
    /// Raw path bytes.
    pub path: Vec<u8>,
    /// How the file changed.
    pub change: ChangeKind,
    /// Lane index.
    pub lane: usize,
    /// Indices of every rule that applied (matched and not excepted), in file order.
    pub rules: Vec<usize>,
}

/// The decision for a whole change set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// PR lane index.
    pub lane: usize,
    /// One entry per changed path, in input order with exact duplicates removed.
    pub files: Vec<FileDecision>,
}

/// Reusable per-thread scratch space so classifying many paths allocates nothing per path.
#[derive(Debug, Default)]
pub struct Scratch {
    matcher: MatchScratch,
    matched: Vec<bool>,
    touched: Vec<u32>,
}

impl LanesConfig {
    /// Lane of one path; fills `applied` with the indices of the rules that applied.
    pub fn classify_path(
        &self,
        path: &[u8],
        scratch: &mut Scratch,
        applied: &mut Vec<usize>,
    ) -> usize {
        applied.clear();
        if scratch.matched.len() != self.rules.len() {
            scratch.matched = vec![false; self.rules.len()];
        }
        self.index.match_distinct(path, &mut scratch.matcher);
        let hits = &scratch.matcher.hits;
        for &id in hits {
            for &r in &self.path_rules[id as usize] {
                let m = &mut scratch.matched[r as usize];
                if !*m {
                    *m = true;
                    scratch.touched.push(r);
                }
            }
        }
        let mut lane = None;
        scratch.touched.sort_unstable();
        for &r in &scratch.touched {
            let r = r as usize;
            scratch.matched[r] = false;
            if self.except_ids[r]
                .iter()
                .any(|id| hits.binary_search(id).is_ok())
            {
                continue;
            }
            applied.push(r);
            lane = lane.max(Some(self.rules[r].lane));
        }
        scratch.touched.clear();
        lane.unwrap_or(self.default)
    }

    /// Classifies a change set. Renames arrive as two entries (old and new path), so both count.
    pub fn classify(&self, changes: &[ChangedPath]) -> Decision {
        let mut scratch = Scratch::default();
        let mut seen = std::collections::HashSet::with_capacity(changes.len());
        let mut files = Vec::with_capacity(changes.len());
        let mut pr_lane = 0;
        for c in changes {
            if !seen.insert((c.path.as_slice(), c.change)) {
                continue;
            }
            let mut rules = Vec::new();
            let lane = self.classify_path(&c.path, &mut scratch, &mut rules);
            pr_lane = pr_lane.max(lane);
            files.push(FileDecision {
                path: c.path.clone(),
                change: c.change,
                lane,
                rules,
            });
        }
        Decision {
            lane: pr_lane,
            files,
        }
    }

    /// Every rule's verdict on one path, for `lanes explain`.
    pub fn explain(&self, path: &[u8]) -> Explanation<'_> {
        let mut scratch = Scratch::default();
        let mut hits = Vec::new();
        self.index
            .matches_into(path, &mut scratch.matcher, &mut hits);
        let mut rules: Vec<RuleVerdict<'_>> = self
            .rules
            .iter()
            .map(|rule| RuleVerdict {
                rule,
                matched: Vec::new(),
                excepted: Vec::new(),
            })
            .collect();
        for g in hits {
            let o = self.owners[g];
            let v = &mut rules[o.rule];
            match o.role {
                GlobRole::Paths => v.matched.push(&v.rule.paths[o.index]),
                GlobRole::Except => v.excepted.push(&v.rule.except[o.index]),
            }
        }
        let mut applied = Vec::new();
        let lane = self.classify_path(path, &mut scratch, &mut applied);
        Explanation {
            lane,
            defaulted: applied.is_empty(),
            rules,
        }
    }
}

/// One rule's verdict on one path.
#[derive(Debug)]
pub struct RuleVerdict<'a> {
    /// The rule.
    pub rule: &'a Rule,
    /// Its `paths` globs that matched.
    pub matched: Vec<&'a Pattern>,
    /// Its `except` globs that matched.
    pub excepted: Vec<&'a Pattern>,
}

impl RuleVerdict<'_> {
    /// Whether this rule applies to the path.
    pub fn applies(&self) -> bool {
        !self.matched.is_empty() && self.excepted.is_empty()
    }
}

/// Why a path got its lane.
#[derive(Debug)]
pub struct Explanation<'a> {
    /// Final lane index.
    pub lane: usize,
    /// True when no rule applied and the default lane was used.
    pub defaulted: bool,
    /// Every rule, in file order.
    pub rules: Vec<RuleVerdict<'a>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CONFIG: &str = r#"
lanes: [none, cheap, mid, all]
default: cheap
rules:
  - name: docs
    lane: none
    paths: ["docs/**", "**/*.md"]
  - name: kernel
    lane: all
    paths: ["bpf/**", "src/kernel/**", "Cargo.lock"]
    except: ["**/*.md"]
  - name: lanes
    lane: mid
    paths: ["src/lanes/**"]
"#;

    fn config() -> LanesConfig {
        LanesConfig::parse("t.yaml", CONFIG.as_bytes()).unwrap()
    }

    fn lane_of(c: &LanesConfig, path: &str) -> &'static str {
        let mut s = Scratch::default();
        let mut a = Vec::new();
        let l = c.classify_path(path.as_bytes(), &mut s, &mut a);
        ["none", "cheap", "mid", "all"][l]
    }

    fn changed(paths: &[&str]) -> Vec<ChangedPath> {
        paths
            .iter()
            .map(|p| ChangedPath {
                path: p.as_bytes().to_vec(),
                change: ChangeKind::Modified,
            })
            .collect()
    }

    #[test]
    fn except_beats_paths() {
        let c = config();
        assert_eq!(lane_of(&c, "bpf/probe.bpf.c"), "all");
        assert_eq!(
            lane_of(&c, "bpf/README.md"),
            "none",
            "except removes the kernel rule; docs still applies"
        );
    }

    #[test]
    fn highest_lane_wins() {
        let c = config();
        // src/lanes/notes.md matches docs (none) and lanes (mid): mid wins.
        assert_eq!(lane_of(&c, "src/lanes/notes.md"), "mid");
    }

    #[test]
    fn default_when_no_rule_matches() {
        let c = config();
        assert_eq!(lane_of(&c, "README"), "cheap");
        assert_eq!(
            lane_of(&c, "sub/Cargo.lock"),
            "cheap",
            "a glob without / matches only at the root"
        );
        assert_eq!(lane_of(&c, "Cargo.lock"), "all");
    }

    #[test]
    fn empty_pr_gets_lowest_lane() {
        assert_eq!(config().classify(&[]).lane, 0);
    }

    #[test]
    fn rename_counts_under_both_paths() {
        let c = config();
        let changes = vec![
            ChangedPath {
                path: b"src/kernel/x.rs".to_vec(),
                change: ChangeKind::RenamedFrom,
            },
            ChangedPath {
                path: b"docs/x.rs".to_vec(),
                change: ChangeKind::RenamedTo,
            },
        ];
        let d = c.classify(&changes);
        assert_eq!(d.files.len(), 2);
        assert_eq!(
            d.lane, 3,
            "moving a kernel file out of src/kernel still needs the kernel lane"
        );
    }

    #[test]
    fn pr_lane_is_highest_file_lane() {
        let c = config();
        assert_eq!(
            c.classify(&changed(&["docs/a.md", "src/lanes/a.rs"])).lane,
            2
        );
        assert_eq!(c.classify(&changed(&["docs/a.md"])).lane, 0);
    }

    /// Design §4's glob semantics, one row per bullet.
    #[test]
    fn glob_semantics() {
        let m = |glob: &str, path: &str| {
            super::super::config::compile_glob(glob)
                .unwrap()
                .compile_matcher()
                .is_match(path)
        };
        assert!(m("src/*.rs", "src/a.rs"));
        assert!(!m("src/*.rs", "src/x/a.rs"), "* never crosses /");
        assert!(!m("src/?.rs", "src//.rs"), "? never matches /");
        assert!(m("src/**/a.rs", "src/a.rs"), "** spans zero directories");
        assert!(
            m("src/**/a.rs", "src/x/y/a.rs"),
            "** spans many directories"
        );
        assert!(m("src/**", "src/x/y/a.rs"));
        assert!(m("{docs,book}/**", "book/a.md"), "alternation");
        assert!(m("src/[ab].rs", "src/b.rs"), "classes");
        assert!(!m("src/[ab].rs", "src/c.rs"));
        assert!(!m("README.md", "readme.md"), "case-sensitive");
        assert!(
            !m("Cargo.lock", "sub/Cargo.lock"),
            "no-slash pattern is anchored at the root"
        );
        assert!(m("**/Cargo.lock", "sub/Cargo.lock"));
        assert!(m("**/Cargo.lock", "Cargo.lock"));
        assert!(
            m("a b/*.txt", "a b/c d.txt"),
            "spaces are ordinary characters"
        );
    }

    #[test]
    fn explain_lists_matching_and_excepting_globs() {
        let c = config();
        let e = c.explain(b"bpf/README.md");
        assert_eq!(e.lane, 0);
        assert!(!e.defaulted);
        let kernel = e.rules.iter().find(|v| v.rule.name == "kernel").unwrap();
        assert_eq!(kernel.matched[0].glob, "bpf/**");
        assert_eq!(kernel.excepted[0].glob, "**/*.md");
        assert!(!kernel.applies());
        assert!(c.explain(b"zzz").defaulted);
    }

    fn arb_glob() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("**".to_string()),
            "[a-c]{1,2}".prop_map(|s| format!("{s}/**")),
            "[a-c]{1,2}".prop_map(|s| format!("**/*.{s}")),
            "[a-c]{1,2}/[a-c]{1,2}\\.[a-c]".prop_map(|s| s),
            "[a-c]{1,2}".prop_map(|s| format!("{s}/*")),
        ]
    }

    fn arb_path() -> impl Strategy<Value = String> {
        proptest::collection::vec("[a-c]{1,2}", 1..4).prop_flat_map(|segs| {
            "[a-c]".prop_map(move |ext| format!("{}.{}", segs.join("/"), ext))
        })
    }

    proptest! {
        /// Adding a rule can only raise a file's lane, never lower it.
        #[test]
        fn adding_a_rule_never_lowers_a_lane(
            rules in proptest::collection::vec((0usize..4, proptest::collection::vec(arb_glob(), 1..3), proptest::collection::vec(arb_glob(), 0..2)), 0..5),
            extra in (0usize..4, proptest::collection::vec(arb_glob(), 1..3), proptest::collection::vec(arb_glob(), 0..2)),
            default in 0usize..4,
            paths in proptest::collection::vec(arb_path(), 1..10),
        ) {
            let lanes = ["l0", "l1", "l2", "l3"];
            let render = |rules: &[(usize, Vec<String>, Vec<String>)]| {
                let mut y = format!("lanes: [l0, l1, l2, l3]\ndefault: {}\nrules:\n", lanes[default]);
                for (i, (lane, paths, except)) in rules.iter().enumerate() {
                    y.push_str(&format!("  - name: r{i}\n    lane: {}\n    paths: {:?}\n    except: {:?}\n", lanes[*lane], paths, except));
                }
                if rules.is_empty() { y.push_str("  []\n"); }
                y
            };
            let before = LanesConfig::parse("a", render(&rules).as_bytes()).unwrap();
            let mut more = rules.clone();
            more.push(extra);
            let after = LanesConfig::parse("b", render(&more).as_bytes()).unwrap();
            let mut s = Scratch::default();
            let mut a = Vec::new();
            for p in &paths {
                let l0 = before.classify_path(p.as_bytes(), &mut s, &mut a);
                let l1 = after.classify_path(p.as_bytes(), &mut s, &mut a);
                prop_assert!(l1 >= l0 || (l0 == default && before.explain(p.as_bytes()).defaulted),
                    "path {p}: lane dropped from {l0} to {l1}");
            }
        }
    }

    /// The decision as one `GlobSet` over every glob (the matcher before the index) makes it.
    fn lane_by_one_globset(c: &LanesConfig, path: &[u8]) -> (usize, Vec<usize>) {
        let mut b = globset::GlobSetBuilder::new();
        let mut owner = Vec::new();
        for (r, rule) in c.rules.iter().enumerate() {
            for p in &rule.paths {
                b.add(super::super::config::compile_glob(&p.glob).unwrap());
                owner.push((r, true));
            }
            for p in &rule.except {
                b.add(super::super::config::compile_glob(&p.glob).unwrap());
                owner.push((r, false));
            }
        }
        let set = b.build().unwrap();
        let (mut matched, mut excepted) = (vec![false; c.rules.len()], vec![false; c.rules.len()]);
        for g in set.matches_candidate(&super::super::config::candidate(path)) {
            let (r, is_path) = owner[g];
            if is_path {
                matched[r] = true;
            } else {
                excepted[r] = true;
            }
        }
        let applied: Vec<usize> = (0..c.rules.len())
            .filter(|&r| matched[r] && !excepted[r])
            .collect();
        let lane = applied
            .iter()
            .map(|&r| c.rules[r].lane)
            .max()
            .unwrap_or(c.default);
        (lane, applied)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Lanes and applied rules equal those of one `GlobSet` over all globs, `except` included.
        #[test]
        fn same_decisions_as_one_globset(
            rules in proptest::collection::vec((
                0usize..4,
                proptest::collection::vec(super::super::matcher::tests::arb_glob(), 1..4),
                proptest::collection::vec(super::super::matcher::tests::arb_glob(), 0..3),
            ), 0..12),
            default in 0usize..4,
            paths in proptest::collection::vec(super::super::matcher::tests::arb_path(), 1..16),
        ) {
            let lanes = ["l0", "l1", "l2", "l3"];
            let valid = |g: &String| super::super::config::compile_glob(g).is_ok();
            let mut y = format!("lanes: [l0, l1, l2, l3]\ndefault: {}\nrules:\n", lanes[default]);
            let mut n = 0;
            for (lane, paths, except) in &rules {
                let paths: Vec<&String> = paths.iter().filter(|g| valid(g)).collect();
                let except: Vec<&String> = except.iter().filter(|g| valid(g)).collect();
                if paths.is_empty() {
                    continue;
                }
                let q = |v: &[&String]| serde_json::to_string(v).unwrap();
                y.push_str(&format!("  - name: r{n}\n    lane: {}\n    paths: {}\n    except: {}\n",
                    lanes[*lane], q(&paths), q(&except)));
                n += 1;
            }
            if n == 0 {
                y.push_str("  []\n");
            }
            let c = LanesConfig::parse("p", y.as_bytes()).unwrap();
            let mut s = Scratch::default();
            let mut applied = Vec::new();
            for p in &paths {
                let lane = c.classify_path(p, &mut s, &mut applied);
                let (want_lane, want_applied) = lane_by_one_globset(&c, p);
                prop_assert_eq!((lane, &applied), (want_lane, &want_applied),
                    "path {:?} config\n{}", String::from_utf8_lossy(p), y);
                let e = c.explain(p);
                prop_assert_eq!(e.lane, want_lane);
                prop_assert_eq!(e.defaulted, want_applied.is_empty());
            }
        }
    }
}

//! Diagnostics for lanes files: stable kebab-case codes; the `file:line:column: error[code]`
//! type is the one every configuration file shares (`assay_contracts::diag`).
//! Imports: `assay_contracts::diag`.

/// Stable code of a lanes-file problem. Codes are part of the CLI contract: scripts may match
/// on them, so a code is never renamed or reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// The file is not valid YAML (or not UTF-8).
    YamlSyntax,
    /// A key the format does not define.
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A lane name that `lanes` does not list.
    UnknownLane,
    /// `lanes` is empty.
    EmptyLanes,
    /// A lane listed twice.
    DuplicateLane,
    /// Two rules with one name.
    DuplicateRule,
    /// Two cases or forbid checks with one name.
    DuplicateName,
    /// An empty name.
    EmptyName,
    /// A rule or check without paths.
    EmptyPaths,
    /// A glob that does not compile.
    InvalidGlob,
    /// A regex that does not compile.
    InvalidRegex,
    /// The file exceeds the size limit.
    TooLarge,
}

impl Code {
    /// Every code, for documentation and the uniqueness test.
    pub const ALL: [Code; 13] = [
        Code::YamlSyntax,
        Code::UnknownKey,
        Code::MissingKey,
        Code::UnknownLane,
        Code::EmptyLanes,
        Code::DuplicateLane,
        Code::DuplicateRule,
        Code::DuplicateName,
        Code::EmptyName,
        Code::EmptyPaths,
        Code::InvalidGlob,
        Code::InvalidRegex,
        Code::TooLarge,
    ];

    /// The stable kebab-case spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::YamlSyntax => "yaml-syntax",
            Code::UnknownKey => "unknown-key",
            Code::MissingKey => "missing-key",
            Code::UnknownLane => "unknown-lane",
            Code::EmptyLanes => "empty-lanes",
            Code::DuplicateLane => "duplicate-lane",
            Code::DuplicateRule => "duplicate-rule",
            Code::DuplicateName => "duplicate-name",
            Code::EmptyName => "empty-name",
            Code::EmptyPaths => "empty-paths",
            Code::InvalidGlob => "invalid-glob",
            Code::InvalidRegex => "invalid-regex",
            Code::TooLarge => "too-large",
        }
    }
}

/// One problem in a lanes file: the shared configuration diagnostic (`assay_contracts::diag`).
pub use assay_contracts::diag::Diagnostic;

/// Every problem found in a lanes file, in file order.
pub type ConfigError = assay_contracts::diag::Diagnostics;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "duplicate code {}", c.as_str());
        }
    }
}

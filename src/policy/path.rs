//! Lexical path normalization for argument constraints: `.` and empty components dropped, `..`
//! removes the previous component (never above `/`). No filesystem access: symlinks are not
//! resolved (the kernel layer sees what was really opened). Imports: nothing from this crate.

/// Normalizes an absolute path lexically; `None` for a relative path or one containing NUL.
pub fn normalize_absolute(p: &str) -> Option<String> {
    if !p.starts_with('/') || p.contains('\0') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = String::with_capacity(p.len());
    for c in &parts {
        out.push('/');
        out.push_str(c);
    }
    if out.is_empty() {
        out.push('/');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dot_dot_cannot_escape() {
        for (i, o) in [
            ("/w/data/../../etc/passwd", "/etc/passwd"),
            ("/w/data/./x//y/", "/w/data/x/y"),
            ("/../..", "/"),
            ("/", "/"),
            ("/w/data/..", "/w"),
            ("/w/data/...", "/w/data/..."),
        ] {
            assert_eq!(normalize_absolute(i).as_deref(), Some(o), "{i}");
        }
        assert_eq!(normalize_absolute("w/data"), None);
        assert_eq!(normalize_absolute(""), None);
        assert_eq!(normalize_absolute("/a\0b"), None);
    }

    proptest! {
        #[test]
        fn normal_form_is_stable_and_clean(s in "/[a-z./]{0,40}") {
            let n = normalize_absolute(&s).unwrap();
            prop_assert_eq!(normalize_absolute(&n).unwrap(), n.clone());
            prop_assert!(n.starts_with('/'));
            prop_assert!(!n.split('/').any(|c| c == ".." || c == "."));
            prop_assert!(n == "/" || !n.ends_with('/'));
            prop_assert!(!n.contains("//"));
        }
    }
}

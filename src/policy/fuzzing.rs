//! Fuzz entry points of the policy layer, shared by `fuzz/fuzz_targets/` and the stable seed
//! replay in `tests/fuzz_seeds.rs`. Each checks invariants that must hold for any input.

use std::io::BufReader;

use super::config::Policy;
use super::framing::{Frame, LineReader, Message, classify, is_tools_call};

/// The policy parser never panics; a policy it accepts decides any call with a one-line
/// `code: prose` reason and a rule that exists.
pub fn policy_file(data: &[u8]) {
    if let Ok(p) = Policy::parse("fuzz.yaml", data, "/work") {
        for (tool, args) in [
            ("echo", serde_json::json!({"path": "/work/data/../x"})),
            ("", serde_json::json!(null)),
        ] {
            let v = p.decide(tool, Some(&args));
            assert!(v.reason.contains(": ") && !v.reason.contains('\n'));
            assert!(v.rule == "default" || p.rules.iter().any(|r| r.name == v.rule));
        }
    }
}

/// Framing and classification never panic, never hold a line over the bound, and a line that
/// names `tools/call` as a method anywhere a server would read it is classified as one.
pub fn framing(data: &[u8]) {
    let max = 64;
    let mut r = LineReader::new(BufReader::with_capacity(7, data), max);
    while let Ok(Some(f)) = r.next_frame() {
        if let Frame::Line(l) = f {
            assert!(l.len() <= max);
            let m = classify(&l);
            if let Ok(serde_json::Value::Object(o)) =
                serde_json::from_slice::<serde_json::Value>(&l)
                && o.get("method").and_then(|m| m.as_str()) == Some("tools/call")
            {
                assert!(matches!(&m, Message::Single(_, k) if is_tools_call(k)));
            }
        }
    }
    let _ = classify(data);
}

//! The container create rewrite: whatever the client asked, the daemon decodes exactly one
//! `HostConfig` holding exactly one `CgroupParent` (ours), a restart policy of `no`, and binds
//! of the daemon socket pointed at the proxy's socket instead.
//!
//! The daemon decodes create bodies with Go's `encoding/json`: object keys match struct fields
//! case-insensitively (Go folds `ſ` to `s` and the Kelvin sign to `k` as well), the last
//! duplicate wins, and `HostConfig` fields are also read from the top level when there is no
//! inner `HostConfig` (or it is `null`). So the body is parsed strictly (invalid UTF-8 and
//! duplicate keys anywhere, or keys that fold to the same field in the objects the daemon
//! decodes as structs, are refused rather than guessed), every top-level and inner key that
//! folds to `hostconfig`/`cgroupparent` is removed, top-level `HostConfig` fields move into
//! the inner object when there is none, and one `"HostConfig"` is inserted.
//! Pure: the socket test is the caller's. Imports nothing of the crate.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use thiserror::Error;

/// Why a create (or update) body is refused (answered 400, or 403 for a refused policy).
#[derive(Debug, Error)]
pub enum RewriteError {
    #[error("body is not valid JSON without duplicate keys: {0}")]
    Json(#[from] serde_json::Error),
    #[error("body is not a JSON object")]
    NotObject,
    #[error(
        "keys {0:?} and {1:?} name the same field (the daemon matches keys case-insensitively)"
    )]
    SameField(String, String),
    #[error("HostConfig is neither an object nor null")]
    HostConfigNotObject,
}

/// What a bind source is, relative to the daemon's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketBind {
    /// The daemon socket itself (any path to it).
    Daemon,
    /// A directory that contains the daemon socket.
    Exposes,
    Other,
}

/// What the rewrite needs from its caller.
pub struct CreateRewrite<'a> {
    /// Absolute cgroup path for the container.
    pub cgroup_parent: &'a str,
    /// The proxy's socket, bound instead of the daemon's.
    pub proxy_socket: &'a str,
    /// Classifies an absolute host path given as a bind source.
    pub socket: &'a dyn Fn(&str) -> SocketBind,
}

/// A rewritten create body.
#[derive(Debug, Clone, PartialEq)]
pub struct Rewritten {
    pub body: Vec<u8>,
    /// `Image` as the client gave it.
    pub image: String,
    /// Bind sources that were the daemon socket, now the proxy socket.
    pub socket_binds: Vec<String>,
    /// Bind sources that are directories holding the daemon socket (let through).
    pub exposed: Vec<String>,
    /// Log drivers that send the container's output elsewhere than the daemon's own files
    /// or the host journal (`LogConfig.Type`: `syslog`, `gelf`, `fluentd`, a plugin's), as
    /// given (every key that folds to `type`, whichever the daemon takes).
    pub log_drivers: Vec<String>,
    /// No `LogConfig.Type` is named (or it is empty): the daemon's default driver applies.
    pub log_default: bool,
    /// What lets the container reach past its image and mounts, whose paths would be named as
    /// its image's files (`privileged`, `pid host`, `cap SYS_ADMIN`, `devices`, …), sorted.
    pub reach: Vec<String>,
}

/// Whether a log driver keeps the container's output on the host ([`LOCAL_LOG_DRIVERS`]).
pub fn keeps_output_local(driver: &str) -> bool {
    LOCAL_LOG_DRIVERS.contains(&driver)
}

/// A string as Go's `strings.ToUpper` makes it: each character's single-character upper case
/// (`ſ` is `S`, `ı` is `I`), a character without one kept.
fn go_upper(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut u = c.to_uppercase();
            match (u.next(), u.next()) {
                (Some(one), None) => one,
                _ => c,
            }
        })
        .collect()
}

/// A `StrSlice` value as the daemon reads it: a list of strings, or one string.
fn str_slice(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// Runtimes that run a container's processes as its own, in its cgroup (runc).
const RUNC: &[&str] = &["", "runc", "io.containerd.runc.v2"];

/// Capabilities that let a container mount, or reach the host's files past its mounts.
const REACHING_CAPS: &[&str] = &[
    "ALL",
    "SYS_ADMIN",
    "DAC_READ_SEARCH",
    "SYS_PTRACE",
    "SYS_MODULE",
];

/// The values of every key of `o` that folds to `field`.
fn values<'a>(o: &'a Map<String, Value>, field: &str) -> impl Iterator<Item = &'a Value> {
    o.iter()
        .filter(move |(k, _)| fold(k) == field)
        .map(|(_, v)| v)
}

/// What in a `HostConfig` lets the container reach past its image and mounts.
fn reach(host: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    let text = |v: &Value| v.as_str().unwrap_or("").to_ascii_lowercase();
    for v in values(host, "privileged") {
        if v.as_bool() != Some(false) && !v.is_null() {
            out.push("privileged".to_string());
        }
    }
    for (field, what) in [("pidmode", "pid"), ("ipcmode", "ipc")] {
        for v in values(host, field) {
            let m = text(v);
            if m == "host" || m.starts_with("container:") || (!v.is_string() && !v.is_null()) {
                out.push(format!("{what} {m}"));
            }
        }
    }
    for v in values(host, "capadd") {
        for c in str_slice(v) {
            // the daemon upper-cases (Unicode) and adds a missing CAP_ prefix
            let upper = go_upper(c.as_str().unwrap_or(""));
            let name = upper.strip_prefix("CAP_").unwrap_or(&upper);
            if REACHING_CAPS.contains(&name) || !c.is_string() {
                out.push(format!("cap {}", c.as_str().unwrap_or("?")));
            }
        }
    }
    for v in values(host, "securityopt") {
        for o in str_slice(v) {
            let o = o.as_str().unwrap_or("?").to_ascii_lowercase();
            if o.contains("unconfined") || o.starts_with("systempaths") || o == "?" {
                out.push(format!("security-opt {o}"));
            }
        }
    }
    for field in ["maskedpaths", "readonlypaths"] {
        if values(host, field).any(|v| !v.is_null()) {
            out.push(field.to_string()); // a custom list may unmask /proc and /sys
        }
    }
    for field in ["devices", "devicerequests", "devicecgrouprules"] {
        for v in values(host, field) {
            if v.as_array().is_some_and(|a| !a.is_empty()) || !(v.is_array() || v.is_null()) {
                out.push(field.to_string());
            }
        }
    }
    for v in values(host, "runtime") {
        let name = v.as_str().unwrap_or("?");
        if !(RUNC.contains(&name) || v.is_null()) {
            out.push(format!("runtime {name}"));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Log drivers that keep a container's output on the host: the daemon's files, the journal.
const LOCAL_LOG_DRIVERS: &[&str] = &["", "json-file", "local", "none", "journald"];

/// Whether no `LogConfig.Type` names a driver (the daemon's default applies).
fn log_default(host: &Map<String, Value>) -> bool {
    match values(host, "logconfig").next() {
        Some(Value::Object(c)) => values(c, "type").all(|t| matches!(t, Value::Null) || t == ""),
        _ => true,
    }
}

/// `LogConfig.Type` values of a `HostConfig` that are not [`LOCAL_LOG_DRIVERS`].
fn log_drivers(host: &Map<String, Value>) -> Vec<String> {
    let Some(config) = host
        .iter()
        .find(|(k, _)| fold(k) == "logconfig")
        .map(|(_, v)| v)
    else {
        return Vec::new();
    };
    let Value::Object(config) = config else {
        return match config {
            Value::Null => Vec::new(),
            other => vec![other.to_string()],
        };
    };
    config
        .iter()
        .filter(|(k, _)| fold(k) == "type")
        .filter_map(|(_, v)| match v {
            Value::Null => None,
            Value::String(t) if LOCAL_LOG_DRIVERS.contains(&t.as_str()) => None,
            Value::String(t) => Some(t.clone()),
            other => Some(other.to_string()),
        })
        .collect()
}

/// `HostConfig` fields (folded) of API 1.41, read from the top level when there is no inner
/// `HostConfig`.
const HOST_CONFIG_FIELDS: &[&str] = &[
    "binds",
    "containeridfile",
    "logconfig",
    "networkmode",
    "portbindings",
    "restartpolicy",
    "autoremove",
    "volumedriver",
    "volumesfrom",
    "capadd",
    "capdrop",
    "cgroupnsmode",
    "dns",
    "dnsoptions",
    "dnssearch",
    "extrahosts",
    "groupadd",
    "ipcmode",
    "cgroup",
    "links",
    "oomscoreadj",
    "pidmode",
    "privileged",
    "publishallports",
    "readonlyrootfs",
    "securityopt",
    "storageopt",
    "tmpfs",
    "utsmode",
    "usernsmode",
    "shmsize",
    "sysctls",
    "runtime",
    "consolesize",
    "isolation",
    "cpushares",
    "memory",
    "nanocpus",
    "cgroupparent",
    "blkioweight",
    "blkioweightdevice",
    "blkiodevicereadbps",
    "blkiodevicewritebps",
    "blkiodevicereadiops",
    "blkiodevicewriteiops",
    "cpuperiod",
    "cpuquota",
    "cpurealtimeperiod",
    "cpurealtimeruntime",
    "cpusetcpus",
    "cpusetmems",
    "devices",
    "devicecgrouprules",
    "devicerequests",
    "kernelmemory",
    "kernelmemorytcp",
    "memoryreservation",
    "memoryswap",
    "memoryswappiness",
    "oomkilldisable",
    "pidslimit",
    "ulimits",
    "cpucount",
    "cpupercent",
    "iomaximumiops",
    "iomaximumbandwidth",
    "mounts",
    "maskedpaths",
    "readonlypaths",
    "init",
];

/// A key as Go's `encoding/json` compares it to a field name: ASCII case folded, and the two
/// non-ASCII letters whose case orbit holds an ASCII letter (`ſ` U+017F, `K` U+212A) too.
pub fn fold(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '\u{17F}' => 's',
            '\u{212A}' => 'k',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Parses JSON, refusing duplicate keys (exact) in any object.
pub fn parse_strict(body: &[u8]) -> Result<Value, RewriteError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let v = Strict::deserialize(&mut de)?;
    de.end()?;
    Ok(v.0)
}

/// Refuses an object two of whose keys fold to the same field.
fn check_fields(o: &Map<String, Value>) -> Result<(), RewriteError> {
    let mut seen: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
    for k in o.keys() {
        if let Some(prev) = seen.insert(fold(k), k) {
            return Err(RewriteError::SameField(prev.to_string(), k.clone()));
        }
    }
    Ok(())
}

/// Removes every key of `o` that folds to `field`; returns the removed value (at most one
/// exists once [`check_fields`] passed).
fn take_field(o: &mut Map<String, Value>, field: &str) -> Option<Value> {
    let keys: Vec<String> = o.keys().filter(|k| fold(k) == field).cloned().collect();
    keys.into_iter().filter_map(|k| o.remove(&k)).last()
}

fn field_mut<'a>(o: &'a mut Map<String, Value>, field: &str) -> Option<&'a mut Value> {
    o.iter_mut().find(|(k, _)| fold(k) == field).map(|(_, v)| v)
}

/// Whether an exec create body asks for a privileged exec (any key that folds to
/// `privileged`, whichever the daemon takes, with a value other than `false` or `null`).
pub fn exec_privileged(body: &[u8]) -> Result<bool, RewriteError> {
    let Value::Object(o) = parse_strict(body)? else {
        return Err(RewriteError::NotObject);
    };
    Ok(values(&o, "privileged").any(|v| !matches!(v, Value::Bool(false) | Value::Null)))
}

/// Rewrites a create body (see the module doc).
pub fn rewrite_create(body: &[u8], rw: &CreateRewrite<'_>) -> Result<Rewritten, RewriteError> {
    let Value::Object(mut top) = parse_strict(body)? else {
        return Err(RewriteError::NotObject);
    };
    check_fields(&top)?;
    let inner = take_field(&mut top, "hostconfig");
    take_field(&mut top, "cgroupparent");
    let mut host = match inner {
        Some(Value::Object(o)) => o,
        Some(Value::Null) | None => {
            // the daemon would read HostConfig from the top level: move those fields in
            let moved: HashSet<String> = top
                .keys()
                .filter(|k| HOST_CONFIG_FIELDS.contains(&fold(k).as_str()))
                .cloned()
                .collect();
            moved.iter().filter_map(|k| top.remove_entry(k)).collect()
        }
        Some(_) => return Err(RewriteError::HostConfigNotObject),
    };
    check_fields(&host)?;
    take_field(&mut host, "cgroupparent");
    take_field(&mut host, "restartpolicy");
    host.insert("RestartPolicy".into(), serde_json::json!({"Name": "no"}));
    let mut out = Rewritten {
        body: Vec::new(),
        image: match field_mut(&mut top, "image") {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        },
        socket_binds: Vec::new(),
        exposed: Vec::new(),
        log_drivers: log_drivers(&host),
        log_default: log_default(&host),
        reach: reach(&host),
    };
    // top-level binds are ignored once an inner HostConfig exists; rewritten all the same
    rewrite_binds(&mut top, rw, &mut out)?;
    rewrite_binds(&mut host, rw, &mut out)?;
    host.insert(
        "CgroupParent".into(),
        Value::String(rw.cgroup_parent.into()),
    );
    top.insert("HostConfig".into(), Value::Object(host));
    out.body = serde_json::to_vec(&Value::Object(top))?;
    Ok(out)
}

/// Points `Binds` entries and `Mounts` of type bind whose source is the daemon socket at the
/// proxy socket; notes sources that expose the directory holding it.
fn rewrite_binds(
    o: &mut Map<String, Value>,
    rw: &CreateRewrite<'_>,
    out: &mut Rewritten,
) -> Result<(), RewriteError> {
    if let Some(Value::Array(binds)) = field_mut(o, "binds") {
        for b in binds.iter_mut() {
            let Value::String(spec) = b else { continue };
            let Some((src, rest)) = spec.split_once(':') else {
                continue;
            };
            match (rw.socket)(src) {
                SocketBind::Daemon if src.starts_with('/') => {
                    out.socket_binds.push(src.to_string());
                    *spec = format!("{}:{rest}", rw.proxy_socket);
                }
                SocketBind::Exposes if src.starts_with('/') => out.exposed.push(src.to_string()),
                _ => {}
            }
        }
    }
    if let Some(Value::Array(mounts)) = field_mut(o, "mounts") {
        for m in mounts.iter_mut() {
            let Value::Object(m) = m else { continue };
            check_fields(m)?;
            if !matches!(field_mut(m, "type"), Some(Value::String(t)) if t == "bind") {
                continue;
            }
            let Some(Value::String(src)) = field_mut(m, "source") else {
                continue;
            };
            match (rw.socket)(src) {
                SocketBind::Daemon => {
                    out.socket_binds.push(src.clone());
                    *src = rw.proxy_socket.to_string();
                }
                SocketBind::Exposes => out.exposed.push(src.clone()),
                SocketBind::Other => {}
            }
        }
    }
    Ok(())
}

/// The restart policy an update body asks for, if it asks for one that restarts.
pub fn update_restarts(body: &[u8]) -> Result<Option<String>, RewriteError> {
    let Value::Object(mut top) = parse_strict(body)? else {
        return Err(RewriteError::NotObject);
    };
    check_fields(&top)?;
    let Some(Value::Object(mut policy)) = take_field(&mut top, "restartpolicy") else {
        return Ok(None);
    };
    check_fields(&policy)?;
    Ok(match take_field(&mut policy, "name") {
        Some(Value::String(n)) if n.is_empty() || n == "no" => None,
        Some(Value::Null) | None => None,
        Some(other) => Some(match other {
            Value::String(s) => s,
            v => v.to_string(),
        }),
    })
}

/// A JSON value parsed with duplicate keys refused.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(Strict(e)) = seq.next_element()? {
            v.push(e);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut o = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if o.contains_key(&k) {
                return Err(de::Error::custom(format_args!("duplicate key {k:?}")));
            }
            o.insert(k, v);
        }
        Ok(Value::Object(o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OURS: &str = "/assay-runner/run-1";
    const PROXY: &str = "/run/assay/p.sock";

    fn sockets(p: &str) -> SocketBind {
        match p {
            "/var/run/docker.sock" | "/run/docker.sock" | "/tmp/link-to-sock" => SocketBind::Daemon,
            "/run" | "/var/run" | "/" => SocketBind::Exposes,
            _ => SocketBind::Other,
        }
    }

    fn rewrite(body: &str) -> Result<Rewritten, RewriteError> {
        rewrite_create(
            body.as_bytes(),
            &CreateRewrite {
                cgroup_parent: OURS,
                proxy_socket: PROXY,
                socket: &sockets,
            },
        )
    }

    /// Every key path that folds to `.../cgroupparent`, with its value.
    fn parents(v: &Value, at: &str, out: &mut Vec<(String, Value)>) {
        if let Value::Object(o) = v {
            for (k, x) in o {
                let p = format!("{at}/{}", fold(k));
                if fold(k) == "cgroupparent" {
                    out.push((p.clone(), x.clone()));
                }
                parents(x, &p, out);
            }
        }
    }

    /// The rewritten body, re-parsed: exactly one CgroupParent (ours, inside the one
    /// HostConfig), and no other HostConfig key anywhere at the top.
    fn assert_placed(body: &[u8]) -> Value {
        let v: Value = serde_json::from_slice(body).unwrap();
        let mut found = Vec::new();
        parents(&v, "", &mut found);
        assert_eq!(
            found,
            [("/hostconfig/cgroupparent".to_string(), Value::from(OURS))]
        );
        let hc: Vec<_> = v
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| fold(k) == "hostconfig")
            .collect();
        assert_eq!(hc, ["HostConfig"]);
        assert_eq!(
            v["HostConfig"]["RestartPolicy"],
            serde_json::json!({"Name": "no"})
        );
        v
    }

    #[test]
    fn every_spike_case_lands_under_ours() {
        // spike §0.2: each of these set the daemon's CgroupParent before the rewrite
        for body in [
            r#"{"CgroupParent":"/top-level"}"#,
            r#"{"CgroupParent":"/top-level","HostConfig":null}"#,
            r#"{"CgroupParent":"/top-level","HostConfig":{}}"#,
            r#"{"HostConfig":{"cgroupparent":"/lowercase"}}"#,
            r#"{"hostconfig":{"CGROUPPARENT":"/upper"}}"#,
            r#"{"HostConfig":{"CgroupParent":""}}"#,
            r#"{"Image":"x","HostConfig":{"CgroupParent":"/evil","Memory":5}}"#,
            r#"{"cgroupParent":"/a","HostConfig":{"CgroupParent":"/b"}}"#,
            "{\"Ho\u{17F}tConfig\":{\"CgroupParent\":\"/long-s\"}}",
            "{}",
        ] {
            let r = rewrite(body).unwrap_or_else(|e| panic!("{body}: {e}"));
            assert_placed(&r.body);
        }
    }

    #[test]
    fn duplicates_are_refused_not_guessed() {
        for body in [
            r#"{"HostConfig":{"CgroupParent":"/proxy"},"hostConfig":{"CgroupParent":"/later-dup"}}"#,
            r#"{"HostConfig":{"CgroupParent":"/a","CgroupParent":"/b"}}"#,
            r#"{"HostConfig":{"CgroupParent":"/a","cgroupparent":"/b"}}"#,
            r#"{"HostConfig":{},"HostConfig":{}}"#,
            r#"{"Labels":{"a":"1","a":"2"}}"#,
            r#"{"HostConfig":{"Binds":[],"binds":["/run/docker.sock:/s"]}}"#,
            r#"{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/x","source":"/run/docker.sock"}]}}"#,
            "{\"HostConfig\":{},\"Ho\u{17F}tconfig\":{}}",
            "{\"HostConfig\":{\"CgroupParent\":\"\",\"Cgroup\u{212A}\":1,\"cgroupk\":2}}",
        ] {
            assert!(rewrite(body).is_err(), "{body}");
        }
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for body in [
            &b""[..],
            b"null",
            b"[]",
            b"\"x\"",
            b"{\"Image\":\"\xff\"}",
            b"{\"Image\":\"\\ud800\"}",
            b"{\"HostConfig\":[]}",
            b"{\"HostConfig\":\"x\"}",
            b"{} {}",
            b"{\"a\":",
        ] {
            let r = rewrite_create(
                body,
                &CreateRewrite {
                    cgroup_parent: OURS,
                    proxy_socket: PROXY,
                    socket: &sockets,
                },
            );
            assert!(r.is_err(), "{body:?}");
        }
        let deep = "[".repeat(100_000);
        assert!(rewrite(&deep).is_err());
    }

    #[test]
    fn top_level_host_fields_move_in_when_there_is_no_host_config() {
        let r = rewrite(r#"{"Image":"i","Binds":["/h:/d"],"Memory":7,"RestartPolicy":{"Name":"always"},"Env":["A=1"]}"#).unwrap();
        let v = assert_placed(&r.body);
        assert_eq!(v["HostConfig"]["Binds"], serde_json::json!(["/h:/d"]));
        assert_eq!(v["HostConfig"]["Memory"], 7);
        assert!(v.get("Binds").is_none() && v.get("Memory").is_none());
        assert_eq!(v["Env"], serde_json::json!(["A=1"]));
        assert_eq!(r.image, "i");
        // with an inner HostConfig the top-level fields stay where they are (the daemon merges
        // a few resource fields from there)
        let r = rewrite(r#"{"Memory":7,"HostConfig":{"Privileged":true}}"#).unwrap();
        let v = assert_placed(&r.body);
        assert_eq!(v["Memory"], 7);
        assert_eq!(v["HostConfig"]["Privileged"], true);
    }

    #[test]
    fn the_daemons_default_log_driver_applies_when_none_is_named() {
        let default = |body: &str| rewrite(body).unwrap().log_default;
        assert!(default(r#"{"HostConfig":{}}"#));
        assert!(default(
            r#"{"HostConfig":{"LogConfig":{"Type":"","Config":{"a":"b"}}}}"#
        ));
        assert!(default(r#"{"HostConfig":{"LogConfig":null}}"#));
        assert!(!default(
            r#"{"HostConfig":{"LogConfig":{"Type":"json-file"}}}"#
        ));
        assert!(keeps_output_local("json-file") && !keeps_output_local("gelf"));
    }

    #[test]
    fn log_drivers_that_send_output_away_are_named() {
        let drivers = |body: &str| rewrite(body).unwrap().log_drivers;
        assert_eq!(
            drivers(
                r#"{"HostConfig":{"LogConfig":{"Type":"gelf","Config":{"gelf-address":"udp://1.2.3.4:12201"}}}}"#
            ),
            ["gelf"]
        );
        // top-level when there is no HostConfig; case folded, every candidate named
        assert_eq!(
            drivers(r#"{"logconfig":{"type":"syslog","Config":{}}}"#),
            ["syslog"]
        );
        assert_eq!(
            drivers(r#"{"HostConfig":{"LogConfig":{"Type":"json-file","\u017fype":"x"}}}"#),
            Vec::<String>::new(),
            "ſ is not a fold of t"
        );
        assert_eq!(
            drivers(r#"{"HostConfig":{"LogConfig":{"Type":"json-file","TYPE":"fluentd"}}}"#),
            ["fluentd"]
        );
        assert_eq!(
            drivers(r#"{"HostConfig":{"LogConfig":"gelf"}}"#),
            [r#""gelf""#]
        );
        for local in ["json-file", "local", "none", "journald", ""] {
            let body = format!(r#"{{"HostConfig":{{"LogConfig":{{"Type":"{local}"}}}}}}"#);
            assert!(drivers(&body).is_empty(), "{local}");
        }
        assert!(drivers(r#"{"HostConfig":{"LogConfig":null}}"#).is_empty());
        // an inner HostConfig hides the top-level one from the daemon
        assert!(drivers(r#"{"HostConfig":{},"LogConfig":{"Type":"gelf"}}"#).is_empty());
    }

    #[test]
    fn what_reaches_past_the_image_and_mounts_is_named() {
        let reach = |body: &str| rewrite(body).unwrap().reach;
        assert_eq!(
            reach(
                r#"{"HostConfig":{"Privileged":true,"PidMode":"host","CapAdd":["NET_ADMIN","CAP_SYS_ADMIN"],"Devices":[{"PathOnHost":"/dev/sda"}],"Runtime":"runsc"}}"#
            ),
            [
                "cap CAP_SYS_ADMIN",
                "devices",
                "pid host",
                "privileged",
                "runtime runsc"
            ]
        );
        assert_eq!(
            reach(r#"{"privileged":1,"ipcMode":"container:x","capadd":["all"]}"#),
            ["cap all", "ipc container:x", "privileged"]
        );
        // a bare string is a list of one; Go's Unicode upper-casing folds ſ and ı
        assert_eq!(
            reach(r#"{"HostConfig":{"CapAdd":"DAC_READ_SEARCH"}}"#),
            ["cap DAC_READ_SEARCH"]
        );
        assert_eq!(
            reach(r#"{"HostConfig":{"CapAdd":["\u017fys_admin","sys_admın"]}}"#),
            ["cap sys_admın", "cap ſys_admin"]
        );
        assert_eq!(
            reach(
                r#"{"HostConfig":{"SecurityOpt":["label=disable","systempaths=unconfined","apparmor=unconfined"],"MaskedPaths":[]}}"#
            ),
            [
                "maskedpaths",
                "security-opt apparmor=unconfined",
                "security-opt systempaths=unconfined"
            ]
        );
        assert_eq!(
            reach(r#"{"HostConfig":{"Runtime":"RUNC"}}"#),
            ["runtime RUNC"]
        );
        for plain in [
            r#"{"HostConfig":{}}"#,
            r#"{"HostConfig":{"Privileged":false,"PidMode":"","CapAdd":["NET_ADMIN"],"Devices":[],"Runtime":"runc"}}"#,
            r#"{"HostConfig":{"PidMode":"private","IpcMode":"shareable","Runtime":null,"DeviceRequests":null}}"#,
        ] {
            assert!(reach(plain).is_empty(), "{plain}");
        }
    }

    #[test]
    fn privileged_execs_are_found_however_spelled() {
        for (body, want) in [
            (r#"{"Cmd":["sh"],"Privileged":true}"#, true),
            (
                r#"{"Cmd":["sh"],"Privileged":false,"privileged":true}"#,
                true,
            ),
            (r#"{"\u017frivileged":true}"#, false),
            (r#"{"PRIVILEGED":1}"#, true),
            (r#"{"Cmd":["sh"],"Privileged":null}"#, false),
            (r#"{"Cmd":["sh"]}"#, false),
        ] {
            assert_eq!(exec_privileged(body.as_bytes()).unwrap(), want, "{body}");
        }
        assert!(exec_privileged(br#"{"Privileged":true,"Privileged":false}"#).is_err());
        assert!(exec_privileged(b"[]").is_err());
    }

    #[test]
    fn restart_policies_become_no() {
        for body in [
            r#"{"HostConfig":{"RestartPolicy":{"Name":"always","MaximumRetryCount":0}}}"#,
            r#"{"HostConfig":{"restartpolicy":{"Name":"unless-stopped"}}}"#,
            r#"{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}"#,
        ] {
            let v = assert_placed(&rewrite(body).unwrap().body);
            let hc = v["HostConfig"].as_object().unwrap();
            assert_eq!(hc.keys().filter(|k| fold(k) == "restartpolicy").count(), 1);
        }
    }

    #[test]
    fn daemon_socket_binds_point_at_the_proxy() {
        let r = rewrite(r#"{"HostConfig":{"Binds":["/var/run/docker.sock:/var/run/docker.sock:ro","/tmp/link-to-sock:/s","/data:/data","vol:/v","/run:/host-run"],
            "Mounts":[{"Type":"bind","Source":"/run/docker.sock","Target":"/d.sock"},{"Type":"volume","Source":"/run/docker.sock","Target":"/v"},{"type":"bind","source":"/var/run","target":"/r"}]}}"#).unwrap();
        let v = assert_placed(&r.body);
        assert_eq!(
            v["HostConfig"]["Binds"],
            serde_json::json!([
                format!("{PROXY}:/var/run/docker.sock:ro"),
                format!("{PROXY}:/s"),
                "/data:/data",
                "vol:/v",
                "/run:/host-run"
            ])
        );
        assert_eq!(v["HostConfig"]["Mounts"][0]["Source"], PROXY);
        assert_eq!(v["HostConfig"]["Mounts"][1]["Source"], "/run/docker.sock");
        assert_eq!(
            r.socket_binds,
            [
                "/var/run/docker.sock",
                "/tmp/link-to-sock",
                "/run/docker.sock"
            ]
        );
        assert_eq!(r.exposed, ["/run", "/var/run"]);
    }

    #[test]
    fn update_bodies_that_restart_are_found() {
        assert_eq!(update_restarts(br#"{"Memory":5}"#).unwrap(), None);
        assert_eq!(
            update_restarts(br#"{"RestartPolicy":{"Name":"no"}}"#).unwrap(),
            None
        );
        assert_eq!(
            update_restarts(br#"{"restartpolicy":{"name":"always"}}"#)
                .unwrap()
                .as_deref(),
            Some("always")
        );
        assert!(update_restarts(br#"{"RestartPolicy":{"Name":"no","name":"always"}}"#).is_err());
    }

    fn key_variant(field: &'static str) -> impl Strategy<Value = String> {
        proptest::collection::vec(any::<bool>(), field.len()).prop_map(move |up| {
            field
                .chars()
                .zip(up)
                .map(|(c, u)| match (c, u) {
                    ('s', true) => '\u{17F}',
                    ('k', true) => '\u{212A}',
                    (c, true) => c.to_ascii_uppercase(),
                    (c, false) => c,
                })
                .collect()
        })
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            "[/a-z]{0,6}".prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
        ]
    }

    proptest! {
        /// Whatever case variants of HostConfig / CgroupParent, at the top or inside, with
        /// whatever values: either refused, or exactly one CgroupParent, ours.
        #[test]
        fn any_variant_lands_under_ours(
            top_hc in proptest::option::of(key_variant("hostconfig")),
            inner in proptest::collection::vec((key_variant("cgroupparent"), scalar()), 0..3),
            outer in proptest::collection::vec((key_variant("cgroupparent"), scalar()), 0..3),
            hc_null in any::<bool>(),
            extra in proptest::collection::vec(("[A-Za-z]{1,8}", scalar()), 0..4),
        ) {
            let mut body = String::from("{");
            let mut parts = Vec::new();
            for (k, v) in outer.iter().chain(extra.iter()) {
                parts.push(format!("{}:{}", Value::from(k.as_str()), v));
            }
            if let Some(k) = &top_hc {
                let inner: Vec<String> = inner.iter().map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), v)).collect();
                let obj = if hc_null { "null".to_string() } else { format!("{{{}}}", inner.join(",")) };
                parts.push(format!("{}:{obj}", Value::from(k.as_str())));
            }
            body.push_str(&parts.join(","));
            body.push('}');
            if let Ok(r) = rewrite(&body) {
                assert_placed(&r.body);
            }
        }

        /// Arbitrary bytes never panic the rewrite.
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(r) = rewrite_create(&body, &CreateRewrite { cgroup_parent: OURS, proxy_socket: PROXY, socket: &sockets }) {
                assert_placed(&r.body);
            }
            let _ = update_restarts(&body);
        }
    }
}

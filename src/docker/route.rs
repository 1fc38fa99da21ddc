//! Where a request goes, decided the way the daemon decides it: on the percent-decoded path
//! (the daemon's router matches `/v1.41/containers/%63reate` as a create, and `%2F` as a
//! slash), after an optional `/v<digits and dots>` prefix, with container names that may hold
//! slashes (`/containers/{name:.*}/start`). Paths that decode to something a client never
//! sends (NUL, empty, `.` or `..` segments, invalid UTF-8) are refused rather than guessed.
//! Also the query string as Go's `url.ParseQuery` reads it, and the build query rewrite.
//! Imports nothing of the crate.

use thiserror::Error;

/// Why a request target is refused (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RouteError {
    #[error("request target is not an absolute path")]
    NotOriginForm,
    #[error("invalid percent-encoding in the request target")]
    BadEscape,
    #[error("request path decodes to something odd (NUL, empty, '.' or '..' segment)")]
    OddPath,
    #[error("request target is not UTF-8 once decoded")]
    NotUtf8,
    #[error("query string with ';' (Go's query parser refuses it; the daemon would answer 400)")]
    Semicolon,
}

/// A parsed request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The decoded path without the version prefix, starting with `/`.
    pub path: String,
    /// The API version of a `/vX.Y` prefix, as written (`"1.41"`).
    pub version: Option<String>,
    /// The raw (still encoded) query, without the `?`.
    pub query: Option<String>,
}

/// Parses an origin-form request target (`/v1.41/containers/create?name=x`).
pub fn parse_target(raw: &str) -> Result<Target, RouteError> {
    if !raw.starts_with('/') || raw.contains('#') {
        return Err(RouteError::NotOriginForm);
    }
    let (raw_path, query) = match raw.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (raw, None),
    };
    let decoded = percent_decode(raw_path, false)?;
    let segments: Vec<&str> = decoded[1..].split('/').collect();
    let odd = |s: &&str| s.is_empty() || *s == "." || *s == "..";
    if decoded.contains('\0') || (decoded != "/" && segments.iter().any(odd)) {
        return Err(RouteError::OddPath);
    }
    let (version, path) = match segments.first() {
        Some(v) if is_version_segment(v) => {
            let rest = &decoded[1 + v.len()..];
            let rest = if rest.is_empty() { "/" } else { rest };
            (Some(v[1..].to_string()), rest.to_string())
        }
        _ => (None, decoded.clone()),
    };
    Ok(Target {
        path,
        version,
        query,
    })
}

/// `target` with its container named by `id` instead of `name` (the daemon resolves a name,
/// or an id prefix, again when the request arrives: a container renamed in between would be
/// another); `None` when the path does not start with `/containers/{name}`.
pub fn pin_container(target: &Target, name: &str, id: &str) -> Option<String> {
    let rest = target
        .path
        .strip_prefix("/containers/")?
        .strip_prefix(name)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let mut out = match &target.version {
        Some(v) => format!("/v{v}"),
        None => String::new(),
    };
    out.push_str("/containers/");
    out.push_str(&percent_encode(id));
    for seg in rest.split('/').skip(1) {
        out.push('/');
        out.push_str(&percent_encode(seg));
    }
    if let Some(q) = &target.query {
        out.push('?');
        out.push_str(q);
    }
    Some(out)
}

/// `v` followed by one or more digits and dots: the daemon's `/v{version:[0-9.]+}`.
fn is_version_segment(s: &str) -> bool {
    s.len() > 1 && s.starts_with('v') && s[1..].bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// Decodes `%XX` escapes (and `+` as a space when `plus` is set, as in queries).
pub fn percent_decode(s: &str, plus: bool) -> Result<String, RouteError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3).ok_or(RouteError::BadEscape)?;
                let hex = std::str::from_utf8(hex).map_err(|_| RouteError::BadEscape)?;
                if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                    return Err(RouteError::BadEscape);
                }
                out.push(u8::from_str_radix(hex, 16).map_err(|_| RouteError::BadEscape)?);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| RouteError::NotUtf8)
}

/// Encodes every byte but the unreserved ones (`A-Za-z0-9-._~`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The query as Go's `url.ParseQuery` reads it: `&`-separated, `;` refused, keys and values
/// unescaped with `+` as space; each pair keeps its raw text for rewriting.
pub fn query_pairs(raw: Option<&str>) -> Result<Vec<QueryPair>, RouteError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for piece in raw.split('&') {
        if piece.contains(';') {
            return Err(RouteError::Semicolon);
        }
        if piece.is_empty() {
            continue;
        }
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        out.push(QueryPair {
            key: percent_decode(k, true)?,
            value: percent_decode(v, true)?,
            raw: piece.to_string(),
        });
    }
    Ok(out)
}

/// One `key=value` of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPair {
    pub key: String,
    pub value: String,
    pub raw: String,
}

/// The first value of `key` (Go's `Form.Get`).
pub fn first<'a>(pairs: &'a [QueryPair], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|p| p.key == key)
        .map(|p| p.value.as_str())
}

/// Whether API version `v` is below `min`, compared as the daemon compares them
/// (`versions.LessThan`: dot-separated parts as integers, a part that does not parse is 0,
/// one too large is the largest integer, missing parts are 0).
pub fn version_below(v: &str, min: &str) -> bool {
    let parts = |s: &str| -> Vec<i64> {
        s.split('.')
            .map(
                |p| match p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() {
                    true => p.parse().unwrap_or(i64::MAX),
                    false => 0,
                },
            )
            .collect()
    };
    let (a, b) = (parts(v), parts(min));
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        if x != y {
            return x < y;
        }
    }
    false
}

/// A legacy or BuildKit build, from its query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildQuery {
    /// The query with every `cgroupparent` replaced by one holding the session's parent.
    pub query: String,
    /// `t=` values, as given.
    pub tags: Vec<String>,
    /// `version=2`: BuildKit, which ignores `cgroupparent` on Engine 20.10.
    pub buildkit: bool,
    /// `remote=`: a context the daemon fetches itself (a URL, a Git repository).
    pub remote: Option<String>,
    /// `pull=` true as the daemon reads it: the daemon pulls the base images.
    pub pull: bool,
    /// `q=` true: the client asked for the image id alone. For a legacy build `q` is taken
    /// out of `query` (the daemon then reports its progress, which the proxy reads and the
    /// client is answered as `q` would have answered it).
    pub quiet: bool,
}

/// Rewrites a `/build` query so its one `cgroupparent` is `parent`.
pub fn rewrite_build_query(raw: Option<&str>, parent: &str) -> Result<BuildQuery, RouteError> {
    let pairs = query_pairs(raw)?;
    let buildkit = first(&pairs, "version") == Some("2");
    let mut kept: Vec<&str> = pairs
        .iter()
        .filter(|p| p.key != "cgroupparent" && (buildkit || p.key != "q"))
        .map(|p| p.raw.as_str())
        .collect();
    let ours = format!("cgroupparent={}", percent_encode(parent));
    kept.push(&ours);
    Ok(BuildQuery {
        query: kept.join("&"),
        tags: pairs
            .iter()
            .filter(|p| p.key == "t")
            .map(|p| p.value.clone())
            .collect(),
        buildkit,
        quiet: first(&pairs, "q").is_some_and(go_bool),
        remote: first(&pairs, "remote")
            .filter(|r| !r.is_empty())
            .map(str::to_string),
        pull: first(&pairs, "pull").is_some_and(go_bool),
    })
}

/// A query flag as the daemon's `httputils.BoolValue` reads it: anything but an empty value,
/// `0`, `no`, `false` or `none` (trimmed, any case) is true.
pub fn go_bool(v: &str) -> bool {
    !matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "" | "0" | "no" | "false" | "none"
    )
}

/// What a request is, for the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST /containers/create`.
    Create,
    /// `POST /containers/{name}/start`.
    Start(String),
    /// `POST /containers/{name}/update` (a restart policy can be set here too).
    Update(String),
    /// Work in an existing container: restart, unpause, kill, exec create (`op` names it).
    InContainer { op: &'static str, name: String },
    /// `POST /containers/{name}/attach`, `GET /containers/{name}/attach/ws`: hijacked.
    Attach(String),
    /// `POST /exec/{id}/start`: hijacked.
    ExecStart,
    /// `POST /session`, `POST /grpc`: BuildKit, hijacked (HTTP/2 inside).
    BuildKitSession,
    /// `POST /build`.
    Build,
    /// `POST /images/create`: a pull (`fromImage`) or an import (`fromSrc`).
    ImagesCreate,
    /// Swarm (`/swarm`, `/services`, `/tasks`, `/nodes`, `/secrets`, `/configs`), changing.
    Swarm,
    /// Managed plugins (`/plugins`), changing.
    Plugin,
    /// Files written or read by the daemon itself (`op` names it).
    DaemonFileWork(&'static str),
    /// The daemon's own network work (`op` names it): a push, a registry login, an image
    /// search, a registry lookup.
    DaemonNetwork(&'static str),
    /// Refused outright (`why`): checkpoints (criu writes, and deletes, a directory the
    /// caller names), `POST /containers/{name}/copy` (API below 1.24: an archive read).
    Refuse(&'static str),
    /// Anything else: forwarded as is.
    Other,
}

impl Route {
    /// The container a request works in, and what it does there (for the foreign check).
    pub fn container(&self) -> Option<(&str, &str)> {
        match self {
            Route::Start(name) => Some(("start", name)),
            Route::Attach(name) => Some(("attach", name)),
            Route::InContainer { op, name } => Some((op, name)),
            _ => None,
        }
    }

    /// Whether the daemon hijacks the connection for this request when it succeeds.
    pub fn hijacks(&self) -> bool {
        matches!(
            self,
            Route::Attach(_) | Route::ExecStart | Route::BuildKitSession
        )
    }
}

/// Routes a decoded, unversioned path.
pub fn classify(method: &str, path: &str) -> Route {
    let segs: Vec<&str> = path[1..].split('/').collect();
    let changing = !matches!(method, "GET" | "HEAD");
    match (method, segs.as_slice()) {
        ("POST", ["containers", "create"]) => Route::Create,
        (_, ["containers", _, "checkpoints", ..]) => Route::Refuse(
            "checkpoints: criu and the daemon write and delete a directory the caller names",
        ),
        ("DELETE", ["containers", name]) => Route::InContainer {
            op: "remove",
            name: name.to_string(),
        },
        ("POST", [_, "prune"]) => Route::DaemonFileWork("prune"),
        ("DELETE", ["volumes", _]) => Route::DaemonFileWork("volume removal"),
        ("DELETE", ["images", name @ ..]) if !name.is_empty() => {
            Route::DaemonFileWork("image removal")
        }
        ("GET", ["plugins", "privileges"]) => Route::DaemonNetwork("plugin privileges lookup"),
        ("GET", ["images", "get"]) => Route::DaemonFileWork("image save"),
        ("GET", ["images", name @ .., "get"]) if !name.is_empty() => {
            Route::DaemonFileWork("image save")
        }
        (_, ["containers", name @ .., last]) if !name.is_empty() => {
            container_route(method, &name.join("/"), last)
        }
        ("POST", ["exec", id @ .., "start"]) if !id.is_empty() => Route::ExecStart,
        ("POST", ["session"] | ["grpc"]) => Route::BuildKitSession,
        ("POST", ["build"]) => Route::Build,
        ("POST", ["images", "create"]) => Route::ImagesCreate,
        ("POST", ["images", "load"]) => Route::DaemonFileWork("image load"),
        ("POST", ["images", name @ .., "push"]) if !name.is_empty() => Route::DaemonNetwork("push"),
        ("POST", ["auth"]) => Route::DaemonNetwork("registry login"),
        ("GET", ["images", "search"]) => Route::DaemonNetwork("image search"),
        ("GET", ["distribution", name @ .., "json"]) if !name.is_empty() => {
            Route::DaemonNetwork("registry lookup")
        }
        ("POST", ["commit"]) => Route::DaemonFileWork("commit"),
        (_, [first, ..])
            if changing
                && matches!(
                    *first,
                    "swarm" | "services" | "tasks" | "nodes" | "secrets" | "configs"
                ) =>
        {
            Route::Swarm
        }
        (_, ["plugins", ..]) if changing => Route::Plugin,
        _ => Route::Other,
    }
}

fn container_route(method: &str, name: &str, last: &str) -> Route {
    let name = name.to_string();
    match (method, last) {
        ("POST", "start") => Route::Start(name),
        ("POST", "update") => Route::Update(name),
        ("POST", "attach") => Route::Attach(name),
        ("GET", "ws") => match name.strip_suffix("/attach") {
            Some(n) if !n.is_empty() => Route::Attach(n.to_string()),
            _ => Route::Other,
        },
        ("POST", "restart") => Route::InContainer {
            op: "restart",
            name,
        },
        ("POST", "unpause") => Route::InContainer {
            op: "unpause",
            name,
        },
        ("POST", "kill") => Route::InContainer { op: "kill", name },
        ("POST", "exec") => Route::InContainer { op: "exec", name },
        ("POST", "stop") => Route::InContainer { op: "stop", name },
        ("POST", "pause") => Route::InContainer { op: "pause", name },
        ("POST", "rename") => Route::InContainer { op: "rename", name },
        ("GET", "logs") => Route::InContainer { op: "logs", name },
        ("GET", "changes") => Route::InContainer {
            op: "changes",
            name,
        },
        ("GET", "top") => Route::DaemonFileWork("top (the daemon runs ps)"),
        // `docker cp` out (and its stat): the daemon reads the container's files itself, through
        // its binds and volumes too, which it mounts in its own namespace
        ("GET" | "HEAD", "archive") => Route::DaemonFileWork("archive read"),
        ("POST", "copy") => {
            Route::Refuse("copy (API below 1.24): the daemon reads through the container's mounts")
        }
        ("PUT", "archive") => Route::DaemonFileWork("archive upload"),
        ("GET", "export") => Route::DaemonFileWork("export"),
        _ => Route::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn route(method: &str, target: &str) -> Route {
        let t = parse_target(target).unwrap();
        classify(method, &t.path)
    }

    #[test]
    fn creates_are_found_however_the_path_is_written() {
        for t in [
            "/containers/create",
            "/v1.41/containers/create?name=c1",
            "/v1.12/containers/create",
            "/v1.41/containers/%63reate",
            "/v1.41/%63ontainers%2Fcreate",
            "/v1.41%2Fcontainers%2fcreate",
            "/%761.41/containers/create",
            "/v1.2.3/containers/create",
        ] {
            assert_eq!(route("POST", t), Route::Create, "{t}");
        }
        // the daemon's router is case-sensitive (`/V1.41` is a 404) and matches the method
        assert_eq!(route("POST", "/V1.41/containers/create"), Route::Other);
        assert_eq!(route("post", "/containers/create"), Route::Other);
        assert_eq!(route("GET", "/containers/create"), Route::Other);
    }

    #[test]
    fn versions_are_split_off() {
        let t = parse_target("/v1.23/containers/x/start?a=b").unwrap();
        assert_eq!(t.version.as_deref(), Some("1.23"));
        assert_eq!(t.path, "/containers/x/start");
        assert_eq!(t.query.as_deref(), Some("a=b"));
        let t = parse_target("/_ping").unwrap();
        assert_eq!((t.version, t.path.as_str()), (None, "/_ping"));
        let t = parse_target("/v1.41").unwrap();
        assert_eq!(t.path, "/");
        // `v` alone, or with letters, is not a version
        assert_eq!(parse_target("/v/x").unwrap().version, None);
        assert_eq!(parse_target("/vx1/x").unwrap().version, None);
    }

    #[test]
    fn odd_paths_are_refused() {
        for t in [
            "/containers/../create",
            "/containers/%2e%2e/create",
            "/containers/./create",
            "//containers/create",
            "/containers//start",
            "/containers/x/",
            "/a%00b",
        ] {
            assert_eq!(parse_target(t), Err(RouteError::OddPath), "{t}");
        }
        assert_eq!(parse_target("/a%zz"), Err(RouteError::BadEscape));
        assert_eq!(parse_target("/a%4"), Err(RouteError::BadEscape));
        assert_eq!(parse_target("/a%ff"), Err(RouteError::NotUtf8));
        assert_eq!(
            parse_target("http://d/containers/create"),
            Err(RouteError::NotOriginForm)
        );
        assert_eq!(parse_target("*"), Err(RouteError::NotOriginForm));
        assert_eq!(parse_target("/a#b"), Err(RouteError::NotOriginForm));
        assert_eq!(parse_target("/").unwrap().path, "/");
    }

    #[test]
    fn container_routes_take_names_with_slashes() {
        assert_eq!(
            route("POST", "/v1.41/containers/abc/start"),
            Route::Start("abc".into())
        );
        assert_eq!(
            route("POST", "/containers/a/b/start"),
            Route::Start("a/b".into())
        );
        assert_eq!(
            route("POST", "/containers/a%2Fstart/start"),
            Route::Start("a/start".into())
        );
        assert_eq!(
            route("POST", "/containers/create/start"),
            Route::Start("create".into())
        );
        assert_eq!(
            route("POST", "/containers/c/attach"),
            Route::Attach("c".into())
        );
        assert_eq!(
            route("GET", "/containers/c/attach/ws"),
            Route::Attach("c".into())
        );
        assert_eq!(route("GET", "/containers/ws"), Route::Other);
        assert_eq!(route("GET", "/containers/attach/ws"), Route::Other);
        assert_eq!(
            route("POST", "/containers/c/exec"),
            Route::InContainer {
                op: "exec",
                name: "c".into()
            }
        );
        assert_eq!(
            route("POST", "/containers/c/update"),
            Route::Update("c".into())
        );
        assert_eq!(route("POST", "/exec/e1/start"), Route::ExecStart);
        assert_eq!(route("POST", "/exec/start"), Route::Other);
        assert_eq!(route("GET", "/containers/c/json"), Route::Other);
        assert_eq!(route("GET", "/containers/json"), Route::Other);
    }

    #[test]
    fn daemon_work_and_swarm_are_recognised() {
        assert_eq!(route("POST", "/session"), Route::BuildKitSession);
        assert_eq!(route("POST", "/v1.41/grpc"), Route::BuildKitSession);
        assert_eq!(
            route("PUT", "/containers/c/archive?path=/"),
            Route::DaemonFileWork("archive upload")
        );
        assert_eq!(
            route("GET", "/containers/c/archive?path=/"),
            Route::DaemonFileWork("archive read")
        );
        assert_eq!(
            route("HEAD", "/v1.41/containers/c/archive?path=/"),
            Route::DaemonFileWork("archive read")
        );
        assert!(matches!(
            route("POST", "/v1.23/containers/c/copy"),
            Route::Refuse(_)
        ));
        for t in [
            "/containers/c/checkpoints?dir=/var/lib",
            "/containers/c/checkpoints/docker?dir=/var/lib",
        ] {
            assert!(matches!(route("DELETE", t), Route::Refuse(_)), "{t}");
            assert!(matches!(route("GET", t), Route::Refuse(_)), "{t}");
        }
        for (m, t, op) in [
            ("POST", "/containers/c/stop", "stop"),
            ("POST", "/containers/c/pause", "pause"),
            ("POST", "/containers/c/rename?name=d", "rename"),
            ("GET", "/containers/c/logs?stdout=1", "logs"),
            ("GET", "/containers/c/changes", "changes"),
            ("DELETE", "/containers/c?force=1&v=1", "remove"),
        ] {
            assert_eq!(
                route(m, t),
                Route::InContainer {
                    op,
                    name: "c".into()
                },
                "{m} {t}"
            );
        }
        assert_eq!(
            route("GET", "/containers/c/top"),
            Route::DaemonFileWork("top (the daemon runs ps)")
        );
        for t in [
            "/containers/prune",
            "/volumes/prune",
            "/images/prune",
            "/build/prune",
            "/networks/prune",
        ] {
            assert_eq!(route("POST", t), Route::DaemonFileWork("prune"), "{t}");
        }
        assert_eq!(
            route("GET", "/images/get?names=a"),
            Route::DaemonFileWork("image save")
        );
        assert_eq!(
            route("GET", "/images/a/b:1/get"),
            Route::DaemonFileWork("image save")
        );
        assert_eq!(
            route("GET", "/containers/c/export"),
            Route::DaemonFileWork("export")
        );
        assert_eq!(
            route("POST", "/commit?container=c"),
            Route::DaemonFileWork("commit")
        );
        assert_eq!(
            route("POST", "/images/load"),
            Route::DaemonFileWork("image load")
        );
        assert_eq!(route("POST", "/swarm/init"), Route::Swarm);
        assert_eq!(route("POST", "/services/create"), Route::Swarm);
        assert_eq!(route("GET", "/services"), Route::Other);
        assert_eq!(route("POST", "/plugins/pull"), Route::Plugin);
        assert_eq!(route("POST", "/plugins/x/enable"), Route::Plugin);
        assert_eq!(route("GET", "/plugins"), Route::Other);
    }

    #[test]
    fn a_containers_name_is_pinned_to_its_id() {
        let t = |raw: &str| parse_target(raw).unwrap();
        assert_eq!(
            pin_container(&t("/v1.41/containers/web/exec?x=1"), "web", "abc").as_deref(),
            Some("/v1.41/containers/abc/exec?x=1")
        );
        assert_eq!(
            pin_container(&t("/containers/a%20b/attach/ws"), "a b", "abc").as_deref(),
            Some("/containers/abc/attach/ws")
        );
        assert_eq!(
            pin_container(&t("/containers/web"), "web", "abc").as_deref(),
            Some("/containers/abc")
        );
        assert_eq!(
            pin_container(&t("/containers/webx/start"), "web", "abc"),
            None
        );
        assert_eq!(
            route("POST", "/containers/web/exec").container(),
            Some(("exec", "web"))
        );
    }

    #[test]
    fn the_daemons_network_work_is_recognised() {
        let net = Route::DaemonNetwork;
        assert_eq!(route("POST", "/images/x/push?tag=1"), net("push"));
        assert_eq!(
            route("POST", "/v1.41/images/evil.example:5000/a/b/push"),
            net("push")
        );
        assert_eq!(route("POST", "/auth"), net("registry login"));
        assert_eq!(route("GET", "/images/search?term=x"), net("image search"));
        assert_eq!(
            route("GET", "/distribution/evil.example/x:1/json"),
            net("registry lookup")
        );
        assert_eq!(route("GET", "/images/push/json"), Route::Other);
        assert_eq!(route("POST", "/images/x/tag?repo=y"), Route::Other);
        assert_eq!(
            route("GET", "/plugins/privileges?remote=evil.example/p"),
            net("plugin privileges lookup")
        );
        assert_eq!(
            route("DELETE", "/volumes/v"),
            Route::DaemonFileWork("volume removal")
        );
        assert_eq!(
            route("DELETE", "/images/a/b:1?force=1"),
            Route::DaemonFileWork("image removal")
        );
    }

    #[test]
    fn build_queries_say_what_the_daemon_fetches() {
        let q = |s: &str| rewrite_build_query(Some(s), "/p").unwrap();
        assert_eq!(
            q("remote=http%3A%2F%2Fevil.example%2Fc.tar")
                .remote
                .as_deref(),
            Some("http://evil.example/c.tar")
        );
        assert_eq!(q("remote=&t=a").remote, None);
        let quiet = q("q=1&t=a&q=0");
        assert!(quiet.quiet);
        assert_eq!(quiet.query, "t=a&cgroupparent=%2Fp");
        let bk = q("q=1&version=2");
        assert!(bk.quiet && bk.buildkit);
        assert_eq!(bk.query, "q=1&version=2&cgroupparent=%2Fp");
        for yes in ["pull=1", "pull=true", "pull=%20True", "pull=x"] {
            assert!(q(yes).pull, "{yes}");
        }
        for no in [
            "pull=0",
            "pull=",
            "pull=FALSE",
            "pull=none",
            "pull=No",
            "t=x",
        ] {
            assert!(!q(no).pull, "{no}");
        }
    }

    #[test]
    fn build_queries_get_exactly_one_cgroupparent_of_ours() {
        let q = rewrite_build_query(
            Some(
                "t=a%3A1&cgroupparent=%2Fevil&cgroup%70arent=x&t=b&version=1&dockerfile=Dockerfile",
            ),
            "/assay/run 1",
        )
        .unwrap();
        assert_eq!(
            q.query,
            "t=a%3A1&t=b&version=1&dockerfile=Dockerfile&cgroupparent=%2Fassay%2Frun%201"
        );
        assert_eq!(q.tags, ["a:1", "b"]);
        assert!(!q.buildkit);
        let pairs = query_pairs(Some(&q.query)).unwrap();
        let ours: Vec<_> = pairs.iter().filter(|p| p.key == "cgroupparent").collect();
        assert_eq!(ours.len(), 1);
        assert_eq!(ours[0].value, "/assay/run 1");
        let bk = rewrite_build_query(Some("version=2&session=x"), "/p").unwrap();
        assert!(bk.buildkit);
        let none = rewrite_build_query(None, "/p").unwrap();
        assert_eq!(none.query, "cgroupparent=%2Fp");
        assert_eq!(
            rewrite_build_query(Some("a=1;cgroupparent=/x"), "/p"),
            Err(RouteError::Semicolon)
        );
    }

    #[test]
    fn versions_compare_like_the_daemon() {
        for (v, below) in [
            ("1.23", true),
            ("1.24", false),
            ("1.41", false),
            ("1.023", true),
            ("1.23.9", true),
            ("1", true),
            ("2", false),
            ("1.", true),
            (".24", true),
            ("1..24", true),
            ("1.99999999999999999999", false),
            ("0001.0024", false),
        ] {
            assert_eq!(version_below(v, "1.24"), below, "{v}");
        }
    }

    #[test]
    fn queries_decode_like_go() {
        let p = query_pairs(Some("fromImage=a%2Fb&tag=1&&x&y=a+b")).unwrap();
        assert_eq!(first(&p, "fromImage"), Some("a/b"));
        assert_eq!(first(&p, "tag"), Some("1"));
        assert_eq!(first(&p, "x"), Some(""));
        assert_eq!(first(&p, "y"), Some("a b"));
        assert_eq!(query_pairs(Some("a=%zz")), Err(RouteError::BadEscape));
    }

    proptest! {
        /// Any encoding of a path routes like the path itself.
        #[test]
        fn encoding_does_not_change_the_route(
            name in "[a-z0-9_.-]{1,12}",
            last in prop::sample::select(vec!["start", "attach", "exec", "kill", "update", "json"]),
            mask in any::<u64>(),
            versioned in any::<bool>(),
        ) {
            prop_assume!(name != "." && name != "..");
            let plain = format!("/containers/{name}/{last}");
            let mut enc = String::new();
            for (i, b) in plain.bytes().enumerate() {
                if i > 0 && mask >> (i % 64) & 1 == 1 { enc.push_str(&format!("%{b:02x}")) } else { enc.push(b as char) }
            }
            let target = if versioned { format!("/v1.41{enc}") } else { enc };
            let t = parse_target(&target).unwrap();
            prop_assert_eq!(classify("POST", &t.path), classify("POST", &plain));
        }

        /// Arbitrary targets never panic; a parsed path is absolute and has no odd segment.
        #[test]
        fn arbitrary_targets_never_panic(raw in "\\PC{0,40}") {
            if let Ok(t) = parse_target(&raw) {
                prop_assert!(t.path.starts_with('/'));
                prop_assert!(!t.path.contains('\0'));
                prop_assert!(t.path == "/" || !t.path[1..].split('/').any(|s| s.is_empty() || s == "." || s == ".."));
                let _ = classify("POST", &t.path);
                let _ = rewrite_build_query(t.query.as_deref(), "/p");
            }
        }
    }
}

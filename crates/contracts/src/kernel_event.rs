//! `assay.runner.kernel_event.v5` — one line of `layers/kernel.ndjson`, the canonical projection
//! of what the kernel observed.
//!
//! Pids are replaced by stable process labels derived from the process tree (`p0` is the
//! command; `p0.bash#1` is the first child of `p0` that executed `bash`); timestamps are left
//! out. Lines are ordered by process label, then by each process's own event order, and `seq`
//! counts them gaplessly from 0. Raw pids and times are in the diagnostic `events.ndjson`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Schema id.
pub const SCHEMA: &str = "assay.runner.kernel_event.v5";

/// Event kinds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A successful execve.
    Exec,
    /// A new process (the `child` label).
    Fork,
    /// The process ended (`exit_code` is the raw wait status).
    Exit,
    /// open/openat/openat2/creat.
    Open,
    /// unlink/unlinkat.
    Unlink,
    /// rmdir/unlinkat(AT_REMOVEDIR).
    Rmdir,
    /// rename/renameat/renameat2 (`path` → `path2`).
    Rename,
    /// mkdir/mkdirat.
    Mkdir,
    /// chdir/fchdir.
    Chdir,
    /// connect.
    Connect,
    /// link/linkat (`path` → `path2`).
    Link,
    /// symlink/symlinkat (`path2` points at the text `path`).
    Symlink,
    /// truncate(2) of `path` (an `ftruncate` needs a descriptor opened for writing, whose open
    /// is already a write).
    Truncate,
    /// chmod/fchmod/fchmodat/fchmodat2 of `path` (for a descriptor, its path as the probe
    /// rebuilt it from dentries and mounts, else the open the layer followed, else `<fd N>`).
    Chmod,
    /// chown/lchown/fchown/fchownat of `path`.
    Chown,
    /// utime/utimes/futimesat/utimensat of `path`.
    Utimes,
    /// An extended attribute of `path` set or removed (setxattr, removexattr and their `l`,
    /// `f` and `at` variants).
    Xattr,
    /// mknod/mknodat: a new FIFO, socket, device or regular file at `path`; `flags` names its
    /// type.
    Mknod,
    /// A TCP or UDP connect attempt seen at the session cgroup (any syscall or io_uring
    /// operation): `endpoint` is `protocol:address:port`.
    NetConnect,
    /// A datagram sent with an explicit destination (`sendto`, `sendmsg`, `sendmmsg` per
    /// message, io_uring), seen at the session cgroup: `endpoint` is `udp:address:port`; or one
    /// successful `sendto`/`sendmsg` to a UNIX address: `unix:PATH` or `unix:@NAME`.
    Send,
    /// A bind attempt seen at the session cgroup: `endpoint` is the requested local address
    /// (`tcp:0.0.0.0:0` asks for any port); or a successful bind to a UNIX address
    /// (`unix:<work>/sock`, `unix:@name`), whose socket file, for a path, is `path`.
    Bind,
    /// listen(2) on an INET or UNIX socket: `endpoint` is its local address.
    Listen,
    /// A DNS answer received by a session socket (a UDP datagram from port 53, seen at the
    /// session cgroup): `endpoint` is the server (`udp:127.0.0.1:53`), `name` the question's
    /// name, `addresses` what it resolved to (following CNAMEs; sorted, maybe empty). Process
    /// `net`: packets belong to no process.
    DnsAnswer,
    /// A TLS ClientHello sent by a session socket (seen at the session cgroup): `endpoint` is
    /// the destination (`tcp:127.0.0.1:443`), `name` its server name (SNI): what the client
    /// claimed; it never names an address in the surface. Process `net`.
    TlsClientHello,
    /// A DNS query a session socket sent (a UDP datagram to port 53): `endpoint` is the server,
    /// `name` the question, `dns_id` its id. Process `net`.
    DnsQuery,
}

/// How an event's `path` was made (docs/kernel.md, "Paths").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PathFrom {
    /// The path of the object the kernel resolved: the file an open installed or an exec
    /// loaded, the working directory after a chdir, a UNIX socket's file. Exact.
    Kernel,
    /// The directory the kernel resolved against (the dirfd's, or the working directory),
    /// rebuilt from the kernel, joined with the argument's text: a path-only operation
    /// (unlink, rename, mkdir, ...). Exact unless `ambiguous`.
    DirText,
    /// The argument's text alone (an absolute path, or one whose base could not be read).
    Text,
}

/// One canonical kernel event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KernelEvent {
    /// Always [`SCHEMA`].
    #[schemars(extend("const" = SCHEMA))]
    pub schema: String,
    /// The run this belongs to.
    pub run_id: String,
    /// Gapless from 0.
    pub seq: u64,
    /// Stable process label.
    pub process: String,
    /// What happened.
    pub kind: Kind,
    /// Main path (normalized), when the event has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Second path (rename/link target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path2: Option<String>,
    /// How `path` was made (absent for events without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_from: Option<PathFrom>,
    /// The path text the process passed, when the kernel's resolved `path` differs from it (an
    /// open through a symlink, `..`, a directory fd or a `/proc` link): what it claimed, for
    /// review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arg: Option<String>,
    /// True when `path` (from `dir_text` or `text`) passed through what text cannot resolve: a
    /// `..` after a component of the text, a `/proc` or `/dev/fd` magic link, or a symlink the
    /// run made: where the kernel went is not known exactly (health says so).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ambiguous: bool,
    /// `read`, `write` or `read_write` for opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["read", "write", "read_write"]))]
    pub access: Option<String>,
    /// Open flags besides the access mode (`create`, `trunc`, `append`, `excl`, `directory`,
    /// `tmpfile`; and `own_program` for a read of the file the kernel executed for the process,
    /// both named by the kernel: part of that exec, not a read of its own in the surface), sorted; for `mknod`, the node's type (`fifo`, `socket`, `char_device`,
    /// `block_device`; none for a regular file); for `exec`, `script` (path is the interpreter
    /// the kernel loaded, path2 the script as named), `loader` (path is the ELF program
    /// interpreter the kernel mapped for the process's new program) and `fileless` (no name
    /// leads to the file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("items" = {"enum": ["append", "block_device", "char_device", "create", "directory", "excl", "fifo", "fileless", "loader", "own_program", "script", "socket", "tmpfile", "trunc"]}, "uniqueItems" = true))]
    pub flags: Vec<String>,
    /// Connect target (`connect`: `address:port` or `unix:path`); the protocol-qualified address
    /// of a network event (`net_connect`, `send`, `bind`, `listen`: `tcp:127.0.0.1:80`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The host name a `dns_answer` or `tls_client_hello` carried (lowercase).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("pattern" = "^[a-z0-9_-]+(\\.[a-z0-9_-]+)*$"))]
    pub name: Option<String>,
    /// The addresses a `dns_answer` resolved its name to (`127.0.0.2`, `::1`), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("uniqueItems" = true))]
    pub addresses: Vec<String>,
    /// The DNS message id of a `dns_query` or `dns_answer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_id: Option<u16>,
    /// A `dns_answer` that names its addresses in the surface: it came from a resolver the host
    /// is configured with (not from a session socket) and answers a query of the run (same id
    /// and question). Any other answer — and every ClientHello server name — is a claim.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub earned: bool,
    /// Child label of a fork.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child: Option<String>,
    /// Raw wait status of an exit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// `ok` or the errno name (`ENOENT`, ...).
    #[schemars(extend("pattern" = "^(ok|E[A-Z0-9]+)$"))]
    pub result: String,
    /// True when the process was outside the session cgroup (followed by pid tree).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub escaped: bool,
}

impl KernelEvent {
    /// An event with every optional field empty and `result: ok`; set the rest with struct
    /// update syntax.
    pub fn new(run_id: &str, seq: u64, process: &str, kind: Kind) -> KernelEvent {
        KernelEvent {
            schema: SCHEMA.into(),
            run_id: run_id.into(),
            seq,
            process: process.into(),
            kind,
            path: None,
            path2: None,
            path_from: None,
            arg: None,
            ambiguous: false,
            access: None,
            flags: Vec::new(),
            endpoint: None,
            name: None,
            addresses: Vec::new(),
            dns_id: None,
            earned: false,
            child: None,
            exit_code: None,
            result: "ok".into(),
            escaped: false,
        }
    }
}

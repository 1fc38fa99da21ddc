//! The proxy's own requests to the daemon, on connections of its own: `GET /info` at start,
//! and `GET /containers/{id}/json` to record a created container and to resolve the
//! container a start, exec or attach names. Bounded (answers up to [`MAX_ANSWER`] bytes) and
//! timed out ([`TIMEOUT`]).
//! Imports `docker::{http, report, route}`.

use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use thiserror::Error;

use super::http::{HttpError, Reader};
use super::report::{DaemonInfo, Mount, Placement};
use super::route::percent_encode;

/// Largest answer the proxy reads for itself.
pub const MAX_ANSWER: usize = 8 << 20;
/// How long one of the proxy's own requests may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Why one of the proxy's own requests failed.
#[derive(Debug, Error)]
pub enum UpstreamError {
    #[error("connecting to the daemon at {path}: {source}")]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("talking to the daemon: {0}")]
    Http(#[from] HttpError),
    #[error("the daemon closed the connection without answering")]
    NoAnswer,
    #[error("the daemon answered {status} to {what}: {message}")]
    Status {
        what: String,
        status: u16,
        message: String,
    },
    #[error("the daemon's answer to {what} is not the JSON expected: {detail}")]
    Shape { what: String, detail: String },
}

/// The daemon's socket.
#[derive(Debug, Clone)]
pub struct Upstream {
    path: PathBuf,
}

impl Upstream {
    pub fn new(path: &Path) -> Upstream {
        Upstream {
            path: path.to_path_buf(),
        }
    }

    pub fn connect(&self) -> Result<UnixStream, UpstreamError> {
        UnixStream::connect(&self.path).map_err(|source| UpstreamError::Connect {
            path: self.path.clone(),
            source,
        })
    }

    /// `GET path` on a fresh connection: the status and the JSON body.
    pub fn get_json(&self, path: &str) -> Result<(u16, Value), UpstreamError> {
        let mut s = self.connect()?;
        let io = |e| UpstreamError::Http(HttpError::Write(e));
        s.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
        s.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: assay-runner-docker-proxy\r\nConnection: close\r\n\r\n"
        )
        .map_err(io)?;
        let mut r = Reader::new(&s);
        let head = loop {
            match r.response_head()? {
                None => return Err(UpstreamError::NoAnswer),
                Some(h) if (100..200).contains(&h.status) => continue,
                Some(h) => break h,
            }
        };
        let (_, body) = r.collect_body(head.framing, MAX_ANSWER)?;
        let v = serde_json::from_slice(&body).map_err(|e| UpstreamError::Shape {
            what: path.to_string(),
            detail: e.to_string(),
        })?;
        Ok((head.status, v))
    }

    /// `GET /info`.
    pub fn info(&self) -> Result<DaemonInfo, UpstreamError> {
        let (status, v) = self.get_json("/info")?;
        ok(status, &v, "/info")?;
        let field = |k: &str| match &v[k] {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(UpstreamError::Shape {
                what: "/info".into(),
                detail: format!("no {k}"),
            }),
        };
        Ok(DaemonInfo {
            cgroup_driver: field("CgroupDriver")?,
            // daemons before API 1.40 say nothing of it: cgroup v1 then
            cgroup_version: field("CgroupVersion").unwrap_or_else(|_| "1".into()),
            server_version: field("ServerVersion")?,
            root_dir: field("DockerRootDir")?,
            logging_driver: field("LoggingDriver").unwrap_or_default(),
        })
    }

    /// `GET /volumes/{name}`.
    pub fn volume(&self, name: &str) -> Result<Value, UpstreamError> {
        let path = format!("/volumes/{}", percent_encode(name));
        let (status, v) = self.get_json(&path)?;
        ok(status, &v, &path)?;
        Ok(v)
    }

    /// `GET /containers/{name}/json`; `None` when there is no such container.
    pub fn inspect(&self, name: &str) -> Result<Option<Value>, UpstreamError> {
        let path = format!("/containers/{}/json", percent_encode(name));
        let (status, v) = self.get_json(&path)?;
        if status == 404 {
            return Ok(None);
        }
        ok(status, &v, &path)?;
        Ok(Some(v))
    }
}

fn ok(status: u16, v: &Value, what: &str) -> Result<(), UpstreamError> {
    if status == 200 {
        return Ok(());
    }
    Err(UpstreamError::Status {
        what: what.to_string(),
        status,
        message: v["message"].as_str().unwrap_or("").to_string(),
    })
}

/// A placement from a container's inspect answer. `files_dir` is the directory holding the
/// `hosts`, `resolv.conf` and `hostname` files the container will get (inspect names them only
/// once it started: `<DockerRootDir>/containers/<id>`, or the id of the container whose
/// network it joins).
pub fn placement(
    inspect: &Value,
    image: &str,
    creator_pid: Option<u32>,
    parent: &str,
    files_dir: Option<&str>,
) -> Result<Placement, UpstreamError> {
    let shape = |detail: &str| UpstreamError::Shape {
        what: "container inspect".into(),
        detail: detail.to_string(),
    };
    let id = inspect["Id"].as_str().ok_or_else(|| shape("no Id"))?;
    Ok(Placement {
        id: id.to_string(),
        name: inspect["Name"]
            .as_str()
            .map(|n| n.trim_start_matches('/').to_string())
            .filter(|n| !n.is_empty()),
        image: inspect["Config"]["Image"]
            .as_str()
            .unwrap_or(image)
            .to_string(),
        image_id: inspect["Image"].as_str().unwrap_or("").to_string(),
        creator_pid,
        mounts: mounts(inspect, files_dir),
        cgroup_leaf: format!("{}/{id}", parent.trim_end_matches('/')),
    })
}

/// `Mounts[]`, plus the three files docker bind-mounts into every container (unless a mount
/// of the client's covers the same path): where inspect names them, else in `files_dir`.
fn mounts(inspect: &Value, files_dir: Option<&str>) -> Vec<Mount> {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let mut out: Vec<Mount> = inspect["Mounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| Mount {
                    kind: s(&m["Type"]),
                    source: s(&m["Source"]),
                    destination: s(&m["Destination"]),
                    rw: m["RW"].as_bool().unwrap_or(false),
                })
                .collect()
        })
        .unwrap_or_default();
    let rw = !inspect["HostConfig"]["ReadonlyRootfs"]
        .as_bool()
        .unwrap_or(false);
    for (key, file, dest) in [
        ("HostsPath", "hosts", "/etc/hosts"),
        ("ResolvConfPath", "resolv.conf", "/etc/resolv.conf"),
        ("HostnamePath", "hostname", "/etc/hostname"),
    ] {
        let mut source = s(&inspect[key]);
        if source.is_empty()
            && let Some(dir) = files_dir
        {
            source = format!("{dir}/{file}");
        }
        if !source.is_empty() && !out.iter().any(|m| m.destination == dest) {
            out.push(Mount {
                kind: "bind".into(),
                source,
                destination: dest.into(),
                rw,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements_take_what_inspect_says() {
        let v = serde_json::json!({
            "Id": "abc123",
            "Name": "/c1",
            "Image": "sha256:a7e3",
            "Config": {"Image": "assay-busybox:1", "Env": ["SECRET=x"]},
            "HostConfig": {"ReadonlyRootfs": false},
            "HostsPath": "/d/containers/abc123/hosts",
            "ResolvConfPath": "/d/containers/abc123/resolv.conf",
            "HostnamePath": "",
            "Mounts": [
                {"Type": "bind", "Source": "/host/data", "Destination": "/data", "RW": false},
                {"Type": "bind", "Source": "/my/hosts", "Destination": "/etc/resolv.conf", "RW": true},
            ],
        });
        let p = placement(
            &v,
            "ignored",
            Some(42),
            "/assay/run-1/",
            Some("/d/containers/x"),
        )
        .unwrap();
        assert_eq!(p.id, "abc123");
        assert_eq!(p.name.as_deref(), Some("c1"));
        assert_eq!(p.image, "assay-busybox:1");
        assert_eq!(p.image_id, "sha256:a7e3");
        assert_eq!(p.creator_pid, Some(42));
        assert_eq!(p.cgroup_leaf, "/assay/run-1/abc123");
        let dests: Vec<_> = p.mounts.iter().map(|m| m.destination.as_str()).collect();
        assert_eq!(
            dests,
            ["/data", "/etc/resolv.conf", "/etc/hosts", "/etc/hostname"]
        );
        assert_eq!(p.mounts[2].source, "/d/containers/abc123/hosts");
        assert_eq!(p.mounts[3].source, "/d/containers/x/hostname");
        assert!(p.mounts[2].rw && !p.mounts[0].rw);
        let p = placement(&v, "", None, "/p", None).unwrap();
        assert_eq!(p.mounts.len(), 3);
        assert!(placement(&serde_json::json!({}), "", None, "/p", None).is_err());
    }
}

//! Endpoints by name: the rule that turns `tcp:ADDRESS:PORT` into `tcp:NAME:PORT` when the run
//! itself observed a name for that address. One source for deriving the surface and for
//! `verify` (which checks a named entry against the kernel layer's `dns_answer` and
//! `tls_client_hello` lines).
//!
//! **The rule.** For a `tcp:` or `udp:` destination `PROTO:ADDRESS:PORT`:
//! 1. if the run sent TLS ClientHellos to exactly that destination, its entries are
//!    `PROTO:SNI:PORT`, one per server name sent there (sorted): the names the client itself
//!    asked that server for win;
//! 2. else, if DNS answers to session sockets resolved names to `ADDRESS` (directly or through
//!    CNAMEs), its entries are `PROTO:NAME:PORT`, one per such name (sorted): the run may have
//!    reached the address by any of them, and the surface does not guess which;
//! 3. else it stays `PROTO:ADDRESS:PORT`.
//!
//! An IPv4-mapped IPv6 destination (`[::ffff:127.0.0.2]`, a v6 socket reaching a v4 address)
//! takes the names of its IPv4 address. Names only ever replace an address they were observed
//! for in the same run; the kernel layer keeps every address.
//! Imports: `assay_contracts::kernel_event`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use assay_contracts::kernel_event::{KernelEvent, Kind};

/// The names a run observed, by address (DNS) and by exact destination (TLS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    dns: BTreeMap<IpAddr, BTreeSet<String>>,
    /// Keyed by `(protocol, address, port)`.
    sni: BTreeMap<(String, IpAddr, u16), BTreeSet<String>>,
}

/// A `PROTO:ADDRESS:PORT` destination split into its parts (`[v6]` without brackets); `None`
/// for anything else (`unix:…`, a bare `ADDRESS:PORT`, a named entry).
pub fn split_endpoint(ep: &str) -> Option<(&str, IpAddr, u16)> {
    let (proto, rest) = ep.split_once(':')?;
    if !proto
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        || proto.is_empty()
    {
        return None;
    }
    let (host, port) = rest.rsplit_once(':')?;
    let host = match host.strip_prefix('[') {
        Some(h) => h.strip_suffix(']')?,
        None if host.contains(':') => return None,
        None => host,
    };
    Some((proto, host.parse().ok()?, port.parse().ok()?))
}

/// The IPv4 address an IPv4-mapped IPv6 address stands for; any other unchanged.
fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    }
}

impl Names {
    /// Records what one canonical event names (`dns_answer`, `tls_client_hello`); other events
    /// name nothing.
    pub fn event(&mut self, e: &KernelEvent) {
        let Some(name) = e.name.as_deref() else {
            return;
        };
        match e.kind {
            Kind::DnsAnswer => {
                for a in &e.addresses {
                    if let Ok(ip) = a.parse::<IpAddr>() {
                        self.dns
                            .entry(canonical(ip))
                            .or_default()
                            .insert(name.to_string());
                    }
                }
            }
            Kind::TlsClientHello => {
                if let Some((proto, ip, port)) = e.endpoint.as_deref().and_then(split_endpoint) {
                    self.sni
                        .entry((proto.to_string(), canonical(ip), port))
                        .or_default()
                        .insert(name.to_string());
                }
            }
            _ => {}
        }
    }

    /// Whether no name was observed.
    pub fn is_empty(&self) -> bool {
        self.dns.is_empty() && self.sni.is_empty()
    }

    /// The surface entries of one destination by the rule above (the destination itself when
    /// nothing names it), sorted.
    pub fn entries(&self, ep: &str) -> Vec<String> {
        let Some((proto, ip, port)) = split_endpoint(ep) else {
            return vec![ep.to_string()];
        };
        if proto != "tcp" && proto != "udp" {
            return vec![ep.to_string()];
        }
        let ip = canonical(ip);
        let names = self
            .sni
            .get(&(proto.to_string(), ip, port))
            .or_else(|| self.dns.get(&ip));
        match names {
            Some(n) if !n.is_empty() => n.iter().map(|n| format!("{proto}:{n}:{port}")).collect(),
            _ => vec![ep.to_string()],
        }
    }

    /// Names every destination of `endpoints`: the set of their entries.
    pub fn apply<'a>(&self, endpoints: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
        endpoints
            .into_iter()
            .flat_map(|e| self.entries(e))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dns(name: &str, addrs: &[&str]) -> KernelEvent {
        KernelEvent {
            endpoint: Some("udp:127.0.0.1:53".into()),
            name: Some(name.into()),
            addresses: addrs.iter().map(|a| a.to_string()).collect(),
            ..KernelEvent::new("r", 0, "net", Kind::DnsAnswer)
        }
    }

    fn hello(name: &str, to: &str) -> KernelEvent {
        KernelEvent {
            endpoint: Some(to.into()),
            name: Some(name.into()),
            ..KernelEvent::new("r", 0, "net", Kind::TlsClientHello)
        }
    }

    #[test]
    fn splits_endpoints() {
        assert_eq!(
            split_endpoint("tcp:127.0.0.1:80"),
            Some(("tcp", "127.0.0.1".parse().unwrap(), 80))
        );
        assert_eq!(
            split_endpoint("udp:[::1]:53"),
            Some(("udp", "::1".parse().unwrap(), 53))
        );
        for not in [
            "unix:/x",
            "127.0.0.1:80",
            "tcp:a.test:80",
            "tcp:::1:80",
            "tcp:[::1]",
        ] {
            assert_eq!(split_endpoint(not), None, "{not}");
        }
    }

    #[test]
    fn sni_wins_then_every_dns_name_then_the_address() {
        let mut n = Names::default();
        for e in [
            dns("service.assay.test", &["127.0.0.2"]),
            dns("alias.assay.test", &["127.0.0.2", "::1"]),
            hello("tls.assay.test", "tcp:127.0.0.2:443"),
            hello("other.assay.test", "tcp:127.0.0.2:443"),
        ] {
            n.event(&e);
        }
        assert_eq!(
            n.entries("tcp:127.0.0.2:443"),
            ["tcp:other.assay.test:443", "tcp:tls.assay.test:443"]
        );
        assert_eq!(
            n.entries("tcp:127.0.0.2:80"),
            ["tcp:alias.assay.test:80", "tcp:service.assay.test:80"]
        );
        assert_eq!(n.entries("udp:[::1]:53"), ["udp:alias.assay.test:53"]);
        assert_eq!(
            n.entries("tcp:[::ffff:127.0.0.2]:443"),
            ["tcp:other.assay.test:443", "tcp:tls.assay.test:443"]
        );
        for same in [
            "tcp:127.0.0.3:80",
            "unix:/run/x",
            "10.0.0.1:22",
            "icmp:127.0.0.2:0",
        ] {
            assert_eq!(n.entries(same), [same]);
        }
    }

    #[test]
    fn other_events_name_nothing() {
        let mut n = Names::default();
        let mut connect = hello("x.test", "tcp:127.0.0.2:443");
        connect.kind = Kind::NetConnect;
        n.event(&connect);
        n.event(&dns("empty.test", &[]));
        assert!(n.is_empty());
        assert_eq!(n.entries("tcp:127.0.0.2:443"), ["tcp:127.0.0.2:443"]);
    }

    proptest! {
        /// Naming never loses a destination: every endpoint gives at least one entry, an entry
        /// keeps the protocol and port, and an address with no name stays itself.
        #[test]
        fn naming_keeps_protocol_and_port(a in 0u8..4, b in 0u8..4, port in 1u16..5, names in proptest::collection::vec(("[a-c]{1,3}", 0u8..4, any::<bool>()), 0..6)) {
            let mut n = Names::default();
            for (name, last, tls) in &names {
                let name = format!("{name}.test");
                if *tls {
                    n.event(&hello(&name, &format!("tcp:127.0.0.{last}:{port}")));
                } else {
                    n.event(&dns(&name, &[&format!("127.0.0.{last}")]));
                }
            }
            for ep in [format!("tcp:127.0.0.{a}:{port}"), format!("udp:127.0.0.{b}:{port}")] {
                let got = n.entries(&ep);
                prop_assert!(!got.is_empty());
                let proto = &ep[..4];
                for g in &got {
                    prop_assert!(g.starts_with(proto), "{} from {}", g, ep);
                    let suffix = format!(":{port}");
                    prop_assert!(g.ends_with(&suffix));
                }
                let named = names.iter().any(|(_, last, _)| ep.contains(&format!("127.0.0.{last}:")));
                if !named {
                    prop_assert_eq!(got, vec![ep.clone()]);
                }
            }
        }
    }
}

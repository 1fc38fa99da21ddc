//! Endpoints by name: the rule that turns `tcp:ADDRESS:PORT` into `tcp:NAME:PORT` when a name
//! for that address was *earned*. One source for deriving the surface and for `verify` (which
//! checks a named entry against the kernel layer's `dns_answer` lines).
//!
//! **Names are earned, not claimed.** A name is something the run's own traffic says, and the
//! measured process may forge it: send itself a DNS answer from port 53, or write any server
//! name into a ClientHello. So:
//! 1. only a `dns_answer` marked `earned` names addresses — one that came from a resolver the
//!    host is configured with (`/etc/resolv.conf`), from no socket of the run, answering a
//!    query the run sent to it (same id and question; the kernel layer's `dns_query` lines);
//! 2. a TLS ClientHello's server name (SNI) never names an address: it is what the client
//!    claimed, kept in the kernel layer beside the address it was sent to;
//! 3. for a `tcp:` or `udp:` destination `PROTO:ADDRESS:PORT` that earned answers resolved
//!    names to (directly or through CNAMEs), its entries are `PROTO:NAME:PORT`, one per such
//!    name (sorted): the run may have reached the address by any of them; else it stays
//!    `PROTO:ADDRESS:PORT`.
//!
//! The residual trust is the resolver itself: an earned name is what the host's resolver said
//! (docs/kernel.md, "Channels").
//!
//! An IPv4-mapped IPv6 destination (`[::ffff:127.0.0.2]`, a v6 socket reaching a v4 address)
//! takes the names of its IPv4 address. Names only ever replace an address they were observed
//! for in the same run; the kernel layer keeps every address.
//! Imports: `assay_contracts::kernel_event`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use assay_contracts::kernel_event::{KernelEvent, Kind};

/// The names a run earned, by address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    dns: BTreeMap<IpAddr, BTreeSet<String>>,
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
    /// Records what one canonical event names: an earned `dns_answer`'s name for its
    /// addresses. Everything else — an answer that is not earned, a ClientHello — names nothing.
    pub fn event(&mut self, e: &KernelEvent) {
        let Some(name) = e.name.as_deref() else {
            return;
        };
        if e.kind != Kind::DnsAnswer || !e.earned {
            return;
        }
        for a in &e.addresses {
            if let Ok(ip) = a.parse::<IpAddr>() {
                self.dns
                    .entry(canonical(ip))
                    .or_default()
                    .insert(name.to_string());
            }
        }
    }

    /// Whether no name was observed.
    pub fn is_empty(&self) -> bool {
        self.dns.is_empty()
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
        match self.dns.get(&canonical(ip)) {
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
            earned: true,
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
    fn earned_dns_names_every_name_and_sni_names_nothing() {
        let mut n = Names::default();
        let mut forged = dns("github.com", &["127.0.0.99"]);
        forged.earned = false; // the run answered itself, or nobody asked
        for e in [
            dns("service.assay.test", &["127.0.0.2"]),
            dns("alias.assay.test", &["127.0.0.2", "::1"]),
            hello("tls.assay.test", "tcp:127.0.0.2:443"),
            hello("github.com", "tcp:127.0.0.98:443"),
            forged,
        ] {
            n.event(&e);
        }
        assert_eq!(
            n.entries("tcp:127.0.0.2:443"),
            ["tcp:alias.assay.test:443", "tcp:service.assay.test:443"]
        );
        assert_eq!(n.entries("udp:[::1]:53"), ["udp:alias.assay.test:53"]);
        assert_eq!(
            n.entries("tcp:[::ffff:127.0.0.2]:80"),
            ["tcp:alias.assay.test:80", "tcp:service.assay.test:80"]
        );
        for same in [
            "tcp:127.0.0.98:443",
            "tcp:127.0.0.99:443",
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

//! Names for endpoints, from packet payloads the session cgroup's `cgroup_skb` hooks copied
//! (`EV_PAYLOAD`): a DNS answer's question name and the addresses it resolved to, and a TLS
//! ClientHello's server name (SNI).
//!
//! Both parsers read **untrusted** bytes (whatever a DNS server answered, whatever a process
//! sent): they never panic, never loop (name compression pointers must point strictly backward
//! and are followed at most [`MAX_JUMPS`] times), bound every count by the bytes present, and
//! accept only host names made of letters, digits, `-` and `_` (lowercased), so a name is safe
//! in a surface entry (`tcp:NAME:PORT`). A payload cut at the copy limit is parsed as far as it
//! goes: what was cut off names nothing.
//! Imports: nothing from this crate.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Compression pointers followed at most while reading one name.
pub const MAX_JUMPS: usize = 32;
/// Answer records read at most from one message.
pub const MAX_ANSWERS: usize = 64;
/// Longest host name accepted (RFC 1035: 255 bytes on the wire, 253 as text).
pub const MAX_NAME: usize = 253;

/// Why a payload names nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the payload ends before its {0}")]
    Short(&'static str),
    #[error("not a DNS response to a standard query")]
    NotResponse,
    #[error("the DNS response carries error code {0}")]
    Rcode(u8),
    #[error("the DNS response carries {0} questions, not one")]
    Questions(u16),
    #[error("a name's compression pointer does not point backward, or too many of them")]
    BadPointer,
    #[error("a name has a label type this parser does not accept")]
    BadLabel,
    #[error("the name is not a host name")]
    NotHostName,
    #[error("not a TLS handshake record carrying a ClientHello")]
    NotClientHello,
    #[error("the ClientHello carries no host name (server_name) extension")]
    NoServerName,
}

/// What a DNS answer names: the question's name and the addresses it resolved to, following
/// CNAME records from the question's name (sorted, without repeats).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsAnswer {
    /// The message id (an answer answers the query with the same id and question).
    pub id: u16,
    pub name: String,
    pub addresses: BTreeSet<IpAddr>,
}

/// Parses a DNS query (the UDP payload): its id and its one question's name.
pub fn parse_dns_query(msg: &[u8]) -> Result<(u16, String), NameError> {
    let id = be16(msg, 0).ok_or(NameError::Short("header"))?;
    let flags = be16(msg, 2).ok_or(NameError::Short("header"))?;
    let qdcount = be16(msg, 4).ok_or(NameError::Short("header"))?;
    if msg.len() < 12 {
        return Err(NameError::Short("header"));
    }
    // QR clear, opcode 0 (QUERY).
    if flags & 0x8000 != 0 || (flags >> 11) & 0xf != 0 {
        return Err(NameError::NotResponse);
    }
    if qdcount != 1 {
        return Err(NameError::Questions(qdcount));
    }
    let (qlabels, _) = read_name(msg, 12)?;
    Ok((id, host_name(&qlabels)?))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// A host name as text, lowercased, or an error: labels of 1..=63 letters, digits, `-` or
/// `_`, at most [`MAX_NAME`] bytes, and a last label that is not all digits (so no name reads
/// as an IPv4 address).
pub fn host_name(labels: &[&[u8]]) -> Result<String, NameError> {
    let mut out = String::new();
    for l in labels {
        if l.is_empty()
            || l.len() > 63
            || !l
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
        {
            return Err(NameError::NotHostName);
        }
        if !out.is_empty() {
            out.push('.');
        }
        out.extend(l.iter().map(|c| c.to_ascii_lowercase() as char));
    }
    let last_numeric = labels
        .last()
        .is_some_and(|l| l.iter().all(u8::is_ascii_digit));
    if out.is_empty() || out.len() > MAX_NAME || last_numeric {
        return Err(NameError::NotHostName);
    }
    Ok(out)
}

/// Reads the (possibly compressed) name at `at`; returns its labels and the offset just past
/// it in the message (not past any pointer's target).
fn read_name(msg: &[u8], at: usize) -> Result<(Vec<&[u8]>, usize), NameError> {
    let mut labels = Vec::new();
    let mut pos = at;
    let mut end = None;
    let mut jumps = 0;
    let mut wire = 0usize;
    loop {
        let len = *msg.get(pos).ok_or(NameError::Short("name"))? as usize;
        match len & 0xc0 {
            0x00 if len == 0 => {
                return Ok((labels, end.unwrap_or(pos + 1)));
            }
            0x00 => {
                let label = msg
                    .get(pos + 1..pos + 1 + len)
                    .ok_or(NameError::Short("name"))?;
                wire += len + 1;
                if wire > 255 {
                    return Err(NameError::NotHostName);
                }
                labels.push(label);
                pos += 1 + len;
            }
            0xc0 => {
                let target = (be16(msg, pos).ok_or(NameError::Short("name"))? & 0x3fff) as usize;
                jumps += 1;
                // Strictly backward from the pointer itself: no pointer loop is possible, and
                // the jump count bounds the work anyway.
                if target >= pos || jumps > MAX_JUMPS {
                    return Err(NameError::BadPointer);
                }
                end.get_or_insert(pos + 2);
                pos = target;
            }
            _ => return Err(NameError::BadLabel),
        }
    }
}

/// Parses a DNS response (the UDP payload, possibly cut short): the header, the one question,
/// then the answer records as far as the bytes go. Only `A` and `AAAA` records (class IN) of
/// the question's name, or of a name a CNAME chain from it reaches, give addresses.
pub fn parse_dns_response(msg: &[u8]) -> Result<DnsAnswer, NameError> {
    let id = be16(msg, 0).ok_or(NameError::Short("header"))?;
    let flags = be16(msg, 2).ok_or(NameError::Short("header"))?;
    let qdcount = be16(msg, 4).ok_or(NameError::Short("header"))?;
    let ancount = be16(msg, 6).ok_or(NameError::Short("header"))?;
    if msg.len() < 12 {
        return Err(NameError::Short("header"));
    }
    // QR set, opcode 0 (QUERY).
    if flags & 0x8000 == 0 || (flags >> 11) & 0xf != 0 {
        return Err(NameError::NotResponse);
    }
    let rcode = (flags & 0xf) as u8;
    if rcode != 0 {
        return Err(NameError::Rcode(rcode));
    }
    if qdcount != 1 {
        return Err(NameError::Questions(qdcount));
    }
    let (qlabels, mut pos) = read_name(msg, 12)?;
    let name = host_name(&qlabels)?;
    if msg.len() < pos + 4 {
        return Err(NameError::Short("question"));
    }
    pos += 4; // qtype, qclass
    let (cnames, addrs) = answer_records(msg, pos, ancount)?;
    let chain = cname_chain(&name, &cnames);
    let addresses = addrs
        .into_iter()
        .filter(|(owner, _)| chain.contains(owner))
        .map(|(_, a)| a)
        .collect();
    Ok(DnsAnswer {
        id,
        name,
        addresses,
    })
}

/// The answer records that fit from `pos` (at most `ancount`, at most [`MAX_ANSWERS`]): the
/// CNAMEs as (owner, target) and the `A`/`AAAA` addresses as (owner, address), class IN only.
/// A record cut short ends the list: the rest names nothing.
#[allow(clippy::type_complexity)]
fn answer_records(
    msg: &[u8],
    mut pos: usize,
    ancount: u16,
) -> Result<(Vec<(String, String)>, Vec<(String, IpAddr)>), NameError> {
    let mut cnames: Vec<(String, String)> = Vec::new();
    let mut addrs: Vec<(String, IpAddr)> = Vec::new();
    for _ in 0..(ancount as usize).min(MAX_ANSWERS) {
        let Ok((owner, after)) = read_name(msg, pos) else {
            break;
        };
        let (Some(rtype), Some(class), Some(rdlen)) =
            (be16(msg, after), be16(msg, after + 2), be16(msg, after + 8))
        else {
            break; // cut short: the rest names nothing
        };
        let rdata_at = after + 10;
        let Some(rdata) = msg.get(rdata_at..rdata_at + rdlen as usize) else {
            break;
        };
        pos = rdata_at + rdlen as usize;
        let Ok(owner) = host_name(&owner) else {
            continue;
        };
        if class != 1 {
            continue;
        }
        match (rtype, rdata.len()) {
            (1, 4) => {
                let a: [u8; 4] = rdata.try_into().map_err(|_| NameError::Short("A"))?;
                addrs.push((owner, IpAddr::V4(Ipv4Addr::from(a))));
            }
            (28, 16) => {
                let a: [u8; 16] = rdata.try_into().map_err(|_| NameError::Short("AAAA"))?;
                addrs.push((owner, IpAddr::V6(Ipv6Addr::from(a))));
            }
            (5, _) => {
                if let Ok((target, _)) = read_name(msg, rdata_at)
                    && let Ok(target) = host_name(&target)
                {
                    cnames.push((owner, target));
                }
            }
            _ => {}
        }
    }
    Ok((cnames, addrs))
}

/// The names `name` reaches through CNAMEs, itself included (each visited once: no loop).
fn cname_chain(name: &str, cnames: &[(String, String)]) -> BTreeSet<String> {
    let mut chain: BTreeSet<String> = BTreeSet::from([name.to_string()]);
    let mut frontier = vec![name.to_string()];
    while let Some(n) = frontier.pop() {
        for (owner, target) in cnames {
            if *owner == n && chain.insert(target.clone()) {
                frontier.push(target.clone());
            }
        }
    }
    chain
}

/// Parses the start of a TLS stream (possibly cut short) as a handshake record carrying a
/// ClientHello and returns its `server_name` extension's host name. Bytes the record or the
/// handshake message declare beyond what is present are not read; an extension cut off names
/// nothing.
pub fn parse_client_hello_sni(b: &[u8]) -> Result<String, NameError> {
    // Record: type 22 (handshake), version 3.x, length; handshake: type 1 (ClientHello), length.
    if b.len() < 9 {
        return Err(NameError::Short("record header"));
    }
    if b[0] != 0x16 || b[1] != 0x03 || b[5] != 0x01 {
        return Err(NameError::NotClientHello);
    }
    let record_len = be16(b, 3).ok_or(NameError::Short("record header"))? as usize;
    let hs_len = (b[6] as usize) << 16 | (b[7] as usize) << 8 | b[8] as usize;
    // What the message may span: the record, the handshake, and the bytes present.
    let end = b.len().min(5 + record_len).min(9 + hs_len);
    let m = &b[..end];
    let mut pos = 9 + 2 + 32; // client_version, random
    let sid = *m.get(pos).ok_or(NameError::Short("session id"))? as usize;
    pos += 1 + sid;
    let suites = be16(m, pos).ok_or(NameError::Short("cipher suites"))? as usize;
    pos += 2 + suites;
    let comp = *m.get(pos).ok_or(NameError::Short("compression methods"))? as usize;
    pos += 1 + comp;
    let ext_len = be16(m, pos).ok_or(NameError::Short("extensions"))? as usize;
    pos += 2;
    let ext_end = m.len().min(pos + ext_len);
    while pos + 4 <= ext_end {
        let (Some(etype), Some(elen)) = (be16(m, pos), be16(m, pos + 2)) else {
            break;
        };
        let data_at = pos + 4;
        let data_end = data_at + elen as usize;
        if etype == 0 {
            let data = m
                .get(data_at..data_end)
                .ok_or(NameError::Short("server_name extension"))?;
            return server_name(data);
        }
        pos = data_end;
    }
    if pos + 4 <= m.len() || ext_end < pos {
        return Err(NameError::NoServerName);
    }
    Err(NameError::Short("extensions"))
}

/// The first `host_name` entry of a `server_name` extension's data.
fn server_name(data: &[u8]) -> Result<String, NameError> {
    let list = be16(data, 0).ok_or(NameError::Short("server_name list"))? as usize;
    let list = data
        .get(2..2 + list)
        .ok_or(NameError::Short("server_name list"))?;
    let mut pos = 0;
    while pos + 3 <= list.len() {
        let kind = list[pos];
        let len = be16(list, pos + 1).ok_or(NameError::Short("server name"))? as usize;
        let name = list
            .get(pos + 3..pos + 3 + len)
            .ok_or(NameError::Short("server name"))?;
        if kind == 0 {
            let name = name.strip_suffix(b".").unwrap_or(name);
            let labels: Vec<&[u8]> = name.split(|&c| c == b'.').collect();
            return host_name(&labels);
        }
        pos += 3 + len;
    }
    Err(NameError::NoServerName)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A DNS name on the wire.
    pub fn wire_name(name: &str) -> Vec<u8> {
        let mut v = Vec::new();
        for l in name.split('.').filter(|l| !l.is_empty()) {
            v.push(l.len() as u8);
            v.extend_from_slice(l.as_bytes());
        }
        v.push(0);
        v
    }

    /// A response to `qname` with `answers` as (owner as wire bytes, type, rdata).
    pub fn response(qname: &str, answers: &[(Vec<u8>, u16, Vec<u8>)]) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1];
        m.extend((answers.len() as u16).to_be_bytes());
        m.extend([0, 0, 0, 0]);
        m.extend(wire_name(qname));
        m.extend([0, 1, 0, 1]);
        for (owner, t, rdata) in answers {
            m.extend(owner);
            m.extend(t.to_be_bytes());
            m.extend([0, 1, 0, 0, 0, 60]);
            m.extend((rdata.len() as u16).to_be_bytes());
            m.extend(rdata);
        }
        m
    }

    /// A ClientHello record naming `sni` (with a few other extensions around it).
    pub fn client_hello(sni: &str) -> Vec<u8> {
        let mut ext = Vec::new();
        ext.extend([0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]); // ec_point_formats
        let name = sni.as_bytes();
        let mut sn = Vec::new();
        sn.extend(((name.len() + 3) as u16).to_be_bytes());
        sn.push(0);
        sn.extend((name.len() as u16).to_be_bytes());
        sn.extend(name);
        ext.extend([0, 0]);
        ext.extend((sn.len() as u16).to_be_bytes());
        ext.extend(sn);
        ext.extend([0x00, 0x17, 0x00, 0x00]); // extended_master_secret
        let mut body = vec![0x03, 0x03];
        body.extend([7u8; 32]);
        body.push(32);
        body.extend([9u8; 32]);
        body.extend([0, 4, 0x13, 0x01, 0x13, 0x02]);
        body.extend([1, 0]);
        body.extend((ext.len() as u16).to_be_bytes());
        body.extend(ext);
        let mut hs = vec![1];
        hs.extend(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend(body);
        let mut rec = vec![0x16, 0x03, 0x01];
        rec.extend((hs.len() as u16).to_be_bytes());
        rec.extend(hs);
        rec
    }

    #[test]
    fn answers_follow_cnames_and_pointers() {
        // www.example.test CNAME edge.cdn.test (compressed: "edge" + pointer to "cdn.test"?
        // here: a pointer to the question's name for the owner), A and AAAA of the target.
        let q = "www.Example.test";
        let ptr_q = vec![0xc0, 12];
        let target = wire_name("edge.cdn.test");
        let mut m = response(
            q,
            &[
                (ptr_q.clone(), 5, target.clone()),
                (target.clone(), 1, vec![192, 0, 2, 7]),
                (target.clone(), 28, Ipv6Addr::LOCALHOST.octets().to_vec()),
                (wire_name("other.test"), 1, vec![192, 0, 2, 99]),
                (ptr_q, 16, b"\x03txt".to_vec()),
            ],
        );
        let a = parse_dns_response(&m).unwrap();
        assert_eq!(a.name, "www.example.test");
        let want: BTreeSet<IpAddr> = [
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]
        .into();
        assert_eq!(a.addresses, want);
        // Cut inside the AAAA record: the A record still counts.
        let cut = m.len() - 62; // inside the AAAA record
        m.truncate(cut);
        let a = parse_dns_response(&m).unwrap();
        assert_eq!(
            a.addresses,
            [IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))].into()
        );
    }

    #[test]
    fn bad_responses_name_nothing() {
        let ok = response("a.test", &[(vec![0xc0, 12], 1, vec![127, 0, 0, 2])]);
        assert!(parse_dns_response(&ok).is_ok());
        let mut query = ok.clone();
        query[2] = 0x01; // QR clear
        assert_eq!(parse_dns_response(&query), Err(NameError::NotResponse));
        let mut nx = ok.clone();
        nx[3] = 0x83;
        assert_eq!(parse_dns_response(&nx), Err(NameError::Rcode(3)));
        // A pointer to itself, and one forward: refused, never followed.
        let mut looped = ok.clone();
        looped[12] = 0xc0;
        looped[13] = 12;
        assert_eq!(parse_dns_response(&looped), Err(NameError::BadPointer));
        // A name that is no host name (a colon would break `tcp:NAME:PORT`).
        let odd = response("a:b.test", &[]);
        assert_eq!(parse_dns_response(&odd), Err(NameError::NotHostName));
        let numeric = response("127.0.0.1", &[]);
        assert_eq!(parse_dns_response(&numeric), Err(NameError::NotHostName));
        assert_eq!(
            parse_dns_response(&ok[..5]),
            Err(NameError::Short("header"))
        );
    }

    #[test]
    fn cname_loops_end() {
        let a = wire_name("a.test");
        let b = wire_name("b.test");
        let m = response(
            "a.test",
            &[
                (a.clone(), 5, b.clone()),
                (b.clone(), 5, a.clone()),
                (b, 1, vec![10, 0, 0, 1]),
            ],
        );
        let r = parse_dns_response(&m).unwrap();
        assert_eq!(r.addresses, [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))].into());
    }

    #[test]
    fn client_hello_names_its_server() {
        let h = client_hello("TLS.assay.test.");
        assert_eq!(parse_client_hello_sni(&h).unwrap(), "tls.assay.test");
        // Cut before the extension: nothing.
        assert!(parse_client_hello_sni(&h[..90]).is_err());
        let mut not_hello = h.clone();
        not_hello[5] = 2;
        assert_eq!(
            parse_client_hello_sni(&not_hello),
            Err(NameError::NotClientHello)
        );
        let bad = client_hello("a/b.test");
        assert_eq!(parse_client_hello_sni(&bad), Err(NameError::NotHostName));
    }

    /// The ClientHello Python's `ssl` (OpenSSL 3) sends for `server_hostname="tls.assay.test"`,
    /// cut at the 512 bytes the egress hook copies.
    #[test]
    fn real_client_hello_prefix() {
        let b = include_bytes!("../../fuzz/corpus/client_hello/seed-openssl3");
        assert_eq!(b.len(), crate::kernel::event::PAYLOAD_MAX);
        assert_eq!(parse_client_hello_sni(b).unwrap(), "tls.assay.test");
    }

    #[test]
    fn committed_dns_seeds_parse_as_written() {
        let a = parse_dns_response(include_bytes!("../../fuzz/corpus/dns_answer/seed-a")).unwrap();
        assert_eq!(a.name, "service.assay.test");
        assert_eq!(
            a.addresses,
            [IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))].into()
        );
        let c = parse_dns_response(include_bytes!(
            "../../fuzz/corpus/dns_answer/seed-cname-aaaa"
        ))
        .unwrap();
        assert_eq!(c.name, "www.assay.test");
        assert!(c.addresses.contains(&IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(
            parse_dns_response(include_bytes!("../../fuzz/corpus/dns_answer/seed-nxdomain")),
            Err(NameError::Rcode(3))
        );
    }

    proptest! {
        #[test]
        fn dns_never_panics(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_dns_response(&b);
        }

        #[test]
        fn sni_never_panics(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_client_hello_sni(&b);
        }

        /// Mutations of a valid answer and hello never panic, and what they name is always a
        /// host name.
        #[test]
        fn mutated_payloads_name_only_host_names(pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
            for mut m in [
                response("svc.assay.test", &[(vec![0xc0, 12], 5, wire_name("x.test")), (wire_name("x.test"), 1, vec![127, 0, 0, 2])]),
                client_hello("tls.assay.test"),
            ] {
                let i = pos.index(m.len());
                m[i] = byte;
                m.truncate(cut.index(m.len() + 1));
                for name in [parse_dns_response(&m).map(|a| a.name), parse_client_hello_sni(&m)].into_iter().flatten() {
                    prop_assert!(host_name(&name.split('.').map(str::as_bytes).collect::<Vec<_>>()).is_ok());
                    prop_assert!(!name.contains(':'));
                }
            }
        }

        /// Any host name round-trips through both encodings.
        #[test]
        fn names_round_trip(labels in proptest::collection::vec("[a-z0-9_-]{1,20}", 1..5), tld in "[a-z]{2,6}") {
            let name = format!("{}.{tld}", labels.join("."));
            let m = response(&name, &[(vec![0xc0, 12], 1, vec![127, 0, 0, 2])]);
            prop_assert_eq!(parse_dns_response(&m).unwrap().name, name.clone());
            prop_assert_eq!(parse_client_hello_sni(&client_hello(&name)).unwrap(), name);
        }
    }
}

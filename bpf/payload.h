/* Packet payloads at the session cgroup, for names: DNS queries and answers, TLS
 * ClientHellos. */
#ifndef ASSAY_PAYLOAD_H
#define ASSAY_PAYLOAD_H

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

/* ---- names: packet payloads at the session cgroup ----
 *
 * cgroup_skb programs attached to the session cgroup through BPF links, like the sock_addr
 * programs above: they run for packets of sockets created in that cgroup and no other, so they
 * need no session filter, and always return 1 (allow). Ingress keeps UDP datagrams from port
 * 53 (DNS answers); egress keeps TCP segments whose payload starts a TLS handshake record
 * carrying a ClientHello. Each copies the addresses and at most ASSAY_PAYLOAD_MAX payload bytes
 * to the ring (`bpf_skb_load_bytes`: `bpf_skb_pull_data` is not allowed here, and a TCP
 * payload is not in the linear part); the DNS and ClientHello parsers run in userspace
 * (parsing here verified, but took ~250 ms to load).
 *
 * Packets are handled in softirq context, which may interrupt a program using the per-CPU
 * `scratch` record on the same CPU, so these build their record in a ring reservation instead,
 * and count with atomic adds. The record belongs to no process (pid 0). */
#define PAYLOAD_RECORD (ASSAY_HDR_SIZE + ASSAY_PAYLOAD_OFF + ASSAY_PAYLOAD_MAX)

_Static_assert(2 * ASSAY_SOCKADDR_SLOT == ASSAY_PAYLOAD_OFF, "payload offset");
_Static_assert(ASSAY_PAYLOAD_OFF + ASSAY_PAYLOAD_MAX < ASSAY_PATH_MAX, "payload fits len1");

struct payload_record {
	struct event_hdr h;
	char data[ASSAY_PAYLOAD_OFF + ASSAY_PAYLOAD_MAX];
};

/* The network and transport layer facts of one packet. */
struct flow {
	__u32 l4;     /* offset of the transport header */
	__u16 family;
	__u8 proto;
	__u8 src[16]; /* IPv4 in the first 4 bytes */
	__u8 dst[16];
};

/* Reads the IP header at the start of the packet (where cgroup_skb programs see it). Returns 0
 * for anything but an unfragmented IPv4 packet or an IPv6 packet whose first header is the
 * transport's, or a fragment that does not carry its datagram's start. */
static __always_inline int ip_flow(struct __sk_buff *skb, struct flow *f)
{
	if (skb->protocol == __builtin_bswap16(ETH_P_IP)) {
		__u8 ip[20];
		if (bpf_skb_load_bytes(skb, 0, ip, sizeof(ip)) || (ip[0] >> 4) != 4)
			return 0;
		if ((ip[6] & 0x1f) || ip[7])
			return 0; /* not the first fragment: no transport header */
		f->family = AF_INET;
		f->proto = ip[9];
		f->l4 = (ip[0] & 0xf) * 4;
		__builtin_memcpy(f->src, &ip[12], 4);
		__builtin_memcpy(f->dst, &ip[16], 4);
		return f->l4 >= 20;
	}
	if (skb->protocol == __builtin_bswap16(ETH_P_IPV6)) {
		__u8 ip[40];
		if (bpf_skb_load_bytes(skb, 0, ip, sizeof(ip)) || (ip[0] >> 4) != 6)
			return 0;
		f->family = AF_INET6;
		f->proto = ip[6];
		f->l4 = 40;
		__builtin_memcpy(f->src, &ip[8], 16);
		__builtin_memcpy(f->dst, &ip[24], 16);
		return 1;
	}
	return 0;
}

/* A sockaddr_in/_in6 in one ASSAY_SOCKADDR_SLOT: family, port (network order), address. */
static __always_inline void put_sockaddr(char *out, __u16 family, const __u8 *port, const __u8 *addr)
{
	__builtin_memset(out, 0, ASSAY_SOCKADDR_SLOT);
	*(__u16 *)&out[0] = family;
	out[2] = port[0];
	out[3] = port[1];
	if (family == AF_INET)
		__builtin_memcpy(&out[4], addr, 4);
	else
		__builtin_memcpy(&out[8], addr, 16);
}

/* One EV_PAYLOAD record: `remote_is_src` says whether the packet's source is the remote side
 * (ingress) or its destination (egress); `ports` holds the transport header's first 4 bytes. */
static __always_inline void emit_payload(struct __sk_buff *skb, struct flow *f, __u32 op,
					 const __u8 *ports, __u32 off, const int remote_is_src)
{
	__u32 slot = PROG_PAYLOAD + op - 1;
	__u32 full = skb->len > off ? skb->len - off : 0;
	__u64 n = full;
	if (n > ASSAY_PAYLOAD_MAX)
		n = ASSAY_PAYLOAD_MAX;
	asm volatile("%0 &= 1023" : "+r"(n)); /* the verifier's bound for the helper's size */
	if (n == 0 || n > ASSAY_PAYLOAD_MAX)
		return;
	bump_atomic(&attempts, slot);
	struct payload_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		bump_atomic(&drops, slot);
		return;
	}
	__builtin_memset(&r->h, 0, sizeof(r->h));
	r->h.kind = EV_PAYLOAD;
	r->h.op = op;
	r->h.ts = bpf_ktime_get_ns();
	r->h.ret = full;
	r->h.flags = f->proto;
	r->h.len1 = ASSAY_PAYLOAD_OFF + n;
	if (remote_is_src) {
		put_sockaddr(&r->data[0], f->family, &ports[0], f->src);
		put_sockaddr(&r->data[ASSAY_SOCKADDR_SLOT], f->family, &ports[2], f->dst);
	} else {
		put_sockaddr(&r->data[0], f->family, &ports[2], f->dst);
		put_sockaddr(&r->data[ASSAY_SOCKADDR_SLOT], f->family, &ports[0], f->src);
	}
	if (bpf_skb_load_bytes(skb, off, &r->data[ASSAY_PAYLOAD_OFF], n)) {
		r->h.len1 = ASSAY_PAYLOAD_OFF; /* counted and sent, with no payload: parses as nothing */
		r->h.status |= ST_FAULT1;
	}
	bpf_ringbuf_submit(r, wakeup_flag(sizeof(*r)));
}

static __always_inline int skb_ingress(struct __sk_buff *skb)
{
	struct flow f = {};
	if (!ip_flow(skb, &f) || f.proto != IPPROTO_UDP)
		return 1;
	__u8 ports[4];
	if (bpf_skb_load_bytes(skb, f.l4 & 0xff, ports, sizeof(ports)))
		return 1;
	if (ports[0] != 0 || ports[1] != 53)
		return 1; /* not from port 53 */
	emit_payload(skb, &f, PAY_DNS, ports, (f.l4 & 0xff) + 8, 1);
	return 1;
}

static __always_inline int skb_egress(struct __sk_buff *skb)
{
	struct flow f = {};
	if (!ip_flow(skb, &f))
		return 1;
	if (f.proto == IPPROTO_UDP) {
		/* a DNS query of the run: an answer names an address only when it answers one */
		__u8 ports[4];
		if (bpf_skb_load_bytes(skb, f.l4 & 0xff, ports, sizeof(ports)))
			return 1;
		if (ports[2] == 0 && ports[3] == 53)
			emit_payload(skb, &f, PAY_DNS_QUERY, ports, (f.l4 & 0xff) + 8, 0);
		return 1;
	}
	if (f.proto != IPPROTO_TCP)
		return 1;
	__u8 tcp[13];
	__u32 l4 = f.l4 & 0xff;
	if (bpf_skb_load_bytes(skb, l4, tcp, sizeof(tcp)))
		return 1;
	__u32 off = l4 + (tcp[12] >> 4) * 4;
	__u8 start[6];
	if (off + sizeof(start) > skb->len || bpf_skb_load_bytes(skb, off, start, sizeof(start)))
		return 1;
	/* a handshake record (22), TLS major version 3, handshake type ClientHello (1) */
	if (start[0] != 0x16 || start[1] != 0x03 || start[5] != 0x01)
		return 1;
	emit_payload(skb, &f, PAY_TLS, tcp, off, 0);
	return 1;
}

#endif

/* Addresses: the syscall side of the network channels (what the cgroup hooks cannot see:
 * UNIX addresses, sockets created outside the session, listen) and the hooks' own records. */
#ifndef ASSAY_NET_H
#define ASSAY_NET_H

/* Whether the cgroup `cg` is the session cgroup or below it: its kernfs node or one of its
 * first CGROUP_UP ancestors has the session's id. */
#define CGROUP_UP 8
static __always_inline int cgroup_in_session(struct cgroup *cg)
{
	struct kernfs_node *kn = BPF_CORE_READ(cg, kn);
	struct kernfs_node *probe = 0;
	__u64 parent_off = bpf_core_field_exists(probe->__parent)
				   ? bpf_core_field_offset(struct kernfs_node, __parent)
				   : bpf_core_field_offset(struct kernfs_node, parent);
	__u64 id_off = bpf_core_field_offset(struct kernfs_node, id);
	for (int i = 0; i < CGROUP_UP && kn; i++) {
		__u64 id = 0;
		bpf_probe_read_kernel(&id, sizeof(id), (char *)kn + id_off);
		if (id == session_cgid)
			return 1;
		kn = read_ptr(kn, parent_off);
	}
	return 0;
}

/* The family of a user sockaddr (0 when unreadable). */
static __always_inline __u16 addr_family(__u64 uaddr)
{
	__u16 family = 0;
	if (!uaddr || bpf_probe_read_user(&family, sizeof(family), (const void *)uaddr))
		return 0;
	return family;
}

/* Whether a family is a destination the channel table counts: INET, INET6 or UNIX. */
static __always_inline int counted_family(__u16 family)
{
	return family == AF_INET || family == AF_INET6 || family == AF_UNIX;
}

/* The family of the address a user msghdr (struct msghdr / the first struct mmsghdr) names. */
static __always_inline __u16 msg_family(__u64 umsg)
{
	__u64 name = 0;
	if (!umsg || bpf_probe_read_user(&name, sizeof(name), (const void *)umsg))
		return 0;
	return addr_family(name);
}

/* The kernel socket behind the current process's descriptor `fd` (0 when there is none). */
static __always_inline struct sock *fd_sock(__u64 fd)
{
	struct file *f = fd_file(fd);
	if (!f)
		return 0;
	struct socket *sock = (struct socket *)BPF_CORE_READ(f, private_data);
	return sock ? BPF_CORE_READ(sock, sk) : 0;
}

/* Whether a descriptor `fd` the session received from another process (SCM_RIGHTS,
 * pidfd_getfd) is a channel no syscall of the session witnesses: a file, directory, device or
 * symlink (what a write through it changes is a path its open, not the session's, named); or a
 * socket created outside the session, in any state: the sender keeps its own descriptor and
 * can connect it or set it listening after passing it, and what the session then sends or
 * accepts on it names no address (an AF_PACKET or netlink socket needs none at all). A pipe,
 * an anonymous inode or a socket of the session's own is none. */
/* Whether socket file `f` was created outside the session (the kernel's socket says where). */
static __always_inline int socket_made_outside(struct file *f)
{
	struct socket *sock = (struct socket *)BPF_CORE_READ(f, private_data);
	struct sock *sk = sock ? BPF_CORE_READ(sock, sk) : 0;
	return sk && !cgroup_in_session(BPF_CORE_READ(sk, sk_cgrp_data.cgroup));
}

static __always_inline int fd_received_blind(__u64 fd)
{
	struct file *f = fd_file(fd);
	if (!f)
		return 0;
	__u16 type = BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT;
	if (type != S_IFSOCK)
		return type != 0 && type != S_IFIFO;
	return socket_made_outside(f);
}

/* A control message's header (struct cmsghdr). */
struct cmsg_head {
	__u64 len;
	__s32 level;
	__s32 type;
};

/* What a received message (a user msghdr after the kernel wrote its control length back)
 * carries in its control data: 0 no descriptors; 1 one SCM_RIGHTS control message, whose
 * header and data address go to `h` and `*data`; 2 more than one control message, which is not
 * taken apart here and counts as descriptors no syscall of the session witnesses. User reads
 * only (no CO-RE), so a bpf_loop callback may call it. */
static __always_inline int msg_rights(__u64 umsg, struct cmsg_head *h, __u64 *data)
{
	struct {
		__u64 name;
		__u32 namelen;
		__u32 _pad;
		__u64 iov;
		__u64 iovlen;
		__u64 control;
		__u64 controllen;
	} m = {};
	if (!umsg || bpf_probe_read_user(&m, sizeof(m), (const void *)umsg) || m.controllen < 16)
		return 0;
	if (bpf_probe_read_user(h, sizeof(*h), (const void *)m.control) || h->len < 16)
		return 0;
	if (((h->len + 7) & ~7ULL) < m.controllen)
		return 2; /* more than one control message */
	if (h->level != SOL_SOCKET || h->type != SCM_RIGHTS)
		return 0;
	*data = m.control + 16;
	return 1;
}

/* Whether a received message carried a descriptor no syscall of the session witnesses
 * (fd_received_blind). Looks at the first control message and up to 4 descriptors in it;
 * anything more (another control message, more descriptors) counts as such a descriptor. */
static __always_inline int received_blind_fd(__u64 umsg)
{
	struct cmsg_head h = {};
	__u64 data = 0;
	int r = msg_rights(umsg, &h, &data);
	if (r != 1)
		return r == 2;
	__u64 n = (h.len - 16) / 4;
	if (n > 4)
		return 1;
	__s32 fds[4] = {};
	if (n && bpf_probe_read_user(fds, n * 4 & 31, (const void *)data))
		return 1;
	for (int i = 0; i < 4; i++)
		if (i < n && fd_received_blind((__u32)fds[i]))
			return 1;
	return 0;
}

/* The messages of one recvmmsg, walked by a bpf_loop (user reads only). */
struct rmmsg_walk {
	__u64 vec;      /* struct mmsghdr *: a msghdr and its length, 64 bytes each */
	__u32 first;    /* the first message carrying descriptors */
	__u32 carrying; /* messages carrying descriptors */
	__u32 blind;    /* a message whose control data is not taken apart */
};

static long rmmsg_step(__u32 i, void *ctx)
{
	struct rmmsg_walk *w = ctx;
	struct cmsg_head h = {};
	__u64 data = 0;
	int r = msg_rights(w->vec + (__u64)i * 64, &h, &data);
	if (r == 2) {
		w->blind = 1;
		return 1;
	}
	if (r == 1 && !w->carrying++)
		w->first = i;
	return 0;
}

/* Most messages one recvmmsg receives (the kernel's UIO_MAXIOV cap on its vlen). */
#define RECVMMSG_MAX 1024

/* Whether any of the `n` messages a recvmmsg received carried a descriptor no syscall of the
 * session witnesses: every message's control data is looked at; the descriptors of the one
 * message carrying some are checked (received_blind_fd); two messages carrying descriptors
 * count as such a descriptor. */
static __always_inline int received_blind_fd_mmsg(__u64 vec, __u64 n)
{
	struct rmmsg_walk w = {.vec = vec};
	bpf_loop(n < RECVMMSG_MAX ? n : RECVMMSG_MAX, rmmsg_step, &w, 0);
	if (w.blind || w.carrying > 1)
		return 1;
	return w.carrying && received_blind_fd(vec + (__u64)(w.first & (RECVMMSG_MAX - 1)) * 64);
}

/* What the session's cgroup hooks see of the socket behind `fd`: 0 when it is not an INET/INET6
 * TCP stream or UDP (or UDP-Lite) datagram socket, as `protocol` asks (0: any INET/INET6
 * socket); 1 when it is one and was created in the session cgroup or below it (the hooks are
 * inherited), so the hooks see what it does; 2 when it is one but was created
 * elsewhere — passed in over a UNIX socket, inherited, or made after an escape — so the hooks
 * never run for it and the syscall is its only witness. `*proto` gets its IP protocol. */
static __always_inline int hook_view(__u64 fd, __u16 protocol, __u64 *proto)
{
	struct sock *sk = fd_sock(fd);
	if (!sk)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 p = BPF_CORE_READ(sk, sk_protocol);
	__u16 type = BPF_CORE_READ(sk, sk_type);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (protocol == IPPROTO_TCP && !(type == SOCK_STREAM && p == IPPROTO_TCP))
		return 0;
	if (protocol == IPPROTO_UDP &&
	    !(type == SOCK_DGRAM && (p == IPPROTO_UDP || p == IPPROTO_UDPLITE)))
		return 0;
	*proto = p;
	return cgroup_in_session(BPF_CORE_READ(sk, sk_cgrp_data.cgroup)) ? 1 : 2;
}

/* An address used by a syscall that the cgroup hooks do not see (a UNIX address, or an INET
 * one on a socket created outside the session): one EV_NET event whose data is the user's
 * sockaddr (`len` bytes, at most ASSAY_SOCKADDR_MAX) and flags the IP protocol (0 for UNIX).
 * With `resolve` (a constant; not in a bpf_loop callback, where CO-RE reads are not relocated),
 * a UNIX path is also resolved like a path argument into path 2 (the working directory the
 * kernel used joined with a relative text: TEXT2). */
static __always_inline void addr_event(__u32 op, __u64 uaddr, __u64 len, __u64 proto, int member,
				       const int resolve)
{
	struct event *e = new_event(EV_NET, member);
	if (!e)
		return;
	e->h.op = op;
	e->h.flags = proto;
	if (len > ASSAY_SOCKADDR_MAX)
		len = ASSAY_SOCKADDR_MAX;
	asm volatile("%0 &= 255" : "+r"(len));
	if (len >= 2 && uaddr && bpf_probe_read_user(&e->data[0], len, (const void *)uaddr) == 0)
		e->h.len1 = len;
	else
		e->h.status |= ST_FAULT1;
	if (resolve && e->h.len1 > 2 && *(__u16 *)&e->data[0] == AF_UNIX && e->data[2])
		resolve_path(e, 1, AT_FDCWD, uaddr + 2, 0);
	emit(e, PROG_NET + op - 1);
}

/* The file a UNIX socket is bound to (a bind made it; a connect's peer is bound to it), into
 * slot `which` (KPATH); an abstract or unbound socket has none and leaves the slot empty. */
static __always_inline void unix_sock_path(struct event *e, int which, struct sock *sk)
{
	if (!sk)
		return;
	struct unix_sock *u = (struct unix_sock *)sk;
	struct dentry *d = BPF_CORE_READ(u, path.dentry);
	if (!d)
		return;
	__u32 n = walk_path(e, which, d, BPF_CORE_READ(u, path.mnt));
	if (!n)
		return;
	if (which) {
		e->h.len2 = (__u16)n;
		e->h.status |= ST_KPATH2;
	} else {
		e->h.len1 = (__u16)n;
		e->h.status |= ST_KPATH1;
	}
}

/* listen(2) on a UNIX socket: one NET_LISTEN event with its bound address (empty for an
 * unbound socket, which listens on an autobound abstract name). */
static __always_inline void unix_listen(struct sock *sk, int member)
{
	struct event *e = new_event(EV_NET, member);
	if (!e)
		return;
	e->h.op = NET_LISTEN;
	struct unix_address *addr = BPF_CORE_READ((struct unix_sock *)sk, addr);
	__u64 len = addr ? (__u32)BPF_CORE_READ(addr, len) : 0;
	if (len > ASSAY_SOCKADDR_MAX)
		len = ASSAY_SOCKADDR_MAX;
	asm volatile("%0 &= 255" : "+r"(len));
	const char *name = (const char *)addr + bpf_core_field_offset(struct unix_address, len) + sizeof(int);
	if (len >= 2 && bpf_probe_read_kernel(&e->data[0], len, name) == 0) {
		e->h.len1 = len;
	} else {
		*(__u16 *)&e->data[0] = AF_UNIX;
		e->h.len1 = 2;
	}
	unix_sock_path(e, 1, sk); /* the socket file, as the kernel made it */
	emit(e, PROG_NET + NET_LISTEN - 1);
}

/* listen(2) on an INET/INET6 or UNIX socket: one NET_LISTEN event with its local address.
 * Returns 0 (counted as a blind use) for any other socket. */
static __always_inline int net_listen(__u64 fd, int member)
{
	struct sock *sk = fd_sock(fd);
	if (!sk)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_UNIX) {
		unix_listen(sk, member);
		return 1;
	}
	if (family != AF_INET && family != AF_INET6)
		return 0;
	struct event *e = new_event(EV_NET, member);
	if (!e)
		return 1;
	e->h.op = NET_LISTEN;
	e->h.flags = BPF_CORE_READ(sk, sk_protocol);
	__u16 port = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_num));
	__builtin_memset(&e->data[0], 0, 28);
	*(__u16 *)&e->data[0] = family;
	*(__u16 *)&e->data[2] = port;
	if (family == AF_INET) {
		*(__u32 *)&e->data[4] = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		e->h.len1 = 16;
	} else {
		bpf_core_read(&e->data[8], 16, &sk->__sk_common.skc_v6_rcv_saddr);
		e->h.len1 = 28;
	}
	emit(e, PROG_NET + NET_LISTEN - 1);
	return 1;
}


/* A UNIX bind: the address as given (path 1) and the socket file the kernel made for it
 * (path 2, KPATH; none for an abstract name). */
static __always_inline void unix_bind_event(__u64 fd, __u64 uaddr, __u64 len, int member)
{
	struct event *e = new_event(EV_NET, member);
	if (!e)
		return;
	e->h.op = NET_BIND;
	if (len > ASSAY_SOCKADDR_MAX)
		len = ASSAY_SOCKADDR_MAX;
	asm volatile("%0 &= 255" : "+r"(len));
	if (len >= 2 && uaddr && bpf_probe_read_user(&e->data[0], len, (const void *)uaddr) == 0)
		e->h.len1 = len;
	else
		e->h.status |= ST_FAULT1;
	unix_sock_path(e, 1, fd_sock(fd));
	emit(e, PROG_NET + NET_BIND - 1);
}

/* One sock_addr hook record (the cgroup hooks may be preempted: built in a ring reservation,
 * counted with atomic adds). `v6` is a constant at each call: a program attached for IPv4 may
 * not read `user_ip6`. */
struct net4_record {
	struct event_hdr h;
	char data[16];
};

struct net6_record {
	struct event_hdr h;
	char data[28];
};

static __always_inline void hook_header(struct event_hdr *h, __u32 op, __u32 proto, __u16 len)
{
	__builtin_memset(h, 0, sizeof(*h));
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	h->kind = EV_NET;
	h->op = op;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->ts = bpf_ktime_get_ns();
	h->cgid = bpf_get_current_cgroup_id();
	h->flags = proto;
	h->len1 = len;
}

static __always_inline int sock_addr_event(struct bpf_sock_addr *ctx, __u32 op, const int v6)
{
	__u32 slot = PROG_NET + op - 1;
	bump_atomic(&attempts, slot);
	if (v6) {
		struct net6_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
		if (!r) {
			bump_atomic(&drops, slot);
			return 1;
		}
		hook_header(&r->h, op, ctx->protocol, 28);
		__builtin_memset(r->data, 0, sizeof(r->data));
		*(__u16 *)&r->data[0] = AF_INET6;
		*(__u16 *)&r->data[2] = (__u16)ctx->user_port;
		*(__u32 *)&r->data[8] = ctx->user_ip6[0];
		*(__u32 *)&r->data[12] = ctx->user_ip6[1];
		*(__u32 *)&r->data[16] = ctx->user_ip6[2];
		*(__u32 *)&r->data[20] = ctx->user_ip6[3];
		bpf_ringbuf_submit(r, wakeup_flag(sizeof(*r)));
	} else {
		struct net4_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
		if (!r) {
			bump_atomic(&drops, slot);
			return 1;
		}
		hook_header(&r->h, op, ctx->protocol, 16);
		__builtin_memset(r->data, 0, sizeof(r->data));
		*(__u16 *)&r->data[0] = AF_INET;
		*(__u16 *)&r->data[2] = (__u16)ctx->user_port;
		*(__u32 *)&r->data[4] = ctx->user_ip4;
		bpf_ringbuf_submit(r, wakeup_flag(sizeof(*r)));
	}
	return 1;
}

#endif

/* Channels the probes do not observe exactly: counted per slot (BLIND_*), or, where the
 * syscall is their only witness, reported (UNIX addresses, sockets the hooks cannot see,
 * listen). */
#ifndef ASSAY_BLIND_H
#define ASSAY_BLIND_H

/* One sendmsg (or one message of a sendmmsg) on a socket the hooks see as `view` (hook_view,
 * computed once per socket): its destination, reported when the hooks cannot see it, counted
 * blind when it cannot be reported. No CO-RE reads unless `resolve` (a constant: 0 in a
 * bpf_loop callback, where they are not relocated). */
static __always_inline int send_msg(int view, __u64 proto, __u64 umsg, int member,
				    __u32 blind_slot, const int resolve)
{
	__u16 family = msg_family(umsg);
	if (!counted_family(family))
		return 0;
	if (family == AF_UNIX)
		view = 0;
	if (view == 1)
		return 0; /* seen by cgroup/sendmsg4|6 */
	if (family == AF_UNIX || view == 2) {
		/* struct msghdr: void *msg_name; int msg_namelen; ... */
		struct { __u64 name; __u32 len; } m = {};
		char first = 0;
		if (bpf_probe_read_user(&m, sizeof(m), (const void *)umsg) == 0) {
			/* a relative UNIX path needs the working directory walked, which a bpf_loop
			 * callback cannot do: counted blind there */
			if (!resolve && family == AF_UNIX && m.name &&
			    bpf_probe_read_user(&first, 1, (const void *)(m.name + 2)) == 0 &&
			    first && first != '/')
				goto blind;
			addr_event(NET_SEND, m.name, m.len, proto, member, resolve);
			return 0;
		}
	}
blind:
	bump(&blind, blind_slot);
	return 0;
}

/* The messages of a sendmmsg the probe looks at; a call that sent more counts blind. */
#define SENDMMSG_INSPECT 64
/* sizeof(struct mmsghdr) on x86-64: a struct msghdr (56) and the unsigned int msg_len, padded */
#define MMSGHDR_SIZE 64

struct mmsg_walk {
	__u64 vec, proto;
	int view, member;
};

static long mmsg_step(__u32 i, void *ctx)
{
	struct mmsg_walk *w = ctx;
	send_msg(w->view, w->proto, w->vec + (__u64)i * MMSGHDR_SIZE, w->member, BLIND_SENDMMSG, 0);
	return 0;
}

/* ---- signals ---- */

/* A pidfd's struct pid: in its inode's i_private on pidfs (Linux 6.9), else in the file's
 * private_data (an anonymous inode). */
#define PIDFS_MAGIC 0x50494446
#define ANON_INODE_FS_MAGIC 0x09041934
/* pidfd_send_signal's pseudo-descriptors for the caller itself (Linux 6.15) */
#define PIDFD_SELF_THREAD -10000
#define PIDFD_SELF_THREAD_GROUP -10001
#define PIDFD_SIGNAL_PROCESS_GROUP 4

static __always_inline int followed(__u32 tgid)
{
	return bpf_map_lookup_elem(&tracked, &tgid) != 0;
}

/* Whether a signal for `target` (kill's pid argument: a process, 0 for the caller's process
 * group, -1 for every process it may signal, -N for group N) may reach a process the session
 * does not hold. A group is the session's when its leader is (a process joins only groups of
 * its own terminal session); a thread id that is not a process id counts as outside. */
static __always_inline int signal_leaves(long target)
{
	if (target > 0)
		return !followed((__u32)target);
	if (target == -1)
		return 1;
	if (target == 0) {
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();
		target = -pid_nr(BPF_CORE_READ(t, signal, pids[PIDTYPE_PGID]));
	}
	return !followed((__u32)-target);
}

/* pidfd_send_signal: the process a pidfd names; a /proc/<pid> directory descriptor (also
 * accepted by the kernel) or anything unreadable counts as outside. */
static __always_inline int pidfd_signal_leaves(__s32 fd, __u64 flags)
{
	if (fd == PIDFD_SELF_THREAD || fd == PIDFD_SELF_THREAD_GROUP)
		return 0;
	struct file *f = fd_file((__u32)fd);
	if (!f)
		return 1;
	unsigned long magic = BPF_CORE_READ(f, f_inode, i_sb, s_magic);
	struct pid *p = magic == PIDFS_MAGIC	       ? BPF_CORE_READ(f, f_inode, i_private)
			: magic == ANON_INODE_FS_MAGIC ? BPF_CORE_READ(f, private_data)
						       : 0;
	long nr = pid_nr(p);
	if (nr <= 0)
		return 1;
	return signal_leaves((flags & PIDFD_SIGNAL_PROCESS_GROUP) ? -nr : nr);
}

/* The argument registers blind_use reads, copied from the syscall's pt_regs. */
struct sys_regs {
	__u64 di, si, dx, r10, r8, r9;
};

/* Counts a successful use of a channel the probes do not observe, or reports the uses it can
 * (UNIX addresses, foreign sockets, listen); `ret` is the syscall's result. A global function:
 * verified once with `nr` unknown rather than along each case that reaches it. */
__noinline int blind_use(long nr, const struct sys_regs *regs, int member, long ret)
{
	if (!regs)
		return 0;
	__u32 slot;
	__u16 family;
	switch (nr) {
	case __NR_sendto: {
		__u64 uaddr = regs->r8;
		family = addr_family(uaddr);
		if (!counted_family(family))
			return 0;
		if (family == AF_UNIX) {
			addr_event(NET_SEND, uaddr, (__u32)regs->r9, 0, member, 1);
			return 0;
		}
		__u64 proto = 0;
		int view = hook_view(regs->di, IPPROTO_UDP, &proto);
		if (view == 1)
			return 0; /* seen by cgroup/sendmsg4|6 */
		if (view == 2) {
			addr_event(NET_SEND, uaddr, (__u32)regs->r9, proto, member, 0);
			return 0;
		}
		slot = BLIND_SENDTO;
		break;
	}
	case __NR_sendmsg: {
		__u64 proto = 0;
		int view = hook_view(regs->di, IPPROTO_UDP, &proto);
		return send_msg(view, proto, regs->si, member, BLIND_SENDMSG, 1);
	}
	case __NR_sendmmsg: {
		/* each message sent (ret of them) may name its own destination */
		struct mmsg_walk w = {.vec = regs->si, .member = member};
		w.view = hook_view(regs->di, IPPROTO_UDP, &w.proto);
		__u64 sent = ret;
		if (sent > SENDMMSG_INSPECT) {
			bump(&blind, BLIND_SENDMMSG);
			sent = SENDMMSG_INSPECT;
		}
		bpf_loop(sent, mmsg_step, &w, 0);
		return 0;
	}
	case __NR_bind: {
		__u64 uaddr = regs->si;
		family = addr_family(uaddr);
		if (!counted_family(family))
			return 0;
		if (family == AF_UNIX) {
			unix_bind_event(regs->di, uaddr, (__u32)regs->dx, member);
			return 0;
		}
		__u64 fd = regs->di, proto = 0;
		int view = hook_view(fd, IPPROTO_TCP, &proto);
		if (!view)
			view = hook_view(fd, IPPROTO_UDP, &proto);
		if (view == 1)
			return 0; /* seen by cgroup/bind4|6 */
		if (view == 2) {
			addr_event(NET_BIND, uaddr, (__u32)regs->dx, proto, member, 0);
			return 0;
		}
		slot = BLIND_BIND;
		break;
	}
	case __NR_socket: {
		__u64 domain = regs->di;
		__u64 type = regs->si;
		if (domain != AF_PACKET && (type & 0xf) != SOCK_RAW)
			return 0;
		slot = BLIND_RAW_SOCKET;
		break;
	}
	case __NR_listen:
		if (net_listen(regs->di, member))
			return 0;
		slot = BLIND_LISTEN;
		break;
	case __NR_mount: case __NR_umount2: case __NR_chroot: case __NR_pivot_root:
	case __NR_open_tree: case __NR_move_mount: case __NR_fsmount: case __NR_setns:
		slot = BLIND_MOUNT;
		break;
	case __NR_bpf: slot = BLIND_BPF; break;
	case __NR_init_module: case __NR_finit_module: case __NR_delete_module:
		slot = BLIND_KERNEL_MODULE;
		break;
	case __NR_ptrace: case __NR_process_vm_writev: case __NR_process_vm_readv:
		slot = BLIND_PTRACE;
		break;
	case __NR_fanotify_init: slot = BLIND_FANOTIFY; break;
	case __NR_recvmsg:
		if (!received_blind_fd(regs->si))
			return 0;
		slot = BLIND_FD_PASSING;
		break;
	case __NR_recvmmsg:
		/* every message received (ret of them) may carry descriptors */
		if (!received_blind_fd_mmsg(regs->si, ret))
			return 0;
		slot = BLIND_FD_PASSING;
		break;
	case __NR_kill: case __NR_tkill: case __NR_rt_sigqueueinfo:
		if ((int)regs->si == 0 || !signal_leaves((int)regs->di))
			return 0;
		slot = BLIND_SIGNAL;
		break;
	case __NR_tgkill: case __NR_rt_tgsigqueueinfo:
		if ((int)regs->dx == 0 || !signal_leaves((int)regs->di))
			return 0;
		slot = BLIND_SIGNAL;
		break;
	case __NR_pidfd_send_signal:
		if ((int)regs->si == 0 || !pidfd_signal_leaves((__s32)regs->di, regs->r10))
			return 0;
		slot = BLIND_SIGNAL;
		break;
	case __NR_pidfd_getfd:
		if (!fd_received_blind(ret)) /* the new descriptor */
			return 0;
		slot = BLIND_FD_PASSING;
		break;
	default:
		return 0;
	}
	bump(&blind, slot);
	return 0;
}

#endif

// SPDX-License-Identifier: Apache-2.0
/* assay-runner observation programs.
 *
 * Six raw tracepoints attached through BPF links (no tracefs): `tp_btf/sys_exit` handles every
 * traced syscall in one program run per syscall, dispatching on the syscall number in-kernel
 * (BTF-typed, so it reads `pt_regs` with plain loads instead of a helper call per register: it
 * runs for every syscall on the host), `raw_tp/sched_process_exec|fork|exit` follow
 * processes, and `raw_tp/io_uring_submit_req|io_uring_complete` count io_uring operations and
 * turn io_uring opens into open events. Six sock_addr
 * programs (`cgroup/connect4|6`, `cgroup/sendmsg4|6`, `cgroup/bind4|6`, at the end of this file)
 * are attached to the session cgroup per run, and two cgroup_skb programs
 * (`cgroup_skb/ingress|egress`, at the very end) copy the start of DNS answers and TLS
 * ClientHellos to the ring, for names.
 *
 * Syscalls are read at exit only: the argument registers in `pt_regs` still hold what the
 * syscall used (the kernel writes only the return value; `sys_exit` fires before a ptrace
 * exit-stop could change them, and execve/sigreturn, which rewrite them, are not traced), and
 * user memory named by the arguments has been faulted in by the syscall itself, which avoids
 * the ~2 % `-EFAULT` path reads at enter. Exact arguments at exit are covered by the kernel
 * tests' exact surfaces.
 *
 * Every program filters to the session: the current cgroup id is `session_cgid`, or the
 * current process was followed into the session's pid tree (`tracked`, filled from fork and exec
 * events) — so a descendant that moves itself to another cgroup stays observed and is flagged
 * ST_ESCAPED. `sys_exit` first rejects syscalls it does not trace (one register load and a
 * few compares, for every syscall on the host).
 * Every ring-buffer output is counted per CPU and per program family as an attempt, and every
 * failed output as a drop, so received + drops == attempts. Wakeups are adaptive: the reader is
 * woken only when `wakeup_bytes` are pending (it also polls with a timeout), which removes most
 * of the irq_work cost on syscall storms.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/in6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#if !defined(__TARGET_ARCH_x86)
#error "the syscall dispatch table below is x86-64's; other architectures are not supported yet"
#endif

#define AT_FDCWD -100
#define AT_REMOVEDIR 0x200

_Static_assert(sizeof(struct event_hdr) == ASSAY_HDR_SIZE, "event_hdr size");
_Static_assert(__builtin_offsetof(struct event_hdr, ts) == ASSAY_OFF_TS, "ts offset");
_Static_assert(__builtin_offsetof(struct event_hdr, ret) == ASSAY_OFF_RET, "ret offset");
_Static_assert(__builtin_offsetof(struct event_hdr, dfd1) == ASSAY_OFF_DFD1, "dfd1 offset");
_Static_assert(__builtin_offsetof(struct event_hdr, len1) == ASSAY_OFF_LEN1, "len1 offset");

struct event {
	struct event_hdr h;
	char data[ASSAY_DATA_MAX];
};

/* Kernel types read with CO-RE; aya relocates these against the running kernel's BTF. */
struct task_struct {
	int pid;
	int tgid;
	int exit_code;
	struct files_struct *files;
} __attribute__((preserve_access_index));

struct qstr {
	__u32 len;
	const unsigned char *name;
} __attribute__((preserve_access_index));

struct dentry {
	struct qstr d_name;
	struct dentry *d_parent;
} __attribute__((preserve_access_index));

/* A mount and where it is mounted. Its `struct vfsmount mnt` is embedded: a vfsmount's mount
 * is found by subtracting the (relocated) offset of `mnt`, and the mount's root dentry is
 * vfsmount's first field, `mnt_root` (so on every kernel since 2.6; the vfsmount type itself
 * does not relocate here). */
struct mnt_embedded {
	int _unused;
};

struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct mnt_embedded mnt;
} __attribute__((preserve_access_index));

struct path {
	void *mnt;
	struct dentry *dentry;
} __attribute__((preserve_access_index));

/* The socket behind a descriptor (listen, and which sends the cgroup hooks see); the name of
 * an executed descriptor's file (a memfd's `memfd:NAME`). */
struct inode {
	unsigned short i_mode;
} __attribute__((preserve_access_index));

struct file {
	void *private_data;
	struct path f_path;
	struct inode *f_inode;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct sock_common {
	__be32 skc_rcv_saddr;
	unsigned short skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct kernfs_node {
	__u64 id;
} __attribute__((preserve_access_index));

struct cgroup {
	struct kernfs_node *kn;
} __attribute__((preserve_access_index));

/* The cgroup a socket was created in: the one whose sock_addr hooks run for it. */
struct sock_cgroup_data {
	struct cgroup *cgroup;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	__u16 sk_type;
	__u16 sk_protocol;
	struct sock_cgroup_data sk_cgrp_data;
} __attribute__((preserve_access_index));

struct socket {
	struct sock *sk;
} __attribute__((preserve_access_index));

/* The bound address of a UNIX socket (listen). */
/* `struct sockaddr_un name[]` follows `len` (2-byte aligned, so at len + 4 on every kernel):
 * read through that offset, as a flexible array member has no CO-RE relocation of its own. */
struct unix_address {
	int len;
} __attribute__((preserve_access_index));

struct unix_sock {
	struct unix_address *addr;
} __attribute__((preserve_access_index));

/* `fd` (in a union with the CQE flags) holds the SQE's descriptor from submission on. */
struct io_cqe {
	__s32 res;
	int fd;
} __attribute__((preserve_access_index));

/* `flags` bit 0 is REQ_F_FIXED_FILE: `cqe.fd` is then an index into the ring's registered files. */
struct io_kiocb {
	__u8 opcode;
	__u64 flags;
	struct io_cqe cqe;
} __attribute__((preserve_access_index));

/* An IORING_OP_OPENAT/OPENAT2 request: its command data overlays the start of io_kiocb. */
struct filename {
	const char *name;
} __attribute__((preserve_access_index));

struct open_how {
	__u64 flags;
} __attribute__((preserve_access_index));

struct io_open {
	int dfd;
	struct filename *filename;
	struct open_how how;
} __attribute__((preserve_access_index));

/* IORING_OP_RENAMEAT, UNLINKAT, MKDIRAT, SYMLINKAT and LINKAT, whose paths prep copied in. */
struct io_rename {
	int old_dfd;
	int new_dfd;
	struct filename *oldpath;
	struct filename *newpath;
	int flags;
} __attribute__((preserve_access_index));

struct io_unlink {
	int dfd;
	int flags;
	struct filename *filename;
} __attribute__((preserve_access_index));

struct io_mkdir {
	int dfd;
	struct filename *filename;
} __attribute__((preserve_access_index));

struct io_link {
	int old_dfd;
	int new_dfd;
	struct filename *oldpath;
	struct filename *newpath;
	int flags;
} __attribute__((preserve_access_index));

struct io_xattr {
	struct filename *filename;
} __attribute__((preserve_access_index));

struct linux_binprm {
	struct file *file;
	const char *filename;
} __attribute__((preserve_access_index));

/* x86-64 syscall registers (arguments in di, si, dx, r10, r8, r9; the number in orig_ax). */
struct pt_regs {
	unsigned long di;
	unsigned long si;
	unsigned long dx;
	unsigned long r10;
	unsigned long r8;
	unsigned long r9;
	unsigned long orig_ax;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} tracked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROG_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} attempts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROG_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BLIND_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} blind SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, URING_OPS);
	__type(key, __u32);
	__type(value, __u64);
} uring_ops SEC(".maps");

/* io_uring path operations (opens, renames, unlinks, mkdirs, links, symlinks) between
 * submission (paths, flags) and completion (result), by request. */
struct uring_path_op {
	__u64 pid_tgid;
	__u64 flags;
	__s32 dfd1;
	__s32 dfd2;
	__u32 member;
	__u32 op;
	char path1[ASSAY_PATH_MAX];
	char path2[ASSAY_PATH_MAX];
};

/* A plain hash, not an LRU: a full map refuses the insertion (counted blind) instead of
 * silently evicting an operation still in flight. Entries are allocated on use (8 KiB each). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct uring_path_op);
} uring_inflight SEC(".maps");

/* The reader is woken once this many bytes are pending (it also polls every 50 ms); set at
 * load, at most a quarter of the ring. */
const volatile __u64 wakeup_bytes = 65536;
/* The session cgroup's id. Each run loads its own object with its own cgroup's id here, so the
 * verifier sees a constant and the session filter is one compare, no map lookup. */
const volatile __u64 session_cgid = 0;

static __always_inline void bump(void *map, __u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(map, &slot);
	if (v)
		*v += 1; /* per-CPU slot: no other writer */
}

/* 0: not ours; 1: in the session cgroup; 2: followed by pid tree outside the session cgroup.
 * (new_event also takes MEMBER_HOOK, for programs attached to the session cgroup itself.) */
#define MEMBER_HOOK 3
static __always_inline int session_member(void)
{
	if (bpf_get_current_cgroup_id() == session_cgid)
		return 1;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (bpf_map_lookup_elem(&tracked, &tgid))
		return 2;
	return 0;
}

static __always_inline void track(__u32 tgid)
{
	__u8 one = 1;
	if (bpf_map_update_elem(&tracked, &tgid, &one, BPF_ANY))
		bump(&drops, PROG_TRACK);
}

static __always_inline void init_event(struct event *e, __u32 kind, int member)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	e->h.kind = kind;
	e->h.op = 0;
	e->h.pid = pid_tgid >> 32;
	e->h.tid = (__u32)pid_tgid;
	e->h.ts = bpf_ktime_get_ns();
	/* a member in the session cgroup was just found there: no second cgroup lookup */
	e->h.cgid = member == 1 ? session_cgid : bpf_get_current_cgroup_id();
	e->h.ret = 0;
	e->h.flags = 0;
	e->h.dfd1 = 0;
	e->h.dfd2 = 0;
	e->h.ppid = 0;
	e->h.status = member == 2 ? ST_ESCAPED : 0;
	e->h.len1 = 0;
	e->h.len2 = 0;
	e->h._pad = 0;
}

static __always_inline __u64 event_size(struct event *e)
{
	if (e->h.len2)
		return sizeof(struct event_hdr) + ASSAY_PATH_MAX + (e->h.len2 & (ASSAY_PATH_MAX - 1));
	return sizeof(struct event_hdr) + (e->h.len1 & (ASSAY_PATH_MAX - 1));
}

/* ---- staged events ----
 *
 * A ring record costs far more than the bytes it carries (the producer lock, the positions it
 * shares with the reader's CPU, the helper calls), so the programs that run in process context
 * with preemption disabled and never nest on a CPU (syscall exit, exec, fork, exit) build their
 * events in place in a per-CPU stage and hand the ring one batch record per `stage_bytes`.
 * Every event is counted in `attempts` when staged; a batch the ring refuses adds its events to
 * `drops`, per slot. What is still staged when the session has ended is flushed by running
 * `flush_stage` on each CPU (userspace, BPF_PROG_TEST_RUN); anything a CPU could not flush is
 * counted as dropped by userspace from `stage_meta`. Programs that may run in softirq context
 * or be preempted (packets, sock_addr hooks, io_uring completions) write to the ring directly.
 * Events reach the reader out of time order across CPUs; the reader orders them by time. */
#define STAGE_MAX 65536 /* the largest flush threshold: a power of two */

struct stage {
	/* a struct batch_hdr, then events; the slack holds one event started below STAGE_MAX */
	char buf[STAGE_MAX + 2 * sizeof(struct event)];
};

struct stage_meta {
	__u64 len;              /* bytes used in buf, the batch header included (0: empty) */
	__u64 count;            /* events staged */
	__u64 staged[PROG_SLOTS]; /* events staged per counter slot */
};

/* Both indexed by CPU number; userspace sets max_entries to the possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stage);
} stage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stage_meta);
} stage_meta SEC(".maps");

/* The flush threshold (at most STAGE_MAX), set at load from the ring's size. */
const volatile __u64 stage_bytes = STAGE_MAX;

/* The reader's wakeup rule, for every record: wake it once wakeup_bytes are pending with this
 * one (it also polls every 50 ms). */
static __always_inline __u64 wakeup_flag(__u64 size)
{
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	return avail + size >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* This CPU's stage, and its bookkeeping in *m (either may be 0). */
static __always_inline struct stage *this_stage(struct stage_meta **m)
{
	__u32 cpu = bpf_get_smp_processor_id();
	*m = bpf_map_lookup_elem(&stage_meta, &cpu);
	return bpf_map_lookup_elem(&stage, &cpu);
}

/* A new event in place at the end of this CPU's stage; emit() commits it. An event that is not
 * emitted is simply overwritten by the next one. */
static __always_inline struct event *new_event(__u32 kind, int member)
{
	struct stage_meta *m;
	struct stage *st = this_stage(&m);
	if (!st || !m)
		return 0;
	__u64 off = m->len;
	if (off < sizeof(struct batch_hdr))
		off = sizeof(struct batch_hdr);
	/* off < stage_bytes <= STAGE_MAX between flushes, and 8-byte aligned */
	struct event *e = (struct event *)&st->buf[off & (STAGE_MAX - 8)];
	init_event(e, kind, member);
	return e;
}

/* Hands this CPU's stage to the ring as one batch record (its events become drops if the ring
 * has no room) and empties it. A global function: the verifier checks it once, on its own,
 * instead of once along every path that stages an event (~1000 instructions each). */
__noinline int stage_flush(void)
{
	struct stage_meta *m;
	struct stage *st = this_stage(&m);
	if (!st || !m)
		return 0;
	__u64 len = m->len;
	if (len > sizeof(struct batch_hdr) && len <= sizeof(st->buf)) {
		struct batch_hdr *b = (struct batch_hdr *)&st->buf[0];
		b->kind = EV_BATCH;
		b->count = m->count;
		if (bpf_ringbuf_output(&events, st->buf, len, wakeup_flag(len))) {
			for (__u32 slot = 0; slot < PROG_SLOTS; slot++) {
				__u64 n = m->staged[slot];
				__u32 key = slot; /* its own stack slot: `slot` keeps its bounds */
				__u64 *d = n ? bpf_map_lookup_elem(&drops, &key) : 0;
				if (d)
					*d += n;
			}
		}
	}
	for (__u32 slot = 0; slot < PROG_SLOTS; slot++)
		m->staged[slot] = 0;
	m->len = 0;
	m->count = 0;
	return 0;
}

/* Commits the event new_event() started, counted in `slot`. */
static __always_inline void emit(struct event *e, __u32 slot)
{
	bump(&attempts, slot);
	__u32 cpu = bpf_get_smp_processor_id();
	struct stage_meta *m = bpf_map_lookup_elem(&stage_meta, &cpu);
	if (!m) {
		bump(&drops, slot);
		return;
	}
	__u64 off = m->len;
	if (off < sizeof(struct batch_hdr))
		off = sizeof(struct batch_hdr);
	m->len = off + ((event_size(e) + 7) & ~7ULL);
	m->count += 1;
	if (slot < PROG_SLOTS)
		m->staged[slot] += 1;
	if (m->len >= stage_bytes)
		stage_flush();
}

/* Runs on one CPU at a time through BPF_PROG_TEST_RUN (never attached): flushes that CPU's
 * stage at the end of a session. */
SEC("raw_tp/assay_flush")
int flush_stage(void *ctx)
{
	return stage_flush();
}

/* ---- direct events ----
 *
 * For programs that may interrupt a staged one or be preempted: the event is built in the
 * per-CPU `scratch` record and written to the ring as its own record. */
static __always_inline struct event *new_direct_event(__u32 kind, int member)
{
	__u32 zero = 0;
	struct event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	init_event(e, kind, member);
	return e;
}

static __always_inline void emit_direct(struct event *e, __u32 slot)
{
	__u64 size = event_size(e);
	bump(&attempts, slot);
	if (bpf_ringbuf_output(&events, e, size, wakeup_flag(size)))
		bump(&drops, slot);
}

/* Reads a user string into data[off..]; sets the length (without NUL) and status bits. */
static __always_inline __u16 read_user_path(struct event *e, __u32 off, __u64 ptr, __u32 trunc, __u32 fault)
{
	if (!ptr)
		return 0;
	long n = bpf_probe_read_user_str(&e->data[off & ASSAY_PATH_MAX], ASSAY_PATH_MAX, (const void *)ptr);
	if (n <= 0) {
		e->h.status |= fault;
		return 0;
	}
	if (n >= ASSAY_PATH_MAX)
		e->h.status |= trunc;
	return (__u16)(n - 1);
}

/* sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) */
SEC("raw_tp/sched_process_exec")
int on_exec(struct bpf_raw_tracepoint_args *ctx)
{
	int member = session_member();
	if (!member)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (member == 1)
		track(tgid);
	struct event *e = new_event(EV_EXEC, member);
	if (!e)
		return 0;
	struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
	const char *filename = BPF_CORE_READ(bprm, filename);
	long n = bpf_probe_read_kernel_str(&e->data[0], ASSAY_PATH_MAX, filename);
	if (n > 0)
		e->h.len1 = (__u16)(n - 1);
	else
		e->h.status |= ST_FAULT1;
	/* An exec of a descriptor (`/dev/fd/N`, `/proc/.../fd/N`: fexecve, a memfd) names no file:
	 * the second path is the name of the file behind it (`memfd:NAME` for a memfd). */
	if (n > 8 && ((e->data[0] == '/' && e->data[1] == 'd' && e->data[2] == 'e' &&
		       e->data[3] == 'v' && e->data[4] == '/' && e->data[5] == 'f' &&
		       e->data[6] == 'd' && e->data[7] == '/') ||
		      (e->data[0] == '/' && e->data[1] == 'p' && e->data[2] == 'r' &&
		       e->data[3] == 'o' && e->data[4] == 'c' && e->data[5] == '/'))) {
		const unsigned char *name = BPF_CORE_READ(bprm, file, f_path.dentry, d_name.name);
		long m = bpf_probe_read_kernel_str(&e->data[ASSAY_PATH_MAX], ASSAY_PATH_MAX, name);
		if (m > 1)
			e->h.len2 = (__u16)(m - 1);
	}
	emit(e, PROG_EXEC);
	return 0;
}

/* sched_process_fork(struct task_struct *parent, struct task_struct *child) */
SEC("raw_tp/sched_process_fork")
int on_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	int child_pid = BPF_CORE_READ(child, pid);
	int child_tgid = BPF_CORE_READ(child, tgid);
	if (child_pid != child_tgid)
		return 0; /* a new thread, not a new process */
	int member = session_member();
	if (!member)
		return 0;
	track((__u32)child_tgid);
	struct event *e = new_event(EV_FORK, member);
	if (!e)
		return 0;
	e->h.ppid = BPF_CORE_READ(parent, tgid);
	e->h.ret = child_tgid;
	emit(e, PROG_FORK);
	return 0;
}

/* sched_process_exit(struct task_struct *p, bool group_dead): fires in the exiting task. */
SEC("raw_tp/sched_process_exit")
int on_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if ((__u32)pid_tgid != (pid_tgid >> 32))
		return 0; /* only the thread-group leader's exit ends a process */
	int member = session_member();
	if (!member)
		return 0;
	struct event *e = new_event(EV_EXIT, member);
	if (!e)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	e->h.ret = BPF_CORE_READ(task, exit_code);
	emit(e, PROG_EXIT);
	__u32 tgid = pid_tgid >> 32;
	bpf_map_delete_elem(&tracked, &tgid);
	return 0;
}

/* ---- syscalls: one program at exit, dispatching on the number ---- */

/* x86-64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
#define NR_open 2
#define NR_connect 42
#define NR_rename 82
#define NR_mkdir 83
#define NR_rmdir 84
#define NR_creat 85
#define NR_link 86
#define NR_unlink 87
#define NR_symlink 88
#define NR_chdir 80
#define NR_fchdir 81
#define NR_openat 257
#define NR_mkdirat 258
#define NR_unlinkat 263
#define NR_renameat 264
#define NR_linkat 265
#define NR_symlinkat 266
#define NR_renameat2 316
#define NR_openat2 437
#define NR_socket 41
#define NR_sendto 44
#define NR_sendmsg 46
#define NR_bind 49
#define NR_listen 50
#define NR_truncate 76
#define NR_chmod 90
#define NR_fchmod 91
#define NR_chown 92
#define NR_fchown 93
#define NR_lchown 94
#define NR_ptrace 101
#define NR_utime 132
#define NR_mknod 133
#define NR_pivot_root 155
#define NR_chroot 161
#define NR_mount 165
#define NR_umount2 166
#define NR_setxattr 188
#define NR_lsetxattr 189
#define NR_fsetxattr 190
#define NR_removexattr 197
#define NR_lremovexattr 198
#define NR_fremovexattr 199
#define NR_utimes 235
#define NR_mknodat 259
#define NR_fchownat 260
#define NR_futimesat 261
#define NR_fchmodat 268
#define NR_utimensat 280
#define NR_open_by_handle_at 304
#define NR_sendmmsg 307
#define NR_process_vm_writev 311
#define NR_recvmsg 47
#define NR_recvmmsg 299
#define NR_pidfd_getfd 438
#define NR_setns 308
#define NR_bpf 321
#define NR_init_module 175
#define NR_delete_module 176
#define NR_finit_module 313
#define NR_io_uring_setup 425
#define NR_open_tree 428
#define NR_move_mount 429
#define NR_fsmount 432
#define NR_fchmodat2 452
#define NR_setxattrat 463
#define NR_removexattrat 466

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define AF_PACKET 17
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define SOCK_RAW 3

#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_UDPLITE 136

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

/* The file behind the current process's descriptor `fd` (0 when there is none). */
static __always_inline struct file *fd_file(__u64 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd & 0xffffff]))
		return 0;
	return f;
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

#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define S_IFIFO 0010000
#define SOL_SOCKET 1
#define SCM_RIGHTS 1

/* Directory levels (and mount crossings) a descriptor's path is rebuilt through. */
#define FD_PATH_DEPTH 64

/* The walk of fd_path, one bpf_loop step per directory level or mount crossing. The callback
 * is a subprogram, whose CO-RE relocations the loader does not apply: the field offsets it
 * needs are relocated in the calling program and passed here. */
struct fd_walk {
	void *d;      /* struct dentry * */
	void *m;      /* struct mount * */
	__u64 mnt_off, d_parent_off, d_len_off, d_name_off, mnt_parent_off, mountpoint_off;
	__u32 pos;
	__u32 status; /* 0 walking, 1 reached the root, else the ST_* bits to set */
};

static __always_inline void *read_ptr(void *base, __u64 off)
{
	void *p = 0;
	bpf_probe_read_kernel(&p, sizeof(p), (char *)base + off);
	return p;
}

static long fd_path_step(__u32 i, void *ctx)
{
	struct fd_walk *w = ctx;
	__u32 zero = 0;
	struct event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e) {
		w->status = ST_FAULT2;
		return 1;
	}
	void *root = read_ptr(w->m, w->mnt_off); /* mnt.mnt_root: vfsmount's first field */
	void *parent = read_ptr(w->d, w->d_parent_off);
	if (!parent) {
		w->status = ST_FAULT2;
		return 1;
	}
	if (w->d == root || w->d == parent) {
		void *mp = read_ptr(w->m, w->mnt_parent_off);
		if (!mp || mp == w->m) {
			w->status = 1; /* the root of the mount namespace */
			return 1;
		}
		w->d = read_ptr(w->m, w->mountpoint_off);
		w->m = mp;
		return 0;
	}
	__u32 len = 0;
	bpf_probe_read_kernel(&len, sizeof(len), (char *)w->d + w->d_len_off);
	const unsigned char *name = read_ptr(w->d, w->d_name_off);
	__u32 pos = w->pos;
	if (len > 255 || len + 1 > pos) {
		w->status = ST_TRUNC2;
		return 1;
	}
	pos -= len;
	if (bpf_probe_read_kernel(&e->data[pos & (ASSAY_PATH_MAX - 1)], len & 255, name)) {
		w->status = ST_FAULT2;
		return 1;
	}
	pos -= 1;
	e->data[pos & (ASSAY_PATH_MAX - 1)] = '/';
	w->pos = pos;
	w->d = parent;
	return 0;
}

/* Rebuilds the absolute path of the file behind the current process's descriptor `fd` from its
 * dentries and mounts, as path 2 of the event `e` (the first half of the per-CPU `scratch`
 * record is the work area: components are written backwards from its end, then copied; when
 * `e` is that record, its empty first path is the work area). A path deeper than
 * FD_PATH_DEPTH levels or longer than the buffer sets ST_TRUNC2; an unreadable one ST_FAULT2. */
static __always_inline void fd_path(struct event *e, __u64 fd)
{
	struct file *f = fd_file(fd);
	__u32 zero = 0;
	struct event *work = bpf_map_lookup_elem(&scratch, &zero);
	if (!f || !work) {
		e->h.status |= ST_FAULT2;
		return;
	}
	struct fd_walk w = {};
	w.mnt_off = bpf_core_field_offset(struct mount, mnt);
	w.mnt_parent_off = bpf_core_field_offset(struct mount, mnt_parent);
	w.mountpoint_off = bpf_core_field_offset(struct mount, mnt_mountpoint);
	w.d_parent_off = bpf_core_field_offset(struct dentry, d_parent);
	w.d_len_off = bpf_core_field_offset(struct dentry, d_name.len);
	w.d_name_off = bpf_core_field_offset(struct dentry, d_name.name);
	w.d = BPF_CORE_READ(f, f_path.dentry);
	w.m = (char *)BPF_CORE_READ(f, f_path.mnt) - w.mnt_off;
	w.pos = ASSAY_PATH_MAX - 1;
	work->data[ASSAY_PATH_MAX - 1] = 0;
	bpf_loop(FD_PATH_DEPTH, fd_path_step, &w, 0);
	if (w.status != 1) {
		e->h.status |= w.status ? w.status : ST_TRUNC2;
		return;
	}
	__u32 pos = w.pos;
	if (pos == ASSAY_PATH_MAX - 1) {
		pos -= 1;
		work->data[pos & (ASSAY_PATH_MAX - 1)] = '/';
	}
	long n = bpf_probe_read_kernel_str(&e->data[ASSAY_PATH_MAX], ASSAY_PATH_MAX,
					   &work->data[pos & (ASSAY_PATH_MAX - 1)]);
	if (n > 1)
		e->h.len2 = (__u16)(n - 1);
	else
		e->h.status |= ST_FAULT2;
}

/* Whether descriptor `fd` names a file, directory, device or symlink: what a write through it
 * would change is a path (a socket, pipe or anonymous inode changes none). */
static __always_inline int fd_names_a_path(__u64 fd)
{
	struct file *f = fd_file(fd);
	if (!f)
		return 0;
	__u16 type = BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT;
	return type != 0 && type != S_IFSOCK && type != S_IFIFO;
}

/* Whether a received message (a user msghdr after recvmsg wrote its control length) carried a
 * descriptor that names a path. Looks at the first control message and up to 4 descriptors in
 * it; anything more (another control message, more descriptors) counts as such a descriptor. */
static __always_inline int received_path_fd(__u64 umsg)
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
	struct { __u64 len; __s32 level; __s32 type; } h = {};
	if (bpf_probe_read_user(&h, sizeof(h), (const void *)m.control) || h.len < 16)
		return 0;
	if (((h.len + 7) & ~7ULL) < m.controllen)
		return 1; /* more than one control message */
	if (h.level != SOL_SOCKET || h.type != SCM_RIGHTS)
		return 0;
	__u64 n = (h.len - 16) / 4;
	if (n > 4)
		return 1;
	__s32 fds[4] = {};
	if (n && bpf_probe_read_user(fds, n * 4 & 31, (const void *)(m.control + 16)))
		return 1;
	for (int i = 0; i < 4; i++)
		if (i < n && fd_names_a_path((__u32)fds[i]))
			return 1;
	return 0;
}

/* What the session's cgroup hooks see of the socket behind `fd`: 0 when it is not an INET/INET6
 * TCP stream or UDP (or UDP-Lite) datagram socket, as `protocol` asks (0: any INET/INET6
 * socket); 1 when it is one and was
 * created in a session cgroup, so the hooks see what it does; 2 when it is one but was created
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
	__u64 cg = BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
	return cg == session_cgid ? 1 : 2;
}

/* An address used by a syscall that the cgroup hooks do not see (a UNIX address, or an INET
 * one on a socket created outside the session): one EV_NET event whose data is the user's
 * sockaddr (`len` bytes, at most ASSAY_SOCKADDR_MAX) and flags the IP protocol (0 for UNIX). */
static __always_inline void addr_event(__u32 op, __u64 uaddr, __u64 len, __u64 proto, int member)
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
	emit(e, PROG_NET + op - 1);
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

/* The argument registers blind_use reads, copied from the syscall's pt_regs. */
struct sys_regs {
	__u64 di, si, dx, r8, r9;
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
	case NR_sendto: {
		__u64 uaddr = regs->r8;
		family = addr_family(uaddr);
		if (!counted_family(family))
			return 0;
		if (family == AF_UNIX) {
			addr_event(NET_SEND, uaddr, (__u32)regs->r9, 0, member);
			return 0;
		}
		__u64 proto = 0;
		int view = hook_view(regs->di, IPPROTO_UDP, &proto);
		if (view == 1)
			return 0; /* seen by cgroup/sendmsg4|6 */
		if (view == 2) {
			addr_event(NET_SEND, uaddr, (__u32)regs->r9, proto, member);
			return 0;
		}
		slot = BLIND_SENDTO;
		break;
	}
	case NR_sendmsg:
	case NR_sendmmsg: {
		__u64 umsg = regs->si;
		family = msg_family(umsg);
		if (!counted_family(family))
			return 0;
		__u64 proto = 0;
		int view = family == AF_UNIX ? 0 : hook_view(regs->di, IPPROTO_UDP, &proto);
		if (view == 1)
			return 0; /* seen by cgroup/sendmsg4|6 */
		if ((family == AF_UNIX || view == 2) && nr == NR_sendmsg) {
			/* struct msghdr: void *msg_name; int msg_namelen; ... */
			struct { __u64 name; __u32 len; } m = {};
			if (bpf_probe_read_user(&m, sizeof(m), (const void *)umsg) == 0) {
				addr_event(NET_SEND, m.name, m.len, proto, member);
				return 0;
			}
		}
		slot = nr == NR_sendmsg ? BLIND_SENDMSG : BLIND_SENDMMSG;
		break;
	}
	case NR_bind: {
		__u64 uaddr = regs->si;
		family = addr_family(uaddr);
		if (!counted_family(family))
			return 0;
		if (family == AF_UNIX) {
			addr_event(NET_BIND, uaddr, (__u32)regs->dx, 0, member);
			return 0;
		}
		__u64 fd = regs->di, proto = 0;
		int view = hook_view(fd, IPPROTO_TCP, &proto);
		if (!view)
			view = hook_view(fd, IPPROTO_UDP, &proto);
		if (view == 1)
			return 0; /* seen by cgroup/bind4|6 */
		if (view == 2) {
			addr_event(NET_BIND, uaddr, (__u32)regs->dx, proto, member);
			return 0;
		}
		slot = BLIND_BIND;
		break;
	}
	case NR_socket: {
		__u64 domain = regs->di;
		__u64 type = regs->si;
		if (domain != AF_PACKET && (type & 0xf) != SOCK_RAW)
			return 0;
		slot = BLIND_RAW_SOCKET;
		break;
	}
	case NR_listen:
		if (net_listen(regs->di, member))
			return 0;
		slot = BLIND_LISTEN;
		break;
	case NR_open_by_handle_at: slot = BLIND_OPEN_BY_HANDLE_AT; break;
	case NR_mount: case NR_umount2: case NR_chroot: case NR_pivot_root:
	case NR_open_tree: case NR_move_mount: case NR_fsmount: case NR_setns:
		slot = BLIND_MOUNT;
		break;
	case NR_bpf: slot = BLIND_BPF; break;
	case NR_init_module: case NR_finit_module: case NR_delete_module:
		slot = BLIND_KERNEL_MODULE;
		break;
	case NR_ptrace: case NR_process_vm_writev: slot = BLIND_PTRACE; break;
	case NR_recvmsg:
		if (!received_path_fd(regs->si))
			return 0;
		slot = BLIND_FD_PASSING;
		break;
	case NR_recvmmsg:
		/* the first message's control data (struct mmsghdr starts with its msghdr) */
		if (!received_path_fd(regs->si))
			return 0;
		slot = BLIND_FD_PASSING;
		break;
	case NR_pidfd_getfd:
		if (!fd_names_a_path(ret)) /* the new descriptor */
			return 0;
		slot = BLIND_FD_PASSING;
		break;
	default:
		return 0;
	}
	bump(&blind, slot);
	return 0;
}

/* The fields of a syscall event, as on_sys_exit's cases name them. */
struct sys_fields {
	__s64 ret;
	__u64 p1, p2, flags;
	__s32 dfd1, dfd2;
	__u32 op;
	__s32 member;
};

/* Builds and stages one syscall event. A global function: the verifier checks it once, with
 * unknown fields, instead of once along every case of on_sys_exit that reaches it (each case
 * carries its own constants, so those states never prune). */
__noinline int emit_syscall(const struct sys_fields *a)
{
	if (!a)
		return 0;
	__u32 op = a->op;
	__s64 ret = a->ret;
	__s32 dfd1 = a->dfd1, dfd2 = a->dfd2;
	__u64 p1 = a->p1, p2 = a->p2, flags = a->flags;
	struct event *e = new_event(EV_SYSCALL, a->member);
	if (!e)
		return 0;
	e->h.op = op;
	e->h.ret = ret;
	e->h.flags = flags;
	e->h.dfd1 = dfd1;
	e->h.dfd2 = dfd2;
	if (op == OP_CONNECT) {
		__u64 len = (__u32)flags; /* addrlen */
		if (len > ASSAY_SOCKADDR_MAX)
			len = ASSAY_SOCKADDR_MAX;
		/* keep the verifier's bound on the 64-bit register the helper receives */
		asm volatile("%0 &= 255" : "+r"(len));
		if (len >= 2 && p1) {
			if (bpf_probe_read_user(&e->data[0], len, (const void *)p1) == 0)
				e->h.len1 = len;
			else
				e->h.status |= ST_FAULT1;
		}
	} else if (op != OP_FCHDIR) {
		e->h.len1 = read_user_path(e, 0, p1, ST_TRUNC1, ST_FAULT1);
		e->h.len2 = read_user_path(e, ASSAY_PATH_MAX, p2, ST_TRUNC2, ST_FAULT2);
	}
	/* fchdir, and a metadata change of a descriptor itself (no path, or an empty one with
	 * AT_EMPTY_PATH): path 2 is the descriptor's path, rebuilt in-kernel (after a dup2, a
	 * descriptor's open is not the one that gave it its number) */
	if (op == OP_FCHDIR || (op >= OP_TRUNCATE && op <= OP_XATTR && e->h.len1 == 0 &&
				 dfd1 != AT_FDCWD && !(e->h.status & ST_FAULT1)))
		fd_path(e, (__u32)dfd1);
	emit(e, PROG_SYSCALL + ((op - 1) % OP_COUNT));
	return 0;
}

/* sys_exit(struct pt_regs *regs, long ret) */
SEC("tp_btf/sys_exit")
int on_sys_exit(__u64 *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx[0];
	long nr = regs->orig_ax;
	switch (nr) {
	case NR_open: case NR_creat: case NR_openat: case NR_openat2:
	case NR_unlink: case NR_unlinkat: case NR_rmdir:
	case NR_rename: case NR_renameat: case NR_renameat2:
	case NR_mkdir: case NR_mkdirat: case NR_chdir: case NR_fchdir: case NR_connect:
	case NR_link: case NR_linkat: case NR_symlink: case NR_symlinkat:
		break;
	case NR_truncate: case NR_chmod: case NR_fchmod: case NR_fchmodat: case NR_fchmodat2:
	case NR_chown: case NR_fchown: case NR_lchown: case NR_fchownat: case NR_utime:
	case NR_utimes: case NR_futimesat: case NR_utimensat: case NR_setxattr: case NR_lsetxattr:
	case NR_fsetxattr: case NR_removexattr: case NR_lremovexattr: case NR_fremovexattr:
	case NR_setxattrat: case NR_removexattrat: case NR_mknod: case NR_mknodat:
		break;
	case NR_socket: case NR_sendto: case NR_sendmsg: case NR_sendmmsg: case NR_bind:
	case NR_listen: case NR_open_by_handle_at: case NR_mount:
	case NR_umount2: case NR_chroot: case NR_pivot_root: case NR_open_tree:
	case NR_move_mount: case NR_fsmount: case NR_ptrace: case NR_process_vm_writev:
	case NR_recvmsg: case NR_recvmmsg: case NR_pidfd_getfd: case NR_setns: case NR_bpf:
	case NR_init_module: case NR_finit_module: case NR_delete_module: {
		long ret = (long)ctx[1];
		if (ret < 0)
			return 0; /* failed: no effect */
		int member = session_member();
		if (!member)
			return 0;
		struct sys_regs r = {
			.di = regs->di, .si = regs->si, .dx = regs->dx, .r8 = regs->r8, .r9 = regs->r9,
		};
		return blind_use(nr, &r, member, ret);
	}
	default:
		return 0; /* not a traced syscall: no map lookup at all */
	}
	int m = session_member();
	if (!m)
		return 0;
	__s64 ret = (__s64)ctx[1];
	__u64 a0 = regs->di;
	__u64 a1 = regs->si;
	__u64 a2 = regs->dx;
	/* Each case names the event's fields; one emit_syscall below builds it (verified once,
	 * which keeps the program's verification short). */
	__u32 op = 0;
	__s32 dfd1 = 0, dfd2 = 0;
	__u64 p1 = 0, p2 = 0, flags = 0;
	switch (nr) {
	case NR_openat:
		op = OP_OPEN; dfd1 = (__s32)a0; p1 = a1; flags = a2;
		break;
	case NR_open:
		op = OP_OPEN; dfd1 = AT_FDCWD; p1 = a0; flags = a1;
		break;
	case NR_creat:
		op = OP_OPEN; dfd1 = AT_FDCWD; p1 = a0;
		flags = 01101 /* O_CREAT|O_WRONLY|O_TRUNC */;
		break;
	case NR_openat2:
		bpf_probe_read_user(&flags, sizeof(flags), (const void *)a2); /* open_how.flags */
		op = OP_OPEN; dfd1 = (__s32)a0; p1 = a1;
		break;
	case NR_unlinkat:
		op = (a2 & AT_REMOVEDIR) ? OP_RMDIR : OP_UNLINK; dfd1 = (__s32)a0; p1 = a1;
		flags = a2;
		break;
	case NR_unlink:
		op = OP_UNLINK; dfd1 = AT_FDCWD; p1 = a0;
		break;
	case NR_rmdir:
		op = OP_RMDIR; dfd1 = AT_FDCWD; p1 = a0;
		break;
	case NR_renameat2:
		op = OP_RENAME; dfd1 = (__s32)a0; p1 = a1; dfd2 = (__s32)a2;
		p2 = BPF_CORE_READ(regs, r10); flags = BPF_CORE_READ(regs, r8);
		break;
	case NR_renameat:
		op = OP_RENAME; dfd1 = (__s32)a0; p1 = a1;
		dfd2 = (__s32)a2; p2 = BPF_CORE_READ(regs, r10);
		break;
	case NR_rename:
		op = OP_RENAME; dfd1 = AT_FDCWD; p1 = a0; dfd2 = AT_FDCWD; p2 = a1;
		break;
	case NR_mkdirat:
		op = OP_MKDIR; dfd1 = (__s32)a0; p1 = a1; flags = a2;
		break;
	case NR_mkdir:
		op = OP_MKDIR; dfd1 = AT_FDCWD; p1 = a0; flags = a1;
		break;
	case NR_chdir:
		op = OP_CHDIR; dfd1 = AT_FDCWD; p1 = a0;
		break;
	case NR_fchdir:
		op = OP_FCHDIR; dfd1 = (__s32)a0;
		break;
	case NR_connect:
		op = OP_CONNECT; dfd1 = (__s32)a0; p1 = a1; flags = a2;
		break;
	case NR_linkat:
		op = OP_LINK; dfd1 = (__s32)a0; p1 = a1; dfd2 = (__s32)a2;
		p2 = BPF_CORE_READ(regs, r10); flags = BPF_CORE_READ(regs, r8);
		break;
	case NR_link:
		op = OP_LINK; dfd1 = AT_FDCWD; p1 = a0; dfd2 = AT_FDCWD; p2 = a1;
		break;
	case NR_symlinkat:
		op = OP_SYMLINK; dfd1 = AT_FDCWD; p1 = a0; dfd2 = (__s32)a1; p2 = a2;
		break;
	case NR_symlink:
		op = OP_SYMLINK; dfd1 = AT_FDCWD; p1 = a0; dfd2 = AT_FDCWD; p2 = a1;
		break;
	/* Metadata and size changes. A path-less variant names its target by the descriptor in
	 * dfd1 (a null path pointer reads as an empty path, with no fault), whose path
	 * emit_syscall rebuilds. The flags kept are the *at variants' own. */
	case NR_truncate:
		op = OP_TRUNCATE; dfd1 = AT_FDCWD; p1 = a0;
		break;
	case NR_chmod:
		op = OP_CHMOD; dfd1 = AT_FDCWD; p1 = a0;
		break;
	case NR_fchmod:
		op = OP_CHMOD; dfd1 = (__s32)a0;
		break;
	case NR_fchmodat:
		op = OP_CHMOD; dfd1 = (__s32)a0; p1 = a1;
		break;
	case NR_fchmodat2:
		op = OP_CHMOD; dfd1 = (__s32)a0; p1 = a1; flags = BPF_CORE_READ(regs, r10);
		break;
	case NR_chown: case NR_lchown:
		op = OP_CHOWN; dfd1 = AT_FDCWD; p1 = a0;
		break;
	case NR_fchown:
		op = OP_CHOWN; dfd1 = (__s32)a0;
		break;
	case NR_fchownat:
		op = OP_CHOWN; dfd1 = (__s32)a0; p1 = a1; flags = BPF_CORE_READ(regs, r8);
		break;
	case NR_utime: case NR_utimes:
		op = OP_UTIMES; dfd1 = AT_FDCWD; p1 = a0;
		break;
	case NR_futimesat:
		op = OP_UTIMES; dfd1 = (__s32)a0; p1 = a1;
		break;
	case NR_utimensat:
		op = OP_UTIMES; dfd1 = (__s32)a0; p1 = a1; flags = BPF_CORE_READ(regs, r10);
		break;
	case NR_setxattr: case NR_lsetxattr: case NR_removexattr: case NR_lremovexattr:
		op = OP_XATTR; dfd1 = AT_FDCWD; p1 = a0;
		break;
	case NR_fsetxattr: case NR_fremovexattr:
		op = OP_XATTR; dfd1 = (__s32)a0;
		break;
	case NR_setxattrat: case NR_removexattrat:
		op = OP_XATTR; dfd1 = (__s32)a0; p1 = a1; flags = a2;
		break;
	case NR_mknod:
		op = OP_MKNOD; dfd1 = AT_FDCWD; p1 = a0; flags = a1;
		break;
	case NR_mknodat:
		op = OP_MKNOD; dfd1 = (__s32)a0; p1 = a1; flags = a2;
		break;
	}
	if (!op)
		return 0;
	struct sys_fields f = {
		.ret = ret, .p1 = p1, .p2 = p2, .flags = flags,
		.dfd1 = dfd1, .dfd2 = dfd2, .op = op, .member = m,
	};
	emit_syscall(&f);
	if (nr == NR_connect) {
		/* An INET socket the hooks do not see (created outside the session cgroup): the
		 * attempt as the hook would report it, with its protocol. */
		__u64 proto = 0;
		if (hook_view(a0, 0, &proto) == 2)
			addr_event(NET_CONNECT, a1, (__u32)a2, proto, m);
	}
	return 0;
}

/* ---- network at the session cgroup ----
 *
 * sock_addr programs attached to the session cgroup through BPF links: they run for sockets
 * created in that cgroup (or below it), whatever syscall or io_uring operation carried the
 * address, and never for anyone else's sockets, so they need no session filter. Each emits the
 * address it was given and always allows the operation. */

/* `v6` is a constant at each call: a program attached for IPv4 may not read `user_ip6`. */
static __always_inline int sock_addr_event(struct bpf_sock_addr *ctx, __u32 op, const int v6)
{
	struct event *e = new_direct_event(EV_NET, MEMBER_HOOK);
	if (!e)
		return 1;
	e->h.op = op;
	e->h.flags = ctx->protocol;
	__builtin_memset(&e->data[0], 0, 28);
	*(__u16 *)&e->data[0] = v6 ? AF_INET6 : AF_INET;
	*(__u16 *)&e->data[2] = (__u16)ctx->user_port;
	if (v6) {
		*(__u32 *)&e->data[8] = ctx->user_ip6[0];
		*(__u32 *)&e->data[12] = ctx->user_ip6[1];
		*(__u32 *)&e->data[16] = ctx->user_ip6[2];
		*(__u32 *)&e->data[20] = ctx->user_ip6[3];
		e->h.len1 = 28;
	} else {
		*(__u32 *)&e->data[4] = ctx->user_ip4;
		e->h.len1 = 16;
	}
	emit_direct(e, PROG_NET + op - 1);
	return 1;
}

SEC("cgroup/connect4")
int on_connect4(struct bpf_sock_addr *ctx) { return sock_addr_event(ctx, NET_CONNECT, 0); }

SEC("cgroup/connect6")
int on_connect6(struct bpf_sock_addr *ctx) { return sock_addr_event(ctx, NET_CONNECT, 1); }

SEC("cgroup/sendmsg4")
int on_sendmsg4(struct bpf_sock_addr *ctx) { return sock_addr_event(ctx, NET_SEND, 0); }

SEC("cgroup/sendmsg6")
int on_sendmsg6(struct bpf_sock_addr *ctx) { return sock_addr_event(ctx, NET_SEND, 1); }

SEC("cgroup/bind4")
int on_bind4(struct bpf_sock_addr *ctx) { return sock_addr_event(ctx, NET_BIND, 0); }

SEC("cgroup/bind6")
int on_bind6(struct bpf_sock_addr *ctx) { return sock_addr_event(ctx, NET_BIND, 1); }

/* ---- io_uring ----
 * io_uring_submit_req(struct io_kiocb *req) fires in the submitting task (with SQPOLL, the
 * sq thread, same cgroup and process). Operations are counted per opcode for the session: which
 * of them are blind is decided in userspace (src/kernel/event.rs, URING_OP_NAMES). Operations
 * on paths are followed to their completion and emitted as the syscall events they equal. */
#define IORING_OP_OPENAT 18
#define IORING_OP_OPENAT2 28
#define IORING_OP_RENAMEAT 35
#define IORING_OP_UNLINKAT 36
#define IORING_OP_MKDIRAT 37
#define IORING_OP_SYMLINKAT 38
#define IORING_OP_LINKAT 39
#define IORING_OP_FSETXATTR 41
#define IORING_OP_SETXATTR 42
#define REQ_F_FIXED_FILE 1

/* Copies a kernel `struct filename`'s name; 0 when it cannot be read. */
static __always_inline int uring_name(char *dst, struct filename *f)
{
	const char *name = BPF_CORE_READ(f, name);
	return bpf_probe_read_kernel_str(dst, ASSAY_PATH_MAX, name) > 0;
}

SEC("raw_tp/io_uring_submit_req")
int on_uring_submit(struct bpf_raw_tracepoint_args *ctx)
{
	int member = session_member();
	if (!member)
		return 0;
	struct io_kiocb *req = (struct io_kiocb *)ctx->args[0];
	__u32 op = BPF_CORE_READ(req, opcode);
	if (op >= URING_OPS)
		op = URING_OPS - 1;
	bump(&uring_ops, op);
	if (op != IORING_OP_OPENAT && op != IORING_OP_OPENAT2 &&
	    (op < IORING_OP_RENAMEAT || op > IORING_OP_LINKAT) && op != IORING_OP_FSETXATTR &&
	    op != IORING_OP_SETXATTR)
		return 0;
	/* The paths were copied into the kernel at prep, before this tracepoint (the command data
	 * overlays the start of io_kiocb): keep them with the flags until the completion brings
	 * the result. */
	__u32 zero = 0;
	struct event *scratch_e = bpf_map_lookup_elem(&scratch, &zero);
	if (!scratch_e)
		return 0;
	struct uring_path_op *o = (struct uring_path_op *)scratch_e;
	o->pid_tgid = bpf_get_current_pid_tgid();
	o->member = member;
	o->flags = 0;
	o->dfd1 = AT_FDCWD;
	o->dfd2 = AT_FDCWD;
	o->path1[0] = 0;
	o->path2[0] = 0;
	int ok = 1;
	if (op == IORING_OP_OPENAT || op == IORING_OP_OPENAT2) {
		struct io_open *x = (struct io_open *)req;
		o->op = OP_OPEN;
		o->flags = BPF_CORE_READ(x, how.flags);
		o->dfd1 = BPF_CORE_READ(x, dfd);
		ok = uring_name(o->path1, BPF_CORE_READ(x, filename));
	} else if (op == IORING_OP_UNLINKAT) {
		struct io_unlink *x = (struct io_unlink *)req;
		int flags = BPF_CORE_READ(x, flags);
		o->op = (flags & AT_REMOVEDIR) ? OP_RMDIR : OP_UNLINK;
		o->dfd1 = BPF_CORE_READ(x, dfd);
		ok = uring_name(o->path1, BPF_CORE_READ(x, filename));
	} else if (op == IORING_OP_MKDIRAT) {
		struct io_mkdir *x = (struct io_mkdir *)req;
		o->op = OP_MKDIR;
		o->dfd1 = BPF_CORE_READ(x, dfd);
		ok = uring_name(o->path1, BPF_CORE_READ(x, filename));
	} else if (op == IORING_OP_SETXATTR) {
		o->op = OP_XATTR;
		ok = uring_name(o->path1, BPF_CORE_READ((struct io_xattr *)req, filename));
	} else if (op == IORING_OP_FSETXATTR) {
		/* the descriptor itself (no path): resolved in userspace like fsetxattr(2); a
		 * registered file has no descriptor to resolve */
		o->op = OP_XATTR;
		o->dfd1 = BPF_CORE_READ(req, cqe.fd);
		ok = !(BPF_CORE_READ(req, flags) & REQ_F_FIXED_FILE);
	} else if (op == IORING_OP_RENAMEAT) {
		struct io_rename *x = (struct io_rename *)req;
		o->op = OP_RENAME;
		o->flags = BPF_CORE_READ(x, flags);
		o->dfd1 = BPF_CORE_READ(x, old_dfd);
		o->dfd2 = BPF_CORE_READ(x, new_dfd);
		ok = uring_name(o->path1, BPF_CORE_READ(x, oldpath)) &&
		     uring_name(o->path2, BPF_CORE_READ(x, newpath));
	} else {
		/* LINKAT (old → new) and SYMLINKAT (link text → new), both struct io_link */
		struct io_link *x = (struct io_link *)req;
		o->op = op == IORING_OP_LINKAT ? OP_LINK : OP_SYMLINK;
		o->flags = op == IORING_OP_LINKAT ? BPF_CORE_READ(x, flags) : 0;
		o->dfd1 = op == IORING_OP_LINKAT ? BPF_CORE_READ(x, old_dfd) : AT_FDCWD;
		o->dfd2 = BPF_CORE_READ(x, new_dfd);
		ok = uring_name(o->path1, BPF_CORE_READ(x, oldpath)) &&
		     uring_name(o->path2, BPF_CORE_READ(x, newpath));
	}
	if (!ok || bpf_map_update_elem(&uring_inflight, &req, o, BPF_ANY))
		bump(&blind, BLIND_IO_URING_PATH); /* cannot be followed to its completion */
	return 0;
}

/* io_uring_complete(ctx, req, cqe): `req->cqe.res` holds the result. */
SEC("raw_tp/io_uring_complete")
int on_uring_complete(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 req = ctx->args[1];
	struct uring_path_op *o = bpf_map_lookup_elem(&uring_inflight, &req);
	if (!o)
		return 0;
	struct event *e = new_direct_event(EV_SYSCALL, o->member);
	if (!e) {
		bpf_map_delete_elem(&uring_inflight, &req);
		return 0;
	}
	__u32 op = o->op;
	e->h.pid = o->pid_tgid >> 32;
	e->h.tid = (__u32)o->pid_tgid;
	e->h.op = op;
	e->h.ret = BPF_CORE_READ((struct io_kiocb *)req, cqe.res);
	e->h.flags = o->flags;
	e->h.dfd1 = o->dfd1;
	e->h.dfd2 = o->dfd2;
	long n = bpf_probe_read_kernel_str(&e->data[0], ASSAY_PATH_MAX, o->path1);
	if (n > 0)
		e->h.len1 = (__u16)(n - 1);
	else
		e->h.status |= ST_FAULT1;
	if (n >= ASSAY_PATH_MAX)
		e->h.status |= ST_TRUNC1;
	if (op == OP_RENAME || op == OP_LINK || op == OP_SYMLINK) {
		long m = bpf_probe_read_kernel_str(&e->data[ASSAY_PATH_MAX], ASSAY_PATH_MAX, o->path2);
		if (m > 0)
			e->h.len2 = (__u16)(m - 1);
		else
			e->h.status |= ST_FAULT2;
		if (m >= ASSAY_PATH_MAX)
			e->h.status |= ST_TRUNC2;
	} else if (op == OP_XATTR && n <= 1 &&
		   bpf_get_current_pid_tgid() >> 32 == o->pid_tgid >> 32) {
		/* fsetxattr: the descriptor's path, rebuilt in the submitting process (inline, or
		 * an io-wq thread of it, which shares its descriptors) */
		fd_path(e, (__u32)o->dfd1);
	}
	bpf_map_delete_elem(&uring_inflight, &req);
	emit_direct(e, PROG_SYSCALL + ((op - 1) % OP_COUNT));
	return 0;
}

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
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
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

static __always_inline void bump_atomic(void *map, __u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(map, &slot);
	if (v)
		__sync_fetch_and_add(v, 1);
}

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

SEC("cgroup_skb/ingress")
int on_skb_ingress(struct __sk_buff *skb)
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

SEC("cgroup_skb/egress")
int on_skb_egress(struct __sk_buff *skb)
{
	struct flow f = {};
	if (!ip_flow(skb, &f) || f.proto != IPPROTO_TCP)
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

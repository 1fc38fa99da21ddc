// SPDX-License-Identifier: Apache-2.0
/* assay-runner observation programs: one translation unit, the entry points here, each concern
 * in its own header.
 *
 *   kernel_types.h  the kernel fields read (CO-RE)      syscalls.h  numbers and constants
 *   maps.h          ring, counters, work areas           session.h   the session filter
 *   stage.h         staged batches and direct records    paths.h     paths the kernel resolved
 *   net.h           addresses, the cgroup hooks          blind.h     channels counted blind
 *   exec.h          executed files, loaders              uring.h     io_uring operations
 *   payload.h       DNS and TLS payloads for names       texts.h     path text kept at entry
 *
 * Raw tracepoints attached through BPF links (no tracefs): `tp_btf/sys_exit` handles every
 * traced syscall in one program run per syscall, dispatching on the syscall number in-kernel
 * (BTF-typed, so it reads `pt_regs` with plain loads: it runs for every syscall on the host),
 * `raw_tp/sched_process_exec|fork|exit` follow processes, and
 * `raw_tp/io_uring_submit_req|io_uring_complete` count io_uring operations and turn io_uring
 * path operations into the syscall events they equal. Six sock_addr programs
 * (`cgroup/connect4|6`, `cgroup/sendmsg4|6`, `cgroup/bind4|6`) are attached to the session
 * cgroup per run, and two cgroup_skb programs copy the start of DNS queries and answers and TLS
 * ClientHellos to the ring, for names.
 *
 * Syscalls are read at exit only: the argument registers in `pt_regs` still hold what the
 * syscall used, and what a syscall did is in the kernel's objects then (paths.h): the file an
 * open installed, the working directory a chdir set, the file an exec loaded. Argument text is
 * what the process's memory holds, a claim: it names the result only where no object is left
 * (path-only operations), joined to the base directory the kernel used.
 *
 * Every program filters to the session: the current cgroup is the session cgroup or below it,
 * or the current process was followed into the session's pid tree (`tracked`, filled from fork
 * and exec events, kept until a process's last thread exits) — so a descendant that moves itself
 * to another cgroup stays observed and is flagged ST_ESCAPED. Every ring-buffer output is
 * counted per CPU and per program family as an attempt, and every failed output as a drop, so
 * received + drops == attempts.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/in6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "events.h"
#include "syscalls.h"
#include "kernel_types.h"
#include "maps.h"
#include "session.h"
#include "stage.h"
#include "paths.h"
#include "texts.h"
#include "net.h"
#include "blind.h"
#include "exec.h"
#include "uring.h"
#include "payload.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#if !defined(__TARGET_ARCH_x86)
#error "the syscall dispatch table is x86-64's; other architectures are not supported yet"
#endif

_Static_assert(sizeof(struct event_hdr) == ASSAY_HDR_SIZE, "event_hdr size");
_Static_assert(__builtin_offsetof(struct event_hdr, ts) == ASSAY_OFF_TS, "ts offset");
_Static_assert(__builtin_offsetof(struct event_hdr, ret) == ASSAY_OFF_RET, "ret offset");
_Static_assert(__builtin_offsetof(struct event_hdr, dfd1) == ASSAY_OFF_DFD1, "dfd1 offset");
_Static_assert(__builtin_offsetof(struct event_hdr, len1) == ASSAY_OFF_LEN1, "len1 offset");

/* Runs on one CPU at a time through BPF_PROG_TEST_RUN (never attached): flushes that CPU's
 * stage at the end of a session. */
SEC("raw_tp/assay_flush")
int flush_stage(void *ctx)
{
	return stage_flush();
}

/* ---- processes ---- */

/* sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm): fires
 * once the new program is loaded. Path 1 is the file the kernel loaded (KPATH); for a script,
 * that is its interpreter (ST_SCRIPT) and path 2 the script the exec opened (KPATH; on kernels
 * before 5.9, the name it was given, joined to the working directory: TEXT). An ELF program interpreter the kernel mapped is a second exec event
 * (ST_LOADER): its code runs before the program's. */
SEC("raw_tp/sched_process_exec")
int on_exec(struct bpf_raw_tracepoint_args *ctx)
{
	struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
	int member = session_member();
	/* a container's program starts: the run's from here on (not the runtime's own re-exec) */
	if (!member && setup_exec() && !runtime_reexec(bprm))
		member = MEMBER_BELOW;
	if (!member)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (member != 2)
		track(tgid);
	struct event *e = new_event(EV_EXEC, member);
	if (!e)
		return 0;
	struct file *f = BPF_CORE_READ(bprm, file);
	file_path_of(e, 0, (__u64)f);
	if (fileless(f))
		e->h.status |= ST_FILELESS;
	const char *filename = BPF_CORE_READ(bprm, filename);
	if (BPF_CORE_READ(bprm, interp) != filename) {
		e->h.status |= ST_SCRIPT;
		struct file *script = 0;
		if (bpf_core_field_exists(bprm->executable))
			script = BPF_CORE_READ(bprm, executable);
		if (script && script != f) {
			file_path_of(e, 1, (__u64)script); /* the script the exec opened (KPATH) */
			goto loaded;
		}
		char first = 0;
		bpf_probe_read_kernel(&first, 1, filename);
		if (first == '/') {
			kernel_text(e, 1, 0, filename);
		} else {
			resolve_kernel_at(e, 1, AT_FDCWD, filename, 1);
		}
	}
loaded:
	emit(e, PROG_EXEC);
	struct file *loader = elf_loader();
	if (!loader)
		return 0;
	struct event *r = new_event(EV_EXEC, member);
	if (!r)
		return 0;
	r->h.status |= ST_LOADER;
	file_path_of(r, 0, (__u64)loader);
	if (fileless(loader))
		r->h.status |= ST_FILELESS;
	emit(r, PROG_EXEC);
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

/* sched_process_exit(struct task_struct *p, bool group_dead): fires in each exiting thread. A
 * process ends with its last thread (`group_dead`), not with its leader: a leader that exits
 * first leaves the process running, still followed. */
SEC("raw_tp/sched_process_exit")
int on_exit(struct bpf_raw_tracepoint_args *ctx)
{
	if (!(__u8)ctx->args[1])
		return 0; /* other threads of the process live on */
	int member = session_member();
	if (!member)
		return 0;
	struct event *e = new_event(EV_EXIT, member);
	if (!e)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	int code = BPF_CORE_READ(task, exit_code);
	e->h.ret = code;
	emit(e, PROG_EXIT);
	if (code & 0x80)
		bump(&blind, BLIND_CORE_DUMP); /* the kernel wrote a core file for it */
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	bpf_map_delete_elem(&tracked, &tgid);
	return 0;
}

/* cgroup_mkdir(struct cgroup *cgrp, const char *path): a cgroup made below the session's on the
 * cgroup2 hierarchy (a container the run's Docker endpoint placed there, by its runtime): its id
 * and name, so userspace knows whose processes carry that id. Fires for every hierarchy; a
 * cgroup1 one (runc makes the same path in each) is not the session's. One the run's own
 * processes made is marked (ST_BY_RUN, with the cgroup its maker was in): its name claims
 * nothing, whatever it is. */
SEC("raw_tp/cgroup_mkdir")
int on_cgroup_mkdir(struct bpf_raw_tracepoint_args *ctx)
{
	struct cgroup *cg = (struct cgroup *)ctx->args[0];
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (!cg || BPF_CORE_READ(cg, root) != BPF_CORE_READ(task, cgroups, dfl_cgrp, root))
		return 0;
	__u64 id = BPF_CORE_READ(cg, kn, id);
	if (id == session_cgid || !cgroup_in_session(cg))
		return 0;
	struct event *e = new_event(EV_CGROUP, MEMBER_HOOK);
	if (!e)
		return 0;
	if (session_member()) {
		e->h.status |= ST_BY_RUN;
		e->h.flags = bpf_get_current_cgroup_id();
	}
	e->h.cgid = id;
	long n = bpf_probe_read_kernel_str(&e->data[0], 256, BPF_CORE_READ(cg, kn, name));
	e->h.len1 = n > 1 ? (__u16)(n - 1) : 0;
	emit(e, PROG_CGROUP);
	return 0;
}

/* ---- syscalls: one program at exit, dispatching on the number ---- */

/* The fields of a syscall event, as on_sys_exit's cases name them. */
struct sys_fields {
	long nr;
	__s64 ret;
	__u64 p1, p2, flags;
	__s32 dfd1, dfd2;
	__u32 op;
	__s32 member;
};

/* The file an open installed: a tun device makes packets the hooks never see. */
static __always_inline void opened(struct event *e, __s64 fd)
{
	struct file *f = fd_file((__u64)fd);
	file_path_of(e, 0, (__u64)f);
	if (!f)
		return;
	__u16 mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) == S_IFCHR && BPF_CORE_READ(f, f_inode, i_rdev) == TUN_RDEV)
		bump(&blind, BLIND_TUN);
}

/* Builds and stages one syscall event. A global function: the verifier checks it once, with
 * unknown fields, instead of once along every case of on_sys_exit that reaches it. */
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
	__u32 slots = 0;         /* the slots that hold text (texts.h) */
	struct text_bases bases = {}; /* the base directories their walks used */
	switch (op) {
	case OP_CONNECT: {
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
		/* a UNIX connect reached the peer's socket file: its path, not the text */
		if (ret == 0 && e->h.len1 >= 2 && *(__u16 *)&e->data[0] == AF_UNIX) {
			struct sock *sk = fd_sock((__u32)dfd1);
			if (sk)
				unix_sock_path(e, 1, BPF_CORE_READ((struct unix_sock *)sk, peer));
		} else if (e->h.len1 > 2 && *(__u16 *)&e->data[0] == AF_UNIX && e->data[2]) {
			/* a failed attempt: the text, joined to the working directory */
			resolve_path(e, 1, AT_FDCWD, p1 + 2, 0);
		}
		break;
	}
	case OP_OPEN:
		if (ret >= 0 && dfd2 != DFD_NONE) {
			opened(e, ret);
			/* the text it was asked for (diagnostic; open_by_handle_at has none) */
			if (p1)
				e->h.len2 = (__u16)(read_user_at(e, 1, 0, p1) & (ASSAY_PATH_MAX - 1));
		} else {
			resolve_path(e, 0, dfd1, p1, &bases.d[0]);
			slots = ret >= 0; /* acct: the kernel holds the file it named */
		}
		break;
	case OP_CHDIR:
	case OP_FCHDIR:
		if (ret == 0)
			pwd_path(e, 0); /* where it went */
		else if (op == OP_CHDIR)
			resolve_path(e, 0, dfd1, p1, 0);
		else
			fd_path(e, 0, (__u32)dfd1);
		break;
	case OP_SYMLINK:
		e->h.len1 = (__u16)(read_user_at(e, 0, 0, p1) & (ASSAY_PATH_MAX - 1)); /* the content */
		resolve_path(e, 1, dfd2, p2, &bases.d[1]);
		slots = 2;
		break;
	case OP_RENAME:
	case OP_LINK:
		resolve_path(e, 0, dfd1, p1, &bases.d[0]);
		resolve_path(e, 1, dfd2, p2, &bases.d[1]);
		slots = 3;
		break;
	default:
		resolve_path(e, 0, dfd1, p1, &bases.d[0]);
		slots = 1;
	}
	/* a path-only operation that took effect: its texts must be what they were at entry */
	if (ret >= 0 && slots)
		check_texts(e, a->nr, slots, &bases);
	emit(e, PROG_SYSCALL + ((op - 1) % OP_COUNT));
	return 0;
}

/* sys_enter(struct pt_regs *regs, long id): keeps the path texts of a path-only syscall of the
 * session until its exit (texts.h); every other syscall returns at the switch. */
SEC("tp_btf/sys_enter")
int on_sys_enter(__u64 *ctx)
{
	long nr = (long)ctx[1];
	switch (nr) {
	case __NR_unlink: case __NR_rmdir: case __NR_mkdir: case __NR_truncate: case __NR_chmod:
	case __NR_chown: case __NR_lchown: case __NR_utime: case __NR_utimes: case __NR_setxattr:
	case __NR_lsetxattr: case __NR_removexattr: case __NR_lremovexattr: case __NR_mknod:
	case __NR_acct: case __NR_unlinkat: case __NR_mkdirat: case __NR_fchmodat:
	case __NR_fchmodat2: case __NR_fchownat: case __NR_futimesat: case __NR_utimensat:
	case __NR_setxattrat: case __NR_removexattrat: case __NR_mknodat: case __NR_rename:
	case __NR_link: case __NR_renameat: case __NR_renameat2: case __NR_linkat:
	case __NR_symlink: case __NR_symlinkat:
		break;
	default:
		return 0;
	}
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	if (task->thread_info.status & TS_COMPAT)
		return 0; /* counted blind at exit */
	return keep_entry_texts(nr, (const struct pt_regs *)ctx[0]);
}

/* sys_exit(struct pt_regs *regs, long ret) */
SEC("tp_btf/sys_exit")
int on_sys_exit(__u64 *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx[0];
	long nr = regs->orig_ax;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	if ((task->thread_info.status & TS_COMPAT) || (nr >= 0 && (nr & X32_SYSCALL_BIT))) {
		/* another ABI's numbering: never decoded as x86-64's, every success counted */
		if ((long)ctx[1] >= 0 && session_member())
			bump(&blind, BLIND_COMPAT);
		return 0;
	}
	switch (nr) {
	case __NR_open: case __NR_creat: case __NR_openat: case __NR_openat2:
	case __NR_open_by_handle_at: case __NR_acct:
	case __NR_unlink: case __NR_unlinkat: case __NR_rmdir:
	case __NR_rename: case __NR_renameat: case __NR_renameat2:
	case __NR_mkdir: case __NR_mkdirat: case __NR_chdir: case __NR_fchdir: case __NR_connect:
	case __NR_link: case __NR_linkat: case __NR_symlink: case __NR_symlinkat:
		break;
	case __NR_truncate: case __NR_chmod: case __NR_fchmod: case __NR_fchmodat:
	case __NR_fchmodat2: case __NR_chown: case __NR_fchown: case __NR_lchown:
	case __NR_fchownat: case __NR_utime: case __NR_utimes: case __NR_futimesat:
	case __NR_utimensat: case __NR_setxattr: case __NR_lsetxattr: case __NR_fsetxattr:
	case __NR_removexattr: case __NR_lremovexattr: case __NR_fremovexattr:
	case __NR_setxattrat: case __NR_removexattrat: case __NR_mknod: case __NR_mknodat:
		break;
	case __NR_socket: case __NR_sendto: case __NR_sendmsg: case __NR_sendmmsg: case __NR_bind:
	case __NR_listen: case __NR_mount: case __NR_umount2: case __NR_chroot:
	case __NR_pivot_root: case __NR_open_tree: case __NR_move_mount: case __NR_fsmount:
	case __NR_ptrace: case __NR_process_vm_writev: case __NR_process_vm_readv:
	case __NR_recvmsg: case __NR_recvmmsg: case __NR_pidfd_getfd: case __NR_setns:
	case __NR_bpf: case __NR_init_module: case __NR_finit_module: case __NR_delete_module:
	case __NR_fanotify_init: case __NR_kill: case __NR_tkill: case __NR_tgkill:
	case __NR_rt_sigqueueinfo: case __NR_rt_tgsigqueueinfo: case __NR_pidfd_send_signal: {
		long ret = (long)ctx[1];
		if (ret < 0)
			return 0; /* failed: no effect */
		int member = session_member();
		if (!member)
			return 0;
		struct sys_regs r = {
			.di = regs->di, .si = regs->si, .dx = regs->dx, .r10 = regs->r10, .r8 = regs->r8,
			.r9 = regs->r9,
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
	__s32 dfd1 = AT_FDCWD, dfd2 = AT_FDCWD;
	__u64 p1 = 0, p2 = 0, flags = 0;
	switch (nr) {
	case __NR_openat:
		op = OP_OPEN; dfd1 = (__s32)a0; p1 = a1; flags = a2;
		break;
	case __NR_open:
		op = OP_OPEN; p1 = a0; flags = a1;
		break;
	case __NR_creat:
		op = OP_OPEN; p1 = a0;
		flags = 01101 /* O_CREAT|O_WRONLY|O_TRUNC */;
		break;
	case __NR_openat2:
		bpf_probe_read_user(&flags, sizeof(flags), (const void *)a2); /* open_how.flags */
		op = OP_OPEN; dfd1 = (__s32)a0; p1 = a1;
		break;
	case __NR_open_by_handle_at:
		/* the file is known only by what the open installed (no path text) */
		op = OP_OPEN; dfd1 = (__s32)a0; flags = a2;
		if (ret < 0)
			return 0;
		break;
	case __NR_acct:
		/* accounting on: the kernel appends a record to this file at every process exit */
		if (!a0 || ret < 0)
			return 0;
		op = OP_OPEN; p1 = a0; flags = O_WRONLY | O_APPEND;
		dfd2 = DFD_NONE; /* no descriptor: the path is resolved from the text */
		break;
	case __NR_unlinkat:
		op = (a2 & AT_REMOVEDIR) ? OP_RMDIR : OP_UNLINK; dfd1 = (__s32)a0; p1 = a1;
		flags = a2;
		break;
	case __NR_unlink:
		op = OP_UNLINK; p1 = a0;
		break;
	case __NR_rmdir:
		op = OP_RMDIR; p1 = a0;
		break;
	case __NR_renameat2:
		op = OP_RENAME; dfd1 = (__s32)a0; p1 = a1; dfd2 = (__s32)a2;
		p2 = regs->r10; flags = regs->r8;
		break;
	case __NR_renameat:
		op = OP_RENAME; dfd1 = (__s32)a0; p1 = a1; dfd2 = (__s32)a2; p2 = regs->r10;
		break;
	case __NR_rename:
		op = OP_RENAME; p1 = a0; p2 = a1;
		break;
	case __NR_mkdirat:
		op = OP_MKDIR; dfd1 = (__s32)a0; p1 = a1; flags = a2;
		break;
	case __NR_mkdir:
		op = OP_MKDIR; p1 = a0; flags = a1;
		break;
	case __NR_chdir:
		op = OP_CHDIR; p1 = a0;
		break;
	case __NR_fchdir:
		op = OP_FCHDIR; dfd1 = (__s32)a0;
		break;
	case __NR_connect:
		op = OP_CONNECT; dfd1 = (__s32)a0; p1 = a1; flags = a2;
		break;
	case __NR_linkat:
		op = OP_LINK; dfd1 = (__s32)a0; p1 = a1; dfd2 = (__s32)a2;
		p2 = regs->r10; flags = regs->r8;
		break;
	case __NR_link:
		op = OP_LINK; p1 = a0; p2 = a1;
		break;
	case __NR_symlinkat:
		op = OP_SYMLINK; p1 = a0; dfd2 = (__s32)a1; p2 = a2;
		break;
	case __NR_symlink:
		op = OP_SYMLINK; p1 = a0; p2 = a1;
		break;
	/* Metadata and size changes. A path-less variant names its target by the descriptor in
	 * dfd1 (a null or empty path), whose path emit_syscall rebuilds. The flags kept are the
	 * *at variants' own. */
	case __NR_truncate:
		op = OP_TRUNCATE; p1 = a0;
		break;
	case __NR_chmod:
		op = OP_CHMOD; p1 = a0;
		break;
	case __NR_fchmod:
		op = OP_CHMOD; dfd1 = (__s32)a0;
		break;
	case __NR_fchmodat:
		op = OP_CHMOD; dfd1 = (__s32)a0; p1 = a1;
		break;
	case __NR_fchmodat2:
		op = OP_CHMOD; dfd1 = (__s32)a0; p1 = a1; flags = regs->r10;
		break;
	case __NR_chown: case __NR_lchown:
		op = OP_CHOWN; p1 = a0;
		break;
	case __NR_fchown:
		op = OP_CHOWN; dfd1 = (__s32)a0;
		break;
	case __NR_fchownat:
		op = OP_CHOWN; dfd1 = (__s32)a0; p1 = a1; flags = regs->r8;
		break;
	case __NR_utime: case __NR_utimes:
		op = OP_UTIMES; p1 = a0;
		break;
	case __NR_futimesat:
		op = OP_UTIMES; dfd1 = (__s32)a0; p1 = a1;
		break;
	case __NR_utimensat:
		op = OP_UTIMES; dfd1 = (__s32)a0; p1 = a1; flags = regs->r10;
		break;
	case __NR_setxattr: case __NR_lsetxattr: case __NR_removexattr: case __NR_lremovexattr:
		op = OP_XATTR; p1 = a0;
		break;
	case __NR_fsetxattr: case __NR_fremovexattr:
		op = OP_XATTR; dfd1 = (__s32)a0;
		break;
	case __NR_setxattrat: case __NR_removexattrat:
		op = OP_XATTR; dfd1 = (__s32)a0; p1 = a1; flags = a2;
		break;
	case __NR_mknod:
		op = OP_MKNOD; p1 = a0; flags = a1;
		break;
	case __NR_mknodat:
		op = OP_MKNOD; dfd1 = (__s32)a0; p1 = a1; flags = a2;
		break;
	}
	if (!op)
		return 0;
	struct sys_fields f = {
		.nr = nr, .ret = ret, .p1 = p1, .p2 = p2, .flags = flags,
		.dfd1 = dfd1, .dfd2 = dfd2, .op = op, .member = m,
	};
	emit_syscall(&f);
	if (op != OP_OPEN && op != OP_CHDIR && op != OP_FCHDIR && op != OP_CONNECT) {
		__u32 tid = (__u32)bpf_get_current_pid_tgid();
		bpf_map_delete_elem(&entry_texts, &tid); /* kept at entry (texts.h) */
	} else if (nr == __NR_acct) {
		__u32 tid = (__u32)bpf_get_current_pid_tgid();
		bpf_map_delete_elem(&entry_texts, &tid);
	}
	if (nr == __NR_connect) {
		/* An INET socket the hooks do not see (created outside the session cgroup): the
		 * attempt as the hook would report it, with its protocol. */
		__u64 proto = 0;
		if (hook_view(a0, 0, &proto) == 2)
			addr_event(NET_CONNECT, a1, (__u32)a2, proto, m, 0);
	}
	return 0;
}

/* ---- network at the session cgroup ----
 *
 * sock_addr programs attached to the session cgroup through BPF links: they run for sockets
 * created in that cgroup (or below it), whatever syscall or io_uring operation carried the
 * address, and never for anyone else's sockets, so they need no session filter. Each emits the
 * address it was given and always allows the operation. */
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

/* ---- io_uring ---- */
SEC("raw_tp/io_uring_submit_req")
int on_uring_submit(struct bpf_raw_tracepoint_args *ctx) { return uring_submit(ctx); }

SEC("raw_tp/io_uring_complete")
int on_uring_complete(struct bpf_raw_tracepoint_args *ctx) { return uring_complete(ctx); }

SEC("raw_tp/io_uring_cqe_overflow")
int on_uring_overflow(struct bpf_raw_tracepoint_args *ctx) { return uring_overflow(ctx); }

/* ---- names: packet payloads at the session cgroup ---- */
SEC("cgroup_skb/ingress")
int on_skb_ingress(struct __sk_buff *skb) { return skb_ingress(skb); }

SEC("cgroup_skb/egress")
int on_skb_egress(struct __sk_buff *skb) { return skb_egress(skb); }

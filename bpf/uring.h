/* io_uring: submissions counted per opcode, path operations followed to their completion. */
#ifndef ASSAY_URING_H
#define ASSAY_URING_H

/* io_uring path operations (opens, renames, unlinks, mkdirs, links, symlinks) between
 * submission (paths, flags) and completion (result), by request. */
struct uring_path_op {
	__u64 pid_tgid;
	__u64 flags;
	__s32 dfd1;
	__s32 dfd2;
	__u32 member;
	__u32 op;
	__u32 slot; /* a direct open's io_open.file_slot (0: an open into the descriptor table) */
	__u32 pad;
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

/* ---- io_uring ----
 * io_uring_submit_req(struct io_kiocb *req) fires in the submitting task (with SQPOLL, the
 * sq thread, same cgroup and process). Operations are counted per opcode for the session: which
 * of them are blind is decided in userspace (crates/kernel/src/event.rs, URING_OP_NAMES). Operations
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
#define REQ_F_CQE_SKIP (1 << 6) /* IOSQE_CQE_SKIP_SUCCESS: no completion is posted on success */
#define IORING_FILE_INDEX_ALLOC (~0U)
#define FIXED_FILES_MAX (1U << 20) /* IORING_MAX_FIXED_FILES */

/* The file in slot `idx` of the ring's registered files (0 when there is none, or on a kernel
 * whose table this does not know: before 6.13 it is an array of another type). */
static __always_inline struct file *uring_fixed_file(struct io_kiocb *req, __u32 idx)
{
	struct io_ring_ctx *ctx = BPF_CORE_READ(req, ctx);
	if (!ctx || !bpf_core_field_exists(ctx->file_table.data.nodes))
		return 0;
	if (idx >= BPF_CORE_READ(ctx, file_table.data.nr) || idx >= FIXED_FILES_MAX)
		return 0;
	struct io_rsrc_node **nodes = BPF_CORE_READ(ctx, file_table.data.nodes);
	struct io_rsrc_node *node = 0;
	if (!nodes || bpf_probe_read_kernel(&node, sizeof(node), &nodes[idx & (FIXED_FILES_MAX - 1)]))
		return 0;
	if (!node)
		return 0;
	return (struct file *)(BPF_CORE_READ(node, file_ptr) & ~3UL);
}

/* A kernel string (a path io_uring copied in at prep) into slot `which` at `off`; returns its
 * length (0, with FAULT, when it cannot be read). */
static __always_inline __u32 kernel_text(struct event *e, int which, __u32 off, const char *s)
{
	off &= ASSAY_PATH_MAX - 1;
	__u32 room = ASSAY_PATH_MAX - off;
	long n = bpf_probe_read_kernel_str(&e->data[(which ? ASSAY_PATH_MAX : 0) + off], room, s);
	if (n <= 0) {
		e->h.status |= which ? ST_FAULT2 : ST_FAULT1;
		return 0;
	}
	if (n >= room)
		e->h.status |= which ? ST_TRUNC2 : ST_TRUNC1;
	__u32 len = (__u32)(n - 1) + off;
	if (which)
		e->h.len2 = (__u16)(len & (ASSAY_PATH_MAX - 1));
	else
		e->h.len1 = (__u16)(len & (ASSAY_PATH_MAX - 1));
	return (__u32)(n - 1);
}

/* resolve_at for a path io_uring copied into the kernel: an absolute one as it is, an empty
 * one the descriptor itself, a relative one joined to its base directory, rebuilt in the
 * kernel (only in the submitting process: `same`; elsewhere the text alone). */
static __always_inline void resolve_kernel_at(struct event *e, int which, __s32 dfd,
					      const char *s, int same)
{
	char first = 0;
	bpf_probe_read_kernel(&first, 1, s);
	if (first == '/' || !same) {
		kernel_text(e, which, 0, s);
		return;
	}
	if (first == 0) {
		if (dfd != AT_FDCWD)
			fd_path(e, which, (__u32)dfd);
		return;
	}
	__u32 base;
	if (dfd == AT_FDCWD) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		struct fs_struct *fs = BPF_CORE_READ(task, fs);
		base = walk_path(e, which, BPF_CORE_READ(fs, pwd.dentry), BPF_CORE_READ(fs, pwd.mnt));
	} else {
		struct file *f = fd_file((__u32)dfd);
		base = f ? walk_path(e, which, BPF_CORE_READ(f, f_path.dentry),
				     BPF_CORE_READ(f, f_path.mnt))
			 : 0;
	}
	if (!base || base >= ASSAY_PATH_MAX - 2) {
		e->h.status |= which ? ST_TRUNC2 : ST_TRUNC1;
		return;
	}
	e->data[((which ? ASSAY_PATH_MAX : 0) + base) & (2 * ASSAY_PATH_MAX - 1)] = '/';
	kernel_text(e, which, base + 1, s);
	e->h.status |= which ? ST_TEXT2 : ST_TEXT1;
	e->h.ppid |= which ? base << 16 : base; /* where the text starts */
}

/* Copies a kernel `struct filename`'s name; 0 when it cannot be read. */
static __always_inline int uring_name(char *dst, struct filename *f)
{
	const char *name = BPF_CORE_READ(f, name);
	return bpf_probe_read_kernel_str(dst, ASSAY_PATH_MAX, name) > 0;
}

/* Registered files the session's rings used, by file, dentry and mount: each is emitted once
 * (an LRU: one pushed out is emitted again when next used, which only repeats a set entry). */
struct fixed_key {
	__u64 file;
	__u64 dentry;
	__u64 mnt;
	__u64 mode; /* a new file at a freed one's address, on the same path, may be opened otherwise */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct fixed_key);
	__type(value, __u8);
} uring_fixed_seen SEC(".maps");

#define FMODE_READ 0x1
#define FMODE_WRITE 0x2

/* A completed request on a registered file (IOSQE_FIXED_FILE): the file may have come from
 * anywhere (a descriptor the session registered, a direct open, or IORING_OP_MSG_RING from
 * another ring, whose owner may be outside the session, with no syscall of the session), so
 * the file the kernel issued it on (`req->file`, not the slot, which may have changed since)
 * is emitted as an open, by its path and with its mode, the first time the session uses it. */
__noinline int uring_fixed_use(__u64 r, int member)
{
	/* a global function (verified once, on its own: the completion program stays cheap to
	 * verify); `r` is a struct io_kiocb pointer */
	struct io_kiocb *req = (struct io_kiocb *)r;
	struct file *f = BPF_CORE_READ(req, file);
	if (!f)
		return 0; /* not issued on a file (an empty slot fails with EBADF) */
	__u32 mode = BPF_CORE_READ(f, f_mode);
	struct fixed_key k = {.file = (__u64)f, .mode = mode};
	struct path fp = {};
	if (!bpf_core_read(&fp, sizeof(fp), &f->f_path)) {
		k.dentry = (__u64)fp.dentry;
		k.mnt = (__u64)fp.mnt;
	}
	if (bpf_map_lookup_elem(&uring_fixed_seen, &k))
		return 0;
	/* a socket made outside the session (another ring sent it): what is sent on it names no
	 * address the hooks see, as for one received over SCM_RIGHTS */
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) == S_IFSOCK && socket_made_outside(f))
		bump(&blind, BLIND_FD_PASSING);
	struct event *e = new_direct_event(EV_SYSCALL, member);
	if (!e)
		return 0;
	e->h.op = OP_OPEN;
	e->h.ret = (__s32)BPF_CORE_READ(req, cqe.fd); /* the slot */
	e->h.flags = (mode & FMODE_WRITE) ? ((mode & FMODE_READ) ? O_RDWR : O_WRONLY) : O_RDONLY;
	e->h.dfd1 = AT_FDCWD;
	e->h.dfd2 = AT_FDCWD;
	file_path_of(e, 0, (__u64)f);
	emit_direct(e, PROG_SYSCALL + ((OP_OPEN - 1) % OP_COUNT));
	__u8 one = 1;
	bpf_map_update_elem(&uring_fixed_seen, &k, &one, BPF_ANY);
	return 0;
}

static __always_inline int uring_submit(struct bpf_raw_tracepoint_args *ctx)
{
	int member = session_member();
	if (!member)
		return 0;
	struct io_kiocb *req = (struct io_kiocb *)ctx->args[0];
	__u32 op = BPF_CORE_READ(req, opcode);
	if (op >= URING_OPS)
		op = URING_OPS - 1;
	bump(&uring_ops, op);
	int path_op = op == IORING_OP_OPENAT || op == IORING_OP_OPENAT2 ||
		      (op >= IORING_OP_RENAMEAT && op <= IORING_OP_LINKAT) ||
		      op == IORING_OP_FSETXATTR || op == IORING_OP_SETXATTR;
	__u64 rflags = BPF_CORE_READ(req, flags);
	if ((rflags & REQ_F_CQE_SKIP) && (path_op || (rflags & REQ_F_FIXED_FILE))) {
		/* its success posts no completion, where the path's result and the registered
		 * file's use are read: not followed */
		bump(&blind, BLIND_IO_URING_PATH);
		return 0;
	}
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
	o->slot = 0;
	o->path1[0] = 0;
	o->path2[0] = 0;
	int ok = 1;
	if (op == IORING_OP_OPENAT || op == IORING_OP_OPENAT2) {
		struct io_open *x = (struct io_open *)req;
		o->op = OP_OPEN;
		o->flags = BPF_CORE_READ(x, how.flags);
		o->dfd1 = BPF_CORE_READ(x, dfd);
		if (bpf_core_field_exists(x->file_slot))
			o->slot = BPF_CORE_READ(x, file_slot);
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

/* io_uring_cqe_overflow(ctx, user_data, res, cflags, ocqe): a completion the ring had no room
 * for goes to its overflow list, past io_uring_complete: a session request's result (a path
 * operation's, a registered file's use) is then not read, and the request is not known here.
 * Any overflow of a session ring counts as a path operation not followed. */
static __always_inline int uring_overflow(struct bpf_raw_tracepoint_args *ctx)
{
	if (session_member())
		bump(&blind, BLIND_IO_URING_PATH);
	return 0;
}

/* io_uring_complete(ctx, req, cqe): `req->cqe.res` holds the result. */
static __always_inline int uring_complete(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 req = ctx->args[1];
	if (BPF_CORE_READ((struct io_kiocb *)req, flags) & REQ_F_FIXED_FILE) {
		/* completions run in the submitting process (inline, its io-wq or sq thread) */
		int member = session_member();
		if (member)
			uring_fixed_use(req, member);
	}
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
	/* Resolved in the submitting process (inline, or an io-wq thread of it, which shares its
	 * descriptors and working directory). */
	int same = bpf_get_current_pid_tgid() >> 32 == o->pid_tgid >> 32;
	if (op == OP_OPEN && e->h.ret >= 0 && o->slot) {
		/* a direct open: the file is in the ring's registered files, not the descriptor
		 * table (the result is 0, or the slot it was given) */
		__u32 idx = o->slot == IORING_FILE_INDEX_ALLOC ? (__u32)e->h.ret : o->slot - 1;
		file_path_of(e, 0, (__u64)uring_fixed_file((struct io_kiocb *)req, idx));
		kernel_text(e, 1, 0, o->path1);
	} else if (op == OP_OPEN && e->h.ret >= 0 && same) {
		fd_path(e, 0, (__u32)e->h.ret); /* the file the open installed */
		kernel_text(e, 1, 0, o->path1);
	} else if (op == OP_SYMLINK) {
		kernel_text(e, 0, 0, o->path1); /* the link's content */
		resolve_kernel_at(e, 1, o->dfd2, o->path2, same);
	} else {
		resolve_kernel_at(e, 0, o->dfd1, o->path1, same);
		if (op == OP_RENAME || op == OP_LINK)
			resolve_kernel_at(e, 1, o->dfd2, o->path2, same);
	}
	bpf_map_delete_elem(&uring_inflight, &req);
	emit_direct(e, PROG_SYSCALL + ((op - 1) % OP_COUNT));
	return 0;
}

#endif

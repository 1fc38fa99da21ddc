/* Path text guarded between a syscall's entry and exit.
 *
 * A path-only operation (unlink, rename, mkdir, truncate, chmod, ...) leaves no object the probe
 * can read at exit, so its final components are text from the process's memory, joined to the
 * base directory the kernel used (paths.h). Another thread (or a shared mapping) can rewrite that
 * text, or re-point the base (dup2 onto the dirfd, chdir of a thread sharing the working
 * directory), while the syscall runs. The kernel copies the text right after entry: at
 * `sys_enter` the probe keeps its own copy of each text and the base directory's dentry; at
 * `sys_exit` the event's text and the base it walked must be the same, or the path is marked
 * ST_UNSTABLE (userspace makes it an ambiguous path: never a silent decoy). A text unreadable at
 * entry (a page not yet faulted in) is trusted only when no other thread shares the memory.
 *
 * Residual, documented in docs/kernel.md ("Channels"): a writer that changes the text (or base)
 * after the probe's entry copy, before the kernel's own copy a few hundred nanoseconds later,
 * and changes it back before exit. */
#ifndef ASSAY_TEXTS_H
#define ASSAY_TEXTS_H

/* The texts of one path-only syscall at entry. */
struct entry_text {
	__u64 nr;
	__u64 base[2];  /* the dentry a relative text would resolve against (dirfd or pwd) */
	__s32 len[2];   /* without the NUL; -1: unreadable at entry; -2: no text in this slot */
	char text[2 * ASSAY_PATH_MAX];
};

/* By thread id, from entry to exit of the syscall (deleted at exit). Allocated on use. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct entry_text);
} entry_texts SEC(".maps");

/* Where an entry is built before it is copied into entry_texts. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct entry_text);
} entry_scratch SEC(".maps");

/* The path texts of a path-only syscall: slot s is (dfd[s], p[s]) when bit s of the result is
 * set (the same slots emit_syscall resolves). 0 for every other syscall. */
static __always_inline __u32 text_args(long nr, const struct pt_regs *regs, __s32 dfd[2],
				       __u64 p[2])
{
	__u64 a0 = regs->di, a1 = regs->si, a2 = regs->dx;
	dfd[0] = AT_FDCWD;
	dfd[1] = AT_FDCWD;
	switch (nr) {
	case __NR_unlink: case __NR_rmdir: case __NR_mkdir: case __NR_truncate: case __NR_chmod:
	case __NR_chown: case __NR_lchown: case __NR_utime: case __NR_utimes: case __NR_setxattr:
	case __NR_lsetxattr: case __NR_removexattr: case __NR_lremovexattr: case __NR_mknod:
	case __NR_acct:
		p[0] = a0;
		return 1;
	case __NR_unlinkat: case __NR_mkdirat: case __NR_fchmodat: case __NR_fchmodat2:
	case __NR_fchownat: case __NR_futimesat: case __NR_utimensat: case __NR_setxattrat:
	case __NR_removexattrat: case __NR_mknodat:
		dfd[0] = (__s32)a0;
		p[0] = a1;
		return 1;
	case __NR_rename: case __NR_link:
		p[0] = a0;
		p[1] = a1;
		return 3;
	case __NR_renameat: case __NR_renameat2: case __NR_linkat:
		dfd[0] = (__s32)a0;
		p[0] = a1;
		dfd[1] = (__s32)a2;
		p[1] = regs->r10;
		return 3;
	case __NR_symlink:
		p[1] = a1;
		return 2;
	case __NR_symlinkat:
		dfd[1] = (__s32)a1;
		p[1] = a2;
		return 2;
	}
	return 0;
}

/* The dentry of the directory a relative text resolves against. */
static __always_inline __u64 base_dentry(__s32 dfd)
{
	if (dfd == AT_FDCWD) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		return (__u64)BPF_CORE_READ(task, fs, pwd.dentry);
	}
	struct file *f = fd_file((__u32)dfd);
	return f ? (__u64)BPF_CORE_READ(f, f_path.dentry) : 0;
}

/* At entry: keeps the texts and bases of a path-only syscall of the session. */
static __always_inline int keep_entry_texts(long nr, const struct pt_regs *regs)
{
	__s32 dfd[2];
	__u64 p[2] = {};
	__u32 slots = text_args(nr, regs, dfd, p);
	if (!slots || !session_member())
		return 0;
	__u32 zero = 0;
	struct entry_text *t = bpf_map_lookup_elem(&entry_scratch, &zero);
	if (!t)
		return 0;
	t->nr = nr;
#pragma unroll
	for (int s = 0; s < 2; s++) {
		t->base[s] = 0;
		t->len[s] = -2;
		if (!(slots & (1 << s)) || !p[s])
			continue;
		long n = bpf_probe_read_user_str(&t->text[s * ASSAY_PATH_MAX], ASSAY_PATH_MAX,
						 (const void *)p[s]);
		t->len[s] = n > 0 ? (__s32)(n - 1) : -1;
		/* the base a relative text would resolve against (kept even when the text could not
		 * be read: a cold page of the program's constants faults here, not in the kernel) */
		t->base[s] = base_dentry(dfd[s]);
	}
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&entry_texts, &tid, t, BPF_ANY);
	return 0;
}

/* bpf_loop callback: compares 8 bytes of the exit text (in the walk area) with the entry text
 * per step; stops at the first difference. */
struct text_cmp {
	__u32 tid;
	__u32 slot;
	__u32 len;
	__u32 differ;
};

static long cmp_step(__u32 i, void *ctx)
{
	struct text_cmp *c = ctx;
	__u32 zero = 0;
	struct walk_area *a = bpf_map_lookup_elem(&walkbuf, &zero);
	struct entry_text *t = bpf_map_lookup_elem(&entry_texts, &c->tid);
	if (!a || !t) {
		c->differ = 1;
		return 1;
	}
	__u32 off = (i * 8) & (ASSAY_PATH_MAX - 1);
	__u32 base = (c->slot ? ASSAY_PATH_MAX : 0) + off;
#pragma unroll
	for (int j = 0; j < 8; j++) {
		if (off + j >= c->len)
			return 1;
		if (a->buf[(off + j) & (ASSAY_PATH_MAX - 1)] !=
		    t->text[(base + j) & (2 * ASSAY_PATH_MAX - 1)]) {
			c->differ = 1;
			return 1;
		}
	}
	return 0;
}

/* Whether the text at `from` (len bytes) of the event's slot `which` is the entry's text. */
static __always_inline int same_text(struct event *e, int which, __u32 from, __u32 len,
				     __u32 tid, struct entry_text *t)
{
	if (t->len[which & 1] != (__s32)len)
		return 0;
	__u32 zero = 0;
	struct walk_area *a = bpf_map_lookup_elem(&walkbuf, &zero);
	if (!a || len >= ASSAY_PATH_MAX)
		return 0;
	__u32 at = ((which ? ASSAY_PATH_MAX : 0) + from) & (2 * ASSAY_PATH_MAX - 1);
	if (bpf_probe_read_kernel(a->buf, len & (ASSAY_PATH_MAX - 1), &e->data[at]))
		return 0;
	struct text_cmp c = {.tid = tid, .slot = which, .len = len};
	bpf_loop((len + 7) / 8, cmp_step, &c, 0);
	return !c.differ;
}

/* Whether other threads (or processes) share the caller's memory. */
static __always_inline int memory_shared(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	return BPF_CORE_READ(task, mm, mm_users.counter) > 1;
}

/* At exit of a successful path-only syscall: marks each text slot whose text or base differs
 * from the entry's (or could not be compared) ST_UNSTABLE. `b` holds the dentries the exit's
 * walks used (resolve_at); `slots` as text_args gives them. A global function: verified once. */
struct text_bases {
	__u64 d[2];
};

__noinline int check_texts(struct event *e, long nr, __u32 slots, const struct text_bases *b)
{
	if (!e || !b)
		return 0;
	const __u64 *bases = b->d;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct entry_text *t = bpf_map_lookup_elem(&entry_texts, &tid);
	if (t && t->nr != (__u64)nr)
		t = 0; /* left by another syscall */
	__u32 status = e->h.status;
	int unstable = 0;
#pragma unroll
	for (int s = 0; s < 2; s++) {
		if (!(slots & (1 << s)))
			continue;
		__u32 kpath = s ? ST_KPATH2 : ST_KPATH1, text = s ? ST_TEXT2 : ST_TEXT1;
		__u32 len = s ? e->h.len2 : e->h.len1;
		if ((status & kpath) || !len)
			continue; /* the descriptor's own path, or nothing reported */
		if (!t) {
			unstable = 1;
			continue;
		}
		__u32 from = 0;
		if (status & text)
			from = (s ? (e->h.ppid >> 16) : (e->h.ppid & 0xffff)) + 1;
		/* the base the exit's walk used (0 for an absolute text) is the entry's */
		if (bases[s] && t->base[s] != bases[s]) {
			unstable = 1;
			continue;
		}
		if (t->len[s] == -1) {
			/* unreadable at entry: stable only if nothing else can write the memory */
			unstable |= memory_shared();
			continue;
		}
		if (from > len || !same_text(e, s, from, len - from, tid, t))
			unstable = 1;
	}
	if (unstable)
		e->h.status |= ST_UNSTABLE;
	return 0;
}

#endif

/* Paths as the kernel resolved them.
 *
 * A path argument is text in the process's memory: another thread may rewrite it, and its
 * directory fd, working directory, `..` and symlinks are resolved by the kernel, not by its
 * text. What the kernel resolved is in its objects: the file an open installed in the fd table,
 * the executed file, the working directory (`task->fs->pwd`), a directory fd's file. Their
 * paths are rebuilt here from dentries and mounts (walk_path) and marked KPATH. A path-only
 * operation (unlink, rename, mkdir, ...) leaves no object behind: its path is the kernel's
 * base directory, rebuilt the same way, joined with the argument's text (TEXT), and userspace
 * flags the text that cannot be joined lexically (`..`, magic links). */
#ifndef ASSAY_PATHS_H
#define ASSAY_PATHS_H

/* Directory levels (and mount crossings) a path is rebuilt through. */
#define WALK_DEPTH 64

/* One walk, one bpf_loop step per directory level or mount crossing. The callback is a
 * subprogram, whose CO-RE relocations the loader does not apply: the field offsets it needs are
 * relocated in the calling program and passed here.
 * Each level costs two kernel reads: the dentry's parent, name length and name pointer in one
 * (`struct dentry` keeps `d_name` right after `d_parent`, checked on the relocated offsets;
 * three reads where it does not), then the name. A mount's root is read once, when the walk
 * enters the mount (on this host every read is a call through a retpoline). */
struct walk {
	void *d;      /* struct dentry * */
	void *m;      /* struct mount * */
	void *root;   /* the mount's root dentry (vfsmount's first field, `mnt_root`) */
	__u64 mnt_off, d_parent_off, d_len_off, d_name_off, mnt_parent_off, mountpoint_off;
	__u32 pos;    /* the path so far is at walkbuf[pos..] */
	__u32 status; /* 0 walking, 1 reached the root, 2 too long, 3 unreadable */
	__u32 packed; /* d_name.len at d_parent + 12 and d_name.name at d_parent + 16 */
};

/* `d_parent` and the `d_name` after it, as one read gets them. */
struct dentry_head {
	void *parent;
	__u32 hash;
	__u32 len;
	const unsigned char *name;
};

static __always_inline void *read_ptr(void *base, __u64 off)
{
	void *p = 0;
	bpf_probe_read_kernel(&p, sizeof(p), (char *)base + off);
	return p;
}

/* The dentry's parent, name length and name; nonzero when it cannot be read. */
static __always_inline int read_head(struct walk *w, struct dentry_head *h)
{
	if (w->packed)
		return bpf_probe_read_kernel(h, sizeof(*h), (char *)w->d + w->d_parent_off) ? 1 : 0;
	h->parent = read_ptr(w->d, w->d_parent_off);
	h->name = read_ptr(w->d, w->d_name_off);
	return bpf_probe_read_kernel(&h->len, sizeof(h->len), (char *)w->d + w->d_len_off) ? 1 : 0;
}

static long walk_step(__u32 i, void *ctx)
{
	struct walk *w = ctx;
	__u32 zero = 0;
	struct walk_area *a = bpf_map_lookup_elem(&walkbuf, &zero);
	struct dentry_head h = {};
	if (!a || read_head(w, &h) || !h.parent) {
		w->status = 3;
		return 1;
	}
	if (w->d == w->root || w->d == h.parent) {
		void *mp = read_ptr(w->m, w->mnt_parent_off);
		if (!mp || mp == w->m) {
			w->status = 1; /* the root of the mount namespace */
			return 1;
		}
		w->d = read_ptr(w->m, w->mountpoint_off);
		w->m = mp;
		w->root = read_ptr(mp, w->mnt_off);
		return 0;
	}
	__u32 len = h.len, pos = w->pos;
	if (len > 255 || len + 1 > pos) {
		w->status = 2;
		return 1;
	}
	pos -= len;
	if (bpf_probe_read_kernel(&a->buf[pos & (ASSAY_PATH_MAX - 1)], len & 255, h.name)) {
		w->status = 3;
		return 1;
	}
	pos -= 1;
	a->buf[pos & (ASSAY_PATH_MAX - 1)] = '/';
	w->pos = pos;
	w->d = h.parent;
	return 0;
}

/* Rebuilds the absolute path of `dentry` in the mount `vfsmnt` (a struct vfsmount *) into
 * the event's path slot `which` (0: data[0..], 1: data[ASSAY_PATH_MAX..]). Returns its length
 * (0 when it could not be rebuilt, with the slot's TRUNC or FAULT bit set). */
static __always_inline __u32 walk_path(struct event *e, int which, struct dentry *dentry,
				       void *vfsmnt)
{
	__u32 zero = 0;
	struct walk_area *a = bpf_map_lookup_elem(&walkbuf, &zero);
	__u32 trunc = which ? ST_TRUNC2 : ST_TRUNC1, fault = which ? ST_FAULT2 : ST_FAULT1;
	if (!a || !dentry || !vfsmnt) {
		e->h.status |= fault;
		return 0;
	}
	struct walk w = {};
	w.mnt_off = bpf_core_field_offset(struct mount, mnt);
	w.mnt_parent_off = bpf_core_field_offset(struct mount, mnt_parent);
	w.mountpoint_off = bpf_core_field_offset(struct mount, mnt_mountpoint);
	w.d_parent_off = bpf_core_field_offset(struct dentry, d_parent);
	w.d_len_off = bpf_core_field_offset(struct dentry, d_name.len);
	w.d_name_off = bpf_core_field_offset(struct dentry, d_name.name);
	w.packed = w.d_len_off == w.d_parent_off + 12 && w.d_name_off == w.d_parent_off + 16;
	w.d = dentry;
	w.m = (char *)vfsmnt - w.mnt_off;
	w.root = read_ptr(vfsmnt, 0); /* mnt_root */
	w.pos = ASSAY_PATH_MAX - 1;
	a->buf[ASSAY_PATH_MAX - 1] = 0;
	bpf_loop(WALK_DEPTH, walk_step, &w, 0);
	if (w.status != 1) {
		e->h.status |= w.status == 3 ? fault : trunc;
		return 0;
	}
	__u32 pos = w.pos;
	if (pos == ASSAY_PATH_MAX - 1) {
		pos -= 1;
		a->buf[pos & (ASSAY_PATH_MAX - 1)] = '/';
	}
	long n = bpf_probe_read_kernel_str(&e->data[which ? ASSAY_PATH_MAX : 0], ASSAY_PATH_MAX,
					   &a->buf[pos & (ASSAY_PATH_MAX - 1)]);
	if (n <= 1) {
		e->h.status |= fault;
		return 0;
	}
	return (__u32)(n - 1);
}

/* Whether a mount's namespace (`mnt_ns`) is none: a kernel-internal mount (memfds, pipes,
 * sockets, anonymous inodes; kern_mount() marks its mounts MNT_NS_INTERNAL, ERR_PTR(-EINVAL))
 * or a detached one (0): no path leads to a file there. */
static __always_inline int internal_ns(__u64 ns)
{
	return ns == 0 || ns >= (__u64)-4095;
}

/* The namespace of the mount `vfsmnt` (a struct vfsmount *) is in. */
static __always_inline __u64 mount_ns(void *vfsmnt)
{
	struct mount *m = (struct mount *)((char *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
	return (__u64)BPF_CORE_READ(m, mnt_ns);
}

/* Whether a file is on a kernel-internal mount (internal_ns). */
static __always_inline int internal_mount(struct file *f)
{
	return internal_ns(mount_ns(BPF_CORE_READ(f, f_path.mnt)));
}

/* The path the user opened for a backing file (`user_path` of `struct backing_file`: a file in
 * a container image's overlay, mapped from its layer), into `up`; 0 when `f` is none. Only an
 * overlay path on a mount of a namespace is taken, so bytes after a file that is not a backing
 * file never name one. */
static __always_inline int backing_user_path(struct file *f, struct path *up)
{
	if (!bpf_core_type_exists(struct backing_file))
		return 0;
	if (bpf_probe_read_kernel(up, sizeof(*up), (char *)f + bpf_core_type_size(struct file)))
		return 0;
	if (!up->dentry || !up->mnt)
		return 0;
	char fs[8] = {};
	bpf_probe_read_kernel_str(fs, sizeof(fs), BPF_CORE_READ(up->dentry, d_sb, s_type, name));
	if (__builtin_memcmp(fs, "overlay", 8))
		return 0;
	return !internal_ns(mount_ns(up->mnt));
}

/* Whether a mount namespace is another than the current process's. */
static __always_inline int foreign_ns(__u64 ns)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	return ns && ns != (__u64)BPF_CORE_READ(t, nsproxy, mnt_ns);
}

/* The name of a file on a kernel-internal mount, into `slot`: its dentry's (`memfd:NAME`, no
 * leading `/`: what the kernel calls it), or for a nameless one its filesystem's (`pipefs:`);
 * its length. */
static __always_inline __u32 internal_name(char *slot, struct file *f, struct dentry *d)
{
	long r = bpf_probe_read_kernel_str(slot, 256, BPF_CORE_READ(d, d_name.name));
	if (r <= 1) {
		/* a pipe, socket or anonymous inode: no name of its own (the kernel makes one up
		 * with its inode number), so its filesystem's: `pipefs:` */
		r = bpf_probe_read_kernel_str(slot, 64, BPF_CORE_READ(f, f_inode, i_sb, s_type, name));
		if (r > 1) {
			slot[(r - 1) & 63] = ':';
			r += 1;
		}
	}
	return r > 1 ? (__u32)(r - 1) : 0;
}

/* The path of an open file, into slot `which`, marked KPATH; for a file on a kernel-internal
 * mount, internal_name. The file's `f_path` is read once (one read for the mount and dentry). */
static __always_inline void file_path(struct event *e, int which, struct file *f)
{
	__u32 n = 0;
	struct path fp = {};
	if (f && bpf_core_read(&fp, sizeof(fp), &f->f_path))
		f = 0;
	__u64 ns = f ? mount_ns(fp.mnt) : 0;
	struct path up = {};
	if (f && internal_ns(ns) && backing_user_path(f, &up)) {
		n = walk_path(e, which, up.dentry, up.mnt);
	} else if (f && internal_ns(ns)) {
		n = internal_name(&e->data[which ? ASSAY_PATH_MAX : 0], f, fp.dentry);
	} else if (f) {
		n = walk_path(e, which, fp.dentry, fp.mnt);
		if (foreign_ns(ns))
			e->h.status |= ST_FOREIGN;
	}
	if (!f)
		e->h.status |= which ? ST_FAULT2 : ST_FAULT1;
	if (which) {
		e->h.len2 = (__u16)n;
		if (n)
			e->h.status |= ST_KPATH2;
	} else {
		e->h.len1 = (__u16)n;
		if (n)
			e->h.status |= ST_KPATH1;
	}
}

/* file_path as a global function (verified once): `file` is a struct file pointer. */
__noinline int file_path_of(struct event *e, int which, __u64 file)
{
	if (!e)
		return 0;
	if (which)
		file_path(e, 1, (struct file *)file);
	else
		file_path(e, 0, (struct file *)file);
	return 0;
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

/* The path of descriptor `fd`'s file into slot `which` (KPATH). */
static __always_inline void fd_path(struct event *e, int which, __u64 fd)
{
	file_path_of(e, which, (__u64)fd_file(fd));
}

/* Reads a user string into slot `which` at offset `off` within it (at most what is left of
 * the slot); returns its length without the NUL (0, with the slot's FAULT bit, when it cannot
 * be read; TRUNC when it fills the slot). */
static __always_inline __u32 read_user_at(struct event *e, int which, __u32 off, __u64 ptr)
{
	__u32 trunc = which ? ST_TRUNC2 : ST_TRUNC1, fault = which ? ST_FAULT2 : ST_FAULT1;
	if (!ptr) {
		e->h.status |= fault;
		return 0;
	}
	off &= ASSAY_PATH_MAX - 1;
	__u32 room = ASSAY_PATH_MAX - off;
	long n = bpf_probe_read_user_str(&e->data[(which ? ASSAY_PATH_MAX : 0) + off], room,
					 (const void *)ptr);
	if (n <= 0) {
		e->h.status |= fault;
		return 0;
	}
	if (n >= room)
		e->h.status |= trunc;
	return (__u32)(n - 1);
}

/* A path argument (`ptr`, relative to `dfd`) as the kernel resolves its base: an absolute
 * text as it is; a relative one joined to the directory the kernel used — the working
 * directory (`task->fs->pwd`) for AT_FDCWD, else the descriptor's file — rebuilt from its
 * dentries (TEXT; the base's length goes in the header's `ppid`, path 1 in the low 16 bits,
 * path 2 in the high 16, so userspace knows which components are text). An empty text
 * (AT_EMPTY_PATH, a null pointer of the f*-variants) names the descriptor itself (KPATH).
 * Sets the slot's length, and `*base_dentry` (when not null) to the base's dentry the walk used
 * (left as it was for an absolute or empty text). */
static __always_inline void resolve_at(struct event *e, int which, __s32 dfd, __u64 ptr,
				       __u64 *base_dentry)
{
	char first = 0;
	if (ptr)
		bpf_probe_read_user(&first, 1, (const void *)ptr);
	__u32 len = 0;
	if (first == '/') {
		len = read_user_at(e, which, 0, ptr);
	} else if (first == 0 && dfd != AT_FDCWD) {
		fd_path(e, which, (__u32)dfd);
		return;
	} else if (first == 0) {
		e->h.status |= which ? ST_FAULT2 : ST_FAULT1;
	} else {
		__u32 base;
		struct dentry *d = 0;
		if (dfd == AT_FDCWD) {
			struct task_struct *task = (struct task_struct *)bpf_get_current_task();
			struct fs_struct *fs = BPF_CORE_READ(task, fs);
			d = BPF_CORE_READ(fs, pwd.dentry);
			base = walk_path(e, which, d, BPF_CORE_READ(fs, pwd.mnt));
		} else {
			struct file *f = fd_file((__u32)dfd);
			d = f ? BPF_CORE_READ(f, f_path.dentry) : 0;
			base = f ? walk_path(e, which, d, BPF_CORE_READ(f, f_path.mnt)) : 0;
		}
		if (base_dentry)
			*base_dentry = (__u64)d;
		if (base && base < ASSAY_PATH_MAX - 2) {
			e->data[((which ? ASSAY_PATH_MAX : 0) + base) & (2 * ASSAY_PATH_MAX - 1)] = '/';
			__u32 n = read_user_at(e, which, base + 1, ptr);
			len = n ? base + 1 + n : 0;
			e->h.status |= which ? ST_TEXT2 : ST_TEXT1;
			e->h.ppid |= which ? base << 16 : base; /* where the text starts */
		} else {
			e->h.status |= which ? ST_TRUNC2 : ST_TRUNC1;
		}
	}
	if (which)
		e->h.len2 = (__u16)(len & (ASSAY_PATH_MAX - 1));
	else
		e->h.len1 = (__u16)(len & (ASSAY_PATH_MAX - 1));
}

/* resolve_at as a global function: the verifier checks its two copies (one per slot) once,
 * with unknown arguments, instead of once at every call site. `base_dentry` may be 0. */
__noinline int resolve_path(struct event *e, int which, __s32 dfd, __u64 ptr, __u64 *base_dentry)
{
	if (!e)
		return 0;
	if (which)
		resolve_at(e, 1, dfd, ptr, base_dentry);
	else
		resolve_at(e, 0, dfd, ptr, base_dentry);
	return 0;
}

/* The process's working directory into slot `which` (KPATH): where a chdir took it. */
static __always_inline void pwd_path(struct event *e, int which)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	__u32 n = walk_path(e, which, BPF_CORE_READ(fs, pwd.dentry), BPF_CORE_READ(fs, pwd.mnt));
	if (which) {
		e->h.len2 = (__u16)n;
		e->h.status |= n ? ST_KPATH2 : 0;
	} else {
		e->h.len1 = (__u16)n;
		e->h.status |= n ? ST_KPATH1 : 0;
	}
}

#endif

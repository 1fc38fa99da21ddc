/* Kernel types read with CO-RE: only the fields the programs read, marked
 * preserve_access_index; aya relocates them against the running kernel's BTF at load. */
#ifndef ASSAY_KERNEL_TYPES_H
#define ASSAY_KERNEL_TYPES_H

/* thread_info.status bit: the current syscall came through a 32-bit entry (int $0x80,
 * sysenter/syscall in compat mode); set from entry to the return to user mode. */
#define TS_COMPAT 0x0002

struct thread_info {
	__u32 status;
} __attribute__((preserve_access_index));

struct qstr {
	__u32 len;
	const unsigned char *name;
} __attribute__((preserve_access_index));

struct super_block;

struct dentry {
	struct qstr d_name;
	struct dentry *d_parent;
	struct super_block *d_sb;
} __attribute__((preserve_access_index));

/* A mount and where it is mounted. Its `struct vfsmount mnt` is embedded: a vfsmount's mount
 * is found by subtracting the (relocated) offset of `mnt`, and the mount's root dentry is
 * vfsmount's first field, `mnt_root` (so on every kernel since 2.6; the vfsmount type itself
 * does not relocate here). `mnt_ns` is MNT_NS_INTERNAL (an error pointer) for the kernel's
 * internal mounts (pipes, sockets, memfds, anonymous inodes), 0 for a detached mount: a file
 * there has no path anyone could open. */
struct mnt_embedded {
	int _unused;
};

struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct mnt_embedded mnt;
	void *mnt_ns;
} __attribute__((preserve_access_index));

struct path {
	void *mnt;
	struct dentry *dentry;
} __attribute__((preserve_access_index));

struct file_system_type {
	const char *name;
} __attribute__((preserve_access_index));

struct super_block {
	unsigned long s_magic;
	struct file_system_type *s_type;
} __attribute__((preserve_access_index));

struct inode {
	void *i_private;
	struct super_block *i_sb;
	unsigned short i_mode;
	unsigned int __i_nlink;
	__u32 i_rdev;
} __attribute__((preserve_access_index));

struct file {
	void *private_data;
	struct path f_path;
	struct inode *f_inode;
	unsigned int f_mode;
} __attribute__((preserve_access_index));

/* A file the kernel opened for a stacking filesystem (overlayfs maps a container image's files
 * from their layers through one, on a private mount): the file the user opened, `user_path`, is
 * the first member of the union that follows the embedded `struct file` (Linux 6.5+), read at
 * the relocated size of `struct file`. */
struct backing_file {
	struct file file;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

/* The working directory and root the kernel resolves the process's relative and absolute
 * paths against. */
struct fs_struct {
	struct path root;
	struct path pwd;
} __attribute__((preserve_access_index));

typedef struct {
	int counter;
} atomic_t;

struct mm_struct {
	atomic_t mm_users;
	unsigned long saved_auxv[2];
} __attribute__((preserve_access_index));

struct vm_area_struct {
	unsigned long vm_start;
	struct file *vm_file;
} __attribute__((preserve_access_index));

/* A pid's numbers, one `struct upid { int nr; ... }` per namespace from the root, are the
 * flexible array `numbers` that ends `struct pid`: [0], the initial namespace's (the number the
 * programs key processes by), is read at the relocated size of `struct pid` (pid_nr() below),
 * as a flexible array member has no CO-RE relocation of its own. */
struct pid {
	unsigned int level;
} __attribute__((preserve_access_index));

static __always_inline long pid_nr(struct pid *p)
{
	int nr = 0;
	if (!p || bpf_probe_read_kernel(&nr, sizeof(nr), (char *)p + bpf_core_type_size(struct pid)))
		return 0;
	return nr;
}

/* pids[PIDTYPE_PGID]: the process group. */
#define PIDTYPE_PGID 2
struct signal_struct {
	struct pid *pids[4];
} __attribute__((preserve_access_index));

struct nsproxy {
	void *mnt_ns;
} __attribute__((preserve_access_index));

struct task_struct {
	struct nsproxy *nsproxy;
	struct thread_info thread_info;
	struct signal_struct *signal;
	struct css_set *cgroups;
	int pid;
	int tgid;
	int exit_code;
	struct files_struct *files;
	struct fs_struct *fs;
	struct mm_struct *mm;
} __attribute__((preserve_access_index));

struct sock_common {
	__be32 skc_rcv_saddr;
	unsigned short skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

/* The parent node is `__parent` since Linux 6.15, `parent` before. */
struct kernfs_node {
	__u64 id;
	const char *name;
	struct kernfs_node *__parent;
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

struct cgroup_root;

struct cgroup {
	struct kernfs_node *kn;
	struct cgroup_root *root;
} __attribute__((preserve_access_index));

/* A task's css_set: `dfl_cgrp` is its cgroup on the cgroup2 hierarchy. */
struct css_set {
	struct cgroup *dfl_cgrp;
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

/* The bound address of a UNIX socket. `struct sockaddr_un name[]` follows `len` (2-byte
 * aligned, so at len + 4 on every kernel): read through that offset, as a flexible array
 * member has no CO-RE relocation of its own. */
struct unix_address {
	int len;
} __attribute__((preserve_access_index));

/* `path` is the socket file a bind made (the file a connect reached, on the peer). */
struct unix_sock {
	struct unix_address *addr;
	struct path path;
	struct sock *peer;
} __attribute__((preserve_access_index));

/* `fd` (in a union with the CQE flags) holds the SQE's descriptor from submission on. */
struct io_cqe {
	__s32 res;
	int fd;
} __attribute__((preserve_access_index));

/* A ring's registered (fixed) files, since Linux 6.13: `nodes[i]->file_ptr` is slot i's file
 * with flag bits in its low two bits. */
struct io_rsrc_node {
	unsigned long file_ptr;
} __attribute__((preserve_access_index));

struct io_rsrc_data {
	unsigned int nr;
	struct io_rsrc_node **nodes;
} __attribute__((preserve_access_index));

struct io_file_table {
	struct io_rsrc_data data;
} __attribute__((preserve_access_index));

struct io_ring_ctx {
	struct io_file_table file_table;
} __attribute__((preserve_access_index));

/* `flags` bit 0 is REQ_F_FIXED_FILE: `cqe.fd` is then an index into the ring's registered files.
 * `file` is the file the request was issued on (set at issue, still held at completion). */
struct io_kiocb {
	__u8 opcode;
	__u64 flags;
	struct io_cqe cqe;
	struct io_ring_ctx *ctx;
	struct file *file;
} __attribute__((preserve_access_index));

/* io_uring requests whose command data overlays the start of io_kiocb, with the paths prep
 * copied in. */
struct filename {
	const char *name;
} __attribute__((preserve_access_index));

struct open_how {
	__u64 flags;
} __attribute__((preserve_access_index));

/* `file_slot`: 0 for an open into the descriptor table, else a direct open into the ring's
 * registered files (slot + 1, or IORING_FILE_INDEX_ALLOC). */
struct io_open {
	int dfd;
	__u32 file_slot;
	struct filename *filename;
	struct open_how how;
} __attribute__((preserve_access_index));

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

/* At sched_process_exec: `file` is what the kernel loaded last (the interpreter of a script,
 * which was swapped in), `executable` the first file the exec opened (the script itself; since
 * Linux 5.9), `filename` the name execve was given, `interp` the name of the last file loaded
 * (a script's interpreter; the same pointer as `filename` for a binary). */
struct linux_binprm {
	struct file *executable;
	struct file *file;
	const char *filename;
	const char *interp;
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

#endif

/* Executions as the kernel made them: the file it loaded (not the name it was given), a
 * script's name beside its interpreter, the ELF program interpreter (the loader the kernel
 * mapped, whose code runs first), and files no name leads to (memfds, unlinked files). */
#ifndef ASSAY_EXEC_H
#define ASSAY_EXEC_H

/* Whether a file has no path anyone could open: unlinked (no links), or on a kernel-internal
 * mount (no mount namespace: memfds, pipes, anonymous inodes). */
static __always_inline int on_no_namespace(struct file *f)
{
	struct path up = {};
	return internal_mount(f) && !backing_user_path(f, &up);
}

static __always_inline int fileless(struct file *f)
{
	if (!f)
		return 0;
	if (BPF_CORE_READ(f, f_inode, __i_nlink) == 0)
		return 1;
	return on_no_namespace(f);
}

#define RUNC_MEMFD "memfd:runc_cloned"
#define RUNC_BINARY "runc"

/* Whether the NUL-terminated `name` starts with the literal `lit`. */
#define NAME_HAS_PREFIX(name, lit)                                  \
	({                                                          \
		int ok_ = 1;                                        \
		for (int i_ = 0; i_ < (int)sizeof(lit) - 1; i_++)   \
			if ((name)[i_] != (lit)[i_])                \
				ok_ = 0;                            \
		ok_;                                                \
	})

/* Whether a container runtime's exec below the session is runc's re-exec of itself, not the
 * container's program: before it sets a container up, runc's init executes a clone of its own
 * binary — a memfd named `runc_cloned:...`, or its binary bind-mounted and the mount detached at
 * once. Only that shape is exempt: no interpreter took part (a `#!` line or a binfmt_misc
 * handler, which may sit on a detached mount, as qemu's do), the file is on no mount namespace,
 * and it is named as runc names its clone. Any other exec starts the container's program. */
static __always_inline int runtime_reexec(struct linux_binprm *bprm)
{
	struct file *f = BPF_CORE_READ(bprm, file);
	if (!f || BPF_CORE_READ(bprm, interp) != BPF_CORE_READ(bprm, filename))
		return 0;
	if (!on_no_namespace(f))
		return 0;
	char name[24] = {};
	bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(f, f_path.dentry, d_name.name));
	if (NAME_HAS_PREFIX(name, RUNC_MEMFD))
		return 1;
	return NAME_HAS_PREFIX(name, RUNC_BINARY) && name[sizeof(RUNC_BINARY) - 1] == 0;
}

/* AT_BASE: the program interpreter's load address in the auxiliary vector. */
#define AT_BASE 7
#define AUXV_PAIRS 28

struct vma_file {
	__u64 vm_file_off;
	void *file;
};

/* bpf_find_vma callback: no CO-RE here, the offset comes from the caller. */
static long loader_vma(struct task_struct *task, struct vm_area_struct *vma, void *ctx)
{
	struct vma_file *v = ctx;
	bpf_probe_read_kernel(&v->file, sizeof(v->file), (char *)vma + v->vm_file_off);
	return 0;
}

/* The file of the new program's ELF interpreter (`PT_INTERP`, e.g. ld-linux), which the kernel
 * mapped at AT_BASE; 0 for a static program. */
static __always_inline struct file *elf_loader(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	__u32 zero = 0;
	/* the walk's work area holds the vector for this scan (walks come after) */
	struct walk_area *a = bpf_map_lookup_elem(&walkbuf, &zero);
	if (!mm || !a)
		return 0;
	__u64 *auxv = (__u64 *)a->buf;
	if (bpf_probe_read_kernel(auxv, 2 * AUXV_PAIRS * sizeof(__u64),
				  (char *)mm + bpf_core_field_offset(struct mm_struct, saved_auxv)))
		return 0;
	__u64 base = 0;
#pragma unroll
	for (int i = 0; i < AUXV_PAIRS; i++) {
		if (auxv[2 * i] == 0)
			break;
		if (auxv[2 * i] == AT_BASE) {
			base = auxv[2 * i + 1];
			break;
		}
	}
	if (!base)
		return 0;
	struct vma_file v = {.vm_file_off = bpf_core_field_offset(struct vm_area_struct, vm_file)};
	bpf_find_vma(bpf_get_current_task_btf(), base, loader_vma, &v, 0);
	return v.file;
}

#endif

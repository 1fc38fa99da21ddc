/* Who belongs to the session, and the event header every program starts from. */
#ifndef ASSAY_SESSION_H
#define ASSAY_SESSION_H

/* The session cgroup's id and its level in the cgroup2 hierarchy (the root is 0). Each run
 * loads its own object with these, so the verifier sees constants and the filter is one
 * compare for a process of the session cgroup itself. */
const volatile __u64 session_cgid = 0;
const volatile __u32 session_level = 0;

/* 0: not ours; 1: in the session cgroup; 4: in a cgroup below it (containers the run created
 * are placed there) and followed; 2: followed by pid tree outside the session cgroup (an
 * escape). (new_event also takes MEMBER_HOOK, for programs attached to the session cgroup
 * itself.)
 *
 * A process below the session cgroup that is not followed is a container runtime setting a
 * container up (runc's init joins the container's cgroup, mounts its filesystems, then execs
 * the container's program): not the run's work, it is not observed until that exec, which
 * follows it (on_exec, `setup_exec`). Whatever the run's own processes do stays observed
 * wherever they move: they are followed from their fork. */
#define MEMBER_HOOK 3
#define MEMBER_BELOW 4
static __always_inline int session_member(void)
{
	if (bpf_get_current_cgroup_id() == session_cgid)
		return 1;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	int followed = bpf_map_lookup_elem(&tracked, &tgid) != 0;
	if (session_level && bpf_get_current_ancestor_cgroup_id(session_level) == session_cgid)
		return followed ? MEMBER_BELOW : 0;
	return followed ? 2 : 0;
}

/* Whether the current process is a container runtime's, below the session cgroup and not
 * followed: its exec starts the container's program, which is the run's. */
static __always_inline int setup_exec(void)
{
	return session_level && bpf_get_current_ancestor_cgroup_id(session_level) == session_cgid;
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

/* Where path 2 starts in a record: right after path 1 when both fit in one path's room, else at
 * ASSAY_PATH_MAX, where it was built (userspace applies the same rule: crates/kernel/src/event.rs). */
static __always_inline __u32 path2_offset(__u32 len1, __u32 len2)
{
	return len1 + len2 <= ASSAY_PATH_MAX ? len1 : ASSAY_PATH_MAX;
}

/* Moves path 2 (built at ASSAY_PATH_MAX) next to path 1, so a record carries only the bytes
 * used: an event with two short paths is not 4 KiB on the ring. */
static __always_inline void pack_paths(struct event *e)
{
	__u32 len1 = e->h.len1 & (ASSAY_PATH_MAX - 1), len2 = e->h.len2 & (ASSAY_PATH_MAX - 1);
	if (!len2 || path2_offset(len1, len2) != len1)
		return;
	/* no overlap: len1 + len2 <= ASSAY_PATH_MAX */
	bpf_probe_read_kernel(&e->data[len1], len2, &e->data[ASSAY_PATH_MAX]);
}

static __always_inline __u64 event_size(struct event *e)
{
	__u32 len1 = e->h.len1 & (ASSAY_PATH_MAX - 1), len2 = e->h.len2 & (ASSAY_PATH_MAX - 1);
	if (len2)
		return sizeof(struct event_hdr) + path2_offset(len1, len2) + len2;
	return sizeof(struct event_hdr) + len1;
}

#endif

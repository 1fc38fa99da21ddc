/* The maps every program shares and the exact counters. */
#ifndef ASSAY_MAPS_H
#define ASSAY_MAPS_H

/* The record programs build an event in: the wire header and both paths, plus one path of
 * slack so a path can be appended at any offset below ASSAY_PATH_MAX and the verifier can
 * prove the write in bounds (only ASSAY_HDR_SIZE + the used bytes reach the ring). */
struct event {
	struct event_hdr h;
	char data[ASSAY_DATA_MAX + ASSAY_PATH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
} events SEC(".maps");

/* Processes of the session followed by pid tree (tgid), from fork and exec until the last
 * thread of the process exits. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} tracked SEC(".maps");

/* Per-CPU event scratch for the tracepoint programs that write to the ring directly
 * (io_uring completions). Tracepoint programs run with preemption off and do not nest on a
 * CPU; programs that may be preempted (the cgroup sock_addr hooks) build their record in a
 * ring reservation instead. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event);
} scratch SEC(".maps");

/* Per-CPU work area of the dentry walk (paths.h), written backwards from the end of its first
 * ASSAY_PATH_MAX bytes (the rest is slack for the verifier: a name of up to 255 bytes written
 * at any offset below ASSAY_PATH_MAX stays in bounds). */
struct walk_area {
	char buf[ASSAY_PATH_MAX + 256];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct walk_area);
} walkbuf SEC(".maps");

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

/* A per-CPU counter, from a program that runs with preemption off (tracepoints). */
static __always_inline void bump(void *map, __u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(map, &slot);
	if (v)
		*v += 1; /* per-CPU slot, no other writer while preemption is off */
}

/* A per-CPU counter, from a program that may be preempted or interrupted (cgroup hooks,
 * packets): an atomic add, so a preempting program on the same CPU loses no count. */
static __always_inline void bump_atomic(void *map, __u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(map, &slot);
	if (v)
		__sync_fetch_and_add(v, 1);
}

/* The reader is woken once this many bytes are pending (it also polls every 50 ms); set at
 * load, at most a quarter of the ring. */
const volatile __u64 wakeup_bytes = 65536;

/* The reader's wakeup rule, for every record: wake it once wakeup_bytes are pending with this
 * one. */
static __always_inline __u64 wakeup_flag(__u64 size)
{
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	return avail + size >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

#endif

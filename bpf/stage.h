/* Where events are built and how they reach the ring: staged per CPU and handed over in
 * batches (the tracepoint programs), or directly. */
#ifndef ASSAY_STAGE_H
#define ASSAY_STAGE_H

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
	pack_paths(e);
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
	pack_paths(e);
	__u64 size = event_size(e);
	bump(&attempts, slot);
	if (bpf_ringbuf_output(&events, e, size, wakeup_flag(size)))
		bump(&drops, slot);
}

#endif

/* Shared between bpf/observe.bpf.c and crates/kernel/src/event.rs (which mirrors it and tests the
 * layout numbers below). Only the event record and its constants live here. */
#ifndef ASSAY_EVENTS_H
#define ASSAY_EVENTS_H

#define ASSAY_PATH_MAX 4096
#define ASSAY_DATA_MAX (2 * ASSAY_PATH_MAX)
#define ASSAY_SOCKADDR_MAX 128

/* event kinds */
#define EV_EXEC 1
#define EV_FORK 2
#define EV_EXIT 3
#define EV_SYSCALL 4
#define EV_NET 5       /* socket addresses seen at the session cgroup's hooks (or at listen) */
#define EV_PAYLOAD 6   /* the start of a packet's payload seen at the session cgroup's cgroup_skb hooks */
#define EV_CGROUP 7    /* a cgroup made below the session's (cgid: its id; path 1: its name) */
/* A ring record that is a batch of events staged on one CPU: a struct batch_hdr, then `count`
 * events, each starting 8-byte aligned (an event's size is ASSAY_HDR_SIZE + len1, or
 * ASSAY_HDR_SIZE + ASSAY_PATH_MAX + len2 when it has a second path). Any other record is one
 * event. */
#define EV_BATCH 15

/* syscall operations (event.op when kind == EV_SYSCALL) */
#define OP_OPEN 1
#define OP_UNLINK 2
#define OP_RMDIR 3
#define OP_RENAME 4
#define OP_MKDIR 5
#define OP_CHDIR 6
#define OP_FCHDIR 7
#define OP_CONNECT 8
#define OP_LINK 9
#define OP_SYMLINK 10
/* metadata and size changes of an existing file, each a write of its target: path 1 (or, with
 * no path, the descriptor in dfd1 itself: fchmod, fchown, fsetxattr, fremovexattr,
 * utimensat(fd, NULL), AT_EMPTY_PATH) */
#define OP_TRUNCATE 11 /* truncate(path) */
#define OP_CHMOD 12    /* chmod, fchmod, fchmodat, fchmodat2 */
#define OP_CHOWN 13    /* chown, lchown, fchown, fchownat */
#define OP_UTIMES 14   /* utime, utimes, futimesat, utimensat */
#define OP_XATTR 15    /* setxattr, lsetxattr, fsetxattr, setxattrat and the removexattr family */
#define OP_MKNOD 16    /* mknod, mknodat: a new FIFO, socket, device or file; flags is the mode */
#define OP_COUNT 16

/* network operations (event.op when kind == EV_NET); data holds a sockaddr_in/_in6 and
 * event.flags the socket's IP protocol number */
#define NET_CONNECT 1  /* cgroup/connect4|6: TCP or UDP connect attempt, the destination */
#define NET_SEND 2     /* cgroup/sendmsg4|6: one UDP datagram with an explicit destination */
#define NET_BIND 3     /* cgroup/bind4|6: bind attempt, the requested local address */
#define NET_LISTEN 4   /* listen(2) on an INET socket, its local address */
/* UNIX addresses, read at a successful syscall's exit (flags 0, data a sockaddr_un): NET_SEND
 * for sendto/sendmsg to a UNIX path or name, NET_BIND for a bind, NET_LISTEN for a listen */

/* payload operations (event.op when kind == EV_PAYLOAD). The event belongs to no process
 * (packets are handled in softirq context): pid and tid are 0. data holds the remote address
 * (a sockaddr_in/_in6 in ASSAY_SOCKADDR_SLOT bytes), the local address (same), then at most
 * ASSAY_PAYLOAD_MAX payload bytes; event.flags is the IP protocol, event.ret the payload's full
 * length in the packet. Parsed in userspace (src/layers/names/). */
#define PAY_DNS 1      /* cgroup_skb/ingress: a UDP datagram from port 53 (a DNS answer) */
#define PAY_TLS 2      /* cgroup_skb/egress: a TCP segment starting a TLS ClientHello record */
#define PAY_DNS_QUERY 3 /* cgroup_skb/egress: a UDP datagram to port 53 (a DNS query the run made) */
#define ASSAY_SOCKADDR_SLOT 28
#define ASSAY_PAYLOAD_OFF 56
#define ASSAY_PAYLOAD_MAX 512

/* event.status bits */
#define ST_ESCAPED 1   /* emitted for a process followed by pid tree outside the session cgroup */
#define ST_TRUNC1 2    /* first path filled the buffer: possibly truncated */
#define ST_TRUNC2 4
#define ST_FAULT1 8    /* reading the first path from user memory failed */
#define ST_FAULT2 16
/* How a path was made. KPATH: the path of the file or directory the kernel resolved (the file an
 * open installed, the executed file, the working directory after chdir, a UNIX socket's file),
 * rebuilt from its dentries and mounts: exact. TEXT: the directory the kernel resolves against
 * (the dirfd's or the working directory, rebuilt the same way) joined with the argument's text
 * as the process's memory held it at exit (a path-only operation: unlink, rename, mkdir, ...).
 * Neither: the argument's text alone (an absolute path). */
#define ST_KPATH1 32
#define ST_KPATH2 64
#define ST_TEXT1 128
#define ST_TEXT2 256
/* exec: a script (or binfmt_misc) was run: path 1 is its interpreter (what was loaded), path 2
 * the script as named (TEXT2), which the kernel read */
#define ST_SCRIPT 512
/* exec: the file has no name anyone can open (a memfd, an unlinked file, a kernel-internal
 * mount): what ran is not identified by a path */
#define ST_FILELESS 1024
/* exec: not a new program but the ELF program interpreter (PT_INTERP) the kernel mapped for the
 * one just executed: its code runs first */
#define ST_LOADER 2048
/* a path-only syscall's text (or its base directory) at exit is not what it was at entry, or
 * could not be compared (texts.h): the path may not be the one the kernel used */
#define ST_UNSTABLE 4096
/* cgroup: made by a process of the run (in the session or followed), not by a container
 * runtime; `flags` then holds the cgroup id its maker was in */
#define ST_BY_RUN 8192
/* an open or executed file on a mount of another mount namespace than the process's own (a path
 * through /proc/PID/root, a descriptor passed from another namespace): its path, rebuilt to that
 * namespace's root, names a file there, not where the process lives */
#define ST_FOREIGN 16384

/* slots for per-CPU attempt/drop counters: one per emitting program family */
#define PROG_EXEC 0
#define PROG_FORK 1
#define PROG_EXIT 2
#define PROG_SYSCALL 3 /* syscall exits: slot PROG_SYSCALL + op - 1, one per OP_* */
#define PROG_NET 19    /* network events: slot PROG_NET + op - 1, one per NET_* */
#define PROG_TRACK 23  /* not an emitter: failed insertions into the pid-tree map */
#define PROG_PAYLOAD 24 /* payload events: slot PROG_PAYLOAD + op - 1, one per PAY_* */
#define PROG_CGROUP 27 /* cgroups made below the session's */
#define PROG_SLOTS 28

/* Channels the probes do not observe yet (docs/kernel.md, "Channels"): successful uses by the
 * session are counted per slot (per CPU, exact) and make the kernel layer partial_blind_spot. */
#define BLIND_SENDTO 0      /* sendto with an INET destination not seen by sendmsg4|6 */
#define BLIND_SENDMSG 1     /* sendmsg with such a destination */
#define BLIND_SENDMMSG 2    /* sendmmsg with such a destination in one of its messages, or more
			     * messages than the probe inspects (SENDMMSG_INSPECT) */
#define BLIND_BIND 3        /* bind to an INET address not seen by bind4|6 */
#define BLIND_LISTEN 4      /* listen on a socket that is not INET/INET6/UNIX */
#define BLIND_IO_URING_PATH 5 /* an io_uring path operation that could not be kept until its completion */
#define BLIND_RAW_SOCKET 6  /* socket(AF_PACKET, ...) or SOCK_RAW */
#define BLIND_MOUNT 7       /* mount, umount2, chroot, pivot_root, open_tree, move_mount, fsmount,
			     * setns (paths after them may resolve elsewhere) */
#define BLIND_PTRACE 8      /* ptrace, process_vm_writev, process_vm_readv */
#define BLIND_FD_PASSING 9 /* a descriptor of a file, directory or device, or a socket made
			     * outside the session, received from another process (SCM_RIGHTS,
			     * pidfd_getfd): its open (its socket) was not the session's */
#define BLIND_BPF 10        /* bpf(2): the observer's own kind of program and maps */
#define BLIND_KERNEL_MODULE 11 /* init_module, finit_module, delete_module */
#define BLIND_COMPAT 12     /* a syscall through the ia32 (int $0x80) or x32 ABI: not decoded */
#define BLIND_FANOTIFY 13   /* fanotify_init: the kernel opens files for the listener */
#define BLIND_CORE_DUMP 14  /* a process of the session dumped core: the kernel wrote the file */
#define BLIND_TUN 15        /* /dev/net/tun opened: packets written there bypass the hooks */
#define BLIND_SIGNAL 16     /* a signal that may reach a process outside the session (kill, tgkill,
			     * tkill, rt_(tg)sigqueueinfo, pidfd_send_signal; signal 0 excluded) */
#define BLIND_SLOTS 17

/* The largest batch a CPU stages before handing it to the ring (a power of two; the flush
 * threshold `stage_bytes` is set at load, at most this). */
#define STAGE_MAX 65536

/* io_uring submissions by the session, counted per opcode (per CPU, exact); opcodes at or
 * above URING_OPS - 1 share the last slot */
#define URING_OPS 64

struct event_hdr {
	unsigned int kind;
	unsigned int op;
	unsigned int pid;      /* tgid, init namespace */
	unsigned int tid;
	unsigned long long ts; /* CLOCK_MONOTONIC ns */
	unsigned long long cgid;
	long long ret;         /* syscall result, exit status, fork: child tgid */
	unsigned long long flags;
	int dfd1;
	int dfd2;
	unsigned int ppid;     /* fork: parent tgid */
	unsigned int status;   /* ST_* bits */
	unsigned short len1;   /* bytes of path 1 at data[0], without NUL */
	unsigned short len2;   /* bytes of path 2 at data[ASSAY_PATH_MAX], without NUL */
	unsigned int _pad;
};

struct batch_hdr {
	unsigned int kind;     /* EV_BATCH */
	unsigned int count;    /* events that follow */
};

#define ASSAY_HDR_SIZE 72
#define ASSAY_BATCH_HDR_SIZE 8
#define ASSAY_OFF_TS 16
#define ASSAY_OFF_RET 32
#define ASSAY_OFF_DFD1 48
#define ASSAY_OFF_LEN1 64

#endif

/* x86-64 syscall numbers, from the kernel's own UAPI header (linux-libc-dev), and the few
 * newer than the headers of the oldest supported build host, each with its number as the
 * kernel defines it. Compat (ia32, int $0x80) and x32 calls use other numbers: the dispatch
 * never decodes them, it counts them as a blind channel (see blind.h). */
#ifndef ASSAY_SYSCALLS_H
#define ASSAY_SYSCALLS_H

#include <asm/unistd_64.h>

#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452 /* Linux 6.6 */
#endif
#ifndef __NR_setxattrat
#define __NR_setxattrat 463 /* Linux 6.13 */
#endif
#ifndef __NR_removexattrat
#define __NR_removexattrat 466 /* Linux 6.13 */
#endif

/* The x32 ABI's calls: the x86-64 table with this bit set in the number. */
#define X32_SYSCALL_BIT 0x40000000

#define AT_FDCWD -100
/* An OP_OPEN event's dfd2 when the kernel holds the file without a descriptor (acct) */
#define DFD_NONE -2
#define AT_REMOVEDIR 0x200

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define AF_PACKET 17
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define SOCK_RAW 3
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ICMPV6 58
#define IPPROTO_UDPLITE 136

#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define S_IFCHR 0020000
#define S_IFIFO 0010000
#define SOL_SOCKET 1
#define SCM_RIGHTS 1

/* open flags for events the kernel's own writes make (accounting), and for registered files
 * an io_uring uses (their mode) */
#define O_RDONLY 00
#define O_WRONLY 01
#define O_RDWR 02
#define O_CREAT 0100
#define O_APPEND 02000

/* /dev/net/tun: a character device 10:200 (new_encode_dev); writes through it inject packets
 * into an interface, past the cgroup's hooks */
#define TUN_RDEV ((10 << 20) | 200)

#endif

// What Swift cannot call or import directly, one reason per function. Two Swift modules use this shim and
// no other: MSSQueue (the NFQUEUE socket's C calls) and MSSSystem (the system calls Swift cannot make).
// Everything else calls them through those two modules.
#ifndef CMSSCLAMP_SHIM_H
#define CMSSCLAMP_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
// The PR_* numbers, so MSSSystem names them instead of copying them (plain macros, which Swift imports).
#include <linux/prctl.h>

struct iovec;

// MARK: MSSQueue (QueueSocket)

/// A batch of receive slots for recvmmsg: `count` buffers of `slot_size` bytes each, contiguous.
typedef struct CMSSClampShim_ReceiveBatch CMSSClampShim_ReceiveBatch;

/// Allocates the mmsghdr/iovec arrays for `count` slots over `buffer` (count * slot_size bytes): glibc
/// declares struct mmsghdr only under _GNU_SOURCE, which Swift's Glibc import does not define.
CMSSClampShim_ReceiveBatch *CMSSClampShim_batch_create(void *buffer, size_t slot_size, unsigned count);
void CMSSClampShim_batch_destroy(CMSSClampShim_ReceiveBatch *batch);

/// recvmmsg with MSG_WAITFORONE (recvmmsg needs _GNU_SOURCE): blocks for the first datagram (up to the
/// socket's receive timeout), then takes what is queued without blocking. Returns the number received or -1
/// with errno.
int CMSSClampShim_batch_receive(int fd, CMSSClampShim_ReceiveBatch *batch);

/// Bytes received in slot `index` of the last receive: a field of struct mmsghdr, which Swift cannot see.
size_t CMSSClampShim_batch_length(const CMSSClampShim_ReceiveBatch *batch, unsigned index);

/// send() as a plain function the SyscallTable can hold; returns bytes sent or -1 with errno (the Swift
/// caller retries EINTR).
ssize_t CMSSClampShim_send(int fd, const void *buffer, size_t length);

// MARK: MSSQueue (QueueSocket) and MSSSystem (NetlinkSubscription)

/// setsockopt for an int value, for the option numbers below that only C can name; returns 0 or -1 with
/// errno.
int CMSSClampShim_setsockopt_int(int fd, int level, int name, int value);

/// Socket option numbers that are macros in headers Swift's Glibc does not bring (linux/netlink.h) or
/// declares only under _GNU_SOURCE.
int CMSSClampShim_SOL_NETLINK(void);
int CMSSClampShim_NETLINK_NO_ENOBUFS(void);
int CMSSClampShim_SO_RCVBUFFORCE(void);
int CMSSClampShim_SO_SNDBUFFORCE(void);

// MARK: MSSSystem

/// The uid and gid of the process at the other end of a Unix socket (SO_PEERCRED's struct ucred needs
/// _GNU_SOURCE, which Swift's Glibc import does not define). Used by MSSSystem.PeerCredentials. Returns 0 on
/// success, -1 with errno set.
int CMSSClampShim_peer_credentials(int fd, unsigned *uid, unsigned *gid);

/// A netlink socket of `protocol` bound to the multicast `groups` (struct sockaddr_nl is in linux/netlink.h,
/// which Swift's Glibc does not bring). Used by MSSSystem.NetlinkSubscription. Returns the fd or -1 with
/// errno.
int CMSSClampShim_netlink_subscribe(int protocol, unsigned groups);

/// accept4 with SOCK_CLOEXEC | SOCK_NONBLOCK (accept4 needs _GNU_SOURCE): the connection can never leak into
/// a child started by another thread at the same moment. Used by MSSSystem.acceptConnection. Returns the fd
/// or -1 with errno.
int CMSSClampShim_accept(int fd);

/// prctl with its five arguments: glibc declares prctl variadic, and Swift cannot call a variadic C
/// function. Used by MSSSystem.CapabilityDrop. Returns prctl's result, -1 with errno on failure.
int CMSSClampShim_prctl(int option, unsigned long argument2, unsigned long argument3, unsigned long argument4,
                        unsigned long argument5);

/// capset(2) for the calling thread with _LINUX_CAPABILITY_VERSION_3 (64-bit masks): it has no glibc
/// wrapper (libcap is not a dependency) and `syscall` is variadic. Used by MSSSystem.CapabilityDrop.
/// Returns 0, or -1 with errno.
int CMSSClampShim_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable);

// MARK: MSSSystem, for `mssclamp bench` and `mssclamp lab`

/// setns(fd, CLONE_NEWNET) (setns needs _GNU_SOURCE): moves the calling thread into the network namespace
/// `fd` names. Used by MSSSystem.NetworkNamespace. Returns 0, or -1 with errno.
int CMSSClampShim_enter_network_namespace(int fd);

/// An AF_PACKET SOCK_RAW socket bound to `interface` (struct sockaddr_ll is in linux/if_packet.h, which
/// Swift's Glibc does not bring), sending nothing but what it is given, receiving nothing
/// (protocol 0). Used by MSSSystem.FrameSender. Returns the fd or -1 with errno.
int CMSSClampShim_packet_socket(const char *interface);

/// Sends `count` (at most 1024) frames of `length` bytes each, contiguous in `frames`, with one sendmmsg
/// call (which needs _GNU_SOURCE). Returns how many were sent, or -1 with errno.
int CMSSClampShim_send_frames(int fd, const void *frames, size_t length, unsigned count);

/// Keeps the calling thread on the CPUs whose bits are set in `mask` (CPUs 0-63; sched_setaffinity with a
/// cpu_set_t, whose CPU_* macros Swift cannot import). Used by MSSSystem.ThreadAffinity. Returns 0, or -1
/// with errno.
int CMSSClampShim_set_thread_cpus(uint64_t mask);
#endif

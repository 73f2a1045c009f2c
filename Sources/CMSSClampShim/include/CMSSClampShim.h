// What Swift cannot import directly: recvmmsg and struct mmsghdr (glibc declares them only under
// _GNU_SOURCE), netlink and nfnetlink constants that are macros, and layout checks.
#ifndef CMSSCLAMP_SHIM_H
#define CMSSCLAMP_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct iovec;

/// A batch of receive slots for recvmmsg: `count` buffers of `slot_size` bytes each, contiguous.
typedef struct CMSSClampShim_ReceiveBatch CMSSClampShim_ReceiveBatch;

/// Allocates the mmsghdr/iovec arrays for `count` slots over `buffer` (count * slot_size bytes).
CMSSClampShim_ReceiveBatch *CMSSClampShim_batch_create(void *buffer, size_t slot_size, unsigned count);
void CMSSClampShim_batch_destroy(CMSSClampShim_ReceiveBatch *batch);

/// recvmmsg with MSG_WAITFORONE: blocks for the first datagram (up to the socket's receive timeout), then
/// takes what is queued without blocking. Returns the number received or -1 with errno.
int CMSSClampShim_batch_receive(int fd, CMSSClampShim_ReceiveBatch *batch);

/// Bytes received in slot `index` of the last receive, and whether the kernel cut the datagram (MSG_TRUNC).
size_t CMSSClampShim_batch_length(const CMSSClampShim_ReceiveBatch *batch, unsigned index);
int CMSSClampShim_batch_truncated(const CMSSClampShim_ReceiveBatch *batch, unsigned index);

/// send(); returns bytes sent or -1 with errno (the Swift caller retries EINTR).
ssize_t CMSSClampShim_send(int fd, const void *buffer, size_t length);

/// setsockopt for an int value; returns 0 or -1 with errno.
int CMSSClampShim_setsockopt_int(int fd, int level, int name, int value);

/// Socket option numbers that are macros in the kernel headers.
int CMSSClampShim_SOL_NETLINK(void);
int CMSSClampShim_NETLINK_NO_ENOBUFS(void);
int CMSSClampShim_SO_RCVBUFFORCE(void);
int CMSSClampShim_SO_SNDBUFFORCE(void);

/// Netlink message types built from macros: (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_*.
uint16_t CMSSClampShim_nfqueue_packet_type(void);
uint16_t CMSSClampShim_nfqueue_verdict_type(void);


/// The uid of the process at the other end of a Unix socket (SO_PEERCRED's struct ucred needs _GNU_SOURCE,
/// which Swift's Glibc import does not define). Returns 0 on success, -1 with errno set.
int CMSSClampShim_peer_credentials(int fd, unsigned *uid, unsigned *gid);

/// A netlink socket of `protocol` bound to the multicast `groups` (struct sockaddr_nl is in
/// linux/netlink.h, which Swift's Glibc does not bring). Returns the fd or -1 with errno.
int CMSSClampShim_netlink_subscribe(int protocol, unsigned groups);

/// accept4 with SOCK_CLOEXEC | SOCK_NONBLOCK (accept4 needs _GNU_SOURCE): the connection can never leak
/// into a child started by another thread at the same moment. Returns the fd or -1 with errno.
int CMSSClampShim_accept(int fd);

/// Drops every capability not in `keep` (a mask of capability bits, CAP_NET_ADMIN at least) for good: the
/// bounding set, then (with change_user) the identity (keeping capabilities across setuid), then
/// permitted/effective/inheritable, and finally raises the kept ones as ambient so the iptables/nft tools
/// the daemon runs keep them. The capability syscalls have no glibc wrappers (libcap is not a
/// dependency). Without CAP_SETPCAP (a daemon started with exactly CAP_NET_ADMIN) the bounding set cannot
/// be changed and is left as it is; *bounding_kept then says so. Returns 0, or -1 with errno set and *step
/// naming the call that failed.
int CMSSClampShim_drop_capabilities(unsigned long long keep, int change_user, unsigned uid, unsigned gid,
                                    const char **step, int *bounding_kept);
#endif

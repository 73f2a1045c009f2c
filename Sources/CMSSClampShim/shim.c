#define _GNU_SOURCE
#include "CMSSClampShim.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>

// The Swift side hard-codes these layouts and values; fail the build if the kernel headers disagree.
_Static_assert(sizeof(struct nlmsghdr) == 16, "nlmsghdr is 16 bytes");
_Static_assert(sizeof(struct nfgenmsg) == 4, "nfgenmsg is 4 bytes");
_Static_assert(sizeof(struct nlattr) == 4, "nlattr is 4 bytes");
_Static_assert(sizeof(struct nfqnl_msg_packet_hdr) == 7, "nfqnl_msg_packet_hdr is packed, 7 bytes");
_Static_assert(sizeof(struct nfqnl_msg_verdict_hdr) == 8, "nfqnl_msg_verdict_hdr is 8 bytes");
_Static_assert(NFQA_PACKET_HDR == 1 && NFQA_VERDICT_HDR == 2 && NFQA_MARK == 3, "attribute numbers");
_Static_assert(NFQA_IFINDEX_INDEV == 5 && NFQA_IFINDEX_OUTDEV == 6, "attribute numbers");
_Static_assert(NFQA_PAYLOAD == 10 && NFQA_CAP_LEN == 13 && NFQA_SKB_INFO == 14, "attribute numbers");
_Static_assert(NFQA_SKB_CSUMNOTREADY == 1 && NFQA_SKB_GSO == 2, "skb info flags");
_Static_assert(NLMSG_ERROR == 2 && NLMSG_DONE == 3, "netlink control types");
_Static_assert((NLA_TYPE_MASK & 0xffff) == 0x3fff, "attribute type mask");

struct CMSSClampShim_ReceiveBatch {
    unsigned count;
    struct mmsghdr *headers;
    struct iovec *vectors;
};

CMSSClampShim_ReceiveBatch *CMSSClampShim_batch_create(void *buffer, size_t slot_size, unsigned count) {
    CMSSClampShim_ReceiveBatch *batch = calloc(1, sizeof *batch);
    if (!batch) return NULL;
    batch->count = count;
    batch->headers = calloc(count, sizeof *batch->headers);
    batch->vectors = calloc(count, sizeof *batch->vectors);
    if (!batch->headers || !batch->vectors) {
        CMSSClampShim_batch_destroy(batch);
        return NULL;
    }
    for (unsigned i = 0; i < count; i++) {
        batch->vectors[i].iov_base = (char *)buffer + (size_t)i * slot_size;
        batch->vectors[i].iov_len = slot_size;
        batch->headers[i].msg_hdr.msg_iov = &batch->vectors[i];
        batch->headers[i].msg_hdr.msg_iovlen = 1;
    }
    return batch;
}

void CMSSClampShim_batch_destroy(CMSSClampShim_ReceiveBatch *batch) {
    if (!batch) return;
    free(batch->headers);
    free(batch->vectors);
    free(batch);
}

int CMSSClampShim_batch_receive(int fd, CMSSClampShim_ReceiveBatch *batch) {
    for (unsigned i = 0; i < batch->count; i++) batch->headers[i].msg_hdr.msg_flags = 0;
    return recvmmsg(fd, batch->headers, batch->count, MSG_WAITFORONE, NULL);
}

size_t CMSSClampShim_batch_length(const CMSSClampShim_ReceiveBatch *batch, unsigned index) {
    return batch->headers[index].msg_len;
}

int CMSSClampShim_batch_truncated(const CMSSClampShim_ReceiveBatch *batch, unsigned index) {
    return (batch->headers[index].msg_hdr.msg_flags & MSG_TRUNC) != 0;
}

ssize_t CMSSClampShim_send(int fd, const void *buffer, size_t length) { return send(fd, buffer, length, 0); }

int CMSSClampShim_setsockopt_int(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof value);
}

int CMSSClampShim_SOL_NETLINK(void) { return SOL_NETLINK; }
int CMSSClampShim_NETLINK_NO_ENOBUFS(void) { return NETLINK_NO_ENOBUFS; }
int CMSSClampShim_SO_RCVBUFFORCE(void) { return SO_RCVBUFFORCE; }
int CMSSClampShim_SO_SNDBUFFORCE(void) { return SO_SNDBUFFORCE; }

uint16_t CMSSClampShim_nfqueue_packet_type(void) { return (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET; }
uint16_t CMSSClampShim_nfqueue_verdict_type(void) { return (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT; }

int CMSSClampShim_peer_credentials(int fd, unsigned *uid, unsigned *gid) {
    struct ucred credentials;
    socklen_t length = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    *uid = credentials.uid;
    *gid = credentials.gid;
    return 0;
}

int CMSSClampShim_netlink_subscribe(int protocol, unsigned groups) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    if (fd < 0) return -1;
    struct sockaddr_nl address = { .nl_family = AF_NETLINK, .nl_groups = groups };
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int CMSSClampShim_accept(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK); }

int CMSSClampShim_drop_capabilities(unsigned long long keep, int change_user, unsigned uid, unsigned gid,
                                    const char **step, int *bounding_kept) {
    *bounding_kept = 0;
    // The bounding set first: dropping from it needs CAP_SETPCAP, which goes next.
    for (unsigned cap = 0; cap < 64; cap++) {
        if (keep & (1ULL << cap)) continue;
        // Already out (under systemd's CapabilityBoundingSet, say) or beyond the kernel's last capability.
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            // Started with CAP_NET_ADMIN alone: nothing else can be gained anyway, leave the set as it is.
            if (errno == EPERM) { *bounding_kept = 1; break; }
            *step = "prctl(PR_CAPBSET_DROP)";
            return -1;
        }
    }
    if (change_user) {
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) { *step = "prctl(PR_SET_KEEPCAPS)"; return -1; }
        if (setgroups(0, NULL) != 0) { *step = "setgroups"; return -1; }
        if (setgid(gid) != 0) { *step = "setgid"; return -1; }
        if (setuid(uid) != 0) { *step = "setuid"; return -1; }
    }
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2] = { { 0 }, { 0 } };
    data[0].effective = data[0].permitted = data[0].inheritable = (unsigned)(keep & 0xffffffffULL);
    data[1].effective = data[1].permitted = data[1].inheritable = (unsigned)(keep >> 32);
    if (syscall(SYS_capset, &header, data) != 0) { *step = "capset"; return -1; }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) { *step = "prctl(PR_CAP_AMBIENT_CLEAR_ALL)"; return -1; }
    for (unsigned cap = 0; cap < 64; cap++) {
        if (!(keep & (1ULL << cap))) continue;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0 && errno != EINVAL) { *step = "prctl(PR_CAP_AMBIENT_RAISE)"; return -1; }
    }
    if (change_user) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    return 0;
}

#define _GNU_SOURCE
#include "CMSSClampShim.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/uio.h>

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
_Static_assert(((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET) == (3 << 8 | 0), "NetlinkLayout.typePacket");
_Static_assert(((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT) == (3 << 8 | 1), "NetlinkLayout.typeVerdict");
// nfnetlink_log, for the black-hole samples (MSSQueue/SampleSocket.swift, LogLayout).
_Static_assert(((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET) == (4 << 8 | 0), "LogLayout.typePacket");
_Static_assert(((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG) == (4 << 8 | 1), "LogLayout.typeConfig");
_Static_assert(NFULA_PAYLOAD == 9 && NFULA_CFG_CMD == 1 && NFULA_CFG_MODE == 2, "LogLayout attributes");
_Static_assert(NFULA_CFG_NLBUFSIZ == 3 && NFULA_CFG_TIMEOUT == 4 && NFULA_CFG_QTHRESH == 5, "LogLayout attributes");
_Static_assert(NFULNL_CFG_CMD_BIND == 1 && NFULNL_COPY_PACKET == 2, "LogLayout values");
_Static_assert(sizeof(struct nfulnl_msg_config_mode) == 6, "nfulnl_msg_config_mode is packed, 6 bytes");

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

ssize_t CMSSClampShim_send(int fd, const void *buffer, size_t length) { return send(fd, buffer, length, 0); }

int CMSSClampShim_setsockopt_int(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof value);
}

int CMSSClampShim_SOL_NETLINK(void) { return SOL_NETLINK; }
int CMSSClampShim_NETLINK_NO_ENOBUFS(void) { return NETLINK_NO_ENOBUFS; }
int CMSSClampShim_SO_RCVBUFFORCE(void) { return SO_RCVBUFFORCE; }
int CMSSClampShim_SO_SNDBUFFORCE(void) { return SO_SNDBUFFORCE; }

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

int CMSSClampShim_prctl(int option, unsigned long argument2, unsigned long argument3, unsigned long argument4,
                        unsigned long argument5) {
    return prctl(option, argument2, argument3, argument4, argument5);
}

int CMSSClampShim_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable) {
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2] = {
        { .effective = (uint32_t)effective, .permitted = (uint32_t)permitted,
          .inheritable = (uint32_t)inheritable },
        { .effective = (uint32_t)(effective >> 32), .permitted = (uint32_t)(permitted >> 32),
          .inheritable = (uint32_t)(inheritable >> 32) },
    };
    return (int)syscall(SYS_capset, &header, data);
}

int CMSSClampShim_enter_network_namespace(int fd) { return setns(fd, CLONE_NEWNET); }

int CMSSClampShim_packet_socket(const char *interface) {
    unsigned index = if_nametoindex(interface);
    if (index == 0) return -1;
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_ll address;
    memset(&address, 0, sizeof address);
    address.sll_family = AF_PACKET;
    address.sll_ifindex = (int)index;
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int CMSSClampShim_send_frames(int fd, const void *frames, size_t length, unsigned count) {
    enum { most = 1024 };
    struct mmsghdr headers[most];
    struct iovec vectors[most];
    if (count > most) count = most;
    memset(headers, 0, sizeof(struct mmsghdr) * count);
    for (unsigned index = 0; index < count; index++) {
        vectors[index].iov_base = (char *)frames + (size_t)index * length;
        vectors[index].iov_len = length;
        headers[index].msg_hdr.msg_iov = &vectors[index];
        headers[index].msg_hdr.msg_iovlen = 1;
    }
    return sendmmsg(fd, headers, count, 0);
}

int CMSSClampShim_set_thread_cpus(uint64_t mask) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu = 0; cpu < 64; cpu++) {
        if (mask & ((uint64_t)1 << cpu)) CPU_SET(cpu, &set);
    }
    return sched_setaffinity(0, sizeof set, &set);
}

// The C baseline for `scripts/bench queue`: an NFQUEUE consumer with the same design as mssclamp's data
// plane (libmnl bind and config, recvmmsg batches, attributes parsed in place, the MSS rewrite of
// CWireBaseline, every verdict of a batch in one send; a modified packet whose checksum the kernel left
// unfinished, NFQA_SKB_CSUMNOTREADY, gets a full one, as mssclamp does). Usage: queue-baseline QUEUE [MAXLEN]
// Runs until SIGINT/SIGTERM and prints the packets it handled.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "wire_baseline.h"

#define BATCH 64
#define SLOT (65536 + 4096)
#define VERDICTS (1 << 20)

static volatile sig_atomic_t stopping;
static void on_signal(int sig) { (void)sig; stopping = 1; }

static size_t put_verdict(char *out, uint16_t queue, uint32_t id, const void *payload, size_t len) {
    struct nlmsghdr *nlh = (struct nlmsghdr *)out;
    size_t total = NLMSG_HDRLEN + sizeof(struct nfgenmsg) + NLA_HDRLEN + sizeof(struct nfqnl_msg_verdict_hdr);
    if (payload) total += NLA_HDRLEN + len;
    nlh->nlmsg_len = (uint32_t)total;
    nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    nlh->nlmsg_seq = 0;
    nlh->nlmsg_pid = 0;
    struct nfgenmsg *nfg = (struct nfgenmsg *)(out + NLMSG_HDRLEN);
    nfg->nfgen_family = AF_UNSPEC;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = htons(queue);
    struct nlattr *attr = (struct nlattr *)(out + NLMSG_HDRLEN + sizeof *nfg);
    attr->nla_len = NLA_HDRLEN + sizeof(struct nfqnl_msg_verdict_hdr);
    attr->nla_type = NFQA_VERDICT_HDR;
    struct nfqnl_msg_verdict_hdr *vh = (struct nfqnl_msg_verdict_hdr *)((char *)attr + NLA_HDRLEN);
    vh->verdict = htonl(NF_ACCEPT);
    vh->id = htonl(id);
    if (payload) {
        struct nlattr *pa = (struct nlattr *)((char *)vh + sizeof *vh);
        pa->nla_len = (uint16_t)(NLA_HDRLEN + len);
        pa->nla_type = NFQA_PAYLOAD;
        memcpy((char *)pa + NLA_HDRLEN, payload, len);
        size_t aligned = NLMSG_ALIGN(total);
        memset(out + total, 0, aligned - total);
    }
    return NLMSG_ALIGN(total);
}

// Where the TCP header of an IPv4 or IPv6 packet starts, past the IPv6 extension headers a SYN may carry;
// -1 for anything else, fragments included (a first fragment's checksum covers bytes that are not here).
static long tcp_offset(const uint8_t *p, size_t len) {
    if (len >= 20 && p[0] >> 4 == 4) {
        size_t ihl = (size_t)(p[0] & 15) * 4;
        int fragment = (p[6] & 0x3f) || p[7];
        return p[9] == IPPROTO_TCP && !fragment && ihl >= 20 && ihl + 20 <= len ? (long)ihl : -1;
    }
    if (len < 40 || p[0] >> 4 != 6) return -1;
    uint8_t next = p[6];
    size_t off = 40;
    while (next != IPPROTO_TCP) {
        if (off + 8 > len) return -1;
        if (next == 0 || next == 43 || next == 60) {  // hop-by-hop, routing, destination options
            next = p[off];
            off += ((size_t)p[off + 1] + 1) * 8;
        } else if (next == 51) {  // AH
            next = p[off];
            off += ((size_t)p[off + 1] + 2) * 4;
        } else {
            return -1;
        }
    }
    return off + 20 <= len ? (long)off : -1;
}

// Completes a TCP checksum whose field holds the folded pseudo-header sum (CHECKSUM_PARTIAL, flagged
// NFQA_SKB_CSUMNOTREADY): the kernel marks a returned payload CHECKSUM_NONE, so nothing else would. As
// MSSRewrite does: the complement of the sum over the whole segment with that seed in the field.
static void finish_checksum(uint8_t *tcp, size_t len, uint16_t seed) {
    tcp[16] = (uint8_t)(seed >> 8);
    tcp[17] = (uint8_t)seed;
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2) sum += (uint32_t)tcp[i] << 8 | tcp[i + 1];
    if (len & 1) sum += (uint32_t)tcp[len - 1] << 8;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    tcp[16] = (uint8_t)(~sum >> 8);
    tcp[17] = (uint8_t)~sum;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: queue-baseline QUEUE [MAXLEN]\n");
        return 64;
    }
    uint16_t queue = (uint16_t)atoi(argv[1]);
    uint32_t maxlen = argc > 2 ? (uint32_t)atoi(argv[2]) : 4096;
    struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
    if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        perror("netlink");
        return 69;
    }
    int fd = mnl_socket_get_fd(nl);
    int one = 1, rcv = 32 << 20, snd = 4 << 20;
    setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof snd);
    struct timeval tv = {0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

    char *config = calloc(1, 8192);
    struct nlmsghdr *nlh = nfq_nlmsg_put(config, NFQNL_MSG_CONFIG, queue);
    nlh->nlmsg_flags |= NLM_F_ACK;
    nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
    nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 0xffff);
    nfq_nlmsg_cfg_put_qmaxlen(nlh, maxlen);
    mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_GSO));
    mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_GSO));
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
        perror("config");
        return 69;
    }
    ssize_t got = mnl_socket_recvfrom(nl, config, 8192);
    if (got < 0 || mnl_cb_run(config, got, 0, mnl_socket_get_portid(nl), NULL, NULL) < 0) {
        perror("bind");
        return 69;
    }

    char *slots = malloc((size_t)BATCH * SLOT);
    char *verdicts = malloc(VERDICTS);
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = slots + (size_t)i * SLOT;
        iov[i].iov_len = SLOT;
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    unsigned long long handled = 0, clamped = 0;
    fprintf(stderr, "queue-baseline: bound queue %u\n", queue);
    while (!stopping) {
        int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0) continue;
        size_t used = 0;
        for (int i = 0; i < n; i++) {
            char *buf = iov[i].iov_base;
            int len = (int)msgs[i].msg_len;
            for (struct nlmsghdr *m = (struct nlmsghdr *)buf; mnl_nlmsg_ok(m, len); m = mnl_nlmsg_next(m, &len)) {
                if (m->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) continue;
                uint32_t id = 0, skbinfo = 0;
                uint8_t *payload = NULL;
                size_t plen = 0, caplen = 0;
                struct nlattr *attr;
                mnl_attr_for_each(attr, m, sizeof(struct nfgenmsg)) {
                    switch (mnl_attr_get_type(attr)) {
                    case NFQA_PACKET_HDR:
                        id = ntohl(((struct nfqnl_msg_packet_hdr *)mnl_attr_get_payload(attr))->packet_id);
                        break;
                    case NFQA_PAYLOAD:
                        payload = mnl_attr_get_payload(attr);
                        plen = mnl_attr_get_payload_len(attr);
                        break;
                    case NFQA_CAP_LEN:
                        caplen = ntohl(mnl_attr_get_u32(attr));
                        break;
                    case NFQA_SKB_INFO:
                        skbinfo = ntohl(mnl_attr_get_u32(attr));
                        break;
                    }
                }
                handled++;
                size_t newlen = plen;
                int outcome = -1;
                // A locally generated packet (from a veth, a tap) may come with its checksum unfinished.
                long tcp = -1;
                uint16_t seed = 0;
                int ready = !(skbinfo & NFQA_SKB_CSUMNOTREADY);
                if (payload && !ready && (tcp = tcp_offset(payload, plen)) >= 0)
                    seed = (uint16_t)(payload[tcp + 16] << 8 | payload[tcp + 17]);
                if (payload && caplen <= plen && (ready || tcp >= 0)) {
                    size_t cap = (size_t)((buf + SLOT) - (char *)payload);
                    outcome = wire_baseline_rewrite(payload, &newlen, cap, 1360, 1340, 1);
                }
                int modified = outcome == WIRE_CLAMPED || outcome == WIRE_INSERTED;
                if (modified && !ready) {
                    // The field held the pseudo-header sum, which grows with the length on insertion.
                    uint32_t grown = (uint32_t)seed + (uint32_t)(newlen - plen);
                    finish_checksum(payload + tcp, newlen - (size_t)tcp, (uint16_t)((grown & 0xffff) + (grown >> 16)));
                }
                clamped += modified;
                if (used + 65536 + 64 > VERDICTS) {
                    send(fd, verdicts, used, 0);
                    used = 0;
                }
                used += put_verdict(verdicts + used, queue, id, modified ? payload : NULL, newlen);
            }
        }
        if (used) send(fd, verdicts, used, 0);
    }
    printf("queue-baseline: %llu packets, %llu clamped\n", handled, clamped);
    mnl_socket_close(nl);
    return 0;
}

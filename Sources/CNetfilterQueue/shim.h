// libnetfilter_queue (the nfq_nlmsg_* API) and libmnl, used by MSSQueue to open, bind and configure
// NFQUEUE sockets. The packet path itself parses and builds netlink messages in Swift.
// glibc's netinet/in.h first: linux/libc-compat.h then leaves out the kernel's duplicate definitions.
#include <netinet/in.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

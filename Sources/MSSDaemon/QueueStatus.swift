import MSSQueue

/// One line of /proc/net/netfilter/nfnetlink_queue, parsed where the queue lives (MSSQueue); named here
/// so the daemon's reports and the `mssclamp` commands reach it through MSSDaemon.
public typealias KernelQueueStatus = MSSQueue.KernelQueueStatus

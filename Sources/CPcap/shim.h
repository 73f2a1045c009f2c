// libpcap, used by MSSCapture to read pcap/pcapng and write pcap files.
#include <pcap/pcap.h>

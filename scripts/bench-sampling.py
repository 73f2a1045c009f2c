#!/usr/bin/env python3
"""`scripts/bench sampling`: what the black-hole watch costs a gateway forwarding bulk TCP, measured side by
side in one run. A sender namespace streams TCP through a router namespace to a receiver; the router runs
`mssclamp run --install-rules` (queue, safety net), interleaved over several runs:
  (off) with --no-detect: no sampler table, no NFLOG reader;
  (on)  as installed by default: the sampler table (a per-flow limited NFLOG copy of large segments) and
        the daemon's watch reading it.
For each, two measurements:
  - one flow paced at 1 Gbit/s (SO_MAX_PACING_RATE) for --seconds: CPU time of the whole machine (every
    CPU's busy jiffies: sender, receiver, forwarding, daemon) per GB carried, and the daemon's own;
  - --flows flows unpaced for --seconds: Gbit/s carried.
The ratio on/off of each is the sampler's cost; CPU per GB times 0.125 GB/s is what 1 Gbit/s costs.

Usage: bench-sampling.py MSSCLAMP OUTPUT_JSON [--runs N] [--seconds S] [--flows N]
"""
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

PREFIX = "msbs"
SND, RTR, RCV = f"{PREFIX}-snd", f"{PREFIX}-rtr", f"{PREFIX}-rcv"
RECEIVER = r"""
import socket, sys, threading
server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", 5001)); server.listen(256)
print("listening", flush=True)
def drain(connection):
    buffer = bytearray(1 << 20)
    while connection.recv_into(buffer):
        pass
    connection.close()
while True:
    connection, _ = server.accept()
    threading.Thread(target=drain, args=(connection,), daemon=True).start()
"""
SENDER = r"""
import socket, sys, threading, time
flows, seconds, rate = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
sent = [0] * flows
def send(index):
    connection = socket.create_connection(("203.0.113.2", 5001))
    if rate:
        connection.setsockopt(socket.SOL_SOCKET, 47, rate)  # SO_MAX_PACING_RATE, bytes per second
    block = b"\0" * (1 << 20)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sent[index] += connection.send(block)
    connection.close()
threads = [threading.Thread(target=send, args=(i,)) for i in range(flows)]
for thread in threads: thread.start()
for thread in threads: thread.join()
print(sum(sent))
"""


# The namespace helpers of `scripts/bench queue`, shared rather than copied.
_spec = importlib.util.spec_from_file_location("bench_queue", os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench-queue.py"))
bq = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bq)
sh, ns = bq.sh, bq.ns


def down():
    for name in (SND, RTR, RCV):
        for pid in subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split():
            subprocess.run(["kill", "-9", pid], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def up():
    down()
    for name in (SND, RTR, RCV):
        sh("ip", "netns", "add", name)
        ns(name, "ip", "link", "set", "lo", "up")
    sh("ip", "link", "add", "s-r", "netns", SND, "type", "veth", "peer", "name", "r-s", "netns", RTR)
    sh("ip", "link", "add", "r-c", "netns", RTR, "type", "veth", "peer", "name", "c-r", "netns", RCV)
    for name, interface, address in ((SND, "s-r", "198.51.100.2/24"), (RTR, "r-s", "198.51.100.1/24"),
                                     (RTR, "r-c", "203.0.113.1/24"), (RCV, "c-r", "203.0.113.2/24")):
        ns(name, "ip", "addr", "add", address, "dev", interface)
        ns(name, "ip", "link", "set", interface, "up")
    ns(RTR, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    ns(SND, "ip", "route", "add", "default", "via", "198.51.100.1")
    ns(RCV, "ip", "route", "add", "default", "via", "203.0.113.1")


def busy_jiffies():
    with open("/proc/stat") as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: all but idle and iowait.
    return sum(fields[:8]) - fields[3] - fields[4]


def cpu_seconds(pid):
    return bq.cpu_ns(pid) / 1e9


def start_daemon(mssclamp, detect):
    command = ["ip", "netns", "exec", RTR, mssclamp, "run", "--install-rules", "--mss", "1360", "--queue", "7",
               "--control-socket", "none"] + ([] if detect else ["--no-detect"])
    daemon = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 30
    output = ""
    while time.time() < deadline:
        line = daemon.stdout.readline()
        output += line
        if "clamping on queue" in line:
            break
        if daemon.poll() is not None:
            raise RuntimeError(f"daemon exited: {output}")
    tables = ns(RTR, "nft", "list", "tables")
    if detect != ("mssclamp_sample" in tables):
        raise RuntimeError(f"detect={detect} but the tables are: {tables}")
    return daemon


def stop_daemon(daemon, mssclamp):
    daemon.terminate()
    try:
        daemon.wait(timeout=15)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()
    ns(RTR, mssclamp, "rules", "remove", "--queue", "7", check=False)


def send(flows, seconds, rate):
    output = ns(SND, "python3", "-c", SENDER, str(flows), str(seconds), str(rate))
    return int(output.strip() or 0)


def measure(mssclamp, detect, seconds, flows):
    daemon = start_daemon(mssclamp, detect)
    try:
        time.sleep(0.5)
        busy0, daemon0, started = busy_jiffies(), cpu_seconds(daemon.pid), time.monotonic()
        paced = send(1, seconds, 125_000_000)
        busy1, daemon1, elapsed = busy_jiffies(), cpu_seconds(daemon.pid), time.monotonic() - started
        hertz = os.sysconf("SC_CLK_TCK")
        machine = (busy1 - busy0) / hertz
        bulk = send(flows, seconds, 0)
        return {
            "detect": detect, "paced_bytes": paced, "paced_gbit_s": paced * 8 / elapsed / 1e9,
            "machine_cpu_s": machine, "daemon_cpu_s": daemon1 - daemon0,
            "machine_cpu_s_per_gb": machine / (paced / 1e9) if paced else None,
            "daemon_cpu_s_per_gb": (daemon1 - daemon0) / (paced / 1e9) if paced else None,
            "bulk_gbit_s": bulk * 8 / seconds / 1e9,
        }
    finally:
        stop_daemon(daemon, mssclamp)


def main():
    arguments = sys.argv[1:]
    mssclamp, output = arguments[0], arguments[1]
    option = lambda name, default: type(default)(arguments[arguments.index(name) + 1]) if name in arguments else default
    runs, seconds, flows = option("--runs", 5), option("--seconds", 5.0), option("--flows", 8)
    results = {"off": [], "on": []}
    try:
        up()
        receiver = subprocess.Popen(["ip", "netns", "exec", RCV, "python3", "-c", RECEIVER],
                                    stdout=subprocess.PIPE, text=True)
        if "listening" not in receiver.stdout.readline():
            raise RuntimeError("the receiver did not start")
        for run in range(runs):
            for variant in (("off", "on") if run % 2 == 0 else ("on", "off")):
                row = measure(mssclamp, variant == "on", seconds, flows)
                results[variant].append(row)
                print(f"  run {run + 1}/{runs} {variant}: paced {row['paced_gbit_s']:.2f} Gbit/s at "
                      f"{row['machine_cpu_s_per_gb']:.3f} CPU-s/GB (daemon {row['daemon_cpu_s']:.3f} s); "
                      f"{flows} flows unpaced {row['bulk_gbit_s']:.2f} Gbit/s", file=sys.stderr, flush=True)
        receiver.kill()
    finally:
        down()

    def median(variant, key):
        values = [row[key] for row in results[variant] if row[key] is not None]
        return statistics.median(values) if values else None

    summary = {variant: {key: median(variant, key) for key in
                         ("paced_gbit_s", "machine_cpu_s_per_gb", "daemon_cpu_s_per_gb", "bulk_gbit_s")}
               for variant in results}
    if not all(summary[v]["machine_cpu_s_per_gb"] and summary[v]["bulk_gbit_s"] for v in summary):
        raise SystemExit("bench sampling: nothing measured; no result written")
    cpu_ratio = summary["on"]["machine_cpu_s_per_gb"] / summary["off"]["machine_cpu_s_per_gb"]
    bulk_ratio = summary["on"]["bulk_gbit_s"] / summary["off"]["bulk_gbit_s"]
    # 1 Gbit/s is 0.125 GB a second: CPU-s per GB * 0.125 = share of one CPU.
    per_gbit = {variant: summary[variant]["machine_cpu_s_per_gb"] * 0.125 for variant in summary}
    report = {"benchmark": "sampling", "runs": runs, "seconds_per_run": seconds, "flows": flows,
              "summary": summary, "cpu_per_gb_ratio_on_over_off": cpu_ratio, "bulk_ratio_on_over_off": bulk_ratio,
              "cpu_share_at_1_gbit": per_gbit, "results": results}
    with open(output, "w") as handle:
        json.dump(report, handle, indent=2)
    print(f"Black-hole sampling: {runs} interleaved runs of {seconds:g} s, mssclamp run --install-rules with and without --no-detect")
    for variant in ("off", "on"):
        row = summary[variant]
        print(f"  {variant:4} 1 flow at 1 Gbit/s: {row['machine_cpu_s_per_gb']:.3f} CPU-s per GB (whole machine), "
              f"daemon {row['daemon_cpu_s_per_gb'] * 1000:.2f} ms per GB; {flows} flows unpaced: {row['bulk_gbit_s']:.2f} Gbit/s")
    print(f"  ratio on/off: CPU per GB {cpu_ratio:.3f}, unpaced throughput {bulk_ratio:.3f}")
    print(f"  1 Gbit/s of bulk TCP: {per_gbit['off'] * 100:.1f}% of a CPU without the watch, {per_gbit['on'] * 100:.1f}% with it "
          "(sender, receiver and forwarding together: the difference is the sampler's)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""`scripts/bench consumer`: mssclamp run against a C NFQUEUE consumer, side by side in one run.

The data plane's C-speed claim: the daemon against Benchmarks/QueueBaseline on the same queue, with trafgen
as the generator, a second implementation of the SYN load that also cross-checks `mssclamp bench`'s own
(docs/benchmarks.md). The rows an operator runs (TCPMSS, the net, run --install-rules with and without
detection, several queues, floods) are `mssclamp bench`'s, through `scripts/bench queue` and `flood`.

A generator namespace sends Linux-like SYNs (MSS 1460, random source ports and sequence numbers) with
trafgen through a router namespace into a sink namespace that counts and drops them. The router runs, in
turn and interleaved over several runs: (a) no rule, (b) the kernel's TCPMSS target, (c) a C NFQUEUE
consumer with the same recvmmsg + batched-verdict design (Benchmarks/QueueBaseline), (d) mssclamp run.
The generator is pinned to CPU 0, the consumer to CPU 1.

Usage: bench-queue.py MSSCLAMP QUEUE_BASELINE OUTPUT_JSON [--runs N] [--seconds S]
"""
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

PREFIX = "msbq"
GEN, ROUTER, SINK = f"{PREFIX}-gen", f"{PREFIX}-router", f"{PREFIX}-sink"
CEILING = 1360
NFQUEUE_RULE = (
    "-p tcp -m tcp --tcp-flags SYN,RST SYN -m tcpmss --mss 1361:65535 "
    "-j NFQUEUE --queue-num 0 --queue-bypass"
)
TCPMSS_RULE = "-p tcp -m tcp --tcp-flags SYN,RST SYN -m tcpmss --mss 1361:65535 -j TCPMSS --set-mss 1360"

# A Linux SYN (mss 1460, sackOK, ts, nop, wscale 7) from 198.51.100.2 to 203.0.113.2:80, Ethernet to the
# router's MAC; source port, IP id, sequence and timestamp random per packet, checksums computed per packet.
TRAFGEN = """{
  0x02, 0x00, 0x00, 0x00, 0x00, 0x02,  0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  c16(0x0800),
  0x45, 0x00, c16(60), drnd(2), c16(0x4000), 64, 6, csumip(14, 33),
  198, 51, 100, 2,  203, 0, 113, 2,
  drnd(2), c16(80), drnd(4), c32(0), 0xa0, 0x02, c16(64240), csumtcp(14, 34), c16(0),
  0x02, 0x04, 0x05, 0xb4,  0x04, 0x02,  0x08, 0x0a, drnd(4), c32(0),  0x01,  0x03, 0x03, 0x07
}
"""


def sh(*args, check=True, capture=True):
    result = subprocess.run(args, check=False, capture_output=capture, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {result.stderr}")
    return result.stdout if capture else ""


def ns(name, *args, check=True):
    return sh("ip", "netns", "exec", name, *args, check=check)


def down():
    for name in (GEN, ROUTER, SINK):
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def up():
    down()
    for name in (GEN, ROUTER, SINK):
        sh("ip", "netns", "add", name)
        ns(name, "ip", "link", "set", "lo", "up")
    sh("ip", "link", "add", "g-r", "netns", GEN, "address", "02:00:00:00:00:01", "type", "veth",
       "peer", "name", "r-g", "netns", ROUTER, "address", "02:00:00:00:00:02")
    sh("ip", "link", "add", "r-s", "netns", ROUTER, "address", "02:00:00:00:00:03", "type", "veth",
       "peer", "name", "s-r", "netns", SINK, "address", "02:00:00:00:00:04")
    for name, interface, address in ((GEN, "g-r", "198.51.100.2/24"), (ROUTER, "r-g", "198.51.100.1/24"),
                                     (ROUTER, "r-s", "203.0.113.1/24"), (SINK, "s-r", "203.0.113.2/24")):
        ns(name, "ip", "addr", "add", address, "dev", interface)
        ns(name, "ip", "link", "set", interface, "up")
    ns(ROUTER, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    ns(ROUTER, "ip", "neigh", "replace", "203.0.113.2", "lladdr", "02:00:00:00:00:04", "dev", "r-s", "nud", "permanent")
    ns(SINK, "ip", "route", "add", "198.51.100.0/24", "via", "203.0.113.1")
    # The sink counts clamped SYNs (MSS <= 1360) and all others, and drops both.
    ns(SINK, "iptables", "-t", "raw", "-A", "PREROUTING", "-p", "tcp", "-m", "tcpmss", "--mss", "0:1360", "-j", "DROP")
    ns(SINK, "iptables", "-t", "raw", "-A", "PREROUTING", "-p", "tcp", "-j", "DROP")


def sink_counts():
    output = ns(SINK, "iptables", "-t", "raw", "-L", "PREROUTING", "-v", "-x", "-n")
    counts = [int(line.split()[0]) for line in output.splitlines() if line.strip().split()[-1:] != [] and "DROP" in line]
    return counts[0], counts[1]  # clamped, unclamped


def cpu_ns(pid):
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as handle:
                total += int(handle.read().split()[0])
        except OSError:
            pass
    return total


def queue_drops():
    text = ns(ROUTER, "cat", "/proc/net/netfilter/nfnetlink_queue", check=False)
    drops = 0
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 7 and fields[0] == "0":
            drops += int(fields[5]) + int(fields[6])
    return drops


def set_rule(rule):
    ns(ROUTER, "iptables", "-t", "mangle", "-F", "FORWARD")
    if rule:
        ns(ROUTER, "iptables", "-t", "mangle", "-A", "FORWARD", *rule.split())


def start_consumer(command, ready):
    process = subprocess.Popen(
        ["ip", "netns", "exec", ROUTER, "taskset", "-c", "1", *command],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        time.sleep(0.1)
        if os.path.exists(f"/proc/{process.pid}") and consumer_ready(ready):
            return process
        if process.poll() is not None:
            raise RuntimeError(f"consumer exited: {process.stderr.read()}")
    raise RuntimeError("consumer did not bind the queue")


def consumer_ready(_):
    text = ns(ROUTER, "cat", "/proc/net/netfilter/nfnetlink_queue", check=False)
    return any(line.split()[:1] == ["0"] for line in text.splitlines())


def run_trafgen(command, seconds=None):
    """Runs trafgen in a process group of its own and stops the whole group: SIGINT after `seconds`, then
    SIGKILL if it lingers. (`timeout` signals only its child, and trafgen's worker processes have been
    seen to outlive it, flooding for ever in the background.) Returns the packets it sent."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # whatever is left of the group
        except ProcessLookupError:
            pass
    return sum(int(n) for n in re.findall(r"(\d+) packets outgoing", output or ""))


def trafgen(config, seconds=None, count=None):
    command = ["ip", "netns", "exec", GEN, "taskset", "-c", "0", "trafgen", "--dev", "g-r", "--conf", config,
               "--cpus", "1", "--qdisc-path", "--no-sock-mem"]
    if count:
        command += ["--num", str(count)]
    sent = run_trafgen(command, seconds)
    return sent if sent else -1


def run_variant(variant, binaries, config, seconds):
    mssclamp, baseline = binaries
    consumer = None
    set_rule({"a": None, "b": TCPMSS_RULE}.get(variant, NFQUEUE_RULE))
    if variant == "c":
        consumer = start_consumer([baseline, "0", "4096"], "queue-baseline")
    elif variant == "d":
        consumer = start_consumer([mssclamp, "run", "--control-socket", "none", "--mss", "1360", "--queue", "0", "--queue-maxlen", "4096"], "clamping")
    clamped0, other0 = sink_counts()
    cpu0 = cpu_ns(consumer.pid) if consumer else 0
    sent = trafgen(config, seconds=seconds)
    time.sleep(0.3)  # drain what is still queued
    clamped1, other1 = sink_counts()
    cpu1 = cpu_ns(consumer.pid) if consumer else 0
    drops = queue_drops() if consumer else 0
    if consumer:
        consumer.terminate()
        consumer.wait(timeout=10)
    if variant in "ef":
        # The net (and the emptied sampler table) stay after the daemon stops, by design; the next
        # variant runs alone.
        ns(ROUTER, mssclamp, "rules", "remove", check=False)
    clamped = clamped1 - clamped0
    delivered = clamped + (other1 - other0)
    return {
        "variant": variant, "sent": sent, "delivered": delivered, "clamped": clamped,
        "syn_per_s": delivered / seconds, "clamped_per_s": clamped / seconds,
        "cpu_us_per_syn": (cpu1 - cpu0) / 1000 / clamped if consumer and clamped else None,
        "queue_drops": drops,
    }


def waiting():
    text = ns(ROUTER, "cat", "/proc/net/netfilter/nfnetlink_queue", check=False)
    return sum(int(line.split()[2]) for line in text.splitlines() if line.split()[:1] == ["0"])


def waiting_of(pid):
    with open(f"/proc/{pid}/net/netfilter/nfnetlink_queue") as handle:
        return sum(int(line.split()[2]) for line in handle if line.split()[:1] == ["0"])


def drain(variant, binaries, config, count, cycles=4):
    """Consumer capacity alone: fill the queue while the consumer is stopped, then count its CPU time while
    it drains, with the generator idle. The first cycle warms the consumer up (page faults, caches) and is
    not counted."""
    mssclamp, baseline = binaries
    set_rule(NFQUEUE_RULE)
    if variant == "c":
        consumer = start_consumer([baseline, "0", "65536"], "queue-baseline")
    else:
        consumer = start_consumer([mssclamp, "run", "--control-socket", "none", "--mss", "1360", "--queue", "0", "--queue-maxlen", "65536"], "clamping")
    drained = 0
    cpu = 0.0
    wall = 0.0
    for cycle in range(cycles):
        os.kill(consumer.pid, signal.SIGSTOP)
        clamped0, _ = sink_counts()
        trafgen(config, count=count)
        time.sleep(0.2)
        queued = waiting()
        cpu0 = cpu_ns(consumer.pid)
        start = time.perf_counter()
        os.kill(consumer.pid, signal.SIGCONT)
        # Wait on the kernel's own count of packets waiting for a verdict, read through the consumer's
        # /proc view of its namespace: no process is started while the consumer works.
        deadline = time.time() + 30
        while time.time() < deadline and waiting_of(consumer.pid) > 0:
            time.sleep(0.001)
        if cycle > 0:
            wall += time.perf_counter() - start
            cpu += (cpu_ns(consumer.pid) - cpu0) / 1e9
            drained += sink_counts()[0] - clamped0
    drops = queue_drops()
    consumer.terminate()
    consumer.wait(timeout=10)
    return {"variant": variant, "drained": drained, "cpu_s": cpu, "wall_s": wall,
            "syn_per_cpu_s": drained / cpu if cpu else 0, "syn_per_s": drained / wall if wall else 0,
            "queue_drops": drops}


def burst(binaries, config, count):
    mssclamp, _ = binaries
    set_rule(NFQUEUE_RULE)
    consumer = start_consumer(
        [mssclamp, "run", "--control-socket", "none", "--mss", "1360", "--queue", "0", "--queue-maxlen", "16384"], "clamping")
    clamped0, other0 = sink_counts()
    sent = trafgen(config, count=count)
    deadline = time.time() + 10
    while time.time() < deadline and sink_counts()[0] - clamped0 < count:
        time.sleep(0.1)
    clamped1, other1 = sink_counts()
    drops = queue_drops()
    consumer.terminate()
    consumer.wait(timeout=10)
    return {"sent": sent, "clamped": clamped1 - clamped0, "unclamped": other1 - other0, "queue_drops": drops}


def extras(binaries, config, seconds, runs):
    """What queuing every SYN costs, and how the queues scale.

    Cost: SYNs whose MSS is already below the ceiling (1200) skip the queue under the old first-option
    prefilter (-m tcpmss --mss 1361:65535) but make the round trip under mssclamp's rule (every SYN). Both
    with mssclamp run consuming, interleaved.
    Scaling: mssclamp run on one queue against two queues (--queue-balance 0:1, a worker each), with the
    generator and the router's softirq work on CPU 0 and the workers free to use both CPUs.
    """
    mssclamp, _ = binaries
    low = config + ".low"
    with open(low, "w") as handle:
        handle.write(TRAFGEN.replace("0x02, 0x04, 0x05, 0xb4", "0x02, 0x04, 0x04, 0xb0"))
    prefilter = NFQUEUE_RULE
    every = NFQUEUE_RULE.replace("-m tcpmss --mss 1361:65535 ", "")
    balanced = every.replace("--queue-num 0", "--queue-balance 0:1")
    results = {"low_prefilter": [], "low_every": [], "one_queue": [], "two_queues": []}

    def consume(rule, queues, trafgen_config, pin):
        set_rule(rule)
        command = ([] if not pin else ["taskset", "-c", "1"]) + [mssclamp, "run", "--control-socket", "none", "--mss", "1360", "--queue", queues,
                                                                  "--queue-maxlen", "4096", "--queue-rate", "0"]
        process = subprocess.Popen(["ip", "netns", "exec", ROUTER] + command, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline and not consumer_ready(None):
            time.sleep(0.1)
        time.sleep(0.2)
        clamped0, other0 = sink_counts()
        trafgen(trafgen_config, seconds=seconds)
        time.sleep(0.3)
        clamped1, other1 = sink_counts()
        process.terminate()
        process.wait(timeout=20)
        return ((clamped1 - clamped0) + (other1 - other0)) / seconds

    for run in range(runs):
        results["low_prefilter"].append(consume(prefilter, "0", low, True))
        results["low_every"].append(consume(every, "0", low, True))
        results["one_queue"].append(consume(every, "0", config, False))
        results["two_queues"].append(consume(balanced, "0-1", config, False))
        print(f"  extras run {run + 1}/{runs}: " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in results.items()),
              file=sys.stderr, flush=True)
    os.unlink(low)
    return {key: statistics.median(values) for key, values in results.items()} | {"runs": results}


DRAIN_COUNT = 20_000
NAMES = {"a": "(a) no rule", "b": "(b) kernel TCPMSS", "c": "(c) C NFQUEUE baseline", "d": "(d) mssclamp run"}


def main():
    # Keep this harness (and the tools it starts) off the consumer's CPU.
    os.sched_setaffinity(0, {0})
    arguments = sys.argv[1:]
    runs = int(arguments[arguments.index("--runs") + 1]) if "--runs" in arguments else 5
    seconds = float(arguments[arguments.index("--seconds") + 1]) if "--seconds" in arguments else 3
    binaries = (arguments[0], arguments[1])
    output = arguments[2]
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as handle:
        handle.write(TRAFGEN)
        config = handle.name
    results = {key: [] for key in NAMES}
    try:
        up()
        for run in range(runs):
            order = list(NAMES)
            order = order[run % len(order):] + order[:run % len(order)]  # rotate so no variant always goes first
            for variant in order:
                results[variant].append(run_variant(variant, binaries, config, seconds))
                print(f"  run {run + 1}/{runs} {NAMES[variant]}: {results[variant][-1]['syn_per_s']:,.0f} SYN/s",
                      file=sys.stderr, flush=True)
        drains = {"c": [], "d": []}
        for run in range(runs):
            for variant in ("cd" if run % 2 == 0 else "dc"):
                drains[variant].append(drain(variant, binaries, config, DRAIN_COUNT))
                print(f"  drain {run + 1}/{runs} {NAMES[variant]}: {drains[variant][-1]['syn_per_cpu_s']:,.0f} SYN per CPU second",
                      file=sys.stderr, flush=True)
        burst_result = burst(binaries, config, 10_000)
        extra = extras(binaries, config, seconds, runs)
    finally:
        down()
        os.unlink(config)

    def summary(variant):
        rows = results[variant]
        rates = [row["clamped_per_s"] if variant != "a" else row["syn_per_s"] for row in rows]
        cpu = [row["cpu_us_per_syn"] for row in rows if row["cpu_us_per_syn"] is not None]
        return {
            "name": NAMES[variant],
            "syn_per_s_median": statistics.median(rates), "syn_per_s_min": min(rates), "syn_per_s_max": max(rates),
            "cpu_us_per_syn_median": statistics.median(cpu) if cpu else None,
            "queue_drops_total": sum(row["queue_drops"] for row in rows),
            "sent_per_s_median": statistics.median(row["sent"] / seconds for row in rows),
            "runs": rows,
        }

    table = {variant: summary(variant) for variant in NAMES}
    empty = [NAMES[variant] for variant in NAMES if not table[variant]["syn_per_s_median"]]
    empty += [f"{NAMES[variant]} (CPU time)" for variant in "cd" if table[variant]["cpu_us_per_syn_median"] is None]
    empty += [f"{NAMES[variant]} (drain)" for variant in "cd" if not any(row["syn_per_cpu_s"] for row in drains[variant])]
    if empty:
        raise SystemExit(f"bench queue: nothing measured for {', '.join(empty)}; no result written")
    ratio = table["d"]["syn_per_s_median"] / table["c"]["syn_per_s_median"]
    capacity = {variant: statistics.median(row["syn_per_cpu_s"] for row in rows) for variant, rows in drains.items()}
    drain_ratio = capacity["d"] / capacity["c"]
    report = {"benchmark": "queue", "runs": runs, "seconds_per_run": seconds, "variants": table,
              "ratio_d_over_c": ratio, "drain": drains, "drain_capacity": capacity,
              "drain_ratio_d_over_c": drain_ratio, "burst_10000": burst_result, "extras": extra}
    with open(output, "w") as handle:
        json.dump(report, handle, indent=2)

    print(f"NFQUEUE throughput: {runs} interleaved runs of {seconds:g}s, generator on CPU 0, consumer on CPU 1")
    print(f"  {'variant':26} {'SYN/s (median)':>15} {'spread':>23} {'consumer us/SYN':>16} {'queue drops':>12}")
    for variant in NAMES:
        row = table[variant]
        spread = f"{row['syn_per_s_min']:,.0f}-{row['syn_per_s_max']:,.0f}"
        cpu = f"{row['cpu_us_per_syn_median']:.3f}" if row["cpu_us_per_syn_median"] is not None else "(kernel)"
        print(f"  {row['name']:26} {row['syn_per_s_median']:>15,.0f} {spread:>23} {cpu:>16} {row['queue_drops_total']:>12}")
    print("  (a) counts every SYN delivered (unclamped); (b)-(d) count SYNs delivered with MSS <= 1360.")
    print(f"  ratio (d)/(c), streaming: {ratio:.3f}   (goal >= 0.95)")
    print(f"Consumer capacity: {DRAIN_COUNT:,} SYNs queued while the consumer is stopped, then drained on CPU 1 alone "
          "(3 measured cycles per run after a warm-up)")
    for variant in "cd":
        rows = drains[variant]
        rates = [row["syn_per_cpu_s"] for row in rows]
        print(f"  {NAMES[variant]:26} {capacity[variant]:>15,.0f} SYN per CPU second "
              f"({min(rates):,.0f}-{max(rates):,.0f}), {1e6 / capacity[variant]:.3f} us/SYN, "
              f"drops {sum(row['queue_drops'] for row in rows)}")
    print(f"  ratio (d)/(c), capacity: {drain_ratio:.3f}   (goal >= 0.95)")
    print(f"  burst of 10,000 SYNs into mssclamp (queue maxlen 16384): sent {burst_result['sent']}, "
          f"delivered clamped {burst_result['clamped']}, queue drops {burst_result['queue_drops']}")

    print("What queuing every SYN costs: SYNs with MSS 1200 (below the 1360 ceiling), mssclamp run consuming")
    print(f"  old prefilter (-m tcpmss --mss 1361:65535, they skip the queue): {extra['low_prefilter']:>10,.0f} SYN/s")
    print(f"  every SYN queued (mssclamp's rule):                            {extra['low_every']:>10,.0f} SYN/s"
          f"   ratio {extra['low_every'] / extra['low_prefilter']:.3f}")
    print("Queues: generator and softirq on CPU 0, workers free to use both CPUs")
    print(f"  one queue:  {extra['one_queue']:>10,.0f} SYN/s")
    print(f"  two queues: {extra['two_queues']:>10,.0f} SYN/s   ratio {extra['two_queues'] / extra['one_queue']:.3f}")


if __name__ == "__main__":
    main()

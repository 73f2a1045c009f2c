#!/usr/bin/env python3
"""`scripts/bench consumer`, its second part: the handshake latency mssclamp run adds against a C consumer.

The operator's latency rows (no rule, TCPMSS, run) are `mssclamp bench`'s (`scripts/bench latency`); this
adds the C consumer beside them, measured side by side in one run.

A client namespace connects over and over through a router namespace to a listener in a sink namespace
(198.51.100.0/24 and 203.0.113.0/24, documentation ranges; veths, MTU 1500, static neighbours so ARP never
takes part). Each connect() is timed from the call to its return: the SYN goes out, the SYN/ACK comes
back, the ACK is sent. The client closes with a reset (SO_LINGER 0), so no TIME_WAIT piles up, and
connects one at a time: every handshake meets an idle path. The router runs, interleaved over several
rounds with the order rotated each round:

  (a) no rule: forwarding alone, the floor;
  (k) the kernel's TCPMSS (`-m tcpmss --mss 1361:65535 -j TCPMSS --set-mss 1360`);
  (c) the C NFQUEUE consumer `queue-baseline` (Benchmarks/QueueBaseline) behind the NFQUEUE rule of
      bench-queue.py, pinned to CPU 1;
  (m) `mssclamp run --mss 1360 --queue 0 --queue-maxlen 4096` behind the same rule, pinned to CPU 1.

The rule matches SYN and SYN/ACK alike (`--tcp-flags SYN,RST SYN`), and both carry MSS 1460 here, so
with (c) and (m) each handshake makes two round trips through the queue. The client, the listener and
this harness run on CPU 0. Counters at the client (SYN/ACKs) and the sink (SYNs) check that every
handshake of (k), (c) and (m) was clamped both ways and none of (a) was; a run that fails the check, or
a connect that fails, writes no result and exits non-zero.

Reported per variant: p50, p90, p99 and max of connect() over all rounds, the spread of the per-round
p50s; the latency (k), (c) and (m) add over (a), what (c) and (m) add over (k), and (m)/(c).

Usage: bench-latency.py MSSCLAMP QUEUE_BASELINE OUTPUT_JSON [--rounds N] [--connects N] [--warmup N]
(the listener and the client are this script too, run inside their namespaces: --listen, --connect)
"""
import argparse
import json
import math
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

PREFIX = "msbl"
CLIENT, ROUTER, SINK = f"{PREFIX}-client", f"{PREFIX}-router", f"{PREFIX}-sink"
SINK_ADDRESS, PORT = "203.0.113.2", 8080
CEILING = 1360
NFQUEUE_RULE = (
    "-p tcp -m tcp --tcp-flags SYN,RST SYN -m tcpmss --mss 1361:65535 "
    "-j NFQUEUE --queue-num 0 --queue-bypass"
)
TCPMSS_RULE = "-p tcp -m tcp --tcp-flags SYN,RST SYN -m tcpmss --mss 1361:65535 -j TCPMSS --set-mss 1360"
SOCKET_DIRECTORY = "/run/mssclamp-bench-latency"  # a directory of its own: the daemon refuses /tmp
NAMES = {"a": "(a) no rule", "k": "(k) kernel TCPMSS", "c": "(c) C NFQUEUE consumer", "m": "(m) mssclamp run"}
SCRIPT = os.path.abspath(__file__)
CONNECT_TIMEOUT = 3  # seconds: past the first SYN retransmission (1 s), so a lost SYN shows as latency


def sh(*args, check=True):
    result = subprocess.run(args, check=False, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def ns(name, *args, check=True):
    return sh("ip", "netns", "exec", name, *args, check=check)


def down():
    for name in (CLIENT, ROUTER, SINK):
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    subprocess.run(["rm", "-rf", SOCKET_DIRECTORY], capture_output=True)


def up():
    down()
    for name in (CLIENT, ROUTER, SINK):
        sh("ip", "netns", "add", name)
        ns(name, "ip", "link", "set", "lo", "up")
    sh("ip", "link", "add", "c-r", "netns", CLIENT, "address", "02:00:00:00:01:01", "type", "veth",
       "peer", "name", "r-c", "netns", ROUTER, "address", "02:00:00:00:01:02")
    sh("ip", "link", "add", "r-s", "netns", ROUTER, "address", "02:00:00:00:01:03", "type", "veth",
       "peer", "name", "s-r", "netns", SINK, "address", "02:00:00:00:01:04")
    for name, interface, address in ((CLIENT, "c-r", "198.51.100.2/24"), (ROUTER, "r-c", "198.51.100.1/24"),
                                     (ROUTER, "r-s", "203.0.113.1/24"), (SINK, "s-r", "203.0.113.2/24")):
        ns(name, "ip", "addr", "add", address, "dev", interface)
        ns(name, "ip", "link", "set", interface, "up")
    ns(ROUTER, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    ns(CLIENT, "sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535")
    for name, address, mac, device in ((CLIENT, "198.51.100.1", "02:00:00:00:01:02", "c-r"),
                                       (ROUTER, "198.51.100.2", "02:00:00:00:01:01", "r-c"),
                                       (ROUTER, "203.0.113.2", "02:00:00:00:01:04", "r-s"),
                                       (SINK, "203.0.113.1", "02:00:00:00:01:03", "s-r")):
        ns(name, "ip", "neigh", "replace", address, "lladdr", mac, "dev", device, "nud", "permanent")
    ns(CLIENT, "ip", "route", "add", "default", "via", "198.51.100.1")
    ns(SINK, "ip", "route", "add", "default", "via", "203.0.113.1")
    # Counting rules, no target: SYN/ACKs arriving at the client, SYNs arriving at the sink; the first of
    # each pair counts those with MSS <= 1360 (clamped), the second all of them.
    for name, flags in ((CLIENT, "SYN,ACK"), (SINK, "SYN")):
        ns(name, "iptables", "-t", "raw", "-A", "PREROUTING", "-p", "tcp", "--tcp-flags", "SYN,ACK,RST", flags,
           "-m", "tcpmss", "--mss", f"0:{CEILING}")
        ns(name, "iptables", "-t", "raw", "-A", "PREROUTING", "-p", "tcp", "--tcp-flags", "SYN,ACK,RST", flags)


def counts(name):
    """(clamped, all) from the two counting rules of a namespace."""
    output = ns(name, "iptables", "-t", "raw", "-L", "PREROUTING", "-v", "-x", "-n")
    rows = [line.split() for line in output.splitlines()[2:] if line.strip()]
    return int(rows[0][0]), int(rows[1][0])


def set_rule(rule):
    ns(ROUTER, "iptables", "-t", "mangle", "-F", "FORWARD")
    if rule:
        ns(ROUTER, "iptables", "-t", "mangle", "-A", "FORWARD", *rule.split())


def queue_bound():
    text = ns(ROUTER, "cat", "/proc/net/netfilter/nfnetlink_queue", check=False)
    return any(line.split()[:1] == ["0"] for line in text.splitlines())


def queue_drops():
    text = ns(ROUTER, "cat", "/proc/net/netfilter/nfnetlink_queue", check=False)
    rows = [line.split() for line in text.splitlines()]
    return sum(int(row[5]) + int(row[6]) for row in rows if len(row) >= 7 and row[0] == "0")


def start_consumer(command):
    log = tempfile.TemporaryFile("w+")
    process = subprocess.Popen(["ip", "netns", "exec", ROUTER, "taskset", "-c", "1", *command],
                               stdout=log, stderr=log)
    deadline = time.time() + 20
    while time.time() < deadline:
        time.sleep(0.1)
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"{command[0]} exited {process.returncode}: {log.read()[-2000:]}")
        if queue_bound():
            return process, log
    process.kill()
    raise RuntimeError(f"{command[0]} did not bind queue 0 within 20 s")


def stop_consumer(process, log):
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()
    deadline = time.time() + 5
    while time.time() < deadline and queue_bound():
        time.sleep(0.05)


def connects(count, warmup):
    """Times `count` connects after `warmup` untimed ones, in the client namespace (this script, --connect)."""
    output = ns(CLIENT, "taskset", "-c", "0", sys.executable, SCRIPT, "--connect", SINK_ADDRESS, str(PORT),
                str(count), str(warmup))
    return json.loads(output)


def run_variant(variant, binaries, count, warmup):
    mssclamp, baseline = binaries
    set_rule({"a": None, "k": TCPMSS_RULE}.get(variant, NFQUEUE_RULE))
    consumer = None
    if variant == "c":
        consumer = start_consumer([baseline, "0", "4096"])
    elif variant == "m":
        consumer = start_consumer([mssclamp, "run", "--mss", str(CEILING), "--queue", "0", "--queue-maxlen", "4096",
                                   "--control-socket", f"{SOCKET_DIRECTORY}/control.sock"])
    try:
        time.sleep(0.2)
        client0, sink0, drops0 = counts(CLIENT), counts(SINK), queue_drops()
        result = connects(count, warmup)
        client1, sink1 = counts(CLIENT), counts(SINK)
        drops = queue_drops() - drops0
    finally:
        if consumer:
            stop_consumer(*consumer)
    result.update({
        "variant": variant,
        "synacks_clamped": client1[0] - client0[0], "synacks": client1[1] - client0[1],
        "syns_clamped": sink1[0] - sink0[0], "syns": sink1[1] - sink0[1], "queue_drops": drops,
    })
    return result


def percentile(ordered, fraction):
    """Nearest rank."""
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summary(values_ns):
    ordered = sorted(values_ns)
    us = lambda value: round(value / 1000, 2)
    return {"count": len(ordered), "p50_us": us(percentile(ordered, 0.50)), "p90_us": us(percentile(ordered, 0.90)),
            "p99_us": us(percentile(ordered, 0.99)), "max_us": us(ordered[-1]), "min_us": us(ordered[0]),
            "mean_us": us(statistics.fmean(ordered))}


def check(variant, row, expected):
    """Every timed and warm-up handshake passed the router once each way: clamped both ways, except (a)."""
    problems = []
    if row["failures"]:
        problems.append(f"{row['failures']} connects failed ({row['first_failure']})")
    if row["syns"] < expected or row["synacks"] < expected:
        problems.append(f"{row['syns']} SYNs and {row['synacks']} SYN/ACKs counted for {expected} connects")
    want = 0 if variant == "a" else None
    for kind in ("syns", "synacks"):
        clamped = row[f"{kind}_clamped"]
        if want == 0 and clamped:
            problems.append(f"{clamped} {kind} clamped with no rule")
        if want is None and clamped != row[kind]:
            problems.append(f"only {clamped} of {row[kind]} {kind} clamped")
    if row["queue_drops"]:
        problems.append(f"{row['queue_drops']} queue drops")
    return [f"{NAMES[variant]}: {problem}" for problem in problems]


def measure(options):
    binaries = (options.mssclamp, options.baseline)
    os.sched_setaffinity(0, {0})  # keep the harness off the consumer's CPU
    rounds = {variant: [] for variant in NAMES}
    samples = {variant: [] for variant in NAMES}
    problems = []
    order_log = []
    listener = None
    try:
        up()
        listener = subprocess.Popen(["ip", "netns", "exec", SINK, "taskset", "-c", "0", sys.executable, SCRIPT,
                                     "--listen", str(PORT)], stdout=subprocess.DEVNULL)
        deadline = time.time() + 10
        while f":{PORT}" not in ns(SINK, "ss", "-Hltn", check=False):
            if time.time() > deadline or listener.poll() is not None:
                raise RuntimeError("the listener in the sink did not start")
            time.sleep(0.05)
        for index in range(options.rounds):
            order = list(NAMES)
            order = order[index % 4:] + order[:index % 4]
            if index % 8 >= 4:
                order.reverse()  # so no variant always follows the same one
            order_log.append("".join(order))
            for variant in order:
                row = run_variant(variant, binaries, options.connects, options.warmup)
                problems += check(variant, row, options.connects + options.warmup)
                samples[variant] += row.pop("ns")
                rounds[variant].append(row)
                print(f"  round {index + 1}/{options.rounds} {NAMES[variant]:24} p50 {row['p50_us']:8.1f} us  "
                      f"p99 {row['p99_us']:8.1f} us", file=sys.stderr, flush=True)
    finally:
        if listener:
            listener.kill()
        down()
        shutil.rmtree(SOCKET_DIRECTORY, ignore_errors=True)
    if problems:
        raise SystemExit("bench latency: the run is not valid, no result written:\n  " + "\n  ".join(problems[:20]))
    if any(len(values) == 0 for values in samples.values()):
        raise SystemExit("bench latency: a variant has no timed connects, no result written")

    table = {}
    for variant in NAMES:
        table[variant] = {"name": NAMES[variant], **summary(samples[variant]),
                          "round_p50_us": [row["p50_us"] for row in rounds[variant]],
                          "histogram_us": histogram(samples[variant]), "rounds": rounds[variant]}
    p = lambda variant, key: table[variant][key]
    added = {f"{key}_{over}": {v: round(p(v, key) - p(over, key), 2) for v in NAMES if v != over}
             for key in ("p50_us", "p99_us") for over in ("a", "k")}
    report = {
        "benchmark": "latency", "host": host(),
        "rounds": options.rounds, "connects_per_round": options.connects, "warmup_per_round": options.warmup,
        "order": order_log, "variants": table,
        "added": added,
        "ratio_m_over_c": {key: round(p("m", key) / p("c", key), 3) for key in ("p50_us", "p99_us")},
        "ratio_added_m_over_c": {key: round((p("m", key) - p("k", key)) / (p("c", key) - p("k", key)), 3)
                                 if p("c", key) != p("k", key) else None for key in ("p50_us", "p99_us")},
    }
    with open(options.output, "w") as handle:
        json.dump(report, handle, indent=2)

    print(f"Handshake latency: connect() through the router, {options.rounds} interleaved rounds of "
          f"{options.connects} timed connects per variant (after {options.warmup} untimed), one at a time")
    print(f"  {'variant':26} {'p50 us':>9} {'p90 us':>9} {'p99 us':>9} {'max us':>9}   round p50s")
    for variant in NAMES:
        row = table[variant]
        spread = f"{min(row['round_p50_us']):.1f}-{max(row['round_p50_us']):.1f}"
        print(f"  {row['name']:26} {row['p50_us']:>9.1f} {row['p90_us']:>9.1f} {row['p99_us']:>9.1f} "
              f"{row['max_us']:>9.1f}   {spread}")
    for key, label in (("p50_us", "p50"), ("p99_us", "p99")):
        print(f"  {label}: over (k) the C consumer adds {added[key + '_k']['c']:.1f} us and mssclamp "
              f"{added[key + '_k']['m']:.1f} us; ratio (m)/(c) {report['ratio_m_over_c'][key]:.3f}, "
              f"of what they add {report['ratio_added_m_over_c'][key]}")


def host():
    with open("/proc/cpuinfo") as handle:
        model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), None)
    return {"cpus": os.cpu_count(), "cpu": model, "kernel": os.uname().release}


def histogram(values_ns):
    """Counts per whole microsecond, sparse: enough to redraw the distribution from the committed file."""
    buckets = {}
    for value in values_ns:
        bucket = int(value // 1000)
        buckets[bucket] = buckets.get(bucket, 0) + 1
    return {str(bucket): buckets[bucket] for bucket in sorted(buckets)}


def listen(port):
    """The sink's listener: accepts and closes; the handshake itself is the kernel's."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", port))
    server.listen(4096)
    while True:
        connection, _ = server.accept()
        connection.close()


def connect(address, port, count, warmup):
    """Times connect() `count` times after `warmup` untimed ones; prints the JSON the harness reads."""
    linger = struct.pack("ii", 1, 0)  # close with a reset: no TIME_WAIT, no port runs out
    times, failures, first_failure = [], 0, None
    clock = time.perf_counter_ns
    for index in range(warmup + count):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        client.settimeout(CONNECT_TIMEOUT)
        try:
            start = clock()
            client.connect((address, port))
            elapsed = clock() - start
            if index >= warmup:
                times.append(elapsed)
        except OSError as error:
            failures += 1
            first_failure = first_failure or repr(error)
            if failures == 3:
                break  # the run is invalid already; do not wait out thousands of timeouts
        finally:
            client.close()
    ordered = sorted(times) or [0]
    print(json.dumps({"ns": times, "failures": failures, "first_failure": first_failure,
                      "p50_us": round(percentile(ordered, 0.5) / 1000, 2),
                      "p99_us": round(percentile(ordered, 0.99) / 1000, 2)}))


def main():
    if sys.argv[1:2] == ["--listen"]:
        listen(int(sys.argv[2]))
        return
    if sys.argv[1:2] == ["--connect"]:
        connect(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description="handshake latency through the router, (a) (k) (c) (m) interleaved")
    parser.add_argument("mssclamp")
    parser.add_argument("baseline")
    parser.add_argument("output")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--connects", type=int, default=5000, help="timed connects per variant and round")
    parser.add_argument("--warmup", type=int, default=200, help="untimed connects before them")
    options = parser.parse_args()
    if options.rounds < 1 or options.connects < 1:
        parser.error("--rounds and --connects must be at least 1")
    # A TERM (or HUP) ends the run through the same cleanup as an exception: namespaces and processes go.
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, lambda signum, _: sys.exit(128 + signum))
    measure(options)


if __name__ == "__main__":
    main()

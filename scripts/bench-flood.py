#!/usr/bin/env python3
"""`scripts/bench flood`: SYNs at the generator's full rate through a router, in one run, interleaved:
  (k) the kernel's TCPMSS target (`-m tcpmss --mss 1361:65535 -j TCPMSS --set-mss 1360`);
  (m) mssclamp as `run --install-rules` installs it: every SYN queued, fail-open, the kernel safety net
      behind the queue, default queue length and socket buffer, the black-hole watch on (its sampler);
  (n) the same with --no-detect: what the watch costs a SYN flood is the ratio (m)/(n).
For each: the rate of SYNs delivered clamped (MSS <= 1360) at the sink in steady state (counted over
`--seconds` after `--warmup` seconds of flood: a flood lasts, and the daemon needs a moment to see it and
start shedding), and over the whole run, warm-up included: SYNs sent (trafgen), delivered unclamped, lost
(sent but not delivered), queue drops (nfnetlink_queue), and for mssclamp how many SYNs the daemon clamped
and how many the safety net did. Full rate: trafgen runs on both CPUs, and the daemon competes with it
and with the router's softirq work for them, as on a router under a SYN flood.

Usage: bench-flood.py MSSCLAMP OUTPUT_JSON [--runs N] [--seconds S] [--warmup S] [--queue-rate N] [--queue-burst N]
"""
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("bench_queue", os.path.join(here, "bench-queue.py"))
bq = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bq)

SOCKET = "/run/mssclamp-flood/control.sock"  # a directory of its own: the daemon refuses /tmp


def queue_counters():
    text = bq.ns(bq.ROUTER, "cat", "/proc/net/netfilter/nfnetlink_queue", check=False)
    dropped = 0
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 7:
            dropped += int(fields[5]) + int(fields[6])
    return dropped


def net_clamped():
    text = bq.ns(bq.ROUTER, "nft", "list", "counter", "inet", "mssclamp_net", "clamped", check=False)
    for line in text.splitlines():
        words = line.split()
        if "packets" in words:
            return int(words[words.index("packets") + 1])
    return 0


WARMUP = [1.0]


def flood(config, seconds):
    """trafgen on every CPU, as fast as it goes, for the warm-up and then `seconds`. Returns the packets
    sent and the clamped SYNs the sink counted over the `seconds` after the warm-up."""
    command = ["ip", "netns", "exec", bq.GEN, "trafgen", "--dev", "g-r", "--conf", config, "--cpus",
               str(os.cpu_count()), "--qdisc-path", "--no-sock-mem"]
    result = {}
    thread = threading.Thread(target=lambda: result.update(sent=bq.run_trafgen(command, WARMUP[0] + seconds + 0.3)))
    thread.start()
    time.sleep(WARMUP[0])
    start = bq.sink_counts()[0]
    time.sleep(seconds)
    window = bq.sink_counts()[0] - start
    thread.join()
    return result.get("sent", 0), window


def run_kernel(config, seconds):
    bq.set_rule(bq.TCPMSS_RULE)
    clamped0, other0 = bq.sink_counts()
    sent, window = flood(config, seconds)
    time.sleep(0.3)
    clamped1, other1 = bq.sink_counts()
    return {"variant": "k", "sent": sent, "window_clamped": window, "clamped": clamped1 - clamped0,
            "unclamped": other1 - other0, "queue_drops": 0, "net_clamped": 0, "daemon_clamped": 0, "shedding": []}


EXTRA = []


def run_mssclamp(mssclamp, config, seconds, variant="m"):
    bq.set_rule(None)
    log = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)
    daemon = subprocess.Popen(
        ["ip", "netns", "exec", bq.ROUTER, mssclamp, "run", "--mss", "1360", "--install-rules",
         "--control-socket", SOCKET] + EXTRA + (["--no-detect"] if variant == "n" else []), stdout=log, stderr=log)
    deadline = time.time() + 30
    while time.time() < deadline:
        if "clamping on queue" in open(log.name).read():
            break
        time.sleep(0.1)
    time.sleep(0.3)
    clamped0, other0 = bq.sink_counts()
    drops0, net0 = queue_counters(), net_clamped()
    stats0 = daemon_clamped(mssclamp)
    sent, window = flood(config, seconds)
    time.sleep(0.5)  # what is still queued gets its verdict
    clamped1, other1 = bq.sink_counts()
    result = {"variant": variant, "sent": sent, "window_clamped": window, "clamped": clamped1 - clamped0,
              "unclamped": other1 - other0, "queue_drops": queue_counters() - drops0,
              "net_clamped": net_clamped() - net0, "daemon_clamped": daemon_clamped(mssclamp) - stats0}
    daemon.terminate()
    daemon.wait(timeout=30)
    log.close()
    result["shedding"] = [line.strip() for line in open(log.name) if "overload" in line]
    os.unlink(log.name)
    # The net stays after the daemon stops (by design); take it out so the kernel variant runs alone.
    bq.ns(bq.ROUTER, mssclamp, "rules", "remove", check=False)
    return result


def burst(mssclamp, config, count=50_000):
    """A burst of `count` SYNs at full rate into a live daemon with the default settings."""
    bq.set_rule(None)
    log = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)
    daemon = subprocess.Popen(
        ["ip", "netns", "exec", bq.ROUTER, mssclamp, "run", "--mss", "1360", "--install-rules", "--control-socket", SOCKET],
        stdout=log, stderr=log)
    deadline = time.time() + 30
    while time.time() < deadline and "clamping on queue" not in open(log.name).read():
        time.sleep(0.1)
    clamped0, other0 = bq.sink_counts()
    drops0, net0, daemon0 = queue_counters(), net_clamped(), daemon_clamped(mssclamp)
    command = ["ip", "netns", "exec", bq.GEN, "trafgen", "--dev", "g-r", "--conf", config, "--cpus", "1",
               "--num", str(count), "--qdisc-path", "--no-sock-mem"]
    sent = bq.run_trafgen(command, 60)
    deadline = time.time() + 15
    while time.time() < deadline and sum(bq.sink_counts()) - clamped0 - other0 < sent:
        time.sleep(0.1)
    clamped1, other1 = bq.sink_counts()
    result = {"sent": sent, "clamped": clamped1 - clamped0, "unclamped": other1 - other0,
              "queue_drops": queue_counters() - drops0, "net_clamped": net_clamped() - net0,
              "daemon_clamped": daemon_clamped(mssclamp) - daemon0}
    daemon.terminate()
    daemon.wait(timeout=30)
    os.unlink(log.name)
    bq.ns(bq.ROUTER, mssclamp, "rules", "remove", check=False)
    return result


def daemon_clamped(mssclamp):
    result = subprocess.run([mssclamp, "stats", "--json", "--socket", SOCKET, "--timeout", "10"], capture_output=True, text=True)
    if result.returncode != 0:
        return 0
    return json.loads(result.stdout).get("outcomes", {}).get("clamped", 0)


def main():
    arguments = sys.argv[1:]
    mssclamp, output = arguments[0], arguments[1]
    runs = int(arguments[arguments.index("--runs") + 1]) if "--runs" in arguments else 5
    seconds = float(arguments[arguments.index("--seconds") + 1]) if "--seconds" in arguments else 3
    if "--warmup" in arguments:
        WARMUP[0] = float(arguments[arguments.index("--warmup") + 1])
    if "--queue-rate" in arguments:
        EXTRA.extend(["--queue-rate", arguments[arguments.index("--queue-rate") + 1]])
    if "--queue-burst" in arguments:
        EXTRA.extend(["--queue-burst", arguments[arguments.index("--queue-burst") + 1]])
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as handle:
        handle.write(bq.TRAFGEN)
        config = handle.name
    rows = {"k": [], "m": [], "n": []}
    try:
        bq.up()
        for run in range(runs):
            for variant in "kmn"[run % 3:] + "kmn"[:run % 3]:  # rotated: no variant always goes first
                row = run_kernel(config, seconds) if variant == "k" else run_mssclamp(mssclamp, config, seconds, variant)
                rows[variant].append(row)
                print(f"  run {run + 1}/{runs} {variant}: clamped {row['window_clamped'] / seconds:,.0f}/s after the "
                      f"warm-up; whole run: sent {row['sent']:,}, clamped {row['clamped']:,}, unclamped "
                      f"{row['unclamped']}, queue drops {row['queue_drops']}, net {row['net_clamped']:,}, daemon "
                      f"{row['daemon_clamped']:,}", file=sys.stderr, flush=True)
                for line in row["shedding"][:3]:
                    print(f"      {line}", file=sys.stderr, flush=True)
        burst_result = burst(mssclamp, config)
    finally:
        bq.down()
        os.unlink(config)
        shutil.rmtree(os.path.dirname(SOCKET), ignore_errors=True)

    names = {"k": "(k) kernel TCPMSS", "m": "(m) mssclamp --install-rules", "n": "(n) the same, --no-detect"}

    def summary(variant):
        data = rows[variant]
        whole = seconds + WARMUP[0]
        per = lambda key: statistics.median(row[key] / whole for row in data)
        return {"clamped_per_s": statistics.median(row["window_clamped"] / seconds for row in data),
                "sent_per_s": per("sent"), "unclamped_per_s": per("unclamped"),
                "lost_per_s": statistics.median(max(0, row["sent"] - row["clamped"] - row["unclamped"]) / whole for row in data),
                "lost_total": sum(max(0, row["sent"] - row["clamped"] - row["unclamped"]) for row in data),
                "queue_drops_total": sum(row["queue_drops"] for row in data),
                "unclamped_total": sum(row["unclamped"] for row in data),
                "net_clamped_total": sum(row["net_clamped"] for row in data),
                "daemon_clamped_total": sum(row["daemon_clamped"] for row in data), "runs": data}

    table = {"k": summary("k"), "m": summary("m"), "n": summary("n")}
    empty = [names[variant] for variant in "kmn" if not table[variant]["clamped_per_s"] or not table[variant]["sent_per_s"]]
    if empty:
        raise SystemExit(f"bench flood: no SYN sent or delivered clamped for {', '.join(empty)}; no result written")
    ratio = table["m"]["clamped_per_s"] / table["k"]["clamped_per_s"]
    detect_ratio = table["m"]["clamped_per_s"] / table["n"]["clamped_per_s"]
    report = {"ratio_clamped_m_over_n": detect_ratio, "benchmark": "flood", "runs": runs, "seconds_per_run": seconds, "warmup_seconds": WARMUP[0], "variants": table,
              "ratio_clamped_m_over_k": ratio, "burst_50000": burst_result, "daemon_arguments": EXTRA}
    with open(output, "w") as handle:
        json.dump(report, handle, indent=2)
    print(f"SYN flood at the generator's full rate: {runs} interleaved runs of {WARMUP[0]:g}s warm-up + {seconds:g}s "
          f"counted, trafgen on all {os.cpu_count()} CPUs")
    print(f"  {'variant':30} {'clamped/s':>11} | whole runs: {'sent/s':>11} {'unclamped':>10} {'lost':>6} {'queue drops':>12}")
    for variant in "kmn":
        row = table[variant]
        print(f"  {names[variant]:30} {row['clamped_per_s']:>11,.0f} | {'':12}{row['sent_per_s']:>11,.0f} "
              f"{row['unclamped_total']:>10} {row['lost_total']:>6} {row['queue_drops_total']:>12}")
    m = table["m"]
    print(f"  mssclamp: {m['daemon_clamped_total']:,} SYNs clamped by the daemon, {m['net_clamped_total']:,} by the "
          f"kernel safety net; {m['unclamped_total']} unclamped, {m['queue_drops_total']} dropped at the queue")
    print(f"  ratio clamped (m)/(k): {ratio:.3f}   (goal >= 0.9, with 0 unclamped and 0 dropped)")
    print(f"  ratio clamped (m)/(n), the black-hole watch on/off: {detect_ratio:.3f}")
    b = burst_result
    print(f"  burst of 50,000 SYNs into a live daemon with the defaults: sent {b['sent']:,}, delivered clamped "
          f"{b['clamped']:,}, unclamped {b['unclamped']}, queue drops {b['queue_drops']}; clamped by the daemon "
          f"{b['daemon_clamped']:,}, by the net {b['net_clamped']:,}")


if __name__ == "__main__":
    main()

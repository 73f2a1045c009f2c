#!/usr/bin/env python3
"""`scripts/bench soak`: memory under saturation and peer churn, for as long as it takes to see a trend.

The router namespace of `scripts/bench queue` runs `mssclamp run` (release, --metrics, a control socket)
behind an NFQUEUE rule while trafgen sends SYNs at full rate from the generator. Meanwhile live peers come
and go through the control socket (`peer add` / `peer remove`, a new name each time, each matching one of
the 200 source addresses the flood steps through, so every peer counts packets and the bound on the
counters of peers that left is reached), the metrics endpoint is scraped and `stats` asked every few
seconds. The daemon's RSS is sampled every 10 s. Side by side, the C NFQUEUE consumer's RSS under the
same flood (no churn: it has no peers) is the baseline.

Usage: bench-soak.py MSSCLAMP QUEUE_BASELINE OUTPUT_JSON [--seconds 600]
Prints the RSS curve. Each name of a peer that left costs memory until the counters hold their 1,000 such
names; flat means: from then on RSS grows by less than 5 % (the script fails otherwise).
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("bench_queue", os.path.join(here, "bench-queue.py"))
bq = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bq)

SOCKET = "/run/mssclamp-soak/control.sock"  # a directory of its own: the daemon refuses /tmp
# The daemon keeps the counters of peers that left for the last 1,000 names, the rest summed under
# "(retired)" (Sources/MSSDaemon/DataPlane/PublishedCounters.swift, retiredLimit): a churn of more names than that must hit it.
RETIRED_LIMIT = 1000
LIVE = 20

# The flood of bench-queue.py, its source stepping through 198.51.100.2-201 (one address per packet, the
# checksums computed again): every live peer of the churn below sees SYNs while it lives, so peers that
# leave carry counts, and the bound on their names is what keeps memory flat.
TRAFGEN = bq.TRAFGEN.replace("198, 51, 100, 2,", "198, 51, 100, dinc(2, 201),")
assert TRAFGEN != bq.TRAFGEN


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def churn(mssclamp, stop, counters):
    """Live peers through the control socket: add one, remove the one added 20 before."""
    index = 0
    while not stop.is_set():
        name = f"live-{index}"
        # Host addresses inside the generator's /24, so each live peer claims real SYNs while it lives.
        address = f"198.51.100.{2 + index % 200}/32"
        add = subprocess.run([mssclamp, "peer", "add", name, "--match", address, "--mss", str(1200 + index % 100),
                              "--socket", SOCKET], capture_output=True, text=True)
        if add.returncode == 0:
            counters["added"] += 1
        if index >= LIVE:
            subprocess.run([mssclamp, "peer", "remove", f"live-{index - LIVE}", "--socket", SOCKET], capture_output=True)
            counters["removed"] += 1
        index += 1
        # Two peers with the same prefix conflict: the one 20 back still holds 198.51.100.(2+i%200) only
        # after 200 turns, long after it was removed.
        time.sleep(0.05)


def observe(mssclamp, stop, counters):
    while not stop.is_set():
        subprocess.run(["ip", "netns", "exec", bq.ROUTER, "curl", "-s", "-o", "/dev/null", "--max-time", "5",
                        "http://127.0.0.1:9469/metrics"], capture_output=True)
        subprocess.run([mssclamp, "stats", "--socket", SOCKET, "--timeout", "5"], capture_output=True)
        counters["scrapes"] += 1
        time.sleep(2)


def flood(config, stop):
    while not stop.is_set():
        bq.trafgen(config, seconds=30)


def main():
    arguments = sys.argv[1:]
    mssclamp, baseline, output = arguments[0], arguments[1], arguments[2]
    seconds = float(arguments[arguments.index("--seconds") + 1]) if "--seconds" in arguments else 600
    os.sched_setaffinity(0, {0})
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as handle:
        handle.write(TRAFGEN)
        config = handle.name
    report = {"benchmark": "soak", "seconds": seconds}
    try:
        bq.up()
        bq.set_rule(bq.NFQUEUE_RULE.replace("-m tcpmss --mss 1361:65535 ", ""))
        # The baseline first, for a third of the time: its RSS under the same flood.
        consumer = bq.start_consumer([baseline, "0", "4096"], "queue-baseline")
        stop = threading.Event()
        flooder = threading.Thread(target=flood, args=(config, stop))
        flooder.start()
        base = []
        start = time.time()
        while time.time() - start < seconds / 3:
            time.sleep(10)
            base.append((round(time.time() - start), rss_kb(consumer.pid)))
        stop.set()
        flooder.join()
        consumer.terminate()
        consumer.wait(timeout=10)

        # The daemon logs every peer change: to a file, as under journald, not to a pipe nobody reads.
        log = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)
        daemon = subprocess.Popen(
            ["ip", "netns", "exec", bq.ROUTER, "taskset", "-c", "1", mssclamp, "run", "--mss", "1360", "--queue", "0",
             "--control-socket", SOCKET, "--metrics", "127.0.0.1:9469"], stdout=log, stderr=log)
        deadline = time.time() + 20
        while time.time() < deadline and not bq.consumer_ready(None):
            time.sleep(0.1)
        counters = {"added": 0, "removed": 0, "scrapes": 0}
        stop = threading.Event()
        threads = [threading.Thread(target=flood, args=(config, stop)),
                   threading.Thread(target=churn, args=(mssclamp, stop, counters)),
                   threading.Thread(target=observe, args=(mssclamp, stop, counters))]
        for thread in threads:
            thread.start()
        curve = []
        added_at = []  # peers added by each sample's time
        start = time.time()
        while time.time() - start < seconds:
            time.sleep(10)
            curve.append((round(time.time() - start), rss_kb(daemon.pid)))
            added_at.append(counters["added"])
            print(f"  {curve[-1][0]:5d} s  RSS {curve[-1][1] / 1024:7.1f} MiB  peers added {counters['added']}",
                  file=sys.stderr, flush=True)
        stop.set()
        for thread in threads:
            thread.join()
        stats = subprocess.run([mssclamp, "stats", "--json", "--socket", SOCKET], capture_output=True, text=True)
        statistics = json.loads(stats.stdout) if stats.returncode == 0 else {}
        daemon.terminate()
        daemon.wait(timeout=20)
        log.close()
        os.unlink(log.name)
    finally:
        bq.down()
        os.unlink(config)
        shutil.rmtree(os.path.dirname(SOCKET), ignore_errors=True)

    if not curve or not base or not statistics.get("packets"):
        raise SystemExit(f"bench soak: nothing measured ({len(curve)} mssclamp RSS samples, {len(base)} baseline "
                         f"samples, {statistics.get('packets', 0)} packets seen); no result written")
    peers = statistics.get("peers", {})
    counted = [name for name, values in peers.items() if values.get("seen", 0) > 0]
    # Live peers, (default), (retired) and the last RETIRED_LIMIT names that left.
    bound = RETIRED_LIMIT + LIVE + 2
    if len(peers) > bound:
        raise SystemExit(f"bench soak: {len(peers)} peer names kept in the counters, over the bound {bound}")
    exercised = counters["added"] > RETIRED_LIMIT + LIVE
    if exercised and "(retired)" not in peers:
        raise SystemExit(f"bench soak: {counters['added']} peers came and went, yet none was summed under (retired): "
                         "the churn never reached the bound on counter names (did the peers see packets?)")
    after_minute = [rss for t, rss in curve if t >= 60] or [rss for _, rss in curve]
    growth = (after_minute[-1] - after_minute[0]) / after_minute[0] if len(after_minute) >= 2 else 0
    # Until the counters hold their 1,000 names of peers that left, each name costs memory; from then on
    # nothing may grow. The goal (< 5 %) is on what follows the bound.
    bounded = [rss for (t, rss), added in zip(curve, added_at) if added > RETIRED_LIMIT + LIVE and t >= 60]
    growth_bounded = (bounded[-1] - bounded[0]) / bounded[0] if len(bounded) >= 2 else None
    if growth_bounded is not None and growth_bounded >= 0.05:
        raise SystemExit(f"bench soak: RSS grew {growth_bounded * 100:.1f} % after the counters reached their bound")
    report.update({
        "mssclamp_rss_kb": curve, "baseline_rss_kb": base, "churn": counters,
        "packets": statistics.get("packets", 0), "peer_names_kept": len(peers), "peer_names_with_packets": len(counted),
        "peer_name_bound": bound, "bound_exercised": exercised,
        "growth_after_first_minute": growth, "growth_after_bound": growth_bounded,
        "bound_reached_at_s": next((t for (t, _), added in zip(curve, added_at) if added > RETIRED_LIMIT + LIVE), None),
        "peers_added_at_sample": added_at,
        "ratio_rss_mssclamp_over_c": (curve[-1][1] / base[-1][1]) if curve and base else None,
    })
    with open(output, "w") as handle:
        json.dump(report, handle, indent=2)
    print(f"Soak: {seconds:g} s of SYNs at full rate with {counters['added']} live peers added and "
          f"{counters['removed']} removed, {counters['scrapes']} scrapes and stats calls")
    print(f"  mssclamp RSS: {curve[0][1] / 1024:.1f} MiB at {curve[0][0]} s, {after_minute[0] / 1024:.1f} MiB at 1 min, "
          f"{curve[-1][1] / 1024:.1f} MiB at the end: {growth * 100:+.1f} % after the first minute")
    if growth_bounded is not None:
        print(f"  once the counters hold their {RETIRED_LIMIT:,} names of peers that left "
              f"(at {report['bound_reached_at_s']} s): {growth_bounded * 100:+.1f} % to the end (flat: < 5 %)")
    print(f"  C consumer RSS (baseline, same flood, no peers): {base[-1][1] / 1024:.1f} MiB; "
          f"ratio {report['ratio_rss_mssclamp_over_c']:.1f}")
    print(f"  packets seen {report['packets']:,}; peer names kept in the counters: {report['peer_names_kept']} "
          f"({len(counted)} with packets; bound {bound}, {'reached' if exercised else 'NOT reached: run longer'})")
    print("  curve (s, MiB): " + ", ".join(f"{t}:{rss / 1024:.1f}" for t, rss in curve))


if __name__ == "__main__":
    main()

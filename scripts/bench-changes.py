#!/usr/bin/env python3
"""`scripts/bench policy` (second half): how fast a running daemon takes peer changes at scale.

A namespace of its own runs `mssclamp run --install-rules` (release build; the NFQUEUE rules and the
kernel safety net in place) with a policy file of N peers already present. Then, for each N:

- `peer add`, batched: ADDS live peers through the control socket from one client, 300 `peer-add`
  requests to each `batch` request (what a provisioning script or a restarting VPN sends). Reported: the
  wall time for all of them and adds per second.
- `peer add`, single: SINGLE more, each a connection of its own, from CLIENTS concurrent clients.
- `learn-address`: LEARNS invocations of `mssclamp learn-address TEMPLATE add ADDRESS CN`, one after the
  other, each a whole process (what OpenVPN runs, and waits for). Reported: p50, p99, max in ms.
- afterwards, `mssclamp rules verify` with the daemon's socket must pass (the kernel's net holds exactly
  the daemon's policy), and the daemon's policy must hold N + ADDS + LEARNS peers.

The baseline, measured side by side in the same run: the same adds against a daemon started without
--install-rules (nothing in the kernel to keep in step), so the ratio says what keeping the kernel in
step costs.

Peers are /128s in 2001:db8::/32 (documentation space): they are policy entries, no traffic is sent.

Usage: bench-changes.py MSSCLAMP OUTPUT_JSON [--sizes 1000,10000,100000] [--adds 10000] [--single 1000] [--learns 200] [--clients 8]
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

NAMESPACE = "mcbchg"
DIRECTORY = "/run/mssclamp-bench-changes"
SOCKET = f"{DIRECTORY}/control.sock"


def sh(*args, check=True, **kwargs):
    return subprocess.run(list(args), check=check, capture_output=True, text=True, **kwargs)


def nsx(*args, **kwargs):
    return sh("ip", "netns", "exec", NAMESPACE, *args, **kwargs)


def cleanup():
    sh("ip", "netns", "del", NAMESPACE, check=False)
    sh("rm", "-rf", DIRECTORY, check=False)


def address(block, index):
    """The index-th /128 of block (a 16-bit group of 2001:db8:BLOCK::/48)."""
    return f"2001:db8:{block:x}::{index >> 16:x}:{index & 0xffff:x}"


def write_policy(path, size):
    with open(path, "w") as handle:
        handle.write("[defaults]\nmss4 = 1360\nmss6 = 1340\n\n")
        handle.write('[[peer]]\nname = "clients"\nlearn_address = true\nlearn_within = ["2001:db8:8::/48"]\nmss = 1280\n\n')
        for index in range(size):
            handle.write(f'[[peer]]\nname = "file-{index}"\nmatch = "{address(1, index)}/128"\nmss = {1200 + index % 100}\n\n')


def request(payload, timeout=30):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout)
        client.connect(SOCKET)
        client.sendall((json.dumps(payload) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = client.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


def start_daemon(mssclamp, policy, install_rules):
    os.makedirs(DIRECTORY, mode=0o700, exist_ok=True)
    log = open(os.path.join(DIRECTORY, "daemon.log"), "w")
    arguments = [mssclamp, "run", "--config", policy, "--control-socket", SOCKET]
    if install_rules:
        arguments.append("--install-rules")
    process = subprocess.Popen(["ip", "netns", "exec", NAMESPACE] + arguments, stdout=log, stderr=log)
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"daemon exited {process.returncode}: {open(log.name).read()[-2000:]}")
        try:
            if request({"command": "stats"}, timeout=5).get("ok"):
                return process
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("daemon did not start")


def stop_daemon(process):
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def adds(count, clients, first):
    """`count` peer-add requests from `clients` threads; returns (seconds, failures)."""
    failures = []
    next_index = [0]
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                index = next_index[0]
                next_index[0] += 1
            if index >= count:
                return
            peer = {"name": f"live-{first + index}", "match": [f"{address(2, first + index)}/128"], "mss": str(1100 + index % 200)}
            try:
                answer = request({"command": "peer-add", "peer": peer})
                if not answer.get("ok"):
                    failures.append(answer.get("error"))
            except OSError as error:
                failures.append(str(error))

    threads = [threading.Thread(target=work) for _ in range(clients)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - start, failures


def batched_adds(count, first, per_request=300):
    """`count` peer-add requests from one client, `per_request` to a `batch` request; returns (seconds, failures)."""
    failures = []
    start = time.monotonic()
    for base in range(0, count, per_request):
        requests = [{"command": "peer-add", "peer": {"name": f"batched-{first + index}", "match": [f"{address(3, first + index)}/128"],
                                                    "mss": str(1100 + index % 200)}}
                    for index in range(base, min(count, base + per_request))]
        try:
            answer = request({"command": "batch", "requests": requests}, timeout=60)
            failures += [r.get("error") for r in answer.get("responses", []) if not r.get("ok")]
            if "responses" not in answer:
                failures.append(answer.get("error"))
        except OSError as error:
            failures.append(str(error))
    return time.monotonic() - start, failures


def learns(mssclamp, count, first):
    times = []
    failures = 0
    for index in range(count):
        start = time.monotonic()
        result = subprocess.run([mssclamp, "learn-address", "clients", "add", address(8, first + index), f"cn{first + index}",
                                 "--strict", "--socket", SOCKET], capture_output=True, text=True)
        times.append((time.monotonic() - start) * 1000)
        failures += result.returncode != 0
    times.sort()
    return {"p50_ms": round(statistics.median(times), 2), "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
            "max_ms": round(times[-1], 2), "failures": failures, "count": count}


def peer_total():
    return request({"command": "peer-list", "offset": 0, "limit": 1}).get("total")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mssclamp")
    parser.add_argument("output")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--adds", type=int, default=10000)
    parser.add_argument("--learns", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--single", type=int, default=1000, help="peer adds sent one per connection, by --clients clients")
    options = parser.parse_args()
    cleanup()
    results = {"host": {"cpus": os.cpu_count(), "kernel": os.uname().release}, "adds": options.adds,
               "clients": options.clients, "runs": []}
    try:
        sh("ip", "netns", "add", NAMESPACE)
        nsx("ip", "link", "set", "lo", "up")
        for size in [int(text) for text in options.sizes.split(",") if text.strip()]:
            policy = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False).name
            write_policy(policy, size)
            run = {"peers_present": size}
            for install_rules in (False, True):
                label = "rules" if install_rules else "no_rules"
                daemon = start_daemon(options.mssclamp, policy, install_rules)
                try:
                    seconds, failures = batched_adds(options.adds, 0)
                    run[label] = {"add_seconds": round(seconds, 3), "adds_per_second": round(options.adds / seconds, 1),
                                  "add_failures": len(failures), "first_failure": failures[0] if failures else None}
                    seconds, failures = adds(options.single, options.clients, 0)
                    run[label]["single"] = {"count": options.single, "clients": options.clients, "seconds": round(seconds, 3),
                                            "adds_per_second": round(options.single / seconds, 1), "failures": len(failures)}
                    if install_rules:
                        time.sleep(3)  # the kernel follows the adds within a moment; learns are timed on a settled daemon
                        run[label]["learn_address"] = learns(options.mssclamp, options.learns, 0)
                        # The kernel's net follows the policy within a moment: verify until it agrees (30 s at most).
                        started = time.monotonic()
                        while True:
                            verify = nsx(options.mssclamp, "rules", "verify", "--config", policy, "--socket", SOCKET, check=False)
                            if verify.returncode == 0 or time.monotonic() - started > 30:
                                break
                            time.sleep(0.2)
                        run[label]["verify_exit"] = verify.returncode
                        run[label]["net_settled_seconds"] = round(time.monotonic() - started, 2)
                        if verify.returncode != 0:
                            run[label]["verify_output"] = verify.stdout[-2000:]
                        run[label]["peers_in_policy"] = peer_total()
                finally:
                    stop_daemon(daemon)
                    nsx(options.mssclamp, "rules", "remove", "--config", policy, check=False)
                single = run[label]["single"]
                print(f"{size:>7} peers present, {label:>8}: {options.adds} batched adds in {run[label]['add_seconds']} s "
                      f"({run[label]['adds_per_second']}/s, {run[label]['add_failures']} failed); {single['count']} single adds "
                      f"from {single['clients']} clients {single['adds_per_second']}/s", flush=True)
            run["ratio_rules_to_no_rules"] = round(run["rules"]["adds_per_second"] / run["no_rules"]["adds_per_second"], 3)
            learn = run["rules"]["learn_address"]
            print(f"{size:>7} peers present: learn-address p50 {learn['p50_ms']} ms, p99 {learn['p99_ms']} ms, "
                  f"max {learn['max_ms']} ms ({learn['failures']} failed); rules verify exit {run['rules']['verify_exit']}; "
                  f"{run['rules']['peers_in_policy']} peers in the policy; with/without rules {run['ratio_rules_to_no_rules']}",
                  flush=True)
            results["runs"].append(run)
            os.unlink(policy)
    finally:
        cleanup()
    if not results["runs"]:
        raise SystemExit("bench changes: no size measured (--sizes is empty); no result written")
    with open(options.output, "w") as handle:
        json.dump(results, handle, indent=2)
    ok = all(r["rules"]["verify_exit"] == 0 and r["rules"]["add_failures"] == 0 and r["rules"]["learn_address"]["failures"] == 0
             for r in results["runs"])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A/B: espgate-perf fwd against dpdk-testpmd io forwarding on the same vdevs and the same core, alternating runs.

Both are timed the same way: from the moment forwarding starts to the end of the run, and also per second of the
forwarding lcore's own CPU time (from /proc/PID/task/TID/schedstat), which is steadier on a shared machine.
Prints a table and, with --json, one JSON object with the medians and the ratio.
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def thread_cpu_ns(pid, comm_prefix):
    """CPU ns of the first thread of pid whose name starts with comm_prefix."""
    for tid in sorted(os.listdir(f"/proc/{pid}/task")):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                comm = f.read().strip()
            if comm.startswith(comm_prefix):
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    return int(f.read().split()[0])
        except OSError:
            continue
    return None


def run_testpmd(vdevs, lcore, main, seconds, burst, tag):
    # Line-buffered, or testpmd holds its "started" line in a pipe buffer.
    cmd = ["stdbuf", "-oL", "dpdk-testpmd", "-l", f"{main},{lcore}", "--main-lcore", str(main), "--no-huge", "-m", "1024",
           "--no-pci", "--no-telemetry", f"--file-prefix=tp-{tag}-{os.getpid()}"]
    for v in vdevs:
        cmd += ["--vdev", v]
    cmd += ["--", "--forward-mode=io", f"--burst={burst}", "--rxq=1", "--txq=1", "--nb-cores=1", "--auto-start",
            "--stats-period=3600"]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    t0 = None
    for line in p.stdout:
        out.append(line)
        if "packet forwarding packets/burst" in line:
            t0 = time.monotonic()
            break
    if t0 is None:
        p.kill()
        raise RuntimeError("testpmd did not start forwarding:\n" + "".join(out))
    cpu0 = thread_cpu_ns(p.pid, f"rte-worker-{lcore}") or 0
    time.sleep(seconds)
    cpu1 = thread_cpu_ns(p.pid, f"rte-worker-{lcore}") or 0
    p.send_signal(signal.SIGINT)
    t1 = time.monotonic()
    rest, _ = p.communicate(timeout=60)
    text = "".join(out) + rest
    m = re.search(r"Accumulated forward statistics for all ports\+*\s*\n\s*RX-packets: (\d+).*\n\s*TX-packets: (\d+)", text)
    if not m:
        raise RuntimeError("no accumulated statistics in testpmd output:\n" + text[-2000:])
    tx = int(m.group(2))
    return {"mpps": tx / (t1 - t0) / 1e6, "mpps_per_cpu_second": tx / max(cpu1 - cpu0, 1) * 1e3, "tx_packets": tx}


def run_espgate(perf, vdevs, lcore, main, seconds, burst):
    cmd = [perf, "fwd", "--lcores", str(lcore), "--main-core", str(main), "--no-huge", "--seconds", str(seconds),
           "--burst", str(burst), "--stats-period", "0", "--json"]
    for v in vdevs:
        cmd += ["--vdev", v]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=seconds + 60)
    if r.returncode != 0:
        raise RuntimeError(f"espgate-perf failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--perf", default=os.path.join(ROOT, "target/release/espgate-perf"))
    ap.add_argument("--vdev", action="append", default=None)
    ap.add_argument("--lcore", type=int, default=1)
    ap.add_argument("--main-core", type=int, default=0)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--burst", type=int, default=32)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    vdevs = a.vdev or ["net_null0", "net_null1"]
    rows = []
    for i in range(a.rounds):
        # Alternate which goes first, so drift on the machine hits both alike.
        order = ["espgate", "testpmd"] if i % 2 == 0 else ["testpmd", "espgate"]
        for who in order:
            if who == "espgate":
                r = run_espgate(a.perf, vdevs, a.lcore, a.main_core, a.seconds, a.burst)
            else:
                r = run_testpmd(vdevs, a.lcore, a.main_core, a.seconds, a.burst, i)
            rows.append((i, who, r["mpps"], r["mpps_per_cpu_second"]))
            if not a.json:
                print(f"round {i} {who:8s} {r['mpps']:8.3f} Mpps wall  {r['mpps_per_cpu_second']:8.3f} Mpps/CPU-s",
                      flush=True)
    med = {}
    for who in ("espgate", "testpmd"):
        med[who] = {
            "mpps": statistics.median(r[2] for r in rows if r[1] == who),
            "mpps_per_cpu_second": statistics.median(r[3] for r in rows if r[1] == who),
        }
    res = {
        "vdevs": vdevs, "lcore": a.lcore, "seconds": a.seconds, "rounds": a.rounds, "burst": a.burst,
        "espgate": med["espgate"], "testpmd": med["testpmd"],
        "ratio_wall": med["espgate"]["mpps"] / med["testpmd"]["mpps"],
        "ratio_cpu": med["espgate"]["mpps_per_cpu_second"] / med["testpmd"]["mpps_per_cpu_second"],
    }
    if a.json:
        print(json.dumps(res))
    else:
        print(f"median espgate {med['espgate']['mpps']:.3f} Mpps, testpmd {med['testpmd']['mpps']:.3f} Mpps: "
              f"ratio {res['ratio_wall']:.3f} (wall), {res['ratio_cpu']:.3f} (per lcore CPU-second)")


if __name__ == "__main__":
    sys.exit(main())

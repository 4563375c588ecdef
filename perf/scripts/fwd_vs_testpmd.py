#!/usr/bin/env python3
"""A/B: espgate-perf fwd against dpdk-testpmd io forwarding on the same vdevs and the same core, alternating runs.

Both report a forwarding rate every second; each run's figure is the median of its steady-state seconds (the first
SKIP seconds, where testpmd and espgate both ramp up, are left out). Rounds alternate which tool goes first, so drift
on a shared machine hits both alike; the result is the ratio of the medians over rounds.
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
SKIP = 1


def steady(rates):
    """Median of the per-second rates after the ramp-up."""
    rates = [r for r in rates if r > 0]
    if len(rates) <= SKIP:
        raise RuntimeError(f"too few periodic samples: {rates}")
    return statistics.median(rates[SKIP:])


def run_testpmd(vdevs, lcore, main, seconds, burst, tag):
    cmd = ["stdbuf", "-oL", "dpdk-testpmd", "-l", f"{main},{lcore}", "--main-lcore", str(main), "--no-huge",
           "-m", "1024", "--no-pci", "--no-telemetry", f"--file-prefix=tp-{tag}-{os.getpid()}"]
    for v in vdevs:
        cmd += ["--vdev", v]
    cmd += ["--", "--forward-mode=io", f"--burst={burst}", "--rxq=1", "--txq=1", "--nb-cores=1", "--auto-start",
            "--stats-period=1"]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # testpmd can take a few seconds to start forwarding: zero-rate periods are not counted.
    time.sleep(seconds + SKIP + 4)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    # Each period prints one block per port; a period's rate is the sum of the ports' Tx-pps.
    per_port = [int(x) for x in re.findall(r"Tx-pps:\s+(\d+)", out)]
    n = len(vdevs)
    periods = [sum(per_port[i:i + n]) / 1e6 for i in range(0, len(per_port) - n + 1, n)]
    return steady(periods)


def run_espgate(perf, vdevs, lcore, main, seconds, burst):
    cmd = [perf, "fwd", "--lcores", str(lcore), "--main-core", str(main), "--no-huge", "--seconds",
           str(seconds + SKIP + 1), "--burst", str(burst), "--stats-period", "1"]
    for v in vdevs:
        cmd += ["--vdev", v]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=seconds + 60)
    if r.returncode != 0:
        raise RuntimeError(f"espgate-perf failed: {r.stderr[-2000:]}")
    periods = [float(x) for x in re.findall(r"Forwarded: ([\d.]+) Mpps", r.stdout)]
    return steady(periods)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--perf", default=os.path.join(ROOT, "target/release/espgate-perf"))
    ap.add_argument("--vdev", action="append", default=None)
    ap.add_argument("--lcore", type=int, default=1)
    ap.add_argument("--main-core", type=int, default=0)
    ap.add_argument("--seconds", type=int, default=5, help="steady-state seconds per run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--burst", type=int, default=32)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    vdevs = a.vdev or ["net_null0", "net_null1"]
    rows = []
    for i in range(a.rounds):
        order = ["espgate", "testpmd"] if i % 2 == 0 else ["testpmd", "espgate"]
        for who in order:
            if who == "espgate":
                mpps = run_espgate(a.perf, vdevs, a.lcore, a.main_core, a.seconds, a.burst)
            else:
                mpps = run_testpmd(vdevs, a.lcore, a.main_core, a.seconds, a.burst, i)
            rows.append((i, who, mpps))
            if not a.json:
                print(f"round {i} {who:8s} {mpps:8.3f} Mpps", flush=True)
    med = {w: statistics.median(r[2] for r in rows if r[1] == w) for w in ("espgate", "testpmd")}
    res = {"vdevs": vdevs, "lcore": a.lcore, "seconds": a.seconds, "rounds": a.rounds, "burst": a.burst,
           "espgate_mpps": med["espgate"], "testpmd_mpps": med["testpmd"],
           "ratio": med["espgate"] / med["testpmd"],
           "runs": [{"round": r[0], "tool": r[1], "mpps": r[2]} for r in rows]}
    if a.json:
        print(json.dumps(res))
    else:
        print(f"median espgate {med['espgate']:.3f} Mpps, testpmd {med['testpmd']:.3f} Mpps: ratio {res['ratio']:.3f}")


if __name__ == "__main__":
    sys.exit(main())

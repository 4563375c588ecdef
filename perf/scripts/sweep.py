#!/usr/bin/env python3
"""The standard matrix of issue #7: espgate-perf esp over ciphers, sizes, SA counts, directions and worker lcores,
with same-run baselines, JSON, PNG plots and the generated block of perf/RESULTS.md.

Cases (full run):
  generator mode (one worker lcore, generator on the main lcore): AES-128-GCM, AES-128-CBC+HMAC-SHA1, AES-256-GCM
    x sizes 64, 512, 1420, imix x SAs 1, 1000, 100000 (--sas-1m adds 1,000,000: ~10 GB, minutes) x encrypt, decrypt
  closed loop (--direction both, no generator): the three suites x the four sizes x SAs 1 and 1000 x 1 and 2 workers,
    with a 65536-packet replay window (LOOP_WINDOW: two workers interleave one SA's frames by up to a worker's pause)
  baselines: dpdk-test-crypto-perf on crypto_aesni_mb per (suite, direction, size) (crypto_perf.py), the generator
    ceiling per (direction, size) (esp --bypass), dpdk-testpmd io forwarding on two net_null ports (the I/O limit)
  goal rounds (--goal-rounds R, default 5; 0 skips): the cases issue #7's and #9's goals name, each espgate case
    and its crypto-perf baseline run alternately R times, the minimum cycles/packet of each kept (the host has fast
    and slow minutes that single runs land in at random); 1 SA against the most SAs (100,000, or 1,000,000 with
    --sas-1m) the same way; one SA pair in the closed loop on 1 and on 2 workers (AES-128-GCM 1420 B and 64 B) the
    same way, the best capacity of each kept and the two-worker rounds' drops summed; then `espgate-perf mem` over
    the largest run's SA state: the memory floor
  --loss-check: for AES-128-GCM 1420 B and 64 B encrypt, 1 SA: the measured maximum, then --rate at 90% (--loss-at) of it
    for 60 s (2 s with --quick); loss and p50/p99/p99.9 latency.

Writes OUT/sweep.json, OUT/by_size.png, OUT/by_sas.png, OUT/by_lcores.png and replaces the block between
<!-- sweep:begin --> and <!-- sweep:end --> in the RESULTS file (default perf/RESULTS.md; with --out outside
perf/results, a copy OUT/RESULTS.md), leaving the rest of it as it is.

  python3 perf/scripts/sweep.py --priority                   # the full sweep, into perf/results/<date>/
  python3 perf/scripts/sweep.py --quick --out /tmp/x         # smoke run: a few cases, 2 s each
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import crypto_perf  # noqa: E402
import esp_vs_baseline  # noqa: E402
import fwd_vs_testpmd  # noqa: E402
import sweep_report  # noqa: E402

SUITES = [("esp-gcm-128", "none"), ("esp-aes-128", "esp-sha-hmac"), ("esp-gcm-256", "none")]
IMIX = [64, 570, 64, 64, 570, 64, 1518, 64, 570, 64, 64, 570]  # as espgate-perf's --size imix


def log(msg):
    print(f"[sweep {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def matrix(a):
    """(generator cases, loop cases, baseline cases) as lists of dicts."""
    if a.quick:
        suites, sizes, sas, dirs = SUITES[:1], ["64", "imix"], [1, 1000], ["encrypt", "decrypt"]
        loop = [dict(cipher=c, integrity=i, size=s, sas=1, lcores=l) for c, i in suites for s in ["64"]
                for l in ("1", "0,1")]
    else:
        suites, sizes, dirs = SUITES, ["64", "512", "1420", "imix"], ["encrypt", "decrypt"]
        sas = [1, 1000, 100000] + ([1000000] if a.sas_1m else [])
        loop = [dict(cipher=c, integrity=i, size=s, sas=n, lcores=l) for c, i in suites for s in sizes
                for n in (1, 1000) for l in ("1", "0,1")]
    gen = [dict(cipher=c, integrity=i, direction=d, size=s, sas=n) for c, i in suites for d in dirs for s in sizes
           for n in sas]
    return gen, loop, suites, sizes, dirs


def aesni_mb(cipher, integ, direction, size, total_ops, priority, tag):
    """The crypto-perf baseline for a frame size, or for IMIX the per-packet mean over its pattern."""
    if size != "imix":
        return esp_vs_baseline.run_base(cipher, integ, direction, int(size), total_ops, priority, tag)
    per = {s: esp_vs_baseline.run_base(cipher, integ, direction, s, total_ops, priority, f"{tag}-{s}")
           for s in sorted(set(IMIX))}
    us = sum(1.0 / per[s]["mpps"] for s in IMIX) / len(IMIX)
    cyc = sum(per[s]["cycles_per_packet"] for s in IMIX) / len(IMIX)
    return {"mpps": 1.0 / us, "cycles_per_packet": cyc, "command": " ; ".join(per[s]["command"] for s in per),
            "imix_parts": {str(s): per[s]["mpps"] for s in per}}


def esp(a, c, bypass=False, extra=()):
    return esp_vs_baseline.run_esp(a.perf, c["cipher"], c["integrity"], c["direction"], c["size"], c["sas"],
                                   a.seconds, bypass, a.priority, list(extra))


# The closed loop's anti-replay window. Its frames reach the decrypting worker out of order by up to a pause of the
# other worker (on this 2-CPU host one worker shares its CPU with the main lcore): 4096 packets is under 1 ms at
# 5 Mpps, and pauses of several ms happen here; 65536 (16 KB of buckets per SA) is what the engine allows.
LOOP_WINDOW = 65536


def loop_run(a, c):
    extra = ["--lcores", c["lcores"], "--replay-window", str(LOOP_WINDOW)]
    return esp_vs_baseline.run_esp(a.perf, c["cipher"], c["integrity"], "both", c["size"], c["sas"], a.seconds,
                                   False, a.priority, extra)


def goal_runs(a, attempt):
    """Alternating rounds of the goal cases (see the module doc); per case every round's cycles/packet."""
    gcm, cbc = SUITES[0], SUITES[1]
    if a.quick:
        cases, many, dirs = [(gcm, "encrypt", 64)], 1000, ["encrypt"]
    else:
        cases = [(gcm, "encrypt", 1420), (gcm, "decrypt", 1420), (gcm, "encrypt", 64), (gcm, "decrypt", 64),
                 (cbc, "encrypt", 1420), (cbc, "decrypt", 1420)]
        many, dirs = (1000000 if a.sas_1m else 100000), ["encrypt", "decrypt"]
    res = {"rounds": a.goal_rounds, "cases": [], "sas": [], "loop": [], "mem": None}
    for (c, i), d, z in cases:
        res["cases"].append({"cipher": c, "integrity": i, "direction": d, "size": z, "esp": [], "aesni_mb": [],
                             "tsc_hz": 0})
    for d in dirs:
        for n in (1, many):
            res["sas"].append({"cipher": gcm[0], "integrity": gcm[1], "direction": d, "size": 64, "sas": n,
                               "esp": [], "sa_state_bytes": 0, "tsc_hz": 0})
    for z in ([64] if a.quick else [1420, 64]):
        for lc in ("1", "0,1"):
            res["loop"].append({"cipher": gcm[0], "integrity": gcm[1], "size": z, "sas": 1, "lcores": lc,
                                "capacity": [], "drops": {}, "replay_window": LOOP_WINDOW})
    for k in range(a.goal_rounds):
        log(f"goal round {k + 1}/{a.goal_rounds}")
        for g in res["cases"]:
            what = f"{g['cipher']} {g['direction']} {g['size']}"
            b = attempt(f"goal aesni_mb {what}", lambda: esp_vs_baseline.run_base(
                g["cipher"], g["integrity"], g["direction"], g["size"], a.total_ops, a.priority, f"goal{k}"))
            c = dict(cipher=g["cipher"], integrity=g["integrity"], direction=g["direction"], size=g["size"], sas=1)
            r = attempt(f"goal esp {what}", lambda: esp(a, c))
            if b:
                g["aesni_mb"].append(b["cycles_per_packet"])
            if r:
                g["esp"].append(r["cycles_per_packet"])
                g["tsc_hz"] = r["tsc_hz"]
        for g in res["sas"]:
            c = {k2: g[k2] for k2 in ("cipher", "integrity", "direction", "size", "sas")}
            # A million inbound SAs need a bigger arena for each to get frames (about 33 s a run).
            extra = ["--arena-bytes", str(512 << 20)] if g["sas"] >= 1000000 and g["direction"] == "decrypt" else []
            r = attempt(f"goal esp {c}", lambda: esp(a, c, extra=extra))
            if r:
                g["esp"].append(r["cycles_per_packet"])
                g["sa_state_bytes"] = max(g["sa_state_bytes"], r.get("sa_state_bytes", 0))
                g["tsc_hz"] = r["tsc_hz"]
        for g in res["loop"]:
            c = {k2: g[k2] for k2 in ("cipher", "integrity", "size", "sas", "lcores")}
            r = attempt(f"goal loop {c}", lambda: loop_run(a, c))
            if r:
                g["capacity"].append(sum(r["mpps_per_worker_cpu_second"]))
                for cause, n in (r.get("drops") or {}).items():
                    g["drops"][cause] = g["drops"].get(cause, 0) + n
    state = max((g["sa_state_bytes"] for g in res["sas"]), default=0)
    if state > 0:
        res["mem"] = attempt("goal mem", lambda: mem_floor(a, state))
    return res


def mem_floor(a, nbytes):
    cmd = [a.perf, "mem", "--bytes", str(nbytes), "--batch", "32", "--json"]
    r = subprocess.run((esp_vs_baseline.PRIORITY if a.priority else []) + cmd, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"espgate-perf mem failed: {r.stderr[-2000:]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["command"] = " ".join(cmd)
    return out


def machine():
    def sh(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"
    model = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    mem = next((ln.split()[1] for ln in open("/proc/meminfo") if ln.startswith("MemTotal")), "0")
    return {
        "cpu": model, "cpus": os.cpu_count(), "mem_gb": round(int(mem) / 1e6, 1), "kernel": platform.release(),
        "dpdk": sh(["pkg-config", "--modversion", "libdpdk"]), "rustc": sh(["rustc", "--version"]),
        "git": sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]),
        "git_dirty": bool(sh(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"])),
        "hugepages": sh(["sh", "-c", "grep HugePages_Total /proc/meminfo | awk '{print $2}'"]),
    }


def load():
    return os.getloadavg()[0]


def run(a):
    gen, loop, suites, sizes, dirs = matrix(a)
    out = {"meta": {"started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "machine": machine(), "quick": a.quick, "seconds": a.seconds, "priority": a.priority,
                    "perf": a.perf, "argv": sys.argv[1:], "load_start": load()},
           "testpmd": None, "aesni_mb": [], "bypass": [], "esp": [], "loop": [], "loss": [], "errors": []}

    def attempt(what, f):
        try:
            return f()
        except Exception as e:  # one failed case is recorded, the sweep goes on
            log(f"FAILED {what}: {e}")
            out["errors"].append({"case": what, "error": str(e)[-1500:]})
            return None

    # testpmd takes a few seconds to start forwarding on a loaded machine: at least 5 s of samples.
    log("testpmd io on net_null (the I/O limit)")
    tp = attempt("testpmd", lambda: fwd_vs_testpmd.run_testpmd(["net_null0", "net_null1"], 1, 0, max(5, a.seconds),
                                                                          32, "sw"))
    out["testpmd"] = {"mpps": tp, "vdevs": ["net_null0", "net_null1"], "burst": 32} if tp else None

    log(f"aesni_mb baselines: {len(suites) * len(dirs) * len(sizes)} cases")
    for c, i in suites:
        for d in dirs:
            for s in sizes:
                r = attempt(f"aesni_mb {c} {d} {s}",
                            lambda: aesni_mb(c, i, d, s, a.total_ops, a.priority, f"sw{len(out['aesni_mb'])}"))
                if r:
                    out["aesni_mb"].append({"cipher": c, "integrity": i, "direction": d, "size": s, **r})

    log("generator ceilings (--bypass)")
    for d in dirs:
        for s in sizes:
            c = dict(cipher=suites[0][0], integrity=suites[0][1], direction=d, size=s, sas=1)
            r = attempt(f"bypass {d} {s}", lambda: esp(a, c, bypass=True))
            if r:
                out["bypass"].append(r)

    log(f"generator mode: {len(gen)} cases of {a.seconds} s")
    for k, c in enumerate(gen):
        log(f"  {k + 1}/{len(gen)} {c}")
        r = attempt(f"esp {c}", lambda: esp(a, c))
        if r:
            out["esp"].append(r)

    log(f"closed loop: {len(loop)} cases")
    for k, c in enumerate(loop):
        log(f"  {k + 1}/{len(loop)} {c}")
        r = attempt(f"loop {c}", lambda: loop_run(a, c))
        if r:
            out["loop"].append(r)

    if a.loss_check:
        for size in ("1420", "64"):
            c = dict(cipher="esp-gcm-128", integrity="none", direction="encrypt", size=size, sas=1)
            mx = next((r for r in out["esp"] if all(str(r[k]) == str(v) for k, v in c.items())), None)
            if mx is None:
                mx = attempt(f"loss max {size}", lambda: esp(a, c))
            if not mx:
                continue
            rate = int(a.loss_at * mx["mpps"] * 1e6)
            secs = 2 if a.quick else a.loss_seconds
            log(f"loss check {size} B at {rate} pps for {secs} s")
            r = attempt(f"loss {size}", lambda: esp_vs_baseline.run_esp(
                a.perf, c["cipher"], c["integrity"], "encrypt", size, 1, secs, False, a.priority,
                ["--rate", str(rate)]))
            if r:
                out["loss"].append({"max_mpps": mx["mpps"], "max_mpps_per_cpu_second": mx["mpps_per_cpu_second"],
                                    "fraction_of_max": a.loss_at, **r})

    if a.goal_rounds > 0:
        out["goal_runs"] = goal_runs(a, attempt)

    out["meta"]["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    out["meta"]["load_end"] = load()
    return out


def reexec_with_matplotlib():
    """Plots need matplotlib: if this Python lacks it, run again under the project's venv (deploy/setup.sh --tests
    creates target/venv) when that has it."""
    try:
        import matplotlib  # noqa: F401
        return
    except ImportError:
        pass
    venv = os.path.join(ROOT, "target", "venv", "bin", "python3")
    in_venv = os.path.realpath(sys.prefix) == os.path.realpath(os.path.join(ROOT, "target", "venv"))
    if os.path.exists(venv) and not in_venv and subprocess.run(
            [venv, "-c", "import matplotlib"], capture_output=True).returncode == 0:
        os.execv(venv, [venv, os.path.abspath(__file__)] + sys.argv[1:])
    log("matplotlib not found (pip install matplotlib into target/venv): no plots")


def main():
    reexec_with_matplotlib()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--perf", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                                                   "release/espgate-perf"))
    ap.add_argument("--quick", action="store_true", help="a few cases, 2 s each (smoke test)")
    ap.add_argument("--seconds", type=int, default=None, help="per case (default 3, --quick 2)")
    ap.add_argument("--total-ops", type=int, default=None, help="crypto-perf ops per baseline (default 5M, quick 1M)")
    ap.add_argument("--sas-1m", action="store_true", help="add 1,000,000 SAs (needs ~10 GB and minutes)")
    ap.add_argument("--loss-check", action="store_true", help="90%% of the maximum rate, loss and latency")
    ap.add_argument("--loss-seconds", type=int, default=60)
    ap.add_argument("--loss-at", type=float, default=0.9, help="--loss-check rate as a fraction of the maximum")
    ap.add_argument("--goal-rounds", type=int, default=None,
                    help="alternating rounds of the goal cases (default 5, --quick 1; 0: none)")
    ap.add_argument("--priority", action="store_true", help="measured processes at nice -10 (esp_vs_baseline)")
    ap.add_argument("--out", default=None, help="result directory (default perf/results/<UTC date>)")
    ap.add_argument("--results-md", default=None,
                    help="RESULTS file to update (default perf/RESULTS.md, or OUT/RESULTS.md, a copy, when --out "
                         "is outside perf/results)")
    ap.add_argument("--report-only", metavar="JSON", help="redo plots and the block from a saved sweep.json")
    a = ap.parse_args()
    a.seconds = a.seconds or (2 if a.quick else 3)
    a.goal_rounds = (1 if a.quick else 5) if a.goal_rounds is None else a.goal_rounds
    a.total_ops = a.total_ops or (1_000_000 if a.quick else 5_000_000)
    results_dir = os.path.join(ROOT, "perf", "results")
    out_dir = os.path.abspath(a.out or os.path.join(results_dir, datetime.datetime.utcnow().strftime("%Y-%m-%d")))
    os.makedirs(out_dir, exist_ok=True)
    md = a.results_md
    if md is None:
        inside = os.path.commonpath([out_dir, results_dir]) == results_dir
        md = os.path.join(ROOT, "perf", "RESULTS.md") if inside else os.path.join(out_dir, "RESULTS.md")
    if a.report_only:
        data = json.load(open(a.report_only))
    else:
        if not os.access(a.perf, os.X_OK):
            sys.exit(f"sweep: {a.perf} not found: cargo build --release -p perf (or --perf PATH)")
        data = run(a)
        with open(os.path.join(out_dir, "sweep.json"), "w") as f:
            json.dump(data, f, indent=1)
    pngs = sweep_report.plots(data, out_dir)
    sweep_report.update_results(md, sweep_report.block(data, out_dir, md, pngs))
    log(f"wrote {out_dir}/sweep.json, {len(pngs)} plots, block in {md}; {len(data['errors'])} failed cases")
    return 1 if data["errors"] and not data["esp"] else 0


if __name__ == "__main__":
    sys.exit(main())

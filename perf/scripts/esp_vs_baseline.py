#!/usr/bin/env python3
"""espgate-perf esp against the raw crypto rate of the same core (dpdk-test-crypto-perf on crypto_aesni_mb), run
alternately for every (cipher, direction, size, SAs) case, with the generator's ceiling (esp --bypass) beside them.

Prints medians and ratio columns: espgate Mpps / aesni_mb Mpps, by wall clock and per second of the worker's own
CPU time (steadier when other work shares the core). --json prints one list of row objects.

On a shared machine, --priority runs every measured process (espgate and crypto-perf alike) in its own session with
autogroup nice -10 and nice -10, so compilers in other sessions take less of the cores during the short runs.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crypto_perf  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRIORITY = ["setsid", "sh", "-c", 'echo -10 > /proc/self/autogroup 2>/dev/null; exec nice -n -10 "$@"', "sh"]


def run_esp(perf, cipher, integrity, direction, size, sas, seconds, bypass, priority, extra):
    cmd = [perf, "esp", "--cipher", cipher, "--integrity", integrity, "--direction", direction, "--size", str(size),
           "--sas", str(sas), "--seconds", str(seconds), "--stats-period", "0", "--json"] + extra
    if bypass:
        cmd.append("--bypass")
    full = (PRIORITY if priority else []) + cmd
    r = subprocess.run(full, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=seconds + 900)
    if r.returncode != 0:
        raise RuntimeError(f"espgate-perf failed: {' '.join(cmd)}\n{r.stderr[-2000:]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["command"] = " ".join(cmd)
    return out


def run_base(cipher, integrity, direction, size, total_ops, priority, tag):
    if not priority:
        return crypto_perf.run_one(cipher, integrity, direction, size, total_ops=total_ops, tag=tag)
    # Same priority as the espgate runs: re-run this script's one-case mode under it.
    cmd = PRIORITY + [sys.executable, crypto_perf.__file__, "--cipher", cipher, "--integrity", integrity,
                      "--direction", direction, "--size", str(size), "--total-ops", str(total_ops), "--json"]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"crypto_perf.py failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])[0]


def markdown(rows):
    """A Markdown table of rows (as --json prints them)."""
    out = ["| cipher | integrity | direction | size | SAs | espgate Mpps (wall) | espgate Mpps per worker CPU-s | "
           "espgate cycles/pkt | aesni_mb Mpps | aesni_mb cycles/op | ratio (per CPU-s) | generator ceiling Mpps | "
           "p50 / p99 latency us | drops |",
           "|" + "---|" * 14]
    for r in rows:
        ceiling = f"{r['bypass_mpps']:.2f}" if r.get("bypass_mpps") else "-"
        out.append(f"| {r['cipher']} | {r['integrity']} | {r['direction']} | {r['size']} | {r['sas']} | "
                   f"{r['esp_mpps']:.3f} | {r['esp_mpps_per_cpu_second']:.3f} | {r['esp_cycles_per_packet']:.0f} | "
                   f"{r['aesni_mb_mpps']:.3f} | {r['aesni_mb_cycles_per_packet']:.0f} | {r['ratio_cpu']:.2f} | "
                   f"{ceiling} | {r['esp_p50_ns'] / 1000:.0f} / {r['esp_p99_ns'] / 1000:.0f} | {r['esp_dropped']} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--perf", default=os.path.join(ROOT, "target/release/espgate-perf"))
    ap.add_argument("--cipher", default="esp-gcm-128")
    ap.add_argument("--integrity", default=None, help="default: none for GCM, esp-sha-hmac otherwise")
    ap.add_argument("--size", default="64,1420")
    ap.add_argument("--direction", default="encrypt,decrypt")
    ap.add_argument("--sas", default="1")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--total-ops", type=int, default=5_000_000)
    ap.add_argument("--no-bypass", action="store_true", help="skip the generator-ceiling runs")
    ap.add_argument("--priority", action="store_true")
    ap.add_argument("--esp-arg", action="append", default=[], help="extra espgate-perf esp argument (repeatable)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--markdown", metavar="FILE", action="append",
                    help="print a Markdown table of saved --json output instead of running (repeatable)")
    a = ap.parse_args()
    if a.markdown:
        rows = [r for f in a.markdown for r in json.load(open(f))]
        print(markdown(rows))
        return
    rows = []
    for cipher in a.cipher.split(","):
        integ = a.integrity or ("none" if crypto_perf.CIPHERS[cipher][4] else "esp-sha-hmac")
        for direction in a.direction.split(","):
            for size in [int(s) for s in a.size.split(",")]:
                sas_list = [int(s) for s in a.sas.split(",")]
                runs = {(who, n): [] for n in sas_list for who in ("esp", "bypass")}
                base = []
                for i in range(a.rounds):
                    # Alternate the order every round (and the SA counts), so drift on the machine hits all alike.
                    jobs = [("base", None)] + [(who, n) for n in sas_list for who in ("esp", "bypass")
                                               if who == "esp" or not a.no_bypass]
                    for who, n in (jobs if i % 2 == 0 else jobs[::-1]):
                        if who == "base":
                            base.append(run_base(cipher, integ, direction, size, a.total_ops, a.priority, f"{i}"))
                        else:
                            runs[(who, n)].append(run_esp(a.perf, cipher, integ, direction, size, n, a.seconds,
                                                          who == "bypass", a.priority, a.esp_arg))
                for sas in sas_list:
                    esp, byp = runs[("esp", sas)], runs[("bypass", sas)]
                    med = lambda rs, k: statistics.median(r[k] for r in rs) if rs else None  # noqa: E731
                    row = {
                        "cipher": cipher, "integrity": integ, "direction": direction, "size": size, "sas": sas,
                        "rounds": a.rounds, "seconds": a.seconds,
                        "esp_mpps": med(esp, "mpps"), "esp_mpps_per_cpu_second": med(esp, "mpps_per_cpu_second"),
                        "esp_cycles_per_packet": med(esp, "cycles_per_packet"),
                        "esp_p50_ns": med(esp, "p50_ns"), "esp_p99_ns": med(esp, "p99_ns"),
                        "esp_dropped": max(r["dropped"] for r in esp),
                        "esp_worker_cpu_fraction": med(esp, "worker_cpu_fraction"),
                        "esp_generator_waited_fraction": med(esp, "generator_waited_fraction"),
                        "aesni_mb_mpps": med(base, "mpps"), "aesni_mb_cycles_per_packet": med(base, "cycles_per_packet"),
                        "bypass_mpps": med(byp, "mpps"), "bypass_mpps_per_cpu_second": med(byp, "mpps_per_cpu_second"),
                        "esp_runs": [r["mpps_per_cpu_second"] for r in esp], "aesni_mb_runs": [r["mpps"] for r in base],
                        "esp_command": esp[0]["command"], "aesni_mb_command": base[0]["command"],
                        "tsc_hz": esp[0]["tsc_hz"],
                    }
                    row["ratio_wall"] = row["esp_mpps"] / row["aesni_mb_mpps"]
                    row["ratio_cpu"] = row["esp_mpps_per_cpu_second"] / row["aesni_mb_mpps"]
                    row["ratio_cycles"] = row["aesni_mb_cycles_per_packet"] / row["esp_cycles_per_packet"]
                    rows.append(row)
                    if not a.json:
                        print(f"{cipher:12s} {integ:13s} {direction:8s} {size:5d} B {sas:7d} SA  "
                              f"espgate {row['esp_mpps']:6.3f} Mpps ({row['esp_mpps_per_cpu_second']:6.3f}/CPU-s, "
                              f"{row['esp_cycles_per_packet']:6.0f} cyc)  aesni_mb {row['aesni_mb_mpps']:6.3f} Mpps "
                              f"({row['aesni_mb_cycles_per_packet']:6.0f} cyc)  ratio {row['ratio_wall']:.2f} wall "
                              f"{row['ratio_cpu']:.2f} cpu {row['ratio_cycles']:.2f} cycles  generator ceiling "
                              f"{row['bypass_mpps'] or 0:6.3f} Mpps  p99 {row['esp_p99_ns'] / 1000:.0f} us  "
                              f"drops {row['esp_dropped']}", flush=True)
    if a.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Smoke check of sweep.py for CI (no pytest): a --quick sweep into a temporary directory must exit 0, measure every
quick case without a drop, write sweep.json and the plots (when matplotlib is there), and write the RESULTS block into
a copy of perf/RESULTS.md whose hand-written rest is unchanged. About 1-2 minutes; needs a release build of
espgate-perf (`cargo build --release -p perf`; --perf PATH or CARGO_TARGET_DIR to find it) and DPDK's tools.

  python3 perf/scripts/sweep_smoke.py [--perf PATH] [--keep]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sweep_report  # noqa: E402

RESULTS = os.path.join(os.path.dirname(HERE), "RESULTS.md")


def strip_block(text):
    return re.sub(re.escape(sweep_report.BEGIN) + ".*?" + re.escape(sweep_report.END), "", text, flags=re.S)


def check_block_update(tmp):
    """update_results replaces the block and keeps the rest byte for byte, twice in a row."""
    md = os.path.join(tmp, "copy.md")
    shutil.copy(RESULTS, md)
    for text in ("first", "second"):
        sweep_report.update_results(md, f"{sweep_report.BEGIN}\n{text}\n{sweep_report.END}")
        got = open(md).read()
        assert got.count(sweep_report.BEGIN) == 1 and f"\n{text}\n" in got, "block not replaced"
    base = strip_block(open(RESULTS).read()).rstrip("\n")
    assert strip_block(open(md).read()).rstrip("\n") == base, "the hand-written part changed"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--perf", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sweep-smoke-")
    try:
        check_block_update(tmp)
        out = os.path.join(tmp, "out")
        cmd = [sys.executable, os.path.join(HERE, "sweep.py"), "--quick", "--loss-check", "--out", out]
        if a.perf:
            cmd += ["--perf", a.perf]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, f"sweep.py exited {r.returncode}:\n{r.stderr[-3000:]}"
        data = json.load(open(os.path.join(out, "sweep.json")))
        assert not data["errors"], data["errors"]
        assert len(data["esp"]) == 8 and len(data["loop"]) == 2 and len(data["loss"]) == 2, "cases missing"
        assert data["testpmd"] and data["testpmd"]["mpps"] > 0 and len(data["aesni_mb"]) == 4
        for r in data["esp"] + data["loop"]:
            assert r["tx_packets"] > 0, r
            if r["job"] == "esp-loop" and len(r["lcores"]) > 1:
                # Two workers share the SA pair: a worker preempted on this shared machine lets the other move the
                # shared window past the frames in its ring (too-old). Nothing else may drop, and not many of those.
                assert r["dropped"] == r["drops"].get("too-old", 0) <= r["tx_packets"] // 100, r
            else:
                assert r["dropped"] == 0, r
        g = data["goal_runs"]
        assert g["rounds"] == 1 and len(g["cases"][0]["esp"]) == 1 and len(g["cases"][0]["aesni_mb"]) == 1, g
        assert all(len(x["esp"]) == 1 and x["sa_state_bytes"] > 0 for x in g["sas"]), g["sas"]
        assert g["mem"] and g["mem"]["dependent_line_cycles"] > 0, g["mem"]
        assert [x["lcores"] for x in g["loop"]] == ["1", "0,1"], g["loop"]
        assert all(len(x["capacity"]) == 1 and x["capacity"][0] > 0 for x in g["loop"]), g["loop"]
        assert all("--replay-window 65536" in r["command"] for r in data["loop"]), "loop runs without the window"
        md = open(os.path.join(out, "RESULTS.md")).read()
        assert "alternating rounds" in md and "Mpps per lcore (#7)" in md, "no goal rows from the rounds"
        assert "2 lcores over 1 (closed loop capacity, #7)" in md, "no two-worker row from the rounds"
        assert md.count(sweep_report.BEGIN) == 1 and md.count(sweep_report.END) == 1
        assert strip_block(md).rstrip("\n") == strip_block(open(RESULTS).read()).rstrip("\n")
        venv = os.path.join(os.path.dirname(os.path.dirname(HERE)), "target", "venv", "bin", "python3")
        have_mpl = any(subprocess.run([py, "-c", "import matplotlib"], capture_output=True).returncode == 0
                       for py in (sys.executable, venv) if os.path.exists(py))
        if have_mpl:
            for p in ("by_size.png", "by_sas.png", "by_lcores.png"):
                assert os.path.getsize(os.path.join(out, p)) > 1000, p
                assert f"({os.path.relpath(out, out)}/{p})" in md, f"no link to {p}"
        print(f"sweep smoke check passed ({'with' if have_mpl else 'without'} plots): {out}")
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

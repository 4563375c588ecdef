"""sweep.py's output side: PNG plots (matplotlib) and the generated block of RESULTS.md, from a sweep's JSON."""
import os
import re

BEGIN, END = "<!-- sweep:begin -->", "<!-- sweep:end -->"
SIZE_ORDER = {"64": 0, "512": 1, "570": 2, "1420": 3, "1518": 4, "imix": 5}
NAMES = {("esp-gcm-128", "none"): "AES-128-GCM", ("esp-aes-128", "esp-sha-hmac"): "AES-128-CBC+HMAC-SHA1",
         ("esp-gcm-256", "none"): "AES-256-GCM"}


def suite(r):
    return NAMES.get((r["cipher"], r["integrity"]), f"{r['cipher']}+{r['integrity']}")


def skey(s):
    return SIZE_ORDER.get(str(s), 9)


def find(rows, **kw):
    return next((r for r in rows if all(str(r.get(k)) == str(v) for k, v in kw.items())), None)


def capacity(r):
    """Loop: sum of the workers' per-CPU-second rates (what N dedicated CPUs would carry)."""
    return sum(r["mpps_per_worker_cpu_second"])


def plots(data, out_dir):
    """Writes the PNGs; returns their file names (none when matplotlib is missing)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    esp, base, loop = data["esp"], data["aesni_mb"], data["loop"]
    suites = sorted({(r["cipher"], r["integrity"]) for r in esp + loop}, key=lambda s: list(NAMES).index(s)
                    if s in NAMES else 9)
    colors = dict(zip(suites, ["tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange"]))

    if esp:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
        sizes = sorted({str(r["size"]) for r in esp}, key=skey)
        for ax, d in zip(axes, ("encrypt", "decrypt")):
            for s in suites:
                rows = [find(esp, cipher=s[0], integrity=s[1], direction=d, size=z, sas=1) for z in sizes]
                ys = [r["mpps_per_cpu_second"] if r else None for r in rows]
                ax.plot(sizes, ys, "o-", color=colors[s], label=f"espgate {NAMES.get(s, s[0])}")
                bs = [find(base, cipher=s[0], integrity=s[1], direction=d, size=z) for z in sizes]
                ax.plot(sizes, [b["mpps"] if b else None for b in bs], "x--", color=colors[s], alpha=0.6,
                        label=f"aesni_mb {NAMES.get(s, s[0])}")
            ax.set_title(f"{d}, 1 SA, 1 worker lcore")
            ax.set_xlabel("cleartext frame size (bytes)")
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
        axes[0].set_ylabel("Mpps per worker CPU-second (log)")
        axes[1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "by_size.png"), dpi=110)
        plt.close(fig)
        written.append("by_size.png")

        sizes = [z for z in ("64", "1420") if any(str(r["size"]) == z for r in esp)] or sizes[:1]
        fig, axes = plt.subplots(1, len(sizes), figsize=(6 * len(sizes), 4.5), squeeze=False)
        for ax, z in zip(axes[0], sizes):
            for s in suites:
                for d, style in (("encrypt", "o-"), ("decrypt", "s--")):
                    rows = sorted([r for r in esp if (r["cipher"], r["integrity"]) == s and r["direction"] == d
                                   and str(r["size"]) == z], key=lambda r: r["sas"])
                    if rows:
                        ax.plot([r["sas"] for r in rows], [r["mpps_per_cpu_second"] for r in rows], style,
                                color=colors[s], label=f"{NAMES.get(s, s[0])} {d}")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"{z} B, 1 worker lcore")
            ax.set_xlabel("SAs (one SPD entry and flow each)")
            ax.set_ylabel("Mpps per worker CPU-second (log)")
            ax.grid(True, which="both", alpha=0.3)
        axes[0][-1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "by_sas.png"), dpi=110)
        plt.close(fig)
        written.append("by_sas.png")

    if loop:
        groups = sorted({(r["cipher"], r["integrity"], str(r["size"]), r["sas"]) for r in loop},
                        key=lambda g: (g[3], skey(g[2]), g[0]))
        fig, ax = plt.subplots(figsize=(max(8, 0.55 * len(groups) + 2), 4.8))
        w = 0.38
        for k, n in enumerate((1, 2)):
            ys = []
            for g in groups:
                r = next((r for r in loop if (r["cipher"], r["integrity"], str(r["size"]), r["sas"]) == g
                          and len(r["lcores"]) == n), None)
                ys.append(capacity(r) if r else 0)
            ax.bar([i + (k - 0.5) * w for i in range(len(groups))], ys, w, label=f"{n} worker lcore(s)")
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([f"{NAMES.get((g[0], g[1]), g[0]).replace('+HMAC-SHA1', '+SHA1')}\n{g[2]} B, {g[3]} SA"
                            for g in groups], rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("Mpps (sum of per-worker rates per CPU-second)")
        ax.set_title("closed loop (decrypt + encrypt per frame): 1 vs 2 worker lcores")
        ax.legend()
        ax.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "by_lcores.png"), dpi=110)
        plt.close(fig)
        written.append("by_lcores.png")
    return written


def f3(x):
    return "-" if x is None else f"{x:.3f}"


def span(xs, digits=0):
    return f"{min(xs):.{digits}f}-{max(xs):.{digits}f}" if xs else "-"


def round_rows(g):
    """The goal rows from alternating rounds (sweep.py's goal_runs): minimum cycles/packet of each side."""
    rows, n = [], g["rounds"]
    for c in g["cases"]:
        if not c["esp"]:
            continue
        name = f"{NAMES.get((c['cipher'], c['integrity']), c['cipher'])} {c['size']} B {c['direction']}"
        e = min(c["esp"])
        mpps = c["tsc_hz"] / e / 1e6
        detail = f"{e:.0f} cycles (rounds {span(c['esp'])}), aesni_mb {span(c['aesni_mb'])}"
        if c["cipher"] == "esp-gcm-128" and c["size"] == 1420 and c["aesni_mb"]:
            rows.append((f"{name}, 1 lcore: share of aesni_mb (#7, #9)", ">= 0.7",
                         f"**{min(c['aesni_mb']) / e:.2f}**: {detail}"))
        elif c["cipher"] == "esp-gcm-128" and c["size"] == 64:
            rows.append((f"{name}: Mpps per lcore (#7)", ">= 6", f"**{mpps:.2f}**: {detail}"))
        elif c["cipher"] == "esp-aes-128":
            share = f", share of aesni_mb {min(c['aesni_mb']) / e:.2f}" if c["aesni_mb"] else ""
            rows.append((f"{name}: Mpps per lcore (#9)", ">= 2", f"**{mpps:.2f}**{share}: {detail}"))
    for z in sorted({x["size"] for x in g.get("loop", [])}, reverse=True):
        one = next((x for x in g["loop"] if x["size"] == z and x["lcores"] == "1" and x["capacity"]), None)
        two = next((x for x in g["loop"] if x["size"] == z and x["lcores"] != "1" and x["capacity"]), None)
        if not (one and two):
            continue
        # The closed loop's frames expire by TTL on purpose; every other cause is a loss.
        lost = {k: v for k, v in two["drops"].items() if k != "ttl-exceeded"}
        replay = sum(v for k, v in lost.items() if k in ("too-old", "replay"))
        rows.append((f"one SA pair, AES-128-GCM {z} B, 2 lcores over 1 (closed loop capacity, #7)",
                     ">= 1.8, no replay drops",
                     f"**{max(two['capacity']) / max(one['capacity']):.2f}**, {replay} replay drops in "
                     f"{len(two['capacity'])} runs (window {two['replay_window']}): 1 lcore "
                     f"{span(one['capacity'], 2)} Mpps, 2 lcores {span(two['capacity'], 2)} Mpps"
                     + (f"; other drops {lost}" if sum(lost.values()) > replay else "")))
    mem = g.get("mem")
    for d in ("encrypt", "decrypt"):
        one = next((x for x in g["sas"] if x["direction"] == d and x["sas"] == 1 and x["esp"]), None)
        many = next((x for x in g["sas"] if x["direction"] == d and x["sas"] > 1 and x["esp"]), None)
        if not (one and many):
            continue
        e1, en = min(one["esp"]), min(many["esp"])
        v = (f"**{100 * (en / e1 - 1):.0f}%** ({e1:.0f} vs {en:.0f} cycles, {many['sa_state_bytes'] / 1e9:.2f} GB "
             "of SA state)")
        if mem and mem.get("batched_line_cycles", 0) > 0:
            line = mem["batched_line_cycles"]
            v += (f"; one random line of that state costs {line:.0f} cycles among 32 independent loads "
                  f"({mem['dependent_line_cycles']:.0f} alone), so 10% of 1 SA allows "
                  f"{0.1 * e1 / line:.1f} lines per packet")
        rows.append((f"AES-128-GCM 64 B {d}: {many['sas']} SAs slower than 1 SA by (#7: at 1,000,000)", "<= 10%", v))
    return rows, n


def goals(data, tp):
    """Issue #7's and #9's goals against this run (per worker CPU-second figures)."""
    esp, base, loop = data["esp"], data["aesni_mb"], data["loop"]
    rows = []
    g = data.get("goal_runs")
    if g and any(c["esp"] for c in g["cases"]):
        rows, n = round_rows(g)
        kept = ("AES-128-GCM 1420 B encrypt at", "AES-128-GCM 64 B encrypt at")
        if not g.get("loop"):
            kept += ("one SA pair",)
        rows += [r for r in single_rows(esp, base, loop, data) if r[0].startswith(kept)]
        head = (f"### Goals in this run ({n} alternating rounds of each case and its baseline, minimum cycles/packet "
                "kept; loss rows from the single runs below)")
    else:
        rows = single_rows(esp, base, loop, data)
        head = "### Issue #7 goals in this run"
    if not rows:
        return []
    out = [head, "", "| goal | target | this run |", "|---|---|---|"]
    out += [f"| {g} | {t} | {v} |" for g, t, v in rows]
    return out + [""]


def single_rows(esp, base, loop, data):
    """The goal rows from the matrix's single runs."""
    rows = []
    gcm = dict(cipher="esp-gcm-128", integrity="none")
    for d in ("encrypt", "decrypt"):
        r, b = find(esp, **gcm, direction=d, size=1420, sas=1), find(base, **gcm, direction=d, size=1420)
        if r and b:
            rows.append((f"AES-128-GCM 1420 B {d}, 1 lcore: share of aesni_mb", ">= 0.7",
                         f"{r['mpps_per_cpu_second'] / b['mpps']:.2f}"))
    for d in ("encrypt", "decrypt"):
        r = find(esp, **gcm, direction=d, size=64, sas=1)
        if r:
            rows.append((f"AES-128-GCM 64 B {d}: Mpps per lcore", ">= 6", f"{r['mpps_per_cpu_second']:.2f}"))
    most = max((r["sas"] for r in esp), default=1)
    if most > 1:
        for d in ("encrypt", "decrypt"):
            one, many = find(esp, **gcm, direction=d, size=64, sas=1), find(esp, **gcm, direction=d, size=64,
                                                                              sas=most)
            if one and many:
                rows.append((f"AES-128-GCM 64 B {d}: {most} SAs slower than 1 SA by (goal at 1,000,000)", "<= 10%",
                             f"{100 * (1 - many['mpps_per_cpu_second'] / one['mpps_per_cpu_second']):.0f}%"))
    for z in ("1420", "64"):
        one = next((r for r in loop if r["cipher"] == "esp-gcm-128" and str(r["size"]) == z and r["sas"] == 1
                    and len(r["lcores"]) == 1), None)
        two = next((r for r in loop if r["cipher"] == "esp-gcm-128" and str(r["size"]) == z and r["sas"] == 1
                    and len(r["lcores"]) == 2), None)
        if one and two and capacity(one) > 0:
            rows.append((f"one SA pair, AES-128-GCM {z} B, 2 lcores over 1 (closed loop capacity)", ">= 1.8, no "
                         "replay drops", f"{capacity(two) / capacity(one):.2f}, {two['dropped']} drops"))
    for r in data.get("loss") or []:
        at = 100 * r.get("fraction_of_max", 0.9)
        rows.append((f"AES-128-GCM {r['size']} B encrypt at {at:.0f}% of max for {r['seconds']:.0f} s: loss, p99",
                     "0 loss, p99 reported", f"{100 * r['loss_fraction']:.2f}%, p99 {r['p99_ns'] / 1e3:.0f} us"))
    return rows


def block(data, out_dir, md_path, pngs):
    """The Markdown between the markers."""
    m, mach = data["meta"], data["meta"]["machine"]
    rel = os.path.relpath(out_dir, os.path.dirname(os.path.abspath(md_path)))
    esp, base, loop, byp = data["esp"], data["aesni_mb"], data["loop"], data["bypass"]
    tp = (data.get("testpmd") or {}).get("mpps")
    L = [BEGIN, "", "## Sweep (generated by `perf/scripts/sweep.py`; do not edit by hand)", ""]
    L += [f"Run {m['started']} to {m.get('finished', '?')} UTC{' (--quick)' if m['quick'] else ''}, "
          f"{m['seconds']} s per case, load average {m['load_start']:.1f} at the start and "
          f"{m.get('load_end', 0):.1f} at the end{', measured processes at nice -10' if m['priority'] else ''}.",
          f"Machine: {mach['cpus']} x {mach['cpu']}, {mach['mem_gb']} GB, kernel {mach['kernel']}, DPDK "
          f"{mach['dpdk']}, {mach['rustc']}, hugepages {mach['hugepages'] or 0}. espgate at {mach['git']}"
          f"{' with uncommitted changes in the working tree' if mach['git_dirty'] else ''}.",
          f"Data: [{rel}/sweep.json]({rel}/sweep.json)." + "".join(f" [{p}]({rel}/{p})" for p in pngs), ""]
    L += ["```sh", "cargo build --release -p perf",
          "python3 perf/scripts/sweep.py " + " ".join(m["argv"]),
          "# single cases by hand (P=target/release/espgate-perf):",
          "$P esp --cipher esp-gcm-128 --size 1420 --direction decrypt --sas 1000 --seconds 5   # generator mode",
          "$P esp --direction both --lcores 0,1 --sas 1000 --size 1420 --seconds 5               # closed loop",
          "$P esp --size 1420 --rate 1000000 --seconds 60                                        # paced: loss",
          "```", ""]
    L += ["Per worker CPU-second figures (Mpps per second of the worker's own CPU time, cycles/packet from it) are "
          "the ones to compare on this shared machine; wall-clock Mpps depends on what else ran. The aesni_mb "
          "ratio is espgate per CPU-second over `dpdk-test-crypto-perf` on one lcore, same run. Generator mode: "
          "one worker lcore, generator on the main lcore; closed loop: no generator, each frame decrypted and "
          "encrypted again per lap (`--direction both`).", ""]
    if tp or byp:
        L += [f"Baselines: dpdk-testpmd io forwarding on two net_null ports: **{f3(tp)} Mpps** (the I/O limit). "
              "Generator ceiling (`--bypass`, Mpps wall): " +
              ", ".join(f"{r['direction']} {r['size']}{'' if r['size'] == 'imix' else ' B'} {r['mpps']:.2f}"
                        for r in sorted(byp, key=lambda r: (r["direction"], skey(r["size"])))) + ".", ""]
    L += goals(data, tp)
    if esp:
        L += ["### Generator mode (one worker lcore)", "",
              "| suite | direction | size | SAs | Mpps wall | Mpps per CPU-s | cycles/pkt | aesni_mb Mpps | ratio to "
              "aesni_mb | ratio to testpmd | worker on CPU | p50 / p99 us | drops |", "|" + "---|" * 13]
        for r in sorted(esp, key=lambda r: (list(NAMES).index((r["cipher"], r["integrity"]))
                                            if (r["cipher"], r["integrity"]) in NAMES else 9,
                                            r["direction"], skey(r["size"]), r["sas"])):
            b = find(base, cipher=r["cipher"], integrity=r["integrity"], direction=r["direction"], size=r["size"])
            ratio = f"{r['mpps_per_cpu_second'] / b['mpps']:.2f}" if b else "-"
            rtp = f"{r['mpps'] / tp:.3f}" if tp else "-"
            L.append(f"| {suite(r)} | {r['direction']} | {r['size']} | {r['sas']} | {r['mpps']:.3f} | "
                     f"{r['mpps_per_cpu_second']:.3f} | {r['cycles_per_packet']:.0f} | {f3(b and b['mpps'])} | "
                     f"{ratio} | {rtp} | {100 * r['worker_cpu_fraction']:.0f}% | {r['p50_ns'] / 1e3:.0f} / "
                     f"{r['p99_ns'] / 1e3:.0f} | {r['dropped']} |")
        L.append("")
    if loop:
        L += ["### Closed loop, 1 and 2 worker lcores", "",
              "Capacity = the sum of the workers' Mpps per CPU-second (what that many dedicated CPUs would carry); "
              "scaling = 2-worker capacity / 1-worker capacity (goal for one SA pair: 1.8). Inbound SA i lives on "
              "worker `spi % N`, so with 1 SA one worker does all the work.", "",
              "| suite | size | SAs | workers | Mpps wall | capacity Mpps | per worker Mpps per CPU-s | cycles/frame | "
              "scaling | mean lap us | handed off | drops (besides TTL) |", "|" + "---|" * 12]
        for r in sorted(loop, key=lambda r: (r["sas"], list(NAMES).index((r["cipher"], r["integrity"]))
                                             if (r["cipher"], r["integrity"]) in NAMES else 9, skey(r["size"]),
                                             len(r["lcores"]))):
            one = next((x for x in loop if (x["cipher"], x["integrity"], str(x["size"]), x["sas"]) ==
                        (r["cipher"], r["integrity"], str(r["size"]), r["sas"]) and len(x["lcores"]) == 1), None)
            sc = f"{capacity(r) / capacity(one):.2f}" if one and capacity(one) > 0 else "-"
            L.append(f"| {suite(r)} | {r['size']} | {r['sas']} | {len(r['lcores'])} | {r['mpps']:.3f} | "
                     f"{capacity(r):.3f} | {' / '.join(f'{x:.3f}' for x in r['mpps_per_worker_cpu_second'])} | "
                     f"{r['cycles_per_packet']:.0f} | {sc} | {r['lap_mean_ns'] / 1e3:.0f} | {r['handed_off']} | "
                     f"{r['dropped']} |")
        L.append("")
    if data.get("loss"):
        at = data["loss"][0].get("fraction_of_max", 0.9)
        L += [f"### Loss at {100 * at:.0f}% of the measured maximum (AES-128-GCM encrypt, 1 SA)", "",
              f"The generator paces to {100 * at:.0f}% of the wall-clock maximum measured above. Missed = frames due while the "
              "worker's input ring (1024 slots) or the in-flight budget was full, as a NIC drops on a full rx ring; "
              "lost = missed + dropped + not back after a 100 ms drain. While the worker is off its CPU (see "
              "'worker on CPU' above) the ring fills in well under a millisecond at these rates.", "",
              "| size | max Mpps (wall) | paced at pps | seconds | offered | missed | lost | loss | worker on CPU | "
              "p50 / p99 / p99.9 us |", "|" + "---|" * 10]
        for r in data["loss"]:
            L.append(f"| {r['size']} | {r['max_mpps']:.3f} | {r['rate_pps']} | {r['seconds']:.0f} | {r['offered']} | "
                     f"{r['missed']} | {r['lost']} | {100 * r['loss_fraction']:.3f}% | "
                     f"{100 * r['worker_cpu_fraction']:.0f}% | {r['p50_ns'] / 1e3:.0f} / "
                     f"{r['p99_ns'] / 1e3:.0f} / {r['p999_ns'] / 1e3:.0f} |")
        L.append("")
    if data["errors"]:
        L += ["Failed cases: " + "; ".join(f"`{e['case']}`" for e in data["errors"]), ""]
    L.append(END)
    return "\n".join(L)


def update_results(md_path, text):
    """Replaces the marked block of md_path (appends it if there is none); the rest of the file is kept byte for byte.
    When md_path does not exist yet it starts as a copy of perf/RESULTS.md."""
    src = md_path
    if not os.path.exists(md_path):
        src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "RESULTS.md")
    old = open(src).read() if os.path.exists(src) else ""
    pat = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if len(pat.findall(old)) > 1:
        raise ValueError(f"{src}: more than one sweep block")
    new = pat.sub(lambda _m: text, old) if pat.search(old) else old.rstrip("\n") + "\n\n" + text + "\n"
    with open(md_path, "w") as f:
        f.write(new)

#!/usr/bin/env python3
"""Raw software crypto rate of one core: dpdk-test-crypto-perf on the crypto_aesni_mb PMD (intel-ipsec-mb).

The baseline espgate-perf esp is compared with: the same algorithm on the same number of bytes per packet as ESP
encrypts for a cleartext frame of --size bytes (the inner IP packet plus the 2-byte ESP trailer, padded to the
cipher's alignment), one op per packet, bursts of 32, on one worker lcore. No I/O, no ESP headers, no replay window:
the ceiling a software ESP implementation on this core can approach.

Prints Mpps per (cipher, integrity, direction, size); --json prints a list of objects.
"""
import argparse
import json
import os
import re
import subprocess
import sys

ETH, IPV4 = 14, 20

CIPHERS = {
    # esp name: (crypto-perf algo, key bytes, iv bytes, pad alignment, aead)
    "esp-gcm-128": ("aes-gcm", 16, 12, 4, True),
    "esp-gcm-192": ("aes-gcm", 24, 12, 4, True),
    "esp-gcm-256": ("aes-gcm", 32, 12, 4, True),
    "esp-aes-128": ("aes-cbc", 16, 16, 16, False),
    "esp-aes-192": ("aes-cbc", 24, 16, 16, False),
    "esp-aes-256": ("aes-cbc", 32, 16, 16, False),
    "esp-aes-ctr-128": ("aes-ctr", 16, 16, 4, False),
    "esp-aes-ctr-192": ("aes-ctr", 24, 16, 4, False),
    "esp-aes-ctr-256": ("aes-ctr", 32, 16, 4, False),
    "esp-3des": ("3des-cbc", 24, 8, 8, False),
}
INTEGRITY = {
    # esp name: (crypto-perf algo, key bytes, truncated digest bytes)
    "esp-md5-hmac": ("md5-hmac", 16, 12),
    "esp-sha-hmac": ("sha1-hmac", 20, 12),
    "esp-sha256-hmac": ("sha2-256-hmac", 32, 16),
    "esp-sha384-hmac": ("sha2-384-hmac", 48, 24),
    "esp-sha512-hmac": ("sha2-512-hmac", 64, 32),
}


def esp_payload_len(frame, align):
    """Bytes ESP encrypts for a cleartext frame: the inner IP packet and the trailer, padded."""
    n = frame - ETH + 2
    return (n + align - 1) // align * align


def base(buf_sz, total_ops, burst, lcores, tag):
    return ["dpdk-test-crypto-perf", "-l", lcores, "--no-huge", "-m", "1024", "--no-pci", "--no-telemetry",
           "--log-level=*:warning", f"--file-prefix=cperf-{tag}-{os.getpid()}", "--vdev", "crypto_aesni_mb", "--",
           "--ptest", "throughput", "--devtype", "crypto_aesni_mb", "--buffer-sz", str(buf_sz),
           "--total-ops", str(total_ops), "--burst-sz", str(burst)]


def auth_only(integrity, buf_sz, total_ops, burst, lcores, tag):
    a, akey, digest = INTEGRITY[integrity]
    return base(buf_sz, total_ops, burst, lcores, tag) + [
        "--optype", "auth-only", "--auth-algo", a, "--auth-op", "generate", "--auth-key-sz", str(akey),
        "--digest-sz", str(digest)]


def command(cipher, integrity, direction, buf_sz, total_ops, burst, lcores, tag):
    algo, key, iv, _align, aead = CIPHERS[cipher]
    cmd = base(buf_sz, total_ops, burst, lcores, tag)
    enc = direction == "encrypt"
    if aead:
        if integrity != "none":
            raise ValueError(f"{cipher} takes no integrity algorithm")
        # ESP's AAD is SPI + sequence number (8 bytes), the ICV 16 bytes (RFC 4106).
        cmd += ["--optype", "aead", "--aead-algo", algo, "--aead-op", "encrypt" if enc else "decrypt",
                "--aead-key-sz", str(key), "--aead-iv-sz", str(iv), "--aead-aad-sz", "8", "--digest-sz", "16"]
        return cmd
    cmd += ["--cipher-algo", algo, "--cipher-op", "encrypt" if enc else "decrypt", "--cipher-key-sz", str(key),
            "--cipher-iv-sz", str(iv)]
    if integrity == "none":
        return cmd + ["--optype", "cipher-only"]
    a, akey, digest = INTEGRITY[integrity]
    if not enc:
        raise ValueError("chained decrypt is run as two commands (see run_one)")
    cmd += ["--optype", "cipher-then-auth", "--auth-algo", a, "--auth-op", "generate", "--auth-key-sz", str(akey),
            "--digest-sz", str(digest)]
    return cmd


def run_cmd(cmd):
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    # The result row: lcore, buf size, burst, enqueued, dequeued, failed enq, failed deq, MOps, Gbps, cycles/buf.
    m = re.search(r"^\s*\d+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$",
                  r.stdout, re.M)
    if r.returncode != 0 or not m:
        raise RuntimeError(f"dpdk-test-crypto-perf failed ({r.returncode}): {' '.join(cmd)}\n"
                           f"{r.stdout[-1500:]}{r.stderr[-1500:]}")
    return {"ops": int(m.group(4)), "failed_deq": int(m.group(6)), "mpps": float(m.group(7)),
            "cycles_per_packet": float(m.group(9)), "command": " ".join(cmd)}


def run_one(cipher, integrity, direction, frame, total_ops=5_000_000, burst=32, lcores="0,1", tag="0"):
    _algo, _key, iv, align, aead = CIPHERS[cipher]
    buf_sz = esp_payload_len(frame, align)
    if direction == "decrypt" and not aead and integrity != "none":
        # crypto-perf chains decryption only with verification against a test-vector file: time the HMAC over what
        # ESP authenticates (header, IV, ciphertext) and the decryption apart, and add the costs per packet.
        c = run_cmd(command(cipher, "none", direction, buf_sz, total_ops, burst, lcores, tag))
        h = run_cmd(auth_only(integrity, buf_sz + 8 + iv, total_ops, burst, lcores, tag))
        r = {"ops": c["ops"], "failed_deq": c["failed_deq"] + h["failed_deq"],
             "mpps": 1.0 / (1.0 / c["mpps"] + 1.0 / h["mpps"]),
             "cycles_per_packet": c["cycles_per_packet"] + h["cycles_per_packet"],
             "command": c["command"] + " ; " + h["command"]}
    else:
        r = run_cmd(command(cipher, integrity, direction, buf_sz, total_ops, burst, lcores, tag))
    return {
        "tool": "dpdk-test-crypto-perf", "devtype": "crypto_aesni_mb", "cipher": cipher, "integrity": integrity,
        "direction": direction, "size": frame, "buffer_sz": buf_sz, "burst": burst,
        **r,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cipher", default="esp-gcm-128,esp-aes-128", help="comma-separated ESP cipher names")
    ap.add_argument("--integrity", default=None,
                    help="comma-separated, one per cipher (default: none for GCM, esp-sha-hmac otherwise)")
    ap.add_argument("--size", default="64,1420", help="comma-separated cleartext frame sizes")
    ap.add_argument("--direction", default="encrypt,decrypt")
    ap.add_argument("--total-ops", type=int, default=5_000_000)
    ap.add_argument("--burst", type=int, default=32)
    ap.add_argument("--lcores", default="0,1", help="EAL -l: main lcore, then the crypto lcore")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    ciphers = a.cipher.split(",")
    if a.integrity:
        integ = a.integrity.split(",")
    else:
        integ = ["none" if CIPHERS[c][4] else "esp-sha-hmac" for c in ciphers]
    rows = []
    for c, i in zip(ciphers, integ):
        for d in a.direction.split(","):
            for s in a.size.split(","):
                r = run_one(c, i, d, int(s), a.total_ops, a.burst, a.lcores, f"{len(rows)}")
                rows.append(r)
                if not a.json:
                    print(f"{c:16s} {i:16s} {d:8s} {int(s):5d} B (buffer {r['buffer_sz']:4d}): {r['mpps']:7.3f} Mpps "
                          f"{r['cycles_per_packet']:8.1f} cycles/op", flush=True)
    if a.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    sys.exit(main())

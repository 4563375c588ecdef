#!/usr/bin/env python3
"""ESP builder for espgate's malformed-traffic test, on Scapy's IPsec module (the independent oracle).

Same input and output as engine/scripts/scapy_esp.py (whose SA construction it reuses), plus one op:
  "custom": encrypt and sign the bytes of "packet" as they are (they need not be an IP packet) in tunnel mode, with
            the trailer under the caller's control, so the ICV verifies but the content is wrong:
              "nh": next header (default 4 or 41 from the first nibble),
              "tfc": number of zero bytes appended after the packet inside the encryption (RFC 4303 §2.7),
              "bad_pad": make sure there are at least 2 padding bytes, then break the last one,
              "padlen": the pad length byte written, whatever padding is really there.
An "encrypt" case may carry "outer_options" (hex): IPv4 options of the tunnel header (for AH, whose ICV covers them).
Other ops ("encrypt", "decrypt") go to scapy_esp.py unchanged.
"""
import importlib.util
import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLE = os.path.join(HERE, "..", "..", "engine", "scripts", "scapy_esp.py")
spec = importlib.util.spec_from_file_location("scapy_esp", ORACLE)
oracle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(oracle)

from scapy.layers.inet import IP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.ipsec import _ESPPlain  # noqa: E402


def custom(c):
    sa = oracle.make_sa(c)
    inner = bytes.fromhex(c["packet"]) + bytes(int(c.get("tfc", 0)))
    seq = int(c.get("seq", 1))
    default_nh = 41 if inner and inner[0] >> 4 == 6 else 4
    esp = _ESPPlain(spi=sa.spi, seq=seq & 0xFFFFFFFF, iv=sa.crypt_algo.generate_iv(), data=inner,
                    nh=int(c.get("nh", default_nh)))
    esp = sa.crypt_algo.pad(esp)
    if c.get("bad_pad"):
        align = 16 if sa.crypt_algo.block_size > 1 else 4
        while esp.padlen < 2:
            esp.padlen += align
        pad = bytearray(range(1, esp.padlen + 1))
        pad[-1] ^= 0x80
        esp.padding = bytes(pad)
    if "padlen" in c:
        esp.padlen = int(c["padlen"])
    esn_en, esn = bool(c["esn"]), seq >> 32
    esp = sa.crypt_algo.encrypt(sa, esp, sa.crypt_key, sa.crypt_icv_size, esn_en=esn_en, esn=esn)
    sa.auth_algo.sign(esp, sa.auth_key, esn_en=esn_en, esn=esn)
    src, dst = c["tunnel_src"], c["tunnel_dst"]
    outer = IP(src=src, dst=dst) if ":" not in src else IPv6(src=src, dst=dst)
    if c["nat_t"]:
        outer = outer / UDP(sport=4500, dport=4500, chksum=0)
    return bytes(outer / esp).hex()


def with_outer_options(c):
    """Tunnel-mode "encrypt" with IPv4 options in the outer header."""
    sa = oracle.make_sa(c)
    opts = bytes.fromhex(c["outer_options"])
    hdr = bytearray(bytes(IP(src=c["tunnel_src"], dst=c["tunnel_dst"])))
    hdr[0] = 0x40 | ((20 + len(opts)) // 4)
    sa.tunnel_header = IP(src=c["tunnel_src"], dst=c["tunnel_dst"], options=IP(bytes(hdr) + opts).options)
    pkt = oracle.parse_ip(bytes.fromhex(c["packet"]))
    seq = int(c.get("seq", 1))
    return bytes(sa.encrypt(pkt, seq_num=seq & 0xFFFFFFFF, esn_en=c["esn"], esn=seq >> 32)).hex()


def build(c):
    if c["op"] == "custom":
        return custom(c)
    if c.get("outer_options"):
        return with_outer_options(c)
    return oracle.run(c)


def main():
    cases = json.load(sys.stdin)["cases"]
    results = []
    for c in cases:
        try:
            packet = build(c)
            results.append({"id": c["id"], "ok": True, "packet": packet, "error": ""})
        except Exception as e:  # report per case; the Rust test decides
            results.append({"id": c["id"], "ok": False, "packet": "", "error": f"{type(e).__name__}: {e}"})
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()

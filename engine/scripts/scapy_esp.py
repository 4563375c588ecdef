#!/usr/bin/env python3
"""Independent ESP oracle for espgate's tests, built on Scapy's IPsec module.

Reads one JSON document on stdin:
  {"cases": [{"id": str, "op": "encrypt" | "decrypt", "proto": "ESP" (default) | "AH",
              "enc": Scapy crypt_algo name, "enc_key": hex (with salt/nonce for CTR/GCM),
              "auth": Scapy auth_algo name or null, "auth_key": hex,
              "spi": int, "mode": "tunnel" | "transport",
              "tunnel_src": addr, "tunnel_dst": addr (outer header for encrypt; tunnel mode only),
              "nat_t": bool, "esn": bool, "seq": int (64-bit; encrypt uses it, decrypt takes the high half),
              "packet": hex (IP packet: cleartext for encrypt, ESP for decrypt)}]}
and writes {"results": [{"id": str, "ok": bool, "packet": hex, "error": str}]} on stdout.
"""
import contextlib
import json
import sys
import warnings

warnings.filterwarnings("ignore")

from scapy.packet import bind_layers, split_layers  # noqa: E402
from scapy.layers.inet import IP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.ipsec import AH, ESP, SecurityAssociation  # noqa: E402


def parse_ip(raw):
    return IP(raw) if raw[0] >> 4 == 4 else IPv6(raw)


@contextlib.contextmanager
def esp_undissected():
    """For AH: Scapy signs and verifies the ESP layer whenever a packet has one, even under AH, and re-dissects the
    packet on the way. To put AH over an ESP packet (an ESP+AH bundle), IP and IPv6 must not dissect ESP meanwhile:
    the ESP packet is then opaque bytes to the AH SA, as RFC 4302 has it."""
    split_layers(IP, ESP, proto=50)
    split_layers(IPv6, ESP, nh=50)
    try:
        yield
    finally:
        bind_layers(IP, ESP, proto=50)
        bind_layers(IPv6, ESP, nh=50)


def make_sa(c):
    tunnel = None
    if c["mode"] == "tunnel":
        src, dst = c["tunnel_src"], c["tunnel_dst"]
        tunnel = IP(src=src, dst=dst) if ":" not in src else IPv6(src=src, dst=dst)
    seq = int(c.get("seq", 1))
    if c.get("proto", "ESP") == "AH":
        return SecurityAssociation(
            AH,
            spi=c["spi"],
            seq_num=seq & 0xFFFFFFFF,
            auth_algo=c["auth"],
            auth_key=bytes.fromhex(c["auth_key"]),
            tunnel_header=tunnel,
            esn_en=c["esn"],
            esn=seq >> 32,
        )
    return SecurityAssociation(
        ESP,
        spi=c["spi"],
        seq_num=seq & 0xFFFFFFFF,
        crypt_algo=c["enc"],
        crypt_key=bytes.fromhex(c["enc_key"]) or None,
        auth_algo=c["auth"],
        auth_key=bytes.fromhex(c["auth_key"]) if c["auth"] else None,
        tunnel_header=tunnel,
        nat_t_header=UDP(sport=4500, dport=4500) if c["nat_t"] else None,
        esn_en=c["esn"],
        esn=seq >> 32,
    )


def as_esp(pkt):
    """Scapy may not dissect UDP-encapsulated ESP by itself; make the layer explicit."""
    if ESP in pkt:
        return pkt
    udp = pkt[UDP]
    payload = bytes(udp.payload)
    udp.remove_payload()
    udp.add_payload(ESP(payload))
    return pkt


def run(c):
    if c.get("proto", "ESP") == "AH":
        with esp_undissected():
            return transform(c)
    return transform(c)


def transform(c):
    sa = make_sa(c)
    pkt = parse_ip(bytes.fromhex(c["packet"]))
    seq = int(c.get("seq", 1))
    if c["op"] == "encrypt":
        out = sa.encrypt(pkt, seq_num=seq & 0xFFFFFFFF, esn_en=c["esn"], esn=seq >> 32)
    else:
        out = sa.decrypt(pkt if AH in pkt else as_esp(pkt), esn_en=c["esn"], esn=seq >> 32)
    return bytes(out).hex()


def main():
    cases = json.load(sys.stdin)["cases"]
    results = []
    for c in cases:
        try:
            results.append({"id": c["id"], "ok": True, "packet": run(c), "error": ""})
        except Exception as e:  # report per case; the Rust test decides
            results.append({"id": c["id"], "ok": False, "packet": "", "error": f"{type(e).__name__}: {e}"})
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()

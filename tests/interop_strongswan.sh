#!/usr/bin/env bash
# espgate against strongSwan 5.9 (kernel-libipsec) in the deploy/lab namespaces: espgate owns the left gateway's
# ports through DPDK net_af_packet, strongSwan is the right gateway. Cases: espgate initiates (Main Mode + Quick
# Mode at start), strongSwan initiates (espgate responds), and a PFS/GCM proposal. Each case checks that hosts behind
# the gateways ping each other through the tunnel, that strongSwan installed the CHILD_SA, and that espgate's
# `show crypto isakmp sa` shows the NAT-T float (strongSwan with libipsec always forces UDP encapsulation).
# Prints "N passed, N failed"; exits non-zero on any failure. Run as root; cleans up after itself.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lab=$root/deploy/lab
bin=${ESPGATE_BIN:-$root/target/release/espgate}
export LAB_PREFIX=${LAB_PREFIX:-eit-}
export LAB_RUN_DIR=${LAB_RUN_DIR:-/tmp/espgate-interop}
pass=0 fail=0
ok() { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

bash "$lab/install-deps" >/dev/null || { echo "install-deps failed"; exit 1; }
[ -x "$bin" ] || { echo "no espgate binary at $bin (cargo build --release -p espgate)"; exit 1; }
cleanup() {
  [ -n "${gw_pid:-}" ] && kill -INT "$gw_pid" 2>/dev/null
  sleep 0.5
  bash "$lab/netns-down" --purge >/dev/null 2>&1
}
trap cleanup EXIT
bash "$lab/netns-down" --purge >/dev/null 2>&1
bash "$lab/netns-up" --espgate >/dev/null || { echo "netns-up failed"; exit 1; }
# shellcheck disable=SC1091
. "$LAB_RUN_DIR/topology.env"
peer=$lab/strongswan-peer

config() { # INITIATE TRANSFORM_LINES PFS_LINE [AUTHENTICATION [EXTRA_SECTIONS]]
  cat <<CFG
[engine]
workers = [1]
control_core = 0

[control]
socket = "$LAB_RUN_DIR/gw.sock"

[[interface]]
name = "outside"
device = "net_af_packet0,iface=$LEFT_WAN_IF"
address = "$LEFT_WAN_IP/$WAN_PREFIXLEN"
crypto_map = "CM1"

[[interface]]
name = "inside"
device = "net_af_packet1,iface=$LEFT_LAN_IF"
address = "$LEFT_LAN_IP/$LAN_PREFIXLEN"

[[route]]
destination = "$RIGHT_NET"
next_hop = "$RIGHT_WAN_IP"
interface = "outside"

# strongSwan proposes its reauthentication time plus 10% (4 h gives 15840 s): a responder takes a proposal whose
# lifetime is not longer than its own.
[[isakmp_policy]]
priority = 10
encryption = "aes-128"
hash = "sha256"
authentication = "${4:-pre-share}"
group = 14
lifetime = 86400

${5:-}

[[isakmp_key]]
peer = "$RIGHT_WAN_IP"
key = "lab-psk-not-secret-0123"

[[transform_set]]
name = "TS1"
$2
mode = "tunnel"

[[access_list]]
name = "VPN"
entries = [{ action = "permit", protocol = "ip", source = "$LEFT_NET", destination = "$RIGHT_NET" }]

[[crypto_map]]
name = "CM1"
seq = 10
kind = "ipsec-isakmp"
peer = "$RIGHT_WAN_IP"
match_address = "VPN"
transform_sets = ["TS1"]
initiate = "$1"
$3
CFG
}

start_gw() { # CONFIG_TEXT
  umask 077
  printf '%s\n' "$1" > "$LAB_RUN_DIR/gw.toml"
  ip netns exec "$NS_LEFT" "$bin" run --config "$LAB_RUN_DIR/gw.toml" > "$LAB_RUN_DIR/gw.log" 2>&1 &
  gw_pid=$!
  for _ in $(seq 100); do grep -q "espgate: running" "$LAB_RUN_DIR/gw.log" 2>/dev/null && return 0; sleep 0.2; done
  return 1
}

stop_gw() {
  kill -INT "$gw_pid" 2>/dev/null
  for _ in $(seq 50); do [ -d "/proc/$gw_pid" ] && grep -q zombie "/proc/$gw_pid/status" 2>/dev/null && break
    [ -d "/proc/$gw_pid" ] || break; sleep 0.1; done
  wait "$gw_pid" 2>/dev/null
  gw_pid=""
}

wait_sa() { for _ in $(seq 150); do grep -q "IPsec SA for" "$LAB_RUN_DIR/gw.log" && return 0; sleep 0.2; done; return 1; }

run_case() { # NAME INITIATE(espgate|strongswan) TRANSFORM_LINES PFS_LINE SWAN_ESP SWAN_PFS [AUTH(psk|rsa|ecdsa)]
  local name=$1 who=$2 auth=${7:-psk}
  local swan_opts=(--netns "$NS_RIGHT" --local-ts "$RIGHT_NET" --remote-ts "$LEFT_NET" --remote "$LEFT_WAN_IP" --esp "$5")
  [ -n "$6" ] && swan_opts+=(--pfs "$6")
  local gw_auth=pre-share extra=""
  if [ "$auth" != psk ]; then
    # Certificates from the lab CA for both sides; identities are FQDNs in the certificates.
    local certs=$LAB_RUN_DIR/gwcert-$auth
    bash "$peer" make-cert gw.lab.example "$auth" "$certs" >/dev/null || { bad "$name: make-cert"; return; }
    swan_opts+=(--auth "$auth" --local-id right.lab.example --remote-id gw.lab.example)
    gw_auth=$([ "$auth" = rsa ] && echo rsa-sig || echo ecdsa-sig)
    extra="[isakmp]
identity = \"fqdn:gw.lab.example\"

[pki]
ca = [\"$certs/ca.pem\"]
certificate = \"$certs/gw.lab.example.pem\"
private_key = \"$certs/gw.lab.example.pkcs8.key\""
  fi
  bash "$peer" start right "${swan_opts[@]}" >/dev/null || { bad "$name: strongSwan did not start"; return; }
  local init=on-traffic
  [ "$who" = espgate ] && init=on-start
  if ! start_gw "$(config "$init" "$3" "$4" "$gw_auth" "$extra")"; then
    bad "$name: espgate did not start"; cat "$LAB_RUN_DIR/gw.log"; bash "$peer" stop right >/dev/null; return
  fi
  [ "$who" = strongswan ] && bash "$peer" initiate right >/dev/null 2>&1 &
  if wait_sa && bash "$peer" wait right >/dev/null 2>&1; then
    ok "$name: IPsec SAs up on both sides"
  else
    bad "$name: no IPsec SA"; tail -20 "$LAB_RUN_DIR/gw.log"; bash "$peer" log right 2>/dev/null | tail -20
  fi
  # The first echo may go while the last neighbor is resolved: count replies, want most of them.
  local got
  got=$(ip netns exec "$NS_LEFT_LAN" ping -c 5 -i 0.3 -w 15 "$RIGHT_HOST_IP" 2>/dev/null | sed -n 's/.* \([0-9]*\) received.*/\1/p')
  if [ "${got:-0}" -ge 4 ]; then ok "$name: ping through the tunnel ($got/5)"; else bad "$name: ping got ${got:-0}/5"; fi
  local isakmp
  isakmp=$("$bin" show crypto isakmp sa detail --socket "$LAB_RUN_DIR/gw.sock" 2>&1)
  if grep -q "ACTIVE .* N$" <<<"$isakmp"; then ok "$name: ISAKMP SA ACTIVE with NAT-T (N)"; else bad "$name: isakmp sa: $isakmp"; fi
  local ipsec
  ipsec=$("$bin" show crypto ipsec sa --socket "$LAB_RUN_DIR/gw.sock" 2>&1)
  if grep -q "#pkts encaps: [1-9]" <<<"$ipsec" && grep -q "#pkts decaps: [1-9]" <<<"$ipsec" \
    && grep -Eq "remaining key lifetime \(k/sec\): \([0-9-]+/[0-9]+\)" <<<"$ipsec"; then
    ok "$name: show crypto ipsec sa counts traffic both ways"
  else
    bad "$name: ipsec sa: $ipsec"
  fi
  stop_gw
  bash "$peer" stop right >/dev/null 2>&1
}

run_case "espgate initiates" espgate 'esp_encryption = "esp-aes-128"
esp_integrity = "esp-sha256-hmac"' "" aes128-sha256 ""
run_case "strongSwan initiates" strongswan 'esp_encryption = "esp-aes-128"
esp_integrity = "esp-sha256-hmac"' "" aes128-sha256 ""
run_case "GCM with PFS" espgate 'esp_encryption = "esp-gcm-256"' "pfs = 14" aes256gcm16-modp2048 modp2048

run_case "RSA certificates" espgate 'esp_encryption = "esp-aes-256"
esp_integrity = "esp-sha-hmac"' "" aes256-sha1 "" rsa
run_case "ECDSA certificates, strongSwan initiates" strongswan 'esp_encryption = "esp-aes-128"
esp_integrity = "esp-sha256-hmac"' "" aes128-sha256 "" ecdsa

echo "interop: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/usr/bin/env bash
# `espgate capture` and `espgate show crypto keys --wireshark` end to end, checked with tshark.
#
# Two espgate gateways back to back (as deploy/demo-gateways.sh: DPDK net_af_packet ports over veth pairs in
# network namespaces, a host behind each, AES-256-CBC + HMAC-SHA-256 tunnel), twice: keyed by IKEv1 (Main Mode with
# a pre-shared key, then Quick Mode) and keyed manually (ipsec-manual crypto maps). Gateway A captures its outside
# interface while host A pings host B (with IKE the first echo starts the negotiation, so the capture holds the whole
# of Main Mode and Quick Mode); then A's keys are exported in Wireshark's files and tshark must:
#   - read the pcapng: interface name, both directions (epb_flags), ARP, ISAKMP and ESP frames;
#   - decrypt the ISAKMP messages (IKE case): the ID payloads of Main Mode 5/6 and the nonces of Quick Mode, which
#     travel encrypted, show up as dissected fields;
#   - decrypt ESP to the ICMP echoes between 192.0.2.10 and 203.0.113.10, with the ICVs checked good;
#   - and, as the control, see none of that without the keys.
# Prints PASS:/FAIL: lines and "N passed, N failed"; exits non-zero on any failure. Root; cleans up after itself.
# env: ESPGATE_BIN [target/release/espgate], CAPTURE_RUN_DIR [/tmp/espgate-capture-test], PING_COUNT [5],
#      CAPTURE_CASES ["ike manual"]
#
#   hostA 192.0.2.10 ─ [inside gwA outside] ═ 198.51.100.0/24 ═ [outside gwB inside] ─ hostB 203.0.113.10
#        (cw-ha)          (cw-gwa, espgate)                      (cw-gwb, espgate)          (cw-hb)
# shellcheck disable=SC2015 # ok/bad never fail, so A && ok || bad is an if-then-else here
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${ESPGATE_BIN:-$root/target/release/espgate}
run=${CAPTURE_RUN_DIR:-/tmp/espgate-capture-test}
count=${PING_COUNT:-5}
ns=(cw-ha cw-gwa cw-gwb cw-hb)
pass=0 fail=0
case_name=""
ok() { echo "PASS: $case_name: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $case_name: $*"; fail=$((fail + 1)); }

[ "$(id -u)" -eq 0 ] || { echo "capture_wireshark: must run as root"; exit 1; }
[ -x "$bin" ] || { echo "capture_wireshark: no espgate binary at $bin (cargo build --release -p espgate)"; exit 1; }
command -v tshark >/dev/null || { echo "capture_wireshark: needs tshark (deploy/lab/install-deps)"; exit 1; }

cleanup() {
  for p in "$run"/*/*.pid; do [ -f "$p" ] && kill -INT "$(cat "$p")" 2>/dev/null; done
  sleep 1
  for n in "${ns[@]}"; do ip netns del "$n" 2>/dev/null; done
}
trap cleanup EXIT
cleanup
rm -rf "$run" && mkdir -p "$run"

for n in "${ns[@]}"; do ip netns add "$n"; ip -n "$n" link set lo up; done
link() { # link NS1 IF1 NS2 IF2
  ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
  ip -n "$1" link set "$2" up
  ip -n "$3" link set "$4" up
}
link cw-ha ha0 cw-gwa a-in
link cw-gwa a-out cw-gwb b-out
link cw-gwb b-in cw-hb hb0
for n in cw-gwa cw-gwb; do ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1; done
ip -n cw-ha addr add 192.0.2.10/24 dev ha0 && ip -n cw-ha route add default via 192.0.2.1
ip -n cw-hb addr add 203.0.113.10/24 dev hb0 && ip -n cw-hb route add default via 203.0.113.1

k1=$(printf '11%.0s' $(seq 32)); a1=$(printf '22%.0s' $(seq 32))
k2=$(printf '33%.0s' $(seq 32)); a2=$(printf '44%.0s' $(seq 32))
# gw_config NAME INSIDE_IF INSIDE_ADDR OUTSIDE_IF OUTSIDE_ADDR PEER LOCAL_NET REMOTE_NET SPI_IN SPI_OUT KEYS_IN KEYS_OUT
gw_config() {
  cat <<CFG
[engine]
workers = [1]
control_core = 0

[control]
socket = "$d/$1.sock"

[[interface]]
name = "inside"
device = "net_af_packet0,iface=$2"
address = "$3"

[[interface]]
name = "outside"
device = "net_af_packet1,iface=$4"
address = "$5"
crypto_map = "CM1"

[[route]]
destination = "$8"
next_hop = "$6"
interface = "outside"

[[transform_set]]
name = "TS1"
esp_encryption = "esp-aes-256"
esp_integrity = "esp-sha256-hmac"
mode = "tunnel"

[[access_list]]
name = "VPN"
entries = [{ action = "permit", protocol = "ip", source = "$7", destination = "$8" }]
CFG
  if [ "$keying" = manual ]; then
    cat <<CFG

[[crypto_map]]
name = "CM1"
seq = 10
kind = "ipsec-manual"
peer = "$6"
match_address = "VPN"
transform_sets = ["TS1"]
inbound_esp = { spi = $9, ${11} }
outbound_esp = { spi = ${10}, ${12} }
CFG
    return
  fi
  cat <<CFG

[isakmp]
acquire_hold = 3

[[isakmp_policy]]
priority = 10
encryption = "aes-256"
hash = "sha256"
authentication = "pre-share"
group = 14
lifetime = 86400

[[isakmp_key]]
peer = "$6"
key = "espgate-capture-test-only-key"

[[crypto_map]]
name = "CM1"
seq = 10
kind = "ipsec-isakmp"
peer = "$6"
match_address = "VPN"
transform_sets = ["TS1"]
CFG
}
umask 077

# one_case ike|manual: both gateways with that keying, capture, pings, key export, tshark checks.
one_case() {
keying=$1 case_name=$1 d=$run/$1
mkdir -p "$d"
gw_config gwa a-in 192.0.2.1/24 a-out 198.51.100.1/24 198.51.100.2 192.0.2.0/24 203.0.113.0/24 8192 4096 \
  "cipher_key = \"$k2\", auth_key = \"$a2\"" "cipher_key = \"$k1\", auth_key = \"$a1\"" > "$d/gwa.toml"
gw_config gwb b-in 203.0.113.1/24 b-out 198.51.100.2/24 198.51.100.1 203.0.113.0/24 192.0.2.0/24 4096 8192 \
  "cipher_key = \"$k1\", auth_key = \"$a1\"" "cipher_key = \"$k2\", auth_key = \"$a2\"" > "$d/gwb.toml"

for g in gwa gwb; do
  ip netns exec "cw-$g" "$bin" run --config "$d/$g.toml" > "$d/$g.log" 2>&1 &
  echo $! > "$d/$g.pid"
done
for _ in $(seq 100); do
  grep -q "espgate: running" "$d/gwa.log" 2>/dev/null && grep -q "espgate: running" "$d/gwb.log" 2>/dev/null && break
  sleep 0.2
done
if ! grep -q "espgate: running" "$d/gwa.log" || ! grep -q "espgate: running" "$d/gwb.log"; then
  bad "both gateways start"; cat "$d"/*.log
  return
fi

pcap=$d/gwa-outside.pcapng
# The CLI stops at the count, at --seconds, or on SIGINT (sent below once the pings are done).
"$bin" capture --interface outside --count 10000 --seconds 60 --output "$pcap" --socket "$d/gwa.sock" \
  > "$d/capture.out" 2>&1 &
cap_pid=$!
for _ in $(seq 50); do [ -s "$pcap" ] && break; sleep 0.1; done
[ -s "$pcap" ] && ok "capture started: $pcap exists" || bad "capture started (no $pcap): $(cat "$d/capture.out")"

ping_out=$(ip netns exec cw-ha ping -n -c "$count" -i 0.2 -w 30 203.0.113.10 2>&1)
received=$(grep -Eo '[0-9]+ received' <<<"$ping_out" | grep -Eo '[0-9]+')
[ "${received:-0}" -ge 1 ] && ok "ping through the tunnel: $received of $count answered" ||
  bad "ping through the tunnel: $ping_out"

keys=$d/wireshark
"$bin" show crypto keys --wireshark "$keys" --socket "$d/gwa.sock" > "$d/keys.out" 2>&1 ||
  bad "show crypto keys --wireshark: $(cat "$d/keys.out")"
esp_lines=$(grep -c . "$keys/esp_sa" 2>/dev/null)
ike_lines=$(grep -c . "$keys/ikev1_decryption_table" 2>/dev/null)
[ "${esp_lines:-0}" -eq 2 ] && ok "esp_sa has the two ESP SAs (in, out)" || bad "esp_sa lines: ${esp_lines:-none}"
want_ike=1
[ "$keying" = manual ] && want_ike=0
[ "${ike_lines:-x}" -eq "$want_ike" ] && ok "ikev1_decryption_table has $want_ike ISAKMP SA(s)" ||
  bad "ikev1 lines: ${ike_lines:-none}, want $want_ike"
modes=$(stat -c %a "$keys/esp_sa" "$keys/ikev1_decryption_table" 2>/dev/null | sort -u | tr '\n' ' ')
[ "$modes" = "600 " ] && ok "key files are mode 0600" || bad "key file modes: $modes"

kill -INT "$cap_pid" 2>/dev/null
wait "$cap_pid"; cap_status=$?
summary=$(cat "$d/capture.out")
written=$(grep -Eo '^[0-9]+ frames written' <<<"$summary" | grep -Eo '^[0-9]+')
[ "$cap_status" -eq 0 ] && [ "${written:-0}" -gt 0 ] && ok "capture stopped: $summary" ||
  bad "capture exit $cap_status: $summary"
[ "$(stat -c %a "$pcap" 2>/dev/null)" = 600 ] && ok "capture file is mode 0600" || bad "capture file mode"

# tshark on the file. Preferences come from a config directory of our own: the key files are Wireshark's own, so
# they are used as they are (XDG_CONFIG_HOME/wireshark, with HOME pointed away from any ~/.wireshark).
ts() { # ts [tshark args...]: with the exported keys
  HOME=$d/home XDG_CONFIG_HOME=$d/xdg tshark -n -r "$pcap" -o esp.enable_encryption_decode:TRUE \
    -o esp.enable_authentication_check:TRUE "$@" 2>/dev/null
}
ts_nokeys() { # the same, with no keys
  HOME=$d/home XDG_CONFIG_HOME=$d/empty tshark -n -r "$pcap" -o esp.enable_encryption_decode:TRUE "$@" 2>/dev/null
}
mkdir -p "$d/home" "$d/xdg/wireshark" "$d/empty/wireshark"
cp "$keys/esp_sa" "$keys/ikev1_decryption_table" "$d/xdg/wireshark/"

total=$(ts | wc -l)
[ "$total" -eq "${written:-x}" ] && ok "tshark reads all $total frames" || bad "tshark read $total of ${written:-?} frames"
ifname=$(ts -T fields -e frame.interface_name | sort -u | tr '\n' ' ')
[ "$ifname" = "outside " ] && ok "interface name in the file: outside" || bad "interface names: $ifname"
dirs=$(ts -T fields -e frame.packet_flags_direction | sort -u | tr '\n' ' ')
[ "$dirs" = "0x00000001 0x00000002 " ] && ok "both directions marked (epb_flags)" || bad "directions: $dirs"
n_arp=$(ts -Y arp | wc -l)
n_isakmp=$(ts -Y isakmp | wc -l)
n_esp=$(ts -Y esp | wc -l)
want_isakmp=9 # Main Mode 6 + Quick Mode 3 at least
[ "$keying" = manual ] && want_isakmp=0
[ "$n_arp" -ge 1 ] && [ "$n_isakmp" -ge "$want_isakmp" ] && [ "$n_esp" -ge 2 ] &&
  ok "frames: $n_arp ARP, $n_isakmp ISAKMP, $n_esp ESP" || bad "frames: $n_arp ARP, $n_isakmp ISAKMP, $n_esp ESP"

# Main Mode 5/6 (exchange type 2, encrypted) carry the ID payloads: only decrypted do they show.
mm5='isakmp.exchangetype == 2 && isakmp.flag_e == 1'
mm_ids=0
if [ "$keying" = ike ]; then
mm_ids=$(ts -Y "$mm5" -T fields -e isakmp.id.type | grep -c .)
mm_ids_nokeys=$(ts_nokeys -Y "$mm5" -T fields -e isakmp.id.type | grep -c .)
[ "$mm_ids" -ge 2 ] && [ "$mm_ids_nokeys" -eq 0 ] &&
  ok "ISAKMP Main Mode 5/6 decrypted: $mm_ids ID payloads (none without the keys)" ||
  bad "Main Mode 5/6: $mm_ids ID payloads with keys, $mm_ids_nokeys without"
qm=$(ts -Y 'isakmp.exchangetype == 32' -T fields -e isakmp.nonce | grep -c .)
qm_nokeys=$(ts_nokeys -Y 'isakmp.exchangetype == 32' -T fields -e isakmp.nonce | grep -c .)
[ "$qm" -ge 2 ] && [ "$qm_nokeys" -eq 0 ] &&
  ok "ISAKMP Quick Mode decrypted: $qm messages with their nonce (none without the keys)" ||
  bad "Quick Mode nonces: $qm with keys, $qm_nokeys without"
fi

pair='ip.src == 192.0.2.10 && ip.dst == 203.0.113.10'
back='ip.src == 203.0.113.10 && ip.dst == 192.0.2.10'
req=$(ts -Y "esp && icmp.type == 8 && $pair" | wc -l)
rep=$(ts -Y "esp && icmp.type == 0 && $back" | wc -l)
[ "$req" -ge 1 ] && [ "$rep" -ge 1 ] &&
  ok "ESP decrypts to ICMP echo: $req requests 192.0.2.10 -> 203.0.113.10, $rep replies back" ||
  bad "ESP to ICMP: $req requests, $rep replies"
good=$(ts -Y 'esp.icv_good == 1' | wc -l)
badicv=$(ts -Y 'esp.icv_bad == 1' | wc -l)
[ "$good" -eq "$n_esp" ] && [ "$badicv" -eq 0 ] && ok "every ESP ICV checks good with the exported auth keys ($good)" ||
  bad "ESP ICVs: $good good, $badicv bad of $n_esp"
icmp_nokeys=$(ts_nokeys -Y "esp && icmp" | wc -l)
[ "$icmp_nokeys" -eq 0 ] && ok "without the keys no ICMP is seen inside ESP" || bad "ICMP seen without keys: $icmp_nokeys"

# The same keys given on the command line (uat: options), as a CI job might.
uat=()
while IFS= read -r l; do uat+=(-o "uat:esp_sa:$l"); done < "$keys/esp_sa"
while IFS= read -r l; do uat+=(-o "uat:ikev1_decryption_table:$l"); done < "$keys/ikev1_decryption_table"
req_o=$(ts_nokeys "${uat[@]}" -Y "esp && icmp.type == 8 && $pair" | wc -l)
mm_o=$(ts_nokeys "${uat[@]}" -Y "$mm5" -T fields -e isakmp.id.type | grep -c .)
[ "$req_o" -eq "$req" ] && [ "$mm_o" -eq "$mm_ids" ] && ok "the key lines work as tshark -o uat: options too" ||
  bad "uat options: $req_o of $req echo requests, $mm_o of $mm_ids Main Mode IDs"

for g in gwa gwb; do kill -INT "$(cat "$d/$g.pid")" 2>/dev/null; done
for g in gwa gwb; do
  pid=$(cat "$d/$g.pid"); rm -f "$d/$g.pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
done
if [ "$fail" -gt "$fail_before" ]; then
  for g in gwa gwb; do echo "== gateway $g log"; cat "$d/$g.log"; done
fi
}

for c in ${CAPTURE_CASES:-ike manual}; do
  fail_before=$fail
  one_case "$c"
done
case_name=all
echo "capture_wireshark: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]

#!/usr/bin/env bash
# Two espgate gateways back to back on DPDK net_af_packet ports over veth pairs in network namespaces, with a host
# behind each. Host A pings host B: the gateways answer ARP themselves, resolve their next hops, encrypt and decrypt
# (AES-256-CBC + HMAC-SHA-256, tunnel mode). With --ike, gateway A negotiates the SAs with gateway B by IKEv1 (Main
# Mode with a pre-shared key, then Quick Mode) when it starts; without, both use manually keyed crypto maps.
# Prints both gateways' show output and counter summaries; exits non-zero if the ping did not get through.
# Cleans up after itself. Run as root.
#
#   hostA 192.0.2.10 ─ [inside gwA outside] ═ 198.51.100.0/24 ═ [outside gwB inside] ─ hostB 203.0.113.10
#        (eg-ha)          (eg-gwa, espgate)                      (eg-gwb, espgate)          (eg-hb)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${ESPGATE_BIN:-$root/target/release/espgate}
run=${DEMO_RUN_DIR:-/tmp/espgate-demo}
count=${PING_COUNT:-5}
# Gateway A negotiates when host A's traffic first matches its crypto map (on-traffic), or at start (on-start).
initiate=${INITIATE:-on-traffic}
keying=manual
[ "${1:-}" = "--ike" ] && keying=ike
ns=(eg-ha eg-gwa eg-gwb eg-hb)

cleanup() {
  for p in "$run"/*.pid; do [ -f "$p" ] && kill -INT "$(cat "$p")" 2>/dev/null || true; done
  sleep 1
  for n in "${ns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
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
link eg-ha ha0 eg-gwa a-in
link eg-gwa a-out eg-gwb b-out
link eg-gwb b-in eg-hb hb0
# The gateways' ports belong to espgate (DPDK af_packet): no kernel addresses there, and no IPv6 chatter.
for n in eg-gwa eg-gwb; do ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1; done
ip -n eg-ha addr add 192.0.2.10/24 dev ha0 && ip -n eg-ha route add default via 192.0.2.1
ip -n eg-hb addr add 203.0.113.10/24 dev hb0 && ip -n eg-hb route add default via 203.0.113.1

k1=$(printf '11%.0s' $(seq 32)); a1=$(printf '22%.0s' $(seq 32))
k2=$(printf '33%.0s' $(seq 32)); a2=$(printf '44%.0s' $(seq 32))
gw_config() { # NAME INSIDE_IF INSIDE_ADDR OUTSIDE_IF OUTSIDE_ADDR PEER LOCAL_NET REMOTE_NET SPI_IN SPI_OUT KEYS_IN KEYS_OUT
  cat <<CFG
[engine]
workers = [1]
control_core = 0

[control]
socket = "$run/$1.sock"

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
$([ -n "${AH:-}" ] && echo "ah = \"$AH\"")

[[access_list]]
name = "VPN"
entries = [{ action = "permit", protocol = "ip", source = "$7", destination = "$8" }]

CFG
  if [ "$keying" = ike ]; then
    cat <<CFG

[[isakmp_policy]]
priority = 10
encryption = "aes-256"
hash = "sha256"
authentication = "pre-share"
group = 14
lifetime = 86400

[[isakmp_key]]
peer = "$6"
key = "espgate-demo-only-key"
$([ -n "${DPD_TEST:-}" ] && printf '\n[isakmp]\ndpd = { interval = 1, retries = 2, mode = "periodic", on_dead = "clear" }\n')

[[crypto_map]]
name = "CM1"
seq = 10
kind = "ipsec-isakmp"
peer = "$6"
match_address = "VPN"
transform_sets = ["TS1"]
initiate = "${13}"
lifetime_kilobytes = ${LIFETIME_KB:-4608000}
CFG
  else
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
  fi
}
umask 077
gw_config gwa a-in 192.0.2.1/24 a-out 198.51.100.1/24 198.51.100.2 192.0.2.0/24 203.0.113.0/24 8192 4096 \
  "cipher_key = \"$k2\", auth_key = \"$a2\"" "cipher_key = \"$k1\", auth_key = \"$a1\"" "$initiate" > "$run/gwa.toml"
gw_config gwb b-in 203.0.113.1/24 b-out 198.51.100.2/24 198.51.100.1 203.0.113.0/24 192.0.2.0/24 4096 8192 \
  "cipher_key = \"$k1\", auth_key = \"$a1\"" "cipher_key = \"$k2\", auth_key = \"$a2\"" on-traffic > "$run/gwb.toml"

for g in gwa gwb; do
  ip netns exec "eg-$g" "$bin" run --config "$run/$g.toml" > "$run/$g.log" 2>&1 &
  echo $! > "$run/$g.pid"
done
# Ready when both report running.
for _ in $(seq 100); do
  grep -q "espgate: running" "$run/gwa.log" 2>/dev/null && grep -q "espgate: running" "$run/gwb.log" 2>/dev/null && break
  sleep 0.2
done
grep -q "espgate: running" "$run/gwa.log" && grep -q "espgate: running" "$run/gwb.log" || {
  echo "a gateway did not start:"; cat "$run"/*.log; exit 1; }

if [ "$keying" = ike ] && [ "$initiate" = on-start ]; then
  # Gateway A starts Main Mode and Quick Mode on its own; wait for the IPsec SA.
  for _ in $(seq 150); do grep -q "IPsec SA for" "$run/gwa.log" 2>/dev/null && break; sleep 0.2; done
  grep -q "IPsec SA for" "$run/gwa.log" || { echo "IKE did not bring the SAs up:"; cat "$run"/*.log; exit 1; }
fi
# The gateways answer ARP and ping for their own addresses themselves (the kernel has no address on their ports).
echo "== host A pings gateway A (192.0.2.1), host B pings gateway B (203.0.113.1)"
ip netns exec eg-ha ping -c 2 -i 0.2 -W 2 192.0.2.1 | grep -E "transmitted" || { echo "FAIL: gateway A does not answer"; exit 1; }
ip netns exec eg-hb ping -c 2 -i 0.2 -W 2 203.0.113.1 | grep -E "transmitted" || { echo "FAIL: gateway B does not answer"; exit 1; }
ip -n eg-ha neigh show 192.0.2.1 | grep -q lladdr || { echo "FAIL: gateway A's ARP reply not learned"; exit 1; }
echo "== ping 203.0.113.10 from host A (192.0.2.10) through both gateways ($keying keys)"
status=0
if [ -n "${RELOAD_TEST:-}" ]; then
  # While the ping runs: gateway A gets a second crypto map entry by SIGHUP (its first SA must keep running: same
  # SPIs, no loss), then a config that needs a restart and one that does not parse (both refused, nothing
  # changes).
  (
    sleep "${RELOAD_AFTER:-3}"
    "$bin" show crypto ipsec sa --json --socket "$run/gwa.sock" > "$run/before-reload.json"
    cp "$run/gwa.toml" "$run/gwa.toml.orig"
    cat >> "$run/gwa.toml" <<CFG

[[access_list]]
name = "VPN2"
entries = [{ action = "permit", protocol = "ip", source = "192.0.2.0/24", destination = "198.51.100.128/25" }]

[[crypto_map]]
name = "CM1"
seq = 20
kind = "ipsec-isakmp"
peer = "198.51.100.2"
match_address = "VPN2"
transform_sets = ["TS1"]
CFG
    kill -HUP "$(cat "$run/gwa.pid")"
    sleep 1
    sed 's/^workers = \[1\]/workers = [1, 2]/' "$run/gwa.toml" > "$run/gwa.tmp" && cat "$run/gwa.tmp" > "$run/gwa.toml"
    kill -HUP "$(cat "$run/gwa.pid")"
    sleep 1
    cp "$run/gwa.toml" "$run/gwa.good" && echo "this is = not [valid" >> "$run/gwa.toml"
    kill -HUP "$(cat "$run/gwa.pid")"
    sleep 1
    "$bin" show crypto ipsec sa --json --socket "$run/gwa.sock" > "$run/after-reload.json"
  ) &
  reload_job=$!
fi
if [ -n "${PING_PRIME:-}" ]; then
  # Bring the tunnel up first (the packets beyond acquire_hold while IKE negotiates are dropped): the measured ping
  # then counts only what happens on a running tunnel, e.g. across rekeys.
  for _ in 1 2 3 4 5; do ip netns exec eg-ha ping -c 1 -W 2 203.0.113.10 >/dev/null && break; done
fi
# The first echo may go while ARP resolves; -w bounds the wait.
ip netns exec eg-ha ping -c "$count" -s "${PING_SIZE:-56}" -i "${PING_INTERVAL:-0.2}" -w "${PING_DEADLINE:-60}" 203.0.113.10 || status=$?
if [ "$keying" = ike ] && [ "$initiate" = on-traffic ]; then
  # The first echo request found no SA: gateway A held it, negotiated, and sent it once the SA was up.
  grep -h "starts negotiation\|IPsec SA for" "$run/gwa.log" || { echo "no traffic-triggered negotiation"; status=1; }
fi

if [ -n "${RELOAD_TEST:-}" ]; then
  wait "$reload_job"
  echo "== reload checks"
  grep -h "reload" "$run/gwa.log"
  spis() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); print(sorted((m["crypto_map"], m["seq"], m["current_outbound_spi"]) for m in v["sas"] if m["seq"] == 10))' "$1"; }
  grep -q "config reloaded.*1 entries added, 0 removed, 0 changed, 1 unchanged" "$run/gwa.log" || { echo "FAIL: reload did not add the entry"; status=1; }
  grep -q "refused.*need a restart: engine" "$run/gwa.log" || { echo "FAIL: engine change not refused"; status=1; }
  [ "$(grep -c "refused" "$run/gwa.log")" -ge 2 ] || { echo "FAIL: bad config not refused"; status=1; }
  before=$(spis "$run/before-reload.json"); after=$(spis "$run/after-reload.json")
  echo "SAs before: $before"; echo "SAs after:  $after"
  [ -n "$before" ] && [ "$before" = "$after" ] || { echo "FAIL: the running SA changed across the reload"; status=1; }
fi
for g in gwa gwb; do
  if [ "$keying" = ike ]; then
    echo "== gateway ${g#gw}# show crypto isakmp sa"
    "$bin" show crypto isakmp sa --socket "$run/$g.sock" || status=1
  fi
  echo "== gateway ${g#gw}# show crypto ipsec sa"
  "$bin" show crypto ipsec sa --socket "$run/$g.sock" || status=1
done
if [ -n "${CLEAR_TEST:-}" ] && [ "$keying" = ike ]; then
  # clear crypto sa on A: both sides lose the pair (B through A's Delete); the next ping negotiates a new one (held,
  # not lost). clear crypto isakmp: both sides lose the ISAKMP SA.
  echo "== clear checks"
  nsas() { "$bin" show crypto ipsec sa --json --socket "$run/$1.sock" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["sas"]))'; }
  nike() { "$bin" show crypto isakmp sa --json --socket "$run/$1.sock" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["isakmp_sas"]))'; }
  old=$("$bin" show crypto ipsec sa --json --socket "$run/gwa.sock" | python3 -c 'import json,sys; print([m["current_outbound_spi"] for m in json.load(sys.stdin)["sas"]])')
  "$bin" clear crypto sa --socket "$run/gwa.sock" || status=1
  sleep 1
  echo "after clear crypto sa: A has $(nsas gwa), B has $(nsas gwb) IPsec SA pair(s)"
  [ "$(nsas gwa)" = 0 ] && [ "$(nsas gwb)" = 0 ] || { echo "FAIL: clear crypto sa left SAs"; status=1; }
  ip netns exec eg-ha ping -c 3 -i 0.2 -w 20 203.0.113.10 | grep -E "transmitted" || status=1
  new=$("$bin" show crypto ipsec sa --json --socket "$run/gwa.sock" | python3 -c 'import json,sys; print([m["current_outbound_spi"] for m in json.load(sys.stdin)["sas"]])')
  echo "outbound SPI before clear: $old, after new traffic: $new"
  [ "$new" != "[]" ] && [ "$new" != "$old" ] || { echo "FAIL: traffic did not negotiate a new SA"; status=1; }
  ids() { "$bin" show crypto isakmp sa --json --socket "$run/$1.sock" | python3 -c 'import json,sys; print(" ".join(str(s["conn_id"]) for s in json.load(sys.stdin)["isakmp_sas"]))'; }
  old_a=$(ids gwa); gone_b=$(grep -c "ISAKMP SA with .* gone" "$run/gwb.log" || true)
  "$bin" clear crypto isakmp --socket "$run/gwa.sock" || status=1
  sleep 0.5
  # The ISAKMP SA goes on both sides (B by A's Delete). With DPD on, A may open a new one at once to probe the peer
  # of its IPsec SAs: a new conn-id, not the cleared one.
  echo "after clear crypto isakmp: A had conn-id(s) [$old_a], now [$(ids gwa)]"
  now_a=" $(ids gwa) "
  for i in $old_a; do
    case "$now_a" in *" $i "*) echo "FAIL: conn-id $i still there"; status=1 ;; esac
  done
  [ "$(grep -c "ISAKMP SA with .* gone" "$run/gwb.log" || true)" -gt "$gone_b" ] || { echo "FAIL: B kept the ISAKMP SA"; status=1; }
  if "$bin" clear crypto sa peer not-an-address --socket "$run/gwa.sock" 2>/dev/null; then
    echo "FAIL: a bad address was accepted"; status=1
  fi
fi
if [ -n "${DPD_TEST:-}" ] && [ "$keying" = ike ]; then
  # Gateway B dies without a word (SIGKILL: no Deletes); A's DPD (1 s, 2 retries) must find it dead and remove the
  # SAs. B's pid file goes, so the teardown below skips it.
  echo "== DPD check"
  kill -KILL "$(cat "$run/gwb.pid")"; rm -f "$run/gwb.pid"
  t0=$SECONDS
  for _ in $(seq 40); do grep -q "is dead" "$run/gwa.log" && break; sleep 0.25; done
  n=$("$bin" show crypto ipsec sa --json --socket "$run/gwa.sock" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["sas"]))')
  echo "A found B dead after $((SECONDS - t0)) s; A has $n IPsec SA pair(s)"
  grep -q "is dead" "$run/gwa.log" && [ "$n" = 0 ] || { echo "FAIL: DPD did not remove the dead peer's SAs"; status=1; }
fi
for g in gwa gwb; do [ -f "$run/$g.pid" ] && kill -INT "$(cat "$run/$g.pid")"; done
for g in gwa gwb; do
  [ -f "$run/$g.pid" ] || continue
  pid=$(cat "$run/$g.pid"); rm -f "$run/$g.pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  echo "== gateway ${g#gw}: $(grep -c . "$run/$g.log") log lines"
  cat "$run/$g.log"
done
exit $status

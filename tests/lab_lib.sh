# tests/lab_lib.sh: helpers for the end-to-end lab tests tests/lab_{natt,rekey10,dpd,trigger,matrix}.sh, which run
# espgate (DPDK net_af_packet ports in the deploy/lab namespaces) against strongSwan or against a second espgate.
# Sourced, never executed. Each test calls lab_begin with its own LAB_PREFIX and LAB_RUN_DIR so that two tests never
# share namespaces or state, prints PASS:/FAIL: lines through ok/bad and ends with lab_end.
# shellcheck shell=bash disable=SC2034,SC2001,SC2120
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lab=$root/deploy/lab
peer=$lab/strongswan-peer
bin=${ESPGATE_BIN:-$root/target/release/espgate}
pass=0 fail=0
declare -A gw_pid=()
ok() { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); lab_keep_logs; }
note() { echo "      $*"; }
PSK="lab-psk-not-secret-0123"

# lab_begin NAME PREFIX RUN_DIR: checks, the EXIT trap, a clean slate for this prefix.
lab_begin() {
  lab_name=$1
  export LAB_PREFIX=${LAB_PREFIX:-$2}
  export LAB_RUN_DIR=${LAB_RUN_DIR:-$3}
  lab_fail_dir=${LAB_FAIL_DIR:-/tmp/espgate-$lab_name-failed}
  [ "$(id -u)" -eq 0 ] || { echo "$lab_name: must run as root"; exit 1; }
  bash "$lab/install-deps" >/dev/null || { echo "$lab_name: install-deps failed"; exit 1; }
  [ -x "$bin" ] || { echo "$lab_name: no espgate binary at $bin (cargo build --release -p espgate)"; exit 1; }
  # The show --json checks use jq; install it like install-deps installs the lab's packages.
  command -v jq >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q jq >/dev/null 2>&1 ||
    { echo "$lab_name: needs jq (apt-get install jq)"; exit 1; }
  rm -rf "$lab_fail_dir"
  trap lab_cleanup EXIT
  bash "$lab/netns-down" --purge >/dev/null 2>&1
  t_begin=$SECONDS
}

lab_end() {
  echo "$lab_name: $pass passed, $fail failed ($((SECONDS - t_begin)) s)"
  [ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
}

lab_cleanup() {
  local n
  for n in "${!gw_pid[@]}"; do stop_gw "$n"; done
  bash "$lab/netns-down" --purge >/dev/null 2>&1
}

# lab_keep_logs: after a failed check, copies the gateways' and peers' logs out of LAB_RUN_DIR (which goes at exit).
lab_keep_logs() {
  [ -d "${LAB_RUN_DIR:-/nonexistent}" ] || return 0
  mkdir -p "$lab_fail_dir/$fail"
  cp "$LAB_RUN_DIR"/*.log "$LAB_RUN_DIR"/*.toml "$LAB_RUN_DIR"/*.out "$lab_fail_dir/$fail/" 2>/dev/null
  local d
  for d in "$LAB_RUN_DIR"/peers/*/; do
    [ -f "$d/charon.log" ] && cp "$d/charon.log" "$lab_fail_dir/$fail/charon-$(basename "$d").log"
  done
  echo "      (logs kept in $lab_fail_dir/$fail)"
}

# topo ARGS...: a fresh topology of this prefix (netns-up ARGS) and its topology.env in the environment.
topo() {
  local n
  for n in "${!gw_pid[@]}"; do stop_gw "$n"; done
  bash "$peer" kill-all >/dev/null 2>&1
  bash "$lab/netns-down" --purge >/dev/null 2>&1
  local out
  out=$(bash "$lab/netns-up" "$@" 2>&1) || { echo "netns-up $* failed: $out"; return 1; }
  # shellcheck disable=SC1091
  . "$LAB_RUN_DIR/topology.env"
}

# gw_config SIDE [KEY=VALUE...]: an espgate config for SIDE (left: namespace gw, right: gw2) with one crypto map
# CM1 10 to the other gateway. Keys: initiate (on-start|on-traffic|default = omitted), ts (transform set lines),
# map (extra crypto map lines: pfs, lifetime_*), isakmp ([isakmp] lines), engine (extra [engine] lines),
# p1 (isakmp_policy lines: encryption/hash/group), peer (the crypto map's peer address).
gw_config() {
  local side=$1
  shift
  local initiate=on-start ts='esp_encryption = "esp-aes-128"
esp_integrity = "esp-sha256-hmac"' map="" isakmp="" engine="" p1='encryption = "aes-128"
hash = "sha256"
group = 14' kv peer_ip=""
  for kv in "$@"; do
    case ${kv%%=*} in
      initiate) initiate=${kv#*=} ;;
      ts) ts=${kv#*=} ;;
      map) map=${kv#*=} ;;
      isakmp) isakmp=${kv#*=} ;;
      engine) engine=${kv#*=} ;;
      p1) p1=${kv#*=} ;;
      peer) peer_ip=${kv#*=} ;;
      *) echo "gw_config: unknown key ${kv%%=*}" >&2; return 1 ;;
    esac
  done
  local name wan_if lan_if wan_ip lan_ip nh local_net remote_net remote_wan_net
  if [ "$side" = left ]; then
    name=gw wan_if=$LEFT_WAN_IF lan_if=$LEFT_LAN_IF wan_ip=$LEFT_WAN_IP lan_ip=$LEFT_LAN_IP nh=$LEFT_WAN_NH
    local_net=$LEFT_NET remote_net=$RIGHT_NET remote_wan_net=$RIGHT_WAN_NET peer_ip=${peer_ip:-$RIGHT_WAN_IP}
  else
    name=gw2 wan_if=$RIGHT_WAN_IF lan_if=$RIGHT_LAN_IF wan_ip=$RIGHT_WAN_IP lan_ip=$RIGHT_LAN_IP nh=$RIGHT_WAN_NH
    local_net=$RIGHT_NET remote_net=$LEFT_NET remote_wan_net="" peer_ip=${peer_ip:-$LEFT_PUBLIC_IP}
  fi
  cat <<CFG
[engine]
workers = [1]
control_core = 0
$engine

[control]
socket = "$LAB_RUN_DIR/$name.sock"

[[interface]]
name = "outside"
device = "net_af_packet0,iface=$wan_if"
address = "$wan_ip/$WAN_PREFIXLEN"
crypto_map = "CM1"

[[interface]]
name = "inside"
device = "net_af_packet1,iface=$lan_if"
address = "$lan_ip/$LAN_PREFIXLEN"

[[route]]
destination = "$remote_net"
next_hop = "$nh"
interface = "outside"
CFG
  # Behind the NAT the other gateway's segment is not on-link: it is reached through the NAT's inside address.
  if [ "$side" = left ] && [ -n "$NS_NAT" ]; then
    printf '\n[[route]]\ndestination = "%s"\nnext_hop = "%s"\ninterface = "outside"\n' "$remote_wan_net" "$nh"
  fi
  [ -z "$isakmp" ] || printf '\n[isakmp]\n%s\n' "$isakmp"
  cat <<CFG

# strongSwan proposes its reauthentication time plus 10%: a responder takes a Phase 1 lifetime no longer than its own.
[[isakmp_policy]]
priority = 10
authentication = "pre-share"
lifetime = 86400
$p1

[[isakmp_key]]
peer = "$peer_ip"
key = "$PSK"

[[transform_set]]
name = "TS1"
$ts
mode = "tunnel"

[[access_list]]
name = "VPN"
entries = [{ action = "permit", protocol = "ip", source = "$local_net", destination = "$remote_net" }]

[[crypto_map]]
name = "CM1"
seq = 10
kind = "ipsec-isakmp"
peer = "$peer_ip"
match_address = "VPN"
transform_sets = ["TS1"]
CFG
  [ "$initiate" = default ] || echo "initiate = \"$initiate\""
  [ -z "$map" ] || echo "$map"
}

# start_gw NAME CONFIG_TEXT: runs espgate in NAME's namespace (gw: NS_LEFT, gw2: NS_RIGHT), log in NAME.log, and
# waits until it reports running.
start_gw() {
  local name=$1 ns=$NS_LEFT
  [ "$name" = gw2 ] && ns=$NS_RIGHT
  (
    umask 077
    printf '%s\n' "$2" >"$LAB_RUN_DIR/$name.toml"
  )
  ip netns exec "$ns" "$bin" run --config "$LAB_RUN_DIR/$name.toml" >"$LAB_RUN_DIR/$name.log" 2>&1 &
  gw_pid[$name]=$!
  for _ in $(seq 100); do
    grep -q "espgate: running" "$LAB_RUN_DIR/$name.log" 2>/dev/null && return 0
    [ -d "/proc/${gw_pid[$name]}" ] || break
    sleep 0.2
  done
  echo "      espgate $name did not start:"
  grep -v -E '^ +(at |[0-9]+: )|^Stack backtrace|^$' "$LAB_RUN_DIR/$name.log" | head -10 | sed 's/^/      | /'
  return 1
}

# stop_gw NAME: SIGINT (espgate sends its Deletes), wait, remove the EAL runtime directory it leaves behind.
stop_gw() {
  local name=$1 pid=${gw_pid[$1]:-}
  unset "gw_pid[$name]"
  [ -n "$pid" ] || return 0
  kill -INT "$pid" 2>/dev/null
  for _ in $(seq 50); do
    [ -d "/proc/$pid" ] || break
    grep -q zombie "/proc/$pid/status" 2>/dev/null && break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -rf "/run/dpdk/espgate-$pid"
}

# kill_gw NAME: SIGKILL, like a crash or a power cut: no Deletes go out.
kill_gw() {
  local pid=${gw_pid[$1]:-}
  unset "gw_pid[$1]"
  [ -n "$pid" ] || return 0
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -rf "/run/dpdk/espgate-$pid"
}

# gw_alive NAME: the daemon still runs.
gw_alive() { [ -n "${gw_pid[$1]:-}" ] && [ -d "/proc/${gw_pid[$1]}" ] && ! grep -q zombie "/proc/${gw_pid[$1]}/status"; }

# show NAME WORDS...: the daemon's JSON for `show WORDS`.
show() {
  local name=$1
  shift
  "$bin" show "$@" --json --socket "$LAB_RUN_DIR/$name.sock" 2>&1
}

# log_has NAME REGEX: the daemon's log matches (grep -E).
log_has() { grep -Eq "$2" "$LAB_RUN_DIR/$1.log" 2>/dev/null; }
log_count() { grep -Ec "$2" "$LAB_RUN_DIR/$1.log" 2>/dev/null; }

# wait_for TIMEOUT_S CMD...: poll every 0.2 s.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# ping_recv NS DEST COUNT INTERVAL [SIZE]: how many replies a ping got (0 on any failure); full output in $ping_out.
ping_recv() {
  local timeout
  timeout=$(awk -v c="$3" -v i="$4" 'BEGIN { printf "%d", c * i + 10 }')
  ping_out=$(ip netns exec "$1" ping -n -q -c "$3" -i "$4" -s "${5:-56}" -w "$timeout" "$2" 2>&1)
  local got
  got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$ping_out")
  echo "${got:-0}"
}

# dump NAME...: the last lines of the named logs (gw, gw2: espgate; peer:X: strongSwan instance X).
dump() {
  local n
  for n in "$@"; do
    case $n in
      peer:*) echo "      -- strongSwan ${n#peer:}:"; bash "$peer" log "${n#peer:}" 2>/dev/null | tail -15 | sed 's/^/      | /' ;;
      *) echo "      -- espgate $n:"; tail -15 "$LAB_RUN_DIR/$n.log" 2>/dev/null | sed 's/^/      | /' ;;
    esac
  done
}

# swan_right [strongswan-peer start options...]: the strongSwan peer "right" on the right gateway, protecting
# RIGHT_NET <-> LEFT_NET, initiating towards LEFT_PUBLIC_IP if asked.
swan_right() {
  local out
  out=$(bash "$peer" start right --netns "$NS_RIGHT" --local-ts "$RIGHT_NET" --remote-ts "$LEFT_NET" "$@" 2>&1) ||
    { echo "$out" | sed 's/^/      | /'; return 1; }
}

# check_isakmp_natt NAME PORT_REGEX WHAT: one ISAKMP SA with NAT-T and the remote port matching (jq regex).
check_isakmp_natt() {
  local j
  j=$(show "$1" crypto isakmp sa)
  if jq -e --arg p "$2" '.isakmp_sas | length >= 1 and all(.nat_t == true and (.remote_port | tostring | test("^(" + $p + ")$")))' \
    <<<"$j" >/dev/null 2>&1; then
    ok "$3: $1's ISAKMP SA has nat_t true, remote port $(jq -c '[.isakmp_sas[].remote_port]' <<<"$j")"
  else
    bad "$3: $1's isakmp sa: $j"
  fi
}

# check_ipsec_counts NAME WHAT: every IPsec SA entry counted traffic both ways.
check_ipsec_counts() {
  local j
  j=$(show "$1" crypto ipsec sa)
  if jq -e '.sas | length >= 1 and all(.pkts_encaps > 0 and .pkts_decaps > 0)' <<<"$j" >/dev/null 2>&1; then
    ok "$2: $1's IPsec SA counts encaps $(jq '[.sas[].pkts_encaps] | add' <<<"$j"), decaps $(jq '[.sas[].pkts_decaps] | add' <<<"$j")"
  else
    bad "$2: $1's ipsec sa: $j"
  fi
}

# check_pings WHAT COUNT: pings both ways between the hosts; wants all but one (the first may race an ARP).
check_pings() {
  local what=$1 n=${2:-5} got
  got=$(ping_recv "$NS_LEFT_LAN" "$RIGHT_HOST_IP" "$n" 0.2)
  if [ "$got" -ge $((n - 1)) ]; then ok "$what: ping $LEFT_HOST_IP -> $RIGHT_HOST_IP ($got/$n)"
  else bad "$what: ping $LEFT_HOST_IP -> $RIGHT_HOST_IP got $got/$n"; fi
  got=$(ping_recv "$NS_RIGHT_LAN" "$LEFT_HOST_IP" "$n" 0.2)
  if [ "$got" -ge $((n - 1)) ]; then ok "$what: ping $RIGHT_HOST_IP -> $LEFT_HOST_IP ($got/$n)"
  else bad "$what: ping $RIGHT_HOST_IP -> $LEFT_HOST_IP got $got/$n"; fi
}

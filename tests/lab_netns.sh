#!/usr/bin/env bash
# tests/lab_netns.sh: the lab topologies themselves (deploy/lab/netns-up, netns-down): idempotence, two labs at
# once, the NAT and espgate variants, documentation-range addresses only, no cleartext path between the LANs, and
# complete cleanup. Root only (network namespaces). Prints "N passed, N failed"; exits 1 on any failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lab="$root/deploy/lab"
[[ $(id -u) -eq 0 ]] || { echo "tests/lab_netns.sh: must run as root" >&2; exit 1; }

# Two labs side by side, with prefixes of their own so a developer's lab is never touched.
A=ltn-a- B=ltn-b-
RUN=/tmp/espgate-lab/tests-netns-$$
up() { local p=$1; shift; LAB_PREFIX=$p LAB_RUN_DIR=$RUN/$p "$lab/netns-up" --quiet "$@"; }
down() { local p=$1; shift; LAB_PREFIX=$p LAB_RUN_DIR=$RUN/$p "$lab/netns-down" --quiet "$@"; }
envf() { echo "$RUN/$1/topology.env"; }
cleanup() { down "$A" --purge 2>/dev/null || true; down "$B" --purge 2>/dev/null || true; rm -rf "$RUN"; }
trap cleanup EXIT

pass=0 fail=0 n=0
check() {
  local what=$1
  shift
  n=$((n + 1))
  if "$@" >/dev/null 2>&1; then pass=$((pass + 1)); echo "ok $n - $what"
  else fail=$((fail + 1)); echo "not ok $n - $what"; fi
}
# No `grep -q` after a pipe anywhere in the lab: it exits at the first match, the writer gets SIGPIPE and pipefail
# turns a match into a failure, now and then.
ns_ids() { local p=$1 ns; for ns in /run/netns/"$p"*; do stat -L -c '%n %i' "$ns"; done; }
ping1() { ip netns exec "$1" ping -n -q -c 1 -W 1 "$2"; }
# all_doc_ranges FILE: every IPv4 address in FILE is in 192.0.2/24, 198.51.100/24 or 203.0.113/24
all_doc_ranges() {
  ! grep -oE '([0-9]{1,3}\.){3}[0-9]{1,3}' "$1" | grep -vE '^(192\.0\.2|198\.51\.100|203\.0\.113)\.'
}

# --- default topology, idempotence -------------------------------------------------------------------------------
check "A: netns-up builds the default topology" up "$A"
# shellcheck source=/dev/null
. "$(envf "$A")"
check "A: env names the four namespaces" test "$NS_LEFT $NS_RIGHT $NS_LEFT_LAN $NS_RIGHT_LAN" = \
  "${A}left ${A}right ${A}left-lan ${A}right-lan"
check "A: gateways reach each other on the WAN" ping1 "$NS_LEFT" "$RIGHT_WAN_IP"
check "A: each host reaches its own gateway" eval "ping1 '$NS_LEFT_LAN' '$LEFT_LAN_IP' && ping1 '$NS_RIGHT_LAN' '$RIGHT_LAN_IP'"
check "A: no cleartext path between the LANs (only a tunnel may join them)" eval "! ping1 '$NS_LEFT_LAN' '$RIGHT_HOST_IP'"
check "A: MACs are the ones in the env" \
  eval "ip -n '$NS_RIGHT' link show '$RIGHT_WAN_IF' | grep 'link/ether $RIGHT_WAN_MAC ' >/dev/null"
check "A: env holds documentation-range addresses only" all_doc_ranges "$(envf "$A")"
before=$(ns_ids "$A")
check "A: netns-up again is a no-op" up "$A"
check "A: ... and kept the very same namespaces" test "$before" = "$(ns_ids "$A")"
check "A: another topology without --force is refused" eval "! up '$A' --nat"
check "A: ... and the refusal left A up" test "$before" = "$(ns_ids "$A")"

# --- a second lab at the same time: NAT -----------------------------------------------------------------------------
check "B: netns-up --nat beside A" up "$B" --nat
# shellcheck source=/dev/null
. "$(envf "$B")"
check "B: has its own NAT namespace" test -e "/run/netns/${B}nat"
check "B: the left gateway reaches the right one through the NAT" ping1 "$NS_LEFT" "$RIGHT_WAN_IP"
check "B: the NAT masquerades (nft rule present)" \
  eval "ip netns exec '$NS_NAT' nft list ruleset | grep masquerade >/dev/null"
check "B: env holds documentation-range addresses only" all_doc_ranges "$(envf "$B")"
check "A: still up and unchanged while B runs" test "$before" = "$(ns_ids "$A")"

# --- espgate variants ---------------------------------------------------------------------------------------------
check "B: --espgate-both --nat rebuilds with --force" up "$B" --espgate-both --nat --force
# shellcheck source=/dev/null
. "$(envf "$B")"
check "B: both gateways are espgate's (gw, gw2)" test "$NS_LEFT:$LEFT_KIND $NS_RIGHT:$RIGHT_KIND" = \
  "${B}gw:espgate ${B}gw2:espgate"
for ns in "$NS_LEFT" "$NS_RIGHT"; do
  check "B: $ns has no IPv4 address outside lo" test -z "$(ip -n "$ns" -4 -o addr show | grep -v ' lo ')"
  check "B: $ns does not forward in the kernel" test "$(ip netns exec "$ns" sysctl -n net.ipv4.ip_forward)" = 0
done
check "B: the NAT still has its addresses" test -n "$(ip -n "$NS_NAT" -4 -o addr show dev "$NAT_OUT_IF")"
check "B: --nat-remap adds the port rewrite" \
  eval "up '$B' --nat-remap --force && ip netns exec '${B}nat' nft list ruleset | grep '40000-40999' >/dev/null"

# --- cleanup --------------------------------------------------------------------------------------------------------
check "B: netns-down removes every B namespace" eval "down '$B' && ! ls /run/netns/ | grep '^$B' >/dev/null"
check "B: netns-down again is a no-op" down "$B"
check "A: untouched by B's teardown" test "$before" = "$(ns_ids "$A")"
ip netns add "${B}gw" # what a netns-up that died half way could leave behind
check "B: netns-down removes a leftover namespace without any topology.env" \
  eval "down '$B' && ! test -e '/run/netns/${B}gw'"
check "A: netns-down --purge removes namespaces and state" \
  eval "down '$A' --purge && ! ls /run/netns/ | grep '^$A' >/dev/null && ! test -d '$RUN/$A'"
mkdir -p "$RUN/unmarked" && touch "$RUN/unmarked/keep"
check "--purge refuses a directory the lab did not make" \
  eval "LAB_PREFIX=$A LAB_RUN_DIR='$RUN/unmarked' '$lab/netns-down' --quiet --purge && test -f '$RUN/unmarked/keep'"

echo "$pass passed, $fail failed"
((fail == 0))

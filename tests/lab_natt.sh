#!/usr/bin/env bash
# NAT traversal end to end: espgate (namespace gw, DPDK net_af_packet ports) behind the lab's NAT namespace
# (nftables masquerade; --nat-remap also rewrites UDP source ports to 40000-40999, so neither 500 nor 4500 survives),
# initiating at start (crypto map initiate = "on-start") towards strongSwan 5.9, and towards a second espgate
# (gw2). Each case checks: IPsec SAs up on both sides, pings between the hosts both ways, espgate's
# `show crypto isakmp sa --json` with nat_t true and the remote port (4500 from espgate's side of the NAT; the
# remapped port on the far side), `show crypto ipsec sa --json` counting encaps and decaps, and the port the
# far end sees, and from a capture beyond the NAT: Main Mode on 500, the float to 4500, ESP only in UDP, nothing in
# the clear, and (first case) espgate's NAT-T keepalives.
# Prints PASS:/FAIL: lines and "N passed, N failed"; exits non-zero on any failure. Root; cleans up after itself.
# env: ESPGATE_BIN, LAB_PREFIX [lnat-], LAB_RUN_DIR [/tmp/espgate-lab-natt]
# shellcheck source-path=SCRIPTDIR source=lab_lib.sh disable=SC2119
. "$(dirname "$0")/lab_lib.sh"
lab_begin natt lnat- /tmp/espgate-lab-natt

# check_peer_port NAME WHO PORT_REGEX: show crypto ipsec sa's peer port is the one the NAT-T float ended on.
check_peer_port() {
  local j
  j=$(show "$2" crypto ipsec sa)
  if jq -e --arg p "$3" '.sas | length >= 1 and all(.peer_port | tostring | test("^(" + $p + ")$"))' <<<"$j" >/dev/null 2>&1; then
    ok "$1: $2's show crypto ipsec sa has peer port $(jq -c '[.sas[].peer_port]' <<<"$j")"
  else
    bad "$1: $2's ipsec sa peer ports: $(jq -c '[.sas[].peer_port]' <<<"$j" 2>&1)"
  fi
}

# wire_checks NAME PCAP FAR_PORT_REGEX [KEEPALIVE_WAIT_S]: what crossed the far side of the NAT (captured on the
# right gateway's WAN port): Main Mode from the NAT's address to port 500, the float to 4500, ESP only in UDP
# (RFC 3948) and plenty of it, nothing of the hosts' traffic in the clear; with KEEPALIVE_WAIT_S, espgate idles
# that long and its NAT-T keepalives (nat_keepalive = 5) must cross the NAT.
wire_checks() {
  local name=$1 pcap=$2 far_port=$3 wait=${4:-}
  if [ -n "$wait" ]; then
    sleep "$wait"
  fi
  bash "$lab/capture" stop "$pcap" >/dev/null 2>&1
  local s
  s=$(bash "$lab/capture" summary "$pcap" 2>/dev/null)
  local p1 float esp raw clear ka
  p1=$(grep -Ec "^$LEFT_PUBLIC_IP [0-9]+ $RIGHT_WAN_IP 500 ike-main" <<<"$s")
  float=$(grep -Ec "^$LEFT_PUBLIC_IP ($far_port) $RIGHT_WAN_IP 4500 ike-(main|quick)" <<<"$s")
  esp=$(grep -Ec "^$LEFT_PUBLIC_IP ($far_port) $RIGHT_WAN_IP 4500 esp-udp" <<<"$s")
  raw=$(grep -Ec " esp$" <<<"$s")
  clear=$(grep -Ec "$LEFT_HOST_IP|$RIGHT_HOST_IP" <<<"$s")
  if [ "$p1" -ge 1 ] && [ "$float" -ge 1 ] && [ "$esp" -ge 8 ] && [ "$raw" -eq 0 ] && [ "$clear" -eq 0 ]; then
    ok "$name: on the wire behind the NAT: Main Mode to 500 ($p1), IKE floated to 4500 ($float), $esp ESP-in-UDP, no raw ESP, no cleartext"
  else
    bad "$name: wire: main-mode $p1, floated $float, esp-in-udp $esp, raw esp $raw, cleartext $clear"
    head -30 <<<"$s" | sed 's/^/      | /'
  fi
  if [ -n "$wait" ]; then
    ka=$(grep -Ec "^$LEFT_PUBLIC_IP ($far_port) $RIGHT_WAN_IP 4500 keepalive" <<<"$s")
    if [ "$ka" -ge 2 ]; then ok "$name: $ka NAT-T keepalives from espgate crossed the NAT in $wait s idle (nat_keepalive = 5)"
    else bad "$name: $ka NAT-T keepalives in $wait s idle (nat_keepalive = 5)"; fi
  fi
}

# swan_case NAME NETNS_UP_ARGS REMOTE_PORT_REGEX [KEEPALIVE_WAIT_S]: espgate initiates through the NAT towards
# strongSwan.
swan_case() {
  local name=$1 topo_args=$2 far_port=$3 wait=${4:-}
  # shellcheck disable=SC2086
  topo $topo_args || { bad "$name: topology"; return; }
  local pcap=$LAB_RUN_DIR/wan.pcap
  bash "$lab/capture" start "$NS_RIGHT" "$RIGHT_WAN_IF" "$pcap" >/dev/null 2>&1 || { bad "$name: capture"; return; }
  swan_right || { bad "$name: strongSwan did not start"; return; }
  start_gw gw "$(gw_config left initiate=on-start isakmp='nat_keepalive = 5')" || { bad "$name: espgate did not start"; return; }
  if wait_for 30 log_has gw "IPsec SA for" && bash "$peer" wait right --timeout 20 >/dev/null 2>&1; then
    ok "$name: IPsec SAs up on both sides"
  else
    bad "$name: no IPsec SA"; dump gw peer:right; return
  fi
  check_pings "$name" 5
  check_isakmp_natt gw 4500 "$name"
  check_ipsec_counts gw "$name"
  check_peer_port "$name" gw 4500
  # strongSwan sees espgate at the NAT's outside address, on the port the NAT gave the 4500 flow.
  local sas
  sas=$(bash "$peer" sas right 2>&1)
  if grep -Eq "remote .*@ $LEFT_PUBLIC_IP\[($far_port)\]" <<<"$sas"; then
    ok "$name: strongSwan sees espgate at $(grep -Eo "@ $LEFT_PUBLIC_IP\[[0-9]+\]" <<<"$sas" | tail -1)"
  else
    bad "$name: strongSwan's view: $sas"
  fi
  # ESP in UDP: strongSwan's CHILD_SA says so.
  if grep -q "TUNNEL-in-UDP" <<<"$sas"; then ok "$name: strongSwan's CHILD_SA is TUNNEL-in-UDP"
  else bad "$name: strongSwan's CHILD_SA is not UDP-encapsulated: $sas"; fi
  wire_checks "$name" "$pcap" "$far_port" "$wait"
  stop_gw gw
  bash "$peer" stop right >/dev/null 2>&1
}

# espgate_case NAME NETNS_UP_ARGS REMOTE_PORT_REGEX: gw initiates through the NAT towards gw2.
espgate_case() {
  local name=$1 topo_args=$2 far_port=$3
  # shellcheck disable=SC2086
  topo $topo_args || { bad "$name: topology"; return; }
  local pcap=$LAB_RUN_DIR/wan.pcap
  # gw2's port belongs to espgate: capture on the NAT's outside port, the same wire.
  bash "$lab/capture" start "$NS_NAT" "$NAT_OUT_IF" "$pcap" >/dev/null 2>&1 || { bad "$name: capture"; return; }
  start_gw gw2 "$(gw_config right initiate=default)" || { bad "$name: espgate gw2 did not start"; return; }
  start_gw gw "$(gw_config left initiate=on-start)" || { bad "$name: espgate gw did not start"; return; }
  if wait_for 30 log_has gw "IPsec SA for" && wait_for 10 log_has gw2 "IPsec SA for"; then
    ok "$name: IPsec SAs up on both gateways"
  else
    bad "$name: no IPsec SA"; dump gw gw2; return
  fi
  check_pings "$name" 5
  check_isakmp_natt gw 4500 "$name"
  check_isakmp_natt gw2 "$far_port" "$name"
  check_ipsec_counts gw "$name"
  check_ipsec_counts gw2 "$name"
  check_peer_port "$name" gw 4500
  check_peer_port "$name" gw2 "$far_port"
  local j
  j=$(show gw2 crypto isakmp sa)
  if jq -e --arg a "$LEFT_PUBLIC_IP" '.isakmp_sas | all(.remote == $a)' <<<"$j" >/dev/null; then
    ok "$name: gw2 sees gw at the NAT's address $LEFT_PUBLIC_IP"
  else
    bad "$name: gw2's isakmp sa: $j"
  fi
  wire_checks "$name" "$pcap" "$far_port"
  stop_gw gw
  stop_gw gw2
}

swan_case "NAT, espgate -> strongSwan" "--espgate --nat" 4500 12
swan_case "NAT remapping ports, espgate -> strongSwan" "--espgate --nat-remap" "40[0-9]{3}"
espgate_case "NAT, espgate -> espgate" "--espgate-both --nat" 4500
espgate_case "NAT remapping ports, espgate -> espgate" "--espgate-both --nat-remap" "40[0-9]{3}"
lab_end

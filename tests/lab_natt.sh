#!/usr/bin/env bash
# NAT traversal end to end: espgate (namespace gw, DPDK net_af_packet ports) behind the lab's NAT namespace
# (nftables masquerade; --nat-remap also rewrites UDP source ports to 40000-40999, so neither 500 nor 4500 survives),
# initiating at start (crypto map initiate = "on-start") towards strongSwan 5.9, and towards a second espgate
# (gw2). Each case checks: IPsec SAs up on both sides, pings between the hosts both ways, espgate's
# `show crypto isakmp sa --json` with nat_t true and the remote port (4500 from espgate's side of the NAT; the
# remapped port on the far side), `show crypto ipsec sa --json` counting encaps and decaps, and the port the
# far end sees.
# Prints PASS:/FAIL: lines and "N passed, N failed"; exits non-zero on any failure. Root; cleans up after itself.
# env: ESPGATE_BIN, LAB_PREFIX [lnat-], LAB_RUN_DIR [/tmp/espgate-lab-natt]
# shellcheck source-path=SCRIPTDIR source=lab_lib.sh disable=SC2119
. "$(dirname "$0")/lab_lib.sh"
lab_begin natt lnat- /tmp/espgate-lab-natt

# swan_case NAME NETNS_UP_ARGS REMOTE_PORT_REGEX: espgate initiates through the NAT towards strongSwan.
swan_case() {
  local name=$1 topo_args=$2 far_port=$3
  # shellcheck disable=SC2086
  topo $topo_args || { bad "$name: topology"; return; }
  swan_right || { bad "$name: strongSwan did not start"; return; }
  start_gw gw "$(gw_config left initiate=on-start)" || { bad "$name: espgate did not start"; return; }
  if wait_for 30 log_has gw "IPsec SA for" && bash "$peer" wait right --timeout 20 >/dev/null 2>&1; then
    ok "$name: IPsec SAs up on both sides"
  else
    bad "$name: no IPsec SA"; dump gw peer:right; return
  fi
  check_pings "$name" 5
  check_isakmp_natt gw 4500 "$name"
  check_ipsec_counts gw "$name"
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
  stop_gw gw
  bash "$peer" stop right >/dev/null 2>&1
}

# espgate_case NAME NETNS_UP_ARGS REMOTE_PORT_REGEX: gw initiates through the NAT towards gw2.
espgate_case() {
  local name=$1 topo_args=$2 far_port=$3
  # shellcheck disable=SC2086
  topo $topo_args || { bad "$name: topology"; return; }
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
  local j
  j=$(show gw2 crypto isakmp sa)
  if jq -e --arg a "$LEFT_PUBLIC_IP" '.isakmp_sas | all(.remote == $a)' <<<"$j" >/dev/null; then
    ok "$name: gw2 sees gw at the NAT's address $LEFT_PUBLIC_IP"
  else
    bad "$name: gw2's isakmp sa: $j"
  fi
  stop_gw gw
  stop_gw gw2
}

swan_case "NAT, espgate -> strongSwan" "--espgate --nat" 4500
swan_case "NAT remapping ports, espgate -> strongSwan" "--espgate --nat-remap" "40[0-9]{3}"
espgate_case "NAT, espgate -> espgate" "--espgate-both --nat" 4500
espgate_case "NAT remapping ports, espgate -> espgate" "--espgate-both --nat-remap" "40[0-9]{3}"
lab_end

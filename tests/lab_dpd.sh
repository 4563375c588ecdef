#!/usr/bin/env bash
# Dead peer detection (RFC 3706) end to end: espgate (namespace gw, DPDK net_af_packet ports) with
# [isakmp] dpd = { interval = 2, retries = 3, ... } brings a tunnel up to strongSwan 5.9, then strongSwan is killed
# (SIGKILL: no Delete). Within interval * (retries + 2) seconds espgate must have no ISAKMP SA and no IPsec SA for
# that peer left (`show crypto isakmp sa --json`, `show crypto ipsec sa --json`) and its log must say the peer is
# dead. Cases:
#   clear      on-demand DPD (the default mode), traffic towards the dead peer starts the probes; on_dead = "clear".
#   periodic   mode = "periodic": first a live peer idle for longer than the deadline keeps its SAs (its
#              R-U-THERE-ACKs count), then after the kill no traffic at all is needed; on_dead = "clear".
#   restart    on_dead = "restart": after the SAs are cleared strongSwan is started again, and the tunnel must come
#              back by itself (pings pass again) without any action on espgate.
#   espgate    the same against a second espgate (gw2, --espgate-both), killed with SIGKILL and started again.
# strongSwan runs with its default (long) rekey times: see the "Rekey and DPD race" pitfall in deploy/lab/README.md.
# Prints PASS:/FAIL: lines and "N passed, N failed"; exits non-zero on any failure. Root; cleans up after itself.
# env: ESPGATE_BIN, DPD_CASES ["clear periodic restart espgate"], LAB_PREFIX [ldpd-], LAB_RUN_DIR [/tmp/espgate-lab-dpd]
# shellcheck source-path=SCRIPTDIR source=lab_lib.sh disable=SC2119
. "$(dirname "$0")/lab_lib.sh"
lab_begin dpd ldpd- /tmp/espgate-lab-dpd
cases=${DPD_CASES:-clear periodic restart espgate}
interval=2 retries=3
deadline=$((interval * (retries + 2)))

# no_sas: espgate holds neither an ISAKMP SA nor an IPsec SA with the right gateway.
no_sas() {
  local i s
  i=$(show gw crypto isakmp sa) && s=$(show gw crypto ipsec sa) || return 1
  jq -e --arg p "$RIGHT_WAN_IP" '[.isakmp_sas[] | select(.remote == $p)] | length == 0' <<<"$i" >/dev/null 2>&1 &&
    jq -e --arg p "$RIGHT_WAN_IP" '[.sas[] | select(.current_peer == $p)
      | select((.inbound_esp_sas | length) > 0 or (.outbound_esp_sas | length) > 0)] | length == 0' <<<"$s" >/dev/null 2>&1
}
has_sas() {
  local i s
  i=$(show gw crypto isakmp sa) && s=$(show gw crypto ipsec sa) || return 1
  jq -e --arg p "$RIGHT_WAN_IP" '[.isakmp_sas[] | select(.remote == $p)] | length > 0' <<<"$i" >/dev/null 2>&1 &&
    jq -e --arg p "$RIGHT_WAN_IP" '[.sas[] | select(.current_peer == $p)
      | select((.inbound_esp_sas | length) > 0)] | length > 0' <<<"$s" >/dev/null 2>&1
}
sa_lines() { log_count gw "IPsec SA for"; }
sa_more() { [ "$(sa_lines)" -gt "$sa_before" ]; }

# up NAME DPD_TABLE: strongSwan and espgate (initiating at start) with that dpd setting, tunnel up, pings pass.
up() {
  local name=$1 dpd=$2
  swan_right || { bad "$name: strongSwan did not start"; return 1; }
  start_gw gw "$(gw_config left initiate=on-start "isakmp=dpd = $dpd")" || { bad "$name: espgate did not start"; return 1; }
  if wait_for 20 log_has gw "IPsec SA for" && bash "$peer" wait right --timeout 10 >/dev/null 2>&1 && has_sas; then
    local got
    got=$(ping_recv "$NS_LEFT_LAN" "$RIGHT_HOST_IP" 3 0.2)
    if [ "$got" -ge 2 ]; then ok "$name: tunnel up, ping $got/3"; return 0; fi
    bad "$name: tunnel up but ping $got/3"
  else
    bad "$name: no tunnel"; dump gw peer:right
  fi
  return 1
}

# kill_and_detect NAME TRAFFIC [gw2]: SIGKILL strongSwan (or espgate gw2); with TRAFFIC a ping towards the dead peer keeps going (on-demand
# DPD probes only when it sends and hears nothing). Then the SAs must go within the deadline, and the log say so.
kill_and_detect() {
  local name=$1 traffic=$2 t0 ping_pid="" took
  if [ "${3:-}" = gw2 ]; then kill_gw gw2
  else bash "$peer" kill right >/dev/null 2>&1 || { bad "$name: strongswan-peer kill"; return 1; }; fi
  t0=$(date +%s.%N)
  if [ "$traffic" = yes ]; then
    ip netns exec "$NS_LEFT_LAN" ping -n -q -i 0.5 -w $((deadline + 5)) "$RIGHT_HOST_IP" >/dev/null 2>&1 &
    ping_pid=$!
  fi
  wait_for $((deadline + 3)) no_sas
  took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  [ -n "$ping_pid" ] && { kill -INT "$ping_pid" 2>/dev/null; wait "$ping_pid" 2>/dev/null; }
  detect_s=$took
  if no_sas && awk -v t="$took" -v d="$deadline" 'BEGIN { exit !(t <= d + 0.5) }'; then
    ok "$name: no ISAKMP SA and no IPsec SA for $RIGHT_WAN_IP $took s after the kill (deadline ${deadline} s)"
  else
    bad "$name: SAs still there $took s after the kill (deadline ${deadline} s)"
    echo "      isakmp: $(show gw crypto isakmp sa)"
    echo "      ipsec: $(show gw crypto ipsec sa | jq -c '[.sas[] | {current_peer, in: (.inbound_esp_sas | length), out: (.outbound_esp_sas | length)}]' 2>&1)"
    dump gw
    return 1
  fi
  if log_has gw "[Dd]ead"; then ok "$name: the log says: $(grep -Eo 'IKE: .*[Dd]ead.*' "$LAB_RUN_DIR/gw.log" | head -1)"
  else bad "$name: no log line says the peer is dead"; dump gw; fi
  local c
  c=$(show gw counters | jq -c '.ike.sa_manager | {dpd_probes, dead_peers}' 2>&1)
  if jq -e --argjson r "$retries" '.dead_peers == 1 and .dpd_probes >= $r' <<<"$c" >/dev/null 2>&1; then
    ok "$name: show counters: $c"
  else
    bad "$name: show counters: $c, want 1 dead peer and at least $retries probes"
  fi
}

case_clear() {
  local name="on-demand DPD, on_dead = clear"
  up "$name" "{ interval = $interval, retries = $retries, on_dead = \"clear\" }" &&
    kill_and_detect "$name" yes && dpd_clear_s=$detect_s
  # clear: nothing renegotiates by itself (initiate = "on-start" came once at start).
  if [ -n "${dpd_clear_s:-}" ]; then
    local n
    n=$(log_count gw "Main Mode to .* started")
    sleep 3
    if [ "$(log_count gw "Main Mode to .* started")" -eq "$n" ]; then ok "$name: no new Main Mode started after the clear"
    else bad "$name: espgate started a new Main Mode after on_dead = clear"; fi
  fi
  stop_gw gw
  bash "$peer" stop right >/dev/null 2>&1
}

case_periodic() {
  local name="periodic DPD, on_dead = clear"
  if up "$name" "{ interval = $interval, retries = $retries, mode = \"periodic\", on_dead = \"clear\" }"; then
    # A live peer answers every probe: after more than the deadline without traffic the SAs are still there.
    sleep $((deadline + 2))
    if has_sas && ! log_has gw "[Dd]ead"; then ok "$name: a live, idle peer keeps its SAs for $((deadline + 2)) s"
    else bad "$name: SAs lost with a live peer"; dump gw peer:right; fi
    local probes acks
    probes=$(bash "$peer" log right 2>/dev/null | grep -c "parsed INFORMATIONAL_V1 request .*N(DPD)" || true)
    acks=$(bash "$peer" log right 2>/dev/null | grep -c "generating INFORMATIONAL_V1 request .*N(DPD_ACK)" || true)
    if [ "$probes" -ge "$((deadline / interval - 1))" ] && [ "$acks" -ge "$((deadline / interval - 1))" ]; then
      ok "$name: strongSwan got $probes R-U-THERE probes and sent $acks R-U-THERE-ACKs"
    else
      bad "$name: strongSwan got $probes R-U-THERE probes and sent $acks acks in $((deadline + 2)) s, want one every $interval s"
    fi
    kill_and_detect "$name" no && dpd_periodic_s=$detect_s
  fi
  stop_gw gw
  bash "$peer" stop right >/dev/null 2>&1
}

case_restart() {
  local name="on-demand DPD, on_dead = restart"
  if up "$name" "{ interval = $interval, retries = $retries, on_dead = \"restart\" }" && kill_and_detect "$name" yes; then
    dpd_restart_s=$detect_s
    local t0
    sa_before=$(sa_lines)
    t0=$SECONDS
    swan_right || { bad "$name: strongSwan did not start again"; return; }
    # espgate must come back by itself: a new Main Mode and Quick Mode to the restarted peer.
    if wait_for 60 sa_more && bash "$peer" wait right --timeout 10 >/dev/null 2>&1; then
      ok "$name: the tunnel came back by itself $((SECONDS - t0)) s after strongSwan restarted"
      local got
      got=$(ping_recv "$NS_LEFT_LAN" "$RIGHT_HOST_IP" 5 0.2)
      if [ "$got" -ge 4 ]; then ok "$name: pings pass again ($got/5)"; else bad "$name: after the restart ping $got/5"; fi
      got=$(ping_recv "$NS_RIGHT_LAN" "$LEFT_HOST_IP" 5 0.2)
      if [ "$got" -ge 4 ]; then ok "$name: pings pass again the other way ($got/5)"; else bad "$name: after the restart ping back $got/5"; fi
    else
      bad "$name: no new tunnel within 60 s of strongSwan's restart"; dump gw peer:right
    fi
  fi
  stop_gw gw
  bash "$peer" stop right >/dev/null 2>&1
}

# espgate against espgate: gw2 is killed (SIGKILL), gw's DPD restarts, gw2 comes back and so does the tunnel.
case_espgate() {
  local name="espgate vs espgate, on_dead = restart" got t0
  topo --espgate-both || { bad "$name: topology"; return; }
  start_gw gw2 "$(gw_config right initiate=default)" || { bad "$name: gw2 did not start"; return; }
  start_gw gw "$(gw_config left initiate=on-start "isakmp=dpd = { interval = $interval, retries = $retries, on_dead = \"restart\" }")" ||
    { bad "$name: gw did not start"; return; }
  if wait_for 20 log_has gw "IPsec SA for" && wait_for 5 log_has gw2 "IPsec SA for" && has_sas; then
    got=$(ping_recv "$NS_LEFT_LAN" "$RIGHT_HOST_IP" 3 0.2)
    if [ "$got" -ge 2 ]; then ok "$name: tunnel up, ping $got/3"; else bad "$name: tunnel up but ping $got/3"; fi
  else
    bad "$name: no tunnel"; dump gw gw2; stop_gw gw; stop_gw gw2; return
  fi
  if kill_and_detect "$name" yes gw2; then
    dpd_espgate_s=$detect_s
    sa_before=$(sa_lines)
    t0=$SECONDS
    start_gw gw2 "$(gw_config right initiate=default)" || { bad "$name: gw2 did not start again"; return; }
    if wait_for 60 sa_more && wait_for 5 log_has gw2 "IPsec SA for"; then
      ok "$name: the tunnel came back by itself $((SECONDS - t0)) s after gw2 restarted"
      check_pings "$name: after the restart" 5
    else
      bad "$name: no new tunnel within 60 s of gw2's restart"; dump gw gw2
    fi
  fi
  stop_gw gw
  stop_gw gw2
}

topo --espgate || exit 1
for c in $cases; do
  [ "$c" = espgate ] || [ "$LAB_TOPOLOGY" = "nat=0 remap=0 espgate=left" ] || topo --espgate || exit 1
  "case_$c"
done
echo "      DPD detection after the kill: clear ${dpd_clear_s:--} s, periodic ${dpd_periodic_s:--} s, restart ${dpd_restart_s:--} s, espgate ${dpd_espgate_s:--} s"
lab_end

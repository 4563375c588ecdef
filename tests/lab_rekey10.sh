#!/usr/bin/env bash
# Ten Quick Mode rekeys under continuous traffic, none of it lost, espgate (namespace gw, DPDK net_af_packet ports)
# against strongSwan 5.9 in the deploy/lab namespaces. A ping every 50 ms runs from gw-lan to right-lan across all
# of the rekeys and must lose nothing (0% loss; counted by sequence number, see ping_loss). Cases:
#   swan: strongSwan initiates with a CHILD_SA rekey time of REKEY_S (default 5 s, life 2x that, no
#     random part); espgate answers each new Quick Mode and switches to the new pair.
#   swan-responder: espgate initiates the first SA at start (proposing its 3600 s), strongSwan, the responder, takes
#     its own shorter lifetime and rekeys every REKEY_S all the same; espgate answers.
#   espgate: espgate initiates at start with lifetime_kilobytes = 2560 (the validator's minimum; its
#     minimum lifetime_seconds is 120, too long for ten rekeys here) and rekeys by volume at 90 % of it, pushed by
#     a second ping of 1300-byte packets every 2 ms; strongSwan never rekeys (1 h).
# Rekeys are counted from espgate's log (distinct SA pairs installed; its "rekeying" lines: none in "swan", one
# per rekey in "espgate") and from strongSwan's (distinct CHILD_SA SPI pairs established).
# Prints PASS:/FAIL: lines and "N passed, N failed"; exits non-zero on any failure. Root; cleans up after itself.
# env: ESPGATE_BIN, REKEYS [10], REKEY_S [5], REKEY_CASES ["swan swan-responder espgate"; also "flood", see case_flood],
#      LAB_PREFIX [lrk-], LAB_RUN_DIR [/tmp/espgate-lab-rekey10]
# shellcheck source-path=SCRIPTDIR source=lab_lib.sh
. "$(dirname "$0")/lab_lib.sh"
lab_begin rekey10 lrk- /tmp/espgate-lab-rekey10
rekeys=${REKEYS:-10}
period=${REKEY_S:-5}
cases=${REKEY_CASES:-swan swan-responder espgate}

# SAs espgate installed so far (one per Quick Mode: the first plus one per rekey; each line has new SPIs).
sa_count() { grep -Eo "IPsec SA for .* up: .*" "$LAB_RUN_DIR/gw.log" 2>/dev/null | sort -u | wc -l; }
enough_sas() { [ "$(sa_count)" -ge $((rekeys + 1)) ]; }

# ping_loss FILE: "SENT LOST" of a ping's output, by sequence number. The pings are stopped with SIGINT, which can
# land between the last echo and its reply: that last echo is not counted, every other unanswered one is (ping's
# own summary would count it too, and cannot tell it from a real loss).
ping_loss() {
  local tx
  tx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$1")
  grep -Eo 'icmp_seq=[0-9]+ ' "$1" | tr -dc '0-9\n' | sort -un |
    awk -v tx="${tx:-0}" '$1 < tx { got++ } END { printf "%d %d\n", tx - 1, tx - 1 - got }'
}

# check_loss NAME WHAT FILE MIN_SENT: none lost (but the last, see ping_loss), at least MIN_SENT sent.
check_loss() {
  local sent lost
  if grep -q 'icmp_seq=' "$3"; then
    read -r sent lost < <(ping_loss "$3")
  else # a flood ping (-f) prints no sequence numbers: its summary is all there is
    sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$3")
    lost=$((${sent:-0} - $(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$3")))
  fi
  echo "      $2: $(grep -E 'transmitted' "$3")"
  if [ "$sent" -ge "$4" ] && [ "$lost" -eq 0 ]; then ok "$1: $2 across the rekeys: all $sent echoes answered"
  else
    bad "$1: $2 across the rekeys: $lost of $sent echoes lost (at least $4 expected sent)"
    # When: the reply before each gap (ping -D timestamps), to set beside espgate's and strongSwan's logs.
    grep -Eo '^\[[0-9.]+\].*icmp_seq=[0-9]+ ' "$3" | sed -E 's/^\[([0-9.]+)\].*icmp_seq=([0-9]+) /\2 \1/' | sort -n -u -k1,1 |
      awk 'NR > 1 && $1 > prev + 1 { printf "      lost icmp_seq %d..%d after the reply at %s\n", prev + 1, $1 - 1, strftime("%H:%M:%S", int(t)) sprintf(".%03d", (t - int(t)) * 1000) }
        { prev = $1; t = $2 }' | head -10
    echo "      espgate's drops: $(show gw counters | jq -c '{worker: .worker.drops, ike: .ike.sa_manager}' 2>&1)"
  fi
}

# run_traffic NAME MAX_S [BULK]: the 50 ms ping (and with BULK, ping options, a 1300-byte one) until espgate has
# rekeyed `rekeys` times or MAX_S passed; then checks the counts and the loss.
run_traffic() {
  local name=$1 max=$2 bulk=${3:-} n
  n=$((max * 20))
  # The initiator moves to a new outbound SA 300 ms after it is up (and holds only acquire_hold packets until then):
  # start counting once the tunnel carries traffic, the rekeys are what is measured.
  wait_for 5 eval "ip netns exec '$NS_LEFT_LAN' ping -n -q -c 1 -W 1 '$RIGHT_HOST_IP' >/dev/null 2>&1"
  ip netns exec "$NS_LEFT_LAN" ping -n -D -i 0.05 -c "$n" -w $((max + 10)) "$RIGHT_HOST_IP" >"$LAB_RUN_DIR/ping.out" 2>&1 &
  local ping_pid=$! bulk_pid="" t0=$SECONDS
  if [ -n "$bulk" ]; then
    # shellcheck disable=SC2086
    ip netns exec "$NS_LEFT_LAN" ping -n -D -s 1300 $bulk -c $((max * 2000)) -w $((max + 10)) "$RIGHT_HOST_IP" \
      >"$LAB_RUN_DIR/bulk.out" 2>&1 &
    bulk_pid=$!
  fi
  wait_for "$max" enough_sas
  local took=$((SECONDS - t0))
  # Let the last rekey settle, then stop the pings with SIGINT (ping prints its statistics).
  sleep 3
  kill -INT "$ping_pid" ${bulk_pid:+"$bulk_pid"} 2>/dev/null
  wait "$ping_pid" ${bulk_pid:+"$bulk_pid"} 2>/dev/null
  local sas=$(($(sa_count) - 1))
  if [ "$sas" -ge "$rekeys" ]; then ok "$name: $sas rekeys in $took s (espgate installed $((sas + 1)) SA pairs)"
  else bad "$name: only $sas rekeys in $took s"; dump gw peer:right; fi
  check_loss "$name" "ping every 50 ms" "$LAB_RUN_DIR/ping.out" $((took * 15))
  [ -z "$bulk" ] || check_loss "$name" "1300-byte ping $bulk" "$LAB_RUN_DIR/bulk.out" $((took * 100))
}

# swan_sas_count: CHILD_SAs strongSwan established so far (distinct SPI pairs in its log).
swan_sas_count() {
  bash "$peer" log right 2>/dev/null | grep -Eo 'CHILD_SA lab\{[0-9]+\} established with SPIs [0-9a-f]+_i [0-9a-f]+_o' |
    sed 's/.*SPIs //' | sort -u | wc -l
}

# swan_rekeyed NAME: strongSwan installed a new CHILD_SA (new SPIs) for each of espgate's.
swan_rekeyed() {
  local n
  n=$(swan_sas_count)
  if [ "$n" -ge $((rekeys + 1)) ]; then ok "$1: strongSwan established $n CHILD_SAs, each with new SPIs"
  else bad "$1: strongSwan established only $n CHILD_SAs"; fi
}

# ---- strongSwan rekeys, espgate responds
case_swan() {
  local name="strongSwan rekeys every ${period} s"
  if swan_right --remote "$LEFT_WAN_IP" --child-rekey "${period}s" --child-life "$((period * 2))s" --rand-time 0s &&
    start_gw gw "$(gw_config left initiate=default)"; then
    bash "$peer" initiate right >/dev/null 2>&1
    if wait_for 20 log_has gw "IPsec SA for" && bash "$peer" wait right --timeout 10 >/dev/null 2>&1; then
      ok "$name: first IPsec SA up"
      run_traffic "$name" $((period * (rekeys + 3)))
      swan_rekeyed "$name"
      if ! log_has gw "rekeying"; then ok "$name: espgate left the rekeying to strongSwan (no \"rekeying\" line)"
      else bad "$name: espgate started $(log_count gw rekeying) rekeys of its own"; fi
    else
      bad "$name: no IPsec SA"; dump gw peer:right
    fi
  else
    bad "$name: start"
  fi
  stop_gw gw
  bash "$peer" stop right >/dev/null 2>&1
}

# ---- espgate initiates the first SA, strongSwan (the responder) rekeys on its own shorter lifetime.
case_swan-responder() {
  local name="espgate initiates, strongSwan rekeys every ${period} s"
  if swan_right --child-rekey "${period}s" --child-life "$((period * 2))s" --rand-time 0s &&
    start_gw gw "$(gw_config left initiate=on-start)"; then
    if wait_for 20 log_has gw "IPsec SA for" && bash "$peer" wait right --timeout 10 >/dev/null 2>&1; then
      ok "$name: first IPsec SA up"
      run_traffic "$name" $((period * (rekeys + 3)))
      swan_rekeyed "$name"
    else
      bad "$name: no IPsec SA"; dump gw peer:right
    fi
  else
    bad "$name: start"
  fi
  stop_gw gw
  bash "$peer" stop right >/dev/null 2>&1
}

# ---- espgate rekeys by volume, strongSwan responds
# BULK: the 1300-byte ping's rate. Every 2 ms (about 250/s on this machine, 330 KB/s): a rekey every 7 s.
case_espgate() {
  local name="espgate rekeys by volume (2560 KB)" bulk=${1:--i 0.002} max=${2:-90}
  if swan_right && start_gw gw "$(gw_config left initiate=on-start map='lifetime_kilobytes = 2560')"; then
    if wait_for 20 log_has gw "IPsec SA for" && bash "$peer" wait right --timeout 10 >/dev/null 2>&1; then
      ok "$name: first IPsec SA up"
      run_traffic "$name" "$max" "$bulk"
      swan_rekeyed "$name"
      if [ "$(log_count gw "rekeying")" -ge "$rekeys" ]; then ok "$name: espgate logged $(log_count gw rekeying) \"rekeying\" lines"
      else bad "$name: espgate logged only $(log_count gw rekeying) \"rekeying\" lines"; fi
    else
      bad "$name: no IPsec SA"; dump gw peer:right
    fi
  else
    bad "$name: start"
  fi
  stop_gw gw
  bash "$peer" stop right >/dev/null 2>&1
}

# Not in the default cases: a flood ping (about 3 MB/s) rekeys every half second, and the 10 % of volume between the
# soft and the hard limit lasts less than the initiator's wait before it moves to the new outbound SA.
case_flood() { case_espgate -f 20; }

topo --espgate || exit 1
for c in $cases; do "case_$c"; done
lab_end

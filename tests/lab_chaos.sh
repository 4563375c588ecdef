#!/usr/bin/env bash
# Chaos in the lab (issue #8 item 5): espgate (namespace gw, DPDK net_af_packet ports) against strongSwan 5.9 in the
# deploy/lab namespaces, with lost, duplicated and reordered IKE messages and with peers that die half way. Cases:
#   lossy    espgate's IKE fault shim (ESPGATE_IKE_FAULTS=$CHAOS_FAULTS,seed=N) on, for each seed in $CHAOS_SEEDS
#            with the initiators in turn (espgate on traffic, espgate on start, strongSwan; CHAOS_MATRIX=1: every
#            initiator for every seed). The tunnel comes up, pings cross both ways, and then each side holds exactly
#            one ISAKMP/IKE SA and one SA pair, the same SPIs on both (no duplicate left behind by a retransmission
#            or a duplicated message). DPD is off in this case (see case_lossy).
#   qm       strongSwan dies in the middle of a Quick Mode, both ways round: (a) espgate's Quick Mode message 1 is in
#            flight (strongSwan frozen with SIGSTOP when it goes out, then SIGKILL); (b) espgate answered
#            strongSwan's message 1 and the answer is dropped (nftables on the right gateway), then SIGKILL. strongSwan
#            starts again as a plain responder; espgate (DPD on_dead = "restart", on-demand in (a), periodic in (b))
#            must bring the tunnel back by itself, and then one SA pair on each side.
#   rekey    strongSwan rekeys its CHILD_SA every $CHAOS_REKEY_S s under a ping every 0.2 s and is killed (SIGKILL):
#            (a) with a rekey half done (its Quick Mode answered by espgate, the answer dropped), (b) at a random
#            moment after some rekeys. It starts again (as responder, long lifetimes); the tunnel comes back by
#            itself, espgate keeps no pair from before the kill, strongSwan has one CHILD_SA.
#   restart  espgate is restarted: (a) SIGTERM, its Deletes make strongSwan drop its SAs at once; (b) SIGKILL, no
#            Deletes, and the INITIAL-CONTACT of the new run's Main Mode makes strongSwan drop the old SAs. Both: the
#            tunnel comes back when espgate starts again, one SA of each kind on each side.
# Prints PASS:/FAIL: lines, figures (seeds, fault counts, recovery times) and "N passed, N failed"; exits non-zero on
# any failure. Root; cleans up after itself (namespaces, peers, nftables, espgate).
# env: ESPGATE_BIN, CHAOS_CASES ["lossy qm rekey restart"], CHAOS_SEEDS ["1 2 3 4 5 6"], CHAOS_MATRIX [unset],
#      CHAOS_LOSSY_WAIT [45: seconds for a lossy tunnel to carry pings],
#      CHAOS_FAULTS [drop=0.25,duplicate=0.15,reorder=0.15], CHAOS_INITIATORS ["on-traffic on-start strongswan"],
#      CHAOS_REKEY_S [3], CHAOS_KEEP_LOGS [unset: a directory that gets every run's logs, passed or not],
#      LAB_PREFIX [lch-], LAB_RUN_DIR [/tmp/espgate-lab-chaos]
# shellcheck source-path=SCRIPTDIR source=lab_lib.sh disable=SC2119
. "$(dirname "$0")/lab_lib.sh"
# shellcheck source-path=SCRIPTDIR source=lab_chaos_lib.sh
. "$(dirname "$0")/lab_chaos_lib.sh"
lab_begin chaos lch- /tmp/espgate-lab-chaos
trap 'bg_ping_stop; ike_unblock 2>/dev/null; lab_cleanup' EXIT
cases=${CHAOS_CASES:-lossy qm rekey restart}
seeds=${CHAOS_SEEDS:-1 2 3 4 5 6}
lossy_wait=${CHAOS_LOSSY_WAIT:-45}
faults=${CHAOS_FAULTS:-drop=0.25,duplicate=0.15,reorder=0.15}
initiators=${CHAOS_INITIATORS:-on-traffic on-start strongswan}
rekey_s=${CHAOS_REKEY_S:-3}
dpd_restart='dpd = { interval = 2, retries = 3, on_dead = "restart" }'
dpd_deadline=$((2 * (3 + 2)))
dpd_periodic='dpd = { interval = 2, retries = 3, mode = "periodic", on_dead = "restart" }'
figures=()

# tunnel_up: both sides have an SA pair installed.
tunnel_up() {
  local g s
  g=$(gw_counts) && s=$(swan_counts) || return 1
  [ "$(cut -d' ' -f2 <<<"$g")" -ge 1 ] && [ "$(cut -d' ' -f4 <<<"$s")" -ge 1 ]
}
isakmp_only() { [ "$(gw_counts | cut -d' ' -f1,2)" = "1 0" ]; }
log_more() { [ "$(log_count "$1" "$2")" -gt "$3" ]; }
swan_log_more() { [ "$(swan_log_count "$1")" -gt "$2" ]; }
swan_none() { [ "$(swan_counts | cut -d' ' -f1,3)" = "0 0" ]; }

# pings_back EPOCH TIMEOUT: wait until the background ping got 3 replies sent after EPOCH; prints the recovery time.
replies_ge() { [ "$(bg_ping_replies_since "$1")" -ge "$2" ]; }
pings_back() {
  local t0=$1
  wait_for "$2" replies_ge "$t0" 3 || return 1
  recover_s=$(since "$t0" "$(bg_ping_first_since "$t0")")
}

# check_recovery_time NAME T_KILL T_START: DPD finds the peer dead within interval * (retries + 2) s of the kill
# (lab_dpd.sh's deadline), and on_dead = "restart" negotiates at once: pings pass within that plus 3 s.
check_recovery_time() {
  local after limit=$((dpd_deadline + 3))
  after=$(since "$2" "$(bg_ping_first_since "$3")")
  if awk -v a="$after" -v l="$limit" 'BEGIN { exit !(a <= l) }'; then
    ok "$1: back $after s after the kill, within DPD's deadline + 3 s ($limit s)"
  else
    bad "$1: back only $after s after the kill, DPD's deadline + 3 s is $limit s"
    note "strongSwan killed at $(date -u -d "@$2" +%T.%3N), started again at $(date -u -d "@$3" +%T.%3N); espgate: $(grep -E 'is dead|again|Quick Mode .*failed|Main Mode to|IPsec SA for' "$LAB_RUN_DIR/gw.log" | tail -6 | sed 's/^[0-9-]*T\([0-9:.]*\)Z *[A-Z]* espgate: IKE: /\1 /; s/ event=.*//' | paste -sd'|')"
  fi
}

# teardown: espgate (SIGINT, Deletes), strongSwan, the nftables filter, the background ping and initiate.
teardown() {
  if [ -n "${CHAOS_KEEP_LOGS:-}" ]; then
    kept=$((${kept:-0} + 1))
    mkdir -p "$CHAOS_KEEP_LOGS/$kept"
    cp "$LAB_RUN_DIR"/*.log "$LAB_RUN_DIR/bgping.out" "$CHAOS_KEEP_LOGS/$kept/" 2>/dev/null
    bash "$peer" log right >"$CHAOS_KEEP_LOGS/$kept/charon-right.log" 2>/dev/null
  fi
  bg_ping_stop
  if [ -n "${bg_job:-}" ]; then kill "$bg_job" 2>/dev/null; wait "$bg_job" 2>/dev/null; bg_job=""; fi
  ike_unblock
  stop_gw gw
  bash "$peer" kill right >/dev/null 2>&1
  bash "$peer" stop right >/dev/null 2>&1
}

# ---------------------------------------------------------------- lossy IKE
# No DPD here: with a quarter of the IKE datagrams lost, R-U-THERE probes fail too, and a peer declared dead would hide
# what this case is about (retransmissions and duplicates). A ping every 0.2 s runs from the start with espgate
# initiating (the trigger with on-traffic), and once strongSwan's initiate returned when strongSwan initiates.
lossy_ok=0 lossy_runs=0 lossy_drop=0 lossy_dup=0 lossy_reo=0 lossy_times="" lossy_failed=""
lossy_run() {
  local seed=$1 who=$2 name="lossy IKE seed $1, $2 initiates" t0 fc d u r swan_opts=(--retransmit "1 6") init=default
  [ "$who" = strongswan ] && swan_opts+=(--remote "$LEFT_WAN_IP")
  [ "$who" = on-start ] && init=on-start
  lossy_runs=$((lossy_runs + 1))
  local fail_before=$fail
  swan_right "${swan_opts[@]}" || { bad "$name: strongSwan did not start"; return; }
  export ESPGATE_IKE_FAULTS="$faults,seed=$seed"
  start_gw gw "$(gw_config left initiate=$init)" || { unset ESPGATE_IKE_FAULTS; bad "$name: espgate did not start"; teardown; return; }
  unset ESPGATE_IKE_FAULTS
  t0=$(now)
  # strongSwan initiating: the ping waits for its initiate to return and then for espgate's pair (the responder
  # installs it on Quick Mode message 3), or espgate's own trigger races strongSwan's exchange: a Phase 1 of its own
  # if strongSwan's is still under way, a second Quick Mode if strongSwan's message 3 is still on its way. Both
  # leave two pairs behind on strongSwan (espgate retires the older one without a Delete), a race of its own.
  if [ "$who" = strongswan ]; then
    bash "$peer" initiate right --timeout "$lossy_wait" >/dev/null 2>&1
    wait_for 10 tunnel_up
  fi
  bg_ping_start 90
  if pings_back "$t0" "$lossy_wait" && wait_for 5 tunnel_up; then
    ok "$name: tunnel up, pings cross $recover_s s after the start"
    lossy_times="$lossy_times $recover_s"
    bg_ping_stop
    check_pings "$name" 5
    check_one_each "$name" 10
  else
    bad "$name: no pings through a tunnel within $lossy_wait s ($(gw_counts) / $(swan_counts))"
    dump gw peer:right
  fi
  fc=$(fault_counts)
  note "fault shim (dropped duplicated reordered): $fc; endpoint: $(show gw counters | jq -c '.. | objects | select(has("endpoint")) | .endpoint | {retransmits, duplicates, dropped_in_state, unknown_sa}' 2>/dev/null | head -1)"
  read -r d u r <<<"$fc"
  lossy_drop=$((lossy_drop + ${d//-/0})) lossy_dup=$((lossy_dup + ${u//-/0})) lossy_reo=$((lossy_reo + ${r//-/0}))
  if [ "$fail" -eq "$fail_before" ]; then lossy_ok=$((lossy_ok + 1)); else lossy_failed="$lossy_failed $seed/$who"; fi
  teardown
}
# Each seed with the next initiator in turn (CHAOS_MATRIX=1: each seed with every initiator).
case_lossy() {
  local seed who i=0 list
  read -ra list <<<"$initiators"
  for seed in $seeds; do
    if [ -n "${CHAOS_MATRIX:-}" ]; then
      for who in "${list[@]}"; do lossy_run "$seed" "$who"; done
    else
      lossy_run "$seed" "${list[i % ${#list[@]}]}"
      i=$((i + 1))
    fi
  done
  figures+=("lossy: $lossy_ok/$lossy_runs runs passed (failed:${lossy_failed:- none}), seeds $seeds, $faults; shim totals dropped $lossy_drop, duplicated $lossy_dup, reordered $lossy_reo; pings through after (s):$lossy_times")
}

# ---------------------------------------------------------------- peer killed during Quick Mode
# qm_recover NAME T_KILL: strongSwan starts again (responder only); the tunnel must come back by itself.
qm_recover() {
  local name=$1 t_kill=$2 t_start
  sleep 1
  t_start=$(now)
  swan_right || { bad "$name: strongSwan did not start again"; return 1; }
  if pings_back "$t_start" 60; then
    ok "$name: the tunnel came back by itself: pings pass $recover_s s after strongSwan restarted ($(since "$t_kill" "$(bg_ping_first_since "$t_start")") s after the kill)"
    figures+=("$name: back $recover_s s after the restart, $(since "$t_kill" "$(bg_ping_first_since "$t_start")") s after the kill")
    check_recovery_time "$name" "$t_kill" "$t_start"
    bg_ping_stop
    check_pings "$name: after the restart" 5
    check_one_each "$name: after the restart" 10
  else
    bad "$name: no pings within 60 s of strongSwan's restart ($(gw_counts) / $(swan_counts))"
    dump gw peer:right
    return 1
  fi
  if log_has gw "is dead"; then ok "$name: espgate: $(grep -E 'is dead|negotiating with .* again' "$LAB_RUN_DIR/gw.log" | head -2 | sed 's/.*IKE: //' | paste -sd';')"
  else bad "$name: espgate's log says nothing of the dead peer"; fi
}

# (a) espgate's Quick Mode message 1 goes to a frozen peer, which is then killed.
case_qm_a() {
  local name="QM (a): peer killed with espgate's Quick Mode 1 in flight" pid qm0 t_kill
  swan_right --remote "$LEFT_WAN_IP" || { bad "$name: strongSwan did not start"; return; }
  start_gw gw "$(gw_config left initiate=default "isakmp=$dpd_restart")" || { bad "$name: espgate did not start"; teardown; return; }
  # Phase 1 only (strongSwan initiates it, no CHILD_SA): espgate has an ISAKMP SA and no pair.
  bash "$peer" swanctl right --initiate --ike lab --timeout 20 >/dev/null 2>&1
  if ! wait_for 10 isakmp_only; then bad "$name: no ISAKMP SA alone on espgate: $(gw_counts)"; teardown; return; fi
  pid=$(swan_pid)
  kill -STOP "$pid"
  qm0=$(log_count gw "traffic for .* starts negotiation")
  bg_ping_start 120
  if wait_for 10 log_more gw "traffic for .* starts negotiation" "$qm0"; then
    sleep 0.5
    ok "$name: espgate started Quick Mode on the ISAKMP SA of a frozen peer: $(grep -E 'traffic for .* starts negotiation' "$LAB_RUN_DIR/gw.log" | tail -1 | sed 's/.*IKE: //')"
  else
    bad "$name: traffic started no Quick Mode"; dump gw
  fi
  bash "$peer" kill right >/dev/null 2>&1
  kill -KILL "$pid" 2>/dev/null
  t_kill=$(now)
  qm_recover "$name" "$t_kill"
  teardown
}

# (b) espgate answers strongSwan's Quick Mode 1, the answer is dropped before strongSwan, strongSwan is killed.
case_qm_b() {
  local name="QM (b): peer killed after espgate answered its Quick Mode 1" t_kill
  swan_right --remote "$LEFT_WAN_IP" || { bad "$name: strongSwan did not start"; return; }
  start_gw gw "$(gw_config left initiate=default "isakmp=$dpd_periodic")" || { bad "$name: espgate did not start"; teardown; return; }
  bash "$peer" swanctl right --initiate --ike lab --timeout 20 >/dev/null 2>&1
  ike_block
  bash "$peer" swanctl right --initiate --child lab --timeout 20 >/dev/null 2>&1 &
  bg_job=$!
  if wait_for 10 swan_log_more "sending retransmit 1 of request" 0; then
    ok "$name: espgate's Quick Mode 2 dropped ($(ike_blocked) IKE datagrams), strongSwan retransmits its message 1"
  else
    bad "$name: strongSwan did not retransmit its Quick Mode 1"; dump peer:right
  fi
  note "espgate in the middle: $(gw_counts) (isakmp pairs in out)"
  bash "$peer" kill right >/dev/null 2>&1
  t_kill=$(now)
  ike_unblock
  bg_ping_start 120
  qm_recover "$name" "$t_kill"
  teardown
}
case_qm() { case_qm_a; case_qm_b; }

# ---------------------------------------------------------------- peer killed during rekey
swan_children_ge() { [ "$(swan_children)" -ge "$1" ]; }
swan_children() { bash "$peer" log right 2>/dev/null | grep -Eo 'CHILD_SA lab\{[0-9]+\} established with SPIs [0-9a-f]+_i' | sort -u | wc -l; }

# rekey_case NAME HOW: HOW = mid (rekey caught half way) or random.
rekey_case() {
  local name=$1 how=$2 t_kill t_start n0 old_spis
  swan_right --remote "$LEFT_WAN_IP" --child-rekey "${rekey_s}s" --child-life "$((rekey_s * 2))s" --rand-time 0s \
    --retransmit "1 6" || { bad "$name: strongSwan did not start"; return; }
  start_gw gw "$(gw_config left initiate=default "isakmp=$dpd_restart")" || { bad "$name: espgate did not start"; teardown; return; }
  bash "$peer" initiate right --timeout 20 >/dev/null 2>&1
  if ! wait_for 10 tunnel_up; then bad "$name: no tunnel"; dump gw peer:right; teardown; return; fi
  bg_ping_start 120
  # Two rekeys under traffic first.
  wait_for $((rekey_s * 4)) swan_children_ge 3
  n0=$(swan_children)
  if [ "$n0" -ge 3 ]; then ok "$name: strongSwan rekeyed $((n0 - 1)) times under traffic"
  else bad "$name: only $((n0 - 1)) rekeys in $((rekey_s * 4)) s"; fi
  if [ "$how" = mid ]; then
    local r0
    r0=$(swan_log_count "sending retransmit 1 of request")
    ike_block
    if wait_for $((rekey_s * 3)) swan_log_more "sending retransmit 1 of request" "$r0"; then
      ok "$name: a rekey caught half way (espgate's answer dropped, $(ike_blocked) IKE datagrams; strongSwan retransmits)"
    else
      bad "$name: no rekey caught half way"
    fi
  else
    sleep "$(awk -v r="$RANDOM" -v p="$rekey_s" 'BEGIN { printf "%.2f", r % (p * 100) / 100 }')"
  fi
  old_spis=$(gw_counts | cut -d' ' -f3,4)
  bash "$peer" kill right >/dev/null 2>&1
  t_kill=$(now)
  ike_unblock
  note "killed strongSwan; espgate had (isakmp pairs in out): $(gw_counts)"
  sleep 1
  t_start=$(now)
  # Back as a plain responder with long lifetimes: the steady state is one pair to check.
  swan_right --retransmit "1 6" || { bad "$name: strongSwan did not start again"; teardown; return; }
  if pings_back "$t_start" 60; then
    ok "$name: the tunnel came back by itself: pings pass $recover_s s after the restart ($(since "$t_kill" "$(bg_ping_first_since "$t_start")") s after the kill)"
    figures+=("$name: back $recover_s s after the restart, $(since "$t_kill" "$(bg_ping_first_since "$t_start")") s after the kill")
    check_recovery_time "$name" "$t_kill" "$t_start"
    bg_ping_stop
    check_pings "$name: after the restart" 5
    check_one_each "$name: after the restart" 15
    local now_spis o
    now_spis=$(gw_counts | cut -d' ' -f3,4)
    for o in $(tr -s ', ' '\n' <<<"$old_spis" | grep -v '^-$'); do
      if grep -q "$o" <<<"$now_spis"; then bad "$name: espgate still holds SPI $o from before the kill"; return; fi
    done
    ok "$name: espgate holds none of the SPIs from before the kill ($old_spis)"
  else
    bad "$name: no pings within 60 s of strongSwan's restart ($(gw_counts) / $(swan_counts))"
    dump gw peer:right
  fi
  teardown
}
case_rekey() {
  rekey_case "rekey (a): peer killed with a rekey half done" mid
  rekey_case "rekey (b): peer killed at a random moment" random
}

# ---------------------------------------------------------------- espgate restarted
term_gw() {
  local pid=${gw_pid[gw]:-}
  unset "gw_pid[gw]"
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 50); do
    [ -d "/proc/$pid" ] || break
    grep -q zombie "/proc/$pid/status" 2>/dev/null && break
    sleep 0.1
  done
  wait "$pid" 2>/dev/null
  rm -rf "/run/dpdk/espgate-$pid"
}

# restart_case NAME SIGNAL: up, espgate stopped with SIGNAL (TERM or KILL), checked, started again.
restart_case() {
  local name=$1 sig=$2 t0 took cfg
  cfg=$(gw_config left initiate=on-start)
  swan_right || { bad "$name: strongSwan did not start"; return; }
  start_gw gw "$cfg" || { bad "$name: espgate did not start"; teardown; return; }
  if ! wait_for 15 tunnel_up; then bad "$name: no tunnel"; dump gw peer:right; teardown; return; fi
  check_one_each "$name: first run" 10
  t0=$(now)
  if [ "$sig" = TERM ]; then
    term_gw
    cp "$LAB_RUN_DIR/gw.log" "$LAB_RUN_DIR/gw-first-$sig.log"
    if wait_for 3 swan_none; then
      took=$(since "$t0")
      ok "$name: strongSwan dropped its IKE SA and CHILD_SA $took s after SIGTERM ($(swan_log_count 'received DELETE') Deletes received)"
      figures+=("$name: strongSwan clean $took s after SIGTERM")
    else
      bad "$name: strongSwan still has SAs 3 s after SIGTERM: $(swan_counts); it received $(swan_log_count 'received DELETE') Deletes"
      note "espgate's last lines: $(tail -6 "$LAB_RUN_DIR/gw.log" | grep -E 'IKE:|stopped|worker:' | sed 's/^[^ ]* *//' | paste -sd'|')"
    fi
  else
    kill_gw gw
    cp "$LAB_RUN_DIR/gw.log" "$LAB_RUN_DIR/gw-first-$sig.log"
    sleep 1
    if [ "$(swan_counts | cut -d' ' -f1,3)" = "1 1" ]; then ok "$name: no Deletes: strongSwan still has its SAs after SIGKILL"
    else bad "$name: strongSwan after SIGKILL: $(swan_counts)"; fi
  fi
  t0=$(now)
  start_gw gw "$cfg" || { bad "$name: espgate did not start again"; teardown; return; }
  if wait_for 20 tunnel_up; then
    took=$(since "$t0")
    ok "$name: tunnel back $took s after espgate started again"
    figures+=("$name: tunnel back $took s after espgate started again")
    check_pings "$name: second run" 5
    check_one_each "$name: second run" 10
    if [ "$sig" = KILL ]; then
      local ic
      ic=$(bash "$peer" log right 2>/dev/null | grep -Eic 'INITIAL.CONTACT|deleting duplicate IKE_SA|destroying duplicate')
      note "strongSwan's log on INITIAL-CONTACT: $(bash "$peer" log right 2>/dev/null | grep -Ei 'INITIAL.CONTACT|duplicate' | tail -2 | paste -sd';')"
      if [ "$ic" -ge 1 ]; then ok "$name: strongSwan acted on INITIAL-CONTACT"
      else bad "$name: strongSwan's log shows no INITIAL-CONTACT"; fi
    fi
  else
    bad "$name: no tunnel within 20 s of espgate's restart ($(gw_counts) / $(swan_counts))"; dump gw peer:right
  fi
  teardown
}
case_restart() {
  restart_case "restart (a): espgate SIGTERM" TERM
  restart_case "restart (b): espgate SIGKILL" KILL
}

topo --espgate || exit 1
for c in $cases; do
  t_case=$SECONDS
  "case_$c"
  figures+=("case $c: $((SECONDS - t_case)) s")
done
for f in "${figures[@]}"; do note "$f"; done
lab_end

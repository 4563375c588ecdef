# tests/lab_chaos_lib.sh: helpers for tests/lab_chaos.sh on top of tests/lab_lib.sh: SA counts on both sides (espgate's
# `show ... --json`, strongSwan's `swanctl --list-sas`), the "exactly one of each, SPIs matching" check, a peer that
# can be frozen or killed mid-exchange, an nftables filter for IKE on the right gateway, and a ping that runs in the
# background and tells when replies came back. Sourced after lab_lib.sh, never executed.
# shellcheck shell=bash disable=SC2034,SC2154

# ---- espgate's view

# gw_counts: "ISAKMP_SAS PAIRS IN_SPIS OUT_SPIS" for the right peer: ISAKMP SAs, entries with an inbound SA, and the
# inbound/outbound SPIs (comma separated, hex). Empty when the control socket does not answer.
gw_counts() {
  local i s
  i=$(show gw crypto isakmp sa) && s=$(show gw crypto ipsec sa) || return 1
  jq -r --arg p "$RIGHT_WAN_IP" --argjson s "$s" '
    def hex: . as $n | [range(7; -1; -1) as $k | ($n / pow(16; $k) | floor) % 16 | "0123456789abcdef"[.:.+1]] | join("");
    [([.isakmp_sas[] | select(.remote == $p)] | length),
     ([$s.sas[] | select(.current_peer == $p) | select((.inbound_esp_sas | length) > 0)] | length),
     ([$s.sas[] | select(.current_peer == $p) | .inbound_esp_sas[].spi | hex] | join(",") | if . == "" then "-" else . end),
     ([$s.sas[] | select(.current_peer == $p) | .outbound_esp_sas[].spi | hex] | join(",") | if . == "" then "-" else . end)]
    | map(tostring) | join(" ")' <<<"$i" 2>/dev/null
}

# fault_counts: "DROPPED DUPLICATED REORDERED" from espgate's fault shim (show counters), "- - -" without it.
fault_counts() {
  show gw counters | jq -r '.. | objects | select(has("fault_shim")) | .fault_shim
    | if . == null then "- - -" else "\(.dropped) \(.duplicated) \(.reordered)" end' 2>/dev/null | head -1
}

# ---- strongSwan's view

# swan_counts: "IKE_SAS ESTABLISHED CHILD_SAS INSTALLED IN_SPIS OUT_SPIS" of the instance right (any state counted
# in IKE_SAS and CHILD_SAS; SPIs of the INSTALLED CHILD_SAs, comma separated).
swan_counts() {
  bash "$peer" sas right 2>/dev/null | awk '
    /^[^ ].*: #[0-9]+, / { ike++; if ($0 ~ /ESTABLISHED/) est++ }
    /^  [^ ].*: #[0-9]+, reqid / { child++; inst = ($0 ~ /INSTALLED/); if (inst) ins++ }
    /^    in  / && inst { s = $2; sub(/,$/, "", s); in_spis = in_spis (in_spis == "" ? "" : ",") s }
    /^    out / && inst { s = $2; sub(/,$/, "", s); out_spis = out_spis (out_spis == "" ? "" : ",") s }
    END { printf "%d %d %d %d %s %s\n", ike, est, child, ins, (in_spis == "" ? "-" : in_spis), (out_spis == "" ? "-" : out_spis) }'
}

# one_each: espgate has one ISAKMP SA and one SA pair with the right peer, strongSwan one IKE SA (ESTABLISHED) and one
# CHILD_SA (INSTALLED), and the pairs are the same SAs (espgate's inbound SPI is strongSwan's outbound and back).
# Sets $state to both views for the report.
one_each() {
  local g s gi gp gin gout si se sc sn sin sout
  g=$(gw_counts) || g="(no answer)"
  s=$(swan_counts)
  state="espgate isakmp/pairs/in/out: $g; strongSwan ike/established/child/installed/in/out: $s"
  read -r gi gp gin gout <<<"$g"
  read -r si se sc sn sin sout <<<"$s"
  [ "$gi" = 1 ] && [ "$gp" = 1 ] && [ "$si" = 1 ] && [ "$se" = 1 ] && [ "$sc" = 1 ] && [ "$sn" = 1 ] &&
    [ "$gin" = "$sout" ] && [ "$gout" = "$sin" ]
}

# check_one_each WHAT [SETTLE_S]: one_each within SETTLE_S seconds (retransmissions and Deletes still in flight may
# need a moment), and still so two seconds later (nothing comes back).
check_one_each() {
  local what=$1 settle=${2:-10}
  if wait_for "$settle" one_each && sleep 2 && one_each; then
    ok "$what: exactly one ISAKMP/IKE SA and one SA pair on each side, the same SPIs ($state)"
  else
    bad "$what: not one SA of each: $state"
    echo "      espgate isakmp: $(show gw crypto isakmp sa | jq -c '[.isakmp_sas[] | {conn_id, remote, remote_port, initiator}]' 2>&1)"
    echo "      espgate ipsec: $(show gw crypto ipsec sa | jq -c '[.sas[] | {current_peer, in: [.inbound_esp_sas[].spi], out: [.outbound_esp_sas[].spi]}]' 2>&1)"
    bash "$peer" sas right 2>&1 | sed 's/^/      | /'
    dump gw peer:right
  fi
}

# ---- the strongSwan peer, alive, frozen or dead

swan_pid() { bash "$peer" status right 2>/dev/null | sed -n 's/.*running pid=\([0-9]*\).*/\1/p' | head -1; }

# swan_log_count REGEX: matching lines in right's charon log.
swan_log_count() { bash "$peer" log right 2>/dev/null | grep -Ec "$1"; }

# ---- nftables on the right gateway: drop IKE towards strongSwan on UDP 4500 (the 4 zero bytes of the non-ESP marker
# follow the UDP header; ESP in UDP starts with its SPI, never 0, and passes). Catches an exchange half way: the peer's
# request reaches espgate, espgate's answer never reaches the peer.
ike_block() {
  ip netns exec "$NS_RIGHT" nft -f - <<'NFT'
table inet lchaos {
  chain in {
    type filter hook input priority -10; policy accept;
    udp dport 4500 @th,64,32 0 counter drop
  }
}
NFT
}
ike_unblock() { ip netns exec "$NS_RIGHT" nft delete table inet lchaos 2>/dev/null || true; }
ike_blocked() { ip netns exec "$NS_RIGHT" nft list table inet lchaos 2>/dev/null | sed -n 's/.*counter packets \([0-9]*\).*/\1/p'; }

# ---- background ping from gw-lan, one echo every 0.2 s, with timestamps (-D) so a recovery can be timed.

bg_ping_start() {
  ip netns exec "$NS_LEFT_LAN" ping -n -D -i 0.2 -w "${1:-120}" "$RIGHT_HOST_IP" >"$LAB_RUN_DIR/bgping.out" 2>&1 &
  bg_ping_pid=$!
}
bg_ping_stop() {
  [ -n "${bg_ping_pid:-}" ] || return 0
  kill -INT "$bg_ping_pid" 2>/dev/null
  wait "$bg_ping_pid" 2>/dev/null
  bg_ping_pid=""
}
# bg_ping_replies_since EPOCH: echo replies whose timestamp is at or after EPOCH (seconds, fractional).
bg_ping_replies_since() {
  awk -v t="$1" -F'[][]' '/bytes from/ && $2 + 0 >= t + 0 { n++ } END { print n + 0 }' "$LAB_RUN_DIR/bgping.out" 2>/dev/null
}
# bg_ping_first_since EPOCH: the timestamp of the first reply at or after EPOCH (empty if none).
bg_ping_first_since() {
  awk -v t="$1" -F'[][]' '/bytes from/ && $2 + 0 >= t + 0 { print $2; exit }' "$LAB_RUN_DIR/bgping.out" 2>/dev/null
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.1f", b - a }'; }

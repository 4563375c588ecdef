#!/usr/bin/env bash
# Quick Mode proposal matrix against strongSwan 5.9 (kernel-libipsec) in the deploy/lab namespaces, espgate on the
# left gateway (DPDK net_af_packet ports): every transform set below x PFS none / group 14 (MODP 2048) / group 19
# (ECP 256) x espgate initiating (at start) and responding (strongSwan initiates). Each side is configured with
# that one proposal only, so a case passes only if exactly it was negotiated: both sides install the SAs, hosts
# ping each other both ways through the tunnel, strongSwan's CHILD_SA shows the expected algorithms and DH group,
# and espgate's `show crypto ipsec sa --json` the expected transform and PFS group with traffic counted both ways.
# AES-CTR is in: strongSwan's libipsec does it (README of deploy/lab: aes128ctr-sha256 works); AES-GMAC and AH
# are not (libipsec refuses them), so they are tested espgate against espgate elsewhere.
# Prints PASS:/FAIL: lines and "N passed, N failed"; exits non-zero on any failure. Root; cleans up after itself.
# env: ESPGATE_BIN, MATRIX_FILTER (a grep -E regex on "transform pfs initiator" to run a subset),
#      LAB_PREFIX [lmx-], LAB_RUN_DIR [/tmp/espgate-lab-matrix]
# shellcheck source-path=SCRIPTDIR source=lab_lib.sh
. "$(dirname "$0")/lab_lib.sh"
lab_begin matrix lmx- /tmp/espgate-lab-matrix
filter=${MATRIX_FILTER:-.}

# label | espgate transform set lines (";" = newline) | strongSwan ESP proposal | strongSwan's name for it (regex) |
# espgate's name for it in show crypto ipsec sa (regex, IOS style)
transforms=(
  'aes128-sha1|esp_encryption = "esp-aes-128";esp_integrity = "esp-sha-hmac"|aes128-sha1|AES_CBC-128/HMAC_SHA1_96|esp-aes esp-sha-hmac'
  'aes256-sha256|esp_encryption = "esp-aes-256";esp_integrity = "esp-sha256-hmac"|aes256-sha256|AES_CBC-256/HMAC_SHA2_256_128|esp-256-aes esp-sha256-hmac'
  'gcm128|esp_encryption = "esp-gcm-128"|aes128gcm16|AES_GCM_16-128|esp-gcm'
  'gcm256|esp_encryption = "esp-gcm-256"|aes256gcm16|AES_GCM_16-256|esp-gcm 256'
  '3des-sha1|esp_encryption = "esp-3des";esp_integrity = "esp-sha-hmac"|3des-sha1|3DES_CBC/HMAC_SHA1_96|esp-3des esp-sha-hmac'
  'aesctr128-sha256|esp_encryption = "esp-aes-ctr-128";esp_integrity = "esp-sha256-hmac"|aes128ctr-sha256|AES_CTR-128/HMAC_SHA2_256_128|esp-aes-ctr-128 esp-sha256-hmac'
)
# espgate group | strongSwan group | strongSwan's name for it
groups=('none||' '14|modp2048|/MODP_2048' '19|ecp256|/ECP_256')

one_case() { # LABEL TS_LINES SWAN_ESP SWAN_NAME ESPGATE_NAME GROUP SWAN_GROUP SWAN_GROUP_NAME INITIATOR
  local label=$1 ts=${2//;/$'\n'} esp=$3 swan_name=$4 eg_name=$5 group=$6 swan_group=$7 swan_gname=$8 who=$9
  local name="$label pfs=$group, $who initiates" map="" got
  local swan_opts=(--remote "$LEFT_WAN_IP" --esp "$esp")
  [ "$group" = none ] || { map="pfs = $group"; swan_opts+=(--pfs "$swan_group"); }
  if ! swan_right "${swan_opts[@]}"; then bad "$name: strongSwan did not start"; return; fi
  local init=default
  [ "$who" = espgate ] && init=on-start
  if ! start_gw gw "$(gw_config left initiate=$init "ts=$ts" "map=$map")"; then
    bad "$name: espgate did not start"; bash "$peer" stop right >/dev/null 2>&1; return
  fi
  [ "$who" = strongSwan ] && { bash "$peer" initiate right >/dev/null 2>&1 & }
  if wait_for 20 log_has gw "IPsec SA for" && bash "$peer" wait right --timeout 10 >/dev/null 2>&1; then
    local sas
    sas=$(bash "$peer" sas right 2>&1)
    if grep -Eq "INSTALLED, TUNNEL-in-UDP, ESP:$swan_name$swan_gname\$" <<<"$sas"; then
      local a b
      a=$(ping_recv "$NS_LEFT_LAN" "$RIGHT_HOST_IP" 3 0.2)
      b=$(ping_recv "$NS_RIGHT_LAN" "$LEFT_HOST_IP" 3 0.2)
      got=$(show gw crypto ipsec sa)
      if [ "$a" -ge 2 ] && [ "$b" -ge 2 ] &&
        jq -e --arg t "^$eg_name *\$" --arg g "$group" '.sas | length == 1 and all(.pkts_encaps > 0 and .pkts_decaps > 0)
          and all(.inbound_esp_sas[0].transform | test($t))
          and all(if $g == "none" then .pfs == false else .pfs == true and (.dh_group | tostring) == $g end)' \
          <<<"$got" >/dev/null 2>&1; then
        ok "$name: $(grep -Eo "ESP:[^ ]+" <<<"$sas"), espgate $(jq -r '.sas[0].inbound_esp_sas[0].transform' <<<"$got")pfs $(jq -r '.sas[0].dh_group // "none"' <<<"$got"), pings $a/3 $b/3"
      else
        bad "$name: pings $a/3 and $b/3; espgate: $got"
      fi
    else
      bad "$name: strongSwan negotiated something else: $(grep -E 'INSTALLED' <<<"$sas")"
    fi
  else
    bad "$name: no IPsec SA"; dump gw peer:right
  fi
  # espgate's Deletes leave strongSwan without SAs, so it stops at once.
  stop_gw gw
  bash "$peer" stop right >/dev/null 2>&1
}

# mismatch_case NAME INITIATOR TS_LINES MAP_LINES STRONGSWAN_OPTIONS...: the proposals do not meet, so no IPsec SA
# may come up and no ping may pass (the matrix's checks can fail).
mismatch_case() {
  local name=$1 who=$2 ts=${3//;/$'\n'} map=$4
  shift 4
  grep -Eq -- "$filter" <<<"$name $who" || return 0
  name="$name, $who initiates"
  if ! swan_right --remote "$LEFT_WAN_IP" "$@"; then bad "$name: strongSwan did not start"; return; fi
  local init=default
  [ "$who" = espgate ] && init=on-start
  if ! start_gw gw "$(gw_config left initiate=$init "ts=$ts" "map=$map")"; then
    bad "$name: espgate did not start"; bash "$peer" stop right >/dev/null 2>&1; return
  fi
  [ "$who" = strongSwan ] && { bash "$peer" initiate right --timeout 8 >/dev/null 2>&1 & }
  # Phase 1 comes up; Quick Mode must not. Give it the time a good case needs, twice over.
  sleep 4
  local a
  a=$(ip netns exec "$NS_LEFT_LAN" ping -n -q -c 2 -i 0.2 -w 2 "$RIGHT_HOST_IP" 2>&1 | sed -n 's/.* \([0-9]*\) received.*/\1/p')
  a=${a:-0}
  if ! log_has gw "IPsec SA for" && ! bash "$peer" sas right 2>/dev/null | grep -q INSTALLED && [ "$a" -eq 0 ]; then
    ok "$name: no IPsec SA, no ping ($(grep -Eo 'Quick Mode with .*' "$LAB_RUN_DIR/gw.log" | head -1 || true))"
  else
    bad "$name: an SA came up or a ping passed ($a/2)"; dump gw peer:right
  fi
  stop_gw gw
  bash "$peer" stop right >/dev/null 2>&1
}

topo --espgate || exit 1
gcm='esp_encryption = "esp-gcm-128"'
mismatch_case "negative: GCM-128 vs AES-CBC+SHA1" espgate "$gcm" "" --esp aes128-sha1
mismatch_case "negative: GCM-128 vs AES-CBC+SHA1" strongSwan "$gcm" "" --esp aes128-sha1
mismatch_case "negative: PFS 14 vs none" espgate "$gcm" "pfs = 14" --esp aes128gcm16
mismatch_case "negative: PFS 14 vs none" strongSwan "$gcm" "pfs = 14" --esp aes128gcm16
mismatch_case "negative: PFS 19 vs 14" strongSwan "$gcm" "pfs = 19" --esp aes128gcm16 --pfs modp2048
for t in "${transforms[@]}"; do
  IFS='|' read -r label ts esp swan_name eg_name <<<"$t"
  for g in "${groups[@]}"; do
    IFS='|' read -r group swan_group swan_gname <<<"$g"
    for who in espgate strongSwan; do
      grep -Eq -- "$filter" <<<"$label pfs=$group $who" || continue
      one_case "$label" "$ts" "$esp" "$swan_name" "$eg_name" "$group" "$swan_group" "$swan_gname" "$who"
    done
  done
done
lab_end

#!/usr/bin/env bash
# tests/lab_selftest.sh: the lab end to end, as CI runs it: install the lab's Debian packages if missing, check
# the topologies (tests/lab_netns.sh) and the lab CA (tests/lab_pki.sh), then run deploy/lab/selftest (strongSwan
# IKEv1 peers through libipsec tunnels, checked with tshark). Root only. Each part prints "N passed, N failed";
# this script ends with the sum.
# Extra arguments go to the selftest (case names, --keep).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[[ $(id -u) -eq 0 ]] || { echo "tests/lab_selftest.sh: must run as root" >&2; exit 1; }

bash "$root/deploy/lab/install-deps"
total_pass=0 total_fail=0 rc=0
for part in "$root/tests/lab_netns.sh" "$root/tests/lab_pki.sh" "$root/deploy/lab/selftest"; do
  echo "== $part"
  args=()
  [[ $part != */selftest ]] || args=("$@")
  out=$(mktemp)
  bash "$part" ${args[@]+"${args[@]}"} | tee "$out" || rc=1
  read -r p f < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$out" | tail -n 1) || true
  rm -f "$out"
  [[ -n ${p:-} ]] || { echo "$part printed no result line" >&2; rc=1; p=0 f=1; }
  total_pass=$((total_pass + p)) total_fail=$((total_fail + f))
done
echo "lab: $total_pass passed, $total_fail failed"
exit "$rc"

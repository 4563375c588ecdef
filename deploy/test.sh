#!/usr/bin/env bash
# The test command: sets up a fresh Debian 12 machine (as root) and runs every check and test espgate has:
# format and lints, unit/integration/end-to-end tests (Scapy oracle, net_pcap runs), the lab with strongSwan,
# espgate against strongSwan, two espgate gateways back to back, and a short fuzzing run.
# Exits non-zero on any failure; the last line says how many stages passed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash deploy/setup.sh --tests || { echo "setup: 0 passed, 1 failed"; exit 1; }
if ! command -v cargo >/dev/null 2>&1; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
export ESPGATE_PYTHON="$root/target/venv/bin/python3"
export CARGO_TERM_COLOR=never
passed=0 failed=0 failures=()

stage() { # NAME COMMAND...
  local name=$1
  shift
  echo
  echo "== $name"
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "== $name: ok ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "== $name: FAILED ($((SECONDS - t0)) s)"
  fi
}

fwd_smoke() {
  ./target/release/espgate-perf fwd --vdev net_null0 --vdev net_null1 --seconds 2 --stats-period 0 --json \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["tx_packets"] > 0 and r["mpps"] > 0, r; print("fwd:", round(r["mpps"], 2), "Mpps")'
}

stage "cargo fmt --check" cargo fmt --all -- --check
stage "cargo clippy -D warnings" cargo clippy --workspace --all-targets --locked -- -D warnings
stage "engine without DPDK (the IPsec core on its own)" cargo test -p engine --no-default-features --locked
stage "cargo test --workspace" cargo test --workspace --locked
stage "release build" cargo build --release --locked -p espgate -p perf
stage "espgate-perf fwd smoke run" fwd_smoke
stage "perf sweep smoke run (quick matrix, baselines, plots, RESULTS block)" \
  "$ESPGATE_PYTHON" perf/scripts/sweep_smoke.py --perf ./target/release/espgate-perf
stage "two espgate gateways, manual keys" env PING_COUNT=3 ESPGATE_BIN=./target/release/espgate bash deploy/demo-gateways.sh
stage "two espgate gateways, IKEv1 on traffic, SIGHUP reload, clear crypto sa/isakmp, DPD" \
  env PING_COUNT=40 RELOAD_TEST=1 CLEAR_TEST=1 DPD_TEST=1 ESPGATE_BIN=./target/release/espgate bash deploy/demo-gateways.sh --ike
ike_bundle() {
  # A transform set with ESP and AH: Quick Mode negotiates both, the daemon installs the bundle, show lists the AH SAs.
  local log
  log=$(AH=ah-sha256-hmac PING_COUNT=3 ESPGATE_BIN=./target/release/espgate bash deploy/demo-gateways.sh --ike 2>&1) \
    || { echo "$log" | tail -30; return 1; }
  grep -E "packets transmitted|AH in" <<<"$log" | head -3
  grep -A1 "inbound ah sas:" <<<"$log" | grep -q "spi: 0x"
}
stage "two espgate gateways, IKE-negotiated ESP+AH bundle" ike_bundle
rekey_no_loss() {
  # 20000 pings of 1400 bytes (28 MB each way) against a 2560 KB SA lifetime: the gateways rekey by volume at
  # least ten times mid-stream; no ping lost.
  local log n
  log=$(LIFETIME_KB=2560 PING_SIZE=1400 PING_COUNT=20000 PING_INTERVAL=0.005 PING_DEADLINE=240 PING_PRIME=1 ESPGATE_BIN=./target/release/espgate \
    bash deploy/demo-gateways.sh --ike 2>&1) || { echo "$log" | grep -v icmp_seq | tail -30; return 1; }
  # The demo prints some log lines twice (after the ping and with the whole log): count distinct ones.
  n=$(grep "IPsec SA for CM1 10 with 198.51.100.2" <<<"$log" | sort -u | wc -l)
  grep -E "packets transmitted" <<<"$log"
  echo "gateway A installed $n SA pairs ($((n - 1)) rekeys)"
  [ "$n" -ge 11 ] && grep -q " 0% packet loss" <<<"$log"
}
stage "espgate against espgate: ten IKE rekeys under continuous traffic, no loss" rekey_no_loss
stage "capture and Wireshark keys: tshark decrypts ISAKMP and ESP" \
  env ESPGATE_BIN=./target/release/espgate bash tests/capture_wireshark.sh
stage "lab selftest (strongSwan peers in namespaces)" bash tests/lab_selftest.sh
stage "espgate against strongSwan" env ESPGATE_BIN=./target/release/espgate bash tests/interop_strongswan.sh
# The IKEv1 part 2 and chaos cases in the lab, each against strongSwan (and espgate against espgate where noted).
lab() { env ESPGATE_BIN=./target/release/espgate bash "tests/$1.sh"; }
stage "lab: proposal matrix with and without PFS, espgate initiating and responding" lab lab_matrix
stage "lab: NAT-T through a NAT namespace (strongSwan and espgate peers)" lab lab_natt
stage "lab: traffic-triggered negotiation and held packets" lab lab_trigger
stage "lab: ten Quick Mode rekeys under continuous traffic, no loss" lab lab_rekey10
stage "lab: DPD after the peer is killed (clear, periodic, restart)" lab lab_dpd
stage "lab: chaos (lossy IKE, peer killed in Quick Mode and rekey, espgate restarted)" lab lab_chaos
stage "IKE core against strongSwan (Phase 1, Quick Mode, certificates)" \
  cargo test --locked -p control --test isakmp_strongswan --test ike_qm_strongswan --test pki_strongswan \
  --test initial_contact_strongswan -- --ignored --test-threads=1
if [ -f deploy/fuzz-smoke.sh ]; then
  stage "fuzzing smoke run" bash deploy/fuzz-smoke.sh
fi

echo
[ "$failed" -eq 0 ] || printf 'failed stage: %s\n' "${failures[@]}"
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

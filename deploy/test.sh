#!/usr/bin/env bash
# The test command: sets up a fresh Debian 12 machine (as root) and runs every check and test espgate has.
# Exits non-zero on any failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash deploy/setup.sh --tests
if ! command -v cargo >/dev/null 2>&1; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
export ESPGATE_PYTHON="$root/target/venv/bin/python3"
export CARGO_TERM_COLOR=never

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test (engine without DPDK: the IPsec core builds and passes on its own)"
cargo test -p engine --no-default-features --locked
echo "== cargo test --workspace"
cargo test --workspace --locked
echo "== espgate-perf fwd smoke run (2 s on net_null)"
cargo build --release -p perf -p espgate --locked
./target/release/espgate-perf fwd --vdev net_null0 --vdev net_null1 --seconds 2 --stats-period 0 --json \
  | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["tx_packets"] > 0 and r["mpps"] > 0, r; print("fwd:", round(r["mpps"], 2), "Mpps")'
echo "== two espgate gateways with manual keys: ping through ESP over af_packet/veth in namespaces"
PING_COUNT=3 ESPGATE_BIN=./target/release/espgate bash deploy/demo-gateways.sh
echo "== all tests passed"

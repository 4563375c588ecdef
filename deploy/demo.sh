#!/usr/bin/env bash
# The main job: sets up a fresh Debian 12 machine (as root), builds espgate and runs its demo.
# Today that is espgate-perf forwarding between two DPDK null ports (testpmd's io mode) for 10 seconds, then the
# espgate binary's build facts. The IPsec demo (two gateways and IKE) replaces this as it lands.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash deploy/setup.sh
if ! command -v cargo >/dev/null 2>&1; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
cargo build --release --locked -p espgate -p perf
./target/release/espgate version
./target/release/espgate ports --vdev net_null0 --vdev net_null1
lcores=1
[ "$(nproc)" -lt 2 ] && { echo "need at least 2 CPUs (one main, one forwarding lcore)" >&2; exit 1; }
./target/release/espgate-perf fwd --vdev net_null0 --vdev net_null1 --lcores "$lcores" --seconds "${SECONDS_TO_RUN:-10}"

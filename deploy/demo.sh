#!/usr/bin/env bash
# The main job: sets up a fresh Debian 12 machine (as root), builds espgate and shows the system working:
#  1. two espgate gateways on DPDK net_af_packet ports over veth pairs, in network namespaces with a host behind
#     each: gateway A negotiates IKEv1 with gateway B (Main Mode + Quick Mode), a ping between the hosts crosses
#     the tunnel, and both gateways print show crypto isakmp sa / show crypto ipsec sa (deploy/demo-gateways.sh);
#  2. the same with manually keyed crypto maps;
#  3. espgate-perf forwards between two DPDK null ports for a few seconds (testpmd's io mode), the I/O ceiling.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash deploy/setup.sh
if ! command -v cargo >/dev/null 2>&1; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
command -v ping >/dev/null 2>&1 || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iputils-ping >/dev/null; }
[ "$(nproc)" -ge 2 ] || { echo "espgate needs at least 2 CPUs (one control, one worker lcore)" >&2; exit 1; }
cargo build --release --locked -p espgate -p perf
./target/release/espgate version
echo
echo "== 1. two espgate gateways, SAs negotiated by IKEv1"
bash deploy/demo-gateways.sh --ike
echo
echo "== 2. two espgate gateways, manual keys"
bash deploy/demo-gateways.sh
echo
echo "== 3. espgate-perf fwd on two null ports"
./target/release/espgate-perf fwd --vdev net_null0 --vdev net_null1 --lcores 1 --seconds "${FWD_SECONDS:-5}"

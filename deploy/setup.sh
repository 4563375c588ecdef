#!/usr/bin/env bash
# Installs what espgate needs to build, run and test on Debian 12, as root. Safe to run again.
#   deploy/setup.sh            build and run dependencies (DPDK, clang for bindgen, iproute2)
#   deploy/setup.sh --tests    also the test oracles (Python venv with Scapy in target/venv)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

want_tests=0
for a in "$@"; do
  case "$a" in
    --tests) want_tests=1 ;;
    *) echo "usage: $0 [--tests]" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "deploy/setup.sh: run as root (it installs packages; DPDK and the tests need root too)" >&2
  exit 1
fi

# libipsec-mb-dev: intel-ipsec-mb, called directly by the CPU crypto backend (libdpdk-dev depends on it too).
pkgs=(libdpdk-dev libipsec-mb-dev dpdk-dev dpdk pkg-config clang libclang-dev iproute2 iputils-ping ca-certificates)
# g++: libfuzzer-sys builds libFuzzer for the fuzz smoke run.
# tshark: the capture/key-export oracle; shellcheck: the deploy scripts' lint; jq: the lab scripts.
[ "$want_tests" = 1 ] && pkgs+=(python3 python3-venv g++ tshark shellcheck jq)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Rust: espgate needs a current stable toolchain (rustup); Debian 12's own cargo is too old for its dependencies.
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "deploy/setup.sh: cargo not found. Install Rust with rustup (https://rustup.rs), then run this again." >&2
  exit 1
fi

if [ "$want_tests" = 1 ]; then
  venv="$root/target/venv"
  if ! "$venv/bin/python3" -c 'import scapy.layers.ipsec, cryptography' 2>/dev/null; then
    echo "== Python venv with Scapy and cryptography in $venv"
    rm -rf "$venv"
    mkdir -p "$root/target"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements-test.txt"
  fi
fi
echo "== setup done"

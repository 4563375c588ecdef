#!/usr/bin/env bash
# Installs espgate on a Debian 12 machine, as root, from a clone of the repository.
#
#   deploy/install.sh                     apt packages, release build, install, hugepages, systemd unit
#   deploy/install.sh --bin PATH          install this espgate binary instead of building one (no build packages)
#   deploy/install.sh --hugepages N       reserve N default-size hugepages at boot (default 1024 = 2 GiB of 2 MiB
#                                         pages; 0: leave hugepages alone)
#   deploy/install.sh --example NAME      the deploy/examples/NAME.toml copied to /etc/espgate/espgate.toml when
#                                         there is no config yet (default: site-to-site-psk)
#   deploy/install.sh --enable            also `systemctl enable espgate` (it is never started by this script)
#   deploy/install.sh --dry-run           print every action, change nothing (no root needed)
#   deploy/install.sh --prefix DIR        install under DIR instead of / (a staging tree: no apt, sysctl or
#                                         systemctl; paths inside the files stay the real ones)
#   deploy/install.sh --uninstall         remove what the install added; /etc/espgate (keys!) stays unless --purge
#
# An existing /etc/espgate/espgate.toml is never overwritten. Config files are installed mode 0600: they hold keys.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

# usage [STATUS]: the header above, to stderr when it answers a mistake.
usage() {
  if [ "${1:-2}" = 0 ]; then sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

bin=""
hugepages=1024
example="site-to-site-psk"
enable=0
dry=0
prefix=""
uninstall=0
purge=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) [ $# -ge 2 ] || usage; bin=$2; shift 2 ;;
    --hugepages) [ $# -ge 2 ] || usage; hugepages=$2; shift 2 ;;
    --example) [ $# -ge 2 ] || usage; example=$2; shift 2 ;;
    --prefix) [ $# -ge 2 ] || usage; prefix=$2; shift 2 ;;
    --enable) enable=1; shift ;;
    --dry-run) dry=1; shift ;;
    --uninstall) uninstall=1; shift ;;
    --purge) uninstall=1; purge=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "install.sh: unknown argument: $1" >&2; usage ;;
  esac
done
case "$hugepages" in
  ''|*[!0-9]*) echo "install.sh: --hugepages wants a number of pages, got '$hugepages'" >&2; exit 2 ;;
esac
if [ -n "$prefix" ]; then
  case "$prefix" in
    /*) ;;
    *) prefix="$(pwd)/$prefix" ;;
  esac
  prefix=${prefix%/}
  if [ -z "$prefix" ]; then
    echo "install.sh: --prefix / is the real system: leave --prefix out instead" >&2
    exit 2
  fi
fi
# The real system is touched only without --prefix and --dry-run.
live=0
[ -z "$prefix" ] && [ "$dry" = 0 ] && live=1

sbin=/usr/local/sbin
etc=/etc/espgate
unit=/etc/systemd/system/espgate.service
sysctl_conf=/etc/sysctl.d/80-espgate-hugepages.conf
modules_conf=/etc/modules-load.d/espgate.conf
docdir=/usr/local/share/doc/espgate

# Prints an action; runs it unless this is a dry run.
run() {
  echo "+ $*"
  [ "$dry" = 1 ] || "$@"
}

# write MODE DEST: DEST (under the prefix) gets stdin's content and MODE.
write() {
  local mode=$1 dest=$prefix$2 content
  content=$(cat)
  echo "+ write $dest (mode $mode)"
  if [ "$dry" = 1 ]; then
    printf '%s\n' "$content" | sed 's/^/    | /'
    return
  fi
  mkdir -p "$(dirname "$dest")"
  (umask 077 && printf '%s\n' "$content" > "$dest.tmp.$$")
  chmod "$mode" "$dest.tmp.$$"
  mv -f "$dest.tmp.$$" "$dest"
}

# put MODE SRC DEST: copy a file under the prefix.
put() {
  local mode=$1 src=$2 dest=$prefix$3
  run install -D -m "$mode" "$src" "$dest"
}

remove() {
  local p=$prefix$1
  if [ -e "$p" ] || [ -L "$p" ]; then
    run rm -rf -- "$p"
  else
    echo "  (not there: $p)"
  fi
}

have_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

if [ "$live" = 1 ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (or try --dry-run / --prefix DIR first)" >&2
  exit 1
fi

if [ "$uninstall" = 1 ]; then
  echo "== uninstall espgate${prefix:+ from $prefix}"
  if [ "$live" = 1 ] && have_systemd; then
    systemctl disable --now espgate.service 2>/dev/null || true
  elif [ "$dry" = 1 ] && [ -z "$prefix" ]; then
    echo "+ systemctl disable --now espgate.service"
  fi
  remove "$unit"
  remove "$sbin/espgate"
  remove "$docdir"
  remove "$sysctl_conf"
  remove "$modules_conf"
  if [ "$purge" = 1 ]; then
    remove "$etc"
  else
    echo "  kept $prefix$etc (configs and keys): remove it yourself, or run again with --purge"
  fi
  if [ "$live" = 1 ] && have_systemd; then
    systemctl daemon-reload
  fi
  echo "  hugepages reserved now stay until reboot (echo 0 > /proc/sys/vm/nr_hugepages frees them)"
  echo "== done"
  exit 0
fi

examples="$here/examples"
if [ ! -f "$examples/$example.toml" ]; then
  names=()
  for f in "$examples"/*.toml; do names+=("$(basename "$f" .toml)"); done
  echo "install.sh: no example '$example' (choose one of: ${names[*]})" >&2
  exit 2
fi

# 1. Packages. Runtime: DPDK's libraries and PMDs, dpdk-devbind.py (package dpdk) and what it calls (lspci, modprobe).
#    Build: DPDK headers, pkg-config, clang/libclang for bindgen, a C compiler for the shim.
#    libipsec-mb1/-dev: intel-ipsec-mb, which the CPU crypto backend calls directly (DPDK's aesni_mb PMD needs it too).
pkgs=(dpdk libipsec-mb1 pciutils kmod iproute2)
[ -z "$bin" ] && pkgs+=(libdpdk-dev libipsec-mb-dev pkg-config clang libclang-dev gcc libc6-dev)
if [ -n "$prefix" ]; then
  echo "== packages (skipped under --prefix): ${pkgs[*]}"
else
  missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "== apt packages: ${missing[*]}"
    run env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "== apt packages: all present"
  fi
fi

# 2. The binary: built here (release) unless --bin gives one.
if [ -z "$bin" ]; then
  if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "install.sh: cargo not found: install Rust with rustup (https://rustup.rs), or pass --bin PATH" >&2
    exit 1
  fi
  echo "== build"
  run cargo build --release --locked --manifest-path "$root/Cargo.toml" -p espgate
  bin="${CARGO_TARGET_DIR:-$root/target}/release/espgate"
fi
if [ "$dry" = 0 ] && [ ! -x "$bin" ]; then
  echo "install.sh: $bin is not an executable file" >&2
  exit 1
fi

echo "== install${prefix:+ under $prefix}"
put 0755 "$bin" "$sbin/espgate"
put 0644 "$here/espgate.service" "$unit"
put 0644 "$here/GUIDE.md" "$docdir/GUIDE.md"
run install -d -m 0700 "$prefix$etc" "$prefix$etc/examples"
for f in "$examples"/*.toml; do
  put 0600 "$f" "$etc/examples/$(basename "$f")"
done
if [ -e "$prefix$etc/espgate.toml" ]; then
  echo "  kept the existing $prefix$etc/espgate.toml"
else
  put 0600 "$examples/$example.toml" "$etc/espgate.toml"
  echo "  $prefix$etc/espgate.toml is the $example example: edit it (keys, addresses, devices) before starting"
fi

# 3. Boot-time setup: hugepages and the vfio-pci module (the unit may not load modules itself).
if [ "$hugepages" -gt 0 ]; then
  write 0644 "$sysctl_conf" <<EOF
# espgate (deploy/install.sh): hugepages for DPDK, of the default hugepage size (2 MiB unless the kernel command
# line says default_hugepagesz=1G). For 1 GiB pages reserve them on the kernel command line instead
# (default_hugepagesz=1G hugepagesz=1G hugepages=4): they are hard to find free after boot.
vm.nr_hugepages = $hugepages
EOF
else
  echo "  hugepages: left alone (--hugepages 0)"
fi
write 0644 "$modules_conf" <<'EOF'
# espgate (deploy/install.sh): the driver DPDK uses for PCI NICs; bind ports with dpdk-devbind.py -b vfio-pci ADDR.
vfio-pci
EOF

if [ "$live" = 1 ]; then
  if [ "$hugepages" -gt 0 ]; then
    # Now as well as at boot; the kernel may find fewer free pages than asked on a long-running machine.
    sysctl -q -p "$sysctl_conf" || echo "  warning: sysctl could not apply $sysctl_conf now; it applies at boot"
    got=$(cat /proc/sys/vm/nr_hugepages)
    [ "$got" -ge "$hugepages" ] || echo "  warning: only $got of $hugepages hugepages reserved now; reboot to get them"
  fi
  modprobe vfio-pci 2>/dev/null || echo "  warning: could not load vfio-pci now (no IOMMU? see GUIDE.md)"
  if have_systemd; then
    systemctl daemon-reload
    if [ "$enable" = 1 ]; then
      systemctl enable espgate.service
    fi
  else
    echo "  systemd is not running here: the unit is installed but not loaded"
  fi
  "$sbin/espgate" check-config "$etc/espgate.toml" || echo "  the config does not load yet: fix it before starting"
elif [ -z "$prefix" ]; then
  [ "$hugepages" -gt 0 ] && echo "+ sysctl -q -p $sysctl_conf"
  echo "+ modprobe vfio-pci"
  echo "+ systemctl daemon-reload"
  [ "$enable" = 1 ] && echo "+ systemctl enable espgate.service"
  echo "+ $sbin/espgate check-config $etc/espgate.toml"
fi

cat <<EOF
== done. Next:
   1. bind the NIC ports:   dpdk-devbind.py --status; dpdk-devbind.py -b vfio-pci 0000:03:00.0 0000:03:00.1
   2. edit the config:      \$EDITOR $etc/espgate.toml; espgate check-config $etc/espgate.toml
   3. start:                systemctl start espgate; espgate show interfaces
   Real NICs, cores, hugepages and troubleshooting: $docdir/GUIDE.md
EOF

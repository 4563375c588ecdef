# common.sh: names, defaults and helpers shared by the lab scripts. Sourced, never executed.
# shellcheck shell=bash disable=SC2034
#
# Two variables keep labs apart, so several can run at once (two developers, CI next to a demo):
#   LAB_PREFIX   prefix of every namespace name            [lab-]   (letters, digits, '-', at most 12)
#   LAB_RUN_DIR  state: topology.env, peers, CA, captures  [/tmp/espgate-lab/$LAB_PREFIX]
# Interface names need no prefix: every veth end is created directly inside its namespace.

LAB_PREFIX=${LAB_PREFIX-lab-}
LAB_RUN_DIR=${LAB_RUN_DIR:-/tmp/espgate-lab/${LAB_PREFIX:-noprefix}}
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_ENV="$LAB_RUN_DIR/topology.env"

# Every namespace name a topology of this prefix can use; netns-down removes all of them, whichever topology is up.
lab_all_ns() {
  local n
  for n in left-lan left gw-lan gw gw2-lan gw2 nat right right-lan; do echo "${LAB_PREFIX}$n"; done
}

die() { echo "$(basename "$0"): error: $*" >&2; exit 1; }
log() { echo "$(basename "$0"): $*" >&2; }
need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces need CAP_NET_ADMIN)"; }
need_cmd() { # need_cmd CMD PACKAGE
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found: run deploy/lab/install-deps (package $2)"
}
ns_exists() { [[ -e /run/netns/$1 ]]; }

check_prefix() {
  [[ $LAB_PREFIX =~ ^[A-Za-z0-9-]{0,12}$ ]] || die "LAB_PREFIX '$LAB_PREFIX': use at most 12 of [A-Za-z0-9-]"
}

# wait_until TIMEOUT_S CMD...: poll CMD every 0.1 s until it succeeds; fail after TIMEOUT_S seconds.
# All readiness checks go through this instead of fixed sleeps, so a fast machine is not slowed down and a slow
# one gets the whole timeout.
wait_until() {
  local timeout=$1 deadline
  shift
  deadline=$((SECONDS + timeout))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# lab_mkrundir: create LAB_RUN_DIR with a marker file; `netns-down --purge` deletes only marked directories.
lab_mkrundir() {
  mkdir -p "$LAB_RUN_DIR"
  [[ -f $LAB_RUN_DIR/.espgate-lab ]] || echo "espgate lab state; deploy/lab/netns-down --purge removes it" >"$LAB_RUN_DIR/.espgate-lab"
}

# lab_load_env: source the topology file written by netns-up, or fail with a hint.
lab_load_env() {
  [[ -f $LAB_ENV ]] || die "no lab topology at $LAB_ENV (run deploy/lab/netns-up with the same LAB_PREFIX/LAB_RUN_DIR)"
  # shellcheck source=/dev/null
  . "$LAB_ENV"
}

# pid_gone PID: the process has exited. A zombie counts as gone: the daemons the lab starts are detached (setsid),
# so once they exit only init can reap them, and in a container that can take seconds; `kill -0` would wait for it.
pid_gone() {
  local state
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 0
  [[ -z $state || $state == Z ]]
}

# kill_pid_gently PID: TERM, wait up to 5 s, then KILL. Only ever called with pids the lab started
# (read back from its own pid files or from `ip netns pids` of its own namespaces).
kill_pid_gently() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  wait_until 5 pid_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
}

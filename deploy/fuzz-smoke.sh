#!/usr/bin/env bash
# Fuzz smoke run: builds the cargo-fuzz targets in fuzz/ and runs each for a bounded time (FUZZ_SECONDS, default 30)
# from its committed seed corpus, after replaying fuzz/regressions/<target>/*. Prints executions per target and exits
# non-zero if any target crashes, leaks past its limits or fails to build; crash inputs are kept under
# $FUZZ_WORK/artifacts.
#
# Needs: cargo-fuzz (`cargo install cargo-fuzz --locked`), a C++ compiler (libfuzzer-sys builds libFuzzer), and a
# Rust toolchain that accepts -Zsanitizer: nightly, or stable with RUSTC_BOOTSTRAP=1 (set here unless
# FUZZ_TOOLCHAIN names a nightly). Usage: deploy/fuzz-smoke.sh [target...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"
if ! command -v cargo >/dev/null 2>&1; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
# A fresh machine has no cargo-fuzz: install it from crates.io (about a minute).
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== cargo install cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi
seconds=${FUZZ_SECONDS:-30}
toolchain=${FUZZ_TOOLCHAIN:-stable}
sanitizer=${FUZZ_SANITIZER:-address}
work=${FUZZ_WORK:-$(mktemp -d /tmp/espgate-fuzz.XXXXXX)}
target_dir=${FUZZ_TARGET_DIR:-$root/fuzz/target}
case "$toolchain" in nightly*) ;; *) export RUSTC_BOOTSTRAP=1 ;; esac
all=(isakmp_message ike_responder esp_inbound ah_inbound datapath_frame config_toml)
targets=("${@:-${all[@]}}")

echo "== cargo +$toolchain fuzz build -s $sanitizer (${targets[*]})"
cargo "+$toolchain" fuzz build -s "$sanitizer" --target-dir "$target_dir"
bin="$target_dir/x86_64-unknown-linux-gnu/release"
mkdir -p "$work/artifacts"
failed=()
for t in "${targets[@]}"; do
  if [ -d "$root/fuzz/regressions/$t" ] && [ -n "$(ls -A "$root/fuzz/regressions/$t")" ]; then
    echo "== $t: replaying fuzz/regressions/$t"
    if ! "$bin/$t" -runs=1 "$root/fuzz/regressions/$t"/* >"$work/$t.regressions.log" 2>&1; then
      tail -n 30 "$work/$t.regressions.log"
      failed+=("$t(regression)")
    fi
  fi
  # libFuzzer adds new inputs to the first corpus directory: a scratch copy, so the committed corpus stays as is.
  mkdir -p "$work/corpus/$t"
  cp -r "$root/fuzz/corpus/$t/." "$work/corpus/$t/"
  echo "== $t: ${seconds}s"
  status=0
  "$bin/$t" "$work/corpus/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/$t-" >"$work/$t.log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$t.log")
  echo "$t: ${runs:-0} executions (${rate:-0}/s), exit $status"
  if [ "$status" -ne 0 ]; then
    grep -E -A8 "panicked at|ERROR: |SUMMARY:" "$work/$t.log" | head -n 40 || tail -n 40 "$work/$t.log"
    failed+=("$t")
  fi
done
if [ "${#failed[@]}" -ne 0 ]; then
  echo "FAILED: ${failed[*]} (logs and crash inputs in $work)"
  exit 1
fi
echo "== fuzz smoke passed (logs in $work)"

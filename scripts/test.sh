#!/usr/bin/env bash
# The README's test command: installs dependencies, then builds and runs the
# whole suite twice, as a normal build and under ASan + UBSan; builds everything with clang
# and runs the unit tests; runs every fuzz target for a fixed number of inputs
# (scripts/fuzz.sh); and, where its root is prepared, the systemd trial (tests/README.md).
# Each stage prints its time.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
stage() {  # stage NAME COMMAND...: runs it and says how long it took
  local name=$1 t0=$SECONDS
  shift
  echo "=== $name"
  "$@"
  echo "=== $name: $((SECONDS - t0)) s (total $((SECONDS - started)) s)"
}

stage "install dependencies" ./scripts/install-deps.sh
for preset in default asan; do
  stage "$preset: configure" cmake --preset "$preset"
  stage "$preset: build" cmake --build --preset "$preset"
  stage "$preset: test" ctest --preset "$preset" -j "$(nproc)"
done
# A second compiler over the whole code base, warnings as errors; its unit tests only (the
# integration tests exercise the same code paths and already run twice above).
stage "clang: configure" cmake --preset clang
stage "clang: build" cmake --build --preset clang
stage "clang: unit tests" ctest --preset clang -j "$(nproc)"
stage "fuzz" ./scripts/fuzz.sh

# The operator trial under a booted systemd (tests/systemd-boot/run.sh, about a minute). It
# needs a root prepared once by tests/systemd-boot/prepare-root.sh; without one it exits 77.
systemd_trial() {
  local rc=0
  ./tests/systemd-boot/run.sh build/default || rc=$?
  if [ "$rc" -eq 77 ]; then
    echo "systemd trial: skipped (tests/README.md says how to prepare it)"
    return 0
  fi
  return "$rc"
}
stage "systemd trial" systemd_trial

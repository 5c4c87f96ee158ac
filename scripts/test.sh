#!/usr/bin/env bash
# The README's test command: installs dependencies, then builds and runs the
# whole suite twice, as a normal build and under ASan + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh

for preset in default asan; do
  echo "=== $preset: configure and build"
  cmake --preset "$preset"
  cmake --build --preset "$preset"
  echo "=== $preset: test"
  ctest --preset "$preset" -j "$(nproc)"
done

#!/usr/bin/env bash
# The README's test command: installs dependencies, then builds and runs the
# whole suite twice, as a normal build and under ASan + UBSan; builds everything with clang
# and runs the unit tests; builds the two binaries as Release with Debian's hardening flags;
# runs every fuzz target for a fixed number of inputs (scripts/fuzz.sh); and, where its root
# is prepared, the systemd trial (tests/README.md). Each stage prints its time.
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

# Release (-O3) the way a Debian packager builds it: dpkg-buildflags with every hardening
# feature on, warnings as errors (the release preset). parleyd and parley only: the suite
# already ran above, and this build is here for the warnings that only -O3 shows.
release_configure() {
  local cxxflags ldflags
  cxxflags="$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get CPPFLAGS) $(
    DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get CXXFLAGS)"
  ldflags=$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get LDFLAGS)
  echo "CXXFLAGS: $cxxflags"
  echo "LDFLAGS: $ldflags"
  cmake --preset release -DCMAKE_CXX_FLAGS="$cxxflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags"
}
stage "release: configure" release_configure
stage "release: build" cmake --build --preset release

stage "fuzz" ./scripts/fuzz.sh

# The operator trial under a booted systemd (tests/systemd-boot/run.sh, 20-60 s). It
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

# shellcheck shell=bash
# Shared by prepare-root.sh and run.sh (sourced, not run).

# The prepared root, and the file that says it is complete.
# shellcheck disable=SC2034 # used by the scripts that source this file
root=${PARLEY_SYSTEMD_ROOT:-/var/cache/parley-systemd-root}
marker=.parley-systemd-root

die() {
  echo "FAIL: $*" >&2
  exit 1
}

# require_built BUILD_DIR: fails unless BUILD_DIR is a configured and built tree.
require_built() {
  if [ ! -f "$1/CMakeCache.txt" ] || [ ! -x "$1/server/parleyd" ] || [ ! -x "$1/client/parley" ]; then
    die "$1 is not a built tree: cmake --preset default && cmake --build --preset default"
  fi
}

# make_deb BUILD_DIR OUT_DIR: the .deb of an already built tree, made with CPack into OUT_DIR;
# prints its path.
make_deb() {
  local build=$1 out=$2 deb
  require_built "$build"
  command -v cpack >/dev/null || die "cpack not found: install cmake (scripts/install-deps.sh)"
  (cd "$build" && cpack -G DEB -B "$out") >"$out/cpack.log" 2>&1 ||
    { cat "$out/cpack.log" >&2; die "cpack -G DEB failed"; }
  deb=$(find "$out" -maxdepth 1 -name 'parley_*.deb' -print -quit)
  [ -n "$deb" ] || die "cpack made no parley_*.deb in $out"
  echo "$deb"
}

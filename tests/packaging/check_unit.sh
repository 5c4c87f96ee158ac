#!/usr/bin/env bash
# systemd checks on parleyd.service or the template parleyd@.service, on a copy whose ExecStart=
# points at the built binary
# (systemd-analyze verify wants the binaries to exist; no running systemd is needed).
#   check_unit.sh verify   UNIT PARLEYD MANDIR   -> no output at all from systemd-analyze verify
#   check_unit.sh security UNIT PARLEYD MAXSCORE -> exposure at most MAXSCORE (e.g. 2.0)
set -euo pipefail
mode=$1 unit=$(realpath "$2") parleyd=$(realpath "$3") arg=$4
# The copy keeps the unit's name: a template (parleyd@.service) is checked as an instance of it.
name=$(basename "$unit")

fail() { echo "FAIL: $*" >&2; exit 1; }
if [ "$mode" = verify ]; then arg=$(realpath "$arg"); fi
command -v systemd-analyze >/dev/null ||
  fail "systemd-analyze not found: install the 'systemd' package (scripts/install-deps.sh does)"
[ -x /bin/kill ] || fail "/bin/kill (ExecReload=) not found: install 'procps'"
[ -x "$parleyd" ] || fail "$parleyd is not built"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
sed "s|^ExecStart=/usr/bin/parleyd |ExecStart=$parleyd |" "$unit" >"$scratch/$name"
grep -q "^ExecStart=$parleyd " "$scratch/$name" || fail "no ExecStart=/usr/bin/parleyd in $unit"
cd "$scratch"

case $mode in
  verify)
    # Documentation=man:... is checked against the man pages built in MANDIR.
    set +e
    out=$(MANPATH="$arg" SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "./$name" 2>&1)
    rc=$?
    set -e
    echo "$out"
    [ $rc -eq 0 ] || fail "systemd-analyze verify exited $rc"
    # verify exits 0 on unknown keys and similar warnings: clean means silent.
    [ -z "$out" ] || fail "systemd-analyze verify is not clean (output above)"
    echo "systemd-analyze verify: clean"
    ;;
  security)
    set +e
    out=$(systemd-analyze security --offline=true --no-pager "./$name" 2>&1)
    rc=$?
    set -e
    echo "$out" | grep -E '^✗|Overall exposure' || true
    score=$(echo "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    [ -n "$score" ] || { echo "$out"; fail "no exposure level in systemd-analyze security's output (rc $rc)"; }
    awk -v s="$score" -v m="$arg" 'BEGIN { exit !(s <= m) }' ||
      fail "exposure $score is above $arg"
    echo "exposure $score <= $arg"
    ;;
  *) fail "unknown mode $mode" ;;
esac

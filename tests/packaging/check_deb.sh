#!/usr/bin/env bash
# Builds the .deb with CPack, unpacks it with dpkg -x into a scratch root, and finds every
# file where the unit and the README say it is; then (mode lintian) runs lintian on it.
#   check_deb.sh contents BUILD_DIR SOURCE_DIR OUT_DIR
#   check_deb.sh lintian  BUILD_DIR SOURCE_DIR OUT_DIR   (uses the .deb `contents` left in OUT_DIR)
set -euo pipefail
mode=$1 build=$2 source=$3 out=$4
fail() { echo "FAIL: $*" >&2; exit 1; }
need() {
  command -v "$1" >/dev/null || fail "$1 not found: install '$2' (scripts/install-deps.sh does)"
}

if [ "$mode" = lintian ]; then
  need lintian lintian
  deb=$(ls "$out"/parley_*.deb 2>/dev/null | head -n1)
  [ -n "$deb" ] || fail "no .deb in $out (the package.deb test makes it)"
  # Exit status (lintian(1)): 0 ran and found nothing at --fail-on's level, 2 found errors,
  # anything else (1: a run-time error, such as a .deb it cannot read) means it did not check
  # the package, which must not pass as "0 errors".
  rc=0
  lintian --fail-on error --info --display-level '>=info' "$deb" >"$out/lintian.log" 2>&1 || rc=$?
  grep -v '^N:\|root privileges' "$out/lintian.log" | tee "$out/lintian.txt" || true
  errors=$(grep -c '^E:' "$out/lintian.txt" || true)
  warnings=$(grep -c '^W:' "$out/lintian.txt" || true)
  echo "lintian: exit status $rc, $errors errors, $warnings warnings"
  case $rc in
    0) ;;
    2) fail "lintian reports errors" ;;
    *) fail "lintian did not check $(basename "$deb") (exit status $rc, output above)" ;;
  esac
  [ "$errors" -eq 0 ] || fail "lintian reports errors but exited 0"
  exit 0
fi

need cpack cmake
need dpkg-deb dpkg
need dpkg-shlibdeps dpkg-dev
rm -rf "$out"
mkdir -p "$out"
( cd "$build" && cpack -G DEB -B "$out" ) >"$out/cpack.log" 2>&1 ||
  { cat "$out/cpack.log"; fail "cpack -G DEB failed"; }
deb=$(ls "$out"/parley_*.deb | head -n1)
[ -n "$deb" ] || fail "cpack made no parley_*.deb"
echo "built $(basename "$deb")"
root="$out/root"
dpkg -x "$deb" "$root"
dpkg-deb -e "$deb" "$out/control"

# From the unit: the binary, the config it is started with, its documentation.
unit="$root/usr/lib/systemd/system/parleyd.service"
[ -f "$unit" ] || fail "no /usr/lib/systemd/system/parleyd.service in the package"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
binary=${exec_start%% *}
config=$(echo "$exec_start" | sed -n 's/.*--config \([^ ]*\).*/\1/p')
[ "$binary" = /usr/bin/parleyd ] || fail "ExecStart= runs $binary, not /usr/bin/parleyd"
[ -x "$root$binary" ] || fail "ExecStart= binary $binary is not in the package"
[ "$config" = /etc/parley/parleyd.json ] || fail "ExecStart= reads $config"
[ -f "$root$config" ] || fail "the unit's config $config is not in the package"
grep -qx "$config" "$out/control/conffiles" || fail "$config is not a conffile"
for doc in $(sed -n 's/^Documentation=//p' "$unit"); do
  name=${doc#man:}
  page=${name%%(*}
  section=${name#*(}
  section=${section%)}
  [ -f "$root/usr/share/man/man$section/$page.$section.gz" ] ||
    fail "Documentation=$doc: no /usr/share/man/man$section/$page.$section.gz"
done

# The template: installed, on the instance's own config, never enabled by the package (it has
# no DefaultInstance= and the package ships no link in /etc/systemd).
template="$root/usr/lib/systemd/system/parleyd@.service"
[ -f "$template" ] || fail "no /usr/lib/systemd/system/parleyd@.service in the package"
grep -qx 'ExecStart=/usr/bin/parleyd --config /etc/parley/parleyd@%i.json' "$template" ||
  fail "the template's ExecStart= is $(grep ExecStart= "$template")"
grep -q '^DefaultInstance=' "$template" && fail "the template has a DefaultInstance=: it would be enabled"
[ ! -e "$root/etc/systemd" ] || fail "the package ships /etc/systemd: $(find "$root/etc/systemd")"

# Every path a README section names (matching `pattern`) must be in the package.
check_readme_paths() {
  local section=$1 pattern=$2 paths p
  paths=$(sed -n "/^## $section/,/^## /p" "$source/README.md" | grep -o "$pattern" | sort -u)
  [ -n "$paths" ] || fail "README has no '$section' section naming files"
  for p in $paths; do
    [ -e "$root$p" ] || fail "README names $p, which is not in the package"
  done
}
# "Running as a service": every absolute path it names.
check_readme_paths "Running as a service" '/\(usr\|etc/parley\)/[A-Za-z0-9_./@-]*[A-Za-z0-9_]'
# "More than one core or machine": what it names under /usr (/etc/parley/parleyd@N.json there
# are the operator's own files).
check_readme_paths "More than one core or machine" '/usr/[A-Za-z0-9_./@-]*[A-Za-z0-9_]'
for f in /usr/share/doc/parley/copyright /usr/share/doc/parley/changelog.Debian.gz \
  /usr/bin/parley /usr/share/man/man1/parley.1.gz /usr/share/doc/parley/examples/parleyd.logrotate \
  /usr/share/doc/parley/examples/parleyd@.json \
  /usr/bin/parleyctl /usr/share/man/man8/parleyctl.8.gz; do
  [ -f "$root$f" ] || fail "$f is not in the package"
done

# Depends: Debian runtime packages, never a -dev package.
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
echo "$depends" | grep -q 'libbotan-2-19' || fail "Depends lacks libbotan-2-19"
echo "$depends" | grep -q 'libssl3' || fail "Depends lacks libssl3 (TLS listeners)"
# ExecReload=/bin/kill: systemctl reload fails with 203/EXEC where procps is missing.
echo "$depends" | grep -qw 'procps' || fail "Depends lacks procps (/bin/kill for ExecReload=)"
echo "$depends" | grep -q -- '-dev' && fail "Depends names a -dev package"
# The packaged binary runs, and the shipped config validates with it.
"$root/usr/bin/parleyd" --check-config "$root$config" || fail "the packaged config is invalid"
echo "package contents: ok"

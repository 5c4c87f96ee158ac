#!/usr/bin/env bash
# `cmake --install` into scratch roots: every file in its GNUInstallDirs place, and the unit's
# paths following the prefix (/usr -> /etc/parley, /usr/local -> /usr/local/etc/parley).
#   check_install.sh BUILD_DIR
set -euo pipefail
build=$1
fail() { echo "FAIL: $*" >&2; exit 1; }

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

check_prefix() {
  local prefix=$1 etc=$2 root="$scratch/root${1//\//_}"
  DESTDIR="$root" cmake --install "$build" --prefix "$prefix" >"$scratch/install.log" ||
    { cat "$scratch/install.log"; fail "cmake --install --prefix $prefix failed"; }
  for f in \
    "$prefix/bin/parleyd" \
    "$prefix/bin/parley" \
    "$prefix/lib/systemd/system/parleyd.service" \
    "$prefix/lib/systemd/system/parleyd@.service" \
    "$etc/parley/parleyd.json" \
    "$prefix/share/man/man8/parleyd.8.gz" \
    "$prefix/share/man/man1/parley.1.gz" \
    "$prefix/share/man/man5/parleyd.json.5.gz" \
    "$prefix/share/doc/parley/README.md" \
    "$prefix/share/doc/parley/logging.md" \
    "$prefix/share/doc/parley/config.md" \
    "$prefix/share/doc/parley/metrics.md" \
    "$prefix/share/doc/parley/cluster.md" \
    "$prefix/share/doc/parley/copyright" \
    "$prefix/share/doc/parley/examples/parleyd.example.json" \
    "$prefix/share/doc/parley/examples/parleyd.logrotate" \
    "$prefix/share/doc/parley/examples/parleyd@.json"; do
    [ -f "$root$f" ] || fail "prefix $prefix: $f not installed"
  done
  [ -x "$root$prefix/bin/parleyd" ] || fail "$prefix/bin/parleyd is not executable"
  local unit="$root$prefix/lib/systemd/system/parleyd.service"
  grep -qx "ExecStart=$prefix/bin/parleyd --config $etc/parley/parleyd.json" "$unit" ||
    fail "prefix $prefix: unexpected ExecStart= in the installed unit: $(grep ExecStart= "$unit")"
  # The template: one config per instance, its own runtime directory, the shared state directory.
  local template="$root$prefix/lib/systemd/system/parleyd@.service"
  grep -qx "ExecStart=$prefix/bin/parleyd --config $etc/parley/parleyd@%i.json" "$template" ||
    fail "prefix $prefix: unexpected ExecStart= in the installed template: $(grep ExecStart= "$template")"
  grep -qx 'StateDirectory=parleyd' "$template" || fail "the template has no StateDirectory=parleyd"
  grep -qx 'RuntimeDirectory=parleyd@%i' "$template" || fail "the template has no RuntimeDirectory=parleyd@%i"
  "$root$prefix/bin/parleyd" --check-config "$root$prefix/share/doc/parley/examples/parleyd@.json" ||
    fail "the example instance configuration does not validate"
  for page in "$root$prefix"/share/man/man*/*.gz; do
    gzip -t "$page" || fail "$page is not gzip"
  done
  # The shipped configuration is valid, and its key lives in the unit's StateDirectory.
  "$root$prefix/bin/parleyd" --check-config "$root$etc/parley/parleyd.json" ||
    fail "the installed parleyd.json does not validate"
  grep -q '"identity_key": "/var/lib/parleyd/identity.pem"' "$root$etc/parley/parleyd.json" ||
    fail "parleyd.json's identity_key is not in StateDirectory=parleyd"
  grep -qx 'StateDirectory=parleyd' "$unit" || fail "the unit has no StateDirectory=parleyd"
  # A second install keeps an operator's edits to the configuration.
  echo '{"listen": [{"address": "::1", "port": 7000}]}' >"$root$etc/parley/parleyd.json"
  DESTDIR="$root" cmake --install "$build" --prefix "$prefix" >"$scratch/install.log" ||
    fail "second cmake --install --prefix $prefix failed"
  grep -q '"::1"' "$root$etc/parley/parleyd.json" || fail "reinstalling overwrote parleyd.json"
  echo "prefix $prefix: ok"
}

check_prefix /usr /etc
check_prefix /usr/local /usr/local/etc

#!/usr/bin/env bash
# Prepares, once, the Debian 12 root that tests/systemd-boot/run.sh boots with systemd-nspawn:
# a minbase debootstrap of bookworm with systemd, systemd-sysv, dbus and jq, and the .deb's
# dependencies in its apt cache (so that the trial itself needs no network). Needs root and
# the Debian archive, like scripts/install-deps.sh; installs debootstrap and systemd-container
# on the host when they are missing.
#
#   tests/systemd-boot/prepare-root.sh [BUILD_DIR]      (default: build/default, already built)
#
# Environment:
#   PARLEY_SYSTEMD_ROOT   where the root lives (default /var/cache/parley-systemd-root)
#   PARLEY_DEBIAN_MIRROR  the archive (default http://deb.debian.org/debian; security updates
#                         come from PARLEY_DEBIAN_SECURITY, default http://deb.debian.org/debian-security)
#
# A prepared root is kept: running this again only refreshes the cached dependencies of the
# .deb built from BUILD_DIR (needed when the package gains a dependency). Delete the directory
# to start over. The root itself is never booted read-write: run.sh overlays it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"

build=${1:-$here/../../build/default}
[ $# -le 1 ] || die "usage: $0 [BUILD_DIR]"
[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot)"
require_built "$build"

host_packages=()
command -v debootstrap >/dev/null || host_packages+=(debootstrap)
command -v systemd-nspawn >/dev/null || host_packages+=(systemd-container)
if [ ${#host_packages[@]} -gt 0 ]; then
  echo "prepare-root: installing ${host_packages[*]} on the host"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${host_packages[@]}"
fi

mirror=${PARLEY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${PARLEY_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}

# The chroot's apt needs the host's resolver while it downloads.
in_root() {
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8 "$@"
}

if [ -f "$root/$marker" ]; then
  echo "prepare-root: $root is already prepared ($(head -n1 "$root/$marker")); refreshing the .deb's dependencies"
else
  # Built beside the final place and renamed at the end: a half-made root is never "prepared".
  partial="$root.partial"
  rm -rf "$partial"
  mkdir -p "$(dirname "$root")"
  t0=$SECONDS
  echo "prepare-root: debootstrap --variant=minbase bookworm into $partial (a few minutes)"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,jq \
    bookworm "$partial" "$mirror" >"$partial.log" 2>&1 ||
    { tail -n 30 "$partial.log" >&2; die "debootstrap failed (log: $partial.log)"; }
  root=$partial
  cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
  # Keep every downloaded .deb: the trial installs from this cache with no network.
  rm -f "$root/etc/apt/apt.conf.d/docker-clean"
  echo 'APT::Keep-Downloaded-Packages "true";' >"$root/etc/apt/apt.conf.d/99parley-keep-debs"
  echo parley-trial >"$root/etc/hostname"
  # A container has no consoles to log in on and no hardware clock.
  for unit in getty@tty1.service console-getty.service systemd-timesyncd.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
  done
  in_root apt-get update -q >>"$partial.log" 2>&1 || { tail -n 30 "$partial.log" >&2; die "apt-get update failed"; }
  in_root apt-get -y -q dist-upgrade >>"$partial.log" 2>&1 ||
    { tail -n 30 "$partial.log" >&2; die "apt-get dist-upgrade failed (log: $partial.log)"; }
  echo "prepare-root: debootstrap and updates took $((SECONDS - t0)) s"
  root=${partial%.partial}
  mv "$partial" "$root"
  rm -f "$partial.log"
  echo "bookworm minbase + systemd systemd-sysv dbus jq, prepared $(date -u +%FT%TZ)" >"$root/$marker"
fi

# debootstrap writes no /etc/hosts (the installer does): without one, "localhost" does not
# resolve in a container with no network.
if [ ! -f "$root/etc/hosts" ]; then
  printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
fi

# The package's dependencies, as `apt install ./parley.deb` will want them, into the apt cache.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"; rm -f "$root/var/tmp/parley.deb"' EXIT
deb=$(make_deb "$build" "$scratch")
cp "$deb" "$root/var/tmp/parley.deb"
in_root apt-get update -q >"$scratch/apt.log" 2>&1 || { cat "$scratch/apt.log" >&2; die "apt-get update failed"; }
in_root apt-get install -y -q --download-only /var/tmp/parley.deb >>"$scratch/apt.log" 2>&1 ||
  { tail -n 30 "$scratch/apt.log" >&2; die "apt-get install --download-only ./parley.deb failed"; }
echo "prepare-root: dependencies of $(basename "$deb") ($(dpkg-deb -f "$deb" Depends)) cached"
echo "prepare-root: $root is ready ($(du -sh "$root" | cut -f1)); now run tests/systemd-boot/run.sh"

#!/usr/bin/env bash
# Installs what bench/compare.sh needs beyond scripts/install-deps.sh, from Debian 12's own
# packages: the three peers, gnuplot for the plot, and perf for profiles. Not part of CI.
# The Debian packages of mosquitto and ngircd start a system service where services can start
# (systemd); this script stops and disables them, since compare.sh runs its own instances
# on other ports with its own configs.
set -euo pipefail

packages=(mosquitto nats-server ngircd gnuplot-nox linux-perf python3 iproute2 util-linux)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  sudo=(false)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-bench-deps: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-bench-deps: all ${#packages[@]} packages present"
fi

# The packaged services are not used by the bench: stop and disable them where systemd runs.
if [ -d /run/systemd/system ]; then
  for unit in mosquitto.service ngircd.service nats-server.service; do
    if systemctl list-unit-files "$unit" >/dev/null 2>&1; then
      "${sudo[@]}" systemctl disable --now "$unit" >/dev/null 2>&1 || true
    fi
  done
fi

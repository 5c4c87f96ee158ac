#!/usr/bin/env bash
# Installs everything Parley needs to build, test and run, from Debian 12's
# own packages. Idempotent: when every package is already there it changes
# nothing and needs no network. Works as root or through sudo.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libboost1.81-dev libbotan-2-dev libspdlog-dev nlohmann-json3-dev libcli11-dev libedit-dev
  # TLS listeners (asio::ssl on OpenSSL 3); the openssl and gnutls-cli clients for their tests.
  libssl-dev openssl gnutls-bin
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format
  # The cluster (docs/cluster.md): the NATS C client parleyd links, and the server the tests start.
  libnats-dev nats-server
  # The second compiler and libFuzzer (scripts/fuzz.sh, the clang and fuzz presets).
  clang-14 libclang-rt-14-dev
  tmux
  # Operations tests: the unit (systemd-analyze; /bin/kill from procps for ExecReload=; man
  # for Documentation=), the .deb (cpack needs dpkg-dev's dpkg-shlibdeps; lintian, file), and
  # the documented jq one-liners.
  systemd procps man-db dpkg-dev lintian file jq
  # Not here: Debian's `prometheus` (for promtool, which Metrics.PromtoolChecksTheScrape uses when
  # present) also installs and enables a Prometheus server; the strict in-repo reader of the text
  # format runs either way. `apt-get install prometheus` to add the promtool check.
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"

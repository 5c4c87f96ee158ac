#!/usr/bin/env bash
# The README's first command: installs dependencies, builds, and starts the
# server, parleyd, on its embedded default configuration
# (127.0.0.1:7777, identity key generated on first start). Extra arguments go to
# parleyd, e.g. ./scripts/start.sh --config /etc/parley/parleyd.json
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cmake --preset default
cmake --build --preset default
exec ./build/default/server/parleyd "$@"

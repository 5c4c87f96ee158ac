#!/usr/bin/env bash
# The README's first command: installs dependencies, builds, and starts the
# main program on its embedded default configuration.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cmake --preset default
cmake --build --preset default
exec ./build/default/server/parley-demo "$@"

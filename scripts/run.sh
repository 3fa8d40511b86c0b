#!/usr/bin/env bash
# Sets up the machine, builds, and starts the sidecar on its defaults: the HTTP daemon
# (mcp-state-sidecar-http) serving MCP at http://127.0.0.1:8000/mcp, state in the SQLite file
# ./state_sidecar.db (DB_PATH overrides it). SIDECAR_TRANSPORT=stdio serves MCP over stdio instead.
# Arguments go to the server, e.g.
#   bash scripts/run.sh --log-level debug
#   bash scripts/run.sh --port 8080
#   bash scripts/run.sh --help
# Environment: SIDECAR_BUILD_PRESET (default: release) picks the CMake preset; every setting of
# the server (DB_PATH, STATE_BACKEND, SIDECAR_*; see docs/configuration.md) is passed through.
#
# stdout carries MCP messages only: set-up and build output go to stderr, so an MCP host may
# launch this script directly.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
preset="${SIDECAR_BUILD_PRESET:-release}"
export SIDECAR_SKIP_NPM="${SIDECAR_SKIP_NPM:-1}" # the interop client is for tests only

bash "$ROOT/scripts/setup.sh" --preset "$preset" >&2

binary=mcp-state-sidecar-http
if [[ ${SIDECAR_TRANSPORT:-http} == stdio ]]; then
    binary=mcp-state-sidecar
fi
server="$ROOT/build/$preset/server/$binary"
if [[ ! -x $server ]]; then
    echo "run: $server was not built" >&2
    exit 1
fi
export DB_PATH="${DB_PATH:-./state_sidecar.db}"
if [[ $binary == mcp-state-sidecar && -t 0 ]]; then
    echo "run: serving MCP over stdio with DB_PATH=$DB_PATH; send JSON-RPC lines, Ctrl-D to stop" >&2
fi
exec "$server" "$@"

#!/usr/bin/env bash
# Makes the inspector's screenshots in docs/images (inspector-<tab>.png and
# inspector-protocol-log.png): builds the inspector-screenshots tool (not part of the default
# build), which starts the sidecar on a temporary SQLite file, fills it as a small team of agents
# would, opens the inspector on it and saves a picture of each tab. Rendered offscreen: no display
# is needed.
#
#   bash scripts/screenshots.sh              into docs/images
#   bash scripts/screenshots.sh --out DIR    somewhere else
#
# Environment: SIDECAR_BUILD_PRESET (default: release) picks the CMake preset whose build
# directory is used; SIDECAR_BUILD_DIR uses an already configured build directory instead (and skips
# scripts/setup.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
preset="${SIDECAR_BUILD_PRESET:-release}"
build="${SIDECAR_BUILD_DIR:-$ROOT/build/$preset}"

if [[ -z ${SIDECAR_BUILD_DIR:-} ]]; then
    SIDECAR_SKIP_NPM="${SIDECAR_SKIP_NPM:-1}" bash "$ROOT/scripts/setup.sh" --preset "$preset"
fi
cmake --build "$build" --target inspector-screenshots >&2

out=(--out "$ROOT/docs/images")
if [[ $# -gt 0 ]]; then
    out=("$@")
fi
QT_QPA_PLATFORM=offscreen "$build/inspector/inspector-screenshots" "${out[@]}"

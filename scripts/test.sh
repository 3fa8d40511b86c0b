#!/usr/bin/env bash
# Sets up the machine, builds, and runs every test suite (unit, integration, interop, gui), as CI
# does. Exits non-zero when any test fails; a failing test's output is printed.
#   bash scripts/test.sh               everything, preset "ci"
#   bash scripts/test.sh -L unit       extra arguments go to ctest (here: only the unit label)
# Environment: SIDECAR_BUILD_PRESET (default: ci) picks the CMake configure, build and test preset
# (dev, asan, ci; see CMakePresets.json).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
preset="${SIDECAR_BUILD_PRESET:-ci}"
if [[ $preset == release ]]; then
    echo "test: the release build preset builds only the executables; use dev, asan or ci" >&2
    exit 2
fi

started=$(date +%s)
bash "$ROOT/scripts/setup.sh" --preset "$preset"
built=$(date +%s)

cd "$ROOT"
status=0
ctest --preset "$preset" --output-junit "$ROOT/build/$preset/junit.xml" "$@" || status=$?
finished=$(date +%s)
echo "test: set-up and build $((built - started)) s, tests $((finished - built)) s; junit report in build/$preset/junit.xml"
if [[ $status -ne 0 ]]; then
    echo "test: FAILED (ctest exit code $status)" >&2
fi
exit "$status"

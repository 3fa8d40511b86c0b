#!/usr/bin/env bash
# Sets up the machine, builds, and runs every test, as CI does. Exits non-zero when any stage fails;
# a failing test's output is printed. The stages, in order:
#   ci        the ci preset (optimised, warnings as errors, asserts kept): every CTest suite (unit,
#             integration, fault, hostile, interop, conformance, gui, fuzz corpus replay)
#   valgrind  tst_stdioserver's lifecycle, tools, error and shutdown cases with every server under
#             valgrind memcheck (tests/sanitizers/valgrind-stdio.sh, on the ci build)
#   asan      the asan preset (AddressSanitizer + UndefinedBehaviorSanitizer, leak checks): every
#             CTest suite again, failing on any report of any process
#   fuzz      each libFuzzer target (tests/fuzz) for SIDECAR_FUZZ_SECONDS (default 45) on the fuzz preset
#
#   bash scripts/test.sh                         every stage
#   SIDECAR_TEST_STAGES="ci asan" bash scripts/test.sh   the named stages only
#   bash scripts/test.sh -L unit                 extra arguments go to ctest (ci and asan stages)
# Environment: SIDECAR_BUILD_PRESET (dev, asan or ci) runs that one CTest preset alone, as before;
# SIDECAR_FUZZ_SECONDS sets the time per fuzz target.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
cd "$ROOT"

if [[ -n ${SIDECAR_BUILD_PRESET:-} ]]; then
    if [[ $SIDECAR_BUILD_PRESET == release ]]; then
        echo "test: the release build preset builds only the executables; use dev, asan or ci" >&2
        exit 2
    fi
    stages=("preset:$SIDECAR_BUILD_PRESET")
else
    read -r -a stages <<<"${SIDECAR_TEST_STAGES:-ci valgrind asan fuzz}"
fi

# Configures, builds and runs one CTest preset; its junit report goes to build/<preset>/junit.xml.
ctest_stage()
{
    local preset="$1"
    shift
    bash "$ROOT/scripts/setup.sh" --preset "$preset" || return $?
    ctest --preset "$preset" --output-junit "$ROOT/build/$preset/junit.xml" "$@"
}

started=$(date +%s)
summary=()
status=0
for stage in "${stages[@]}"; do
    stage_started=$(date +%s)
    echo "test: --- stage $stage" >&2
    rc=0
    case "$stage" in
        ci | asan | dev) ctest_stage "$stage" "$@" || rc=$? ;;
        preset:*) ctest_stage "${stage#preset:}" "$@" || rc=$? ;;
        valgrind)
            bash "$ROOT/scripts/setup.sh" --preset ci && bash "$ROOT/tests/sanitizers/valgrind-stdio.sh" || rc=$?
            ;;
        fuzz)
            bash "$ROOT/scripts/setup.sh" --deps-only &&
                bash "$ROOT/scripts/fuzz.sh" --seconds "${SIDECAR_FUZZ_SECONDS:-45}" || rc=$?
            ;;
        *) echo "test: unknown stage '$stage' (ci, valgrind, asan, fuzz)" >&2; rc=2 ;;
    esac
    summary+=("$stage: $([[ $rc -eq 0 ]] && echo passed || echo "FAILED ($rc)") in $(( $(date +%s) - stage_started )) s")
    [[ $rc -eq 0 ]] || status=1
done

echo "test: $(IFS=';'; echo "${summary[*]}" | sed 's/;/; /g'); whole run $(( $(date +%s) - started )) s" >&2
if [[ $status -ne 0 ]]; then
    echo "test: FAILED" >&2
fi
exit "$status"

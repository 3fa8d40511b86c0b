#!/usr/bin/env bash
# Runs chosen tst_stdioserver test functions with every server they start under valgrind memcheck
# (valgrind-server.sh as SIDECAR_BIN): fails when the test fails or any server run had an error
# (invalid read/write, use of uninitialised memory, a definite leak, ...), printing valgrind's report.
# The functions are ones whose deadlines hold under valgrind's slowdown; bounded by a timeout.
#
#   bash tests/sanitizers/valgrind-stdio.sh [function...]
#
# Environment:
#   SIDECAR_VALGRIND_BUILD    the build directory (default: build/ci, RelWithDebInfo)
#   SIDECAR_VALGRIND_TIMEOUT  seconds for the whole run (default: 600)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT
build="${SIDECAR_VALGRIND_BUILD:-$ROOT/build/ci}"
bin="$build/server/mcp-state-sidecar"
test="$build/tests/integration/tst_stdioserver"
# The lifecycle, every tool once, every error path and the hostile-input cases, and the shutdown
# paths (end of input, SIGTERM, a host that stopped reading). Left out: tests that wait for TTLs
# to lapse or count writes racing a SIGKILL (timing, not memory), and the command-line table (one
# valgrind start per row, nothing but parsing).
readonly DEFAULT_FUNCTIONS=(
    initializeNegotiation requestsBeforeInitialize toolsListMatchesContract everyToolAnswersWithinItsSchemas
    kvSetGetDelete kvConditions kvList workflowLifecycle leases sessions historyLog valuesRoundTrip stateWatch
    toolErrors rpcErrors hostileInput pipelinedRequests everyRequestAnsweredOnceWithItsId batchesOnlyIn20250326
    endOfInputAnswersEverythingAndExits sigtermExitsCleanlyKeepingAcknowledgedWrites stdoutCarriesOnlyJsonRpc
    sigtermWhileTheClientStopsReading
)

log()
{
    printf 'valgrind-stdio: %s\n' "$*" >&2
}

command -v valgrind >/dev/null || { log "valgrind is not installed (scripts/setup.sh installs it)"; exit 2; }
if [[ ! -x $bin || ! -x $test ]]; then
    log "$bin or $test missing: build the ci preset first"
    exit 2
fi
functions=("$@")
((${#functions[@]})) || functions=("${DEFAULT_FUNCTIONS[@]}")

logs="$(mktemp -d "${TMPDIR:-/tmp}/sidecar-valgrind.XXXXXX")" || exit 2
trap 'rm -rf "$logs"' EXIT

started=$(date +%s)
SIDECAR_BIN="$ROOT/tests/sanitizers/valgrind-server.sh" SIDECAR_VALGRIND_REAL_BIN="$bin" \
    SIDECAR_VALGRIND_LOGS="$logs" SIDECAR_SOURCE_DIR="$ROOT" QT_QPA_PLATFORM=offscreen \
    timeout --kill-after=10 "${SIDECAR_VALGRIND_TIMEOUT:-600}" "$test" "${functions[@]}"
status=$?
((status == 124)) && log "timed out after ${SIDECAR_VALGRIND_TIMEOUT:-600} s"

# Servers stopped at a test's end may still be in valgrind's exit-time leak check: wait for them.
for ((i = 0; i < 300; i++)); do
    grep -qsF -- "$logs" /proc/[0-9]*/environ || break
    sleep 0.1
done

shopt -s nullglob
runs=("$logs"/vg.*.log)
bad=0
for f in "${runs[@]}"; do
    # The summary when the server exited; error lines themselves when it was killed (SIGKILL tests).
    if grep -qE 'ERROR SUMMARY: [1-9]|^==[0-9]+== (Invalid |Conditional jump|Use of uninitialised|Syscall param|Mismatched free|Source and destination overlap)' "$f"; then
        bad=$((bad + 1))
        log "valgrind report of server pid $(basename "$f" .log | cut -d. -f2):"
        cat "$f" >&2
    fi
done
log "${#runs[@]} server run(s) under valgrind, $bad with errors, $(($(date +%s) - started)) s"
if ((${#runs[@]} == 0)); then
    log "no server ran under valgrind"
    ((status == 0)) && status=1
fi
if ((bad > 0)); then
    ((status == 0)) && status=1
fi
exit "$status"

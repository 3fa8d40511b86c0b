#!/usr/bin/env bash
# The test launcher of the sanitizer build (SIDECAR_SANITIZE; tests/CMakeLists.txt puts it in
# front of every test command): runs one test and fails it when any of its processes wrote a
# sanitizer report. The test executable and every server it starts (directly, through the inspector's
# client, through node or run.sh) inherit ASAN_OPTIONS/UBSAN_OPTIONS with a log_path into a
# directory of this run, so a report counts even where nobody checks the process's exit status: a
# server stopped at the end of a test and found leaking at exit, or one a node client left behind.
#
#   bash tests/sanitizers/check-reports.sh <command> [arguments...]
#
# Exit status: the command's, or 1 when it succeeded but a report was written.
set -uo pipefail

if [[ $# -eq 0 ]]; then
    echo "check-reports: usage: $0 <command> [arguments...]" >&2
    exit 2
fi
dir="$(mktemp -d "${TMPDIR:-/tmp}/sidecar-sanitizer.XXXXXX")" || exit 2
trap 'rm -rf "$dir"' EXIT
mark="$dir/report"

# Only the test gets the log_path (not this script's own helpers, which would otherwise match the
# scan for processes still carrying it below).
ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}log_path=$mark" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-}${UBSAN_OPTIONS:+:}log_path=$mark" \
    "$@"
status=$?

# A server may outlive the test by a moment (a node client that exits without waiting for its child,
# a server still running its exit-time leak check): wait for every process that carries the mark.
for ((i = 0; i < 300; i++)); do
    grep -qsF -- "$mark" /proc/[0-9]*/environ || break
    sleep 0.1
done
if ((i == 300)); then
    echo "check-reports: processes of this test still running 30 s after it ended:" >&2
    grep -lsF -- "$mark" /proc/[0-9]*/environ | sed 's|/proc/\([0-9]*\)/environ|\1|' |
        xargs -r ps -o pid=,args= -p >&2
fi

shopt -s nullglob
failed=0
for report in "$mark".*; do
    if grep -qE 'ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:' "$report"; then
        failed=$((failed + 1))
        echo "check-reports: sanitizer report of pid ${report##*.}:" >&2
    else
        echo "check-reports: sanitizer output (not an error) of pid ${report##*.}:" >&2
    fi
    cat "$report" >&2
done
if ((failed > 0)); then
    echo "check-reports: $failed process(es) of this test wrote a sanitizer error report" >&2
    ((status == 0)) && status=1
fi
exit "$status"

#!/usr/bin/env bash
# Fuzzes the targets of tests/fuzz (json, mcp, http, stdio) with libFuzzer, each for N seconds:
#   bash scripts/fuzz.sh [--seconds N] [--keep] [target...]
# Configures and builds the "fuzz" preset (clang, ASan + UBSan) in build/fuzz, then runs each target
# on a scratch copy of its seed corpus and regressions (the repository's corpus is never written).
# Prints the executions per target. Exits non-zero when a target crashed, leaked, timed out or
# failed a check, printing the path of the input that did it: copy that file into
# tests/fuzz/regressions/<target>/ once the bug is fixed, so that every build replays it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=60
keep=0
targets=()
all=(json mcp http stdio)
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --seconds=*) seconds="${1#*=}"; shift ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "fuzz: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=("${all[@]}")
for t in "${targets[@]}"; do
    [[ " ${all[*]} " == *" $t "* ]] || { echo "fuzz: unknown target $t (known: ${all[*]})" >&2; exit 2; }
done

# Longest input per target: enough for a few pipelined requests or a tools/call with a nested value.
declare -A max_len=([json]=4096 [mcp]=4096 [http]=4096 [stdio]=1024)

started=$(date +%s)
cmake --preset fuzz >/dev/null
nice -n 10 cmake --build --preset fuzz -j "$(nproc)"
echo "fuzz: built in $(( $(date +%s) - started )) s"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/sidecar-fuzz.XXXXXX")
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
for t in "${targets[@]}"; do
    dir="$scratch/$t"
    mkdir -p "$dir/corpus" "$dir/artifacts"
    cp -r "tests/fuzz/corpus/$t/." "$dir/corpus/"
    if [[ -d "tests/fuzz/regressions/$t" ]]; then
        cp -r "tests/fuzz/regressions/$t/." "$dir/corpus/"
    fi
    dict=()
    [[ -f "tests/fuzz/dict/$t.dict" ]] && dict=("-dict=tests/fuzz/dict/$t.dict")
    seeds=$(find "$dir/corpus" -type f | wc -l)
    rc=0
    build/fuzz/tests/fuzz/fuzz_"$t" "$dir/corpus" "${dict[@]}" \
        -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$dir/artifacts/" -print_final_stats=1 >"$dir/log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$dir/log" | tail -1 || true)
    grown=$(find "$dir/corpus" -type f | wc -l)
    echo "fuzz: $t: ${execs:-?} executions in ${seconds} s, ${cov:-cov: ?}, corpus $seeds -> $grown"
    if [[ $rc -ne 0 ]]; then
        failed+=("$t")
        echo "fuzz: $t FAILED (exit $rc); the last lines of $dir/log:"
        tail -40 "$dir/log" | sed 's/^/    /'
        for crash in "$dir"/artifacts/*; do
            [[ -e "$crash" ]] && echo "fuzz: $t: crashing input: $crash"
        done
    fi
done

echo "fuzz: done in $(( $(date +%s) - started )) s"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz: failed: ${failed[*]} (inputs and logs kept in $scratch)"
    exit 1
fi
if [[ $keep -eq 1 ]]; then
    echo "fuzz: logs and grown corpora kept in $scratch"
else
    rm -rf "$scratch"
fi

#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance, server scenarios)
# against the Streamable HTTP server, with the Node 22 pinned in package-lock.json (npm package
# "node"), both installed by `npm ci` in this directory. Nothing is fetched at run time.
#
#   bash tests/conformance/run.sh <path/to/mcp-state-sidecar-http>
#
# Starts the server on a free port (--port 0) with a fresh SQLite database in a temporary
# directory, waits for its "serving MCP at http://...:<port>/mcp" log line, runs each selected
# scenario, stops the server by PID and exits 1 if any scenario failed (2 on a setup error).
#
# Environment:
#   CONFORMANCE_SCENARIOS   space-separated scenarios to run instead of the default list below
#                           (list them all: node_modules/node/bin/node
#                            node_modules/@modelcontextprotocol/conformance/dist/index.js list --server)
#   CONFORMANCE_RESULTS_DIR keep the suite's checks.json files there (default: a temp dir, removed)
#   CONFORMANCE_VERBOSE=1   print every check as JSON, not only the summary
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE
readonly NODE="$HERE/node_modules/node/bin/node"
readonly CLI="$HERE/node_modules/@modelcontextprotocol/conformance/dist/index.js"

# The generic, protocol-level scenarios that apply to a server with only tools and resources.
# Every other scenario of the suite calls fixtures of the suite's reference "everything" server
# (tools test_*, resources test://..., prompts, completion, logging/setLevel, sampling,
# elicitation) that this server does not have and does not declare; see README.md here.
readonly DEFAULT_SCENARIOS=(
    server-initialize           # initialize + notifications/initialized over Streamable HTTP
    ping                        # ping -> {}
    tools-list                  # every tool has name, description, inputSchema
    resources-list              # every resource has uri, name
    server-sse-multiple-streams # 3 concurrent POSTs on one session are all accepted (SEP-1699)
    dns-rebinding-protection    # foreign Host/Origin -> 4xx, localhost Host/Origin -> 2xx
)

log()
{
    printf 'conformance: %s\n' "$*" >&2
}

bin="${1:-}"
if [[ -z $bin || ! -x $bin ]]; then
    log "usage: $0 <path/to/mcp-state-sidecar-http> (got '${bin}', not an executable)"
    exit 2
fi
if [[ ! -x $NODE || ! -f $CLI ]]; then
    log "tests/conformance/node_modules is missing or incomplete: run \`npm ci\` in $HERE (scripts/setup.sh does it)"
    exit 2
fi
node_version="$("$NODE" -p process.versions.node 2>/dev/null)" || node_version=""
if [[ $node_version != 22.* ]]; then
    log "$NODE is not Node 22 (got '${node_version}'): run \`npm ci\` in $HERE again"
    exit 2
fi
suite_version="$("$NODE" -p "require('$HERE/node_modules/@modelcontextprotocol/conformance/package.json').version")"

if [[ -n ${CONFORMANCE_SCENARIOS:-} ]]; then
    read -r -a scenarios <<<"$CONFORMANCE_SCENARIOS"
else
    scenarios=("${DEFAULT_SCENARIOS[@]}")
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/sidecar-conformance.XXXXXX")"
results="${CONFORMANCE_RESULTS_DIR:-$tmp/results}"
mkdir -p "$results"
server_pid=""

stop_server()
{
    [[ -n $server_pid ]] || return 0
    if kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null
        for _ in $(seq 1 100); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$server_pid" 2>/dev/null; then
            log "server (pid $server_pid) still running 10 s after SIGTERM: SIGKILL"
            kill -KILL "$server_pid" 2>/dev/null
        fi
    fi
    wait "$server_pid" 2>/dev/null
    server_pid=""
}

cleanup()
{
    stop_server
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The server's own settings come only from the flags below, not from the caller's environment
# (a SIDECAR_TOKENS_FILE or STATE_BACKEND=redis there would change what is tested).
unset_env=()
while read -r name; do
    unset_env+=(-u "$name")
done < <(compgen -e | grep -E '^(SIDECAR_.*|STATE_BACKEND|DB_PATH|REDIS_URL)$')

server_log="$tmp/server.log"
env "${unset_env[@]}" "$bin" --transport http --host 127.0.0.1 --port 0 \
    --backend sqlite --db-path "$tmp/state.db" --log-level info \
    </dev/null >"$server_log" 2>&1 &
server_pid=$!

url=""
for _ in $(seq 1 300); do # 30 s
    url="$(grep -o -m1 'serving MCP at http://[^ ]*/mcp' "$server_log" 2>/dev/null | sed 's/^serving MCP at //')"
    [[ -n $url ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        wait "$server_pid"
        log "server exited (code $?) before serving; its log:"
        cat "$server_log" >&2
        server_pid=""
        exit 2
    fi
    sleep 0.1
done
if [[ -z $url ]]; then
    log "no 'serving MCP at' line from the server within 30 s; its log:"
    cat "$server_log" >&2
    exit 2
fi
log "server pid $server_pid at $url; @modelcontextprotocol/conformance $suite_version on Node $node_version"

verbose=()
[[ ${CONFORMANCE_VERBOSE:-0} == 1 ]] && verbose=(--verbose)

passed=()
failed=()
for scenario in "${scenarios[@]}"; do
    log "=== $scenario"
    # The CLI exits 1 when a check of the scenario has status FAILURE (WARNING/INFO do not fail).
    # Its colours are hard-coded: strip them unless stdout is a terminal (CTest logs).
    if [[ -t 1 ]]; then
        "$NODE" "$CLI" server --url "$url" --scenario "$scenario" --output-dir "$results" "${verbose[@]}"
        rc=$?
    else
        "$NODE" "$CLI" server --url "$url" --scenario "$scenario" --output-dir "$results" "${verbose[@]}" \
            | sed -u 's/\x1b\[[0-9;]*m//g'
        rc=${PIPESTATUS[0]}
    fi
    if [[ $rc -eq 0 ]]; then
        passed+=("$scenario")
    else
        failed+=("$scenario")
    fi
done

if ! kill -0 "$server_pid" 2>/dev/null; then
    log "the server died during the run; its log:"
    cat "$server_log" >&2
    failed+=("(server exited early)")
fi
stop_server

log "passed (${#passed[@]}): ${passed[*]:-none}"
if [[ ${#failed[@]} -gt 0 ]]; then
    log "FAILED (${#failed[@]}): ${failed[*]}"
    log "server log:"
    cat "$server_log" >&2
    if [[ -n ${CONFORMANCE_RESULTS_DIR:-} ]]; then
        log "checks.json files kept in $results"
    fi
    exit 1
fi
log "all ${#passed[@]} scenarios passed"
exit 0

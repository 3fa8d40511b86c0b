#!/usr/bin/env bash
# The side-by-side benchmark in one command: installs what is missing (the project's Debian packages,
# plus wrk and gnuplot), builds the release preset, sets up the peer from ../shared/bench in
# build/bench/peer, then runs bench/harness.mjs, which prints the table and writes bench/results/.
#
#   bash bench/run.sh                        the whole run (about 25 minutes, a 10-minute soak included)
#   bash bench/run.sh --quick                short rows, a 20 s soak, 100k keys instead of 1M (a few minutes)
#   bash bench/run.sh --only http,stdio      some sections only (see bench/harness.mjs)
#   bash bench/run.sh --out /tmp/results     somewhere else than bench/results
#
# Every option is handed to bench/harness.mjs. Run it on a quiet machine: the figures are ratios
# between the sidecar and the peer taken in the same run, but noise still widens them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly PEER_SRC="$ROOT/../shared/bench/peers/seed-port-ts"
readonly PEER_DIR="$ROOT/build/bench/peer"

log()
{
    printf 'bench: %s\n' "$*" >&2
}

if [[ ! -f $PEER_SRC/server.mjs ]]; then
    log "the peer is missing: expected $PEER_SRC (the shared benchmark directory beside the repository)"
    exit 1
fi

bash "$ROOT/scripts/setup.sh" --bench --preset release

# The peer, in a directory of its own so that ../shared stays untouched. npm blocks
# better-sqlite3's build script, so its native module is built with node-gyp against this Node.
setup_peer()
{
    local stamp="$PEER_DIR/.sidecar-peer.sha256"
    local want
    want=$(cat "$PEER_SRC/package-lock.json" "$PEER_SRC/server.mjs" | sha256sum | cut -d' ' -f1)
    if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
        log "peer: up to date in $PEER_DIR"
        return
    fi
    log "peer: installing into $PEER_DIR"
    mkdir -p "$PEER_DIR"
    cp "$PEER_SRC/package.json" "$PEER_SRC/package-lock.json" "$PEER_SRC/server.mjs" "$PEER_DIR/"
    (cd "$PEER_DIR" && npm ci --no-audit --no-fund --loglevel=error)
    local nodedir
    nodedir=$(dirname "$(dirname "$(command -v node)")")
    (cd "$PEER_DIR/node_modules/better-sqlite3" && npx --yes node-gyp rebuild --release --nodedir="$nodedir" >&2)
    echo "$want" >"$stamp"
}
setup_peer

exec node "$ROOT/bench/harness.mjs" --build "$ROOT/build/release" --peer "$PEER_DIR" "$@"

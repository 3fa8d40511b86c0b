#!/usr/bin/env bash
# Sets up a Debian 12 machine to build and test mcp-state-sidecar, then configures and builds.
#
#   bash scripts/setup.sh                 install what is missing, configure and build (preset "release")
#   bash scripts/setup.sh --deps-only     install what is missing, nothing else
#   bash scripts/setup.sh --preset ci     configure and build another CMake preset (see CMakePresets.json)
#   bash scripts/setup.sh --bench         also install what bench/run.sh drives the servers with (wrk, gnuplot)
#
# Environment:
#   SIDECAR_BUILD_PRESET   the preset to configure and build when --preset is not given (default: release)
#   SIDECAR_SKIP_APT=1     never call apt-get (a machine set up by other means)
#   SIDECAR_SKIP_NPM=1     skip `npm ci` in tests/interop and tests/conformance (no interop or conformance tests then)
#
# Idempotent: apt-get runs only when a package is missing (apt-get update only then, too), and
# `npm ci` only when a package-lock.json (tests/interop, tests/conformance) changed since the last install.
# Needs root (or sudo) only when something must be installed. All output goes to stderr, so
# that scripts/run.sh can hand stdout to the stdio server untouched.
set -euo pipefail
exec 3>&1 1>&2

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT

# Everything the build, the tests and the packaging need, from Debian 12's own archive.
readonly APT_PACKAGES=(
    # toolchain
    build-essential g++ cmake ninja-build pkg-config git ca-certificates
    # Qt 6.4: Core, Network, Sql (+ the SQLite driver), Widgets, Test; qt6-base-dev brings the GL headers
    qt6-base-dev qt6-base-dev-tools qt6-qpa-plugins libqt6sql6-sqlite
    # storage: SQLite (library, headers, shell for debugging) and Redis (integration tests start their own)
    libsqlite3-dev sqlite3 libhiredis-dev redis-server
    # header-only and small libraries used by libcore
    libhttp-parser-dev libexpected-dev libvalijson-dev libsimdjson-dev
    # GUI tests run offscreen; xvfb + xauth give a real X display for screenshots (xvfb-run); fonts to draw text
    xvfb xauth fonts-dejavu-core
    # CPack .deb: dpkg-shlibdeps (dpkg-dev) and file find the library packages; desktop-file-utils
    # and appstream validate the inspector's desktop entry and metainfo, groff the man pages
    dpkg-dev file desktop-file-utils appstream groff-base
    # hostile-input checks: clang's libFuzzer and sanitizer runtimes (the fuzz preset), valgrind
    clang libclang-rt-14-dev valgrind
)

# Only for the benchmark (bench/run.sh): the HTTP load generator and the chart.
readonly APT_BENCH_PACKAGES=(wrk gnuplot-nox)

usage()
{
    sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

log()
{
    printf 'setup: %s\n' "$*"
}

deps_only=0
bench=0
preset="${SIDECAR_BUILD_PRESET:-release}"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --deps-only) deps_only=1 ;;
        --bench) bench=1 ;;
        --preset) preset="${2:?--preset needs a name}"; shift ;;
        --preset=*) preset="${1#--preset=}" ;;
        -h | --help) usage >&3; exit 0 ;;
        *) log "unknown option '$1' (see --help)"; exit 2 ;;
    esac
    shift
done

as_root()
{
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "needs root to run: $*"
        exit 1
    fi
}

is_installed()
{
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

apt_install()
{
    export DEBIAN_FRONTEND=noninteractive
    local apt=(apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
        -o Dpkg::Use-Pty=0)
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    log "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends "$@"
}

install_apt_packages()
{
    if [[ ${SIDECAR_SKIP_APT:-0} == 1 ]]; then
        log "SIDECAR_SKIP_APT=1: not checking Debian packages"
        return
    fi
    if ! command -v dpkg-query >/dev/null 2>&1; then
        log "dpkg-query not found: this script expects Debian 12 (set SIDECAR_SKIP_APT=1 to skip)"
        exit 1
    fi
    local missing=()
    local pkg
    local wanted=("${APT_PACKAGES[@]}")
    [[ $bench == 1 ]] && wanted+=("${APT_BENCH_PACKAGES[@]}")
    for pkg in "${wanted[@]}"; do
        is_installed "$pkg" || missing+=("$pkg")
    done
    # Node.js and npm run the interop tests. A machine with its own Node (NodeSource, nvm) keeps
    # it; otherwise Debian's nodejs (18) and npm are enough for the SDK.
    if ! command -v node >/dev/null 2>&1; then
        missing+=(nodejs)
    fi
    # NodeSource's nodejs bundles npm and conflicts with Debian's npm package: add npm only
    # when Node is Debian's own.
    if ! command -v npm >/dev/null 2>&1 && [[ $(dpkg-query -W -f='${Version}' nodejs 2>/dev/null) != *nodesource* ]]; then
        missing+=(npm)
    fi
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "Debian packages: all present"
        return
    fi
    apt_install "${missing[@]}"
}

install_npm_packages()
{
    local rel="$1"
    local dir="$ROOT/$rel"
    if [[ ${SIDECAR_SKIP_NPM:-0} == 1 ]]; then
        log "SIDECAR_SKIP_NPM=1: not installing the interop client"
        return
    fi
    if [[ ! -f $dir/package-lock.json ]]; then
        log "no $rel/package-lock.json: nothing to install with npm"
        return
    fi
    if ! command -v npm >/dev/null 2>&1; then
        log "npm not found; install Node.js 18 or newer"
        exit 1
    fi
    local stamp="$dir/node_modules/.sidecar-lock.sha256"
    local want
    want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
    if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
        log "$rel: node_modules up to date"
        return
    fi
    log "$rel: npm ci"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
}

configure_and_build()
{
    cd "$ROOT"
    log "cmake --preset $preset"
    cmake --preset "$preset"
    log "cmake --build --preset $preset"
    cmake --build --preset "$preset"
}

install_apt_packages
install_npm_packages tests/interop
install_npm_packages tests/conformance
if [[ $deps_only == 1 ]]; then
    log "dependencies ready"
    exit 0
fi
configure_and_build
log "built preset '$preset' in build/$preset"

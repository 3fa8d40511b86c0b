#!/usr/bin/env bash
# Builds the .deb packages of a build tree with cpack and checks them without installing them:
#   - control fields (name, version, architecture, maintainer, section, synopsis, relations),
#     conffiles, and the maintainer scripts, run against a scratch root (DPKG_ROOT) with the systemd
#     helpers stubbed: a first install neither enables nor starts the service, an upgrade keeps
#     the admin's choice, remove keeps the state, purge deletes it;
#   - the file lists: every expected path, owned by root, in exactly one package;
#   - every shared library the executables link (NEEDED), and the Qt plugins they load, belong to a
#     package their Depends names, and every Depends is installed here at a version it allows;
#   - the desktop entry (desktop-file-validate), the AppStream metainfo (appstreamcli), the man
#     pages (gzip, groff warnings), the systemd unit against the files it names;
#   - the executables as extracted into a scratch root (dpkg-deb -x): --version and --help, an MCP
#     session over stdio (initialize, tools/list, state_set then state_get, again after a
#     restart), the HTTP daemon's /healthz and an initialize on /mcp on a free loopback port, the
#     inspector's --version and --help offscreen.
#
#   bash tests/packaging/check-debs.sh <build dir>
#
# CTest runs it on the ci preset (label packaging; tests/packaging/CMakeLists.txt). Needs no root
# and changes nothing outside a temporary directory in the build tree (no dpkg -i; cpack leaves
# its install_manifest_*.txt in the build tree, as any install does). CPACK names the cpack to run.
set -euo pipefail

BUILD="${1:?usage: check-debs.sh <build dir>}"
BUILD="$(cd "$BUILD" && pwd)"
CPACK="${CPACK:-cpack}"
# In the build tree rather than /tmp, which may be mounted noexec: the extracted executables run.
WORK="$(mktemp -d "$BUILD/check-debs.XXXXXX")"
ROOT="$WORK/root"
SERVER_PKG=mcp-state-sidecar
INSPECTOR_PKG=mcp-state-inspector
APP_ID=io.github.mcp_state_sidecar.Inspector

declare -A running # PIDs of the servers this script started and has not reaped yet
cleanup()
{
    local pid
    for pid in "${!running[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

failures=0
fail()
{
    echo "check-debs: FAIL: $*" >&2
    failures=$((failures + 1))
}
note()
{
    echo "check-debs: $*" >&2
}
need()
{
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || { note "missing $tool (bash scripts/setup.sh --deps-only)"; exit 1; }
    done
}
need dpkg-deb dpkg-query dpkg objdump ldd file gzip desktop-file-validate appstreamcli timeout "$CPACK"

# ---------------------------------------------------------------- build the packages
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$BUILD/CPackConfig.cmake")
[[ -n $version ]] || { note "no CPACK_PACKAGE_VERSION in $BUILD/CPackConfig.cmake"; exit 1; }
arch=$(dpkg --print-architecture)
started=$(date +%s)
if ! "$CPACK" --config "$BUILD/CPackConfig.cmake" -B "$WORK/out" >"$WORK/cpack.log" 2>&1; then
    cat "$WORK/cpack.log" >&2
    note "cpack failed"
    exit 1
fi
note "cpack: $(($(date +%s) - started)) s"
shopt -s nullglob
debs=("$WORK"/out/*.deb)
shopt -u nullglob
[[ ${#debs[@]} -eq 2 ]] || { note "expected 2 packages, cpack made: ${debs[*]##*/}"; exit 1; }

declare -A deb_of
for deb in "${debs[@]}"; do
    deb_of[$(dpkg-deb -f "$deb" Package)]="$deb"
done
for pkg in "$SERVER_PKG" "$INSPECTOR_PKG"; do
    [[ -n ${deb_of[$pkg]:-} ]] || { note "no package $pkg among ${debs[*]##*/}"; exit 1; }
done

# The package names of a relation field, alternatives included, without versions or arch.
relation_names()
{
    tr ',|' '\n' <<<"$1" | sed -e 's/([^)]*)//g' -e 's/:[a-z0-9]*//' -e 's/\[.*\]//' | tr -d ' ' | sed '/^$/d'
}

# owner <path>: sets OWNER to the package that holds the file, trying the other side of the /usr
# merge when dpkg knows the path there; fails when no package holds it. Cached: dpkg -S is slow.
declare -A owner_of
OWNER=""
owner()
{
    local path="$1" real c out
    local candidates=()
    OWNER="${owner_of[$path]:-}"
    [[ -n $OWNER ]] && return 0
    real=$(readlink -f "$path")
    for c in "$path" "$real"; do
        candidates+=("$c")
        case "$c" in
            /usr/lib/*) candidates+=("${c#/usr}") ;;
            /lib/*) candidates+=("/usr$c") ;;
        esac
    done
    for c in "${candidates[@]}"; do
        if out=$(dpkg -S "$c" 2>/dev/null); then
            OWNER=$(sed -n '1s/^\([^:,]*\).*/\1/p' <<<"$out")
            owner_of[$path]="$OWNER"
            return 0
        fi
    done
    return 1
}

# ---------------------------------------------------------------- control fields and file lists
check_control()
{
    local pkg="$1" section="$2" deb="${deb_of[$1]}" field value synopsis
    local full_version
    full_version=$(dpkg-deb -f "$deb" Version)
    [[ $full_version == "$version" || $full_version == "$version"-* ]] ||
        fail "$pkg: Version $full_version is not ${version}[-revision]"
    [[ ${deb##*/} == "${pkg}_${full_version}_${arch}.deb" ]] || fail "$pkg: file name ${deb##*/}"
    [[ $(dpkg-deb -f "$deb" Architecture) == "$arch" ]] || fail "$pkg: Architecture is not $arch"
    [[ $(dpkg-deb -f "$deb" Section) == "$section" ]] || fail "$pkg: Section is not $section"
    [[ $(dpkg-deb -f "$deb" Priority) == optional ]] || fail "$pkg: Priority is not optional"
    local maintainer_re='^[^<]+ <[^@>]+@[^>]+>$'
    [[ $(dpkg-deb -f "$deb" Maintainer) =~ $maintainer_re ]] || fail "$pkg: Maintainer is not 'Name <address>'"
    for field in Homepage Installed-Size Depends; do
        [[ -n $(dpkg-deb -f "$deb" "$field") ]] || fail "$pkg: no $field"
    done
    value=$(dpkg-deb -f "$deb" Description)
    synopsis=$(head -n1 <<<"$value")
    [[ -n $synopsis && ${#synopsis} -le 80 && $synopsis != *. ]] ||
        fail "$pkg: synopsis \"$synopsis\" (want 1 to 80 characters, no final period)"
    [[ $(wc -l <<<"$value") -ge 3 ]] || fail "$pkg: no extended description"
    [[ -z $(awk 'length > 80' <<<"$value") ]] || fail "$pkg: description lines longer than 80 characters"
}
check_control "$SERVER_PKG" net
check_control "$INSPECTOR_PKG" devel
# relation <package> <field> <name>: whether the field names that package
relation()
{
    grep -qxF "$3" <<<"$(relation_names "$(dpkg-deb -f "${deb_of[$1]}" "$2")")"
}
relation "$SERVER_PKG" Suggests redis-server || fail "$SERVER_PKG: Suggests lacks redis-server"
relation "$INSPECTOR_PKG" Recommends "$SERVER_PKG" ||
    fail "$INSPECTOR_PKG: Recommends lacks $SERVER_PKG (its --db option runs it)"
if relation "$INSPECTOR_PKG" Depends "$SERVER_PKG"; then
    fail "$INSPECTOR_PKG: Depends on $SERVER_PKG, but it is a client"
fi

declare -A expected_paths
expected_paths[$SERVER_PKG]="
/usr/bin/mcp-state-sidecar
/usr/bin/mcp-state-sidecar-http
/lib/systemd/system/mcp-state-sidecar.service
/etc/default/mcp-state-sidecar
/usr/share/man/man1/mcp-state-sidecar.1.gz
/usr/share/man/man1/mcp-state-sidecar-http.1.gz
/usr/share/doc/$SERVER_PKG/copyright
/usr/share/doc/$SERVER_PKG/README.md.gz
/usr/share/doc/$SERVER_PKG/install.md.gz
/usr/share/doc/$SERVER_PKG/configuration.md.gz"
expected_paths[$INSPECTOR_PKG]="
/usr/bin/mcp-state-inspector
/usr/share/applications/mcp-state-inspector.desktop
/usr/share/metainfo/$APP_ID.metainfo.xml
/usr/share/icons/hicolor/scalable/apps/$APP_ID.svg
/usr/share/man/man1/mcp-state-inspector.1.gz
/usr/share/doc/$INSPECTOR_PKG/copyright
/usr/share/doc/$INSPECTOR_PKG/inspector.md.gz"

for pkg in "$SERVER_PKG" "$INSPECTOR_PKG"; do
    deb="${deb_of[$pkg]}"
    dpkg-deb --contents "$deb" >"$WORK/$pkg.contents"
    # "-rwxr-xr-x root/root 123 2026-01-01 00:00 ./usr/bin/x" -> mode, owner, path
    awk '{ p = $6; sub(/^\./, "", p); sub(/\/$/, "", p); if (p != "") print $1, $2, p }' "$WORK/$pkg.contents" \
        >"$WORK/$pkg.files"
    cut -d' ' -f3 "$WORK/$pkg.files" | sort >"$WORK/$pkg.paths"
    for path in ${expected_paths[$pkg]}; do
        grep -qxF "$path" "$WORK/$pkg.paths" || fail "$pkg: no $path"
    done
    while read -r path; do
        fail "$pkg: $path is not owned by root"
    done < <(awk '$2 != "root/root" { print $3 }' "$WORK/$pkg.files")
    while read -r path; do
        fail "$pkg: stray path $path"
    done < <(grep -E '^/usr/local(/|$)|^/home/|^/root/|/build' "$WORK/$pkg.paths" || true)
    while read -r path; do
        fail "$pkg: $path is not mode 0755"
    done < <(awk '$1 ~ /^-/ && $3 ~ /^\/usr\/bin\// && $1 != "-rwxr-xr-x" { print $3 }' "$WORK/$pkg.files")
    while read -r path; do
        fail "$pkg: $path is not mode 0644"
    done < <(awk '$1 ~ /^-/ && $3 !~ /^\/usr\/bin\// && $1 != "-rw-r--r--" { print $3 }' "$WORK/$pkg.files")

    # Control archive: md5sums always; the server's maintainer scripts and conffiles.
    ctl="$WORK/control-$pkg"
    dpkg-deb --control "$deb" "$ctl"
    [[ -s $ctl/md5sums ]] || fail "$pkg: no md5sums"
    while read -r path; do
        grep -qxF "$path" "$ctl/conffiles" 2>/dev/null || fail "$pkg: $path is not a conffile"
    done < <(awk '$1 !~ /^d/ && $3 ~ /^\/etc\// { print $3 }' "$WORK/$pkg.files")
    if [[ -f $ctl/conffiles ]]; then
        while read -r path; do
            grep -qxF "$path" "$WORK/$pkg.paths" || fail "$pkg: conffile $path is not in the package"
        done <"$ctl/conffiles"
    fi
done
# Two packages installed side by side must not claim one file (directories may be shared).
while read -r path; do
    fail "$path is in both packages"
done < <(comm -12 <(awk '$1 !~ /^d/ { print $3 }' "$WORK/$SERVER_PKG.files" | sort) \
    <(awk '$1 !~ /^d/ { print $3 }' "$WORK/$INSPECTOR_PKG.files" | sort))

ctl="$WORK/control-$SERVER_PKG"
for script in postinst prerm postrm; do
    if [[ ! -f $ctl/$script ]]; then
        fail "$SERVER_PKG: no $script"
        continue
    fi
    [[ $(stat -c %a "$ctl/$script") == 755 ]] || fail "$SERVER_PKG: $script is not mode 0755"
    sh -n "$ctl/$script" || fail "$SERVER_PKG: $script is not valid sh"
    grep -q 'mcp-state-sidecar.service' "$ctl/$script" || fail "$SERVER_PKG: $script does not name the unit"
done
grep -qxF /etc/default/mcp-state-sidecar "$ctl/conffiles" || fail "$SERVER_PKG: /etc/default/mcp-state-sidecar is not a conffile"
# Installation never enables or starts the unit: postinst re-enables it only where an admin had
# (was-enabled), and restarts it on upgrade only if it runs (try-restart).
if grep -v '^ *#' "$ctl/postinst" | grep -Eq '(deb-systemd-invoke|systemctl)( --system)? +(start|restart|enable)'; then
    fail "$SERVER_PKG: postinst starts or enables the service"
fi
if grep -q 'deb-systemd-helper enable' "$ctl/postinst" &&
    ! grep -B2 'deb-systemd-helper enable' "$ctl/postinst" | grep -q 'was-enabled'; then
    fail "$SERVER_PKG: postinst enables the service without asking was-enabled"
fi
for script in preinst postinst prerm postrm; do
    if [[ -e $WORK/control-$INSPECTOR_PKG/$script ]]; then
        fail "$INSPECTOR_PKG: unexpected $script"
    fi
done

# The maintainer scripts run for real against a scratch root: with DPKG_ROOT set they leave the
# running systemd alone, and deb-systemd-helper, deb-systemd-invoke and systemctl are stubs that
# log their arguments. STUB_INSTALLED / STUB_ENABLED answer debian-installed and was-enabled.
run_maintainer_script()
{
    local script="$1"
    shift
    env PATH="$WORK/stubs:$PATH" DPKG_ROOT="$WORK/dpkgroot" STUB_LOG="$WORK/stubs.log" \
        STUB_INSTALLED="$stub_installed" STUB_ENABLED="$stub_enabled" sh "$ctl/$script" "$@" \
        >>"$WORK/scripts.out" 2>&1 || fail "$SERVER_PKG: $script $* exited with $?: $(tail -3 "$WORK/scripts.out")"
}
mkdir -p "$WORK/stubs"
for stub in deb-systemd-helper deb-systemd-invoke systemctl; do
    cat >"$WORK/stubs/$stub" <<'STUB'
#!/bin/sh
echo "${0##*/} $*" >>"$STUB_LOG"
case "$1 $2" in
    "debian-installed "* | "--quiet debian-installed") [ "$STUB_INSTALLED" = 1 ] ;;
    "was-enabled "* | "--quiet was-enabled") [ "$STUB_ENABLED" = 1 ] ;;
    *) exit 0 ;;
esac
STUB
    chmod +x "$WORK/stubs/$stub"
done
# Every path postrm deletes lies under DPKG_ROOT; otherwise running it here would be unsafe.
if grep -E '^[^#]*\brm(dir)? ' "$ctl/postrm" | grep -qv 'DPKG_ROOT'; then
    fail "$SERVER_PKG: postrm deletes a path outside \${DPKG_ROOT}: not running the scripts"
elif [[ -f $ctl/postinst && -f $ctl/prerm && -f $ctl/postrm ]]; then
    state="$WORK/dpkgroot/var/lib/private/mcp-state-sidecar"
    mkdir -p "$state" "$WORK/dpkgroot/etc/mcp-state-sidecar"
    echo data >"$state/state_sidecar.db"
    ln -s private/mcp-state-sidecar "$WORK/dpkgroot/var/lib/mcp-state-sidecar"

    : >"$WORK/stubs.log"
    stub_installed=0 stub_enabled=0
    run_maintainer_script postinst configure
    grep -q '^deb-systemd-helper update-state mcp-state-sidecar.service' "$WORK/stubs.log" ||
        fail "$SERVER_PKG: postinst of a first install does not record the unit (update-state)"
    if grep -Eq ' (enable|start|restart|try-restart)( |$)' "$WORK/stubs.log"; then
        fail "$SERVER_PKG: postinst of a first install enables or starts the service: $(tr '\n' ';' <"$WORK/stubs.log")"
    fi
    if grep -q '^systemctl\|^deb-systemd-invoke' "$WORK/stubs.log"; then
        fail "$SERVER_PKG: postinst talks to systemd under DPKG_ROOT"
    fi

    : >"$WORK/stubs.log"
    stub_installed=1 stub_enabled=0
    run_maintainer_script postinst configure 1.0.0-0
    if grep -q 'deb-systemd-helper enable' "$WORK/stubs.log"; then
        fail "$SERVER_PKG: an upgrade enables a service the admin had not enabled"
    fi
    : >"$WORK/stubs.log"
    stub_installed=1 stub_enabled=1
    run_maintainer_script postinst configure 1.0.0-0
    grep -q '^deb-systemd-helper enable mcp-state-sidecar.service' "$WORK/stubs.log" ||
        fail "$SERVER_PKG: an upgrade does not keep the admin's enablement"

    : >"$WORK/stubs.log"
    run_maintainer_script prerm upgrade 1.0.0-2
    run_maintainer_script prerm remove
    run_maintainer_script postrm remove
    grep -q '^deb-systemd-helper mask mcp-state-sidecar.service' "$WORK/stubs.log" ||
        fail "$SERVER_PKG: postrm remove does not mask the unit"
    [[ -f $state/state_sidecar.db ]] || fail "$SERVER_PKG: postrm remove deleted the state"

    : >"$WORK/stubs.log"
    echo '{"tokens": []}' >"$WORK/dpkgroot/etc/mcp-state-sidecar/tokens.json"
    run_maintainer_script postrm purge
    grep -q '^deb-systemd-helper purge mcp-state-sidecar.service' "$WORK/stubs.log" ||
        fail "$SERVER_PKG: postrm purge does not purge the unit's state"
    [[ ! -e $state && ! -L $WORK/dpkgroot/var/lib/mcp-state-sidecar ]] ||
        fail "$SERVER_PKG: postrm purge left the service's state"
    [[ -f $WORK/dpkgroot/etc/mcp-state-sidecar/tokens.json ]] ||
        fail "$SERVER_PKG: postrm purge deleted an admin's file in /etc/mcp-state-sidecar"
    rm "$WORK/dpkgroot/etc/mcp-state-sidecar/tokens.json"
    run_maintainer_script postrm purge
    [[ ! -d $WORK/dpkgroot/etc/mcp-state-sidecar ]] ||
        fail "$SERVER_PKG: postrm purge left an empty /etc/mcp-state-sidecar"
fi

# ---------------------------------------------------------------- libraries, plugins, Depends
mkdir -p "$ROOT"
for pkg in "$SERVER_PKG" "$INSPECTOR_PKG"; do
    dpkg-deb -x "${deb_of[$pkg]}" "$ROOT"
done

# Every Depends entry is installed here, at a version it allows (one alternative suffices).
check_depends_installed()
{
    local pkg="$1" entry alt name op want have ok alts version_re='\(([<>=]+) *([^)]+)\)'
    while read -r entry; do
        [[ -z $entry ]] && continue
        ok=0
        IFS='|' read -r -a alts <<<"$entry"
        for alt in "${alts[@]}"; do
            name=$(sed -e 's/(.*//' -e 's/:.*//' -e 's/ //g' <<<"$alt")
            have=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$name" 2>/dev/null | sed -n 's/^installed //p' || true)
            [[ -z $have ]] && continue
            if [[ $alt =~ $version_re ]]; then
                op="${BASH_REMATCH[1]}"
                want="${BASH_REMATCH[2]}"
                dpkg --compare-versions "$have" "$op" "$want" || continue
            fi
            ok=1
        done
        [[ $ok == 1 ]] || fail "$pkg: Depends '$entry' is not satisfied here"
    done < <(dpkg-deb -f "${deb_of[$pkg]}" Depends | tr ',' '\n' | sed 's/^ *//; s/ *$//')
}

# Every library an executable links (NEEDED) resolves, and comes from a package Depends names.
check_libraries()
{
    local pkg="$1" exe="$2" depends lib path
    depends=$(relation_names "$(dpkg-deb -f "${deb_of[$pkg]}" Depends)")
    ldd "$exe" >"$WORK/ldd.out" 2>&1 || { fail "$pkg: ldd ${exe##*/} failed: $(cat "$WORK/ldd.out")"; return; }
    if grep -q 'not found' "$WORK/ldd.out"; then
        fail "$pkg: ${exe##*/}: $(grep 'not found' "$WORK/ldd.out" | tr -s ' \t' ' ')"
    fi
    while read -r lib; do
        # "libfoo.so.1 => /path (0x...)", or the loader as "/lib64/ld-linux-x86-64.so.2 (0x...)"
        path=$(awk -v lib="$lib" '($1 == lib && $2 == "=>") { print $3 }
            ($2 != "=>" && $1 ~ ("/" lib "$")) { print $1 }' "$WORK/ldd.out")
        if [[ -z $path ]]; then
            fail "$pkg: ${exe##*/} needs $lib, which ldd does not resolve"
            continue
        fi
        if ! owner "$path"; then
            fail "$pkg: ${exe##*/} needs $path, which no installed package holds"
            continue
        fi
        grep -qxF "$OWNER" <<<"$depends" || fail "$pkg: ${exe##*/} needs $lib from $OWNER, which Depends lacks"
    done < <(objdump -p "$exe" | awk '$1 == "NEEDED" { print $2 }')
}

# A Qt plugin the executables load at run time comes from a package Depends names.
check_plugin()
{
    local pkg="$1" pattern="$2" why="$3" from
    from=$(dpkg -S "$pattern" 2>/dev/null || true)
    from=$(sed -n '1s/^\([^:,]*\).*/\1/p' <<<"$from")
    if [[ -z $from ]]; then
        fail "$pkg: no installed package holds $pattern ($why)"
        return 0
    fi
    relation "$pkg" Depends "$from" || fail "$pkg: $why needs $from ($pattern), which Depends lacks"
}

for exe in mcp-state-sidecar mcp-state-sidecar-http; do
    check_libraries "$SERVER_PKG" "$ROOT/usr/bin/$exe"
done
check_libraries "$INSPECTOR_PKG" "$ROOT/usr/bin/mcp-state-inspector"
check_plugin "$SERVER_PKG" '*/qt6/plugins/sqldrivers/libqsqlite.so' "the QSQLITE driver"
check_plugin "$INSPECTOR_PKG" '*/qt6/plugins/platforms/libqxcb.so' "the xcb platform"
check_depends_installed "$SERVER_PKG"
check_depends_installed "$INSPECTOR_PKG"
for exe in "$ROOT"/usr/bin/*; do
    file -b "$exe" | grep -q ', stripped' || fail "${exe##*/} is not stripped"
done

# ---------------------------------------------------------------- desktop entry, metainfo, unit, man pages
desktop="$ROOT/usr/share/applications/mcp-state-inspector.desktop"
metainfo="$ROOT/usr/share/metainfo/$APP_ID.metainfo.xml"
if [[ -f $desktop ]]; then
    desktop-file-validate "$desktop" >"$WORK/desktop.log" 2>&1 || fail "desktop entry: $(cat "$WORK/desktop.log")"
    exec_name=$(sed -n 's/^Exec=\([^ ]*\).*/\1/p' "$desktop")
    [[ -x $ROOT/usr/bin/$exec_name ]] || fail "desktop entry: Exec=$exec_name is not in /usr/bin"
    icon=$(sed -n 's/^Icon=//p' "$desktop")
    [[ -f $ROOT/usr/share/icons/hicolor/scalable/apps/$icon.svg ]] || fail "desktop entry: no icon $icon"
fi
if [[ -f $metainfo ]]; then
    appstreamcli validate --no-net --explain "$metainfo" >"$WORK/metainfo.log" 2>&1 ||
        fail "metainfo: $(cat "$WORK/metainfo.log")"
    grep -q "<launchable type=\"desktop-id\">mcp-state-inspector.desktop</launchable>" "$metainfo" ||
        fail "metainfo: does not launch mcp-state-inspector.desktop"
    grep -q "<release version=\"$version\"" "$metainfo" || fail "metainfo: no <release> for version $version"
fi

unit="$ROOT/lib/systemd/system/mcp-state-sidecar.service"
if [[ -f $unit ]]; then
    exec_start=$(sed -n 's/^ExecStart=//p' "$unit" | cut -d' ' -f1)
    [[ -x $ROOT$exec_start ]] || fail "unit: ExecStart $exec_start is not in the package"
    env_file=$(sed -n 's/^EnvironmentFile=-\{0,1\}//p' "$unit")
    [[ -f $ROOT$env_file ]] || fail "unit: EnvironmentFile $env_file is not in the package"
    state_dir=$(sed -n 's/^StateDirectory=//p' "$unit")
    db_path=$(sed -n 's/^Environment=DB_PATH=//p' "$unit")
    [[ $db_path == /var/lib/$state_dir/* ]] || fail "unit: DB_PATH $db_path is not under /var/lib/$state_dir"
    if command -v systemd-analyze >/dev/null 2>&1; then
        # verify needs ExecStart to exist: check a copy that points into the scratch root.
        mkdir -p "$WORK/unit"
        sed "s|^ExecStart=/|ExecStart=$ROOT/|" "$unit" >"$WORK/unit/mcp-state-sidecar.service"
        SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$WORK/unit/mcp-state-sidecar.service" \
            >"$WORK/verify.log" 2>&1 || true
        if grep -v -e 'Failed to .*bus' -e 'Cannot add dependency job' -e 'Failed to prepare filename' \
            -e 'is not executable' "$WORK/verify.log" | grep -i "mcp-state-sidecar.service" >"$WORK/verify.err"; then
            fail "unit: systemd-analyze verify: $(cat "$WORK/verify.err")"
        fi
    else
        note "systemd-analyze not found (no systemd here): the unit is checked without it"
    fi
fi

for exe in "$ROOT"/usr/bin/*; do
    name="${exe##*/}"
    page="$ROOT/usr/share/man/man1/$name.1.gz"
    if [[ ! -f $page ]]; then
        fail "$name: no man page"
        continue
    fi
    if ! zcat "$page" >"$WORK/$name.1"; then
        fail "$name: man page is not valid gzip"
        continue
    fi
    grep -q "^\.TH \"\{0,1\}${name^^}\"\{0,1\} \"\{0,1\}1" "$WORK/$name.1" || fail "$name: man page has no .TH for ${name^^}(1)"
    grep -q -e '-\\-version' -e '--version' "$WORK/$name.1" || fail "$name: man page does not describe --version"
    if command -v groff >/dev/null 2>&1; then
        LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$WORK/$name.1" 2>"$WORK/groff.log" || true
        [[ ! -s $WORK/groff.log ]] || fail "$name: groff warnings: $(head -5 "$WORK/groff.log")"
    else
        note "groff not found: $name's man page is not rendered (bash scripts/setup.sh --deps-only installs it)"
    fi
done

# ---------------------------------------------------------------- the installed executables
# A clean environment: no setting of the caller's leaks in.
run_env=(env -i "PATH=$ROOT/usr/bin:/usr/bin:/bin" "HOME=$WORK/home" "LANG=C.UTF-8" "TMPDIR=$WORK")
mkdir -p "$WORK/home"

for exe in mcp-state-sidecar mcp-state-sidecar-http; do
    out=$("${run_env[@]}" timeout 20 "$ROOT/usr/bin/$exe" --version 2>&1) || fail "$exe --version failed: $out"
    [[ $out == "mcp-state-sidecar $version" ]] || fail "$exe --version printed '$out'"
    "${run_env[@]}" timeout 20 "$ROOT/usr/bin/$exe" --help >"$WORK/help.txt" 2>&1 || fail "$exe --help failed"
    [[ $(head -n1 "$WORK/help.txt") == "Usage: $exe [options]" ]] || fail "$exe --help: $(head -n1 "$WORK/help.txt")"
    # The packaged environment file and the packaged executable list the same settings.
    for setting in $(sed -n 's/^#\([A-Z][A-Z0-9_]*\)=.*/\1/p' "$ROOT/etc/default/mcp-state-sidecar"); do
        grep -q "^  $setting, " "$WORK/help.txt" || fail "$exe --help lacks $setting of /etc/default/mcp-state-sidecar"
    done
    help_settings=$(sed -n 's/^  \([A-Z][A-Z0-9_]*\), --.*/\1/p' "$WORK/help.txt")
    for setting in $help_settings; do
        grep -q "^#$setting=" "$ROOT/etc/default/mcp-state-sidecar" ||
            fail "/etc/default/mcp-state-sidecar lacks $setting of $exe --help"
    done
done

inspector_env=("${run_env[@]}" QT_QPA_PLATFORM=offscreen "XDG_RUNTIME_DIR=$WORK/home")
out=$("${inspector_env[@]}" timeout 30 "$ROOT/usr/bin/mcp-state-inspector" --version 2>/dev/null) ||
    fail "mcp-state-inspector --version failed"
[[ $out == "mcp-state-inspector $version" ]] || fail "mcp-state-inspector --version printed '$out'"
out=$("${inspector_env[@]}" timeout 30 "$ROOT/usr/bin/mcp-state-inspector" --help 2>/dev/null) ||
    fail "mcp-state-inspector --help failed"
grep -q -- '--url' <<<"$out" || fail "mcp-state-inspector --help does not describe --url"

# One MCP session over stdio with the installed server: each request waits for its answer.
SRV_OUT=""
rpc()
{
    local id="$1" message="$2" line
    printf '%s\n' "$message" >&"${SRV[1]}"
    [[ $id == - ]] && return 0
    local id_re="\"id\": *${id}[,} ]"
    while IFS= read -r -t 20 line <&"${SRV[0]}"; do
        if [[ $line =~ $id_re ]]; then
            SRV_OUT="$line"
            return 0
        fi
    done
    SRV_OUT=""
    return 1
}
start_stdio()
{
    coproc SRV { exec "${run_env[@]}" "$ROOT/usr/bin/mcp-state-sidecar" --backend sqlite --transport stdio \
        --db-path "$WORK/stdio.db" 2>>"$WORK/stdio.log"; }
    running[$SRV_PID]=1
    rpc 1 '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"check-debs","version":"1"}}}' ||
        { fail "stdio: no answer to initialize"; return 1; }
    [[ $SRV_OUT == *'"protocolVersion":"2025-06-18"'* && $SRV_OUT == *'"serverInfo"'* ]] ||
        fail "stdio: initialize answered $SRV_OUT"
    rpc - '{"jsonrpc":"2.0","method":"notifications/initialized"}'
}
stop_stdio()
{
    local pid="$SRV_PID" rc=0
    eval "exec ${SRV[1]}>&-"
    if ! timeout 20 tail --pid="$pid" -f /dev/null; then
        fail "stdio: the server did not exit at end of input"
        return 0
    fi
    wait "$pid" || rc=$?
    unset "running[$pid]"
    [[ $rc == 0 ]] || fail "stdio: the server exited with $rc at end of input: $(tail -3 "$WORK/stdio.log")"
}
value='{"package":"deb","n":[1,2.50,1e3],"text":"caf\u00e9 ü"}'
if start_stdio; then
    rpc 2 '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' || fail "stdio: no answer to tools/list"
    for tool in state_set state_get workflow_claim lease_acquire sidecar_health; do
        [[ $SRV_OUT == *"\"name\":\"$tool\""* ]] || fail "stdio: tools/list lacks $tool"
    done
    rpc 3 '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"state_set","arguments":{"key":"packaging/check","value":'"$value"',"agent_id":"check-debs"}}}' ||
        fail "stdio: no answer to state_set"
    [[ $SRV_OUT == *'"ok":true'* ]] || fail "stdio: state_set answered $SRV_OUT"
    rpc 4 '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"state_get","arguments":{"key":"packaging/check"}}}' ||
        fail "stdio: no answer to state_get"
    [[ $SRV_OUT == *'"found":true'* && $SRV_OUT == *"$value"* ]] || fail "stdio: state_get answered $SRV_OUT"
    stop_stdio
fi
# A second process on the same file reads what the first one wrote.
if start_stdio; then
    rpc 2 '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"state_get","arguments":{"key":"packaging/check"}}}' ||
        fail "stdio: no answer to state_get after a restart"
    [[ $SRV_OUT == *"$value"* ]] || fail "stdio: after a restart, state_get answered $SRV_OUT"
    stop_stdio
fi

# The HTTP daemon on a free loopback port (it logs the port it bound), stopped by its PID.
http_request()
{
    local port="$1" request="$2" fd
    exec {fd}<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf '%b' "$request" >&"$fd"
    timeout 10 cat <&"$fd" || true
    exec {fd}>&-
}
"${run_env[@]}" "$ROOT/usr/bin/mcp-state-sidecar-http" --host 127.0.0.1 --port 0 --db-path "$WORK/http.db" \
    2>"$WORK/http.log" &
http_pid=$!
running[$http_pid]=1
port=""
for _ in $(seq 300); do # up to 30 s on a loaded machine
    port=$(sed -n 's|.*serving MCP at http://127\.0\.0\.1:\([0-9]*\)/mcp.*|\1|p' "$WORK/http.log")
    [[ -n $port ]] && break
    kill -0 "$http_pid" 2>/dev/null || break
    sleep 0.1
done
if [[ -z $port ]]; then
    fail "http: the daemon did not start: $(tail -5 "$WORK/http.log")"
else
    reply=$(http_request "$port" 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
    [[ $reply == "HTTP/1.1 200"* ]] || fail "http: GET /healthz answered: $(head -n1 <<<"$reply")"
    body='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"check-debs","version":"1"}}}'
    reply=$(http_request "$port" "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${#body}\r\nConnection: close\r\n\r\n$body")
    [[ $reply == "HTTP/1.1 200"* && $reply == *'"protocolVersion":"2025-06-18"'* ]] ||
        fail "http: initialize on /mcp answered: $(head -n1 <<<"$reply")"
    grep -qi '^mcp-session-id: ' <<<"$reply" || fail "http: initialize gave no Mcp-Session-Id"
fi
kill -TERM "$http_pid" 2>/dev/null || true
rc=0
if timeout 20 tail --pid="$http_pid" -f /dev/null; then
    wait "$http_pid" || rc=$?
    unset "running[$http_pid]"
    [[ $rc == 0 ]] || fail "http: the daemon exited with $rc after SIGTERM: $(tail -3 "$WORK/http.log")"
else
    fail "http: the daemon did not stop within 20 s of SIGTERM"
fi

note "packages: ${debs[*]##*/}"
for pkg in "$SERVER_PKG" "$INSPECTOR_PKG"; do
    note "$pkg Depends: $(dpkg-deb -f "${deb_of[$pkg]}" Depends)"
done
note "whole check: $(($(date +%s) - started)) s"
if [[ $failures -gt 0 ]]; then
    note "$failures check(s) failed"
    exit 1
fi
note "all checks passed"

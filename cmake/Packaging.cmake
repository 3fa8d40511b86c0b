# The Debian packages (CPack DEB, one package per install component) and the install rules of
# what a Debian system needs around the executables (server/ and inspector/ install those):
#
#   mcp-state-sidecar    component "sidecar": mcp-state-sidecar and mcp-state-sidecar-http, the
#                        systemd unit, /etc/default/mcp-state-sidecar, their man pages, the docs
#   mcp-state-inspector  component "inspector": the desktop client, its desktop entry, icon,
#                        AppStream metainfo and man page
#
# Build them (docs/install.md, CONTRIBUTING.md):
#   cmake --preset release && cmake --build build/release --target debs    # -> build/release/packages/
# The target builds the executables, their man pages and the compressed docs, then runs cpack.
# tests/packaging/check-debs.sh (ctest -L packaging) builds and checks them on the ci preset.
include_guard(GLOBAL)

include(GNUInstallDirs)

set(SIDECAR_PACKAGING_DIR "${PROJECT_SOURCE_DIR}/packaging")
set(SIDECAR_APP_ID "io.github.mcp_state_sidecar.Inspector")
set(SIDECAR_SERVER_PACKAGE "mcp-state-sidecar")
set(SIDECAR_INSPECTOR_PACKAGE "mcp-state-inspector")
set(SIDECAR_PACKAGE_FILES_DIR "${PROJECT_BINARY_DIR}/package-files")

# ---------------------------------------------------------------- generated files
# Man pages from each executable's --help and --version (packaging/manpage.cmake), and the docs
# gzipped, as Debian wants files of /usr/share/man and /usr/share/doc (policy 12.1, 12.3). Built
# with `all` and by the debs target. Sanitizer and fuzz builds are never packaged, and running
# their executables at build time would trip the leak checker: they make no man pages.
set(SIDECAR_PACKAGE_OUTPUTS)
find_program(SIDECAR_GZIP gzip REQUIRED)

# sidecar_man_page(<target> <component> <one-line description>)
function(sidecar_man_page target component description)
    set(page "${SIDECAR_PACKAGE_FILES_DIR}/man/${target}.1.gz")
    set(sections "${SIDECAR_PACKAGING_DIR}/man/${target}.sections")
    add_custom_command(OUTPUT "${page}"
        COMMAND ${CMAKE_COMMAND} -E make_directory "${SIDECAR_PACKAGE_FILES_DIR}/man"
        COMMAND ${CMAKE_COMMAND} "-DEXECUTABLE=$<TARGET_FILE:${target}>" "-DNAME=${target}"
            "-DSUMMARY=${description}" "-DVERSION=${PROJECT_VERSION}" "-DSECTIONS=${sections}"
            "-DOUTPUT=${page}" -P "${SIDECAR_PACKAGING_DIR}/manpage.cmake"
        DEPENDS ${target} "${sections}" "${SIDECAR_PACKAGING_DIR}/manpage.cmake"
        COMMENT "Generating the man page of ${target}"
        VERBATIM)
    install(FILES "${page}" DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT ${component})
    set(SIDECAR_PACKAGE_OUTPUTS ${SIDECAR_PACKAGE_OUTPUTS} "${page}" PARENT_SCOPE)
endfunction()

# sidecar_doc(<component> <package> <files...>): each file gzipped into /usr/share/doc/<package>.
function(sidecar_doc component package)
    foreach(source IN LISTS ARGN)
        get_filename_component(name "${source}" NAME)
        set(copy "${SIDECAR_PACKAGE_FILES_DIR}/doc/${package}/${name}")
        add_custom_command(OUTPUT "${copy}.gz"
            COMMAND ${CMAKE_COMMAND} -E copy "${source}" "${copy}"
            COMMAND "${SIDECAR_GZIP}" -n -9 -f "${copy}"
            DEPENDS "${source}"
            VERBATIM)
        install(FILES "${copy}.gz" DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${package} COMPONENT ${component})
        list(APPEND SIDECAR_PACKAGE_OUTPUTS "${copy}.gz")
    endforeach()
    set(SIDECAR_PACKAGE_OUTPUTS ${SIDECAR_PACKAGE_OUTPUTS} PARENT_SCOPE)
endfunction()

if(NOT SIDECAR_SANITIZE AND NOT SIDECAR_FUZZ)
    sidecar_man_page(mcp-state-sidecar sidecar "durable, concurrent state for cooperating agents, over MCP")
    sidecar_man_page(mcp-state-sidecar-http sidecar "mcp-state-sidecar serving Streamable HTTP by default")
    sidecar_man_page(mcp-state-inspector inspector "browse and watch the state of an MCP State Sidecar")
endif()
sidecar_doc(sidecar ${SIDECAR_SERVER_PACKAGE}
    "${PROJECT_SOURCE_DIR}/README.md"
    "${PROJECT_SOURCE_DIR}/docs/getting-started.md"
    "${PROJECT_SOURCE_DIR}/docs/install.md"
    "${PROJECT_SOURCE_DIR}/docs/configuration.md"
    "${PROJECT_SOURCE_DIR}/docs/tools.md"
    "${PROJECT_SOURCE_DIR}/docs/metrics.md"
    "${PROJECT_SOURCE_DIR}/docs/example-multi-agent.md"
    "${PROJECT_SOURCE_DIR}/docs/backup.md"
    "${PROJECT_SOURCE_DIR}/docs/upgrading.md"
    "${PROJECT_SOURCE_DIR}/docs/security.md"
    "${PROJECT_SOURCE_DIR}/docs/redis.md"
    "${PROJECT_SOURCE_DIR}/docs/compatibility.md"
    "${PROJECT_SOURCE_DIR}/docs/contract/TOOLS.md")
sidecar_doc(inspector ${SIDECAR_INSPECTOR_PACKAGE} "${PROJECT_SOURCE_DIR}/docs/inspector.md")
add_custom_target(package-files ALL DEPENDS ${SIDECAR_PACKAGE_OUTPUTS})

# ---------------------------------------------------------------- install rules
# Debian 12 keeps units in /lib/systemd/system and defaults in /etc/default, whatever the prefix.
install(FILES "${SIDECAR_PACKAGING_DIR}/mcp-state-sidecar.service"
    DESTINATION /lib/systemd/system COMPONENT sidecar)
install(FILES "${SIDECAR_PACKAGING_DIR}/mcp-state-sidecar.default"
    DESTINATION /etc/default RENAME mcp-state-sidecar COMPONENT sidecar)
# Every package carries its copyright file (policy 12.5), uncompressed.
install(FILES "${PROJECT_SOURCE_DIR}/LICENSE"
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${SIDECAR_SERVER_PACKAGE} RENAME copyright COMPONENT sidecar)
install(FILES "${PROJECT_SOURCE_DIR}/LICENSE"
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${SIDECAR_INSPECTOR_PACKAGE} RENAME copyright COMPONENT inspector)
# docs/inspector.md shows these pictures; PNGs stay as they are.
install(DIRECTORY "${PROJECT_SOURCE_DIR}/docs/images/"
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${SIDECAR_INSPECTOR_PACKAGE}/images
    COMPONENT inspector FILES_MATCHING PATTERN "inspector-*.png")
install(FILES "${SIDECAR_PACKAGING_DIR}/mcp-state-inspector.desktop"
    DESTINATION ${CMAKE_INSTALL_DATADIR}/applications COMPONENT inspector)
install(FILES "${SIDECAR_PACKAGING_DIR}/${SIDECAR_APP_ID}.metainfo.xml"
    DESTINATION ${CMAKE_INSTALL_DATADIR}/metainfo COMPONENT inspector)
install(FILES "${PROJECT_SOURCE_DIR}/resources/icons/${SIDECAR_APP_ID}.svg"
    DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps COMPONENT inspector)

# ---------------------------------------------------------------- CPack
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "${SIDECAR_SERVER_PACKAGE}")
set(CPACK_PACKAGE_VENDOR "The mcp-state-sidecar authors")
set(CPACK_PACKAGE_CONTACT "The mcp-state-sidecar authors <maintainers@mcp-state-sidecar.invalid>")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
# Empty on purpose: CPackDeb puts a non-empty summary before each component's description, and
# each package below starts its description with a synopsis of its own.
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "")
set(CPACK_PACKAGE_HOMEPAGE_URL "${PROJECT_HOMEPAGE_URL}")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL sidecar inspector)

# mcp-state-sidecar_1.0.0-1_amd64.deb: the Debian revision counts packagings of one version.
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_COMPRESSION_TYPE "xz")
# Maintainer scripts 0755 and conffiles 0644, whatever their mode in the checkout.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# dpkg-shlibdeps names the library packages each component's executables link, with the versions
# of the symbols they use; the Depends lines below add what it cannot see: plugins Qt loads at
# run time.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)

set(CPACK_DEBIAN_SIDECAR_PACKAGE_NAME "${SIDECAR_SERVER_PACKAGE}")
set(CPACK_DEBIAN_SIDECAR_PACKAGE_SECTION "net")
# QtSql opens the database through the QSQLITE driver plugin.
set(CPACK_DEBIAN_SIDECAR_PACKAGE_DEPENDS "libqt6sql6-sqlite (>= 6.4)")
set(CPACK_DEBIAN_SIDECAR_PACKAGE_SUGGESTS "redis-server, ${SIDECAR_INSPECTOR_PACKAGE}")
set(CPACK_DEBIAN_SIDECAR_PACKAGE_CONTROL_EXTRA
    "${SIDECAR_PACKAGING_DIR}/deb/mcp-state-sidecar/conffiles"
    "${SIDECAR_PACKAGING_DIR}/deb/mcp-state-sidecar/postinst"
    "${SIDECAR_PACKAGING_DIR}/deb/mcp-state-sidecar/prerm"
    "${SIDECAR_PACKAGING_DIR}/deb/mcp-state-sidecar/postrm")
set(CPACK_DEBIAN_SIDECAR_DESCRIPTION "durable, concurrent state for agents over the Model Context Protocol
mcp-state-sidecar keeps what cooperating AI agents share: keys and values,
workflow runs that one agent claims and others resume after a crash, leases
with fencing tokens, saved sessions and a history of every change. It serves
them as Model Context Protocol tools over stdio (mcp-state-sidecar, started by
an MCP host) or Streamable HTTP (mcp-state-sidecar-http, also run by the
mcp-state-sidecar systemd service, which is not enabled on installation).
State lives in a SQLite file, which several processes may share, or in Redis,
which several sidecars on many hosts may share.")

set(CPACK_DEBIAN_INSPECTOR_PACKAGE_NAME "${SIDECAR_INSPECTOR_PACKAGE}")
set(CPACK_DEBIAN_INSPECTOR_PACKAGE_SECTION "devel")
# A client: it speaks MCP over HTTP to a sidecar anywhere. Its --db option runs the sidecar
# installed next to it, hence Recommends rather than Depends. Its platform plugins (xcb,
# offscreen) ship in libqt6gui6, which dpkg-shlibdeps names; Wayland's are in qt6-wayland.
set(CPACK_DEBIAN_INSPECTOR_PACKAGE_RECOMMENDS "${SIDECAR_SERVER_PACKAGE}")
set(CPACK_DEBIAN_INSPECTOR_PACKAGE_SUGGESTS "qt6-wayland")
set(CPACK_DEBIAN_INSPECTOR_DESCRIPTION "desktop client to browse and watch an MCP State Sidecar
mcp-state-inspector shows what cooperating agents keep in an
mcp-state-sidecar, live: keys as a tree with their values, versions and
TTLs; workflow runs with their claims, fences and step timelines; leases
counting down; saved sessions; the history of every change with a diff of
each; and a log of every JSON-RPC message. It connects to a sidecar over
Streamable HTTP, launches one over stdio, or opens a SQLite file directly
(which needs the mcp-state-sidecar package).")

include(CPack)

# `cmake --build <dir> --target debs`: what the packages hold, then the packages, in <dir>/packages.
add_custom_target(debs
    COMMAND "${CMAKE_CPACK_COMMAND}" --config "${PROJECT_BINARY_DIR}/CPackConfig.cmake"
        -B "${PROJECT_BINARY_DIR}/packages"
    COMMENT "Building the .deb packages in ${PROJECT_BINARY_DIR}/packages"
    VERBATIM)
add_dependencies(debs mcp-state-sidecar mcp-state-sidecar-http mcp-state-inspector package-files)

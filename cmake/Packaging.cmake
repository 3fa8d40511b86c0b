# CPack (.deb) packaging and the install rules of the files in packaging/ and resources/icons/.
# The executables install themselves (server/, inspector/); this file adds what a Debian system
# needs around them. Build a package with:
#   cmake --preset release && cmake --build --preset release && cpack --config build/release/CPackConfig.cmake
include_guard(GLOBAL)

include(GNUInstallDirs)

set(SIDECAR_PACKAGING_DIR "${PROJECT_SOURCE_DIR}/packaging")
set(SIDECAR_APP_ID "io.github.mcp_state_sidecar.Inspector")

# The systemd unit runs the HTTP daemon: install it once that executable exists.
if(TARGET mcp-state-sidecar-http)
    install(FILES "${SIDECAR_PACKAGING_DIR}/mcp-state-sidecar.service"
        DESTINATION lib/systemd/system)
endif()
install(FILES "${SIDECAR_PACKAGING_DIR}/mcp-state-inspector.desktop"
    DESTINATION ${CMAKE_INSTALL_DATADIR}/applications)
install(FILES "${SIDECAR_PACKAGING_DIR}/${SIDECAR_APP_ID}.metainfo.xml"
    DESTINATION ${CMAKE_INSTALL_DATADIR}/metainfo)
install(FILES "${PROJECT_SOURCE_DIR}/resources/icons/${SIDECAR_APP_ID}.svg"
    DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps)
install(FILES "${PROJECT_SOURCE_DIR}/README.md" "${PROJECT_SOURCE_DIR}/LICENSE"
    DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "mcp-state-sidecar")
set(CPACK_PACKAGE_VENDOR "The mcp-state-sidecar authors")
set(CPACK_PACKAGE_CONTACT "The mcp-state-sidecar authors <maintainers@mcp-state-sidecar.invalid>")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_HOMEPAGE_URL "${PROJECT_HOMEPAGE_URL}")
set(CPACK_RESOURCE_FILE_LICENSE "${PROJECT_SOURCE_DIR}/LICENSE")
set(CPACK_RESOURCE_FILE_README "${PROJECT_SOURCE_DIR}/README.md")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_PACKAGE_DESCRIPTION "mcp-state-sidecar keeps keys, workflow runs, leases, agent sessions and a
history of every change for cooperating agents, and serves them as Model
Context Protocol tools over stdio or Streamable HTTP. State lives in a SQLite
file or in Redis.

The package also holds mcp-state-inspector, a desktop client to browse that
state.")
# Debian 12's runtime libraries, named rather than found by dpkg-shlibdeps so that the
# list is the same on every build machine.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6 (>= 2.36), libstdc++6 (>= 12), libqt6core6 (>= 6.4), libqt6network6 (>= 6.4), libqt6sql6-sqlite (>= 6.4), libqt6gui6 (>= 6.4), libqt6widgets6 (>= 6.4), qt6-qpa-plugins (>= 6.4), libhiredis0.14, libhttp-parser2.9")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "redis-server")

include(CPack)

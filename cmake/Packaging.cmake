# Installation (GNUInstallDirs) and the Debian package (CPack DEB).
#
#   cmake --install build/default --prefix /usr/local    # or DESTDIR=... for a staging root
#   cd build/default && cpack -G DEB                      # parley_<version>-1_<arch>.deb
#
# What goes where (prefix /usr, as in the .deb):
#   /usr/bin/parleyd, /usr/bin/parleyctl, /usr/bin/parley (once the client exists)
#   /usr/lib/systemd/system/parleyd.service   (ExecStart= and --config follow the prefix)
#   /usr/lib/systemd/system/parleyd@.service  (the template: one parleyd per instance; none enabled)
#   /etc/parley/parleyd.json                  (a conffile in the .deb)
#   /usr/share/man/man{1,5,8}/*.gz
#   /usr/share/doc/parley/{README.md,config.md,logging.md,metrics.md,cluster.md,copyright,
#                          changelog.Debian.gz}
#   /usr/share/doc/parley/examples/{parleyd.example.json,parleyd.logrotate,parleyd@.json}
#   /usr/share/lintian/overrides/parley
include(GNUInstallDirs)

set(PARLEY_DOC_DIR "${CMAKE_INSTALL_DATAROOTDIR}/doc/parley")

install(TARGETS parleyd parleyctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The console client lives on another branch for now; this branch builds without it.
if(TARGET parley)
  install(TARGETS parley RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

configure_file(cmake/InstallServiceFiles.cmake.in InstallServiceFiles.cmake @ONLY)
install(SCRIPT "${CMAKE_BINARY_DIR}/InstallServiceFiles.cmake")

# Man pages, compressed the way Debian wants them (gzip -9n: no name, no timestamp), into a
# build-tree man directory that `man` (MANPATH) and the unit's Documentation= check can use.
find_program(GZIP_EXECUTABLE gzip REQUIRED)
set(PARLEY_MAN_DIR "${CMAKE_BINARY_DIR}/man")
set(man_outputs)
foreach(page parleyd.8 parleyctl.8 parley.1 parleyd.json.5)
  string(REGEX MATCH "[0-9]$" section "${page}")
  set(out "${PARLEY_MAN_DIR}/man${section}/${page}.gz")
  add_custom_command(
    OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${PARLEY_MAN_DIR}/man${section}"
    COMMAND sh -c "${GZIP_EXECUTABLE} -9n -c '${PROJECT_SOURCE_DIR}/docs/man/${page}' > '${out}'"
    DEPENDS "${PROJECT_SOURCE_DIR}/docs/man/${page}"
    COMMENT "gzip ${page}"
    VERBATIM)
  list(APPEND man_outputs "${out}")
  install(FILES "${out}" DESTINATION "${CMAKE_INSTALL_MANDIR}/man${section}")
endforeach()

set(changelog_gz "${CMAKE_BINARY_DIR}/packaging/changelog.Debian.gz")
add_custom_command(
  OUTPUT "${changelog_gz}"
  COMMAND ${CMAKE_COMMAND} -E make_directory "${CMAKE_BINARY_DIR}/packaging"
  COMMAND sh -c "${GZIP_EXECUTABLE} -9n -c '${PROJECT_SOURCE_DIR}/packaging/debian/changelog' > '${changelog_gz}'"
  DEPENDS "${PROJECT_SOURCE_DIR}/packaging/debian/changelog"
  COMMENT "gzip changelog.Debian"
  VERBATIM)
add_custom_target(parley_install_files ALL DEPENDS ${man_outputs} "${changelog_gz}")

install(FILES README.md docs/config.md docs/logging.md docs/metrics.md docs/cluster.md
              packaging/debian/copyright
              "${changelog_gz}"
        DESTINATION "${PARLEY_DOC_DIR}")
install(FILES config/parleyd.example.json systemd/parleyd.logrotate
        DESTINATION "${PARLEY_DOC_DIR}/examples")
# An instance's configuration for the template, to copy to /etc/parley/parleyd@N.json (README).
install(FILES systemd/parleyd@.json.example DESTINATION "${PARLEY_DOC_DIR}/examples"
        RENAME parleyd@.json)
install(FILES packaging/debian/lintian-overrides
        DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides" RENAME parley)

# ---------------------------------------------------------------- CPack: the .deb
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "parley")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "encrypted asynchronous chat daemon")
set(CPACK_PACKAGE_DESCRIPTION
    "Parley is a small encrypted chat service: parleyd relays messages between\n"
    "console clients in rooms and as direct messages, after a signed RSA key\n"
    "transport handshake. Every record is authenticated under AES-256-GCM,\n"
    "ChaCha20-Poly1305 or IDEA-CTR with HMAC-SHA256. One thread, one event loop.\n"
    "\n"
    "This package ships parleyd with a hardened systemd unit (parleyd.service, and\n"
    "the template parleyd@.service for several instances on one machine),\n"
    "its configuration in /etc/parley/parleyd.json and its identity key in\n"
    "/var/lib/parleyd. It logs one JSON object per line to the journal.")
string(JOIN "" CPACK_PACKAGE_DESCRIPTION ${CPACK_PACKAGE_DESCRIPTION})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "Parley maintainers <maintainers@parley.example.org>")
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_RELEASE "1")
set(CPACK_DEBIAN_FILE_NAME "DEB-DEFAULT")
# Depends: from the binaries' NEEDED entries (dpkg-shlibdeps, in dpkg-dev).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The unit's ExecReload= runs /bin/kill, which a minimal Debian 12 lacks: procps ships it. The
# libraries (libbotan-2-19, libssl3, libnats3.4, ...) are appended by dpkg-shlibdeps. nats-server is
# only suggested: a cluster (docs/cluster.md) is optional and its NATS server may run elsewhere.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "procps")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "jq, logrotate, nats-server")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/debian/conffiles"
    "${PROJECT_SOURCE_DIR}/packaging/debian/postinst"
    "${PROJECT_SOURCE_DIR}/packaging/debian/prerm"
    "${PROJECT_SOURCE_DIR}/packaging/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
include(CPack)

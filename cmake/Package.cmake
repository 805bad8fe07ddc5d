# `cpack -G DEB` (from the build directory) → portico_<version>_amd64.deb, laid out by
# cmake/Install.cmake with the /usr prefix; maintainer scripts in packaging/deb/.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME portico)
set(CPACK_PACKAGE_VENDOR "Portico")
set(CPACK_PACKAGE_CONTACT "Portico maintainers <portico@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "HTTP reverse proxy, response cache and PostgreSQL pool for Python web apps")
set(CPACK_PACKAGE_DESCRIPTION "Portico runs between nginx and a Python web application on the same host:
keep-alive proxying, an RFC 9111 response cache in LMDB, gzip, rate limits,
static files, and a transaction-mode PostgreSQL connection pool on a Unix
socket, with an admin port, SIGHUP reload and systemd notify.")
# The install-time prefix (cmake/install_prefixed.cmake keeps /etc for it) and DESTDIR staging,
# so the absolute /etc destinations land in the package, never on this machine.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # portico_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies come from dpkg-shlibdeps (dpkg-dev) on the stripped binary; the
# maintainer scripts need systemd-sysusers and systemd-tmpfiles (systemd provides both).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd-sysusers, systemd-tmpfiles")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "nginx, postgresql")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/deb/conffiles
    ${PROJECT_SOURCE_DIR}/packaging/deb/postinst
    ${PROJECT_SOURCE_DIR}/packaging/deb/prerm
    ${PROJECT_SOURCE_DIR}/packaging/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

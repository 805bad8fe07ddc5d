# Install rules: `cmake --install build [--prefix P]` (DESTDIR=… for staging; CPack uses it too)
# lays Portico out as the .deb does. With --prefix /usr: /usr/bin/portico,
# /etc/portico/portico.yaml, /usr/lib/systemd/system/portico.service,
# /usr/lib/sysusers.d/portico.conf, /usr/lib/tmpfiles.d/portico.conf,
# /etc/nginx/snippets/portico.conf and portico-proxy.conf, /usr/share/doc/portico/README.md.
# The prefix may be given at install time, so everything that depends on it (the /etc
# directory, the paths inside the unit) is worked out then, in cmake/install_prefixed.cmake.
include(GNUInstallDirs)

install(TARGETS portico RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# Not CMAKE_INSTALL_LIBDIR (lib/x86_64-linux-gnu on Debian): systemd reads <prefix>/lib/….
install(FILES systemd/portico.sysusers DESTINATION lib/sysusers.d RENAME portico.conf)
install(FILES systemd/portico.tmpfiles DESTINATION lib/tmpfiles.d RENAME portico.conf)
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(CODE "
  set(PORTICO_SOURCE_DIR \"${PROJECT_SOURCE_DIR}\")
  set(PORTICO_BINARY_DIR \"${PROJECT_BINARY_DIR}\")
  set(PORTICO_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(PORTICO_DOCDIR \"${CMAKE_INSTALL_DOCDIR}\")
  include(\"${PROJECT_SOURCE_DIR}/cmake/install_prefixed.cmake\")")

# Runs at install time (cmake --install, CPack), when CMAKE_INSTALL_PREFIX is final: installs the
# unit with this prefix's paths, and the configuration files under the matching /etc.
# Set by cmake/Install.cmake: PORTICO_SOURCE_DIR, PORTICO_BINARY_DIR, PORTICO_BINDIR, PORTICO_DOCDIR.

# GNUInstallDirs' rule for SYSCONFDIR: /etc for the / and /usr prefixes, /etc/opt/… for /opt/…,
# else <prefix>/etc.
if(CMAKE_INSTALL_PREFIX MATCHES "^/(usr/?)?$")
  set(sysconfdir "/etc")
elseif(CMAKE_INSTALL_PREFIX MATCHES "^/opt/")
  set(sysconfdir "/etc${CMAKE_INSTALL_PREFIX}")
else()
  set(sysconfdir "${CMAKE_INSTALL_PREFIX}/etc")
endif()
string(REGEX REPLACE "/$" "" prefix "${CMAKE_INSTALL_PREFIX}")

# systemd/portico.service names /usr/bin/portico and /etc/portico as the .deb installs them.
file(READ "${PORTICO_SOURCE_DIR}/systemd/portico.service" unit)
string(REPLACE "/usr/bin/portico" "${prefix}/${PORTICO_BINDIR}/portico" unit "${unit}")
string(REPLACE "/etc/portico/" "${sysconfdir}/portico/" unit "${unit}")
string(REPLACE "/usr/share/doc/portico/" "${prefix}/${PORTICO_DOCDIR}/" unit "${unit}")
file(WRITE "${PORTICO_BINARY_DIR}/systemd/portico.service" "${unit}")
file(INSTALL DESTINATION "${prefix}/lib/systemd/system" TYPE FILE FILES "${PORTICO_BINARY_DIR}/systemd/portico.service")

# Configuration files belong to the administrator once installed: installing over an existing
# one leaves it alone (and says so). The .deb marks them as conffiles instead.
function(portico_install_config source destination)
  get_filename_component(name "${source}" NAME)
  if(EXISTS "$ENV{DESTDIR}${destination}/${name}")
    message(STATUS "Keeping: $ENV{DESTDIR}${destination}/${name} (the shipped version is ${source})")
  else()
    file(INSTALL DESTINATION "${destination}" TYPE FILE FILES "${source}")
  endif()
endfunction()
portico_install_config("${PORTICO_SOURCE_DIR}/conf/portico.yaml" "${sysconfdir}/portico")
portico_install_config("${PORTICO_SOURCE_DIR}/conf/nginx/portico.conf" "${sysconfdir}/nginx/snippets")
portico_install_config("${PORTICO_SOURCE_DIR}/conf/nginx/portico-proxy.conf" "${sysconfdir}/nginx/snippets")

#!/usr/bin/env bash
# The .deb as users install it: cpack -G DEB from the build tree, dpkg -i into this machine,
# the files, user, directories and conffiles it brings, `portico -t` on the shipped config (as
# the portico user too), `systemd-analyze verify` on the installed unit, then dpkg -r (conffiles
# stay) and dpkg -P (everything gone). Needs root; CI machines are throwaway, but the test still
# leaves the system as it found it (a user it created is deleted) and skips (exit 77) instead of
# touching an existing portico installation.
#   deploy_deb.sh BUILD_DIR
# A sanitizer build is packaged and checked the same way (CI's suite is the ASan+UBSan build):
# dpkg-shlibdeps adds the sanitizer runtime to Depends, and `portico -t` runs under it.
set -uo pipefail
build=${1:?usage: deploy_deb.sh BUILD_DIR}

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (dpkg -i into this machine)"
if dpkg-query -W -f='${Status}' portico 2>/dev/null | grep -qv 'not-installed'; then
    skip "a portico package is installed here already: $(dpkg-query -W -f='${Version} ${Status}' portico)"
fi
for p in /etc/portico /usr/bin/portico /usr/lib/systemd/system/portico.service; do
    [ ! -e "$p" ] || skip "$p exists (a portico installed by hand?): not clobbering it"
done
for tool in cpack dpkg-shlibdeps systemd-analyze systemd-sysusers systemd-tmpfiles; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool missing (.ci/setup-deps installs it)"; exit 1; }
done

user_existed=0; getent passwd portico >/dev/null && user_existed=1
group_existed=0; getent group portico >/dev/null && group_existed=1
work=$(mktemp -d /tmp/deploy-deb.XXXXXX)
# A portico run by hand with the built-in defaults leaves a cache in /var/cache/portico (and
# maybe logs): purge would delete them, so they are set aside and put back.
saved=()
for d in /var/cache/portico /var/log/portico; do
    if [ -e "$d" ]; then mv "$d" "$work/saved.${d//\//_}"; saved+=("$d"); fi
done
installed=0
cleanup() {
    if [ $installed -eq 1 ]; then dpkg -P portico >/dev/null 2>&1; fi
    for d in "${saved[@]}"; do rm -rf "$d"; mv "$work/saved.${d//\//_}" "$d"; done
    if [ $user_existed -eq 0 ] && getent passwd portico >/dev/null; then userdel portico 2>/dev/null; fi
    if [ $group_existed -eq 0 ] && getent group portico >/dev/null; then groupdel portico 2>/dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT

failures=0
check() {  # check DESCRIPTION COMMAND...: runs it, reports, counts failures
    local what=$1; shift
    if "$@" >"$work/out" 2>&1; then echo "ok: $what"; else echo "FAIL: $what"; sed 's/^/    /' "$work/out"; failures=$((failures + 1)); fi
}
fail_now() { echo "FAIL: $*"; exit 1; }

# --- build the package -------------------------------------------------------------------------
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
arch=$(dpkg --print-architecture)
( cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work" ) >"$work/cpack.log" 2>&1 \
    || { cat "$work/cpack.log"; fail_now "cpack -G DEB"; }
deb="$work/portico_${version}_${arch}.deb"
[ -f "$deb" ] || { ls "$work"; fail_now "no $deb"; }
echo "ok: built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"
depends=$(dpkg-deb -f "$deb" Depends)
echo "    Depends: $depends"
check "Depends names libuv1, liblmdb0, libpq5 (shlibdeps) and systemd-sysusers" \
    bash -c "grep -q 'libuv1' <<<'$depends' && grep -q 'liblmdb0' <<<'$depends' && grep -q 'libpq5' <<<'$depends' && grep -q 'systemd-sysusers' <<<'$depends'"
check "conffiles list the shipped config and nginx snippets" \
    bash -c "dpkg-deb --ctrl-tarfile '$deb' | tar -xO ./conffiles | diff - <(printf '%s\n' /etc/portico/portico.yaml /etc/nginx/snippets/portico.conf /etc/nginx/snippets/portico-proxy.conf)"

# --- install -----------------------------------------------------------------------------------
installed=1
dpkg -i "$deb" >"$work/dpkg-i.log" 2>&1 || { cat "$work/dpkg-i.log"; fail_now "dpkg -i"; }
echo "ok: dpkg -i"
for f in /usr/bin/portico /etc/portico/portico.yaml /lib/systemd/system/portico.service \
         /usr/lib/sysusers.d/portico.conf /usr/lib/tmpfiles.d/portico.conf \
         /etc/nginx/snippets/portico.conf /etc/nginx/snippets/portico-proxy.conf /usr/share/doc/portico/README.md; do
    check "installed $f" test -f "$f"
done
check "user and group portico exist, no login shell" bash -c "getent passwd portico | grep -q ':/usr/sbin/nologin$' && getent group portico"
check "/var/cache/portico is 0700 portico:portico" bash -c '[ "$(stat -c "%a %U:%G" /var/cache/portico)" = "700 portico:portico" ]'
check "/var/log/portico is 0750 portico:portico" bash -c '[ "$(stat -c "%a %U:%G" /var/log/portico)" = "750 portico:portico" ]'
check "portico --version is $version" bash -c "[ \"\$(/usr/bin/portico --version)\" = 'portico $version' ]"
check "portico -t passes on the shipped config" bash -c "/usr/bin/portico -t --config /etc/portico/portico.yaml | tail -1 | grep -qx ok"
check "portico -t passes as the portico user" runuser -u portico -- /usr/bin/portico -t --config /etc/portico/portico.yaml
check "the unit runs /usr/bin/portico with /etc/portico/portico.yaml" \
    grep -qx 'ExecStart=/usr/bin/portico --config /etc/portico/portico.yaml' /lib/systemd/system/portico.service
# systemd-analyze verify works without systemd as PID 1 (it loads the unit offline); any line it
# prints about portico.service is a finding.
systemd-analyze verify /lib/systemd/system/portico.service >"$work/verify.log" 2>&1
rc=$?
if [ $rc -eq 0 ] && ! grep -q 'portico' "$work/verify.log"; then
    echo "ok: systemd-analyze verify /lib/systemd/system/portico.service"
else
    echo "FAIL: systemd-analyze verify (exit $rc)"; sed 's/^/    /' "$work/verify.log"; failures=$((failures + 1))
fi

# --- remove: conffiles stay; purge: everything goes ---------------------------------------------
echo "# edited by deploy_deb" >>/etc/portico/portico.yaml
dpkg -r portico >"$work/dpkg-r.log" 2>&1 || { cat "$work/dpkg-r.log"; fail_now "dpkg -r"; }
echo "ok: dpkg -r"
check "dpkg -r removed the binary and the unit" bash -c '[ ! -e /usr/bin/portico ] && [ ! -e /lib/systemd/system/portico.service ]'
check "dpkg -r kept the edited config" grep -q 'edited by deploy_deb' /etc/portico/portico.yaml
dpkg -P portico >"$work/dpkg-p.log" 2>&1 || { cat "$work/dpkg-p.log"; fail_now "dpkg -P"; }
installed=0
echo "ok: dpkg -P"
for f in /etc/portico /var/cache/portico /var/log/portico /etc/nginx/snippets/portico.conf \
         /etc/nginx/snippets/portico-proxy.conf /usr/lib/sysusers.d/portico.conf /usr/lib/tmpfiles.d/portico.conf \
         /usr/share/doc/portico; do
    check "purged $f" test ! -e "$f"
done
check "dpkg knows nothing of portico" bash -c "! dpkg-query -W portico 2>/dev/null | grep -q ."

[ $failures -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "all checks passed"

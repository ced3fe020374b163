#!/usr/bin/env bash
# Installation a pipeline can use (issue 16): `cmake --install` puts both programs, the man page
# and bash/zsh completion under a prefix; `cpack -G DEB` makes a .deb whose dependencies are the
# shared libraries' packages, which dpkg installs into a scratch root where `amlsec version`
# runs.
set -euo pipefail
: "${AMLSEC:?}" "${BUILD:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$BUILD" --prefix "$tmp/prefix/usr" > "$tmp/install.out"
for f in bin/amlsec bin/amlsec-armlocal share/man/man1/amlsec.1 \
         share/bash-completion/completions/amlsec share/zsh/vendor-completions/_amlsec; do
  [ -s "$tmp/prefix/usr/$f" ] || fail "cmake --install lacks $f"
done
"$tmp/prefix/usr/bin/amlsec" version | grep -q '^amlsec [0-9]' || fail "installed amlsec version"
bash -n "$tmp/prefix/usr/share/bash-completion/completions/amlsec" || fail "bash completion"
grep -q '^\.TH AMLSEC 1' "$tmp/prefix/usr/share/man/man1/amlsec.1" || fail "man page header"

(cd "$tmp" && cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$tmp/pkg" > cpack.out 2>&1) \
  || { cat "$tmp/cpack.out"; fail "cpack"; }
deb=$(ls "$tmp"/pkg/amlsec_*.deb)
[ "$(dpkg-deb -f "$deb" Package)" = amlsec ] || fail "package name"
dpkg-deb -f "$deb" Depends | grep -q libjansson || fail "Depends lacks jansson: $(dpkg-deb -f "$deb" Depends)"
root=$tmp/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status"
dpkg --root="$root" --admindir="$root/var/lib/dpkg" --force-not-root --force-depends \
  --force-script-chrootless -i "$deb" > "$tmp/dpkg.out" 2>&1 || { cat "$tmp/dpkg.out"; fail "dpkg -i"; }
dpkg --root="$root" --admindir="$root/var/lib/dpkg" -L amlsec | grep -q '^/usr/bin/amlsec-armlocal$' \
  || fail "package lacks amlsec-armlocal"
"$root/usr/bin/amlsec" version | grep -q '^amlsec [0-9]' || fail "amlsec version from the package"
echo OK

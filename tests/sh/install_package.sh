#!/usr/bin/env bash
# Installation a pipeline can use: `cmake --install` puts both programs, the man
# page and bash/zsh completion under a prefix, and the CPack .deb holds the same
# files with Debian's dependencies; both are installed into scratch roots and
# run (`amlsec version`), never into the system.
set -euo pipefail
: "${BUILD:?}" "${SRC:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
want=$(sed -nE 's/^project\(amlsec VERSION ([0-9.]+).*/\1/p' "$SRC/CMakeLists.txt")

# cmake --install into a scratch prefix
cmake --install "$BUILD" --prefix "$tmp/root" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "cmake --install"; }
for f in bin/amlsec bin/amlsec-armlocal share/man/man1/amlsec.1 \
         share/bash-completion/completions/amlsec share/zsh/vendor-completions/_amlsec; do
  [ -s "$tmp/root/$f" ] || fail "cmake --install did not install $f"
done
"$tmp/root/bin/amlsec" version | grep -q "$want" || fail "installed amlsec version: $("$tmp/root/bin/amlsec" version)"
head -5 "$tmp/root/share/man/man1/amlsec.1" | grep -q '^\.TH AMLSEC 1' || fail "man page header"
bash -n "$tmp/root/share/bash-completion/completions/amlsec" || fail "bash completion does not parse"
grep -q '^#compdef amlsec' "$tmp/root/share/zsh/vendor-completions/_amlsec" || fail "zsh completion header"
# the completion completes commands from the command table
( source "$tmp/root/share/bash-completion/completions/amlsec"
  COMP_WORDS=(amlsec pl); COMP_CWORD=1; COMPREPLY=()
  fn=$(complete -p amlsec | sed -E 's/.*-F ([^ ]+) .*/\1/')
  "$fn" amlsec pl amlsec
  [[ " ${COMPREPLY[*]} " == *" plan "* ]] ) || fail "bash completion does not complete 'pl' to plan"

# the Debian package, made from the same install rules
command -v dpkg-deb >/dev/null || { echo "SKIP: no dpkg-deb"; exit 0; }
cpack --config "$BUILD/CPackConfig.cmake" -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1 || { cat "$tmp/cpack.log"; fail "cpack"; }
deb=$(ls "$tmp"/pkg/amlsec_*.deb)
dpkg-deb -f "$deb" Package | grep -qx amlsec || fail "package name"
dpkg-deb -f "$deb" Version | grep -qx "$want" || fail "package version"
deps=$(dpkg-deb -f "$deb" Depends)
for lib in libcurl4 libjansson4 libssl3 libmicrohttpd12; do
  grep -q "$lib" <<<"$deps" || fail "Depends lacks $lib: $deps"
done
dpkg-deb -x "$deb" "$tmp/debroot"
for f in usr/bin/amlsec usr/bin/amlsec-armlocal usr/share/man/man1/amlsec.1 \
         usr/share/bash-completion/completions/amlsec usr/share/zsh/vendor-completions/_amlsec; do
  [ -s "$tmp/debroot/$f" ] || fail "the .deb lacks $f"
done
"$tmp/debroot/usr/bin/amlsec" version | grep -q "$want" || fail "packaged amlsec version"
echo "install and package: ok"

#!/usr/bin/env bash
# npm_install.sh NAME PKGDIR: installs PKGDIR's package.json and package-lock.json (npm ci) once
# per source tree, not once per build directory, and prints the directory whose node_modules
# holds them. The tests that drive Node (Azurite: unit.state_blob, sh.state_settings, the
# concurrency soak; the SDK conformance suite; the editor grammar's tokenizer) all call it.
#
# The copy lives in $AMLSEC_NPM_CACHE (default: the source tree's .cache/npm, which git
# ignores), in a directory named after NAME, a hash of the two files and Node's module ABI, so a
# changed lock file or another Node installs afresh and the release and ASan build directories
# share one copy. Tests run concurrently: one installs under a lock (flock on NAME.lock) into a
# temporary directory renamed into place once npm ci succeeded, so a reader never sees a
# partial tree and the others wait for it rather than installing again. Older copies of NAME are
# removed then. Exits 1 (npm's log on stderr) when npm ci fails.
set -euo pipefail
name=$1
pkg=$2
cache=${AMLSEC_NPM_CACHE:-$(cd "$(dirname "$0")/../.." && pwd)/.cache/npm}
key=$(cat "$pkg/package.json" "$pkg/package-lock.json" | sha256sum | cut -c1-16)
key+=-abi$(node -p process.versions.modules)
dest=$cache/$name-$key
if [ ! -e "$dest/.installed" ]; then
  mkdir -p "$cache"
  exec 9> "$cache/$name.lock"
  flock 9
  if [ ! -e "$dest/.installed" ]; then
    tmp=$(mktemp -d "$cache/.$name-$key.XXXXXX")
    chmod 755 "$tmp"
    cp "$pkg/package.json" "$pkg/package-lock.json" "$tmp/"
    if ! (cd "$tmp" && npm ci --no-audit --no-fund --loglevel=error > npm.log 2>&1); then
      cat "$tmp/npm.log" >&2
      rm -rf "$tmp"
      exit 1
    fi
    touch "$tmp/.installed"
    rm -rf "$dest" # a copy an interrupted run left without .installed
    mv "$tmp" "$dest"
    for old in "$cache/$name"-*; do
      [ "$old" = "$dest" ] || rm -rf "$old"
    done
  fi
  exec 9>&-
fi
echo "$dest"

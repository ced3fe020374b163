#!/usr/bin/env bash
# Installs every Debian package amlsec's build and tests need, only when missing.
# Idempotent: runs `apt-get update` once, and only when something must be installed.
set -euo pipefail

packages=(
  build-essential cmake pkg-config re2c bison
  libcurl4-openssl-dev libjansson-dev libssl-dev libmicrohttpd-dev libcmocka-dev
  clang
  curl openssl
  python3-yaml
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# Node.js and npm drive the SDK conformance tests and Azurite; images that ship
# their own Node keep it.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "bootstrap: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

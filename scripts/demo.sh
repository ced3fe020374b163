#!/usr/bin/env bash
# The main job on the bundled example, against the embedded local cloud: installs what is
# missing, builds, validates examples/secure-workspace and checks its formatting, then plans and
# applies it and plans again (which shows no changes). Work files go to a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/bootstrap.sh
cmake -S . -B build -DAMLSEC_WERROR=ON >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
amlsec=$root/build/amlsec

$amlsec validate examples/secure-workspace
$amlsec fmt -check examples/secure-workspace

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp examples/secure-workspace/*.amlsec "$work"/
cd "$work"
echo
echo "== amlsec plan -cloud local"
$amlsec plan -cloud local
echo
echo "== amlsec apply -cloud local -auto-approve"
$amlsec apply -cloud local -auto-approve
echo
echo "== amlsec plan -cloud local -detailed-exitcode (nothing left to do)"
$amlsec plan -cloud local -detailed-exitcode
